-- Members' own sign-in: password hashes and bearer tokens (both stored hashed).
CREATE TABLE member_credentials (
    member_id BIGINT NOT NULL PRIMARY KEY REFERENCES members(id),
    -- An argon2id PHC string.
    password_hash TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE member_tokens (
    -- SHA-256 of the token; the token itself is never stored.
    token_hash TEXT NOT NULL PRIMARY KEY,
    member_id BIGINT NOT NULL REFERENCES members(id),
    program_id BIGINT NOT NULL REFERENCES programs(id),
    kind TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX member_tokens_member ON member_tokens (member_id);

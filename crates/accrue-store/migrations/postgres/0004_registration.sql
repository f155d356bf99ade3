-- Registration as Loymax runs it: per-program settings, steps done, confirmation codes.
CREATE TABLE program_settings (
    program_id BIGINT NOT NULL PRIMARY KEY REFERENCES programs(id),
    -- JSON of the program's registration settings.
    registration TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE registration_steps (
    member_id BIGINT NOT NULL REFERENCES members(id),
    step TEXT NOT NULL,
    done_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, step)
);

-- The live code of a member for one channel (phone or e-mail), and the channel's lock.
CREATE TABLE confirmation_codes (
    member_id BIGINT NOT NULL REFERENCES members(id),
    channel TEXT NOT NULL,
    -- The phone number or address being confirmed.
    target TEXT NOT NULL,
    -- SHA-256 of salt and code; the code itself is only in the message sent.
    code_hash TEXT,
    salt TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    sent_at BIGINT NOT NULL,
    locked_until BIGINT,
    PRIMARY KEY (member_id, channel)
);

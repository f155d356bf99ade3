-- The web console's operators (argon2 password hashes; failed sign-ins lock a login for a
-- while) and their sessions (the cookie's token kept as SHA-256).
CREATE TABLE operators (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- admin, support or analyst.
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);

CREATE TABLE console_sessions (
    token_sha256 TEXT NOT NULL PRIMARY KEY,
    operator_id INTEGER NOT NULL REFERENCES operators(id),
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX console_sessions_expiring ON console_sessions (expires_at);

-- The outbox: every message Accrue sends, written in the transaction of its cause.
CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    url TEXT NOT NULL,
    description TEXT NOT NULL,
    -- JSON array of event types; ["*"] for all.
    event_types TEXT NOT NULL,
    -- Signing secrets, sealed with the server's secret key; the previous one stays
    -- valid until previous_secret_expires_at after a rotation.
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_expires_at INTEGER,
    state TEXT NOT NULL,
    disabled_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_program ON webhook_endpoints (program_id, state);

CREATE TABLE outbox_messages (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    event_type TEXT,
    endpoint_id INTEGER REFERENCES webhook_endpoints(id),
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    -- A worker's claim: while locked_until is in the future no other worker takes it.
    locked_by TEXT,
    locked_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX outbox_messages_due ON outbox_messages (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_messages_program ON outbox_messages (program_id, id);

CREATE TABLE outbox_attempts (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES outbox_messages(id),
    attempted_at INTEGER NOT NULL,
    status_code INTEGER,
    duration_ms INTEGER NOT NULL,
    response_body TEXT,
    error TEXT
);
CREATE INDEX outbox_attempts_message ON outbox_attempts (message_id, id);

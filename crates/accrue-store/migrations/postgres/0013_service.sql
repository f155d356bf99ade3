-- One replay table for every face: an operation's outcome kept under its program, the
-- face's scope ("admin", "loymax" …) and the caller's key (Idempotency-Key, operationId
-- …), so that a repeat gets the original answer and keys of different faces never
-- collide. The outcome is face-neutral; each face renders its own answer from it.
CREATE TABLE replays (
    program_id BIGINT NOT NULL,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    -- SHA-256 of the canonical request: a repeat must match it.
    fingerprint TEXT NOT NULL,
    -- JSON, set in the transaction that claimed the key.
    outcome TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (program_id, scope, key)
);

INSERT INTO replays (program_id, scope, key, fingerprint, outcome, created_at)
    SELECT program_id, 'admin', key, fingerprint, response, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;

-- Purchase operations keep what they did; their replays live in replays. (Answers of
-- operations run before this migration are not kept: a repeat of one is refused as a
-- reused key, and changes nothing.)
ALTER TABLE purchase_operations DROP COLUMN fingerprint;
ALTER TABLE purchase_operations DROP COLUMN answer;

-- Texts sent to members (confirmation codes …) that a program has changed; the shipped
-- defaults apply to the rest. JSON per message: {"text"} or {"subject","body"}.
CREATE TABLE message_templates (
    program_id BIGINT NOT NULL REFERENCES programs(id),
    name TEXT NOT NULL,
    template TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (program_id, name)
);

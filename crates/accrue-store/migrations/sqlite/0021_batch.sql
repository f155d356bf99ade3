-- Loymax's batch balance operations and named lifetime definitions of points: the
-- definitions per program; the batch face's key and settings per program; each request
-- (a JSON request or an uploaded file) with its progress and its answer; each row with
-- its outcome; where and when a posted row says it happened; and, per lot, when its
-- member was told it expires.
CREATE TABLE lifetime_definitions (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    external_id TEXT NOT NULL,
    -- JSON of accrue_core::lifetimes::LifetimeDefinition.
    definition TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, external_id)
);

CREATE TABLE batch_settings (
    program_id INTEGER NOT NULL PRIMARY KEY REFERENCES programs(id),
    -- Hex SHA-256 of the batch face's key.
    key_sha256 TEXT NOT NULL UNIQUE,
    -- JSON of accrue_store::batch::BatchSettings.
    settings TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE batch_requests (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    request_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    mode TEXT NOT NULL,
    description TEXT,
    currency_id INTEGER NOT NULL REFERENCES currencies(id),
    lifetime TEXT,
    source TEXT NOT NULL CHECK (source IN ('request', 'file')),
    -- receiving: a file's rows are still arriving; running; done.
    state TEXT NOT NULL CHECK (state IN ('receiving', 'running', 'done')),
    total_rows INTEGER NOT NULL,
    -- Rows 1..processed_rows are decided.
    processed_rows INTEGER NOT NULL,
    posted_rows INTEGER NOT NULL,
    failed_rows INTEGER NOT NULL,
    -- The protocol's answer, once done.
    answer TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (program_id, request_id)
);
CREATE INDEX batch_requests_running ON batch_requests (state, id);

CREATE TABLE batch_rows (
    batch_id INTEGER NOT NULL REFERENCES batch_requests(id),
    row_no INTEGER NOT NULL,
    member_no TEXT NOT NULL,
    description TEXT,
    operation_date TEXT,
    merchant_name TEXT,
    transaction_amount TEXT,
    -- As sent; NULL when it was not a number.
    points_amount TEXT,
    -- NULL until decided: posted, member_unknown, member_blocked, bad_amount,
    -- insufficient_points, not_posted (an all-or-nothing request was refused).
    outcome TEXT,
    member_id INTEGER,
    posting_id INTEGER,
    PRIMARY KEY (batch_id, row_no)
);

CREATE TABLE posting_notes (
    posting_id INTEGER NOT NULL PRIMARY KEY REFERENCES postings(id),
    place TEXT,
    occurred_at INTEGER
);

ALTER TABLE lots ADD COLUMN expiry_notified_at INTEGER;

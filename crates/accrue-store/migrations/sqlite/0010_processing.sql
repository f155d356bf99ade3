-- Purchase processing for tills and web shops (Loymax Processing): merchants and their
-- devices, the tokens devices work with, offers and the goods catalogue they refer to,
-- purchases and every operation on them.
CREATE TABLE processing_settings (
    program_id INTEGER NOT NULL PRIMARY KEY REFERENCES programs(id),
    settings TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE merchants (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (program_id, code)
);
CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    merchant_id INTEGER NOT NULL REFERENCES merchants(id),
    name TEXT NOT NULL,
    location TEXT,
    client_id TEXT NOT NULL UNIQUE,
    -- SHA-256 of the random secret; the secret is shown once.
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);
-- A device's token: anonymous (member_id NULL) or for one member it identified.
CREATE TABLE device_tokens (
    token_hash TEXT NOT NULL PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    member_id INTEGER REFERENCES members(id),
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE offers (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    code TEXT NOT NULL,
    version INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (program_id, code)
);
-- Every version an offer had, so an operation can tell what priced it.
CREATE TABLE offer_versions (
    offer_id INTEGER NOT NULL REFERENCES offers(id),
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (offer_id, version)
);
-- How much of an offer a member used per period (for per-member caps).
CREATE TABLE offer_usage (
    offer_id INTEGER NOT NULL REFERENCES offers(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    period TEXT NOT NULL,
    applications INTEGER NOT NULL,
    discount INTEGER NOT NULL,
    bonus INTEGER NOT NULL,
    PRIMARY KEY (offer_id, member_id, period)
);
CREATE TABLE goods (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    goods_id TEXT NOT NULL,
    barcode TEXT,
    name TEXT NOT NULL,
    -- JSON array of group codes.
    groups TEXT NOT NULL,
    PRIMARY KEY (program_id, goods_id)
);
CREATE TABLE purchases (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    purchase_key TEXT NOT NULL,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    member_id INTEGER REFERENCES members(id),
    currency_id INTEGER NOT NULL REFERENCES currencies(id),
    state TEXT NOT NULL,
    -- JSON: the cheque as last priced (lines, totals, bonus rates).
    cheque TEXT NOT NULL,
    bonus_paid INTEGER NOT NULL,
    accrual INTEGER NOT NULL,
    accrual_posting_id INTEGER,
    refunded_payment INTEGER NOT NULL,
    refunded_accrual INTEGER NOT NULL,
    -- JSON: amount refunded per line position.
    refunded_lines TEXT NOT NULL,
    cancel_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    resolved_at INTEGER,
    UNIQUE (program_id, purchase_key)
);
CREATE INDEX purchases_open ON purchases (state, cancel_at);
CREATE TABLE purchase_operations (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    purchase_key TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    member_id INTEGER REFERENCES members(id),
    -- SHA-256 of the canonical request: a repeat must match it.
    fingerprint TEXT NOT NULL,
    hold_id INTEGER REFERENCES holds(id),
    amount INTEGER NOT NULL,
    canceled_at INTEGER,
    -- JSON: what was answered, returned again to a repeat.
    answer TEXT NOT NULL,
    -- JSON: the offers engine's calculation of the cheque (Calculate, Payment, Bonus).
    priced TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (program_id, operation_id)
);
CREATE INDEX purchase_operations_by_purchase ON purchase_operations (program_id, purchase_key);

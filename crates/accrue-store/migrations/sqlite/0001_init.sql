-- Accrue schema, SQLite. Times are Unix milliseconds, amounts integer minor units.
CREATE TABLE programs (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    phone_region TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE currencies (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    code TEXT NOT NULL,
    scale INTEGER NOT NULL,
    description TEXT NOT NULL,
    name_nominative TEXT NOT NULL,
    name_genitive TEXT NOT NULL,
    name_plural TEXT NOT NULL,
    abbreviation TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (program_id, code)
);

CREATE TABLE members (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    state TEXT NOT NULL,
    phone TEXT,
    email TEXT,
    login TEXT,
    referral_code TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    attributes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (program_id, phone),
    UNIQUE (program_id, email),
    UNIQUE (program_id, login),
    UNIQUE (program_id, referral_code)
);

CREATE TABLE member_external_ids (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members(id),
    PRIMARY KEY (program_id, source, external_id)
);
CREATE INDEX member_external_ids_member ON member_external_ids (member_id);

CREATE TABLE cards (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    number TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    member_id INTEGER REFERENCES members(id),
    created_at INTEGER NOT NULL,
    assigned_at INTEGER,
    UNIQUE (program_id, number)
);
CREATE INDEX cards_member ON cards (member_id);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    currency_id INTEGER NOT NULL REFERENCES currencies(id),
    kind TEXT NOT NULL,
    member_id INTEGER NOT NULL,
    UNIQUE (currency_id, kind, member_id)
);
CREATE INDEX accounts_member ON accounts (member_id);

CREATE TABLE balances (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    shard INTEGER NOT NULL,
    balance INTEGER NOT NULL,
    PRIMARY KEY (account_id, shard)
);

CREATE TABLE postings (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    kind TEXT NOT NULL,
    member_id INTEGER NOT NULL,
    currency_id INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    card_id INTEGER,
    hold_id INTEGER,
    description TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    posting_id INTEGER NOT NULL REFERENCES postings(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    currency_id INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX entries_posting ON entries (posting_id);
CREATE INDEX entries_account ON entries (account_id, id);

CREATE TABLE lots (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    posting_id INTEGER NOT NULL REFERENCES postings(id),
    amount INTEGER NOT NULL,
    remaining INTEGER NOT NULL CHECK (remaining >= 0),
    activates_at INTEGER NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX lots_open ON lots (account_id, activates_at, id) WHERE remaining > 0;
CREATE INDEX lots_expiring ON lots (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;

CREATE TABLE lot_moves (
    posting_id INTEGER NOT NULL REFERENCES postings(id),
    lot_id INTEGER NOT NULL REFERENCES lots(id),
    amount INTEGER NOT NULL
);
CREATE INDEX lot_moves_posting ON lot_moves (posting_id);

CREATE TABLE holds (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    currency_id INTEGER NOT NULL REFERENCES currencies(id),
    amount INTEGER NOT NULL,
    captured INTEGER NOT NULL,
    state TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    reserve_posting_id INTEGER NOT NULL,
    resolve_posting_id INTEGER,
    created_at INTEGER NOT NULL,
    resolved_at INTEGER
);
CREATE INDEX holds_open ON holds (expires_at) WHERE state = 'active';
CREATE INDEX holds_member ON holds (member_id, state);

CREATE TABLE idempotency_keys (
    program_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, key)
);

CREATE TABLE admin_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- The Integra partner API: partners (their identity hash, sealed cryptKey, the program
-- and currency their users live in), their users (each a member, with a hash and a
-- sealed cryptKey of its own), payments (direct ones and top-ups that wait for the
-- partner's confirmation), cabinet sessions, Yandex.Metrika counters. Messages are the
-- members' notifications, now with a type, the params they were rendered with and the
-- template they came from; templates are per program.
CREATE TABLE integra_partners (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    currency_id INTEGER NOT NULL REFERENCES currencies(id),
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    -- Sealed with the server's key: it decrypts the partner's calls.
    crypt_key TEXT NOT NULL,
    scheme TEXT NOT NULL,
    -- JSON of accrue_store::integra::PartnerSettings.
    settings TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE integra_users (
    id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL REFERENCES integra_partners(id),
    member_id INTEGER NOT NULL UNIQUE REFERENCES members(id),
    login TEXT NOT NULL,
    -- Unique across partners: a hash alone says who calls.
    hash TEXT NOT NULL UNIQUE,
    crypt_key TEXT NOT NULL,
    url TEXT,
    inviter_user_id TEXT,
    -- JSON array of texts.
    keywords TEXT NOT NULL,
    monthly_budget INTEGER NOT NULL,
    archived_at INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (partner_id, login)
);

CREATE TABLE integra_payments (
    id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL REFERENCES integra_partners(id),
    user_id INTEGER NOT NULL REFERENCES integra_users(id),
    kind TEXT NOT NULL CHECK (kind IN ('direct', 'top_up')),
    -- direct: the partner's paymentHash; top_up: the transaction id Accrue made.
    reference TEXT NOT NULL,
    -- Minor units; a negative direct payment is a refund.
    amount INTEGER NOT NULL,
    bonus INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('posted', 'pending', 'confirmed', 'declined', 'expired')),
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    decided_at INTEGER,
    UNIQUE (partner_id, reference)
);
CREATE INDEX integra_payments_pending ON integra_payments (state, expires_at);
CREATE INDEX integra_payments_by_user ON integra_payments (user_id, id);

CREATE TABLE integra_sessions (
    -- SHA-256 of the token in the cabinet's URLs.
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES integra_users(id),
    payment_notify_url TEXT,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX integra_sessions_expiry ON integra_sessions (expires_at);

CREATE TABLE integra_counters (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES integra_users(id),
    counter_id TEXT NOT NULL,
    -- Sealed OAuth token.
    access_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, counter_id)
);

CREATE TABLE notification_templates (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    kind TEXT NOT NULL,
    title_template TEXT NOT NULL,
    text_template TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (program_id, kind)
);

ALTER TABLE notifications ADD COLUMN kind TEXT;
ALTER TABLE notifications ADD COLUMN params TEXT;
ALTER TABLE notifications ADD COLUMN template_id INTEGER;
CREATE INDEX notifications_unread ON notifications (program_id, read_at, id);

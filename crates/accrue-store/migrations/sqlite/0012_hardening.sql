-- Rate limits shared by every server on this database: a token bucket per key, split
-- into shards for high limits so that concurrent calls do not queue on one row. A
-- shard refills by per_minute units a millisecond; a token costs 60000 units for each
-- shard of the key.
CREATE TABLE rate_buckets (
    key TEXT NOT NULL,
    shard INTEGER NOT NULL,
    per_minute INTEGER NOT NULL,
    units INTEGER NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (key, shard)
);

-- Bounds per currency, in minor units: the largest single operation and the largest
-- balance a wallet may hold. NULL is the built-in default (see Currency::limits).
ALTER TABLE currencies ADD COLUMN max_operation INTEGER;
ALTER TABLE currencies ADD COLUMN max_balance INTEGER;

-- The secrets a queued message carries (a confirmation code), sealed with the server's
-- key; the payload holds placeholders. Purged once the message is delivered or failed.
ALTER TABLE outbox_messages ADD COLUMN sealed_secrets TEXT;

-- Admin keys may be limited to one program, and to reading.
ALTER TABLE admin_keys ADD COLUMN program_id INTEGER REFERENCES programs(id);
ALTER TABLE admin_keys ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;

-- Things done once per database, whichever server gets there first (the bootstrap key).
CREATE TABLE singletons (
    name TEXT NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
);

-- Which purchase a hold serves.
CREATE INDEX purchase_operations_by_hold ON purchase_operations (hold_id) WHERE hold_id IS NOT NULL;

-- Codes sent before messages were sealed stay readable no longer.
UPDATE outbox_messages SET payload = '{"text":"(confirmation code removed)"}'
WHERE kind = 'sms' AND state <> 'pending' AND payload LIKE '%Код подтверждения%';
UPDATE outbox_messages SET payload = '{"subject":"Код подтверждения","body":"(confirmation code removed)"}'
WHERE kind = 'email' AND state <> 'pending' AND payload LIKE '%Код подтверждения%';

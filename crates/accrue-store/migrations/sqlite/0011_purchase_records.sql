-- What confirmed purchases leave behind: the usage of offers' per-member caps, and the
-- entries a member's history shows for a purchase and each refund of it (the postings
-- they made are linked to the entry, so history shows them once, as part of it).
DROP TABLE offer_usage;
CREATE TABLE offer_usage (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    offer_code TEXT NOT NULL,
    purchase_id INTEGER NOT NULL REFERENCES purchases(id),
    used_at INTEGER NOT NULL,
    applications INTEGER NOT NULL,
    discount INTEGER NOT NULL,
    bonus INTEGER NOT NULL
);
CREATE INDEX offer_usage_by_member ON offer_usage (program_id, member_id, used_at);
CREATE TABLE purchase_entries (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    purchase_id INTEGER NOT NULL REFERENCES purchases(id),
    currency_id INTEGER NOT NULL REFERENCES currencies(id),
    -- JSON: the cheque items, bonuses withdrawn and rewards.
    entry TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX purchase_entries_by_member ON purchase_entries (program_id, member_id, created_at);
CREATE TABLE purchase_postings (
    posting_id INTEGER NOT NULL PRIMARY KEY REFERENCES postings(id),
    entry_id INTEGER NOT NULL REFERENCES purchase_entries(id)
);
CREATE INDEX purchases_by_member ON purchases (program_id, member_id, state);
-- Refunds are now kept as a list of refund shares.
UPDATE purchases SET refunded_lines = '[]' WHERE refunded_lines = '{}';

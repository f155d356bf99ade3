-- The batch type a posting came from, so that history and statistics tell an accrual
-- for purchases elsewhere (2) from a manual one (4), a return (3) from a write-off (5).
ALTER TABLE posting_notes ADD COLUMN batch_type INTEGER;

-- Points accrued with a delay, found by their accrual for the history's activation rows.
CREATE INDEX lots_delayed ON lots (posting_id) WHERE activates_at > created_at;

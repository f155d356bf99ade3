-- The auto-cancel sweep looks for open purchases alone, by cancel_at then id: an index of
-- those alone stays as small as the purchases under way (the index on (state, cancel_at)
-- held every purchase ever made), and a Confirm, which closes its purchase, adds no entry
-- to it.
DROP INDEX purchases_open;
CREATE INDEX purchases_open ON purchases (cancel_at, id) WHERE state = 'open';

-- Reference checks that a purchase's writes make of rows the same write has just locked
-- or written, and that Accrue never deletes: each was a query inside the write (about 20
-- per purchase, a tenth of PostgreSQL's work on one; bench/README.md, stop 40).
-- - A member's: every purchase call locks the member row before it writes (Calculate's
--   record names the member the call has just read).
-- - An account's, in entries: every entry moves its account's balance in the same write,
--   and balances keep their check.
-- - A lot's, in lot moves: the write has just moved the lot.
-- - A hold's, a purchase's, a posting's and a purchase entry's: the write has just made
--   the hold, locked or made the purchase, and made the posting and the entry.
-- SQLite keeps them all (migration 0029 says why); `accrue check` reports any row of
-- these tables whose reference is missing.
ALTER TABLE entries DROP CONSTRAINT entries_account_id_fkey;
ALTER TABLE lot_moves DROP CONSTRAINT lot_moves_lot_id_fkey;
ALTER TABLE holds DROP CONSTRAINT holds_member_id_fkey;
ALTER TABLE purchases DROP CONSTRAINT purchases_member_id_fkey;
ALTER TABLE purchase_operations DROP CONSTRAINT purchase_operations_member_id_fkey;
ALTER TABLE purchase_operations DROP CONSTRAINT purchase_operations_hold_id_fkey;
ALTER TABLE offer_usage DROP CONSTRAINT offer_usage_member_id_fkey;
ALTER TABLE offer_usage DROP CONSTRAINT offer_usage_purchase_id_fkey;
ALTER TABLE purchase_entries DROP CONSTRAINT purchase_entries_member_id_fkey;
ALTER TABLE purchase_entries DROP CONSTRAINT purchase_entries_purchase_id_fkey;
ALTER TABLE purchase_postings DROP CONSTRAINT purchase_postings_posting_id_fkey;
ALTER TABLE purchase_postings DROP CONSTRAINT purchase_postings_entry_id_fkey;

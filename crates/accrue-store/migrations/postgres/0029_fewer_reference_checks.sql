-- Reference checks that cost every write a query and a shared lock on the same few rows
-- (the program, its currency, the till, the posting written in the same statement), for
-- rows Accrue never deletes and never renumbers. Each check was an extra query inside the
-- write, and every till's write share-locked the program's row. References to rows that
-- carry a write's meaning (members, accounts, holds, lots, purchases) keep their checks.
ALTER TABLE postings DROP CONSTRAINT postings_program_id_fkey;
ALTER TABLE entries DROP CONSTRAINT entries_posting_id_fkey;
ALTER TABLE lots DROP CONSTRAINT lots_posting_id_fkey;
ALTER TABLE lot_moves DROP CONSTRAINT lot_moves_posting_id_fkey;
ALTER TABLE holds DROP CONSTRAINT holds_program_id_fkey;
ALTER TABLE holds DROP CONSTRAINT holds_currency_id_fkey;
ALTER TABLE purchases DROP CONSTRAINT purchases_program_id_fkey;
ALTER TABLE purchases DROP CONSTRAINT purchases_device_id_fkey;
ALTER TABLE purchases DROP CONSTRAINT purchases_currency_id_fkey;
ALTER TABLE purchase_operations DROP CONSTRAINT purchase_operations_program_id_fkey;
ALTER TABLE purchase_operations DROP CONSTRAINT purchase_operations_device_id_fkey;
ALTER TABLE offer_usage DROP CONSTRAINT offer_usage_program_id_fkey;
ALTER TABLE purchase_entries DROP CONSTRAINT purchase_entries_program_id_fkey;
ALTER TABLE purchase_entries DROP CONSTRAINT purchase_entries_currency_id_fkey;

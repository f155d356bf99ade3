-- A member is looked up by program and id on every purchase call (the member's lock, its
-- facts for offers). Until a table is analyzed, PostgreSQL may answer that from any
-- index led by program_id (say the referral codes') and filter every member of the
-- program: measured at 149 buffers a lookup with 200 members. An index on both columns
-- is the right plan with statistics or without.
CREATE INDEX members_of_program ON members (program_id, id);

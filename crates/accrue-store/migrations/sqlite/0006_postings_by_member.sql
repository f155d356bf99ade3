-- A member's operations (Loymax History, balance totals) are read by member, newest first.
CREATE INDEX postings_member ON postings (member_id, id);

-- PostgreSQL only: an index on members (program_id, id). SQLite finds a member by its
-- rowid whatever else the query says.
SELECT 1;

-- PostgreSQL only: a withdrawal in one round trip (the function accrue_withdraw).
-- SQLite's writer runs the same steps as statements in-process, where they cost less.
SELECT 1;

-- PostgreSQL only: a purchase's Confirm in one round trip (the function accrue_confirm).
-- SQLite's writer runs statements in-process.
SELECT 1;

-- PostgreSQL only: a purchase's Bonus in one round trip (the function accrue_bonus).
-- SQLite's writer runs statements in-process.
SELECT 1;

-- PostgreSQL only: a purchase's Payment in one round trip (the function accrue_pay).
-- SQLite's writer runs statements in-process.
SELECT 1;

-- PostgreSQL only: a purchase's Bonus in one round trip (the function accrue_bonus), and
-- accrue_pay answering with the purchase (accrue_pay_known).
-- SQLite's writer runs statements in-process.
SELECT 1;

-- PostgreSQL only: many withdrawals in one round trip (the function accrue_withdraw_each).
-- SQLite's writer already commits many writes at once.
SELECT 1;

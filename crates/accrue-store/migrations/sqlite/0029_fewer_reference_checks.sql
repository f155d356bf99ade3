-- PostgreSQL only: reference checks that cost every write a query and a shared lock on
-- the same few rows. SQLite's checks are lookups in the writer's own pages.
SELECT 1;

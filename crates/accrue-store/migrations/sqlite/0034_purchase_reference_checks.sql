-- PostgreSQL only: reference checks a purchase's writes make of rows the same write has
-- just locked or written. SQLite's checks are lookups in the writer's own pages.
SELECT 1;

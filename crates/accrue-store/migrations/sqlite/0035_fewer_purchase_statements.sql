-- PostgreSQL only: the functions a purchase's Payment, Bonus and Confirm run in one round
-- trip, with fewer statements. SQLite runs the general path on its writer's thread.
SELECT 1;

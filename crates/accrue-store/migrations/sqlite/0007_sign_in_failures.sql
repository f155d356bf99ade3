-- Wrong passwords in a row per member, and the lock they lead to.
CREATE TABLE sign_in_failures (
    member_id INTEGER NOT NULL PRIMARY KEY REFERENCES members(id),
    failures INTEGER NOT NULL,
    locked_until INTEGER
);

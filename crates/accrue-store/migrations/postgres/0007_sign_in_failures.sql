-- Wrong passwords in a row per member, and the lock they lead to.
CREATE TABLE sign_in_failures (
    member_id BIGINT NOT NULL PRIMARY KEY REFERENCES members(id),
    failures BIGINT NOT NULL,
    locked_until BIGINT
);

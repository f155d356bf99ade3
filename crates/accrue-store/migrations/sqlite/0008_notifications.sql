-- Messages to a member shown in the app (Loymax Notification): read marks, soft deletion.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    summary TEXT NOT NULL,
    image_url TEXT,
    created_at INTEGER NOT NULL,
    read_at INTEGER,
    deleted_at INTEGER
);
CREATE INDEX notifications_by_member ON notifications (member_id, id);

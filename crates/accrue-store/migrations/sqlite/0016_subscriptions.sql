-- What each member agreed to be told, per topic and channel (accrue_core::subscriptions).
-- No row: the default (only system messages).
CREATE TABLE member_subscriptions (
    member_id INTEGER NOT NULL REFERENCES members(id),
    topic TEXT NOT NULL,
    channel TEXT NOT NULL,
    selected INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, topic, channel)
);

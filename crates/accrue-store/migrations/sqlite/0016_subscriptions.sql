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

-- The devices of members' apps that take push messages: one member per device (the
-- latest to register it). The push token is kept sealed, as the outbox sends it.
CREATE TABLE push_devices (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    device_id TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members(id),
    platform TEXT NOT NULL,
    platform_version TEXT,
    push_service TEXT,
    user_agent TEXT,
    sealed_token TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, device_id)
);
CREATE INDEX push_devices_by_member ON push_devices (member_id);

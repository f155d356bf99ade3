-- Event offers: a program's offers that react to events other than purchases, what
-- each gave each member (so caps, first times and reversals see the past), events
-- already handled (a source's delivery handled once), named counters, members' linked
-- social profiles, and the program's VK community.
CREATE TABLE event_offers (
    program_id INTEGER NOT NULL PRIMARY KEY REFERENCES programs(id),
    -- JSON array of accrue_core::events::EventOffer.
    offers TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE event_grants (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    offer_id TEXT NOT NULL,
    subject_key TEXT NOT NULL,
    amount INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX event_grants_by_member ON event_grants (member_id, at);

CREATE TABLE handled_events (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    member_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, source, event_id)
);

CREATE TABLE event_counters (
    member_id INTEGER NOT NULL REFERENCES members(id),
    counter TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (member_id, counter)
);

CREATE TABLE social_profiles (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    network TEXT NOT NULL,
    network_user_id TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members(id),
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, network, network_user_id)
);
CREATE INDEX social_profiles_by_member ON social_profiles (member_id);

CREATE TABLE vk_settings (
    program_id INTEGER NOT NULL PRIMARY KEY REFERENCES programs(id),
    -- JSON of accrue_store::events::VkSettings (the secret as its SHA-256).
    settings TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The signing secret of a program's server-to-server event endpoint (sealed).
CREATE TABLE event_sources (
    program_id INTEGER NOT NULL PRIMARY KEY REFERENCES programs(id),
    secret TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- What the VK collector saw last: members of the community, likes and reposts of its
-- recent posts; the next run's differences become events.
CREATE TABLE vk_seen (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    kind TEXT NOT NULL,
    object TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (program_id, kind, object, user_id)
);

-- Members linking VK through VK ID: the state of each sign-in begun (SHA-256), whose
-- member it is for, and until when it may come back.
CREATE TABLE oauth_states (
    state_sha256 TEXT NOT NULL PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    expires_at INTEGER NOT NULL
);

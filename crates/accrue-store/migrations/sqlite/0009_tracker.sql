-- The affiliate tracker: integrations with partner programs, registration links,
-- leads, clicks, conversions counted from postbacks, and the log of every postback.
CREATE TABLE tracker_integrations (
    id INTEGER PRIMARY KEY,
    -- Random UUID: the postback URL's only credential unless a secret is set.
    uid TEXT NOT NULL UNIQUE,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    name TEXT NOT NULL,
    template TEXT,
    click_param TEXT NOT NULL,
    click_in_link INTEGER NOT NULL,
    -- JSON array of {label, event, params}.
    postbacks TEXT NOT NULL,
    secret_param TEXT NOT NULL,
    -- Sealed with the server's key; NULL when postbacks need no secret.
    secret TEXT,
    -- JSON array of IP networks; empty for any source.
    allowed_ips TEXT NOT NULL,
    rate_limit_per_minute INTEGER NOT NULL,
    forward_url TEXT,
    default_currency TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX tracker_integrations_program ON tracker_integrations (program_id, id);

CREATE TABLE tracker_fields (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, key)
);

CREATE TABLE tracker_leads (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    external_id TEXT NOT NULL,
    -- JSON object of custom field values.
    fields TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (program_id, external_id)
);

CREATE TABLE tracker_links (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    integration_id INTEGER NOT NULL REFERENCES tracker_integrations(id),
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    base_url TEXT NOT NULL,
    -- JSON array of [name, value].
    params TEXT NOT NULL,
    -- The final URL with {{…}} placeholders.
    final_url TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX tracker_links_program ON tracker_links (program_id, id);

CREATE TABLE tracker_clicks (
    id INTEGER PRIMARY KEY,
    click_id TEXT NOT NULL UNIQUE,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    link_id INTEGER NOT NULL REFERENCES tracker_links(id),
    integration_id INTEGER NOT NULL,
    lead_id INTEGER REFERENCES tracker_leads(id),
    -- 'redirect' (a visit of /t/{slug}) or 'issued' (rendered by the admin API).
    source TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    referrer TEXT,
    -- JSON array of the [name, value] parameters the visit arrived with.
    subs TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    visited_at INTEGER
);
CREATE INDEX tracker_clicks_program ON tracker_clicks (program_id, created_at);
CREATE INDEX tracker_clicks_lead ON tracker_clicks (lead_id);

CREATE TABLE tracker_conversions (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    integration_id INTEGER NOT NULL REFERENCES tracker_integrations(id),
    click_row INTEGER NOT NULL REFERENCES tracker_clicks(id),
    link_id INTEGER NOT NULL,
    lead_id INTEGER,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    -- Counts the conversion once per click: 'reg', 'fd', 'rd:tid:…', 'custom:…'.
    dedup_key TEXT NOT NULL,
    -- Millionths of the currency unit.
    amount INTEGER NOT NULL,
    currency TEXT,
    tid TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (click_row, dedup_key)
);
CREATE INDEX tracker_conversions_program ON tracker_conversions (program_id, created_at);

CREATE TABLE tracker_postbacks (
    id INTEGER PRIMARY KEY,
    -- NULL when the integration is unknown.
    program_id INTEGER,
    integration_uid TEXT NOT NULL,
    integration_id INTEGER,
    method TEXT NOT NULL,
    -- The query string, and the form body of a POST after a newline.
    raw TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    click_id TEXT,
    event TEXT,
    conversion_id INTEGER
);
CREATE INDEX tracker_postbacks_program ON tracker_postbacks (program_id, id);

CREATE TABLE tracker_settings (
    program_id INTEGER PRIMARY KEY REFERENCES programs(id),
    report_currency TEXT NOT NULL,
    -- JSON object: currency code → value of one unit in the report currency (decimal text).
    rates TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

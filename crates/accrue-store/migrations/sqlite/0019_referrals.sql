-- The referral program: its settings per program, clicks on invite links, who invited
-- whom (and whether it waits for review), the rewards referrals earned, and the devices
-- and addresses members were seen with (for the fraud rules). Also the IMSHOP face's
-- settings per program.
CREATE TABLE referral_settings (
    program_id INTEGER NOT NULL PRIMARY KEY REFERENCES programs(id),
    -- JSON of accrue_core::referral::ReferralSettings.
    settings TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE referral_clicks (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    inviter_id INTEGER NOT NULL REFERENCES members(id),
    code TEXT NOT NULL,
    banner_id TEXT,
    platform TEXT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- When a first open of the app was matched to this click.
    matched_at INTEGER
);
CREATE INDEX referral_clicks_by_ip ON referral_clicks (program_id, ip, created_at);

CREATE TABLE referrals (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    inviter_id INTEGER NOT NULL REFERENCES members(id),
    invitee_id INTEGER NOT NULL REFERENCES members(id),
    code TEXT NOT NULL,
    banner_id TEXT,
    state TEXT NOT NULL CHECK (state IN ('approved', 'review', 'rejected')),
    -- JSON array of the fraud rules it tripped.
    suspicions TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    decided_at INTEGER,
    -- One inviter per invitee.
    UNIQUE (program_id, invitee_id)
);
CREATE INDEX referrals_by_inviter ON referrals (inviter_id, created_at);

CREATE TABLE referral_rewards (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    referral_id INTEGER NOT NULL REFERENCES referrals(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    role TEXT NOT NULL,
    earned_on TEXT NOT NULL,
    -- paid; held while the referral is in review; capped (over the inviter's cap);
    -- voided (the referral was rejected).
    state TEXT NOT NULL CHECK (state IN ('paid', 'held', 'capped', 'voided')),
    -- The purchase that earned it.
    purchase_key TEXT,
    currency_id INTEGER NOT NULL REFERENCES currencies(id),
    amount INTEGER NOT NULL,
    expires_at INTEGER,
    -- What refunds of the purchase took back so far.
    taken_back INTEGER NOT NULL,
    posting_id INTEGER REFERENCES postings(id),
    created_at INTEGER NOT NULL,
    -- A reward is earned once.
    UNIQUE (referral_id, role, earned_on)
);
CREATE INDEX referral_rewards_by_member ON referral_rewards (member_id, role, earned_on, created_at);
CREATE INDEX referral_rewards_by_purchase ON referral_rewards (program_id, purchase_key);

CREATE TABLE member_traces (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    -- 'email': an address a registering member gave that another member has.
    kind TEXT NOT NULL CHECK (kind IN ('device', 'ip', 'email')),
    value TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, kind, value)
);

CREATE TABLE imshop_settings (
    program_id INTEGER NOT NULL PRIMARY KEY REFERENCES programs(id),
    -- JSON; the shared secret only as its SHA-256.
    settings TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A referral code given while asking for a sign-in code, kept until the code is
-- confirmed (only then is the phone the invitee's).
CREATE TABLE pending_invitations (
    member_id INTEGER NOT NULL PRIMARY KEY REFERENCES members(id),
    code TEXT NOT NULL,
    banner_id TEXT,
    device TEXT,
    created_at INTEGER NOT NULL
);

-- The last cart IMSHOP priced for an app install: its order carries no prices of its own
-- (IMSHOP calls them reference-only), so the order is priced from this.
CREATE TABLE imshop_carts (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    install_id TEXT NOT NULL,
    -- JSON array of {goods, price, quantity}.
    lines TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, install_id)
);

-- The address an app install first opened from (its first-open call): signing in from
-- that install ties the address to the member, for the same-IP fraud rule.
CREATE TABLE app_installs (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    install_id TEXT NOT NULL,
    ip TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, install_id)
);

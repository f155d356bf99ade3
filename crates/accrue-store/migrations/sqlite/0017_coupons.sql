-- Coupons: series (Loymax's emissions) the operator defines, and coupons of a series
-- issued to members, redeemed at the till by an offer that names the series.
CREATE TABLE coupon_series (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    code TEXT NOT NULL,
    title TEXT NOT NULL,
    short_description TEXT,
    description TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (program_id, code)
);
CREATE TABLE coupons (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    series_id INTEGER NOT NULL REFERENCES coupon_series(id),
    number TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members(id),
    -- issued, used or rejected; an issued coupon past expires_at reads as expired.
    state TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER,
    changed_at INTEGER NOT NULL,
    purchase_key TEXT,
    UNIQUE (program_id, number)
);
CREATE INDEX coupons_by_member ON coupons (member_id, id);

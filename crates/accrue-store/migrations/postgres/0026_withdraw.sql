-- A withdrawal in one round trip (see ledger.rs, `withdraw_at_once`): every statement
-- PostgreSQL runs for a client is a round trip, and on a member many tills pay from at
-- once each is made while the member is locked. It does what the general path does, in
-- the same order: lock the member and check its state, choose the usable lots oldest
-- first (refusing before any write when they hold less), move the wallet, write the
-- posting with its entries and the system balance of the connection's shard, move the
-- lots, and, given a replay key (p_scope), keep the outcome under it: p_outcome with the
-- posting's id and the wallet's balance. A key already taken fails the call, which
-- undoes it. o_state is null for an unknown member; o_posting is null when the member
-- may not transact or the lots hold less (o_usable).
CREATE FUNCTION accrue_withdraw(
    p_program BIGINT, p_member BIGINT, p_wallet BIGINT, p_target BIGINT, p_shards BIGINT,
    p_currency BIGINT, p_amount BIGINT, p_kind TEXT, p_card BIGINT, p_description TEXT,
    p_now BIGINT, p_scope TEXT, p_key TEXT, p_fingerprint TEXT, p_outcome TEXT)
RETURNS TABLE (o_state TEXT, o_usable BIGINT, o_posting BIGINT, o_balance BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_lots BIGINT[];
    v_takes BIGINT[];
BEGIN
    SELECT m.state INTO o_state FROM members m
     WHERE m.program_id = p_program AND m.id = p_member FOR NO KEY UPDATE;
    IF o_state IS NULL OR o_state NOT IN ('registering', 'active') THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT COALESCE(array_agg(u.id ORDER BY u.activates_at, u.id), '{}'),
           COALESCE(array_agg(LEAST(u.remaining, p_amount - (u.reached - u.remaining))
                              ORDER BY u.activates_at, u.id), '{}'),
           COALESCE(MAX(u.reached), 0)
      INTO v_lots, v_takes, o_usable
      FROM (SELECT l.id, l.remaining, l.activates_at,
                   CAST(SUM(l.remaining) OVER (ORDER BY l.activates_at, l.id) AS BIGINT) AS reached
              FROM lots l
             WHERE l.account_id = p_wallet AND l.remaining > 0 AND l.activates_at <= p_now
               AND (l.expires_at IS NULL OR l.expires_at > p_now)) u
     WHERE u.reached - u.remaining < p_amount;
    IF o_usable < p_amount THEN
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE balances b SET balance = b.balance - p_amount
     WHERE b.account_id = p_wallet AND b.shard = 0 AND b.balance >= p_amount
     RETURNING b.balance INTO o_balance;
    IF o_balance IS NULL THEN
        RAISE EXCEPTION 'wallet % holds less than its usable lots', p_wallet;
    END IF;
    INSERT INTO postings (program_id, kind, member_id, currency_id, amount, card_id, hold_id,
                          description, created_at)
    VALUES (p_program, p_kind, p_member, p_currency, p_amount, p_card, NULL, p_description, p_now)
    RETURNING id INTO o_posting;
    INSERT INTO entries (posting_id, account_id, currency_id, amount, created_at)
    VALUES (o_posting, p_wallet, p_currency, -p_amount, p_now),
           (o_posting, p_target, p_currency, p_amount, p_now);
    INSERT INTO balances AS b (account_id, shard, balance)
    VALUES (p_target, pg_backend_pid() % p_shards, p_amount)
    ON CONFLICT (account_id, shard) DO UPDATE SET balance = b.balance + excluded.balance;
    UPDATE lots l SET remaining = l.remaining - t.take
      FROM unnest(v_lots, v_takes) AS t(id, take) WHERE l.id = t.id;
    INSERT INTO lot_moves (posting_id, lot_id, amount)
    SELECT o_posting, t.id, -t.take FROM unnest(v_lots, v_takes) AS t(id, take);
    IF p_scope IS NOT NULL THEN
        INSERT INTO replays (program_id, scope, key, fingerprint, outcome, created_at)
        VALUES (p_program, p_scope, p_key, p_fingerprint,
                (CAST(p_outcome AS JSONB)
                 || jsonb_build_object('posting_id', o_posting, 'balance', o_balance))::TEXT,
                p_now);
    END IF;
    RETURN NEXT;
END
$$;

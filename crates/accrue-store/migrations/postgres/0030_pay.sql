-- A purchase's Payment in one round trip (see purchases/at_once.rs): the statements of the
-- general path, in its order, for the payment that path would take without a refusal.
-- It locks the member and then the purchase, and checks what the general path checks:
-- the member may transact; the purchase is new, or open, the same member's, in the same
-- currency and without a live Bonus; the payments stay within p_max_total; the usable lots
-- hold the amount. Then it opens or updates the purchase, holds the points (hold, reserve
-- posting with its entries, balances and lot moves), writes the operation's row and
-- keeps p_outcome, with the operation's and the hold's ids, under the replay key. A key
-- or operation id already taken fails the call, which undoes it.
-- o_operation is null when a check failed and nothing was written: the general path then
-- runs the payment and tells the till why it is refused.
CREATE FUNCTION accrue_pay(
    p_program BIGINT, p_key TEXT, p_operation TEXT, p_device BIGINT, p_member BIGINT,
    p_currency BIGINT, p_wallet BIGINT, p_holding BIGINT, p_shards BIGINT, p_amount BIGINT,
    p_max_total BIGINT, p_cheque TEXT, p_priced TEXT, p_sent TEXT, p_description TEXT,
    p_cancel_at BIGINT, p_hold_after BIGINT, p_now BIGINT, p_scope TEXT, p_fingerprint TEXT,
    p_outcome TEXT)
RETURNS TABLE (o_operation BIGINT, o_hold BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_state TEXT;
    v_purchase BIGINT;
    v_buyer BIGINT;
    v_purchase_currency BIGINT;
    v_purchase_state TEXT;
    v_paid BIGINT := 0;
    v_cancel_at BIGINT;
    v_lots BIGINT[];
    v_takes BIGINT[];
    v_usable BIGINT;
    v_posting BIGINT;
BEGIN
    SELECT m.state INTO v_state FROM members m
     WHERE m.program_id = p_program AND m.id = p_member FOR NO KEY UPDATE;
    IF v_state IS NULL OR v_state NOT IN ('registering', 'active') THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT p.id, p.member_id, p.currency_id, p.state, p.bonus_paid, p.cancel_at
      INTO v_purchase, v_buyer, v_purchase_currency, v_purchase_state, v_paid, v_cancel_at
      FROM purchases p WHERE p.program_id = p_program AND p.purchase_key = p_key FOR NO KEY UPDATE;
    IF v_purchase IS NULL THEN
        v_paid := 0;
        v_cancel_at := p_cancel_at;
    ELSIF v_purchase_state <> 'open' OR v_buyer IS DISTINCT FROM p_member
          OR v_purchase_currency <> p_currency
          OR EXISTS (SELECT 1 FROM purchase_operations o WHERE o.program_id = p_program
                        AND o.purchase_key = p_key AND o.kind = 'bonus' AND o.canceled_at IS NULL) THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_paid + p_amount > p_max_total THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT COALESCE(array_agg(u.id ORDER BY u.activates_at, u.id), '{}'),
           COALESCE(array_agg(LEAST(u.remaining, p_amount - (u.reached - u.remaining))
                              ORDER BY u.activates_at, u.id), '{}'),
           COALESCE(MAX(u.reached), 0)
      INTO v_lots, v_takes, v_usable
      FROM (SELECT l.id, l.remaining, l.activates_at,
                   CAST(SUM(l.remaining) OVER (ORDER BY l.activates_at, l.id) AS BIGINT) AS reached
              FROM lots l
             WHERE l.account_id = p_wallet AND l.remaining > 0 AND l.activates_at <= p_now
               AND (l.expires_at IS NULL OR l.expires_at > p_now)) u
     WHERE u.reached - u.remaining < p_amount;
    IF v_usable < p_amount THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_purchase IS NULL THEN
        -- The first write: a purchase opened meanwhile under this key (by another member)
        -- leaves the payment to the general path, which refuses it.
        INSERT INTO purchases (program_id, purchase_key, device_id, member_id, currency_id, state, cheque,
                               bonus_paid, accrual, refunded_payment, refunded_accrual, refunded_lines,
                               cancel_at, created_at)
        VALUES (p_program, p_key, p_device, p_member, p_currency, 'open', p_cheque, p_amount, 0, 0, 0, '[]',
                p_cancel_at, p_now)
        ON CONFLICT (program_id, purchase_key) DO NOTHING RETURNING id INTO v_purchase;
        IF v_purchase IS NULL THEN
            RETURN NEXT;
            RETURN;
        END IF;
    ELSE
        UPDATE purchases SET cheque = p_cheque, bonus_paid = bonus_paid + p_amount, resolved_at = NULL
         WHERE id = v_purchase;
    END IF;
    UPDATE balances b SET balance = b.balance - p_amount
     WHERE b.account_id = p_wallet AND b.shard = 0 AND b.balance >= p_amount;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'wallet % holds less than its usable lots', p_wallet;
    END IF;
    v_posting := nextval(pg_get_serial_sequence('postings', 'id'));
    INSERT INTO holds (program_id, member_id, currency_id, amount, captured, state, expires_at,
                       reserve_posting_id, created_at)
    VALUES (p_program, p_member, p_currency, p_amount, 0, 'active', v_cancel_at + p_hold_after, v_posting, p_now)
    RETURNING id INTO o_hold;
    INSERT INTO postings (id, program_id, kind, member_id, currency_id, amount, card_id, hold_id,
                          description, created_at)
    VALUES (v_posting, p_program, 'hold_reserve', p_member, p_currency, p_amount, NULL, o_hold,
            p_description, p_now);
    INSERT INTO entries (posting_id, account_id, currency_id, amount, created_at)
    VALUES (v_posting, p_wallet, p_currency, -p_amount, p_now),
           (v_posting, p_holding, p_currency, p_amount, p_now);
    INSERT INTO balances AS b (account_id, shard, balance)
    VALUES (p_holding, pg_backend_pid() % p_shards, p_amount)
    ON CONFLICT (account_id, shard) DO UPDATE SET balance = b.balance + excluded.balance;
    UPDATE lots l SET remaining = l.remaining - t.take
      FROM unnest(v_lots, v_takes) AS t(id, take) WHERE l.id = t.id;
    INSERT INTO lot_moves (posting_id, lot_id, amount)
    SELECT v_posting, t.id, -t.take FROM unnest(v_lots, v_takes) AS t(id, take);
    INSERT INTO purchase_operations (program_id, purchase_key, operation_id, kind, device_id, member_id,
                                     hold_id, amount, priced, cheque, created_at)
    VALUES (p_program, p_key, p_operation, 'payment', p_device, p_member, o_hold, p_amount, p_priced, p_sent,
            p_now)
    RETURNING id INTO o_operation;
    INSERT INTO replays (program_id, scope, key, fingerprint, outcome, created_at)
    VALUES (p_program, p_scope, p_operation, p_fingerprint,
            (CAST(p_outcome AS JSONB) || jsonb_build_object('transaction_id', o_operation, 'hold_id', o_hold))::TEXT,
            p_now);
    RETURN NEXT;
END
$$;

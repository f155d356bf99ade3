-- A purchase's Confirm in one round trip (see purchases/at_once.rs): the writes of the
-- general path, in one call, for a purchase the caller read before it (p_paid, p_accrual
-- and p_live, its live payments and bonuses as the general path reads them). It locks the
-- member and then the purchase and checks that the purchase is as read: still open, the
-- same member's, its live operations unchanged, every payment's hold active and not
-- expired; the member may transact; the accrual keeps the wallet within p_ceiling. Then it
-- captures each payment's hold (capture posting with its entries and balances, the hold
-- resolved), posts the accrual with its lot (topping up the newest lot that is active and
-- never expires when the points are such too), records the purchase (confirmed, its offers'
-- usage, its history entry and postings), writes the operation's row and keeps p_outcome,
-- with the operation's id, under the replay key. A key or operation id already taken fails
-- the call, which undoes it.
-- o_operation is null when a check failed and nothing was written: the general path then
-- confirms the purchase or tells the till why not.
CREATE FUNCTION accrue_confirm(
    p_program BIGINT, p_key TEXT, p_operation TEXT, p_device BIGINT, p_member BIGINT,
    p_currency BIGINT, p_wallet BIGINT, p_holding BIGINT, p_redemption BIGINT, p_issuance BIGINT,
    p_shards BIGINT, p_paid BIGINT, p_accrual BIGINT, p_live TEXT, p_ceiling BIGINT,
    p_activates_at BIGINT, p_expires_at BIGINT, p_description TEXT, p_usage TEXT, p_entry TEXT,
    p_now BIGINT, p_scope TEXT, p_fingerprint TEXT, p_outcome TEXT)
RETURNS TABLE (o_operation BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_state TEXT;
    v_purchase BIGINT;
    v_live JSONB;
    v_hold RECORD;
    v_posting BIGINT;
    v_accrual_posting BIGINT;
    v_postings BIGINT[] := '{}';
    v_lot BIGINT;
    v_entry BIGINT;
BEGIN
    SELECT m.state INTO v_state FROM members m
     WHERE m.program_id = p_program AND m.id = p_member FOR NO KEY UPDATE;
    IF v_state IS NULL OR v_state NOT IN ('registering', 'active') THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT p.id INTO v_purchase FROM purchases p
     WHERE p.program_id = p_program AND p.purchase_key = p_key AND p.state = 'open'
       AND p.member_id = p_member AND p.currency_id = p_currency AND p.bonus_paid = p_paid
       AND p.accrual = p_accrual
       FOR NO KEY UPDATE;
    IF v_purchase IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT COALESCE(jsonb_agg(jsonb_build_array(o.operation_id, o.kind, o.hold_id) ORDER BY o.id), '[]')
      INTO v_live FROM purchase_operations o
     WHERE o.program_id = p_program AND o.purchase_key = p_key AND o.kind IN ('payment', 'bonus')
       AND o.canceled_at IS NULL;
    IF v_live <> CAST(p_live AS JSONB) OR EXISTS (
           SELECT 1 FROM purchase_operations o JOIN holds h ON h.id = o.hold_id
            WHERE o.program_id = p_program AND o.purchase_key = p_key AND o.kind = 'payment'
              AND o.canceled_at IS NULL AND (h.state <> 'active' OR h.expires_at <= p_now)) THEN
        RETURN NEXT;
        RETURN;
    END IF;
    -- The first write, as it may be refused: the wallet above its ceiling.
    IF p_accrual > 0 THEN
        UPDATE balances b SET balance = b.balance + p_accrual
         WHERE b.account_id = p_wallet AND b.shard = 0 AND b.balance + p_accrual BETWEEN 0 AND p_ceiling;
        IF NOT FOUND THEN
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    FOR v_hold IN
        SELECT h.id, h.amount FROM purchase_operations o JOIN holds h ON h.id = o.hold_id
         WHERE o.program_id = p_program AND o.purchase_key = p_key AND o.kind = 'payment'
           AND o.canceled_at IS NULL
         ORDER BY o.id
    LOOP
        INSERT INTO postings (program_id, kind, member_id, currency_id, amount, card_id, hold_id,
                              description, created_at)
        VALUES (p_program, 'hold_capture', p_member, p_currency, v_hold.amount, NULL, v_hold.id,
                'captured', p_now)
        RETURNING id INTO v_posting;
        INSERT INTO entries (posting_id, account_id, currency_id, amount, created_at)
        VALUES (v_posting, p_holding, p_currency, -v_hold.amount, p_now),
               (v_posting, p_redemption, p_currency, v_hold.amount, p_now);
        INSERT INTO balances AS b (account_id, shard, balance)
        SELECT a.account_id, pg_backend_pid() % p_shards, a.amount
          FROM (VALUES (p_holding, -v_hold.amount), (p_redemption, v_hold.amount)) AS a(account_id, amount)
         ORDER BY a.account_id
        ON CONFLICT (account_id, shard) DO UPDATE SET balance = b.balance + excluded.balance;
        UPDATE holds SET state = 'captured', captured = v_hold.amount, resolve_posting_id = v_posting,
                         resolved_at = p_now
         WHERE id = v_hold.id;
        v_postings := v_postings || v_posting;
    END LOOP;
    IF p_accrual > 0 THEN
        INSERT INTO postings (program_id, kind, member_id, currency_id, amount, card_id, hold_id,
                              description, created_at)
        VALUES (p_program, 'accrual', p_member, p_currency, p_accrual, NULL, NULL, p_description, p_now)
        RETURNING id INTO v_accrual_posting;
        INSERT INTO entries (posting_id, account_id, currency_id, amount, created_at)
        VALUES (v_accrual_posting, p_issuance, p_currency, -p_accrual, p_now),
               (v_accrual_posting, p_wallet, p_currency, p_accrual, p_now);
        INSERT INTO balances AS b (account_id, shard, balance)
        VALUES (p_issuance, pg_backend_pid() % p_shards, -p_accrual)
        ON CONFLICT (account_id, shard) DO UPDATE SET balance = b.balance + excluded.balance;
        IF p_activates_at <= p_now AND p_expires_at IS NULL THEN
            UPDATE lots SET amount = amount + p_accrual, remaining = remaining + p_accrual
             WHERE id = (SELECT l.id FROM lots l
                          WHERE l.account_id = p_wallet AND l.remaining > 0 AND l.activates_at <= p_now
                            AND l.expires_at IS NULL ORDER BY l.activates_at DESC, l.id DESC LIMIT 1)
            RETURNING id INTO v_lot;
        END IF;
        IF v_lot IS NULL THEN
            INSERT INTO lots (account_id, posting_id, amount, remaining, activates_at, expires_at, created_at)
            VALUES (p_wallet, v_accrual_posting, p_accrual, p_accrual, p_activates_at, p_expires_at, p_now);
        ELSE
            INSERT INTO lot_moves (posting_id, lot_id, amount) VALUES (v_accrual_posting, v_lot, p_accrual);
        END IF;
        v_postings := v_postings || v_accrual_posting;
    END IF;
    UPDATE purchases SET state = 'confirmed', accrual_posting_id = v_accrual_posting, resolved_at = p_now
     WHERE id = v_purchase;
    INSERT INTO offer_usage (program_id, member_id, offer_code, purchase_id, used_at, applications, discount,
                             bonus)
    SELECT p_program, p_member, u ->> 0, v_purchase, p_now, CAST(u ->> 1 AS BIGINT), CAST(u ->> 2 AS BIGINT),
           CAST(u ->> 3 AS BIGINT)
      FROM jsonb_array_elements(CAST(p_usage AS JSONB)) AS u;
    INSERT INTO purchase_entries (program_id, member_id, purchase_id, currency_id, entry, created_at)
    VALUES (p_program, p_member, v_purchase, p_currency, p_entry, p_now)
    RETURNING id INTO v_entry;
    INSERT INTO purchase_postings (posting_id, entry_id) SELECT unnest(v_postings), v_entry;
    INSERT INTO purchase_operations (program_id, purchase_key, operation_id, kind, device_id, member_id,
                                     hold_id, amount, priced, cheque, created_at)
    VALUES (p_program, p_key, p_operation, 'confirm', p_device, p_member, NULL, 0, NULL, NULL, p_now)
    RETURNING id INTO o_operation;
    INSERT INTO replays (program_id, scope, key, fingerprint, outcome, created_at)
    VALUES (p_program, p_scope, p_operation, p_fingerprint,
            (CAST(p_outcome AS JSONB) || jsonb_build_object('transaction_id', o_operation))::TEXT, p_now);
    RETURN NEXT;
END
$$;

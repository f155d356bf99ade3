-- A purchase's Payment in one round trip (see purchases/at_once.rs): the statements of the
-- general path, in its order, for the payment that path would take without a refusal.
-- It locks the member and then the purchase, and checks what the general path checks:
-- the member may transact; the purchase is new, or open, the same member's, in the same
-- currency and without a live Bonus; the payments stay within p_max_total; the usable lots
-- hold the amount. Then it takes the points to the holding account through
-- accrue_withdraw (migration 0026), opens or updates the purchase, makes the hold with
-- that posting as its reserve, writes the operation's row and keeps p_outcome, with the
-- operation's and the hold's ids, under the replay key. A key or operation id already
-- taken fails the call, which undoes it.
-- o_operation is null when a check failed and nothing was written; a purchase opened
-- meanwhile by another member fails the call with SQLSTATE AC001, which undoes it. Either
-- way the general path then runs the payment and tells the till why it is refused.
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
    -- The points leave the wallet for the holding account as a withdrawal's do
    -- (accrue_withdraw: the oldest usable lots, refused before any write); the posting
    -- then becomes the hold's reserve.
    SELECT w.o_posting INTO v_posting
      FROM accrue_withdraw(p_program, p_member, p_wallet, p_holding, p_shards, p_currency, p_amount,
                           'hold_reserve', NULL, p_description, p_now, NULL, NULL, NULL, NULL) w;
    IF v_posting IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_purchase IS NULL THEN
        INSERT INTO purchases (program_id, purchase_key, device_id, member_id, currency_id, state, cheque,
                               bonus_paid, accrual, refunded_payment, refunded_accrual, refunded_lines,
                               cancel_at, created_at)
        VALUES (p_program, p_key, p_device, p_member, p_currency, 'open', p_cheque, p_amount, 0, 0, 0, '[]',
                p_cancel_at, p_now)
        ON CONFLICT (program_id, purchase_key) DO NOTHING RETURNING id INTO v_purchase;
        IF v_purchase IS NULL THEN
            -- Opened meanwhile under this key by another member: undone, for the general
            -- path to refuse (purchases/at_once.rs knows this code).
            RAISE EXCEPTION 'purchase % was opened meanwhile', p_key USING ERRCODE = 'AC001';
        END IF;
    ELSE
        UPDATE purchases SET cheque = p_cheque, bonus_paid = bonus_paid + p_amount, resolved_at = NULL
         WHERE id = v_purchase;
    END IF;
    INSERT INTO holds (program_id, member_id, currency_id, amount, captured, state, expires_at,
                       reserve_posting_id, created_at)
    VALUES (p_program, p_member, p_currency, p_amount, 0, 'active', v_cancel_at + p_hold_after, v_posting, p_now)
    RETURNING id INTO o_hold;
    UPDATE postings SET hold_id = o_hold WHERE id = v_posting;
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

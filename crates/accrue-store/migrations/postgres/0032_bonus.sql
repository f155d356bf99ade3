-- A purchase's Bonus in one round trip (see purchases/at_once.rs): the writes of the
-- general path, in one call, for a purchase the caller knows (p_paid, p_accrual and
-- p_live, its payments, accrual and live payments and bonuses, as the general path reads
-- them). It locks the member and then the purchase and checks that the purchase is as
-- known: open, the same member's, in the same currency, its live operations unchanged.
-- Then it cancels the live Bonus, if any, sets the purchase's cheque and accrual (as the
-- general path saves an open purchase), writes the operation's row and keeps p_outcome,
-- with the operation's id, under the replay key. A key or operation id already taken
-- fails the call, which undoes it.
-- o_operation is null when a check failed and nothing was written: the general path then
-- sets the bonus or tells the till why not.
CREATE FUNCTION accrue_bonus(
    p_program BIGINT, p_key TEXT, p_operation TEXT, p_device BIGINT, p_member BIGINT,
    p_currency BIGINT, p_paid BIGINT, p_accrual BIGINT, p_live TEXT, p_cheque TEXT, p_amount BIGINT,
    p_priced TEXT, p_sent TEXT, p_now BIGINT, p_scope TEXT, p_fingerprint TEXT, p_outcome TEXT)
RETURNS TABLE (o_operation BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_purchase BIGINT;
    v_live JSONB;
BEGIN
    PERFORM 1 FROM members m WHERE m.program_id = p_program AND m.id = p_member FOR NO KEY UPDATE;
    IF NOT FOUND THEN
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
    IF v_live <> CAST(p_live AS JSONB) THEN
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE purchase_operations o SET canceled_at = p_now
     WHERE o.program_id = p_program AND o.purchase_key = p_key AND o.kind = 'bonus' AND o.canceled_at IS NULL;
    UPDATE purchases SET cheque = p_cheque, accrual = p_amount, resolved_at = NULL WHERE id = v_purchase;
    INSERT INTO purchase_operations (program_id, purchase_key, operation_id, kind, device_id, member_id,
                                     hold_id, amount, priced, cheque, created_at)
    VALUES (p_program, p_key, p_operation, 'bonus', p_device, p_member, NULL, p_amount, p_priced, p_sent,
            p_now)
    RETURNING id INTO o_operation;
    INSERT INTO replays (program_id, scope, key, fingerprint, outcome, created_at)
    VALUES (p_program, p_scope, p_operation, p_fingerprint,
            (CAST(p_outcome AS JSONB) || jsonb_build_object('transaction_id', o_operation))::TEXT, p_now);
    RETURN NEXT;
END
$$;

-- accrue_pay, answering with the purchase as the payment left it (the columns the Rust
-- side reads a purchase with, then its live payments and bonuses as JSON), so that the
-- next call of the purchase needs not read it: one row, all nulls but for the operation
-- and hold when the payment was made, all nulls when it was not.
CREATE FUNCTION accrue_pay_known(
    p_program BIGINT, p_key TEXT, p_operation TEXT, p_device BIGINT, p_member BIGINT,
    p_currency BIGINT, p_wallet BIGINT, p_holding BIGINT, p_shards BIGINT, p_amount BIGINT,
    p_max_total BIGINT, p_cheque TEXT, p_priced TEXT, p_sent TEXT, p_description TEXT,
    p_cancel_at BIGINT, p_hold_after BIGINT, p_now BIGINT, p_scope TEXT, p_fingerprint TEXT,
    p_outcome TEXT)
RETURNS TABLE (o_id BIGINT, o_purchase_key TEXT, o_device_id BIGINT, o_member_id BIGINT,
               o_currency_id BIGINT, o_state TEXT, o_cheque TEXT, o_bonus_paid BIGINT, o_accrual BIGINT,
               o_accrual_posting_id BIGINT, o_refunded_payment BIGINT, o_refunded_accrual BIGINT,
               o_refunded_lines TEXT, o_cancel_at BIGINT, o_created_at BIGINT, o_live TEXT,
               o_operation BIGINT, o_hold BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_operation BIGINT;
    v_hold BIGINT;
BEGIN
    SELECT w.o_operation, w.o_hold INTO v_operation, v_hold
      FROM accrue_pay(p_program, p_key, p_operation, p_device, p_member, p_currency, p_wallet, p_holding,
                      p_shards, p_amount, p_max_total, p_cheque, p_priced, p_sent, p_description, p_cancel_at,
                      p_hold_after, p_now, p_scope, p_fingerprint, p_outcome) w;
    IF v_operation IS NOT NULL THEN
        RETURN QUERY
        SELECT p.id, p.purchase_key, p.device_id, p.member_id, p.currency_id, p.state, p.cheque, p.bonus_paid,
               p.accrual, p.accrual_posting_id, p.refunded_payment, p.refunded_accrual, p.refunded_lines,
               p.cancel_at, p.created_at,
               (SELECT CAST(COALESCE(json_agg(json_build_array(o.operation_id, o.kind, o.hold_id) ORDER BY o.id),
                                     '[]') AS TEXT)
                  FROM purchase_operations o WHERE o.program_id = p_program AND o.purchase_key = p_key
                   AND o.kind IN ('payment', 'bonus') AND o.canceled_at IS NULL),
               v_operation, v_hold
          FROM purchases p WHERE p.program_id = p_program AND p.purchase_key = p_key;
    END IF;
    IF v_operation IS NULL OR NOT FOUND THEN
        o_operation := v_operation;
        o_hold := v_hold;
        RETURN NEXT;
    END IF;
END
$$;

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

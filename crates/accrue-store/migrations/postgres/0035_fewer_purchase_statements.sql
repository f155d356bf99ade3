-- Fewer statements in a purchase's Payment, Bonus and Confirm (bench/README.md, stop 41):
-- each statement a function runs costs its start and end besides its work, and one of
-- them was planned anew on every call.
-- - A withdrawal moves its lots one statement per lot, each with its move. The single
--   statement for all of them, an UPDATE joined to unnest of two arrays, was planned on
--   every call: its plan for arrays of any length looked dearer than one for those at hand.
-- - accrue_take is a withdrawal's writes without the member's lock and the replay key:
--   accrue_withdraw and accrue_pay lock the member once, then take.
-- - accrue_pay answers with the purchase as it left it, as accrue_pay_known did around it:
--   the purchase's columns come back from its INSERT or UPDATE, its live operations from
--   the check made before. The hold's id is drawn first, so that the reserve posting is
--   written naming its hold.
-- - accrue_bonus locks the purchase alone (it moves no points, and takes no other lock, so
--   it cannot deadlock with the general path, which locks the member first), and cancels a
--   live Bonus only when there is one.
-- - accrue_confirm reads the live operations with their holds in one query; writes each
--   posting with its entries (and the hold it captures, or the lot it tops up) in one
--   statement and the system accounts' balances in one; records offers' usage only when
--   there is some, and the purchase's entry with its postings in one statement.

CREATE FUNCTION accrue_take(
    p_program BIGINT, p_member BIGINT, p_wallet BIGINT, p_target BIGINT, p_shards BIGINT,
    p_currency BIGINT, p_amount BIGINT, p_kind TEXT, p_card BIGINT, p_hold BIGINT, p_description TEXT,
    p_now BIGINT, OUT o_usable BIGINT, OUT o_posting BIGINT, OUT o_balance BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_lots BIGINT[];
    v_takes BIGINT[];
BEGIN
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
    VALUES (p_program, p_kind, p_member, p_currency, p_amount, p_card, p_hold, p_description, p_now)
    RETURNING id INTO o_posting;
    INSERT INTO entries (posting_id, account_id, currency_id, amount, created_at)
    VALUES (o_posting, p_wallet, p_currency, -p_amount, p_now),
           (o_posting, p_target, p_currency, p_amount, p_now);
    INSERT INTO balances AS b (account_id, shard, balance)
    VALUES (p_target, pg_backend_pid() % p_shards, p_amount)
    ON CONFLICT (account_id, shard) DO UPDATE SET balance = b.balance + excluded.balance;
    FOR i IN 1 .. cardinality(v_lots) LOOP
        WITH moved AS (UPDATE lots SET remaining = remaining - v_takes[i] WHERE id = v_lots[i] RETURNING id)
        INSERT INTO lot_moves (posting_id, lot_id, amount) SELECT o_posting, moved.id, -v_takes[i] FROM moved;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION accrue_withdraw(
    p_program BIGINT, p_member BIGINT, p_wallet BIGINT, p_target BIGINT, p_shards BIGINT,
    p_currency BIGINT, p_amount BIGINT, p_kind TEXT, p_card BIGINT, p_description TEXT,
    p_now BIGINT, p_scope TEXT, p_key TEXT, p_fingerprint TEXT, p_outcome TEXT)
RETURNS TABLE (o_state TEXT, o_usable BIGINT, o_posting BIGINT, o_balance BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_taken RECORD;
BEGIN
    SELECT m.state INTO o_state FROM members m
     WHERE m.program_id = p_program AND m.id = p_member FOR NO KEY UPDATE;
    IF o_state IS NULL OR o_state NOT IN ('registering', 'active') THEN
        RETURN NEXT;
        RETURN;
    END IF;
    v_taken := accrue_take(p_program, p_member, p_wallet, p_target, p_shards, p_currency, p_amount, p_kind,
                           p_card, NULL, p_description, p_now);
    o_usable := v_taken.o_usable;
    o_posting := v_taken.o_posting;
    o_balance := v_taken.o_balance;
    IF o_posting IS NOT NULL AND p_scope IS NOT NULL THEN
        INSERT INTO replays (program_id, scope, key, fingerprint, outcome, created_at)
        VALUES (p_program, p_scope, p_key, p_fingerprint,
                (CAST(p_outcome AS JSONB)
                 || jsonb_build_object('posting_id', o_posting, 'balance', o_balance))::TEXT,
                p_now);
    END IF;
    RETURN NEXT;
END
$$;

DROP FUNCTION accrue_pay_known(BIGINT, TEXT, TEXT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT,
                               BIGINT, TEXT, TEXT, TEXT, TEXT, BIGINT, BIGINT, BIGINT, TEXT, TEXT, TEXT);
DROP FUNCTION accrue_pay(BIGINT, TEXT, TEXT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT,
                         BIGINT, TEXT, TEXT, TEXT, TEXT, BIGINT, BIGINT, BIGINT, TEXT, TEXT, TEXT);

-- A purchase's Payment in one round trip (see purchases/at_once.rs): the statements of the
-- general path, in its order, for the payment that path would take without a refusal.
-- It locks the member and then the purchase, and checks what the general path checks:
-- the member may transact; the purchase is new, or open, the same member's, in the same
-- currency and without a live Bonus; the payments stay within p_max_total; the usable lots
-- hold the amount. Then it takes the points to the holding account (accrue_take), opens or
-- updates the purchase, makes the hold with that posting as its reserve, writes the
-- operation's row and keeps p_outcome, with the operation's and the hold's ids, under the
-- replay key. A key or operation id already taken fails the call, which undoes it.
-- It answers with the purchase as the payment left it (the columns the Rust side reads a
-- purchase with, then its live payments and bonuses as JSON), so that the next call of the
-- purchase needs not read it, and the operation and the hold: one row, all nulls when the
-- payment was not made because a check failed. Then the general path runs the payment and
-- tells the till why it is refused; so too when a purchase opened meanwhile by another
-- member fails the call with SQLSTATE AC001, which undoes it.
CREATE FUNCTION accrue_pay(
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
    v_state TEXT;
    v_purchase BIGINT;
    v_buyer BIGINT;
    v_purchase_currency BIGINT;
    v_purchase_state TEXT;
    v_paid BIGINT := 0;
    v_cancel_at BIGINT;
    v_live JSONB := '[]';
    v_bonus BOOLEAN := false;
    v_hold BIGINT;
    v_taken RECORD;
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
    ELSIF v_purchase_state <> 'open' OR v_buyer IS DISTINCT FROM p_member OR v_purchase_currency <> p_currency THEN
        RETURN NEXT;
        RETURN;
    ELSE
        SELECT COALESCE(jsonb_agg(jsonb_build_array(o.operation_id, o.kind, o.hold_id) ORDER BY o.id), '[]'),
               COALESCE(bool_or(o.kind = 'bonus'), false)
          INTO v_live, v_bonus FROM purchase_operations o
         WHERE o.program_id = p_program AND o.purchase_key = p_key AND o.kind IN ('payment', 'bonus')
           AND o.canceled_at IS NULL;
        IF v_bonus THEN
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    IF v_paid + p_amount > p_max_total THEN
        RETURN NEXT;
        RETURN;
    END IF;
    -- The points leave the wallet for the holding account as a withdrawal's do (the
    -- oldest usable lots, refused before any write), in the hold's reserve posting.
    v_hold := nextval('holds_id_seq');
    v_taken := accrue_take(p_program, p_member, p_wallet, p_holding, p_shards, p_currency, p_amount,
                           'hold_reserve', NULL, v_hold, p_description, p_now);
    IF v_taken.o_posting IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_purchase IS NULL THEN
        INSERT INTO purchases (program_id, purchase_key, device_id, member_id, currency_id, state, cheque,
                               bonus_paid, accrual, refunded_payment, refunded_accrual, refunded_lines,
                               cancel_at, created_at)
        VALUES (p_program, p_key, p_device, p_member, p_currency, 'open', p_cheque, p_amount, 0, 0, 0, '[]',
                p_cancel_at, p_now)
        ON CONFLICT (program_id, purchase_key) DO NOTHING
        RETURNING id, purchase_key, device_id, member_id, currency_id, state, cheque, bonus_paid, accrual,
                  accrual_posting_id, refunded_payment, refunded_accrual, refunded_lines, cancel_at, created_at
             INTO o_id, o_purchase_key, o_device_id, o_member_id, o_currency_id, o_state, o_cheque,
                  o_bonus_paid, o_accrual, o_accrual_posting_id, o_refunded_payment, o_refunded_accrual,
                  o_refunded_lines, o_cancel_at, o_created_at;
        IF o_id IS NULL THEN
            -- Opened meanwhile under this key by another member: undone, for the general
            -- path to refuse (purchases/at_once.rs knows this code).
            RAISE EXCEPTION 'purchase % was opened meanwhile', p_key USING ERRCODE = 'AC001';
        END IF;
    ELSE
        UPDATE purchases SET cheque = p_cheque, bonus_paid = bonus_paid + p_amount, resolved_at = NULL
         WHERE id = v_purchase
        RETURNING id, purchase_key, device_id, member_id, currency_id, state, cheque, bonus_paid, accrual,
                  accrual_posting_id, refunded_payment, refunded_accrual, refunded_lines, cancel_at, created_at
             INTO o_id, o_purchase_key, o_device_id, o_member_id, o_currency_id, o_state, o_cheque,
                  o_bonus_paid, o_accrual, o_accrual_posting_id, o_refunded_payment, o_refunded_accrual,
                  o_refunded_lines, o_cancel_at, o_created_at;
    END IF;
    INSERT INTO holds (id, program_id, member_id, currency_id, amount, captured, state, expires_at,
                       reserve_posting_id, created_at)
    VALUES (v_hold, p_program, p_member, p_currency, p_amount, 0, 'active', v_cancel_at + p_hold_after,
            v_taken.o_posting, p_now);
    INSERT INTO purchase_operations (program_id, purchase_key, operation_id, kind, device_id, member_id,
                                     hold_id, amount, priced, cheque, created_at)
    VALUES (p_program, p_key, p_operation, 'payment', p_device, p_member, v_hold, p_amount, p_priced, p_sent,
            p_now)
    RETURNING id INTO o_operation;
    o_hold := v_hold;
    o_live := (v_live || jsonb_build_array(jsonb_build_array(p_operation, 'payment', v_hold)))::TEXT;
    INSERT INTO replays (program_id, scope, key, fingerprint, outcome, created_at)
    VALUES (p_program, p_scope, p_operation, p_fingerprint,
            (CAST(p_outcome AS JSONB) || jsonb_build_object('transaction_id', o_operation, 'hold_id', o_hold))::TEXT,
            p_now);
    RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION accrue_bonus(
    p_program BIGINT, p_key TEXT, p_operation TEXT, p_device BIGINT, p_member BIGINT,
    p_currency BIGINT, p_paid BIGINT, p_accrual BIGINT, p_live TEXT, p_cheque TEXT, p_amount BIGINT,
    p_priced TEXT, p_sent TEXT, p_now BIGINT, p_scope TEXT, p_fingerprint TEXT, p_outcome TEXT)
RETURNS TABLE (o_operation BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_purchase BIGINT;
    v_live JSONB;
BEGIN
    -- The purchase's lock alone: Bonus moves no points, and the lock is its only one.
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
    IF v_live @> '[["bonus"]]' THEN
        UPDATE purchase_operations o SET canceled_at = p_now
         WHERE o.program_id = p_program AND o.purchase_key = p_key AND o.kind = 'bonus' AND o.canceled_at IS NULL;
    END IF;
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

CREATE OR REPLACE FUNCTION accrue_confirm(
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
    v_holds BIGINT[];
    v_amounts BIGINT[];
    v_stale BOOLEAN;
    v_captured BIGINT;
    v_posting BIGINT;
    v_accrual_posting BIGINT;
    v_postings BIGINT[] := '{}';
    v_lot BIGINT;
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
    -- The live operations, and of the payments their holds and whether any is spent.
    SELECT COALESCE(jsonb_agg(jsonb_build_array(o.operation_id, o.kind, o.hold_id) ORDER BY o.id), '[]'),
           COALESCE(array_agg(h.id ORDER BY o.id) FILTER (WHERE o.kind = 'payment' AND h.id IS NOT NULL), '{}'),
           COALESCE(array_agg(h.amount ORDER BY o.id) FILTER (WHERE o.kind = 'payment' AND h.id IS NOT NULL), '{}'),
           COALESCE(bool_or(o.kind = 'payment' AND (h.state <> 'active' OR h.expires_at <= p_now)), false),
           COALESCE(SUM(h.amount) FILTER (WHERE o.kind = 'payment'), 0)
      INTO v_live, v_holds, v_amounts, v_stale, v_captured
      FROM purchase_operations o LEFT JOIN holds h ON h.id = o.hold_id
     WHERE o.program_id = p_program AND o.purchase_key = p_key AND o.kind IN ('payment', 'bonus')
       AND o.canceled_at IS NULL;
    IF v_live <> CAST(p_live AS JSONB) OR v_stale THEN
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
    -- Each payment's hold captured: its posting with the entries, the hold resolved.
    FOR i IN 1 .. cardinality(v_holds) LOOP
        WITH made AS (
            INSERT INTO postings (program_id, kind, member_id, currency_id, amount, card_id, hold_id,
                                  description, created_at)
            VALUES (p_program, 'hold_capture', p_member, p_currency, v_amounts[i], NULL, v_holds[i],
                    'captured', p_now)
            RETURNING id),
        moved AS (
            INSERT INTO entries (posting_id, account_id, currency_id, amount, created_at)
            SELECT made.id, a.account_id, p_currency, a.amount, p_now
              FROM made, (VALUES (1, p_holding, -v_amounts[i]), (2, p_redemption, v_amounts[i]))
                         AS a(n, account_id, amount)
             ORDER BY a.n)
        UPDATE holds SET state = 'captured', captured = v_amounts[i], resolve_posting_id = made.id,
                         resolved_at = p_now
          FROM made WHERE holds.id = v_holds[i]
        RETURNING made.id INTO v_posting;
        v_postings := v_postings || v_posting;
    END LOOP;
    IF p_accrual > 0 THEN
        WITH made AS (
            INSERT INTO postings (program_id, kind, member_id, currency_id, amount, card_id, hold_id,
                                  description, created_at)
            VALUES (p_program, 'accrual', p_member, p_currency, p_accrual, NULL, NULL, p_description, p_now)
            RETURNING id),
        moved AS (
            INSERT INTO entries (posting_id, account_id, currency_id, amount, created_at)
            SELECT made.id, a.account_id, p_currency, a.amount, p_now
              FROM made, (VALUES (1, p_issuance, -p_accrual), (2, p_wallet, p_accrual)) AS a(n, account_id, amount)
             ORDER BY a.n)
        SELECT made.id INTO v_accrual_posting FROM made;
        IF p_activates_at <= p_now AND p_expires_at IS NULL THEN
            WITH topped AS (
                UPDATE lots SET amount = amount + p_accrual, remaining = remaining + p_accrual
                 WHERE id = (SELECT l.id FROM lots l
                              WHERE l.account_id = p_wallet AND l.remaining > 0 AND l.activates_at <= p_now
                                AND l.expires_at IS NULL ORDER BY l.activates_at DESC, l.id DESC LIMIT 1)
                RETURNING id)
            INSERT INTO lot_moves (posting_id, lot_id, amount) SELECT v_accrual_posting, topped.id, p_accrual FROM topped
            RETURNING lot_id INTO v_lot;
        END IF;
        IF v_lot IS NULL THEN
            INSERT INTO lots (account_id, posting_id, amount, remaining, activates_at, expires_at, created_at)
            VALUES (p_wallet, v_accrual_posting, p_accrual, p_accrual, p_activates_at, p_expires_at, p_now);
        END IF;
        v_postings := v_postings || v_accrual_posting;
    END IF;
    -- The system accounts' balances, in the connection's shard, in the order of their ids.
    INSERT INTO balances AS b (account_id, shard, balance)
    SELECT a.account_id, pg_backend_pid() % p_shards, a.amount
      FROM (VALUES (p_holding, -v_captured), (p_redemption, v_captured), (p_issuance, -p_accrual))
           AS a(account_id, amount)
     WHERE a.amount <> 0
     ORDER BY a.account_id
    ON CONFLICT (account_id, shard) DO UPDATE SET balance = b.balance + excluded.balance;
    UPDATE purchases SET state = 'confirmed', accrual_posting_id = v_accrual_posting, resolved_at = p_now
     WHERE id = v_purchase;
    IF p_usage <> '[]' THEN
        INSERT INTO offer_usage (program_id, member_id, offer_code, purchase_id, used_at, applications,
                                 discount, bonus)
        SELECT p_program, p_member, u ->> 0, v_purchase, p_now, CAST(u ->> 1 AS BIGINT), CAST(u ->> 2 AS BIGINT),
               CAST(u ->> 3 AS BIGINT)
          FROM jsonb_array_elements(CAST(p_usage AS JSONB)) AS u;
    END IF;
    WITH entry AS (
        INSERT INTO purchase_entries (program_id, member_id, purchase_id, currency_id, entry, created_at)
        VALUES (p_program, p_member, v_purchase, p_currency, p_entry, p_now)
        RETURNING id)
    INSERT INTO purchase_postings (posting_id, entry_id) SELECT unnest(v_postings), entry.id FROM entry;
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

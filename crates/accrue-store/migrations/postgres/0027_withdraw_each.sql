-- Many withdrawals in one round trip (see ledger/at_once.rs and ledger/lanes.rs): the
-- withdrawals of one member that queued while its last one ran go to the database as
-- one statement, accrue_withdraw for each element of p_items (a JSON array of its
-- arguments but the time), in their order, a row for each. One that cannot be written
-- (its replay key taken) fails the statement, which undoes them all.
CREATE FUNCTION accrue_withdraw_each(p_now BIGINT, p_items TEXT)
RETURNS TABLE (o_state TEXT, o_usable BIGINT, o_posting BIGINT, o_balance BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v JSONB;
BEGIN
    FOR v IN SELECT i.value FROM jsonb_array_elements(CAST(p_items AS JSONB)) WITH ORDINALITY AS i
              ORDER BY i.ordinality LOOP
        RETURN QUERY SELECT * FROM accrue_withdraw(
            CAST(v->>'program' AS BIGINT), CAST(v->>'member' AS BIGINT), CAST(v->>'wallet' AS BIGINT),
            CAST(v->>'target' AS BIGINT), CAST(v->>'shards' AS BIGINT), CAST(v->>'currency' AS BIGINT),
            CAST(v->>'amount' AS BIGINT), v->>'kind', CAST(v->>'card' AS BIGINT), v->>'description',
            p_now, v->>'scope', v->>'key', v->>'fingerprint', v->>'outcome');
    END LOOP;
END
$$;

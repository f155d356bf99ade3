//! Withdrawals on PostgreSQL in one round trip: `accrue_withdraw` (migration 0026) takes
//! the steps of `prepare` and `debit_in` in their order, and `accrue_withdraw_each`
//! (migration 0027) calls it for every withdrawal of a list, so that a batch of them
//! (see [`super::lanes`]) is one statement too.

use super::{
    currency_and_card, existing_wallet, new_posting, positive, settle, system_account, Movement, Posted, Receipt,
};
use crate::idempotency::IdempotencyKey;
use crate::{outbox, StoreError, Tx};
use accrue_core::ledger::{AccountKind, PostingKind};
use accrue_core::member::MemberState;
use accrue_core::outbox::EventType;
use serde_json::json;
use sqlx::Row;

/// A withdrawal, its movement carrying its cause. Given its replay `key` the call also
/// keeps the outcome, so that it can run outside a transaction (see
/// [`crate::Store::write_in_one_statement`]).
#[derive(Clone)]
pub(crate) struct Withdrawal {
    pub program_id: i64,
    pub key: Option<IdempotencyKey>,
    pub m: Movement,
}

/// `None` leaves the withdrawal to the general path: for a keyed call in a program whose
/// webhooks hear of withdrawals (the general path queues them in its transaction), and
/// for a member without a wallet yet (refused, or found inactive or unknown, there).
pub(crate) type Outcome = Result<Option<Receipt>, StoreError>;

/// The accounts a withdrawal moves, found before its call.
struct Accounts {
    wallet: i64,
    redemption: i64,
    card_id: Option<i64>,
}

/// Runs the withdrawals, in their order, in one statement; the answer of each. The
/// statement fails as a whole only when one of them cannot be written (its key taken).
pub(crate) async fn withdraw_each(tx: &mut Tx, withdrawals: &[Withdrawal]) -> Result<Vec<Outcome>, StoreError> {
    let mut accounts = Vec::with_capacity(withdrawals.len());
    let mut args = Vec::new();
    for w in withdrawals {
        let found = accounts_of(tx, w).await;
        if let Ok(Some(a)) = &found {
            args.push(call_args(tx, w, a)?);
        }
        accounts.push(found);
    }
    let mut rows = if args.is_empty() {
        Vec::new()
    } else {
        sqlx::query("SELECT o_state, o_usable, o_posting, o_balance FROM accrue_withdraw_each($1, $2)")
            .bind(tx.now)
            .bind(serde_json::Value::Array(args).to_string())
            .fetch_all(tx.conn())
            .await?
    }
    .into_iter();
    let mut outcomes = Vec::with_capacity(withdrawals.len());
    for (w, found) in withdrawals.iter().zip(accounts) {
        let outcome = match found {
            Ok(Some(a)) => {
                let row = rows
                    .next()
                    .ok_or_else(|| StoreError::Internal("accrue_withdraw_each answered too few rows".into()))?;
                answered(tx, w, &a, &row).await.map(Some)
            }
            other => other.map(|_| None),
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// The accounts of a withdrawal the call can make; `None` for the general path.
async fn accounts_of(tx: &mut Tx, w: &Withdrawal) -> Result<Option<Accounts>, StoreError> {
    let (program_id, m) = (w.program_id, &w.m);
    positive(m)?;
    if w.key.is_some()
        && !outbox::subscribers(tx, program_id, EventType::PointsWithdrawn, None)
            .await?
            .is_empty()
    {
        return Ok(None);
    }
    let (card_id, _) = currency_and_card(tx, program_id, m).await?;
    let Some(wallet) = existing_wallet(tx, program_id, m.currency_id, m.member_id).await? else {
        return Ok(None);
    };
    let redemption = system_account(tx, program_id, m.currency_id, AccountKind::Redemption).await?;
    Ok(Some(Accounts {
        wallet,
        redemption,
        card_id,
    }))
}

/// One element of `accrue_withdraw_each`'s list: the arguments of `accrue_withdraw`.
fn call_args(tx: &Tx, w: &Withdrawal, a: &Accounts) -> Result<serde_json::Value, StoreError> {
    let m = &w.m;
    // What the call keeps under the key, once it knows the posting and the balance.
    let outcome = Receipt {
        posting_id: 0,
        kind: PostingKind::Withdrawal,
        member_id: m.member_id,
        currency_id: m.currency_id,
        amount: m.amount,
        hold_id: None,
        balance: 0,
        created_at: tx.now,
    };
    let key = w.key.as_ref();
    Ok(json!({
        "program": w.program_id, "member": m.member_id, "wallet": a.wallet, "target": a.redemption,
        "shards": AccountKind::Redemption.balance_shards(), "currency": m.currency_id, "amount": m.amount,
        "kind": PostingKind::Withdrawal.as_str(), "card": a.card_id, "description": m.description,
        "scope": key.map(|k| &k.scope), "key": key.map(|k| &k.key), "fingerprint": key.map(|k| &k.fingerprint),
        "outcome": key.map(|_| serde_json::to_string(&outcome)).transpose()?,
    }))
}

/// A withdrawal's row of the call: its receipt, or why it was refused.
async fn answered(tx: &mut Tx, w: &Withdrawal, a: &Accounts, row: &sqlx::any::AnyRow) -> Result<Receipt, StoreError> {
    let (program_id, m) = (w.program_id, &w.m);
    let state: Option<String> = row.try_get("o_state")?;
    let state = state.ok_or(StoreError::NotFound("member"))?;
    let state = MemberState::parse(&state).ok_or_else(|| StoreError::Internal(format!("bad member state {state}")))?;
    crate::members::locked(tx, program_id, m.member_id, state);
    if !state.may_transact() {
        return Err(StoreError::MemberInactive(state.as_str()));
    }
    let Some(id) = row.try_get::<Option<i64>, _>("o_posting")? else {
        return Err(StoreError::InsufficientBalance {
            available: row.try_get::<Option<i64>, _>("o_usable")?.unwrap_or(0),
        });
    };
    let posted = Posted {
        id,
        wallet_balance: row.try_get("o_balance")?,
    };
    let new = new_posting(program_id, PostingKind::Withdrawal, m, a.card_id);
    settle(tx, posted, &new, a.wallet).await
}

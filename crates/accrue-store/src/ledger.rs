//! The points ledger on the database: postings of balanced entries, cached balances
//! updated in the same transaction, lots consumed oldest first, holds resolved once.

use crate::cache::memoized_in_tx;
use crate::cards::member_card;
use crate::members::{holds_member_lock, lock_member};
use crate::programs::currency_in;
use crate::{outbox, Currency, Dialect, Store, StoreError, Tx};
use accrue_core::hold::{Hold, HoldState, Resolution};
use accrue_core::ledger::{AccountKind, PostingKind};
use accrue_core::lots::{self, Lot};
use accrue_core::money::format_minor;
use accrue_core::outbox::EventType;
use accrue_core::Millis;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::atomic::Ordering;

pub use crate::idempotency::IdempotencyKey;

mod at_once;
mod lanes;
mod writes;
pub(crate) use lanes::Lanes;
use writes::{move_lots, post, Along, NewLot};

/// Points moving into or out of one member's wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    pub member_id: i64,
    pub currency_id: i64,
    /// Minor units, greater than zero.
    pub amount: i64,
    /// A card of the member the operation was made with.
    pub card: Option<String>,
    pub description: String,
    /// What made the movement, told to webhooks with its event.
    #[serde(default)]
    pub cause: Cause,
}

/// What caused a posting: a purchase and its operation, or an operation of its own (an
/// admin call's idempotency key, a batch row).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    pub purchase: Option<String>,
    pub operation: Option<String>,
}

impl Cause {
    pub fn purchase(key: &str, operation: &str) -> Cause {
        Cause {
            purchase: Some(key.into()),
            operation: Some(operation.into()),
        }
    }

    pub fn operation(key: &str) -> Cause {
        Cause {
            purchase: None,
            operation: Some(key.into()),
        }
    }
}

/// The cause of postings that have no operation of their own (expiry).
static NO_CAUSE: Cause = Cause {
    purchase: None,
    operation: None,
};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifetime {
    /// When the points become usable; now when absent.
    pub activates_at: Option<Millis>,
    /// When unspent points expire; never when absent.
    pub expires_at: Option<Millis>,
}

impl From<accrue_core::lifetimes::Span> for Lifetime {
    fn from(span: accrue_core::lifetimes::Span) -> Lifetime {
        Lifetime {
            activates_at: span.activates_at,
            expires_at: span.expires_at,
        }
    }
}

/// The result of a ledger operation; a repeat with the same idempotency key returns
/// the stored one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub posting_id: i64,
    pub kind: PostingKind,
    pub member_id: i64,
    pub currency_id: i64,
    pub amount: i64,
    pub hold_id: Option<i64>,
    /// The wallet's balance right after the operation.
    pub balance: i64,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldInfo {
    pub id: i64,
    pub member_id: i64,
    pub currency_id: i64,
    pub amount: i64,
    pub captured: i64,
    pub state: HoldState,
    pub expires_at: Millis,
    pub created_at: Millis,
    pub resolved_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub currency_id: i64,
    /// Everything in the wallet.
    pub balance: i64,
    /// What can be spent now.
    pub available: i64,
    /// Accrued but not yet active.
    pub not_activated: i64,
    /// Reserved by open holds (not part of `balance`).
    pub held: i64,
    /// Unspent points by the time they expire, soonest first.
    pub expirations: Vec<Expiration>,
    /// Points not active yet by the time they activate, soonest first.
    pub activations: Vec<Activation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    pub activates_at: Millis,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiration {
    pub expires_at: Millis,
    pub amount: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    pub member_id: i64,
    pub currency_id: Option<i64>,
    pub card: Option<String>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    pub kinds: Vec<PostingKind>,
    pub offset: i64,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub entry_id: i64,
    pub posting_id: i64,
    pub kind: PostingKind,
    pub currency_id: i64,
    /// Signed: positive into the wallet, negative out of it.
    pub amount: i64,
    pub card: Option<String>,
    pub hold_id: Option<i64>,
    pub description: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub total: i64,
    pub items: Vec<HistoryItem>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryReport {
    pub lots: u64,
    pub holds: u64,
    /// Items that failed and were passed over.
    pub failed: u64,
}

/// One side of a posting: an account and the signed amount it receives.
#[derive(Debug, Clone, Copy)]
struct Leg {
    account: i64,
    kind: AccountKind,
    amount: i64,
}

struct NewPosting<'a> {
    program_id: i64,
    kind: PostingKind,
    member_id: i64,
    currency_id: i64,
    amount: i64,
    card_id: Option<i64>,
    hold_id: Option<i64>,
    description: &'a str,
    cause: &'a Cause,
    /// The currency whose largest balance the wallet may not pass (accruals only).
    ceiling: Option<&'a Currency>,
}

async fn account(
    tx: &mut Tx,
    program_id: i64,
    currency_id: i64,
    kind: AccountKind,
    member_id: i64,
) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(
        "SELECT id FROM accounts WHERE currency_id = $1 AND kind = $2 AND member_id = $3 AND program_id = $4",
    )
    .bind(currency_id)
    .bind(kind.as_str())
    .bind(member_id)
    .bind(program_id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub(crate) async fn system_account(
    tx: &mut Tx,
    program_id: i64,
    currency_id: i64,
    kind: AccountKind,
) -> Result<i64, StoreError> {
    memoized_in_tx!(tx, system_accounts, (currency_id, kind.as_str()), {
        account(tx, program_id, currency_id, kind, 0)
            .await?
            .ok_or_else(|| StoreError::Internal(format!("currency {currency_id} has no {} account", kind.as_str())))
    })
}

/// The member's wallet in a currency, if it exists.
pub(crate) async fn existing_wallet(
    tx: &mut Tx,
    program_id: i64,
    currency_id: i64,
    member_id: i64,
) -> Result<Option<i64>, StoreError> {
    let cache = tx.cache.clone();
    let generation = cache.generation.current();
    if let Some(id) = cache.wallets.get(&(currency_id, member_id), generation) {
        return Ok(Some(id));
    }
    let found = account(tx, program_id, currency_id, AccountKind::Wallet, member_id).await?;
    // Not a wallet this transaction opened: that one would be gone if it rolled back.
    if let Some(id) = found.filter(|id| !tx.opened_wallets.contains(id)) {
        cache.wallets.put((currency_id, member_id), generation, id);
    }
    Ok(found)
}

/// The member's wallet in a currency, opened on first use.
async fn wallet(tx: &mut Tx, program_id: i64, currency_id: i64, member_id: i64) -> Result<i64, StoreError> {
    if let Some(id) = existing_wallet(tx, program_id, currency_id, member_id).await? {
        return Ok(id);
    }
    sqlx::query(
        "INSERT INTO accounts (program_id, currency_id, kind, member_id) VALUES ($1, $2, 'wallet', $3) \
         ON CONFLICT (currency_id, kind, member_id) DO NOTHING",
    )
    .bind(program_id)
    .bind(currency_id)
    .bind(member_id)
    .execute(tx.conn())
    .await?;
    let id = account(tx, program_id, currency_id, AccountKind::Wallet, member_id)
        .await?
        .ok_or_else(|| StoreError::Internal("wallet was not created".into()))?;
    tx.opened_wallets.push(id);
    sqlx::query("INSERT INTO balances (account_id, shard, balance) VALUES ($1, 0, 0) ON CONFLICT (account_id, shard) DO NOTHING")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(id)
}

async fn wallet_balance(tx: &mut Tx, wallet: i64) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT balance FROM balances WHERE account_id = $1 AND shard = 0")
        .bind(wallet)
        .fetch_optional(tx.conn())
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
}

/// The member's wallet balance in a currency, zero when it has no wallet yet.
pub(crate) async fn wallet_balance_of(
    tx: &mut Tx,
    program_id: i64,
    currency_id: i64,
    member_id: i64,
) -> Result<i64, StoreError> {
    match existing_wallet(tx, program_id, currency_id, member_id).await? {
        Some(wallet) => wallet_balance(tx, wallet).await,
        None => Ok(0),
    }
}

/// A written posting, and the balance of the wallet it moved (if it moved one).
struct Posted {
    id: i64,
    wallet_balance: Option<i64>,
}

async fn open_lots(tx: &mut Tx, wallet: i64) -> Result<Vec<Lot>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, remaining, activates_at, expires_at FROM lots WHERE account_id = $1 AND remaining > 0 \
         ORDER BY activates_at, id",
    )
    .bind(wallet)
    .fetch_all(tx.conn())
    .await?;
    lots_of(&rows)
}

/// The usable lots, oldest first, that taking `amount` reaches (all of them when they
/// hold less): an active member's many small lots are not read for every payment.
async fn lots_to_spend(tx: &mut Tx, wallet: i64, amount: i64) -> Result<Vec<Lot>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, remaining, activates_at, expires_at FROM (\
           SELECT id, remaining, activates_at, expires_at, \
             SUM(remaining) OVER (ORDER BY activates_at, id) AS reached \
           FROM lots WHERE account_id = $1 AND remaining > 0 AND activates_at <= $2 \
             AND (expires_at IS NULL OR expires_at > $2)) usable \
         WHERE reached - remaining < $3 ORDER BY activates_at, id",
    )
    .bind(wallet)
    .bind(tx.now)
    .bind(amount)
    .fetch_all(tx.conn())
    .await?;
    lots_of(&rows)
}

fn lots_of(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Lot>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(Lot {
                id: r.try_get("id")?,
                remaining: r.try_get("remaining")?,
                activates_at: r.try_get("activates_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .collect()
}

/// What taking `amount` from the wallet's usable lots, oldest first, moves; refused
/// when they hold less.
async fn lots_for(tx: &mut Tx, wallet: i64, amount: i64) -> Result<Vec<(i64, i64)>, StoreError> {
    let lots = lots_to_spend(tx, wallet, amount).await?;
    let taken =
        lots::allocate(&lots, amount, tx.now).map_err(|e| StoreError::InsufficientBalance { available: e.usable })?;
    Ok(taken.into_iter().map(|(lot, n)| (lot, -n)).collect())
}

/// Gives `amount` back to the lots that `from_posting` took it from.
async fn restore_lots(tx: &mut Tx, from_posting: i64, to_posting: i64, amount: i64) -> Result<(), StoreError> {
    if amount == 0 {
        return Ok(());
    }
    let rows = sqlx::query("SELECT lot_id, amount FROM lot_moves WHERE posting_id = $1 ORDER BY lot_id")
        .bind(from_posting)
        .fetch_all(tx.conn())
        .await?;
    let taken = rows
        .iter()
        .map(|r| Ok((r.try_get::<i64, _>("lot_id")?, -r.try_get::<i64, _>("amount")?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    move_lots(tx, to_posting, &lots::release(&taken, amount)).await
}

/// Checks what every wallet operation needs: an active member, a currency of the
/// program, a positive amount within the currency's bound, and the card (when given)
/// belongs to the member. Returns the card and the currency.
async fn prepare(tx: &mut Tx, program_id: i64, m: &Movement) -> Result<(Option<i64>, Currency), StoreError> {
    positive(m)?;
    let state = lock_member(tx, program_id, m.member_id).await?;
    if !state.may_transact() {
        return Err(StoreError::MemberInactive(state.as_str()));
    }
    currency_and_card(tx, program_id, m).await
}

fn positive(m: &Movement) -> Result<(), StoreError> {
    match m.amount > 0 {
        true => Ok(()),
        false => Err(StoreError::Invalid("amount must be greater than zero".into())),
    }
}

/// The movement's currency, within whose bound the amount must be, and its card (when
/// given), which must be the member's.
async fn currency_and_card(tx: &mut Tx, program_id: i64, m: &Movement) -> Result<(Option<i64>, Currency), StoreError> {
    let currency = currency_in(tx, program_id, m.currency_id).await?;
    if m.amount > currency.limits.max_operation {
        return Err(over_limit("operation", currency.limits.max_operation, &currency));
    }
    let card = match &m.card {
        Some(number) => Some(member_card(tx, program_id, m.member_id, number).await?),
        None => None,
    };
    Ok((card, currency))
}

fn over_limit(what: &'static str, limit: i64, currency: &Currency) -> StoreError {
    StoreError::OverLimit {
        what,
        limit: format_minor(limit, currency.scale),
    }
}

fn new_posting(program_id: i64, kind: PostingKind, m: &Movement, card_id: Option<i64>) -> NewPosting<'_> {
    NewPosting {
        program_id,
        kind,
        member_id: m.member_id,
        currency_id: m.currency_id,
        amount: m.amount,
        card_id,
        hold_id: None,
        description: &m.description,
        cause: &m.cause,
        ceiling: None,
    }
}

/// Every posting ends here: its receipt, and the event subscribed webhooks get of it,
/// queued in the same transaction.
async fn settle(tx: &mut Tx, posted: Posted, new: &NewPosting<'_>, wallet: i64) -> Result<Receipt, StoreError> {
    let balance = match posted.wallet_balance {
        Some(balance) => balance,
        None => wallet_balance(tx, wallet).await?,
    };
    let receipt = Receipt {
        posting_id: posted.id,
        kind: new.kind,
        member_id: new.member_id,
        currency_id: new.currency_id,
        amount: new.amount,
        hold_id: new.hold_id,
        balance,
        created_at: tx.now,
    };
    announce(tx, new, &receipt).await?;
    Ok(receipt)
}

/// The event a posting of this kind is announced as.
fn event_of(kind: PostingKind) -> EventType {
    match kind {
        PostingKind::Accrual => EventType::PointsAccrued,
        PostingKind::Withdrawal | PostingKind::HoldCapture => EventType::PointsWithdrawn,
        PostingKind::HoldReserve => EventType::PointsHeld,
        PostingKind::HoldVoid => EventType::PointsReleased,
        PostingKind::Expiry => EventType::PointsExpired,
        PostingKind::Refund => EventType::PointsRefunded,
        PostingKind::AccrualReversal => EventType::PointsReversed,
    }
}

/// Tells subscribed webhook endpoints about a posting.
async fn announce(tx: &mut Tx, new: &NewPosting<'_>, r: &Receipt) -> Result<(), StoreError> {
    let event = event_of(r.kind);
    let endpoints = outbox::subscribers(tx, new.program_id, event, None).await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let currency = currency_in(tx, new.program_id, r.currency_id).await?;
    let data = serde_json::json!({
        "member_id": r.member_id,
        "posting_id": r.posting_id,
        "type": r.kind.as_str(),
        "currency": currency.code,
        "amount": format_minor(r.amount, currency.scale),
        "balance": format_minor(r.balance, currency.scale),
        "hold_id": r.hold_id,
        "purchase_id": new.cause.purchase,
        "operation_id": new.cause.operation,
    });
    outbox::emit_to(tx, new.program_id, &endpoints, event, data).await
}

pub(crate) async fn accrue_in(
    tx: &mut Tx,
    program_id: i64,
    m: Movement,
    life: Lifetime,
) -> Result<Receipt, StoreError> {
    let (card_id, currency) = prepare(tx, program_id, &m).await?;
    credit_in(
        tx,
        program_id,
        &m,
        card_id,
        (AccountKind::Issuance, PostingKind::Accrual),
        life,
        Some(&currency),
    )
    .await
}

/// Puts points into the member's wallet from a system account, as a new lot; refused
/// when the wallet would pass the `ceiling` currency's largest balance.
pub(crate) async fn credit_in(
    tx: &mut Tx,
    program_id: i64,
    m: &Movement,
    card_id: Option<i64>,
    (from, kind): (AccountKind, PostingKind),
    life: Lifetime,
    ceiling: Option<&Currency>,
) -> Result<Receipt, StoreError> {
    let activates_at = life.activates_at.unwrap_or(tx.now);
    if let Some(expires_at) = life.expires_at {
        if expires_at <= activates_at.max(tx.now) {
            return Err(StoreError::Invalid(
                "points must expire after they activate and after now".into(),
            ));
        }
    }
    let wallet = wallet(tx, program_id, m.currency_id, m.member_id).await?;
    let source = system_account(tx, program_id, m.currency_id, from).await?;
    let new = NewPosting {
        ceiling,
        ..new_posting(program_id, kind, m, card_id)
    };
    let legs = [
        Leg {
            account: source,
            kind: from,
            amount: -m.amount,
        },
        Leg {
            account: wallet,
            kind: AccountKind::Wallet,
            amount: m.amount,
        },
    ];
    let lot = NewLot {
        wallet,
        amount: m.amount,
        activates_at,
        expires_at: life.expires_at,
    };
    let posted = post(tx, &new, &legs, Along::NewLot(lot)).await?;
    settle(tx, posted, &new, wallet).await
}

/// Takes points out of the wallet into `to` (redemption, holding or issuance).
async fn debit_in(
    tx: &mut Tx,
    program_id: i64,
    m: &Movement,
    new: NewPosting<'_>,
    to: AccountKind,
) -> Result<Receipt, StoreError> {
    let wallet = existing_wallet(tx, program_id, m.currency_id, m.member_id)
        .await?
        .ok_or(StoreError::InsufficientBalance { available: 0 })?;
    // Refused before anything is written.
    let moves = lots_for(tx, wallet, m.amount).await?;
    let target = system_account(tx, program_id, m.currency_id, to).await?;
    let legs = [
        Leg {
            account: wallet,
            kind: AccountKind::Wallet,
            amount: -m.amount,
        },
        Leg {
            account: target,
            kind: to,
            amount: m.amount,
        },
    ];
    let posted = post(tx, &new, &legs, Along::LotMoves(&moves)).await?;
    settle(tx, posted, &new, wallet).await
}

/// The hold's row, locked (`lock`) or only read.
async fn hold_row(tx: &mut Tx, program_id: i64, hold_id: i64, lock: bool) -> Result<(HoldInfo, i64), StoreError> {
    let sql = format!(
        "SELECT id, member_id, currency_id, amount, captured, state, expires_at, created_at, resolved_at, \
         reserve_posting_id FROM holds WHERE program_id = $1 AND id = $2{}",
        if lock { tx.for_update() } else { "" }
    );
    let row = sqlx::query(&sql)
        .bind(program_id)
        .bind(hold_id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(StoreError::NotFound("hold"))?;
    Ok((hold_from(&row)?, row.try_get("reserve_posting_id")?))
}

fn hold_from(row: &sqlx::any::AnyRow) -> Result<HoldInfo, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(HoldInfo {
        id: row.try_get("id")?,
        member_id: row.try_get("member_id")?,
        currency_id: row.try_get("currency_id")?,
        amount: row.try_get("amount")?,
        captured: row.try_get("captured")?,
        state: HoldState::parse(&state).ok_or_else(|| StoreError::Internal(format!("bad hold state {state}")))?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        resolved_at: row.try_get("resolved_at")?,
    })
}

/// Captures, voids or expires a hold: captured points go to redemption, the rest back
/// to the member's lots. The state change is conditional, so a hold resolves once.
async fn resolve_in(
    tx: &mut Tx,
    program_id: i64,
    hold_id: i64,
    cause: &Cause,
    decide: impl FnOnce(&Hold, Millis) -> Result<Resolution, StoreError>,
) -> Result<Receipt, StoreError> {
    // The member is locked before the hold, as on every path (see the crate's lock
    // order): the first read only learns whose hold it is, unless this write holds
    // the member's lock already, which keeps the member's holds as they are.
    let (peek, reserve_posting) = hold_row(tx, program_id, hold_id, false).await?;
    let (info, reserve_posting) = if holds_member_lock(tx, program_id, peek.member_id) {
        (peek, reserve_posting)
    } else {
        lock_member(tx, program_id, peek.member_id).await?;
        hold_row(tx, program_id, hold_id, true).await?
    };
    let hold = Hold {
        amount: info.amount,
        state: info.state,
        expires_at: info.expires_at,
    };
    let resolution = decide(&hold, tx.now)?;
    let wallet = wallet(tx, program_id, info.currency_id, info.member_id).await?;
    let holding = system_account(tx, program_id, info.currency_id, AccountKind::Holding).await?;
    let redemption = system_account(tx, program_id, info.currency_id, AccountKind::Redemption).await?;
    // A capture posting is as large as what it captured; a void as what it released.
    let (kind, amount) = match resolution.state {
        HoldState::Captured => (PostingKind::HoldCapture, resolution.captured),
        _ => (PostingKind::HoldVoid, resolution.released),
    };
    let new = NewPosting {
        program_id,
        kind,
        member_id: info.member_id,
        currency_id: info.currency_id,
        amount,
        card_id: None,
        hold_id: Some(hold_id),
        description: resolution.state.as_str(),
        cause,
        ceiling: None,
    };
    let legs = [
        Leg {
            account: holding,
            kind: AccountKind::Holding,
            amount: -info.amount,
        },
        Leg {
            account: redemption,
            kind: AccountKind::Redemption,
            amount: resolution.captured,
        },
        Leg {
            account: wallet,
            kind: AccountKind::Wallet,
            amount: resolution.released,
        },
    ];
    let resolved = Along::Resolution(resolution.state, resolution.captured);
    let posted = post(tx, &new, &legs, resolved).await?;
    restore_lots(tx, reserve_posting, posted.id, resolution.released).await?;
    settle(tx, posted, &new, wallet).await
}

pub(crate) async fn hold_in(
    tx: &mut Tx,
    program_id: i64,
    m: Movement,
    expires_at: Millis,
) -> Result<Receipt, StoreError> {
    let (card_id, _) = prepare(tx, program_id, &m).await?;
    if expires_at <= tx.now {
        return Err(StoreError::Invalid("a hold must expire in the future".into()));
    }
    let row = sqlx::query(
        "INSERT INTO holds (program_id, member_id, currency_id, amount, captured, state, expires_at, \
         reserve_posting_id, created_at) VALUES ($1, $2, $3, $4, 0, 'active', $5, 0, $6) RETURNING id",
    )
    .bind(program_id)
    .bind(m.member_id)
    .bind(m.currency_id)
    .bind(m.amount)
    .bind(expires_at)
    .bind(tx.now)
    .fetch_one(tx.conn())
    .await?;
    let hold_id: i64 = row.try_get(0)?;
    let new = NewPosting {
        hold_id: Some(hold_id),
        ..new_posting(program_id, PostingKind::HoldReserve, &m, card_id)
    };
    // The reserve posting links itself to the hold (see `writes::Along`).
    let mut receipt = debit_in(tx, program_id, &m, new, AccountKind::Holding).await?;
    receipt.hold_id = Some(hold_id);
    Ok(receipt)
}

pub(crate) async fn capture_in(
    tx: &mut Tx,
    program_id: i64,
    hold_id: i64,
    amount: Option<i64>,
    cause: &Cause,
) -> Result<Receipt, StoreError> {
    resolve_in(
        tx,
        program_id,
        hold_id,
        cause,
        move |h, now| Ok(h.capture(amount, now)?),
    )
    .await
}

pub(crate) async fn void_in(tx: &mut Tx, program_id: i64, hold_id: i64, cause: &Cause) -> Result<Receipt, StoreError> {
    resolve_in(tx, program_id, hold_id, cause, |h, now| Ok(h.void(now)?)).await
}

/// Takes back up to `m.amount` of what the accrual `accrual_posting` gave (a refunded
/// purchase): first from that accrual's own lot, active yet or not, then from the
/// member's usable points; never more than there is. Returns the amount taken back and
/// its posting (none when nothing could be taken).
pub(crate) async fn reverse_accrual_in(
    tx: &mut Tx,
    program_id: i64,
    m: &Movement,
    accrual_posting: i64,
) -> Result<(i64, Option<i64>), StoreError> {
    prepare(tx, program_id, m).await?;
    let wallet = wallet(tx, program_id, m.currency_id, m.member_id).await?;
    let lots = open_lots(tx, wallet).await?;
    // The lot the accrual made, or the lasting lot it topped up.
    let own_lot = sqlx::query(
        "SELECT id FROM lots WHERE posting_id = $1 \
         UNION SELECT lot_id FROM lot_moves WHERE posting_id = $1 AND amount > 0",
    )
    .bind(accrual_posting)
    .fetch_optional(tx.conn())
    .await?
    .map(|r| r.try_get::<i64, _>(0))
    .transpose()?;
    let mut moves = Vec::new();
    let mut left = m.amount;
    if let Some(own) = lots.iter().find(|l| Some(l.id) == own_lot) {
        let take = left.min(own.remaining);
        moves.push((own.id, take));
        left -= take;
    }
    let others: Vec<lots::Lot> = lots.into_iter().filter(|l| Some(l.id) != own_lot).collect();
    let usable: i64 = others.iter().filter(|l| l.is_usable(tx.now)).map(|l| l.remaining).sum();
    if let Ok(taken) = lots::allocate(&others, left.min(usable), tx.now) {
        moves.extend(taken);
    }
    let total: i64 = moves.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return Ok((0, None));
    }
    let issuance = system_account(tx, program_id, m.currency_id, AccountKind::Issuance).await?;
    let taken_back = Movement {
        amount: total,
        ..m.clone()
    };
    let new = new_posting(program_id, PostingKind::AccrualReversal, &taken_back, None);
    let legs = [
        Leg {
            account: wallet,
            kind: AccountKind::Wallet,
            amount: -total,
        },
        Leg {
            account: issuance,
            kind: AccountKind::Issuance,
            amount: total,
        },
    ];
    let moves: Vec<(i64, i64)> = moves.into_iter().map(|(lot, n)| (lot, -n)).collect();
    let posted = post(tx, &new, &legs, Along::LotMoves(&moves)).await?;
    let posting_id = posted.id;
    settle(tx, posted, &new, wallet).await?;
    Ok((total, Some(posting_id)))
}

/// Takes points out of the member's wallet (the oldest lots first).
pub(crate) async fn withdraw_in(tx: &mut Tx, program_id: i64, m: Movement) -> Result<Receipt, StoreError> {
    if tx.dialect == Dialect::Postgres {
        let withdrawal = at_once::Withdrawal {
            program_id,
            key: None,
            m: m.clone(),
        };
        let outcome = at_once::withdraw_each(tx, &[withdrawal]).await?.pop();
        if let Some(receipt) = outcome.transpose()?.flatten() {
            return Ok(receipt);
        }
    }
    let (card_id, _) = prepare(tx, program_id, &m).await?;
    let new = new_posting(program_id, PostingKind::Withdrawal, &m, card_id);
    debit_in(tx, program_id, &m, new, AccountKind::Redemption).await
}

/// A purchase's payment hold is resolved by the purchase (Confirm, Cancel, the
/// auto-cancel), never on its own: that would leave the purchase unable to finish.
async fn refuse_purchase_hold(tx: &mut Tx, hold_id: i64) -> Result<(), StoreError> {
    match crate::purchases::purchase_of_hold(tx, hold_id).await? {
        Some(key) => Err(StoreError::Conflict(format!(
            "hold {hold_id} belongs to purchase {key}: confirm or cancel the purchase instead"
        ))),
        None => Ok(()),
    }
}

impl Store {
    /// Runs a ledger operation once per idempotency key; the key is the operation that
    /// caused the posting. Returns the receipt and whether it is the stored result of an
    /// earlier call.
    async fn ledger_write<F>(&self, program_id: i64, key: IdempotencyKey, op: F) -> Result<(Receipt, bool), StoreError>
    where
        F: for<'t> FnOnce(&'t mut Tx, Cause) -> crate::BoxFuture<'t, Result<Receipt, StoreError>> + Send + 'static,
    {
        let cause = Cause::operation(&key.key);
        let result = self.write_once(program_id, key, move |tx| op(tx, cause)).await?;
        if !result.1 {
            self.metrics().postings.fetch_add(1, Ordering::Relaxed);
        }
        Ok(result)
    }

    pub async fn accrue(
        &self,
        program_id: i64,
        key: IdempotencyKey,
        m: Movement,
        life: Lifetime,
    ) -> Result<(Receipt, bool), StoreError> {
        self.ledger_write(program_id, key, move |tx, cause| {
            Box::pin(accrue_in(tx, program_id, Movement { cause, ..m }, life))
        })
        .await
    }

    pub async fn withdraw(
        &self,
        program_id: i64,
        key: IdempotencyKey,
        m: Movement,
    ) -> Result<(Receipt, bool), StoreError> {
        if self.dialect() == Dialect::Postgres {
            if let Some(done) = self.withdraw_in_one_statement(program_id, &key, &m).await? {
                return Ok(done);
            }
        }
        self.ledger_write(program_id, key, move |tx, cause| {
            Box::pin(withdraw_in(tx, program_id, Movement { cause, ..m }))
        })
        .await
    }

    /// A withdrawal on PostgreSQL in one statement, its outcome kept by the statement,
    /// run in its member's lane (see [`lanes`]); as [`Store::write_once`] does, a failure
    /// looks for the key's kept outcome. `None` leaves it to the general path.
    async fn withdraw_in_one_statement(
        &self,
        program_id: i64,
        key: &IdempotencyKey,
        m: &Movement,
    ) -> Result<Option<(Receipt, bool)>, StoreError> {
        let withdrawal = at_once::Withdrawal {
            program_id,
            key: Some(key.clone()),
            m: Movement {
                cause: Cause::operation(&key.key),
                ..m.clone()
            },
        };
        match self.withdraw_in_lane(withdrawal).await {
            Ok(None) => Ok(None),
            Ok(Some(receipt)) => {
                self.metrics().postings.fetch_add(1, Ordering::Relaxed);
                Ok(Some((receipt, false)))
            }
            Err(e) => self.kept_or(program_id, key, e).await.map(Some),
        }
    }

    /// Reserves points until `expires_at`; capture or void resolves the hold.
    pub async fn hold(
        &self,
        program_id: i64,
        key: IdempotencyKey,
        m: Movement,
        expires_at: Millis,
    ) -> Result<(Receipt, bool), StoreError> {
        self.ledger_write(program_id, key, move |tx, cause| {
            Box::pin(hold_in(tx, program_id, Movement { cause, ..m }, expires_at))
        })
        .await
    }

    /// Captures `amount` of a hold (all of it when `None`) and releases the rest.
    pub async fn capture(
        &self,
        program_id: i64,
        key: IdempotencyKey,
        hold_id: i64,
        amount: Option<i64>,
    ) -> Result<(Receipt, bool), StoreError> {
        self.ledger_write(program_id, key, move |tx, cause| {
            Box::pin(async move {
                refuse_purchase_hold(tx, hold_id).await?;
                capture_in(tx, program_id, hold_id, amount, &cause).await
            })
        })
        .await
    }

    pub async fn void(
        &self,
        program_id: i64,
        key: IdempotencyKey,
        hold_id: i64,
    ) -> Result<(Receipt, bool), StoreError> {
        self.ledger_write(program_id, key, move |tx, cause| {
            Box::pin(async move {
                refuse_purchase_hold(tx, hold_id).await?;
                void_in(tx, program_id, hold_id, &cause).await
            })
        })
        .await
    }

    pub async fn hold_info(&self, program_id: i64, hold_id: i64) -> Result<HoldInfo, StoreError> {
        let row = sqlx::query(
            "SELECT id, member_id, currency_id, amount, captured, state, expires_at, created_at, resolved_at \
             FROM holds WHERE program_id = $1 AND id = $2",
        )
        .bind(program_id)
        .bind(hold_id)
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound("hold"))?;
        hold_from(&row)
    }

    /// Posts expiry for every lot past its date and voids every hold past its own, in
    /// batches of `batch`; an item that fails is passed over (see [`crate::sweep`]).
    /// Run by the server's scheduled job.
    pub async fn expire_due(&self, batch: i64) -> Result<ExpiryReport, StoreError> {
        let lots = self
            .sweep(
                "lot expiry",
                "SELECT l.expires_at, l.id, a.program_id FROM lots l JOIN accounts a ON a.id = l.account_id \
                 WHERE l.remaining > 0 AND l.expires_at IS NOT NULL AND l.expires_at <= $1 \
                 AND (l.expires_at > $2 OR (l.expires_at = $2 AND l.id > $3)) ORDER BY l.expires_at, l.id LIMIT $4",
                batch,
                |program_id, lot| self.write(move |tx| Box::pin(expire_lot(tx, program_id, lot))),
            )
            .await?;
        let holds = self
            .sweep(
                "hold expiry",
                "SELECT expires_at, id, program_id FROM holds WHERE state = 'active' AND expires_at <= $1 \
                 AND (expires_at > $2 OR (expires_at = $2 AND id > $3)) ORDER BY expires_at, id LIMIT $4",
                batch,
                |program_id, hold_id| async move {
                    let expired = self
                        .write(move |tx| {
                            Box::pin(resolve_in(tx, program_id, hold_id, &NO_CAUSE, |h, now| {
                                h.expire(now).ok_or(StoreError::Conflict("hold is not due".into()))
                            }))
                        })
                        .await;
                    match expired {
                        Ok(_) => Ok(true),
                        // Resolved by its owner meanwhile: nothing to expire.
                        Err(StoreError::Conflict(_) | StoreError::Hold(_)) => Ok(false),
                        Err(e) => Err(e),
                    }
                },
            )
            .await?;
        let postings = lots.done + holds.done;
        self.metrics().postings.fetch_add(postings, Ordering::Relaxed);
        Ok(ExpiryReport {
            lots: lots.done,
            holds: holds.done,
            failed: lots.failed + holds.failed,
        })
    }

    pub async fn balances(&self, program_id: i64, member_id: i64) -> Result<Vec<Balance>, StoreError> {
        let known = sqlx::query("SELECT 1 FROM members WHERE program_id = $1 AND id = $2")
            .bind(program_id)
            .bind(member_id)
            .fetch_optional(self.reads())
            .await?;
        known.ok_or(StoreError::NotFound("member"))?;
        let now = self.now();
        let currencies = self.currencies(program_id).await?;
        let mut balances = Vec::with_capacity(currencies.len());
        for currency in currencies.iter() {
            // A member without a wallet has no lots and no holds either.
            let wallet = sqlx::query(
                "SELECT a.id, b.balance, (SELECT CAST(COALESCE(SUM(h.amount), 0) AS BIGINT) FROM holds h \
                   WHERE h.member_id = a.member_id AND h.currency_id = a.currency_id AND h.state = 'active') \
                 FROM accounts a JOIN balances b ON b.account_id = a.id AND b.shard = 0 \
                 WHERE a.currency_id = $1 AND a.kind = 'wallet' AND a.member_id = $2",
            )
            .bind(currency.id)
            .bind(member_id)
            .fetch_optional(self.reads())
            .await?;
            let (wallet, balance, held): (i64, i64, i64) = match wallet {
                Some(r) => (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?),
                None => (0, 0, 0),
            };
            let lots = match wallet {
                0 => Vec::new(),
                _ => sqlx::query(
                    "SELECT id, remaining, activates_at, expires_at FROM lots WHERE account_id = $1 AND remaining > 0",
                )
                .bind(wallet)
                .fetch_all(self.reads())
                .await?,
            };
            let lots = lots_of(&lots)?;
            balances.push(Balance {
                currency_id: currency.id,
                balance,
                available: lots::usable(&lots, now),
                not_activated: lots.iter().filter(|l| l.activates_at > now).map(|l| l.remaining).sum(),
                held,
                expirations: expirations(&lots, now),
                activations: activations(&lots, now),
            });
        }
        Ok(balances)
    }

    /// What a member earned (accruals) and spent (withdrawals and captured holds) in
    /// each currency, over all time: `(currency_id, earned, spent)`.
    pub async fn wallet_totals(&self, program_id: i64, member_id: i64) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT currency_id, \
             CAST(COALESCE(SUM(CASE WHEN kind = 'accrual' THEN amount \
             WHEN kind = 'accrual_reversal' THEN -amount ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN kind IN ('withdrawal', 'hold_capture') THEN amount \
             WHEN kind = 'refund' THEN -amount ELSE 0 END), 0) AS BIGINT) \
             FROM postings WHERE program_id = $1 AND member_id = $2 GROUP BY currency_id",
        )
        .bind(program_id)
        .bind(member_id)
        .fetch_all(self.reads())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    pub async fn history(&self, program_id: i64, q: HistoryQuery) -> Result<HistoryPage, StoreError> {
        let card_id = match &q.card {
            Some(number) => {
                let row = sqlx::query("SELECT id FROM cards WHERE program_id = $1 AND number = $2")
                    .bind(program_id)
                    .bind(number)
                    .fetch_optional(self.reads())
                    .await?
                    .ok_or(StoreError::NotFound("card"))?;
                row.try_get(0)?
            }
            None => 0_i64,
        };
        let kinds: Vec<String> = q.kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
        let kind_filter = if kinds.is_empty() {
            String::new()
        } else {
            format!(" AND p.kind IN ({})", kinds.join(", "))
        };
        let from_where = format!(
            "FROM entries e JOIN accounts a ON a.id = e.account_id JOIN postings p ON p.id = e.posting_id \
             LEFT JOIN cards c ON c.id = p.card_id WHERE a.program_id = $1 AND a.kind = 'wallet' AND a.member_id = $2 AND ($3 = 0 OR e.currency_id = $3) \
             AND ($4 = 0 OR p.card_id = $4) AND e.created_at >= $5 AND e.created_at < $6{kind_filter}"
        );
        let count_sql = format!("SELECT COUNT(*) {from_where}");
        let rows_sql = format!(
            "SELECT e.id, e.posting_id, p.kind, e.currency_id, e.amount, c.number, p.hold_id, p.description, e.created_at \
             {from_where} ORDER BY e.id DESC LIMIT $7 OFFSET $8"
        );
        let (from, to) = (q.from.unwrap_or(i64::MIN), q.to.unwrap_or(i64::MAX));
        let total: i64 = sqlx::query(&count_sql)
            .bind(program_id)
            .bind(q.member_id)
            .bind(q.currency_id.unwrap_or(0))
            .bind(card_id)
            .bind(from)
            .bind(to)
            .fetch_one(self.reads())
            .await?
            .try_get(0)?;
        let rows = sqlx::query(&rows_sql)
            .bind(program_id)
            .bind(q.member_id)
            .bind(q.currency_id.unwrap_or(0))
            .bind(card_id)
            .bind(from)
            .bind(to)
            .bind(q.count)
            .bind(q.offset)
            .fetch_all(self.reads())
            .await?;
        let items = rows
            .iter()
            .map(|r| {
                let kind: String = r.try_get(2)?;
                Ok(HistoryItem {
                    entry_id: r.try_get(0)?,
                    posting_id: r.try_get(1)?,
                    kind: PostingKind::parse(&kind)
                        .ok_or_else(|| StoreError::Internal(format!("bad posting kind {kind}")))?,
                    currency_id: r.try_get(3)?,
                    amount: r.try_get(4)?,
                    card: r.try_get(5)?,
                    hold_id: r.try_get(6)?,
                    description: r.try_get(7)?,
                    created_at: r.try_get(8)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(HistoryPage { total, items })
    }
}

fn expirations(lots: &[Lot], now: Millis) -> Vec<Expiration> {
    let expiring = lots
        .iter()
        .filter_map(|l| Some((l.expires_at.filter(|e| *e > now)?, l.remaining)));
    by_date(expiring)
        .map(|(expires_at, amount)| Expiration { expires_at, amount })
        .collect()
}

fn activations(lots: &[Lot], now: Millis) -> Vec<Activation> {
    let activating = lots
        .iter()
        .filter(|l| l.activates_at > now)
        .map(|l| (l.activates_at, l.remaining));
    by_date(activating)
        .map(|(activates_at, amount)| Activation { activates_at, amount })
        .collect()
}

/// Amounts summed by date, soonest first.
fn by_date(dated: impl Iterator<Item = (Millis, i64)>) -> impl Iterator<Item = (Millis, i64)> {
    let mut sums = std::collections::BTreeMap::<Millis, i64>::new();
    for (at, amount) in dated {
        *sums.entry(at).or_default() += amount;
    }
    sums.into_iter()
}

/// Expires what is left of one lot. Returns false when there was nothing to expire.
async fn expire_lot(tx: &mut Tx, program_id: i64, lot_id: i64) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "SELECT a.member_id, a.currency_id, a.id FROM lots l JOIN accounts a ON a.id = l.account_id WHERE l.id = $1",
    )
    .bind(lot_id)
    .fetch_one(tx.conn())
    .await?;
    let (member_id, currency_id, wallet): (i64, i64, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    lock_member(tx, program_id, member_id).await?;
    let sql = format!(
        "SELECT remaining, expires_at FROM lots WHERE id = $1{}",
        tx.for_update()
    );
    let row = sqlx::query(&sql).bind(lot_id).fetch_one(tx.conn()).await?;
    let (remaining, expires_at): (i64, Option<Millis>) = (row.try_get(0)?, row.try_get(1)?);
    if remaining == 0 || expires_at.is_none_or(|e| e > tx.now) {
        return Ok(false);
    }
    let expiry = system_account(tx, program_id, currency_id, AccountKind::Expiry).await?;
    let new = NewPosting {
        program_id,
        kind: PostingKind::Expiry,
        member_id,
        currency_id,
        amount: remaining,
        card_id: None,
        hold_id: None,
        description: "points expired",
        cause: &NO_CAUSE,
        ceiling: None,
    };
    let legs = [
        Leg {
            account: wallet,
            kind: AccountKind::Wallet,
            amount: -remaining,
        },
        Leg {
            account: expiry,
            kind: AccountKind::Expiry,
            amount: remaining,
        },
    ];
    let posted = post(tx, &new, &legs, Along::LotMoves(&[(lot_id, -remaining)])).await?;
    settle(tx, posted, &new, wallet).await?;
    Ok(true)
}

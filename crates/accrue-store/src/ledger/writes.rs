//! How a posting and its lot changes reach the database.
//!
//! On PostgreSQL every statement is a round trip made while the member is locked, and
//! its executor start-up is most of what the database spends on it: a posting (its
//! wallet move, row, entries and system balances) is one data-modifying statement, and
//! so are its lot moves. SQLite's writer runs statements in-process, where one after
//! another costs less than building them.
//!
//! Either way the wallet moves first: it is the one move that may be refused (below
//! zero, or over the posting's ceiling), so a refused posting writes nothing and the
//! rest of its transaction (a batch's next rows) goes on with a whole ledger.

use super::{Leg, NewPosting, Posted};
use crate::{Dialect, StoreError, Tx};
use accrue_core::hold::HoldState;
use accrue_core::ledger::{AccountKind, Entry, Posting, PostingKind};
use sqlx::Row;

/// What a posting writes along with its row, entries and balances. A hold's reserve
/// posting (which takes its lots) also links itself to the hold.
pub(super) enum Along<'a> {
    /// Moves points of lots, `(lot, amount)`: negative amounts take, positive ones give back.
    LotMoves(&'a [(i64, i64)]),
    /// Gives a credit its lot (see [`give_lot`]).
    NewLot(NewLot),
    /// Resolves the posting's hold, which must be active still: its new state and what
    /// it captured.
    Resolution(HoldState, i64),
}

/// Writes a posting with what goes along, or refuses it before writing anything.
pub(super) async fn post(
    tx: &mut Tx,
    new: &NewPosting<'_>,
    legs: &[Leg],
    along: Along<'_>,
) -> Result<Posted, StoreError> {
    // A wallet that the posting leaves as it is still tells its balance (PostgreSQL).
    let untouched = legs
        .iter()
        .copied()
        .find(|l| l.kind == AccountKind::Wallet && l.amount == 0);
    let legs: Vec<Leg> = legs.iter().copied().filter(|l| l.amount != 0).collect();
    let entries = legs.iter().map(|l| Entry {
        account: l.account,
        currency: new.currency_id,
        amount: l.amount,
    });
    Posting::new(entries.collect())?;
    let mut wallets = legs.iter().filter(|l| l.kind == AccountKind::Wallet).copied();
    let wallet = wallets.next();
    if wallets.next().is_some() {
        return Err(StoreError::Internal("a posting moves one wallet at most".into()));
    }
    let ceiling = new.ceiling.map_or(i64::MAX, |c| c.limits.max_balance);
    let posted = match tx.dialect {
        Dialect::Postgres => post_at_once(tx, new, (&legs, &along), wallet.or(untouched), ceiling).await?,
        Dialect::Sqlite => {
            let posted = post_one_by_one(tx, new, &legs, wallet, ceiling).await?;
            if let Some(posted) = &posted {
                write_along(tx, new, posted.id, along).await?;
            }
            posted
        }
    };
    match (posted, wallet) {
        (Some(posted), _) => Ok(posted),
        (None, Some(wallet)) => Err(refusal(tx, new, wallet).await?),
        (None, None) => Err(StoreError::Internal("a posting without a wallet was refused".into())),
    }
}

/// Why the wallet refused its move.
async fn refusal(tx: &mut Tx, new: &NewPosting<'_>, wallet: Leg) -> Result<StoreError, StoreError> {
    match new.ceiling {
        Some(currency) if wallet.amount > 0 => Ok(super::over_limit("balance", currency.limits.max_balance, currency)),
        _ => Ok(StoreError::InsufficientBalance {
            available: super::wallet_balance(tx, wallet.account).await?,
        }),
    }
}

/// The posting with its lot changes as one statement; `None` when the wallet refused it
/// (nothing written). A wallet leg of nothing only reads the wallet's balance.
async fn post_at_once(
    tx: &mut Tx,
    new: &NewPosting<'_>,
    (legs, along): (&[Leg], &Along<'_>),
    wallet: Option<Leg>,
    ceiling: i64,
) -> Result<Option<Posted>, StoreError> {
    let moved = match wallet {
        Some(w) if w.amount == 0 => {
            "SELECT (SELECT balance FROM balances WHERE account_id = $11 AND shard = 0 AND $10 = 0 AND $12 >= 0) \
             AS balance"
        }
        Some(_) => {
            "UPDATE balances SET balance = balance + $10 WHERE account_id = $11 AND shard = 0 \
             AND balance + $10 BETWEEN 0 AND $12 RETURNING balance"
        }
        None => "SELECT CAST(NULL AS BIGINT) AS balance",
    };
    // Each leg's account, amount and balance shards; the wallet's (0) moved above. A
    // system account's balance row is the one of the connection, so concurrent
    // transactions seldom meet on one row (a random choice met often: 16 purchases at
    // once queued on the shards' locks until commit).
    let values: Vec<String> = (0..legs.len())
        .map(|i| format!("(${}, ${}, ${})", 13 + 3 * i, 14 + 3 * i, 15 + 3 * i))
        .collect();
    let sql = format!(
        "WITH moved AS ({moved}), \
         posting AS (INSERT INTO postings ({POSTING_COLUMNS}) \
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM moved RETURNING id), \
         legs (account_id, amount, shards) AS (VALUES {}), \
         entries AS (INSERT INTO entries (posting_id, account_id, currency_id, amount, created_at) \
           SELECT posting.id, legs.account_id, $4, legs.amount, $9 FROM posting, legs), \
         system AS (INSERT INTO balances (account_id, shard, balance) \
           SELECT legs.account_id, pg_backend_pid() % legs.shards, legs.amount FROM posting, legs \
           WHERE legs.shards > 0 ORDER BY legs.account_id \
           ON CONFLICT (account_id, shard) DO UPDATE SET balance = balances.balance + excluded.balance){}{} \
         SELECT posting.id, moved.balance, {} FROM posting, moved",
        values.join(", "),
        lot_changes(along, 13 + 3 * legs.len(), tx.now),
        hold_change(new.kind, along, 13 + 3 * legs.len()),
        match along {
            Along::Resolution(..) => "(SELECT COUNT(*) FROM resolved)",
            _ => "CAST(1 AS BIGINT)",
        }
    );
    let (wallet_account, wallet_amount) = wallet.map_or((0, None), |w| (w.account, Some(w.amount)));
    let mut query = bind_posting(sqlx::query(&sql), new, tx.now)
        .bind(wallet_amount)
        .bind(wallet_account)
        .bind(if wallet.is_some() { ceiling } else { 0 });
    for leg in legs {
        let shards = match leg.kind {
            AccountKind::Wallet => 0,
            kind => kind.balance_shards(),
        };
        query = query.bind(leg.account).bind(leg.amount).bind(shards);
    }
    query = bind_lot_changes(query, along, tx.now);
    if let Along::Resolution(state, captured) = along {
        query = query.bind(state.as_str()).bind(*captured);
    }
    let Some(row) = query.fetch_optional(tx.conn()).await? else {
        return Ok(None);
    };
    if row.try_get::<i64, _>(2)? != 1 {
        return Err(resolved_concurrently());
    }
    Ok(Some(Posted {
        id: row.try_get(0)?,
        wallet_balance: row.try_get(1)?,
    }))
}

/// The posting statement by statement; `None` when the wallet refused it (nothing
/// written).
async fn post_one_by_one(
    tx: &mut Tx,
    new: &NewPosting<'_>,
    legs: &[Leg],
    wallet: Option<Leg>,
    ceiling: i64,
) -> Result<Option<Posted>, StoreError> {
    let mut wallet_balance = None;
    if let Some(wallet) = wallet {
        let moved = sqlx::query(
            "UPDATE balances SET balance = balance + $1 WHERE account_id = $2 AND shard = 0 \
             AND balance + $1 BETWEEN 0 AND $3 RETURNING balance",
        )
        .bind(wallet.amount)
        .bind(wallet.account)
        .bind(ceiling)
        .fetch_optional(tx.conn())
        .await?;
        match moved {
            Some(row) => wallet_balance = Some(row.try_get(0)?),
            None => return Ok(None),
        }
    }
    let sql =
        format!("INSERT INTO postings ({POSTING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id");
    let row = bind_posting(sqlx::query(&sql), new, tx.now)
        .fetch_one(tx.conn())
        .await?;
    let id: i64 = row.try_get(0)?;
    insert_entries(tx, id, new.currency_id, legs).await?;
    let mut system: Vec<&Leg> = legs.iter().filter(|l| l.kind != AccountKind::Wallet).collect();
    // One order of balance rows on every path (see the crate's lock order).
    system.sort_by_key(|l| l.account);
    for leg in system {
        sqlx::query(
            "INSERT INTO balances (account_id, shard, balance) VALUES ($1, 0, $2) \
             ON CONFLICT (account_id, shard) DO UPDATE SET balance = balances.balance + excluded.balance",
        )
        .bind(leg.account)
        .bind(leg.amount)
        .execute(tx.conn())
        .await?;
    }
    Ok(Some(Posted { id, wallet_balance }))
}

/// A posting row's columns, bound as `$1`…`$9` by [`bind_posting`].
const POSTING_COLUMNS: &str =
    "program_id, kind, member_id, currency_id, amount, card_id, hold_id, description, created_at";

fn bind_posting<'q>(query: AnyQuery<'q>, new: &'q NewPosting<'_>, now: accrue_core::Millis) -> AnyQuery<'q> {
    query
        .bind(new.program_id)
        .bind(new.kind.as_str())
        .bind(new.member_id)
        .bind(new.currency_id)
        .bind(new.amount)
        .bind(new.card_id)
        .bind(new.hold_id)
        .bind(new.description)
        .bind(now)
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Writes a posting's entries in one statement.
async fn insert_entries(tx: &mut Tx, posting_id: i64, currency_id: i64, legs: &[Leg]) -> Result<(), StoreError> {
    let rows: Vec<String> = (0..legs.len())
        .map(|i| format!("($1, ${}, $3, ${}, $2)", 2 * i + 4, 2 * i + 5))
        .collect();
    let sql = format!(
        "INSERT INTO entries (posting_id, account_id, currency_id, amount, created_at) VALUES {}",
        rows.join(", ")
    );
    let mut insert = sqlx::query(&sql).bind(posting_id).bind(tx.now).bind(currency_id);
    for leg in legs {
        insert = insert.bind(leg.account).bind(leg.amount);
    }
    insert.execute(tx.conn()).await?;
    Ok(())
}

/// Moves points of lots, and keeps which posting moved how much of each: negative
/// amounts take, positive ones give back.
pub(super) async fn move_lots(tx: &mut Tx, posting_id: i64, moves: &[(i64, i64)]) -> Result<(), StoreError> {
    if moves.is_empty() {
        return Ok(());
    }
    if tx.dialect == Dialect::Postgres {
        let sql = format!(
            "WITH posting (id) AS (SELECT CAST($1 AS BIGINT)){} SELECT id FROM posting",
            lot_changes(&Along::LotMoves(moves), 2, tx.now)
        );
        let query = sqlx::query(&sql).bind(posting_id);
        bind_lot_changes(query, &Along::LotMoves(moves), tx.now)
            .execute(tx.conn())
            .await?;
        return Ok(());
    }
    for &(lot, amount) in moves {
        sqlx::query("UPDATE lots SET remaining = remaining + $1 WHERE id = $2")
            .bind(amount)
            .bind(lot)
            .execute(tx.conn())
            .await?;
        record_lot_move(tx, posting_id, lot, amount).await?;
    }
    Ok(())
}

/// The lot changes of the posting in the CTE `posting` (none when it was refused), as
/// CTEs to follow others (PostgreSQL), their parameters numbered from `$first` as
/// [`bind_lot_changes`] binds them.
fn lot_changes(along: &Along<'_>, first: usize, now: accrue_core::Millis) -> String {
    match along {
        Along::Resolution(..) => String::new(),
        Along::LotMoves(moves) => {
            let values: Vec<String> = (0..moves.len())
                .map(|i| format!("(${}, ${})", first + 2 * i, first + 2 * i + 1))
                .collect();
            format!(
                ", lot_changes (lot_id, amount) AS (VALUES {}), \
                 lots_moved AS (UPDATE lots SET remaining = lots.remaining + lot_changes.amount \
                   FROM lot_changes, posting WHERE lots.id = lot_changes.lot_id), \
                 lot_moved AS (INSERT INTO lot_moves (posting_id, lot_id, amount) \
                   SELECT posting.id, lot_changes.lot_id, lot_changes.amount FROM posting, lot_changes)",
                values.join(", ")
            )
        }
        Along::NewLot(lot) => {
            let [amount, wallet, now_at, activates_at, expires_at] = std::array::from_fn(|i| format!("${}", first + i));
            let new_lot = format!(
                "INSERT INTO lots (account_id, posting_id, amount, remaining, activates_at, expires_at, created_at) \
                 SELECT {wallet}, posting.id, {amount}, {amount}, {activates_at}, {expires_at}, {now_at} FROM posting"
            );
            match lot.lasting(now) {
                false => format!(", new_lot AS ({new_lot})"),
                true => format!(
                    ", topped AS (UPDATE lots SET amount = amount + {amount}, remaining = remaining + {amount} \
                       WHERE id = ({}) AND EXISTS (SELECT 1 FROM posting) RETURNING id), \
                     topped_move AS (INSERT INTO lot_moves (posting_id, lot_id, amount) \
                       SELECT posting.id, topped.id, {amount} FROM posting, topped), \
                     new_lot AS ({new_lot} WHERE NOT EXISTS (SELECT 1 FROM topped))",
                    newest_lasting(&wallet, &now_at)
                ),
            }
        }
    }
}

fn bind_lot_changes<'q>(mut query: AnyQuery<'q>, along: &Along<'_>, now: accrue_core::Millis) -> AnyQuery<'q> {
    match along {
        Along::Resolution(..) => query,
        Along::LotMoves(moves) => {
            for &(lot, amount) in moves.iter() {
                query = query.bind(lot).bind(amount);
            }
            query
        }
        Along::NewLot(lot) => query
            .bind(lot.amount)
            .bind(lot.wallet)
            .bind(now)
            .bind(lot.activates_at)
            .bind(lot.expires_at),
    }
}

/// The hold change of the posting in the CTE `posting` (PostgreSQL): a reserve links
/// itself to its hold (`$7`); a resolution changes the hold, its state and capture bound
/// from `$first` on (after the lot changes' parameters, of which it has none).
fn hold_change(kind: PostingKind, along: &Along<'_>, first: usize) -> String {
    match (kind, along) {
        (PostingKind::HoldReserve, _) => ", reserved AS (UPDATE holds SET reserve_posting_id = posting.id \
             FROM posting WHERE holds.id = $7)"
            .to_string(),
        (_, Along::Resolution(..)) => format!(
            ", resolved AS (UPDATE holds SET state = ${}, captured = ${}, resolve_posting_id = posting.id, \
               resolved_at = $9 FROM posting WHERE holds.id = $7 AND holds.state = 'active' RETURNING 1)",
            first,
            first + 1
        ),
        _ => String::new(),
    }
}

/// What goes along with a posting written statement by statement (SQLite).
async fn write_along(tx: &mut Tx, new: &NewPosting<'_>, posting_id: i64, along: Along<'_>) -> Result<(), StoreError> {
    if new.kind == PostingKind::HoldReserve {
        sqlx::query("UPDATE holds SET reserve_posting_id = $1 WHERE id = $2")
            .bind(posting_id)
            .bind(new.hold_id)
            .execute(tx.conn())
            .await?;
    }
    match along {
        Along::LotMoves(moves) => move_lots(tx, posting_id, moves).await,
        Along::NewLot(lot) => give_lot(tx, posting_id, lot).await,
        Along::Resolution(state, captured) => {
            let changed = sqlx::query(
                "UPDATE holds SET state = $1, captured = $2, resolve_posting_id = $3, resolved_at = $4 \
                 WHERE id = $5 AND state = 'active'",
            )
            .bind(state.as_str())
            .bind(captured)
            .bind(posting_id)
            .bind(tx.now)
            .bind(new.hold_id)
            .execute(tx.conn())
            .await?;
            match changed.rows_affected() {
                1 => Ok(()),
                _ => Err(resolved_concurrently()),
            }
        }
    }
}

fn resolved_concurrently() -> StoreError {
    StoreError::Conflict("hold was resolved concurrently".into())
}

/// The wallet's newest lot of points that are active and never expire.
fn newest_lasting(wallet: &str, now: &str) -> String {
    format!(
        "SELECT id FROM lots WHERE account_id = {wallet} AND remaining > 0 AND activates_at <= {now} \
         AND expires_at IS NULL ORDER BY activates_at DESC, id DESC LIMIT 1"
    )
}

async fn record_lot_move(tx: &mut Tx, posting_id: i64, lot: i64, amount: i64) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO lot_moves (posting_id, lot_id, amount) VALUES ($1, $2, $3)")
        .bind(posting_id)
        .bind(lot)
        .bind(amount)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Where a credit's points go.
pub(super) struct NewLot {
    pub wallet: i64,
    pub amount: i64,
    pub activates_at: accrue_core::Millis,
    pub expires_at: Option<accrue_core::Millis>,
}

impl NewLot {
    /// Active now and never expiring.
    fn lasting(&self, now: accrue_core::Millis) -> bool {
        self.activates_at <= now && self.expires_at.is_none()
    }
}

/// Gives a credit its lot (SQLite; PostgreSQL writes it with the posting). Points that
/// are active and never expire top up the wallet's newest such lot, if there is one:
/// such lots differ in nothing the ledger uses (they are spent only after older ones,
/// and all are active for good), so an active member's wallet keeps one of them instead
/// of one per accrual, and the credit's share is its lot move. Other points get a lot of
/// their own.
async fn give_lot(tx: &mut Tx, posting_id: i64, lot: NewLot) -> Result<(), StoreError> {
    if lot.lasting(tx.now) {
        let sql = format!(
            "UPDATE lots SET amount = amount + $1, remaining = remaining + $1 WHERE id = ({}) RETURNING id",
            newest_lasting("$2", "$3")
        );
        let topped = sqlx::query(&sql)
            .bind(lot.amount)
            .bind(lot.wallet)
            .bind(tx.now)
            .fetch_optional(tx.conn())
            .await?;
        if let Some(row) = topped {
            return record_lot_move(tx, posting_id, row.try_get(0)?, lot.amount).await;
        }
    }
    sqlx::query(
        "INSERT INTO lots (account_id, posting_id, amount, remaining, activates_at, expires_at, created_at) \
         VALUES ($1, $2, $3, $3, $4, $5, $6)",
    )
    .bind(lot.wallet)
    .bind(posting_id)
    .bind(lot.amount)
    .bind(lot.activates_at)
    .bind(lot.expires_at)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

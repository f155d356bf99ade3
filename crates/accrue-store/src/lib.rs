//! Persistence for Accrue behind one API, on SQLite (embedded default) or PostgreSQL.
//!
//! Every write runs as a closure inside a database transaction ([`Store::write`]).
//! On PostgreSQL each write is its own transaction on a pooled connection, with row
//! locks. On SQLite all writes go through one writer task that commits many of them
//! per transaction (group commit); each sits in its own savepoint, so one failing
//! write does not undo its neighbours, and none is acknowledged before the commit.
//!
//! Locks (PostgreSQL row locks) are taken in one order on every path, so concurrent
//! writes cannot deadlock: the member row, then the purchase row, then the hold, then
//! the member's wallet balance, then system balance rows in account order, and a
//! rate-limit bucket last. A path that starts from
//! a hold or a purchase (hold expiry, admin capture or void, the auto-cancel) first
//! reads it without a lock to learn its member. The locks are `FOR NO KEY UPDATE`: they
//! exclude each other but not the key-share locks of inserts that reference the row, so
//! a write may insert rows of a member before it locks the member, and hold the lock for
//! only the statements that need it.

mod admin_keys;
pub mod batch;
mod cache;
pub use admin_keys::{AdminKey, KeyScope};
pub mod cards;
pub mod check;
pub mod confirmations;
pub mod coupons;
pub mod devices;
mod error;
pub mod events;
pub mod expiry_notices;
pub mod exports;
pub mod face_bindings;
pub mod hooks;
pub mod idempotency;
pub mod imshop;
pub mod integra;
pub mod ledger;
pub mod lifetimes;
pub mod member_auth;
pub mod member_history;
mod members;
pub mod merchants;
pub mod messages;
mod migrate;
pub mod notifications;
pub mod offers;
pub mod operators;
pub mod outbox;
pub mod phone_sign_in;
mod programs;
mod purchase_records;
pub mod purchases;
mod rate_limits;
pub mod referrals;
mod registration;
pub mod reports;
pub mod sealing;
mod sqlite;
pub mod subscriptions;
pub mod sweep;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tracker;
mod writer;

pub use cards::{Card, CardCategory, CardFilter};
pub use error::StoreError;
pub use members::{Member, MemberFields, MemberSearch};
pub use programs::{ChosenLimits, Currency, Limits, NewCurrency, NewProgram, Program};
pub use registration::{Begun, Ttls};
pub use sealing::Sealer;

use accrue_core::member::MemberState;
use accrue_core::Millis;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// `$from, $from+1, …`: `n` numbered placeholders for an `IN (…)` list.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    let list: Vec<String> = (from..from + n).map(|i| format!("${i}")).collect();
    list.join(", ")
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The time source of the ledger: the server's clock, or a hand-set one in tests.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn now(&self) -> Millis {
        match self {
            Clock::System => chrono::Utc::now().timestamp_millis(),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }
}

/// An open database transaction and the time it runs at.
pub struct Tx {
    conn: Conn,
    pub dialect: Dialect,
    pub now: Millis,
    /// Set when the transaction queued outbox messages: the worker is woken after commit.
    queued_messages: bool,
    /// Set when the transaction changed data the cache keeps: it is renewed after commit.
    config_changed: bool,
    /// Statements run so far.
    statements: u64,
    /// Wallets opened in this transaction, which the cache must not keep before commit.
    opened_wallets: Vec<i64>,
    /// Members this write locked, with the state read then: a second lock of one write
    /// is not sent again.
    locked_members: Vec<((i64, i64), MemberState)>,
    hooks: Arc<hooks::Hooks>,
    cache: Arc<cache::Cache>,
}

/// The connection a transaction runs on.
enum Conn {
    /// A pooled connection inside `BEGIN`.
    Postgres(Transaction<'static, Any>),
    /// A pooled connection outside a transaction: each statement commits on its own
    /// (see [`Store::write_in_one_statement`]).
    PostgresStatement(sqlx::pool::PoolConnection<Any>),
    /// The SQLite writer's connection, lent to the write for the length of its batch.
    Sqlite(sqlite::Connection),
}

impl Tx {
    fn conn(&mut self) -> sqlite::TxConn<'_> {
        self.statements += 1;
        match &mut self.conn {
            Conn::Postgres(tx) => sqlite::Route::Postgres(tx),
            Conn::PostgresStatement(conn) => sqlite::Route::Postgres(conn),
            Conn::Sqlite(conn) => sqlite::Route::Sqlite(sqlite::SqliteSide::Writer(conn)),
        }
    }

    /// Says that this transaction changes what the cache keeps (see [`cache`]): other
    /// servers on the same PostgreSQL database are told at commit, this one after it.
    pub(crate) async fn changes_config(&mut self) -> Result<(), StoreError> {
        if !self.config_changed && self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(cache::CHANNEL)
                .execute(self.conn())
                .await?;
        }
        self.config_changed = true;
        Ok(())
    }

    /// The connection back, and what to do once the transaction is committed.
    fn finish(self) -> (Conn, AfterCommit) {
        let after = AfterCommit {
            queued_messages: self.queued_messages,
            config_changed: self.config_changed,
            statements: self.statements,
        };
        (self.conn, after)
    }

    /// A new write begins in this transaction (on SQLite one transaction holds a batch
    /// of writes): what the last one remembered may have been rolled back.
    fn start_write(&mut self) {
        self.locked_members.clear();
    }

    /// A row lock where the database has row locks and the write a transaction to hold
    /// them (see the crate's lock order). SQLite's single writer needs none, and a write
    /// outside a transaction would let it go as soon as it is taken.
    fn for_update(&self) -> &'static str {
        match self.conn {
            Conn::Postgres(_) => " FOR NO KEY UPDATE",
            Conn::PostgresStatement(_) | Conn::Sqlite(_) => "",
        }
    }
}

/// What a committed transaction leaves to do.
struct AfterCommit {
    queued_messages: bool,
    config_changed: bool,
    statements: u64,
}

impl AfterCommit {
    fn run(self, shared: &Shared) {
        shared
            .metrics
            .write_statements
            .fetch_add(self.statements, Ordering::Relaxed);
        if self.queued_messages {
            shared.outbox_wakeup.notify_one();
        }
        if self.config_changed {
            shared.cache.generation.advance();
        }
    }
}

/// Counters the server exports as metrics.
#[derive(Debug, Default)]
pub struct StoreMetrics {
    pub postings: AtomicU64,
    pub write_batches: AtomicU64,
    pub writes: AtomicU64,
    /// Statements run inside committed write transactions (rolled back ones too, when
    /// they share a SQLite batch with committed ones).
    pub write_statements: AtomicU64,
    /// Statements run outside writes (each read takes its connection once).
    pub reads: AtomicU64,
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    dialect: Dialect,
    /// On PostgreSQL reads and writes; on SQLite migrations.
    pool: AnyPool,
    reads: sqlite::Reads,
    /// SQLite only: the group-commit writer.
    writer: Option<writer::Writer>,
    clock: Clock,
    shared: Shared,
    /// PostgreSQL only: hears other servers' configuration changes (see [`cache`]).
    listener: Option<tokio::task::JoinHandle<()>>,
    /// Seals the secrets the store keeps (codes in queued messages) and that servers keep
    /// in it (webhook and tracker secrets).
    sealer: Sealer,
    /// PostgreSQL only: withdrawals of one member that run together (see [`ledger::Lanes`]).
    lanes: ledger::Lanes,
    /// Tests only: purchase calls take the general path, never `purchases::at_once`.
    #[cfg(any(test, feature = "testing"))]
    general_path_only: std::sync::atomic::AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }
}

/// What every transaction can reach, whichever backend runs it.
#[derive(Clone, Default)]
pub(crate) struct Shared {
    metrics: Arc<StoreMetrics>,
    /// Wakes the delivery worker when a commit queued messages.
    outbox_wakeup: Arc<tokio::sync::Notify>,
    hooks: Arc<hooks::Hooks>,
    cache: Arc<cache::Cache>,
}

impl Shared {
    /// A transaction on `conn` at `now`.
    fn tx(&self, conn: Conn, dialect: Dialect, now: Millis) -> Tx {
        Tx {
            conn,
            dialect,
            now,
            queued_messages: false,
            config_changed: false,
            statements: 0,
            opened_wallets: Vec::new(),
            locked_members: Vec::new(),
            hooks: self.hooks.clone(),
            cache: self.cache.clone(),
        }
    }
}

/// How a store is opened: its clock, its sealing key and how many connections a
/// PostgreSQL store keeps at most ([`DEFAULT_CONNECTIONS`] when `None`).
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    pub clock: Clock,
    pub sealer: Sealer,
    pub connections: Option<u32>,
}

/// PostgreSQL connections a store keeps at most unless told. On 2 cores 6–10 did not
/// serve purchases faster than 32 (bench/README.md, stop 42), though PostgreSQL spends
/// less CPU per statement with fewer busy backends.
pub const DEFAULT_CONNECTIONS: u32 = 32;

impl Store {
    /// Opens `sqlite://PATH` (created if missing) or `postgres://…` and applies
    /// migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, StoreOptions::default()).await
    }

    pub async fn open_with_clock(url: &str, clock: Clock) -> Result<Store, StoreError> {
        Store::open_with(
            url,
            StoreOptions {
                clock,
                ..StoreOptions::default()
            },
        )
        .await
    }

    pub async fn open_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        let StoreOptions {
            clock,
            sealer,
            connections,
        } = options;
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Invalid(format!(
                "database URL must start with sqlite:// or postgres://, got {url:?}"
            )));
        };
        let store = match dialect {
            Dialect::Sqlite => {
                let url = sqlite_url(url);
                let pool = sqlite_pool(1).connect_with(AnyConnectOptions::from_str(&url)?).await?;
                // The writer opens the file after the schema is in place.
                migrate::run(&pool, dialect).await?;
                let shared = Shared::default();
                let writer = writer::Writer::start(&url, clock.clone(), shared.clone())?;
                Inner {
                    dialect,
                    pool,
                    reads: sqlite::Reads::Sqlite(sqlite::Readers::new(&url)),
                    writer: Some(writer),
                    listener: None,
                    clock,
                    shared,
                    sealer,
                    lanes: ledger::Lanes::default(),
                    #[cfg(any(test, feature = "testing"))]
                    general_path_only: std::sync::atomic::AtomicBool::new(false),
                }
            }
            Dialect::Postgres => {
                // No ping before each use: a dead connection fails its statement instead,
                // which the pool then replaces.
                let pool = AnyPoolOptions::new()
                    .max_connections(connections.unwrap_or(DEFAULT_CONNECTIONS))
                    .test_before_acquire(false)
                    .connect(url)
                    .await?;
                migrate::run(&pool, dialect).await?;
                let shared = Shared::default();
                let (started, listening) = tokio::sync::oneshot::channel();
                let listener = tokio::spawn(cache::listen(url.to_string(), shared.cache.clone(), started));
                // Opened once the listener's start has made the cache stale (at most a
                // few seconds' wait when it cannot connect): entries cached from then on
                // stay until a change.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), listening).await;
                Inner {
                    dialect,
                    reads: sqlite::Reads::Postgres(pool.clone()),
                    pool,
                    writer: None,
                    listener: Some(listener),
                    clock,
                    shared,
                    sealer,
                    lanes: ledger::Lanes::default(),
                    #[cfg(any(test, feature = "testing"))]
                    general_path_only: std::sync::atomic::AtomicBool::new(false),
                }
            }
        };
        let store = Store { inner: Arc::new(store) };
        programs::ensure_default(&store).await?;
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    pub fn now(&self) -> Millis {
        self.inner.clock.now()
    }

    pub fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    pub fn metrics(&self) -> &StoreMetrics {
        &self.inner.shared.metrics
    }

    /// Adds a hook run after purchases and registrations (see [`hooks`]); servers add
    /// theirs before they serve.
    pub fn add_hook(&self, hook: Arc<dyn hooks::Hook>) {
        self.inner.shared.hooks.add(hook);
    }

    pub(crate) fn lanes(&self) -> &ledger::Lanes {
        &self.inner.lanes
    }

    /// What reads outside of a write run on.
    pub(crate) fn reads(&self) -> sqlite::ReadConn<'_> {
        self.inner.shared.metrics.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.reads.conn()
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.reads().execute("SELECT 1").await?;
        Ok(())
    }

    /// Runs `f` inside a transaction and returns its result once it is committed.
    /// An error from `f` rolls back everything `f` wrote.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, StoreError>> + Send + 'static,
    {
        self.inner.shared.metrics.writes.fetch_add(1, Ordering::Relaxed);
        if let Some(writer) = &self.inner.writer {
            return writer.submit(f).await;
        }
        // Spawned so that a client hanging up cannot stop a transaction half-way.
        let pool = self.inner.pool.clone();
        let now = self.inner.clock.now();
        let shared = self.inner.shared.clone();
        tokio::spawn(async move {
            let mut tx = shared.tx(Conn::Postgres(pool.begin().await?), Dialect::Postgres, now);
            let result = f(&mut tx).await;
            let (Conn::Postgres(conn), after) = tx.finish() else {
                unreachable!("a PostgreSQL write holds a PostgreSQL transaction")
            };
            match result {
                Ok(value) => {
                    conn.commit().await?;
                    after.run(&shared);
                    Ok(value)
                }
                Err(e) => {
                    conn.rollback().await?;
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| StoreError::Internal(format!("write task failed: {e}")))?
    }

    /// Runs `f` on PostgreSQL without `BEGIN`: each of its statements commits on its
    /// own. For a write whose reads come first and whose writes are one statement (a
    /// function call): it saves the `BEGIN` and `COMMIT` round trips, and the locks the
    /// statement takes are released as soon as it is durable.
    pub(crate) async fn write_in_one_statement<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, StoreError>> + Send + 'static,
    {
        self.inner.shared.metrics.writes.fetch_add(1, Ordering::Relaxed);
        let pool = self.inner.pool.clone();
        let now = self.inner.clock.now();
        let shared = self.inner.shared.clone();
        // Spawned, as a write is, so that a client hanging up cannot stop it half-way.
        tokio::spawn(async move {
            let conn = Conn::PostgresStatement(pool.acquire().await?);
            let mut tx = shared.tx(conn, Dialect::Postgres, now);
            let result = f(&mut tx).await;
            let (_, after) = tx.finish();
            if result.is_ok() {
                after.run(&shared);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("write task failed: {e}")))?
    }

    /// [`Store::write`], or on PostgreSQL [`Store::write_in_one_statement`] when
    /// `one_statement`: the write changes nothing before its last statement.
    pub(crate) async fn write_as<T, F>(&self, one_statement: bool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, StoreError>> + Send + 'static,
    {
        match (one_statement, self.dialect()) {
            (true, Dialect::Postgres) => self.write_in_one_statement(f).await,
            _ => self.write(f).await,
        }
    }

    /// Signalled after a commit that queued outbox messages, so the delivery worker
    /// need not wait for its next poll. (Messages queued by other servers sharing the
    /// database are found by polling.)
    pub fn outbox_wakeup(&self) -> Arc<tokio::sync::Notify> {
        self.inner.shared.outbox_wakeup.clone()
    }

    /// Waits for queued writes to finish and closes the database.
    pub async fn close(&self) {
        if let Some(writer) = &self.inner.writer {
            writer.stop().await;
        }
        if let Some(listener) = &self.inner.listener {
            listener.abort();
        }
        self.inner.pool.close().await;
    }
}

fn sqlite_pool(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new().max_connections(max).after_connect(|conn, _| {
        Box::pin(async move {
            conn.execute(crate::sqlite::PRAGMAS).await?;
            Ok(())
        })
    })
}

/// `sqlite://PATH` → a URL that creates the file when it does not exist.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Turns a row-count of zero into a not-found error.
pub(crate) fn found(rows: u64, what: &'static str) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}

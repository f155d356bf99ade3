//! SQLite connections that run statements synchronously, from a cache of prepared
//! statements: the writer's, on the writer's own thread, and the readers', on the thread
//! of whoever reads.
//!
//! The store's SQL is written once for both backends as sqlx queries
//! (`sqlx::query(…).bind(…).execute(tx.conn())`). [`Route`] is the executor those
//! queries run on: on PostgreSQL the transaction's pooled connection, on SQLite a
//! [`rusqlite::Connection`] owned by the writer thread. There a query runs to the end
//! before its future is even polled, so a write job costs no cross-thread hand-off per
//! statement (sqlx's own SQLite driver sends every statement to a worker thread and
//! waits for its answer). Rows come back as sqlx's `AnyRow`, typed as sqlx's SQLite
//! driver types them (by the value's storage class), so the same decoding code reads
//! both.
//!
//! Reads ([`Reads`], [`ReadConn`]) run the same way on connections of their own, one
//! per reader at a time: a point lookup takes microseconds, less than the hand-off to a
//! worker thread would. A long scan (a report, `accrue check`) holds the calling thread while it runs.

use futures_util::future::{self, BoxFuture};
use futures_util::stream::{self, BoxStream};
use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow, AnyTypeInfo, AnyTypeInfoKind, AnyValue};
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::{Any, AnyConnection, Either, Execute, Executor};
use sqlx_core::any::{AnyColumn, AnyValueKind};
use sqlx_core::ext::ustr::UStr;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// How many prepared statements the writer keeps (the store has fewer distinct ones).
const STATEMENT_CACHE: usize = 512;

/// Every SQLite connection's settings, the writer's and the readers'. WAL lets readers
/// run beside the writer; FULL keeps every commit on disk. Temporary tables and the
/// journals of savepoints (every write job runs in one) stay in memory: in files they
/// cost a file created, written and deleted per batch, more writes than the WAL's own.
pub(crate) const PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
     PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;";

/// The writer thread's connection with what it remembers about each statement.
pub(crate) struct Connection {
    conn: rusqlite::Connection,
    /// Column names and descriptions per SQL text, shared by every row the statement
    /// returns.
    columns: HashMap<String, Columns>,
}

#[derive(Clone)]
struct Columns {
    names: Arc<sqlx_core::HashMap<UStr, usize>>,
    list: Arc<[AnyColumn]>,
}

impl Connection {
    /// Opens the database file of a `sqlite://PATH?…` URL for writing, with the same
    /// settings as the readers: WAL, and every commit durable (`synchronous=FULL`).
    pub fn open(url: &str) -> rusqlite::Result<Connection> {
        let path = url
            .trim_start_matches("sqlite:")
            .trim_start_matches("//")
            .split('?')
            .next()
            .unwrap_or_default();
        let conn = rusqlite::Connection::open(path)?;
        conn.execute_batch(PRAGMAS)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Connection {
            conn,
            columns: HashMap::new(),
        })
    }

    /// Runs SQL without arguments or results (transaction control).
    pub fn run(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.raw_execute())
            .map_err(error)?;
        Ok(())
    }

    /// Runs one statement with its arguments; `want_rows` false skips reading rows.
    fn query(&mut self, sql: &str, arguments: Option<AnyArguments<'_>>, want_rows: bool) -> Result<Ran, sqlx::Error> {
        let values = arguments.map(|a| a.values.0).unwrap_or_default();
        let mut statement = self.conn.prepare_cached(sql).map_err(error)?;
        for i in 1..=statement.parameter_count() {
            // `$N` is the N-th argument wherever it stands, as in sqlx.
            let n = statement
                .parameter_name(i)
                .and_then(|name| name.get(1..)?.parse::<usize>().ok())
                .unwrap_or(i);
            let value = values.get(n - 1).ok_or_else(|| {
                sqlx::Error::Protocol(format!("statement needs argument ${n}, {} given: {sql}", values.len()))
            })?;
            statement.raw_bind_parameter(i, bindable(value)?).map_err(error)?;
        }
        let read_only = statement.readonly();
        let mut rows = Vec::new();
        if statement.column_count() == 0 {
            statement.raw_execute().map_err(error)?;
        } else {
            let columns = match self.columns.get(sql) {
                Some(c) => c.clone(),
                None => {
                    let c = describe(&statement);
                    self.columns.insert(sql.to_string(), c.clone());
                    c
                }
            };
            let mut cursor = statement.raw_query();
            while let Some(row) = cursor.next().map_err(error)? {
                if want_rows {
                    rows.push(any_row(row, &columns)?);
                }
            }
        }
        let rows_affected = if read_only { 0 } else { self.conn.changes() };
        Ok(Ran { rows, rows_affected })
    }
}

struct Ran {
    rows: Vec<AnyRow>,
    rows_affected: u64,
}

impl Ran {
    fn result(&self) -> AnyQueryResult {
        AnyQueryResult {
            rows_affected: self.rows_affected,
            last_insert_id: None,
        }
    }
}

fn describe(statement: &rusqlite::Statement<'_>) -> Columns {
    let names: Vec<String> = statement.column_names().into_iter().map(String::from).collect();
    let list = names
        .iter()
        .enumerate()
        .map(|(ordinal, name)| AnyColumn {
            ordinal,
            name: UStr::from(name.clone()),
            type_info: AnyTypeInfo {
                kind: AnyTypeInfoKind::Null,
            },
        })
        .collect();
    let names = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| (UStr::from(name), i))
        .collect();
    Columns {
        names: Arc::new(names),
        list,
    }
}

fn any_row(row: &rusqlite::Row<'_>, columns: &Columns) -> Result<AnyRow, sqlx::Error> {
    let mut values = Vec::with_capacity(columns.list.len());
    for i in 0..columns.list.len() {
        let kind = match row.get_ref(i).map_err(error)? {
            ValueRef::Null => AnyValueKind::Null(AnyTypeInfoKind::Null),
            ValueRef::Integer(n) => AnyValueKind::BigInt(n),
            ValueRef::Real(x) => AnyValueKind::Double(x),
            ValueRef::Text(bytes) => AnyValueKind::Text(Cow::Owned(
                String::from_utf8(bytes.to_vec()).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            )),
            ValueRef::Blob(bytes) => AnyValueKind::Blob(Cow::Owned(bytes.to_vec())),
        };
        values.push(AnyValue { kind });
    }
    Ok(AnyRow {
        column_names: columns.names.clone(),
        columns: columns.list.to_vec(),
        values,
    })
}

fn bindable<'a>(value: &'a AnyValueKind<'_>) -> Result<ToSqlOutput<'a>, sqlx::Error> {
    let value = match value {
        AnyValueKind::Null(_) => ValueRef::Null,
        AnyValueKind::Bool(b) => ValueRef::Integer(*b as i64),
        AnyValueKind::SmallInt(n) => ValueRef::Integer(*n as i64),
        AnyValueKind::Integer(n) => ValueRef::Integer(*n as i64),
        AnyValueKind::BigInt(n) => ValueRef::Integer(*n),
        AnyValueKind::Real(x) => ValueRef::Real(*x as f64),
        AnyValueKind::Double(x) => ValueRef::Real(*x),
        AnyValueKind::Text(text) => ValueRef::Text(text.as_bytes()),
        AnyValueKind::Blob(bytes) => ValueRef::Blob(bytes),
        other => return Err(sqlx::Error::Protocol(format!("cannot bind {other:?}"))),
    };
    Ok(ToSqlOutput::Borrowed(value))
}

/// A failure SQLite reported, told to callers as sqlx's SQLite driver tells it: the
/// extended result code as the code, constraint violations by kind.
#[derive(Debug)]
struct Failure {
    code: i32,
    message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for Failure {}

impl DatabaseError for Failure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(self.code.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        use rusqlite::ffi;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => ErrorKind::UniqueViolation,
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

fn error(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(failure, message) => sqlx::Error::Database(Box::new(Failure {
            code: failure.extended_code,
            message: message.unwrap_or_else(|| failure.to_string()),
        })),
        other => sqlx::Error::AnyDriverError(Box::new(other)),
    }
}

/// Where the store's statements go: PostgreSQL's executor `P` (a transaction's
/// connection, or the pool for reads), or a SQLite connection they run on at once.
pub(crate) enum Route<'c, P> {
    Postgres(P),
    Sqlite(SqliteSide<'c>),
}

/// The SQLite connection of a statement: the writer's, lent to a write, or a reader's.
pub(crate) enum SqliteSide<'c> {
    Writer(&'c mut Connection),
    Readers(&'c Readers),
}

impl SqliteSide<'_> {
    /// Runs `query` on the connection now, before any future is polled.
    fn run<'q>(self, mut query: impl Execute<'q, Any>, want_rows: bool) -> Result<Ran, sqlx::Error> {
        let arguments = query.take_arguments().map_err(sqlx::Error::Encode)?;
        match self {
            SqliteSide::Writer(conn) => conn.query(query.sql(), arguments, want_rows),
            SqliteSide::Readers(readers) => readers.with(|conn| conn.query(query.sql(), arguments, want_rows))?,
        }
    }
}

/// What the store's queries run on inside a write: see the module's description.
pub(crate) type TxConn<'c> = Route<'c, &'c mut AnyConnection>;

/// What the store's reads run on, outside of writes.
pub(crate) type ReadConn<'c> = Route<'c, &'c sqlx::AnyPool>;

impl<P> std::fmt::Debug for Route<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Route::Postgres(_) => "Route::Postgres",
            Route::Sqlite(_) => "Route::Sqlite",
        })
    }
}

impl<'c, P: Executor<'c, Database = Any>> Executor<'c> for Route<'c, P> {
    type Database = Any;

    fn execute<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<AnyQueryResult, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            Route::Postgres(pg) => pg.execute(query),
            Route::Sqlite(conn) => Box::pin(future::ready(conn.run(query, false).map(|ran| ran.result()))),
        }
    }

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            Route::Postgres(pg) => pg.fetch_many(query),
            Route::Sqlite(conn) => {
                let items = match conn.run(query, true) {
                    Ok(ran) => {
                        let result = ran.result();
                        let mut items: Vec<_> = ran.rows.into_iter().map(|row| Ok(Either::Right(row))).collect();
                        items.push(Ok(Either::Left(result)));
                        items
                    }
                    Err(e) => vec![Err(e)],
                };
                Box::pin(stream::iter(items))
            }
        }
    }

    fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Vec<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            Route::Postgres(pg) => pg.fetch_all(query),
            Route::Sqlite(conn) => Box::pin(future::ready(conn.run(query, true).map(|ran| ran.rows))),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            Route::Postgres(pg) => pg.fetch_optional(query),
            Route::Sqlite(conn) => Box::pin(future::ready(
                conn.run(query, true).map(|ran| ran.rows.into_iter().next()),
            )),
        }
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<sqlx::any::AnyStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        match self {
            Route::Postgres(pg) => pg.prepare_with(sql, parameters),
            Route::Sqlite(_) => Box::pin(future::ready(Err(unsupported("prepare")))),
        }
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<sqlx_core::describe::Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        match self {
            Route::Postgres(pg) => pg.describe(sql),
            Route::Sqlite(_) => Box::pin(future::ready(Err(unsupported("describe")))),
        }
    }
}

fn unsupported(what: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("{what} is not available on the store's SQLite connections"))
}

/// How many idle reader connections are kept; more are opened while more threads read.
const IDLE_READERS: usize = 16;

/// The SQLite readers' connections, opened as needed and kept for the next read.
pub(crate) struct Readers {
    url: String,
    idle: std::sync::Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(url: &str) -> Readers {
        Readers {
            url: url.to_string(),
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on an idle connection, or a new one when none is idle.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> Result<T, sqlx::Error> {
        let idle = self.idle.lock().expect("readers lock").pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => Connection::open(&self.url).map_err(error)?,
        };
        let result = f(&mut conn);
        let mut idle = self.idle.lock().expect("readers lock");
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        Ok(result)
    }
}

/// What the store reads with, outside of writes: PostgreSQL's pool, or SQLite's readers.
pub(crate) enum Reads {
    Postgres(sqlx::AnyPool),
    Sqlite(Readers),
}

impl Reads {
    pub fn conn(&self) -> ReadConn<'_> {
        match self {
            Reads::Postgres(pool) => Route::Postgres(pool),
            Reads::Sqlite(readers) => Route::Sqlite(SqliteSide::Readers(readers)),
        }
    }
}

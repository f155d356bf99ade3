//! The SQLite group-commit writer: one thread, one connection, many writes per commit.
//!
//! Writes queue on a channel; the thread takes all that are waiting (up to
//! [`MAX_BATCH`]) and runs them one after another inside one transaction, each in its own
//! savepoint, then commits once and answers them all. Statements run synchronously on
//! the thread (see [`crate::sqlite`]): a write's future is driven by this thread, and on
//! SQLite it never waits for anything but the disk.

use crate::sqlite::Connection;
use crate::{BoxFuture, Clock, Conn, Shared, StoreError, Tx};
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, oneshot};

/// The most writes one commit takes.
const MAX_BATCH: usize = 256;

/// Called after the commit with its outcome; delivers the write's result.
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, (bool, Completion)> + Send>;

pub(crate) struct Writer {
    sender: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Writer {
    /// Opens the writer's connection and starts its thread; must be called inside a
    /// Tokio runtime, which drives any write that waits for something else.
    pub fn start(url: &str, clock: Clock, shared: Shared) -> Result<Writer, StoreError> {
        let conn = Connection::open(url).map_err(|e| StoreError::Internal(format!("opening the writer: {e}")))?;
        let runtime = tokio::runtime::Handle::current();
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
        let thread = std::thread::Builder::new()
            .name("accrue-sqlite-writer".into())
            .spawn(move || run(conn, clock, shared, receiver, runtime))
            .map_err(|e| StoreError::Internal(format!("starting the writer: {e}")))?;
        Ok(Writer {
            sender: std::sync::Mutex::new(Some(sender)),
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    pub async fn submit<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, StoreError>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |tx| {
            Box::pin(async move {
                let result = f(tx).await;
                let ok = result.is_ok();
                let completion: Completion = Box::new(move |commit| {
                    let _ = reply.send(match commit {
                        Ok(()) => result,
                        Err(e) => Err(StoreError::Internal(format!("commit failed: {e}"))),
                    });
                });
                (ok, completion)
            })
        });
        let sender = self.sender.lock().expect("writer lock").clone();
        let sender = sender.ok_or_else(|| StoreError::Internal("the store is closed".into()))?;
        sender
            .send(job)
            .await
            .map_err(|_| StoreError::Internal("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Internal("the writer dropped a write".into()))?
    }

    /// Lets queued writes finish, then ends the writer.
    pub async fn stop(&self) {
        self.sender.lock().expect("writer lock").take();
        let thread = self.thread.lock().expect("writer lock").take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn run(
    conn: Connection,
    clock: Clock,
    shared: Shared,
    mut receiver: mpsc::Receiver<Job>,
    runtime: tokio::runtime::Handle,
) {
    let mut conn = Some(conn);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        shared.metrics.write_batches.fetch_add(1, Ordering::Relaxed);
        let sqlite = Conn::Sqlite(conn.take().expect("the writer's connection"));
        let mut tx = shared.tx(sqlite, crate::Dialect::Sqlite, clock.now());
        let (completions, outcome) = runtime.block_on(commit_batch(&mut tx, std::mem::take(&mut batch)));
        let (Conn::Sqlite(sqlite), after) = tx.finish() else {
            unreachable!("the SQLite writer holds a SQLite connection")
        };
        conn = Some(sqlite);
        match &outcome {
            Ok(()) => after.run(&shared),
            Err(e) => {
                tracing::error!(error = %e, "sqlite group commit failed");
                // What the batch's writes read and the cache kept may be gone with it.
                shared.cache.generation.advance();
            }
        }
        for complete in completions {
            complete(outcome.clone());
        }
    }
}

/// Runs the jobs in one transaction; every job that ran has its completion returned,
/// with the commit's outcome.
async fn commit_batch(tx: &mut Tx, jobs: Vec<Job>) -> (Vec<Completion>, Result<(), String>) {
    let mut completions = Vec::with_capacity(jobs.len());
    if let Err(e) = sql(tx, "BEGIN IMMEDIATE") {
        // Run nothing: every job in the batch learns the error through a dropped reply.
        return (completions, Err(e));
    }
    for job in jobs {
        if let Err(e) = sql(tx, "SAVEPOINT w") {
            return (completions, abandon(tx, e));
        }
        tx.start_write();
        let (ok, completion) = job(tx).await;
        completions.push(completion);
        let undone = if ok { Ok(()) } else { sql(tx, "ROLLBACK TO w") };
        if let Err(e) = undone.and_then(|()| sql(tx, "RELEASE w")) {
            return (completions, abandon(tx, e));
        }
    }
    match sql(tx, "COMMIT") {
        Ok(()) => (completions, Ok(())),
        Err(e) => (completions, abandon(tx, e)),
    }
}

/// Rolls the whole batch back after `e`, so the next batch starts clean.
fn abandon(tx: &mut Tx, e: String) -> Result<(), String> {
    let _ = sql(tx, "ROLLBACK");
    Err(e)
}

fn sql(tx: &mut Tx, statement: &str) -> Result<(), String> {
    match &mut tx.conn {
        Conn::Sqlite(conn) => conn.run(statement).map_err(|e| e.to_string()),
        Conn::Postgres(_) | Conn::PostgresStatement(_) => unreachable!("the SQLite writer holds a SQLite connection"),
    }
}

//! The SQLite group-commit writer: one task, one connection, many writes per commit.

use crate::{BoxFuture, Clock, Dialect, Shared, StoreError, Tx};
use sqlx::{AnyPool, Executor};
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, oneshot, Mutex};

/// The most writes one commit takes.
const MAX_BATCH: usize = 256;

/// Called after the commit with its outcome; delivers the write's result.
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, (bool, Completion)> + Send>;

pub(crate) struct Writer {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    done: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Writer {
    pub fn start(pool: AnyPool, clock: Clock, shared: Shared) -> Writer {
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
        let handle = tokio::spawn(run(pool, clock, shared, receiver));
        Writer {
            sender: Mutex::new(Some(sender)),
            done: Mutex::new(Some(handle)),
        }
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
        let sender = self.sender.lock().await.clone();
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
        self.sender.lock().await.take();
        if let Some(handle) = self.done.lock().await.take() {
            let _ = handle.await;
        }
    }
}

async fn run(pool: AnyPool, clock: Clock, shared: Shared, mut receiver: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        shared.metrics.write_batches.fetch_add(1, Ordering::Relaxed);
        let completions = commit_batch(&pool, clock.now(), std::mem::take(&mut batch), &shared).await;
        let (completions, outcome) = match completions {
            Ok(c) => (c, Ok(())),
            Err((c, e)) => {
                tracing::error!(error = %e, "sqlite group commit failed");
                (c, Err(e))
            }
        };
        for complete in completions {
            complete(outcome.clone());
        }
    }
}

type BatchResult = Result<Vec<Completion>, (Vec<Completion>, String)>;

async fn commit_batch(pool: &AnyPool, now: accrue_core::Millis, jobs: Vec<Job>, shared: &Shared) -> BatchResult {
    let mut completions = Vec::new();
    let conn = match pool.begin().await {
        Ok(conn) => conn,
        Err(e) => {
            // Run nothing: every job in the batch learns the error through a dropped reply.
            drop(jobs);
            return Err((completions, e.to_string()));
        }
    };
    let mut tx = Tx {
        conn,
        dialect: Dialect::Sqlite,
        now,
        queued_messages: false,
        hooks: shared.hooks.clone(),
    };
    for job in jobs {
        if let Err(e) = savepoint(&mut tx, "SAVEPOINT w").await {
            return Err((completions, e.to_string()));
        }
        let (ok, completion) = job(&mut tx).await;
        completions.push(completion);
        let end = if ok { "RELEASE w" } else { "ROLLBACK TO w; RELEASE w" };
        if let Err(e) = savepoint(&mut tx, end).await {
            return Err((completions, e.to_string()));
        }
    }
    match tx.conn.commit().await {
        Ok(()) => {
            if tx.queued_messages {
                shared.outbox_wakeup.notify_one();
            }
            Ok(completions)
        }
        Err(e) => Err((completions, e.to_string())),
    }
}

async fn savepoint(tx: &mut Tx, sql: &'static str) -> Result<(), sqlx::Error> {
    tx.conn.execute(sql).await.map(|_| ())
}

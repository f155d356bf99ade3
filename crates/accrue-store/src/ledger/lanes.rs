//! Withdrawals from one member on PostgreSQL, run together.
//!
//! Each withdrawal is one statement (`accrue_withdraw`) that locks the member until it
//! commits, so many tills paying from one member at once waited for each other's commit
//! and for the database to wake the next of them: the member, not the machine, was the
//! limit (two thirds of the CPU idle). Withdrawals of a member that arrive while one of
//! its is running queue in its lane here, and the next batch of them is one statement
//! (`accrue_withdraw_each`): one round trip, one lock, one commit for them all.
//!
//! A refused withdrawal writes nothing and leaves the others of its batch alone. When
//! the statement fails (a key taken by a concurrent repeat), nothing of it stays and each
//! withdrawal runs again on its own, so that none shares another's fate and each key
//! still posts once.

use super::at_once::{withdraw_each, Outcome, Withdrawal};
use crate::{Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// The most withdrawals one statement runs.
const MOST_IN_A_BATCH: usize = 64;

/// A member of a program.
type Lane = (i64, i64);

struct Waiting {
    withdrawal: Withdrawal,
    answer: oneshot::Sender<Outcome>,
}

/// The withdrawals waiting in each lane that is being drained.
#[derive(Default)]
pub(crate) struct Lanes(Mutex<HashMap<Lane, Vec<Waiting>>>);

impl Lanes {
    /// Queues a withdrawal; `true` when its lane was idle and the caller must drain it.
    fn join(&self, lane: Lane, waiting: Waiting) -> bool {
        let mut lanes = self.0.lock().expect("lanes lock");
        match lanes.get_mut(&lane) {
            Some(queue) => {
                queue.push(waiting);
                false
            }
            None => {
                lanes.insert(lane, vec![waiting]);
                true
            }
        }
    }

    /// The next batch of a lane; `None`, and the lane idle again, when none is waiting.
    fn next_batch(&self, lane: Lane) -> Option<Vec<Waiting>> {
        let mut lanes = self.0.lock().expect("lanes lock");
        let queue = lanes.get_mut(&lane)?;
        if queue.is_empty() {
            lanes.remove(&lane);
            return None;
        }
        let n = queue.len().min(MOST_IN_A_BATCH);
        Some(queue.drain(..n).collect())
    }
}

/// Closes a lane whose drainer panicked, so that later withdrawals of the member start
/// a drainer of their own rather than waiting forever.
struct Draining<'a>(&'a Lanes, Lane);

impl Drop for Draining<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(mut lanes) = self.0 .0.lock() {
                lanes.remove(&self.1);
            }
        }
    }
}

impl Store {
    /// Runs the withdrawal in its member's lane, alone or with others that came meanwhile.
    pub(super) async fn withdraw_in_lane(&self, withdrawal: Withdrawal) -> Outcome {
        let lane = (withdrawal.program_id, withdrawal.m.member_id);
        let (answer, heard) = oneshot::channel();
        if self.lanes().join(lane, Waiting { withdrawal, answer }) {
            // Spawned, as writes are, so that a client hanging up stops no one's batch.
            tokio::spawn(self.clone().drain(lane));
        }
        heard
            .await
            .map_err(|_| StoreError::Internal("a withdrawal lane stopped".into()))?
    }

    async fn drain(self, lane: Lane) {
        let _closes = Draining(self.lanes(), lane);
        while let Some(batch) = self.lanes().next_batch(lane) {
            self.withdraw_batch(batch).await;
        }
    }

    /// Runs a batch as one statement, its withdrawals in their order; when that fails,
    /// each again on its own, so that none shares another's fate.
    async fn withdraw_batch(&self, batch: Vec<Waiting>) {
        let (withdrawals, answers): (Vec<_>, Vec<_>) = batch.into_iter().map(|w| (w.withdrawal, w.answer)).unzip();
        if withdrawals.len() > 1 {
            if let Ok(outcomes) = self.withdraw_together(withdrawals.clone()).await {
                for (answer, outcome) in answers.into_iter().zip(outcomes) {
                    let _ = answer.send(outcome);
                }
                return;
            }
        }
        for (withdrawal, answer) in withdrawals.into_iter().zip(answers) {
            let outcome = self.withdraw_together(vec![withdrawal]).await.and_then(|mut outcomes| {
                outcomes
                    .pop()
                    .ok_or_else(|| StoreError::Internal("a withdrawal without an outcome".into()))?
            });
            let _ = answer.send(outcome);
        }
    }

    /// The withdrawals as one statement outside a transaction: it commits on its own.
    async fn withdraw_together(&self, withdrawals: Vec<Withdrawal>) -> Result<Vec<Outcome>, StoreError> {
        self.write_in_one_statement(move |tx| Box::pin(async move { withdraw_each(tx, &withdrawals).await }))
            .await
    }
}

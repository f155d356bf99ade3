//! Scheduled work over everything that is due (points to expire, holds to void,
//! purchases to cancel): a batch at a time in (due, id) order, each item in its own
//! transaction. An item that fails is logged and passed over, so one stuck item never
//! holds up the others; it is tried again on the next sweep.

use crate::{Store, StoreError};
use sqlx::Row;
use std::future::Future;

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub done: u64,
    pub failed: u64,
}

impl Store {
    /// Runs `each(program_id, id)` on every item `sql` finds. `sql` selects `due, id,
    /// program_id` of items due at `$1`, after the cursor `($2, $3)` in `(due, id)` order,
    /// `LIMIT $4`. `each` says whether it did anything.
    pub(crate) async fn sweep<F, Fut>(
        &self,
        what: &'static str,
        sql: &str,
        batch: i64,
        each: F,
    ) -> Result<Swept, StoreError>
    where
        F: Fn(i64, i64) -> Fut,
        Fut: Future<Output = Result<bool, StoreError>>,
    {
        let now = self.now();
        let mut after = (i64::MIN, i64::MIN);
        let mut swept = Swept::default();
        loop {
            let rows = sqlx::query(sql)
                .bind(now)
                .bind(after.0)
                .bind(after.1)
                .bind(batch)
                .fetch_all(self.reads())
                .await?;
            for row in &rows {
                let (due, id, program_id): (i64, i64, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                after = (due, id);
                match each(program_id, id).await {
                    Ok(true) => swept.done += 1,
                    Ok(false) => {}
                    Err(e) => {
                        swept.failed += 1;
                        tracing::error!(what, id, error = %e, "a scheduled item failed; passed over until the next run");
                    }
                }
            }
            if (rows.len() as i64) < batch {
                return Ok(swept);
            }
        }
    }
}

//! Figures over time for dashboards: points moved per program-local day, and members.

use crate::{Store, StoreError};
use accrue_core::ledger::PostingKind;
use accrue_core::Millis;
use sqlx::Row;

const DAY_MS: i64 = 86_400_000;

/// What one kind of posting moved in one currency on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTotal {
    /// Program-local days since 1970-01-01.
    pub day: i64,
    pub currency_id: i64,
    pub kind: PostingKind,
    /// Minor units, unsigned.
    pub amount: i64,
}

impl Store {
    /// Points moved within `from`..`to`, by program-local day, currency and posting kind.
    pub async fn points_by_day(
        &self,
        program_id: i64,
        from: Millis,
        to: Millis,
        utc_offset_minutes: i32,
    ) -> Result<Vec<DayTotal>, StoreError> {
        let rows = sqlx::query(
            "SELECT (created_at + $4) / $5, currency_id, kind, CAST(SUM(amount) AS BIGINT) FROM postings \
             WHERE program_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )
        .bind(program_id)
        .bind(from)
        .bind(to)
        .bind(i64::from(utc_offset_minutes) * 60_000)
        .bind(DAY_MS)
        .fetch_all(self.reads())
        .await?;
        let mut totals = Vec::with_capacity(rows.len());
        for row in &rows {
            let kind: String = row.try_get(2)?;
            let kind = PostingKind::parse(&kind).ok_or_else(|| StoreError::Internal(format!("posting kind {kind}")))?;
            totals.push(DayTotal {
                day: row.try_get(0)?,
                currency_id: row.try_get(1)?,
                kind,
                amount: row.try_get(3)?,
            });
        }
        Ok(totals)
    }

    /// The program's members: all, and those who joined within `from`..`to`.
    pub async fn member_counts(&self, program_id: i64, from: Millis, to: Millis) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN created_at >= $2 AND created_at < $3 THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM members WHERE program_id = $1",
        )
        .bind(program_id)
        .bind(from)
        .bind(to)
        .fetch_one(self.reads())
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }
}

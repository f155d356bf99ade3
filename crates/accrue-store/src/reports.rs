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

/// Confirmed purchases of one program-local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchaseDay {
    /// Program-local days since 1970-01-01.
    pub day: i64,
    pub count: i64,
    /// The cheques' totals after all discounts, in the till's minor units.
    pub revenue: i64,
}

/// The referral program's funnel over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReferralFunnel {
    /// Invite links opened.
    pub clicks: i64,
    /// Members who joined with an invitation.
    pub registrations: i64,
    /// Of those, the ones approved (not in review, not rejected).
    pub approved: i64,
    /// Invitations that paid a reward in the period.
    pub rewarded: i64,
}

impl Store {
    /// Purchases confirmed within `from`..`to`, by program-local day of their Confirm.
    pub async fn purchases_by_day(
        &self,
        program_id: i64,
        from: Millis,
        to: Millis,
        utc_offset_minutes: i32,
    ) -> Result<Vec<PurchaseDay>, StoreError> {
        let total = match self.dialect() {
            crate::Dialect::Sqlite => "json_extract(cheque, '$.calculation.total_amount')",
            crate::Dialect::Postgres => "CAST(CAST(cheque AS jsonb) #>> '{calculation,total_amount}' AS BIGINT)",
        };
        let sql = format!(
            "SELECT (resolved_at + $4) / $5, COUNT(*), CAST(COALESCE(SUM({total}), 0) AS BIGINT) FROM purchases \
             WHERE program_id = $1 AND state = 'confirmed' AND resolved_at >= $2 AND resolved_at < $3 \
             GROUP BY 1 ORDER BY 1"
        );
        let rows = sqlx::query(&sql)
            .bind(program_id)
            .bind(from)
            .bind(to)
            .bind(i64::from(utc_offset_minutes) * 60_000)
            .bind(DAY_MS)
            .fetch_all(self.reads())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(PurchaseDay {
                    day: row.try_get(0)?,
                    count: row.try_get(1)?,
                    revenue: row.try_get(2)?,
                })
            })
            .collect()
    }

    /// Invite clicks, invited registrations (and how many were approved), and invitations
    /// that paid a reward, within `from`..`to`.
    pub async fn referral_funnel(
        &self,
        program_id: i64,
        from: Millis,
        to: Millis,
    ) -> Result<ReferralFunnel, StoreError> {
        let row = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM referral_clicks WHERE program_id = $1 AND created_at >= $2 AND created_at < $3), \
             (SELECT COUNT(*) FROM referrals WHERE program_id = $1 AND created_at >= $2 AND created_at < $3), \
             (SELECT COUNT(*) FROM referrals WHERE program_id = $1 AND created_at >= $2 AND created_at < $3 AND state = 'approved'), \
             (SELECT COUNT(DISTINCT referral_id) FROM referral_rewards \
              WHERE program_id = $1 AND state = 'paid' AND created_at >= $2 AND created_at < $3)",
        )
        .bind(program_id)
        .bind(from)
        .bind(to)
        .fetch_one(self.reads())
        .await?;
        Ok(ReferralFunnel {
            clicks: row.try_get(0)?,
            registrations: row.try_get(1)?,
            approved: row.try_get(2)?,
            rewarded: row.try_get(3)?,
        })
    }
}

//! Rate limits kept in the database, so that every server sharing it draws on one
//! allowance. Each key has a token bucket holding a minute's allowance, refilled evenly;
//! taking a token is one conditional upsert inside the caller's transaction, so a
//! refused call (which rolls its transaction back) takes nothing and writes nothing.

use crate::{StoreError, Tx};
use accrue_core::Millis;
use sqlx::Row;

/// Bucket contents are counted in these units per token: a bucket refills by exactly
/// `per_minute` units each millisecond.
const UNITS: i64 = 60_000;

/// Takes one token of `key`'s bucket (`per_minute` tokens a minute). A bucket whose limit
/// changed starts full. Refused with [`StoreError::RateLimited`] and the seconds to wait.
pub(crate) async fn take(tx: &mut Tx, key: &str, per_minute: i64) -> Result<(), StoreError> {
    let per_minute = per_minute.max(1);
    let capacity = per_minute * UNITS;
    let filled =
        "(CASE WHEN rate_buckets.units + (CASE WHEN $4 > rate_buckets.at THEN $4 - rate_buckets.at ELSE 0 END) \
                  * rate_buckets.per_minute > $3 THEN $3 ELSE rate_buckets.units + (CASE WHEN $4 > rate_buckets.at \
                  THEN $4 - rate_buckets.at ELSE 0 END) * rate_buckets.per_minute END)";
    let sql = format!(
        "INSERT INTO rate_buckets (key, per_minute, units, at) VALUES ($1, $2, $3 - {UNITS}, $4) \
         ON CONFLICT (key) DO UPDATE SET \
         units = CASE WHEN rate_buckets.per_minute <> $2 THEN $3 - {UNITS} ELSE {filled} - {UNITS} END, \
         per_minute = $2, at = CASE WHEN $4 > rate_buckets.at THEN $4 ELSE rate_buckets.at END \
         WHERE rate_buckets.per_minute <> $2 OR {filled} >= {UNITS} RETURNING units"
    );
    let taken = sqlx::query(&sql)
        .bind(key)
        .bind(per_minute)
        .bind(capacity)
        .bind(tx.now)
        .fetch_optional(tx.conn())
        .await?;
    if taken.is_some() {
        return Ok(());
    }
    let row = sqlx::query("SELECT units, at FROM rate_buckets WHERE key = $1")
        .bind(key)
        .fetch_one(tx.conn())
        .await?;
    let (units, at): (i64, Millis) = (row.try_get(0)?, row.try_get(1)?);
    let now_units = units + (tx.now - at).max(0) * per_minute;
    let wait_ms = (UNITS - now_units).max(0) / per_minute;
    Err(StoreError::RateLimited {
        retry_after: ((wait_ms + 999) / 1000).max(1),
    })
}

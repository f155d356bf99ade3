//! Rate limits kept in the database, so that every server sharing it draws on one
//! allowance. Each key has a token bucket holding a minute's allowance, refilled evenly;
//! taking a token is a conditional upsert inside the caller's transaction, so a refused
//! call (which rolls its transaction back) takes nothing and writes nothing.
//!
//! A busy key would make every call wait for the previous one's commit on its row, so
//! high limits are split over up to [`MAX_SHARDS`] rows, each with its share of the
//! allowance (as hot system accounts spread their balance). A call tries one shard at
//! random, waiting for its row if need be; when that one is empty it takes from any other
//! shard with a token whose row nobody holds (never waiting while it holds a row, so
//! calls cannot deadlock). The shares sum to the limit, so it is never exceeded; near the
//! limit a call may be refused while a busy shard still has a token.

use crate::{StoreError, Tx};
use accrue_core::Millis;
use rand::Rng;
use sqlx::Row;

/// A shard refills by `per_minute` units each millisecond: a minute's allowance is
/// `per_minute * UNITS` units, and a token costs `UNITS` units per shard.
const UNITS: i64 = 60_000;
const MAX_SHARDS: i64 = 8;
/// A shard holds at least this many tokens of a minute's allowance.
const TOKENS_PER_SHARD: i64 = 100;

fn shards(per_minute: i64) -> i64 {
    (per_minute / TOKENS_PER_SHARD).clamp(1, MAX_SHARDS)
}

/// Takes one token of `key`'s bucket (`per_minute` tokens a minute). A bucket whose limit
/// changed starts full. Refused with [`StoreError::RateLimited`] and the seconds to wait.
pub(crate) async fn take(tx: &mut Tx, key: &str, per_minute: i64) -> Result<(), StoreError> {
    let per_minute = per_minute.max(1);
    let shards = shards(per_minute);
    let shard = rand::thread_rng().gen_range(0..shards);
    if take_from(tx, key, shard, per_minute, shards).await? || take_from_any(tx, key, per_minute, shards).await? {
        return Ok(());
    }
    Err(StoreError::RateLimited {
        retry_after: seconds_to_wait(tx, key, per_minute, shards).await?,
    })
}

/// The shard's tokens now: what it held plus what it refilled since, up to its share.
/// `$n` placeholders: `{share}` units of a full shard, `{now}`.
fn filled(share: &str, now: &str) -> String {
    let grown = format!(
        "rate_buckets.units + (CASE WHEN {now} > rate_buckets.at THEN {now} - rate_buckets.at ELSE 0 END) \
         * rate_buckets.per_minute"
    );
    format!("(CASE WHEN {grown} > {share} THEN {share} ELSE {grown} END)")
}

/// Takes a token from one shard; whether it had one.
async fn take_from(tx: &mut Tx, key: &str, shard: i64, per_minute: i64, shards: i64) -> Result<bool, StoreError> {
    let cost = UNITS * shards;
    let filled = filled("$4", "$5");
    let sql = format!(
        "INSERT INTO rate_buckets (key, shard, per_minute, units, at) VALUES ($1, $2, $3, $4 - $6, $5) \
         ON CONFLICT (key, shard) DO UPDATE SET \
         units = CASE WHEN rate_buckets.per_minute <> $3 THEN $4 - $6 ELSE {filled} - $6 END, \
         per_minute = $3, at = CASE WHEN $5 > rate_buckets.at THEN $5 ELSE rate_buckets.at END \
         WHERE rate_buckets.per_minute <> $3 OR {filled} >= $6 RETURNING units"
    );
    let taken = sqlx::query(&sql)
        .bind(key)
        .bind(shard)
        .bind(per_minute)
        .bind(per_minute * UNITS)
        .bind(tx.now)
        .bind(cost)
        .fetch_optional(tx.conn())
        .await?;
    Ok(taken.is_some())
}

/// Takes a token from any shard of the key that has one and is not locked by another
/// call; whether there was one.
async fn take_from_any(tx: &mut Tx, key: &str, per_minute: i64, shards: i64) -> Result<bool, StoreError> {
    let skip_locked = match tx.dialect {
        crate::Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        crate::Dialect::Sqlite => "",
    };
    let filled = filled("$3", "$4");
    let sql = format!(
        "UPDATE rate_buckets SET units = {filled} - $5, at = CASE WHEN $4 > at THEN $4 ELSE at END \
         WHERE key = $1 AND shard = (SELECT shard FROM rate_buckets WHERE key = $1 AND shard < $6 \
         AND per_minute = $2 AND {filled} >= $5 LIMIT 1{skip_locked}) RETURNING units"
    );
    let taken = sqlx::query(&sql)
        .bind(key)
        .bind(per_minute)
        .bind(per_minute * UNITS)
        .bind(tx.now)
        .bind(UNITS * shards)
        .bind(shards)
        .fetch_optional(tx.conn())
        .await?;
    Ok(taken.is_some())
}

/// When the fullest shard of `key` will hold a token again.
async fn seconds_to_wait(tx: &mut Tx, key: &str, per_minute: i64, shards: i64) -> Result<i64, StoreError> {
    let rows = sqlx::query("SELECT units, at FROM rate_buckets WHERE key = $1 AND shard < $2")
        .bind(key)
        .bind(shards)
        .fetch_all(tx.conn())
        .await?;
    let mut wait_ms = i64::MAX;
    for row in rows {
        let (units, at): (i64, Millis) = (row.try_get(0)?, row.try_get(1)?);
        let now_units = units + (tx.now - at).max(0) * per_minute;
        wait_ms = wait_ms.min((UNITS * shards - now_units).max(0) / per_minute);
    }
    Ok(((wait_ms.min(60_000) + 999) / 1000).max(1))
}

#[cfg(test)]
mod tests {
    use super::take;
    use crate::testing::TestDb;
    use crate::{Clock, Store, StoreError};
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    async fn taken(store: &Store, per_minute: i64, calls: usize) -> usize {
        let tasks: Vec<_> = (0..calls)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .write(move |tx| Box::pin(async move { take(tx, "k", per_minute).await }))
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => ok += 1,
                Err(StoreError::RateLimited { retry_after }) => assert!((1..=60).contains(&retry_after)),
                Err(e) => panic!("{e}"),
            }
        }
        ok
    }

    async fn a_minutes_allowance_exactly(db: TestDb) {
        let now = Arc::new(AtomicI64::new(1_000_000));
        let store = Store::open_with_clock(&db.url, Clock::Manual(now.clone()))
            .await
            .unwrap();
        // 8 shards of 125 tokens, drawn from by callers at once: never more than the
        // limit; on PostgreSQL a call may skip a shard another call holds at that moment.
        let within = |n: usize| (990..=1000).contains(&n);
        let first = taken(&store, 1000, 1200).await;
        assert!(within(first), "{first}");
        now.fetch_add(6_000, Ordering::SeqCst);
        // A tenth of a minute refills a tenth: 12.5 tokens a shard, of which 12 are whole.
        let refilled = taken(&store, 1000, 200).await;
        assert!((90..=96).contains(&refilled), "{refilled}");
        now.fetch_add(60_000, Ordering::SeqCst);
        let full = taken(&store, 1000, 1200).await;
        assert!(within(full), "never more than a minute's worth: {full}");
        // A small limit is one row, exact.
        assert_eq!(taken(&store, 3, 10).await, 3, "a changed limit starts full");
        store.close().await;
    }

    crate::on_both_backends!(a_minutes_allowance_exactly);
}

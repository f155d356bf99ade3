//! Rate limiting of postbacks per integration: a token bucket holding a minute's
//! allowance. A postback over the limit is answered 429 with `Retry-After`, never
//! dropped silently, so the partner program retries it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Postbacks naming unknown integrations share this bucket and limit.
pub const UNKNOWN: i64 = 0;
pub const UNKNOWN_PER_MINUTE: i64 = 600;

#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<i64, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// The allowance the bucket was filled for; a changed limit starts a full bucket.
    per_minute: i64,
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// Takes one token of `key`'s bucket (`per_minute` tokens, refilled evenly);
    /// `Err(seconds)` says when to come back.
    pub fn take(&self, key: i64, per_minute: i64, now: Instant) -> Result<(), u64> {
        let capacity = per_minute.max(1) as f64;
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let full = Bucket {
            per_minute,
            tokens: capacity,
            at: now,
        };
        let bucket = buckets.entry(key).or_insert(full);
        if bucket.per_minute != per_minute {
            *bucket = full;
        }
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_minutes_allowance_then_429_then_refill() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        for _ in 0..60 {
            assert_eq!(limiter.take(1, 60, start), Ok(()));
        }
        assert_eq!(limiter.take(1, 60, start), Err(1));
        assert_eq!(limiter.take(2, 60, start), Ok(()), "buckets are per integration");
        assert_eq!(limiter.take(1, 60, start + Duration::from_secs(1)), Ok(()));
        assert_eq!(
            limiter.take(1, 120, start + Duration::from_secs(1)),
            Ok(()),
            "a new limit, a full bucket"
        );
    }
}

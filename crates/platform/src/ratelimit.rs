//! Fixed-window rate limits, in memory per node or shared by all nodes through Redis.
//! One limiter with one behaviour on both backends; if Redis fails the node falls back to its
//! own counters rather than letting everything through or refusing everything.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::redis::Redis;

/// A limit: at most `max` hits per `window`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    pub const fn per_minute(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(60),
        }
    }
}

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for the `Retry-After` header (at least 1).
    pub fn seconds(self) -> u64 {
        self.0.as_secs_f64().ceil().max(1.0) as u64
    }
}

pub struct RateLimiter {
    clock: SharedClock,
    redis: Option<Redis>,
    local: Mutex<HashMap<String, (i64, u32)>>,
    last_warning: std::sync::atomic::AtomicI64,
}

const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

impl RateLimiter {
    pub fn new(clock: SharedClock, redis: Option<Redis>) -> Self {
        Self {
            clock,
            redis,
            local: Mutex::new(HashMap::new()),
            last_warning: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Counts a hit on `key`; refuses once the window's count is above the limit.
    pub async fn hit(&self, key: &str, limit: Limit) -> Result<(), RetryAfter> {
        self.count(key, limit, 1).await
    }

    /// Refuses if `key` is already at its limit, without counting (for lockouts that count
    /// only failures).
    pub async fn check(&self, key: &str, limit: Limit) -> Result<(), RetryAfter> {
        self.count(key, limit, 0).await
    }

    async fn count(&self, key: &str, limit: Limit, add: u32) -> Result<(), RetryAfter> {
        let window_ms = limit.window.as_millis().max(1) as i64;
        let now = self.clock.now().as_millis();
        let window = now.div_euclid(window_ms);
        let retry = RetryAfter(Duration::from_millis(
            ((window + 1) * window_ms - now) as u64,
        ));
        let allowed_after = if add == 0 {
            limit.max.saturating_sub(1)
        } else {
            limit.max
        };

        if let Some(redis) = &self.redis {
            let counted = tokio::time::timeout(
                REDIS_TIMEOUT,
                self.count_in_redis(redis, key, window, window_ms, add),
            )
            .await;
            match counted {
                Ok(Ok(count)) => {
                    return if count > allowed_after {
                        Err(retry)
                    } else {
                        Ok(())
                    };
                }
                Ok(Err(err)) => self.warn_fallback(&err.to_string()),
                Err(_) => self.warn_fallback("no answer within 500 ms"),
            }
        }

        let mut map = self.local.lock().expect("rate limiter lock poisoned");
        if map.len() > 100_000 {
            map.retain(|_, (w, _)| *w == window);
        }
        let entry = map.entry(key.to_string()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(add);
        if entry.1 > allowed_after {
            Err(retry)
        } else {
            Ok(())
        }
    }

    /// Logs the fall-back at most once a minute, not once per request.
    fn warn_fallback(&self, why: &str) {
        let now = self.clock.now().as_millis();
        let last = self.last_warning.load(std::sync::atomic::Ordering::Relaxed);
        if now - last > 60_000 {
            self.last_warning
                .store(now, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                reason = why,
                "rate limit: Redis unavailable, using this node's counters"
            );
        }
    }

    async fn count_in_redis(
        &self,
        redis: &Redis,
        key: &str,
        window: i64,
        window_ms: i64,
        add: u32,
    ) -> redis::RedisResult<u32> {
        let key = redis.key(&format!("rl:{key}:{window}"));
        let mut conn = redis.manager.clone();
        let (count,): (u32,) = redis::pipe()
            .atomic()
            .cmd("INCRBY")
            .arg(&key)
            .arg(add)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(window_ms + 1000)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::Timestamp;

    #[tokio::test]
    async fn refuses_over_the_limit_until_the_window_ends() {
        let clock = ManualClock::new(Timestamp::from_millis(60_000 * 1000));
        let limiter = RateLimiter::new(Arc::new(clock.clone()), None);
        let limit = Limit::per_minute(2);
        assert!(limiter.hit("k", limit).await.is_ok());
        assert!(limiter.hit("k", limit).await.is_ok());
        clock.advance(Duration::from_secs(15));
        let refused = limiter.hit("k", limit).await.unwrap_err();
        assert_eq!(refused.seconds(), 45);
        assert!(limiter.hit("other", limit).await.is_ok());
        clock.advance(Duration::from_secs(45));
        assert!(limiter.hit("k", limit).await.is_ok());
    }

    #[tokio::test]
    async fn check_does_not_count() {
        let clock = ManualClock::new(Timestamp::from_millis(0));
        let limiter = RateLimiter::new(Arc::new(clock), None);
        let limit = Limit::per_minute(1);
        for _ in 0..5 {
            assert!(limiter.check("k", limit).await.is_ok());
        }
        limiter.hit("k", limit).await.unwrap();
        assert!(limiter.check("k", limit).await.is_err());
    }
}

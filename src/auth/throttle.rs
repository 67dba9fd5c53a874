//! In-memory throttles against guessing and floods, one set per running instance:
//! a fixed-window request limit per client IP for the sensitive endpoints, and a growing back-off
//! per email address after repeated failed sign-ins (whether or not the account exists, so the
//! back-off reveals nothing about which addresses have accounts).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `limit` requests per `window` for each key.
pub struct RateLimiter<K> {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<K, (Instant, u32)>>,
}

/// Entries kept before stale ones are swept; bounds memory under a flood of distinct keys.
const SWEEP_AT: usize = 10_000;

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request; `Err(wait)` when the key is over its limit.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut windows = self.windows.lock().expect("throttle lock");
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = windows.entry(key.clone()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return Err(self.window - now.duration_since(entry.0));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// After `free_failures` failures, each further failure locks the key for twice as long as the
/// last, from `base` up to `max`. A success clears the key.
pub struct FailureBackoff {
    free_failures: u32,
    base: Duration,
    max: Duration,
    state: Mutex<HashMap<String, (u32, Instant)>>,
}

impl FailureBackoff {
    pub fn new(free_failures: u32, base: Duration, max: Duration) -> Self {
        FailureBackoff {
            free_failures,
            base,
            max,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while the key is locked.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let state = self.state.lock().expect("backoff lock");
        match state.get(key) {
            Some((_, until)) if *until > now => Err(*until - now),
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, key: &str, now: Instant) {
        let mut state = self.state.lock().expect("backoff lock");
        if state.len() >= SWEEP_AT {
            state.retain(|_, (_, until)| now.duration_since(*until) < self.max);
        }
        let entry = state.entry(key.to_owned()).or_insert((0, now));
        entry.0 += 1;
        if entry.0 > self.free_failures {
            let doublings = (entry.0 - self.free_failures - 1).min(16);
            let lock = self.base.saturating_mul(1 << doublings).min(self.max);
            entry.1 = now + lock;
        }
    }

    pub fn record_success(&self, key: &str) {
        self.state.lock().expect("backoff lock").remove(key);
    }
}

/// Whole seconds for a `Retry-After` header, never 0.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_allows_the_limit_then_refuses_until_the_window_ends() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.check(&"a", t0).is_ok());
        assert!(limiter.check(&"a", t0).is_ok());
        let wait = limiter
            .check(&"a", t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(limiter.check(&"b", t0).is_ok(), "keys are independent");
        assert!(
            limiter.check(&"a", t0 + Duration::from_secs(60)).is_ok(),
            "new window"
        );
    }

    #[test]
    fn backoff_locks_after_free_failures_and_doubles() {
        let backoff = FailureBackoff::new(2, Duration::from_secs(30), Duration::from_secs(100));
        let t0 = Instant::now();
        backoff.record_failure("k", t0);
        backoff.record_failure("k", t0);
        assert!(backoff.check("k", t0).is_ok(), "two free failures");
        backoff.record_failure("k", t0);
        assert_eq!(backoff.check("k", t0).unwrap_err(), Duration::from_secs(30));
        backoff.record_failure("k", t0);
        assert_eq!(backoff.check("k", t0).unwrap_err(), Duration::from_secs(60));
        backoff.record_failure("k", t0);
        assert_eq!(
            backoff.check("k", t0).unwrap_err(),
            Duration::from_secs(100),
            "capped"
        );
        backoff.record_success("k");
        assert!(backoff.check("k", t0).is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}

//! In-memory throttles against guessing and floods, one set per running instance:
//! a fixed-window request limit per client IP for the sensitive endpoints, and a growing back-off
//! per email address after repeated failed sign-ins (whether or not the account exists, so the
//! back-off reveals nothing about which addresses have accounts).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `limit` requests per `window` for each key.
pub struct RateLimiter<K> {
    limit: u32,
    window: Duration,
    windows: Mutex<Keyed<K, (Instant, u32)>>,
}

/// Entries kept before stale ones are swept.
const SWEEP_AT: usize = 10_000;
/// A flood of distinct keys beyond this empties the map: memory stays bounded, at the price of
/// forgetting counts during such an attack (the per-address back-off and the database still hold).
const HARD_CAP: usize = 100_000;

/// A map that sweeps stale entries at most once per `every`, so a flood of fresh keys does not
/// make every request scan it.
struct Keyed<K, V> {
    map: HashMap<K, V>,
    last_sweep: Option<Instant>,
}

impl<K: Eq + Hash, V> Keyed<K, V> {
    fn new() -> Self {
        Keyed {
            map: HashMap::new(),
            last_sweep: None,
        }
    }

    fn sweep(&mut self, now: Instant, every: Duration, keep: impl FnMut(&K, &mut V) -> bool) {
        if self.map.len() >= HARD_CAP {
            self.map.clear();
            return;
        }
        if self.map.len() < SWEEP_AT
            || self
                .last_sweep
                .is_some_and(|last| now.duration_since(last) < every)
        {
            return;
        }
        self.last_sweep = Some(now);
        self.map.retain(keep);
    }
}

/// The key a client is limited by: its IPv4 address, or the /64 network of its IPv6 address
/// (one subscriber usually holds a whole /64, so single addresses would be trivial to rotate).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !0xffff_ffff_ffff_ffff)),
        },
        v4 => v4,
    }
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit,
            window,
            windows: Mutex::new(Keyed::new()),
        }
    }

    /// Counts a request; `Err(wait)` when the key is over its limit.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut windows = self.windows.lock().expect("throttle lock");
        let window = self.window;
        windows.sweep(now, window / 4, |_, (start, _)| {
            now.duration_since(*start) < window
        });
        let entry = windows.map.entry(key.clone()).or_insert((now, 0));
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
    state: Mutex<Keyed<String, (u32, Instant)>>,
}

impl FailureBackoff {
    pub fn new(free_failures: u32, base: Duration, max: Duration) -> Self {
        FailureBackoff {
            free_failures,
            base,
            max,
            state: Mutex::new(Keyed::new()),
        }
    }

    /// `Err(wait)` while the key is locked.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let state = self.state.lock().expect("backoff lock");
        match state.map.get(key) {
            Some((_, until)) if *until > now => Err(*until - now),
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, key: &str, now: Instant) {
        let mut state = self.state.lock().expect("backoff lock");
        let max = self.max;
        state.sweep(now, Duration::from_secs(1), |_, (_, until)| {
            now.saturating_duration_since(*until) < max
        });
        let entry = state.map.entry(key.to_owned()).or_insert((0, now));
        entry.0 += 1;
        if entry.0 > self.free_failures {
            let doublings = (entry.0 - self.free_failures - 1).min(16);
            let lock = self.base.saturating_mul(1 << doublings).min(self.max);
            entry.1 = now + lock;
        }
    }

    pub fn record_success(&self, key: &str) {
        self.state.lock().expect("backoff lock").map.remove(key);
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
    fn ipv6_clients_are_limited_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_key(v4), v4);
    }

    #[test]
    fn a_flood_of_fresh_keys_stays_bounded() {
        let limiter = RateLimiter::new(5, Duration::from_secs(60));
        let t0 = Instant::now();
        for n in 0..(HARD_CAP as u32 + 10) {
            limiter.check(&n, t0).unwrap();
        }
        assert!(limiter.windows.lock().unwrap().map.len() <= HARD_CAP);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}

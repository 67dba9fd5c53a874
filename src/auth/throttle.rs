//! In-memory throttles against guessing and floods, one set per running instance: a per-client
//! request limit for the sensitive endpoints (GCRA through `governor`, so a client that waits the
//! `Retry-After` it was given is served), and a growing back-off per email address after repeated
//! failed sign-ins (whether or not the account exists, so it reveals nothing about which addresses
//! have accounts).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Gcra};

/// A named per-client limit: `limit` requests per `window`, replenished evenly (one every
/// `window / limit`), so a burst of `limit` is allowed and then one request per interval.
///
/// This is the one interface the handlers see; the store behind it (memory today) can change
/// without them noticing.
pub struct RateLimiter {
    policy: &'static str,
    limit: u32,
    window: Duration,
    gcra: Gcra<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock, StateInformationMiddleware>,
    /// Seconds (since `created`) of the last sweep of idle keys.
    last_sweep: AtomicU64,
    created: Instant,
}

/// What a client learns from a rate-limit check, for the IETF `RateLimit-Policy` and `RateLimit`
/// fields (draft-ietf-httpapi-ratelimit-headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitStatus {
    pub policy: &'static str,
    pub limit: u32,
    pub window_secs: u64,
    /// Requests still allowed right now.
    pub remaining: u32,
    /// Seconds until the whole quota is available again.
    pub reset_secs: u64,
    /// When refused: how long until a request would be served.
    pub retry_after: Option<Duration>,
}

impl RateLimitStatus {
    /// `"sign-up";q=10;w=60`
    pub fn policy_field(&self) -> String {
        format!(
            "\"{}\";q={};w={}",
            self.policy, self.limit, self.window_secs
        )
    }

    /// `"sign-up";r=7;t=12`
    pub fn limit_field(&self) -> String {
        format!(
            "\"{}\";r={};t={}",
            self.policy, self.remaining, self.reset_secs
        )
    }
}

/// Keys held before idle ones are swept (at most once a second); a sweep only drops keys whose
/// quota is whole again, so it never forgets a client that is being limited.
const SWEEP_AT: usize = 10_000;

impl RateLimiter {
    pub fn new(policy: &'static str, limit: u32, window: Duration) -> RateLimiter {
        let limit = limit.max(1);
        let burst = NonZeroU32::new(limit).expect("at least 1");
        let interval = (window / limit).max(Duration::from_nanos(1));
        let quota = Quota::with_period(interval)
            .expect("a positive interval")
            .allow_burst(burst);
        RateLimiter {
            policy,
            limit,
            window,
            gcra: Gcra::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            last_sweep: AtomicU64::new(0),
            created: Instant::now(),
        }
    }

    /// Counts a request from `client`. The status says whether it was allowed
    /// (`retry_after: None`) and what is left.
    pub fn check(&self, client: IpAddr) -> RateLimitStatus {
        self.sweep_idle_keys();
        let interval = self.window / self.limit;
        let status = |remaining: u32, retry_after: Option<Duration>| {
            let reset = interval * (self.limit - remaining);
            RateLimitStatus {
                policy: self.policy,
                limit: self.limit,
                window_secs: self.window.as_secs(),
                remaining,
                reset_secs: whole_seconds(reset),
                retry_after,
            }
        };
        match self.gcra.check_key(&client_key(client)) {
            Ok(snapshot) => status(snapshot.remaining_burst_capacity(), None),
            Err(refused) => {
                let wait = refused.wait_time_from(self.gcra.clock().now());
                status(0, Some(wait))
            }
        }
    }

    fn sweep_idle_keys(&self) {
        if self.gcra.len() < SWEEP_AT {
            return;
        }
        let now = self.created.elapsed().as_secs();
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now > last
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.gcra.retain_recent();
            self.gcra.shrink_to_fit();
        }
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

/// The back-off's keys and when they were last swept.
struct Keyed<K, V> {
    map: HashMap<K, V>,
    last_sweep: Option<Instant>,
}

/// After `free_failures` failures, each further failure locks the key for twice as long as the
/// last, from `base` up to `max`. A success clears the key.
pub struct FailureBackoff {
    free_failures: u32,
    base: Duration,
    max: Duration,
    state: Mutex<Keyed<String, (u32, Instant)>>,
}

/// Keys held before idle ones are swept (at most once a second). Over `BACKOFF_CAP` keys, those
/// not locked are dropped first; a locked key is never forgotten before its lock ends.
const BACKOFF_SWEEP_AT: usize = 10_000;
const BACKOFF_CAP: usize = 100_000;

impl FailureBackoff {
    pub fn new(free_failures: u32, base: Duration, max: Duration) -> Self {
        FailureBackoff {
            free_failures,
            base,
            max,
            state: Mutex::new(Keyed {
                map: HashMap::new(),
                last_sweep: None,
            }),
        }
    }

    /// Counts an attempt for `key` as a failure before its slow password check, under one lock,
    /// so that parallel guesses all count; `Err(wait)` while the key is locked. After
    /// `free_failures`, each further attempt locks the key for twice as long as the last, from
    /// `base` up to `max`. `record_success` clears the key.
    pub fn begin_attempt(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().expect("backoff lock");
        self.sweep(&mut state, now);
        let entry = state.map.entry(key.to_owned()).or_insert((0, now));
        if entry.1 > now {
            return Err(entry.1 - now);
        }
        entry.0 += 1;
        if entry.0 > self.free_failures {
            let doublings = (entry.0 - self.free_failures - 1).min(16);
            entry.1 = now + self.base.saturating_mul(1 << doublings).min(self.max);
        }
        Ok(())
    }

    pub fn record_success(&self, key: &str) {
        self.state.lock().expect("backoff lock").map.remove(key);
    }

    fn sweep(&self, state: &mut Keyed<String, (u32, Instant)>, now: Instant) {
        let due = state.map.len() >= BACKOFF_SWEEP_AT
            && state
                .last_sweep
                .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(1));
        if !due {
            return;
        }
        state.last_sweep = Some(now);
        // A key idle for longer than the longest lock starts afresh anyway.
        let max = self.max;
        state
            .map
            .retain(|_, (_, until)| now.saturating_duration_since(*until) < max);
        if state.map.len() >= BACKOFF_CAP {
            state.map.retain(|_, (_, until)| *until > now);
        }
    }
}

/// Whole seconds for a `Retry-After` header, rounded up (so waiting them is always enough), never 0.
pub fn retry_after_secs(wait: Duration) -> u64 {
    whole_seconds(wait).max(1)
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn rate_limiter_allows_a_burst_then_one_request_per_interval() {
        let limiter = RateLimiter::new("sign-up", 3, Duration::from_secs(60));
        let first = limiter.check(CLIENT);
        assert_eq!((first.remaining, first.retry_after), (2, None));
        assert_eq!(
            first.reset_secs, 20,
            "one request used: whole again in 20 s"
        );
        assert_eq!(first.policy_field(), "\"sign-up\";q=3;w=60");
        assert_eq!(first.limit_field(), "\"sign-up\";r=2;t=20");
        limiter.check(CLIENT);
        assert_eq!(limiter.check(CLIENT).remaining, 0);
        let refused = limiter.check(CLIENT);
        let wait = refused.retry_after.expect("refused");
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "the next request is 20 s after the first: {wait:?}"
        );
        assert_eq!(retry_after_secs(wait), 20);
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
        assert!(
            limiter.check(other).retry_after.is_none(),
            "clients are independent"
        );
    }

    #[test]
    fn a_flood_of_fresh_clients_is_swept_without_forgetting_a_limited_one() {
        let limiter = RateLimiter::new("sign-in", 1, Duration::from_secs(3600));
        limiter.check(CLIENT);
        for n in 0..(SWEEP_AT as u32 + 10) {
            limiter.check(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
        }
        assert!(limiter.check(CLIENT).retry_after.is_some());
    }

    #[test]
    fn backoff_counts_attempts_locks_after_free_ones_and_doubles() {
        let backoff = FailureBackoff::new(2, Duration::from_secs(30), Duration::from_secs(100));
        let t0 = Instant::now();
        assert!(backoff.begin_attempt("k", t0).is_ok());
        assert!(backoff.begin_attempt("k", t0).is_ok(), "two free attempts");
        assert!(
            backoff.begin_attempt("k", t0).is_ok(),
            "the third is checked, and locks"
        );
        assert_eq!(
            backoff.begin_attempt("k", t0).unwrap_err(),
            Duration::from_secs(30)
        );
        let t1 = t0 + Duration::from_secs(30);
        assert!(backoff.begin_attempt("k", t1).is_ok());
        assert_eq!(
            backoff.begin_attempt("k", t1).unwrap_err(),
            Duration::from_secs(60)
        );
        let t2 = t1 + Duration::from_secs(60);
        assert!(backoff.begin_attempt("k", t2).is_ok());
        assert_eq!(
            backoff.begin_attempt("k", t2).unwrap_err(),
            Duration::from_secs(100),
            "capped"
        );
        backoff.record_success("k");
        assert!(backoff.begin_attempt("k", t2).is_ok());
    }

    #[test]
    fn a_flood_of_addresses_never_unlocks_a_locked_one() {
        let backoff = FailureBackoff::new(0, Duration::from_secs(600), Duration::from_secs(900));
        let t0 = Instant::now();
        backoff.begin_attempt("victim", t0).unwrap();
        for n in 0..(BACKOFF_CAP + 10) {
            let _ = backoff.begin_attempt(&format!("flood{n}"), t0 + Duration::from_secs(2));
        }
        let later = t0 + Duration::from_secs(3);
        assert!(backoff.begin_attempt("victim", later).is_err());
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
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_nanos(3_000_000_001)), 4);
    }
}

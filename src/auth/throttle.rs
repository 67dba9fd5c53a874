//! The rules of the throttles against guessing and floods, in plain Rust: a per-client request
//! limit (GCRA, so a client that waits the `Retry-After` it was given is served), and a growing
//! back-off per email address after repeated failed sign-ins (whether or not the account exists,
//! so it reveals nothing about which addresses have accounts).
//!
//! The counting itself happens in PostgreSQL (`db::throttles`), one atomic statement per check,
//! so every instance over the database shares each limit exactly; this module says what a count
//! means and how keys are made.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A named per-client limit: `limit` requests per `window`, replenished evenly (one every
/// `window / limit`), so a burst of `limit` is allowed and then one request per interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub policy: &'static str,
    pub limit: u32,
    pub window: Duration,
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

impl RateLimit {
    pub fn new(policy: &'static str, limit: u32, window: Duration) -> RateLimit {
        RateLimit {
            policy,
            limit: limit.max(1),
            window,
        }
    }

    /// How much of the window one request uses up.
    pub fn interval(&self) -> Duration {
        (self.window / self.limit).max(Duration::from_micros(1))
    }

    /// The status of a request the store counted: `allowed` or not, and `ahead`, how far the
    /// client's quota-is-whole-again time now lies in the future (GCRA's theoretical arrival
    /// time minus now).
    pub fn status(&self, allowed: bool, ahead: Duration) -> RateLimitStatus {
        let interval = self.interval();
        let ahead = ahead.min(self.window + interval);
        let (remaining, retry_after) = if allowed {
            let room = self.window.saturating_sub(ahead);
            let remaining = (room.as_micros() / interval.as_micros()).min(u128::from(self.limit));
            (remaining as u32, None)
        } else {
            (0, Some((ahead + interval).saturating_sub(self.window)))
        };
        RateLimitStatus {
            policy: self.policy,
            limit: self.limit,
            window_secs: self.window.as_secs(),
            remaining,
            reset_secs: whole_seconds(ahead),
            retry_after,
        }
    }
}

/// Refusals this instance made, remembered until they end, so a client that keeps knocking is
/// answered from memory instead of costing the database a write each time. Never lets a client
/// past the shared limit: a client refused with `Retry-After: r` would be refused by the shared
/// count for all of `r` too (its quota-whole time only ever moves forward, whichever instance
/// counts), so this only answers earlier what the database would answer.
#[derive(Default)]
pub struct Refusals(Mutex<HashMap<(&'static str, Vec<u8>), Instant>>);

/// Refusals held before the ended ones are dropped; past it even standing ones may be forgotten
/// (then the database answers, which is always right).
const REFUSALS_HELD: usize = 100_000;

impl Refusals {
    /// How far ahead the client's quota-whole time lies, if this instance refused `key` and that
    /// refusal still stands.
    pub fn standing(&self, limit: &RateLimit, key: &[u8], now: Instant) -> Option<Duration> {
        let refusals = self.0.lock().expect("refusals lock");
        let whole_at = refusals.get(&(limit.policy, key.to_vec()))?;
        let ahead = whole_at.checked_duration_since(now)?;
        (ahead + limit.interval() > limit.window).then_some(ahead)
    }

    /// The database refused `key` with its quota whole again `ahead` from `counted_at` (a time
    /// from before the database was asked, so memory forgets a little early, never late).
    pub fn remember(&self, limit: &RateLimit, key: &[u8], ahead: Duration, counted_at: Instant) {
        // Those whose quota is whole again have surely ended; only they go first.
        let mut refusals = self.0.lock().expect("refusals lock");
        if refusals.len() >= REFUSALS_HELD {
            refusals.retain(|_, whole_at| *whole_at > counted_at);
            if refusals.len() >= REFUSALS_HELD {
                refusals.clear();
            }
        }
        refusals.insert((limit.policy, key.to_vec()), counted_at + ahead);
    }
}

/// After `free_failures` failures, each further failure locks the address for twice as long as
/// the last, from `base` up to `max`. A success clears the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub free_failures: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// How long the `failures`-th failure in a row locks the address for.
    pub fn lock_after(&self, failures: u32) -> Duration {
        if failures <= self.free_failures {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free_failures - 1).min(16);
        self.base.saturating_mul(1 << doublings).min(self.max)
    }

    /// The locks of the failures after the free ones — `lock_after(free + 1)`, `lock_after(free +
    /// 2)`, … — up to the first that reaches its cap: the store applies the last one to every
    /// later failure. At most 17 entries, however many failures are free.
    pub fn schedule(&self) -> Vec<Duration> {
        let mut locks = Vec::new();
        for beyond in 1..=17 {
            let lock = self.lock_after(self.free_failures.saturating_add(beyond));
            locks.push(lock);
            if lock >= self.max {
                break;
            }
        }
        locks
    }
}

/// Turns clients and addresses into the keys the shared throttles are stored under: HMAC-SHA-256
/// with a server secret, so the tables hold no address in the clear and a key cannot be guessed
/// from an address without the secret.
#[derive(Clone)]
pub struct ThrottleKeys {
    secret: Vec<u8>,
}

impl ThrottleKeys {
    /// Keys made with a subkey of `secret` (the server's signing secret), never the secret itself.
    pub fn new(secret: &[u8]) -> ThrottleKeys {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
        mac.update(b"mynorfolk throttle keys");
        ThrottleKeys {
            secret: mac.finalize().into_bytes().to_vec(),
        }
    }

    /// The key of a client's network (see `client_network`).
    pub fn client(&self, ip: IpAddr) -> Vec<u8> {
        self.digest(b"client", client_network(ip).to_string().as_bytes())
    }

    /// The key of a normalised email address.
    pub fn address(&self, normalised_email: &str) -> Vec<u8> {
        self.digest(b"address", normalised_email.as_bytes())
    }

    fn digest(&self, purpose: &[u8], value: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(purpose);
        mac.update(b"\0");
        mac.update(value);
        mac.finalize().into_bytes().to_vec()
    }
}

/// The network a client is limited by: its IPv4 address, or the /64 of its IPv6 address (one
/// subscriber usually holds a whole /64, so single addresses would be trivial to rotate).
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !0xffff_ffff_ffff_ffff)),
        },
        v4 => v4,
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

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_burst_is_allowed_then_one_request_per_interval() {
        let limit = RateLimit::new("sign-up", 3, Duration::from_secs(60));
        assert_eq!(limit.interval(), 20 * SECOND);
        // The store moves the arrival time one interval on per allowed request.
        let first = limit.status(true, 20 * SECOND);
        assert_eq!((first.remaining, first.retry_after), (2, None));
        assert_eq!(
            first.reset_secs, 20,
            "one request used: whole again in 20 s"
        );
        assert_eq!(first.policy_field(), "\"sign-up\";q=3;w=60");
        assert_eq!(first.limit_field(), "\"sign-up\";r=2;t=20");
        assert_eq!(limit.status(true, 40 * SECOND).remaining, 1);
        assert_eq!(limit.status(true, 60 * SECOND).remaining, 0);
        // Refused: the arrival time stays where it was (60 s ahead, a moment ago).
        let refused = limit.status(false, Duration::from_millis(59_990));
        let wait = refused.retry_after.expect("refused");
        assert_eq!(wait, Duration::from_millis(19_990));
        assert_eq!(retry_after_secs(wait), 20);
        assert_eq!((refused.remaining, refused.reset_secs), (0, 60));
    }

    #[test]
    fn a_partly_replenished_quota_counts_whole_requests_only() {
        let limit = RateLimit::new("sign-in", 30, Duration::from_secs(60));
        let status = limit.status(true, Duration::from_millis(5_500));
        assert_eq!(status.remaining, 27, "54.5 s of room is 27 whole intervals");
        assert_eq!(status.reset_secs, 6);
    }

    #[test]
    fn a_remembered_refusal_stands_exactly_as_long_as_the_shared_one() {
        let limit = RateLimit::new("sign-in", 3, Duration::from_secs(60));
        let refusals = Refusals::default();
        let t0 = Instant::now();
        assert_eq!(
            refusals.standing(&limit, b"k", t0),
            None,
            "nothing refused yet"
        );
        // Refused with the quota whole 60 s from now: Retry-After 20 s.
        refusals.remember(&limit, b"k", 60 * SECOND, t0);
        let later = t0 + 19 * SECOND;
        let ahead = refusals
            .standing(&limit, b"k", later)
            .expect("still refused");
        assert_eq!(limit.status(false, ahead).retry_after, Some(SECOND));
        assert_eq!(
            refusals.standing(&limit, b"k", t0 + 20 * SECOND),
            None,
            "then the database is asked"
        );
        assert_eq!(refusals.standing(&limit, b"other", later), None);
        let other_policy = RateLimit::new("sign-up", 3, Duration::from_secs(60));
        assert_eq!(refusals.standing(&other_policy, b"k", later), None);
    }

    #[test]
    fn a_flood_of_refused_clients_is_forgotten_not_hoarded() {
        let limit = RateLimit::new("sign-in", 1, Duration::from_secs(60));
        let refusals = Refusals::default();
        let t0 = Instant::now();
        for n in 0..(REFUSALS_HELD as u32 + 10) {
            refusals.remember(&limit, &n.to_be_bytes(), 60 * SECOND, t0);
        }
        assert!(refusals.0.lock().unwrap().len() <= REFUSALS_HELD);
    }

    #[test]
    fn backoff_frees_some_failures_then_doubles_to_a_cap() {
        let backoff = Backoff {
            free_failures: 2,
            base: 30 * SECOND,
            max: 100 * SECOND,
        };
        let locks: Vec<u64> = (1..=6).map(|f| backoff.lock_after(f).as_secs()).collect();
        assert_eq!(locks, [0, 0, 30, 60, 100, 100]);
        let schedule: Vec<u64> = backoff.schedule().iter().map(Duration::as_secs).collect();
        assert_eq!(
            schedule,
            [30, 60, 100],
            "after the free ones, to the first capped lock"
        );
        let long = Backoff {
            free_failures: 0,
            base: Duration::from_millis(1),
            max: Duration::from_secs(86_400),
        };
        assert_eq!(long.schedule().len(), 17, "doublings stop at 2^16");
        let generous = Backoff {
            free_failures: 1_000_000,
            ..backoff
        };
        assert_eq!(
            generous.schedule().len(),
            3,
            "as short with any number of free failures"
        );
    }

    #[test]
    fn keys_depend_on_the_secret_and_never_hold_the_address() {
        let keys = ThrottleKeys::new(b"one secret");
        let other = ThrottleKeys::new(b"another secret");
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(keys.client(ip), keys.client(ip));
        assert_ne!(keys.client(ip), other.client(ip));
        assert_ne!(keys.address("a@example.org"), keys.address("b@example.org"));
        assert_eq!(keys.address("a@example.org").len(), 32);
        assert_ne!(
            keys.address("192.0.2.7"),
            keys.client(ip),
            "a purpose of its own"
        );
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_network(a), client_network(b));
        assert_ne!(client_network(a), client_network(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            client_network(mapped),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_network(v4), v4);
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

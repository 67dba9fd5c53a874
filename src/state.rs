//! What every request handler can reach: settings, the pool, the readiness probe, the catalogue,
//! the password hasher, the token keys, the throttles, the payment provider, file storage, the
//! signer of links and codes, the cache of rendered lists, and whether the instance is draining. Built once per application; each HTTP
//! worker gets a copy with a pool of its own (`for_worker`), and shares everything else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHasher;
use crate::auth::signed::Signer;
use crate::auth::throttle::{Backoff, RateLimit, Refusals, ThrottleKeys};
use crate::configuration::{LimitSettings, Settings};
use crate::db::DbPool;
use crate::db::applications::Service;
use crate::db::probe::ReadinessProbe;
use crate::db::session_checks::SessionChecks;
use crate::http::list_cache::ListCache;
use crate::payments::PaymentProvider;
use crate::storage::FileStore;

pub struct AppState {
    pub settings: Settings,
    pub pool: DbPool,
    pub readiness: ReadinessProbe,
    /// The live session check behind every access token, batched per worker.
    pub session_checks: SessionChecks,
    pub catalogue: Arc<Catalogue>,
    pub hasher: PasswordHasher,
    pub jwt: JwtKeys,
    pub throttles: Arc<Throttles>,
    pub draining: Draining,
    pub payments: Arc<PaymentProvider>,
    /// Where attachments' files are kept.
    pub files: FileStore,
    /// Signs unsubscribe tokens and permit codes.
    pub signer: Signer,
    /// Residents' application lists as last rendered (served only while still current).
    pub lists: Arc<ListCache>,
}

impl AppState {
    /// This state for one HTTP worker, over `pool`. A worker's connections are made on its own
    /// thread and so drive their I/O there: a query never waits for another worker's thread to
    /// wake up. The throttles, hasher and catalogue stay shared.
    pub fn for_worker(&self, pool: DbPool) -> AppState {
        AppState {
            settings: self.settings.clone(),
            readiness: ReadinessProbe::new(pool.clone()),
            session_checks: SessionChecks::new(pool.clone()),
            pool,
            catalogue: self.catalogue.clone(),
            hasher: self.hasher.clone(),
            jwt: self.jwt.clone(),
            throttles: self.throttles.clone(),
            draining: self.draining.clone(),
            payments: self.payments.clone(),
            files: self.files.clone(),
            signer: self.signer.clone(),
            lists: self.lists.clone(),
        }
    }
}

/// Whether this instance is shutting down (set once, on SIGTERM, for every worker at once): it
/// then reports itself not ready and asks each client to close its connection after the answer,
/// while still serving every request that reaches it.
#[derive(Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The services on offer, read once at start. The catalogue is reference data that only
/// migrations change, and every instance migrates (or finds nothing to do) before it serves, so
/// no request needs to read it from the database.
pub struct Catalogue(Vec<Service>);

impl Catalogue {
    pub fn new(active: Vec<Service>) -> Catalogue {
        Catalogue(active)
    }

    /// Every active service, by code.
    pub fn all(&self) -> &[Service] {
        &self.0
    }

    pub fn find(&self, code: &str) -> Option<&Service> {
        self.0.iter().find(|service| service.code == code)
    }
}

/// The throttles' rules and keys; the counts are in the database (`db::throttles`), shared by
/// every instance.
pub struct Throttles {
    /// Per client: sign-up and email change.
    pub sign_up: RateLimit,
    pub sign_in: RateLimit,
    /// Per client: asking for a reset link and using one.
    pub password_reset: RateLimit,
    /// Per normalised email address.
    pub failed_sign_ins: Backoff,
    /// `failed_sign_ins.schedule()`, worked out once rather than on every sign-in.
    pub failed_sign_in_locks: Vec<Duration>,
    pub keys: ThrottleKeys,
    /// This instance's standing refusals (an answer from memory that the database would give).
    pub refusals: Refusals,
}

impl Throttles {
    pub fn from_settings(limits: &LimitSettings, secret: &[u8]) -> Throttles {
        let minute = Duration::from_secs(60);
        let failed_sign_ins = Backoff {
            free_failures: limits.failed_sign_ins_before_backoff,
            base: Duration::from_secs(limits.backoff_base_secs),
            max: Duration::from_secs(limits.backoff_max_secs),
        };
        Throttles {
            sign_up: RateLimit::new("sign-up", limits.sign_up_per_minute, minute),
            sign_in: RateLimit::new("sign-in", limits.sign_in_per_minute, minute),
            password_reset: RateLimit::new(
                "password-reset",
                limits.password_reset_per_minute,
                minute,
            ),
            failed_sign_in_locks: failed_sign_ins.schedule(),
            failed_sign_ins,
            keys: ThrottleKeys::new(secret),
            refusals: Refusals::default(),
        }
    }
}

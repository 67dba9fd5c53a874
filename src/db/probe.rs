//! The readiness probe: whether the database answers a query now. Concurrent callers share the
//! probe in flight instead of each sending its own `SELECT 1`, so a load balancer polling many
//! times a second costs the database one round trip at a time; every answer still comes from a
//! query that was sent after the previous answer arrived (nothing is cached between probes).

use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use super::DbPool;

type Outcome = Result<(), Arc<anyhow::Error>>;

pub struct ReadinessProbe {
    pool: DbPool,
    in_flight: Mutex<Option<Shared<BoxFuture<'static, Outcome>>>>,
}

impl ReadinessProbe {
    pub fn new(pool: DbPool) -> ReadinessProbe {
        ReadinessProbe {
            pool,
            in_flight: Mutex::new(None),
        }
    }

    /// Joins the probe in flight, or starts one.
    pub async fn check(&self) -> Result<(), anyhow::Error> {
        let probe = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            match &*in_flight {
                Some(probe) => probe.clone(),
                None => {
                    let pool = self.pool.clone();
                    let probe = async move { super::ping(&pool).await.map_err(Arc::new) }
                        .boxed()
                        .shared();
                    *in_flight = Some(probe.clone());
                    probe
                }
            }
        };
        let outcome = probe.clone().await;
        // The first caller to see it finish clears it, so the next one sends a new query.
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if in_flight.as_ref().is_some_and(|p| p.ptr_eq(&probe)) {
            *in_flight = None;
        }
        outcome.map_err(|e| anyhow::anyhow!("{e:#}"))
    }
}

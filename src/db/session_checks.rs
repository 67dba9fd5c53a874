//! The live session check behind every access token, batched: requests that reach one HTTP
//! worker at the same moment share one statement (`sessions::live_sessions`) instead of each
//! taking a connection for its own round trip. Each request still gets an answer from a query sent
//! after it asked (nothing is kept between batches), so a signed-out session, an erased account or
//! a changed role is refused from the next batch on — as fresh as a query per request, at a
//! fraction of the database's work per request when many arrive together. What a batch shares is
//! its failures: a database error (or `CHECK_TIMEOUT`) answers all its requests with a 503/500.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::DbPool;
use super::ids::{AccountId, SessionId};
use super::sessions::{self, LiveSession};

/// Most requests one statement answers; a batch this full is sent at once.
const MAX_BATCH: usize = 64;
/// Longest a batch may take, connection included (the pool's own waits are shorter): a
/// connection that hangs must not hold its requests for ever.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a session could not be checked (the request cannot go on, but nothing is known about
/// the session).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckFailed {
    /// No connection from the pool, or the database went away under it.
    #[error("the database is unreachable: {0}")]
    Unreachable(String),
    #[error("the session check failed: {0}")]
    Failed(String),
}

type Answer = Result<Option<LiveSession>, CheckFailed>;

struct Ask {
    session: SessionId,
    account: AccountId,
    answer: oneshot::Sender<Answer>,
}

/// One worker's batcher, over that worker's pool.
pub struct SessionChecks {
    pool: DbPool,
    /// The batch still taking requests: a task to send it is already scheduled.
    open: Arc<Mutex<Option<Vec<Ask>>>>,
}

impl SessionChecks {
    pub fn new(pool: DbPool) -> SessionChecks {
        SessionChecks {
            pool,
            open: Arc::default(),
        }
    }

    /// `session` as it is now, if it is live and belongs to `account` (the token's two claims:
    /// both must match the stored session).
    pub async fn check(&self, session: SessionId, account: AccountId) -> Answer {
        let (answer, answered) = oneshot::channel();
        let ask = Ask {
            session,
            account,
            answer,
        };
        let full = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            match open.as_mut() {
                Some(batch) => {
                    batch.push(ask);
                    (batch.len() >= MAX_BATCH).then(|| open.take()).flatten()
                }
                None => {
                    *open = Some(vec![ask]);
                    let (pool, open) = (self.pool.clone(), self.open.clone());
                    tokio::spawn(async move {
                        // Lets the requests already woken on this thread join the batch first.
                        tokio::task::yield_now().await;
                        let batch = open.lock().unwrap_or_else(|e| e.into_inner()).take();
                        if let Some(batch) = batch {
                            answer_all(&pool, batch).await;
                        }
                    });
                    None
                }
            }
        };
        if let Some(batch) = full {
            tokio::spawn({
                let pool = self.pool.clone();
                async move { answer_all(&pool, batch).await }
            });
        }
        // Dropped unanswered: the worker's runtime is shutting down.
        answered.await.unwrap_or_else(|_| {
            Err(CheckFailed::Unreachable(
                "the batch was dropped unanswered".into(),
            ))
        })
    }
}

fn failed(error: diesel::result::Error) -> CheckFailed {
    match error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ClosedConnection,
            _,
        ) => CheckFailed::Unreachable(error.to_string()),
        other => CheckFailed::Failed(other.to_string()),
    }
}

/// Sends one statement for the whole batch and gives each request its own answer. Runs as a task
/// of its own, so a request that goes away (a client hanging up) cannot leave the others waiting.
async fn answer_all(pool: &DbPool, batch: Vec<Ask>) {
    let mut wanted: Vec<SessionId> = batch.iter().map(|ask| ask.session).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let lookup = async {
        let mut conn = pool
            .get()
            .await
            .map_err(|error| CheckFailed::Unreachable(error.to_string()))?;
        sessions::live_sessions(&mut conn, &wanted)
            .await
            .map_err(failed)
    };
    let found = tokio::time::timeout(CHECK_TIMEOUT, lookup)
        .await
        .unwrap_or_else(|_| {
            Err(CheckFailed::Unreachable(
                "the session check timed out".into(),
            ))
        });
    for ask in batch {
        let answer = match &found {
            Ok(rows) => rows
                .iter()
                .find(|row| row.session == ask.session && row.account == ask.account)
                .map(|row| row.live().map_err(failed))
                .transpose(),
            Err(failure) => Err(failure.clone()),
        };
        // The request may have gone; nothing else waits for this answer.
        let _ = ask.answer.send(answer);
    }
}

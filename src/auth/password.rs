//! argon2id password hashing on a bounded blocking pool, so a burst of sign-ins never stalls the
//! async workers, and at most `max_concurrent` hashes (each ~19 MiB of memory) run at once.

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

pub use crate::configuration::HashCost;
use tracing::Instrument;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does not exist, so that an
    /// unknown email costs as much time as a wrong password.
    dummy_hash: Arc<String>,
}

/// The outcome of checking a password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, but hashed with other parameters: store this new hash.
    YesRehashed(String),
}

impl PasswordHasher {
    pub fn new(cost: HashCost, max_concurrent: usize) -> anyhow::Result<PasswordHasher> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let dummy = hash_blocking(&params, &random_password())?;
        Ok(PasswordHasher {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash: Arc::new(dummy),
        })
    }

    /// Hashes `password` to a PHC string (`$argon2id$v=19$m=…`).
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let params = self.params.clone();
        let password = password.to_owned();
        self.run(move || hash_blocking(&params, &password)).await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no stored hash
    /// (unknown account, or a staff account without a password yet) — always spending the time.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> anyhow::Result<Verified> {
        let params = self.params.clone();
        let password = password.to_owned();
        let known = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.as_str().to_owned(), str::to_owned);
        self.run(move || -> anyhow::Result<Verified> {
            let parsed =
                PasswordHash::new(&stored).context("stored password hash is not a PHC string")?;
            let ok = argon2(&params)
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            if !ok || !known {
                return Ok(Verified::No);
            }
            let same_params = Params::try_from(&parsed).is_ok_and(|p| {
                p.m_cost() == params.m_cost()
                    && p.t_cost() == params.t_cost()
                    && p.p_cost() == params.p_cost()
            }) && parsed.algorithm.as_str() == "argon2id";
            if same_params {
                Ok(Verified::Yes)
            } else {
                Ok(Verified::YesRehashed(hash_blocking(&params, &password)?))
            }
        })
        .await?
    }

    /// Runs CPU-heavy work on the blocking pool once a permit is free, in the caller's span.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .instrument(tracing::Span::current())
            .await
            .context("password hashing task failed")
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, password: &str) -> anyhow::Result<String> {
    argon2(params)
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
}

fn random_password() -> String {
    super::tokens::OpaqueToken::generate().into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashCost = HashCost {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
        assert_eq!(
            hasher
                .verify("correct horse battery", Some(&hash))
                .await
                .unwrap(),
            Verified::Yes
        );
        assert_eq!(
            hasher
                .verify("wrong horse battery", Some(&hash))
                .await
                .unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify() {
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        assert_eq!(
            hasher.verify("anything at all", None).await.unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn changed_parameters_rehash_on_success() {
        let old = PasswordHasher::new(CHEAP, 1).unwrap();
        let hash = old.hash("correct horse battery").await.unwrap();
        let stronger = PasswordHasher::new(
            HashCost {
                memory_kib: 2048,
                ..CHEAP
            },
            1,
        )
        .unwrap();
        match stronger
            .verify("correct horse battery", Some(&hash))
            .await
            .unwrap()
        {
            Verified::YesRehashed(new) => assert!(new.contains("m=2048"), "{new}"),
            other => panic!("expected a rehash, got {other:?}"),
        }
        assert_eq!(
            stronger
                .verify("wrong horse battery", Some(&hash))
                .await
                .unwrap(),
            Verified::No
        );
    }
}

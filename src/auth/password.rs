//! argon2id password hashing on a few dedicated threads, so a burst of sign-ins never stalls the
//! async workers. The threads run at the lowest priority (nice 19, short slices), and can be
//! placed in an idle-class cgroup of their own (`auth.hash_cgroup`): hashing may use every core
//! the requests leave idle, and yields to them. Each thread keeps its ~19 MiB of working memory
//! while hashes are waiting, and hands it back to the system before it waits itself, so an idle
//! service holds none and memory does not grow with sign-ins. Kept, the memory is neither faulted
//! in nor cleared again for each hash: both cost time, and the clearing wrote 19 MiB through the
//! caches the requests use.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, mpsc};

use anyhow::Context;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

pub use crate::configuration::HashCost;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    pool: Arc<HashingThreads>,
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
    /// A hasher with `threads` hashing threads (at least one).
    pub fn new(cost: HashCost, threads: usize) -> anyhow::Result<PasswordHasher> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let dummy = hash_blocking(&params, &random_password());
        // Made on the caller's thread, which is no hashing thread: its memory goes back at once.
        release_working_memory();
        let dummy = dummy?;
        Ok(PasswordHasher {
            params,
            pool: HashingThreads::start(threads.max(1))?,
            dummy_hash: Arc::new(dummy),
        })
    }

    /// Moves the hashing threads into the cgroup at `dir`, which the deployment made idle-class
    /// (`cpu.idle` 1), or else with the lowest CPU weight (cgroup v1: its `tasks`; v2:
    /// `cgroup.threads` of a threaded cgroup). Why: where the kernel schedules by group
    /// (autogrouped sessions, each PostgreSQL backend its own, or containers), a thread's nice
    /// value only ranks it within the service's own group; a group of its own is what makes
    /// hashing yield to the database and the requests as well. An idle-class group yields at
    /// once: a waking request or backend takes its core without waiting for a slice to end.
    pub fn place_threads_in_cgroup(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        use std::io::Write as _;
        let file = ["cgroup.threads", "tasks"]
            .iter()
            .map(|name| dir.join(name))
            .find(|file| file.is_file())
            .with_context(|| {
                format!(
                    "{} is not a cgroup (it has neither cgroup.threads nor tasks)",
                    dir.display()
                )
            })?;
        if self.pool.thread_ids.is_empty() {
            anyhow::bail!("the hashing threads' ids are only known on Linux");
        }
        for id in &self.pool.thread_ids {
            // One id per write, as the kernel takes them.
            std::fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .and_then(|mut cgroup| cgroup.write_all(format!("{id}\n").as_bytes()))
                .with_context(|| format!("moving a hashing thread into {}", file.display()))?;
        }
        Ok(())
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
            let ok = matches(password.as_bytes(), &parsed);
            if !ok || !known {
                return Ok(Verified::No);
            }
            if made_as_we_hash(&parsed, &params) {
                Ok(Verified::Yes)
            } else {
                Ok(Verified::YesRehashed(hash_blocking(&params, &password)?))
            }
        })
        .await?
    }

    /// Runs CPU-heavy work on a hashing thread, in the caller's span.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (answer, answered) = oneshot::channel();
        let span = tracing::Span::current();
        self.pool.submit(Box::new(move || {
            // The caller may have gone (a dropped request): then nobody needs the answer.
            let _ = answer.send(span.in_scope(work));
        }))?;
        answered.await.context("password hashing task failed")
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads and their queue. The threads end when the last hasher is dropped.
struct HashingThreads {
    queue: mpsc::Sender<Job>,
    /// The threads' kernel ids (Linux), for `PasswordHasher::place_threads_in_cgroup`.
    thread_ids: Vec<i64>,
}

impl HashingThreads {
    fn start(threads: usize) -> anyhow::Result<Arc<HashingThreads>> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        let (started, thread_ids) = mpsc::channel();
        for n in 0..threads {
            let jobs = jobs.clone();
            let started = started.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    lower_this_threads_priority();
                    let _ = started.send(this_threads_id());
                    drop(started);
                    while let Some(job) = next_job(&jobs) {
                        // A panicking job loses its answer (the caller gets an error), not the
                        // thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .context("starting a password hashing thread")?;
        }
        drop(started);
        let thread_ids = thread_ids.iter().flatten().collect();
        Ok(Arc::new(HashingThreads { queue, thread_ids }))
    }

    fn submit(&self, job: Job) -> anyhow::Result<()> {
        self.queue
            .send(job)
            .map_err(|_| anyhow::anyhow!("the hashing threads have stopped"))
    }
}

/// The next job for a hashing thread (`None` once the hashers are gone). A thread that is about
/// to wait, for a job or for the thread already waiting for one, first hands its working memory
/// back: an idle service holds none. (Finding the lock taken by a thread that is only taking a
/// job releases it too, rarely: one more fault-in.) The lock is held only while taking a job,
/// never during one.
fn next_job(jobs: &Mutex<mpsc::Receiver<Job>>) -> Option<Job> {
    let jobs = match jobs.try_lock() {
        Ok(jobs) => jobs,
        Err(std::sync::TryLockError::WouldBlock) => {
            release_working_memory();
            jobs.lock().ok()?
        }
        Err(std::sync::TryLockError::Poisoned(_)) => return None,
    };
    match jobs.try_recv() {
        Ok(job) => Some(job),
        Err(mpsc::TryRecvError::Empty) => {
            release_working_memory();
            jobs.recv().ok()
        }
        Err(mpsc::TryRecvError::Disconnected) => None,
    }
}

/// The lowest normal priority (nice 19: a weight of 15 against a request thread's 1024) and the
/// shortest time slice (0.1 ms) for the calling thread (Linux; elsewhere nothing). Nice ranks
/// threads only within the service's own scheduling group; across groups (PostgreSQL's backends
/// each have one where the kernel groups by session) a cgroup does it (`place_threads_in_cgroup`).
/// Not `SCHED_IDLE`: on this machine, paced reads beside two idle-class spinning threads had a p99
/// of 2.7–3.3 ms, beside two nice-19 ones 0.8–1.5 ms.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        /// `struct sched_attr` (its first version), as `sched_setattr(2)` takes it.
        #[repr(C)]
        struct SchedAttr {
            size: u32,
            policy: u32,
            flags: u64,
            nice: i32,
            priority: u32,
            runtime_ns: u64,
            deadline_ns: u64,
            period_ns: u64,
        }
        const _: () = assert!(std::mem::size_of::<SchedAttr>() == 48); // SCHED_ATTR_SIZE_VER0
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: libc::SCHED_OTHER as u32,
            flags: 0,
            nice: 19,
            priority: 0,
            // The slice a fair-class thread asks for (kernels before 6.12 ignore it).
            runtime_ns: 100_000,
            deadline_ns: 0,
            period_ns: 0,
        };
        // SAFETY: pid 0 is the calling thread; the kernel only reads `attr`, whose size it is
        // told.
        let set =
            unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
        if set != 0 {
            tracing::debug!("could not give the hashing thread short slices; only its nice value");
            // SAFETY: setpriority only changes this thread's nice value.
            let niced =
                unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19) };
            if niced != 0 {
                tracing::debug!("could not lower the hashing thread's priority");
            }
        }
    }
}

/// The calling thread's kernel id (Linux; elsewhere none).
fn this_threads_id() -> Option<i64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions.
        Some(i64::from(unsafe { libc::gettid() }))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

thread_local! {
    /// A hashing thread's argon2 working memory, kept from one hash to the next.
    static WORKING_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Gives the calling thread's working memory back to the system (glibc would otherwise keep the
/// freed 19 MiB in its arena, which an idle service does not want).
fn release_working_memory() {
    WORKING_MEMORY.with_borrow_mut(|memory| *memory = Vec::new());
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `argon2` of `password` and `salt` into `out`, in the calling thread's working memory. Memory
/// left by an earlier hash needs no clearing: argon2 writes each block before it reads it.
fn argon2_into(
    argon2: &Argon2,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let blocks = argon2.params().block_count();
    WORKING_MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            // Not `vec!`, which aborts the process when the memory cannot be had (a stored hash
            // asking for far more than ours): that is an error, as in the crate's own hashing.
            let mut fresh = Vec::new();
            fresh
                .try_reserve_exact(blocks)
                .map_err(|_| argon2::Error::OutOfMemory)?;
            fresh.resize(blocks, Block::new());
            *memory = fresh;
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

fn hash_blocking(params: &Params, password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    getrandom::fill(&mut salt).context("the operating system's random source")?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon2_into(&argon2, password.as_bytes(), &salt, &mut out)
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(Salt::new(&salt)?),
        hash: Some(Output::new(&out)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` is the one `stored` was made from, with `stored`'s own algorithm, version
/// and parameters; the outputs are compared in constant time (`Output`'s equality). A stored hash
/// this cannot read matches nothing.
fn matches(password: &[u8], stored: &PasswordHash) -> bool {
    let recomputed = || -> anyhow::Result<bool> {
        let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
            return Ok(false);
        };
        let algorithm = Algorithm::try_from(stored.algorithm.as_str())?;
        let version = stored.version.map(Version::try_from).transpose()?;
        let argon2 = Argon2::new(
            algorithm,
            version.unwrap_or_default(),
            Params::try_from(stored)?,
        );
        let mut out = [0u8; Output::MAX_LENGTH];
        let out = &mut out[..expected.len()];
        argon2_into(&argon2, password, salt, out).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Output::new(out)? == *expected)
    };
    recomputed().unwrap_or(false)
}

/// Whether `stored` is what `hash_blocking` makes today: argon2id, version 0x13, these costs and
/// the default output length. Anything else is rehashed at the next right password.
fn made_as_we_hash(stored: &PasswordHash, params: &Params) -> bool {
    stored.algorithm == Algorithm::Argon2id.ident()
        && stored.version == Some(Version::V0x13.into())
        && Params::try_from(stored).is_ok_and(|p| {
            p.m_cost() == params.m_cost()
                && p.t_cost() == params.t_cost()
                && p.p_cost() == params.p_cost()
                && p.output_len() == Some(Params::DEFAULT_OUTPUT_LEN)
        })
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

    /// (Joining one is tested through the service: `hashing_threads_join_the_configured_cgroup`.)
    #[test]
    fn a_folder_that_is_not_a_cgroup_is_refused_and_left_alone() {
        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();
        let not_a_cgroup = tempfile::tempdir().unwrap();
        let refused = hasher.place_threads_in_cgroup(not_a_cgroup.path());
        assert!(refused.unwrap_err().to_string().contains("is not a cgroup"));
        assert_eq!(std::fs::read_dir(not_a_cgroup.path()).unwrap().count(), 0);
    }

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

    /// Hashed in kept working memory, and checked against hashes made in fresh memory: each side
    /// reads the other's strings (the crate's own verifier, and a hash the crate made for a salt of
    /// our choosing). Several in a row on one thread, so memory left by one hash is reused.
    #[tokio::test]
    async fn kept_memory_hashes_are_the_crates_own() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        let params =
            Params::new(CHEAP.memory_kib, CHEAP.iterations, CHEAP.parallelism, None).unwrap();
        let crates = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        for password in ["first passphrase here", "second passphrase here"] {
            let ours = hasher.hash(password).await.unwrap();
            let parsed = PasswordHash::new(&ours).unwrap();
            assert!(crates.verify_password(password.as_bytes(), &parsed).is_ok());
            assert!(
                crates
                    .verify_password(b"not the passphrase", &parsed)
                    .is_err()
            );
            let theirs = crates
                .hash_password_with_salt(password.as_bytes(), b"a salt of sixteen")
                .unwrap()
                .to_string();
            assert_eq!(
                hasher.verify(password, Some(&theirs)).await.unwrap(),
                Verified::Yes
            );
            assert_eq!(
                hasher.verify("not it", Some(&theirs)).await.unwrap(),
                Verified::No
            );
        }
    }

    /// Same costs, but another version, output length or variant of argon2: rehashed to ours.
    #[tokio::test]
    async fn other_versions_lengths_and_variants_rehash_on_success() {
        use argon2::password_hash::PasswordHasher as _;
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        let costs = |output_len| {
            Params::new(
                CHEAP.memory_kib,
                CHEAP.iterations,
                CHEAP.parallelism,
                output_len,
            )
            .unwrap()
        };
        let others = [
            Argon2::new(Algorithm::Argon2id, Version::V0x10, costs(None)),
            Argon2::new(Algorithm::Argon2id, Version::V0x13, costs(Some(64))),
            Argon2::new(Algorithm::Argon2i, Version::V0x13, costs(None)),
        ];
        for other in others {
            let theirs = other
                .hash_password_with_salt(b"correct horse battery", b"a salt of sixteen")
                .unwrap()
                .to_string();
            match hasher
                .verify("correct horse battery", Some(&theirs))
                .await
                .unwrap()
            {
                Verified::YesRehashed(new) => {
                    assert!(new.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{new}");
                    assert_eq!(new.rsplit('$').next().unwrap().len(), 43, "{new}");
                }
                verified => panic!("{theirs}: expected a rehash, got {verified:?}"),
            }
        }
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

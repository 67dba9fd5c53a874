//! The cost of one argon2id hash with the configured parameters: on one thread alone
//! (`ms_per_hash`), and with every core hashing at once (`ms_per_hash_all_cores`: argon2 is
//! memory-bound, so parallel hashes slow each other down). `scripts/perf.sh` divides the cores by
//! these to get the sign-in ceiling, and times it again at the start of each round of sign-ins
//! with fewer samples (`HASH_TIME_SAMPLES`, default 50). Run: `cargo bench --bench hash_time`.
//! Asserts nothing.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use mynorfolk::auth::password::PasswordHasher;
use mynorfolk::configuration::Settings;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.entry("APP_ENV".to_owned())
        .or_insert_with(|| "development".to_owned());
    let settings =
        Settings::load_from(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config"), &vars)?;
    let samples: u32 = match vars.get("HASH_TIME_SAMPLES") {
        Some(n) => n.parse()?,
        None => 50,
    };
    let hasher = PasswordHasher::new(settings.auth.hash_cost, 1)?;
    hasher.hash("warm the allocator up").await?;
    let started = Instant::now();
    for _ in 0..samples {
        hasher.hash("a long enough passphrase").await?;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(samples);
    println!("ms_per_hash {ms:.2}");

    let cores = std::thread::available_parallelism()?.get();
    let all = PasswordHasher::new(settings.auth.hash_cost, cores)?;
    let started = Instant::now();
    let hashes: Vec<_> = (0..samples as usize * cores)
        .map(|_| all.hash("a long enough passphrase"))
        .collect();
    for hash in futures_util::future::join_all(hashes).await {
        hash?;
    }
    // `samples` hashes per core: the time one core spends on each.
    let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(samples);
    println!("ms_per_hash_all_cores {ms:.2}");
    Ok(())
}

//! The cost of one argon2id hash with the configured parameters, on one thread: the unit that
//! `scripts/perf.sh` divides the cores by to get the sign-in ceiling. Run:
//! `cargo bench --bench hash_time`. Prints `ms_per_hash <n>`; asserts nothing.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use mynorfolk::auth::password::PasswordHasher;
use mynorfolk::configuration::Settings;

const SAMPLES: u32 = 50;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.entry("APP_ENV".to_owned())
        .or_insert_with(|| "development".to_owned());
    let settings = Settings::load_from(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config"), &vars)?;
    let hasher = PasswordHasher::new(settings.auth.hash_cost, 1)?;
    hasher.hash("warm the allocator up").await?;
    let started = Instant::now();
    for _ in 0..SAMPLES {
        hasher.hash("a long enough passphrase").await?;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(SAMPLES);
    println!("ms_per_hash {ms:.2}");
    Ok(())
}

//! The `mynorfolk` command line: `serve` (the default), `migrate`, `staff create`, `seed`,
//! `retention run` and `openapi`.
//!
//! With no `DATABASE_URL`, the commands that need a database start a private PostgreSQL cluster
//! under the configured data folder first (creating the service's own role in it), and stop it
//! when they are done. Migrations and `seed` run as the schema's owner (`DATABASE_MIGRATION_URL`),
//! everything else as the service's role (`DATABASE_URL`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::configuration::Settings;
use crate::db::{
    self, DatabaseUrls, embedded_postgres::Durability, embedded_postgres::EmbeddedPostgres,
};
use crate::startup::ApiServer;
use crate::startup_error::StartupError;
use crate::telemetry;

#[derive(Parser)]
#[command(
    name = "mynorfolk",
    version,
    about = "The MyNorfolk resident account API",
    after_help = WHERE_THINGS_COME_FROM
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// Shown by `--help`: what a newcomer needs to know before the first run.
const WHERE_THINGS_COME_FROM: &str = "\
Configuration: built-in defaults, then config/default.toml and config/<APP_ENV>.toml from
  APP_CONFIG_DIR (default ./config) when present, then APP_<SECTION>__<KEY> environment
  variables; DATABASE_URL, SMTP_URL and PORT win over everything. APP_ENV: development
  (default), test or production.
Data: with no DATABASE_URL, a private PostgreSQL cluster in ./.data/postgres
  (APP_DATABASE__EMBEDDED_DATA_DIR), created on the first run and reused after. As root it runs
  as the postgres user; if that user cannot reach the folder (a checkout under /root or
  mktemp -d), the cluster lives in its home instead, as mynorfolk-<hash of the folder>. The
  start-up line prints where.
Emails: with no SMTP_URL, written as .eml files to ./.data/emails (APP_EMAIL__OUTBOX_DIR).
PostgreSQL programs: PG_BIN_DIR, else PATH, else /usr/lib/postgresql/<version>/bin.";

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the OpenAPI document to standard output.
    Openapi,
    /// Council staff accounts.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Fill the database with synthetic accounts and applications, for benchmarks.
    Seed {
        #[arg(long, default_value_t = 1000)]
        accounts: i64,
        #[arg(long, default_value_t = 10000)]
        applications: i64,
    },
    /// Retention of personal data.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create a staff or admin account. The password is read from standard input.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = [crate::domain::account::Role::Staff.as_str(), crate::domain::account::Role::Admin.as_str()])]
        role: String,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Apply the retention periods now (the server also does this every hour).
    Run,
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        println!(
            "{}",
            serde_json::to_string_pretty(&crate::http::routes::openapi_json())?
        );
        return Ok(());
    }
    let settings = Settings::load().map_err(|error| {
        StartupError::new(
            format!("{}.", capitalised(&error.to_string())),
            error.remedy(),
        )
    })?;
    telemetry::init(&settings.log);
    // The cluster is started on the main thread, before the runtime: the kernel stops it if this
    // thread (the whole program) dies without a chance to stop it itself.
    let database = Database::connect(&settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        database.prepare().await?;
        match command {
            Command::Serve => serve(settings, &database).await,
            Command::Migrate => {
                db::run_migrations(&database.urls.migration).await?;
                announce(&format!(
                    "migrations up to date ({} in this build)",
                    db::embedded_migration_count()
                ));
                Ok(())
            }
            Command::Staff {
                command: StaffCommand::Create { name, email, role },
            } => create_staff(&settings, &database, &name, &email, &role).await,
            Command::Seed {
                accounts,
                applications,
            } => {
                // An administrative bulk load: as the schema's owner (it also analyses the tables).
                db::run_migrations(&database.urls.migration).await?;
                let pool = db::build_pool(&database.urls.migration, &pool_options(&settings))?;
                let mut conn = pool.get().await?;
                let started = std::time::Instant::now();
                let (app, rules) = (&settings.app, &settings.services);
                db::seed::seed(&mut conn, accounts, applications, &app.terms_version, rules)
                    .await?;
                announce(&format!(
                    "seeded {accounts} accounts and {applications} applications in {:.1?}",
                    started.elapsed()
                ));
                Ok(())
            }
            Command::Retention {
                command: RetentionCommand::Run,
            } => {
                let pool = db::build_pool(&database.urls.runtime, &pool_options(&settings))?;
                let report = crate::use_cases::retention::sweep(&pool, &settings).await?;
                announce(&format!("retention sweep done: {report:?}"));
                Ok(())
            }
            Command::Openapi => unreachable!("handled above"),
        }
    });
    drop(runtime);
    drop(database);
    outcome
}

async fn serve(settings: Settings, database: &Database) -> anyhow::Result<()> {
    let host = settings.server.host.clone();
    let app = ApiServer::build(settings, &database.urls).await?;
    announce(&format!(
        "MyNorfolk API listening on http://{host}:{} | database: {} | emails: {} | attachments: {}",
        app.port(),
        database.description,
        app.mailer().describe(),
        app.files().description,
    ));
    app.run_until_stopped().await?;
    announce("MyNorfolk API stopped");
    Ok(())
}

async fn create_staff(
    settings: &Settings,
    database: &Database,
    name: &str,
    email: &str,
    role: &str,
) -> anyhow::Result<()> {
    use crate::domain::account::{AccountName, EmailAddress, Password, Role};
    db::run_migrations(&database.urls.migration).await?;
    let name = AccountName::parse(name).map_err(|e| anyhow::anyhow!("--name {e}"))?;
    let email = EmailAddress::parse(email).map_err(|e| anyhow::anyhow!("--email {e}"))?;
    let role = Role::parse(role).context("--role must be staff or admin")?;
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = Password::parse(line.trim_end_matches(['\r', '\n']))
        .map_err(|e| anyhow::anyhow!("the password {e}"))?;
    let hasher = crate::auth::password::PasswordHasher::new(settings.auth.hash_cost, 1)?;
    let hash = hasher.hash(password.expose()).await?;
    let pool = db::build_pool(&database.urls.runtime, &pool_options(settings))?;
    let mut conn = pool.get().await?;
    let actor = crate::db::audit::Actor::system();
    let id = crate::use_cases::accounts::create_staff(
        &mut conn,
        &settings.app,
        &actor,
        &name,
        &email,
        role,
        Some(&hash),
    )
    .await?;
    announce(&format!("created {} account {id}", role.as_str()));
    Ok(())
}

/// A small pool for one-off commands.
fn pool_options(settings: &Settings) -> db::PoolOptions {
    db::PoolOptions {
        max_size: 2,
        ..db::PoolOptions::from_settings(&settings.database)
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A line for the person who started the program. A closed stdout must not crash a shutdown.
fn announce(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// The database the program talks to: the one configured, or a private cluster it owns.
struct Database {
    urls: DatabaseUrls,
    description: String,
    embedded: Option<(EmbeddedPostgres, String)>,
}

impl Database {
    fn connect(settings: &Settings) -> anyhow::Result<Database> {
        if let Some(url) = &settings.database.url {
            let host = url::Url::parse(url.expose_secret())
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "the configured server".into());
            let runtime = url.expose_secret().to_owned();
            let migration = settings
                .database
                .migration_url
                .as_ref()
                .map_or_else(|| runtime.clone(), |m| m.expose_secret().to_owned());
            return Ok(Database {
                urls: DatabaseUrls { runtime, migration },
                description: format!("PostgreSQL at {host} (DATABASE_URL)"),
                embedded: None,
            });
        }
        let dir = &settings.database.embedded_data_dir;
        let cluster = EmbeddedPostgres::start(dir, Durability::Durable)?;
        let name = settings.database.embedded_database.clone();
        Ok(Database {
            urls: DatabaseUrls {
                runtime: cluster.url_as(db::RUNTIME_LOGIN, &name),
                migration: cluster.url(&name),
            },
            description: format!(
                "embedded PostgreSQL, data in {} (port {})",
                cluster.data_dir().display(),
                cluster.port()
            ),
            embedded: Some((cluster, name)),
        })
    }

    /// On the embedded cluster, creates the application database and the service's own role on
    /// first run.
    async fn prepare(&self) -> anyhow::Result<()> {
        if let Some((cluster, name)) = &self.embedded {
            cluster.prepare(name).await?;
        }
        Ok(())
    }
}

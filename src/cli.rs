//! The `mynorfolk` command line: `serve` (the default), `migrate`, `openapi`.
//!
//! With no `DATABASE_URL`, `serve` and `migrate` start a private PostgreSQL cluster under the
//! configured data folder first, and stop it when they are done.

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::configuration::Settings;
use crate::db::{self, embedded_postgres::Durability, embedded_postgres::EmbeddedPostgres};
use crate::startup::Application;
use crate::telemetry;

#[derive(Parser)]
#[command(
    name = "mynorfolk",
    version,
    about = "The MyNorfolk resident account API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the OpenAPI document to standard output.
    Openapi,
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        println!(
            "{}",
            serde_json::to_string_pretty(&crate::http::routes::openapi_document())?
        );
        return Ok(());
    }
    let settings = Settings::load()?;
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
                db::run_migrations(&database.url).await?;
                announce(&format!(
                    "migrations up to date ({} in this build)",
                    db::embedded_migration_count()
                ));
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
    let app = Application::build(settings, &database.url).await?;
    announce(&format!(
        "MyNorfolk API listening on http://{host}:{} | database: {} | emails: {}",
        app.port(),
        database.description,
        app.mailer().describe(),
    ));
    app.run_until_stopped().await?;
    announce("MyNorfolk API stopped");
    Ok(())
}

/// A line for the person who started the program. A closed stdout must not crash a shutdown.
fn announce(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// The database the program talks to: the one configured, or a private cluster it owns.
struct Database {
    url: String,
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
            return Ok(Database {
                url: url.expose_secret().to_owned(),
                description: format!("PostgreSQL at {host} (DATABASE_URL)"),
                embedded: None,
            });
        }
        let dir = &settings.database.embedded_data_dir;
        let cluster = EmbeddedPostgres::start(dir, Durability::Durable)
            .with_context(|| format!("starting the embedded PostgreSQL in {}", dir.display()))?;
        let name = settings.database.embedded_database.clone();
        Ok(Database {
            url: cluster.url(&name),
            description: format!(
                "embedded PostgreSQL, data in {} (port {})",
                cluster.data_dir().display(),
                cluster.port()
            ),
            embedded: Some((cluster, name)),
        })
    }

    /// On the embedded cluster, creates the application database on first run.
    async fn prepare(&self) -> anyhow::Result<()> {
        if let Some((cluster, name)) = &self.embedded {
            db::ensure_database(&cluster.url("postgres"), name).await?;
        }
        Ok(())
    }
}

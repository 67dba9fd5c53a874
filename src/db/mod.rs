//! Persistence: the connection pool, migrations and (in submodules) every query the service runs.
//! Nothing outside this module writes SQL.

pub mod accounts;
pub mod applications;
pub mod attachments;
pub mod audit;
pub mod data_requests;
pub mod embedded_postgres;
pub mod ids;
pub mod outbox;
pub mod payments;
pub mod privacy;
pub mod probe;
pub mod retention;
pub mod seed;
pub mod session_checks;
pub mod sessions;
pub mod throttles;

use std::time::Duration;

use anyhow::Context;
use deadpool::Runtime;
use diesel::OptionalExtension;
use diesel::sql_types::{BigInt, Text};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub type DbPool = Pool<AsyncPgConnection>;
pub type PoolError = diesel_async::pooled_connection::deadpool::PoolError;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Any fixed number works; it only has to be the same for every instance of the service.
const MIGRATION_LOCK_KEY: i64 = 0x6d79_6e6f_7266_6f6c; // "mynorfol"

/// A `sql_query` whose text is a constant, kept prepared on its connection like diesel's own
/// queries: diesel never caches `sql_query` (its text could be anything), so the database would
/// parse and plan it again on every call — most of a throttle check's cost. Built only from a
/// `&'static str`, so the text cannot vary (each variant would be another statement kept).
pub struct Prepared<Q>(Q);

impl<Q> Prepared<Q> {
    /// `text`, with the binds `bind` adds to it.
    pub fn sql(
        text: &'static str,
        bind: impl FnOnce(diesel::query_builder::SqlQuery) -> Q,
    ) -> Self {
        Prepared(bind(diesel::sql_query(text)))
    }
}

impl<Q> diesel::query_builder::QueryId for Prepared<Q> {
    type QueryId = ();
    // Cached by its SQL text, which is fixed.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>>
    diesel::query_builder::QueryFragment<diesel::pg::Pg> for Prepared<Q>
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _: &diesel::pg::Pg) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

/// A nullable text column read on its way to an optional enum (`#[diesel(deserialize_as =
/// NullableText)]`): a stored value the enum does not know is an error, never a default.
#[derive(Debug, diesel::deserialize::FromSqlRow)]
pub struct NullableText(Option<String>);

impl diesel::deserialize::FromSql<diesel::sql_types::Nullable<Text>, diesel::pg::Pg>
    for NullableText
{
    fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
        let text = <String as diesel::deserialize::FromSql<Text, diesel::pg::Pg>>::from_sql(bytes)?;
        Ok(NullableText(Some(text)))
    }

    fn from_nullable_sql(
        bytes: Option<diesel::pg::PgValue<'_>>,
    ) -> diesel::deserialize::Result<Self> {
        bytes.map_or(Ok(NullableText(None)), Self::from_sql)
    }
}

impl<T: TryFrom<String, Error = crate::domain::UnknownValue>> TryFrom<NullableText> for Option<T> {
    type Error = crate::domain::UnknownValue;
    fn try_from(text: NullableText) -> Result<Self, Self::Error> {
        text.0.map(T::try_from).transpose()
    }
}

/// A `jsonb` column read as its JSON text, unparsed: a list of applications hands each one's
/// details to the response as stored, instead of building a tree and serialising it again.
#[derive(Debug, Clone, diesel::deserialize::FromSqlRow)]
pub struct JsonText(pub Box<serde_json::value::RawValue>);

impl JsonText {
    /// The document as a tree, for the rare reader that looks inside.
    pub fn parse(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_str(self.0.get())
    }
}

impl diesel::deserialize::FromSql<diesel::sql_types::Jsonb, diesel::pg::Pg> for JsonText {
    fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
        // PostgreSQL's binary jsonb is a version byte (1) and the document's text.
        match value.as_bytes().split_first() {
            Some((1, text)) => Ok(JsonText(serde_json::value::RawValue::from_string(
                std::str::from_utf8(text)?.to_owned(),
            )?)),
            _ => Err("unsupported jsonb format version".into()),
        }
    }
}

/// Position in a newest-first list: the last row of the previous page (its time and id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub at: chrono::DateTime<chrono::Utc>,
    pub id: uuid::Uuid,
}

/// Where the service's two database roles connect.
#[derive(Debug, Clone)]
pub struct DatabaseUrls {
    /// The running service: a member of `mynorfolk_runtime` (see migration 000006), which may
    /// read and write the service's tables but not rewrite the audit log.
    pub runtime: String,
    /// The schema's owner: migrations and administrative commands.
    pub migration: String,
}

/// The login the embedded cluster and the test harness create for the running service.
pub const RUNTIME_LOGIN: &str = "mynorfolk_app";

#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: usize,
    /// How long a request waits for a connection (and for one to be made) before it gets a 503.
    pub timeout: Duration,
    /// Every statement on a pooled connection is cancelled after this long.
    pub statement_timeout: Duration,
}

impl PoolOptions {
    pub fn from_settings(settings: &crate::configuration::DatabaseSettings) -> PoolOptions {
        PoolOptions {
            max_size: settings.pool_max_size,
            timeout: Duration::from_millis(settings.pool_timeout_ms),
            statement_timeout: Duration::from_millis(settings.statement_timeout_ms),
        }
    }
}

/// Builds the pool. Connections are made lazily, so this succeeds even while the database is
/// down; `/health/ready` reports that.
pub fn build_pool(database_url: &str, options: &PoolOptions) -> anyhow::Result<DbPool> {
    let statement_timeout_ms = options.statement_timeout.as_millis();
    let mut config = ManagerConfig::default();
    // No test query on every checkout (a round trip per request): a connection the server closed
    // is seen as broken on its first failed use, dropped, and the error answers 503.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        Box::pin(async move {
            let mut conn = AsyncPgConnection::establish(&url).await?;
            conn.batch_execute(&format!(
                "SET application_name = 'mynorfolk'; SET statement_timeout = {statement_timeout_ms}; SET TIME ZONE 'UTC'"
            ))
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(database_url, config);
    Pool::builder(manager)
        .max_size(options.max_size)
        .wait_timeout(Some(options.timeout))
        .create_timeout(Some(options.timeout))
        .recycle_timeout(Some(options.timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .context("building the database pool")
}

/// Answers whether the database takes queries right now.
pub async fn ping(pool: &DbPool) -> Result<(), anyhow::Error> {
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}

/// Applies pending migrations. Safe when several instances start at once: they queue on a
/// PostgreSQL advisory lock, and whoever comes second finds nothing left to do.
pub async fn run_migrations(database_url: &str) -> anyhow::Result<()> {
    let conn = AsyncPgConnection::establish(database_url)
        .await
        .map_err(|error| {
            crate::startup_error::StartupError::new(
                format!(
                    "Cannot connect to the database: {}.",
                    error.to_string().trim()
                ),
                "Check that PostgreSQL is running and that DATABASE_URL names it.",
            )
        })?;
    // diesel's migration harness is synchronous: run it on a blocking thread through the wrapper.
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut conn: AsyncConnectionWrapper<AsyncPgConnection> = conn.into();
        diesel::RunQueryDsl::execute(
            diesel::sql_query("SELECT pg_advisory_lock($1)").bind::<BigInt, _>(MIGRATION_LOCK_KEY),
            &mut conn,
        )?;
        let outcome = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.len())
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"));
        diesel::RunQueryDsl::execute(
            diesel::sql_query("SELECT pg_advisory_unlock($1)")
                .bind::<BigInt, _>(MIGRATION_LOCK_KEY),
            &mut conn,
        )?;
        let applied = outcome?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
        Ok(())
    })
    .await
    .context("the migration task panicked")?
}

/// Creates `name` on the server behind `maintenance_url` unless it exists. Used for the embedded
/// cluster, where the program owns the server.
pub async fn ensure_database(maintenance_url: &str, name: &str) -> anyhow::Result<()> {
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        #[allow(dead_code)]
        exists: bool,
    }
    let mut conn = AsyncPgConnection::establish(maintenance_url).await?;
    let found = diesel::sql_query("SELECT true AS exists FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(name)
        .get_result::<Exists>(&mut conn)
        .await
        .optional()?;
    if found.is_none() {
        conn.batch_execute(&format!("CREATE DATABASE {}", quote_identifier(name)))
            .await
            .with_context(|| format!("creating database {name}"))?;
    }
    Ok(())
}

/// Creates the `mynorfolk_runtime` group role and `login` as a member of it, unless they exist
/// (the connection behind `admin_url` needs CREATEROLE). Serialised by an advisory lock, since
/// roles are shared by every database of the server.
pub async fn ensure_runtime_login(
    admin_url: &str,
    login: &str,
    password: Option<&str>,
) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(admin_url).await?;
    let login_literal = quote_literal(login);
    let password = password.map_or_else(|| "NULL".to_owned(), quote_literal);
    // Only the names and password are interpolated, quoted; they come from constants or settings.
    let sql = format!(
        "BEGIN;
         SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY});
         DO $$ BEGIN
             IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mynorfolk_runtime') THEN
                 CREATE ROLE mynorfolk_runtime NOLOGIN;
             END IF;
             IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {login_literal}) THEN
                 EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE mynorfolk_runtime', {login_literal}, {password});
             END IF;
         END $$;
         COMMIT;"
    );
    conn.batch_execute(&sql)
        .await
        .with_context(|| format!("creating the database role {login}"))?;
    Ok(())
}

/// Whether the service's own role could change or delete audit rows: a superuser, the schema's
/// owner, or a role granted more than `mynorfolk_runtime` has.
pub async fn service_role_can_rewrite_audit_log(pool: &DbPool) -> anyhow::Result<bool> {
    #[derive(diesel::QueryableByName)]
    struct Answer {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        can: bool,
    }
    let mut conn = pool.get().await?;
    let answer: Answer = diesel::sql_query(
        "SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
             OR has_table_privilege('audit_events', 'UPDATE') \
             OR has_table_privilege('audit_events', 'DELETE') \
             OR has_table_privilege('audit_events', 'TRUNCATE') AS can",
    )
    .get_result(&mut conn)
    .await?;
    Ok(answer.can)
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Quotes a PostgreSQL identifier (database names cannot be bound as parameters).
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Number of migrations compiled into this binary.
pub fn embedded_migration_count() -> usize {
    diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map(|m| m.len())
        .unwrap_or_default()
}

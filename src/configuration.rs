//! Layered configuration: the repository's `config/default.toml` and `config/<APP_ENV>.toml`
//! (compiled into the binary), the same files from `APP_CONFIG_DIR` (default `./config`) when
//! present, then environment variables. Kept in one place so every knob, and its precedence, is visible at a glance.
//!
//! Environment variables: `APP_<SECTION>__<KEY>` sets any key (`APP_SERVER__PORT=9000`), and the
//! conventional `DATABASE_URL`, `SMTP_URL` and `PORT` work on their own and win over everything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The deployment profile, chosen by `APP_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Development,
    Test,
    Production,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Development => "development",
            Profile::Test => "test",
            Profile::Production => "production",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" | "local" => Ok(Profile::Development),
            "test" => Ok(Profile::Test),
            "production" | "prod" => Ok(Profile::Production),
            other => Err(ConfigError::UnknownProfile(other.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("APP_ENV={0} is not a profile; use development, test or production")]
    UnknownProfile(String),
    #[error("the setting {} is invalid: {}", .0.path.join("."), .0.kind)]
    Invalid(#[from] Box<figment::Error>),
    #[error("the production profile refuses to start: {0}")]
    UnsafeForProduction(String),
    #[error("configuration is inconsistent: {0}")]
    Inconsistent(String),
    #[error("APP_CONFIG_DIR={} is not a folder", .0.display())]
    MissingConfigDir(PathBuf),
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(skip_deserializing, default = "default_profile")]
    pub profile: Profile,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub email: EmailSettings,
    pub app: AppSettings,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub services: crate::domain::services::ServiceRules,
    pub data_rights: DataRightsSettings,
    pub retention: RetentionSettings,
    pub payments: PaymentSettings,
    pub storage: StorageSettings,
    pub log: LogSettings,
}

/// Where attachments' files are kept: a local folder, or S3-compatible object storage.
#[derive(Debug, Clone, Deserialize)]
pub struct StorageSettings {
    /// `s3://bucket` for S3 (or MinIO and the like, at `endpoint`); `None` keeps files in
    /// `local_dir`, which only one machine sees (production refuses it).
    #[serde(default)]
    pub url: Option<String>,
    pub local_dir: PathBuf,
    /// An S3-compatible store's address (`http://minio:9000`); `None` is AWS itself.
    #[serde(default)]
    pub endpoint: Option<String>,
    pub region: String,
    #[serde(default)]
    pub access_key_id: Option<SecretString>,
    #[serde(default)]
    pub secret_access_key: Option<SecretString>,
    /// The largest file a resident may attach (413 above it).
    pub max_upload_bytes: u64,
}

/// Which payment provider takes the fees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// The built-in pay page (development and tests; production refuses it).
    Simulated,
    /// GOV.UK Pay at `base_url` with `api_key`.
    GovukPay,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentSettings {
    pub provider: ProviderKind,
    /// GOV.UK Pay's API (`https://publicapi.payments.service.gov.uk`).
    pub base_url: String,
    /// GOV.UK Pay's API key for this service.
    #[serde(default)]
    pub api_key: Option<SecretString>,
    /// The webhook's signing secret (GOV.UK Pay shows it when the webhook is made); the simulated
    /// provider signs with it too.
    pub webhook_secret: SecretString,
    /// Every call to the provider gives up after this long (the resident then gets a 503).
    pub timeout_ms: u64,
}

/// argon2id cost parameters (OWASP's recommendation by default: m=19 MiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DataRightsSettings {
    pub bank_holidays: Vec<chrono::NaiveDate>,
}

/// How long personal data is kept: what the retention sweep applies and what every export says
/// (`privacy::article_15` fills the registry's texts from these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RetentionSettings {
    /// Accounts whose email is never verified.
    pub unverified_account_days: i64,
    /// Emailed links, once used or expired.
    pub spent_link_days: i64,
    /// Sessions, once signed out or expired.
    pub ended_session_days: i64,
    /// Emails, after sending.
    pub sent_email_days: i64,
    pub idempotency_key_days: i64,
    /// Closed, withdrawn or refused applications (then anonymised), and closed data requests.
    pub closed_case_years: i64,
    /// The audit log (at least six years: the database refuses to delete younger rows).
    pub audit_years: i64,
}

fn default_profile() -> Profile {
    Profile::Development
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub json_limit_bytes: usize,
    /// After SIGTERM, how long to keep serving (readiness 503, `Connection: close`) so the load
    /// balancer moves clients away before the listener closes.
    pub drain_secs: u64,
    /// Then how long in-flight requests (and the email being sent) may take to finish.
    pub shutdown_timeout_secs: u64,
    pub cors_allowed_origins: Vec<String>,
    /// Behind a reverse proxy that sets `X-Forwarded-For`/`Forwarded`, take the client address
    /// from it for rate limits. Leave off when clients connect directly (they could forge it).
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Where PostgreSQL is, as the service's own role (a member of `mynorfolk_runtime`, which
    /// cannot rewrite the audit log). `None` means "start a private cluster under
    /// `embedded_data_dir`".
    pub url: Option<SecretString>,
    /// The schema owner's connection, for migrations and administrative commands. `None` means
    /// `url` (whose role then owns the schema, and can rewrite the audit log: not for production).
    #[serde(default)]
    pub migration_url: Option<SecretString>,
    pub embedded_data_dir: PathBuf,
    pub embedded_database: String,
    pub pool_max_size: usize,
    pub pool_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EmailSettings {
    /// `smtp://host:port` (plain), `smtps://...` or `smtp://...?tls=required`. `None` writes `.eml`
    /// files to `outbox_dir` instead.
    pub smtp_url: Option<SecretString>,
    pub outbox_dir: PathBuf,
    pub from: String,
    /// How often the delivery worker looks for due emails when idle.
    pub poll_interval_ms: u64,
    /// First retry delay after a failed send; doubles each attempt.
    pub retry_base_ms: u64,
    pub max_attempts: i32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AppSettings {
    pub frontend_url: String,
    /// The API's own public address, for links that point at the API itself (the one-click
    /// unsubscribe link in status emails). Production needs https.
    pub public_url: String,
    pub terms_version: String,
    /// How often the background retention sweep runs.
    pub retention_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub jwt_secret: SecretString,
    /// Signs permit verification codes and unsubscribe links. Kept apart from `jwt_secret`, so
    /// that rotating that one (after a leak, say) does not void every printed permit.
    pub signing_secret: SecretString,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: i64,
    pub hash_cost: HashCost,
    /// Password hashes computed at once (each takes `hash_cost.memory_kib` of memory).
    pub hash_max_concurrent: usize,
    /// A cgroup directory, made by the deployment idle-class (or with the lowest CPU weight), that
    /// the hashing threads join at start. See `PasswordHasher::place_threads_in_cgroup`.
    #[serde(default)]
    pub hash_cgroup: Option<std::path::PathBuf>,
}

/// Per-client-IP limits (requests per minute) and the failed sign-in back-off.
#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    pub sign_up_per_minute: u32,
    pub sign_in_per_minute: u32,
    pub password_reset_per_minute: u32,
    /// Reset links one address is sent per 15 minutes, however many clients ask for them.
    pub reset_links_per_address: u32,
    /// Failed sign-ins for one email address before each further failure locks it for a while.
    pub failed_sign_ins_before_backoff: u32,
    pub backoff_base_secs: u64,
    pub backoff_max_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

const BUILT_IN_DEFAULTS: &str = include_str!("../config/default.toml");

fn built_in_profile(profile: Profile) -> &'static str {
    match profile {
        Profile::Development => include_str!("../config/development.toml"),
        Profile::Test => include_str!("../config/test.toml"),
        Profile::Production => include_str!("../config/production.toml"),
    }
}

/// `APP_CONFIG_DIR`, else `config` in the working directory.
pub fn config_dir(vars: &HashMap<String, String>) -> PathBuf {
    vars.get("APP_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("config"))
}

impl ConfigError {
    /// What the person starting the service should do about it.
    pub fn remedy(&self) -> String {
        match self {
            ConfigError::UnknownProfile(_) => "Set APP_ENV to development, test or production.".into(),
            ConfigError::Invalid(error) => format!(
                "Fix it in the configuration files or set APP_{} (mynorfolk --help says where they are).",
                error.path.join("__").to_ascii_uppercase()
            ),
            ConfigError::MissingConfigDir(_) => {
                "Point APP_CONFIG_DIR at the folder holding the TOML files, or unset it to use the built-in ones.".into()
            }
            ConfigError::UnsafeForProduction(_) | ConfigError::Inconsistent(_) => {
                "The configuration table in README.md lists every setting.".into()
            }
        }
    }
}

/// Secrets that ship in the repository's config files for development and tests. Production must
/// never run with any of them.
const DEVELOPMENT_SECRETS: &[&str] = &[
    "development-only-jwt-secret-do-not-use-in-production",
    "development-only-signing-secret-do-not-use-in-production",
    "development-only-payment-webhook-secret",
];

impl Settings {
    /// Loads settings from the built-in defaults, `APP_CONFIG_DIR` (default `config/`, when it
    /// exists) and the process environment.
    pub fn load() -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Settings::load_from(&config_dir(&vars), &vars)
    }

    /// Loads settings with `config_dir`'s files (when present) laid over the built-in ones and
    /// `vars` standing in for the environment, so that the precedence rules can be tested
    /// without touching the process environment.
    pub fn load_from(
        config_dir: &Path,
        vars: &HashMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let profile: Profile = vars
            .get("APP_ENV")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(Profile::Development);
        if vars.contains_key("APP_CONFIG_DIR") && !config_dir.is_dir() {
            return Err(ConfigError::MissingConfigDir(config_dir.to_owned()));
        }

        // The repository's files are compiled in, so the binary runs from any folder; files on
        // disk, when present, are laid over them.
        let profile_file = format!("{}.toml", profile.as_str());
        let mut figment = Figment::from(Toml::string(BUILT_IN_DEFAULTS))
            .merge(Toml::string(built_in_profile(profile)))
            .merge(Toml::file(config_dir.join("default.toml")))
            .merge(Toml::file(config_dir.join(profile_file)));
        for (key, value) in environment_overrides(vars) {
            figment = figment.merge(Serialized::global(&key, value));
        }

        let mut settings: Settings = figment.extract().map_err(Box::new)?;
        settings.profile = profile;
        settings.check_consistent()?;
        if profile == Profile::Production {
            settings.check_production_ready()?;
        }
        Ok(settings)
    }

    /// Catches values that would otherwise fail later, or panic, at start-up.
    fn check_consistent(&self) -> Result<(), ConfigError> {
        for origin in &self.server.cors_allowed_origins {
            let ok = url::Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.path() == "/"
                    && !origin.ends_with('/')
            });
            if !ok {
                return Err(ConfigError::Inconsistent(format!(
                    "server.cors_allowed_origins: {origin:?} is not an origin like https://www.example.org"
                )));
            }
        }
        // Migration 000006's `audit_events_delete_expired` refuses anything younger.
        let periods = self.retention;
        if periods.audit_years < 6 {
            return Err(ConfigError::Inconsistent(
                "retention.audit_years must be at least 6 (the limitation period)".into(),
            ));
        }
        let others = [
            periods.unverified_account_days,
            periods.spent_link_days,
            periods.ended_session_days,
            periods.sent_email_days,
            periods.idempotency_key_days,
            periods.closed_case_years,
        ];
        if others.iter().any(|n| !(1..=100_000).contains(n)) {
            return Err(ConfigError::Inconsistent(
                "retention periods must be whole numbers from 1 to 100000".into(),
            ));
        }
        if self.app.frontend_url.parse::<url::Url>().is_err() {
            return Err(ConfigError::Inconsistent(
                "app.frontend_url is not a URL".into(),
            ));
        }
        if !url::Url::parse(&self.app.public_url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        {
            return Err(ConfigError::Inconsistent(
                "app.public_url is not an http(s) URL".into(),
            ));
        }
        self.payments.check_consistent()?;
        self.storage.check_consistent()?;
        let limits = &self.limits;
        if limits.backoff_base_secs > limits.backoff_max_secs || limits.backoff_max_secs > 86_400 {
            return Err(ConfigError::Inconsistent(
                "the sign-in back-off needs backoff_base_secs <= backoff_max_secs <= 86400".into(),
            ));
        }
        Ok(())
    }

    fn check_production_ready(&self) -> Result<(), ConfigError> {
        let unsafe_for_production = |why: &str| Err(ConfigError::UnsafeForProduction(why.into()));
        let secret = self.auth.jwt_secret.expose_secret();
        if DEVELOPMENT_SECRETS.contains(&secret) {
            return unsafe_for_production(
                "auth.jwt_secret is the development secret; set APP_AUTH__JWT_SECRET",
            );
        }
        if secret.len() < 32 {
            return unsafe_for_production(
                "auth.jwt_secret must be at least 32 bytes; set APP_AUTH__JWT_SECRET",
            );
        }
        let signing = self.auth.signing_secret.expose_secret();
        if DEVELOPMENT_SECRETS.contains(&signing) || signing.len() < 32 || signing == secret {
            return unsafe_for_production(
                "auth.signing_secret must be at least 32 bytes of its own (not the development value, not the JWT secret); set APP_AUTH__SIGNING_SECRET",
            );
        }
        if self.database.url.is_none() {
            return unsafe_for_production(
                "DATABASE_URL is not set (the embedded database is for development only)",
            );
        }
        if self.email.smtp_url.is_none() {
            return unsafe_for_production(
                "SMTP_URL is not set (file emails are for development only)",
            );
        }
        if self.payments.provider == ProviderKind::Simulated {
            return unsafe_for_production(
                "payments.provider is the simulated provider; set APP_PAYMENTS__PROVIDER=govuk_pay with its API key and webhook secret",
            );
        }
        if !self.payments.base_url.starts_with("https://") {
            return unsafe_for_production(
                "payments.base_url must be https (the API key travels with every call)",
            );
        }
        if DEVELOPMENT_SECRETS.contains(&self.payments.webhook_secret.expose_secret()) {
            return unsafe_for_production(
                "payments.webhook_secret is the development secret; set APP_PAYMENTS__WEBHOOK_SECRET",
            );
        }
        if self.storage.url.is_none() {
            return unsafe_for_production(
                "storage.url is not set (a local folder is seen by one machine only); set APP_STORAGE__URL=s3://bucket with its keys",
            );
        }
        if !self.app.public_url.starts_with("https://") {
            return unsafe_for_production(
                "app.public_url must be https (the unsubscribe links in emails point at it)",
            );
        }
        Ok(())
    }
}

impl StorageSettings {
    /// Object storage is configured whole or not at all: a bucket, and both halves of its key.
    fn check_consistent(&self) -> Result<(), ConfigError> {
        let half = |what: &str| {
            Err(ConfigError::Inconsistent(format!(
                "storage: {what} (object storage is half-configured)"
            )))
        };
        if !(1..=1 << 30).contains(&self.max_upload_bytes) {
            return Err(ConfigError::Inconsistent(
                "storage.max_upload_bytes must be from 1 to 1073741824".into(),
            ));
        }
        let Some(url) = &self.url else {
            return Ok(());
        };
        let bucket = url.strip_prefix("s3://").unwrap_or_default();
        if bucket.is_empty() || bucket.contains('/') {
            return half("url must be s3://bucket; set APP_STORAGE__URL");
        }
        let set = |key: &Option<SecretString>| {
            key.as_ref()
                .is_some_and(|k| !k.expose_secret().trim().is_empty())
        };
        if !set(&self.access_key_id) || !set(&self.secret_access_key) {
            return half(
                "an S3 bucket needs access_key_id and secret_access_key; set APP_STORAGE__ACCESS_KEY_ID and APP_STORAGE__SECRET_ACCESS_KEY",
            );
        }
        if let Some(endpoint) = &self.endpoint
            && !url::Url::parse(endpoint)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        {
            return half("endpoint is not an http(s) URL");
        }
        Ok(())
    }
}

impl PaymentSettings {
    /// A provider is configured whole or not at all: GOV.UK Pay needs its URL, key and secret.
    fn check_consistent(&self) -> Result<(), ConfigError> {
        let missing = |what: &str| {
            Err(ConfigError::Inconsistent(format!(
                "payments: {what} (the provider is half-configured)"
            )))
        };
        if self.webhook_secret.expose_secret().len() < 16 {
            return missing(
                "webhook_secret must be at least 16 bytes; set APP_PAYMENTS__WEBHOOK_SECRET",
            );
        }
        if self.timeout_ms == 0 || self.timeout_ms > 60_000 {
            return Err(ConfigError::Inconsistent(
                "payments.timeout_ms must be from 1 to 60000".into(),
            ));
        }
        if self.provider == ProviderKind::GovukPay {
            let url = url::Url::parse(&self.base_url);
            if !url.is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            {
                return missing("base_url is not an http(s) URL");
            }
            if self
                .api_key
                .as_ref()
                .is_none_or(|k| k.expose_secret().trim().is_empty())
            {
                return missing("GOV.UK Pay needs api_key; set APP_PAYMENTS__API_KEY");
            }
        }
        Ok(())
    }
}

/// Maps environment variables to configuration keys: `APP_A__B` → `a.b`, plus the conventional
/// names. The conventional names come last so they win over an `APP_` spelling of the same key.
fn environment_overrides(vars: &HashMap<String, String>) -> Vec<(String, figment::value::Value)> {
    const CONVENTIONAL: &[(&str, &str)] = &[
        ("DATABASE_URL", "database.url"),
        ("DATABASE_MIGRATION_URL", "database.migration_url"),
        ("SMTP_URL", "email.smtp_url"),
        ("PORT", "server.port"),
    ];
    let mut prefixed: Vec<(String, figment::value::Value)> = vars
        .iter()
        .filter_map(|(name, value)| {
            let rest = name.strip_prefix("APP_")?;
            if rest == "ENV" || rest == "CONFIG_DIR" || value.is_empty() {
                return None;
            }
            let key = rest.to_ascii_lowercase().replace("__", ".");
            Some((key, parse_value(value)))
        })
        .collect();
    // Stable order, so that the outcome never depends on HashMap iteration.
    prefixed.sort_by(|a, b| a.0.cmp(&b.0));
    for (var, key) in CONVENTIONAL {
        if let Some(value) = vars.get(*var).filter(|v| !v.is_empty()) {
            prefixed.push(((*key).to_owned(), parse_value(value)));
        }
    }
    prefixed
}

/// Environment values are strings; figment's lenient parse turns "8080" into a number, "true" into
/// a bool and `[a, b]` into an array, as its own `Env` provider does.
fn parse_value(raw: &str) -> figment::value::Value {
    match raw.parse() {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_config() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_without_environment() {
        let s = Settings::load_from(&repo_config(), &vars(&[])).unwrap();
        assert_eq!(s.profile, Profile::Development);
        assert_eq!(s.server.port, 8080);
        assert!(s.database.url.is_none());
        assert!(s.email.smtp_url.is_none());
    }

    #[test]
    fn profile_file_overrides_default_file() {
        let s = Settings::load_from(&repo_config(), &vars(&[("APP_ENV", "test")])).unwrap();
        assert_eq!(s.profile, Profile::Test);
        assert_eq!(s.server.workers, 1);
        assert_eq!(s.database.pool_max_size, 4);
        // Keys the profile does not mention keep the default.
        assert_eq!(s.server.port, 8080);
    }

    #[test]
    fn app_prefixed_variables_override_files() {
        let s = Settings::load_from(
            &repo_config(),
            &vars(&[
                ("APP_ENV", "test"),
                ("APP_SERVER__PORT", "9001"),
                ("APP_DATABASE__POOL_MAX_SIZE", "7"),
                ("APP_APP__FRONTEND_URL", "https://example.test"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.port, 9001);
        assert_eq!(s.database.pool_max_size, 7);
        assert_eq!(s.app.frontend_url, "https://example.test");
    }

    #[test]
    fn conventional_variables_win_over_app_prefixed_ones() {
        let s = Settings::load_from(
            &repo_config(),
            &vars(&[
                ("APP_SERVER__PORT", "9001"),
                ("PORT", "9002"),
                ("APP_DATABASE__URL", "postgres://a@h/one"),
                ("DATABASE_URL", "postgres://a@h/two"),
                ("SMTP_URL", "smtp://127.0.0.1:1025"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.port, 9002);
        assert_eq!(
            s.database.url.unwrap().expose_secret(),
            "postgres://a@h/two"
        );
        assert_eq!(
            s.email.smtp_url.unwrap().expose_secret(),
            "smtp://127.0.0.1:1025"
        );
    }

    #[test]
    fn cors_origins_must_be_origins() {
        for bad in [
            "*",
            "localhost:3000",
            "https://example.org/",
            "https://example.org/app",
            "ftp://example.org",
        ] {
            let env = vars(&[("APP_SERVER__CORS_ALLOWED_ORIGINS", &format!("[\"{bad}\"]"))]);
            let err = Settings::load_from(&repo_config(), &env).unwrap_err();
            assert!(matches!(err, ConfigError::Inconsistent(_)), "{bad}: {err}");
        }
        let env = vars(&[(
            "APP_SERVER__CORS_ALLOWED_ORIGINS",
            "[\"https://www.norfolk.gov.uk\", \"http://localhost:5173\"]",
        )]);
        let s = Settings::load_from(&repo_config(), &env).unwrap();
        assert_eq!(s.server.cors_allowed_origins.len(), 2);
    }

    #[test]
    fn built_in_defaults_serve_without_a_config_folder() {
        let nowhere = Path::new("/nonexistent-mynorfolk-config");
        let built_in = Settings::load_from(nowhere, &vars(&[])).unwrap();
        let from_files = Settings::load_from(&repo_config(), &vars(&[])).unwrap();
        assert_eq!(built_in.server.port, from_files.server.port);
        assert_eq!(built_in.log.filter, "info,mynorfolk=debug");
        let test = Settings::load_from(nowhere, &vars(&[("APP_ENV", "test")])).unwrap();
        assert_eq!(test.auth.hash_cost.memory_kib, 1024);
    }

    #[test]
    fn files_on_disk_layer_over_the_built_in_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("development.toml"),
            "[server]\nport = 9123\n",
        )
        .unwrap();
        let s = Settings::load_from(dir.path(), &vars(&[])).unwrap();
        assert_eq!(s.server.port, 9123);
        assert_eq!(s.database.pool_max_size, 16, "the rest stays built in");
    }

    #[test]
    fn a_named_config_folder_must_exist() {
        let env = vars(&[("APP_CONFIG_DIR", "/nonexistent-mynorfolk-config")]);
        let err = Settings::load_from(&config_dir(&env), &env).unwrap_err();
        assert!(matches!(err, ConfigError::MissingConfigDir(_)), "{err}");
    }

    #[test]
    fn unknown_profile_is_an_error() {
        let err =
            Settings::load_from(&repo_config(), &vars(&[("APP_ENV", "staging")])).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownProfile(_)));
    }

    #[test]
    fn a_bad_value_is_reported_not_ignored() {
        let err = Settings::load_from(&repo_config(), &vars(&[("PORT", "eighty")])).unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");
    }

    const PRODUCTION_READY: &[(&str, &str)] = &[
        ("APP_ENV", "production"),
        ("DATABASE_URL", "postgres://a@db/mynorfolk"),
        ("SMTP_URL", "smtp://mail:1025"),
        (
            "APP_AUTH__JWT_SECRET",
            "a-real-secret-with-more-than-32-bytes-of-entropy",
        ),
        (
            "APP_AUTH__SIGNING_SECRET",
            "another-real-secret-with-more-than-32-bytes",
        ),
        ("APP_PAYMENTS__API_KEY", "api_test_a-govuk-pay-key"),
        (
            "APP_PAYMENTS__WEBHOOK_SECRET",
            "a-webhook-signing-secret-from-govuk-pay",
        ),
        ("APP_STORAGE__URL", "s3://mynorfolk-attachments"),
        ("APP_STORAGE__ACCESS_KEY_ID", "AKIAEXAMPLE"),
        (
            "APP_STORAGE__SECRET_ACCESS_KEY",
            "an-example-secret-access-key",
        ),
    ];

    #[test]
    fn production_starts_with_real_secrets() {
        let s = Settings::load_from(&repo_config(), &vars(PRODUCTION_READY)).unwrap();
        assert_eq!(s.profile, Profile::Production);
        assert_eq!(s.log.format, LogFormat::Json);
    }

    #[test]
    fn every_profile_refuses_half_configured_object_storage() {
        let cases: &[(&str, Option<&str>)] = &[
            ("APP_STORAGE__ACCESS_KEY_ID", None),
            ("APP_STORAGE__SECRET_ACCESS_KEY", Some(" ")),
            ("APP_STORAGE__URL", Some("s3://")),
            ("APP_STORAGE__URL", Some("https://bucket.example")),
            ("APP_STORAGE__ENDPOINT", Some("minio:9000")),
        ];
        for (name, value) in cases {
            let mut env = vars(PRODUCTION_READY);
            env.insert("APP_ENV".into(), "development".into());
            match value {
                Some(v) => env.insert(name.to_string(), v.to_string()),
                None => env.remove(*name),
            };
            let err = Settings::load_from(&repo_config(), &env).unwrap_err();
            assert!(
                matches!(err, ConfigError::Inconsistent(_)),
                "{name}={value:?} should be refused, got {err}"
            );
        }
    }

    #[test]
    fn production_refuses_development_secret_and_missing_services() {
        let cases: &[(&str, Option<&str>)] = &[
            ("APP_AUTH__JWT_SECRET", Some(DEVELOPMENT_SECRETS[0])),
            ("APP_AUTH__JWT_SECRET", Some("short")),
            ("APP_AUTH__JWT_SECRET", None),
            ("DATABASE_URL", None),
            ("SMTP_URL", None),
            ("APP_STORAGE__URL", None),
            ("APP_APP__PUBLIC_URL", Some("http://api.example.org")),
            ("APP_AUTH__SIGNING_SECRET", None),
            ("APP_AUTH__SIGNING_SECRET", Some(DEVELOPMENT_SECRETS[1])),
            (
                "APP_AUTH__SIGNING_SECRET",
                Some("a-real-secret-with-more-than-32-bytes-of-entropy"),
            ),
        ];
        for (name, value) in cases {
            let mut env = vars(PRODUCTION_READY);
            match value {
                Some(v) => env.insert(name.to_string(), v.to_string()),
                None => env.remove(*name),
            };
            let err = Settings::load_from(&repo_config(), &env).unwrap_err();
            assert!(
                matches!(err, ConfigError::UnsafeForProduction(_)),
                "{name}={value:?} should be refused, got {err}"
            );
        }
    }

    #[test]
    fn a_payment_provider_is_configured_whole_or_refused() {
        let cases: &[(&str, Option<&str>)] = &[
            ("APP_PAYMENTS__PROVIDER", Some("simulated")),
            ("APP_PAYMENTS__WEBHOOK_SECRET", Some(DEVELOPMENT_SECRETS[1])),
            ("APP_PAYMENTS__WEBHOOK_SECRET", None),
            ("APP_PAYMENTS__WEBHOOK_SECRET", Some("short")),
            ("APP_PAYMENTS__API_KEY", None),
            ("APP_PAYMENTS__BASE_URL", Some("not a url")),
            (
                "APP_PAYMENTS__BASE_URL",
                Some("http://publicapi.payments.service.gov.uk"),
            ),
        ];
        for (name, value) in cases {
            let mut env = vars(PRODUCTION_READY);
            match value {
                Some(v) => env.insert(name.to_string(), v.to_string()),
                None => env.remove(*name),
            };
            let err = Settings::load_from(&repo_config(), &env).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::UnsafeForProduction(_) | ConfigError::Inconsistent(_)
                ),
                "{name}={value:?} should be refused, got {err}"
            );
        }
        // Half a GOV.UK Pay configuration is refused in development too.
        let err = Settings::load_from(
            &repo_config(),
            &vars(&[("APP_PAYMENTS__PROVIDER", "govuk_pay")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
    }
}

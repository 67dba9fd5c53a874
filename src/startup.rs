//! Wires configuration, database pool, mailer and HTTP server into a running application.
//! `ApiServer::build` binds the listener first, so tests can ask for port 0 and read the port.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tracing_actix_web::TracingLogger;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHasher;
use crate::auth::signed::Signer;
use crate::configuration::{Profile, ProviderKind};
use crate::configuration::{ServerSettings, Settings};
use crate::db::probe::ReadinessProbe;
use crate::db::session_checks::SessionChecks;
use crate::db::{self, DatabaseUrls, PoolOptions, applications};
use crate::email::worker::DeliveryOptions;
use crate::email::{self, Mailer};
use crate::http::ApiError;
use crate::http::extract::BodyLimit;
use crate::http::handlers::docs::OpenApiJson;
use crate::http::{middleware, routes};
use crate::payments::PaymentProvider;
use crate::payments::govuk_pay::GovUkPay;
use crate::payments::simulated::Simulated;
use crate::startup_error::StartupError;
use crate::state::{AppState, Catalogue, Draining, Throttles};
use crate::storage::FileStore;
use crate::telemetry::PrivacyRootSpan;
use crate::use_cases::retention;

/// The HTTP API with what runs beside it (email delivery, reset links, retention sweeps).
pub struct ApiServer {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    mailer: Mailer,
    signals: StopSignals,
}

impl ApiServer {
    /// Migrates (when configured to, as the schema's owner), builds the pool (as the service's
    /// own role) and mailer, and binds the HTTP listener.
    pub async fn build(settings: Settings, database: &DatabaseUrls) -> anyhow::Result<ApiServer> {
        let listener = bind(&settings.server)?;
        let port = listener.local_addr()?.port();
        if settings.database.migrate_on_start {
            db::run_migrations(&database.migration).await?;
        }
        // For start-up checks and the background work (email, resets, retention: one
        // connection each at a time); the HTTP workers have pools of their own.
        let mut background = PoolOptions::from_settings(&settings.database);
        background.max_size = background.max_size.min(BACKGROUND_CONNECTIONS);
        let pool = db::build_pool(&database.runtime, &background)?;
        refuse_an_audit_log_it_could_rewrite(&pool, settings.profile).await?;
        let mailer = Mailer::from_settings(&settings.email)?;
        // By default one hashing thread per core: they run at the lowest priority (and, given
        // `auth.hash_cgroup`, in an idle-class group), so sign-ins mostly use what requests leave.
        let hash_threads = match settings.auth.hash_max_concurrent {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let hasher = PasswordHasher::new(settings.auth.hash_cost, hash_threads)?;
        if let Some(cgroup) = &settings.auth.hash_cgroup {
            hasher
                .place_threads_in_cgroup(cgroup)
                .context("auth.hash_cgroup")?;
        }
        let catalogue =
            Catalogue::new(applications::active_services(&mut *pool.get().await?).await?);
        let state = web::Data::new(AppState {
            readiness: ReadinessProbe::new(pool.clone()),
            session_checks: SessionChecks::new(pool.clone()),
            catalogue: Arc::new(catalogue),
            hasher,
            jwt: JwtKeys::from_settings(&settings.auth),
            throttles: Arc::new(Throttles::from_settings(
                &settings.limits,
                settings.auth.jwt_secret.expose_secret().as_bytes(),
            )),
            payments: Arc::new(payment_provider(&settings, &pool, port)?),
            files: FileStore::from_settings(&settings.storage)?,
            signer: Signer::new(settings.auth.signing_secret.expose_secret().as_bytes()),
            lists: Arc::default(),
            pool,
            draining: Draining::default(),
            settings,
        });
        let server = http_server(listener, state.clone(), &database.runtime)?;
        Ok(ApiServer {
            port,
            server,
            state,
            mailer,
            // Before anyone is told the address: a SIGTERM from then on always drains.
            signals: StopSignals::install()?,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from outside (`stop(false)` is a crash as far as requests are concerned).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// Where attachments' files go, for the start-up line.
    pub fn files(&self) -> &FileStore {
        &self.state.files
    }

    /// Serves until SIGTERM (or SIGINT), then drains: readiness turns 503 at once and every
    /// answer says `Connection: close` for `server.drain_secs` (requests are still served: the
    /// load balancer is moving clients away), then the listener closes, in-flight requests get
    /// up to `server.shutdown_timeout_secs`, and this returns `Ok` (exit 0). The background work
    /// stops at the signal: the email worker finishes the email it is sending (within the
    /// shutdown timeout) and hands back the rest of its batch for another instance. A second
    /// signal stops at once.
    ///
    /// The email worker, the reset-link worker, the refund worker, the file sweeper and the
    /// retention sweep run in this same future;
    /// `stop(false)` on the server handle ends the requests at once and the background work as
    /// after a signal. Nothing committed is lost either way, nor on a real crash.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let settings = &self.state.settings;
        let (stop, stopping) = watch::channel(false);
        let delivery = email::worker::run(
            self.state.pool.clone(),
            self.mailer.clone(),
            DeliveryOptions {
                from: settings
                    .email
                    .from
                    .parse()
                    .context("email.from is not a mailbox")?,
                poll_interval: Duration::from_millis(settings.email.poll_interval_ms),
                retry_base: Duration::from_millis(settings.email.retry_base_ms),
                max_attempts: settings.email.max_attempts,
                unsubscribe: email::worker::UnsubscribeLinks {
                    signer: self.state.signer.clone(),
                    public_url: settings.app.public_url.clone(),
                },
            },
            stopping.clone(),
        );
        let retention = retention::run_periodically(
            self.state.pool.clone(),
            settings.clone(),
            Duration::from_secs(settings.app.retention_interval_secs),
        );
        let reset_links = crate::use_cases::accounts::run_reset_link_worker(
            self.state.pool.clone(),
            settings.app.clone(),
            settings.limits.reset_links_per_address,
            Duration::from_millis(settings.email.poll_interval_ms),
        );
        let files = crate::use_cases::attachments::run_file_sweeper(
            self.state.pool.clone(),
            self.state.files.clone(),
            Duration::from_millis(settings.email.poll_interval_ms),
        );
        let refunds = crate::use_cases::payments::run_refund_worker(
            self.state.pool.clone(),
            self.state.payments.clone(),
            Duration::from_millis(settings.email.poll_interval_ms),
        );
        let background = async {
            tokio::join!(
                delivery,
                until(stopping.clone(), retention),
                until(stopping.clone(), reset_links),
                until(stopping.clone(), refunds),
                until(stopping.clone(), files),
            );
        };
        let serving = async {
            let outcome = serve_then_drain(
                self.server,
                self.signals,
                &self.state.draining,
                Duration::from_secs(settings.server.drain_secs),
                &stop,
            )
            .await;
            let _ = stop.send(true);
            outcome
        };
        // Once the server has stopped, the background work (an email being sent) gets the
        // shutdown timeout too; an SMTP server that hangs cannot keep the process alive past it
        // (that email is then resent after its lease, with the same Message-ID).
        let grace = Duration::from_secs(settings.server.shutdown_timeout_secs);
        let mut background = std::pin::pin!(background);
        let mut serving = std::pin::pin!(serving);
        let outcome = tokio::select! {
            outcome = &mut serving => {
                if tokio::time::timeout(grace, &mut background).await.is_err() {
                    tracing::warn!("background work still running at the shutdown timeout: stopped");
                }
                outcome
            }
            () = &mut background => serving.await,
        };
        Ok(outcome?)
    }
}

/// Runs `server` until it stops. On the first stop signal: the background work is told to stop,
/// the instance drains for `drain`, then stops gracefully (the listener closes, in-flight
/// requests finish within the shutdown timeout). A second signal stops it at once.
async fn serve_then_drain(
    server: Server,
    mut signals: StopSignals,
    draining: &Draining,
    drain: Duration,
    stop_background: &watch::Sender<bool>,
) -> std::io::Result<()> {
    let handle = server.handle();
    let mut server = std::pin::pin!(server);
    tokio::select! {
        outcome = &mut server => return outcome,
        () = signals.next() => {}
    }
    draining.start();
    let _ = stop_background.send(true);
    tracing::info!(drain_secs = drain.as_secs(), "stop requested: draining");
    let force = {
        let handle = handle.clone();
        tokio::spawn(async move {
            signals.next().await;
            tracing::warn!("second stop signal: stopping at once");
            handle.stop(false).await;
        })
    };
    tokio::select! {
        outcome = &mut server => {
            force.abort();
            return outcome;
        }
        () = tokio::time::sleep(drain) => {}
    }
    let (outcome, ()) = tokio::join!(&mut server, handle.stop(true));
    force.abort();
    outcome
}

/// SIGTERM (what orchestrators send) and SIGINT (Ctrl-C), listened for from start-up on.
struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

/// Runs `work` until `stopping` turns true.
async fn until(mut stopping: watch::Receiver<bool>, work: impl std::future::Future<Output = ()>) {
    tokio::select! {
        () = work => {}
        _ = stopping.wait_for(|stop| *stop) => {}
    }
}

/// The audit log is append-only by privilege only if the service's role lacks the privilege:
/// production refuses to run as a role that has it; elsewhere it is a warning. A database that
/// cannot be asked right now is not a reason to refuse (readiness reports it).
async fn refuse_an_audit_log_it_could_rewrite(
    pool: &db::DbPool,
    profile: Profile,
) -> anyhow::Result<()> {
    match db::service_role_can_rewrite_audit_log(pool).await {
        Ok(false) => Ok(()),
        Ok(true) if profile == Profile::Production => Err(StartupError::new(
            "The role in DATABASE_URL can change or delete audit rows.",
            "Connect as a member of mynorfolk_runtime (not a superuser, not the schema's owner), and give the owner's connection as DATABASE_MIGRATION_URL.",
        )
        .into()),
        Ok(true) => {
            tracing::warn!("the service's database role can rewrite the audit log; set DATABASE_MIGRATION_URL and a runtime role for production");
            Ok(())
        }
        Err(error) => {
            tracing::warn!(error = %error, "could not check the database role's privileges");
            Ok(())
        }
    }
}

/// Binds first, before any slow start-up work, so a taken port is reported at once.
fn bind(server: &ServerSettings) -> anyhow::Result<TcpListener> {
    let address = format!("{}:{}", server.host, server.port);
    TcpListener::bind(&address).map_err(|error| {
        let remedy = "Stop the program using it, or choose another port with PORT (PORT=0 takes any free one).";
        match error.kind() {
            std::io::ErrorKind::AddrInUse => {
                StartupError::new(format!("Port {} on {} is already in use.", server.port, server.host), remedy)
            }
            _ => StartupError::new(
                format!("Cannot listen on {address}: {error}."),
                "Choose another address with APP_SERVER__HOST, or another port with PORT.",
            ),
        }
        .into()
    })
}

const BACKGROUND_CONNECTIONS: usize = 4;

/// The configured payment provider. The simulated one is reached at this instance's own address
/// (its pay page, and the webhook it sends itself).
fn payment_provider(
    settings: &Settings,
    pool: &db::DbPool,
    port: u16,
) -> anyhow::Result<PaymentProvider> {
    let payments = &settings.payments;
    let client = crate::payments::http_client(Duration::from_millis(payments.timeout_ms))?;
    Ok(match payments.provider {
        ProviderKind::GovukPay => PaymentProvider::GovUkPay(GovUkPay::new(
            client,
            &payments.base_url,
            payments
                .api_key
                .clone()
                .context("payments.api_key is not set")?,
            payments.webhook_secret.clone(),
        )),
        ProviderKind::Simulated => {
            let host = match settings.server.host.as_str() {
                "0.0.0.0" | "::" => "127.0.0.1",
                host => host,
            };
            PaymentProvider::Simulated(Simulated::new(
                pool.clone(),
                format!("http://{host}:{port}"),
                payments.webhook_secret.clone(),
                client,
            ))
        }
    })
}

/// The HTTP server. `state` is the template each worker copies, with a pool of its own that
/// holds its share of `database.pool_max_size` connections.
fn http_server(
    listener: TcpListener,
    state: web::Data<AppState>,
    database_url: &str,
) -> anyhow::Result<Server> {
    let settings = &state.settings;
    let workers = match settings.server.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let mut worker_pool = PoolOptions::from_settings(&settings.database);
    worker_pool.max_size = (worker_pool.max_size / workers).max(1);
    // Checked here, so that building the same pool in each worker cannot fail.
    db::build_pool(database_url, &worker_pool)?;
    let database_url = database_url.to_owned();
    let shutdown_timeout = settings.server.shutdown_timeout_secs;
    let body_limit = settings.server.json_limit_bytes;
    let origins = settings.server.cors_allowed_origins.clone();
    let document = routes::openapi_document();
    let served = routes::openapi_json();
    let allowed_methods = web::Data::new(routes::AllowedMethods::from_document(&document));
    let openapi_json = web::Data::new(OpenApiJson(serde_json::to_string(&served)?));

    let server = HttpServer::new(move || {
        let pool = db::build_pool(&database_url, &worker_pool)
            .expect("the same pool was built before the workers started");
        let (app, _) = routes::documented(App::new()).split_for_parts();
        app.app_data(web::Data::new(state.for_worker(pool)))
            .app_data(openapi_json.clone())
            .app_data(allowed_methods.clone())
            .app_data(BodyLimit(body_limit))
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
            .app_data(web::QueryConfig::default().error_handler(|error, _| {
                ApiError::MalformedRequest(format!("invalid query string: {error}")).into()
            }))
            .service(SwaggerUi::new("/docs/{_:.*}").config(SwaggerConfig::new(["/openapi.json"])))
            .configure(crate::http::handlers::simulated_pay::routes)
            // No route: 404, or 405 for a known path (the middleware renders both as problems).
            .default_service(web::to(routes::unrouted))
            .wrap(from_fn(middleware::refuse_nul))
            .wrap(from_fn(crate::http::auth::admin_gate))
            .wrap(middleware::problem_json_errors())
            .wrap(from_fn(middleware::response_headers))
            .wrap(middleware::cors(&origins))
            .wrap(TracingLogger::<PrivacyRootSpan>::new())
    })
    .listen(listener)?
    .workers(workers)
    .shutdown_timeout(shutdown_timeout)
    // `run_until_stopped` handles the signals: it drains before the listener closes.
    .disable_signals()
    .run();
    Ok(server)
}

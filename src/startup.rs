//! Wires configuration, database pool, mailer and HTTP server into a running application.
//! `Application::build` binds the listener first, so tests can ask for port 0 and read the port.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::configuration::Settings;
use crate::db::{self, DbPool, PoolOptions};
use crate::email::Mailer;
use crate::http::ApiError;
use crate::http::extract::BodyLimit;
use crate::http::handlers::docs::OpenApiJson;
use crate::http::{middleware, routes};
use crate::telemetry::PrivacyRootSpan;

pub struct Application {
    port: u16,
    server: Server,
    pool: DbPool,
    mailer: Mailer,
}

impl Application {
    /// Migrates (when configured to), builds the pool and mailer, and binds the HTTP listener.
    pub async fn build(settings: Settings, database_url: &str) -> anyhow::Result<Application> {
        if settings.database.migrate_on_start {
            db::run_migrations(database_url).await?;
        }
        let pool = db::build_pool(
            database_url,
            &PoolOptions {
                max_size: settings.database.pool_max_size,
                timeout: Duration::from_millis(settings.database.pool_timeout_ms),
                statement_timeout: Duration::from_millis(settings.database.statement_timeout_ms),
            },
        )?;
        let mailer = Mailer::from_settings(&settings.email)?;
        let address = settings.bind_address();
        let listener = TcpListener::bind(&address).with_context(|| format!("binding {address}"))?;
        let port = listener.local_addr()?.port();
        let server = http_server(listener, settings, pool.clone())?;
        Ok(Application {
            port,
            server,
            pool,
            mailer,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// Serves until SIGINT/SIGTERM, then stops accepting and lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn http_server(listener: TcpListener, settings: Settings, pool: DbPool) -> anyhow::Result<Server> {
    let workers = match settings.server.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let shutdown_timeout = settings.server.shutdown_timeout_secs;
    let body_limit = settings.server.json_limit_bytes;
    let origins = settings.server.cors_allowed_origins.clone();
    let pool = web::Data::new(pool);
    let settings = web::Data::new(settings);
    let openapi_json = web::Data::new(OpenApiJson(serde_json::to_string(
        &routes::openapi_document(),
    )?));

    let server = HttpServer::new(move || {
        let (app, _) = routes::documented(App::new()).split_for_parts();
        app.app_data(pool.clone())
            .app_data(settings.clone())
            .app_data(openapi_json.clone())
            .app_data(BodyLimit(body_limit))
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
            .app_data(web::QueryConfig::default().error_handler(|error, _| {
                ApiError::MalformedRequest(format!("invalid query string: {error}")).into()
            }))
            .service(SwaggerUi::new("/docs/{_:.*}").config(SwaggerConfig::new(["/openapi.json"])))
            // No route: the middleware renders actix's bare 404 as a problem ("nothing at this address").
            .default_service(web::to(actix_web::HttpResponse::NotFound))
            .wrap(middleware::problem_json_errors())
            .wrap(from_fn(middleware::response_headers))
            .wrap(middleware::cors(&origins))
            .wrap(TracingLogger::<PrivacyRootSpan>::new())
    })
    .listen(listener)?
    .workers(workers)
    .shutdown_timeout(shutdown_timeout)
    .run();
    Ok(server)
}

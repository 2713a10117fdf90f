//! Builds the application: binds the listener first (so tests can ask for port 0 and learn
//! the real port), opens the database, wires the service and schema into the HTTP server.

use std::{net::TcpListener, sync::Arc};

use actix_cors::Cors;
use actix_web::{
    dev::Server,
    http::header,
    middleware::{from_fn, Condition},
    web, App, HttpServer,
};
use anyhow::Context;

use crate::{
    auth::{PasswordHasher, TokenKeys},
    config::Settings,
    db,
    graphql::{self, DocumentCache},
    metrics::Metrics,
    request_log,
    routes::{self, AppState},
    service::{CursorCodec, CustomerService},
};

/// Distinct query texts whose parse is kept; clients use a few dozen.
const DOCUMENT_CACHE_ENTRIES: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(256) {
    Some(n) => n,
    None => unreachable!(),
};

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("BIND: cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();

        let storage = settings.storage.clone();
        let cost = settings.bcrypt_cost;
        let (store, hasher) = tokio::task::spawn_blocking(move || {
            let store = db::open(&storage.backend, &storage.pool)?;
            let hasher = PasswordHasher::new(cost).context("BCRYPT_COST")?;
            anyhow::Ok((store, hasher))
        })
        .await??;

        let tokens = Arc::new(TokenKeys::new(
            &settings.jwt_secret,
            &settings.jwt_issuer,
            settings.token_ttl,
        ));
        let metrics = Arc::new(Metrics::default());
        let service = Arc::new(CustomerService::new(
            store,
            hasher,
            Arc::clone(&tokens),
            CursorCodec::new(&settings.jwt_secret),
            settings.policy.clone(),
            Arc::clone(&metrics),
        ));
        let state = web::Data::new(AppState {
            schema: graphql::build_schema(Arc::clone(&service), &settings.graphql),
            tokens,
            service,
            metrics,
            limits: settings.graphql.clone(),
            documents: DocumentCache::new(DOCUMENT_CACHE_ENTRIES),
        });

        let http = settings.http.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(http.max_body_bytes))
                .configure(routes::configure)
                .wrap(Condition::new(
                    !http.cors_allowed_origins.is_empty(),
                    cors(&http.cors_allowed_origins),
                ))
                .wrap(from_fn(request_log::log_request))
        })
        .listen(listener)?
        // SIGTERM and SIGINT both stop gracefully: no new connections, in-flight requests
        // finish within the shutdown timeout.
        .disable_signals()
        .shutdown_signal(stop_signal())
        .shutdown_timeout(settings.http.shutdown_timeout.as_secs());
        let workers = settings.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        });
        // Database calls are the only blocking work on the workers' threads, and no more of
        // them than the pool has connections can run at once: more threads would only wait on
        // the pool (measured: fewer threads, fewer context switches, more requests/s).
        let pool_size = usize::try_from(settings.storage.pool.max_size).unwrap_or(usize::MAX);
        server = server
            .workers(workers)
            .worker_max_blocking_threads(pool_size.div_ceil(workers).max(1));
        tracing::info!(port, "listening");
        Ok(Self {
            port,
            server: server.run(),
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped (SIGINT or SIGTERM).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Browsers may call from the configured origins, with the headers the API reads.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["GET", "POST"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .allowed_header(request_log::REQUEST_ID)
        .expose_headers([request_log::REQUEST_ID])
        .max_age(3600)
}

/// Resolves on SIGTERM or SIGINT.
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("stopping: finishing in-flight requests");
}

//! Builds the application: binds the listener first (so tests can ask for port 0 and learn
//! the real port), opens the database, wires the service and schema into the HTTP server.

use std::{net::TcpListener, sync::Arc, time::Duration};

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
    config::{self, Settings},
    db,
    graphql::{self, Documents, Engine, TrustedDocuments},
    http::{self, request_log, AppState, ConnectionCounts, TrustedProxies},
    mail::Mailer,
    metrics::Metrics,
    service::{housekeeping, CursorCodec, CustomerService, Parts, RequestHasher},
};

/// Distinct query texts whose parse is kept (the cache is also bounded by their total size).
const DOCUMENT_CACHE_ENTRIES: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(1024) {
    Some(n) => n,
    None => unreachable!(),
};

pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
    server: Server,
    metrics_server: Option<Server>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // First: a bad manifest is a mistake to report before anything else.
        let trusted = match &settings.documents.manifest {
            Some(path) => TrustedDocuments::load(path)?,
            None => TrustedDocuments::default(),
        };
        if settings.documents.manifest.is_some() {
            tracing::info!(
                documents = trusted.document_count(),
                trusted_only = settings.documents.trusted_only,
                "trusted documents loaded"
            );
        }
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("BIND: cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let metrics_listener = settings
            .metrics_bind
            .map(|bind| {
                TcpListener::bind(bind)
                    .with_context(|| format!("METRICS_BIND: cannot listen on {bind}"))
            })
            .transpose()?;

        let (storage, schema) = (settings.storage.clone(), settings.schema);
        let (cost, max_jobs) = (settings.bcrypt_cost, settings.max_password_jobs);
        let (store, hasher) = tokio::task::spawn_blocking(move || {
            let store = db::open(&storage.backend, &storage.pool, schema)?;
            let hasher = PasswordHasher::new(cost, max_jobs).context("BCRYPT_COST")?;
            anyhow::Ok((store, hasher))
        })
        .await??;

        let tokens = Arc::new(TokenKeys::new(
            &settings.jwt_secret,
            &settings.jwt_issuer,
            settings.token_ttl,
        ));
        let metrics = Arc::new(Metrics::default());
        let mailer = Arc::new(Mailer::new(&settings.mail)?);
        let service = Arc::new(CustomerService::new(Parts {
            store,
            hasher,
            tokens: Arc::clone(&tokens),
            cursors: CursorCodec::new(&settings.jwt_secret),
            requests: RequestHasher::new(&settings.jwt_secret),
            policy: settings.policy.clone(),
            metrics: Arc::clone(&metrics),
            mailer,
        }));
        service.start_live_updates(settings.live.auth_check);
        actix_web::rt::spawn(housekeeping(
            Arc::clone(&service),
            settings.housekeeping_interval,
        ));
        let engine = Engine::new(
            graphql::build_schema(Arc::clone(&service), settings.introspection),
            Documents::new(
                DOCUMENT_CACHE_ENTRIES,
                trusted,
                settings.documents.trusted_only,
            ),
            settings.limits.bounds.clone(),
        );
        let state = web::Data::new(AppState {
            engine,
            tokens,
            service,
            limits: settings.limits.clone(),
            trusted_proxies: TrustedProxies::new(settings.http.trusted_proxies.clone()),
            graphiql: settings.introspection,
            live: settings.live.clone(),
            connections: ConnectionCounts::default(),
        });
        let metrics = web::Data::from(metrics);

        let http = settings.http.clone();
        let metrics_apart = metrics_listener.is_some();
        let mut server = HttpServer::new({
            let (state, metrics) = (state.clone(), metrics.clone());
            move || {
                App::new()
                    .app_data(state.clone())
                    .app_data(metrics.clone())
                    .configure(|cfg| http::configure(cfg, !metrics_apart))
                    .wrap(Condition::new(
                        !http.cors_allowed_origins.is_empty(),
                        cors(&http.cors_allowed_origins),
                    ))
                    .wrap(from_fn(request_log::log_request))
            }
        })
        .listen(listener)?
        // SIGTERM and SIGINT both stop gracefully: no new connections, in-flight requests
        // finish within the shutdown timeout.
        .disable_signals()
        .shutdown_signal(stop_signal(settings.http.shutdown_timeout))
        .shutdown_timeout(settings.http.shutdown_timeout.as_secs());
        let workers = settings.workers.unwrap_or_else(config::cores);
        // Database calls are the only blocking work on the workers' threads, and no more of
        // them than the pool has connections can run at once: more threads would only wait on
        // the pool (measured: fewer threads, fewer context switches, more requests/s).
        let pool_size = usize::try_from(settings.storage.pool.max_size).unwrap_or(usize::MAX);
        server = server
            .workers(workers)
            .worker_max_blocking_threads(pool_size.div_ceil(workers).max(1));

        let metrics_port = metrics_listener
            .as_ref()
            .map(|listener| listener.local_addr().map(|addr| addr.port()))
            .transpose()?;
        let metrics_server = metrics_listener
            .map(|listener| {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .app_data(metrics.clone())
                        .configure(http::configure_metrics)
                })
                .listen(listener)?
                .workers(1)
                .disable_signals()
                .run();
                anyhow::Ok(server)
            })
            .transpose()?;
        tracing::info!(port, metrics_port, "listening");
        Ok(Self {
            port,
            metrics_port,
            server: server.run(),
            metrics_server,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of /metrics, when it has an address of its own.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// Serves until the server is stopped (SIGINT or SIGTERM); /metrics stops with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics_server.map(|server| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let result = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(false).await;
        }
        result
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
        .allowed_header(http::IDEMPOTENCY_KEY)
        .expose_headers([request_log::REQUEST_ID, header::RETRY_AFTER])
        .max_age(3600)
}

/// Resolves on SIGTERM or SIGINT, and then makes sure the process ends: if in-flight work is
/// still running once the grace period is over (a database call that hangs, say), the process
/// exits anyway, with status 1.
async fn stop_signal(grace: Duration) {
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
    std::thread::spawn(move || {
        std::thread::sleep(grace + Duration::from_secs(2));
        tracing::error!("stopping: work still running after the grace period; exiting");
        std::process::exit(1);
    });
}

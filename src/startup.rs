//! Builds the application: binds the listener first (so tests can ask for port 0 and learn
//! the real port), opens the database, wires the service and schema into the HTTP server.

use std::{net::TcpListener, sync::Arc};

use actix_web::{dev::Server, web, App, HttpServer};
use anyhow::Context;

use crate::{
    auth::{PasswordHasher, TokenKeys},
    config::Settings,
    db, graphql,
    routes::{self, AppState},
    service::{CursorCodec, CustomerService},
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
        let service = Arc::new(CustomerService::new(
            store,
            hasher,
            Arc::clone(&tokens),
            CursorCodec::new(&settings.jwt_secret),
            settings.policy.clone(),
        ));
        let state = web::Data::new(AppState {
            schema: graphql::build_schema(Arc::clone(&service)),
            tokens,
            service,
        });

        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .configure(routes::configure)
        })
        .listen(listener)?;
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
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

//! HTTP: GraphQL over HTTP at /graphql, GraphiQL at /, the health endpoints and /metrics.
//! The bearer token of each request becomes its [`Caller`], and its client address (behind
//! trusted proxies) the network the login throttle counts.

use std::sync::Arc;

use actix_web::{http::header, web, HttpRequest, HttpResponse};

use crate::{
    auth::{Caller, TokenKeys},
    config::{Limits, LiveSettings},
    domain::ClientNetwork,
    graphql::{Engine, RequestMeta},
    metrics::Metrics,
    service::CustomerService,
};

mod body;
mod caching;
mod client_addr;
mod compression;
mod graphiql;
mod graphql;
mod negotiation;
pub mod request_log;
mod websocket;

pub use client_addr::TrustedProxies;
pub use websocket::ConnectionCounts;

/// What every handler shares; built once at start.
pub struct AppState {
    pub engine: Engine,
    pub tokens: Arc<TokenKeys>,
    pub service: Arc<CustomerService>,
    pub limits: Limits,
    pub trusted_proxies: TrustedProxies,
    /// Whether GraphiQL is served (with introspection).
    pub graphiql: bool,
    pub live: LiveSettings,
    /// WebSocket connections per client.
    pub connections: websocket::ConnectionCounts,
}

/// The most of a `User-Agent` kept with a session.
const MAX_USER_AGENT_CHARS: usize = 256;

pub const IDEMPOTENCY_KEY: header::HeaderName = header::HeaderName::from_static("idempotency-key");

impl AppState {
    /// The caller (from the bearer token) of a request, and what else its headers say.
    fn request_context(&self, http: &HttpRequest) -> (Caller, RequestMeta) {
        let headers = http.headers();
        let text = |name| headers.get(name).map(|value| value.to_str().unwrap_or(""));
        let caller = Caller::from_authorization(text(header::AUTHORIZATION), &self.tokens);
        let client = self
            .trusted_proxies
            .client(http.peer_addr().map(|addr| addr.ip()), headers)
            .map(ClientNetwork::of);
        // Stored as text: no control characters, and bounded.
        let user_agent = text(header::USER_AGENT)
            .map(|agent| {
                agent
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER_AGENT_CHARS)
                    .collect::<String>()
            })
            .filter(|agent| !agent.trim().is_empty());
        let meta = RequestMeta {
            client,
            user_agent,
            idempotency_key: text(IDEMPOTENCY_KEY).map(str::to_owned),
        };
        (caller, meta)
    }
}

/// The API's routes. /metrics is among them unless it has an address of its own.
pub fn configure(cfg: &mut web::ServiceConfig, with_metrics: bool) {
    cfg.service(
        web::resource("/graphql")
            .route(
                web::get()
                    .guard(actix_web::guard::fn_guard(|ctx| {
                        websocket::is_upgrade(ctx.head())
                    }))
                    .to(websocket::upgrade),
            )
            .route(web::post().to(graphql::post))
            .route(web::get().to(graphql::get))
            .default_service(web::to(|| async {
                HttpResponse::MethodNotAllowed()
                    .insert_header((header::ALLOW, "GET, POST"))
                    .finish()
            })),
    )
    .configure(graphiql::configure)
    .route("/healthz", web::get().to(healthz))
    .route("/readyz", web::get().to(readyz));
    if with_metrics {
        configure_metrics(cfg);
    }
}

/// /metrics alone, for its own address.
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

/// Liveness: the process serves.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.service.database_ready().await {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable" }))
    }
}

/// Prometheus metrics (OpenMetrics text).
async fn metrics(metrics: web::Data<Metrics>, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(metrics.render(
            state.service.pool_state(),
            state.service.live_subscriptions(),
        ))
}

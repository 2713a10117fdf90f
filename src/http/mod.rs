//! HTTP: GraphQL over HTTP at /graphql, GraphiQL at /, the health endpoints and /metrics.
//! The bearer token of each request becomes its [`Caller`], and its client address (behind
//! trusted proxies) the network the login throttle counts.

use std::sync::Arc;

use actix_web::{
    http::header::{self, ContentType},
    web, HttpRequest, HttpResponse,
};
use async_graphql::http::GraphiQLSource;

use crate::{
    auth::{Caller, TokenKeys},
    config::Limits,
    domain::ClientNetwork,
    graphql::{ClientAddr, Engine},
    metrics::Metrics,
    service::CustomerService,
};

mod body;
mod client_addr;
mod graphql;
mod negotiation;
pub mod request_log;

pub use client_addr::TrustedProxies;

/// What every handler shares; built once at start.
pub struct AppState {
    pub engine: Engine,
    pub tokens: Arc<TokenKeys>,
    pub service: Arc<CustomerService>,
    pub limits: Limits,
    pub trusted_proxies: TrustedProxies,
    /// Whether GraphiQL is served (with introspection).
    pub graphiql: bool,
}

impl AppState {
    /// The caller (from the bearer token) and client network of a request.
    fn request_context(&self, http: &HttpRequest) -> (Caller, ClientAddr) {
        let authorization = http
            .headers()
            .get(header::AUTHORIZATION)
            .map(|value| value.to_str().unwrap_or(""));
        let caller = Caller::from_authorization(authorization, &self.tokens);
        let client = self
            .trusted_proxies
            .client(http.peer_addr().map(|addr| addr.ip()), http.headers())
            .map(ClientNetwork::of);
        (caller, ClientAddr(client))
    }
}

/// The API's routes. /metrics is among them unless it has an address of its own.
pub fn configure(cfg: &mut web::ServiceConfig, with_metrics: bool) {
    cfg.service(
        web::resource("/graphql")
            .route(web::post().to(graphql::post))
            .route(web::get().to(graphql::get))
            .default_service(web::to(|| async {
                HttpResponse::MethodNotAllowed()
                    .insert_header((header::ALLOW, "GET, POST"))
                    .finish()
            })),
    )
    .route("/", web::get().to(graphiql))
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

/// GraphiQL, unless introspection is switched off.
async fn graphiql(state: web::Data<AppState>) -> HttpResponse {
    if !state.graphiql {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok().content_type(ContentType::html()).body(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("customer-api")
            .finish(),
    )
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
        .body(metrics.render(state.service.pool_state()))
}

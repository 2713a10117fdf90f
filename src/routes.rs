//! HTTP: GraphQL over HTTP at /graphql, GraphiQL at /, and the health endpoints. The bearer
//! token of each request becomes its [`Caller`].

use std::sync::Arc;

use actix_web::{
    http::header::{self, ContentType},
    web, HttpRequest, HttpResponse,
};
use async_graphql::http::GraphiQLSource;
use async_graphql_actix_web::GraphQLRequest;

use crate::{
    auth::{Caller, TokenKeys},
    config::GraphqlSettings,
    graphql::{self, AppSchema, ClientAddr, DocumentCache, Transport},
    metrics::Metrics,
    request_log::GraphqlOutcome,
    service::CustomerService,
};

/// What every handler shares; built once at start.
pub struct AppState {
    pub schema: AppSchema,
    pub tokens: Arc<TokenKeys>,
    pub service: Arc<CustomerService>,
    pub metrics: Arc<Metrics>,
    pub limits: GraphqlSettings,
    pub documents: DocumentCache,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/graphql")
            .route(web::post().to(graphql_post))
            .route(web::get().to(graphql_get))
            .default_service(web::to(|| async {
                HttpResponse::MethodNotAllowed()
                    .insert_header((header::ALLOW, "GET, POST"))
                    .finish()
            })),
    )
    .route("/", web::get().to(graphiql))
    .route("/healthz", web::get().to(healthz))
    .route("/readyz", web::get().to(readyz))
    .route("/metrics", web::get().to(metrics));
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The body is read whole, up to the configured limit (larger: 413, nothing parsed), then
/// parsed as one request or, when batching is on, as an array of at most the batch limit.
async fn graphql_post(
    state: web::Data<AppState>,
    http: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> HttpResponse {
    let body = match body {
        Ok(body) => body,
        Err(error) => return unparsable_request(&http, &error),
    };
    let request = match serde_json::from_slice::<async_graphql::BatchRequest>(&body) {
        Ok(request) => request,
        Err(_) => return unparsable_request(&http, &actix_web::error::ErrorBadRequest("")),
    };
    match request {
        async_graphql::BatchRequest::Single(request) => {
            execute(&state, &http, Transport::Post, request).await
        }
        async_graphql::BatchRequest::Batch(requests) => {
            execute_batch(&state, &http, requests).await
        }
    }
}

async fn execute_batch(
    state: &AppState,
    http: &HttpRequest,
    requests: Vec<async_graphql::Request>,
) -> HttpResponse {
    let limit = state.limits.max_batch_size;
    if limit == 0 || requests.len() > limit {
        let message = if limit == 0 {
            "batched requests are not accepted".to_owned()
        } else {
            format!("a batch may hold at most {limit} operations")
        };
        return error_response(
            http,
            &mut HttpResponse::BadRequest(),
            &message,
            "BAD_USER_INPUT",
        );
    }
    let (caller, client) = request_context(state, http);
    let mut responses = Vec::with_capacity(requests.len());
    for request in requests {
        let request = request.data(caller.clone()).data(client);
        let executed = run(state, Transport::Post, request).await;
        responses.push(executed.response);
    }
    let outcome = responses
        .iter()
        .find_map(|r| first_error_code(&r.errors))
        .unwrap_or_else(|| "ok".to_owned());
    let response = async_graphql::BatchResponse::Batch(responses);
    let mut response = HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, response_type(http)))
        .json(&response);
    response.extensions_mut().insert(GraphqlOutcome {
        operation: "batch".to_owned(),
        outcome,
    });
    response
}

/// Queries over GET; a mutation over GET is refused (it must not be triggered by a link).
async fn graphql_get(
    state: web::Data<AppState>,
    http: HttpRequest,
    request: Result<GraphQLRequest, actix_web::Error>,
) -> HttpResponse {
    let request = match request {
        Ok(request) => request.into_inner(),
        Err(error) => return unparsable_request(&http, &error),
    };
    execute(&state, &http, Transport::Get, request).await
}

/// The caller (from the bearer token) and client address of a request.
fn request_context(state: &AppState, http: &HttpRequest) -> (Caller, ClientAddr) {
    let authorization = http
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or(""));
    let caller = Caller::from_authorization(authorization, &state.tokens);
    (caller, ClientAddr(http.peer_addr().map(|addr| addr.ip())))
}

fn first_error_code(errors: &[async_graphql::ServerError]) -> Option<String> {
    errors.iter().find_map(
        |error| match error.extensions.as_ref().and_then(|x| x.get("code")) {
            Some(async_graphql::Value::String(code)) => Some(code.clone()),
            _ => None,
        },
    )
}

async fn execute(
    state: &AppState,
    http: &HttpRequest,
    transport: Transport,
    request: async_graphql::Request,
) -> HttpResponse {
    let (caller, client) = request_context(state, http);
    let graphql::Executed {
        response,
        root_field: operation,
        mutation_over_get,
    } = run(state, transport, request.data(caller).data(client)).await;
    let outcome = first_error_code(&response.errors).unwrap_or_else(|| "ok".to_owned());

    // Parse and validation failures are request errors: 400 for clients that speak the
    // GraphQL-over-HTTP media type, 200 with errors for plain JSON clients.
    let request_error = response.data == async_graphql::Value::Null
        && response.errors.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .is_some_and(|code| {
                    matches!(code, async_graphql::Value::String(c)
                    if c == graphql::PARSE_FAILED || c == graphql::VALIDATION_FAILED)
                })
        });
    let mut builder = if mutation_over_get {
        let mut builder = HttpResponse::MethodNotAllowed();
        builder.insert_header((header::ALLOW, "POST"));
        builder
    } else if request_error && accepts_graphql_response(http) {
        HttpResponse::BadRequest()
    } else {
        HttpResponse::Ok()
    };
    let mut response = builder
        .insert_header((header::CONTENT_TYPE, response_type(http)))
        .json(&response);
    response
        .extensions_mut()
        .insert(GraphqlOutcome { operation, outcome });
    response
}

async fn run(
    state: &AppState,
    transport: Transport,
    request: async_graphql::Request,
) -> graphql::Executed {
    graphql::execute(
        &state.schema,
        &state.documents,
        state.limits.max_depth,
        transport,
        request,
    )
    .await
}

/// A body that is not a GraphQL request at all (bad JSON, wrong shape, too large).
fn unparsable_request(http: &HttpRequest, error: &actix_web::Error) -> HttpResponse {
    let status = error.as_response_error().status_code();
    error_response(
        http,
        &mut HttpResponse::build(status),
        "the request is not a valid GraphQL-over-HTTP request",
        "GRAPHQL_PARSE_FAILED",
    )
}

fn error_response(
    http: &HttpRequest,
    builder: &mut actix_web::HttpResponseBuilder,
    message: &str,
    code: &str,
) -> HttpResponse {
    builder
        .insert_header((header::CONTENT_TYPE, response_type(http)))
        .json(serde_json::json!({
            "errors": [{ "message": message, "extensions": { "code": code } }]
        }))
}

fn accepts_graphql_response(http: &HttpRequest) -> bool {
    http.headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains(GRAPHQL_RESPONSE))
}

fn response_type(http: &HttpRequest) -> &'static str {
    if accepts_graphql_response(http) {
        GRAPHQL_RESPONSE
    } else {
        "application/json"
    }
}

/// GraphiQL, unless introspection is switched off.
async fn graphiql(state: web::Data<AppState>) -> HttpResponse {
    if !state.limits.introspection {
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
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render(state.service.pool_state()))
}

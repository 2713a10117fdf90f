//! HTTP: GraphQL over HTTP at /graphql, GraphiQL at /, and the health endpoints. The bearer
//! token of each request becomes its [`Caller`].

use std::sync::Arc;

use actix_web::{
    http::header::{self, ContentType},
    web, HttpRequest, HttpResponse,
};
use async_graphql::{
    http::GraphiQLSource,
    parser::types::{DocumentOperations, ExecutableDocument, OperationType},
};
use async_graphql_actix_web::GraphQLRequest;

use crate::{
    auth::{Caller, TokenKeys},
    graphql::{AppSchema, ClientAddr},
    service::CustomerService,
};

/// What every handler shares; built once at start.
pub struct AppState {
    pub schema: AppSchema,
    pub tokens: Arc<TokenKeys>,
    pub service: Arc<CustomerService>,
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
    .route("/readyz", web::get().to(readyz));
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

async fn graphql_post(
    state: web::Data<AppState>,
    http: HttpRequest,
    request: Result<GraphQLRequest, actix_web::Error>,
) -> HttpResponse {
    match request {
        Ok(request) => execute(&state, &http, request.into_inner()).await,
        Err(error) => unparsable_request(&http, &error),
    }
}

/// Queries over GET; a mutation over GET is refused (it must not be triggered by a link).
async fn graphql_get(
    state: web::Data<AppState>,
    http: HttpRequest,
    request: Result<GraphQLRequest, actix_web::Error>,
) -> HttpResponse {
    let mut request = match request {
        Ok(request) => request.into_inner(),
        Err(error) => return unparsable_request(&http, &error),
    };
    let operation = request.operation_name.clone();
    if let Ok(document) = request.parsed_query() {
        if is_mutation(document, operation.as_deref()) {
            return error_response(
                &http,
                HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, "POST")),
                "mutations must be sent with POST",
                "BAD_USER_INPUT",
            );
        }
    }
    execute(&state, &http, request).await
}

fn is_mutation(document: &ExecutableDocument, operation: Option<&str>) -> bool {
    match (&document.operations, operation) {
        (DocumentOperations::Single(op), _) => op.node.ty == OperationType::Mutation,
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .get(name)
            .is_some_and(|op| op.node.ty == OperationType::Mutation),
        (DocumentOperations::Multiple(_), None) => false,
    }
}

async fn execute(
    state: &AppState,
    http: &HttpRequest,
    request: async_graphql::Request,
) -> HttpResponse {
    let authorization = http
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or(""));
    let caller = Caller::from_authorization(authorization, &state.tokens);
    let client = ClientAddr(http.peer_addr().map(|addr| addr.ip()));
    let response = state
        .schema
        .execute(request.data(caller).data(client))
        .await;

    // Parse and validation failures are request errors: 400 for clients that speak the
    // GraphQL-over-HTTP media type, 200 with errors for plain JSON clients.
    let request_error = response.data == async_graphql::Value::Null
        && response.errors.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .is_some_and(|code| {
                    matches!(code, async_graphql::Value::String(c)
                    if c == "GRAPHQL_PARSE_FAILED" || c == "GRAPHQL_VALIDATION_FAILED")
                })
        });
    let mut builder = if request_error && accepts_graphql_response(http) {
        HttpResponse::BadRequest()
    } else {
        HttpResponse::Ok()
    };
    builder
        .insert_header((header::CONTENT_TYPE, response_type(http)))
        .json(&response)
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

async fn graphiql() -> HttpResponse {
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

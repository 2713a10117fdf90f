//! GraphQL over HTTP at /graphql. POST takes a JSON body (and, when batching is on, an array
//! of requests); GET takes the request in the query string and runs queries only. Every
//! answer carries its [`Outcome`], which the request log reads, and its HTTP status follows
//! from it here, in one place.

use actix_web::{
    http::{
        header::{self, HeaderValue},
        StatusCode,
    },
    web, HttpRequest, HttpResponse,
};
use async_graphql::{BatchRequest, BatchResponse, Request, Variables};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{
    body::{self, BodyError},
    negotiation::{self, MediaType},
    AppState,
};
use crate::{
    error::ErrorCode,
    graphql::{Failure, Outcome, Transport},
};

pub async fn post(
    state: web::Data<AppState>, http: HttpRequest, payload: web::Payload,
) -> HttpResponse {
    let deadline = Instant::now() + state.limits.request_timeout;
    let Ok(media) = negotiation::response_type(http.headers()) else {
        return not_acceptable();
    };
    if !negotiation::is_json_body(http.headers()) {
        return refuse(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST bodies must be JSON: send Content-Type: application/json",
        );
    }
    let limits = &state.limits;
    let body = match body::read(
        payload,
        http.headers(),
        limits.max_body_bytes,
        limits.body_read_timeout,
    )
    .await
    {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            let message = format!("the body is larger than {} bytes", limits.max_body_bytes);
            return refuse(media, StatusCode::PAYLOAD_TOO_LARGE, &message);
        }
        Err(BodyError::TooSlow) => {
            let message = format!(
                "the body did not arrive within {}",
                humantime::format_duration(limits.body_read_timeout)
            );
            let mut response = refuse(media, StatusCode::REQUEST_TIMEOUT, &message);
            response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
            return response;
        }
        Err(BodyError::Broken) => {
            return refuse(media, StatusCode::BAD_REQUEST, "the body could not be read")
        }
    };
    let Ok(request) = serde_json::from_slice::<BatchRequest>(&body) else {
        return refuse(
            media,
            StatusCode::BAD_REQUEST,
            "the body is not a GraphQL-over-HTTP request",
        );
    };
    match request {
        BatchRequest::Single(request) => {
            single(&state, &http, media, Transport::Post, request, deadline).await
        }
        BatchRequest::Batch(requests) => batch(&state, &http, media, requests, deadline).await,
    }
}

/// The GET form of a request: its parts in the query string, variables and extensions as
/// JSON text.
#[derive(Deserialize)]
struct GetParams {
    query: String,
    variables: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
}

/// Queries over GET; a mutation over GET is refused (it must not be triggered by a link).
pub async fn get(state: web::Data<AppState>, http: HttpRequest) -> HttpResponse {
    let deadline = Instant::now() + state.limits.request_timeout;
    let Ok(media) = negotiation::response_type(http.headers()) else {
        return not_acceptable();
    };
    let request = web::Query::<GetParams>::from_query(http.query_string())
        .ok()
        .and_then(|params| {
            let params = params.into_inner();
            let variables = match params.variables.as_deref() {
                None | Some("") => Variables::default(),
                Some(json) => Variables::from_json(serde_json::from_str(json).ok()?),
            };
            let mut request = Request::new(params.query).variables(variables);
            request.operation_name = params.operation_name.filter(|name| !name.is_empty());
            Some(request)
        });
    match request {
        Some(request) => single(&state, &http, media, Transport::Get, request, deadline).await,
        None => refuse(
            media,
            StatusCode::BAD_REQUEST,
            "a GET request needs ?query=, and variables as a JSON object",
        ),
    }
}

async fn single(
    state: &AppState, http: &HttpRequest, media: MediaType, transport: Transport, request: Request,
    deadline: Instant,
) -> HttpResponse {
    let (caller, meta) = state.request_context(http);
    let request = request.data(caller).data(meta);
    let (response, outcome) = state.engine.execute(transport, request, deadline).await;
    respond(media, outcome, &response)
}

async fn batch(
    state: &AppState, http: &HttpRequest, media: MediaType, requests: Vec<Request>,
    deadline: Instant,
) -> HttpResponse {
    let limit = state.limits.max_batch_size;
    if limit == 0 || requests.len() > limit {
        let message = if limit == 0 {
            "batched requests are not accepted".to_owned()
        } else {
            format!("a batch may hold at most {limit} operations")
        };
        return answer(
            media,
            StatusCode::BAD_REQUEST,
            Outcome::refused(ErrorCode::BadUserInput),
            &error_body(ErrorCode::BadUserInput, &message),
        );
    }
    let (caller, meta) = state.request_context(http);
    let mut responses = Vec::with_capacity(requests.len());
    let mut error = None;
    for request in requests {
        let request = request.data(caller.clone()).data(meta.clone());
        let (response, outcome) = state
            .engine
            .execute(Transport::Post, request, deadline)
            .await;
        error = error.or(outcome.error);
        responses.push(response);
    }
    let outcome = Outcome::batch(error);
    answer(
        media,
        StatusCode::OK,
        outcome,
        &BatchResponse::Batch(responses),
    )
}

/// The HTTP status of a GraphQL answer, from its outcome: request errors are 4xx for clients
/// that speak the GraphQL-over-HTTP media type, 200 with errors for plain JSON clients.
fn respond(media: MediaType, outcome: Outcome, response: &async_graphql::Response) -> HttpResponse {
    let status = match outcome.failure {
        None => StatusCode::OK,
        Some(Failure::MutationOverGet) => StatusCode::METHOD_NOT_ALLOWED,
        Some(Failure::DeadlinePassed) => StatusCode::SERVICE_UNAVAILABLE,
        Some(Failure::Request) if media == MediaType::GraphqlResponse => StatusCode::BAD_REQUEST,
        Some(Failure::Request) => StatusCode::OK,
    };
    let mut response = answer(media, status, outcome, response);
    if outcome.failure == Some(Failure::MutationOverGet) {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

/// A request refused before it was a GraphQL request (media type, size, speed, shape).
fn refuse(media: MediaType, status: StatusCode, message: &str) -> HttpResponse {
    let code = ErrorCode::GraphqlParseFailed;
    answer(
        media,
        status,
        Outcome::refused(code),
        &error_body(code, message),
    )
}

fn not_acceptable() -> HttpResponse {
    let code = ErrorCode::GraphqlParseFailed;
    answer(
        MediaType::Json,
        StatusCode::NOT_ACCEPTABLE,
        Outcome::refused(code),
        &error_body(
            code,
            "the server answers application/graphql-response+json or application/json",
        ),
    )
}

fn error_body(code: ErrorCode, message: &str) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![code.error(message)])
}

fn answer(
    media: MediaType, status: StatusCode, outcome: Outcome, body: &impl Serialize,
) -> HttpResponse {
    let mut response = HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, media.as_str()))
        // The body's type depends on Accept: caches must keep one copy per Accept.
        .insert_header((header::VARY, "Accept"))
        .json(body);
    response.extensions_mut().insert(outcome);
    response
}

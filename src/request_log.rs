//! One log line per request, with a request id (taken from `X-Request-Id` or made here, and
//! returned in the response), and the request metrics. Only ids, names, codes and timings
//! are logged: never a body, a header value other than the request id, or an email.

use std::time::Instant;

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
    web,
};
use tracing::Instrument;

use crate::{metrics::RequestLabels, routes::AppState};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What a GraphQL request was and how it ended, left in the response's extensions by the
/// handler for this middleware to log and count.
#[derive(Debug, Clone)]
pub struct GraphqlOutcome {
    /// The root field of the operation (a schema name, never a client-chosen one).
    pub operation: String,
    /// `ok`, or the code of the first error.
    pub outcome: String,
}

/// A client's request id is kept if it is short, visible ASCII; otherwise one is made.
fn request_id(request: &ServiceRequest) -> String {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

pub async fn log_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id(&request);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.path(),
    );
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let started = Instant::now();
    let mut response = next.call(request).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let graphql = response
        .response()
        .extensions()
        .get::<GraphqlOutcome>()
        .cloned();
    let status = response.status().as_u16();
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    match graphql {
        Some(GraphqlOutcome { operation, outcome }) => {
            tracing::info!(parent: &span, status, duration_ms, %operation, %outcome, "graphql request");
            if let Some(state) = state {
                state
                    .metrics
                    .observe_request(RequestLabels { operation, outcome }, elapsed.as_secs_f64());
            }
        }
        None => tracing::debug!(parent: &span, status, duration_ms, "request"),
    }
    Ok(response)
}

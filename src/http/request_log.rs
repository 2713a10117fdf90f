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

use crate::{
    graphql::Outcome,
    metrics::{Metrics, RequestLabels},
};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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
    request: ServiceRequest, next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id(&request);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.path(),
    );
    let metrics = request.app_data::<web::Data<Metrics>>().cloned();
    let started = Instant::now();
    let mut response = next.call(request).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    // The GraphQL handlers leave the request's typed outcome in the response.
    let graphql = response.response().extensions().get::<Outcome>().copied();
    let status = response.status().as_u16();
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    match graphql {
        Some(outcome) => {
            let labels = RequestLabels {
                operation: outcome.operation_label(),
                outcome: outcome.outcome_label(),
            };
            tracing::info!(
                parent: &span,
                status,
                duration_ms,
                operation = labels.operation,
                outcome = labels.outcome,
                "graphql request"
            );
            if let Some(metrics) = metrics {
                metrics.observe_request(labels, elapsed.as_secs_f64());
            }
        }
        None => tracing::debug!(parent: &span, status, duration_ms, "request"),
    }
    Ok(response)
}

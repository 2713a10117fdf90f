//! GraphQL over HTTP at /graphql. POST takes a JSON body (and, when batching is on, an array
//! of requests); GET takes the request in the query string and runs queries only. Every
//! answer carries its [`Outcome`], which the request log reads, and its HTTP status follows
//! from it here, in one place. Answers are compressed when large enough, and successful GET
//! answers carry an entity tag and their `Cache-Control`.

use actix_web::{
    http::{
        header::{self, HeaderValue},
        StatusCode,
    },
    web, HttpRequest, HttpResponse,
};
use async_graphql::{BatchRequest, BatchResponse, CacheControl, Extensions, Request, Variables};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{
    body::{self, BodyError},
    caching,
    compression::{self, Coding, Effort},
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
    let (deadline, reply) = match start(&state, &http, Transport::Post).await {
        Ok(started) => started,
        Err(refused) => return refused,
    };
    if !negotiation::is_json_body(http.headers()) {
        return reply
            .refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "POST bodies must be JSON: send Content-Type: application/json",
            )
            .await;
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
            return reply.refuse(StatusCode::PAYLOAD_TOO_LARGE, &message).await;
        }
        Err(BodyError::TooSlow) => {
            let message = format!(
                "the body did not arrive within {}",
                humantime::format_duration(limits.body_read_timeout)
            );
            let mut response = reply.refuse(StatusCode::REQUEST_TIMEOUT, &message).await;
            response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
            return response;
        }
        Err(BodyError::Broken) => {
            return reply
                .refuse(StatusCode::BAD_REQUEST, "the body could not be read")
                .await
        }
    };
    let Ok(request) = serde_json::from_slice::<BatchRequest>(&body) else {
        return reply
            .refuse(
                StatusCode::BAD_REQUEST,
                "the body is not a GraphQL-over-HTTP request",
            )
            .await;
    };
    match request {
        BatchRequest::Single(request) => single(&state, reply, request, deadline).await,
        BatchRequest::Batch(requests) => batch(&state, reply, requests, deadline).await,
    }
}

/// The GET form of a request: its parts in the query string, variables and extensions as
/// JSON text. The query may be left out when `extensions` names a persisted one.
#[derive(Deserialize)]
struct GetParams {
    #[serde(default)]
    query: String,
    variables: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    extensions: Option<String>,
}

/// Queries over GET; a mutation over GET is refused (it must not be triggered by a link).
pub async fn get(state: web::Data<AppState>, http: HttpRequest) -> HttpResponse {
    let (deadline, reply) = match start(&state, &http, Transport::Get).await {
        Ok(started) => started,
        Err(refused) => return refused,
    };
    let json_object = |text: Option<String>| -> Option<Option<serde_json::Value>> {
        match text.as_deref() {
            None | Some("") => Some(None),
            Some(json) => serde_json::from_str(json).ok().map(Some),
        }
    };
    let request = web::Query::<GetParams>::from_query(http.query_string())
        .ok()
        .and_then(|params| {
            let params = params.into_inner();
            let variables = json_object(params.variables)?.map(Variables::from_json);
            let extensions = match json_object(params.extensions)? {
                Some(json) => serde_json::from_value::<Extensions>(json).ok()?,
                None => Extensions::default(),
            };
            let mut request = Request::new(params.query).variables(variables.unwrap_or_default());
            request.extensions = extensions;
            request.operation_name = params.operation_name.filter(|name| !name.is_empty());
            Some(request)
        });
    match request {
        Some(request) => single(&state, reply, request, deadline).await,
        None => {
            let message = "a GET request needs ?query= (or a persisted query's hash in \
                           extensions), with variables and extensions as JSON objects";
            reply.refuse(StatusCode::BAD_REQUEST, message).await
        }
    }
}

async fn single(
    state: &AppState, reply: Reply<'_>, request: Request, deadline: Instant,
) -> HttpResponse {
    let (caller, meta) = state.request_context(reply.http);
    let request = request.data(caller).data(meta);
    let (response, outcome) = state
        .engine
        .execute(reply.transport, request, deadline)
        .await;
    let status = match outcome.failure {
        None | Some(Failure::PersistedQueryNotFound) => StatusCode::OK,
        Some(Failure::MutationOverGet) => StatusCode::METHOD_NOT_ALLOWED,
        Some(Failure::DeadlinePassed) => StatusCode::SERVICE_UNAVAILABLE,
        Some(Failure::Malformed) => StatusCode::BAD_REQUEST,
        Some(Failure::Request) if reply.media == MediaType::GraphqlResponse => {
            StatusCode::BAD_REQUEST
        }
        Some(Failure::Request) => StatusCode::OK,
    };
    let mut answer = reply
        .send(status, outcome, &response, &response.cache_control)
        .await;
    if outcome.failure == Some(Failure::MutationOverGet) {
        answer
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    answer
}

async fn batch(
    state: &AppState, reply: Reply<'_>, requests: Vec<Request>, deadline: Instant,
) -> HttpResponse {
    let limit = state.limits.max_batch_size;
    if limit == 0 || requests.len() > limit {
        let message = if limit == 0 {
            "batched requests are not accepted".to_owned()
        } else {
            format!("a batch may hold at most {limit} operations")
        };
        let code = ErrorCode::BadUserInput;
        return reply
            .send(
                StatusCode::BAD_REQUEST,
                Outcome::refused(code),
                &error_body(code, &message),
                &CacheControl::default(),
            )
            .await;
    }
    let (caller, meta) = state.request_context(reply.http);
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
    let responses = BatchResponse::Batch(responses);
    reply
        .send(
            StatusCode::OK,
            Outcome::batch(error),
            &responses,
            &responses.cache_control(),
        )
        .await
}

/// What every request starts with: its deadline, and how it is answered; or the refusal when
/// the client accepts no type the server writes.
async fn start<'a>(
    state: &AppState, http: &'a HttpRequest, transport: Transport,
) -> Result<(Instant, Reply<'a>), HttpResponse> {
    let deadline = Instant::now() + state.limits.request_timeout;
    match negotiation::response_type(http.headers()) {
        Ok(media) => Ok((
            deadline,
            Reply {
                http,
                media,
                transport,
            },
        )),
        Err(_) => Err(not_acceptable(http).await),
    }
}

async fn not_acceptable(http: &HttpRequest) -> HttpResponse {
    let reply = Reply {
        http,
        media: MediaType::Json,
        transport: Transport::Post,
    };
    let message = "the server answers application/graphql-response+json or application/json";
    reply.refuse(StatusCode::NOT_ACCEPTABLE, message).await
}

fn error_body(code: ErrorCode, message: &str) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![code.error(message)])
}

/// How an answer goes back: in the media type the client accepts, compressed as it accepts,
/// and, over GET, with the headers that let it and caches keep the answer.
#[derive(Clone, Copy)]
struct Reply<'a> {
    http: &'a HttpRequest,
    media: MediaType,
    transport: Transport,
}

impl Reply<'_> {
    /// A request refused before it was a GraphQL request (media type, size, speed, shape).
    async fn refuse(self, status: StatusCode, message: &str) -> HttpResponse {
        let code = ErrorCode::GraphqlParseFailed;
        let body = error_body(code, message);
        let hints = CacheControl::default();
        self.send(status, Outcome::refused(code), &body, &hints)
            .await
    }

    async fn send(
        self, status: StatusCode, outcome: Outcome, body: &impl Serialize, hints: &CacheControl,
    ) -> HttpResponse {
        let Ok(bytes) = serde_json::to_vec(body) else {
            return HttpResponse::InternalServerError().finish();
        };
        let mut response = HttpResponse::build(status);
        response
            .insert_header((header::CONTENT_TYPE, self.media.as_str()))
            .insert_header((header::VARY, caching::VARY));
        if self.transport == Transport::Get {
            if status == StatusCode::OK && outcome.failure.is_none() {
                let token_used = self.http.headers().contains_key(header::AUTHORIZATION);
                let etag = caching::entity_tag(&bytes);
                response
                    .insert_header((
                        header::CACHE_CONTROL,
                        caching::cache_control(token_used, hints),
                    ))
                    .insert_header((header::ETAG, etag.to_string()));
                if caching::client_has(self.http, &etag) {
                    response.status(StatusCode::NOT_MODIFIED);
                    return with_outcome(response.finish(), outcome);
                }
            } else {
                response.insert_header((header::CACHE_CONTROL, "no-store"));
            }
        }
        // Most answers are small: the size decides before the header is parsed.
        let coding = (bytes.len() >= compression::MIN_BYTES)
            .then(|| Coding::negotiate(self.http))
            .flatten();
        let body = match coding {
            None => bytes,
            Some(coding) => {
                let compressed = if bytes.len() <= compression::INLINE_MAX_BYTES {
                    coding.compress(&bytes, Effort::Dynamic)
                } else {
                    match web::block(move || coding.compress(&bytes, Effort::Dynamic)).await {
                        Ok(compressed) => compressed,
                        Err(_) => return HttpResponse::ServiceUnavailable().finish(),
                    }
                };
                response.insert_header((header::CONTENT_ENCODING, coding.as_str()));
                compressed
            }
        };
        with_outcome(response.body(body), outcome)
    }
}

fn with_outcome(mut response: HttpResponse, outcome: Outcome) -> HttpResponse {
    response.extensions_mut().insert(outcome);
    response
}

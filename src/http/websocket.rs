//! Subscriptions over WebSocket at /graphql, in the `graphql-transport-ws` protocol that the
//! `graphql-ws` client speaks. async-graphql runs the protocol (`http::WebSocket`); this
//! module runs the connection around it, for what the protocol leaves to the server:
//!
//! - the token in `connection_init`'s payload authenticates the connection; a missing, bad or
//!   revoked one closes it with 4403 before any `connection_ack` (async-graphql closes with
//!   1002, which clients read as a protocol error), and so does no `connection_init` within
//!   `WS_INIT_TIMEOUT` (4408);
//! - bounds: connections per client network, subscriptions per connection (more are
//!   answered with an `error` message), frame size (`MAX_BODY_BYTES`); a second subscription
//!   with an id in use closes with 4409, as the protocol says;
//! - keep-alive: a `ping` message every `WS_KEEPALIVE`, and a connection silent for three of
//!   them is closed;
//! - every operation goes through the same document cache and bounds as over HTTP.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use actix_web::{
    http::header::{self, HeaderValue},
    web, HttpRequest, HttpResponse,
};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use async_graphql::{
    futures_util::stream::BoxStream,
    http::{WebSocket, WsMessage},
    Data, Executor, Request, Response,
};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::time::Instant;

use super::AppState;
use crate::{
    auth::Caller,
    domain::ClientNetwork,
    error::ErrorCode,
    graphql::{TokenExpiry, Transport},
    locking::lock,
};

const PROTOCOL: &str = "graphql-transport-ws";

/// Whether a GET /graphql asks for a WebSocket.
pub fn is_upgrade(head: &actix_web::dev::RequestHead) -> bool {
    head.headers()
        .get(header::UPGRADE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// The WebSocket connections of each client network on this instance.
#[derive(Default)]
pub struct ConnectionCounts {
    counts: Mutex<HashMap<Option<ClientNetwork>, usize>>,
}

/// One connection's place in its client's count, given back when the connection ends.
struct ConnectionSlot {
    counts: web::Data<AppState>,
    client: Option<ClientNetwork>,
}

impl ConnectionSlot {
    fn take(state: &web::Data<AppState>, client: Option<ClientNetwork>) -> Option<Self> {
        let limit = state.live.max_connections_per_client;
        let mut counts = lock(&state.connections.counts);
        let count = counts.entry(client).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Self {
            counts: state.clone(),
            client,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts.connections.counts);
        if let Some(count) = counts.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

/// GET /graphql with `Upgrade: websocket`.
pub async fn upgrade(
    state: web::Data<AppState>, http: HttpRequest, payload: web::Payload,
) -> HttpResponse {
    let offered = http
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|p| p.trim() == PROTOCOL));
    if !offered {
        return refuse(
            actix_web::http::StatusCode::BAD_REQUEST,
            "WebSocket connections need the graphql-transport-ws subprotocol",
        );
    }
    let (_, meta) = state.request_context(&http);
    let client = meta.client;
    let Some(slot) = ConnectionSlot::take(&state, client) else {
        let mut refused = refuse(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            "too many WebSocket connections from this client",
        );
        refused
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        return refused;
    };
    match actix_ws::handle_with_protocols(&http, payload, &[PROTOCOL]) {
        Ok((response, session, messages)) => {
            let connection = Connection::new(state, session, meta);
            actix_web::rt::spawn(connection.run(messages, slot));
            response
        }
        Err(error) => error.error_response(),
    }
}

fn refuse(status: actix_web::http::StatusCode, message: &str) -> HttpResponse {
    let body = Response::from_errors(vec![ErrorCode::BadUserInput.error(message)]);
    HttpResponse::build(status).json(body)
}

/// Runs the operations of one connection through the engine, with the connection's data (the
/// caller from `connection_init`).
#[derive(Clone)]
struct LiveExecutor(web::Data<AppState>);

impl Executor for LiveExecutor {
    async fn execute(&self, request: Request) -> Response {
        let deadline = Instant::now() + self.0.limits.request_timeout;
        let engine = &self.0.engine;
        engine
            .execute(Transport::WebSocket, request, deadline)
            .await
            .0
    }

    fn execute_stream(
        &self, request: Request, session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let connection = session_data.unwrap_or_default();
        let timeout = self.0.limits.request_timeout;
        self.0.engine.execute_stream(request, connection, timeout)
    }
}

/// A client message, as far as this module reads it.
#[derive(Deserialize)]
struct ClientMessage {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

/// What the connection does with a client's frame.
enum Inbound {
    PassOn,
    Answer(String),
    Close(u16, String),
}

struct Connection {
    state: web::Data<AppState>,
    session: Session,
    meta: crate::graphql::RequestMeta,
    acknowledged: bool,
    /// The ids of the operations running.
    running: HashSet<String>,
}

impl Connection {
    fn new(
        state: web::Data<AppState>, session: Session, meta: crate::graphql::RequestMeta,
    ) -> Self {
        Self {
            state,
            session,
            meta,
            acknowledged: false,
            running: HashSet::new(),
        }
    }

    async fn run(mut self, messages: actix_ws::MessageStream, _slot: ConnectionSlot) {
        let settings = self.state.live.clone();
        let max_frame = self.state.limits.max_body_bytes;
        let mut messages = messages
            .max_frame_size(max_frame)
            .aggregate_continuations()
            .max_continuation_size(max_frame);
        let (to_protocol, from_client) = tokio::sync::mpsc::channel::<String>(16);
        let from_client = futures_util::stream::unfold(from_client, |mut receiver| async move {
            receiver.recv().await.map(|text| (text, receiver))
        });
        let service = Arc::clone(&self.state.service);
        let tokens = Arc::clone(&self.state.tokens);
        let protocol = WebSocket::new(
            LiveExecutor(self.state.clone()),
            from_client,
            async_graphql::http::WebSocketProtocols::GraphQLWS,
        )
        .connection_data(Data::default())
        .on_connection_init({
            let meta = self.meta.clone();
            move |payload| authenticate(payload, tokens, service, meta)
        });
        let mut protocol = std::pin::pin!(protocol);
        let init_deadline = tokio::time::sleep(settings.init_timeout);
        let mut init_deadline = std::pin::pin!(init_deadline);
        let mut keepalive =
            tokio::time::interval_at(Instant::now() + settings.keepalive, settings.keepalive);
        let mut last_heard = Instant::now();
        let close = loop {
            tokio::select! {
                frame = messages.recv() => {
                    last_heard = Instant::now();
                    match frame {
                        Some(Ok(AggregatedMessage::Text(text))) => match self.inbound(&text) {
                            Inbound::PassOn => {
                                if to_protocol.send(text.to_string()).await.is_err() {
                                    break None;
                                }
                            }
                            Inbound::Answer(answer) => {
                                if self.session.text(answer).await.is_err() {
                                    break None;
                                }
                            }
                            Inbound::Close(code, reason) => break Some((code, reason)),
                        },
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            break Some((4400, "binary messages are not part of the protocol".into()));
                        }
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            if self.session.pong(&bytes).await.is_err() {
                                break None;
                            }
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Close(_))) | None => break None,
                        Some(Err(_)) => break Some((1009, "message too big or malformed".into())),
                    }
                }
                outbound = protocol.next() => match outbound {
                    Some(WsMessage::Text(text)) => {
                        self.outbound(&text);
                        if self.session.text(text).await.is_err() {
                            break None;
                        }
                    }
                    Some(WsMessage::Close(code, reason)) => break Some(self.close_code(code, reason)),
                    None => break Some((1000, String::new())),
                },
                _ = keepalive.tick() => {
                    if last_heard.elapsed() > 3 * settings.keepalive {
                        break Some((1001, "no message within three keep-alive intervals".into()));
                    }
                    if self.acknowledged && self.session.text(r#"{"type":"ping"}"#).await.is_err() {
                        break None;
                    }
                }
                () = &mut init_deadline, if !self.acknowledged => {
                    break Some((4408, "Connection initialisation timeout".into()));
                }
            }
        };
        if let Some((code, reason)) = close {
            let reason = CloseReason {
                code: CloseCode::from(code),
                description: Some(reason),
            };
            let _ = self.session.close(Some(reason)).await;
        }
    }

    /// Looks at a client's frame before the protocol does: subscriptions are counted here.
    fn inbound(&mut self, text: &str) -> Inbound {
        // Unreadable frames go on: the protocol closes the connection for them (4400).
        let Ok(message) = serde_json::from_str::<ClientMessage>(text) else {
            return Inbound::PassOn;
        };
        match (message.kind.as_str(), message.id) {
            ("subscribe", Some(id)) if self.acknowledged => {
                if self.running.contains(&id) {
                    return Inbound::Close(4409, format!("Subscriber for {id} already exists"));
                }
                let limit = self.state.live.max_subscriptions_per_connection;
                if self.running.len() >= limit {
                    let message = format!("a connection may run at most {limit} operations");
                    let payload = vec![ErrorCode::RateLimited.error(message)];
                    let answer =
                        serde_json::json!({ "type": "error", "id": id, "payload": payload });
                    return Inbound::Answer(answer.to_string());
                }
                self.running.insert(id);
                Inbound::PassOn
            }
            ("complete", Some(id)) => {
                self.running.remove(&id);
                Inbound::PassOn
            }
            _ => Inbound::PassOn,
        }
    }

    /// Follows what the protocol sends: the acknowledgement, and operations that ended.
    fn outbound(&mut self, text: &str) {
        if text.starts_with(r#"{"type":"connection_ack""#) {
            self.acknowledged = true;
        } else if text.starts_with(r#"{"type":"complete""#) {
            if let Ok(ClientMessage { id: Some(id), .. }) = serde_json::from_str(text) {
                self.running.remove(&id);
            }
        }
    }

    /// The close code the protocol asks for, where async-graphql's differs: a failed
    /// `connection_init` is 4403, an operation before the acknowledgement 4401, an
    /// unreadable message 4400.
    fn close_code(&self, code: u16, reason: String) -> (u16, String) {
        match code {
            1002 if !self.acknowledged => (4403, "Forbidden".into()),
            1011 => (4401, "Unauthorized".into()),
            1002 => (4400, reason),
            _ => (code, reason),
        }
    }
}

/// `connection_init`: the token in the payload's `Authorization` must be valid now.
async fn authenticate(
    payload: serde_json::Value, tokens: Arc<crate::auth::TokenKeys>,
    service: Arc<crate::service::CustomerService>, meta: crate::graphql::RequestMeta,
) -> async_graphql::Result<Data> {
    let header = ["Authorization", "authorization"]
        .iter()
        .find_map(|name| payload.get(name)?.as_str());
    let (caller, expires_at) = Caller::with_expiry(header, &tokens);
    if matches!(caller, Caller::Anonymous | Caller::InvalidToken) {
        return Err("Forbidden".into());
    }
    service
        .verify(&caller)
        .await
        .map_err(|_| async_graphql::Error::new("Forbidden"))?;
    let mut data = Data::default();
    data.insert(caller);
    data.insert(meta);
    if let Some(expires_at) = expires_at {
        data.insert(TokenExpiry(expires_at));
    }
    Ok(data)
}

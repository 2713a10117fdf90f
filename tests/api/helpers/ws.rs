//! A graphql-transport-ws client over awc's WebSocket, for the subscription tests: it speaks
//! the protocol frame by frame, so that tests can also break it.

use std::time::Duration;

use actix_codec::Framed;
use awc::{
    ws::{Codec, Frame, Message},
    BoxedSocket,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use super::{get_text, TestApp};

/// What arrived from the server.
#[derive(Debug)]
pub enum Received {
    Message(Value),
    /// The server closed the connection with this code and reason.
    Closed(u16, String),
}

pub struct WsClient {
    framed: Framed<BoxedSocket, Codec>,
}

/// How long a test waits for a frame it expects.
const WAIT: Duration = Duration::from_secs(5);

impl TestApp {
    /// Waits until `count` subscriptions are open on this instance, read from its
    /// `live_subscriptions` gauge: a subscription is counted once it listens, so a write made
    /// after this reaches it.
    pub async fn wait_for_subscriptions(&self, count: usize) {
        let metrics = self.metrics_address.as_deref().unwrap_or(&self.address);
        let expected = format!("customer_api_live_subscriptions {count}");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (_, text) = get_text(metrics, "/metrics").await;
            if text.lines().any(|line| line == expected) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} open subscriptions; metrics:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl WsClient {
    /// Opens a connection that offers graphql-transport-ws; no `connection_init` yet.
    pub async fn open(app: &TestApp) -> Result<Self, u16> {
        let connecting = app
            .client()
            .ws(format!("{}/graphql", app.address.replacen("http", "ws", 1)))
            .protocols(["graphql-transport-ws"])
            .connect()
            .await;
        match connecting {
            Ok((response, framed)) => {
                let protocol = response.headers().get("sec-websocket-protocol").unwrap();
                assert_eq!(protocol, "graphql-transport-ws");
                Ok(Self { framed })
            }
            Err(awc::error::WsClientError::InvalidResponseStatus(status)) => Err(status.as_u16()),
            Err(error) => panic!("WebSocket connection failed: {error}"),
        }
    }

    /// Opens a connection and authenticates it with `token`; panics unless acknowledged.
    pub async fn connect(app: &TestApp, token: &str) -> Self {
        let mut client = Self::open(app).await.expect("the upgrade is accepted");
        client
            .init(json!({ "Authorization": format!("Bearer {token}") }))
            .await;
        match client.receive().await {
            Received::Message(message) if message["type"] == "connection_ack" => client,
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    pub async fn init(&mut self, payload: Value) {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
    }

    pub async fn send(&mut self, message: Value) {
        self.framed
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("frame sent");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let payload = json!({ "query": query, "variables": variables });
        self.send(json!({ "type": "subscribe", "id": id, "payload": payload }))
            .await;
    }

    /// The next message (answering and skipping the server's pings), or the close.
    pub async fn receive(&mut self) -> Received {
        self.receive_within(WAIT).await.expect("a frame in time")
    }

    /// As [`Self::receive`], or `None` when nothing came within `wait`.
    pub async fn receive_within(&mut self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.framed.next())
                .await
                .ok()?;
            match frame {
                Some(Ok(Frame::Text(text))) => {
                    let message: Value = serde_json::from_slice(&text).unwrap();
                    if message["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return Some(Received::Message(message));
                }
                Some(Ok(Frame::Close(reason))) => {
                    let (code, description) = reason
                        .map(|r| (u16::from(r.code), r.description.unwrap_or_default()))
                        .unwrap_or((1005, String::new()));
                    return Some(Received::Closed(code, description));
                }
                Some(Ok(Frame::Ping(bytes))) => {
                    let _ = self.framed.send(Message::Pong(bytes)).await;
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => panic!("WebSocket error: {error}"),
                None => {
                    return Some(Received::Closed(
                        1006,
                        "closed without a close frame".into(),
                    ))
                }
            }
        }
    }

    /// The next `next` payload of operation `id`; panics on anything else.
    pub async fn next(&mut self, id: &str) -> Value {
        match self.receive().await {
            Received::Message(message) if message["type"] == "next" && message["id"] == id => {
                message["payload"].clone()
            }
            other => panic!("expected next for {id}, got {other:?}"),
        }
    }

    /// Expects operation `id` to complete now.
    pub async fn complete(&mut self, id: &str) {
        match self.receive().await {
            Received::Message(message) if message["type"] == "complete" && message["id"] == id => {}
            other => panic!("expected complete for {id}, got {other:?}"),
        }
    }

    /// Expects the server to close the connection with `code`.
    pub async fn closed_with(&mut self, code: u16) -> String {
        match self.receive().await {
            Received::Closed(closed, reason) if closed == code => reason,
            other => panic!("expected close {code}, got {other:?}"),
        }
    }
}

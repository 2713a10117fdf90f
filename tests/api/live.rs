//! Live updates over graphql-transport-ws: who may subscribe, what arrives and in which order,
//! what ends a subscription, the connection's bounds, and instances sharing one PostgreSQL.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    an_owner_sees_their_changes_until_deletion,
    admins_see_every_change_in_order,
    only_owners_and_admins_may_subscribe,
    connections_need_a_valid_token_in_connection_init,
    revocation_ends_subscriptions,
    an_expiring_token_ends_subscriptions,
    connections_and_subscriptions_are_bounded,
    operations_over_websocket_keep_the_http_bounds,
);

const CHANGED: &str = "subscription($id: ID!) { customerChanged(customerId: $id) { \
    kind customerId at customer { id customerId phone } } }";
const EVENTS: &str = "subscription { customerEvents { kind customerId customer { name } } }";

/// Live updates checked for revocations five times a second.
async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| s.live.auth_check = Duration::from_millis(200)).await
}

async fn set_phone(app: &TestApp, token: &str, id: &str, phone: &str) {
    let input = json!({ "input": { "customerId": id, "phone": phone } });
    ok(
        &app.graphql(Some(token), UPDATE, input).await,
        "updateCustomer",
    );
}

fn change(payload: &Value) -> &Value {
    assert!(payload["errors"].is_null(), "{payload}");
    &payload["data"]["customerChanged"]
}

async fn an_owner_sees_their_changes_until_deletion(backend: Backend) {
    let app = spawn(backend).await;
    let (id, token) = app.customer_with_token("live@example.io").await;
    let mut ws = WsClient::connect(&app, &token).await;
    ws.subscribe("1", CHANGED, json!({ "id": id })).await;
    app.wait_for_subscriptions(1).await;
    // Nothing arrives before a change.
    assert!(ws
        .receive_within(Duration::from_millis(300))
        .await
        .is_none());

    set_phone(&app, &token, &id, "+1 555 0101").await;
    let payload = ws.next("1").await;
    let updated = change(&payload);
    assert_eq!(updated["kind"], "UPDATED");
    assert_eq!(updated["customerId"], id);
    assert_eq!(updated["customer"]["phone"], "+1 555 0101");
    assert!(
        updated["customer"]["id"].as_str().unwrap() != id,
        "the global id"
    );

    app.graphql(Some(&app.admin_token()), DELETE, json!({ "id": id }))
        .await;
    let payload = ws.next("1").await;
    let deleted = change(&payload);
    assert_eq!(
        (&deleted["kind"], &deleted["customer"]),
        (&json!("DELETED"), &json!(null))
    );
    ws.complete("1").await;
}

async fn admins_see_every_change_in_order(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token();
    let mut ws = WsClient::connect(&app, &admin).await;
    ws.subscribe("all", EVENTS, json!({})).await;
    app.wait_for_subscriptions(1).await;
    let id = app.create_customer("Ada", "ada@example.io", None).await;
    let input = json!({ "input": { "customerId": id, "name": "Ada Lovelace" } });
    ok(
        &app.graphql(Some(&admin), UPDATE, input).await,
        "updateCustomer",
    );
    app.graphql(Some(&admin), DELETE, json!({ "id": id })).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let payload = ws.next("all").await;
        let event = &payload["data"]["customerEvents"];
        assert_eq!(event["customerId"], id);
        seen.push((event["kind"].clone(), event["customer"]["name"].clone()));
    }
    let kinds: Vec<_> = seen.iter().map(|(kind, _)| kind.clone()).collect();
    assert_eq!(
        kinds,
        [json!("CREATED"), json!("UPDATED"), json!("DELETED")]
    );
    // An event's customer is read when the change is heard (the schema says so), and these
    // changes came in a burst: each event carries the customer as it stood after its own
    // change or a later one, never an earlier one, and never goes back in time.
    let states = [json!("Ada"), json!("Ada Lovelace"), json!(null)];
    let mut earliest = 0;
    for (index, (_, name)) in seen.iter().enumerate() {
        let state = states.iter().position(|state| state == name);
        let state = state.unwrap_or_else(|| panic!("not a state of the customer: {name}"));
        assert!(state >= index.max(earliest), "{seen:?}");
        earliest = state;
    }
}

async fn only_owners_and_admins_may_subscribe(backend: Backend) {
    let app = spawn(backend).await;
    let (own, token) = app.customer_with_token("own@example.io").await;
    let (other, _) = app.customer_with_token("other@example.io").await;
    let mut ws = WsClient::connect(&app, &token).await;
    ws.subscribe("other", CHANGED, json!({ "id": other })).await;
    assert_eq!(error_code(&ws.next("other").await), "FORBIDDEN");
    ws.complete("other").await;
    ws.subscribe("events", EVENTS, json!({})).await;
    assert_eq!(error_code(&ws.next("events").await), "FORBIDDEN");
    ws.complete("events").await;
    ws.subscribe("bad", CHANGED, json!({ "id": "not-a-uuid" }))
        .await;
    let refused = ws.next("bad").await;
    assert_eq!(
        error(&refused),
        ("BAD_USER_INPUT".into(), Some("customerId".into()))
    );
    ws.complete("bad").await;

    // Their own, and anyone's for an admin; a missing customer is NOT_FOUND.
    ws.subscribe("own", CHANGED, json!({ "id": own })).await;
    let mut admin = WsClient::connect(&app, &app.admin_token()).await;
    admin
        .subscribe("other", CHANGED, json!({ "id": other }))
        .await;
    let missing = "00000000-0000-7000-8000-000000000000";
    admin
        .subscribe("missing", CHANGED, json!({ "id": missing }))
        .await;
    assert_eq!(error_code(&admin.next("missing").await), "NOT_FOUND");
    admin.complete("missing").await;
    app.wait_for_subscriptions(2).await;
    set_phone(&app, &app.admin_token(), &other, "+1 555 0102").await;
    assert_eq!(change(&admin.next("other").await)["customerId"], other);
    set_phone(&app, &token, &own, "+1 555 0103").await;
    assert_eq!(change(&ws.next("own").await)["customerId"], own);

    // Subscriptions are refused over HTTP.
    let body = app.graphql(Some(&token), EVENTS, json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(message(&body).contains("WebSocket"), "{body}");
}

async fn connections_need_a_valid_token_in_connection_init(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.live.init_timeout = Duration::from_millis(300);
    })
    .await;
    let (_, token) = app.customer_with_token("init@example.io").await;
    let forged = format!("{}x", &token[..token.len() - 1]);
    for payload in [
        json!({}),
        json!({ "Authorization": "Bearer not-a-token" }),
        json!({ "Authorization": format!("Bearer {forged}") }),
        json!({ "Authorization": token }),
    ] {
        let mut ws = WsClient::open(&app).await.unwrap();
        ws.init(payload.clone()).await;
        assert_eq!(ws.closed_with(4403).await, "Forbidden", "{payload}");
    }
    // A token revoked since it was issued.
    let (_, revoked) = app.customer_with_token("revoked@example.io").await;
    app.graphql(Some(&revoked), "mutation { logout { success } }", json!({}))
        .await;
    let mut ws = WsClient::open(&app).await.unwrap();
    ws.init(json!({ "Authorization": format!("Bearer {revoked}") }))
        .await;
    ws.closed_with(4403).await;

    // No connection_init in time; an operation before the acknowledgement.
    let mut ws = WsClient::open(&app).await.unwrap();
    ws.closed_with(4408).await;
    let mut ws = WsClient::open(&app).await.unwrap();
    ws.subscribe("1", EVENTS, json!({})).await;
    ws.closed_with(4401).await;

    // Without the protocol, no upgrade.
    let response = app
        .client()
        .ws(format!("{}/graphql", app.address.replacen("http", "ws", 1)))
        .connect()
        .await;
    assert!(
        matches!(response, Err(awc::error::WsClientError::InvalidResponseStatus(s)) if s == 400)
    );
}

async fn revocation_ends_subscriptions(backend: Backend) {
    let app = spawn(backend).await;
    let (id, token) = app.customer_with_token("logout@example.io").await;
    let mut ws = WsClient::connect(&app, &token).await;
    ws.subscribe("1", CHANGED, json!({ "id": id })).await;
    let mut admin = WsClient::connect(&app, &app.admin_token()).await;
    admin.subscribe("events", EVENTS, json!({})).await;
    app.wait_for_subscriptions(2).await;

    app.graphql(Some(&token), "mutation { logout { success } }", json!({}))
        .await;
    // Ended within the check interval (200 ms here), with UNAUTHENTICATED.
    let ended = tokio::time::Instant::now();
    assert_eq!(error_code(&ws.next("1").await), "UNAUTHENTICATED");
    ws.complete("1").await;
    assert!(ended.elapsed() < Duration::from_secs(2));

    // An admin's subscriptions end when admin tokens are revoked.
    app.revoke_admin_tokens();
    assert_eq!(error_code(&admin.next("events").await), "UNAUTHENTICATED");
    admin.complete("events").await;
}

async fn an_expiring_token_ends_subscriptions(backend: Backend) {
    let ttl = Duration::from_secs(2);
    let app = TestApp::spawn_with(backend, |s| {
        s.token_ttl = ttl;
        s.policy.lifetimes.access = ttl;
    })
    .await;
    let (id, token) = app.customer_with_token("short@example.io").await;
    let mut ws = WsClient::connect(&app, &token).await;
    ws.subscribe("1", CHANGED, json!({ "id": id })).await;
    let payload = match ws.receive_within(Duration::from_secs(4)).await {
        Some(Received::Message(message)) if message["type"] == "next" => message["payload"].clone(),
        other => panic!("expected the subscription to end, got {other:?}"),
    };
    assert_eq!(error_code(&payload), "UNAUTHENTICATED");
    ws.complete("1").await;
}

async fn connections_and_subscriptions_are_bounded(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.live.max_subscriptions_per_connection = 2;
        s.live.max_connections_per_client = 2;
        s.live.keepalive = Duration::from_millis(200);
    })
    .await;
    let (id, token) = app.customer_with_token("bounded@example.io").await;
    let mut first = WsClient::connect(&app, &token).await;
    let mut second = WsClient::connect(&app, &token).await;
    assert_eq!(
        WsClient::open(&app).await.err(),
        Some(429),
        "a third connection"
    );

    first.subscribe("a", CHANGED, json!({ "id": id })).await;
    first.subscribe("b", CHANGED, json!({ "id": id })).await;
    first.subscribe("c", CHANGED, json!({ "id": id })).await;
    match first.receive().await {
        Received::Message(message) => {
            assert_eq!(
                (&message["type"], &message["id"]),
                (&json!("error"), &json!("c"))
            );
            assert_eq!(message["payload"][0]["extensions"]["code"], "RATE_LIMITED");
        }
        other => panic!("expected an error message, got {other:?}"),
    }
    // Completing one makes room.
    first.send(json!({ "type": "complete", "id": "a" })).await;
    first.complete("a").await;
    first.subscribe("c", CHANGED, json!({ "id": id })).await;
    app.wait_for_subscriptions(2).await;
    set_phone(&app, &token, &id, "+1 555 0104").await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        match first.receive().await {
            Received::Message(message) if message["type"] == "next" => {
                assert_eq!(change(&message["payload"])["kind"], "UPDATED");
                ids.push(message["id"].as_str().unwrap().to_owned());
            }
            other => panic!("expected an update, got {other:?}"),
        }
    }
    ids.sort();
    assert_eq!(ids, ["b", "c"]);
    // An id in use closes the connection, as the protocol says.
    first.subscribe("b", CHANGED, json!({ "id": id })).await;
    assert_eq!(
        first.closed_with(4409).await,
        "Subscriber for b already exists"
    );

    // The server pings (the client answers, in `receive`); a connection is kept while it
    // answers, and the closed one freed its place.
    assert!(second
        .receive_within(Duration::from_millis(800))
        .await
        .is_none());
    let mut third = WsClient::connect(&app, &token).await;
    third.subscribe("1", CHANGED, json!({ "id": id })).await;
    // The closed connection's two are gone, the new one listens.
    app.wait_for_subscriptions(1).await;
    set_phone(&app, &token, &id, "+1 555 0105").await;
    assert_eq!(
        change(&third.next("1").await)["customer"]["phone"],
        "+1 555 0105"
    );
}

async fn operations_over_websocket_keep_the_http_bounds(backend: Backend) {
    let app = spawn(backend).await;
    let (_, token) = app.customer_with_token("bounds@example.io").await;
    let mut ws = WsClient::connect(&app, &token).await;
    let bomb = fragment_bomb(40, "me { name }");
    ws.send(json!({ "type": "subscribe", "id": "bomb", "payload": { "query": bomb } }))
        .await;
    assert_eq!(
        error_code(&ws.next("bomb").await),
        "GRAPHQL_VALIDATION_FAILED"
    );
    ws.complete("bomb").await;
    // Queries and mutations run too, under the connection's token.
    ws.send(json!({ "type": "subscribe", "id": "me", "payload": { "query": "{ me { email } }" } }))
        .await;
    assert_eq!(ok(&ws.next("me").await, "me")["email"], "bounds@example.io");
    ws.complete("me").await;
}

#[actix_web::test]
async fn a_subscriber_on_one_instance_sees_writes_made_through_another() {
    if !postgres_enabled() {
        return;
    }
    let a = spawn(Backend::Postgres).await;
    let b = a.second_instance().await;
    let (id, token) = a.customer_with_token("two@example.io").await;
    let mut ws = WsClient::connect(&a, &token).await;
    ws.subscribe("1", CHANGED, json!({ "id": id })).await;
    a.wait_for_subscriptions(1).await;
    let written = tokio::time::Instant::now();
    set_phone(&b, &token, &id, "+1 555 0106").await;
    let payload = match ws.receive_within(Duration::from_secs(1)).await {
        Some(Received::Message(message)) => message["payload"].clone(),
        other => panic!("expected the change within a second, got {other:?}"),
    };
    assert_eq!(change(&payload)["customer"]["phone"], "+1 555 0106");
    assert!(written.elapsed() < Duration::from_secs(1));
}

//! The typed client of `examples/rust-client` (generated from `schema.graphql` by
//! graphql_client) against a test server: the schema file and the server agree in practice.

#[path = "../../examples/rust-client/client.rs"]
mod client;

use client::{ClientError, CustomerApi};

use crate::helpers::*;

on_both_backends!(the_typed_rust_client_works);

fn code_of(result: Result<impl std::fmt::Debug, ClientError>) -> Option<String> {
    match result {
        Err(ClientError::GraphQl(errors)) => errors.into_iter().next().and_then(|(code, _)| code),
        other => panic!("expected a GraphQL error, got {other:?}"),
    }
}

async fn the_typed_rust_client_works(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut api = CustomerApi::new(&app.address);
    let id = api
        .sign_up("Typed Client", "typed@example.io", PASSWORD)
        .await
        .unwrap();

    let mut stranger = CustomerApi::new(&app.address);
    let refused = stranger
        .log_in("typed@example.io", "not the password")
        .await;
    assert_eq!(code_of(refused).as_deref(), Some("UNAUTHENTICATED"));
    assert_eq!(
        code_of(stranger.me().await).as_deref(),
        Some("UNAUTHENTICATED")
    );

    api.log_in("typed@example.io", PASSWORD).await.unwrap();
    let me = api
        .me()
        .await
        .unwrap()
        .expect("a customer token has a `me`");
    assert_eq!(
        (me.customer_id.as_str(), me.email.as_str()),
        (id.as_str(), "typed@example.io")
    );
    assert!(!me.email_verified);
    let changed = api
        .update_phone(&id, "+1 555 0101", Some(me.updated_at.clone()))
        .await
        .unwrap();
    assert_eq!(changed.phone.as_deref(), Some("+1 555 0101"));
    let stale = api
        .update_phone(&id, "+1 555 0102", Some(me.updated_at))
        .await;
    assert_eq!(code_of(stale).as_deref(), Some("CONFLICT"));
    let http = CustomerApi::new("http://127.0.0.1:9").me().await;
    assert!(matches!(http, Err(ClientError::Http(_))), "{http:?}");
}

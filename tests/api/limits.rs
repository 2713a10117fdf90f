//! Abuse limits: body size, depth, complexity (aliases), batching, introspection switch.

use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    bodies_over_the_limit_get_413,
    deep_queries_are_refused_before_execution,
    aliased_logins_are_refused_by_complexity_before_any_bcrypt,
    batches_are_off_by_default_and_bounded_when_on,
    introspection_and_graphiql_can_be_switched_off,
    graphiql_introspection_fits_the_default_limits,
);

async fn post_json(app: &TestApp, body: String) -> (u16, Value) {
    let (status, _, body) = post_raw(app, &[("content-type", "application/json")], body).await;
    (status, body)
}

async fn bodies_over_the_limit_get_413(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.limits.max_body_bytes = 4096).await;
    let padded = |len: usize| {
        let query = format!("{{ me {{ name }} }}{}", " ".repeat(len));
        json!({ "query": query }).to_string()
    };
    let (status, body) = post_json(&app, padded(3000)).await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "parsed and executed");
    let (status, body) = post_json(&app, padded(5000)).await;
    assert_eq!(status, 413);
    assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED");
}

async fn deep_queries_are_refused_before_execution(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.limits.bounds.max_depth = 4).await;
    let (_, token) = app.customer_with_token("deep@example.io").await;
    let shallow = "{ me { address { city } } }";
    ok(&app.graphql(Some(&token), shallow, json!({})).await, "me");
    let deep = "{ customers { edges { node { address { city } } } } }";
    let body = app.graphql(Some(&app.admin_token()), deep, json!({})).await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(body["data"], json!(null));
    // Fragments count too.
    let spread = "{ customers { ...page } } fragment page on CustomerConnection { edges { node { address { city } } } }";
    let body = app
        .graphql(Some(&app.admin_token()), spread, json!({}))
        .await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
}

async fn aliased_logins_are_refused_by_complexity_before_any_bcrypt(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_customer("Target", "target@example.io", Some(PASSWORD))
        .await;
    let aliases: String = (0..50)
        .map(|n| format!("a{n}: authenticateCustomer(email: \"target@example.io\", password: \"guess{n:04}\") {{ token }} "))
        .collect();
    let body = app
        .graphql(None, &format!("mutation {{ {aliases} }}"), json!({}))
        .await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert_eq!(app.count_rows("throttled_attempts"), 0, "no login ran");
    let (_, metrics) = get_text(&app.address, "/metrics").await;
    assert!(
        metrics.contains("customer_api_failed_logins_total 0"),
        "{metrics}"
    );
    // One login is well within the limit.
    app.login("target@example.io", PASSWORD).await;
}

async fn batches_are_off_by_default_and_bounded_when_on(backend: Backend) {
    let two = json!([{ "query": "{ me { name } }" }, { "query": "{ __typename }" }]).to_string();
    let app = TestApp::spawn(backend).await;
    let (status, body) = post_json(&app, two.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "BAD_USER_INPUT");

    let app = TestApp::spawn_with(backend, |s| s.limits.max_batch_size = 2).await;
    let (status, body) = post_json(&app, two).await;
    assert_eq!(status, 200);
    let answers = body.as_array().expect("one answer per operation");
    assert_eq!(answers.len(), 2);
    assert_eq!(error_code(&answers[0]), "UNAUTHENTICATED");
    assert_eq!(answers[1]["data"]["__typename"], "Query");
    let three = json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }, { "query": "{ __typename }" }]);
    let (status, body) = post_json(&app, three.to_string()).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

async fn introspection_and_graphiql_can_be_switched_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.introspection = false).await;
    let body = app
        .graphql(None, "{ __schema { types { name } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["__schema"],
        json!(null),
        "the schema is not revealed: {body}"
    );
    let body = app.graphql(None, "{ me { nam } }", json!({})).await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    assert!(
        !message(&body).contains("Did you mean"),
        "no suggestions: {body}"
    );
    for path in ["/", "/graphiql/init.js", "/graphiql/vendor/graphiql.min.js"] {
        let response = app
            .client()
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }

    let app = TestApp::spawn(backend).await;
    let body = app.graphql(None, "{ me { nam } }", json!({})).await;
    assert!(
        message(&body).contains("Did you mean"),
        "suggestions by default: {body}"
    );
}

async fn graphiql_introspection_fits_the_default_limits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = app
        .graphql(None, include_str!("introspection.graphql"), json!({}))
        .await;
    assert_eq!(ok(&body, "__schema")["queryType"]["name"], "Query");
}

//! GraphQL over HTTP: methods, media types, request errors, GraphiQL and health endpoints.

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    queries_work_over_get_and_mutations_do_not,
    response_media_type_follows_accept,
    request_errors_have_codes,
    graphiql_and_health_endpoints,
    internal_failures_say_nothing_of_internals,
);

async fn get(app: &TestApp, query: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = app
        .client()
        .get(format!("{}/graphql", app.address))
        .query(&[("query", query)])
        .unwrap();
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    let mut response = request.send().await.unwrap();
    let body = response.json::<Value>().await.unwrap();
    assert_every_error_has_a_code(&body);
    (response.status(), body)
}

async fn queries_work_over_get_and_mutations_do_not(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.customer_with_token("get@example.io").await;
    let (status, body) = get(&app, "{ me { customerId } }", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ok(&body, "me")["customerId"], id);

    let delete = format!(r#"mutation {{ deleteCustomer(customerId: "{id}") {{ success }} }}"#);
    let (status, body) = get(&app, &delete, Some(&app.admin_token())).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(
        app.read(&id).await.is_object(),
        "the customer was not deleted"
    );

    let response = app
        .client()
        .put(format!("{}/graphql", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn response_media_type_follows_accept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let post = |accept: &'static str, query: &'static str| {
        app.client()
            .post(format!("{}/graphql", app.address))
            .insert_header(("accept", accept))
            .send_json(&json!({ "query": query }))
    };
    let response = post("application/graphql-response+json", "{ me { name } }")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/graphql-response+json"
    );

    let mut response = post("application/graphql-response+json", "{ me { nope } }")
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "request errors are 4xx"
    );
    let body = response.json::<Value>().await.unwrap();
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");

    let response = post("application/json", "{ me { nope } }").await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "plain JSON clients get 200"
    );
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/json"
    );
}

async fn request_errors_have_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = app.graphql(None, "{ me { name ", json!({})).await;
    assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED");
    let body = app.graphql(None, "{ customers { name } }", json!({})).await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    let body = app
        .graphql(
            None,
            "{ customer(customerId: 5, extra: 1) { name } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()));
    // A variable of the wrong type.
    let body = app
        .graphql(None, GET, json!({ "id": { "not": "an id" } }))
        .await;
    assert!(body["errors"].is_array(), "{body}");

    let mut response = app
        .client()
        .post(format!("{}/graphql", app.address))
        .insert_header(("content-type", "application/json"))
        .send_body("{ this is not json")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.json::<Value>().await.unwrap();
    assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED");
}

async fn graphiql_and_health_endpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut response = app
        .client()
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
    assert!(page.to_lowercase().contains("graphiql"));
    assert!(page.contains("/graphiql/init.js"));

    for path in ["/healthz", "/readyz"] {
        let response = app
            .client()
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

async fn internal_failures_say_nothing_of_internals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, _) = app.customer_with_token("broken@example.io").await;
    app.execute_sql("ALTER TABLE customers RENAME TO customers_gone");
    let body = app
        .graphql(Some(&app.admin_token()), GET, json!({ "id": id }))
        .await;
    assert_eq!(error_code(&body), "INTERNAL_SERVER_ERROR");
    assert_eq!(message(&body), "internal error");
    let text = body.to_string().to_lowercase();
    for secret in ["customers", "relation", "table", "diesel"] {
        assert!(!text.contains(secret), "{secret} leaked: {body}");
    }
}

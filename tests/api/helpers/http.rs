//! Raw HTTP, for what the GraphQL helpers of `TestApp` do not send: other media types,
//! other paths, bodies that are not GraphQL.

use serde_json::Value;

use super::{assert_every_error_has_a_code, TestApp};

/// Sends a raw POST to /graphql: (status, headers, JSON body or null).
pub async fn post_raw(
    app: &TestApp, headers: &[(&str, &str)], body: impl Into<String>,
) -> (u16, awc::http::header::HeaderMap, Value) {
    let mut request = app.client().post(format!("{}/graphql", app.address));
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let mut response = request.send_body(body.into()).await.unwrap();
    let status = response.status().as_u16();
    let body = response
        .json::<Value>()
        .limit(1 << 20)
        .await
        .unwrap_or(Value::Null);
    assert_every_error_has_a_code(&body);
    (status, response.headers().clone(), body)
}

/// GETs a path and returns (status, body text).
pub async fn get_text(base: &str, path: &str) -> (u16, String) {
    let mut response = awc::Client::default()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap();
    let body = response.body().limit(16 << 20).await.unwrap();
    (
        response.status().as_u16(),
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

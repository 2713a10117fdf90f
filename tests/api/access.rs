//! Every cell of the contract's access-rules table, and every kind of bad token.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    reading_customers,
    creating_customers,
    updating_customers,
    deleting_customers,
    anyone_may_log_in,
    sign_up_can_be_switched_off,
    bad_tokens_are_unauthenticated,
    password_change_revokes_earlier_tokens,
    deletion_revokes_tokens_at_once,
);

async fn reading_customers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (own, token) = app.customer_with_token("own@example.io").await;
    let (other, _) = app.customer_with_token("other@example.io").await;
    let read = |token: Option<String>, id: &str| {
        let id = id.to_owned();
        let app = &app;
        async move {
            app.graphql(token.as_deref(), GET, json!({ "id": id }))
                .await
        }
    };
    assert_eq!(error_code(&read(None, &own).await), "UNAUTHENTICATED");
    assert_eq!(
        ok(&read(Some(token.clone()), &own).await, "customer")["customerId"],
        own
    );
    let forbidden = read(Some(token.clone()), &other).await;
    assert_eq!(error_code(&forbidden), "FORBIDDEN");
    assert_eq!(forbidden["data"]["customer"], json!(null));
    assert_eq!(
        ok(&read(Some(app.admin_token()), &other).await, "customer")["customerId"],
        other
    );

    assert_eq!(
        error_code(&app.graphql(None, ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        ok(&app.graphql(Some(&token), ME, json!({})).await, "me")["customerId"],
        own
    );
    assert_eq!(
        ok(
            &app.graphql(Some(&app.admin_token()), ME, json!({})).await,
            "me"
        ),
        &json!(null)
    );
}

async fn creating_customers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.customer_with_token("member@example.io").await;
    let input = |email: &str, password: Option<&str>| json!({ "input": { "name": "New", "email": email, "password": password } });
    // No token: a sign-up, password required.
    ok(
        &app.graphql(None, CREATE, input("a@example.io", Some(PASSWORD)))
            .await,
        "createCustomer",
    );
    // A customer token is treated as no token.
    let body = app
        .graphql(Some(&token), CREATE, input("b@example.io", None))
        .await;
    assert_eq!(
        error(&body),
        ("BAD_USER_INPUT".into(), Some("password".into()))
    );
    ok(
        &app.graphql(Some(&token), CREATE, input("b@example.io", Some(PASSWORD)))
            .await,
        "createCustomer",
    );
    // An admin may leave the password out.
    ok(
        &app.graphql(
            Some(&app.admin_token()),
            CREATE,
            input("c@example.io", None),
        )
        .await,
        "createCustomer",
    );
    assert_eq!(app.count_rows("customers"), 4);
}

async fn updating_customers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (own, token) = app.customer_with_token("own@example.io").await;
    let (other, _) = app.customer_with_token("other@example.io").await;
    let rename = |id: &str, name: &str| json!({ "input": { "customerId": id, "name": name } });

    let body = app.graphql(None, UPDATE, rename(&own, "Anonymous")).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let body = app
        .graphql(Some(&token), UPDATE, rename(&own, "Myself"))
        .await;
    assert_eq!(ok(&body, "updateCustomer")["customer"]["name"], "Myself");
    let other_before = app.read(&other).await;
    let body = app
        .graphql(Some(&token), UPDATE, rename(&other, "Hijacked"))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(app.read(&other).await, other_before, "nothing changed");
    let body = app
        .graphql(Some(&app.admin_token()), UPDATE, rename(&other, "By Admin"))
        .await;
    assert_eq!(ok(&body, "updateCustomer")["customer"]["name"], "By Admin");
}

async fn deleting_customers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (own, token) = app.customer_with_token("own@example.io").await;
    let (other, _) = app.customer_with_token("other@example.io").await;
    let (third, _) = app.customer_with_token("third@example.io").await;
    let delete = |id: &str| json!({ "id": id });

    assert_eq!(
        error_code(&app.graphql(None, DELETE, delete(&own)).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.graphql(Some(&token), DELETE, delete(&other)).await),
        "FORBIDDEN"
    );
    assert_eq!(app.count_rows("customers"), 3);
    ok(
        &app.graphql(Some(&app.admin_token()), DELETE, delete(&third))
            .await,
        "deleteCustomer",
    );
    ok(
        &app.graphql(Some(&token), DELETE, delete(&own)).await,
        "deleteCustomer",
    );
    assert_eq!(app.count_rows("customers"), 1);
    assert!(app.read(&other).await.is_object());
}

async fn anyone_may_log_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.customer_with_token("login@example.io").await;
    let variables = json!({ "email": "login@example.io", "password": PASSWORD });
    for caller in [
        None,
        Some(token),
        Some(app.admin_token()),
        Some("garbage".to_owned()),
    ] {
        let body = app
            .graphql(caller.as_deref(), LOGIN, variables.clone())
            .await;
        assert!(
            ok(&body, "authenticateCustomer")["token"].is_string(),
            "{caller:?}"
        );
    }
}

async fn sign_up_can_be_switched_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.policy.allow_signup = false).await;
    let input = json!({ "input": { "name": "N", "email": "n@example.io", "password": PASSWORD } });
    let body = app.graphql(None, CREATE, input.clone()).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert_eq!(app.count_rows("customers"), 0);
    ok(
        &app.graphql(Some(&app.admin_token()), CREATE, input).await,
        "createCustomer",
    );
}

fn claims(sub: &str, role: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": sub, "role": role, "iat": now - 10, "exp": now + exp_offset,
            "iss": "customer-api", "ver": 0 })
}

fn sign(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

async fn bad_tokens_are_unauthenticated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, good) = app.customer_with_token("tokens@example.io").await;
    let other_secret = b"another-secret-that-is-also-32-bytes-long!";
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(&id, "admin", 600).to_string())
    );
    let mut wrong_issuer = claims(&id, "customer", 600);
    wrong_issuer["iss"] = json!("someone-else");
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(claims(&id, "admin", 600).to_string());
        parts.join(".")
    };
    let bad_tokens = [
        ("expired", sign(&claims(&id, "customer", -5), SECRET)),
        ("expired admin", sign(&claims("admin", "admin", -5), SECRET)),
        (
            "forged with another secret",
            sign(&claims(&id, "admin", 600), other_secret),
        ),
        ("alg none", unsigned),
        ("payload changed to admin", tampered),
        ("wrong issuer", sign(&wrong_issuer, SECRET)),
        (
            "customer token without a UUID subject",
            sign(&claims("admin", "customer", 600), SECRET),
        ),
        ("not a JWT", "abc.def".to_owned()),
    ];
    for (case, token) in bad_tokens {
        for (query, variables) in [(ME, json!({})), (GET, json!({ "id": id }))] {
            let body = app.graphql(Some(&token), query, variables).await;
            assert_eq!(error_code(&body), "UNAUTHENTICATED", "{case}: {body}");
        }
    }
    // Not a bearer token at all.
    let response = app
        .client()
        .post(format!("{}/graphql", app.address))
        .insert_header(("authorization", format!("Basic {good}")))
        .send_json(&json!({ "query": ME }))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    // The good token still works.
    ok(&app.graphql(Some(&good), ME, json!({})).await, "me");
}

async fn password_change_revokes_earlier_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, old) = app.customer_with_token("rotate@example.io").await;
    let change = json!({ "input": { "customerId": id, "password": "a brand new password" } });
    ok(
        &app.graphql(Some(&old), UPDATE, change).await,
        "updateCustomer",
    );
    for (query, variables) in [(ME, json!({})), (GET, json!({ "id": id }))] {
        let body = app.graphql(Some(&old), query, variables).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }
    let rename = json!({ "input": { "customerId": id, "name": "Stale" } });
    assert_eq!(
        error_code(&app.graphql(Some(&old), UPDATE, rename).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.graphql(Some(&old), DELETE, json!({ "id": id })).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.try_login("rotate@example.io", PASSWORD).await),
        "UNAUTHENTICATED"
    );
    let new = app.login("rotate@example.io", "a brand new password").await;
    ok(&app.graphql(Some(&new), ME, json!({})).await, "me");
}

async fn deletion_revokes_tokens_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.customer_with_token("leaving@example.io").await;
    ok(
        &app.graphql(Some(&app.admin_token()), DELETE, json!({ "id": id }))
            .await,
        "deleteCustomer",
    );
    assert_eq!(
        error_code(&app.graphql(Some(&token), ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    let rename = json!({ "input": { "customerId": id, "name": "Ghost" } });
    assert_eq!(
        error_code(&app.graphql(Some(&token), UPDATE, rename).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.graphql(Some(&token), DELETE, json!({ "id": id })).await),
        "UNAUTHENTICATED"
    );
}

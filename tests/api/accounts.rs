//! Accounts by mail, through a real SMTP conversation with a sink the test starts: password
//! reset and email verification; and `Idempotency-Key` on `createCustomer`.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    a_password_is_reset_by_mail,
    reset_requests_look_the_same_for_unknown_addresses_and_are_throttled,
    sign_up_and_an_email_change_are_verified_by_mail,
    an_expired_reset_link_is_refused,
    an_idempotency_key_replays_the_first_answer,
    requests_racing_with_one_idempotency_key_create_one_customer,
);

const REQUEST_RESET: &str = "mutation($e: String!) { requestPasswordReset(email: $e) { success } }";
const RESET: &str =
    "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { \
    token customerId refreshToken session { sessionId current } } }";
const REQUEST_VERIFICATION: &str = "mutation { requestEmailVerification { success } }";
const VERIFY: &str = "mutation($t: String!) { verifyEmail(token: $t) { success } }";
const VERIFIED: &str = "{ me { email emailVerified } }";

async fn with_mail(
    backend: Backend, adjust: impl FnOnce(&mut customer_api::config::Settings),
) -> (TestApp, MailSink) {
    let sink = MailSink::start();
    let url = sink.url.clone();
    let app = TestApp::spawn_with(backend, move |s| {
        s.mail.smtp_url = Some(url.into());
        adjust(s);
    })
    .await;
    (app, sink)
}

async fn a_password_is_reset_by_mail(backend: Backend) {
    let (app, sink) = with_mail(backend, |_| {}).await;
    let id = app
        .create_customer("Forgetful", "forgetful@example.io", Some(PASSWORD))
        .await;
    let old = app.login("forgetful@example.io", PASSWORD).await;
    let body = app
        .graphql(None, REQUEST_RESET, json!({ "e": "FORGETFUL@example.io" }))
        .await;
    assert_eq!(ok(&body, "requestPasswordReset")["success"], true);
    let mail = sink.wait_for("forgetful@example.io", 1).await;
    assert!(
        mail.raw.contains("Subject: Reset your password"),
        "{}",
        mail.raw
    );
    let token = mail.token();
    assert_eq!(token.len(), 43);
    assert_eq!(app.count_rows("account_tokens"), 1);

    let reset =
        |password: &'static str| app.graphql(None, RESET, json!({ "t": token, "p": password }));
    let body = reset("short").await;
    assert_eq!(
        error(&body),
        ("BAD_USER_INPUT".to_owned(), Some("newPassword".to_owned()))
    );
    let body = reset("a fresh password").await;
    let session = ok(&body, "resetPassword");
    assert_eq!(session["customerId"], id);
    assert_eq!(session["session"]["current"], true);
    let new_token = session["token"].as_str().unwrap();
    // Every older session ended; the new one works; the link is spent.
    let me = app.graphql(Some(&old), ME, json!({})).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");
    ok(&app.graphql(Some(new_token), ME, json!({})).await, "me");
    let body = reset("yet another password").await;
    assert_eq!(
        error(&body),
        ("BAD_USER_INPUT".to_owned(), Some("token".to_owned()))
    );
    app.login("forgetful@example.io", "a fresh password").await;
    assert_eq!(
        error_code(&app.try_login("forgetful@example.io", PASSWORD).await),
        "UNAUTHENTICATED"
    );
    for made_up in ["", "x", &"A".repeat(43)] {
        let body = app
            .graphql(
                None,
                RESET,
                json!({ "t": made_up, "p": "a fresh password" }),
            )
            .await;
        assert_eq!(
            error(&body),
            ("BAD_USER_INPUT".to_owned(), Some("token".to_owned()))
        );
    }
}

async fn reset_requests_look_the_same_for_unknown_addresses_and_are_throttled(backend: Backend) {
    let (app, sink) = with_mail(backend, |s| {
        s.policy.login_throttle.max_failures_per_email = 2;
    })
    .await;
    app.create_customer("Known", "known@example.io", Some(PASSWORD))
        .await;
    let known = app
        .graphql(None, REQUEST_RESET, json!({ "e": "known@example.io" }))
        .await;
    let unknown = app
        .graphql(None, REQUEST_RESET, json!({ "e": "unknown@example.io" }))
        .await;
    assert_eq!(known, unknown, "one answer for both");
    sink.wait_for("known@example.io", 1).await;
    // The known address got its mail; give the unknown one the same time to have got one.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert!(sink.sent_to("unknown@example.io").is_empty());
    for email in ["known@example.io", "unknown@example.io"] {
        app.graphql(None, REQUEST_RESET, json!({ "e": email }))
            .await;
        let body = app
            .graphql(None, REQUEST_RESET, json!({ "e": email }))
            .await;
        assert_eq!(error_code(&body), "RATE_LIMITED", "{email}");
        assert!(
            body["errors"][0]["extensions"]["retryAfter"]
                .as_u64()
                .unwrap()
                >= 1
        );
    }
    let body = app
        .graphql(None, REQUEST_RESET, json!({ "e": "not an address" }))
        .await;
    assert_eq!(
        error(&body),
        ("BAD_USER_INPUT".to_owned(), Some("email".to_owned()))
    );
}

async fn sign_up_and_an_email_change_are_verified_by_mail(backend: Backend) {
    let (app, sink) = with_mail(backend, |_| {}).await;
    let input = json!({ "name": "New", "email": "new@example.io", "password": PASSWORD });
    let body = app.graphql(None, CREATE, json!({ "input": input })).await;
    let id = ok(&body, "createCustomer")["customerId"].clone();
    let token = app.login("new@example.io", PASSWORD).await;
    let me = app.graphql(Some(&token), VERIFIED, json!({})).await;
    assert_eq!(ok(&me, "me")["emailVerified"], false);

    let mail = sink.wait_for("new@example.io", 1).await;
    assert!(mail.raw.contains("Subject: Confirm your email address"));
    let body = app
        .graphql(None, VERIFY, json!({ "t": mail.token() }))
        .await;
    assert_eq!(ok(&body, "verifyEmail")["success"], true);
    let me = app.graphql(Some(&token), VERIFIED, json!({})).await;
    assert_eq!(ok(&me, "me")["emailVerified"], true);
    let body = app
        .graphql(None, VERIFY, json!({ "t": mail.token() }))
        .await;
    assert_eq!(
        error(&body),
        ("BAD_USER_INPUT".to_owned(), Some("token".to_owned())),
        "spent"
    );

    // A new address is unverified, and mailed.
    let input = json!({ "customerId": id, "email": "moved@example.io" });
    let body = app
        .graphql(Some(&token), UPDATE, json!({ "input": input }))
        .await;
    assert_eq!(
        ok(&body, "updateCustomer")["customer"]["email"],
        "moved@example.io"
    );
    let me = app.graphql(Some(&token), VERIFIED, json!({})).await;
    assert_eq!(ok(&me, "me")["emailVerified"], false);
    let moved = sink.wait_for("moved@example.io", 1).await;
    // Asking again mails again.
    let body = app
        .graphql(Some(&token), REQUEST_VERIFICATION, json!({}))
        .await;
    assert_eq!(ok(&body, "requestEmailVerification")["success"], true);
    let again = sink.wait_for("moved@example.io", 2).await;
    assert_ne!(again.token(), moved.token());
    ok(
        &app.graphql(None, VERIFY, json!({ "t": again.token() }))
            .await,
        "verifyEmail",
    );
    let me = app.graphql(Some(&token), VERIFIED, json!({})).await;
    assert_eq!(ok(&me, "me")["emailVerified"], true);
    // A link to an address the customer left behind verifies nothing.
    let input = json!({ "customerId": id, "email": "third@example.io" });
    ok(
        &app.graphql(Some(&token), UPDATE, json!({ "input": input }))
            .await,
        "updateCustomer",
    );
    let body = app
        .graphql(None, VERIFY, json!({ "t": moved.token() }))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let body = app.graphql(None, REQUEST_VERIFICATION, json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

async fn an_expired_reset_link_is_refused(backend: Backend) {
    let (app, sink) = with_mail(backend, |s| {
        s.policy.lifetimes.password_reset = Duration::from_millis(300);
    })
    .await;
    app.create_customer("Late", "late@example.io", Some(PASSWORD))
        .await;
    app.graphql(None, REQUEST_RESET, json!({ "e": "late@example.io" }))
        .await;
    let token = sink.wait_for("late@example.io", 1).await.token();
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    let body = app
        .graphql(None, RESET, json!({ "t": token, "p": "a fresh password" }))
        .await;
    assert_eq!(
        error(&body),
        ("BAD_USER_INPUT".to_owned(), Some("token".to_owned()))
    );
    app.login("late@example.io", PASSWORD).await;
}

async fn create_with_key(app: &TestApp, key: &str, email: &str) -> Value {
    let mut response = app
        .client()
        .post(format!("{}/graphql", app.address))
        .insert_header(("idempotency-key", key))
        .insert_header(("authorization", format!("Bearer {}", app.admin_token())))
        .send_json(&json!({ "query": CREATE, "variables": { "input": {
            "name": "Once", "email": email } } }))
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_every_error_has_a_code(&body);
    body
}

async fn an_idempotency_key_replays_the_first_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = create_with_key(&app, "key-1", "once@example.io").await;
    let created = ok(&first, "createCustomer").clone();
    let again = create_with_key(&app, "key-1", "once@example.io").await;
    assert_eq!(
        ok(&again, "createCustomer"),
        &created,
        "the first answer, replayed"
    );
    assert_eq!(app.count_rows("customers"), 1);
    let other = create_with_key(&app, "key-1", "twice@example.io").await;
    assert_eq!(error_code(&other), "CONFLICT", "{other}");
    // A failed request lets its key go: corrected, it may be sent again.
    let taken = create_with_key(&app, "key-2", "once@example.io").await;
    assert_eq!(error_code(&taken), "CONFLICT");
    let retried = create_with_key(&app, "key-2", "retried@example.io").await;
    ok(&retried, "createCustomer");
    let bad = create_with_key(&app, &"k".repeat(256), "long@example.io").await;
    assert_eq!(
        error(&bad),
        (
            "BAD_USER_INPUT".to_owned(),
            Some("Idempotency-Key".to_owned())
        )
    );
    assert_eq!(app.count_rows("customers"), 2);
    assert_eq!(app.count_rows("idempotency_keys"), 2);
}

async fn requests_racing_with_one_idempotency_key_create_one_customer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for round in 0..3 {
        let key = format!("race-{round}");
        let email = format!("race{round}@example.io");
        let answers = join_all((0..4).map(|_| create_with_key(&app, &key, &email))).await;
        let ids: Vec<&Value> = answers
            .iter()
            .filter(|body| body.get("errors").is_none())
            .map(|body| &body["data"]["createCustomer"]["customerId"])
            .collect();
        assert!(!ids.is_empty(), "{answers:?}");
        assert!(
            ids.iter().all(|id| *id == ids[0]),
            "one customer: {answers:?}"
        );
        for body in answers.iter().filter(|body| body.get("errors").is_some()) {
            assert_eq!(error_code(body), "CONFLICT", "still running: {body}");
        }
    }
    assert_eq!(app.count_rows("customers"), 3);
}

//! The failed-login throttle: per email address and per client address, kept in the
//! database so that it holds across server instances.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

on_both_backends!(
    unknown_email_and_wrong_password_look_alike,
    five_failures_lock_an_email_even_with_the_right_password,
    unknown_emails_are_throttled_too,
    the_lock_lifts_when_the_window_passes,
    clients_are_throttled_across_emails,
    the_throttle_holds_across_instances,
);

async fn unknown_email_and_wrong_password_look_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_customer("Known", "known@example.io", Some(PASSWORD))
        .await;
    let wrong = app.try_login("known@example.io", "wrong password").await;
    let unknown = app.try_login("unknown@example.io", PASSWORD).await;
    assert_eq!(wrong["errors"], unknown["errors"], "one answer for both");
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    assert_eq!(message(&wrong), "invalid email or password");
    assert_eq!(app.count_rows("throttled_attempts"), 2);
}

async fn five_failures_lock_an_email_even_with_the_right_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_customer("Victim", "victim@example.io", Some(PASSWORD))
        .await;
    app.create_customer("Bystander", "bystander@example.io", Some(PASSWORD))
        .await;
    for attempt in [
        "victim@example.io",
        "VICTIM@example.io",
        "Victim@Example.io",
        "victim@example.io",
        "victim@EXAMPLE.IO",
    ] {
        let body = app.try_login(attempt, "wrong password").await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{attempt}");
    }
    let body = app.try_login("victim@example.io", PASSWORD).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
    let retry_after = body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!(
        (1..=900).contains(&retry_after),
        "whole seconds within the window: {retry_after}"
    );
    assert_eq!(
        app.count_rows("throttled_attempts"),
        5,
        "rate-limited attempts are not failures"
    );
    // Other emails are not affected.
    app.login("bystander@example.io", PASSWORD).await;
}

async fn unknown_emails_are_throttled_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..5 {
        let body = app.try_login("nobody@example.io", PASSWORD).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }
    assert_eq!(
        error_code(&app.try_login("Nobody@example.io", PASSWORD).await),
        "RATE_LIMITED"
    );
}

async fn the_lock_lifts_when_the_window_passes(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.policy.login_throttle.max_failures_per_email = 2;
        s.policy.login_throttle.window = Duration::from_secs(2);
    })
    .await;
    app.create_customer("Patient", "patient@example.io", Some(PASSWORD))
        .await;
    for _ in 0..2 {
        app.try_login("patient@example.io", "wrong password").await;
    }
    let body = app.try_login("patient@example.io", PASSWORD).await;
    assert_eq!(error_code(&body), "RATE_LIMITED");
    let retry_after = body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // Waiting out the window is the behaviour under test; the window is 2 s.
    actix_web::rt::time::sleep(Duration::from_secs(retry_after)).await;
    app.login("patient@example.io", PASSWORD).await;
}

async fn clients_are_throttled_across_emails(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.policy.login_throttle.max_failures_per_client = 3;
    })
    .await;
    app.create_customer("Real", "real@example.io", Some(PASSWORD))
        .await;
    for n in 0..3 {
        let body = app
            .try_login(&format!("guess{n}@example.io"), PASSWORD)
            .await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }
    let body = app.try_login("real@example.io", PASSWORD).await;
    assert_eq!(
        error_code(&body),
        "RATE_LIMITED",
        "this client is over its limit"
    );
}

async fn the_throttle_holds_across_instances(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let second = first.second_instance().await;
    first
        .create_customer("Shared", "shared@example.io", Some(PASSWORD))
        .await;
    for n in 0..5 {
        let app = if n % 2 == 0 { &first } else { &second };
        app.try_login("shared@example.io", "wrong password").await;
    }
    for app in [&first, &second] {
        let body = app.try_login("shared@example.io", PASSWORD).await;
        assert_eq!(error_code(&body), "RATE_LIMITED");
    }
    // Both instances serve the same data.
    let body = second
        .graphql(Some(&second.admin_token()), ME, json!({}))
        .await;
    assert_eq!(ok(&body, "me"), &json!(null));
}

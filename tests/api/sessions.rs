//! Sessions that apps keep: refresh rotation and reuse detection, logout, listing and
//! revoking sessions, expiry, and admin tokens after a revocation.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    refresh_rotates_and_a_reused_token_ends_the_session,
    two_refreshes_racing_with_one_token_have_one_winner,
    logout_ends_one_session_and_logout_everywhere_ends_all,
    sessions_are_listed_for_their_customer_and_revoked_one_by_one,
    an_ended_session_fails_on_every_instance,
    short_lifetimes_expire_and_housekeeping_removes_what_expired,
    a_password_change_ends_every_session,
    deleting_a_customer_removes_their_sessions_and_tokens,
    admin_tokens_issued_before_a_revocation_fail,
);

const REFRESH: &str = "mutation($t: String!) { refreshSession(refreshToken: $t) { \
    token customerId expiresAt refreshToken refreshExpiresAt session { sessionId current } } }";
const LOGOUT: &str = "mutation { logout { success sessionsEnded } }";
const LOGOUT_EVERYWHERE: &str = "mutation { logoutEverywhere { success sessionsEnded } }";
const REVOKE: &str =
    "mutation($id: ID!) { revokeSession(sessionId: $id) { success sessionsEnded } }";
const SESSIONS: &str = "query($id: ID!) { customer(customerId: $id) { sessions { \
    sessionId createdAt lastUsedAt expiresAt userAgent current } } }";

/// A login: (access token, refresh token, session id).
async fn login(app: &TestApp, email: &str) -> (String, String, String) {
    let body = app.try_login(email, PASSWORD).await;
    let payload = ok(&body, "authenticateCustomer");
    tokens(payload)
}

fn tokens(payload: &Value) -> (String, String, String) {
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    (
        text(&payload["token"]),
        text(&payload["refreshToken"]),
        text(&payload["session"]["sessionId"]),
    )
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Value {
    app.graphql(None, REFRESH, json!({ "t": refresh_token }))
        .await
}

async fn me_code(app: &TestApp, token: &str) -> Option<String> {
    let body = app.graphql(Some(token), ME, json!({})).await;
    body.get("errors").map(|_| error_code(&body))
}

async fn refresh_rotates_and_a_reused_token_ends_the_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.policy.lifetimes.refresh_race_window = Duration::ZERO;
    })
    .await;
    app.create_customer("Rotating", "rotating@example.io", Some(PASSWORD))
        .await;
    let (access, first, session) = login(&app, "rotating@example.io").await;
    assert_eq!(first.len(), 43, "32 random bytes, base64url");
    assert_eq!(me_code(&app, &access).await, None);

    let body = refresh(&app, &first).await;
    let payload = ok(&body, "refreshSession");
    let (new_access, second, same_session) = tokens(payload);
    assert_eq!(same_session, session, "the same session, rotated");
    assert_ne!(second, first);
    assert_eq!(payload["session"]["current"], true);
    assert_eq!(me_code(&app, &new_access).await, None);

    // The spent token again: reuse. The whole session ends.
    let body = refresh(&app, &first).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert_eq!(
        me_code(&app, &new_access).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    let body = refresh(&app, &second).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "the newest token too");
    let (_, metrics) = get_text(&app.address, "/metrics").await;
    assert!(
        metrics.contains("customer_api_refresh_token_reuses_total 1"),
        "{metrics}"
    );
    assert_eq!(app.count_rows("sessions"), 0);
    // Tokens that are not ours at all.
    for made_up in ["", "short", &"A".repeat(43)] {
        let body = refresh(&app, made_up).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{made_up:?}");
    }
}

async fn two_refreshes_racing_with_one_token_have_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_customer("Racing", "racing@example.io", Some(PASSWORD))
        .await;
    for _ in 0..3 {
        let (_, token, _) = login(&app, "racing@example.io").await;
        let answers = join_all((0..2).map(|_| refresh(&app, &token))).await;
        let winners: Vec<&Value> = answers
            .iter()
            .filter(|body| body.get("errors").is_none())
            .collect();
        assert_eq!(winners.len(), 1, "{answers:?}");
        let loser = answers.iter().find(|b| b.get("errors").is_some()).unwrap();
        assert_eq!(error_code(loser), "UNAUTHENTICATED");
        // The loser lost a race, it did not steal: the winner's session lives on.
        let (access, next, _) = tokens(&winners[0]["data"]["refreshSession"]);
        assert_eq!(me_code(&app, &access).await, None);
        ok(&refresh(&app, &next).await, "refreshSession");
    }
}

async fn logout_ends_one_session_and_logout_everywhere_ends_all(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_customer("Devices", "devices@example.io", Some(PASSWORD))
        .await;
    let (phone, phone_refresh, _) = login(&app, "devices@example.io").await;
    let (laptop, _, _) = login(&app, "devices@example.io").await;
    let (tablet, tablet_refresh, _) = login(&app, "devices@example.io").await;

    let body = app.graphql(Some(&phone), LOGOUT, json!({})).await;
    assert_eq!(ok(&body, "logout")["sessionsEnded"], 1);
    assert_eq!(
        me_code(&app, &phone).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        error_code(&refresh(&app, &phone_refresh).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(me_code(&app, &laptop).await, None, "the other devices stay");

    let body = app
        .graphql(Some(&laptop), LOGOUT_EVERYWHERE, json!({}))
        .await;
    assert_eq!(ok(&body, "logoutEverywhere")["sessionsEnded"], 2);
    assert_eq!(
        me_code(&app, &laptop).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        me_code(&app, &tablet).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        error_code(&refresh(&app, &tablet_refresh).await),
        "UNAUTHENTICATED"
    );

    // Admin tokens have no session to end.
    let body = app
        .graphql(Some(&app.admin_token()), LOGOUT, json!({}))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app.graphql(None, LOGOUT, json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

async fn sessions_are_listed_for_their_customer_and_revoked_one_by_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app
        .create_customer("Lister", "lister@example.io", Some(PASSWORD))
        .await;
    let (_, other_token) = app.customer_with_token("other@example.io").await;
    let first = app
        .client()
        .post(format!("{}/graphql", app.address))
        .insert_header(("user-agent", "Phone\tApp/1.0"))
        .send_json(&json!({ "query": LOGIN, "variables": {
            "email": "lister@example.io", "password": PASSWORD } }))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let (_, _, phone_session) = tokens(ok(&first, "authenticateCustomer"));
    let (laptop, _, laptop_session) = login(&app, "lister@example.io").await;

    let body = app
        .graphql(Some(&laptop), SESSIONS, json!({ "id": id }))
        .await;
    let sessions = ok(&body, "customer")["sessions"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        sessions[0]["sessionId"],
        laptop_session.as_str(),
        "newest first"
    );
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["current"], false);
    assert_eq!(
        sessions[1]["userAgent"], "PhoneApp/1.0",
        "kept, without control characters"
    );
    // An admin sees them too; another customer does not.
    let body = app
        .graphql(Some(&app.admin_token()), SESSIONS, json!({ "id": id }))
        .await;
    assert_eq!(
        ok(&body, "customer")["sessions"].as_array().unwrap().len(),
        2
    );

    // Another customer cannot end this customer's session: it ends nothing, says nothing.
    let body = app
        .graphql(Some(&other_token), REVOKE, json!({ "id": phone_session }))
        .await;
    assert_eq!(ok(&body, "revokeSession")["sessionsEnded"], 0);
    let body = app
        .graphql(Some(&laptop), REVOKE, json!({ "id": phone_session }))
        .await;
    assert_eq!(ok(&body, "revokeSession")["sessionsEnded"], 1);
    let body = app
        .graphql(
            Some(&app.admin_token()),
            REVOKE,
            json!({ "id": laptop_session }),
        )
        .await;
    assert_eq!(ok(&body, "revokeSession")["sessionsEnded"], 1);
    assert_eq!(
        me_code(&app, &laptop).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    let body = app
        .graphql(
            Some(&app.admin_token()),
            REVOKE,
            json!({ "id": "not-a-uuid" }),
        )
        .await;
    assert_eq!(
        error(&body),
        ("BAD_USER_INPUT".to_owned(), Some("sessionId".to_owned()))
    );
}

async fn an_ended_session_fails_on_every_instance(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let second = first.second_instance().await;
    first
        .create_customer("Everywhere", "everywhere@example.io", Some(PASSWORD))
        .await;
    let (token, _, _) = login(&first, "everywhere@example.io").await;
    assert_eq!(me_code(&second, &token).await, None);
    let body = first.graphql(Some(&token), LOGOUT, json!({})).await;
    ok(&body, "logout");
    assert_eq!(
        me_code(&second, &token).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
}

async fn short_lifetimes_expire_and_housekeeping_removes_what_expired(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.policy.lifetimes.access = Duration::from_secs(1);
        s.policy.lifetimes.refresh = Duration::from_secs(2);
        s.housekeeping_interval = Duration::from_millis(200);
    })
    .await;
    app.create_customer("Brief", "brief@example.io", Some(PASSWORD))
        .await;
    let (access, refresh_token, _) = login(&app, "brief@example.io").await;
    assert_eq!(me_code(&app, &access).await, None);
    // JWT expiry counts whole seconds: past one second, past the next one.
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        me_code(&app, &access).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        error_code(&refresh(&app, &refresh_token).await),
        "UNAUTHENTICATED",
        "the refresh token expired too"
    );
    let mut pruned = false;
    for _ in 0..50 {
        if app.count_rows("sessions") == 0 {
            pruned = true;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pruned, "housekeeping removed the expired session");
}

async fn a_password_change_ends_every_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app
        .create_customer("Changer", "changer@example.io", Some(PASSWORD))
        .await;
    let (phone, phone_refresh, _) = login(&app, "changer@example.io").await;
    let (laptop, _, _) = login(&app, "changer@example.io").await;
    let input = json!({ "customerId": id, "password": "a brand new password" });
    let body = app
        .graphql(Some(&laptop), UPDATE, json!({ "input": input }))
        .await;
    ok(&body, "updateCustomer");
    for token in [&phone, &laptop] {
        assert_eq!(
            me_code(&app, token).await.as_deref(),
            Some("UNAUTHENTICATED")
        );
    }
    assert_eq!(
        error_code(&refresh(&app, &phone_refresh).await),
        "UNAUTHENTICATED"
    );
    app.login("changer@example.io", "a brand new password")
        .await;
}

async fn deleting_a_customer_removes_their_sessions_and_tokens(backend: Backend) {
    let sink = MailSink::start();
    let app = TestApp::spawn_with(backend, |s| {
        s.mail.smtp_url = Some(sink.url.clone().into());
    })
    .await;
    let (id, token) = app.customer_with_token("leaving@example.io").await;
    login(&app, "leaving@example.io").await;
    let body = app
        .graphql(
            None,
            "mutation($e: String!) { requestPasswordReset(email: $e) { success } }",
            json!({ "e": "leaving@example.io" }),
        )
        .await;
    ok(&body, "requestPasswordReset");
    sink.wait_for("leaving@example.io", 1).await;
    assert_eq!(app.count_rows("sessions"), 2);
    assert_eq!(app.count_rows("account_tokens"), 1);
    let body = app.graphql(Some(&token), DELETE, json!({ "id": id })).await;
    ok(&body, "deleteCustomer");
    assert_eq!(app.count_rows("sessions"), 0);
    assert_eq!(app.count_rows("account_tokens"), 0);
}

async fn admin_tokens_issued_before_a_revocation_fail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let other = app.second_instance().await;
    let old = app.admin_token();
    ok(&app.graphql(Some(&old), ME, json!({})).await, "me");
    app.revoke_admin_tokens();
    for instance in [&app, &other] {
        let body = instance.graphql(Some(&old), ME, json!({})).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }
    // Tokens minted after the command returned work.
    ok(
        &app.graphql(Some(&app.admin_token()), ME, json!({})).await,
        "me",
    );
}

//! What operators rely on: request ids, metrics, CORS, concurrent writes, database outages
//! and TLS to PostgreSQL.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{helpers::*, proxy::Proxy};

on_both_backends!(
    request_ids_are_echoed_or_made,
    metrics_count_requests_logins_and_the_pool,
    racing_updates_with_one_expected_updated_at,
);

async fn request_ids_are_echoed_or_made(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let send = |id: Option<&'static str>| {
        let mut request = app.client().post(format!("{}/graphql", app.address));
        if let Some(id) = id {
            request = request.insert_header(("x-request-id", id));
        }
        request.send_json(&json!({ "query": "{ __typename }" }))
    };
    let response = send(Some("req-42")).await.unwrap();
    assert_eq!(response.headers().get("x-request-id").unwrap(), "req-42");
    let response = send(None).await.unwrap();
    let made = response
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(made).is_ok(), "{made}");
}

async fn metrics_count_requests_logins_and_the_pool(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.policy.login_throttle.max_failures_per_email = 1;
    })
    .await;
    app.create_customer("Metric", "metric@example.io", Some(PASSWORD))
        .await;
    app.graphql(None, ME, json!({})).await;
    app.try_login("metric@example.io", "wrong password").await;
    app.try_login("metric@example.io", PASSWORD).await;
    let mut response = app
        .client()
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
    for line in [
        "customer_api_graphql_requests_total{operation=\"me\",outcome=\"UNAUTHENTICATED\"} 1",
        "customer_api_graphql_requests_total{operation=\"createCustomer\",outcome=\"ok\"} 1",
        "customer_api_graphql_requests_total{operation=\"authenticateCustomer\",outcome=\"RATE_LIMITED\"} 1",
        "customer_api_failed_logins_total 1",
        "customer_api_rate_limited_logins_total 1",
        "customer_api_db_pool_waiting_requests 0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("customer_api_graphql_request_duration_seconds_bucket{le=\"0.005\",operation=\"me\",outcome=\"UNAUTHENTICATED\"}"));
    assert!(text.contains("customer_api_db_pool_connections "));
    assert!(text.contains("customer_api_db_pool_idle_connections "));
}

async fn racing_updates_with_one_expected_updated_at(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token();
    for round in 0..5 {
        let id = app
            .create_customer("Racer", &format!("racer{round}@example.io"), None)
            .await;
        let expected = app.read(&id).await["updatedAt"].clone();
        let update = |name: &'static str| {
            let input = json!({ "customerId": id, "name": name, "expectedUpdatedAt": expected });
            app.graphql(Some(&admin), UPDATE, json!({ "input": input }))
        };
        let (a, b) = tokio::join!(update("Racer A"), update("Racer B"));
        let winners: Vec<&Value> = [&a, &b]
            .into_iter()
            .filter(|r| r.get("errors").is_none())
            .collect();
        assert_eq!(winners.len(), 1, "exactly one wins: {a} {b}");
        let loser = if a.get("errors").is_some() { &a } else { &b };
        assert_eq!(error_code(loser), "CONFLICT");
        let winner_name = &winners[0]["data"]["updateCustomer"]["customer"]["name"];
        assert_eq!(&app.read(&id).await["name"], winner_name, "no lost update");
    }
}

#[actix_web::test]
async fn cors_allows_only_configured_origins() {
    let origin = "https://app.example.com";
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.http.cors_allowed_origins = vec![origin.to_owned()];
    })
    .await;
    let preflight = |app: &TestApp, origin: &'static str| {
        app.client()
            .request(
                awc::http::Method::OPTIONS,
                format!("{}/graphql", app.address),
            )
            .insert_header(("origin", origin))
            .insert_header(("access-control-request-method", "POST"))
            .insert_header((
                "access-control-request-headers",
                "authorization, content-type",
            ))
            .send()
    };
    let response = preflight(&app, origin).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers.get("access-control-allow-origin").unwrap(), origin);
    let methods = headers
        .get("access-control-allow-methods")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = headers
        .get("access-control-allow-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );

    let response = app
        .client()
        .post(format!("{}/graphql", app.address))
        .insert_header(("origin", origin))
        .send_json(&json!({ "query": "{ __typename }" }))
        .await
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        origin
    );

    let response = preflight(&app, "https://evil.example.com").await.unwrap();
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let closed = TestApp::spawn(Backend::Sqlite).await;
    let response = preflight(&closed, origin).await.unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "no origins are allowed by default"
    );
}

#[actix_web::test]
async fn a_database_outage_is_service_unavailable_and_heals_by_itself() {
    if !postgres_enabled() {
        return;
    }
    let proxy = Proxy::start(postgres_address()).await;
    let through_proxy = format!("127.0.0.1:{}", proxy.port);
    let app = TestApp::spawn_with(Backend::Postgres, |s| {
        s.storage.pool.timeout = Duration::from_secs(1);
        s.storage.pool.max_size = 2;
        rewrite_postgres_url(&mut s.storage.backend, Some(&through_proxy), None);
    })
    .await;
    let id = app
        .create_customer("Outage", "outage@example.io", None)
        .await;
    let admin = app.admin_token();
    let readyz = || async {
        app.client()
            .get(format!("{}/readyz", app.address))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(readyz().await, 200);

    proxy.cut();
    let started = Instant::now();
    let body = app.graphql(Some(&admin), GET, json!({ "id": id })).await;
    assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE", "{body}");
    assert_eq!(
        message(&body),
        "the service is temporarily unavailable; try again later"
    );
    let body = app.graphql(Some(&admin), GET, json!({ "id": id })).await;
    assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answers within the pool timeout"
    );
    assert_eq!(readyz().await, 503);

    proxy.restore();
    let mut healed = false;
    for _ in 0..40 {
        let body = app.graphql(Some(&admin), GET, json!({ "id": id })).await;
        if body.get("errors").is_none() {
            assert_eq!(body["data"]["customer"]["customerId"], id);
            healed = true;
            break;
        }
        assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE", "{body}");
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(healed, "the server recovered without a restart");
    assert_eq!(readyz().await, 200);
}

#[actix_web::test]
async fn postgres_over_tls() {
    if !postgres_enabled() {
        return;
    }
    let app = TestApp::spawn_with(Backend::Postgres, |s| {
        rewrite_postgres_url(&mut s.storage.backend, None, Some("sslmode=require"));
    })
    .await;
    app.create_customer("Encrypted", "tls@example.io", None)
        .await;
    let encrypted = app.scalar(
        "SELECT count(*) AS n FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
         WHERE ssl AND datname = current_database() AND pid <> pg_backend_pid()",
    );
    assert!(encrypted > 0, "the app's connections use TLS");
}

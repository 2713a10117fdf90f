//! Hostile clients: documents built to stall the server, floods of labels, requests built to
//! trick it (mutations over GET, cross-site form posts, forged forwarding headers), parallel
//! password guessing, password-hashing floods, slow bodies and hanging work.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

on_both_backends!(
    a_fragment_bomb_is_refused_at_once,
    mutations_never_run_over_get,
    post_bodies_must_be_json,
    parallel_guesses_for_one_email_get_the_limit_of_checks,
    parallel_guesses_from_one_client_get_the_limit_of_checks,
    forwarded_clients_are_throttled_behind_trusted_proxies_only,
    nul_and_overlong_filters_are_bad_input,
    a_request_past_its_deadline_gets_service_unavailable,
    a_signup_flood_leaves_logins_and_reads_answering,
    logins_without_room_for_their_check_are_refused_uncounted,
);

async fn a_fragment_bomb_is_refused_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for levels in [20, 31, 40] {
        let body = app
            .graphql(None, &fragment_bomb(levels, "me { name }"), json!({}))
            .await;
        assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    }
    let (status, _) = get_text(&app.address, "/healthz").await;
    assert_eq!(status, 200, "the server still answers");
}

#[actix_web::test]
async fn a_thousand_unknown_names_leave_metrics_the_same_size() {
    let app = &TestApp::spawn(Backend::Sqlite).await;
    let unknown = |n: usize| format!("{{ madeUpField{n} }}");
    let body = app.graphql(None, &unknown(0), json!({})).await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    let (_, before) = get_text(&app.address, "/metrics").await;
    for chunk in (1..=1000).collect::<Vec<_>>().chunks(50) {
        join_all(chunk.iter().map(|n| {
            let query = unknown(*n);
            async move { app.graphql(None, &query, json!({})).await }
        }))
        .await;
    }
    let (_, after) = get_text(&app.address, "/metrics").await;
    assert!(!after.contains("madeUpField"), "{after}");
    // The same series before and after; only their values (counts, sums) changed.
    let series = |text: &str| {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| {
                line.rsplit_once(' ')
                    .map_or(line, |(series, _)| series)
                    .to_owned()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(series(&before), series(&after));
    assert!(after.contains(
        "customer_api_graphql_requests_total{operation=\"invalid\",outcome=\"GRAPHQL_VALIDATION_FAILED\"} 1001"
    ));
    assert!(
        after.len() < before.len() + 200,
        "{} bytes before, {} after",
        before.len(),
        after.len()
    );
}

#[actix_web::test]
async fn metrics_can_have_an_address_of_their_own() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (status, _) = get_text(&app.address, "/metrics").await;
    assert_eq!(status, 404, "not on the public address");
    let metrics = app.metrics_address.clone().expect("a metrics port");
    let (status, text) = get_text(&metrics, "/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("customer_api_db_pool_connections"), "{text}");
    let (status, _) = get_text(&metrics, "/healthz").await;
    assert_eq!(status, 404, "the metrics address serves metrics only");
}

async fn get(app: &TestApp, params: &[(&str, &str)]) -> (u16, Value) {
    let mut response = app
        .client()
        .get(format!("{}/graphql", app.address))
        .insert_header(("authorization", format!("Bearer {}", app.admin_token())))
        .query(&params)
        .unwrap()
        .send()
        .await
        .unwrap();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    assert_every_error_has_a_code(&body);
    (response.status().as_u16(), body)
}

async fn mutations_never_run_over_get(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_customer("Kept", "kept@example.io", None).await;
    let delete = format!(r#"deleteCustomer(customerId: "{id}") {{ success }}"#);
    let unnamed = format!("mutation {{ {delete} }}");
    let named = format!("mutation M {{ {delete} }}");
    let several = format!("query Q {{ me {{ name }} }} mutation M {{ {delete} }}");
    let batch = json!([{ "query": named }]).to_string();
    for params in [
        vec![("query", unnamed.as_str())],
        vec![("query", named.as_str())],
        vec![("query", named.as_str()), ("operationName", "M")],
        vec![("query", several.as_str()), ("operationName", "M")],
    ] {
        let (status, body) = get(&app, &params).await;
        assert_eq!(status, 405, "{params:?}: {body}");
    }
    // A batch cannot travel over GET at all.
    let (status, body) = get(&app, &[("query", batch.as_str())]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED");
    // The query of a document that also holds a mutation runs when it is the one chosen.
    let (status, body) = get(&app, &[("query", several.as_str()), ("operationName", "Q")]).await;
    assert_eq!(status, 200);
    assert_eq!(ok(&body, "me"), &json!(null));
    assert!(
        app.read(&id).await.is_object(),
        "the customer is still there"
    );
    assert_eq!(app.count_rows("customers"), 1);
}

async fn post_bodies_must_be_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let signup = json!({ "query": CREATE, "variables": { "input": {
        "name": "Forged", "email": "forged@example.io", "password": PASSWORD } } })
    .to_string();
    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/graphql",
    ] {
        let (status, _, body) = post_raw(&app, &[("content-type", content_type)], &*signup).await;
        assert_eq!(status, 415, "{content_type}: {body}");
    }
    let (status, _, _) = post_raw(&app, &[], &*signup).await;
    assert_eq!(status, 415, "no content type");
    assert_eq!(app.count_rows("customers"), 0, "nothing was created");

    let json = ("content-type", "application/json; charset=utf-8");
    let (status, headers, body) = post_raw(&app, &[json], &*signup).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        headers.get("vary").unwrap(),
        "Accept, Accept-Encoding, Authorization"
    );
    assert_eq!(app.count_rows("customers"), 1);

    // Accept honours q-values.
    let invalid = json!({ "query": "{ nope }" }).to_string();
    let prefers_json = (
        "accept",
        "application/graphql-response+json;q=0.5, application/json",
    );
    let (status, headers, _) = post_raw(&app, &[json, prefers_json], &*invalid).await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("content-type").unwrap(), "application/json");
    let prefers_graphql = (
        "accept",
        "application/json;q=0.8, application/graphql-response+json",
    );
    let (status, headers, body) = post_raw(&app, &[json, prefers_graphql], &*invalid).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/graphql-response+json"
    );
    let (status, _, _) = post_raw(&app, &[json, ("accept", "text/html")], &*invalid).await;
    assert_eq!(status, 406);
}

/// (UNAUTHENTICATED answers, RATE_LIMITED answers) of parallel logins.
async fn guess_in_parallel(app: &TestApp, emails: &[String]) -> (usize, usize) {
    let bodies = join_all(
        emails
            .iter()
            .map(|email| app.try_login(email, "wrong password")),
    )
    .await;
    let count = |code: &str| bodies.iter().filter(|b| error_code(b) == code).count();
    let counted = (count("UNAUTHENTICATED"), count("RATE_LIMITED"));
    assert_eq!(counted.0 + counted.1, emails.len(), "{bodies:?}");
    counted
}

fn failed_logins_metric(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("customer_api_failed_logins_total "))
        .unwrap()
        .parse()
        .unwrap()
}

async fn parallel_guesses_for_one_email_get_the_limit_of_checks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_customer("Target", "target@example.io", Some(PASSWORD))
        .await;
    let emails = vec!["target@example.io".to_owned(); 40];
    let (checked, limited) = guess_in_parallel(&app, &emails).await;
    assert_eq!((checked, limited), (5, 35));
    let (_, metrics) = get_text(&app.address, "/metrics").await;
    assert_eq!(failed_logins_metric(&metrics), 5, "five bcrypt checks");
    assert_eq!(app.count_rows("throttled_attempts"), 5);
}

async fn parallel_guesses_from_one_client_get_the_limit_of_checks(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.policy.login_throttle.max_failures_per_client = 5;
    })
    .await;
    let emails: Vec<String> = (0..40).map(|n| format!("guess{n}@example.io")).collect();
    let (checked, limited) = guess_in_parallel(&app, &emails).await;
    assert_eq!((checked, limited), (5, 35));
}

async fn login_from(app: &TestApp, forwarded_for: &str, email: &str) -> Value {
    let mut response = app
        .client()
        .post(format!("{}/graphql", app.address))
        .insert_header(("x-forwarded-for", forwarded_for))
        .send_json(
            &json!({ "query": LOGIN, "variables": { "email": email, "password": PASSWORD } }),
        )
        .await
        .unwrap();
    response.json().await.unwrap()
}

async fn forwarded_clients_are_throttled_behind_trusted_proxies_only(backend: Backend) {
    let behind_proxy = TestApp::spawn_with(backend, |s| {
        s.policy.login_throttle.max_failures_per_client = 2;
        s.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let app = &behind_proxy;
    for n in 0..2 {
        let body = login_from(app, "203.0.113.5, 127.0.0.1", &format!("a{n}@example.io")).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }
    let body = login_from(app, "203.0.113.5", "a9@example.io").await;
    assert_eq!(
        error_code(&body),
        "RATE_LIMITED",
        "this forwarded client is limited"
    );
    let body = login_from(app, "203.0.113.6", "a9@example.io").await;
    assert_eq!(
        error_code(&body),
        "UNAUTHENTICATED",
        "another client is not"
    );
    // IPv6 clients are counted per /64.
    login_from(app, "2001:db8:1:2::1", "b1@example.io").await;
    login_from(app, "2001:db8:1:2:ffff::2", "b2@example.io").await;
    let body = login_from(app, "2001:db8:1:2:abcd::3", "b3@example.io").await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
    let body = login_from(app, "2001:db8:1:3::1", "b3@example.io").await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "another /64");
    let stored = app.scalar(
        "SELECT count(*) AS n FROM throttled_attempts WHERE client_addr = '2001:db8:1:2::/64'",
    );
    assert_eq!(stored, 2);

    // Without TRUSTED_PROXIES the header is the client's own claim, and ignored.
    let direct = TestApp::spawn_with(backend, |s| {
        s.policy.login_throttle.max_failures_per_client = 2;
    })
    .await;
    for n in 0..2 {
        login_from(
            &direct,
            &format!("198.51.100.{n}"),
            &format!("c{n}@example.io"),
        )
        .await;
    }
    let body = login_from(&direct, "198.51.100.77", "c9@example.io").await;
    assert_eq!(
        error_code(&body),
        "RATE_LIMITED",
        "all of them are 127.0.0.1"
    );
}

async fn nul_and_overlong_filters_are_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token();
    let list = "query($filter: CustomerFilter) { customers(filter: $filter) { nodes { name } } }";
    for (filter, field) in [
        (json!({ "search": "a\u{0}b" }), "filter.search"),
        (json!({ "email": "a\u{0}@example.io" }), "filter.email"),
        (
            json!({ "email": format!("{}@example.io", "a".repeat(250)) }),
            "filter.email",
        ),
        (json!({ "search": "tab\there" }), "filter.search"),
    ] {
        let body = app
            .graphql(Some(&admin), list, json!({ "filter": filter }))
            .await;
        assert_eq!(
            error(&body),
            ("BAD_USER_INPUT".to_owned(), Some(field.to_owned())),
            "{filter}"
        );
    }
    for (input, field) in [
        (
            json!({ "name": "Nul\u{0}Name", "email": "n@example.io" }),
            "name",
        ),
        (
            json!({ "name": "Nul", "email": "n\u{0}@example.io" }),
            "email",
        ),
        (
            json!({ "name": "Nul", "email": "n@example.io", "password": "pass\u{0}word" }),
            "password",
        ),
    ] {
        let body = app
            .graphql(Some(&admin), CREATE, json!({ "input": input }))
            .await;
        assert_eq!(
            error(&body),
            ("BAD_USER_INPUT".to_owned(), Some(field.to_owned()))
        );
    }
    assert_eq!(app.count_rows("customers"), 0);
}

async fn a_request_past_its_deadline_gets_service_unavailable(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits.request_timeout = Duration::from_millis(500);
    })
    .await;
    let id = app.create_customer("Stuck", "stuck@example.io", None).await;
    let lock = app.hold_write_lock(&id);
    let input = json!({ "customerId": id, "name": "Changed" });
    let admin = format!("Bearer {}", app.admin_token());
    let (status, _, body) = post_raw(
        &app,
        &[
            ("content-type", "application/json"),
            ("authorization", &admin),
        ],
        json!({ "query": UPDATE, "variables": { "input": input } }).to_string(),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE");
    drop(lock);
    let (status, _) = get_text(&app.address, "/healthz").await;
    assert_eq!(status, 200);
}

/// Sign-ups hash at a high cost with room for two hashes; a login and a read sent while the
/// flood runs still answer, before it ends; a taken email and a revoked token are refused
/// without hashing (else they would be refused as busy).
async fn a_signup_flood_leaves_logins_and_reads_answering(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.bcrypt_cost = 14;
        s.max_password_jobs = 4;
    })
    .await;
    let id = app
        .create_customer("Regular", "regular@example.io", None)
        .await;
    let cheap_hash = bcrypt::hash(PASSWORD, 4).unwrap();
    app.execute_sql(&format!(
        "UPDATE customers SET password_hash = '{cheap_hash}' WHERE id = '{id}'"
    ));
    // A customer whose session (and so token) has ended.
    let revoked_id = app
        .create_customer("Revoked", "revoked@example.io", None)
        .await;
    app.execute_sql(&format!(
        "UPDATE customers SET password_hash = '{cheap_hash}' WHERE id = '{revoked_id}'"
    ));
    let revoked = app.login("revoked@example.io", PASSWORD).await;
    app.execute_sql(&format!(
        "DELETE FROM sessions WHERE customer_id = '{revoked_id}'"
    ));
    let signup = |n: usize| {
        let input = json!({ "name": "Flood", "email": format!("flood{n}@example.io"), "password": PASSWORD });
        app.graphql(None, CREATE, json!({ "input": input }))
    };
    let flood = join_all((0..20).map(signup));
    let others = async {
        // Let the flood take the hashing slots first.
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        let taken = json!({ "name": "Again", "email": "regular@example.io", "password": PASSWORD });
        let taken = app.graphql(None, CREATE, json!({ "input": taken })).await;
        let login = app.try_login("regular@example.io", PASSWORD).await;
        let read = app.read(&id).await;
        let input = json!({ "customerId": revoked_id, "password": "a new password" });
        let change = app
            .graphql(Some(&revoked), UPDATE, json!({ "input": input }))
            .await;
        (taken, login, read, change, std::time::Instant::now())
    };
    let (signups, (taken, login, read, change, others_done)) = tokio::join!(flood, others);
    let flood_done = std::time::Instant::now();
    assert!(others_done <= flood_done);
    assert_eq!(
        error_code(&taken),
        "CONFLICT",
        "no hashing for a taken email"
    );
    assert_eq!(
        error_code(&change),
        "UNAUTHENTICATED",
        "no hashing for a revoked token"
    );
    ok(&login, "authenticateCustomer");
    assert_eq!(read["customerId"], id);
    let refused: Vec<&Value> = signups
        .iter()
        .filter(|b| b.get("errors").is_some())
        .collect();
    assert!(
        refused.len() >= 10,
        "most of the flood is refused: {signups:?}"
    );
    for body in &refused {
        assert_eq!(error_code(body), "SERVICE_UNAVAILABLE", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 1);
    }
    assert!(
        refused.len() < signups.len(),
        "the admitted sign-ups were hashed"
    );
}

/// Two slow password checks fill the password work; logins sent meanwhile are refused at
/// once as busy (with `retryAfter`), and neither counted as attempts nor as failures.
async fn logins_without_room_for_their_check_are_refused_uncounted(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.max_password_jobs = 2;
    })
    .await;
    let id = app.create_customer("Slow", "slow@example.io", None).await;
    let slow_hash = bcrypt::hash(PASSWORD, 15).unwrap();
    app.execute_sql(&format!(
        "UPDATE customers SET password_hash = '{slow_hash}' WHERE id = '{id}'"
    ));
    let checking = join_all((0..2).map(|_| app.try_login("slow@example.io", "wrong password")));
    let refused = async {
        // Let the two checks take the room first.
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let guesses = (0..10)
            .map(|n| format!("busy{n}@example.io"))
            .collect::<Vec<_>>();
        let refused = join_all(guesses.iter().map(|e| app.try_login(e, "wrong password"))).await;
        let attempts = app.count_rows("throttled_attempts");
        (refused, attempts)
    };
    let (checked, (refused, attempts_meanwhile)) = tokio::join!(checking, refused);
    for body in &refused {
        assert_eq!(error_code(body), "SERVICE_UNAVAILABLE", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 1);
    }
    assert_eq!(
        attempts_meanwhile, 2,
        "only the two being checked are counted"
    );
    for body in &checked {
        assert_eq!(error_code(body), "UNAUTHENTICATED", "{body}");
    }
    let (_, metrics) = get_text(&app.address, "/metrics").await;
    assert_eq!(failed_logins_metric(&metrics), 2);
}

#[actix_web::test]
async fn a_trickled_body_is_cut_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.limits.body_read_timeout = Duration::from_secs(1);
    })
    .await;
    let port = app.address.rsplit(':').next().unwrap();
    let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{",
        )
        .await
        .unwrap();
    let trickle = async {
        for _ in 0..20 {
            actix_web::rt::time::sleep(Duration::from_millis(300)).await;
            if stream.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), trickle).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server closed the connection");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[actix_web::test]
async fn documents_over_the_token_limit_or_bracket_depth_are_refused_unparsed() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.limits.bounds.max_tokens = 100).await;
    let fields = |n: usize| format!("{{ {} }}", "__typename ".repeat(n));
    ok(
        &app.graphql(None, &fields(98), json!({})).await,
        "__typename",
    );
    let body = app.graphql(None, &fields(99), json!({})).await;
    assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED", "{body}");
    assert!(message(&body).contains("100 tokens"), "{body}");
    // 30,000 nested brackets would overflow the recursive parser's stack.
    let app = TestApp::spawn(Backend::Sqlite).await;
    let deep = format!("{{ me(x: {}) {{ name }} }}", "[".repeat(30_000));
    let body = app.graphql(None, &deep, json!({})).await;
    assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED", "{body}");
    let (status, _) = get_text(&app.address, "/healthz").await;
    assert_eq!(status, 200);
}

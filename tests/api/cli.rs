//! The binary as an operator runs it: start-up checks, `token --admin`, and a fresh start
//! with nothing but a data folder.

use std::{process::Stdio, time::Duration};

use serde_json::{json, Value};

use crate::helpers::{
    customer_api, fragment_bomb, run, stderr, ReceivedMail, Server, TempDir, SECRET,
};

#[test]
fn bad_configuration_stops_start_up_with_one_clear_line() {
    let data = TempDir::new();
    // A graphql-codegen map hashed with its default, SHA-1: clients would send other hashes.
    let sha1_manifest = data.path().join("sha1-manifest.json");
    let sha1_map = json!({ "0123456789abcdef0123456789abcdef01234567": "{ me { id } }" });
    std::fs::write(&sha1_manifest, sha1_map.to_string()).unwrap();
    let sha1_manifest = sha1_manifest.to_str().unwrap();
    let cases = [
        ("JWT_SECRET", "too-short", "JWT_SECRET"),
        ("DATABASE_URL", "mysql://localhost/db", "DATABASE_URL"),
        ("JWT_SECRET_FILE", "/nonexistent/secret", "JWT_SECRET_FILE"),
        ("BCRYPT_COST", "99", "bcrypt-cost"),
        ("LOG_FORMAT", "xml", "log-format"),
        ("TOKEN_TTL", "soon", "token-ttl"),
        (
            "CORS_ALLOWED_ORIGINS",
            "app.example.com/path",
            "CORS_ALLOWED_ORIGINS",
        ),
        ("PERSISTED_ONLY", "true", "PERSISTED_DOCUMENTS"),
        (
            "PERSISTED_DOCUMENTS",
            "/nonexistent/manifest.json",
            "PERSISTED_DOCUMENTS",
        ),
        ("PERSISTED_DOCUMENTS", sha1_manifest, "hashAlgorithm"),
    ];
    for (var, value, named) in cases {
        let output = run(customer_api()
            .env("DATA_DIR", data.path())
            .env(var, value)
            .arg("serve"));
        assert!(!output.status.success(), "{var}={value} was accepted");
        assert!(
            stderr(&output).contains(named),
            "{var}: {}",
            stderr(&output)
        );
    }
    let output = run(customer_api()
        .env("DATABASE_URL", "postgres://localhost/db")
        .arg("serve"));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("JWT_SECRET"),
        "PostgreSQL needs a configured secret"
    );
}

#[test]
fn token_admin_prints_a_signed_admin_token() {
    let output = run(customer_api()
        .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .args(["token", "--admin", "--ttl", "2h"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let token = String::from_utf8(output.stdout).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&["customer-api"]);
    let claims = jsonwebtoken::decode::<Value>(
        token.trim(),
        &jsonwebtoken::DecodingKey::from_secret(SECRET),
        &validation,
    )
    .expect("signed with JWT_SECRET")
    .claims;
    assert_eq!(claims["role"], "admin");
    assert!(claims["jti"].is_string(), "admin tokens have an id");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        7200
    );

    // The lifetime is capped (24 hours by default), with one clear line.
    let output = run(customer_api()
        .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .args(["token", "--admin", "--ttl", "100y"]));
    assert!(!output.status.success(), "100 years was accepted");
    let last = stderr(&output).lines().last().unwrap().to_owned();
    assert!(last.contains("ADMIN_TOKEN_MAX_TTL"), "{last}");
    let output = run(customer_api()
        .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .env("ADMIN_TOKEN_MAX_TTL", "30d")
        .args(["token", "--admin", "--ttl", "7d"]));
    assert!(output.status.success(), "{}", stderr(&output));

    let output = run(customer_api()
        .env("DATA_DIR", "/nonexistent")
        .args(["token", "--admin"]));
    assert!(!output.status.success(), "no secret, no token");
}

#[actix_web::test]
async fn a_fresh_start_serves_with_a_generated_secret_and_sqlite() {
    let data = TempDir::new();
    let (_server, base) = Server::start(
        customer_api()
            .env("DATA_DIR", data.path())
            .env("BCRYPT_COST", "4")
            .stderr(Stdio::null()),
    )
    .await;
    let client = awc::Client::default();
    assert!(data.path().join("customers.sqlite3").exists());
    let secret = data.path().join("jwt-secret");
    assert!(std::fs::read(&secret).unwrap().len() >= 32);

    let output = run(customer_api()
        .env("DATA_DIR", data.path())
        .args(["token", "--admin"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let admin = String::from_utf8(output.stdout).unwrap();
    let mut response = client
        .post(format!("{base}/graphql"))
        .insert_header(("authorization", format!("Bearer {}", admin.trim())))
        .send_json(&json!({ "query": "{ me { name } }" }))
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "data": { "me": null } }),
        "the server accepts the minted token"
    );
}

async fn post(base: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
        .post(format!("{base}/graphql"));
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    let mut response = request
        .send_json(&json!({ "query": query, "variables": variables }))
        .await
        .unwrap();
    response.json().await.unwrap()
}

const SIGN_UP: &str =
    "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customerId } }";
const LOG_IN: &str = "mutation($email: String!, $password: String!) { authenticateCustomer(email: $email, password: $password) { token refreshToken } }";

#[actix_web::test]
async fn logs_are_one_json_line_per_request_and_keep_secrets_out() {
    let data = TempDir::new();
    let log_path = data.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (mut server, base) = Server::start(
        customer_api()
            .env("DATA_DIR", data.path().join("data"))
            .env("BCRYPT_COST", "4")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stderr(log),
    )
    .await;
    let password = "Sup3r-Secret-Passw0rd";
    let input = json!({ "name": "Private Person", "email": "private.person@example.io", "password": password });
    let body = post(&base, None, SIGN_UP, json!({ "input": input })).await;
    assert!(body.get("errors").is_none(), "{body}");
    let body = post(
        &base,
        None,
        LOG_IN,
        json!({ "email": "private.person@example.io", "password": password }),
    )
    .await;
    let token = body["data"]["authenticateCustomer"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_refresh = body["data"]["authenticateCustomer"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    post(&base, Some(&token), "{ me { name } }", json!({})).await;
    let body = post(
        &base,
        None,
        "mutation($t: String!) { refreshSession(refreshToken: $t) { refreshToken } }",
        json!({ "t": first_refresh }),
    )
    .await;
    let second_refresh = body["data"]["refreshSession"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        &base,
        None,
        "mutation($e: String!) { requestPasswordReset(email: $e) { success } }",
        json!({ "e": "private.person@example.io" }),
    )
    .await;
    post(
        &base,
        None,
        LOG_IN,
        json!({ "email": "private.person@example.io", "password": "wrong password" }),
    )
    .await;
    // Without SMTP_URL, the sign-up's verification mail and the reset mail are files in the
    // outbox; the tokens in them must not be in the log either.
    let outbox = data.path().join("data").join("outbox");
    let mut mailed = Vec::new();
    for _ in 0..100 {
        mailed = std::fs::read_dir(&outbox)
            .map(|files| files.flatten().map(|f| f.path()).collect())
            .unwrap_or_default();
        if mailed.len() == 2 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(mailed.len(), 2, "two mails in {}", outbox.display());
    let mail_tokens: Vec<String> = mailed
        .iter()
        .map(|path| ReceivedMail::parse(&std::fs::read_to_string(path).unwrap()).token())
        .collect();
    server.terminate();
    assert!(server.exit_status(Duration::from_secs(10)).await.success());

    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "graphql request")
        .collect();
    assert_eq!(requests.len(), 6, "one line per GraphQL request:\n{text}");
    for line in &requests {
        assert!(line["span"]["request_id"].is_string(), "{line}");
        assert!(line["fields"]["duration_ms"].is_number(), "{line}");
    }
    assert_eq!(requests[1]["fields"]["operation"], "authenticateCustomer");
    assert_eq!(requests[3]["fields"]["operation"], "refreshSession");
    assert_eq!(requests[5]["fields"]["outcome"], "UNAUTHENTICATED");
    // The signing secret the server generated on this first start stays out of the log too.
    let signing_secret =
        std::fs::read_to_string(data.path().join("data").join("jwt-secret")).unwrap();
    assert!(
        text.contains("generated a new token signing secret"),
        "{text}"
    );
    for secret in [
        password,
        token.as_str(),
        first_refresh.as_str(),
        second_refresh.as_str(),
        mail_tokens[0].as_str(),
        mail_tokens[1].as_str(),
        signing_secret.as_str(),
        "private.person",
        "$2b$",
        "$2y$",
    ] {
        assert!(
            !text.contains(secret),
            "{secret:?} reached the log:\n{text}"
        );
    }
}

#[actix_web::test]
async fn sigterm_lets_in_flight_requests_finish_and_exits_zero() {
    let data = TempDir::new();
    // A high bcrypt cost makes a sign-up slow enough to be in flight when the signal comes.
    let (mut server, base) = Server::start(
        customer_api()
            .env("DATA_DIR", data.path())
            .env("BCRYPT_COST", "14")
            .stderr(Stdio::null()),
    )
    .await;
    let input =
        json!({ "name": "Late", "email": "late@example.io", "password": PASSWORD_FOR_SIGNALS });
    let signup = post(&base, None, SIGN_UP, json!({ "input": input }));
    let signal = async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        server.terminate();
    };
    let (body, ()) = tokio::join!(signup, signal);
    assert!(
        body["data"]["createCustomer"]["customerId"].is_string(),
        "{body}"
    );
    let status = server.exit_status(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0));
    let refused = awc::Client::default()
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "stopped serving");
}

const PASSWORD_FOR_SIGNALS: &str = "a password to hash slowly";

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[actix_web::test]
async fn the_data_folder_and_its_files_are_the_owners_alone() {
    let parent = TempDir::new();
    let data = parent.path().join("data");
    let (_server, base) = Server::start(
        customer_api()
            .env("DATA_DIR", &data)
            .env("BCRYPT_COST", "4")
            .stderr(Stdio::null()),
    )
    .await;
    // A write, so that SQLite has made its WAL and shared-memory files.
    let input = json!({ "name": "Private", "email": "private@example.io", "password": PASSWORD_FOR_SIGNALS });
    let body = post(&base, None, SIGN_UP, json!({ "input": input })).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(mode(&data), 0o700, "the data folder");
    for file in [
        "customers.sqlite3",
        "customers.sqlite3-wal",
        "customers.sqlite3-shm",
        "jwt-secret",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
}

#[test]
fn a_secret_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let data = TempDir::new();
    let secret = data.path().join("secret");
    std::fs::write(&secret, std::str::from_utf8(SECRET).unwrap()).unwrap();
    for shared in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(shared)).unwrap();
        let output = run(customer_api()
            .env("DATA_DIR", data.path())
            .env("JWT_SECRET_FILE", &secret)
            .arg("serve"));
        assert!(!output.status.success(), "mode {shared:o} was accepted");
        let last = stderr(&output).lines().last().unwrap().to_owned();
        assert!(
            last.contains("JWT_SECRET_FILE") && last.contains("chmod 600"),
            "{last}"
        );
    }
    // The generated secret is checked the same way.
    std::fs::write(data.path().join("jwt-secret"), "x".repeat(64)).unwrap();
    std::fs::set_permissions(
        data.path().join("jwt-secret"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let output = run(customer_api().env("DATA_DIR", data.path()).arg("serve"));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("chmod 600"), "{}", stderr(&output));
}

/// Stuck work does not keep the process alive past the grace period: neither a request
/// waiting on a database lock, nor a worker thread spinning on a document that only an
/// operator's absurd MAX_QUERY_NODES and MAX_QUERY_COMPLEXITY let through to async-graphql's
/// exponential checks.
#[actix_web::test]
async fn sigterm_ends_the_process_after_the_grace_period_even_with_stuck_work() {
    use diesel::{connection::SimpleConnection, Connection};
    let data = TempDir::new();
    let path = data.path().join("customers.sqlite3");
    let command = || {
        let mut command = customer_api();
        command
            .env("DATA_DIR", data.path())
            .env("BCRYPT_COST", "4")
            .env("SHUTDOWN_TIMEOUT", "1s")
            .env("REQUEST_TIMEOUT", "60s")
            .env("MAX_QUERY_NODES", "1000000000000")
            .env("MAX_QUERY_COMPLEXITY", "1000000000000")
            .stderr(Stdio::null());
        command
    };
    let input =
        json!({ "name": "Stuck", "email": "stuck@example.io", "password": PASSWORD_FOR_SIGNALS });
    let waiting_on_a_lock = json!({ "query": SIGN_UP, "variables": { "input": input } });
    let bomb = fragment_bomb(31, "__typename");
    let spinning = json!({ "query": bomb });

    // A request waiting on a lock usually lets the process end on its own (0) once the
    // grace period cuts it; on a loaded machine the watchdog may come first (1). Spinning
    // work is always ended by the watchdog. Either way, within the bound.
    for (stuck_request, expected_exits) in [(waiting_on_a_lock, &[0, 1][..]), (spinning, &[1][..])]
    {
        let (mut server, base) = Server::start(&mut command()).await;
        let mut lock = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        lock.batch_execute("BEGIN IMMEDIATE;").unwrap();
        let stuck = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish()
            .post(format!("{base}/graphql"))
            .send_json(&stuck_request);
        let signal = async {
            actix_web::rt::time::sleep(Duration::from_millis(500)).await;
            server.terminate();
            let signalled = std::time::Instant::now();
            let status = server.exit_status(Duration::from_secs(20)).await;
            (status, signalled.elapsed())
        };
        // The stuck request's connection is cut when the process exits.
        let ((status, took), _) = tokio::join!(signal, stuck);
        assert!(
            took < Duration::from_secs(6),
            "exited {took:?} after SIGTERM"
        );
        let code = status.code().expect("exited, not killed");
        assert!(
            expected_exits.contains(&code),
            "exit {code}: {stuck_request}"
        );
        drop(lock);
    }
}

//! The binary as an operator runs it: start-up checks, `token --admin`, and a fresh start
//! with nothing but a data folder.

use std::{
    net::TcpListener,
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use serde_json::{json, Value};

use crate::helpers::SECRET;

fn customer_api() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_customer-api"));
    for var in [
        "DATABASE_URL",
        "JWT_SECRET",
        "JWT_SECRET_FILE",
        "DATA_DIR",
        "BIND",
    ] {
        command.env_remove(var);
    }
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("customer-api runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_configuration_stops_start_up_with_one_clear_line() {
    let data = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 4] = [
        ("JWT_SECRET", "too-short", "JWT_SECRET"),
        ("DATABASE_URL", "mysql://localhost/db", "DATABASE_URL"),
        ("JWT_SECRET_FILE", "/nonexistent/secret", "JWT_SECRET_FILE"),
        ("BCRYPT_COST", "99", "bcrypt-cost"),
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
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        7200
    );

    let output = run(customer_api()
        .env("DATA_DIR", "/nonexistent")
        .args(["token", "--admin"]));
    assert!(!output.status.success(), "no secret, no token");
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn a_fresh_start_serves_with_a_generated_secret_and_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        customer_api()
            .env("DATA_DIR", data.path())
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("BCRYPT_COST", "4")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = awc::Client::default();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await {
            ready = response.status().is_success();
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the server came up and its database answers");
    assert!(data.path().join("customers.sqlite3").exists());
    let secret = data.path().join("jwt-secret");
    assert!(std::fs::read(&secret).unwrap().len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the secret is readable by its owner only");
    }

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

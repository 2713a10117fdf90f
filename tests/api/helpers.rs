//! Spawning the app per test, its own database per test, and a small GraphQL client.

use std::{sync::Arc, time::Duration};

use customer_api::{
    auth::TokenKeys, cli::ServeArgs, config::Settings, db::Backend as Store, startup::Application,
};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use secrecy::SecretString;
use serde_json::{json, Value};

pub const SECRET: &[u8] = b"test-secret-that-is-at-least-32-bytes-long";
pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether PostgreSQL tests run: TEST_DATABASE_URL is set. With REQUIRE_POSTGRES=1 an unset
/// URL fails the test instead of skipping it.
pub fn postgres_enabled() -> bool {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        return true;
    }
    assert!(
        std::env::var("REQUIRE_POSTGRES").as_deref() != Ok("1"),
        "REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set"
    );
    eprintln!("skipped: TEST_DATABASE_URL is not set");
    false
}

/// A PostgreSQL database made for one test and dropped when the test ends.
struct PgTestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl PgTestDb {
    fn create() -> Self {
        let admin_url = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
        let name = format!("customer_api_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::establish(&admin_url).expect("connect to TEST_DATABASE_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("create the test database");
        let url = with_database(&admin_url, &name);
        Self {
            admin_url,
            name,
            url,
        }
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(error) = diesel::sql_query(drop).execute(&mut conn) {
                eprintln!("could not drop {}: {error}", self.name);
            }
        }
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{host_part}/{name}?{query}"),
        None => format!("{host_part}/{name}"),
    }
}

pub struct TestApp {
    pub address: String,
    /// Where /metrics is served when the test gave it an address of its own.
    pub metrics_address: Option<String>,
    pub backend: Backend,
    client: awc::Client,
    keys: TokenKeys,
    settings: Settings,
    data_dir: Arc<tempfile::TempDir>,
    pg: Option<Arc<PgTestDb>>,
}

/// The settings a test starts from: the server's own defaults (environment variables
/// ignored), with a known secret, a free port, cheap bcrypt and a small pool; `spawn_with`
/// lets a test change them.
pub fn test_settings() -> Settings {
    use clap::{Args, FromArgMatches};
    let command = ServeArgs::augment_args(clap::Command::new("customer-api"))
        .mut_args(|arg| arg.env(clap::builder::Resettable::Reset));
    let matches = command
        .try_get_matches_from([
            "customer-api",
            "--bind=127.0.0.1:0",
            "--workers=2",
            "--bcrypt-cost=4",
            "--db-pool-size=4",
            "--db-connect-timeout=5s",
            "--shutdown-timeout=5s",
            &format!("--jwt-secret={}", std::str::from_utf8(SECRET).unwrap()),
        ])
        .expect("test flags parse");
    let args = ServeArgs::from_arg_matches(&matches).expect("test flags parse");
    Settings::from_args(args).expect("test settings are valid")
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Self {
        let data_dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut settings = test_settings();
        let pg = match backend {
            Backend::Sqlite => {
                settings.storage.backend = Store::Sqlite {
                    path: data_dir.path().join("customers.sqlite3"),
                };
                None
            }
            Backend::Postgres => {
                let db = PgTestDb::create();
                settings.storage.backend = Store::Postgres {
                    url: SecretString::from(db.url.clone()),
                };
                Some(Arc::new(db))
            }
        };
        adjust(&mut settings);
        Self::start(backend, settings, data_dir, pg).await
    }

    /// Another server instance on the same database, as behind a load balancer.
    pub async fn second_instance(&self) -> Self {
        let (data_dir, pg) = (Arc::clone(&self.data_dir), self.pg.clone());
        Self::start(self.backend, self.settings.clone(), data_dir, pg).await
    }

    async fn start(
        backend: Backend,
        settings: Settings,
        data_dir: Arc<tempfile::TempDir>,
        pg: Option<Arc<PgTestDb>>,
    ) -> Self {
        let keys = TokenKeys::new(
            &settings.jwt_secret,
            &settings.jwt_issuer,
            settings.token_ttl,
        );
        let app = Application::build(settings.clone())
            .await
            .expect("the app starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = app
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        actix_web::rt::spawn(app.run_until_stopped());
        Self {
            address,
            metrics_address,
            backend,
            client: awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .finish(),
            keys,
            settings,
            data_dir,
            pg,
        }
    }

    pub fn admin_token(&self) -> String {
        self.keys
            .issue_admin(Duration::from_secs(600))
            .map_err(|e| e.message())
            .unwrap()
            .token
    }

    /// POSTs a GraphQL request and returns the JSON body.
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .insert_header(("content-type", "application/json"));
        if let Some(token) = token {
            request = request.insert_header(("authorization", format!("Bearer {token}")));
        }
        let mut response = request
            .send_json(&json!({ "query": query, "variables": variables }))
            .await
            .expect("request sent");
        assert_eq!(response.status(), 200, "GraphQL over POST answers 200");
        let body: Value = response.json().limit(1 << 20).await.expect("JSON body");
        assert_every_error_has_a_code(&body);
        body
    }

    pub fn client(&self) -> &awc::Client {
        &self.client
    }

    /// Creates a customer with the admin token; returns its id.
    pub async fn create_customer(&self, name: &str, email: &str, password: Option<&str>) -> String {
        let body = self
            .graphql(
                Some(&self.admin_token()),
                CREATE,
                json!({ "input": { "name": name, "email": email, "password": password } }),
            )
            .await;
        ok(&body, "createCustomer")["customerId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Logs in; returns the token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let body = self.try_login(email, password).await;
        ok(&body, "authenticateCustomer")["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn try_login(&self, email: &str, password: &str) -> Value {
        self.graphql(None, LOGIN, json!({ "email": email, "password": password }))
            .await
    }

    /// A signed-up customer: (id, token).
    pub async fn customer_with_token(&self, email: &str) -> (String, String) {
        let id = self
            .create_customer("Test Customer", email, Some(PASSWORD))
            .await;
        let token = self.login(email, PASSWORD).await;
        (id, token)
    }

    /// Reads a customer as admin.
    pub async fn read(&self, id: &str) -> Value {
        let body = self
            .graphql(Some(&self.admin_token()), GET, json!({ "id": id }))
            .await;
        body["data"]["customer"].clone()
    }

    /// Rows in a table, counted in the database itself.
    pub fn count_rows(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT count(*) AS n FROM {table}"))
    }

    /// The `n` column of a one-row query on the app's database.
    pub fn scalar(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let query = diesel::sql_query(sql);
        let rows: Vec<Count> = match &self.pg {
            Some(db) => query.load(&mut PgConnection::establish(&db.url).unwrap()),
            None => query.load(&mut SqliteConnection::establish(&self.sqlite_path()).unwrap()),
        }
        .unwrap();
        rows[0].n
    }

    /// Runs SQL on the app's database behind its back.
    pub fn execute_sql(&self, sql: &str) {
        let query = diesel::sql_query(sql);
        match &self.pg {
            Some(db) => query.execute(&mut PgConnection::establish(&db.url).unwrap()),
            None => query.execute(&mut SqliteConnection::establish(&self.sqlite_path()).unwrap()),
        }
        .unwrap();
    }

    /// Holds the database's lock on customer `id` (PostgreSQL: its row; SQLite: the write
    /// lock) until the returned connection is dropped, so that a write to it waits.
    pub fn hold_write_lock(&self, id: &str) -> HeldLock {
        use diesel::connection::SimpleConnection;
        match &self.pg {
            Some(db) => {
                let mut conn = PgConnection::establish(&db.url).unwrap();
                conn.batch_execute(&format!(
                    "BEGIN; SELECT id FROM customers WHERE id = '{id}' FOR UPDATE;"
                ))
                .unwrap();
                HeldLock {
                    _connection: Box::new(conn),
                }
            }
            None => {
                let mut conn = SqliteConnection::establish(&self.sqlite_path()).unwrap();
                conn.batch_execute("BEGIN IMMEDIATE;").unwrap();
                HeldLock {
                    _connection: Box::new(conn),
                }
            }
        }
    }

    fn sqlite_path(&self) -> String {
        let path = self.data_dir.path().join("customers.sqlite3");
        path.to_str().unwrap().to_owned()
    }
}

/// An open transaction holding a lock; dropping it closes the connection, which rolls back.
pub struct HeldLock {
    _connection: Box<dyn std::any::Any>,
}

/// Sends a raw POST to /graphql: (status, headers, JSON body or null).
pub async fn post_raw(
    app: &TestApp,
    headers: &[(&str, &str)],
    body: impl Into<String>,
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

pub const CREATE: &str = "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { \
    success customerId customer { customerId name email phone address { line1 line2 city region postalCode country } createdAt updatedAt } } }";
pub const UPDATE: &str = "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { \
    success updatedAt customer { customerId name email phone address { line1 line2 city region postalCode country } createdAt updatedAt } } }";
pub const DELETE: &str =
    "mutation($id: ID!) { deleteCustomer(customerId: $id) { success customerId } }";
pub const LOGIN: &str = "mutation($email: String!, $password: String!) { \
    authenticateCustomer(email: $email, password: $password) { token customerId expiresAt } }";
pub const GET: &str = "query($id: ID!) { customer(customerId: $id) { customerId name email phone \
    address { line1 line2 city region postalCode country } createdAt updatedAt } }";
pub const ME: &str = "{ me { customerId name email } }";

/// The data of a successful operation; fails the test on errors.
pub fn ok<'a>(body: &'a Value, field: &str) -> &'a Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    &body["data"][field]
}

/// The one error of a failed operation: (code, field).
pub fn error(body: &Value) -> (String, Option<String>) {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"));
    assert_eq!(errors.len(), 1, "one error expected: {body}");
    let ext = &errors[0]["extensions"];
    (
        ext["code"].as_str().unwrap().to_owned(),
        ext["field"].as_str().map(str::to_owned),
    )
}

pub fn error_code(body: &Value) -> String {
    error(body).0
}

pub fn message(body: &Value) -> String {
    body["errors"][0]["message"].as_str().unwrap().to_owned()
}

/// Every error the server sends carries `extensions.code`, and no internal detail.
pub fn assert_every_error_has_a_code(body: &Value) {
    for error in body["errors"].as_array().into_iter().flatten() {
        assert!(
            error["extensions"]["code"].is_string(),
            "an error without extensions.code: {error}"
        );
        let message = error["message"].as_str().unwrap_or_default().to_lowercase();
        for leak in [
            "select ", "insert ", "diesel", "postgres", "sqlite", ".rs:", "panicked",
        ] {
            assert!(!message.contains(leak), "internal detail in {error}");
        }
    }
}

/// The host:port of TEST_DATABASE_URL.
pub fn postgres_address() -> String {
    let url = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
    let authority = url
        .split("://")
        .nth(1)
        .unwrap()
        .split(['/', '?'])
        .next()
        .unwrap();
    let host_port = authority.rsplit('@').next().unwrap();
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    }
}

/// Points a PostgreSQL backend at another host:port, and/or adds URL parameters.
pub fn rewrite_postgres_url(backend: &mut Store, host_port: Option<&str>, params: Option<&str>) {
    use secrecy::ExposeSecret;
    let Store::Postgres { url } = backend else {
        panic!("not PostgreSQL");
    };
    let mut text = url.expose_secret().to_owned();
    if let Some(host_port) = host_port {
        text = text.replacen(&postgres_address(), host_port, 1);
    }
    if let Some(params) = params {
        text.push(if text.contains('?') { '&' } else { '?' });
        text.push_str(params);
    }
    *url = SecretString::from(text);
}

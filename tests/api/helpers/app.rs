//! The real application, started per test on a free port, on the backend the test names, and
//! a small client for it.

use std::{sync::Arc, time::Duration};

use customer_api::{
    auth::TokenKeys, cli::ServeArgs, config::Settings, db::Backend as Store, startup::Application,
};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use serde_json::{json, Value};

use super::{
    assert_every_error_has_a_code, ok,
    postgres::{postgres_backend, PgTestDb},
    TempDir, CREATE, GET, LOGIN, PASSWORD, SECRET,
};

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub address: String,
    /// Where /metrics is served when the test gave it an address of its own.
    pub metrics_address: Option<String>,
    pub backend: Backend,
    client: awc::Client,
    keys: TokenKeys,
    settings: Settings,
    data_dir: Arc<TempDir>,
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
            // Admin-token revocations are seen at once, not within the production cache.
            "--admin-revocation-check=0s",
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
        let data_dir = Arc::new(TempDir::new());
        let mut settings = test_settings();
        settings.mail.outbox = data_dir.path().join("outbox");
        let pg = match backend {
            Backend::Sqlite => {
                settings.storage.backend = Store::Sqlite {
                    path: data_dir.path().join("customers.sqlite3"),
                };
                None
            }
            Backend::Postgres => {
                let db = PgTestDb::create();
                settings.storage.backend = postgres_backend(db.url.clone());
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
        backend: Backend, settings: Settings, data_dir: Arc<TempDir>, pg: Option<Arc<PgTestDb>>,
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

    /// Runs `customer-api token --revoke-admin` against this app's database, as an operator
    /// would; panics with its error output unless it succeeds.
    pub fn revoke_admin_tokens(&self) {
        let output = super::customer_api()
            .args(["token", "--revoke-admin"])
            .envs(self.cli_env())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The environment that points `customer-api` (the binary) at this app's database and
    /// secret.
    pub fn cli_env(&self) -> Vec<(&'static str, String)> {
        let secret = ("JWT_SECRET", String::from_utf8(SECRET.to_vec()).unwrap());
        match &self.pg {
            Some(db) => vec![("DATABASE_URL", db.url.clone()), secret],
            None => vec![
                (
                    "DATA_DIR",
                    self.data_dir.path().to_str().unwrap().to_owned(),
                ),
                secret,
            ],
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

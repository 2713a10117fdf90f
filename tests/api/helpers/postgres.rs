//! PostgreSQL for tests: each test gets a database of its own, copied from a template that is
//! migrated once per test process, and dropped when the test ends.

use std::sync::OnceLock;

use customer_api::db::{self, Backend as Store, PgSettings, PoolSettings, SchemaPolicy};
use diesel::{Connection, PgConnection, RunQueryDsl};
use secrecy::{ExposeSecret, SecretString};

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

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL")
}

fn execute(url: &str, sql: &str) {
    let mut conn = PgConnection::establish(url).expect("connect to TEST_DATABASE_URL");
    diesel::sql_query(sql)
        .execute(&mut conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

const TEMPLATE_PREFIX: &str = "customer_api_template_";

/// The migrated database every test database is copied from, made once per test process:
/// copying a database is much cheaper than running every migration for every test. Templates
/// left behind by earlier test processes (no such process runs any more) are dropped first.
fn template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let admin = admin_url();
        drop_stale_templates(&admin);
        let name = format!("{TEMPLATE_PREFIX}{}", std::process::id());
        execute(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        execute(&admin, &format!("CREATE DATABASE {name}"));
        let backend = postgres_backend(with_database(&admin, &name));
        let pool = PoolSettings {
            max_size: 1,
            timeout: std::time::Duration::from_secs(10),
            connect_timeout: std::time::Duration::from_secs(10),
        };
        // Opening migrates; dropping the store closes its connection, which a template needs.
        drop(
            db::open(&backend, &pool, SchemaPolicy::Migrate)
                .expect("migrate the template database"),
        );
        name
    })
}

fn drop_stale_templates(admin: &str) {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let mut conn = PgConnection::establish(admin).expect("connect to TEST_DATABASE_URL");
    let names: Vec<Name> = diesel::sql_query(format!(
        "SELECT datname FROM pg_database WHERE datname LIKE '{TEMPLATE_PREFIX}%'"
    ))
    .load(&mut conn)
    .unwrap();
    for Name { datname } in names {
        let pid = datname.trim_start_matches(TEMPLATE_PREFIX);
        if !std::path::Path::new("/proc").join(pid).exists() {
            execute(
                admin,
                &format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)"),
            );
        }
    }
}

/// A PostgreSQL database made for one test and dropped when the test ends.
pub struct PgTestDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgTestDb {
    /// A copy of the migrated template.
    pub fn create() -> Self {
        Self::create_from(Some(template()))
    }

    /// An empty database: no migration has run.
    pub fn create_empty() -> Self {
        Self::create_from(None)
    }

    fn create_from(template: Option<&str>) -> Self {
        let admin_url = admin_url();
        let name = format!("customer_api_test_{}", uuid::Uuid::now_v7().simple());
        let copy = template
            .map(|t| format!(" TEMPLATE {t}"))
            .unwrap_or_default();
        execute(&admin_url, &format!("CREATE DATABASE {name}{copy}"));
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
    let Store::Postgres(PgSettings { url, .. }) = backend else {
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

/// The backend of a PostgreSQL database, reached directly.
pub fn postgres_backend(url: String) -> Store {
    Store::Postgres(PgSettings {
        url: SecretString::from(url),
        listen_url: None,
        transaction_pooling: false,
    })
}

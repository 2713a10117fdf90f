//! End-to-end tests: each starts the real application on a free port and talks HTTP to it.
//! Every scenario runs on both backends: SQLite always, PostgreSQL when TEST_DATABASE_URL is
//! set (REQUIRE_POSTGRES=1 turns its absence into a failure).

mod helpers;

/// Runs each listed `async fn(Backend)` scenario as a `sqlite` and a `postgres` test.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[actix_web::test]
            async fn sqlite() {
                super::$scenario(crate::helpers::Backend::Sqlite).await;
            }

            #[actix_web::test]
            async fn postgres() {
                if crate::helpers::postgres_enabled() {
                    super::$scenario(crate::helpers::Backend::Postgres).await;
                }
            }
        }
    )*};
}

mod access;
mod accounts;
mod caching;
mod cli;
mod client_identity;
mod hostile;
mod http;
mod instances;
mod js_clients;
mod limits;
mod listing;
mod live;
mod login;
mod operating;
mod operations;
mod persisted;
mod proxy;
mod rust_client;
mod schema_file;
mod sessions;
mod total_count;
mod validation;

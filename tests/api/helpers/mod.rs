//! What every test uses: the app on a backend of the test's choosing (`app`), PostgreSQL
//! databases made and dropped per test (`postgres`), the documents (`documents`), raw HTTP
//! (`http`), the assertions on answers (`assertions`), and Node.js scripts that drive a real
//! browser or client library (`node`).

mod app;
mod assertions;
mod documents;
mod http;
mod mail;
mod node;
mod pg_processes;
mod postgres;
mod process;
mod temp_dir;
mod ws;

pub use app::{test_settings, Backend, TestApp};
pub use assertions::*;
pub use documents::*;
pub use http::{get_text, post_raw};
pub use mail::{MailSink, ReceivedMail};
pub use node::{node_project, run_node_script, screenshot_dir};
pub use pg_processes::{PgCluster, Pgbouncer};
pub use postgres::{
    postgres_address, postgres_backend, postgres_enabled, rewrite_postgres_url, PgTestDb,
};
pub use process::{customer_api, run, stderr, Server};
pub use temp_dir::TempDir;
pub use ws::{Received, WsClient};

pub const SECRET: &[u8] = b"test-secret-that-is-at-least-32-bytes-long";
pub const PASSWORD: &str = "correct horse battery";

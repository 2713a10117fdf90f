//! The embedded SQLite store, for running with nothing installed: one file in the data folder,
//! WAL journal, and `BEGIN IMMEDIATE` transactions to serialise writers.

use std::path::Path;

use chrono::{DateTime, Utc};
use diesel::{
    connection::SimpleConnection,
    expression::BoxableExpression,
    prelude::*,
    r2d2::CustomizeConnection,
    sql_types::Bool,
    sqlite::{Sqlite, SqliteConnection},
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use super::{
    contains_pattern, lower,
    pool::{Pool, Tracked},
    run_migrations, Admission, AttemptId, AttemptWindow, CustomerFilter, CustomerRecord,
    PoolSettings, PoolState, Position, RecentFailures, Store, UpdateDecision,
};
use crate::{
    auth::PasswordHash,
    domain::{ClientNetwork, CustomerId},
    error::AppError,
    private_files,
};

mod schema;
use schema::customers;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

pub struct SqliteStore {
    pool: Pool<SqliteConnection>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = customers, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_null = true)]
struct CustomerRow {
    id: String,
    name: String,
    email: String,
    phone: Option<String>,
    address: Option<String>,
    password_hash: Option<String>,
    token_version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<CustomerRow> for CustomerRecord {
    type Error = AppError;

    fn try_from(row: CustomerRow) -> Result<Self, AppError> {
        let address = row
            .address
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(AppError::internal)?;
        Ok(Self {
            id: CustomerId::parse(&row.id)
                .map_err(|e| AppError::internal(std::io::Error::other(format!("stored id {e}"))))?,
            name: row.name,
            email: row.email,
            phone: row.phone,
            address,
            password_hash: row.password_hash.map(PasswordHash::from_stored),
            token_version: row.token_version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl TryFrom<&CustomerRecord> for CustomerRow {
    type Error = AppError;

    fn try_from(record: &CustomerRecord) -> Result<Self, AppError> {
        let address = record
            .address
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(AppError::internal)?;
        Ok(Self {
            id: record.id.to_string(),
            name: record.name.clone(),
            email: record.email.clone(),
            phone: record.phone.clone(),
            address,
            password_hash: record.password_hash.as_ref().map(|h| h.as_str().to_owned()),
            token_version: record.token_version,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }
}

/// Per-connection settings: wait for a writer instead of failing, and let readers proceed
/// while one writes.
#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<Tracked<SqliteConnection>, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut Tracked<SqliteConnection>) -> Result<(), diesel::r2d2::Error> {
        conn.connection()
            .batch_execute(
                // busy_timeout first: switching to WAL takes a lock that other new connections
                // of the pool may hold at the same moment.
                "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl SqliteStore {
    pub fn open(path: &Path, settings: &PoolSettings) -> anyhow::Result<Self> {
        // Personal data and password hashes: the owner's alone.
        if let Some(folder) = path.parent() {
            private_files::ensure_folder(folder)?;
        }
        private_files::ensure_file(path)?;
        let pool = Pool::open(
            &path.to_string_lossy(),
            settings,
            || Some(Box::new(Pragmas)),
            "the SQLite file",
        )?;
        run_migrations(&pool, MIGRATIONS)?;
        Ok(Self { pool })
    }
}

super::queries::store_queries!(SqliteStore, Sqlite);

fn row_id(id: CustomerId) -> String {
    id.to_string()
}

fn client_value(client: ClientNetwork) -> String {
    client.to_string()
}

/// Admissions run in `BEGIN IMMEDIATE` transactions, which SQLite already serialises.
fn lock_attempts(
    _conn: &mut SqliteConnection,
    _window: &AttemptWindow<'_>,
) -> Result<(), AppError> {
    Ok(())
}

/// SQLite's LIKE ignores ASCII case; there is no index for it, and a scan is fine here.
fn search(pattern: String) -> Box<dyn BoxableExpression<customers::table, Sqlite, SqlType = Bool>> {
    use self::customers::dsl::*;
    Box::new(
        name.like(pattern.clone())
            .escape('\\')
            .or(email.like(pattern).escape('\\')),
    )
}

/// SQLite has no row locks: `write_transaction` takes the database's write lock instead, so
/// `lock` needs nothing more here.
fn find_row(
    conn: &mut SqliteConnection,
    id: CustomerId,
    _lock: bool,
) -> Result<Option<CustomerRecord>, AppError> {
    customers::table
        .find(id.to_string())
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?
        .map(CustomerRecord::try_from)
        .transpose()
}

/// `BEGIN IMMEDIATE`: the write lock is taken up front, so a read-then-write transaction
/// cannot lose a race to another writer.
fn write_transaction<T>(
    conn: &mut SqliteConnection,
    work: impl FnOnce(&mut SqliteConnection) -> Result<T, AppError>,
) -> Result<T, AppError> {
    conn.immediate_transaction(work)
}

//! Storage. The [`Store`] trait is everything the service needs from a database; `pg` and
//! `sqlite` implement it with each backend's native types and own their migrations.
//! Nothing above this module knows which backend is in use.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::{
    auth::PasswordHash,
    domain::{Address, ClientNetwork, CustomerId},
    error::AppError,
};

mod pg;
mod pool;
mod queries;
mod sqlite;

pub use pool::{PoolSettings, PoolState};

/// A customer as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRecord {
    pub id: CustomerId,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub password_hash: Option<PasswordHash>,
    /// Bumped when the password changes; tokens carrying an older value are revoked.
    pub token_version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which customers the admin listing shows; every condition given must hold.
#[derive(Debug, Default, Clone)]
pub struct CustomerFilter {
    /// Case-insensitive substring of name or email.
    pub search: Option<String>,
    /// Case-insensitive equality with the email.
    pub email: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// A customer's place in the listing's order (newest first, then by id): the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub created_at: DateTime<Utc>,
    pub id: CustomerId,
}

impl Position {
    pub fn of(customer: &CustomerRecord) -> Self {
        Self {
            created_at: customer.created_at,
            id: customer.id,
        }
    }
}

/// A LIKE pattern matching `term` anywhere, its wildcards escaped with `\`.
fn contains_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Recent failed logins, newest first, at most as many as the limit asked for.
#[derive(Debug, Default)]
pub struct RecentFailures {
    pub for_email: Vec<DateTime<Utc>>,
    pub for_client: Vec<DateTime<Utc>>,
}

/// A login attempt to admit at `at`: the failed (or still running) attempts since `since`
/// count against the limits, per email key and per client network. A limit of 0 is none.
#[derive(Debug)]
pub struct AttemptWindow<'a> {
    pub email_key: &'a str,
    pub client: Option<ClientNetwork>,
    pub at: DateTime<Utc>,
    pub since: DateTime<Utc>,
    pub email_limit: i64,
    pub client_limit: i64,
}

impl AttemptWindow<'_> {
    /// Whether the attempts found leave no room for another.
    fn is_full(&self, recent: &RecentFailures) -> bool {
        let full = |limit: i64, found: usize| {
            limit > 0 && i64::try_from(found).unwrap_or(i64::MAX) >= limit
        };
        full(self.email_limit, recent.for_email.len())
            || full(self.client_limit, recent.for_client.len())
    }
}

/// Whether a login attempt may check its password.
#[derive(Debug)]
pub enum Admission {
    /// Counted already, as a failure until [`Store::forget_login_attempt`] says it was not.
    Admitted(AttemptId),
    /// The limit is reached by these attempts.
    Refused(RecentFailures),
}

/// A login attempt recorded before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptId(i64);

/// Decides, inside the write's transaction and with the row locked, what becomes of it.
pub type UpdateDecision<'a> =
    &'a mut dyn FnMut(&CustomerRecord) -> Result<Option<CustomerRecord>, AppError>;

/// The operations the service needs. Calls block: run them through [`crate::blocking::run`].
pub trait Store: Send + Sync + 'static {
    /// Answers when the database can be reached.
    fn ping(&self) -> Result<(), AppError>;

    /// The connection pool's current state, for metrics.
    fn pool_state(&self) -> PoolState;

    /// Inserts a new customer; CONFLICT when the email is taken (case-insensitively).
    fn insert_customer(&self, customer: &CustomerRecord) -> Result<(), AppError>;

    fn find_customer(&self, id: CustomerId) -> Result<Option<CustomerRecord>, AppError>;

    /// Up to `limit` customers matching `filter`, newest first, after `after` when given.
    fn list_customers(
        &self,
        filter: &CustomerFilter,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<CustomerRecord>, AppError>;

    /// How many customers match `filter`.
    fn count_customers(&self, filter: &CustomerFilter) -> Result<i64, AppError>;

    /// The customer whose email equals `email` case-insensitively.
    fn find_customer_by_email(&self, email: &str) -> Result<Option<CustomerRecord>, AppError>;

    /// Locks the row, asks `decide` for its new state (`None`: leave it as it is), writes that,
    /// and returns the row as it stands afterwards. NOT_FOUND when no row has this id.
    fn update_customer(
        &self,
        id: CustomerId,
        decide: UpdateDecision<'_>,
    ) -> Result<CustomerRecord, AppError>;

    /// Locks the row, lets `check` refuse, and deletes it. NOT_FOUND when no row has this id.
    fn delete_customer(
        &self,
        id: CustomerId,
        check: &dyn Fn(&CustomerRecord) -> Result<(), AppError>,
    ) -> Result<(), AppError>;

    /// Counts the attempts in `window` and, while both limits leave room, records this one,
    /// atomically: attempts running in parallel for one email or client are admitted one at a
    /// time, so no more than the limit ever reach the password check. Forgets attempts older
    /// than the window.
    fn admit_login_attempt(&self, window: &AttemptWindow<'_>) -> Result<Admission, AppError>;

    /// Removes an admitted attempt that did not fail (the password matched, or was never
    /// checked).
    fn forget_login_attempt(&self, attempt: AttemptId) -> Result<(), AppError>;
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum Backend {
    Postgres { url: secrecy::SecretString },
    Sqlite { path: std::path::PathBuf },
}

/// Opens the pool and brings the schema up to date.
pub fn open(backend: &Backend, pool: &PoolSettings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match backend {
        Backend::Postgres { url } => Arc::new(pg::PgStore::open(url, pool)?),
        Backend::Sqlite { path } => Arc::new(sqlite::SqliteStore::open(path, pool)?),
    })
}

/// Maps a Diesel error the same way for both backends: a taken email (the only unique key a
/// client can hit) is CONFLICT, a lost connection is SERVICE_UNAVAILABLE, anything else is
/// internal.
impl From<DieselError> for AppError {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                Self::email_taken()
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                Self::Unavailable(error.into())
            }
            _ => Self::internal(error),
        }
    }
}

/// No connection could be had from the pool within its timeout.
impl From<diesel::r2d2::PoolError> for AppError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(error.into())
    }
}

/// Brings the schema up to date; shared by both backends.
fn run_migrations<C>(
    pool: &pool::Pool<C>,
    migrations: diesel_migrations::EmbeddedMigrations,
) -> anyhow::Result<()>
where
    C: diesel::r2d2::R2D2Connection
        + diesel_migrations::MigrationHarness<C::Backend>
        + Send
        + 'static,
{
    pool.run(|conn| {
        Ok(conn
            .run_pending_migrations(migrations)
            .map(|_| ())
            .map_err(|e| e.to_string()))
    })
    .map_err(|e| anyhow::anyhow!("cannot reach the database to migrate it: {}", e.message()))?
    .map_err(|e| anyhow::anyhow!("running database migrations failed: {e}"))
}

#[diesel::declare_sql_function]
extern "SQL" {
    /// SQL `lower()`: emails are unique and found case-insensitively.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

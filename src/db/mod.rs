//! Storage. The [`Store`] trait is everything the service needs from a database; `pg` and
//! `sqlite` implement it, each in its own idiom (PostgreSQL in SQL, SQLite with Diesel's query
//! builder), and own their migrations. Both share the tables' description (`schema`), whose
//! id, time, address and network columns each database stores natively (`sql_types`), and one
//! conversion of rows to records (`rows`). Nothing above this module knows which backend is
//! in use.

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
mod rows;
mod schema;
mod sql_types;
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

/// A page of the listing, as the database is asked for it.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: CustomerFilter,
    /// The page starts after this position.
    pub after: Option<Position>,
    pub limit: usize,
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

/// Changes to a customer's columns, decided before the write: `None` leaves a column as it
/// is; for `phone` and `address`, `Some(None)` clears it.
#[derive(Debug, Default, Clone)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<Option<String>>,
    pub address: Option<Option<Address>>,
    /// A new password; the customer's token version goes up with it.
    pub password_hash: Option<PasswordHash>,
}

impl CustomerPatch {
    /// `current` with the patch applied at `at`, or `None` when nothing would change.
    pub fn apply(&self, current: &CustomerRecord, at: DateTime<Utc>) -> Option<CustomerRecord> {
        let mut next = current.clone();
        if let Some(name) = &self.name {
            next.name.clone_from(name);
        }
        if let Some(email) = &self.email {
            next.email.clone_from(email);
        }
        if let Some(phone) = &self.phone {
            next.phone.clone_from(phone);
        }
        if let Some(address) = &self.address {
            next.address.clone_from(address);
        }
        if let Some(hash) = &self.password_hash {
            next.password_hash = Some(hash.clone());
            next.token_version += 1;
        }
        if next == *current {
            return None;
        }
        next.updated_at = next_updated_at(current.updated_at, at);
        Some(next)
    }
}

/// A write's `updated_at`: `at`, but strictly later than before even if two writes land within
/// one microsecond.
pub fn next_updated_at(before: DateTime<Utc>, at: DateTime<Utc>) -> DateTime<Utc> {
    at.max(before + chrono::Duration::microseconds(1))
}

/// An update of customer `id`: its patch, applied at `at` while `guard` holds.
#[derive(Debug, Clone)]
pub struct CustomerUpdate {
    pub id: CustomerId,
    pub patch: CustomerPatch,
    pub guard: WriteGuard,
    pub at: DateTime<Utc>,
}

/// What must still hold when a write to a customer happens.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteGuard {
    /// The `updatedAt` the client last read (`expectedUpdatedAt`).
    pub updated_at: Option<DateTime<Utc>>,
    /// The token version of the customer's own token, when the customer writes.
    pub token_version: Option<i32>,
}

impl WriteGuard {
    /// Why a write to `current` (`None`: no such row) would be refused, if it would.
    fn refusal<T>(&self, current: Option<&CustomerRecord>) -> Option<Written<T>> {
        let Some(current) = current else {
            return Some(Written::NotFound);
        };
        if self
            .token_version
            .is_some_and(|version| version != current.token_version)
        {
            return Some(Written::Revoked);
        }
        if self
            .updated_at
            .is_some_and(|expected| expected != current.updated_at)
        {
            return Some(Written::Stale);
        }
        None
    }
}

/// How a guarded write ended.
#[derive(Debug)]
pub enum Written<T> {
    Done(T),
    NotFound,
    /// The writer's own token no longer has the customer's token version.
    Revoked,
    /// The customer changed since `expectedUpdatedAt`.
    Stale,
}

/// The operations the service needs. Calls block: run them through [`crate::blocking::run`].
pub trait Store: Send + Sync + 'static {
    /// Answers when the database can be reached.
    fn ping(&self) -> Result<(), AppError>;

    /// The connection pool's current state, for metrics.
    fn pool_state(&self) -> PoolState;

    /// Inserts a new customer; CONFLICT when the email is taken (case-insensitively).
    fn insert_customer(&self, customer: &CustomerRecord) -> Result<(), AppError>;

    fn find_customer(&self, id: CustomerId) -> Result<Option<CustomerRecord>, AppError>;

    /// Up to `query.limit` customers matching its filter, newest first, after its position.
    fn list_customers(&self, query: &ListQuery) -> Result<Vec<CustomerRecord>, AppError>;

    /// How many customers match `filter`.
    fn count_customers(&self, filter: &CustomerFilter) -> Result<i64, AppError>;

    /// The customer whose email equals `email` case-insensitively.
    fn find_customer_by_email(&self, email: &str) -> Result<Option<CustomerRecord>, AppError>;

    /// Applies the patch while the guard holds, and returns the customer as it stands
    /// afterwards (as it was, when the patch changes nothing: then nothing is written).
    fn update_customer(&self, update: &CustomerUpdate)
        -> Result<Written<CustomerRecord>, AppError>;

    /// Deletes the customer while `guard` holds.
    fn delete_customer(&self, id: CustomerId, guard: WriteGuard) -> Result<Written<()>, AppError>;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn customer() -> CustomerRecord {
        let at = chrono::DateTime::from_timestamp_micros(1_795_000_000_000_000).unwrap();
        CustomerRecord {
            id: CustomerId::generate(),
            name: "Ada".to_owned(),
            email: "ada@example.io".to_owned(),
            phone: Some("123".to_owned()),
            address: None,
            password_hash: None,
            token_version: 0,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_patch_that_changes_nothing_writes_nothing() {
        let current = customer();
        let same = CustomerPatch {
            name: Some("Ada".to_owned()),
            ..CustomerPatch::default()
        };
        assert_eq!(same.apply(&current, current.updated_at), None);
        let cleared = CustomerPatch {
            phone: Some(None),
            ..CustomerPatch::default()
        };
        let next = cleared.apply(&current, current.updated_at).unwrap();
        assert_eq!(next.phone, None);
        assert!(next.updated_at > current.updated_at, "strictly later");
    }

    #[test]
    fn a_new_password_bumps_the_token_version() {
        let current = customer();
        let patch = CustomerPatch {
            password_hash: Some(PasswordHash::from_stored("$2b$04$x".to_owned())),
            ..CustomerPatch::default()
        };
        assert_eq!(patch.apply(&current, Utc::now()).unwrap().token_version, 1);
    }

    #[test]
    fn guards_refuse_in_order_missing_revoked_stale() {
        let current = customer();
        let guard = WriteGuard {
            updated_at: Some(current.updated_at - chrono::Duration::seconds(1)),
            token_version: Some(3),
        };
        assert!(matches!(guard.refusal::<()>(None), Some(Written::NotFound)));
        assert!(matches!(
            guard.refusal::<()>(Some(&current)),
            Some(Written::Revoked)
        ));
        let guard = WriteGuard {
            token_version: Some(0),
            ..guard
        };
        assert!(matches!(
            guard.refusal::<()>(Some(&current)),
            Some(Written::Stale)
        ));
        assert!(WriteGuard::default()
            .refusal::<()>(Some(&current))
            .is_none());
    }
}

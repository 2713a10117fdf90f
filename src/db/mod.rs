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
    domain::{CustomerId, SessionId, TokenHash},
    error::AppError,
};

/// What a backend needs to implement [`Store`], in one import.
mod backend {
    pub use super::{
        AccountToken, Admission, AttemptId, AttemptWindow, CustomerFilter, CustomerRecord,
        CustomerUpdate, Expiring, KeyClaim, ListQuery, PasswordReset, PoolSettings, PoolState,
        Purpose, RecentAttempts, RefreshRequest, Rotation, SchemaPolicy, SessionRecord, SessionsOf,
        Store, WriteGuard, Written,
    };
    pub use crate::{
        domain::{CustomerId, SessionId, TokenHash},
        error::AppError,
    };
    pub use chrono::{DateTime, Utc};
    pub use std::sync::Arc;
}

mod changes;
mod pg;
mod pool;
mod records;
mod rows;
mod schema;
mod sql_types;
mod sqlite;
mod throttle;
mod writes;

pub use changes::{ChangeFeed, ChangeKind, CustomerChanged, FeedItem};
pub use pool::{PoolSettings, PoolState};
pub use records::{
    AccountToken, CustomerRecord, Expiring, KeyClaim, Purpose, Rotation, SessionRecord,
};
pub use throttle::{Action, Admission, AttemptId, AttemptWindow, RecentAttempts};
pub use writes::{next_updated_at, CustomerPatch, CustomerUpdate, WriteGuard, Written};

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

/// Presenting refresh token `presented` at `now`: if it is current, the session moves to
/// `next` and lives until `expires_at`. A spent token presented within `race_window` of its
/// rotation lost a race with its own session; later, it is reuse.
#[derive(Debug, Clone, Copy)]
pub struct RefreshRequest {
    pub presented: TokenHash,
    pub next: TokenHash,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub race_window: chrono::Duration,
}

impl RefreshRequest {
    /// What presenting a token that is not current means, given the session whose previous
    /// token it is (if any): the rotation, and the session to end, if one must end.
    fn spent(&self, previous_of: Option<SessionRecord>) -> (Rotation, Option<SessionId>) {
        match previous_of {
            None => (Rotation::Unknown, None),
            Some(spent) if spent.last_used_at > self.now - self.race_window => {
                (Rotation::RaceLost, None)
            }
            Some(spent) => (
                Rotation::Reused {
                    session: spent.id,
                    customer: spent.customer_id,
                },
                Some(spent.id),
            ),
        }
    }
}

/// A password reset: the mailed token spent, the new password set, every session ended and
/// a new one started, as one write.
#[derive(Debug, Clone)]
pub struct PasswordReset {
    pub token_hash: TokenHash,
    pub password_hash: PasswordHash,
    /// The new session (its customer is the token's).
    pub session: SessionRecord,
    pub refresh_hash: TokenHash,
}

/// Which sessions to end.
#[derive(Debug, Clone, Copy)]
pub enum SessionsOf {
    /// Every session of the customer.
    Customer(CustomerId),
    /// One session, whoever's it is.
    Session(SessionId),
    /// One session, if it is the customer's.
    CustomerSession(CustomerId, SessionId),
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

    /// Customer `id` while `session` of theirs has not ended or expired at `now`: one round
    /// trip checks the token and loads its customer.
    fn find_customer_in_session(
        &self, id: CustomerId, session: SessionId, now: DateTime<Utc>,
    ) -> Result<Option<CustomerRecord>, AppError>;

    /// Up to `query.limit` customers matching its filter, newest first, after its position.
    fn list_customers(&self, query: &ListQuery) -> Result<Vec<CustomerRecord>, AppError>;

    /// How many customers match `filter`.
    fn count_customers(&self, filter: &CustomerFilter) -> Result<i64, AppError>;

    /// The customer whose email equals `email` case-insensitively.
    fn find_customer_by_email(&self, email: &str) -> Result<Option<CustomerRecord>, AppError>;

    /// Applies the patch while the guard holds, and returns the customer as it stands
    /// afterwards (as it was, when the patch changes nothing: then nothing is written). A new
    /// password ends every session of the customer in the same write.
    fn update_customer(&self, update: &CustomerUpdate)
        -> Result<Written<CustomerRecord>, AppError>;

    /// Deletes the customer, with their sessions and tokens, while the guard holds.
    fn delete_customer(&self, id: CustomerId, guard: WriteGuard) -> Result<Written<()>, AppError>;

    /// Records `attempt` while both limits of its window leave room, atomically: attempts
    /// running in parallel for one email or client are admitted one at a time.
    fn admit_attempt(&self, window: &AttemptWindow) -> Result<Admission, AppError>;

    /// Removes an admitted attempt that turned out not to count (a login that succeeded, or
    /// whose password was never checked).
    fn forget_attempt(&self, attempt: AttemptId) -> Result<(), AppError>;

    /// Starts a session whose refresh token has hash `refresh_hash`.
    fn create_session(
        &self, session: &SessionRecord, refresh_hash: &TokenHash,
    ) -> Result<(), AppError>;

    /// Rotates the refresh token of a session, or tells why not (see [`Rotation`]).
    fn refresh_session(&self, request: &RefreshRequest) -> Result<Rotation, AppError>;

    /// The customer's sessions that have not expired at `now`, newest first.
    fn list_sessions(
        &self, customer: CustomerId, now: DateTime<Utc>,
    ) -> Result<Vec<SessionRecord>, AppError>;

    /// Ends the sessions named; returns how many there were.
    fn end_sessions(&self, which: SessionsOf) -> Result<usize, AppError>;

    /// Keeps a mailed single-use token, by its hash.
    fn insert_account_token(&self, hash: &TokenHash, token: &AccountToken) -> Result<(), AppError>;

    /// Takes (reads and removes) the unexpired token of this purpose with this hash.
    fn take_account_token(
        &self, hash: &TokenHash, purpose: Purpose, now: DateTime<Utc>,
    ) -> Result<Option<AccountToken>, AppError>;

    /// The customer of the unexpired token of this purpose with this hash, without spending
    /// it.
    fn account_token_customer(
        &self, hash: &TokenHash, purpose: Purpose, now: DateTime<Utc>,
    ) -> Result<Option<CustomerId>, AppError>;

    /// Spends the reset token, sets the new password, ends every session and starts the new
    /// one, as one write; `None` when the token is no longer there to spend.
    fn reset_password(&self, reset: &PasswordReset) -> Result<Option<CustomerRecord>, AppError>;

    /// Marks the customer's email verified, if it is still `email`; whether it was.
    fn verify_email(
        &self, customer: CustomerId, email: &str, at: DateTime<Utc>,
    ) -> Result<bool, AppError>;

    /// Claims `key` for the request with hash `request_hash`, or tells what it was used for.
    fn claim_idempotency_key(
        &self, key: &str, request_hash: &[u8; 32], now: DateTime<Utc>,
    ) -> Result<KeyClaim, AppError>;

    /// Keeps the answer of the request that claimed `key`.
    fn finish_idempotency_key(&self, key: &str, response: &str) -> Result<(), AppError>;

    /// Lets `key` go, when its request failed and may be sent again.
    fn release_idempotency_key(&self, key: &str) -> Result<(), AppError>;

    /// Admin tokens issued before this instant are revoked.
    fn admin_token_cutoff(&self) -> Result<Option<DateTime<Utc>>, AppError>;

    /// Revokes every admin token issued before `before`.
    fn revoke_admin_tokens(&self, before: DateTime<Utc>) -> Result<(), AppError>;

    /// Removes at most `batch` rows of `what` that expired before `before`; returns how many.
    fn prune(&self, what: Expiring, before: DateTime<Utc>, batch: i64) -> Result<usize, AppError>;

    /// Starts announcing every committed change to a customer on `feed`, for the life of the
    /// process (on the current async runtime).
    fn announce_changes(&self, feed: Arc<ChangeFeed>);

    /// Those of `candidates` that have not ended or expired at `now`.
    fn live_sessions(
        &self, candidates: &[SessionId], now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, AppError>;

    /// Up to `limit` customers changed at or after `since`, least recently changed first.
    fn customers_changed_since(
        &self, since: DateTime<Utc>, limit: i64,
    ) -> Result<Vec<CustomerRecord>, AppError>;
}

/// What opening a store does about migrations that have not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaPolicy {
    /// Runs them (on PostgreSQL under an advisory lock, so that instances starting together
    /// take turns, and each migration runs once).
    Migrate,
    /// Refuses to open: a deploy step migrates (`MIGRATE_ON_START=false`).
    RequireCurrent,
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum Backend {
    Postgres(PgSettings),
    Sqlite { path: std::path::PathBuf },
}

#[derive(Debug, Clone)]
pub struct PgSettings {
    pub url: secrecy::SecretString,
    /// Where the LISTEN connection goes, when `url` is a pooler that cannot keep one.
    pub listen_url: Option<secrecy::SecretString>,
    /// `url` is a transaction pooler (pgbouncer in transaction mode): no statement is kept
    /// prepared, and each unit of work runs in a transaction of its own.
    pub transaction_pooling: bool,
}

/// Opens the pool and checks or migrates the schema.
pub fn open(
    backend: &Backend, pool: &PoolSettings, schema: SchemaPolicy,
) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match backend {
        Backend::Postgres(settings) => Arc::new(pg::PgStore::open(settings, pool, schema)?),
        Backend::Sqlite { path } => Arc::new(sqlite::SqliteStore::open(path, pool, schema)?),
    })
}

/// The names of the migrations that have not run.
pub fn pending_migrations(backend: &Backend, pool: &PoolSettings) -> anyhow::Result<Vec<String>> {
    match backend {
        Backend::Postgres(settings) => pg::PgStore::pending_migrations(settings, pool),
        Backend::Sqlite { path } => sqlite::SqliteStore::pending_migrations(path, pool),
    }
}

/// Maps a Diesel error the same way for both backends: a taken email (the one unique key a
/// client's input can hit) is CONFLICT, a lost connection is SERVICE_UNAVAILABLE, anything
/// else is internal. Stores that write other unique keys map those violations themselves.
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

/// Checks or migrates the schema, as `policy` says, in one transaction: on PostgreSQL,
/// `lock` (an advisory lock held until it commits) makes instances that start together take
/// turns. A transaction-scoped lock also holds behind a transaction pooler.
fn run_migrations<C>(
    pool: &pool::Pool<C>, migrations: diesel_migrations::EmbeddedMigrations, policy: SchemaPolicy,
    lock: Option<&str>,
) -> anyhow::Result<()>
where
    C: diesel::r2d2::R2D2Connection
        + diesel_migrations::MigrationHarness<C::Backend>
        + diesel::connection::SimpleConnection
        + Send
        + 'static,
{
    let outcome = pool.run(|conn| {
        Ok(conn.transaction(|conn| -> anyhow::Result<()> {
            if let Some(lock) = lock {
                conn.batch_execute(lock)?;
            }
            let pending = conn
                .pending_migrations(migrations)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if pending.is_empty() {
                return Ok(());
            }
            anyhow::ensure!(
                policy == SchemaPolicy::Migrate,
                "{} migration(s) have not run, and MIGRATE_ON_START is false: run \
                 `customer-api migrate` first",
                pending.len()
            );
            conn.run_migrations(&pending)
                .map_err(|e| anyhow::anyhow!("running database migrations failed: {e}"))?;
            Ok(())
        }))
    });
    outcome
        .map_err(|e| anyhow::anyhow!("cannot reach the database to migrate it: {}", e.message()))?
}

/// The names of the migrations that have not run.
fn pending_names<C>(
    pool: &pool::Pool<C>, migrations: diesel_migrations::EmbeddedMigrations,
) -> anyhow::Result<Vec<String>>
where
    C: diesel::r2d2::R2D2Connection
        + diesel_migrations::MigrationHarness<C::Backend>
        + Send
        + 'static,
{
    let pending = pool.run(|conn| {
        Ok(conn
            .pending_migrations(migrations)
            .map(|pending| pending.iter().map(|m| m.name().to_string()).collect())
            .map_err(|e| e.to_string()))
    });
    pending
        .map_err(|e| anyhow::anyhow!("cannot reach the database: {}", e.message()))?
        .map_err(|e: String| anyhow::anyhow!("cannot read the migrations that ran: {e}"))
}

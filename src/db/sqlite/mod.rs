//! The embedded SQLite store, for running with nothing installed: one file in the data folder,
//! WAL journal, queries through Diesel's query builder, and `BEGIN IMMEDIATE` transactions,
//! which take the database's write lock up front, so a read-then-write cannot lose a race.

use std::{
    path::Path,
    sync::{Arc, OnceLock},
};

use diesel::{
    connection::SimpleConnection,
    prelude::*,
    r2d2::CustomizeConnection,
    sql_types::{BigInt, Text},
    sqlite::{Sqlite, SqliteConnection},
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use super::backend::*;
use super::{
    changes::{changed, ChangeFeed, ChangeKind, CustomerChanged},
    contains_pattern, next_updated_at, pending_names,
    pool::{Pool, Tracked},
    rows::{CustomerRow, SessionRow},
    run_migrations,
    schema::{
        account_tokens, admin_token_cutoff, customers, idempotency_keys, sessions,
        throttled_attempts,
    },
    sql_types::{Id, Moment, MomentSql, Network},
};
use crate::private_files;

mod columns;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

#[diesel::declare_sql_function]
extern "SQL" {
    /// SQL `lower()`: emails are unique and found case-insensitively.
    fn lower(text: Text) -> Text;
}

pub struct SqliteStore {
    pool: Pool<SqliteConnection>,
    /// Where committed changes to customers are announced, once live updates start.
    feed: OnceLock<Arc<ChangeFeed>>,
}

/// Per-connection settings: wait for a writer instead of failing, let readers proceed while
/// one writes, and enforce foreign keys (a customer's sessions and tokens go with them).
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
    pub fn open(
        path: &Path, settings: &PoolSettings, schema: SchemaPolicy,
    ) -> anyhow::Result<Self> {
        let pool = Self::pool(path, settings)?;
        run_migrations(&pool, MIGRATIONS, schema, None)?;
        Ok(Self {
            pool,
            feed: OnceLock::new(),
        })
    }

    pub fn pending_migrations(path: &Path, settings: &PoolSettings) -> anyhow::Result<Vec<String>> {
        pending_names(&Self::pool(path, settings)?, MIGRATIONS)
    }

    fn pool(path: &Path, settings: &PoolSettings) -> anyhow::Result<Pool<SqliteConnection>> {
        // Personal data and password hashes: the owner's alone.
        if let Some(folder) = path.parent() {
            private_files::ensure_folder(folder)?;
        }
        private_files::ensure_file(path)?;
        Pool::open(
            &path.to_string_lossy(),
            settings,
            || Some(Box::new(Pragmas)),
            "the SQLite file",
        )
    }

    /// Runs a write, then, once it has committed, announces the change it reports.
    fn run_announcing<T>(
        &self,
        work: impl FnOnce(&mut SqliteConnection) -> Result<(T, Option<CustomerChanged>), AppError>,
    ) -> Result<T, AppError> {
        let (result, change) = self.pool.run(work)?;
        if let (Some(change), Some(feed)) = (change, self.feed.get()) {
            feed.announce(change);
        }
        Ok(result)
    }

    fn find(
        conn: &mut SqliteConnection, id: CustomerId,
    ) -> Result<Option<CustomerRecord>, AppError> {
        let row = customers::table
            .find(Id::from(id))
            .select(CustomerRow::as_select())
            .first(conn)
            .optional()?;
        Ok(row.map(CustomerRecord::from))
    }

    /// Customer `id` as it is, and why a write guarded by `guard` would be refused, if it
    /// would be.
    fn check(
        conn: &mut SqliteConnection, id: CustomerId, guard: WriteGuard, now: DateTime<Utc>,
    ) -> Result<(Option<CustomerRecord>, bool), AppError> {
        let current = Self::find(conn, id)?;
        let alive = match guard.session {
            Some(session) => diesel::select(diesel::dsl::exists(
                sessions::table
                    .filter(sessions::id.eq(Id::from(session)))
                    .filter(sessions::customer_id.eq(Id::from(id)))
                    .filter(sessions::expires_at.gt(Moment(now))),
            ))
            .get_result(conn)?,
            None => false,
        };
        Ok((current, alive))
    }
}

/// The customers matching `filter`, as a query to refine. SQLite's LIKE ignores ASCII case;
/// there is no index for the search, and a scan is fine at this database's scale.
fn filtered(filter: &CustomerFilter) -> customers::BoxedQuery<'_, Sqlite> {
    let mut query = customers::table.into_boxed();
    if let Some(term) = &filter.search {
        let pattern = contains_pattern(term);
        query = query.filter(
            customers::name
                .like(pattern.clone())
                .escape('\\')
                .or(customers::email.like(pattern).escape('\\')),
        );
    }
    if let Some(email) = &filter.email {
        query = query.filter(lower(customers::email).eq(lower(email.clone())));
    }
    if let Some(after) = filter.created_after {
        query = query.filter(customers::created_at.gt(Moment(after)));
    }
    if let Some(before) = filter.created_before {
        query = query.filter(customers::created_at.lt(Moment(before)));
    }
    query
}

impl Store for SqliteStore {
    fn ping(&self) -> Result<(), AppError> {
        self.pool.run(|conn| {
            conn.batch_execute("SELECT 1")?;
            Ok(())
        })
    }

    fn pool_state(&self) -> PoolState {
        self.pool.state()
    }

    fn find_customer(&self, id: CustomerId) -> Result<Option<CustomerRecord>, AppError> {
        self.pool.run(|conn| Self::find(conn, id))
    }

    fn find_customer_in_session(
        &self, id: CustomerId, session: SessionId, now: DateTime<Utc>,
    ) -> Result<Option<CustomerRecord>, AppError> {
        self.pool.run(|conn| {
            let row = customers::table
                .inner_join(sessions::table)
                .filter(customers::id.eq(Id::from(id)))
                .filter(sessions::id.eq(Id::from(session)))
                .filter(sessions::expires_at.gt(Moment(now)))
                .select(CustomerRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(CustomerRecord::from))
        })
    }

    fn find_customer_by_email(&self, email: &str) -> Result<Option<CustomerRecord>, AppError> {
        let filter = CustomerFilter {
            email: Some(email.to_owned()),
            ..CustomerFilter::default()
        };
        self.pool.run(|conn| {
            let row = filtered(&filter)
                .select(CustomerRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(CustomerRecord::from))
        })
    }

    fn list_customers(&self, list: &ListQuery) -> Result<Vec<CustomerRecord>, AppError> {
        use customers::{created_at, id};
        self.pool.run(|conn| {
            let mut query = filtered(&list.filter);
            if let Some(after) = &list.after {
                let (at, last) = (Moment(after.created_at), Id::from(after.id));
                query = query.filter(created_at.lt(at).or(created_at.eq(at).and(id.lt(last))));
            }
            let rows = query
                .order((created_at.desc(), id.desc()))
                .limit(i64::try_from(list.limit).map_err(AppError::internal)?)
                .select(CustomerRow::as_select())
                .load(conn)?;
            Ok(rows.into_iter().map(CustomerRecord::from).collect())
        })
    }

    fn customers_changed_since(
        &self, since: DateTime<Utc>, limit: i64,
    ) -> Result<Vec<CustomerRecord>, AppError> {
        self.pool.run(|conn| {
            let rows = customers::table
                .filter(customers::updated_at.ge(Moment(since)))
                .order(customers::updated_at.asc())
                .limit(limit)
                .select(CustomerRow::as_select())
                .load(conn)?;
            Ok(rows.into_iter().map(CustomerRecord::from).collect())
        })
    }

    fn announce_changes(&self, feed: Arc<ChangeFeed>) {
        // Writes announce their changes themselves, after they commit (`run_announcing`).
        let _ = self.feed.set(feed);
    }

    fn count_customers(&self, filter: &CustomerFilter) -> Result<i64, AppError> {
        self.pool
            .run(|conn| Ok(filtered(filter).count().get_result(conn)?))
    }

    fn insert_customer(&self, customer: &CustomerRecord) -> Result<(), AppError> {
        self.run_announcing(|conn| {
            diesel::insert_into(customers::table)
                .values(CustomerRow::from(customer))
                .execute(conn)?;
            let created = changed(ChangeKind::Created, customer.id, customer.updated_at);
            Ok(((), Some(created)))
        })
    }

    fn update_customer(
        &self, update: &CustomerUpdate,
    ) -> Result<Written<CustomerRecord>, AppError> {
        self.run_announcing(|conn| {
            conn.immediate_transaction(|conn| {
                let (current, alive) = Self::check(conn, update.id, update.guard, update.at)?;
                if let Some(refusal) = update.guard.refusal(current.as_ref(), alive) {
                    return Ok((refusal, None));
                }
                let current = current.expect("a refusal covers a missing row");
                let Some(next) = update.patch.apply(&current, update.at) else {
                    return Ok((Written::Done(current), None));
                };
                let row = CustomerRow::from(&next);
                diesel::update(customers::table.find(row.id))
                    .set((
                        customers::name.eq(&row.name),
                        customers::email.eq(&row.email),
                        customers::email_verified.eq(row.email_verified),
                        customers::phone.eq(&row.phone),
                        customers::address.eq(&row.address),
                        customers::password_hash.eq(&row.password_hash),
                        customers::updated_at.eq(row.updated_at),
                    ))
                    .execute(conn)?;
                if update.patch.password_hash.is_some() {
                    diesel::delete(sessions::table.filter(sessions::customer_id.eq(row.id)))
                        .execute(conn)?;
                }
                let updated = changed(ChangeKind::Updated, next.id, next.updated_at);
                Ok((Written::Done(next), Some(updated)))
            })
        })
    }

    fn delete_customer(&self, id: CustomerId, guard: WriteGuard) -> Result<Written<()>, AppError> {
        self.run_announcing(|conn| {
            conn.immediate_transaction(|conn| {
                let now = Utc::now();
                let (current, alive) = Self::check(conn, id, guard, now)?;
                if let Some(refusal) = guard.refusal(current.as_ref(), alive) {
                    return Ok((refusal, None));
                }
                // Sessions and mailed tokens go with the customer (ON DELETE CASCADE).
                diesel::delete(customers::table.find(Id::from(id))).execute(conn)?;
                Ok((
                    Written::Done(()),
                    Some(changed(ChangeKind::Deleted, id, now)),
                ))
            })
        })
    }

    fn admit_attempt(&self, window: &AttemptWindow) -> Result<Admission, AppError> {
        use throttled_attempts::{action, at, client_addr, email_key};
        let client = window.client.map(Network::from);
        self.pool.run(|conn| {
            conn.immediate_transaction(|conn| {
                let recent = throttled_attempts::table
                    .filter(action.eq(window.action.as_str()))
                    .filter(at.gt(Moment(window.since)))
                    .order(at.desc())
                    .select(at);
                let for_email: Vec<Moment> = recent
                    .filter(email_key.eq(&window.email_key))
                    .limit(window.email_limit)
                    .load(conn)?;
                let for_client: Vec<Moment> = match client {
                    Some(client) => recent
                        .filter(client_addr.eq(client))
                        .limit(window.client_limit)
                        .load(conn)?,
                    None => Vec::new(),
                };
                let recent = RecentAttempts {
                    for_email: for_email.into_iter().map(|found| found.0).collect(),
                    for_client: for_client.into_iter().map(|found| found.0).collect(),
                };
                if window.is_full(&recent) {
                    return Ok(Admission::Refused(recent));
                }
                let attempt = diesel::insert_into(throttled_attempts::table)
                    .values((
                        action.eq(window.action.as_str()),
                        email_key.eq(&window.email_key),
                        client_addr.eq(client),
                        at.eq(Moment(window.at)),
                    ))
                    .returning(throttled_attempts::id)
                    .get_result(conn)?;
                Ok(Admission::Admitted(AttemptId(attempt)))
            })
        })
    }

    fn forget_attempt(&self, attempt: AttemptId) -> Result<(), AppError> {
        self.pool.run(|conn| {
            diesel::delete(throttled_attempts::table.find(attempt.0)).execute(conn)?;
            Ok(())
        })
    }

    fn create_session(
        &self, session: &SessionRecord, refresh_hash: &TokenHash,
    ) -> Result<(), AppError> {
        self.pool.run(|conn| {
            diesel::insert_into(sessions::table)
                .values((
                    sessions::id.eq(Id::from(session.id)),
                    sessions::customer_id.eq(Id::from(session.customer_id)),
                    sessions::refresh_hash.eq(&refresh_hash.0[..]),
                    sessions::user_agent.eq(&session.user_agent),
                    sessions::created_at.eq(Moment(session.created_at)),
                    sessions::last_used_at.eq(Moment(session.last_used_at)),
                    sessions::expires_at.eq(Moment(session.expires_at)),
                ))
                .execute(conn)?;
            Ok(())
        })
    }

    fn refresh_session(&self, request: &RefreshRequest) -> Result<Rotation, AppError> {
        let now = Moment(request.now);
        self.pool.run(|conn| {
            conn.immediate_transaction(|conn| {
                let presented = &request.presented.0[..];
                let current = sessions::table
                    .filter(sessions::refresh_hash.eq(presented))
                    .filter(sessions::expires_at.gt(now))
                    .select(SessionRow::as_select())
                    .first(conn)
                    .optional()?;
                if let Some(session) = current {
                    let rotated = diesel::update(sessions::table.find(session.id))
                        .set((
                            sessions::refresh_hash.eq(&request.next.0[..]),
                            sessions::previous_hash.eq(presented),
                            sessions::last_used_at.eq(now),
                            sessions::expires_at.eq(Moment(request.expires_at)),
                        ))
                        .returning(SessionRow::as_returning())
                        .get_result(conn)?;
                    return Ok(Rotation::Rotated(rotated.into()));
                }
                let spent = sessions::table
                    .filter(sessions::previous_hash.eq(presented))
                    .filter(sessions::expires_at.gt(now))
                    .select(SessionRow::as_select())
                    .first(conn)
                    .optional()?;
                let (rotation, end) = request.spent(spent.map(SessionRecord::from));
                if let Some(session) = end {
                    diesel::delete(sessions::table.find(Id::from(session))).execute(conn)?;
                }
                Ok(rotation)
            })
        })
    }

    fn list_sessions(
        &self, customer: CustomerId, now: DateTime<Utc>,
    ) -> Result<Vec<SessionRecord>, AppError> {
        self.pool.run(|conn| {
            let rows = sessions::table
                .filter(sessions::customer_id.eq(Id::from(customer)))
                .filter(sessions::expires_at.gt(Moment(now)))
                .order(sessions::created_at.desc())
                .select(SessionRow::as_select())
                .load(conn)?;
            Ok(rows.into_iter().map(SessionRecord::from).collect())
        })
    }

    fn live_sessions(
        &self, candidates: &[SessionId], now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, AppError> {
        self.pool.run(|conn| {
            let mut live = Vec::new();
            // SQLite binds at most 32,766 parameters per statement.
            for chunk in candidates.chunks(10_000) {
                let ids: Vec<Id> = chunk.iter().copied().map(Id::from).collect();
                let found: Vec<Id> = sessions::table
                    .filter(sessions::id.eq_any(ids))
                    .filter(sessions::expires_at.gt(Moment(now)))
                    .select(sessions::id)
                    .load(conn)?;
                live.extend(found.into_iter().map(|id| SessionId::from(id.0)));
            }
            Ok(live)
        })
    }

    fn end_sessions(&self, which: SessionsOf) -> Result<usize, AppError> {
        self.pool.run(|conn| {
            let query = diesel::delete(sessions::table).into_boxed();
            let query = match which {
                SessionsOf::Customer(customer) => {
                    query.filter(sessions::customer_id.eq(Id::from(customer)))
                }
                SessionsOf::Session(session) => query.filter(sessions::id.eq(Id::from(session))),
                SessionsOf::CustomerSession(customer, session) => query
                    .filter(sessions::customer_id.eq(Id::from(customer)))
                    .filter(sessions::id.eq(Id::from(session))),
            };
            Ok(query.execute(conn)?)
        })
    }

    fn insert_account_token(&self, hash: &TokenHash, token: &AccountToken) -> Result<(), AppError> {
        self.pool.run(|conn| {
            diesel::insert_into(account_tokens::table)
                .values((
                    account_tokens::token_hash.eq(&hash.0[..]),
                    account_tokens::customer_id.eq(Id::from(token.customer_id)),
                    account_tokens::purpose.eq(token.purpose.as_str()),
                    account_tokens::email.eq(&token.email),
                    account_tokens::expires_at.eq(Moment(token.expires_at)),
                ))
                .execute(conn)?;
            Ok(())
        })
    }

    fn take_account_token(
        &self, hash: &TokenHash, purpose: Purpose, now: DateTime<Utc>,
    ) -> Result<Option<AccountToken>, AppError> {
        self.pool.run(|conn| {
            let taken: Option<(Id, Option<String>, Moment)> = diesel::delete(
                account_tokens::table
                    .filter(account_tokens::token_hash.eq(&hash.0[..]))
                    .filter(account_tokens::purpose.eq(purpose.as_str()))
                    .filter(account_tokens::expires_at.gt(Moment(now))),
            )
            .returning((
                account_tokens::customer_id,
                account_tokens::email,
                account_tokens::expires_at,
            ))
            .get_result(conn)
            .optional()?;
            Ok(taken.map(|(customer, email, expires_at)| AccountToken {
                customer_id: customer.0.into(),
                purpose,
                email,
                expires_at: expires_at.0,
            }))
        })
    }

    fn account_token_customer(
        &self, hash: &TokenHash, purpose: Purpose, now: DateTime<Utc>,
    ) -> Result<Option<CustomerId>, AppError> {
        self.pool.run(|conn| {
            let owner: Option<Id> = account_tokens::table
                .filter(account_tokens::token_hash.eq(&hash.0[..]))
                .filter(account_tokens::purpose.eq(purpose.as_str()))
                .filter(account_tokens::expires_at.gt(Moment(now)))
                .select(account_tokens::customer_id)
                .first(conn)
                .optional()?;
            Ok(owner.map(|owner| owner.0.into()))
        })
    }

    fn reset_password(&self, reset: &PasswordReset) -> Result<Option<CustomerRecord>, AppError> {
        let session = &reset.session;
        self.run_announcing(|conn| {
            conn.immediate_transaction(|conn| {
                let owner: Option<Id> = diesel::delete(
                    account_tokens::table
                        .filter(account_tokens::token_hash.eq(&reset.token_hash.0[..]))
                        .filter(account_tokens::purpose.eq(Purpose::PasswordReset.as_str()))
                        .filter(account_tokens::expires_at.gt(Moment(session.created_at))),
                )
                .returning(account_tokens::customer_id)
                .get_result(conn)
                .optional()?;
                let Some(owner) = owner else {
                    return Ok((None, None));
                };
                let Some(mut customer) = Self::find(conn, owner.0.into())? else {
                    return Ok((None, None));
                };
                customer.password_hash = Some(reset.password_hash.clone());
                customer.updated_at = next_updated_at(customer.updated_at, session.created_at);
                diesel::update(customers::table.find(owner))
                    .set((
                        customers::password_hash.eq(reset.password_hash.as_str()),
                        customers::updated_at.eq(Moment(customer.updated_at)),
                    ))
                    .execute(conn)?;
                diesel::delete(sessions::table.filter(sessions::customer_id.eq(owner)))
                    .execute(conn)?;
                diesel::insert_into(sessions::table)
                    .values((
                        sessions::id.eq(Id::from(session.id)),
                        sessions::customer_id.eq(owner),
                        sessions::refresh_hash.eq(&reset.refresh_hash.0[..]),
                        sessions::user_agent.eq(&session.user_agent),
                        sessions::created_at.eq(Moment(session.created_at)),
                        sessions::last_used_at.eq(Moment(session.last_used_at)),
                        sessions::expires_at.eq(Moment(session.expires_at)),
                    ))
                    .execute(conn)?;
                let updated = changed(ChangeKind::Updated, customer.id, customer.updated_at);
                Ok((Some(customer), Some(updated)))
            })
        })
    }

    fn verify_email(
        &self, customer: CustomerId, email: &str, at: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        self.run_announcing(|conn| {
            conn.immediate_transaction(|conn| {
                let Some(current) = Self::find(conn, customer)? else {
                    return Ok((false, None));
                };
                if current.email.to_lowercase() != email.to_lowercase() {
                    return Ok((false, None));
                }
                if current.email_verified {
                    return Ok((true, None));
                }
                let updated_at = next_updated_at(current.updated_at, at);
                diesel::update(customers::table.find(Id::from(customer)))
                    .set((
                        customers::email_verified.eq(true),
                        customers::updated_at.eq(Moment(updated_at)),
                    ))
                    .execute(conn)?;
                Ok((
                    true,
                    Some(changed(ChangeKind::Updated, customer, updated_at)),
                ))
            })
        })
    }

    fn claim_idempotency_key(
        &self, key: &str, request_hash: &[u8; 32], now: DateTime<Utc>,
    ) -> Result<KeyClaim, AppError> {
        let expired_before = Moment(now - chrono::Duration::hours(24));
        self.pool.run(|conn| {
            conn.immediate_transaction(|conn| {
                let kept: Option<(Vec<u8>, Option<String>, Moment)> = idempotency_keys::table
                    .find(key)
                    .select((
                        idempotency_keys::request_hash,
                        idempotency_keys::response,
                        idempotency_keys::created_at,
                    ))
                    .first(conn)
                    .optional()?;
                match kept {
                    // A key older than a day is claimed afresh.
                    Some((_, _, created_at)) if created_at < expired_before => {}
                    Some((hash, _, _)) if hash != request_hash[..] => {
                        return Ok(KeyClaim::Mismatch)
                    }
                    Some((_, Some(response), _)) => return Ok(KeyClaim::Replay(response)),
                    Some((_, None, _)) => return Ok(KeyClaim::InProgress),
                    None => {}
                }
                diesel::replace_into(idempotency_keys::table)
                    .values((
                        idempotency_keys::key.eq(key),
                        idempotency_keys::request_hash.eq(&request_hash[..]),
                        idempotency_keys::created_at.eq(Moment(now)),
                    ))
                    .execute(conn)?;
                Ok(KeyClaim::Claimed)
            })
        })
    }

    fn finish_idempotency_key(&self, key: &str, response: &str) -> Result<(), AppError> {
        self.pool.run(|conn| {
            diesel::update(idempotency_keys::table.find(key))
                .set(idempotency_keys::response.eq(response))
                .execute(conn)?;
            Ok(())
        })
    }

    fn release_idempotency_key(&self, key: &str) -> Result<(), AppError> {
        self.pool.run(|conn| {
            diesel::delete(
                idempotency_keys::table
                    .find(key)
                    .filter(idempotency_keys::response.is_null()),
            )
            .execute(conn)?;
            Ok(())
        })
    }

    fn admin_token_cutoff(&self) -> Result<Option<DateTime<Utc>>, AppError> {
        self.pool.run(|conn| {
            let cutoff: Option<Moment> = admin_token_cutoff::table
                .select(admin_token_cutoff::issued_before)
                .first(conn)
                .optional()?;
            Ok(cutoff.map(|at| at.0))
        })
    }

    fn revoke_admin_tokens(&self, before: DateTime<Utc>) -> Result<(), AppError> {
        self.pool.run(|conn| {
            conn.immediate_transaction(|conn| {
                let current: Option<Moment> = admin_token_cutoff::table
                    .select(admin_token_cutoff::issued_before)
                    .first(conn)
                    .optional()?;
                let cutoff = current.map_or(Moment(before), |at| at.max(Moment(before)));
                diesel::replace_into(admin_token_cutoff::table)
                    .values((
                        admin_token_cutoff::singleton.eq(true),
                        admin_token_cutoff::issued_before.eq(cutoff),
                    ))
                    .execute(conn)?;
                Ok(())
            })
        })
    }

    fn prune(&self, what: Expiring, before: DateTime<Utc>, batch: i64) -> Result<usize, AppError> {
        let (table, column) = what.table_and_column();
        self.pool.run(|conn| {
            Ok(diesel::sql_query(format!(
                "DELETE FROM {table} WHERE rowid IN \
                 (SELECT rowid FROM {table} WHERE {column} < ? LIMIT ?)"
            ))
            .bind::<MomentSql, _>(Moment(before))
            .bind::<BigInt, _>(batch)
            .execute(conn)?)
        })
    }
}

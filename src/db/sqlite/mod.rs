//! The embedded SQLite store, for running with nothing installed: one file in the data folder,
//! WAL journal, queries through Diesel's query builder, and `BEGIN IMMEDIATE` transactions,
//! which take the database's write lock up front, so a read-then-write cannot lose a race.

use std::path::Path;

use diesel::{
    connection::SimpleConnection,
    prelude::*,
    r2d2::CustomizeConnection,
    sql_types::Text,
    sqlite::{Sqlite, SqliteConnection},
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use super::{
    contains_pattern,
    pool::{Pool, Tracked},
    rows::CustomerRow,
    run_migrations,
    schema::{customers, login_failures},
    sql_types::{Id, Moment, Network},
    Admission, AttemptId, AttemptWindow, CustomerFilter, CustomerRecord, CustomerUpdate, ListQuery,
    PoolSettings, PoolState, RecentFailures, Store, WriteGuard, Written,
};
use crate::{domain::CustomerId, error::AppError, private_files};

mod columns;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

#[diesel::declare_sql_function]
extern "SQL" {
    /// SQL `lower()`: emails are unique and found case-insensitively.
    fn lower(text: Text) -> Text;
}

pub struct SqliteStore {
    pool: Pool<SqliteConnection>,
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

    fn find(
        conn: &mut SqliteConnection,
        id: CustomerId,
    ) -> Result<Option<CustomerRecord>, AppError> {
        let row = customers::table
            .find(Id::from(id))
            .select(CustomerRow::as_select())
            .first(conn)
            .optional()?;
        Ok(row.map(CustomerRecord::from))
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

    fn insert_customer(&self, customer: &CustomerRecord) -> Result<(), AppError> {
        self.pool.run(|conn| {
            diesel::insert_into(customers::table)
                .values(CustomerRow::from(customer))
                .execute(conn)?;
            Ok(())
        })
    }

    fn find_customer(&self, id: CustomerId) -> Result<Option<CustomerRecord>, AppError> {
        self.pool.run(|conn| Self::find(conn, id))
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

    fn count_customers(&self, filter: &CustomerFilter) -> Result<i64, AppError> {
        self.pool
            .run(|conn| Ok(filtered(filter).count().get_result(conn)?))
    }

    fn update_customer(
        &self,
        update: &CustomerUpdate,
    ) -> Result<Written<CustomerRecord>, AppError> {
        self.pool.run(|conn| {
            conn.immediate_transaction(|conn| {
                let current = Self::find(conn, update.id)?;
                if let Some(refusal) = update.guard.refusal(current.as_ref()) {
                    return Ok(refusal);
                }
                let current = current.expect("refusal covers a missing row");
                let Some(next) = update.patch.apply(&current, update.at) else {
                    return Ok(Written::Done(current));
                };
                let row = CustomerRow::from(&next);
                diesel::update(customers::table.find(row.id))
                    .set((
                        customers::name.eq(&row.name),
                        customers::email.eq(&row.email),
                        customers::phone.eq(&row.phone),
                        customers::address.eq(&row.address),
                        customers::password_hash.eq(&row.password_hash),
                        customers::token_version.eq(row.token_version),
                        customers::updated_at.eq(row.updated_at),
                    ))
                    .execute(conn)?;
                Ok(Written::Done(next))
            })
        })
    }

    fn delete_customer(&self, id: CustomerId, guard: WriteGuard) -> Result<Written<()>, AppError> {
        self.pool.run(|conn| {
            conn.immediate_transaction(|conn| {
                let current = Self::find(conn, id)?;
                if let Some(refusal) = guard.refusal(current.as_ref()) {
                    return Ok(refusal);
                }
                diesel::delete(customers::table.find(Id::from(id))).execute(conn)?;
                Ok(Written::Done(()))
            })
        })
    }

    fn admit_login_attempt(&self, window: &AttemptWindow<'_>) -> Result<Admission, AppError> {
        use login_failures::{client_addr, email_key, failed_at};
        let client = window.client.map(Network::from);
        self.pool.run(|conn| {
            conn.immediate_transaction(|conn| {
                diesel::delete(login_failures::table.filter(failed_at.lt(Moment(window.since))))
                    .execute(conn)?;
                let recent = login_failures::table
                    .filter(failed_at.gt(Moment(window.since)))
                    .order(failed_at.desc())
                    .select(failed_at);
                let for_email: Vec<Moment> = recent
                    .filter(email_key.eq(window.email_key))
                    .limit(window.email_limit)
                    .load(conn)?;
                let for_client: Vec<Moment> = match client {
                    Some(client) => recent
                        .filter(client_addr.eq(client))
                        .limit(window.client_limit)
                        .load(conn)?,
                    None => Vec::new(),
                };
                let recent = RecentFailures {
                    for_email: for_email.into_iter().map(|at| at.0).collect(),
                    for_client: for_client.into_iter().map(|at| at.0).collect(),
                };
                if window.is_full(&recent) {
                    return Ok(Admission::Refused(recent));
                }
                let attempt = diesel::insert_into(login_failures::table)
                    .values((
                        email_key.eq(window.email_key),
                        client_addr.eq(client),
                        failed_at.eq(Moment(window.at)),
                    ))
                    .returning(login_failures::id)
                    .get_result(conn)?;
                Ok(Admission::Admitted(AttemptId(attempt)))
            })
        })
    }

    fn forget_login_attempt(&self, attempt: AttemptId) -> Result<(), AppError> {
        self.pool.run(|conn| {
            diesel::delete(login_failures::table.find(attempt.0)).execute(conn)?;
            Ok(())
        })
    }
}

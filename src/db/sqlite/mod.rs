//! The embedded SQLite store, for running with nothing installed: one file in the data folder,
//! WAL journal, and `BEGIN IMMEDIATE` transactions to serialise writers.

use std::{net::IpAddr, path::Path};

use chrono::{DateTime, Utc};
use diesel::{
    connection::SimpleConnection, prelude::*, r2d2::CustomizeConnection, sqlite::SqliteConnection,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use super::{
    contains_pattern, lower,
    pool::{Pool, Tracked},
    run_migrations, CustomerFilter, CustomerRecord, FailureWindow, PoolSettings, PoolState,
    Position, RecentFailures, Store, UpdateDecision,
};
use crate::{auth::PasswordHash, domain::CustomerId, error::AppError};

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
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| {
                anyhow::anyhow!("cannot create the data folder {}: {e}", folder.display())
            })?;
        }
        let pool = Pool::open(
            &path.to_string_lossy(),
            settings,
            || Some(Box::new(Pragmas)),
            "the SQLite file",
        )?;
        run_migrations(&pool, MIGRATIONS)?;
        Ok(Self { pool })
    }

    /// The customers matching `filter`, as a query to refine.
    fn filtered(filter: &CustomerFilter) -> customers::BoxedQuery<'_, diesel::sqlite::Sqlite> {
        use self::customers::dsl::*;
        let mut query = customers.into_boxed();
        if let Some(term) = &filter.search {
            let pattern = contains_pattern(term);
            query = query.filter(
                name.like(pattern.clone())
                    .escape('\\')
                    .or(email.like(pattern).escape('\\')),
            );
        }
        if let Some(wanted) = &filter.email {
            query = query.filter(lower(email).eq(lower(wanted)));
        }
        if let Some(after) = filter.created_after {
            query = query.filter(created_at.gt(after));
        }
        if let Some(before) = filter.created_before {
            query = query.filter(created_at.lt(before));
        }
        query
    }

    fn find_row(
        conn: &mut SqliteConnection,
        id: CustomerId,
    ) -> Result<Option<CustomerRecord>, AppError> {
        customers::table
            .find(id.to_string())
            .select(CustomerRow::as_select())
            .first(conn)
            .optional()?
            .map(CustomerRecord::try_from)
            .transpose()
    }
}

impl Store for SqliteStore {
    fn pool_state(&self) -> PoolState {
        self.pool.state()
    }

    fn ping(&self) -> Result<(), AppError> {
        self.pool.run(|conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
    }

    fn insert_customer(&self, customer: &CustomerRecord) -> Result<(), AppError> {
        self.pool.run(|conn| {
            diesel::insert_into(customers::table)
                .values(CustomerRow::try_from(customer)?)
                .execute(conn)?;
            Ok(())
        })
    }

    fn find_customer(&self, id: CustomerId) -> Result<Option<CustomerRecord>, AppError> {
        self.pool.run(|conn| Self::find_row(conn, id))
    }

    fn list_customers(
        &self,
        filter: &CustomerFilter,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<CustomerRecord>, AppError> {
        self.pool.run(|conn| {
            use self::customers::dsl::*;
            let mut query = Self::filtered(filter);
            if let Some(after) = after {
                // (created_at, id) < (after.created_at, after.id), written so that the first
                // condition bounds the index scan.
                query = query.filter(
                    created_at.le(after.created_at).and(
                        created_at
                            .lt(after.created_at)
                            .or(id.lt(after.id.to_string())),
                    ),
                );
            }
            query
                .order((created_at.desc(), id.desc()))
                .limit(i64::try_from(limit).map_err(AppError::internal)?)
                .select(CustomerRow::as_select())
                .load(conn)?
                .into_iter()
                .map(CustomerRecord::try_from)
                .collect()
        })
    }

    fn count_customers(&self, filter: &CustomerFilter) -> Result<i64, AppError> {
        self.pool
            .run(|conn| Ok(Self::filtered(filter).count().get_result(conn)?))
    }

    fn find_customer_by_email(&self, email: &str) -> Result<Option<CustomerRecord>, AppError> {
        self.pool.run(|conn| {
            customers::table
                .filter(lower(customers::email).eq(lower(email)))
                .select(CustomerRow::as_select())
                .first(conn)
                .optional()?
                .map(CustomerRecord::try_from)
                .transpose()
        })
    }

    fn update_customer(
        &self,
        id: CustomerId,
        decide: UpdateDecision<'_>,
    ) -> Result<CustomerRecord, AppError> {
        self.pool.run(|conn| {
            conn.immediate_transaction(|conn| {
                let current = Self::find_row(conn, id)?.ok_or(AppError::NotFound)?;
                let Some(next) = decide(&current)? else {
                    return Ok(current);
                };
                diesel::update(customers::table.find(id.to_string()))
                    .set(CustomerRow::try_from(&next)?)
                    .execute(conn)?;
                Ok(next)
            })
        })
    }

    fn delete_customer(
        &self,
        id: CustomerId,
        check: &dyn Fn(&CustomerRecord) -> Result<(), AppError>,
    ) -> Result<(), AppError> {
        self.pool.run(|conn| {
            conn.immediate_transaction(|conn| {
                let current = Self::find_row(conn, id)?.ok_or(AppError::NotFound)?;
                check(&current)?;
                diesel::delete(customers::table.find(id.to_string())).execute(conn)?;
                Ok(())
            })
        })
    }

    fn recent_login_failures(
        &self,
        window: &FailureWindow<'_>,
    ) -> Result<RecentFailures, AppError> {
        self.pool.run(|conn| {
            use schema::login_failures::dsl::*;
            let for_email = login_failures
                .filter(email_key.eq(window.email_key))
                .filter(failed_at.gt(window.since))
                .order(failed_at.desc())
                .limit(window.email_limit)
                .select(failed_at)
                .load(conn)?;
            let for_client = match window.client {
                Some(client) => login_failures
                    .filter(client_addr.eq(client.to_string()))
                    .filter(failed_at.gt(window.since))
                    .order(failed_at.desc())
                    .limit(window.client_limit)
                    .select(failed_at)
                    .load(conn)?,
                None => Vec::new(),
            };
            Ok(RecentFailures {
                for_email,
                for_client,
            })
        })
    }

    fn record_login_failure(
        &self,
        key: &str,
        client: Option<IpAddr>,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<(), AppError> {
        self.pool.run(|conn| {
            use schema::login_failures::dsl::*;
            diesel::delete(login_failures.filter(failed_at.lt(forget_before))).execute(conn)?;
            diesel::insert_into(login_failures)
                .values((
                    email_key.eq(key),
                    client_addr.eq(client.map(|ip| ip.to_string())),
                    failed_at.eq(at),
                ))
                .execute(conn)?;
            Ok(())
        })
    }
}

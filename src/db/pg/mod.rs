//! The PostgreSQL store: native uuid, timestamptz, jsonb and inet columns; row locks
//! (`SELECT … FOR UPDATE`) serialise concurrent updates of one customer.

use chrono::{DateTime, Utc};
use diesel::{pg::PgConnection, prelude::*};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{
    contains_pattern, lower, pool::Pool, run_migrations, CustomerFilter, CustomerRecord,
    FailureWindow, PoolSettings, PoolState, Position, RecentFailures, Store, UpdateDecision,
};
use crate::{
    auth::PasswordHash,
    domain::{Address, CustomerId},
    error::AppError,
};

mod schema;
use schema::customers;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub struct PgStore {
    pool: Pool<PgConnection>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
struct CustomerRow {
    id: Uuid,
    name: String,
    email: String,
    phone: Option<String>,
    address: Option<serde_json::Value>,
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
            .map(serde_json::from_value::<Address>)
            .transpose()
            .map_err(AppError::internal)?;
        Ok(Self {
            id: row.id.into(),
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
            .map(serde_json::to_value)
            .transpose()
            .map_err(AppError::internal)?;
        Ok(Self {
            id: record.id.as_uuid(),
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

impl PgStore {
    pub fn open(url: &SecretString, settings: &PoolSettings) -> anyhow::Result<Self> {
        let pool = Pool::open(
            url.expose_secret(),
            settings,
            || None,
            "PostgreSQL (DATABASE_URL)",
        )?;
        run_migrations(&pool, MIGRATIONS)?;
        Ok(Self { pool })
    }

    /// The customers matching `filter`, as a query to refine.
    fn filtered(filter: &CustomerFilter) -> customers::BoxedQuery<'_, diesel::pg::Pg> {
        use self::customers::dsl::*;
        let mut query = customers.into_boxed();
        if let Some(term) = &filter.search {
            let pattern = contains_pattern(term);
            query = query.filter(
                name.ilike(pattern.clone())
                    .escape('\\')
                    .or(email.ilike(pattern).escape('\\')),
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
        conn: &mut PgConnection,
        id: CustomerId,
        lock: bool,
    ) -> Result<Option<CustomerRecord>, AppError> {
        let query = customers::table
            .find(id.as_uuid())
            .select(CustomerRow::as_select());
        let row = if lock {
            query.for_update().first(conn).optional()?
        } else {
            query.first(conn).optional()?
        };
        row.map(CustomerRecord::try_from).transpose()
    }
}

impl Store for PgStore {
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
        self.pool.run(|conn| Self::find_row(conn, id, false))
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
                            .or(id.lt(after.id.as_uuid())),
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
            conn.transaction(|conn| {
                let current = Self::find_row(conn, id, true)?.ok_or(AppError::NotFound)?;
                let Some(next) = decide(&current)? else {
                    return Ok(current);
                };
                diesel::update(customers::table.find(id.as_uuid()))
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
            conn.transaction(|conn| {
                let current = Self::find_row(conn, id, true)?.ok_or(AppError::NotFound)?;
                check(&current)?;
                diesel::delete(customers::table.find(id.as_uuid())).execute(conn)?;
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
                    .filter(client_addr.eq(IpNet::from(client)))
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
        client: Option<std::net::IpAddr>,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<(), AppError> {
        self.pool.run(|conn| {
            use schema::login_failures::dsl::*;
            diesel::delete(login_failures.filter(failed_at.lt(forget_before))).execute(conn)?;
            diesel::insert_into(login_failures)
                .values((
                    email_key.eq(key),
                    client_addr.eq(client.map(IpNet::from)),
                    failed_at.eq(at),
                ))
                .execute(conn)?;
            Ok(())
        })
    }
}

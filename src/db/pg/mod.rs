//! The PostgreSQL store: native uuid, timestamptz, jsonb and inet columns; row locks
//! (`SELECT … FOR UPDATE`) serialise concurrent updates of one customer.

use chrono::{DateTime, Utc};
use diesel::{
    expression::BoxableExpression,
    pg::{Pg, PgConnection},
    prelude::*,
    sql_types::Bool,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{
    contains_pattern, lower, pool::Pool, run_migrations, Admission, AttemptId, AttemptWindow,
    CustomerFilter, CustomerRecord, PoolSettings, PoolState, Position, RecentFailures, Store,
    UpdateDecision,
};
use crate::{
    auth::PasswordHash,
    domain::{Address, ClientNetwork, CustomerId},
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
}

super::queries::store_queries!(PgStore, Pg);

fn row_id(id: CustomerId) -> Uuid {
    id.as_uuid()
}

fn client_value(client: ClientNetwork) -> IpNet {
    client.as_net()
}

/// Transaction-scoped advisory locks on the email key and the client network, always in that
/// order: parallel attempts for one of them are counted and recorded one after the other.
fn lock_attempts(conn: &mut PgConnection, window: &AttemptWindow<'_>) -> Result<(), AppError> {
    use diesel::sql_types::{Nullable, Text};
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(1, hashtext($1)), pg_advisory_xact_lock(2, hashtext($2))",
    )
    .bind::<Text, _>(window.email_key)
    .bind::<Nullable<Text>, _>(window.client.map(|client| client.to_string()))
    .execute(conn)?;
    Ok(())
}

/// ILIKE, which the trigram indexes on name and email serve.
fn search(pattern: String) -> Box<dyn BoxableExpression<customers::table, Pg, SqlType = Bool>> {
    use self::customers::dsl::*;
    Box::new(
        name.ilike(pattern.clone())
            .escape('\\')
            .or(email.ilike(pattern).escape('\\')),
    )
}

/// `lock`: `SELECT … FOR UPDATE`, so concurrent writers of one customer take turns.
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

fn write_transaction<T>(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> Result<T, AppError>,
) -> Result<T, AppError> {
    conn.transaction(work)
}

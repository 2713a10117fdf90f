//! The PostgreSQL store, in SQL: every statement it runs is in this file. Native types (uuid,
//! timestamptz, jsonb, inet), a unique index on `lower(email)`, trigram indexes for the
//! listing's search, single-statement conditional writes, and advisory locks for the login
//! throttle.

use diesel::{
    pg::{Pg, PgConnection},
    prelude::*,
    query_builder::BoxedSqlQuery,
    sql_query,
    sql_types::{BigInt, Bool, Integer, Nullable, Text},
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use secrecy::{ExposeSecret, SecretString};

use super::{
    contains_pattern,
    pool::Pool,
    rows::CustomerRow,
    run_migrations,
    sql_types::{AddressJson, AddressSql, Id, IdSql, Moment, MomentSql, Network, NetworkSql},
    Admission, AttemptId, AttemptWindow, CustomerFilter, CustomerRecord, CustomerUpdate, ListQuery,
    PoolSettings, PoolState, RecentFailures, Store, WriteGuard, Written,
};
use crate::{domain::CustomerId, error::AppError};

mod columns;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub struct PgStore {
    pool: Pool<PgConnection>,
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

/// The columns of a [`CustomerRow`].
const CUSTOMER: &str =
    "id, name, email, phone, address, password_hash, token_version, created_at, updated_at";

/// The patch's columns are written only where they change something; the guards are part of
/// the statement, so a write that must not happen touches no row (and is told apart from
/// "nothing to change" afterwards, on that rare path only). One round trip.
const UPDATE_CUSTOMER: &str = "
UPDATE customers SET
    name = coalesce($2, name),
    email = coalesce($3, email),
    phone = CASE WHEN $4 THEN $5 ELSE phone END,
    address = CASE WHEN $6 THEN $7 ELSE address END,
    password_hash = coalesce($8, password_hash),
    token_version = token_version + CASE WHEN $8 IS NULL THEN 0 ELSE 1 END,
    updated_at = greatest($9, updated_at + interval '1 microsecond')
WHERE id = $1
  AND ($10::timestamptz IS NULL OR updated_at = $10)
  AND ($11::integer IS NULL OR token_version = $11)
  AND ($2 <> name
       OR $3 <> email
       OR ($4 AND $5 IS DISTINCT FROM phone)
       OR ($6 AND $7 IS DISTINCT FROM address)
       OR $8 IS NOT NULL)
RETURNING id, name, email, phone, address, password_hash, token_version, created_at, updated_at";

/// Serialises the admission of login attempts for one email key and for one client network:
/// transaction-scoped advisory locks, always in that order.
const LOCK_ATTEMPTS: &str =
    "SELECT pg_advisory_xact_lock(1, hashtext($1)), pg_advisory_xact_lock(2, hashtext($2))";

impl PgStore {
    fn find(conn: &mut PgConnection, id: CustomerId) -> Result<Option<CustomerRecord>, AppError> {
        let row = sql_query(format!("SELECT {CUSTOMER} FROM customers WHERE id = $1"))
            .bind::<IdSql, _>(Id::from(id))
            .get_result::<CustomerRow>(conn)
            .optional()?;
        Ok(row.map(CustomerRecord::from))
    }
}

impl Store for PgStore {
    fn ping(&self) -> Result<(), AppError> {
        self.pool.run(|conn| {
            sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
    }

    fn pool_state(&self) -> PoolState {
        self.pool.state()
    }

    fn insert_customer(&self, customer: &CustomerRecord) -> Result<(), AppError> {
        let row = CustomerRow::from(customer);
        self.pool.run(|conn| {
            sql_query(format!(
                "INSERT INTO customers ({CUSTOMER}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .bind::<IdSql, _>(row.id)
            .bind::<Text, _>(&row.name)
            .bind::<Text, _>(&row.email)
            .bind::<Nullable<Text>, _>(&row.phone)
            .bind::<Nullable<AddressSql>, _>(&row.address)
            .bind::<Nullable<Text>, _>(&row.password_hash)
            .bind::<Integer, _>(row.token_version)
            .bind::<MomentSql, _>(row.created_at)
            .bind::<MomentSql, _>(row.updated_at)
            .execute(conn)?;
            Ok(())
        })
    }

    fn find_customer(&self, id: CustomerId) -> Result<Option<CustomerRecord>, AppError> {
        self.pool.run(|conn| Self::find(conn, id))
    }

    fn find_customer_by_email(&self, email: &str) -> Result<Option<CustomerRecord>, AppError> {
        self.pool.run(|conn| {
            let row = sql_query(format!(
                "SELECT {CUSTOMER} FROM customers WHERE lower(email) = lower($1)"
            ))
            .bind::<Text, _>(email)
            .get_result::<CustomerRow>(conn)
            .optional()?;
            Ok(row.map(CustomerRecord::from))
        })
    }

    fn list_customers(&self, query: &ListQuery) -> Result<Vec<CustomerRecord>, AppError> {
        let mut conditions = Conditions::of(&query.filter);
        if let Some(after) = &query.after {
            // A row comparison: one range of the (created_at DESC, id DESC) index.
            let (at, id) = (conditions.next(), conditions.next() + 1);
            conditions
                .sql
                .push(format!("(created_at, id) < (${at}, ${id})"));
            conditions.values.push(Value::At(Moment(after.created_at)));
            conditions.values.push(Value::Id(after.id.into()));
        }
        let limit_param = conditions.next();
        let sql = format!(
            "SELECT {CUSTOMER} FROM customers WHERE {} \
             ORDER BY created_at DESC, id DESC LIMIT ${limit_param}",
            conditions.clause()
        );
        let limit = i64::try_from(query.limit).map_err(AppError::internal)?;
        self.pool.run(|conn| {
            let rows = conditions
                .bind(sql_query(sql).into_boxed())
                .bind::<BigInt, _>(limit)
                .load::<CustomerRow>(conn)?;
            Ok(rows.into_iter().map(CustomerRecord::from).collect())
        })
    }

    fn count_customers(&self, filter: &CustomerFilter) -> Result<i64, AppError> {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let conditions = Conditions::of(filter);
        let sql = format!(
            "SELECT count(*) AS n FROM customers WHERE {}",
            conditions.clause()
        );
        self.pool.run(|conn| {
            let count = conditions
                .bind(sql_query(sql).into_boxed())
                .get_result::<Count>(conn)?;
            Ok(count.n)
        })
    }

    fn update_customer(
        &self,
        update: &CustomerUpdate,
    ) -> Result<Written<CustomerRecord>, AppError> {
        let CustomerUpdate {
            id,
            patch,
            guard,
            at,
        } = update;
        let (id, guard) = (*id, *guard);
        let address = patch
            .address
            .as_ref()
            .map(|address| address.clone().map(AddressJson));
        self.pool.run(|conn| {
            let updated = sql_query(UPDATE_CUSTOMER)
                .bind::<IdSql, _>(Id::from(id))
                .bind::<Nullable<Text>, _>(&patch.name)
                .bind::<Nullable<Text>, _>(&patch.email)
                .bind::<Bool, _>(patch.phone.is_some())
                .bind::<Nullable<Text>, _>(patch.phone.clone().flatten())
                .bind::<Bool, _>(address.is_some())
                .bind::<Nullable<AddressSql>, _>(address.flatten())
                .bind::<Nullable<Text>, _>(patch.password_hash.as_ref().map(|h| h.as_str()))
                .bind::<MomentSql, _>(Moment(*at))
                .bind::<Nullable<MomentSql>, _>(guard.updated_at.map(Moment))
                .bind::<Nullable<Integer>, _>(guard.token_version)
                .get_result::<CustomerRow>(conn)
                .optional()?;
            if let Some(row) = updated {
                return Ok(Written::Done(row.into()));
            }
            // Refused, or nothing to change: the row as it is tells which.
            let current = Self::find(conn, id)?;
            Ok(guard
                .refusal(current.as_ref())
                .unwrap_or_else(|| Written::Done(current.expect("refusal covers a missing row"))))
        })
    }

    fn delete_customer(&self, id: CustomerId, guard: WriteGuard) -> Result<Written<()>, AppError> {
        self.pool.run(|conn| {
            let deleted = sql_query(
                "DELETE FROM customers WHERE id = $1 \
                 AND ($2::integer IS NULL OR token_version = $2)",
            )
            .bind::<IdSql, _>(Id::from(id))
            .bind::<Nullable<Integer>, _>(guard.token_version)
            .execute(conn)?;
            if deleted == 1 {
                return Ok(Written::Done(()));
            }
            let current = Self::find(conn, id)?;
            Ok(guard.refusal(current.as_ref()).unwrap_or(Written::Done(())))
        })
    }

    fn admit_login_attempt(&self, window: &AttemptWindow<'_>) -> Result<Admission, AppError> {
        #[derive(QueryableByName)]
        struct Failed {
            #[diesel(sql_type = MomentSql)]
            failed_at: Moment,
        }
        #[derive(QueryableByName)]
        struct Inserted {
            #[diesel(sql_type = BigInt)]
            id: i64,
        }
        let client = window.client.map(Network::from);
        self.pool.run(|conn| {
            conn.transaction(|conn| {
                sql_query(LOCK_ATTEMPTS)
                    .bind::<Text, _>(window.email_key)
                    .bind::<Nullable<Text>, _>(client.map(|net| net.0.to_string()))
                    .execute(conn)?;
                sql_query("DELETE FROM login_failures WHERE failed_at < $1")
                    .bind::<MomentSql, _>(Moment(window.since))
                    .execute(conn)?;
                // The key, bound last, is $3.
                let recent = |column: &str, limit: i64| {
                    sql_query(format!(
                        "SELECT failed_at FROM login_failures WHERE failed_at > $1 \
                         AND {column} = $3 ORDER BY failed_at DESC LIMIT $2"
                    ))
                    .into_boxed::<Pg>()
                    .bind::<MomentSql, _>(Moment(window.since))
                    .bind::<BigInt, _>(limit)
                };
                let for_email = recent("email_key", window.email_limit)
                    .bind::<Text, _>(window.email_key)
                    .load::<Failed>(conn)?;
                let for_client = match client {
                    Some(client) => recent("client_addr", window.client_limit)
                        .bind::<NetworkSql, _>(client)
                        .load::<Failed>(conn)?,
                    None => Vec::new(),
                };
                let recent = RecentFailures {
                    for_email: for_email.into_iter().map(|f| f.failed_at.0).collect(),
                    for_client: for_client.into_iter().map(|f| f.failed_at.0).collect(),
                };
                if window.is_full(&recent) {
                    return Ok(Admission::Refused(recent));
                }
                let inserted = sql_query(
                    "INSERT INTO login_failures (email_key, client_addr, failed_at) \
                     VALUES ($1, $2, $3) RETURNING id",
                )
                .bind::<Text, _>(window.email_key)
                .bind::<Nullable<NetworkSql>, _>(client)
                .bind::<MomentSql, _>(Moment(window.at))
                .get_result::<Inserted>(conn)?;
                Ok(Admission::Admitted(AttemptId(inserted.id)))
            })
        })
    }

    fn forget_login_attempt(&self, attempt: AttemptId) -> Result<(), AppError> {
        self.pool.run(|conn| {
            sql_query("DELETE FROM login_failures WHERE id = $1")
                .bind::<BigInt, _>(attempt.0)
                .execute(conn)?;
            Ok(())
        })
    }
}

/// The listing's filter as SQL conditions, with the values their placeholders take, in order.
struct Conditions {
    sql: Vec<String>,
    values: Vec<Value>,
}

enum Value {
    Text(String),
    At(Moment),
    Id(Id),
}

impl Conditions {
    fn of(filter: &CustomerFilter) -> Self {
        let mut conditions = Self {
            sql: Vec::new(),
            values: Vec::new(),
        };
        if let Some(term) = &filter.search {
            // ILIKE, which the trigram indexes on name and email serve.
            let n = conditions.next();
            conditions.sql.push(format!(
                "(name ILIKE ${n} ESCAPE '\\' OR email ILIKE ${n} ESCAPE '\\')"
            ));
            conditions.values.push(Value::Text(contains_pattern(term)));
        }
        if let Some(email) = &filter.email {
            let n = conditions.next();
            conditions.sql.push(format!("lower(email) = lower(${n})"));
            conditions.values.push(Value::Text(email.clone()));
        }
        if let Some(after) = filter.created_after {
            let n = conditions.next();
            conditions.sql.push(format!("created_at > ${n}"));
            conditions.values.push(Value::At(Moment(after)));
        }
        if let Some(before) = filter.created_before {
            let n = conditions.next();
            conditions.sql.push(format!("created_at < ${n}"));
            conditions.values.push(Value::At(Moment(before)));
        }
        conditions
    }

    /// The number of the next placeholder.
    fn next(&self) -> usize {
        self.values.len() + 1
    }

    fn clause(&self) -> String {
        if self.sql.is_empty() {
            "true".to_owned()
        } else {
            self.sql.join(" AND ")
        }
    }

    fn bind<'a>(
        &self,
        mut query: BoxedSqlQuery<'a, Pg, diesel::query_builder::SqlQuery>,
    ) -> BoxedSqlQuery<'a, Pg, diesel::query_builder::SqlQuery> {
        for value in &self.values {
            query = match value {
                Value::Text(text) => query.bind::<Text, _>(text.clone()),
                Value::At(at) => query.bind::<MomentSql, _>(*at),
                Value::Id(id) => query.bind::<IdSql, _>(*id),
            };
        }
        query
    }
}

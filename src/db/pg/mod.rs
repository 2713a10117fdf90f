//! The PostgreSQL store, in SQL: every statement it runs is in this file. Native types (uuid,
//! timestamptz, jsonb, inet, bytea), a unique index on `lower(email)`, trigram indexes for the
//! listing's search, writes that check their guards in the same statement (one round trip),
//! and advisory locks for the throttle. Every statement is kept prepared per connection
//! (`prepared`): its text comes from constants only.

use diesel::{
    connection::CacheSize,
    pg::{Pg, PgConnection},
    prelude::*,
    query_builder::{BoxedSqlQuery, SqlQuery},
    r2d2::CustomizeConnection,
    sql_query,
    sql_types::{BigInt, Binary, Bool, Nullable, Text},
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use secrecy::ExposeSecret;

use super::backend::*;
use super::{
    changes::ChangeFeed,
    contains_pattern, pending_names,
    pool::{Pool, Tracked},
    rows::{CustomerRow, SessionRow},
    run_migrations,
    sql_types::{AddressJson, AddressSql, Id, IdSql, Moment, MomentSql, Network, NetworkSql},
    PgSettings,
};

mod columns;
mod listener;
mod prepared;

use prepared::prepared;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub struct PgStore {
    pool: Pool<PgConnection>,
    settings: PgSettings,
}

/// Migrations take this advisory lock (an arbitrary constant, the same in every instance).
const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7261943008211)";

/// Behind a transaction pooler, a statement prepared on one server connection cannot be run
/// on another: none is kept.
#[derive(Debug)]
struct NoStatementCache;

impl CustomizeConnection<Tracked<PgConnection>, diesel::r2d2::Error> for NoStatementCache {
    fn on_acquire(&self, conn: &mut Tracked<PgConnection>) -> Result<(), diesel::r2d2::Error> {
        conn.connection()
            .set_prepared_statement_cache_size(CacheSize::Disabled);
        Ok(())
    }
}

impl PgStore {
    pub fn open(
        settings: &PgSettings, pool: &PoolSettings, schema: SchemaPolicy,
    ) -> anyhow::Result<Self> {
        let listen_url = settings.listen_url.as_ref().unwrap_or(&settings.url);
        listener::connection_settings(listen_url.expose_secret()).map_err(|problem| {
            anyhow::anyhow!("LISTEN_DATABASE_URL (or DATABASE_URL): {problem}")
        })?;
        let pool = Self::pool(settings, pool)?;
        run_migrations(&pool, MIGRATIONS, schema, Some(MIGRATION_LOCK))?;
        Ok(Self {
            pool,
            settings: settings.clone(),
        })
    }

    pub fn pending_migrations(
        settings: &PgSettings, pool: &PoolSettings,
    ) -> anyhow::Result<Vec<String>> {
        pending_names(&Self::pool(settings, pool)?, MIGRATIONS)
    }

    fn pool(settings: &PgSettings, pool: &PoolSettings) -> anyhow::Result<Pool<PgConnection>> {
        let pooled = settings.transaction_pooling;
        Pool::open(
            settings.url.expose_secret(),
            pool,
            || pooled.then(|| Box::new(NoStatementCache) as _),
            "PostgreSQL (DATABASE_URL)",
        )
    }

    /// Runs a unit of work on a pooled connection; behind a transaction pooler, in a
    /// transaction, so that its statements (prepared unnamed, then run) share one server
    /// connection.
    fn run<T>(
        &self, work: impl FnOnce(&mut PgConnection) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        if self.settings.transaction_pooling {
            self.pool.run(|conn| conn.transaction(work))
        } else {
            self.pool.run(work)
        }
    }
}

/// The columns of a [`CustomerRow`].
const CUSTOMER: &str = "id, name, email, phone, address, password_hash, email_verified, \
                        created_at, updated_at";

/// The columns of a [`SessionRow`].
const SESSION: &str = "id, customer_id, user_agent, created_at, last_used_at, expires_at";

/// Whether session $s of customer $c has not ended or expired at $t (placeholders named in
/// the statements that use it).
const SESSION_ALIVE: &str =
    "EXISTS (SELECT 1 FROM sessions WHERE id = $s AND customer_id = $c AND expires_at > $t)";

/// The patch's columns are written only where they change something; the guards are part of
/// the statement, so a write that must not happen touches no row (and is told apart from
/// "nothing to change" afterwards, on that rare path only). A new password ends every session
/// in the same statement. One round trip.
fn update_customer_sql() -> String {
    let alive = SESSION_ALIVE
        .replace("$s", "$11")
        .replace("$c", "$1")
        .replace("$t", "$9");
    format!(
        "WITH updated AS (
    UPDATE customers SET
        name = coalesce($2, name),
        email = coalesce($3, email),
        email_verified = email_verified AND ($3 IS NULL OR lower($3) = lower(email)),
        phone = CASE WHEN $4 THEN $5 ELSE phone END,
        address = CASE WHEN $6 THEN $7 ELSE address END,
        password_hash = coalesce($8, password_hash),
        updated_at = greatest($9, updated_at + interval '1 microsecond')
    WHERE id = $1
      AND ($10::timestamptz IS NULL OR updated_at = $10)
      AND ($11::uuid IS NULL OR {alive})
      AND ($2 <> name OR $3 <> email
           OR ($4 AND $5 IS DISTINCT FROM phone)
           OR ($6 AND $7 IS DISTINCT FROM address)
           OR $8 IS NOT NULL)
    RETURNING {CUSTOMER}
), ended AS (
    DELETE FROM sessions WHERE $8::text IS NOT NULL AND customer_id IN (SELECT id FROM updated)
)
SELECT {CUSTOMER} FROM updated"
    )
}

/// The customer as it is, and whether the writer's session stands: why a guarded write
/// touched no row.
#[derive(QueryableByName)]
struct Current {
    #[diesel(embed)]
    customer: CustomerRow,
    #[diesel(sql_type = Bool)]
    session_alive: bool,
}

impl PgStore {
    fn find(conn: &mut PgConnection, id: CustomerId) -> Result<Option<CustomerRecord>, AppError> {
        let row = prepared(
            sql_query(format!("SELECT {CUSTOMER} FROM customers WHERE id = $1"))
                .bind::<IdSql, _>(Id::from(id)),
        )
        .get_result::<CustomerRow>(conn)
        .optional()?;
        Ok(row.map(CustomerRecord::from))
    }

    /// Why a write guarded by `guard` touched no row of customer `id`, if it was refused.
    fn refusal<T>(
        conn: &mut PgConnection, id: CustomerId, guard: WriteGuard, now: DateTime<Utc>,
    ) -> Result<(Option<Written<T>>, Option<CustomerRecord>), AppError> {
        let alive = SESSION_ALIVE
            .replace("$s", "$2")
            .replace("$c", "$1")
            .replace("$t", "$3");
        let current = prepared(
            sql_query(format!(
                "SELECT {CUSTOMER}, {alive} AS session_alive FROM customers WHERE id = $1"
            ))
            .bind::<IdSql, _>(Id::from(id))
            .bind::<Nullable<IdSql>, _>(guard.session.map(Id::from))
            .bind::<MomentSql, _>(Moment(now)),
        )
        .get_result::<Current>(conn)
        .optional()?;
        let alive = current.as_ref().is_some_and(|c| c.session_alive);
        let current = current.map(|c| CustomerRecord::from(c.customer));
        Ok((guard.refusal(current.as_ref(), alive), current))
    }
}

impl Store for PgStore {
    fn ping(&self) -> Result<(), AppError> {
        self.run(|conn| {
            prepared(sql_query("SELECT 1")).execute(conn)?;
            Ok(())
        })
    }

    fn pool_state(&self) -> PoolState {
        self.pool.state()
    }

    fn insert_customer(&self, customer: &CustomerRecord) -> Result<(), AppError> {
        let row = CustomerRow::from(customer);
        self.run(|conn| {
            prepared(
                sql_query(format!(
                "INSERT INTO customers ({CUSTOMER}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
                .bind::<IdSql, _>(row.id)
                .bind::<Text, _>(&row.name)
                .bind::<Text, _>(&row.email)
                .bind::<Nullable<Text>, _>(&row.phone)
                .bind::<Nullable<AddressSql>, _>(&row.address)
                .bind::<Nullable<Text>, _>(&row.password_hash)
                .bind::<Bool, _>(row.email_verified)
                .bind::<MomentSql, _>(row.created_at)
                .bind::<MomentSql, _>(row.updated_at),
            )
            .execute(conn)?;
            Ok(())
        })
    }

    fn find_customer(&self, id: CustomerId) -> Result<Option<CustomerRecord>, AppError> {
        self.run(|conn| Self::find(conn, id))
    }

    fn find_customer_in_session(
        &self, id: CustomerId, session: SessionId, now: DateTime<Utc>,
    ) -> Result<Option<CustomerRecord>, AppError> {
        let columns = CUSTOMER
            .split(", ")
            .map(|column| format!("c.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.run(|conn| {
            let row = prepared(
                sql_query(format!(
                    "SELECT {columns} FROM customers c JOIN sessions s ON s.customer_id = c.id \
                 WHERE c.id = $1 AND s.id = $2 AND s.expires_at > $3"
                ))
                .bind::<IdSql, _>(Id::from(id))
                .bind::<IdSql, _>(Id::from(session))
                .bind::<MomentSql, _>(Moment(now)),
            )
            .get_result::<CustomerRow>(conn)
            .optional()?;
            Ok(row.map(CustomerRecord::from))
        })
    }

    fn find_customer_by_email(&self, email: &str) -> Result<Option<CustomerRecord>, AppError> {
        self.run(|conn| {
            let row = prepared(
                sql_query(format!(
                    "SELECT {CUSTOMER} FROM customers WHERE lower(email) = lower($1)"
                ))
                .bind::<Text, _>(email),
            )
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
        self.run(|conn| {
            // The text varies only with which filters are set: a bounded set.
            let rows = prepared(
                conditions
                    .bind(sql_query(sql).into_boxed())
                    .bind::<BigInt, _>(limit),
            )
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
        self.run(|conn| {
            let count =
                prepared(conditions.bind(sql_query(sql).into_boxed())).get_result::<Count>(conn)?;
            Ok(count.n)
        })
    }

    fn update_customer(
        &self, update: &CustomerUpdate,
    ) -> Result<Written<CustomerRecord>, AppError> {
        let CustomerUpdate {
            id,
            patch,
            guard,
            at,
        } = update;
        let address = patch
            .address
            .as_ref()
            .map(|address| address.clone().map(AddressJson));
        self.run(|conn| {
            let updated = prepared(
                sql_query(update_customer_sql())
                    .bind::<IdSql, _>(Id::from(*id))
                    .bind::<Nullable<Text>, _>(&patch.name)
                    .bind::<Nullable<Text>, _>(&patch.email)
                    .bind::<Bool, _>(patch.phone.is_some())
                    .bind::<Nullable<Text>, _>(patch.phone.clone().flatten())
                    .bind::<Bool, _>(address.is_some())
                    .bind::<Nullable<AddressSql>, _>(address.flatten())
                    .bind::<Nullable<Text>, _>(patch.password_hash.as_ref().map(|h| h.as_str()))
                    .bind::<MomentSql, _>(Moment(*at))
                    .bind::<Nullable<MomentSql>, _>(guard.updated_at.map(Moment))
                    .bind::<Nullable<IdSql>, _>(guard.session.map(Id::from)),
            )
            .get_result::<CustomerRow>(conn)
            .optional()?;
            if let Some(row) = updated {
                return Ok(Written::Done(row.into()));
            }
            // Refused, or nothing to change: the row as it is tells which.
            let (refusal, current) = Self::refusal(conn, *id, *guard, *at)?;
            Ok(refusal
                .unwrap_or_else(|| Written::Done(current.expect("a refusal covers a missing row"))))
        })
    }

    fn delete_customer(&self, id: CustomerId, guard: WriteGuard) -> Result<Written<()>, AppError> {
        let alive = SESSION_ALIVE
            .replace("$s", "$2")
            .replace("$c", "$1")
            .replace("$t", "$3");
        let now = Utc::now();
        self.run(|conn| {
            // Sessions and mailed tokens go with the customer (ON DELETE CASCADE).
            let deleted = prepared(
                sql_query(format!(
                    "DELETE FROM customers WHERE id = $1 AND ($2::uuid IS NULL OR {alive})"
                ))
                .bind::<IdSql, _>(Id::from(id))
                .bind::<Nullable<IdSql>, _>(guard.session.map(Id::from))
                .bind::<MomentSql, _>(Moment(now)),
            )
            .execute(conn)?;
            if deleted == 1 {
                return Ok(Written::Done(()));
            }
            let (refusal, _) = Self::refusal(conn, id, guard, now)?;
            Ok(refusal.unwrap_or(Written::Done(())))
        })
    }

    fn admit_attempt(&self, window: &AttemptWindow) -> Result<Admission, AppError> {
        #[derive(QueryableByName)]
        struct Attempt {
            #[diesel(sql_type = MomentSql)]
            at: Moment,
        }
        #[derive(QueryableByName)]
        struct Inserted {
            #[diesel(sql_type = BigInt)]
            id: i64,
        }
        let client = window.client.map(Network::from);
        let action = window.action.as_str();
        self.run(|conn| {
            conn.transaction(|conn| {
                // Transaction-scoped advisory locks on the email key and on the client
                // network, always in that order: parallel attempts for one of them are
                // counted and recorded one after the other.
                prepared(
                    sql_query(
                        "SELECT pg_advisory_xact_lock(1, hashtext($1 || ':' || $2)), \
                            pg_advisory_xact_lock(2, hashtext($1 || ':' || $3))",
                    )
                    .bind::<Text, _>(action)
                    .bind::<Text, _>(&window.email_key)
                    .bind::<Nullable<Text>, _>(client.map(|net| net.0.to_string())),
                )
                .execute(conn)?;
                // The key, bound last, is $4.
                let recent = |column: &str, limit: i64| {
                    sql_query(format!(
                        "SELECT at FROM throttled_attempts WHERE action = $1 AND at > $2 \
                         AND {column} = $4 ORDER BY at DESC LIMIT $3"
                    ))
                    .into_boxed::<Pg>()
                    .bind::<Text, _>(action)
                    .bind::<MomentSql, _>(Moment(window.since))
                    .bind::<BigInt, _>(limit)
                };
                let for_email =
                    recent("email_key", window.email_limit).bind::<Text, _>(&window.email_key);
                let for_email = prepared(for_email).load::<Attempt>(conn)?;
                let for_client = match client {
                    Some(client) => {
                        let query = recent("client_addr", window.client_limit)
                            .bind::<NetworkSql, _>(client);
                        prepared(query).load::<Attempt>(conn)?
                    }
                    None => Vec::new(),
                };
                let recent = RecentAttempts {
                    for_email: for_email.into_iter().map(|a| a.at.0).collect(),
                    for_client: for_client.into_iter().map(|a| a.at.0).collect(),
                };
                if window.is_full(&recent) {
                    return Ok(Admission::Refused(recent));
                }
                let inserted = prepared(
                    sql_query(
                        "INSERT INTO throttled_attempts (action, email_key, client_addr, at) \
                     VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind::<Text, _>(action)
                    .bind::<Text, _>(&window.email_key)
                    .bind::<Nullable<NetworkSql>, _>(client)
                    .bind::<MomentSql, _>(Moment(window.at)),
                )
                .get_result::<Inserted>(conn)?;
                Ok(Admission::Admitted(AttemptId(inserted.id)))
            })
        })
    }

    fn forget_attempt(&self, attempt: AttemptId) -> Result<(), AppError> {
        self.run(|conn| {
            prepared(
                sql_query("DELETE FROM throttled_attempts WHERE id = $1")
                    .bind::<BigInt, _>(attempt.0),
            )
            .execute(conn)?;
            Ok(())
        })
    }

    fn create_session(
        &self, session: &SessionRecord, refresh_hash: &TokenHash,
    ) -> Result<(), AppError> {
        self.run(|conn| {
            prepared(
                sql_query(format!(
                "INSERT INTO sessions ({SESSION}, refresh_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
                .bind::<IdSql, _>(Id::from(session.id))
                .bind::<IdSql, _>(Id::from(session.customer_id))
                .bind::<Nullable<Text>, _>(&session.user_agent)
                .bind::<MomentSql, _>(Moment(session.created_at))
                .bind::<MomentSql, _>(Moment(session.last_used_at))
                .bind::<MomentSql, _>(Moment(session.expires_at))
                .bind::<Binary, _>(&refresh_hash.0[..]),
            )
            .execute(conn)?;
            Ok(())
        })
    }

    fn refresh_session(&self, request: &RefreshRequest) -> Result<Rotation, AppError> {
        self.run(|conn| {
            let rotated = prepared(
                sql_query(format!(
                    "UPDATE sessions SET refresh_hash = $2, previous_hash = refresh_hash, \
                 last_used_at = $3, expires_at = $4 \
                 WHERE refresh_hash = $1 AND expires_at > $3 RETURNING {SESSION}"
                ))
                .bind::<Binary, _>(&request.presented.0[..])
                .bind::<Binary, _>(&request.next.0[..])
                .bind::<MomentSql, _>(Moment(request.now))
                .bind::<MomentSql, _>(Moment(request.expires_at)),
            )
            .get_result::<SessionRow>(conn)
            .optional()?;
            if let Some(row) = rotated {
                return Ok(Rotation::Rotated(row.into()));
            }
            // Not current: spent by an earlier rotation, or unknown.
            let spent = prepared(
                sql_query(format!(
                    "SELECT {SESSION} FROM sessions WHERE previous_hash = $1 AND expires_at > $2"
                ))
                .bind::<Binary, _>(&request.presented.0[..])
                .bind::<MomentSql, _>(Moment(request.now)),
            )
            .get_result::<SessionRow>(conn)
            .optional()?;
            let (rotation, end) = request.spent(spent.map(SessionRecord::from));
            if let Some(session) = end {
                prepared(
                    sql_query("DELETE FROM sessions WHERE id = $1")
                        .bind::<IdSql, _>(Id::from(session)),
                )
                .execute(conn)?;
            }
            Ok(rotation)
        })
    }

    fn live_sessions(
        &self, candidates: &[SessionId], now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, AppError> {
        #[derive(QueryableByName)]
        struct Live {
            #[diesel(sql_type = IdSql)]
            id: Id,
        }
        let ids: Vec<Id> = candidates.iter().copied().map(Id::from).collect();
        self.run(|conn| {
            let live = prepared(
                sql_query("SELECT id FROM sessions WHERE id = ANY($1) AND expires_at > $2")
                    .bind::<diesel::sql_types::Array<IdSql>, _>(&ids)
                    .bind::<MomentSql, _>(Moment(now)),
            )
            .load::<Live>(conn)?;
            Ok(live
                .into_iter()
                .map(|row| SessionId::from(row.id.0))
                .collect())
        })
    }

    fn customers_changed_since(
        &self, since: DateTime<Utc>, limit: i64,
    ) -> Result<Vec<CustomerRecord>, AppError> {
        self.run(|conn| {
            let rows = prepared(
                sql_query(format!(
                    "SELECT {CUSTOMER} FROM customers WHERE updated_at >= $1 \
                     ORDER BY updated_at LIMIT $2"
                ))
                .bind::<MomentSql, _>(Moment(since))
                .bind::<BigInt, _>(limit),
            )
            .load::<CustomerRow>(conn)?;
            Ok(rows.into_iter().map(CustomerRecord::from).collect())
        })
    }

    fn announce_changes(&self, feed: Arc<ChangeFeed>) {
        // A trigger NOTIFYs from each writing transaction (migration 000004); one connection
        // per instance, outside the pool, listens.
        let url = self
            .settings
            .listen_url
            .as_ref()
            .unwrap_or(&self.settings.url);
        listener::spawn(url.clone(), feed);
    }

    fn list_sessions(
        &self, customer: CustomerId, now: DateTime<Utc>,
    ) -> Result<Vec<SessionRecord>, AppError> {
        self.run(|conn| {
            let rows = prepared(
                sql_query(format!(
                    "SELECT {SESSION} FROM sessions WHERE customer_id = $1 AND expires_at > $2 \
                 ORDER BY created_at DESC"
                ))
                .bind::<IdSql, _>(Id::from(customer))
                .bind::<MomentSql, _>(Moment(now)),
            )
            .load::<SessionRow>(conn)?;
            Ok(rows.into_iter().map(SessionRecord::from).collect())
        })
    }

    fn end_sessions(&self, which: SessionsOf) -> Result<usize, AppError> {
        let (customer, session) = match which {
            SessionsOf::Customer(customer) => (Some(customer), None),
            SessionsOf::Session(session) => (None, Some(session)),
            SessionsOf::CustomerSession(customer, session) => (Some(customer), Some(session)),
        };
        self.run(|conn| {
            Ok(prepared(
                sql_query(
                    "DELETE FROM sessions WHERE ($1::uuid IS NULL OR customer_id = $1) \
                 AND ($2::uuid IS NULL OR id = $2) AND ($1 IS NOT NULL OR $2 IS NOT NULL)",
                )
                .bind::<Nullable<IdSql>, _>(customer.map(Id::from))
                .bind::<Nullable<IdSql>, _>(session.map(Id::from)),
            )
            .execute(conn)?)
        })
    }

    fn insert_account_token(&self, hash: &TokenHash, token: &AccountToken) -> Result<(), AppError> {
        self.run(|conn| {
            prepared(sql_query(
                "INSERT INTO account_tokens (token_hash, customer_id, purpose, email, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind::<Binary, _>(&hash.0[..])
            .bind::<IdSql, _>(Id::from(token.customer_id))
            .bind::<Text, _>(token.purpose.as_str())
            .bind::<Nullable<Text>, _>(&token.email)
            .bind::<MomentSql, _>(Moment(token.expires_at))
            ).execute(conn)?;
            Ok(())
        })
    }

    fn take_account_token(
        &self, hash: &TokenHash, purpose: Purpose, now: DateTime<Utc>,
    ) -> Result<Option<AccountToken>, AppError> {
        #[derive(QueryableByName)]
        struct Taken {
            #[diesel(sql_type = IdSql)]
            customer_id: Id,
            #[diesel(sql_type = Nullable<Text>)]
            email: Option<String>,
            #[diesel(sql_type = MomentSql)]
            expires_at: Moment,
        }
        self.run(|conn| {
            let taken = prepared(
                sql_query(
                    "DELETE FROM account_tokens WHERE token_hash = $1 AND purpose = $2 \
                 AND expires_at > $3 RETURNING customer_id, email, expires_at",
                )
                .bind::<Binary, _>(&hash.0[..])
                .bind::<Text, _>(purpose.as_str())
                .bind::<MomentSql, _>(Moment(now)),
            )
            .get_result::<Taken>(conn)
            .optional()?;
            Ok(taken.map(|taken| AccountToken {
                customer_id: taken.customer_id.0.into(),
                purpose,
                email: taken.email,
                expires_at: taken.expires_at.0,
            }))
        })
    }

    fn account_token_customer(
        &self, hash: &TokenHash, purpose: Purpose, now: DateTime<Utc>,
    ) -> Result<Option<CustomerId>, AppError> {
        #[derive(QueryableByName)]
        struct Owner {
            #[diesel(sql_type = IdSql)]
            customer_id: Id,
        }
        self.run(|conn| {
            let owner = prepared(
                sql_query(
                    "SELECT customer_id FROM account_tokens \
                 WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3",
                )
                .bind::<Binary, _>(&hash.0[..])
                .bind::<Text, _>(purpose.as_str())
                .bind::<MomentSql, _>(Moment(now)),
            )
            .get_result::<Owner>(conn)
            .optional()?;
            Ok(owner.map(|owner| owner.customer_id.0.into()))
        })
    }

    fn reset_password(&self, reset: &PasswordReset) -> Result<Option<CustomerRecord>, AppError> {
        let session = &reset.session;
        self.run(|conn| {
            let row = prepared(
                sql_query(format!(
                    "WITH taken AS (
                    DELETE FROM account_tokens
                    WHERE token_hash = $1 AND purpose = 'reset' AND expires_at > $3
                    RETURNING customer_id
                ), updated AS (
                    UPDATE customers SET password_hash = $2,
                        updated_at = greatest($3, updated_at + interval '1 microsecond')
                    WHERE id = (SELECT customer_id FROM taken) RETURNING {CUSTOMER}
                ), ended AS (
                    DELETE FROM sessions WHERE customer_id IN (SELECT id FROM updated)
                ), started AS (
                    INSERT INTO sessions
                        (id, customer_id, refresh_hash, user_agent, created_at, last_used_at,
                         expires_at)
                    SELECT $4, id, $5, $6, $3, $3, $7 FROM updated
                )
                SELECT {CUSTOMER} FROM updated"
                ))
                .bind::<Binary, _>(&reset.token_hash.0[..])
                .bind::<Text, _>(reset.password_hash.as_str())
                .bind::<MomentSql, _>(Moment(session.created_at))
                .bind::<IdSql, _>(Id::from(session.id))
                .bind::<Binary, _>(&reset.refresh_hash.0[..])
                .bind::<Nullable<Text>, _>(&session.user_agent)
                .bind::<MomentSql, _>(Moment(session.expires_at)),
            )
            .get_result::<CustomerRow>(conn)
            .optional()?;
            Ok(row.map(CustomerRecord::from))
        })
    }

    fn verify_email(
        &self, customer: CustomerId, email: &str, at: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        self.run(|conn| {
            let matched = prepared(
                sql_query(
                    "UPDATE customers SET email_verified = true, updated_at = CASE \
                 WHEN email_verified THEN updated_at \
                 ELSE greatest($3, updated_at + interval '1 microsecond') END \
                 WHERE id = $1 AND lower(email) = lower($2)",
                )
                .bind::<IdSql, _>(Id::from(customer))
                .bind::<Text, _>(email)
                .bind::<MomentSql, _>(Moment(at)),
            )
            .execute(conn)?;
            Ok(matched == 1)
        })
    }

    fn claim_idempotency_key(
        &self, key: &str, request_hash: &[u8; 32], now: DateTime<Utc>,
    ) -> Result<KeyClaim, AppError> {
        #[derive(QueryableByName)]
        struct Kept {
            #[diesel(sql_type = Binary)]
            request_hash: Vec<u8>,
            #[diesel(sql_type = Nullable<Text>)]
            response: Option<String>,
        }
        let expired_before = now - chrono::Duration::hours(24);
        self.run(|conn| {
            // A key older than a day is claimed afresh.
            let claimed = prepared(
                sql_query(
                    "INSERT INTO idempotency_keys AS k (key, request_hash, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET \
                 request_hash = excluded.request_hash, response = NULL, \
                 created_at = excluded.created_at WHERE k.created_at < $4",
                )
                .bind::<Text, _>(key)
                .bind::<Binary, _>(&request_hash[..])
                .bind::<MomentSql, _>(Moment(now))
                .bind::<MomentSql, _>(Moment(expired_before)),
            )
            .execute(conn)?;
            if claimed == 1 {
                return Ok(KeyClaim::Claimed);
            }
            let kept = prepared(
                sql_query("SELECT request_hash, response FROM idempotency_keys WHERE key = $1")
                    .bind::<Text, _>(key),
            )
            .get_result::<Kept>(conn)?;
            Ok(
                match (kept.request_hash == request_hash[..], kept.response) {
                    (false, _) => KeyClaim::Mismatch,
                    (true, Some(response)) => KeyClaim::Replay(response),
                    (true, None) => KeyClaim::InProgress,
                },
            )
        })
    }

    fn finish_idempotency_key(&self, key: &str, response: &str) -> Result<(), AppError> {
        self.run(|conn| {
            prepared(
                sql_query("UPDATE idempotency_keys SET response = $2 WHERE key = $1")
                    .bind::<Text, _>(key)
                    .bind::<Text, _>(response),
            )
            .execute(conn)?;
            Ok(())
        })
    }

    fn release_idempotency_key(&self, key: &str) -> Result<(), AppError> {
        self.run(|conn| {
            prepared(
                sql_query("DELETE FROM idempotency_keys WHERE key = $1 AND response IS NULL")
                    .bind::<Text, _>(key),
            )
            .execute(conn)?;
            Ok(())
        })
    }

    fn admin_token_cutoff(&self) -> Result<Option<DateTime<Utc>>, AppError> {
        #[derive(QueryableByName)]
        struct Cutoff {
            #[diesel(sql_type = MomentSql)]
            issued_before: Moment,
        }
        self.run(|conn| {
            let cutoff = prepared(sql_query("SELECT issued_before FROM admin_token_cutoff"))
                .get_result::<Cutoff>(conn)
                .optional()?;
            Ok(cutoff.map(|c| c.issued_before.0))
        })
    }

    fn revoke_admin_tokens(&self, before: DateTime<Utc>) -> Result<(), AppError> {
        self.run(|conn| {
            prepared(
                sql_query(
                    "INSERT INTO admin_token_cutoff AS c (issued_before) VALUES ($1) \
                 ON CONFLICT (singleton) DO UPDATE \
                 SET issued_before = greatest(c.issued_before, excluded.issued_before)",
                )
                .bind::<MomentSql, _>(Moment(before)),
            )
            .execute(conn)?;
            Ok(())
        })
    }

    fn prune(&self, what: Expiring, before: DateTime<Utc>, batch: i64) -> Result<usize, AppError> {
        let (table, column) = what.table_and_column();
        self.run(|conn| {
            Ok(prepared(
                sql_query(format!(
                    "DELETE FROM {table} WHERE ctid IN \
                 (SELECT ctid FROM {table} WHERE {column} < $1 LIMIT $2)"
                ))
                .bind::<MomentSql, _>(Moment(before))
                .bind::<BigInt, _>(batch),
            )
            .execute(conn)?)
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
        &self, mut query: BoxedSqlQuery<'a, Pg, SqlQuery>,
    ) -> BoxedSqlQuery<'a, Pg, SqlQuery> {
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

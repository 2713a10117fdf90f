//! The column types whose storage differs by database, and the Rust values bound to them.
//! Each backend implements `ToSql` and `FromSql` for these in its own `columns.rs`: the one
//! place where a value's stored form differs.

use chrono::{DateTime, Utc};
use diesel::{
    backend::Backend,
    deserialize::{self, FromSql, FromSqlRow},
    expression::AsExpression,
    pg::Pg,
    query_builder::QueryId,
    serialize::{self, Output, ToSql},
    sql_types::{SqlType, Timestamptz, TimestamptzSqlite},
    sqlite::Sqlite,
};

/// A customer id: `uuid` in PostgreSQL, hyphenated text in SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct IdSql;

/// An instant: `timestamptz` in PostgreSQL, RFC 3339 text in UTC in SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct MomentSql;

/// A postal address: a `jsonb` object in PostgreSQL, JSON text in SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
pub struct AddressSql;

/// A client network: `inet` in PostgreSQL, CIDR text in SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
#[diesel(postgres_type(oid = 869, array_oid = 1041))]
#[diesel(sqlite_type(name = "Text"))]
pub struct NetworkSql;

/// A customer id as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = IdSql)]
pub struct Id(pub uuid::Uuid);

/// An instant as stored, at the microsecond precision of both databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = MomentSql)]
pub struct Moment(pub DateTime<Utc>);

/// The SQL type in which a database keeps instants, as Diesel's chrono support writes them
/// (SQLite's text sorts in time order only in that one format, so it is not rewritten here).
pub trait NativeMoment: Backend {
    type Moment;
}

impl NativeMoment for Pg {
    type Moment = Timestamptz;
}

impl NativeMoment for Sqlite {
    type Moment = TimestamptzSqlite;
}

impl<DB: NativeMoment> ToSql<MomentSql, DB> for Moment
where
    DateTime<Utc>: ToSql<DB::Moment, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        ToSql::<DB::Moment, DB>::to_sql(&self.0, out)
    }
}

impl<DB: NativeMoment> FromSql<MomentSql, DB> for Moment
where
    DateTime<Utc>: FromSql<DB::Moment, DB>,
{
    fn from_sql(value: DB::RawValue<'_>) -> deserialize::Result<Self> {
        FromSql::<DB::Moment, DB>::from_sql(value).map(Self)
    }
}

/// An address as stored.
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = AddressSql)]
pub struct AddressJson(pub crate::domain::Address);

/// A client network as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = NetworkSql)]
pub struct Network(pub ipnet::IpNet);

impl From<crate::domain::CustomerId> for Id {
    fn from(id: crate::domain::CustomerId) -> Self {
        Self(id.as_uuid())
    }
}

impl From<crate::domain::SessionId> for Id {
    fn from(id: crate::domain::SessionId) -> Self {
        Self(id.as_uuid())
    }
}

impl From<crate::domain::ClientNetwork> for Network {
    fn from(network: crate::domain::ClientNetwork) -> Self {
        Self(network.as_net())
    }
}

//! How SQLite stores the shared column types: as text (hyphenated UUIDs, JSON, CIDR
//! networks; and RFC 3339 instants, see `sql_types::Moment`).

use diesel::{
    backend::Backend,
    deserialize::{self, FromSql},
    serialize::{self, IsNull, Output, ToSql},
    sql_types::Text,
    sqlite::Sqlite,
};

use crate::db::sql_types::{AddressJson, AddressSql, Id, IdSql, Network, NetworkSql};

type SqliteValue<'a> = <Sqlite as Backend>::RawValue<'a>;

fn text(value: SqliteValue<'_>) -> deserialize::Result<String> {
    FromSql::<Text, Sqlite>::from_sql(value)
}

impl ToSql<IdSql, Sqlite> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<IdSql, Sqlite> for Id {
    fn from_sql(value: SqliteValue<'_>) -> deserialize::Result<Self> {
        Ok(Self(uuid::Uuid::parse_str(&text(value)?)?))
    }
}

impl ToSql<AddressSql, Sqlite> for AddressJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}

impl FromSql<AddressSql, Sqlite> for AddressJson {
    fn from_sql(value: SqliteValue<'_>) -> deserialize::Result<Self> {
        Ok(Self(serde_json::from_str(&text(value)?)?))
    }
}

impl ToSql<NetworkSql, Sqlite> for Network {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<NetworkSql, Sqlite> for Network {
    fn from_sql(value: SqliteValue<'_>) -> deserialize::Result<Self> {
        Ok(Self(text(value)?.parse()?))
    }
}

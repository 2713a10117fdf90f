//! How PostgreSQL stores the shared column types: natively, as uuid, jsonb and inet (and
//! timestamptz, see `sql_types::Moment`).

use std::io::Write;

use diesel::{
    deserialize::{self, FromSql},
    pg::{Pg, PgValue},
    serialize::{self, IsNull, Output, ToSql},
    sql_types::{Inet, Jsonb, Uuid},
};

use crate::db::sql_types::{AddressJson, AddressSql, Id, IdSql, Network, NetworkSql};

impl ToSql<IdSql, Pg> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        ToSql::<Uuid, Pg>::to_sql(&self.0, out)
    }
}

impl FromSql<IdSql, Pg> for Id {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        FromSql::<Uuid, Pg>::from_sql(value).map(Self)
    }
}

impl ToSql<AddressSql, Pg> for AddressJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        // jsonb's binary form: a version byte, then the JSON text.
        out.write_all(&[1])?;
        serde_json::to_writer(out, &self.0)?;
        Ok(IsNull::No)
    }
}

impl FromSql<AddressSql, Pg> for AddressJson {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let json: serde_json::Value = FromSql::<Jsonb, Pg>::from_sql(value)?;
        Ok(Self(serde_json::from_value(json)?))
    }
}

impl ToSql<NetworkSql, Pg> for Network {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        ToSql::<Inet, Pg>::to_sql(&self.0, out)
    }
}

impl FromSql<NetworkSql, Pg> for Network {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        FromSql::<Inet, Pg>::from_sql(value).map(Self)
    }
}

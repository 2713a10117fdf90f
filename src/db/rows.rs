//! The one conversion between a customer as both databases store it and [`CustomerRecord`].

use diesel::prelude::*;

use super::{
    schema::customers,
    sql_types::{AddressJson, Id, Moment},
    CustomerRecord,
};
use crate::auth::PasswordHash;

/// A row of `customers`, read by name from SQL (PostgreSQL) or by position from Diesel's
/// query builder (SQLite), and inserted by the query builder.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = customers, treat_none_as_null = true)]
pub struct CustomerRow {
    pub id: Id,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub address: Option<AddressJson>,
    pub password_hash: Option<String>,
    pub token_version: i32,
    pub created_at: Moment,
    pub updated_at: Moment,
}

impl From<CustomerRow> for CustomerRecord {
    fn from(row: CustomerRow) -> Self {
        Self {
            id: row.id.0.into(),
            name: row.name,
            email: row.email,
            phone: row.phone,
            address: row.address.map(|address| address.0),
            password_hash: row.password_hash.map(PasswordHash::from_stored),
            token_version: row.token_version,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        }
    }
}

impl From<&CustomerRecord> for CustomerRow {
    fn from(record: &CustomerRecord) -> Self {
        Self {
            id: record.id.into(),
            name: record.name.clone(),
            email: record.email.clone(),
            phone: record.phone.clone(),
            address: record.address.clone().map(AddressJson),
            password_hash: record.password_hash.as_ref().map(|h| h.as_str().to_owned()),
            token_version: record.token_version,
            created_at: Moment(record.created_at),
            updated_at: Moment(record.updated_at),
        }
    }
}

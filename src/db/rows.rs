//! The one conversion between rows as both databases store them and the records.

use diesel::prelude::*;

use super::{
    schema::{customers, sessions},
    sql_types::{AddressJson, Id, Moment},
    CustomerRecord, SessionRecord,
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
    pub email_verified: bool,
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
            email_verified: row.email_verified,
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
            email_verified: record.email_verified,
            created_at: Moment(record.created_at),
            updated_at: Moment(record.updated_at),
        }
    }
}

/// A row of `sessions`, without its token hashes.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: Id,
    pub customer_id: Id,
    pub user_agent: Option<String>,
    pub created_at: Moment,
    pub last_used_at: Moment,
    pub expires_at: Moment,
}

impl From<SessionRow> for SessionRecord {
    fn from(row: SessionRow) -> Self {
        Self {
            id: row.id.0.into(),
            customer_id: row.customer_id.0.into(),
            user_agent: row.user_agent,
            created_at: row.created_at.0,
            last_used_at: row.last_used_at.0,
            expires_at: row.expires_at.0,
        }
    }
}

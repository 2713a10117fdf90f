//! `Idempotency-Key` on `createCustomer`, with Stripe's semantics: the same key with the same
//! request within a day replays the first answer and creates nothing; the same key with
//! another request is CONFLICT; while the first request runs, another with its key is
//! CONFLICT too (so two racing requests create one customer). A request that fails lets its
//! key go, so the client may send it again.

use chrono::{DateTime, Utc};
use ring::hmac;
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

use super::customers::NewCustomer;
use crate::{
    auth::Principal,
    db::CustomerRecord,
    domain::{Address, CustomerId},
    error::AppError,
};

/// Fingerprints requests with a key derived from the server's secret, so that a stored
/// fingerprint does not let anyone test guesses of the password in it.
pub struct RequestHasher {
    key: hmac::Key,
}

impl RequestHasher {
    pub fn new(secret: &SecretSlice<u8>) -> Self {
        let master = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret());
        let derived = hmac::sign(&master, b"customer-api idempotency v1");
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// Who asks (a key is the caller's) and everything the request says.
    pub fn fingerprint(&self, caller: Option<Principal>, new: &NewCustomer) -> [u8; 32] {
        let caller = match caller {
            None => "anonymous".to_owned(),
            Some(Principal::Admin { .. }) => "admin".to_owned(),
            Some(Principal::Customer { id, .. }) => id.to_string(),
        };
        let request = serde_json::json!({
            "caller": caller,
            "name": new.name.as_str(),
            "email": new.email.as_str(),
            "phone": new.phone.as_ref().map(|p| p.as_str()),
            "address": new.address,
            "password": new.password.as_ref().map(|p| p.expose()),
        });
        let tag = hmac::sign(&self.key, request.to_string().as_bytes());
        tag.as_ref().try_into().expect("HMAC-SHA256 has 32 bytes")
    }
}

/// The first answer, as kept: the customer as created, without the password hash.
#[derive(Serialize, Deserialize)]
pub struct CreatedSnapshot {
    id: String,
    name: String,
    email: String,
    phone: Option<String>,
    address: Option<Address>,
    email_verified: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl CreatedSnapshot {
    pub fn of(record: &CustomerRecord) -> Result<String, AppError> {
        serde_json::to_string(&Self {
            id: record.id.to_string(),
            name: record.name.clone(),
            email: record.email.clone(),
            phone: record.phone.clone(),
            address: record.address.clone(),
            email_verified: record.email_verified,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
        .map_err(AppError::internal)
    }

    pub fn replay(json: &str) -> Result<CustomerRecord, AppError> {
        let snapshot: Self = serde_json::from_str(json).map_err(AppError::internal)?;
        Ok(CustomerRecord {
            id: CustomerId::parse(&snapshot.id)
                .map_err(|e| AppError::internal(std::io::Error::other(e)))?,
            name: snapshot.name,
            email: snapshot.email,
            phone: snapshot.phone,
            address: snapshot.address,
            password_hash: None,
            email_verified: snapshot.email_verified,
            created_at: snapshot.created_at,
            updated_at: snapshot.updated_at,
        })
    }
}

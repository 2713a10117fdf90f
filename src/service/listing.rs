//! The admins' `customers` listing: filters, keyset pagination (newest first, never OFFSET),
//! and cursors that clients cannot forge.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use ring::hmac;
use secrecy::{ExposeSecret, SecretSlice};

use super::CustomerService;
use crate::{
    auth::{Caller, Principal},
    db::{CustomerFilter, CustomerRecord, ListQuery, Position},
    domain::CustomerId,
    error::AppError,
};

/// One page of the listing, as asked for.
#[derive(Debug)]
pub struct PageRequest {
    pub filter: CustomerFilter,
    /// 1 to [`PageRequest::MAX_FIRST`], checked when parsed.
    pub first: usize,
    pub after: Option<String>,
    /// Whether to count every match (only when the client selects `totalCount`).
    pub with_total: bool,
}

impl PageRequest {
    pub const MAX_FIRST: usize = 100;
}

pub struct Page {
    /// The customers of the page, each with its cursor.
    pub customers: Vec<(CustomerRecord, String)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub total_count: Option<i64>,
}

impl CustomerService {
    /// `customers`: admins only.
    pub async fn list(&self, caller: &Caller, request: PageRequest) -> Result<Page, AppError> {
        if let Principal::Customer { id, session } = self.principal(caller).await? {
            // A revoked token is UNAUTHENTICATED, not FORBIDDEN.
            self.current_customer(id, session).await?;
            return Err(AppError::Forbidden);
        }
        let after = request
            .after
            .as_deref()
            .map(|cursor| self.cursors.decode(cursor))
            .transpose()?;
        let PageRequest {
            filter,
            first,
            with_total,
            ..
        } = request;
        let (mut rows, total_count) = self
            .with_store(move |store| {
                // One more row than asked for tells whether there is a next page.
                let rows = store.list_customers(&ListQuery {
                    filter: filter.clone(),
                    after,
                    limit: first + 1,
                })?;
                let total = with_total
                    .then(|| store.count_customers(&filter))
                    .transpose()?;
                Ok((rows, total))
            })
            .await?;
        let has_next_page = rows.len() > first;
        rows.truncate(first);
        let customers = rows
            .into_iter()
            .map(|customer| {
                let cursor = self.cursors.encode(&Position::of(&customer));
                (customer, cursor)
            })
            .collect();
        Ok(Page {
            customers,
            has_next_page,
            has_previous_page: after.is_some(),
            total_count,
        })
    }
}

/// Encodes a position in the listing as an opaque cursor, signed (HMAC-SHA256 with a key
/// derived from the server's secret) so that a changed or made-up cursor is refused.
pub struct CursorCodec {
    key: hmac::Key,
}

const POSITION_BYTES: usize = 8 + 16;

impl CursorCodec {
    pub fn new(secret: &SecretSlice<u8>) -> Self {
        // A key of its own, so that a cursor's tag never equals a token signature.
        let master = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret());
        let derived = hmac::sign(&master, b"customer-api listing cursor v1");
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    pub fn encode(&self, position: &Position) -> String {
        let mut bytes = Vec::with_capacity(POSITION_BYTES + 32);
        bytes.extend(position.created_at.timestamp_micros().to_be_bytes());
        bytes.extend(position.id.as_uuid().as_bytes());
        let tag = hmac::sign(&self.key, &bytes);
        bytes.extend(tag.as_ref());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(&self, cursor: &str) -> Result<Position, AppError> {
        let invalid = || AppError::bad_input("after", "not a cursor this server issued");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        if bytes.len() <= POSITION_BYTES {
            return Err(invalid());
        }
        let (position, tag) = bytes.split_at(POSITION_BYTES);
        hmac::verify(&self.key, position, tag).map_err(|_| invalid())?;
        let (micros, id) = position.split_at(8);
        let micros = i64::from_be_bytes(micros.try_into().map_err(|_| invalid())?);
        let id = uuid::Uuid::from_slice(id).map_err(|_| invalid())?;
        Ok(Position {
            created_at: DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(invalid)?,
            id: CustomerId::from(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(secret: &[u8]) -> CursorCodec {
        CursorCodec::new(&SecretSlice::from(secret.to_vec()))
    }

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let codec = codec(b"0123456789abcdef0123456789abcdef");
        let position = Position {
            created_at: DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap(),
            id: CustomerId::generate(),
        };
        let cursor = codec.encode(&position);
        assert_eq!(codec.decode(&cursor).unwrap(), position);

        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        bytes[3] ^= 1;
        assert!(codec.decode(&URL_SAFE_NO_PAD.encode(&bytes)).is_err());
        for bad in ["", "abc", "!!!!", &cursor[..cursor.len() - 2]] {
            assert!(codec.decode(bad).is_err(), "{bad:?}");
        }
        let other = super::CursorCodec::new(&SecretSlice::from(
            b"another secret of 32 bytes or more".to_vec(),
        ));
        assert!(other.decode(&cursor).is_err());
    }
}

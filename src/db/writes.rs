//! Guarded writes to a customer: what to change, what must still hold, and how it ended.

use chrono::{DateTime, Utc};

use super::CustomerRecord;
use crate::{
    auth::PasswordHash,
    domain::{Address, CustomerId, SessionId},
};

/// Changes to a customer's columns, decided before the write: `None` leaves a column as it
/// is; for `phone` and `address`, `Some(None)` clears it.
#[derive(Debug, Default, Clone)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<Option<String>>,
    pub address: Option<Option<Address>>,
    /// A new password; every session of the customer ends with it.
    pub password_hash: Option<PasswordHash>,
}

impl CustomerPatch {
    /// `current` with the patch applied at `at`, or `None` when nothing would change. A new
    /// address (not merely new letter case) is unverified.
    pub fn apply(&self, current: &CustomerRecord, at: DateTime<Utc>) -> Option<CustomerRecord> {
        let mut next = current.clone();
        if let Some(name) = &self.name {
            next.name.clone_from(name);
        }
        if let Some(email) = &self.email {
            if email.to_lowercase() != current.email.to_lowercase() {
                next.email_verified = false;
            }
            next.email.clone_from(email);
        }
        if let Some(phone) = &self.phone {
            next.phone.clone_from(phone);
        }
        if let Some(address) = &self.address {
            next.address.clone_from(address);
        }
        if let Some(hash) = &self.password_hash {
            next.password_hash = Some(hash.clone());
        }
        if next == *current {
            return None;
        }
        next.updated_at = next_updated_at(current.updated_at, at);
        Some(next)
    }
}

/// A write's `updated_at`: `at`, but strictly later than before even if two writes land within
/// one microsecond.
pub fn next_updated_at(before: DateTime<Utc>, at: DateTime<Utc>) -> DateTime<Utc> {
    at.max(before + chrono::Duration::microseconds(1))
}

/// What must still hold when a write to a customer happens.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteGuard {
    /// The `updatedAt` the client last read (`expectedUpdatedAt`).
    pub updated_at: Option<DateTime<Utc>>,
    /// When customers write their own record: the session of their token, which must not
    /// have ended.
    pub session: Option<SessionId>,
}

impl WriteGuard {
    /// Why a write to `current` (`None`: no such row) would be refused, if it would;
    /// `session_alive` tells whether the writer's session still stands.
    pub fn refusal<T>(
        &self, current: Option<&CustomerRecord>, session_alive: bool,
    ) -> Option<Written<T>> {
        let Some(current) = current else {
            return Some(Written::NotFound);
        };
        if self.session.is_some() && !session_alive {
            return Some(Written::Revoked);
        }
        if self
            .updated_at
            .is_some_and(|expected| expected != current.updated_at)
        {
            return Some(Written::Stale);
        }
        None
    }
}

/// An update of customer `id`: its patch, applied at `at` while `guard` holds.
#[derive(Debug, Clone)]
pub struct CustomerUpdate {
    pub id: CustomerId,
    pub patch: CustomerPatch,
    pub guard: WriteGuard,
    pub at: DateTime<Utc>,
}

/// How a guarded write ended.
#[derive(Debug)]
pub enum Written<T> {
    Done(T),
    NotFound,
    /// The writer's own session has ended.
    Revoked,
    /// The customer changed since `expectedUpdatedAt`.
    Stale,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer() -> CustomerRecord {
        let at = DateTime::from_timestamp_micros(1_795_000_000_000_000).unwrap();
        CustomerRecord {
            id: CustomerId::generate(),
            name: "Ada".to_owned(),
            email: "Ada@example.io".to_owned(),
            phone: Some("123".to_owned()),
            address: None,
            password_hash: None,
            email_verified: true,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_patch_that_changes_nothing_writes_nothing() {
        let current = customer();
        let same = CustomerPatch {
            name: Some("Ada".to_owned()),
            ..CustomerPatch::default()
        };
        assert_eq!(same.apply(&current, current.updated_at), None);
        let cleared = CustomerPatch {
            phone: Some(None),
            ..CustomerPatch::default()
        };
        let next = cleared.apply(&current, current.updated_at).unwrap();
        assert_eq!(next.phone, None);
        assert!(next.updated_at > current.updated_at, "strictly later");
    }

    #[test]
    fn a_new_address_is_unverified_but_new_letter_case_is_not() {
        let current = customer();
        let patch = |email: &str| CustomerPatch {
            email: Some(email.to_owned()),
            ..CustomerPatch::default()
        };
        let recased = patch("ada@EXAMPLE.io").apply(&current, Utc::now()).unwrap();
        assert!(recased.email_verified);
        let moved = patch("ada@elsewhere.io")
            .apply(&current, Utc::now())
            .unwrap();
        assert!(!moved.email_verified);
    }

    #[test]
    fn guards_refuse_in_order_missing_revoked_stale() {
        let current = customer();
        let guard = WriteGuard {
            updated_at: Some(current.updated_at - chrono::Duration::seconds(1)),
            session: Some(SessionId::generate()),
        };
        assert!(matches!(
            guard.refusal::<()>(None, true),
            Some(Written::NotFound)
        ));
        assert!(matches!(
            guard.refusal::<()>(Some(&current), false),
            Some(Written::Revoked)
        ));
        assert!(matches!(
            guard.refusal::<()>(Some(&current), true),
            Some(Written::Stale)
        ));
        assert!(WriteGuard::default()
            .refusal::<()>(Some(&current), false)
            .is_none());
    }
}

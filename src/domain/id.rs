use std::{fmt, hash::Hash, marker::PhantomData};

use uuid::Uuid;

/// An id: a time-ordered UUID (v7), shown to clients as hyphenated text. `Of` says what it
/// identifies, so that a session's id cannot be passed where a customer's is expected.
pub struct Id<Of> {
    uuid: Uuid,
    of: PhantomData<fn() -> Of>,
}

/// What a [`CustomerId`] identifies.
pub enum OfCustomer {}
/// What a [`SessionId`] identifies.
pub enum OfSession {}

/// A customer's id.
pub type CustomerId = Id<OfCustomer>;
/// A session's id.
pub type SessionId = Id<OfSession>;

impl<Of> Id<Of> {
    /// A fresh id.
    pub fn generate() -> Self {
        Uuid::now_v7().into()
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Uuid::parse_str(raw.trim())
            .map(Self::from)
            .map_err(|_| "must be a UUID".to_owned())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.uuid
    }
}

impl<Of> From<Uuid> for Id<Of> {
    fn from(uuid: Uuid) -> Self {
        Self {
            uuid,
            of: PhantomData,
        }
    }
}

impl<Of> fmt::Display for Id<Of> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.uuid.hyphenated().fmt(f)
    }
}

// Written out rather than derived: a derive would require `Of` itself to be Clone, Eq, …,
// which the uninhabited markers are not meant to be.
impl<Of> fmt::Debug for Id<Of> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<Of> Clone for Id<Of> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Of> Copy for Id<Of> {}

impl<Of> PartialEq for Id<Of> {
    fn eq(&self, other: &Self) -> bool {
        self.uuid == other.uuid
    }
}

impl<Of> Eq for Id<Of> {}

impl<Of> Hash for Id<Of> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.uuid.hash(state);
    }
}

//! What the store reads and writes, backend-free.

use chrono::{DateTime, Utc};

use crate::{
    auth::PasswordHash,
    domain::{Address, CustomerId, SessionId},
};

/// A customer as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRecord {
    pub id: CustomerId,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub password_hash: Option<PasswordHash>,
    /// Whether the customer proved that `email` is theirs; a new address is unproven again.
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A login that a client keeps: its access tokens name it, its refresh token renews it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub customer_id: CustomerId,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the session last logged in or refreshed.
    pub last_used_at: DateTime<Utc>,
    /// When its refresh token stops working, unless it is refreshed before.
    pub expires_at: DateTime<Utc>,
}

/// What a mailed single-use token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    EmailVerification,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "reset",
            Self::EmailVerification => "verify",
        }
    }
}

/// A single-use token in a mail, as stored (the token itself only as its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountToken {
    pub customer_id: CustomerId,
    pub purpose: Purpose,
    /// For a verification: the address it proves.
    pub email: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// How an `Idempotency-Key` was claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// First use: the request runs, and its answer is kept.
    Claimed,
    /// Seen with the same request: its first answer.
    Replay(String),
    /// Seen with another request.
    Mismatch,
    /// Seen with the same request, which is still running.
    InProgress,
}

/// How presenting a refresh token ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: the session now has the next one.
    Rotated(SessionRecord),
    /// The token was rotated away before: the session is ended.
    Reused {
        session: SessionId,
        customer: CustomerId,
    },
    /// The token was rotated away an instant ago, by a request racing this one: refused,
    /// but the session lives on.
    RaceLost,
    /// No session has it, or its session expired.
    Unknown,
}

/// Rows that expire, which the housekeeping removes a batch at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiring {
    /// Sessions past their refresh token's expiry.
    Sessions,
    /// Mailed tokens past their expiry (spent ones are gone already).
    AccountTokens,
    /// Throttled attempts out of every window.
    Attempts,
    /// Idempotency keys past their day.
    IdempotencyKeys,
}

impl Expiring {
    pub const ALL: [Self; 4] = [
        Self::Sessions,
        Self::AccountTokens,
        Self::Attempts,
        Self::IdempotencyKeys,
    ];

    /// The table, and the column whose instant the cut-off is compared with.
    pub fn table_and_column(self) -> (&'static str, &'static str) {
        match self {
            Self::Sessions => ("sessions", "expires_at"),
            Self::AccountTokens => ("account_tokens", "expires_at"),
            Self::Attempts => ("throttled_attempts", "at"),
            Self::IdempotencyKeys => ("idempotency_keys", "created_at"),
        }
    }
}

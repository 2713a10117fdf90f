//! The caller of one request, as its bearer token says. Whether a customer's session or an
//! admin's token is still current needs the database, so the service checks that.

use chrono::{DateTime, Utc};

use crate::{
    domain::{CustomerId, SessionId},
    error::{unauthenticated, AppError},
};

use super::{Claims, Role, TokenKeys};

#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    /// A token was sent but is malformed, forged or expired.
    InvalidToken,
    Customer {
        id: CustomerId,
        session: SessionId,
    },
    Admin {
        issued_at: DateTime<Utc>,
    },
}

/// A caller that presented a valid token.
#[derive(Debug, Clone, Copy)]
pub enum Principal {
    Customer { id: CustomerId, session: SessionId },
    Admin { issued_at: DateTime<Utc> },
}

impl Caller {
    /// The caller named by an `Authorization` header value, if any was sent.
    pub fn from_authorization(header: Option<&str>, keys: &TokenKeys) -> Self {
        Self::with_expiry(header, keys).0
    }

    /// The caller, and when its token expires (for a connection that outlives a request).
    pub fn with_expiry(header: Option<&str>, keys: &TokenKeys) -> (Self, Option<DateTime<Utc>>) {
        let Some(header) = header else {
            return (Self::Anonymous, None);
        };
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return (Self::InvalidToken, None),
        };
        let Some(claims) = keys.verify(token) else {
            return (Self::InvalidToken, None);
        };
        (
            Self::of_claims(&claims),
            DateTime::from_timestamp(claims.exp, 0),
        )
    }

    fn of_claims(claims: &Claims) -> Self {
        let session = claims.sid.as_deref().map(SessionId::parse);
        let issued_at = DateTime::from_timestamp(claims.iat, 0);
        match (
            claims.role,
            CustomerId::parse(&claims.sub),
            session,
            issued_at,
        ) {
            (Role::Admin, _, None, Some(issued_at)) => Self::Admin { issued_at },
            (Role::Customer, Ok(id), Some(Ok(session)), _) => Self::Customer { id, session },
            _ => Self::InvalidToken,
        }
    }

    /// The principal of a caller that must be authenticated.
    pub fn principal(&self) -> Result<Principal, AppError> {
        match *self {
            Self::Anonymous => Err(AppError::Unauthenticated(unauthenticated::TOKEN_REQUIRED)),
            Self::InvalidToken => Err(AppError::Unauthenticated(unauthenticated::INVALID_TOKEN)),
            Self::Customer { id, session } => Ok(Principal::Customer { id, session }),
            Self::Admin { issued_at } => Ok(Principal::Admin { issued_at }),
        }
    }
}

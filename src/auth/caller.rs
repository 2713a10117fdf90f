//! The caller of one request, as its bearer token says. Checking that a customer's token is
//! still current (not revoked) needs the database, so it happens in the service.

use crate::{
    domain::CustomerId,
    error::{unauthenticated, AppError},
};

use super::{Role, TokenKeys};

#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    /// A token was sent but is malformed, forged or expired.
    InvalidToken,
    Customer {
        id: CustomerId,
        token_version: i32,
    },
    Admin,
}

/// A caller that presented a valid token.
#[derive(Debug, Clone, Copy)]
pub enum Session {
    Customer { id: CustomerId, token_version: i32 },
    Admin,
}

impl Caller {
    /// The caller named by an `Authorization` header value, if any was sent.
    pub fn from_authorization(header: Option<&str>, keys: &TokenKeys) -> Self {
        let Some(header) = header else {
            return Self::Anonymous;
        };
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Self::InvalidToken,
        };
        let Some(claims) = keys.verify(token) else {
            return Self::InvalidToken;
        };
        match (claims.role, CustomerId::parse(&claims.sub), claims.ver) {
            (Role::Admin, _, _) => Self::Admin,
            (Role::Customer, Ok(id), Some(token_version)) => Self::Customer { id, token_version },
            (Role::Customer, _, _) => Self::InvalidToken,
        }
    }

    /// The session of a caller that must be authenticated.
    pub fn session(&self) -> Result<Session, AppError> {
        match *self {
            Self::Anonymous => Err(AppError::Unauthenticated(unauthenticated::TOKEN_REQUIRED)),
            Self::InvalidToken => Err(AppError::Unauthenticated(unauthenticated::INVALID_TOKEN)),
            Self::Customer { id, token_version } => Ok(Session::Customer { id, token_version }),
            Self::Admin => Ok(Session::Admin),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Admin)
    }
}

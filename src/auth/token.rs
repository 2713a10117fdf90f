//! Signed session tokens (JWT, HS256). A customer token carries the customer's token version:
//! changing the password bumps it, which revokes every token issued before.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

use crate::{domain::CustomerId, error::AppError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

/// What a token says. `ver` is present on customer tokens only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<i32>,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Signs and checks tokens with the server's secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &SecretSlice<u8>, issuer: &str, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret.expose_secret()),
            decoding: DecodingKey::from_secret(secret.expose_secret()),
            validation,
            issuer: issuer.to_owned(),
            ttl,
        }
    }

    pub fn issue_customer(
        &self,
        id: CustomerId,
        token_version: i32,
    ) -> Result<IssuedToken, AppError> {
        self.issue(
            id.to_string(),
            Role::Customer,
            Some(token_version),
            self.ttl,
        )
    }

    pub fn issue_admin(&self, ttl: Duration) -> Result<IssuedToken, AppError> {
        self.issue("admin".to_owned(), Role::Admin, None, ttl)
    }

    fn issue(
        &self,
        sub: String,
        role: Role,
        ver: Option<i32>,
        ttl: Duration,
    ) -> Result<IssuedToken, AppError> {
        let now = Utc::now();
        let expires_at = now + chrono::Duration::from_std(ttl).map_err(AppError::internal)?;
        let claims = Claims {
            sub,
            role,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            iss: self.issuer.clone(),
            ver,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(AppError::internal)?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or_else(|| {
            AppError::internal(std::io::Error::other("token expiry out of range"))
        })?;
        Ok(IssuedToken { token, expires_at })
    }

    /// The claims of a token that this server signed and that has not expired.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> TokenKeys {
        let secret = SecretSlice::from(secret.as_bytes().to_vec());
        TokenKeys::new(&secret, "customer-api", Duration::from_secs(3600))
    }

    #[test]
    fn issued_tokens_verify_and_carry_their_claims() {
        let keys = keys("0123456789abcdef0123456789abcdef");
        let id = CustomerId::generate();
        let issued = keys.issue_customer(id, 3).unwrap();
        let claims = keys.verify(&issued.token).unwrap();
        assert_eq!(claims.sub, id.to_string());
        assert_eq!(claims.role, Role::Customer);
        assert_eq!(claims.ver, Some(3));
        assert_eq!(claims.exp, issued.expires_at.timestamp());
    }

    #[test]
    fn tokens_of_another_secret_do_not_verify() {
        let issued = keys("0123456789abcdef0123456789abcdef")
            .issue_admin(Duration::from_secs(60))
            .unwrap();
        assert!(keys("fedcba9876543210fedcba9876543210")
            .verify(&issued.token)
            .is_none());
    }
}

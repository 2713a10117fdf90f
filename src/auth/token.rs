//! Signed access tokens (JWT, HS256). A customer's token names its session (`sid`): ending the
//! session ends the token. An admin's token has an id (`jti`) and is revoked by issue time.
//!
//! Clients send the same token with every request, and checking it (base64, the HMAC, the
//! JSON claims) was 13% of the instructions the server spent on a read (callgrind,
//! `bench/instructions.py`). So the claims of tokens whose signature checked out are kept,
//! by the token's exact text, in a bounded cache; expiry is still checked on every use, and
//! revocation never depended on this check (sessions and the admin cutoff are read apart).
//! Only tokens this server signed get in, so a client cannot fill the cache with made-up ones.

use std::{num::NonZeroUsize, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lru::LruCache;
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{CustomerId, SessionId},
    error::AppError,
    locking::lock,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

/// What a token says. `sid` is on customer tokens only, `jti` on admin tokens only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// How many verified tokens are remembered: a few MiB at most (a token and its claims take
/// well under 1 KiB), and more than the clients that a busy instance serves at once.
const VERIFIED_TOKENS: NonZeroUsize = NonZeroUsize::new(4096).expect("not zero");

/// Signs and checks tokens with the server's secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl: Duration,
    /// Claims of tokens whose signature and claims checked out, by the token's text.
    verified: Mutex<LruCache<String, Claims>>,
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
            verified: Mutex::new(LruCache::new(VERIFIED_TOKENS)),
        }
    }

    /// An access token of customer `id` in session `session`, for the access-token lifetime.
    pub fn issue_customer(
        &self, id: CustomerId, session: SessionId,
    ) -> Result<IssuedToken, AppError> {
        self.issue(Claims {
            sub: id.to_string(),
            role: Role::Customer,
            sid: Some(session.to_string()),
            ..self.claims(self.ttl)?
        })
    }

    pub fn issue_admin(&self, ttl: Duration) -> Result<IssuedToken, AppError> {
        self.issue(Claims {
            sub: "admin".to_owned(),
            role: Role::Admin,
            jti: Some(uuid::Uuid::now_v7().to_string()),
            ..self.claims(ttl)?
        })
    }

    /// The claims every token has, issued now for `ttl`.
    fn claims(&self, ttl: Duration) -> Result<Claims, AppError> {
        let now = Utc::now();
        let expires_at = now + chrono::Duration::from_std(ttl).map_err(AppError::internal)?;
        Ok(Claims {
            sub: String::new(),
            role: Role::Customer,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            iss: self.issuer.clone(),
            sid: None,
            jti: None,
        })
    }

    fn issue(&self, claims: Claims) -> Result<IssuedToken, AppError> {
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(AppError::internal)?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or_else(|| {
            AppError::internal(std::io::Error::other("token expiry out of range"))
        })?;
        Ok(IssuedToken { token, expires_at })
    }

    /// The claims of a token that this server signed and that has not expired.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let remembered = lock(&self.verified).get(token).cloned();
        let claims = match remembered {
            Some(claims) => claims,
            None => {
                let claims =
                    jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
                        .ok()?
                        .claims;
                lock(&self.verified).put(token.to_owned(), claims.clone());
                claims
            }
        };
        // As jsonwebtoken has it with no leeway: expired once `exp` is in the past.
        (claims.exp >= Utc::now().timestamp()).then_some(claims)
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
        let (id, session) = (CustomerId::generate(), SessionId::generate());
        let issued = keys.issue_customer(id, session).unwrap();
        let claims = keys.verify(&issued.token).unwrap();
        assert_eq!(claims.sub, id.to_string());
        assert_eq!(claims.role, Role::Customer);
        assert_eq!(claims.sid, Some(session.to_string()));
        assert_eq!(claims.jti, None);
        assert_eq!(claims.exp, issued.expires_at.timestamp());
        let admin = keys.verify(&keys.issue_admin(Duration::from_secs(60)).unwrap().token);
        assert!(admin.unwrap().jti.is_some(), "admin tokens have an id");
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let keys = keys("0123456789abcdef0123456789abcdef");
        let now = Utc::now().timestamp();
        let claims = |exp| Claims {
            sub: "admin".to_owned(),
            role: Role::Admin,
            iat: now - 10,
            exp,
            iss: "customer-api".to_owned(),
            sid: None,
            jti: Some("j".to_owned()),
        };
        let token = keys.issue(claims(now + 1)).unwrap().token;
        assert!(keys.verify(&token).is_some());
        assert!(
            lock(&keys.verified).contains(&token),
            "a verified token is remembered"
        );
        // The same text with a claim changed in the cache stands for a token past its expiry.
        lock(&keys.verified).put(token.clone(), claims(now - 1));
        assert!(
            keys.verify(&token).is_none(),
            "expiry is checked on every use"
        );
    }

    #[test]
    fn the_remembered_tokens_are_bounded() {
        let keys = keys("0123456789abcdef0123456789abcdef");
        for _ in 0..=VERIFIED_TOKENS.get() {
            let token = keys.issue_admin(Duration::from_secs(60)).unwrap().token;
            assert!(keys.verify(&token).is_some());
        }
        assert_eq!(lock(&keys.verified).len(), VERIFIED_TOKENS.get());
    }

    #[test]
    fn tokens_that_fail_are_not_remembered() {
        let keys = keys("0123456789abcdef0123456789abcdef");
        let token = keys.issue_admin(Duration::from_secs(60)).unwrap().token;
        let forged = format!("{}x", &token);
        assert!(keys.verify(&forged).is_none());
        assert!(keys.verify("not a token").is_none());
        assert_eq!(lock(&keys.verified).len(), 0);
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

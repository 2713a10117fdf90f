//! bcrypt hashing and verification, off the async executor and bounded: at most one bcrypt
//! job per core runs at a time, so logins can never take every blocking thread from queries.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::{blocking, domain::Password, error::AppError};

/// A stored bcrypt hash. Its Debug output is redacted so that it cannot reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a hash read back from the database.
    pub fn from_stored(hash: String) -> Self {
        Self(hash)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// Verified against when the email is unknown or has no password, so that the answer
    /// takes as long as a real check and does not reveal which emails exist.
    dummy: PasswordHash,
}

impl PasswordHasher {
    pub fn new(cost: u32) -> Result<Self, bcrypt::BcryptError> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let dummy = bcrypt::hash("not the password of anyone", cost)?;
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(cores)),
            dummy: PasswordHash(dummy),
        })
    }

    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, AppError> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        let (password, cost) = (password.clone(), self.cost);
        blocking::run(move || {
            bcrypt::hash(password.expose(), cost)
                .map(PasswordHash)
                .map_err(AppError::internal)
        })
        .await
    }

    /// Whether `password` matches `stored`; with no stored hash, burns the same time and
    /// answers false.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<PasswordHash>,
    ) -> Result<bool, AppError> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        let password = password.clone();
        let (hash, real) = match stored {
            Some(hash) => (hash, true),
            None => (self.dummy.clone(), false),
        };
        blocking::run(move || {
            let matches = bcrypt::verify(password.expose(), hash.as_str()).unwrap_or(false);
            Ok(real && matches)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_missing_hashes_never_match() {
        let hasher = PasswordHasher::new(4).unwrap();
        let password = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hasher.verify(&password, Some(hash.clone())).await.unwrap());
        let wrong = Password::parse("wrong horse").unwrap();
        assert!(!hasher.verify(&wrong, Some(hash)).await.unwrap());
        let dummy_password = Password::parse("not the password of anyone").unwrap();
        assert!(!hasher.verify(&dummy_password, None).await.unwrap());
    }
}

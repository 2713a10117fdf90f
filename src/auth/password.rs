//! bcrypt hashing and verification, off the async executor, on threads of their own: at most
//! one per core, at the lowest scheduling priority. Logins then use the CPU that other requests
//! leave, and can never take the blocking threads that database queries run on.
//!
//! The work admitted is bounded too: past a number of jobs running or waiting, more are
//! refused at once (SERVICE_UNAVAILABLE with `retryAfter`) instead of queueing without end.
//! Hashing (sign-ups, password changes) may fill only half of the slots, so a flood of
//! sign-ups cannot keep customers from logging in.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, LazyLock,
};

use tokio::runtime::{Builder, Runtime};
use tracing::Instrument;

use crate::{domain::Password, error::AppError};

/// The process's bcrypt threads. A static: it lives as long as the process, whichever
/// runtime the requests come from.
static BCRYPT_THREADS: LazyLock<Runtime> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(cores)
        .thread_name("bcrypt")
        .on_thread_start(|| {
            // Best effort: without the right to lower priority, bcrypt still runs, bounded.
            let _ =
                thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min);
        })
        .build()
        .expect("the bcrypt threads start")
});

/// Runs bcrypt work on the bcrypt threads, inside the caller's tracing span.
async fn on_bcrypt_threads<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let span = tracing::Span::current();
    BCRYPT_THREADS
        .spawn_blocking(move || span.in_scope(work))
        .in_current_span()
        .await
        .map_err(AppError::internal)?
}

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
    /// Verified against when the email is unknown or has no password, so that the answer
    /// takes as long as a real check and does not reveal which emails exist.
    dummy: PasswordHash,
    jobs: Arc<Jobs>,
}

/// bcrypt jobs running or waiting, and how many may be.
struct Jobs {
    admitted: AtomicUsize,
    max: usize,
}

/// A place among the admitted jobs, given back when the job ends (or is never run).
struct Slot(Arc<Jobs>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    /// `max_jobs`: bcrypt jobs running or waiting at once, at most (at least 2).
    pub fn new(cost: u32, max_jobs: usize) -> Result<Self, bcrypt::BcryptError> {
        let dummy = bcrypt::hash("not the password of anyone", cost)?;
        Ok(Self {
            cost,
            dummy: PasswordHash(dummy),
            jobs: Arc::new(Jobs {
                admitted: AtomicUsize::new(0),
                max: max_jobs.max(2),
            }),
        })
    }

    /// A slot for one job, if fewer than `limit` are admitted.
    fn admit(&self, limit: usize) -> Result<Slot, AppError> {
        let admitted = self
            .jobs
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            });
        match admitted {
            Ok(_) => Ok(Slot(Arc::clone(&self.jobs))),
            Err(_) => {
                tracing::warn!(limit, "password work refused: too many jobs queued");
                Err(AppError::Overloaded {
                    retry_after_secs: 1,
                })
            }
        }
    }

    /// Refuses at once when the password checks admitted are at their limit already: asked
    /// before a login's database work, so that a login that could not be checked anyway
    /// costs no database writes (a flood of them would slow every other request).
    pub fn check_room(&self) -> Result<(), AppError> {
        if self.jobs.admitted.load(Ordering::Acquire) < self.jobs.max {
            Ok(())
        } else {
            Err(AppError::Overloaded {
                retry_after_secs: 1,
            })
        }
    }

    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, AppError> {
        let slot = self.admit(self.jobs.max / 2)?;
        let (password, cost) = (password.clone(), self.cost);
        on_bcrypt_threads(move || {
            let _slot = slot;
            bcrypt::hash(password.expose(), cost)
                .map(PasswordHash)
                .map_err(AppError::internal)
        })
        .await
    }

    /// Whether `password` matches `stored`; with no stored hash, burns the same time and
    /// answers false.
    pub async fn verify(
        &self, password: &Password, stored: Option<PasswordHash>,
    ) -> Result<bool, AppError> {
        let slot = self.admit(self.jobs.max)?;
        let password = password.clone();
        let (hash, real) = match stored {
            Some(hash) => (hash, true),
            None => (self.dummy.clone(), false),
        };
        on_bcrypt_threads(move || {
            let _slot = slot;
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
        let hasher = PasswordHasher::new(4, 8).unwrap();
        let password = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hasher.verify(&password, Some(hash.clone())).await.unwrap());
        let wrong = Password::parse("wrong horse").unwrap();
        assert!(!hasher.verify(&wrong, Some(hash)).await.unwrap());
        let dummy_password = Password::parse("not the password of anyone").unwrap();
        assert!(!hasher.verify(&dummy_password, None).await.unwrap());
    }
}

#[cfg(test)]
mod admission {
    use super::*;

    #[test]
    fn hashing_takes_half_the_slots_and_checks_the_rest() {
        let hasher = PasswordHasher::new(4, 4).unwrap();
        let hashing: Vec<Slot> = (0..2).map(|_| hasher.admit(2).unwrap()).collect();
        assert!(hasher.admit(2).is_err(), "hashing is full at half");
        let checking: Vec<Slot> = (0..2).map(|_| hasher.admit(4).unwrap()).collect();
        assert!(matches!(
            hasher.admit(4),
            Err(AppError::Overloaded {
                retry_after_secs: 1
            })
        ));
        assert!(hasher.check_room().is_err(), "no room for a login's check");
        drop(hashing);
        assert!(hasher.check_room().is_ok());
        drop(checking);
        assert_eq!(hasher.jobs.admitted.load(Ordering::Acquire), 0);
    }
}

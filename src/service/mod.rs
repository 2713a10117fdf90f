//! The customer operations and the access rules of the contract, independent of the backend
//! and of GraphQL. Inputs arrive parsed (see [`crate::domain`]); every database call goes
//! through [`crate::blocking::run`].

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use chrono::{DateTime, SubsecRound, Utc};

use crate::{
    auth::{PasswordHasher, TokenKeys},
    blocking,
    db::{PoolState, Store},
    error::AppError,
    metrics::Metrics,
};

mod customers;
mod listing;
mod login;

pub use customers::{CustomerChanges, NewCustomer};
pub use listing::{CursorCodec, Page, PageRequest};
pub use login::{LoginSession, LoginThrottle};

/// Rules that operators can change.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Whether callers without an admin token may create (sign up) customers.
    pub allow_signup: bool,
    pub login_throttle: LoginThrottle,
}

pub struct CustomerService {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    tokens: Arc<TokenKeys>,
    cursors: CursorCodec,
    policy: Policy,
    metrics: Arc<Metrics>,
    /// Database calls waiting for a blocking thread.
    queued: Arc<AtomicUsize>,
}

impl CustomerService {
    pub fn new(
        store: Arc<dyn Store>,
        hasher: PasswordHasher,
        tokens: Arc<TokenKeys>,
        cursors: CursorCodec,
        policy: Policy,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            hasher,
            tokens,
            cursors,
            policy,
            metrics,
            queued: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The database pool's state, counting as waiting both the calls queued for a blocking
    /// thread (there are only as many as connections) and those waiting in the pool itself.
    pub fn pool_state(&self) -> PoolState {
        let mut state = self.store.pool_state();
        state.waiting += self.queued.load(Ordering::Relaxed);
        state
    }

    /// Whether the database answers, for readiness checks.
    pub async fn database_ready(&self) -> bool {
        self.with_store(|store| store.ping()).await.is_ok()
    }

    /// Runs blocking store calls off the async executor.
    async fn with_store<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&dyn Store) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let store = Arc::clone(&self.store);
        let queued = Arc::clone(&self.queued);
        queued.fetch_add(1, Ordering::Relaxed);
        // A spawned blocking call always runs, even if its request goes away, so the count
        // always comes down.
        blocking::run(move || {
            queued.fetch_sub(1, Ordering::Relaxed);
            work(store.as_ref())
        })
        .await
    }
}

/// The current time at the precision both databases store (microseconds), so that a
/// timestamp a client reads back compares equal to the stored one.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

//! The customer operations and the access rules of the contract, independent of the backend
//! and of GraphQL. Inputs arrive parsed (see [`crate::domain`]); every database call goes
//! through [`crate::blocking::run`].

use std::{sync::Arc, time::Duration};

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
        }
    }

    /// The database pool's state, for metrics.
    pub fn pool_state(&self) -> PoolState {
        self.store.pool_state()
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
        blocking::run(move || work(store.as_ref())).await
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

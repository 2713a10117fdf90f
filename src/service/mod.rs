//! The customer operations and the access rules of the contract, independent of the backend
//! and of GraphQL. Inputs arrive parsed (see [`crate::domain`]); every database call goes
//! through [`crate::blocking::run`].

use std::{
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::Semaphore;

use crate::{
    auth::{PasswordHasher, TokenKeys},
    blocking,
    db::{PoolState, Store},
    error::AppError,
    mail::Mailer,
    metrics::Metrics,
};

mod access;
mod accounts;
mod customers;
mod housekeeping;
mod idempotency;
mod listing;
mod live;
mod login;
mod sessions;

pub use accounts::AccountLinks;
pub use customers::{CustomerChanges, NewCustomer};
pub use housekeeping::housekeeping;
pub use idempotency::RequestHasher;
pub use listing::{CursorCodec, Page, PageRequest};
pub use live::LiveChange;
pub use login::{LoginThrottle, NewLogin};
pub use sessions::{IssuedSession, SessionLifetimes};

/// Rules that operators can change.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Whether callers without an admin token may create (sign up) customers.
    pub allow_signup: bool,
    /// Limits on failed logins, and on requests for password-reset and verification mail.
    pub login_throttle: LoginThrottle,
    pub lifetimes: SessionLifetimes,
    /// The pages of the client app that mailed links open.
    pub links: AccountLinks,
    /// How long a known revocation of admin tokens is trusted before the database is asked
    /// again: an admin token revoked on another instance stops working within this.
    pub admin_revocation_check: Duration,
}

/// Mail jobs running or waiting at once, at most; more are dropped (and logged): a flood of
/// reset requests cannot queue work without end.
const MAX_BACKGROUND_JOBS: usize = 64;

pub struct CustomerService {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    tokens: Arc<TokenKeys>,
    cursors: CursorCodec,
    /// Fingerprints of `createCustomer` requests with an `Idempotency-Key`.
    requests: RequestHasher,
    policy: Policy,
    metrics: Arc<Metrics>,
    mailer: Arc<Mailer>,
    /// Database calls waiting for a blocking thread.
    queued: Arc<AtomicUsize>,
    /// Mail jobs in flight.
    jobs: Arc<Semaphore>,
    /// The admin-token revocation last read, and when.
    admin_cutoff: Mutex<Option<(Instant, Option<DateTime<Utc>>)>>,
    /// This instance's live-update subscribers.
    live: Arc<live::LiveUpdates>,
}

/// What the service is built from.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub hasher: PasswordHasher,
    pub tokens: Arc<TokenKeys>,
    pub cursors: CursorCodec,
    pub requests: RequestHasher,
    pub policy: Policy,
    pub metrics: Arc<Metrics>,
    pub mailer: Arc<Mailer>,
}

impl CustomerService {
    pub fn new(parts: Parts) -> Self {
        Self {
            store: parts.store,
            hasher: parts.hasher,
            tokens: parts.tokens,
            cursors: parts.cursors,
            requests: parts.requests,
            policy: parts.policy,
            metrics: parts.metrics,
            mailer: parts.mailer,
            queued: Arc::new(AtomicUsize::new(0)),
            jobs: Arc::new(Semaphore::new(MAX_BACKGROUND_JOBS)),
            admin_cutoff: Mutex::new(None),
            live: Arc::default(),
        }
    }

    /// The database pool's state, counting as waiting both the calls queued for a blocking
    /// thread (there are only as many as connections) and those waiting in the pool itself.
    pub fn pool_state(&self) -> PoolState {
        let mut state = self.store.pool_state();
        state.waiting += self.queued.load(Ordering::Relaxed);
        state
    }

    /// How many subscriptions are open on this instance (each is listening once counted).
    pub fn live_subscriptions(&self) -> usize {
        self.live.count()
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
        run_on_store(&self.store, &self.queued, work).await
    }

    /// Runs `job` in the background (mail, which must not slow or reveal anything in the
    /// request that caused it), unless too many are in flight already.
    fn spawn_job(&self, name: &'static str, job: impl Future<Output = ()> + Send + 'static) {
        match Arc::clone(&self.jobs).try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    job.await;
                    drop(permit);
                });
            }
            Err(_) => tracing::warn!(job = name, "background job dropped: too many in flight"),
        }
    }
}

async fn run_on_store<T, F>(
    store: &Arc<dyn Store>, queued: &Arc<AtomicUsize>, work: F,
) -> Result<T, AppError>
where
    F: FnOnce(&dyn Store) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let (store, queued) = (Arc::clone(store), Arc::clone(queued));
    queued.fetch_add(1, Ordering::Relaxed);
    // A spawned blocking call always runs, even if its request goes away, so the count
    // always comes down.
    blocking::run(move || {
        queued.fetch_sub(1, Ordering::Relaxed);
        work(store.as_ref())
    })
    .await
}

/// The current time at the precision both databases store (microseconds), so that a
/// timestamp a client reads back compares equal to the stored one.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

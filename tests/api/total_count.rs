//! `totalCount` is computed only when the client selects it: a store that counts its calls
//! sits under the real service and schema.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use chrono::{DateTime, Utc};
use customer_api::{
    auth::{Caller, PasswordHasher, TokenKeys},
    db::{self, CustomerFilter, CustomerRecord, Store},
    domain::{CustomerId, SessionId, TokenHash},
    error::AppError,
    graphql,
    mail::Mailer,
    metrics::Metrics,
    service::{CursorCodec, CustomerService, Parts, RequestHasher},
};
use secrecy::SecretSlice;

use crate::helpers::{test_settings, TempDir, SECRET};

/// Delegates to a real store and counts `count_customers` calls.
struct CountingStore {
    inner: Arc<dyn Store>,
    counts: AtomicUsize,
}

impl Store for CountingStore {
    fn ping(&self) -> Result<(), AppError> {
        self.inner.ping()
    }
    fn pool_state(&self) -> db::PoolState {
        self.inner.pool_state()
    }
    fn insert_customer(&self, customer: &CustomerRecord) -> Result<(), AppError> {
        self.inner.insert_customer(customer)
    }
    fn find_customer(&self, id: CustomerId) -> Result<Option<CustomerRecord>, AppError> {
        self.inner.find_customer(id)
    }
    fn list_customers(&self, query: &db::ListQuery) -> Result<Vec<CustomerRecord>, AppError> {
        self.inner.list_customers(query)
    }
    fn count_customers(&self, filter: &CustomerFilter) -> Result<i64, AppError> {
        self.counts.fetch_add(1, Ordering::SeqCst);
        self.inner.count_customers(filter)
    }
    fn find_customer_by_email(&self, email: &str) -> Result<Option<CustomerRecord>, AppError> {
        self.inner.find_customer_by_email(email)
    }
    fn update_customer(
        &self, update: &db::CustomerUpdate,
    ) -> Result<db::Written<CustomerRecord>, AppError> {
        self.inner.update_customer(update)
    }
    fn delete_customer(
        &self, id: CustomerId, guard: db::WriteGuard,
    ) -> Result<db::Written<()>, AppError> {
        self.inner.delete_customer(id, guard)
    }
    fn find_customer_in_session(
        &self, id: CustomerId, session: SessionId, now: DateTime<Utc>,
    ) -> Result<Option<CustomerRecord>, AppError> {
        self.inner.find_customer_in_session(id, session, now)
    }
    fn admit_attempt(&self, window: &db::AttemptWindow) -> Result<db::Admission, AppError> {
        self.inner.admit_attempt(window)
    }
    fn forget_attempt(&self, attempt: db::AttemptId) -> Result<(), AppError> {
        self.inner.forget_attempt(attempt)
    }
    fn create_session(
        &self, session: &db::SessionRecord, refresh_hash: &TokenHash,
    ) -> Result<(), AppError> {
        self.inner.create_session(session, refresh_hash)
    }
    fn refresh_session(&self, request: &db::RefreshRequest) -> Result<db::Rotation, AppError> {
        self.inner.refresh_session(request)
    }
    fn list_sessions(
        &self, customer: CustomerId, now: DateTime<Utc>,
    ) -> Result<Vec<db::SessionRecord>, AppError> {
        self.inner.list_sessions(customer, now)
    }
    fn end_sessions(&self, which: db::SessionsOf) -> Result<usize, AppError> {
        self.inner.end_sessions(which)
    }
    fn insert_account_token(
        &self, hash: &TokenHash, token: &db::AccountToken,
    ) -> Result<(), AppError> {
        self.inner.insert_account_token(hash, token)
    }
    fn take_account_token(
        &self, hash: &TokenHash, purpose: db::Purpose, now: DateTime<Utc>,
    ) -> Result<Option<db::AccountToken>, AppError> {
        self.inner.take_account_token(hash, purpose, now)
    }
    fn account_token_customer(
        &self, hash: &TokenHash, purpose: db::Purpose, now: DateTime<Utc>,
    ) -> Result<Option<CustomerId>, AppError> {
        self.inner.account_token_customer(hash, purpose, now)
    }
    fn reset_password(
        &self, reset: &db::PasswordReset,
    ) -> Result<Option<CustomerRecord>, AppError> {
        self.inner.reset_password(reset)
    }
    fn verify_email(
        &self, customer: CustomerId, email: &str, at: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        self.inner.verify_email(customer, email, at)
    }
    fn claim_idempotency_key(
        &self, key: &str, request_hash: &[u8; 32], now: DateTime<Utc>,
    ) -> Result<db::KeyClaim, AppError> {
        self.inner.claim_idempotency_key(key, request_hash, now)
    }
    fn finish_idempotency_key(&self, key: &str, response: &str) -> Result<(), AppError> {
        self.inner.finish_idempotency_key(key, response)
    }
    fn release_idempotency_key(&self, key: &str) -> Result<(), AppError> {
        self.inner.release_idempotency_key(key)
    }
    fn admin_token_cutoff(&self) -> Result<Option<DateTime<Utc>>, AppError> {
        self.inner.admin_token_cutoff()
    }
    fn revoke_admin_tokens(&self, before: DateTime<Utc>) -> Result<(), AppError> {
        self.inner.revoke_admin_tokens(before)
    }
    fn prune(
        &self, what: db::Expiring, before: DateTime<Utc>, batch: i64,
    ) -> Result<usize, AppError> {
        self.inner.prune(what, before, batch)
    }

    fn announce_changes(&self, feed: Arc<db::ChangeFeed>) {
        self.inner.announce_changes(feed)
    }

    fn live_sessions(
        &self, candidates: &[SessionId], now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, AppError> {
        self.inner.live_sessions(candidates, now)
    }

    fn customers_changed_since(
        &self, since: DateTime<Utc>, limit: i64,
    ) -> Result<Vec<CustomerRecord>, AppError> {
        self.inner.customers_changed_since(since, limit)
    }
}

#[actix_web::test]
async fn total_count_is_computed_only_when_selected() {
    let data = TempDir::new();
    let mut settings = test_settings();
    settings.mail.outbox = data.path().join("outbox");
    let backend = db::Backend::Sqlite {
        path: data.path().join("customers.sqlite3"),
    };
    let store = Arc::new(CountingStore {
        inner: db::open(&backend, &settings.storage.pool, db::SchemaPolicy::Migrate).unwrap(),
        counts: AtomicUsize::new(0),
    });
    let secret = SecretSlice::from(SECRET.to_vec());
    let service = CustomerService::new(Parts {
        store: store.clone(),
        hasher: PasswordHasher::new(4, 8).unwrap(),
        tokens: Arc::new(TokenKeys::new(&secret, "customer-api", settings.token_ttl)),
        cursors: CursorCodec::new(&secret),
        requests: RequestHasher::new(&secret),
        policy: settings.policy.clone(),
        metrics: Arc::new(Metrics::default()),
        mailer: Arc::new(Mailer::new(&settings.mail).unwrap()),
    });
    let schema = graphql::build_schema(Arc::new(service), true);
    let run = |query: &'static str| {
        let schema = schema.clone();
        async move {
            let response = schema
                .execute(async_graphql::Request::new(query).data(Caller::Admin {
                    issued_at: Utc::now(),
                }))
                .await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
        }
    };
    run("{ customers { nodes { customerId name } } }").await;
    run("{ customers { edges { cursor } pageInfo { hasNextPage } } }").await;
    assert_eq!(
        store.counts.load(Ordering::SeqCst),
        0,
        "no count unless asked"
    );
    run("{ customers { totalCount } }").await;
    run("{ customers { ...counted } } fragment counted on CustomerConnection { totalCount }").await;
    assert_eq!(store.counts.load(Ordering::SeqCst), 2);
}

//! `totalCount` is computed only when the client selects it: a store that counts its calls
//! sits under the real service and schema.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use customer_api::{
    auth::{Caller, PasswordHasher, TokenKeys},
    db::{self, CustomerFilter, CustomerRecord, Store},
    domain::CustomerId,
    error::AppError,
    graphql,
    metrics::Metrics,
    service::{CursorCodec, CustomerService},
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
        &self,
        update: &db::CustomerUpdate,
    ) -> Result<db::Written<CustomerRecord>, AppError> {
        self.inner.update_customer(update)
    }
    fn delete_customer(
        &self,
        id: CustomerId,
        guard: db::WriteGuard,
    ) -> Result<db::Written<()>, AppError> {
        self.inner.delete_customer(id, guard)
    }
    fn admit_login_attempt(
        &self,
        window: &db::AttemptWindow<'_>,
    ) -> Result<db::Admission, AppError> {
        self.inner.admit_login_attempt(window)
    }
    fn forget_login_attempt(&self, attempt: db::AttemptId) -> Result<(), AppError> {
        self.inner.forget_login_attempt(attempt)
    }
}

#[actix_web::test]
async fn total_count_is_computed_only_when_selected() {
    let data = TempDir::new();
    let settings = test_settings();
    let backend = db::Backend::Sqlite {
        path: data.path().join("customers.sqlite3"),
    };
    let store = Arc::new(CountingStore {
        inner: db::open(&backend, &settings.storage.pool).unwrap(),
        counts: AtomicUsize::new(0),
    });
    let secret = SecretSlice::from(SECRET.to_vec());
    let service = CustomerService::new(
        store.clone(),
        PasswordHasher::new(4, 8).unwrap(),
        Arc::new(TokenKeys::new(&secret, "customer-api", settings.token_ttl)),
        CursorCodec::new(&secret),
        settings.policy.clone(),
        Arc::new(Metrics::default()),
    );
    let schema = graphql::build_schema(Arc::new(service), true);
    let run = |query: &'static str| {
        let schema = schema.clone();
        async move {
            let response = schema
                .execute(async_graphql::Request::new(query).data(Caller::Admin))
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

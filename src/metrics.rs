//! Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format.

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::db::PoolState;

/// The labels of a GraphQL request: its root field and how it ended. Both come from bounded
/// sets (the schema's root fields and `invalid`, the error codes and `ok`), never from names
/// a client made up: the types say so.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub operation: &'static str,
    pub outcome: &'static str,
}

/// Whether a mail went out.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MailLabels {
    pub outcome: &'static str,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    failed_logins: Counter,
    rate_limited_logins: Counter,
    refresh_token_reuses: Counter,
    mails: Family<MailLabels, Counter>,
    pool_connections: Gauge,
    pool_idle: Gauge,
    pool_waiting: Gauge,
    live_subscriptions: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("customer_api");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "graphql_requests",
            "GraphQL requests by root field and outcome",
            requests.clone(),
        );
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
        });
        registry.register(
            "graphql_request_duration_seconds",
            "GraphQL request latency by root field and outcome",
            latency.clone(),
        );
        let failed_logins = Counter::default();
        registry.register(
            "failed_logins",
            "Logins refused for a wrong email or password",
            failed_logins.clone(),
        );
        let rate_limited_logins = Counter::default();
        registry.register(
            "rate_limited_logins",
            "Logins refused by the failed-login throttle",
            rate_limited_logins.clone(),
        );
        let refresh_token_reuses = Counter::default();
        registry.register(
            "refresh_token_reuses",
            "Spent refresh tokens presented again (each ended its session)",
            refresh_token_reuses.clone(),
        );
        let mails = Family::<MailLabels, Counter>::default();
        registry.register(
            "mails",
            "Mails sent or failed (password resets and verifications)",
            mails.clone(),
        );
        let pool_connections = Gauge::default();
        registry.register(
            "db_pool_connections",
            "Database connections open",
            pool_connections.clone(),
        );
        let pool_idle = Gauge::default();
        registry.register(
            "db_pool_idle_connections",
            "Database connections idle",
            pool_idle.clone(),
        );
        let pool_waiting = Gauge::default();
        registry.register(
            "db_pool_waiting_requests",
            "Requests waiting for a database connection",
            pool_waiting.clone(),
        );
        let live_subscriptions = Gauge::default();
        registry.register(
            "live_subscriptions",
            "Subscriptions open on this instance",
            live_subscriptions.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            failed_logins,
            rate_limited_logins,
            refresh_token_reuses,
            mails,
            pool_connections,
            pool_idle,
            pool_waiting,
            live_subscriptions,
        }
    }
}

impl Metrics {
    pub fn observe_request(&self, labels: RequestLabels, seconds: f64) {
        self.latency.get_or_create(&labels).observe(seconds);
        self.requests.get_or_create(&labels).inc();
    }

    pub fn failed_login(&self) {
        self.failed_logins.inc();
    }

    pub fn rate_limited_login(&self) {
        self.rate_limited_logins.inc();
    }

    pub fn refresh_token_reused(&self) {
        self.refresh_token_reuses.inc();
    }

    pub fn mail(&self, sent: bool) {
        let outcome = if sent { "sent" } else { "failed" };
        self.mails.get_or_create(&MailLabels { outcome }).inc();
    }

    /// The text exposition, with the pool and subscription gauges read now.
    pub fn render(&self, pool: PoolState, live_subscriptions: usize) -> String {
        self.live_subscriptions
            .set(i64::try_from(live_subscriptions).unwrap_or(i64::MAX));
        self.pool_connections.set(pool.connections.into());
        self.pool_idle.set(pool.idle.into());
        self.pool_waiting
            .set(i64::try_from(pool.waiting).unwrap_or(i64::MAX));
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

//! The connection pool both backends share: r2d2 with a bounded wait, start-up retries, a
//! count of waiting requests for metrics, and eviction of connections that were lost.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use diesel::r2d2::{
    self, ConnectionManager, CustomizeConnection, ManageConnection, R2D2Connection,
};

use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_size: u32,
    /// How long a request waits for a connection before SERVICE_UNAVAILABLE.
    pub timeout: Duration,
    /// How long start-up keeps retrying an unreachable database.
    pub connect_timeout: Duration,
}

/// A snapshot for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolState {
    pub connections: u32,
    pub idle: u32,
    pub waiting: usize,
}

/// A pooled connection that remembers whether it was lost, so that the pool drops it
/// instead of handing it out again (Diesel cannot tell a dead PostgreSQL socket by itself).
pub struct Tracked<C> {
    conn: C,
    lost: bool,
}

impl<C> Tracked<C> {
    pub fn connection(&mut self) -> &mut C {
        &mut self.conn
    }
}

pub struct TrackedManager<C: R2D2Connection + 'static>(ConnectionManager<C>);

impl<C: R2D2Connection + Send + 'static> ManageConnection for TrackedManager<C> {
    type Connection = Tracked<C>;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Tracked<C>, r2d2::Error> {
        self.0.connect().map(|conn| Tracked { conn, lost: false })
    }

    fn is_valid(&self, tracked: &mut Tracked<C>) -> Result<(), r2d2::Error> {
        self.0.is_valid(&mut tracked.conn)
    }

    fn has_broken(&self, tracked: &mut Tracked<C>) -> bool {
        tracked.lost || self.0.has_broken(&mut tracked.conn)
    }
}

/// libpq's messages span lines; logs and start-up errors want one.
fn one_line(error: &impl std::fmt::Display) -> String {
    error
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// r2d2 logs every failed connection attempt as an error; during an outage that is a flood.
/// Requests that fail are logged once each (see `crate::error`), so these go to debug.
#[derive(Debug)]
struct QuietErrors;

impl r2d2::HandleError<r2d2::Error> for QuietErrors {
    fn handle_error(&self, error: r2d2::Error) {
        tracing::debug!(error = %one_line(&error), "database connection attempt failed");
    }
}

/// Settings applied to each new connection.
pub type Customizer<C> = Box<dyn CustomizeConnection<Tracked<C>, r2d2::Error>>;

pub struct Pool<C: R2D2Connection + Send + 'static> {
    pool: r2d2::Pool<TrackedManager<C>>,
    waiting: AtomicUsize,
}

impl<C: R2D2Connection + Send + 'static> Pool<C> {
    /// Opens the pool, retrying with backoff while the database cannot be reached, for at
    /// most `settings.connect_timeout`.
    pub fn open(
        url: &str, settings: &PoolSettings, customizer: impl Fn() -> Option<Customizer<C>>,
        what: &str,
    ) -> anyhow::Result<Self> {
        let deadline = Instant::now() + settings.connect_timeout;
        let mut delay = Duration::from_millis(250);
        loop {
            let mut builder = r2d2::Pool::builder()
                .max_size(settings.max_size)
                .connection_timeout(settings.timeout)
                // A lost connection is noticed when its query fails; a test query before
                // every checkout would cost a round trip per request.
                .test_on_check_out(false)
                .error_handler(Box::new(QuietErrors));
            if let Some(customizer) = customizer() {
                builder = builder.connection_customizer(customizer);
            }
            match builder.build(TrackedManager(ConnectionManager::new(url))) {
                Ok(pool) => {
                    return Ok(Self {
                        pool,
                        waiting: AtomicUsize::new(0),
                    })
                }
                Err(error) if Instant::now() + delay < deadline => {
                    let error = one_line(&error);
                    tracing::warn!(%error, retry_in = ?delay, "cannot reach {what} yet");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(error) => anyhow::bail!(
                    "cannot connect to {what} within {:?}: {}",
                    settings.connect_timeout,
                    one_line(&error)
                ),
            }
        }
    }

    /// Runs `work` on a pooled connection. A connection found lost is dropped afterwards.
    pub fn run<T>(&self, work: impl FnOnce(&mut C) -> Result<T, AppError>) -> Result<T, AppError> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let checkout = self.pool.get();
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let mut tracked = checkout?;
        let result = work(&mut tracked.conn);
        if matches!(result, Err(AppError::Unavailable(_))) {
            tracked.lost = true;
        }
        result
    }

    pub fn state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }
}

//! Housekeeping: expired sessions and mailed tokens, attempts out of every window and
//! day-old idempotency keys are removed in the background, a bounded batch of each per pass,
//! so that no pass holds the database for long.

use std::{sync::Arc, time::Duration};

use super::{chrono_duration, now, CustomerService};
use crate::{db::Expiring, error::AppError};

/// Rows removed per table and pass, at most.
const BATCH: i64 = 1000;

/// Prunes every `interval`, for as long as the runtime runs.
pub async fn housekeeping(service: Arc<CustomerService>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = service.prune().await {
            error.log();
        }
    }
}

impl CustomerService {
    /// One pass: at most [`BATCH`] rows of each kind.
    pub async fn prune(&self) -> Result<(), AppError> {
        let at = now();
        let attempts_before = at - chrono_duration(self.policy.login_throttle.window);
        let keys_before = at - chrono::Duration::hours(24);
        for what in Expiring::ALL {
            let before = match what {
                Expiring::Sessions | Expiring::AccountTokens => at,
                Expiring::Attempts => attempts_before,
                Expiring::IdempotencyKeys => keys_before,
            };
            let removed = self
                .with_store(move |store| store.prune(what, before, BATCH))
                .await?;
            if removed > 0 {
                tracing::info!(table = what.table_and_column().0, removed, "pruned");
            }
        }
        Ok(())
    }
}

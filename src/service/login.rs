//! `authenticateCustomer`: bcrypt check, session token, and the failed-login throttle, kept
//! in the database so that it holds across server instances.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{chrono_duration, now, CustomerService};
use crate::{
    db::{Admission, AttemptId, AttemptWindow},
    domain::{ClientNetwork, CustomerId, Email, Password},
    error::{unauthenticated, AppError},
};

/// How many failed logins are allowed, per email address and per client address, within
/// a sliding window.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    pub max_failures_per_email: u32,
    pub max_failures_per_client: u32,
    pub window: Duration,
}

/// A successful login.
pub struct LoginSession {
    pub token: String,
    pub customer_id: CustomerId,
    pub expires_at: DateTime<Utc>,
}

impl CustomerService {
    /// Logs in. The attempt is counted before bcrypt runs (and forgotten if it succeeds), so
    /// parallel guesses for one email or from one client get no more password checks than
    /// the limit allows.
    pub async fn authenticate(
        &self,
        email: Email,
        password: Password,
        client: Option<ClientNetwork>,
    ) -> Result<LoginSession, AppError> {
        let throttle = self.policy.login_throttle.clone();
        let window = chrono_duration(throttle.window);
        let at = now();
        let email_key = email.key();
        let (admission, customer) = self
            .with_store(move |store| {
                let admission = store.admit_login_attempt(&AttemptWindow {
                    email_key: &email_key,
                    client,
                    at,
                    since: at - window,
                    email_limit: throttle.max_failures_per_email.into(),
                    client_limit: throttle.max_failures_per_client.into(),
                })?;
                let customer = match admission {
                    Admission::Admitted(_) => store.find_customer_by_email(email.as_str())?,
                    Admission::Refused(_) => None,
                };
                Ok((admission, customer))
            })
            .await?;
        let attempt = match admission {
            Admission::Admitted(attempt) => attempt,
            Admission::Refused(recent) => {
                let limits = &self.policy.login_throttle;
                let retry_after_secs = [
                    retry_after(&recent.for_email, limits.max_failures_per_email, window, at),
                    retry_after(
                        &recent.for_client,
                        limits.max_failures_per_client,
                        window,
                        at,
                    ),
                ]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(1);
                tracing::warn!(retry_after_secs, "login rate-limited");
                self.metrics.rate_limited_login();
                return Err(AppError::RateLimited { retry_after_secs });
            }
        };

        let stored_hash = customer.as_ref().and_then(|c| c.password_hash.clone());
        let verified = match self.hasher.verify(&password, stored_hash).await {
            Ok(verified) => verified,
            Err(error) => {
                // Not checked (too much password work queued): not a failure either.
                self.forget_attempt(attempt).await;
                return Err(error);
            }
        };
        match customer.filter(|_| verified) {
            Some(customer) => {
                self.forget_attempt(attempt).await;
                let issued = self
                    .tokens
                    .issue_customer(customer.id, customer.token_version)?;
                tracing::info!(customer_id = %customer.id, "login succeeded");
                Ok(LoginSession {
                    token: issued.token,
                    customer_id: customer.id,
                    expires_at: issued.expires_at,
                })
            }
            None => {
                tracing::info!("login failed");
                self.metrics.failed_login();
                Err(AppError::Unauthenticated(unauthenticated::BAD_CREDENTIALS))
            }
        }
    }

    /// Un-counts an attempt that was not a failure. If that cannot be done, the attempt
    /// stays counted until it leaves the window: the safe side.
    async fn forget_attempt(&self, attempt: AttemptId) {
        if let Err(error) = self
            .with_store(move |store| store.forget_login_attempt(attempt))
            .await
        {
            error.log();
        }
    }
}

/// Seconds until fewer than `limit` of `recent` (newest first, at most `limit` long) remain
/// inside the window; `None` when the limit is not reached.
fn retry_after(
    recent: &[DateTime<Utc>],
    limit: u32,
    window: chrono::Duration,
    at: DateTime<Utc>,
) -> Option<u64> {
    let limit = usize::try_from(limit).ok()?;
    if limit == 0 || recent.len() < limit {
        return None;
    }
    let oldest_counted = recent[limit - 1];
    let remaining = (oldest_counted + window - at).num_milliseconds().max(0);
    // Whole seconds, rounded up so that a client waiting this long is let through.
    Some(u64::try_from(remaining).unwrap_or(0).div_ceil(1000).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_counts_from_the_oldest_failure_that_holds_the_limit() {
        let at = Utc::now();
        let window = chrono::Duration::minutes(15);
        let minutes_ago = |m| at - chrono::Duration::minutes(m);
        let recent = [minutes_ago(1), minutes_ago(2), minutes_ago(10)];
        assert_eq!(retry_after(&recent[..2], 3, window, at), None);
        assert_eq!(retry_after(&recent, 3, window, at), Some(5 * 60));
        assert_eq!(retry_after(&recent, 2, window, at), Some(13 * 60));
    }
}

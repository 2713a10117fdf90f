//! `authenticateCustomer` and the throttle it shares with the mail requests: attempts are
//! counted in the database, so that the limits hold across server instances, and counted
//! before the work they guard, so that parallel attempts cannot slip past them.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{chrono_duration, now, sessions::IssuedSession, CustomerService};
use crate::{
    db::{Action, Admission, AttemptId, AttemptWindow, CustomerRecord, RecentAttempts},
    domain::{ClientNetwork, Email, Password},
    error::{unauthenticated, AppError},
};

/// How many attempts are allowed per email address and per client network within a sliding
/// window: failed logins, and requests for password-reset or verification mail.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    pub max_failures_per_email: u32,
    pub max_failures_per_client: u32,
    pub window: Duration,
}

/// A login as a client asks for it.
#[derive(Debug)]
pub struct NewLogin {
    pub email: Email,
    /// As typed: only more than bcrypt can read is refused before it is checked.
    pub password: Password,
    pub client: Option<ClientNetwork>,
    pub user_agent: Option<String>,
}

impl CustomerService {
    /// Logs in, starting a session. The attempt is counted before bcrypt runs (and forgotten
    /// if it succeeds), so parallel guesses for one email or from one client get no more
    /// password checks than the limit allows; when bcrypt has no room, nothing is counted.
    pub async fn authenticate(&self, login: NewLogin) -> Result<IssuedSession, AppError> {
        let NewLogin {
            email,
            password,
            client,
            user_agent,
        } = login;
        self.hasher.check_room()?;
        let window = self.attempt_window(Action::Login, email.key(), client);
        let (admission, customer) = self
            .with_store(move |store| {
                let admission = store.admit_attempt(&window)?;
                let customer = match admission {
                    Admission::Admitted(_) => store.find_customer_by_email(email.as_str())?,
                    Admission::Refused(_) => None,
                };
                Ok((admission, customer))
            })
            .await?;
        let attempt = self.admitted(admission)?;

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
                let issued = self.start_session(&customer, user_agent).await?;
                tracing::info!(customer_id = %customer.id, "login succeeded");
                Ok(issued)
            }
            None => {
                tracing::info!("login failed");
                self.metrics.failed_login();
                Err(AppError::Unauthenticated(unauthenticated::BAD_CREDENTIALS))
            }
        }
    }

    /// A new session of `customer`, stored, and its tokens.
    async fn start_session(
        &self, customer: &CustomerRecord, user_agent: Option<String>,
    ) -> Result<IssuedSession, AppError> {
        let (session, refresh) = self.new_session(customer.id, user_agent);
        let (stored, hash) = (session.clone(), refresh.hash());
        self.with_store(move |store| store.create_session(&stored, &hash))
            .await?;
        self.issue(session, refresh)
    }

    /// Admits one throttled attempt (counted, for a login, until forgotten), or refuses it
    /// with RATE_LIMITED.
    pub(super) async fn admit(
        &self, action: Action, email_key: String, client: Option<ClientNetwork>,
    ) -> Result<AttemptId, AppError> {
        let window = self.attempt_window(action, email_key, client);
        let admission = self
            .with_store(move |store| store.admit_attempt(&window))
            .await?;
        self.admitted(admission)
    }

    fn attempt_window(
        &self, action: Action, email_key: String, client: Option<ClientNetwork>,
    ) -> AttemptWindow {
        let throttle = &self.policy.login_throttle;
        let at = now();
        AttemptWindow {
            action,
            email_key,
            client,
            at,
            since: at - chrono_duration(throttle.window),
            email_limit: throttle.max_failures_per_email.into(),
            client_limit: throttle.max_failures_per_client.into(),
        }
    }

    fn admitted(&self, admission: Admission) -> Result<AttemptId, AppError> {
        match admission {
            Admission::Admitted(attempt) => Ok(attempt),
            Admission::Refused(recent) => {
                let retry_after_secs = self.retry_after(&recent);
                tracing::warn!(retry_after_secs, "attempt rate-limited");
                self.metrics.rate_limited_login();
                Err(AppError::RateLimited { retry_after_secs })
            }
        }
    }

    /// Seconds until both limits leave room again.
    fn retry_after(&self, recent: &RecentAttempts) -> u64 {
        let throttle = &self.policy.login_throttle;
        let (window, at) = (chrono_duration(throttle.window), now());
        [
            retry_after(
                &recent.for_email,
                throttle.max_failures_per_email,
                window,
                at,
            ),
            retry_after(
                &recent.for_client,
                throttle.max_failures_per_client,
                window,
                at,
            ),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(1)
    }

    /// Un-counts an attempt that was not a failure. If that cannot be done, the attempt
    /// stays counted until it leaves the window: the safe side.
    async fn forget_attempt(&self, attempt: AttemptId) {
        if let Err(error) = self
            .with_store(move |store| store.forget_attempt(attempt))
            .await
        {
            error.log();
        }
    }
}

/// Seconds until fewer than `limit` of `recent` (newest first, at most `limit` long) remain
/// inside the window; `None` when the limit is not reached.
fn retry_after(
    recent: &[DateTime<Utc>], limit: u32, window: chrono::Duration, at: DateTime<Utc>,
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

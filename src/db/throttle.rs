//! Admitting throttled actions: the attempts in a window, counted per email key and per
//! client network, and recorded before the slow or costly work they guard.

use chrono::{DateTime, Utc};

use crate::domain::ClientNetwork;

/// What is throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A login: counted until it succeeds (failed, or still checking its password).
    Login,
    /// A request for password-reset mail: always counted.
    PasswordReset,
    /// A request for verification mail: always counted.
    EmailVerification,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::PasswordReset => "reset",
            Self::EmailVerification => "verify",
        }
    }
}

/// Recent attempts, newest first, at most as many as the limit asked for.
#[derive(Debug, Default)]
pub struct RecentAttempts {
    pub for_email: Vec<DateTime<Utc>>,
    pub for_client: Vec<DateTime<Utc>>,
}

/// An attempt to admit at `at`: the attempts of the same action since `since` count against
/// the limits, per email key and per client network. A limit of 0 is none.
#[derive(Debug, Clone)]
pub struct AttemptWindow {
    pub action: Action,
    pub email_key: String,
    pub client: Option<ClientNetwork>,
    pub at: DateTime<Utc>,
    pub since: DateTime<Utc>,
    pub email_limit: i64,
    pub client_limit: i64,
}

impl AttemptWindow {
    /// Whether the attempts found leave no room for another.
    pub fn is_full(&self, recent: &RecentAttempts) -> bool {
        let full = |limit: i64, found: usize| {
            limit > 0 && i64::try_from(found).unwrap_or(i64::MAX) >= limit
        };
        full(self.email_limit, recent.for_email.len())
            || full(self.client_limit, recent.for_client.len())
    }
}

/// Whether an attempt may go ahead.
#[derive(Debug)]
pub enum Admission {
    /// Recorded already; a login counts as a failure until
    /// [`super::Store::forget_attempt`] says it was not one.
    Admitted(AttemptId),
    /// The limit is reached by these attempts.
    Refused(RecentAttempts),
}

/// An attempt recorded before its work ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptId(pub(super) i64);

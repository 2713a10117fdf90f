//! Sessions that apps keep: a short-lived access token that names its session, and a refresh
//! token that rotates on every use. Presenting a refresh token that was already rotated away
//! is reuse (a stolen copy, or the owner's copy after a thief used it): the whole session
//! ends, as the OAuth 2.0 security best practice describes.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{chrono_duration, now, CustomerService};
use crate::{
    auth::{Caller, Principal},
    db::{RefreshRequest, Rotation, SessionRecord, SessionsOf},
    domain::{CustomerId, SecretToken, SessionId},
    error::{unauthenticated, AppError},
};

/// How long each kind of token lives.
#[derive(Debug, Clone)]
pub struct SessionLifetimes {
    /// Access tokens (JWT): short, as they are checked without a revocation list.
    pub access: Duration,
    /// Refresh tokens, counted from the session's last refresh.
    pub refresh: Duration,
    /// The token in a password-reset mail.
    pub password_reset: Duration,
    /// The token in a verification mail.
    pub email_verification: Duration,
    /// A refresh token presented again within this long of its rotation lost a race with a
    /// request of its own session (two tabs refreshing at once): refused, but not taken for
    /// reuse.
    pub refresh_race_window: Duration,
}

/// A session just started or refreshed: the tokens its client keeps.
#[derive(Debug)]
pub struct IssuedSession {
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: SecretToken,
    pub session: SessionRecord,
}

impl CustomerService {
    /// A new session of `customer`, and its first refresh token.
    pub(super) fn new_session(
        &self, customer: CustomerId, user_agent: Option<String>,
    ) -> (SessionRecord, SecretToken) {
        let at = now();
        let session = SessionRecord {
            id: SessionId::generate(),
            customer_id: customer,
            user_agent,
            created_at: at,
            last_used_at: at,
            expires_at: at + chrono_duration(self.policy.lifetimes.refresh),
        };
        (session, SecretToken::generate())
    }

    /// The tokens of `session`, whose refresh token is `refresh_token`.
    pub(super) fn issue(
        &self, session: SessionRecord, refresh_token: SecretToken,
    ) -> Result<IssuedSession, AppError> {
        let access = self
            .tokens
            .issue_customer(session.customer_id, session.id)?;
        Ok(IssuedSession {
            access_token: access.token,
            access_expires_at: access.expires_at,
            refresh_token,
            session,
        })
    }

    /// `refreshSession`: rotates the refresh token and issues a new access token.
    pub async fn refresh(&self, presented: SecretToken) -> Result<IssuedSession, AppError> {
        let next = SecretToken::generate();
        let at = now();
        let request = RefreshRequest {
            presented: presented.hash(),
            next: next.hash(),
            now: at,
            expires_at: at + chrono_duration(self.policy.lifetimes.refresh),
            race_window: chrono_duration(self.policy.lifetimes.refresh_race_window),
        };
        let rotation = self
            .with_store(move |store| store.refresh_session(&request))
            .await?;
        match rotation {
            Rotation::Rotated(session) => self.issue(session, next),
            Rotation::Reused { session, customer } => {
                tracing::warn!(
                    session_id = %session,
                    customer_id = %customer,
                    "a spent refresh token was presented again: the session is ended"
                );
                self.metrics.refresh_token_reused();
                Err(AppError::Unauthenticated(unauthenticated::INVALID_TOKEN))
            }
            Rotation::RaceLost | Rotation::Unknown => {
                Err(AppError::Unauthenticated(unauthenticated::INVALID_TOKEN))
            }
        }
    }

    /// `logout` (`everywhere` false) and `logoutEverywhere`: the bearer's own session, or
    /// every session of theirs. Admin tokens have no session.
    pub async fn logout(&self, caller: &Caller, everywhere: bool) -> Result<usize, AppError> {
        let Principal::Customer { id, session } = self.principal(caller).await? else {
            return Err(AppError::Forbidden);
        };
        self.current_customer(id, session).await?;
        let which = if everywhere {
            SessionsOf::Customer(id)
        } else {
            SessionsOf::CustomerSession(id, session)
        };
        let ended = self
            .with_store(move |store| store.end_sessions(which))
            .await?;
        tracing::info!(customer_id = %id, ended, "logged out");
        Ok(ended)
    }

    /// `revokeSession`: an admin ends any session, a customer only one of their own (another
    /// customer's session id ends nothing and says nothing).
    pub async fn revoke_session(
        &self, caller: &Caller, session: SessionId,
    ) -> Result<usize, AppError> {
        let which = match self.principal(caller).await? {
            Principal::Admin { .. } => SessionsOf::Session(session),
            Principal::Customer { id, session: own } => {
                self.current_customer(id, own).await?;
                SessionsOf::CustomerSession(id, session)
            }
        };
        let ended = self
            .with_store(move |store| store.end_sessions(which))
            .await?;
        tracing::info!(session_id = %session, ended, "session revoked");
        Ok(ended)
    }

    /// `Customer.sessions`: the customer's sessions, for the customer or an admin.
    pub async fn sessions(
        &self, caller: &Caller, customer: CustomerId,
    ) -> Result<Vec<SessionRecord>, AppError> {
        if let Principal::Customer { id, session } = self.principal(caller).await? {
            self.current_customer(id, session).await?;
            if id != customer {
                return Err(AppError::Forbidden);
            }
        }
        let at = now();
        self.with_store(move |store| store.list_sessions(customer, at))
            .await
    }
}

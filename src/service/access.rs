//! Whether a token still counts: a customer's session must stand (checked in the same round
//! trip that loads the customer), an admin's token must not predate a revocation.

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::{now, CustomerService};
use crate::{
    auth::{Caller, Principal},
    db::CustomerRecord,
    domain::{CustomerId, SessionId},
    error::{unauthenticated, AppError},
    locking::lock,
};

impl CustomerService {
    /// The caller's principal; an admin's token is checked against the revocation here, a
    /// customer's session where the customer is loaded.
    pub(super) async fn principal(&self, caller: &Caller) -> Result<Principal, AppError> {
        let principal = caller.principal()?;
        if let Principal::Admin { issued_at } = principal {
            if self
                .admin_token_cutoff()
                .await?
                .is_some_and(|cutoff| issued_at < cutoff)
            {
                return Err(AppError::Unauthenticated(unauthenticated::INVALID_TOKEN));
            }
        }
        Ok(principal)
    }

    /// Whether the caller's token counts now, session included: for a connection that
    /// authenticates once (a WebSocket's `connection_init`).
    pub async fn verify(&self, caller: &Caller) -> Result<(), AppError> {
        if let Principal::Customer { id, session } = self.principal(caller).await? {
            self.current_customer(id, session).await?;
        }
        Ok(())
    }

    /// The customer a token names, while its session stands.
    pub(super) async fn current_customer(
        &self, id: CustomerId, session: SessionId,
    ) -> Result<CustomerRecord, AppError> {
        let at = now();
        self.with_store(move |store| store.find_customer_in_session(id, session, at))
            .await?
            .ok_or(AppError::Unauthenticated(unauthenticated::INVALID_TOKEN))
    }

    /// Admin tokens issued before this are revoked: read from the database at most once per
    /// `admin_revocation_check`.
    async fn admin_token_cutoff(&self) -> Result<Option<DateTime<Utc>>, AppError> {
        let interval = self.policy.admin_revocation_check;
        let cached = *lock(&self.admin_cutoff);
        if let Some((read_at, cutoff)) = cached {
            if read_at.elapsed() < interval {
                return Ok(cutoff);
            }
        }
        let cutoff = self.with_store(|store| store.admin_token_cutoff()).await?;
        *lock(&self.admin_cutoff) = Some((Instant::now(), cutoff));
        Ok(cutoff)
    }
}

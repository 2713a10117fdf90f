//! Reading, creating, updating and deleting customers, with the contract's access rules.

use chrono::{DateTime, Utc};

use super::{idempotency::CreatedSnapshot, now, CustomerService};
use crate::{
    auth::{Caller, Principal},
    db::{CustomerPatch, CustomerRecord, CustomerUpdate, KeyClaim, WriteGuard, Written},
    domain::{Address, CustomerId, Email, IdempotencyKey, Name, Password, Phone},
    error::{unauthenticated, AppError},
};

/// A customer to create, parsed.
#[derive(Debug)]
pub struct NewCustomer {
    pub name: Name,
    pub email: Email,
    pub phone: Option<Phone>,
    pub address: Option<Address>,
    pub password: Option<Password>,
}

/// Changes to a customer, parsed. `None` leaves a field as it is; for `phone` and `address`,
/// `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct CustomerChanges {
    pub name: Option<Name>,
    pub email: Option<Email>,
    pub phone: Option<Option<Phone>>,
    pub address: Option<Option<Address>>,
    pub password: Option<Password>,
    /// When given and not equal to the stored `updated_at`: CONFLICT, and nothing changes.
    pub expected_updated_at: Option<DateTime<Utc>>,
}

impl CustomerService {
    /// `customer(customerId)`: admins read anyone, customers only themselves.
    pub async fn customer(
        &self, caller: &Caller, id: CustomerId,
    ) -> Result<Option<CustomerRecord>, AppError> {
        match self.principal(caller).await? {
            Principal::Admin { .. } => self.with_store(move |store| store.find_customer(id)).await,
            Principal::Customer { id: own, session } => {
                let me = self.current_customer(own, session).await?;
                if me.id == id {
                    Ok(Some(me))
                } else {
                    Err(AppError::Forbidden)
                }
            }
        }
    }

    /// `me`: the token's customer; `None` for an admin.
    pub async fn me(&self, caller: &Caller) -> Result<Option<CustomerRecord>, AppError> {
        match self.principal(caller).await? {
            Principal::Admin { .. } => Ok(None),
            Principal::Customer { id, session } => {
                self.current_customer(id, session).await.map(Some)
            }
        }
    }

    /// `createCustomer`: admins create anyone (password optional); everyone else signs up,
    /// with a password, while sign-up is allowed, and is mailed a verification link. With an
    /// `Idempotency-Key`, a repeated request replays the first answer.
    pub async fn create(
        &self, caller: &Caller, new: NewCustomer, key: Option<IdempotencyKey>,
    ) -> Result<CustomerRecord, AppError> {
        let principal = match caller {
            // A customer's token creates as no token does.
            Caller::Anonymous | Caller::Customer { .. } => None,
            _ => Some(self.principal(caller).await?),
        };
        let admin = matches!(principal, Some(Principal::Admin { .. }));
        if !admin {
            if !self.policy.allow_signup {
                return Err(AppError::Unauthenticated(unauthenticated::SIGNUP_DISABLED));
            }
            if new.password.is_none() {
                return Err(AppError::bad_input(
                    "password",
                    "a password is required to sign up",
                ));
            }
        }
        let Some(key) = key else {
            return self.insert(new, !admin).await;
        };
        let fingerprint = self.requests.fingerprint(principal, &new);
        let (claimed, at) = (key.clone(), now());
        let claim = self
            .with_store(move |store| {
                store.claim_idempotency_key(claimed.as_str(), &fingerprint, at)
            })
            .await?;
        match claim {
            KeyClaim::Replay(first) => CreatedSnapshot::replay(&first),
            KeyClaim::Mismatch => Err(AppError::Conflict {
                field: None,
                message: "this Idempotency-Key was used with another request",
            }),
            KeyClaim::InProgress => Err(AppError::Conflict {
                field: None,
                message: "a request with this Idempotency-Key is still running; retry it later",
            }),
            KeyClaim::Claimed => {
                let created = self.insert(new, !admin).await;
                let answer = created.as_ref().ok().map(CreatedSnapshot::of).transpose()?;
                self.with_store(move |store| match answer {
                    Some(answer) => store.finish_idempotency_key(key.as_str(), &answer),
                    None => store.release_idempotency_key(key.as_str()),
                })
                .await?;
                created
            }
        }
    }

    /// Hashes the password and stores the customer; a sign-up is mailed a verification link.
    async fn insert(&self, new: NewCustomer, sign_up: bool) -> Result<CustomerRecord, AppError> {
        // A taken email is refused before the (slow, bounded) password hashing: sign-ups for
        // existing addresses cannot queue bcrypt work. The unique index still decides races.
        let password_hash = match &new.password {
            Some(password) => {
                let email = new.email.clone();
                if self
                    .with_store(move |store| store.find_customer_by_email(email.as_str()))
                    .await?
                    .is_some()
                {
                    return Err(AppError::email_taken());
                }
                Some(self.hasher.hash(password).await?)
            }
            None => None,
        };
        let created_at = now();
        let record = CustomerRecord {
            id: CustomerId::generate(),
            name: new.name.as_str().to_owned(),
            email: new.email.as_str().to_owned(),
            phone: new.phone.map(|p| p.as_str().to_owned()),
            address: new.address,
            password_hash,
            email_verified: false,
            created_at,
            updated_at: created_at,
        };
        let stored = record.clone();
        self.with_store(move |store| store.insert_customer(&stored))
            .await?;
        tracing::info!(customer_id = %record.id, "customer created");
        if sign_up {
            self.send_verification(record.clone());
        }
        Ok(record)
    }

    /// `updateCustomer`: admins update anyone, customers only themselves. An update that
    /// changes nothing writes nothing; a new address is mailed a verification link; a new
    /// password ends every session.
    pub async fn update(
        &self, caller: &Caller, id: CustomerId, changes: CustomerChanges,
    ) -> Result<CustomerRecord, AppError> {
        let own_session = self.authorize_write(caller, id).await?;
        let password_hash = match &changes.password {
            Some(password) => {
                // A revoked token is refused before the password is hashed, not after.
                if let Some(session) = own_session {
                    self.current_customer(id, session).await?;
                }
                Some(self.hasher.hash(password).await?)
            }
            None => None,
        };
        let new_email = changes.email.as_ref().map(|e| e.as_str().to_owned());
        let patch = CustomerPatch {
            name: changes.name.map(|name| name.as_str().to_owned()),
            email: new_email.clone(),
            phone: changes
                .phone
                .map(|phone| phone.map(|phone| phone.as_str().to_owned())),
            address: changes.address,
            password_hash,
        };
        let update = CustomerUpdate {
            id,
            patch,
            guard: WriteGuard {
                updated_at: changes.expected_updated_at,
                session: own_session,
            },
            at: now(),
        };
        let written = self
            .with_store(move |store| store.update_customer(&update))
            .await?;
        let record = accepted(written, own_session.is_some())?;
        tracing::info!(customer_id = %id, "customer updated");
        if new_email.is_some() && !record.email_verified {
            self.send_verification(record.clone());
        }
        Ok(record)
    }

    /// `deleteCustomer`: admins delete anyone, customers only themselves.
    pub async fn delete(&self, caller: &Caller, id: CustomerId) -> Result<(), AppError> {
        let own_session = self.authorize_write(caller, id).await?;
        let guard = WriteGuard {
            updated_at: None,
            session: own_session,
        };
        let written = self
            .with_store(move |store| store.delete_customer(id, guard))
            .await?;
        accepted(written, own_session.is_some())?;
        tracing::info!(customer_id = %id, "customer deleted");
        Ok(())
    }

    /// The check before a write to customer `id`: an admin may; a customer may write only
    /// their own record, and gets back the session to check inside the write.
    async fn authorize_write(
        &self, caller: &Caller, id: CustomerId,
    ) -> Result<Option<crate::domain::SessionId>, AppError> {
        match self.principal(caller).await? {
            Principal::Admin { .. } => Ok(None),
            Principal::Customer { id: own, session } if own == id => Ok(Some(session)),
            Principal::Customer { id: own, session } => {
                // A revoked token is UNAUTHENTICATED, not FORBIDDEN.
                self.current_customer(own, session).await?;
                Err(AppError::Forbidden)
            }
        }
    }
}

/// What a guarded write's refusal means to the writer. A customer writing their own record
/// that no longer exists, or whose session has ended, holds a revoked token.
fn accepted<T>(written: Written<T>, own: bool) -> Result<T, AppError> {
    match written {
        Written::Done(value) => Ok(value),
        Written::NotFound if !own => Err(AppError::NotFound),
        Written::NotFound | Written::Revoked => {
            Err(AppError::Unauthenticated(unauthenticated::INVALID_TOKEN))
        }
        Written::Stale => Err(AppError::stale_update()),
    }
}

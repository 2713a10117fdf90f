//! Reading, creating, updating and deleting customers, with the contract's access rules.

use chrono::{DateTime, Utc};

use super::{now, CustomerService};
use crate::{
    auth::{Caller, Session},
    db::{CustomerPatch, CustomerRecord, CustomerUpdate, WriteGuard, Written},
    domain::{Address, CustomerId, Email, Name, Password, Phone},
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
        &self,
        caller: &Caller,
        id: CustomerId,
    ) -> Result<Option<CustomerRecord>, AppError> {
        match caller.session()? {
            Session::Admin => self.with_store(move |store| store.find_customer(id)).await,
            Session::Customer {
                id: own,
                token_version,
            } => {
                let me = self.current_customer(own, token_version).await?;
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
        match caller.session()? {
            Session::Admin => Ok(None),
            Session::Customer { id, token_version } => {
                self.current_customer(id, token_version).await.map(Some)
            }
        }
    }

    /// `createCustomer`: admins create anyone (password optional); everyone else signs up,
    /// with a password, while sign-up is allowed.
    pub async fn create(
        &self,
        caller: &Caller,
        new: NewCustomer,
    ) -> Result<CustomerRecord, AppError> {
        if !caller.is_admin() {
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
        // A taken email is refused before the (slow, bounded) password hashing: sign-ups for
        // existing addresses cannot queue bcrypt work. The unique index still decides races.
        let email = new.email.clone();
        if self
            .with_store(move |store| store.find_customer_by_email(email.as_str()))
            .await?
            .is_some()
        {
            return Err(AppError::email_taken());
        }
        let password_hash = match &new.password {
            Some(password) => Some(self.hasher.hash(password).await?),
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
            token_version: 0,
            created_at,
            updated_at: created_at,
        };
        let stored = record.clone();
        self.with_store(move |store| store.insert_customer(&stored))
            .await?;
        tracing::info!(customer_id = %record.id, "customer created");
        Ok(record)
    }

    /// `updateCustomer`: admins update anyone, customers only themselves. An update that
    /// changes nothing writes nothing.
    pub async fn update(
        &self,
        caller: &Caller,
        id: CustomerId,
        changes: CustomerChanges,
    ) -> Result<CustomerRecord, AppError> {
        let own_version = self.authorize_write(caller, id).await?;
        let password_hash = match &changes.password {
            Some(password) => {
                // A revoked token is refused before the password is hashed, not after.
                if let Some(version) = own_version {
                    self.current_customer(id, version).await?;
                }
                Some(self.hasher.hash(password).await?)
            }
            None => None,
        };
        let patch = CustomerPatch {
            name: changes.name.map(|name| name.as_str().to_owned()),
            email: changes.email.map(|email| email.as_str().to_owned()),
            phone: changes
                .phone
                .map(|phone| phone.map(|phone| phone.as_str().to_owned())),
            address: changes.address,
            password_hash,
        };
        let guard = WriteGuard {
            updated_at: changes.expected_updated_at,
            token_version: own_version,
        };
        let update = CustomerUpdate {
            id,
            patch,
            guard,
            at: now(),
        };
        let written = self
            .with_store(move |store| store.update_customer(&update))
            .await?;
        let record = accepted(written, own_version)?;
        tracing::info!(customer_id = %id, "customer updated");
        Ok(record)
    }

    /// `deleteCustomer`: admins delete anyone, customers only themselves.
    pub async fn delete(&self, caller: &Caller, id: CustomerId) -> Result<(), AppError> {
        let own_version = self.authorize_write(caller, id).await?;
        let guard = WriteGuard {
            updated_at: None,
            token_version: own_version,
        };
        let written = self
            .with_store(move |store| store.delete_customer(id, guard))
            .await?;
        accepted(written, own_version)?;
        tracing::info!(customer_id = %id, "customer deleted");
        Ok(())
    }

    /// The check before a write to customer `id`: an admin may; a customer may write only
    /// their own record, and gets back the token version to check inside the write.
    async fn authorize_write(
        &self,
        caller: &Caller,
        id: CustomerId,
    ) -> Result<Option<i32>, AppError> {
        match caller.session()? {
            Session::Admin => Ok(None),
            Session::Customer {
                id: own,
                token_version,
            } if own == id => Ok(Some(token_version)),
            Session::Customer {
                id: own,
                token_version,
            } => {
                // A revoked token is UNAUTHENTICATED, not FORBIDDEN.
                self.current_customer(own, token_version).await?;
                Err(AppError::Forbidden)
            }
        }
    }

    /// The customer a token names, while that token has not been revoked.
    pub(super) async fn current_customer(
        &self,
        id: CustomerId,
        token_version: i32,
    ) -> Result<CustomerRecord, AppError> {
        let found = self
            .with_store(move |store| store.find_customer(id))
            .await?;
        found
            .filter(|customer| customer.token_version == token_version)
            .ok_or(AppError::Unauthenticated(unauthenticated::INVALID_TOKEN))
    }
}

/// What a guarded write's refusal means to the writer. A customer writing their own record
/// that no longer exists, or whose token version moved on, holds a revoked token.
fn accepted<T>(written: Written<T>, own_version: Option<i32>) -> Result<T, AppError> {
    match written {
        Written::Done(value) => Ok(value),
        Written::NotFound if own_version.is_none() => Err(AppError::NotFound),
        Written::NotFound | Written::Revoked => {
            Err(AppError::Unauthenticated(unauthenticated::INVALID_TOKEN))
        }
        Written::Stale => Err(AppError::stale_update()),
    }
}

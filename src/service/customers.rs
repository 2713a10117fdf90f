//! Reading, creating, updating and deleting customers, with the contract's access rules.

use chrono::{DateTime, Utc};

use super::{now, CustomerService};
use crate::{
    auth::{Caller, Session},
    db::CustomerRecord,
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
        let new_hash = match &changes.password {
            Some(password) => {
                // A revoked token is refused before the password is hashed, not after.
                if let Some(version) = own_version {
                    self.current_customer(id, version).await?;
                }
                Some(self.hasher.hash(password).await?)
            }
            None => None,
        };
        let at = now();
        let result = self
            .with_store(move |store| {
                store.update_customer(id, &mut |current| {
                    check_token_version(current, own_version)?;
                    if changes
                        .expected_updated_at
                        .is_some_and(|expected| expected != current.updated_at)
                    {
                        return Err(AppError::stale_update());
                    }
                    Ok(apply_changes(current, &changes, new_hash.clone(), at))
                })
            })
            .await;
        let record = revoked_if_missing(result, own_version)?;
        tracing::info!(customer_id = %id, "customer updated");
        Ok(record)
    }

    /// `deleteCustomer`: admins delete anyone, customers only themselves.
    pub async fn delete(&self, caller: &Caller, id: CustomerId) -> Result<(), AppError> {
        let own_version = self.authorize_write(caller, id).await?;
        let result = self
            .with_store(move |store| {
                store.delete_customer(id, &|current| check_token_version(current, own_version))
            })
            .await;
        revoked_if_missing(result, own_version)?;
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
        let customer = found.ok_or(AppError::Unauthenticated(unauthenticated::INVALID_TOKEN))?;
        check_token_version(&customer, Some(token_version))?;
        Ok(customer)
    }
}

/// With a customer's own token (`expected` is set), the token must carry the current version.
fn check_token_version(customer: &CustomerRecord, expected: Option<i32>) -> Result<(), AppError> {
    match expected {
        Some(version) if version != customer.token_version => {
            Err(AppError::Unauthenticated(unauthenticated::INVALID_TOKEN))
        }
        _ => Ok(()),
    }
}

/// A customer writing their own record that no longer exists holds a revoked token.
fn revoked_if_missing<T>(result: Result<T, AppError>, own: Option<i32>) -> Result<T, AppError> {
    match result {
        Err(AppError::NotFound) if own.is_some() => {
            Err(AppError::Unauthenticated(unauthenticated::INVALID_TOKEN))
        }
        other => other,
    }
}

/// The new state of `current` after `changes`, or `None` when nothing would change.
fn apply_changes(
    current: &CustomerRecord,
    changes: &CustomerChanges,
    new_hash: Option<crate::auth::PasswordHash>,
    at: DateTime<Utc>,
) -> Option<CustomerRecord> {
    let mut next = current.clone();
    if let Some(name) = &changes.name {
        next.name = name.as_str().to_owned();
    }
    if let Some(email) = &changes.email {
        next.email = email.as_str().to_owned();
    }
    if let Some(phone) = &changes.phone {
        next.phone = phone.as_ref().map(|p| p.as_str().to_owned());
    }
    if let Some(address) = &changes.address {
        next.address = address.clone();
    }
    if let Some(hash) = new_hash {
        next.password_hash = Some(hash);
        next.token_version += 1;
    }
    if next == *current {
        return None;
    }
    // Strictly later than before, even if two writes land within one microsecond.
    next.updated_at = at.max(current.updated_at + chrono::Duration::microseconds(1));
    Some(next)
}

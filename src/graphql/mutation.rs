//! Mutations.

use async_graphql::{Context, Object, Result, ID};

use super::{
    caller, client_addr,
    inputs::{self, CreateCustomerInput, UpdateCustomerInput},
    outputs::{
        AuthenticateCustomerPayload, CreateCustomerPayload, DeleteCustomerPayload,
        UpdateCustomerPayload,
    },
    service,
};

pub struct MutationRoot;

/// Creating, changing and deleting customers, and logging in.
#[Object(name = "Mutation")]
impl MutationRoot {
    /// Creates a customer. Without an admin token this is self sign-up, and needs a password.
    async fn create_customer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new customer.")] input: CreateCustomerInput,
    ) -> Result<CreateCustomerPayload> {
        let new = input.parse()?;
        let created = service(ctx).create(caller(ctx), new).await?;
        Ok(created.into())
    }

    /// Changes a customer. Admins update any customer; a customer token updates only its own.
    async fn update_customer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer and the changes to make.")] input: UpdateCustomerInput,
    ) -> Result<UpdateCustomerPayload> {
        let (id, changes) = input.parse()?;
        let updated = service(ctx).update(caller(ctx), id, changes).await?;
        Ok(updated.into())
    }

    /// Deletes a customer. Admins delete any customer; a customer token deletes only its own.
    /// The customer's tokens stop working at once.
    async fn delete_customer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer to delete.")] customer_id: ID,
    ) -> Result<DeleteCustomerPayload> {
        let id = inputs::customer_id(&customer_id)?;
        service(ctx).delete(caller(ctx), id).await?;
        Ok(DeleteCustomerPayload {
            success: true,
            customer_id: ID(id.to_string()),
        })
    }

    /// Logs in: email and password for a session token. Failed logins are
    /// throttled per email address and per client address.
    async fn authenticate_customer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer's email address (case-insensitive).")] email: String,
        #[graphql(desc = "The customer's password.")] password: String,
    ) -> Result<AuthenticateCustomerPayload> {
        let email = inputs::email(&email)?;
        let password = inputs::password(&password)?;
        let session = service(ctx)
            .authenticate(email, password, client_addr(ctx))
            .await?;
        Ok(session.into())
    }
}

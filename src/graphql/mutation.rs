//! Mutations, by area: customers, sessions, and account recovery and verification.

use async_graphql::{Context, MergedObject, Object, Result, ID};

use super::{
    caller,
    inputs::{self, CreateCustomerInput, UpdateCustomerInput},
    meta,
    outputs::{
        AuthenticateCustomerPayload, CreateCustomerPayload, DeleteCustomerPayload,
        EndSessionsPayload, RequestPayload, UpdateCustomerPayload,
    },
    service,
};
use crate::service::NewLogin;

/// Every mutation, by area.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(CustomerMutations, SessionMutations, AccountMutations);

/// Creating, changing and deleting customers.
#[derive(Default)]
pub struct CustomerMutations;

#[Object]
impl CustomerMutations {
    /// Creates a customer. Without an admin token this is self sign-up, and needs a password.
    async fn create_customer(
        &self, ctx: &Context<'_>, #[graphql(desc = "The new customer.")] input: CreateCustomerInput,
    ) -> Result<CreateCustomerPayload> {
        let new = input.parse()?;
        let key = inputs::idempotency_key(meta(ctx).idempotency_key.as_deref())?;
        let created = service(ctx).create(caller(ctx), new, key).await?;
        Ok(created.into())
    }

    /// Changes a customer. Admins update any customer; a customer token updates only its own.
    async fn update_customer(
        &self, ctx: &Context<'_>,
        #[graphql(desc = "The customer and the changes to make.")] input: UpdateCustomerInput,
    ) -> Result<UpdateCustomerPayload> {
        let (id, changes) = input.parse()?;
        let updated = service(ctx).update(caller(ctx), id, changes).await?;
        Ok(updated.into())
    }

    /// Deletes a customer. Admins delete any customer; a customer token deletes only its own.
    /// The customer's tokens stop working at once.
    async fn delete_customer(
        &self, ctx: &Context<'_>, #[graphql(desc = "The customer to delete.")] customer_id: ID,
    ) -> Result<DeleteCustomerPayload> {
        let id = inputs::customer_id(&customer_id)?;
        service(ctx).delete(caller(ctx), id).await?;
        Ok(DeleteCustomerPayload {
            success: true,
            customer_id: ID(id.to_string()),
        })
    }
}

/// Logging in, keeping and ending sessions.
#[derive(Default)]
pub struct SessionMutations;

#[Object]
impl SessionMutations {
    /// Logs in with email and password, starting a session. Failed logins are throttled per
    /// email address and per client address.
    async fn authenticate_customer(
        &self, ctx: &Context<'_>,
        #[graphql(desc = "The customer's email address (case-insensitive).")] email: String,
        #[graphql(desc = "The customer's password.")] password: String,
    ) -> Result<AuthenticateCustomerPayload> {
        let meta = meta(ctx);
        let login = NewLogin {
            email: inputs::email(&email)?,
            password: inputs::login_password(&password)?,
            client: meta.client,
            user_agent: meta.user_agent.clone(),
        };
        Ok(service(ctx).authenticate(login).await?.into())
    }

    /// Rotates: returns a new access token and a new refresh token; the old refresh token is
    /// spent. Presenting a spent refresh token again ends the whole session.
    async fn refresh_session(
        &self, ctx: &Context<'_>,
        #[graphql(desc = "The refresh token of the session.")] refresh_token: String,
    ) -> Result<AuthenticateCustomerPayload> {
        let token = inputs::refresh_token(&refresh_token)?;
        Ok(service(ctx).refresh(token).await?.into())
    }

    /// Ends the session of the bearer token.
    async fn logout(&self, ctx: &Context<'_>) -> Result<EndSessionsPayload> {
        let ended = service(ctx).logout(caller(ctx), false).await?;
        Ok(ended_sessions(ended))
    }

    /// Ends every session of the bearer token's customer, on every device.
    async fn logout_everywhere(&self, ctx: &Context<'_>) -> Result<EndSessionsPayload> {
        let ended = service(ctx).logout(caller(ctx), true).await?;
        Ok(ended_sessions(ended))
    }

    /// Ends one session: the customer's own, or any for an admin.
    async fn revoke_session(
        &self, ctx: &Context<'_>,
        #[graphql(desc = "The session to end (a `sessionId`).")] session_id: ID,
    ) -> Result<EndSessionsPayload> {
        let session = inputs::session_id(&session_id)?;
        let ended = service(ctx).revoke_session(caller(ctx), session).await?;
        Ok(ended_sessions(ended))
    }
}

/// Recovering an account and proving an email address, by links in mail.
#[derive(Default)]
pub struct AccountMutations;

#[Object]
impl AccountMutations {
    /// Always success: true, known email or not (no enumeration); mails a single-use link to
    /// reset the password. Throttled like logins.
    async fn request_password_reset(
        &self, ctx: &Context<'_>,
        #[graphql(desc = "The customer's email address (case-insensitive).")] email: String,
    ) -> Result<RequestPayload> {
        let email = inputs::email(&email)?;
        service(ctx)
            .request_password_reset(email, meta(ctx).client)
            .await?;
        Ok(RequestPayload { success: true })
    }

    /// Sets the password, ends every session, and logs in on a new one.
    async fn reset_password(
        &self, ctx: &Context<'_>,
        #[graphql(desc = "The token from the password-reset mail.")] token: String,
        #[graphql(desc = "The new password, 8 to 72 bytes.")] new_password: String,
    ) -> Result<AuthenticateCustomerPayload> {
        let token = inputs::mailed_token(&token)?;
        let password = inputs::new_password(&new_password)?;
        let issued = service(ctx)
            .reset_password(token, password, meta(ctx).user_agent.clone())
            .await?;
        Ok(issued.into())
    }

    /// Mails a single-use link that verifies the bearer's own address (unless it is verified
    /// already). Throttled like logins.
    async fn request_email_verification(&self, ctx: &Context<'_>) -> Result<RequestPayload> {
        service(ctx)
            .request_email_verification(caller(ctx), meta(ctx).client)
            .await?;
        Ok(RequestPayload { success: true })
    }

    /// Marks the address the verification mail was sent to as verified.
    async fn verify_email(
        &self, ctx: &Context<'_>,
        #[graphql(desc = "The token from the verification mail.")] token: String,
    ) -> Result<RequestPayload> {
        service(ctx)
            .verify_email(inputs::mailed_token(&token)?)
            .await?;
        Ok(RequestPayload { success: true })
    }
}

fn ended_sessions(ended: usize) -> EndSessionsPayload {
    EndSessionsPayload {
        success: true,
        sessions_ended: i32::try_from(ended).unwrap_or(i32::MAX),
    }
}

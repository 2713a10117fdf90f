//! Subscriptions, over `graphql-transport-ws` at /graphql (see `crate::http::websocket`).

use async_graphql::{Context, Enum, Result, SimpleObject, Subscription, ID};
use chrono::Utc;
use futures_util::{Stream, StreamExt};

use super::{caller, inputs, outputs::Customer, scalars::DateTime, service};
use crate::{db::ChangeKind, service::LiveChange};

/// When the connection's token expires: its subscriptions end then (set by the WebSocket
/// handler from the token in `connection_init`).
#[derive(Debug, Clone, Copy)]
pub struct TokenExpiry(pub chrono::DateTime<Utc>);

/// What happened to a customer.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerChangeKind {
    Created,
    Updated,
    Deleted,
}

/// A change to a customer.
#[derive(SimpleObject)]
pub struct CustomerChange {
    /// Created, updated or deleted.
    kind: CustomerChangeKind,
    /// The customer's id (a UUID).
    customer_id: ID,
    /// The customer as it stands after the change (read when the change was heard, under
    /// the subscriber's access rules); null when deleted.
    customer: Option<Customer>,
    /// When the change happened.
    at: DateTime,
}

impl From<LiveChange> for CustomerChange {
    fn from(change: LiveChange) -> Self {
        Self {
            kind: match change.kind {
                ChangeKind::Created => CustomerChangeKind::Created,
                ChangeKind::Updated => CustomerChangeKind::Updated,
                ChangeKind::Deleted => CustomerChangeKind::Deleted,
            },
            customer_id: ID(change.id.to_string()),
            customer: change.customer.map(Customer::from),
            at: change.at.into(),
        }
    }
}

pub struct SubscriptionRoot;

/// Live updates. The token goes in `connection_init`'s payload, as
/// `{"Authorization": "Bearer <token>"}`; a subscription ends with UNAUTHENTICATED when the
/// token expires or its session, password or customer is revoked.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The customer's changes; completes after DELETED. Owner or admin.
    async fn customer_changed(
        &self, ctx: &Context<'_>, #[graphql(desc = "The customer's id (a UUID).")] customer_id: ID,
    ) -> Result<impl Stream<Item = Result<CustomerChange>>> {
        let id = inputs::customer_id(&customer_id)?;
        let expiry = ctx.data_opt::<TokenExpiry>().map(|expiry| expiry.0);
        let changes = service(ctx).watch_customer(caller(ctx), expiry, id).await?;
        Ok(changes.map(|change| Ok(change?.into())))
    }

    /// Admins only: every create, update and delete.
    async fn customer_events(
        &self, ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<CustomerChange>>> {
        let expiry = ctx.data_opt::<TokenExpiry>().map(|expiry| expiry.0);
        let changes = service(ctx).watch_all(caller(ctx), expiry).await?;
        Ok(changes.map(|change| Ok(change?.into())))
    }
}

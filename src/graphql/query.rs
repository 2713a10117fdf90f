//! Queries.

use async_graphql::{Context, Object, Result, ID};

use super::{
    caller,
    inputs::{self, CustomerFilter},
    node::Node,
    outputs::{Customer, CustomerConnection},
    service,
};

pub struct QueryRoot;

/// Reading customers.
#[Object(name = "Query")]
impl QueryRoot {
    /// One customer, by id; null when no customer has this id. Admins read any customer; a
    /// customer token reads only its own.
    async fn customer(
        &self, ctx: &Context<'_>, #[graphql(desc = "The customer's id (a UUID).")] customer_id: ID,
    ) -> Result<Option<Customer>> {
        let id = inputs::customer_id(&customer_id)?;
        let found = service(ctx).customer(caller(ctx), id).await?;
        Ok(found.map(Customer::from))
    }

    /// The object with this global id (an `id` field's value), under the access rules of its
    /// type; null when there is none. For Relay's refetching.
    async fn node(
        &self, ctx: &Context<'_>, #[graphql(desc = "A global id.")] id: ID,
    ) -> Result<Option<Node>> {
        let id = inputs::global_id(&id)?;
        let found = service(ctx).customer(caller(ctx), id).await?;
        Ok(found.map(|record| Node::Customer(record.into())))
    }

    /// The customer that the bearer token belongs to; null for an admin token.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        Ok(service(ctx).me(caller(ctx)).await?.map(Customer::from))
    }

    /// Admins only. Relay cursor pagination, newest first.
    async fn customers(
        &self, ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100.", default = 20)] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (an `endCursor` or edge `cursor`).")]
        after: Option<String>,
        #[graphql(desc = "Which customers to list.")] filter: Option<CustomerFilter>,
    ) -> Result<CustomerConnection> {
        let with_total = ctx.look_ahead().field("totalCount").exists();
        let request = inputs::page_request(first, after, filter, with_total)?;
        let page = service(ctx).list(caller(ctx), request).await?;
        Ok(page.into())
    }
}

//! Queries.

use async_graphql::{Context, Object, Result, ID};

use super::{caller, inputs, outputs::Customer, service};

pub struct QueryRoot;

/// Reading customers.
#[Object(name = "Query")]
impl QueryRoot {
    /// get_customer. null when no customer has this id. Admins read any customer; a customer
    /// token reads only its own.
    async fn customer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer's id (a UUID).")] customer_id: ID,
    ) -> Result<Option<Customer>> {
        let id = inputs::customer_id(&customer_id)?;
        let found = service(ctx).customer(caller(ctx), id).await?;
        Ok(found.map(Customer::from))
    }

    /// The customer that the bearer token belongs to; null for an admin token.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        Ok(service(ctx).me(caller(ctx)).await?.map(Customer::from))
    }
}

//! The GraphQL schema: queries and mutations over [`crate::service`], their input and output
//! types, and how one request is run (parse cache, bounds, error codes).

use std::sync::Arc;

use async_graphql::{Context, EmptySubscription, Schema};

use crate::{auth::Caller, domain::ClientNetwork, service::CustomerService};

mod analysis;
mod document_cache;
mod execution;
mod inputs;
mod mutation;
mod outputs;
mod query;
mod scalars;

pub use analysis::Bounds;
pub use document_cache::DocumentCache;
pub use execution::{Engine, Failure, Outcome, Transport};
pub use mutation::MutationRoot;
pub use query::QueryRoot;

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// The network of the client that sent a request, for the per-client login throttle.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<ClientNetwork>);

/// Builds the schema; the service is schema data, shared by every request. Depth and
/// complexity are bounded before async-graphql sees a document (see `analysis`); its own
/// recursion limit is set to the same nesting bound.
pub fn build_schema(service: Arc<CustomerService>, introspection: bool) -> AppSchema {
    let mut builder = schema_builder()
        .data(service)
        .limit_recursive_depth(analysis::MAX_NESTING);
    if !introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The SDL that clients are written against (`customer-api schema`, `schema.graphql`).
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

fn schema_builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
}

fn service<'a>(ctx: &Context<'a>) -> &'a CustomerService {
    ctx.data_unchecked::<Arc<CustomerService>>()
}

fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    ctx.data_opt::<Caller>().unwrap_or(&Caller::Anonymous)
}

fn client_addr(ctx: &Context<'_>) -> Option<ClientNetwork> {
    ctx.data_opt::<ClientAddr>().and_then(|addr| addr.0)
}

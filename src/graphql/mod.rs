//! The GraphQL schema: queries and mutations over [`crate::service`], their input and output
//! types, and how one request is run (parse cache, depth limit, error codes).

use std::net::IpAddr;
use std::sync::Arc;

use async_graphql::{Context, EmptySubscription, Schema};

use crate::{auth::Caller, config::GraphqlSettings, service::CustomerService};

mod depth_limit;
mod document_cache;
mod execution;
mod inputs;
mod mutation;
mod outputs;
mod query;
mod scalars;

pub use document_cache::DocumentCache;
pub use execution::{execute, Executed, Transport, PARSE_FAILED, VALIDATION_FAILED};
pub use mutation::MutationRoot;
pub use query::QueryRoot;

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// The address of the client that sent a request, for the per-client login throttle.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

/// Builds the schema with its limits; the service is schema data, shared by every request.
pub fn build_schema(service: Arc<CustomerService>, limits: &GraphqlSettings) -> AppSchema {
    let mut builder = schema_builder()
        .data(service)
        .limit_complexity(limits.max_complexity);
    if !limits.introspection {
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

fn client_addr(ctx: &Context<'_>) -> Option<IpAddr> {
    ctx.data_opt::<ClientAddr>().and_then(|addr| addr.0)
}

//! The GraphQL schema: queries, mutations and subscriptions over [`crate::service`], their
//! input and output types, and how one request is run (parse cache, bounds, error codes).

use std::{num::NonZeroUsize, sync::Arc};

use async_graphql::{Context, Schema};

use crate::{auth::Caller, domain::ClientNetwork, service::CustomerService};

mod analysis;
mod documents;
mod execution;
mod inputs;
mod mutation;
mod node;
mod outputs;
mod query;
mod scalars;
mod subscription;
mod trusted;
mod validation;

pub use analysis::Bounds;
pub use documents::Documents;
pub use execution::{Engine, Failure, Outcome, Transport};
pub use mutation::MutationRoot;
pub use query::QueryRoot;
pub use subscription::{SubscriptionRoot, TokenExpiry};
pub use trusted::TrustedDocuments;

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What a request says about itself besides its document and token.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The client's network, which the per-client throttle counts.
    pub client: Option<ClientNetwork>,
    /// The `User-Agent`, kept with a session that the request starts.
    pub user_agent: Option<String>,
    /// The `Idempotency-Key` header, as sent.
    pub idempotency_key: Option<String>,
}

/// Operations whose successful validation is remembered (see `validation`).
const VALIDATED_OPERATIONS: NonZeroUsize = NonZeroUsize::new(1024).expect("not zero");

/// Builds the schema; the service is schema data, shared by every request. Depth and
/// complexity are bounded before async-graphql sees a document (see `analysis`); its own
/// recursion limit is set to the same nesting bound.
pub fn build_schema(service: Arc<CustomerService>, introspection: bool) -> AppSchema {
    let mut builder = schema_builder()
        .data(service)
        .limit_recursive_depth(analysis::MAX_NESTING)
        .extension(validation::ValidationCache::new(VALIDATED_OPERATIONS));
    if !introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The SDL that clients are written against (`customer-api schema`, `schema.graphql`).
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

fn schema_builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(QueryRoot, MutationRoot::default(), SubscriptionRoot)
}

fn service<'a>(ctx: &Context<'a>) -> &'a CustomerService {
    ctx.data_unchecked::<Arc<CustomerService>>()
}

fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    ctx.data_opt::<Caller>().unwrap_or(&Caller::Anonymous)
}

fn meta<'a>(ctx: &Context<'a>) -> &'a RequestMeta {
    static NONE: RequestMeta = RequestMeta {
        client: None,
        user_agent: None,
        idempotency_key: None,
    };
    ctx.data_opt::<RequestMeta>().unwrap_or(&NONE)
}

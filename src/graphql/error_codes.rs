//! Gives every error that async-graphql itself raises an `extensions.code`: parse failures,
//! validation failures (unknown fields, wrong types, limits), and input values that fail to
//! coerce while executing. Errors from resolvers already carry theirs (see [`crate::error`]).

use std::sync::Arc;

use async_graphql::{
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
    },
    parser::types::ExecutableDocument,
    Response, ServerError, ServerResult, ValidationResult, Variables,
};

pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| with_code(e, "GRAPHQL_VALIDATION_FAILED"))
                .collect()
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        // Left without a code here: an argument or variable that failed to coerce.
        response.errors = std::mem::take(&mut response.errors)
            .into_iter()
            .map(|e| with_code(e, "BAD_USER_INPUT"))
            .collect();
        response
    }
}

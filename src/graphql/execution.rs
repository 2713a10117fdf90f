//! Running one GraphQL request: the parse (cached), the depth limit, execution, and an
//! `extensions.code` on every error that async-graphql raises itself (parse and validation
//! failures, input values that fail to coerce). This wraps execution instead of being an
//! async-graphql extension, because an extension would also wrap every field's resolution,
//! which measurably slowed every request.

use async_graphql::{
    parser::types::{
        DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    },
    Positioned, Request, Response, ServerError,
};

use super::{depth_limit::query_depth, AppSchema, DocumentCache};

pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

/// How a request arrived. Over GET only queries run: a link must never change data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Post,
    Get,
}

/// A response, and the root field that the operation selected (for logs and metrics).
pub struct Executed {
    pub response: Response,
    pub root_field: String,
    /// A mutation came over GET and was not run (HTTP 405).
    pub mutation_over_get: bool,
}

pub async fn execute(
    schema: &AppSchema,
    documents: &DocumentCache,
    max_depth: usize,
    transport: Transport,
    mut request: Request,
) -> Executed {
    documents.prepare(&mut request);
    let operation_name = request.operation_name.clone();
    let (root_field, depth, is_mutation) = match request.parsed_query() {
        Ok(document) => {
            let operation = selected_operation(document, operation_name.as_deref());
            (
                root_field(operation),
                query_depth(document),
                operation.is_some_and(|op| op.node.ty == OperationType::Mutation),
            )
        }
        Err(error) => {
            return Executed {
                response: Response::from_errors(vec![with_code(error, PARSE_FAILED)]),
                root_field: "unparsed".to_owned(),
                mutation_over_get: false,
            }
        }
    };
    if is_mutation && transport == Transport::Get {
        let error = ServerError::new("mutations must be sent with POST", None);
        return Executed {
            response: Response::from_errors(vec![with_code(error, "BAD_USER_INPUT")]),
            root_field,
            mutation_over_get: true,
        };
    }
    if depth > max_depth {
        let message =
            format!("the query is nested {depth} levels deep; at most {max_depth} are allowed");
        let error = with_code(ServerError::new(message, None), VALIDATION_FAILED);
        return Executed {
            response: Response::from_errors(vec![error]),
            root_field,
            mutation_over_get: false,
        };
    }
    let mut response = schema.execute(request).await;
    response.errors = std::mem::take(&mut response.errors)
        .into_iter()
        .map(|error| {
            // Resolver errors carry their code. Without one: an error with a path is an input
            // value that failed to coerce; one without is a validation failure.
            let code = if error.path.is_empty() {
                VALIDATION_FAILED
            } else {
                "BAD_USER_INPUT"
            };
            with_code(error, code)
        })
        .collect();
    Executed {
        response,
        root_field,
        mutation_over_get: false,
    }
}

fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

/// The operation the request asks to run, if the document and name pick one.
fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The first field the operation selects.
fn root_field(operation: Option<&Positioned<OperationDefinition>>) -> String {
    operation
        .and_then(|op| {
            op.node
                .selection_set
                .node
                .items
                .iter()
                .find_map(|item| match &item.node {
                    Selection::Field(field) => Some(field.node.name.node.to_string()),
                    _ => None,
                })
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

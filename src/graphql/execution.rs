//! Running one GraphQL request: the parse (cached), the depth limit, execution, and an
//! `extensions.code` on every error that async-graphql raises itself (parse and validation
//! failures, input values that fail to coerce). This wraps execution instead of being an
//! async-graphql extension, because an extension would also wrap every field's resolution,
//! which measurably slowed every request.

use async_graphql::{
    parser::types::{DocumentOperations, ExecutableDocument, Selection},
    Request, Response, ServerError,
};

use super::{depth_limit::query_depth, AppSchema, DocumentCache};

pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

/// A response, and the root field that the operation selected (for logs and metrics).
pub struct Executed {
    pub response: Response,
    pub root_field: String,
}

pub async fn execute(
    schema: &AppSchema,
    documents: &DocumentCache,
    max_depth: usize,
    mut request: Request,
) -> Executed {
    documents.prepare(&mut request);
    let operation_name = request.operation_name.clone();
    let (root_field, depth) = match request.parsed_query() {
        Ok(document) => (
            root_field(document, operation_name.as_deref()),
            query_depth(document),
        ),
        Err(error) => {
            return Executed {
                response: Response::from_errors(vec![with_code(error, PARSE_FAILED)]),
                root_field: "unparsed".to_owned(),
            }
        }
    };
    if depth > max_depth {
        let message =
            format!("the query is nested {depth} levels deep; at most {max_depth} are allowed");
        let error = with_code(ServerError::new(message, None), VALIDATION_FAILED);
        return Executed {
            response: Response::from_errors(vec![error]),
            root_field,
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
    }
}

fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

/// The first field the chosen operation selects.
fn root_field(document: &ExecutableDocument, operation_name: Option<&str>) -> String {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(_), None) => None,
    };
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

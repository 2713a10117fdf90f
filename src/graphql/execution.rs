//! Running one GraphQL request, and what came of it as a typed [`Outcome`].
//!
//! The order matters: the document is parsed (or found in the cache), the operation is
//! selected by the executor's own rules, a mutation over GET is refused, and the document is
//! held to its [`Bounds`] before async-graphql validates or runs anything. Errors that
//! async-graphql raises itself get their `extensions.code` here. This wraps execution
//! instead of being an async-graphql extension: extension hooks around every field's
//! resolution cost every request (the one extension, `validation`, pays that for a larger
//! saving).

use std::{
    collections::HashSet,
    sync::{Arc, OnceLock},
    time::Duration,
};

use async_graphql::{
    futures_util::stream::{self, BoxStream, StreamExt},
    parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition, OperationType},
    parser::types::{Selection, SelectionSet},
    Data, Positioned, Request, Response, ServerError,
};
use tokio::time::Instant;

use super::{
    analysis::{self, Bounds},
    documents::DocumentError,
    validation::ValidationKey,
    AppSchema, Documents,
};
use crate::error::ErrorCode;

/// How a request arrived. Over GET only queries run: a link must never change data.
/// Subscriptions run over WebSocket only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Post,
    Get,
    WebSocket,
}

/// What came of a request, for the HTTP status, the log line and the metrics. Every label in
/// it comes from a bounded set: the schema's root fields and the error codes.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// The selected operation's first root field when the schema has it (or [`BATCH`]).
    pub root_field: Option<&'static str>,
    pub kind: Option<OperationType>,
    /// The code of the first error; `None` when the request succeeded.
    pub error: Option<ErrorCode>,
    /// How the request failed as a whole, if it did (errors of single fields do not count).
    pub failure: Option<Failure>,
}

/// A request that failed as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Before execution: not a GraphQL request, a document that does not parse or validate,
    /// one over the bounds, or one outside the trusted documents.
    Request,
    /// A request that contradicts itself (a persisted-query hash that is not its query's):
    /// wrong whatever the client's media type.
    Malformed,
    /// A persisted query sent by hash alone, and the hash is unknown: the client's cue to
    /// send the text, which it reads from an ordinary answer.
    PersistedQueryNotFound,
    /// A mutation sent over GET, refused without running.
    MutationOverGet,
    /// Still running when its deadline passed.
    DeadlinePassed,
}

/// The `operation` label of a batched request.
pub const BATCH: &str = "batch";

impl Outcome {
    /// A request refused before any document was read.
    pub fn refused(code: ErrorCode) -> Self {
        Self {
            root_field: None,
            kind: None,
            error: Some(code),
            failure: Some(Failure::Request),
        }
    }

    /// A batch, by the first error of its operations.
    pub fn batch(error: Option<ErrorCode>) -> Self {
        Self {
            root_field: Some(BATCH),
            kind: None,
            error,
            failure: None,
        }
    }

    /// The `operation` label: the root field, or `invalid` when the schema has none such.
    pub fn operation_label(&self) -> &'static str {
        self.root_field.unwrap_or("invalid")
    }

    /// The `outcome` label: `ok` or the error code.
    pub fn outcome_label(&self) -> &'static str {
        self.error.map_or("ok", ErrorCode::as_str)
    }
}

/// Runs GraphQL requests against the schema within the bounds; one per server.
pub struct Engine {
    schema: AppSchema,
    documents: Documents,
    bounds: Bounds,
}

impl Engine {
    pub fn new(schema: AppSchema, documents: Documents, bounds: Bounds) -> Self {
        Self {
            schema,
            documents,
            bounds,
        }
    }

    /// Runs `request`; past `deadline` it is dropped and answered SERVICE_UNAVAILABLE (blocking
    /// work it started, such as a query already sent to the database, still completes).
    pub async fn execute(
        &self, transport: Transport, mut request: Request, deadline: Instant,
    ) -> (Response, Outcome) {
        let mut outcome = match self.admit(transport, &mut request) {
            Ok(outcome) => outcome,
            Err(refused) => return *refused,
        };
        let Ok(mut response) =
            tokio::time::timeout_at(deadline, self.schema.execute(request)).await
        else {
            return deadline_passed(outcome);
        };
        for error in &mut response.errors {
            classify(error);
        }
        outcome.error = response.errors.first().and_then(ErrorCode::of);
        let request_error = response.data == async_graphql::Value::Null
            && matches!(
                outcome.error,
                Some(ErrorCode::GraphqlParseFailed | ErrorCode::GraphqlValidationFailed)
            );
        outcome.failure = request_error.then_some(Failure::Request);
        (response, outcome)
    }

    /// Runs an operation of a WebSocket connection, whose `connection` data (the caller)
    /// every operation shares: a subscription's answers for as long as it runs, or the one
    /// answer of a query or mutation, within `timeout`.
    pub fn execute_stream(
        &self, mut request: Request, connection: Arc<Data>, timeout: Duration,
    ) -> BoxStream<'static, Response> {
        let outcome = match self.admit(Transport::WebSocket, &mut request) {
            Ok(outcome) => outcome,
            Err(refused) => return stream::once(async move { refused.0 }).boxed(),
        };
        let answers = self
            .schema
            .execute_stream_with_session_data(request, connection)
            .map(|mut response| {
                for error in &mut response.errors {
                    classify(error);
                }
                response
            });
        if outcome.kind == Some(OperationType::Subscription) {
            return answers.boxed();
        }
        let mut answers = answers.boxed();
        stream::once(async move {
            match tokio::time::timeout(timeout, answers.next()).await {
                Ok(Some(answer)) => answer,
                Ok(None) | Err(_) => deadline_passed(outcome).0,
            }
        })
        .boxed()
    }

    /// Gives the request its document and holds it to the transport's rules and the bounds,
    /// before async-graphql validates or runs anything: the outcome so far, or the refusal.
    fn admit(
        &self, transport: Transport, request: &mut Request,
    ) -> Result<Outcome, Box<(Response, Outcome)>> {
        let hash = match self.documents.prepare(request, self.bounds.max_tokens) {
            Ok(hash) => hash,
            Err(error) => return Err(Box::new(refused_document(error))),
        };
        let operation_name = request.operation_name.take();
        let document = request
            .parsed_query()
            .expect("prepare leaves a parsed document");
        let operation = selected_operation(document, operation_name.as_deref());
        let kind = operation.map(|op| op.node.ty);
        let root_field = operation.and_then(|op| root_field(document, op));
        let mut outcome = Outcome {
            root_field,
            kind,
            error: None,
            failure: Some(Failure::Request),
        };
        let refuse = |mut outcome: Outcome, code: ErrorCode, failure, message: String| {
            outcome.error = Some(code);
            outcome.failure = Some(failure);
            Err(Box::new((
                Response::from_errors(vec![code.error(message)]),
                outcome,
            )))
        };
        match (transport, kind) {
            (Transport::Get, Some(OperationType::Mutation)) => {
                let message = "mutations must be sent with POST".to_owned();
                return refuse(
                    outcome,
                    ErrorCode::BadUserInput,
                    Failure::MutationOverGet,
                    message,
                );
            }
            (Transport::Get | Transport::Post, Some(OperationType::Subscription)) => {
                let message = "subscriptions run over WebSocket (graphql-transport-ws) at /graphql"
                    .to_owned();
                return refuse(outcome, ErrorCode::BadUserInput, Failure::Request, message);
            }
            _ => {}
        }
        if let Err(refusal) = analysis::analyse(document, &self.bounds) {
            return refuse(
                outcome,
                ErrorCode::GraphqlValidationFailed,
                Failure::Request,
                refusal,
            );
        }
        request.data.insert(ValidationKey {
            document: hash,
            operation: operation_name.clone(),
        });
        request.operation_name = operation_name;
        outcome.failure = None;
        Ok(outcome)
    }
}

/// The answer to a request still running at its deadline.
fn deadline_passed(mut outcome: Outcome) -> (Response, Outcome) {
    let code = ErrorCode::ServiceUnavailable;
    outcome.error = Some(code);
    outcome.failure = Some(Failure::DeadlinePassed);
    let error = code.error("the request did not finish in time; try again later");
    (Response::from_errors(vec![error]), outcome)
}

/// The answer to a request without a document to run.
fn refused_document(error: DocumentError) -> (Response, Outcome) {
    let (code, message, failure) = match error {
        // The message is the protocol's: urql reads it, Apollo the code.
        DocumentError::PersistedQueryNotFound => (
            ErrorCode::PersistedQueryNotFound,
            "PersistedQueryNotFound".to_owned(),
            Failure::PersistedQueryNotFound,
        ),
        DocumentError::NotInList => (
            ErrorCode::PersistedQueryNotInList,
            "only trusted documents run here, and this is not one of them".to_owned(),
            Failure::Request,
        ),
        DocumentError::BadPersistedQuery(message) => (
            ErrorCode::BadUserInput,
            message.to_owned(),
            Failure::Malformed,
        ),
        DocumentError::Unparsable(message) => {
            (ErrorCode::GraphqlParseFailed, message, Failure::Request)
        }
    };
    let mut outcome = Outcome::refused(code);
    outcome.failure = Some(failure);
    (Response::from_errors(vec![code.error(message)]), outcome)
}

/// Gives an error that async-graphql raised itself its code. Errors this server raises carry
/// theirs already. Without one: an error with no path is a validation failure; one with a
/// path and no source is an input value that failed to coerce; one with a foreign source is
/// a resolver's bare `?`, which is internal, and whose message may say too much.
fn classify(error: &mut ServerError) {
    if ErrorCode::of(error).is_some() {
        return;
    }
    let code = if error.path.is_empty() {
        ErrorCode::GraphqlValidationFailed
    } else if error.source.is_none() {
        ErrorCode::BadUserInput
    } else {
        tracing::error!(message = %error.message, "internal error: a resolver error without a code");
        error.message = "internal error".to_owned();
        ErrorCode::InternalServerError
    };
    code.stamp(error);
}

/// The operation the request runs, chosen by the executor's own rules: by name when one is
/// given, otherwise the document's only operation.
pub(super) fn selected_operation<'a>(
    document: &'a ExecutableDocument, operation_name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Single(op), None) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The operation's first root field, following fragments, when the schema has such a root
/// field: a name from the schema, never one a client made up.
fn root_field(
    document: &ExecutableDocument, operation: &Positioned<OperationDefinition>,
) -> Option<&'static str> {
    let name = first_field(document, &operation.node.selection_set, &mut HashSet::new())?;
    root_fields()[kind_index(operation.node.ty)]
        .get(name.as_str())
        .copied()
}

/// The first field of `set`, looking into each fragment once at most: the document has not
/// been analysed yet, and may be built to make a naive search exponential.
fn first_field<'a>(
    document: &'a ExecutableDocument, set: &'a Positioned<SelectionSet>,
    searched: &mut HashSet<&'a str>,
) -> Option<&'a async_graphql::Name> {
    set.node.items.iter().find_map(|item| match &item.node {
        Selection::Field(field) => Some(&field.node.name.node),
        Selection::InlineFragment(fragment) => {
            first_field(document, &fragment.node.selection_set, searched)
        }
        Selection::FragmentSpread(spread) => {
            let name = &spread.node.fragment_name.node;
            if !searched.insert(name.as_str()) {
                return None;
            }
            let fragment = document.fragments.get(name)?;
            first_field(document, &fragment.node.selection_set, searched)
        }
    })
}

/// The root fields of the query, mutation and subscription types, in that order.
type RootFields = [HashSet<&'static str>; 3];

fn kind_index(kind: OperationType) -> usize {
    match kind {
        OperationType::Query => 0,
        OperationType::Mutation => 1,
        OperationType::Subscription => 2,
    }
}

/// The root fields of the schema by operation type, read once from its SDL. The names are
/// kept for the life of the process, like the schema they come from.
fn root_fields() -> &'static RootFields {
    static ROOT_FIELDS: OnceLock<RootFields> = OnceLock::new();
    ROOT_FIELDS.get_or_init(|| {
        use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
        let document = async_graphql::parser::parse_schema(super::sdl()).expect("the SDL parses");
        let mut fields = RootFields::default();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let kind = match ty.node.name.node.as_str() {
                "Query" => OperationType::Query,
                "Mutation" => OperationType::Mutation,
                "Subscription" => OperationType::Subscription,
                _ => continue,
            };
            if let TypeKind::Object(object) = ty.node.kind {
                let names = &mut fields[kind_index(kind)];
                names.insert("__typename");
                for field in object.fields {
                    let name: &'static str = Box::leak(field.node.name.node.as_str().into());
                    names.insert(name);
                }
                if kind == OperationType::Query {
                    names.extend(["__schema", "__type"]);
                }
            }
        }
        fields
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).unwrap()
    }

    #[test]
    fn the_operation_is_chosen_by_the_executors_rules() {
        let named = parse("mutation M { deleteCustomer(customerId: \"x\") { success } }");
        let chosen = selected_operation(&named, None).expect("the only operation");
        assert_eq!(chosen.node.ty, OperationType::Mutation);
        let two = parse("query Q { me { name } } mutation M { logout { success } }");
        assert!(selected_operation(&two, None).is_none());
        assert_eq!(
            selected_operation(&two, Some("M")).unwrap().node.ty,
            OperationType::Mutation
        );
        assert!(selected_operation(&two, Some("Nope")).is_none());
        assert!(selected_operation(&parse("{ me { name } }"), Some("Q")).is_none());
    }

    #[test]
    fn root_fields_come_from_the_schema_only() {
        let document = parse("{ ...F } fragment F on Query { me { name } }");
        let operation = selected_operation(&document, None).unwrap();
        assert_eq!(root_field(&document, operation), Some("me"));
        let made_up = parse("{ madeUpName123 }");
        let operation = selected_operation(&made_up, None).unwrap();
        assert_eq!(root_field(&made_up, operation), None);
    }

    #[test]
    fn a_resolver_error_without_a_code_is_internal_not_bad_input() {
        let mut foreign = ServerError::new("SELECT failed at /src/db.rs", None);
        foreign.path = vec![async_graphql::PathSegment::Field("me".to_owned())];
        foreign.source = Some(std::sync::Arc::new(std::io::Error::other("disk")));
        classify(&mut foreign);
        assert_eq!(
            ErrorCode::of(&foreign),
            Some(ErrorCode::InternalServerError)
        );
        assert_eq!(foreign.message, "internal error");

        let mut coercion = ServerError::new("Failed to parse \"ID\"", None);
        coercion.path = vec![async_graphql::PathSegment::Field("customer".to_owned())];
        classify(&mut coercion);
        assert_eq!(ErrorCode::of(&coercion), Some(ErrorCode::BadUserInput));

        let mut validation = ServerError::new("Unknown field", None);
        classify(&mut validation);
        assert_eq!(
            ErrorCode::of(&validation),
            Some(ErrorCode::GraphqlValidationFailed)
        );
    }
}

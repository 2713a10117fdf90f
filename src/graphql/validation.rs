//! async-graphql's validation, remembered per document and operation.
//!
//! Validating a document against the schema was 28% of the instructions the server spent on
//! a read (callgrind, `bench/instructions.py`), and clients send the same few documents over
//! and over. The outcome depends on the document, the operation, the schema, and, in one
//! rule (argument values of the right type), on the variables' values. So a successful
//! validation is remembered with the operation's variable definitions, and a later request
//! for the same document and operation reuses it only when each variable it sends is a value
//! of its declared type, checked here as async-graphql checks it (its check is private to the
//! crate). Anything else, including a `null` (whose validity depends on where the variable is
//! used), goes through async-graphql's own validation, so errors are reported exactly as
//! before. The cache holds a bounded number of operations, each with a bounded number of
//! variables and length of names, so that a client sending many distinct documents cannot
//! make it hold more than a few MiB. Being an extension sends every field's resolution
//! through async-graphql's extension chain: about 3,000 instructions per read, against the
//! 45,000 saved.

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
};

use async_graphql::{
    async_trait,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation},
    parser::types::{BaseType, ExecutableDocument, Type},
    registry::{MetaType, MetaTypeName, Registry},
    Name, ServerError, ServerResult, ValidationResult, Value, Variables,
};
use lru::LruCache;

use super::{documents::DocumentHash, execution::selected_operation};
use crate::locking::lock;

/// Operations with more variables than this, or whose name and variable definitions are
/// longer than this in all, are validated every time (worst case: 1,024 operations × about
/// 4 KiB).
const MAX_REMEMBERED_VARIABLES: usize = 32;
const MAX_REMEMBERED_BYTES: usize = 1024;

/// Which validation a request needs: its document's hash and the operation it runs. Engine
/// leaves it in the request's data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ValidationKey {
    pub document: DocumentHash,
    pub operation: Option<String>,
}

/// A successful validation, and the variables whose values it was checked with.
struct Validated {
    result: ValidationResult,
    variables: Vec<(Name, Type)>,
}

/// The schema extension that remembers validations; one per schema.
pub struct ValidationCache {
    validated: Arc<Mutex<LruCache<ValidationKey, Arc<Validated>>>>,
}

impl ValidationCache {
    pub fn new(operations: NonZeroUsize) -> Self {
        Self {
            validated: Arc::new(Mutex::new(LruCache::new(operations))),
        }
    }
}

impl ExtensionFactory for ValidationCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestValidation {
            validated: Arc::clone(&self.validated),
            plan: Mutex::new(Plan::Validate),
        })
    }
}

/// What one request's validation will be: decided once its document and variables are known
/// (async-graphql's parse step), carried out at its validation step.
enum Plan {
    /// Validate; nothing is remembered.
    Validate,
    /// Validate, and remember a success under this key with these variables.
    ValidateAndRemember(ValidationKey, Vec<(Name, Type)>),
    /// Validated before, with variables of the same types.
    Known(ValidationResult),
}

struct RequestValidation {
    validated: Arc<Mutex<LruCache<ValidationKey, Arc<Validated>>>>,
    plan: Mutex<Plan>,
}

impl RequestValidation {
    fn decide(
        &self, registry: &Registry, key: &ValidationKey, document: &ExecutableDocument,
        variables: &Variables,
    ) -> Plan {
        let known = lock(&self.validated).get(key).cloned();
        if let Some(known) = known {
            let fit = known.variables.iter().all(|(name, ty)| {
                variables
                    .get(name)
                    .is_none_or(|value| variable_fits(registry, ty, value))
            });
            return if fit {
                Plan::Known(known.result)
            } else {
                Plan::Validate
            };
        }
        let Some(operation) = selected_operation(document, key.operation.as_deref()) else {
            return Plan::Validate;
        };
        let definitions = &operation.node.variable_definitions;
        let bytes = key.operation.as_ref().map_or(0, String::len)
            + definitions
                .iter()
                .map(|definition| {
                    definition.node.name.node.len() + type_length(&definition.node.var_type.node)
                })
                .sum::<usize>();
        if definitions.len() > MAX_REMEMBERED_VARIABLES || bytes > MAX_REMEMBERED_BYTES {
            return Plan::Validate;
        }
        let declared = definitions
            .iter()
            .map(|definition| {
                let definition = &definition.node;
                (
                    definition.name.node.clone(),
                    definition.var_type.node.clone(),
                )
            })
            .collect();
        Plan::ValidateAndRemember(key.clone(), declared)
    }
}

#[async_trait::async_trait]
impl Extension for RequestValidation {
    async fn parse_query(
        &self, ctx: &ExtensionContext<'_>, query: &str, variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Some(key) = ctx.data_opt::<ValidationKey>() {
            let plan = self.decide(&ctx.schema_env.registry, key, &document, variables);
            *lock(&self.plan) = plan;
        }
        Ok(document)
    }

    async fn validation(
        &self, ctx: &ExtensionContext<'_>, next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let plan = std::mem::replace(&mut *lock(&self.plan), Plan::Validate);
        match plan {
            Plan::Known(result) => Ok(result),
            Plan::Validate => next.run(ctx).await,
            Plan::ValidateAndRemember(key, variables) => {
                let result = next.run(ctx).await?;
                let validated = Arc::new(Validated { result, variables });
                lock(&self.validated).put(key, validated);
                Ok(result)
            }
        }
    }
}

/// The length of a type as written (`[ID!]!` is 6).
fn type_length(ty: &Type) -> usize {
    usize::from(!ty.nullable)
        + match &ty.base {
            BaseType::Named(name) => name.len(),
            BaseType::List(item) => 2 + type_length(item),
        }
}

/// Whether `value` is certainly valid for a variable declared `ty`, wherever the document
/// uses it. Validation made sure each use accepts the declared type; only a `null` may be
/// accepted by the declaration and refused by a use (a nullable variable with a default, in
/// a non-null argument), so it is left to async-graphql.
fn variable_fits(registry: &Registry, ty: &Type, value: &Value) -> bool {
    match (value, &ty.base) {
        (Value::Null, _) => false,
        (Value::List(items), BaseType::List(item)) => items
            .iter()
            .all(|value| variable_fits(registry, item, value)),
        (_, BaseType::List(item)) => variable_fits(registry, item, value),
        (_, BaseType::Named(name)) => named_fits(registry, name, value),
    }
}

/// async-graphql's check of an input value against a type written as in the registry
/// (`[ID!]!`), as a yes or no.
fn value_fits(registry: &Registry, type_name: &str, value: &Value) -> bool {
    match MetaTypeName::create(type_name) {
        MetaTypeName::NonNull(inner) => {
            !matches!(value, Value::Null) && value_fits(registry, inner, value)
        }
        MetaTypeName::List(item) => match value {
            Value::List(items) => items.iter().all(|value| value_fits(registry, item, value)),
            Value::Null => true,
            _ => value_fits(registry, item, value),
        },
        MetaTypeName::Named(name) => named_fits(registry, name, value),
    }
}

fn named_fits(registry: &Registry, type_name: &str, value: &Value) -> bool {
    if matches!(value, Value::Null) {
        return true;
    }
    match registry.types.get(type_name) {
        // Unknown to the registry: validation would have refused the document.
        None => false,
        Some(MetaType::Scalar { is_valid, .. }) => {
            is_valid.as_ref().is_none_or(|valid| valid(value))
        }
        Some(MetaType::Enum { enum_values, .. }) => match value {
            Value::Enum(name) => enum_values.contains_key(name.as_str()),
            Value::String(name) => enum_values.contains_key(name.as_str()),
            _ => false,
        },
        Some(MetaType::InputObject {
            input_fields,
            oneof,
            ..
        }) => match value {
            // One-of objects are rare enough to leave to async-graphql.
            Value::Object(_) if *oneof => false,
            Value::Object(fields) => {
                let all_known = fields
                    .keys()
                    .all(|name| input_fields.contains_key(name.as_str()));
                all_known
                    && input_fields
                        .values()
                        .all(|field| match fields.get(field.name.as_str()) {
                            Some(value) => value_fits(registry, &field.ty, value),
                            None => {
                                !MetaTypeName::create(&field.ty).is_non_null()
                                    || field.default_value.is_some()
                            }
                        })
            }
            _ => true,
        },
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_validation() -> RequestValidation {
        let cache = ValidationCache::new(NonZeroUsize::new(4).unwrap());
        RequestValidation {
            validated: cache.validated,
            plan: Mutex::new(Plan::Validate),
        }
    }

    /// The plan for `query` when its validation is not known yet.
    fn plan_for(query: &str) -> Plan {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let key = ValidationKey {
            document: DocumentHash::of(query),
            operation: None,
        };
        request_validation().decide(&Registry::default(), &key, &document, &Variables::default())
    }

    fn query_with(variables: usize, name_length: usize) -> String {
        let definitions = (0..variables)
            .map(|n| format!("$v{n}{}: Int", "x".repeat(name_length)))
            .collect::<Vec<_>>();
        format!("query({}) {{ me {{ name }} }}", definitions.join(", "))
    }

    #[test]
    fn operations_past_the_bounds_are_not_remembered() {
        let remembered = |plan| matches!(plan, Plan::ValidateAndRemember(..));
        assert!(remembered(plan_for(&query_with(
            MAX_REMEMBERED_VARIABLES,
            0
        ))));
        assert!(!remembered(plan_for(&query_with(
            MAX_REMEMBERED_VARIABLES + 1,
            0
        ))));
        assert!(remembered(plan_for(&query_with(1, 1000))));
        assert!(!remembered(plan_for(&query_with(1, 1100))));
        // No operation to run (two of them, none named): nothing to remember.
        assert!(!remembered(plan_for(
            "query A { me { name } } query B { me { name } }"
        )));
    }

    #[test]
    fn types_are_measured_as_written() {
        let ty = |text: &str| Type::new(text).unwrap();
        assert_eq!(type_length(&ty("[ID!]!")), 6);
        assert_eq!(type_length(&ty("Int")), 3);
        assert_eq!(type_length(&ty("[[String]]")), 10);
    }
}

//! The query depth limit. async-graphql's own limit also counts introspection, whose standard
//! query (the one GraphiQL sends) nests types about a dozen levels deep; this one measures
//! only the fields of the API, so GraphiQL keeps working under a tight limit.

use std::{collections::HashSet, sync::Arc};

use async_graphql::{
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery},
    parser::types::{ExecutableDocument, Selection, SelectionSet},
    Positioned, ServerError, ServerResult, Variables,
};

pub struct DepthLimit {
    pub max_depth: usize,
}

impl ExtensionFactory for DepthLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DepthLimit {
            max_depth: self.max_depth,
        })
    }
}

#[async_trait::async_trait]
impl Extension for DepthLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let depth = document
            .operations
            .iter()
            .map(|(_, op)| depth(&document, &op.node.selection_set, &mut HashSet::new()))
            .max()
            .unwrap_or(0);
        if depth > self.max_depth {
            let mut error = ServerError::new(
                format!(
                    "the query is nested {depth} levels deep; at most {} are allowed",
                    self.max_depth
                ),
                None,
            );
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "GRAPHQL_VALIDATION_FAILED");
            return Err(error);
        }
        Ok(document)
    }
}

/// The deepest nesting of API fields under `set`; introspection fields (`__…`) count zero.
/// `visiting` guards against fragment cycles (which validation refuses later anyway).
fn depth<'a>(
    document: &'a ExecutableDocument,
    set: &'a Positioned<SelectionSet>,
    visiting: &mut HashSet<&'a str>,
) -> usize {
    set.node
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) if field.node.name.node.starts_with("__") => 0,
            Selection::Field(field) => 1 + depth(document, &field.node.selection_set, visiting),
            Selection::InlineFragment(fragment) => {
                depth(document, &fragment.node.selection_set, visiting)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match document.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) if visiting.insert(name) => {
                        let found = depth(document, &fragment.node.selection_set, visiting);
                        visiting.remove(name);
                        found
                    }
                    _ => 0,
                }
            }
        })
        .max()
        .unwrap_or(0)
}

//! The query depth limit. async-graphql's own limit also counts introspection, whose standard
//! query (the one GraphiQL sends) nests types about a dozen levels deep; this one measures
//! only the fields of the API, so GraphiQL keeps working under a tight limit.

use std::collections::HashSet;

use async_graphql::{
    parser::types::{ExecutableDocument, Selection, SelectionSet},
    Positioned,
};

/// The deepest nesting of API fields in any operation of `document`.
pub fn query_depth(document: &ExecutableDocument) -> usize {
    document
        .operations
        .iter()
        .map(|(_, op)| depth(document, &op.node.selection_set, &mut HashSet::new()))
        .max()
        .unwrap_or(0)
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

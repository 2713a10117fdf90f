//! Bounds on a GraphQL document, checked before async-graphql validates or runs it.
//!
//! async-graphql's own checks (its recursion and directive limits, its complexity and depth
//! visitors) walk a fragment again at every spread of it, so a 3 KB document of fragments that
//! each spread the next one twice costs 2^40 steps. Here every fragment is measured once and
//! memoised, so the analysis is linear in the document's size, and the document's size after
//! expanding its fragments is capped: everything async-graphql does afterwards is bounded by
//! that cap.

use std::collections::{hash_map::Entry, HashMap};

use async_graphql::{
    parser::types::{ExecutableDocument, Selection, SelectionSet},
    Positioned,
};

/// How much of a document the server accepts.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Deepest nesting of API fields (introspection fields do not count, so GraphiQL works).
    pub max_depth: usize,
    /// Highest complexity of an operation: each field counts 1, the fields in
    /// [`FIELD_COSTS`] count more.
    pub max_complexity: usize,
    /// Most fields, fragment spreads, inline fragments, arguments and directives, counted
    /// after expanding every fragment where it is spread, over all definitions together.
    pub max_nodes: usize,
    /// Most tokens in the query text (names, punctuation, values), counted before parsing.
    pub max_tokens: usize,
}

/// Deepest nesting of selection sets and fragment spreads, the same rule as async-graphql's
/// recursion limit (which it is configured to match), and of brackets in the query text.
pub const MAX_NESTING: usize = 32;

/// Fields that cost more than 1 because they run bcrypt or send mail: a document of aliased
/// logins cannot queue dozens of password checks, nor one of aliased requests dozens of mails.
const FIELD_COSTS: &[(&str, usize)] = &[
    ("authenticateCustomer", 25),
    ("createCustomer", 10),
    ("updateCustomer", 10),
    ("resetPassword", 10),
    ("requestPasswordReset", 10),
    ("requestEmailVerification", 10),
];

fn field_cost(name: &str) -> usize {
    FIELD_COSTS
        .iter()
        .find_map(|(field, cost)| (*field == name).then_some(*cost))
        .unwrap_or(1)
}

/// What the analysis measured: the largest depth and complexity of any operation, and the
/// expanded size of all definitions together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measure {
    pub depth: usize,
    pub complexity: usize,
    pub nodes: usize,
}

/// Refuses query text with more tokens than `max_tokens`, or brackets nested deeper than a
/// valid document within the bounds needs, before the parser sees it: parsing costs about a
/// microsecond per token, and the parser recurses once per bracket. One pass over the bytes.
pub fn check_text(query: &str, max_tokens: usize) -> Result<(), String> {
    // Selection sets, argument lists and list or object values each add a level.
    let max_brackets = 2 * MAX_NESTING;
    let bytes = query.as_bytes();
    let (mut tokens, mut depth, mut i) = (0usize, 0usize, 0usize);
    let run = |mut i: usize, keep: fn(u8) -> bool| {
        while i < bytes.len() && keep(bytes[i]) {
            i += 1;
        }
        i
    };
    while i < bytes.len() {
        let byte = bytes[i];
        i = match byte {
            // Whitespace, commas and comments are not tokens.
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i + 1,
            b'#' => run(i, |b| b != b'\n'),
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                let mut end = i + 3;
                while end < bytes.len() && !bytes[end..].starts_with(b"\"\"\"") {
                    end += if bytes[end..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                end + 3
            }
            b'"' => {
                let mut end = i + 1;
                while end < bytes.len() && bytes[end] != b'"' && bytes[end] != b'\n' {
                    end += if bytes[end] == b'\\' { 2 } else { 1 };
                }
                end + 1
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => run(i + 1, |b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-')
            }),
            b'.' => run(i, |b| b == b'.'),
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max_brackets {
                    return Err(format!(
                        "the document nests brackets more than {max_brackets} levels deep"
                    ));
                }
                i + 1
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                i + 1
            }
            _ => i + 1,
        };
        if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b',' | b'#') {
            tokens += 1;
            if tokens > max_tokens {
                return Err(format!("the document has more than {max_tokens} tokens"));
            }
        }
    }
    Ok(())
}

/// Measures `document` against `bounds`, each fragment once; the message of a refusal says
/// which bound was passed.
pub fn analyse(document: &ExecutableDocument, bounds: &Bounds) -> Result<Measure, String> {
    let mut analyser = Analyser {
        document,
        bounds,
        fragments: HashMap::new(),
        total_nodes: 0,
    };
    let mut measure = Measure::default();
    for (_, operation) in document.operations.iter() {
        let cost = analyser.selection_set(&operation.node.selection_set, 0)?;
        analyser.add_nodes(cost.nodes)?;
        measure.depth = measure.depth.max(cost.depth);
        measure.complexity = measure.complexity.max(cost.complexity);
    }
    // Fragments that no operation spreads are validated too, so they are counted too.
    for name in document.fragments.keys() {
        let cost = analyser.fragment(name, 0)?;
        analyser.add_nodes(cost.nodes)?;
    }
    measure.nodes = analyser.total_nodes;
    if measure.depth > bounds.max_depth {
        return Err(format!(
            "the query is nested {} levels deep; at most {} are allowed",
            measure.depth, bounds.max_depth
        ));
    }
    if measure.complexity > bounds.max_complexity {
        return Err(format!(
            "the query's complexity is {}; at most {} is allowed",
            measure.complexity, bounds.max_complexity
        ));
    }
    Ok(measure)
}

/// The cost of one selection set, relative to where it stands.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    /// Levels of API fields.
    depth: usize,
    complexity: usize,
    nodes: usize,
    /// Levels of selection sets and spreads below this one.
    nesting: usize,
}

enum Fragment {
    /// Being measured: meeting it again is a cycle.
    Visiting,
    Measured(Cost),
}

struct Analyser<'a> {
    document: &'a ExecutableDocument,
    bounds: &'a Bounds,
    fragments: HashMap<&'a str, Fragment>,
    total_nodes: usize,
}

impl<'a> Analyser<'a> {
    fn too_large(&self) -> String {
        format!(
            "the document is too large: more than {} fields, fragment spreads, arguments and \
             directives once its fragments are expanded",
            self.bounds.max_nodes
        )
    }

    fn add_nodes(&mut self, nodes: usize) -> Result<(), String> {
        self.total_nodes = self.total_nodes.saturating_add(nodes);
        if self.total_nodes > self.bounds.max_nodes {
            return Err(self.too_large());
        }
        Ok(())
    }

    /// `nesting` is how deep `set` stands in its operation, for the recursion bound.
    fn selection_set(
        &mut self, set: &'a Positioned<SelectionSet>, nesting: usize,
    ) -> Result<Cost, String> {
        if nesting > MAX_NESTING {
            return Err(format!(
                "the document nests selections and fragments more than {MAX_NESTING} levels deep"
            ));
        }
        let mut cost = Cost::default();
        for item in &set.node.items {
            let (inner, own_nodes, field) = match &item.node {
                Selection::Field(field) => {
                    let inner = if field.node.selection_set.node.items.is_empty() {
                        Cost::default()
                    } else {
                        self.selection_set(&field.node.selection_set, nesting + 1)?
                    };
                    let own = 1 + field.node.arguments.len() + field.node.directives.len();
                    (inner, own, Some(field.node.name.node.as_str()))
                }
                Selection::InlineFragment(fragment) => {
                    let inner = self.selection_set(&fragment.node.selection_set, nesting + 1)?;
                    (inner, 1 + fragment.node.directives.len(), None)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let inner = self.fragment(name, nesting + 1)?;
                    (inner, 1 + spread.node.directives.len(), None)
                }
            };
            let levels = usize::from(!matches!(&item.node, Selection::Field(f)
                if f.node.selection_set.node.items.is_empty()));
            cost.nesting = cost.nesting.max(levels + inner.nesting);
            cost.nodes = cost.nodes.saturating_add(own_nodes + inner.nodes);
            match field {
                // Introspection (`__schema`, `__type`, `__typename`) counts no depth.
                Some(name) if name.starts_with("__") => {
                    cost.complexity = cost.complexity.saturating_add(1 + inner.complexity);
                }
                Some(name) => {
                    cost.depth = cost.depth.max(1 + inner.depth);
                    cost.complexity = cost
                        .complexity
                        .saturating_add(field_cost(name) + inner.complexity);
                }
                None => {
                    cost.depth = cost.depth.max(inner.depth);
                    cost.complexity = cost.complexity.saturating_add(inner.complexity);
                }
            }
            if cost.nodes > self.bounds.max_nodes {
                return Err(self.too_large());
            }
        }
        Ok(cost)
    }

    /// The memoised cost of fragment `name`, spread `nesting` levels deep.
    fn fragment(&mut self, name: &'a str, nesting: usize) -> Result<Cost, String> {
        match self.fragments.entry(name) {
            Entry::Occupied(entry) => match entry.get() {
                Fragment::Visiting => Err(format!("fragment {name} spreads itself")),
                Fragment::Measured(cost) => {
                    if nesting + cost.nesting > MAX_NESTING {
                        return Err(format!(
                            "the document nests selections and fragments more than \
                             {MAX_NESTING} levels deep"
                        ));
                    }
                    Ok(*cost)
                }
            },
            Entry::Vacant(entry) => {
                let Some(definition) = self.document.fragments.get(name) else {
                    return Err(format!("unknown fragment {name}"));
                };
                entry.insert(Fragment::Visiting);
                let cost = self.selection_set(&definition.node.selection_set, nesting)?;
                self.fragments.insert(name, Fragment::Measured(cost));
                Ok(cost)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds {
            max_depth: 10,
            max_complexity: 250,
            max_nodes: 2000,
            max_tokens: 2000,
        }
    }

    fn measure(query: &str) -> Result<Measure, String> {
        analyse(
            &async_graphql::parser::parse_query(query).unwrap(),
            &bounds(),
        )
    }

    #[test]
    fn counts_through_fragments_and_inline_fragments() {
        let plain = measure("{ customers { edges { node { address { city } } } } }").unwrap();
        assert_eq!(plain.depth, 5);
        let spread = measure(
            "{ customers { ...page } } fragment page on CustomerConnection \
             { edges { node { ... on Customer { address { city } } } } }",
        )
        .unwrap();
        assert_eq!(spread.depth, 5);
        assert_eq!(spread.complexity, plain.complexity);
    }

    #[test]
    fn introspection_counts_no_depth_and_bcrypt_fields_cost_more() {
        assert_eq!(measure("{ __schema { types { name } } }").unwrap().depth, 0);
        let login =
            measure("mutation { authenticateCustomer(email: \"a\", password: \"b\") { token } }")
                .unwrap();
        assert_eq!(login.complexity, 26);
    }

    /// F0 spreads F1 twice, F1 spreads F2 twice, …: 2^levels expanded fields in a few KB.
    fn fragment_bomb(levels: usize) -> String {
        let mut query = String::from("{ ...F0 }");
        for level in 0..levels {
            query.push_str(&format!(
                " fragment F{level} on Query {{ ...F{next} ...F{next} }}",
                next = level + 1
            ));
        }
        query.push_str(&format!(" fragment F{levels} on Query {{ me {{ name }} }}"));
        query
    }

    /// Each fragment is measured once, so the bomb is refused on its size (or, deeper, on its
    /// nesting) without being expanded.
    #[test]
    fn a_fragment_bomb_is_refused_without_expanding_it() {
        let refused = measure(&fragment_bomb(20)).unwrap_err();
        assert!(refused.contains("too large"), "{refused}");
        let refused = measure(&fragment_bomb(40)).unwrap_err();
        assert!(refused.contains("levels deep"), "{refused}");
    }

    #[test]
    fn cycles_unknown_fragments_and_deep_nesting_are_refused() {
        assert!(
            measure("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
                .unwrap_err()
                .contains("spreads itself")
        );
        assert!(measure("{ ...Nope }")
            .unwrap_err()
            .contains("unknown fragment"));
        let deep = format!("{}{}", "{ a ".repeat(40), "}".repeat(40));
        assert!(
            check_text(&deep, 2000).is_ok(),
            "40 levels is below the bracket limit"
        );
        let parsed = async_graphql::parser::parse_query(&deep).unwrap();
        assert!(
            analyse(&parsed, &bounds()).is_err(),
            "but too deep for selections"
        );
        let brackets = format!("{{ a(b: {}) }}", "[".repeat(100));
        assert!(check_text(&brackets, 2000).is_err());
        let in_string = format!("{{ a(b: \"{}\") }}", "[".repeat(100));
        assert!(
            check_text(&in_string, 2000).is_ok(),
            "brackets in strings do not count"
        );
    }

    #[test]
    fn tokens_are_counted_as_the_parser_sees_them() {
        let count = |query: &str| {
            (0..100)
                .find(|max| check_text(query, *max).is_ok())
                .unwrap()
        };
        assert_eq!(count("{ me { name } }"), 6);
        assert_eq!(count("query($a: [Int!] = [1, -2.5e3]) { f(a: $a) }"), 24);
        assert_eq!(
            count("{ ...F } # a comment { { {\nfragment F on Q { a }"),
            11
        );
        assert_eq!(
            count(r#"{ f(s: "a \"quoted\" { string", b: """block { """) }"#),
            11
        );
        let flat = format!("{{ {} }}", "a ".repeat(3000));
        assert!(check_text(&flat, 2000).unwrap_err().contains("2000 tokens"));
    }

    #[test]
    fn unused_fragments_count_towards_the_size() {
        let fields: String = (0..250).map(|n| format!("f{n} ")).collect();
        let spreads = "...Big ".repeat(8);
        let query = format!(
            "{{ me {{ name }} }} fragment Big on Query {{ {fields} }} \
             fragment Unused on Query {{ {spreads} }}"
        );
        assert!(measure(&query).unwrap_err().contains("too large"));
    }
}

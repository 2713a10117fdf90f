//! Trusted documents: the documents a first-party app was built with, from a manifest that
//! its build writes (`PERSISTED_DOCUMENTS`). Two formats are read: Apollo's persisted query
//! manifest (`generate-persisted-query-manifest`), and graphql-codegen's
//! `{"<hash>": "<document>"}` map. Every id must be the SHA-256 hash of its document, the
//! hash clients send in `extensions.persistedQuery`; each document is parsed once, at start.

use std::{collections::HashMap, path::Path};

use anyhow::Context as _;
use async_graphql::parser::types::ExecutableDocument;
use serde::Deserialize;

use super::documents::DocumentHash;

#[derive(Default)]
pub struct TrustedDocuments {
    documents: HashMap<DocumentHash, ExecutableDocument>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Manifest {
    Apollo {
        format: String,
        version: u32,
        operations: Vec<ApolloOperation>,
    },
    HashMap(HashMap<String, String>),
}

#[derive(Deserialize)]
struct ApolloOperation {
    id: String,
    body: String,
}

const APOLLO_FORMAT: &str = "apollo-persisted-query-manifest";

impl TrustedDocuments {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read PERSISTED_DOCUMENTS {}", path.display()))?;
        Self::from_manifest(&text)
            .map_err(|problem| anyhow::anyhow!("PERSISTED_DOCUMENTS {}: {problem}", path.display()))
    }

    fn from_manifest(text: &str) -> Result<Self, String> {
        let manifest = serde_json::from_str::<Manifest>(text).map_err(|_| {
            "neither an Apollo persisted query manifest nor a {\"<sha256>\": \"<document>\"} map".to_owned()
        })?;
        match manifest {
            Manifest::Apollo {
                format,
                version,
                operations,
            } => {
                if format != APOLLO_FORMAT || version != 1 {
                    return Err(format!("expected format {APOLLO_FORMAT} version 1"));
                }
                Self::from_pairs(operations.into_iter().map(|op| (op.id, op.body)))
            }
            Manifest::HashMap(map) => Self::from_pairs(map),
        }
    }

    /// From (id, document) pairs, each id the document's SHA-256 in hex.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let mut documents = HashMap::new();
        for (id, body) in pairs {
            let hash = DocumentHash::of(&body);
            if DocumentHash::parse_hex(&id) != Some(hash) {
                return Err(format!(
                    "{id} is not the SHA-256 hash of its document (graphql-codegen: set \
                     persistedDocuments.hashAlgorithm to 'sha256')"
                ));
            }
            let document = async_graphql::parser::parse_query(&body)
                .map_err(|error| format!("{id} does not parse: {error}"))?;
            documents.insert(hash, document);
        }
        Ok(Self { documents })
    }

    pub fn get(&self, hash: &DocumentHash) -> Option<&ExecutableDocument> {
        self.documents.get(hash)
    }

    pub fn document_count(&self) -> usize {
        self.documents.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256_hex(text: &str) -> String {
        hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
    }

    const ME: &str = "query Me { me { id email } }";

    #[test]
    fn reads_apollos_manifest_and_codegens_map() {
        let apollo = serde_json::json!({
            "format": APOLLO_FORMAT, "version": 1,
            "operations": [{"id": sha256_hex(ME), "name": "Me", "type": "query", "body": ME}],
        });
        let trusted = TrustedDocuments::from_manifest(&apollo.to_string()).unwrap();
        assert!(trusted.get(&DocumentHash::of(ME)).is_some());
        let codegen = serde_json::json!({ sha256_hex(ME): ME });
        let trusted = TrustedDocuments::from_manifest(&codegen.to_string()).unwrap();
        assert_eq!(trusted.document_count(), 1);
        assert!(trusted.get(&DocumentHash::of(ME)).is_some());
    }

    #[test]
    fn refuses_wrong_hashes_bad_documents_and_other_files() {
        let sha1 = serde_json::json!({ "0123456789abcdef0123456789abcdef01234567": ME });
        let refused = TrustedDocuments::from_manifest(&sha1.to_string())
            .err()
            .unwrap();
        assert!(refused.contains("hashAlgorithm"), "{refused}");
        let broken = "query {";
        let unparsable = serde_json::json!({ sha256_hex(broken): broken });
        let refused = TrustedDocuments::from_manifest(&unparsable.to_string())
            .err()
            .unwrap();
        assert!(refused.contains("does not parse"), "{refused}");
        for other in [
            "[]",
            "{\"format\": \"x\", \"version\": 1, \"operations\": []}",
            "{\"a\": 1}",
        ] {
            assert!(TrustedDocuments::from_manifest(other).is_err(), "{other}");
        }
    }
}

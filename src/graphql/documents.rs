//! Where a request's parsed document comes from: its query text, or the SHA-256 hash of a
//! document the server knows (Apollo's automatic persisted queries, and the trusted documents
//! of a manifest).
//!
//! Parsed documents are kept by the hash of their text, in one cache shared by plain queries
//! and persisted ones: clients send the same few documents over and over, and parsing them
//! again each time was a large share of the server's CPU under load. Every request is still
//! held to its bounds; only the parse is skipped (a validation is remembered apart, see
//! `validation`, and each request's variables are still checked). The cache is bounded
//! by the total length of the texts behind it, not only by its number of entries: a parsed
//! document takes up to about a hundred times its text in memory, so a client sending (or
//! registering) many distinct documents cannot make it grow past a few tens of MiB.

use std::{num::NonZeroUsize, sync::Mutex};

use async_graphql::{parser::types::ExecutableDocument, Request, Value};
use lru::LruCache;

use super::{analysis, trusted::TrustedDocuments};
use crate::locking::lock;

/// Queries longer than this are parsed every time (and cannot be sent by hash alone).
const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;
/// The most query text the cache stands for at once.
const MAX_CACHED_TOTAL_BYTES: usize = 256 * 1024;

/// The SHA-256 hash of a document's text, as automatic persisted queries and manifests name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocumentHash([u8; 32]);

impl DocumentHash {
    pub fn of(text: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        Self(digest.as_ref().try_into().expect("SHA-256 is 32 bytes"))
    }

    /// From 64 hex digits, in either case.
    pub fn parse_hex(hex_digits: &str) -> Option<Self> {
        let mut bytes = [0; 32];
        hex::decode_to_slice(hex_digits, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

/// Why a request has no document to run.
#[derive(Debug, PartialEq, Eq)]
pub enum DocumentError {
    /// Sent by hash alone, and the hash is not known (or no longer): the client sends the
    /// text next.
    PersistedQueryNotFound,
    /// Only trusted documents run, and this is not one of them.
    NotInList,
    /// `extensions.persistedQuery` is not `{version: 1, sha256Hash}`, or its hash is not the
    /// text's.
    BadPersistedQuery(&'static str),
    /// The text is refused before parsing, or does not parse.
    Unparsable(String),
}

pub struct Documents {
    cache: Mutex<Cached>,
    trusted: TrustedDocuments,
    /// Whether only trusted documents run.
    trusted_only: bool,
}

struct Cached {
    documents: LruCache<DocumentHash, (ExecutableDocument, usize)>,
    /// The total length of the texts of the cached documents.
    bytes: usize,
}

impl Documents {
    pub fn new(capacity: NonZeroUsize, trusted: TrustedDocuments, trusted_only: bool) -> Self {
        Self {
            cache: Mutex::new(Cached {
                documents: LruCache::new(capacity),
                bytes: 0,
            }),
            trusted,
            trusted_only,
        }
    }

    /// Gives `request` its parsed document: a trusted one, one from the cache, or its text
    /// parsed now (after the text's token count and bracket nesting are checked, which bound
    /// the parser's time and stack) and remembered; and returns the document's hash. With
    /// trusted documents only, nothing else is looked at, let alone parsed.
    pub fn prepare(
        &self, request: &mut Request, max_tokens: usize,
    ) -> Result<DocumentHash, DocumentError> {
        let claimed = persisted_query_hash(request)?;
        let text = Some(request.query.as_str()).filter(|text| !text.is_empty());
        let hash = match (claimed, text) {
            (Some(claimed), Some(text)) if DocumentHash::of(text) != claimed => {
                return Err(DocumentError::BadPersistedQuery(
                    "extensions.persistedQuery.sha256Hash is not the SHA-256 hash of the query",
                ))
            }
            (Some(claimed), _) => claimed,
            (None, Some(text)) => DocumentHash::of(text),
            (None, None) if self.trusted_only => return Err(DocumentError::NotInList),
            (None, None) => {
                return Err(DocumentError::Unparsable("the request has no query".into()))
            }
        };
        if let Some(document) = self.trusted.get(&hash) {
            request.set_parsed_query(document.clone());
            return Ok(hash);
        }
        if self.trusted_only {
            return Err(DocumentError::NotInList);
        }
        let cached = lock(&self.cache)
            .documents
            .get(&hash)
            .map(|(document, _)| document.clone());
        if let Some(document) = cached {
            request.set_parsed_query(document);
            return Ok(hash);
        }
        let text = text.ok_or(DocumentError::PersistedQueryNotFound)?;
        analysis::check_text(text, max_tokens).map_err(DocumentError::Unparsable)?;
        let document = async_graphql::parser::parse_query(text)
            .map_err(|error| DocumentError::Unparsable(error.to_string()))?;
        if text.len() <= MAX_CACHED_QUERY_BYTES {
            self.remember(hash, text.len(), document.clone());
        }
        request.set_parsed_query(document);
        Ok(hash)
    }

    fn remember(&self, hash: DocumentHash, text_bytes: usize, document: ExecutableDocument) {
        let mut cached = lock(&self.cache);
        cached.bytes += text_bytes;
        if let Some((_, (_, evicted_bytes))) = cached.documents.push(hash, (document, text_bytes)) {
            cached.bytes -= evicted_bytes;
        }
        while cached.bytes > MAX_CACHED_TOTAL_BYTES {
            match cached.documents.pop_lru() {
                Some((_, (_, evicted_bytes))) => cached.bytes -= evicted_bytes,
                None => break,
            }
        }
    }
}

/// The hash in `extensions.persistedQuery` (Apollo's protocol: `{version: 1, sha256Hash}`;
/// other keys, such as urql's `miss`, are ignored).
fn persisted_query_hash(request: &Request) -> Result<Option<DocumentHash>, DocumentError> {
    let Some(persisted) = request.extensions.0.get("persistedQuery") else {
        return Ok(None);
    };
    let malformed = DocumentError::BadPersistedQuery(
        "extensions.persistedQuery must be {\"version\": 1, \"sha256Hash\": <64 hex digits>}",
    );
    let Value::Object(fields) = persisted else {
        return Err(malformed);
    };
    let version_one =
        matches!(fields.get("version"), Some(Value::Number(n)) if n.as_u64() == Some(1));
    match fields.get("sha256Hash") {
        Some(Value::String(hash)) if version_one => {
            DocumentHash::parse_hex(hash).map(Some).ok_or(malformed)
        }
        _ => Err(malformed),
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::Name;

    use super::*;

    fn documents(entries: usize) -> Documents {
        let capacity = NonZeroUsize::new(entries).unwrap();
        Documents::new(capacity, TrustedDocuments::default(), false)
    }

    fn hashed(hash: &str, query: &str) -> Request {
        let mut request = Request::new(query);
        let persisted = [
            (Name::new("version"), Value::from(1)),
            (Name::new("sha256Hash"), Value::from(hash)),
            (Name::new("miss"), Value::from(true)),
        ];
        request.extensions.0.insert(
            "persistedQuery".to_owned(),
            Value::Object(persisted.into_iter().collect()),
        );
        request
    }

    fn hex_of(text: &str) -> String {
        hex::encode(DocumentHash::of(text).0)
    }

    #[test]
    fn remembers_parsed_queries_and_skips_bad_or_long_ones() {
        let documents = documents(2);
        let prepare = |query: String| documents.prepare(&mut Request::new(query), 100);
        prepare("{ me { name } }".into()).unwrap();
        assert_eq!(lock(&documents.cache).documents.len(), 1);
        let mut again = Request::new("{ me { name } }");
        documents.prepare(&mut again, 100).unwrap();
        assert!(again.parsed_query().is_ok());
        assert!(prepare("{ me { ".into()).is_err());
        let long = format!("{{ me {{ name }} }}{}", " ".repeat(MAX_CACHED_QUERY_BYTES));
        prepare(long).unwrap();
        assert_eq!(lock(&documents.cache).documents.len(), 1);
    }

    #[test]
    fn holds_at_most_its_byte_budget() {
        let documents = documents(10_000);
        for n in 0..200 {
            let query = format!("{{ me{n} {{ name }} }}{}", " ".repeat(4000));
            documents.prepare(&mut Request::new(query), 100).unwrap();
        }
        let cached = lock(&documents.cache);
        assert!(cached.bytes <= MAX_CACHED_TOTAL_BYTES);
        let held: usize = cached.documents.iter().map(|(_, (_, bytes))| bytes).sum();
        assert_eq!(cached.bytes, held);
    }

    #[test]
    fn deep_brackets_are_refused_before_parsing() {
        let deep = format!("{{ a(b: {}) }}", "[".repeat(30_000));
        let refused = documents(2).prepare(&mut Request::new(deep), 100_000);
        assert!(matches!(refused, Err(DocumentError::Unparsable(m)) if m.contains("nests")));
    }

    #[test]
    fn a_hash_alone_runs_once_its_text_was_seen() {
        let documents = documents(10);
        let query = "{ me { email } }";
        let by_hash = || documents.prepare(&mut hashed(&hex_of(query), ""), 100);
        assert_eq!(by_hash(), Err(DocumentError::PersistedQueryNotFound));
        documents
            .prepare(&mut hashed(&hex_of(query), query), 100)
            .unwrap();
        assert_eq!(by_hash(), Ok(DocumentHash::of(query)));
        // A plain query and its hash are the same entry.
        documents
            .prepare(&mut Request::new("{ me { name } }"), 100)
            .unwrap();
        let upper = hex_of("{ me { name } }").to_uppercase();
        let plain = DocumentHash::of("{ me { name } }");
        assert_eq!(documents.prepare(&mut hashed(&upper, ""), 100), Ok(plain));
    }

    #[test]
    fn a_wrong_or_malformed_hash_is_refused_and_remembers_nothing() {
        let documents = documents(10);
        let wrong = documents.prepare(&mut hashed(&hex_of("{ other }"), "{ me { email } }"), 100);
        assert!(
            matches!(wrong, Err(DocumentError::BadPersistedQuery(m)) if m.contains("not the SHA-256"))
        );
        for bad in ["abc", &"g".repeat(64), ""] {
            let refused = documents.prepare(&mut hashed(bad, "{ me { email } }"), 100);
            assert!(
                matches!(refused, Err(DocumentError::BadPersistedQuery(_))),
                "{bad}"
            );
        }
        let mut version_two = hashed(&hex_of("{ a }"), "{ a }");
        if let Some(Value::Object(fields)) = version_two.extensions.0.get_mut("persistedQuery") {
            fields.insert(Name::new("version"), Value::from(2));
        }
        let refused = documents.prepare(&mut version_two, 100);
        assert!(matches!(refused, Err(DocumentError::BadPersistedQuery(_))));
        assert_eq!(lock(&documents.cache).documents.len(), 0);
    }

    #[test]
    fn trusted_only_refuses_everything_else_unparsed() {
        let listed = "query Me { me { email } }";
        let trusted = TrustedDocuments::from_pairs([(hex_of(listed), listed.to_owned())]).unwrap();
        let documents = Documents::new(NonZeroUsize::new(10).unwrap(), trusted, true);
        let hash = DocumentHash::of(listed);
        assert_eq!(
            documents.prepare(&mut hashed(&hex_of(listed), ""), 100),
            Ok(hash)
        );
        assert_eq!(documents.prepare(&mut Request::new(listed), 100), Ok(hash));
        for refused in [
            Request::new("{ me { name } }"),
            Request::new("{ not graphql"),
            hashed(&hex_of("{ x }"), ""),
            Request::new(""),
        ] {
            let mut refused = refused;
            assert_eq!(
                documents.prepare(&mut refused, 100),
                Err(DocumentError::NotInList)
            );
        }
        assert_eq!(lock(&documents.cache).documents.len(), 0);
    }
}

//! Parsed GraphQL documents, kept by query text. Clients send the same few queries over and
//! over; parsing them again each time was a large share of the server's CPU under load.
//! Every request is still limited and validated as usual: only the parse is skipped.
//!
//! The cache is bounded by the total length of the texts it holds, not only by its number of
//! entries: a parsed document takes up to about a hundred times its text in memory, so a
//! client sending many distinct documents cannot make it grow past a few tens of MiB.

use std::{num::NonZeroUsize, sync::Mutex};

use async_graphql::{parser::types::ExecutableDocument, Request};
use lru::LruCache;

use super::analysis;

/// Queries longer than this are parsed every time.
const MAX_CACHED_QUERY_BYTES: usize = 4096;
/// The most query text the cache holds at once.
const MAX_CACHED_TOTAL_BYTES: usize = 256 * 1024;

pub struct DocumentCache {
    inner: Mutex<Cached>,
}

struct Cached {
    documents: LruCache<String, ExecutableDocument>,
    /// The total length of the keys.
    bytes: usize,
}

impl DocumentCache {
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            inner: Mutex::new(Cached {
                documents: LruCache::new(capacity),
                bytes: 0,
            }),
        }
    }

    /// Gives `request` its parsed document: from the cache, or parsed now (after the text's
    /// token count and bracket nesting are checked, which bound the parser's time and stack)
    /// and remembered. The error is the message of a document that is refused or does not
    /// parse.
    pub fn prepare(&self, request: &mut Request, max_tokens: usize) -> Result<(), String> {
        let cached = self.lock().documents.get(request.query.as_str()).cloned();
        if let Some(document) = cached {
            request.set_parsed_query(document);
            return Ok(());
        }
        analysis::check_text(&request.query, max_tokens)?;
        let document =
            async_graphql::parser::parse_query(&request.query).map_err(|e| e.to_string())?;
        if request.query.len() <= MAX_CACHED_QUERY_BYTES {
            self.remember(request.query.clone(), document.clone());
        }
        request.set_parsed_query(document);
        Ok(())
    }

    fn remember(&self, query: String, document: ExecutableDocument) {
        let mut cached = self.lock();
        cached.bytes += query.len();
        if let Some((evicted, _)) = cached.documents.push(query, document) {
            cached.bytes -= evicted.len();
        }
        while cached.bytes > MAX_CACHED_TOTAL_BYTES {
            match cached.documents.pop_lru() {
                Some((evicted, _)) => cached.bytes -= evicted.len(),
                None => break,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        // A panic while holding the lock cannot leave the cache inconsistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: usize) -> DocumentCache {
        DocumentCache::new(NonZeroUsize::new(entries).unwrap())
    }

    #[test]
    fn remembers_parsed_queries_and_skips_bad_or_long_ones() {
        let cache = cache(2);
        cache
            .prepare(&mut Request::new("{ me { name } }"), 100)
            .unwrap();
        assert_eq!(cache.lock().documents.len(), 1);
        let mut again = Request::new("{ me { name } }");
        cache.prepare(&mut again, 100).unwrap();
        assert!(again.parsed_query().is_ok());
        assert!(cache.prepare(&mut Request::new("{ me { "), 100).is_err());
        let long = format!("{{ me {{ name }} }}{}", " ".repeat(5000));
        cache.prepare(&mut Request::new(long), 100).unwrap();
        assert_eq!(cache.lock().documents.len(), 1);
    }

    #[test]
    fn holds_at_most_its_byte_budget() {
        let cache = cache(10_000);
        for n in 0..200 {
            let query = format!("{{ me{n} {{ name }} }}{}", " ".repeat(4000));
            cache.prepare(&mut Request::new(query), 100).unwrap();
        }
        let cached = cache.lock();
        assert!(cached.bytes <= MAX_CACHED_TOTAL_BYTES);
        assert_eq!(
            cached.bytes,
            cached.documents.iter().map(|(q, _)| q.len()).sum::<usize>()
        );
    }

    #[test]
    fn deep_brackets_are_refused_before_parsing() {
        let deep = format!("{{ a(b: {}) }}", "[".repeat(30_000));
        let refused = cache(2)
            .prepare(&mut Request::new(deep), 100_000)
            .unwrap_err();
        assert!(refused.contains("nests"), "{refused}");
    }
}

//! Parsed GraphQL documents, kept by query text. Clients send the same few queries over and
//! over; parsing them again each time was a large share of the server's CPU under load.
//! Every request is still validated and limited as usual: only the parse is skipped.

use std::{num::NonZeroUsize, sync::Mutex};

use async_graphql::{parser::types::ExecutableDocument, Request};
use lru::LruCache;

/// Queries longer than this are parsed every time, which bounds the cache's memory.
const MAX_CACHED_QUERY_BYTES: usize = 4096;

pub struct DocumentCache {
    documents: Mutex<LruCache<String, ExecutableDocument>>,
}

impl DocumentCache {
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            documents: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// Gives `request` its parsed document: from the cache, or parsed now and remembered.
    /// A query that does not parse is left for execution to report.
    pub fn prepare(&self, request: &mut Request) {
        if request.query.len() > MAX_CACHED_QUERY_BYTES {
            return;
        }
        let cached = self.lock().get(request.query.as_str()).cloned();
        match cached {
            Some(document) => request.set_parsed_query(document),
            None => {
                if let Ok(document) = request.parsed_query() {
                    let document = document.clone();
                    self.lock().put(request.query.clone(), document);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, ExecutableDocument>> {
        // A panic while holding the lock cannot leave the cache inconsistent.
        self.documents
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_parsed_queries_and_skips_bad_or_long_ones() {
        let cache = DocumentCache::new(NonZeroUsize::new(2).unwrap());
        let mut request = Request::new("{ me { name } }");
        cache.prepare(&mut request);
        assert_eq!(cache.lock().len(), 1);
        let mut again = Request::new("{ me { name } }");
        cache.prepare(&mut again);
        assert!(again.parsed_query().is_ok());
        cache.prepare(&mut Request::new("{ me { "));
        cache.prepare(&mut Request::new(format!(
            "{{ me {{ name }} }}{}",
            " ".repeat(5000)
        )));
        assert_eq!(cache.lock().len(), 1);
    }
}

//! The parse cache: parsed documents by the SHA-256 of their text, least recently used dropped
//! first, bounded by entries AND by an estimate of their memory.
//!
//! Why a byte bound: a parsed document is 20–33 times the size of its text (measured on
//! async-graphql's parser: a 171-byte query is 5.7 KB of AST, a 3.7 KB mutation with 30
//! aliased fields 75 KB). With only an entry bound (256), documents that are never sent twice —
//! mutations with their values inline, as `scripts/scheduler-idle.sh` sends 10,000 of — kept
//! ~19 MB alive in an idle server. Frontends send a few small documents again and again
//! (variables vary, the text does not): those all fit.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

/// Estimated bytes of parsed document per byte of query text (the upper end of what was
/// measured, see the module docs).
pub const AST_BYTES_PER_TEXT_BYTE: usize = 32;

/// An LRU of parsed documents within `max_entries` and `max_bytes` (estimated).
pub struct DocumentCache {
    inner: Mutex<Entries>,
    max_bytes: usize,
}

struct Entries {
    lru: LruCache<String, Entry>,
    bytes: usize,
}

struct Entry {
    doc: ExecutableDocument,
    cost: usize,
    /// The operations of `doc` (by name; `None`: the one unnamed) that have passed
    /// async-graphql's strict validation rules (see [`super::variables`] for why that is
    /// kept). At most one entry per operation of the document.
    validated: Vec<Option<String>>,
}

impl DocumentCache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        let cap = NonZeroUsize::new(max_entries).unwrap_or(NonZeroUsize::MIN);
        DocumentCache {
            inner: Mutex::new(Entries {
                lru: LruCache::new(cap),
                bytes: 0,
            }),
            max_bytes,
        }
    }

    /// The document stored under `key`, marked as recently used, and whether its operation
    /// `operation` has passed the strict validation rules.
    pub fn get(&self, key: &str, operation: Option<&str>) -> Option<(ExecutableDocument, bool)> {
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        entries.lru.get(key).map(|e| {
            let validated = e.validated.iter().any(|v| v.as_deref() == operation);
            (e.doc.clone(), validated)
        })
    }

    /// Record that operation `operation` of the document under `key` passed the strict
    /// validation rules (nothing if the document is no longer held).
    pub fn mark_validated(&self, key: &str, operation: Option<&str>) {
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.lru.peek_mut(key)
            && !e.validated.iter().any(|v| v.as_deref() == operation)
        {
            e.validated.push(operation.map(str::to_owned));
        }
    }

    /// Store `doc`, parsed from `text_len` bytes of text. A document that alone exceeds the
    /// budget is not stored.
    pub fn insert(&self, key: String, doc: ExecutableDocument, text_len: usize) {
        let cost = text_len.saturating_mul(AST_BYTES_PER_TEXT_BYTE).max(1);
        if cost > self.max_bytes {
            return;
        }
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = entries.lru.pop(&key) {
            entries.bytes -= old.cost;
        }
        while entries.bytes + cost > self.max_bytes {
            match entries.lru.pop_lru() {
                Some((_, dropped)) => entries.bytes -= dropped.cost,
                None => break,
            }
        }
        let entry = Entry {
            doc,
            cost,
            validated: Vec::new(),
        };
        if let Some((_, dropped)) = entries.lru.push(key, entry) {
            entries.bytes -= dropped.cost;
        }
        entries.bytes += cost;
    }

    /// (entries, estimated bytes) held now.
    pub fn usage(&self) -> (usize, usize) {
        let entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (entries.lru.len(), entries.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(text).unwrap()
    }

    #[test]
    fn stays_within_its_byte_budget_dropping_the_least_recently_used() {
        let text = "{ a }"; // 5 bytes: 160 estimated
        let cache = DocumentCache::new(100, 500);
        cache.insert("1".into(), doc(text), text.len());
        cache.insert("2".into(), doc(text), text.len());
        assert!(
            cache.get("1", None).is_some(),
            "1 is now the most recently used"
        );
        cache.insert("3".into(), doc(text), text.len());
        assert_eq!(cache.usage(), (3, 480));
        cache.insert("4".into(), doc(text), text.len());
        assert_eq!(cache.usage(), (3, 480));
        assert!(
            cache.get("2", None).is_none(),
            "the least recently used went first"
        );
        assert!(
            cache.get("1", None).is_some()
                && cache.get("3", None).is_some()
                && cache.get("4", None).is_some()
        );
    }

    #[test]
    fn stays_within_its_entry_bound_and_skips_documents_over_budget() {
        let cache = DocumentCache::new(2, 10_000);
        for key in ["1", "2", "3"] {
            cache.insert(key.into(), doc("{ a }"), 5);
        }
        assert_eq!(cache.usage(), (2, 320));
        assert!(cache.get("1", None).is_none());
        cache.insert("big".into(), doc("{ a }"), 10_000);
        assert!(cache.get("big", None).is_none());
        assert_eq!(cache.usage(), (2, 320));
        // Storing a key again replaces it and its cost.
        cache.insert("3".into(), doc("{ a }"), 10);
        assert_eq!(cache.usage(), (2, 480));
        // Validation is recorded per operation, and forgotten with the document.
        cache.insert("ops".into(), doc("query A { a } query B { b }"), 5);
        cache.mark_validated("ops", Some("A"));
        assert_eq!(cache.get("ops", Some("A")).map(|(_, v)| v), Some(true));
        assert_eq!(cache.get("ops", Some("B")).map(|(_, v)| v), Some(false));
        assert_eq!(cache.get("ops", None).map(|(_, v)| v), Some(false));
        cache.insert("ops".into(), doc("query A { a } query B { b }"), 5);
        assert_eq!(cache.get("ops", Some("A")).map(|(_, v)| v), Some(false));
    }
}

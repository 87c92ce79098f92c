//! The store both exact caches share (whole responses, [`crate::graphql::response_cache`];
//! aggregates, [`crate::service::aggregates`]): values by key, each tagged with the data
//! [`Generation`] it was computed under, least recently used evicted first within a byte
//! budget.
//!
//! The exactness rule lives here once: a lookup is answered only by a value stored under the
//! generation the read began with (an older one is dropped on sight: it can never be served
//! again), and a value is stored only if no write was in flight when its read began and the
//! generation has not moved since — checked under the lock, so no value of an older generation
//! lands after a newer one.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use ingest::generation::{Generation, Snapshot};
use lru::LruCache;

/// Counters for `/metrics`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
}

struct Entry<V> {
    generation: u64,
    value: V,
    /// What the budget counts for it, fixed when stored.
    cost: usize,
}

struct Entries<K: Hash + Eq, V> {
    lru: LruCache<K, Entry<V>>,
    bytes: usize,
}

/// Values by key within `max_bytes` (0: off), exact against `generation`; see the module docs.
pub struct GenerationLru<K: Hash + Eq, V> {
    generation: Generation,
    max_bytes: usize,
    entries: Mutex<Entries<K, V>>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl<K: Hash + Eq, V: Clone> GenerationLru<K, V> {
    pub fn new(generation: Generation, max_bytes: usize) -> Self {
        GenerationLru {
            generation,
            max_bytes,
            entries: Mutex::new(Entries {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// Taken when a read begins, before [`GenerationLru::get`].
    pub fn snapshot(&self) -> Snapshot {
        self.generation.snapshot()
    }

    /// The value stored under `key` for the generation the read began under (counted as a
    /// hit; a miss is the caller's to count, see [`GenerationLru::record_miss`]).
    pub fn get<Q>(&self, key: &Q, at: Snapshot) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let found = match e.lru.get(key) {
            Some(entry) if entry.generation == at.generation => Some(entry.value.clone()),
            Some(_) => {
                if let Some(stale) = e.lru.pop(key) {
                    e.bytes -= stale.cost;
                }
                None
            }
            None => None,
        };
        drop(e);
        if found.is_some() {
            self.hits.fetch_add(1, Relaxed);
        }
        found
    }

    pub fn record_miss(&self) {
        self.misses.fetch_add(1, Relaxed);
    }

    /// Store `value` (counted as `cost` bytes), computed by a read that began at `at`, if it
    /// may be. Returns whether it was stored.
    pub fn put(&self, key: K, at: Snapshot, value: V, cost: usize) -> bool {
        if !at.quiet || cost > self.max_bytes {
            return false;
        }
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.current() != at.generation {
            return false;
        }
        if let Some(old) = e.lru.pop(&key) {
            e.bytes -= old.cost;
        }
        let mut evicted = 0;
        while e.bytes + cost > self.max_bytes {
            match e.lru.pop_lru() {
                Some((_, old)) => {
                    e.bytes -= old.cost;
                    evicted += 1;
                }
                None => break,
            }
        }
        e.bytes += cost;
        e.lru.put(
            key,
            Entry {
                generation: at.generation,
                value,
                cost,
            },
        );
        drop(e);
        if evicted > 0 {
            self.evictions.fetch_add(evicted, Relaxed);
        }
        true
    }

    pub fn stats(&self) -> CacheStats {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        CacheStats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            entries: e.lru.len() as u64,
            bytes: e.bytes as u64,
            max_bytes: self.max_bytes as u64,
        }
    }
}

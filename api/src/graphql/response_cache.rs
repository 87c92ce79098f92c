//! The exact response cache: whole serialised GraphQL answers, reused only while no write can
//! have changed them. No TTL: an answer is keyed by the data [`Generation`] it was computed
//! under, and every write that changes what a cached query can return bumps the generation.
//!
//! What is cached. Queries (never mutations or subscriptions) sent as one HTTP request (POST
//! or GET, not in a batch, not over a WebSocket), whose answer has no errors, and whose root
//! fields are all in [`CACHEABLE_ROOTS`] — the job-posting reads, which change only when a
//! page is stored, an import writes, or housekeeping closes postings or trims history. A
//! document that selects anywhere a field leading to live data (runs, schedules, saved
//! searches, instances, health — derived from the schema, see [`CachePolicy::from_sdl`]), such
//! as `JobPosting.lastRun`, is not cached: run rows change at every heartbeat.
//!
//! The key. SHA-256 over the query text (byte for byte: clients resend the same text), the
//! operation name, the variables (as JSON), whether the caller may read (with
//! `JOBINTEL_PROTECT_READS` an anonymous caller gets an error, never a cached answer), and
//! today's UTC date (`jobStats.postingsPerDay` and `timeSeries` default to "until today").
//!
//! Exactness (see [`ingest::generation`]). A read snapshots the generation when it begins;
//! it is answered from the cache only by an entry stored under that generation, and stores
//! its answer only if no write was in flight when it began and the generation has not moved
//! when it ends. So on one instance a read never returns an answer older than a write
//! committed before the read began. Other instances bump their generation when this one's
//! notification arrives (PostgreSQL `NOTIFY jobintel_events`, [`crate::bus`]): there, the
//! bound is the notification's delay (the 20 ms batching window plus delivery). While the
//! LISTEN connection is down nothing is stored, and on reconnecting everything stored is
//! dropped, since notifications may have been missed.
//!
//! Memory. Entries are bounded in bytes (`JOBINTEL_RESPONSE_CACHE_BYTES`: body plus key and
//! bookkeeping), least recently used evicted first; 0 disables the cache.

use std::collections::{HashMap, HashSet};

use async_graphql::Variables;
use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
    TypeKind, TypeSystemDefinition,
};
use axum::body::Bytes;
use ingest::generation::{Generation, Snapshot};
use sha2::{Digest, Sha256};

use crate::generation_lru::GenerationLru;

/// Root query fields whose answers depend only on job postings and their history: the only
/// writes that change them are the ones that bump the generation.
pub const CACHEABLE_ROOTS: [&str; 5] = [
    "jobPostings",
    "jobPosting",
    "jobStats",
    "sources",
    "__typename",
];

/// Bytes counted per entry besides its body: the key, the LRU's node and hash slot.
pub const ENTRY_OVERHEAD: usize = 128;

/// A cache key: SHA-256 of what an answer depends on (see the module docs).
pub type Key = [u8; 32];

/// Which documents may be cached, read from the schema's SDL.
#[derive(Debug, Clone, Default)]
pub struct CachePolicy {
    /// Field names (of any type) whose values come from live data: a document selecting one
    /// anywhere is not cached. By name rather than by type: a posting field that happened to
    /// share a name would merely go uncached.
    live_fields: HashSet<String>,
}

fn named(base: &BaseType) -> &str {
    match base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => named(&inner.base),
    }
}

impl CachePolicy {
    /// Live types are the object, interface and union types returned by a root query field
    /// that is not in [`CACHEABLE_ROOTS`] (`IngestRun`, `Schedule`, `Instance`, `Node`, …).
    /// Live fields are the fields that lead from the types a cacheable root reaches (stopping
    /// at live types; an interface or union reaches its members) to a live type:
    /// `JobPosting.lastRun`, `PostingChange.run`. Any path from a cacheable root to live data
    /// crosses one of them.
    pub fn from_sdl(sdl: &str) -> Self {
        let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
            tracing::error!("cannot read the schema's own SDL: the response cache is off");
            return CachePolicy {
                live_fields: HashSet::from(["__typename".to_owned()]),
            };
        };
        // Composite types: their fields as (name, type), and the types they may be.
        let mut fields_of: HashMap<String, Vec<(String, String)>> = HashMap::new();
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        for def in &doc.definitions {
            let TypeSystemDefinition::Type(ty) = def else {
                continue;
            };
            let name = ty.node.name.node.to_string();
            let fields = match &ty.node.kind {
                TypeKind::Object(o) => {
                    for i in &o.implements {
                        members
                            .entry(i.node.to_string())
                            .or_default()
                            .push(name.clone());
                    }
                    &o.fields
                }
                TypeKind::Interface(i) => &i.fields,
                TypeKind::Union(u) => {
                    members
                        .entry(name.clone())
                        .or_default()
                        .extend(u.members.iter().map(|m| m.node.to_string()));
                    fields_of.insert(name, Vec::new());
                    continue;
                }
                _ => continue,
            };
            let fields = fields
                .iter()
                .map(|f| {
                    (
                        f.node.name.node.to_string(),
                        named(&f.node.ty.node.base).to_owned(),
                    )
                })
                .collect();
            fields_of.insert(name, fields);
        }
        let roots = fields_of.get("Query").cloned().unwrap_or_default();
        let live_types: HashSet<&str> = roots
            .iter()
            .filter(|(field, ty)| {
                !CACHEABLE_ROOTS.contains(&field.as_str()) && fields_of.contains_key(ty)
            })
            .map(|(_, ty)| ty.as_str())
            .collect();
        let mut live_fields = HashSet::new();
        let mut reached: HashSet<&str> = HashSet::new();
        let mut todo: Vec<&str> = roots
            .iter()
            .filter(|(field, ty)| {
                CACHEABLE_ROOTS.contains(&field.as_str()) && !live_types.contains(ty.as_str())
            })
            .map(|(_, ty)| ty.as_str())
            .collect();
        while let Some(ty) = todo.pop() {
            if !reached.insert(ty) {
                continue;
            }
            for member in members.get(ty).into_iter().flatten() {
                if !live_types.contains(member.as_str()) {
                    todo.push(member);
                }
            }
            for (field, field_ty) in fields_of.get(ty).into_iter().flatten() {
                if live_types.contains(field_ty.as_str()) {
                    live_fields.insert(field.clone());
                } else if fields_of.contains_key(field_ty) {
                    todo.push(field_ty);
                }
            }
        }
        CachePolicy { live_fields }
    }

    /// Whether the operation `operation_name` of `doc` may be cached: a query whose root
    /// fields are all cacheable and that selects no live field anywhere.
    pub fn allows(&self, doc: &ExecutableDocument, operation_name: Option<&str>) -> bool {
        let op = match (&doc.operations, operation_name) {
            (DocumentOperations::Single(op), _) => op,
            (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
                Some(op) => op,
                None => return false,
            },
            // One named operation and no name asked for: async-graphql runs that one.
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
                match ops.values().next() {
                    Some(op) => op,
                    None => return false,
                }
            }
            (DocumentOperations::Multiple(_), None) => return false,
        };
        if op.node.ty != OperationType::Query {
            return false;
        }
        let mut seen = HashSet::new();
        if !self.roots_allowed(doc, &op.node.selection_set.node, &mut seen) {
            return false;
        }
        // Every selection of the document, fragments included (even unused ones: simpler, and
        // only ever errs towards not caching).
        let mut ok = self.no_live_field(&op.node.selection_set.node);
        for fragment in doc.fragments.values() {
            ok = ok && self.no_live_field(&fragment.node.selection_set.node);
        }
        ok
    }

    fn roots_allowed<'a>(
        &self,
        doc: &'a ExecutableDocument,
        set: &'a SelectionSet,
        seen: &mut HashSet<&'a str>,
    ) -> bool {
        set.items.iter().all(|item| match &item.node {
            Selection::Field(f) => CACHEABLE_ROOTS.contains(&f.node.name.node.as_str()),
            Selection::InlineFragment(f) => {
                self.roots_allowed(doc, &f.node.selection_set.node, seen)
            }
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.as_str();
                if !seen.insert(name) {
                    return true; // a cycle is a validation error: the answer will not be stored
                }
                match doc.fragments.get(name) {
                    Some(f) => self.roots_allowed(doc, &f.node.selection_set.node, seen),
                    None => false,
                }
            }
        })
    }

    fn no_live_field(&self, set: &SelectionSet) -> bool {
        set.items.iter().all(|item| match &item.node {
            Selection::Field(f) => {
                !self.live_fields.contains(f.node.name.node.as_str())
                    && self.no_live_field(&f.node.selection_set.node)
            }
            Selection::InlineFragment(f) => self.no_live_field(&f.node.selection_set.node),
            Selection::FragmentSpread(_) => true, // each fragment is checked on its own
        })
    }

    /// The live field names (for tests and the README).
    pub fn live_fields(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.live_fields.iter().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// The key of one request.
pub fn key(
    query: &str,
    operation_name: Option<&str>,
    variables: &Variables,
    may_read: bool,
    day: i32,
) -> Key {
    let mut h = Sha256::new();
    h.update((query.len() as u64).to_le_bytes());
    h.update(query.as_bytes());
    match operation_name {
        Some(name) => {
            h.update([1]);
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
        }
        None => h.update([0]),
    }
    // Variables as JSON (in the order the client sent them: a different order is a miss, not
    // a wrong answer).
    match serde_json::to_vec(variables) {
        Ok(json) => {
            h.update((json.len() as u64).to_le_bytes());
            h.update(&json);
        }
        Err(_) => h.update([0xff]),
    }
    h.update([u8::from(may_read)]);
    h.update(day.to_le_bytes());
    h.finalize().into()
}

pub use crate::generation_lru::CacheStats;

/// Serialised answers by [`Key`], within a byte budget ([`GenerationLru`]).
pub struct ResponseCache {
    lru: GenerationLru<Key, Bytes>,
}

impl ResponseCache {
    /// A cache of at most `max_bytes` (0: off) checked against `generation`.
    pub fn new(generation: Generation, max_bytes: usize) -> Self {
        ResponseCache {
            lru: GenerationLru::new(generation, max_bytes),
        }
    }

    pub fn enabled(&self) -> bool {
        self.lru.enabled()
    }

    pub fn generation(&self) -> &Generation {
        self.lru.generation()
    }

    /// Taken when a read begins, before [`ResponseCache::get`].
    pub fn snapshot(&self) -> Snapshot {
        self.lru.snapshot()
    }

    /// The answer stored under `key` for the generation the read began under (counted as a
    /// hit). An entry of an older generation is dropped (it can never be served again).
    pub fn get(&self, key: &Key, at: Snapshot) -> Option<Bytes> {
        self.lru.get(key, at)
    }

    /// A cacheable query was not answered from the cache (counted once its document is
    /// known to be cacheable: mutations and live queries are not misses).
    pub fn record_miss(&self) {
        self.lru.record_miss();
    }

    /// Store the answer of a read that began at `at`, if it may be (see the module docs).
    /// Returns whether it was stored.
    pub fn put(&self, key: Key, at: Snapshot, body: Bytes) -> bool {
        let cost = body.len() + ENTRY_OVERHEAD;
        self.lru.put(key, at, body, cost)
    }

    pub fn stats(&self) -> CacheStats {
        self.lru.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    fn k(i: u8) -> Key {
        [i; 32]
    }

    #[test]
    fn evictions_keep_the_bytes_within_the_limit() {
        let g = Generation::new();
        let limit = 10 * (1000 + ENTRY_OVERHEAD);
        let cache = ResponseCache::new(g.clone(), limit);
        for i in 0..50u8 {
            assert!(cache.put(k(i), g.snapshot(), body(1000)));
            assert!(cache.stats().bytes as usize <= limit);
        }
        let s = cache.stats();
        assert_eq!(s.entries, 10);
        assert_eq!(s.evictions, 40);
        assert_eq!(s.bytes as usize, limit);
        // The most recently stored survive.
        assert!(cache.get(&k(49), g.snapshot()).is_some());
        assert!(cache.get(&k(0), g.snapshot()).is_none());
        // An answer larger than the whole budget is not stored (and evicts nothing).
        assert!(!cache.put(k(200), g.snapshot(), body(limit)));
        assert_eq!(cache.stats().entries, 10);
    }

    #[test]
    fn a_write_makes_every_stored_answer_unreachable() {
        let g = Generation::new();
        let cache = ResponseCache::new(g.clone(), 1 << 20);
        assert!(cache.put(k(1), g.snapshot(), body(10)));
        assert!(cache.get(&k(1), g.snapshot()).is_some());
        drop(g.write());
        assert!(cache.get(&k(1), g.snapshot()).is_none());
        assert_eq!(cache.stats().entries, 0, "the stale entry is dropped");
    }

    #[test]
    fn a_read_that_overlaps_a_write_is_not_stored() {
        let g = Generation::new();
        let cache = ResponseCache::new(g.clone(), 1 << 20);
        // Began before the write, ended after it began.
        let before = g.snapshot();
        let w = g.write();
        assert!(!cache.put(k(1), before, body(10)));
        // Began while it was in flight, ended after it ended — or even before.
        let during = g.snapshot();
        assert!(!cache.put(k(2), during, body(10)));
        drop(w);
        assert!(!cache.put(k(3), during, body(10)));
        assert_eq!(cache.stats().entries, 0);
        let after = g.snapshot();
        assert!(cache.put(k(4), after, body(10)));
    }

    #[test]
    fn the_key_covers_variables_operation_scope_and_day() {
        let vars = |json: serde_json::Value| Variables::from_json(json);
        let base = key("{a}", None, &vars(serde_json::json!({"x": 1})), true, 1);
        assert_ne!(
            base,
            key("{a}", None, &vars(serde_json::json!({"x": 2})), true, 1)
        );
        assert_ne!(
            base,
            key(
                "{a}",
                Some("A"),
                &vars(serde_json::json!({"x": 1})),
                true,
                1
            )
        );
        assert_ne!(
            base,
            key("{a}", None, &vars(serde_json::json!({"x": 1})), false, 1)
        );
        assert_ne!(
            base,
            key("{a}", None, &vars(serde_json::json!({"x": 1})), true, 2)
        );
        assert_ne!(
            base,
            key("{ a}", None, &vars(serde_json::json!({"x": 1})), true, 1)
        );
        assert_eq!(
            base,
            key("{a}", None, &vars(serde_json::json!({"x": 1})), true, 1)
        );
    }

    #[test]
    fn only_posting_reads_without_live_fields_are_cacheable() {
        let policy = CachePolicy::from_sdl(&crate::graphql::sdl());
        let live = policy.live_fields();
        for name in ["firstRun", "lastRun", "run"] {
            assert!(live.contains(&name), "{name} in {live:?}");
        }
        for name in ["jobPostings", "title", "history", "salary", "edges", "node"] {
            assert!(!live.contains(&name), "{name} in {live:?}");
        }
        let allows = |text: &str, op: Option<&str>| {
            policy.allows(&async_graphql::parser::parse_query(text).unwrap(), op)
        };
        assert!(allows(
            "{ jobPostings(first: 2) { totalCount edges { node { id title history { edges { node { kind } } } } } } }",
            None
        ));
        assert!(allows(
            "query Q { ...F } fragment F on Query { jobStats { total } }",
            None
        ));
        assert!(!allows(
            "{ jobPostings { nodes { lastRun { status } } } }",
            None
        ));
        assert!(!allows(
            "{ jobPosting(id: 1) { ...P } } fragment P on JobPosting { firstRun { id } }",
            None
        ));
        assert!(!allows("{ jobStats { total } health { ok } }", None));
        assert!(!allows("{ ... on Query { instances { id } } }", None));
        assert!(!allows("mutation { cancelRun(id: 1) { id } }", None));
        assert!(!allows("subscription { runEvents { __typename } }", None));
        assert!(allows(
            "query A { sources { name } } mutation B { x }",
            Some("A")
        ));
        assert!(!allows(
            "query A { sources { name } } query B { viewer { canWrite } }",
            None
        ));
        assert!(!allows(
            "query A { sources { name } } query B { viewer { canWrite } }",
            Some("B")
        ));
    }
}

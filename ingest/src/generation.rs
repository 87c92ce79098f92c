//! The data generation: a counter every write that changes what readers can see bumps, so a
//! cache of read results (the API's response cache) can tell an answer that is still exact
//! from one a write may have changed, without a TTL.
//!
//! Why two counters. A read may only reuse an answer stored under the generation it saw when
//! it began, and may only store its own answer if no write was in flight when it began and the
//! generation has not moved when it ends. A write bumps the generation both when it begins
//! (so a read that overlaps it never stores) and when it ends (after its commit or rollback,
//! so answers stored before it are never served again). The in-flight count closes the one gap
//! left: a read that begins after a write committed but before its final bump must not store
//! or serve — it cannot, since entries under the current generation can only have been stored
//! by reads that began with no write in flight.
//!
//! Writes take a [`WriteGuard`] before their transaction begins and drop it after it ends; the
//! guard's `Drop` does the final bump, so an early return (`?`) cannot leave the count raised.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use tokio::sync::Notify;

/// The data generation of one process. Cheap to clone (clones share the counters).
#[derive(Clone, Default)]
pub struct Generation {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    counter: AtomicU64,
    in_flight: AtomicU64,
    /// Woken when a local write ends, for whoever tells other instances (one stored permit, so
    /// a burst of writes is one wake-up).
    written: Notify,
}

/// What a read saw when it began: see the module docs for how it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// The generation the read began under.
    pub generation: u64,
    /// No write was in flight when it began: its answer may be stored.
    pub quiet: bool,
}

/// A write in flight; dropping it ends the write (after its commit or rollback).
#[must_use = "the write is in flight only while the guard is held"]
pub struct WriteGuard {
    inner: Arc<Inner>,
    /// A local write (other instances are told when it ends) rather than a period in which
    /// this instance cannot hear about other instances' writes.
    local: bool,
}

impl Generation {
    pub fn new() -> Self {
        Generation::default()
    }

    /// Begin a write made by this process.
    pub fn write(&self) -> WriteGuard {
        self.hold(true)
    }

    /// Begin a period in which other instances' writes may go unheard (the LISTEN connection
    /// is down): nothing read meanwhile is stored, and what was stored before is dropped.
    pub fn outage(&self) -> WriteGuard {
        self.hold(false)
    }

    fn hold(&self, local: bool) -> WriteGuard {
        // In-flight first: a read that sees the new counter also sees the write in flight.
        self.inner.in_flight.fetch_add(1, SeqCst);
        self.inner.counter.fetch_add(1, SeqCst);
        WriteGuard {
            inner: self.inner.clone(),
            local,
        }
    }

    /// Another instance wrote (its notification arrived), or notifications may have been
    /// missed: every answer stored so far is stale.
    pub fn bump(&self) {
        self.inner.counter.fetch_add(1, SeqCst);
    }

    /// What a read beginning now sees.
    pub fn snapshot(&self) -> Snapshot {
        let generation = self.inner.counter.load(SeqCst);
        let quiet = self.inner.in_flight.load(SeqCst) == 0;
        Snapshot { generation, quiet }
    }

    /// The generation now.
    pub fn current(&self) -> u64 {
        self.inner.counter.load(SeqCst)
    }

    /// Writes in flight now.
    pub fn in_flight(&self) -> u64 {
        self.inner.in_flight.load(SeqCst)
    }

    /// Resolves after a local write has ended (at once if one ended since the last call).
    pub async fn written(&self) {
        self.inner.written.notified().await
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        self.inner.counter.fetch_add(1, SeqCst);
        self.inner.in_flight.fetch_sub(1, SeqCst);
        if self.local {
            self.inner.written.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_overlapping_a_write_may_neither_store_nor_reuse() {
        let g = Generation::new();
        let before = g.snapshot();
        assert!(before.quiet);
        let w = g.write();
        let during = g.snapshot();
        assert!(!during.quiet, "a read beginning mid-write must not store");
        assert_ne!(during.generation, before.generation);
        drop(w);
        assert_ne!(g.current(), during.generation);
        assert_ne!(g.current(), before.generation);
        assert!(g.snapshot().quiet);
        assert_eq!(g.in_flight(), 0);
    }

    #[test]
    fn an_early_return_still_ends_the_write() {
        let g = Generation::new();
        let failing = |g: &Generation| -> Result<(), ()> {
            let _w = g.write();
            Err(())
        };
        let start = g.current();
        assert!(failing(&g).is_err());
        assert_eq!(g.in_flight(), 0);
        assert_eq!(g.current(), start + 2);
    }
}

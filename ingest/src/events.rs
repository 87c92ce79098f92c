//! The in-process event bus: progress of runs and postings as they are stored.
//!
//! A `tokio::sync::broadcast` channel: publishing never blocks and never waits for a
//! subscriber; a subscriber that falls more than the channel's capacity behind gets a `Lagged`
//! error (and the API tells its client) instead of growing memory.

use entity::{RunStatus, Source};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::store::RunCounters;

/// Capacity of the bus: events a slow subscriber may fall behind before it is told it lagged.
pub const BUS_CAPACITY: usize = 4096;

/// Something that happened to a run or a posting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IngestEvent {
    RunQueued {
        run_id: i64,
        source: Source,
    },
    RunStarted {
        run_id: i64,
        source: Source,
    },
    /// A page was stored; counters are the run's running totals.
    PageStored {
        run_id: i64,
        source: Source,
        page: u32,
        counters: RunCounters,
        /// When the page's transaction committed (delivery latency is measured from here).
        stored_at: chrono::DateTime<chrono::Utc>,
    },
    PostingAdded {
        run_id: i64,
        source: Source,
        posting_id: i64,
    },
    PostingUpdated {
        run_id: i64,
        source: Source,
        posting_id: i64,
    },
    RunFinished {
        run_id: i64,
        source: Source,
        status: RunStatus,
        counters: RunCounters,
        error: Option<String>,
    },
}

impl IngestEvent {
    pub fn run_id(&self) -> i64 {
        match self {
            IngestEvent::RunQueued { run_id, .. }
            | IngestEvent::RunStarted { run_id, .. }
            | IngestEvent::PageStored { run_id, .. }
            | IngestEvent::PostingAdded { run_id, .. }
            | IngestEvent::PostingUpdated { run_id, .. }
            | IngestEvent::RunFinished { run_id, .. } => *run_id,
        }
    }

    pub fn source(&self) -> Source {
        match self {
            IngestEvent::RunQueued { source, .. }
            | IngestEvent::RunStarted { source, .. }
            | IngestEvent::PageStored { source, .. }
            | IngestEvent::PostingAdded { source, .. }
            | IngestEvent::PostingUpdated { source, .. }
            | IngestEvent::RunFinished { source, .. } => *source,
        }
    }
}

/// Cheap to clone; every clone publishes to the same subscribers.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<IngestEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(BUS_CAPACITY)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        EventBus { tx }
    }

    /// Publish; a bus with no subscribers drops the event.
    pub fn publish(&self, event: IngestEvent) {
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<IngestEvent> {
        self.tx.subscribe()
    }
}

//! Wake-ups for one server's background loops: a request that queued a run or changed a
//! schedule tells the worker pool or the tick at once instead of letting them find out at their
//! next poll. Part of the application state (never process-global), so two servers in one
//! process (tests) do not wake each other.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

/// Cheap to clone; clones share the signals.
#[derive(Clone, Debug, Default)]
pub struct Wakeups {
    run_queued: Arc<Notify>,
    schedules_changed: Arc<Notify>,
}

impl Wakeups {
    /// A run was queued here or a running one ended: the worker pool looks for work. Stored
    /// if no worker is waiting, so a wake-up between two looks is not lost.
    pub fn run_queued(&self) {
        self.run_queued.notify_one();
    }

    /// Resolves at the next [`Wakeups::run_queued`] (or at once if one is stored).
    pub fn on_run_queued(&self) -> Notified<'_> {
        self.run_queued.notified()
    }

    /// A schedule was created, resumed or re-timed: the tick recomputes when to wake up.
    pub fn schedules_changed(&self) {
        self.schedules_changed.notify_waiters();
    }

    /// Resolves at the next [`Wakeups::schedules_changed`] after it is enabled or polled.
    pub fn on_schedules_changed(&self) -> Notified<'_> {
        self.schedules_changed.notified()
    }
}

//! This process's row in `instances`: registered at start-up, refreshed every
//! [`HEARTBEAT_EVERY`](crate::service::instances::HEARTBEAT_EVERY) with the worker pool's
//! occupancy, removed on graceful shutdown. `jobintel serve` runs it; the statements are in
//! [`crate::service::instances`].
//!
//! A failed beat is logged and the loop goes on (the row only goes stale if the database stays
//! unreachable for [`STALE_AFTER`](crate::service::instances::STALE_AFTER)). A beat that finds
//! its row gone (another instance dropped it as stale while this one was stalled) registers
//! again. Each beat also drops other instances' stale rows: housekeeping does it too, but
//! only hourly by default and only on instances that run a scheduler.

use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::scheduler::WorkerLoad;
use crate::scheduling::clock::Clock;
use crate::service::instances::{self, InstanceInfo};

/// The running heartbeat: [`Presence::stop`] ends it and deregisters.
pub struct Presence {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// Everything one beat needs.
#[derive(Clone)]
pub struct Beat {
    pub db: DatabaseConnection,
    pub clock: Clock,
    pub info: InstanceInfo,
    /// The scheduler's worker pool; `None` on an API-only instance (0 of 0 workers).
    pub load: Option<WorkerLoad>,
}

impl Beat {
    fn workers(&self) -> (u32, u32) {
        self.load.as_ref().map_or((0, 0), |l| (l.busy(), l.total()))
    }

    /// Insert (or take over) this process's row.
    pub async fn register(&self) -> Result<(), DbErr> {
        let now = self.clock.now(&self.db).await?;
        instances::register(&self.db, &self.info, now).await?;
        let (busy, total) = self.workers();
        instances::heartbeat(&self.db, &self.info.id, now, busy, total).await?;
        Ok(())
    }

    /// One heartbeat: refresh the row (re-register if it is gone), then drop stale rows.
    pub async fn once(&self) -> Result<(), DbErr> {
        let now = self.clock.now(&self.db).await?;
        let (busy, total) = self.workers();
        if !instances::heartbeat(&self.db, &self.info.id, now, busy, total).await? {
            tracing::info!(instance = %self.info.id, "instance row was gone; registering again");
            self.register().await?;
        }
        instances::drop_stale(&self.db, now).await?;
        Ok(())
    }
}

impl Presence {
    /// Register now (a failure is logged; the loop retries at its next beat), then beat every
    /// `every` until [`Presence::stop`].
    pub async fn start(beat: Beat, every: Duration) -> Presence {
        if let Err(e) = beat.register().await {
            tracing::warn!(error = %e, instance = %beat.info.id, "cannot register this instance; will retry");
        }
        let stop = CancellationToken::new();
        let token = stop.clone();
        let every = every.max(Duration::from_millis(10));
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = token.cancelled() => break,
                }
                if let Err(e) = beat.once().await {
                    tracing::warn!(error = %e, "instance heartbeat failed; retrying");
                }
            }
            if let Err(e) = instances::deregister(&beat.db, &beat.info.id).await {
                tracing::warn!(error = %e, "cannot remove this instance's row; housekeeping will");
            }
        });
        Presence { stop, task }
    }

    /// Stop beating and remove this process's row. Call it last on shutdown, after the
    /// scheduler has drained its runs, so the row shows the process until it is really gone.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

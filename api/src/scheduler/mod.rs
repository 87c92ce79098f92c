//! The embedded scheduler: cron schedules stored in the database become queued runs, which a
//! small worker pool executes — in the same process as the API, with nothing else to run.
//!
//! Layout:
//! - [`tick`]: `tick_once(db, now)` turns due schedules into runs (misfire, overlap, jitter).
//! - [`worker`]: claims runs under a lease with a heartbeat and executes them.
//! - [`reaper`]: interrupts and retries runs whose instance died.
//! - [`housekeeping`]: run retention, closing postings not seen for a while, dropping stale
//!   `instances` rows.
//!
//! [`Scheduler::start`] spawns its loops beside the HTTP server — tick, dispatcher, reaper,
//! housekeeping, PostgreSQL's full-text indexer (`ingest::search_index`) and the webhook
//! delivery worker (`service::webhooks`) — each doing one step (callable alone from tests) then sleeping; a failed step is logged and the loop goes on. One cancellation token stops them all.
//!
//! Idle cost: the tick sleeps until the earliest `next_fire_at` (one indexed `MIN` query) or
//! the poll interval, whichever comes first, so 10,000 idle schedules cost one small query per
//! poll, never a scan.
//!
//! Several instances may share one PostgreSQL database: ticks lock due schedules with
//! `FOR UPDATE SKIP LOCKED`, every fire is unique on `(schedule_id, scheduled_for, attempt)`,
//! claims are serialised by a transaction-scoped advisory lock, and all times come from the
//! database's `now()`. Every write a worker makes to its run is fenced by its lease
//! (`lease_owner`, status `running`), so a worker that stalled past its lease and lost the run
//! to the reaper or a canceller changes nothing when it wakes up (see [`worker`]). SQLite is single-instance: run one `jobintel` per SQLite file.

pub mod housekeeping;
pub mod reaper;
pub mod tick;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use ingest::events::IngestEvent;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::SchedulerSettings;
use crate::service::runs::Runs;

/// What the scheduler's steps take from the settings.
impl SchedulerSettings {
    pub fn tick_options(&self) -> tick::TickOptions {
        tick::TickOptions {
            misfire_threshold: self.misfire_threshold,
        }
    }

    pub fn retention(&self) -> housekeeping::Retention {
        housekeeping::Retention {
            run_days: self.run_retention_days,
            keep_per_schedule: self.run_retention_keep,
            close_after_days: self.close_after_days,
            history_days: self.history_retention_days,
            history_per_posting: self.history_per_posting,
            batch: self.housekeeping_batch,
        }
    }

    /// How long a `running` row without any lease may stay silent before it is reaped.
    fn stale_without_lease(&self) -> TimeDelta {
        TimeDelta::from_std(self.lease * 10).unwrap_or(TimeDelta::minutes(10))
    }
}

/// What every loop shares.
pub(crate) struct Shared {
    /// The application state's runs service: its database, engine, clock, wake-ups (a run
    /// queued or a schedule changed in this server) and registry of runs executing here.
    pub runs: Runs,
    pub settings: SchedulerSettings,
    /// Lease owner name.
    pub owner: String,
}

/// How busy a scheduler's worker pool is (cheap to clone; reads the pool's semaphore).
#[derive(Clone, Debug)]
pub struct WorkerLoad {
    slots: Arc<Semaphore>,
    total: u32,
}

impl WorkerLoad {
    /// The load of a pool of `total` workers whose free slots are `slots`' permits (the
    /// scheduler's own comes from [`Scheduler::load`]; tests build one by hand).
    pub fn new(slots: Arc<Semaphore>, total: u32) -> Self {
        WorkerLoad { slots, total }
    }

    /// Runs executing now.
    pub fn busy(&self) -> u32 {
        let free = u32::try_from(self.slots.available_permits()).unwrap_or(u32::MAX);
        self.total.saturating_sub(free)
    }

    /// `JOBINTEL_WORKERS`.
    pub fn total(&self) -> u32 {
        self.total
    }
}

/// The running scheduler: stop it with [`Scheduler::stop`].
pub struct Scheduler {
    shared: Arc<Shared>,
    stop: CancellationToken,
    cancel_runs: CancellationToken,
    slots: Arc<Semaphore>,
    tasks: Vec<JoinHandle<()>>,
}

impl Scheduler {
    /// Start the tick, the worker pool, the reaper and housekeeping over the server's `runs`
    /// (its clock decides what is due). They stop claiming and firing as soon as `shutdown` is
    /// cancelled; [`Scheduler::stop`] then drains the runs.
    pub fn start(
        runs: Runs,
        settings: SchedulerSettings,
        shutdown: &CancellationToken,
    ) -> Scheduler {
        let owner = settings
            .instance_id
            .clone()
            .unwrap_or_else(crate::config::instance_name);
        Self::start_with(runs, settings, owner, shutdown)
    }

    /// [`Scheduler::start`] with an explicit lease owner name (tests).
    pub fn start_with(
        runs: Runs,
        settings: SchedulerSettings,
        owner: String,
        shutdown: &CancellationToken,
    ) -> Scheduler {
        let workers = settings.workers.max(1);
        let shared = Arc::new(Shared {
            runs,
            settings,
            owner,
        });
        let stop = shutdown.child_token();
        let cancel_runs = CancellationToken::new();
        let slots = Arc::new(Semaphore::new(workers as usize));
        let tasks = vec![
            tokio::spawn(tick_loop(shared.clone(), stop.clone())),
            tokio::spawn(worker::dispatch(
                shared.clone(),
                slots.clone(),
                stop.clone(),
                cancel_runs.clone(),
            )),
            tokio::spawn(reaper_loop(shared.clone(), stop.clone())),
            tokio::spawn(housekeeping_loop(shared.clone(), stop.clone())),
            // Saved searches' webhook outbox (see `service::webhooks`).
            tokio::spawn(crate::service::webhooks::run_worker(
                shared.runs.db().clone(),
                crate::service::webhooks::DeliveryConfig::configured(
                    shared.settings.webhook_retry_base,
                    shared.settings.webhook_lease,
                    // The setting as configured (flag or environment), the fetcher's own.
                    shared.runs.engine().fetcher.config().allow_private_network,
                ),
                stop.clone(),
            )),
            // PostgreSQL's full-text indexing of what the workers store (returns at once on
            // SQLite).
            tokio::spawn(ingest::search_index::run(
                shared.runs.db().clone(),
                shared.runs.engine().bus.clone(),
                ingest::search_index::POLL,
                stop.clone(),
            )),
        ];
        tracing::info!(
            owner = %shared.owner,
            workers,
            per_source = shared.settings.per_source_concurrency,
            "scheduler started"
        );
        Scheduler {
            shared,
            stop,
            cancel_runs,
            slots,
            tasks,
        }
    }

    /// Runs this instance is executing now.
    pub fn in_flight(&self) -> usize {
        self.load().busy() as usize
    }

    /// A handle on the worker pool's occupancy, for the instance heartbeat.
    pub fn load(&self) -> WorkerLoad {
        WorkerLoad {
            slots: self.slots.clone(),
            total: self.shared.settings.workers.max(1),
        }
    }

    /// Stop: no new fires or claims, in-flight runs get `grace` to finish, then they are
    /// cancelled and recorded as `interrupted`.
    pub async fn stop(self, grace: Duration) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        let workers = self.shared.settings.workers.max(1);
        let in_flight = workers as usize - self.slots.available_permits();
        if in_flight > 0 {
            tracing::info!(
                in_flight,
                grace_secs = grace.as_secs_f64(),
                "waiting for in-flight runs"
            );
        }
        let drained = tokio::time::timeout(grace, self.slots.acquire_many(workers)).await;
        if drained.is_err() {
            tracing::warn!("grace period over: cancelling in-flight runs");
            self.cancel_runs.cancel();
            // Cancelled runs stop at the next page boundary or request.
            if tokio::time::timeout(Duration::from_secs(15), self.slots.acquire_many(workers))
                .await
                .is_err()
            {
                tracing::error!(
                    "in-flight runs did not stop; their leases will expire and they will be retried"
                );
            }
        }
        tracing::info!("scheduler stopped");
    }
}

async fn tick_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let poll = shared
        .settings
        .scheduler_poll
        .max(Duration::from_millis(50));
    let opts = shared.settings.tick_options();
    loop {
        let changed = shared.runs.wake().on_schedules_changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let wait = match tick_step(&shared, opts).await {
            Ok(wait) => wait.min(poll),
            Err(e) => {
                tracing::warn!(error = %e, "scheduler tick failed; retrying");
                poll.min(Duration::from_secs(5))
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut changed => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Fire what is due; return how long to sleep until the next fire.
async fn tick_step(shared: &Shared, opts: tick::TickOptions) -> Result<Duration, sea_orm::DbErr> {
    let db = shared.runs.db();
    let now = shared.runs.clock().now(db).await?;
    if tick::next_due(db).await?.is_some_and(|t| t <= now) {
        let report = tick::tick_once(db, now, opts).await?;
        for run in &report.queued {
            shared.runs.engine().bus.publish(IngestEvent::RunQueued {
                run_id: run.id,
                source: run.source,
            });
        }
        if !report.queued.is_empty() {
            shared.runs.wake().run_queued();
        }
    }
    let now = shared.runs.clock().now(db).await?;
    Ok(match tick::next_due(db).await? {
        // Due already: another instance holds its lock; look again shortly.
        Some(t) if t <= now => Duration::from_millis(250),
        Some(t) => (t - now)
            .to_std()
            .map(|d| d + Duration::from_millis(5))
            .unwrap_or(Duration::ZERO),
        None => Duration::MAX,
    })
}

async fn reaper_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let every = shared
        .settings
        .reaper_interval
        .max(Duration::from_millis(50));
    loop {
        let step = async {
            let now = shared.runs.clock().now(shared.runs.db()).await?;
            reaper::reap_once(shared.runs.db(), now, shared.settings.stale_without_lease()).await
        }
        .await;
        match step {
            Ok(report) => {
                for r in &report.retries {
                    shared.runs.engine().bus.publish(IngestEvent::RunQueued {
                        run_id: r.id,
                        source: r.source,
                    });
                }
                if !report.retries.is_empty() {
                    shared.runs.wake().run_queued();
                }
            }
            Err(e) => tracing::warn!(error = %e, "reaper failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
    }
}

async fn housekeeping_loop(shared: Arc<Shared>, stop: CancellationToken) {
    // Not at the very start: let start-up and the first ticks have the database.
    let mut wait = Duration::from_secs(10).min(shared.settings.housekeeping_interval);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
        wait = shared
            .settings
            .housekeeping_interval
            .max(Duration::from_secs(1));
        let step = async {
            let now = shared.runs.clock().now(shared.runs.db()).await?;
            housekeeping::housekeep_fenced(
                shared.runs.db(),
                &shared.runs.engine().generation,
                now,
                shared.settings.retention(),
            )
            .await
        }
        .await;
        match step {
            Ok(r)
                if r.runs_deleted > 0
                    || r.postings_closed > 0
                    || r.search_merge_steps > 0
                    || r.instances_dropped > 0
                    || r.cluster_keys_filled > 0 =>
            {
                tracing::info!(
                    runs_deleted = r.runs_deleted,
                    postings_closed = r.postings_closed,
                    search_merge_steps = r.search_merge_steps,
                    instances_dropped = r.instances_dropped,
                    cluster_keys_filled = r.cluster_keys_filled,
                    "housekeeping done"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
        }
    }
}

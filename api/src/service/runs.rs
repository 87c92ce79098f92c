//! Ingest runs: the one way a run is started, executed and cancelled — [`Runs`], used alike
//! by `startIngest` / `cancelIngestRun`, by `jobintel ingest` and by the worker pool — and the
//! reads (by id, many ids at once for the DataLoader, newest-first pages).
//!
//! Starting a run is: validate its parameters ([`validate`]), store it `queued`, then either
//! hand it to the worker pool ([`Runs::queue`]: announced on the bus, the pool woken) or claim
//! it for this process at once ([`Runs::start_here`]: stored and marked `running` in one
//! transaction, so no worker can claim it first) and [`Runs::execute`] it. Every run executing
//! in this process is in the [`RunRegistry`] for as long as it executes, so [`Runs::cancel`]
//! stops it at once; runs executing elsewhere stop at their next heartbeat or page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use entity::ingest_run::{self, Column, Entity};
use entity::{RunStatus, RunTrigger, Source};
use ingest::SearchParams;
use ingest::engine::{Engine, EngineConfig, RunReport, validate_params};
use ingest::events::IngestEvent;
use ingest::store::NewRun;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ApiResult};
use crate::scheduling::clock::Clock;
use crate::service::queue::{self, CancelError};
use crate::service::schedules;
use crate::service::wake::Wakeups;

/// Runs executing in this process, by id, each with the token that stops it. Part of the
/// application state: cloned into the API and the worker pool, never process-global.
#[derive(Clone, Debug, Default)]
pub struct RunRegistry {
    running: Arc<Mutex<HashMap<i64, CancellationToken>>>,
}

impl RunRegistry {
    /// Record that `run_id` executes here, stopped by `stop`, until the returned guard drops.
    pub fn register(&self, run_id: i64, stop: CancellationToken) -> Registered {
        self.lock().insert(run_id, stop);
        Registered {
            registry: self.clone(),
            run_id,
        }
    }

    /// Stop `run_id` if it executes here. Returns whether it did.
    pub fn cancel(&self, run_id: i64) -> bool {
        match self.lock().get(&run_id) {
            Some(stop) => {
                stop.cancel();
                true
            }
            None => false,
        }
    }

    /// Whether `run_id` executes here now.
    pub fn is_running(&self, run_id: i64) -> bool {
        self.lock().contains_key(&run_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancellationToken>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A run's place in the [`RunRegistry`]; dropping it takes the run out.
#[derive(Debug)]
pub struct Registered {
    registry: RunRegistry,
    run_id: i64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.run_id);
    }
}

/// A run to start.
#[derive(Debug, Clone)]
pub struct StartRun {
    pub source: Source,
    /// As given; [`validate`]d (trimmed, lower-cased country, required ones present) before
    /// anything is stored.
    pub params: SearchParams,
    pub trigger: RunTrigger,
}

/// Check `params` for `source`: the normalised parameters, or a `BAD_USER_INPUT` error that
/// says what to pass. [`Runs`] validates every run it starts; callers that want to refuse bad
/// input before touching the database (the CLI) call this first.
pub fn validate(
    source: Source,
    params: &SearchParams,
    config: &EngineConfig,
) -> ApiResult<SearchParams> {
    validate_params(source, params, config).map_err(|e| ApiError::bad_input(e.to_string()))
}

/// Starting, executing and cancelling runs. Cheap to clone; clones share the registry.
#[derive(Clone)]
pub struct Runs {
    db: DatabaseConnection,
    engine: Engine,
    registry: RunRegistry,
    wake: Wakeups,
    clock: Clock,
}

impl Runs {
    /// `wake` reaches this server's worker pool; `clock` stamps every time the service writes
    /// (the database clock in production).
    pub fn new(db: DatabaseConnection, engine: Engine, wake: Wakeups, clock: Clock) -> Self {
        Runs {
            db,
            engine,
            registry: RunRegistry::default(),
            wake,
            clock,
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Executes runs; its bus carries their events.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn registry(&self) -> &RunRegistry {
        &self.registry
    }

    pub fn wake(&self) -> &Wakeups {
        &self.wake
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn new_run(&self, start: StartRun) -> ApiResult<NewRun> {
        let params = validate(start.source, &start.params, &self.engine.config)?;
        Ok(NewRun::manual(start.source, params, start.trigger))
    }

    /// Validate and queue a run for the worker pool (this instance's, or any scheduler
    /// instance's): returned `queued` at once, announced to subscribers.
    #[tracing::instrument(skip_all, fields(source = %start.source))]
    pub async fn queue(&self, start: StartRun) -> ApiResult<ingest_run::Model> {
        let new = self.new_run(start)?;
        let now = self.clock.now(&self.db).await?;
        let run = queue::enqueue(&self.db, new, now).await?;
        self.announce(&run);
        Ok(run)
    }

    /// Validate a run and claim it for this process at once: stored and marked `running`
    /// under `owner` in one transaction, so no worker pool can claim it first. Execute it with
    /// [`Runs::execute`]. No lease: the run's progress writes are its sign of life (the reaper
    /// interrupts it after long silence).
    #[tracing::instrument(skip_all, fields(source = %start.source))]
    pub async fn start_here(&self, start: StartRun, owner: &str) -> ApiResult<ingest_run::Model> {
        let new = self.new_run(start)?;
        let now = self.clock.now(&self.db).await?;
        let txn = queue::begin_write(&self.db).await?;
        let queued = queue::enqueue(&txn, new, now).await?;
        let run = queue::claim(&txn, queued.id, owner, now, None)
            .await?
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "run {} was taken before its claim",
                    queued.id
                ))
            })?;
        txn.commit().await?;
        Ok(run)
    }

    /// Queue a run of a schedule now (trigger `manual`), subject to its overlap policy, and
    /// announce it unless it came back `skipped`.
    pub async fn run_schedule_now(&self, schedule_id: i64) -> ApiResult<ingest_run::Model> {
        let now = self.clock.now(&self.db).await?;
        let run = schedules::run_now(&self.db, schedule_id, now).await?;
        self.announce(&run);
        Ok(run)
    }

    /// Tell subscribers a run was queued and wake the worker pool (nothing for a run stored
    /// already finished, e.g. `skipped`).
    pub fn announce(&self, run: &ingest_run::Model) {
        if run.status == RunStatus::Queued {
            self.engine.bus.publish(IngestEvent::RunQueued {
                run_id: run.id,
                source: run.source,
            });
            self.wake.run_queued();
        }
    }

    /// Execute a run claimed for this process ([`Runs::start_here`] or a worker's claim) to
    /// its end. It is in the registry meanwhile: [`Runs::cancel`] cancels `stop`.
    pub async fn execute(
        &self,
        run: &ingest_run::Model,
        stop: &CancellationToken,
    ) -> Result<RunReport, DbErr> {
        self.execute_with(run, stop, &OnceLock::new()).await
    }

    /// [`Runs::execute`] for a caller that may stop the run for its own reasons, given in
    /// `interrupted` (see [`Engine::execute_with`]).
    pub async fn execute_with(
        &self,
        run: &ingest_run::Model,
        stop: &CancellationToken,
        interrupted: &OnceLock<String>,
    ) -> Result<RunReport, DbErr> {
        let _registered = self.registry.register(run.id, stop.clone());
        self.engine.execute_with(run, stop, interrupted).await
    }

    /// Cancel a run: a queued run is `cancelled` at once; a running one is marked `cancelled`
    /// and stops at once if it executes in this process, else at its worker's next heartbeat
    /// or page. A finished run cannot be cancelled (`BAD_USER_INPUT`); an unknown one is
    /// `NOT_FOUND`.
    #[tracing::instrument(skip_all, fields(run_id = run_id))]
    pub async fn cancel(&self, run_id: i64) -> ApiResult<ingest_run::Model> {
        let now = self.clock.now(&self.db).await?;
        let run = queue::cancel(&self.db, run_id, now)
            .await
            .map_err(|e| match e {
                CancelError::NotFound => {
                    ApiError::NotFound(format!("ingest run {run_id} does not exist"))
                }
                CancelError::AlreadyFinished(status) => ApiError::bad_input(format!(
                    "ingest run {run_id} already finished ({status}); only queued or running runs can be cancelled"
                )),
                CancelError::Db(e) => e.into(),
            })?;
        self.registry.cancel(run_id);
        // A cancelled run frees its source's slot: another may start.
        self.wake.run_queued();
        Ok(run)
    }
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> ApiResult<Option<ingest_run::Model>> {
    Ok(Entity::find_by_id(id).one(db).await?)
}

/// Runs by id, in no particular order; ids that don't exist are simply absent.
pub async fn get_many(db: &impl ConnectionTrait, ids: &[i64]) -> ApiResult<Vec<ingest_run::Model>> {
    let mut out = Vec::with_capacity(ids.len());
    // Stay far below SQLite's bound-parameter limit.
    for chunk in ids.chunks(500) {
        out.extend(
            Entity::find()
                .filter(Column::Id.is_in(chunk.iter().copied()))
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

/// Which runs to list; parts are AND-combined, empty lists mean "no constraint".
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub statuses: Vec<RunStatus>,
    pub sources: Vec<Source>,
    pub triggers: Vec<RunTrigger>,
    pub schedule_id: Option<i64>,
}

/// Newest first (highest id first: ids grow with queueing time), keyset-paginated on id.
/// Returns up to `limit + 1` rows so the caller can tell whether there is a next page.
pub async fn page(
    db: &impl ConnectionTrait,
    filter: &RunFilter,
    before_id: Option<i64>,
    limit: u64,
) -> ApiResult<Vec<ingest_run::Model>> {
    let mut q = Entity::find().order_by_desc(Column::Id).limit(limit + 1);
    if let Some(id) = before_id {
        q = q.filter(Column::Id.lt(id));
    }
    if !filter.statuses.is_empty() {
        q = q.filter(Column::Status.is_in(filter.statuses.iter().copied()));
    }
    if !filter.sources.is_empty() {
        q = q.filter(Column::Source.is_in(filter.sources.iter().copied()));
    }
    if !filter.triggers.is_empty() {
        q = q.filter(Column::Trigger.is_in(filter.triggers.iter().copied()));
    }
    if let Some(s) = filter.schedule_id {
        q = q.filter(Column::ScheduleId.eq(s));
    }
    Ok(q.all(db).await?)
}

//! Ingest runs: the one way a run is started, executed and cancelled — [`Runs`], used alike
//! by `startIngest` / `cancelIngestRun` / `retryIngestRun`, by `jobintel ingest` and by the
//! worker pool — and the reads (by id, many ids at once for the DataLoader, newest-first
//! pages, counts per status and per hour for `ingestRunStats`).
//!
//! Starting a run is: validate its parameters ([`validate`]), store it `queued`, then either
//! hand it to the worker pool ([`Runs::queue`]: announced on the bus, the pool woken) or claim
//! it for this process at once ([`Runs::start_here`]: stored and marked `running` in one
//! transaction, so no worker can claim it first) and [`Runs::execute`] it. Every run executing
//! in this process is in the [`RunRegistry`] for as long as it executes, so [`Runs::cancel`]
//! stops it at once; runs executing elsewhere stop at their next heartbeat or page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, TimeDelta, Utc};

use entity::ingest_run::{self, Column, Entity};
use entity::{RunStatus, RunTrigger, Source};
use ingest::SearchParams;
use ingest::engine::{Engine, EngineConfig, RunReport, validate_params};
use ingest::events::IngestEvent;
use ingest::store::NewRun;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
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

    /// Queue a new run with the source, parameters and schedule of run `run_id` (trigger
    /// `retry`), through the same path as [`Runs::queue`]: announced, the pool woken. Only a
    /// run in a [`RETRYABLE`] status may be retried (`BAD_USER_INPUT` otherwise, and for runs
    /// whose source cannot be scraped, such as imports); an unknown one is `NOT_FOUND`.
    ///
    /// The copy is a new first attempt with no `scheduledFor`: it is not the schedule's own
    /// retry of that occurrence (those keep `scheduledFor` and count `attempt` up), so it never
    /// competes with one for the occurrence's unique slot.
    #[tracing::instrument(skip_all, fields(run_id = run_id))]
    pub async fn retry(&self, run_id: i64) -> ApiResult<ingest_run::Model> {
        let original = get(&self.db, run_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("ingest run {run_id} does not exist")))?;
        if !RETRYABLE.contains(&original.status) {
            return Err(ApiError::bad_input(format!(
                "ingest run {run_id} is {}: only failed, interrupted, blocked or cancelled runs \
                 can be retried",
                original.status
            )));
        }
        if original.trigger == RunTrigger::Import {
            return Err(ApiError::bad_input(format!(
                "ingest run {run_id} is an import: run `jobintel import` again instead"
            )));
        }
        // The stored parameters were valid when the run was queued; check them again against
        // today's sources (a source may need a parameter it did not before).
        let params: SearchParams =
            serde_json::from_value(original.params.clone()).map_err(|e| {
                ApiError::bad_input(format!(
                    "ingest run {run_id} has unreadable parameters: {e}"
                ))
            })?;
        validate(original.source, &params, &self.engine.config)?;
        let new = NewRun {
            schedule_id: original.schedule_id,
            params: original.params.clone(),
            ..NewRun::manual(original.source, params, RunTrigger::Retry)
        };
        let now = self.clock.now(&self.db).await?;
        let run = queue::enqueue(&self.db, new, now).await?;
        tracing::info!(retry_id = run.id, "run retried");
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

impl RunFilter {
    /// `q` restricted to the runs this filter selects: the one place the filter becomes SQL,
    /// for pages and counts alike. Each part leads an index that ends in `id` (migrations
    /// 000003 and 000008), so a page is a backward walk of one index range and a count reads
    /// the index alone (measured with `bench`'s `runs_page`: README, "runs page").
    pub fn apply<S: QueryFilter>(&self, mut q: S) -> S {
        if !self.statuses.is_empty() {
            q = q.filter(Column::Status.is_in(self.statuses.iter().copied()));
        }
        if !self.sources.is_empty() {
            q = q.filter(Column::Source.is_in(self.sources.iter().copied()));
        }
        if !self.triggers.is_empty() {
            q = q.filter(Column::Trigger.is_in(self.triggers.iter().copied()));
        }
        if let Some(s) = self.schedule_id {
            q = q.filter(Column::ScheduleId.eq(s));
        }
        q
    }
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
    Ok(filter.apply(q).all(db).await?)
}

/// Statuses a run may be retried from (`retryIngestRun`): it ended without succeeding, and
/// not because a schedule skipped it.
pub const RETRYABLE: [RunStatus; 4] = [
    RunStatus::Failed,
    RunStatus::Interrupted,
    RunStatus::Blocked,
    RunStatus::Cancelled,
];

/// Runs matching a filter and queued in `[from, to)` (either end open when `None`).
#[derive(Debug, Clone, Default)]
pub struct RunWindow {
    pub filter: RunFilter,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl RunWindow {
    fn apply<S: QueryFilter>(&self, q: S) -> S {
        let mut q = self.filter.apply(q);
        if let Some(from) = self.from {
            q = q.filter(Column::QueuedAt.gte(from));
        }
        if let Some(to) = self.to {
            q = q.filter(Column::QueuedAt.lt(to));
        }
        q
    }
}

/// How many runs of a window are in each status: every status, in [`RunStatus::ALL`] order,
/// zeros included. One `GROUP BY status`, read from an index alone when unfiltered
/// (`(status, id)`, or `(status, queued_at)` for a window) or filtered by source or trigger.
pub async fn count_by_status(
    db: &impl ConnectionTrait,
    window: &RunWindow,
) -> ApiResult<Vec<(RunStatus, u64)>> {
    let rows: Vec<(RunStatus, i64)> = window
        .apply(Entity::find())
        .select_only()
        .column(Column::Status)
        .column_as(Column::Id.count(), "n")
        .group_by(Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let counts: HashMap<RunStatus, u64> = rows
        .into_iter()
        .map(|(s, n)| (s, n.max(0) as u64))
        .collect();
    Ok(RunStatus::ALL
        .iter()
        .map(|s| (*s, counts.get(s).copied().unwrap_or(0)))
        .collect())
}

/// Runs queued in one UTC hour, by how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourCount {
    /// Start of the hour, UTC.
    pub hour: DateTime<Utc>,
    pub succeeded: u64,
    pub failed: u64,
    pub blocked: u64,
    pub cancelled: u64,
    pub interrupted: u64,
    /// Queued, running or skipped.
    pub other: u64,
}

/// Longest window [`count_per_hour`] covers: a month of hours.
pub const MAX_HOURLY_SPAN: TimeDelta = TimeDelta::days(31);

/// Runs of `filter` queued in `[from, to)`, per UTC hour of `queued_at`: every hour from
/// `from`'s hour up to `to`, zeros included. One `GROUP BY hour` with a count per outcome
/// (one row per hour to decode, not one per hour and status); the hour is the first 13
/// characters of the stored RFC 3339 text on SQLite and `to_char` of the UTC time on
/// PostgreSQL, so both give `YYYY-MM-DDTHH`. Unfiltered, it reads
/// `idx_ingest_runs_queued_status` alone.
pub async fn count_per_hour(
    db: &impl ConnectionTrait,
    filter: &RunFilter,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<Vec<HourCount>> {
    if to - from > MAX_HOURLY_SPAN {
        return Err(ApiError::bad_input(format!(
            "per-hour counts cover at most {} days: narrow `from`/`to` (got {} hours)",
            MAX_HOURLY_SPAN.num_days(),
            (to - from).num_hours()
        )));
    }
    let hour_expr = match db.get_database_backend() {
        DbBackend::Postgres => {
            "to_char(ingest_runs.queued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')"
        }
        _ => "substr(ingest_runs.queued_at, 1, 13)",
    };
    // The stored status strings are a closed vocabulary: written into the SQL, not bound.
    let count_of = |statuses: &[RunStatus]| {
        let list: Vec<String> = statuses.iter().map(|s| format!("'{s}'")).collect();
        Expr::cust(format!(
            "COUNT(CASE WHEN ingest_runs.status IN ({}) THEN 1 END)",
            list.join(", ")
        ))
    };
    let window = RunWindow {
        filter: filter.clone(),
        from: Some(from),
        to: Some(to),
    };
    type Row = (String, i64, i64, i64, i64, i64, i64);
    let rows: Vec<Row> = window
        .apply(Entity::find())
        .select_only()
        .column_as(Expr::cust(hour_expr), "h")
        .column_as(count_of(&[RunStatus::Succeeded]), "s")
        .column_as(count_of(&[RunStatus::Failed]), "f")
        .column_as(count_of(&[RunStatus::Blocked]), "b")
        .column_as(count_of(&[RunStatus::Cancelled]), "c")
        .column_as(count_of(&[RunStatus::Interrupted]), "i")
        .column_as(
            count_of(&[RunStatus::Queued, RunStatus::Running, RunStatus::Skipped]),
            "o",
        )
        .group_by(Expr::cust(hour_expr))
        .into_tuple()
        .all(db)
        .await?;
    let start = truncate_to_hour(from);
    let mut hours = Vec::new();
    let mut hour = start;
    while hour < to {
        hours.push(HourCount {
            hour,
            ..HourCount::default()
        });
        hour += TimeDelta::hours(1);
    }
    let n = |v: i64| v.max(0) as u64;
    for (h, s, f, b, c, i, o) in rows {
        let Some(hour) = parse_hour(&h) else {
            tracing::warn!(hour = %h, "unexpected hour bucket; ignored");
            continue;
        };
        let Some(slot) = usize::try_from((hour - start).num_hours())
            .ok()
            .and_then(|k| hours.get_mut(k))
        else {
            continue;
        };
        *slot = HourCount {
            hour,
            succeeded: n(s),
            failed: n(f),
            blocked: n(b),
            cancelled: n(c),
            interrupted: n(i),
            other: n(o),
        };
    }
    Ok(hours)
}

fn truncate_to_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp().div_euclid(3600) * 3600, 0).unwrap_or(t)
}

/// `YYYY-MM-DDTHH` (or with a space for the `T`).
fn parse_hour(s: &str) -> Option<DateTime<Utc>> {
    let day = chrono::NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    let hour: u32 = s.get(11..13)?.parse().ok()?;
    Some(day.and_hms_opt(hour, 0, 0)?.and_utc())
}

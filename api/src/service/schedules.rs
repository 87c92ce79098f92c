//! Schedules: validated writes (create, update, pause, resume, delete, run now) and reads.
//!
//! Every function takes `now` (the database clock in production, a manual one in tests).
//! Rules that keep a write from firing anything by itself (Hangfire#728):
//! - a new schedule's `next_fire_at` is its first occurrence strictly after `now`;
//! - changing the cron or time zone recomputes it from `now` (no "missed" catch-up);
//! - resuming recomputes it from `now` (no backfill); pausing clears it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{MisfirePolicy, OverlapPolicy, RunStatus, RunTrigger, Source, ingest_run, schedule};
use ingest::SearchParams;
use ingest::engine::{EngineConfig, validate_params};
use ingest::store::NewRun;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, NotSet, QueryFilter, QueryOrder, QuerySelect, SqlErr, SqliteTransactionMode,
    TransactionOptions, TransactionSession, TransactionTrait,
};

use crate::error::{ApiError, ApiResult};
use crate::scheduling::cron::CronSchedule;
use crate::scheduling::policy::overlap_outcome;
use crate::service::queue;
use crate::service::wake::Wakeups;

pub const MAX_NAME_LEN: usize = 200;
pub const MAX_JITTER_SECONDS: i32 = 3600;
pub const MAX_ATTEMPTS: i32 = 20;
pub const MAX_BACKOFF_SECONDS: i32 = 86_400;

/// A complete schedule definition (create).
#[derive(Debug, Clone)]
pub struct ScheduleDef {
    pub name: String,
    pub source: Source,
    pub params: SearchParams,
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    pub jitter_seconds: i32,
    pub overlap_policy: OverlapPolicy,
    pub misfire_policy: MisfirePolicy,
    pub max_attempts: i32,
    pub retry_backoff_seconds: i32,
}

/// Changes to a schedule (update): `None` keeps the current value. A search parameter set to
/// an empty string is cleared.
#[derive(Debug, Clone, Default)]
pub struct SchedulePatch {
    pub name: Option<String>,
    pub source: Option<Source>,
    pub keywords: Option<String>,
    pub location: Option<String>,
    pub target: Option<String>,
    pub max_pages: Option<u32>,
    /// Unset `max_pages` (runs use `JOBINTEL_DEFAULT_MAX_PAGES`); `max_pages` wins if both.
    pub clear_max_pages: bool,
    pub country: Option<String>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub jitter_seconds: Option<i32>,
    pub overlap_policy: Option<OverlapPolicy>,
    pub misfire_policy: Option<MisfirePolicy>,
    pub max_attempts: Option<i32>,
    pub retry_backoff_seconds: Option<i32>,
}

/// Check a definition; returns the normalised parameters and the parsed cron.
pub fn validate(
    def: &ScheduleDef,
    engine: &EngineConfig,
) -> ApiResult<(SearchParams, CronSchedule)> {
    let name = def.name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_input("`name` must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::bad_input(format!(
            "`name` must be at most {MAX_NAME_LEN} characters"
        )));
    }
    let params = validate_params(def.source, &def.params, engine)
        .map_err(|e| ApiError::bad_input(e.to_string()))?;
    let spec = parse_cron(&def.cron, &def.timezone)?;
    in_range("jitterSeconds", def.jitter_seconds, 0, MAX_JITTER_SECONDS)?;
    in_range("maxAttempts", def.max_attempts, 1, MAX_ATTEMPTS)?;
    in_range(
        "retryBackoffSeconds",
        def.retry_backoff_seconds,
        1,
        MAX_BACKOFF_SECONDS,
    )?;
    Ok((params, spec))
}

/// A cron expression in an IANA time zone, checked the way every schedule write checks it: a
/// `BAD_USER_INPUT` error naming the field that is wrong or the unknown zone.
pub fn parse_cron(cron: &str, timezone: &str) -> ApiResult<CronSchedule> {
    CronSchedule::parse(cron, timezone).map_err(|e| ApiError::bad_input(e.to_string()))
}

/// Most fires [`preview`] computes.
pub const MAX_PREVIEW_FIRES: i32 = 20;

/// What a cron would do, before it is saved (`cronPreview`): the expression and zone as a
/// schedule would store them, its description, and its next fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronPreview {
    pub cron: String,
    pub timezone: String,
    pub description: String,
    pub fires: Vec<DateTime<Utc>>,
}

/// The next `count` (1..=[`MAX_PREVIEW_FIRES`]) fires of `cron` in `timezone` after `now`,
/// with the same validation and message as `createSchedule`.
pub fn preview(
    cron: &str,
    timezone: &str,
    count: i32,
    now: DateTime<Utc>,
) -> ApiResult<CronPreview> {
    if !(1..=MAX_PREVIEW_FIRES).contains(&count) {
        return Err(ApiError::bad_input(format!(
            "`count` must be between 1 and {MAX_PREVIEW_FIRES}, got {count}"
        )));
    }
    let spec = parse_cron(cron, timezone)?;
    Ok(CronPreview {
        cron: spec.expr().to_owned(),
        timezone: spec.time_zone().name().to_owned(),
        description: spec.describe(),
        fires: spec.upcoming(now, count as usize),
    })
}

fn in_range(field: &str, v: i32, lo: i32, hi: i32) -> ApiResult<()> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(ApiError::bad_input(format!(
            "`{field}` must be between {lo} and {hi}, got {v}"
        )))
    }
}

fn params_json(p: &SearchParams) -> ApiResult<serde_json::Value> {
    serde_json::to_value(p).map_err(|e| ApiError::Internal(e.into()))
}

fn name_taken(e: &DbErr, name: &str) -> Option<ApiError> {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))).then(|| {
        ApiError::bad_input(format!(
            "a schedule named `{name}` already exists: choose another name"
        ))
    })
}

/// Create a schedule. It first fires at its first occurrence after `now` (never at once);
/// `wake` tells this server's tick.
pub async fn create(
    db: &impl ConnectionTrait,
    def: ScheduleDef,
    engine: &EngineConfig,
    now: DateTime<Utc>,
    wake: &Wakeups,
) -> ApiResult<schedule::Model> {
    let (params, spec) = validate(&def, engine)?;
    let name = def.name.trim().to_owned();
    let am = schedule::ActiveModel {
        id: NotSet,
        name: Set(name.clone()),
        source: Set(def.source),
        params: Set(params_json(&params)?),
        cron: Set(spec.expr().to_owned()),
        timezone: Set(spec.time_zone().name().to_owned()),
        enabled: Set(def.enabled),
        jitter_seconds: Set(def.jitter_seconds),
        overlap_policy: Set(def.overlap_policy),
        misfire_policy: Set(def.misfire_policy),
        max_attempts: Set(def.max_attempts),
        retry_backoff_seconds: Set(def.retry_backoff_seconds),
        next_fire_at: Set(if def.enabled {
            spec.next_after(now)
        } else {
            None
        }),
        last_fire_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let created = schedule::Entity::insert(am)
        .exec_with_returning(db)
        .await
        .map_err(|e| name_taken(&e, &name).unwrap_or_else(|| e.into()))?;
    wake.schedules_changed();
    Ok(created)
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> ApiResult<Option<schedule::Model>> {
    Ok(schedule::Entity::find_by_id(id).one(db).await?)
}

async fn get_or_404(db: &impl ConnectionTrait, id: i64) -> ApiResult<schedule::Model> {
    get(db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("schedule {id} does not exist")))
}

/// The definition a stored schedule has.
fn def_of(m: &schedule::Model) -> ScheduleDef {
    ScheduleDef {
        name: m.name.clone(),
        source: m.source,
        params: serde_json::from_value(m.params.clone()).unwrap_or_default(),
        cron: m.cron.clone(),
        timezone: m.timezone.clone(),
        enabled: m.enabled,
        jitter_seconds: m.jitter_seconds,
        overlap_policy: m.overlap_policy,
        misfire_policy: m.misfire_policy,
        max_attempts: m.max_attempts,
        retry_backoff_seconds: m.retry_backoff_seconds,
    }
}

/// Apply `patch`. Only a changed cron or time zone moves `next_fire_at`, and only to the first
/// occurrence after `now`.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i64,
    patch: SchedulePatch,
    engine: &EngineConfig,
    now: DateTime<Utc>,
    wake: &Wakeups,
) -> ApiResult<schedule::Model> {
    let current = get_or_404(db, id).await?;
    let mut def = def_of(&current);
    let set_param = |slot: &mut Option<String>, v: Option<String>| {
        if let Some(v) = v {
            *slot = (!v.trim().is_empty()).then_some(v);
        }
    };
    if let Some(v) = patch.name {
        def.name = v;
    }
    if let Some(v) = patch.source {
        def.source = v;
    }
    set_param(&mut def.params.keywords, patch.keywords);
    set_param(&mut def.params.location, patch.location);
    set_param(&mut def.params.target, patch.target);
    set_param(&mut def.params.country, patch.country);
    if patch.clear_max_pages {
        def.params.max_pages = None;
    }
    if let Some(v) = patch.max_pages {
        def.params.max_pages = Some(v);
    }
    if let Some(v) = patch.cron {
        def.cron = v;
    }
    if let Some(v) = patch.timezone {
        def.timezone = v;
    }
    if let Some(v) = patch.jitter_seconds {
        def.jitter_seconds = v;
    }
    if let Some(v) = patch.overlap_policy {
        def.overlap_policy = v;
    }
    if let Some(v) = patch.misfire_policy {
        def.misfire_policy = v;
    }
    if let Some(v) = patch.max_attempts {
        def.max_attempts = v;
    }
    if let Some(v) = patch.retry_backoff_seconds {
        def.retry_backoff_seconds = v;
    }
    let (params, spec) = validate(&def, engine)?;
    let name = def.name.trim().to_owned();
    let timing_changed = spec.expr() != current.cron || spec.time_zone().name() != current.timezone;

    // Only changed columns are written, so a tick advancing `next_fire_at` meanwhile is kept.
    let mut am = current.clone().into_active_model();
    am.name = Set(name.clone());
    am.source = Set(def.source);
    am.params = Set(params_json(&params)?);
    am.cron = Set(spec.expr().to_owned());
    am.timezone = Set(spec.time_zone().name().to_owned());
    am.jitter_seconds = Set(def.jitter_seconds);
    am.overlap_policy = Set(def.overlap_policy);
    am.misfire_policy = Set(def.misfire_policy);
    am.max_attempts = Set(def.max_attempts);
    am.retry_backoff_seconds = Set(def.retry_backoff_seconds);
    am.updated_at = Set(now);
    if timing_changed && current.enabled {
        am.next_fire_at = Set(spec.next_after(now));
    }
    let updated = am
        .update(db)
        .await
        .map_err(|e| name_taken(&e, &name).unwrap_or_else(|| e.into()))?;
    if timing_changed {
        wake.schedules_changed();
    }
    Ok(updated)
}

/// Stop firing (runs in flight continue). Idempotent.
pub async fn pause(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> ApiResult<schedule::Model> {
    let current = get_or_404(db, id).await?;
    if !current.enabled {
        return Ok(current);
    }
    let mut am = current.into_active_model();
    am.enabled = Set(false);
    am.next_fire_at = Set(None);
    am.updated_at = Set(now);
    Ok(am.update(db).await?)
}

/// Fire again from the next occurrence after `now`; fires missed while paused are not
/// backfilled. Idempotent.
pub async fn resume(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
    wake: &Wakeups,
) -> ApiResult<schedule::Model> {
    let current = get_or_404(db, id).await?;
    if current.enabled {
        return Ok(current);
    }
    let spec = parse_cron(&current.cron, &current.timezone)?;
    let mut am = current.into_active_model();
    am.enabled = Set(true);
    am.next_fire_at = Set(spec.next_after(now));
    am.updated_at = Set(now);
    let resumed = am.update(db).await?;
    wake.schedules_changed();
    Ok(resumed)
}

/// Delete a schedule, all or nothing, in one transaction: its queued runs are cancelled, all
/// its runs are detached (`schedule_id` NULL: finished runs stay in the history, a running run
/// goes on to its end but is never retried), and the row is removed. A failure anywhere rolls
/// the whole of it back, so there is never a deleted schedule with runs still queued for it, nor
/// a schedule whose queued runs were cancelled but which still fires.
///
/// The schedule row is locked first (`FOR UPDATE` on PostgreSQL, the write lock of `BEGIN
/// IMMEDIATE` on SQLite): a tick firing it at the same moment either committed its run before
/// (and that run is cancelled here) or skips the locked schedule and then finds it gone; a
/// concurrent `run_now` or retry inserting a run for it waits on the lock and then fails its
/// foreign key instead of queueing a run for a deleted schedule.
pub async fn delete<C>(db: &C, id: i64, now: DateTime<Utc>) -> ApiResult<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    schedule::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("schedule {id} does not exist")))?;
    ingest_run::Entity::update_many()
        .col_expr(
            ingest_run::Column::Status,
            Expr::value(RunStatus::Cancelled.as_str()),
        )
        .col_expr(ingest_run::Column::FinishedAt, Expr::value(now))
        .col_expr(
            ingest_run::Column::Error,
            Expr::value("cancelled: its schedule was deleted"),
        )
        .filter(ingest_run::Column::ScheduleId.eq(id))
        .filter(ingest_run::Column::Status.eq(RunStatus::Queued))
        .exec(&txn)
        .await?;
    // The foreign key's ON DELETE SET NULL would do this too, but only where SQLite enforces
    // foreign keys (a per-connection pragma); saying it here makes it hold everywhere.
    ingest_run::Entity::update_many()
        .col_expr(
            ingest_run::Column::ScheduleId,
            Expr::value(Option::<i64>::None),
        )
        .filter(ingest_run::Column::ScheduleId.eq(id))
        .exec(&txn)
        .await?;
    schedule::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Queue a run of the schedule now (trigger `manual`), subject to its overlap policy: with
/// `skip`, a run while one is active is recorded as `skipped` and returned as such.
pub async fn run_now(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> ApiResult<ingest_run::Model> {
    let s = get_or_404(db, id).await?;
    let active = queue::active_runs(db, s.id).await?;
    let (status, error) = overlap_outcome(s.overlap_policy, active);
    let run = queue::enqueue(
        db,
        NewRun {
            source: s.source,
            params: s.params.clone(),
            trigger: RunTrigger::Manual,
            schedule_id: Some(s.id),
            scheduled_for: None,
            attempt: 1,
            run_after: Some(now),
            status,
            error,
        },
        now,
    )
    .await?;
    Ok(run)
}

/// A page of schedules by id (ascending), at most `limit + 1` rows (to tell if there is more).
pub async fn page(
    db: &impl ConnectionTrait,
    after_id: Option<i64>,
    limit: u64,
    enabled: Option<bool>,
) -> ApiResult<Vec<schedule::Model>> {
    let mut q = schedule::Entity::find()
        .order_by_asc(schedule::Column::Id)
        .limit(limit + 1);
    if let Some(id) = after_id {
        q = q.filter(schedule::Column::Id.gt(id));
    }
    if let Some(e) = enabled {
        q = q.filter(schedule::Column::Enabled.eq(e));
    }
    Ok(q.all(db).await?)
}

/// The newest run of each of `schedule_ids` (one query).
pub async fn last_runs(
    db: &impl ConnectionTrait,
    schedule_ids: &[i64],
) -> ApiResult<HashMap<i64, ingest_run::Model>> {
    if schedule_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let newest: Vec<Option<i64>> = ingest_run::Entity::find()
        .select_only()
        .column_as(ingest_run::Column::Id.max(), "id")
        .filter(ingest_run::Column::ScheduleId.is_in(schedule_ids.iter().copied()))
        .group_by(ingest_run::Column::ScheduleId)
        .into_tuple()
        .all(db)
        .await?;
    let ids: Vec<i64> = newest.into_iter().flatten().collect();
    let runs = ingest_run::Entity::find()
        .filter(ingest_run::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(runs
        .into_iter()
        .filter_map(|r| r.schedule_id.map(|s| (s, r)))
        .collect())
}

/// A schedule's runs, newest first, at most `limit + 1` rows.
pub async fn runs_page(
    db: &impl ConnectionTrait,
    schedule_id: i64,
    before_id: Option<i64>,
    limit: u64,
    status: Option<RunStatus>,
) -> ApiResult<Vec<ingest_run::Model>> {
    let mut q = ingest_run::Entity::find()
        .filter(ingest_run::Column::ScheduleId.eq(schedule_id))
        .order_by_desc(ingest_run::Column::Id)
        .limit(limit + 1);
    if let Some(id) = before_id {
        q = q.filter(ingest_run::Column::Id.lt(id));
    }
    if let Some(s) = status {
        q = q.filter(ingest_run::Column::Status.eq(s));
    }
    Ok(q.all(db).await?)
}

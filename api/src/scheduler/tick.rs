//! The tick: turn due schedules into runs.
//!
//! One transaction per batch of at most [`BATCH`] due schedules: lock them (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, so instances ticking at once split the work instead of waiting),
//! insert one run per fire with `ON CONFLICT (schedule_id, scheduled_for, attempt) DO NOTHING`
//! (a conflict means another instance already fired that occurrence), and advance
//! `next_fire_at` past `now`. Lock, insert and advance commit together, so a crash in between
//! fires nothing twice and loses nothing.
//!
//! `now` is a parameter: the database clock in production, a manual clock in tests.
//!
//! Policies applied here:
//! - **Misfire.** A fire more than the misfire threshold late (the process was down, or busy)
//!   is *missed*. Fires within the threshold are on time and always run. For the missed ones,
//!   `skip` drops them; `fire_once` runs one run for all of them (for the first missed
//!   occurrence) unless an on-time fire already covers them.
//! - **Overlap.** See [`overlap_outcome`]: with `skip`, a fire while the schedule's
//!   previous run is queued or running is recorded as a `skipped` run.
//! - **Jitter.** `run_after = fire + j`, `j` in `[0, jitter_seconds]`, derived from the
//!   schedule and the occurrence (stable, so every instance computes the same value).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use entity::{MisfirePolicy, RunStatus, RunTrigger, ingest_run, schedule};
use ingest::store::NewRun;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::scheduling::cron::CronSchedule;
use crate::scheduling::policy::{jitter, overlap_outcome};
use crate::service::queue;

/// Schedules locked and fired per transaction.
pub const BATCH: u64 = 100;
/// The most fires one schedule gets in one tick (an every-second schedule after a stall).
const MAX_FIRES_PER_TICK: usize = 100;

/// Tick settings.
#[derive(Debug, Clone, Copy)]
pub struct TickOptions {
    /// A fire later than this is a misfire.
    pub misfire_threshold: Duration,
}

impl Default for TickOptions {
    fn default() -> Self {
        TickOptions {
            misfire_threshold: Duration::from_secs(60),
        }
    }
}

/// What one tick did.
#[derive(Debug, Default, Clone)]
pub struct TickReport {
    /// Runs queued (to execute).
    pub queued: Vec<ingest_run::Model>,
    /// Fires recorded as `skipped` (overlap).
    pub skipped: usize,
    /// Occurrences another instance had already fired.
    pub already_fired: usize,
    /// Schedules whose missed fires were dropped or coalesced by their misfire policy.
    pub misfired_schedules: usize,
    /// Schedules looked at.
    pub schedules: usize,
}

/// Fire every schedule due at `now`.
pub async fn tick_once(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    opts: TickOptions,
) -> Result<TickReport, DbErr> {
    let mut report = TickReport::default();
    loop {
        let txn = queue::begin_write(db).await?;
        let mut due = schedule::Entity::find()
            .filter(schedule::Column::Enabled.eq(true))
            .filter(schedule::Column::NextFireAt.lte(now))
            .order_by_asc(schedule::Column::NextFireAt)
            .limit(BATCH);
        if db.get_database_backend() == DbBackend::Postgres {
            due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let due = due.all(&txn).await?;
        let n = due.len();
        for s in &due {
            fire_schedule(&txn, s, now, opts, &mut report).await?;
        }
        txn.commit().await?;
        report.schedules += n;
        if (n as u64) < BATCH {
            return Ok(report);
        }
    }
}

/// The earliest `next_fire_at` of an enabled schedule (an index lookup): the scheduler sleeps
/// until then.
pub async fn next_due(db: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>, DbErr> {
    schedule::Entity::find()
        .select_only()
        .column_as(schedule::Column::NextFireAt.min(), "next")
        .filter(schedule::Column::Enabled.eq(true))
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(db)
        .await
        .map(Option::flatten)
}

async fn fire_schedule(
    txn: &impl ConnectionTrait,
    s: &schedule::Model,
    now: DateTime<Utc>,
    opts: TickOptions,
    report: &mut TickReport,
) -> Result<(), DbErr> {
    let spec = match CronSchedule::parse(&s.cron, &s.timezone) {
        Ok(spec) => spec,
        Err(e) => {
            // Validated on write, so only a hand-edited row gets here: stop firing it.
            tracing::error!(schedule_id = s.id, error = %e, "schedule cannot be evaluated; not firing it");
            return set_next_fire(txn, s.id, None, None).await;
        }
    };
    let Some(first) = s.next_fire_at else {
        return Ok(());
    };
    let threshold = TimeDelta::from_std(opts.misfire_threshold).unwrap_or(TimeDelta::zero());
    let window_start = now - threshold;
    let fires: Vec<DateTime<Utc>> = if first >= window_start {
        occurrences(&spec, first, now, true)
    } else {
        report.misfired_schedules += 1;
        let on_time = occurrences(&spec, window_start, now, true);
        match s.misfire_policy {
            MisfirePolicy::Skip => {
                tracing::info!(
                    schedule_id = s.id,
                    missed_since = %first,
                    "missed fires dropped (misfire policy skip)"
                );
                on_time
            }
            MisfirePolicy::FireOnce if on_time.is_empty() => {
                tracing::info!(
                    schedule_id = s.id,
                    missed_since = %first,
                    "missed fires coalesced into one run (misfire policy fire_once)"
                );
                vec![first]
            }
            MisfirePolicy::FireOnce => on_time,
        }
    };
    for fire in &fires {
        let active = queue::active_runs(txn, s.id).await?;
        let (status, error) = overlap_outcome(s.overlap_policy, active);
        let new = NewRun {
            source: s.source,
            params: s.params.clone(),
            trigger: RunTrigger::Schedule,
            schedule_id: Some(s.id),
            scheduled_for: Some(*fire),
            attempt: 1,
            run_after: Some(*fire + jitter(s.id, *fire, s.jitter_seconds)),
            status,
            error,
        };
        match queue::enqueue_once(txn, new, now).await? {
            None => report.already_fired += 1,
            Some(run) if run.status == RunStatus::Skipped => {
                tracing::info!(schedule_id = s.id, run_id = run.id, scheduled_for = %fire, "fire skipped: previous run still active");
                report.skipped += 1;
            }
            Some(run) => {
                tracing::info!(schedule_id = s.id, run_id = run.id, scheduled_for = %fire, "schedule fired");
                report.queued.push(run);
            }
        }
    }
    let next = spec.next_after(now);
    set_next_fire(txn, s.id, next, fires.last().copied().or(s.last_fire_at)).await
}

/// Occurrences in `[from, to]` (`from` itself only if `inclusive` and it is an occurrence),
/// at most [`MAX_FIRES_PER_TICK`].
fn occurrences(
    spec: &CronSchedule,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    inclusive: bool,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let start = if inclusive {
        from - TimeDelta::seconds(1)
    } else {
        from
    };
    let mut at = start;
    while out.len() < MAX_FIRES_PER_TICK {
        match spec.next_after(at) {
            Some(t) if t <= to => {
                out.push(t);
                at = t;
            }
            _ => break,
        }
    }
    out
}

async fn set_next_fire(
    txn: &impl ConnectionTrait,
    schedule_id: i64,
    next: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    schedule::Entity::update_many()
        .col_expr(schedule::Column::NextFireAt, Expr::value(next))
        .col_expr(schedule::Column::LastFireAt, Expr::value(last))
        .filter(schedule::Column::Id.eq(schedule_id))
        .exec(txn)
        .await?;
    Ok(())
}

//! The run queue: `queued` rows in `ingest_runs`, claimed by workers under a lease.
//!
//! - A claim moves one claimable run to `running` with a lease (`lease_owner`,
//!   `lease_expires_at`); the worker renews it with heartbeats. On PostgreSQL the claim is one
//!   `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)` inside a transaction that first
//!   takes a transaction-scoped advisory lock, so that concurrent claims from several instances
//!   see each other and the per-source limit holds across the cluster. On SQLite (one instance)
//!   the same `UPDATE` is a single statement, which takes the write lock before it reads.
//! - A run is claimable when it is `queued`, its `run_after` has passed, fewer than the
//!   per-source limit of its source are `running`, and no other run of the same schedule is
//!   `running` (a schedule's runs never overlap each other).
//! - Every timestamp comes from the caller's clock (the database clock in production).

use chrono::{DateTime, TimeDelta, Utc};
use entity::{RunStatus, ingest_run, schedule};
use ingest::store::NewRun;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, FromQueryResult, QueryFilter, QueryOrder, Statement, TransactionTrait,
    TryInsertResult, Value,
};

use crate::scheduling::policy::{ActiveRuns, backoff};

/// Insert a run row, queued at `now`.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    new: NewRun,
    now: DateTime<Utc>,
) -> Result<ingest_run::Model, DbErr> {
    ingest_run::Entity::insert(new.into_active_model(now))
        .exec_with_returning(db)
        .await
}

/// Insert a run for one schedule occurrence and attempt, unless that occurrence and attempt
/// already has a run (another instance fired it first): `None` then.
pub async fn enqueue_once(
    db: &impl ConnectionTrait,
    new: NewRun,
    now: DateTime<Utc>,
) -> Result<Option<ingest_run::Model>, DbErr> {
    use ingest_run::Column as C;
    let result = ingest_run::Entity::insert(new.into_active_model(now))
        .on_conflict_do_nothing_on([C::ScheduleId, C::ScheduledFor, C::Attempt])
        .exec_with_returning(db)
        .await?;
    Ok(match result {
        TryInsertResult::Inserted(m) => Some(m),
        TryInsertResult::Conflicted | TryInsertResult::Empty => None,
    })
}

/// Start a write transaction. On SQLite, `BEGIN IMMEDIATE` takes the write lock up front, so
/// a transaction that reads before it writes cannot fail with `SQLITE_BUSY` half-way.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// SQL written with `$1`-style placeholders, as the backend wants them (`?1` on SQLite).
pub fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Arbitrary, fixed key of the advisory lock that serialises claims across instances.
const CLAIM_LOCK_KEY: i64 = 0x6a6f_6269_6e74_6c01;

/// Claim the next claimable run for `owner`, or `None` if nothing can start now.
pub async fn claim_next(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    owner: &str,
    lease: TimeDelta,
    per_source_limit: u32,
) -> Result<Option<ingest_run::Model>, DbErr> {
    let backend = db.get_database_backend();
    let lock = if backend == DbBackend::Postgres {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE ingest_runs SET status = 'running', started_at = $1, heartbeat_at = $1, \
                lease_owner = $2, lease_expires_at = $3 \
         WHERE id = ( \
           SELECT r.id FROM ingest_runs r \
           WHERE r.status = 'queued' AND r.run_after <= $1 \
             AND (SELECT COUNT(*) FROM ingest_runs x \
                  WHERE x.status = 'running' AND x.source = r.source) < $4 \
             AND (r.schedule_id IS NULL OR NOT EXISTS ( \
                  SELECT 1 FROM ingest_runs y \
                  WHERE y.schedule_id = r.schedule_id AND y.status = 'running')) \
           ORDER BY r.run_after, r.id \
           LIMIT 1 {lock}) \
         AND status = 'queued' \
         RETURNING *"
    );
    let stmt = statement(
        backend,
        &sql,
        vec![
            now.into(),
            owner.into(),
            (now + lease).into(),
            i64::from(per_source_limit).into(),
        ],
    );
    match backend {
        DbBackend::Postgres => {
            let txn = db.begin().await?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [CLAIM_LOCK_KEY.into()],
            ))
            .await?;
            let run = ingest_run::Model::find_by_statement(stmt).one(&txn).await?;
            txn.commit().await?;
            Ok(run)
        }
        _ => ingest_run::Model::find_by_statement(stmt).one(db).await,
    }
}

/// Claim one particular queued run for `owner` (a run started in this process rather than
/// by the worker pool): `running` from `now`, with a lease until `now + lease`, or without one.
/// `None` when the run is no longer queued (cancelled, or claimed by a worker meanwhile).
pub async fn claim(
    db: &impl ConnectionTrait,
    run_id: i64,
    owner: &str,
    now: DateTime<Utc>,
    lease: Option<TimeDelta>,
) -> Result<Option<ingest_run::Model>, DbErr> {
    let stmt = statement(
        db.get_database_backend(),
        "UPDATE ingest_runs SET status = 'running', started_at = $1, heartbeat_at = $1, \
                lease_owner = $2, lease_expires_at = $3 \
         WHERE id = $4 AND status = 'queued' \
         RETURNING *",
        vec![
            now.into(),
            owner.into(),
            lease.map(|l| now + l).into(),
            run_id.into(),
        ],
    );
    ingest_run::Model::find_by_statement(stmt).one(db).await
}

/// Renew `owner`'s lease on a running run. `false` when the run is no longer this owner's to
/// run: it was cancelled, or reaped after the lease expired.
pub async fn heartbeat(
    db: &impl ConnectionTrait,
    run_id: i64,
    owner: &str,
    now: DateTime<Utc>,
    lease: TimeDelta,
) -> Result<bool, DbErr> {
    use ingest_run::Column as C;
    let res = ingest_run::Entity::update_many()
        .col_expr(C::HeartbeatAt, Expr::value(now))
        .col_expr(C::LeaseExpiresAt, Expr::value(now + lease))
        .filter(C::Id.eq(run_id))
        .filter(C::Status.eq(RunStatus::Running))
        .filter(C::LeaseOwner.eq(owner))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The earliest `run_after` among queued runs (the worker pool sleeps until then).
pub async fn next_run_after(db: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>, DbErr> {
    use sea_orm::QuerySelect;
    ingest_run::Entity::find()
        .select_only()
        .column_as(ingest_run::Column::RunAfter.min(), "next")
        .filter(ingest_run::Column::Status.eq(RunStatus::Queued))
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(db)
        .await
        .map(Option::flatten)
}

/// The newest queued and the newest running run of a schedule.
pub async fn active_runs(db: &impl ConnectionTrait, schedule_id: i64) -> Result<ActiveRuns, DbErr> {
    use sea_orm::QuerySelect;
    let rows: Vec<(i64, RunStatus)> = ingest_run::Entity::find()
        .select_only()
        .column(ingest_run::Column::Id)
        .column(ingest_run::Column::Status)
        .filter(ingest_run::Column::ScheduleId.eq(schedule_id))
        .filter(ingest_run::Column::Status.is_in([RunStatus::Queued, RunStatus::Running]))
        .order_by_desc(ingest_run::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut active = ActiveRuns::default();
    for (id, status) in rows {
        match status {
            RunStatus::Queued if active.queued.is_none() => active.queued = Some(id),
            RunStatus::Running if active.running.is_none() => active.running = Some(id),
            _ => {}
        }
    }
    Ok(active)
}

/// If `run` (just ended `failed` or `interrupted`) belongs to an enabled schedule with attempts
/// left, queue its next attempt after the backoff. The retry keeps the occurrence it retries
/// (`scheduled_for`), so the unique `(schedule_id, scheduled_for, attempt)` index lets two
/// instances race to create it and only one wins.
pub async fn retry_if_allowed(
    db: &impl ConnectionTrait,
    run: &ingest_run::Model,
    now: DateTime<Utc>,
) -> Result<Option<ingest_run::Model>, DbErr> {
    if !matches!(run.status, RunStatus::Failed | RunStatus::Interrupted) {
        return Ok(None);
    }
    let Some(schedule_id) = run.schedule_id else {
        return Ok(None);
    };
    let Some(s) = schedule::Entity::find_by_id(schedule_id).one(db).await? else {
        return Ok(None);
    };
    if !s.enabled || run.attempt >= s.max_attempts {
        return Ok(None);
    }
    let new = NewRun {
        source: run.source,
        params: run.params.clone(),
        trigger: run.trigger,
        schedule_id: Some(schedule_id),
        scheduled_for: run.scheduled_for,
        attempt: run.attempt + 1,
        run_after: Some(now + backoff(s.retry_backoff_seconds, run.attempt)),
        status: RunStatus::Queued,
        error: None,
    };
    let retry = if run.scheduled_for.is_some() {
        enqueue_once(db, new, now).await?
    } else {
        Some(enqueue(db, new, now).await?)
    };
    if let Some(r) = &retry {
        tracing::info!(
            run_id = run.id,
            retry_id = r.id,
            attempt = r.attempt,
            run_after = %r.run_after,
            "retry queued"
        );
    }
    Ok(retry)
}

/// Why a run could not be cancelled.
#[derive(Debug)]
pub enum CancelError {
    NotFound,
    AlreadyFinished(RunStatus),
    Db(DbErr),
}

impl From<DbErr> for CancelError {
    fn from(e: DbErr) -> Self {
        CancelError::Db(e)
    }
}

/// Cancel a run: a queued run is `cancelled` at once; a running run is marked `cancelled` and
/// its worker stops at the next page boundary (at once in this process, within a heartbeat
/// elsewhere).
pub async fn cancel(
    db: &impl ConnectionTrait,
    run_id: i64,
    now: DateTime<Utc>,
) -> Result<ingest_run::Model, CancelError> {
    use ingest_run::Column as C;
    let queued = ingest_run::Entity::update_many()
        .col_expr(C::Status, Expr::value(RunStatus::Cancelled.as_str()))
        .col_expr(C::FinishedAt, Expr::value(now))
        .col_expr(C::Error, Expr::value("cancelled before it started"))
        .filter(C::Id.eq(run_id))
        .filter(C::Status.eq(RunStatus::Queued))
        .exec(db)
        .await?;
    if queued.rows_affected == 0 {
        let running = ingest_run::Entity::update_many()
            .col_expr(C::Status, Expr::value(RunStatus::Cancelled.as_str()))
            .col_expr(C::Error, Expr::value("cancelled"))
            .filter(C::Id.eq(run_id))
            .filter(C::Status.eq(RunStatus::Running))
            .exec(db)
            .await?;
        if running.rows_affected == 0 {
            return match ingest_run::Entity::find_by_id(run_id).one(db).await? {
                None => Err(CancelError::NotFound),
                Some(r) => Err(CancelError::AlreadyFinished(r.status)),
            };
        }
    }
    ingest_run::Entity::find_by_id(run_id)
        .one(db)
        .await?
        .ok_or(CancelError::NotFound)
}

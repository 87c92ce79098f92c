//! The reaper: runs whose instance died.
//!
//! A worker renews its run's lease every third of the lease. When an instance dies (kill -9,
//! OOM, power loss), its runs stop being renewed; once `lease_expires_at` has passed, any
//! instance's reaper marks them `interrupted` and queues the next attempt per the schedule's
//! retry policy. The `UPDATE … RETURNING` is atomic per row, so two reapers never both reap
//! (and retry) the same run; the retry's unique `(schedule_id, scheduled_for, attempt)` guards
//! the rest.
//!
//! Runs marked `running` without a lease (the `jobintel ingest` CLI command runs one directly)
//! are reaped once their last sign of life is older than `stale_without_lease`.

use chrono::{DateTime, TimeDelta, Utc};
use entity::ingest_run;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use crate::service::queue::{self, statement};

/// What one reaper pass did.
#[derive(Debug, Default, Clone)]
pub struct ReapReport {
    /// Runs moved to `interrupted`.
    pub interrupted: Vec<ingest_run::Model>,
    /// Retries queued for them.
    pub retries: Vec<ingest_run::Model>,
    /// Cancelled runs whose worker vanished before recording the end.
    pub cancels_closed: u64,
}

/// Reap runs whose lease expired before `now`.
pub async fn reap_once(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    stale_without_lease: TimeDelta,
) -> Result<ReapReport, DbErr> {
    let backend = db.get_database_backend();
    let interrupted = ingest_run::Model::find_by_statement(statement(
        backend,
        "UPDATE ingest_runs SET status = 'interrupted', finished_at = $1, \
                lease_expires_at = NULL, \
                error = 'interrupted: ' || COALESCE(lease_owner, 'the instance running it') \
                        || ' stopped renewing its lease (it crashed or was killed)' \
         WHERE status = 'running' AND ( \
               (lease_expires_at IS NOT NULL AND lease_expires_at < $1) \
            OR (lease_expires_at IS NULL AND COALESCE(heartbeat_at, started_at, queued_at) < $2)) \
         RETURNING *",
        vec![now.into(), (now - stale_without_lease).into()],
    ))
    .all(db)
    .await?;
    let mut report = ReapReport::default();
    for run in interrupted {
        tracing::warn!(
            run_id = run.id,
            source = %run.source,
            owner = run.lease_owner.as_deref().unwrap_or("?"),
            "run interrupted: its lease expired"
        );
        if let Some(retry) = queue::retry_if_allowed(db, &run, now).await? {
            report.retries.push(retry);
        }
        report.interrupted.push(run);
    }
    let closed = db
        .execute_raw(statement(
            backend,
            "UPDATE ingest_runs SET finished_at = $1, lease_expires_at = NULL \
             WHERE status = 'cancelled' AND finished_at IS NULL \
               AND (lease_expires_at IS NULL OR lease_expires_at < $1)",
            vec![now.into()],
        ))
        .await?;
    report.cancels_closed = closed.rows_affected();
    Ok(report)
}

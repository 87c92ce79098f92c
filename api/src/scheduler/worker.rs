//! The worker pool: claim queued runs and execute them through the state's runs service
//! ([`Runs::execute_with`](crate::service::runs::Runs::execute_with)), which registers each one
//! so that a cancel in this process stops it at once.
//!
//! One dispatcher per instance holds `workers` slots (the instance's concurrency limit). It
//! claims a run whenever a slot is free and a run is claimable (see [`queue::claim_next`] for
//! the per-source limit), and otherwise sleeps until a run is queued here (the state's
//! [`Wakeups`](crate::service::wake::Wakeups)), a run finishes, the earliest `run_after`
//! arrives, or the poll interval passes (runs queued by other instances).
//!
//! Each executing run has a heartbeat task renewing its lease every third of the lease. If the
//! renewal finds the run no longer ours (cancelled through the API on another instance, or
//! reaped after a long stall), the run's token is cancelled and the engine stops at the next
//! page boundary; if renewals fail for half the lease, the run is stopped too (see
//! `heartbeat`). Independently of the heartbeat, every write the engine makes to the run row
//! is fenced by the claim (`lease_owner`, status `running`; see [`ingest::store::RunClaim`]), so
//! a worker that stalled past its lease — its heartbeat frozen along with it — cannot overwrite
//! what the reaper or a canceller recorded when it wakes up.
//!
//! Shutdown: the dispatcher stops claiming at once; in-flight runs keep their heartbeats and get
//! the grace period to finish; then their tokens are cancelled and they are recorded as
//! `interrupted` (and retried per their schedule's policy, by whichever instance runs next).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::TimeDelta;
use entity::ingest_run;
use ingest::events::IngestEvent;
use ingest::store::FinishOutcome;
use sea_orm::EntityTrait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::service::queue;

/// Claim and start runs until `stop` fires.
pub(super) async fn dispatch(
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    stop: CancellationToken,
    cancel_runs: CancellationToken,
) {
    let poll = shared.settings.worker_poll.max(Duration::from_millis(50));
    let lease = lease_of(&shared);
    let mut error_backoff = Duration::from_millis(250);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.cancelled() => return,
        };
        // Registered before the claim, so a run queued while claiming still wakes us.
        let woken = shared.runs.wake().on_run_queued();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let attempt = async {
            let now = shared.runs.clock().now(shared.runs.db()).await?;
            let run = queue::claim_next(
                shared.runs.db(),
                now,
                &shared.owner,
                lease,
                shared.settings.per_source_concurrency,
            )
            .await?;
            Ok::<_, sea_orm::DbErr>((run, now))
        }
        .await;
        let wait = match attempt {
            Ok((Some(run), _)) => {
                error_backoff = Duration::from_millis(250);
                tracing::info!(run_id = run.id, source = %run.source, attempt = run.attempt, "run claimed");
                tokio::spawn(execute(
                    shared.clone(),
                    run,
                    permit,
                    cancel_runs.child_token(),
                ));
                continue;
            }
            Ok((None, now)) => {
                drop(permit);
                error_backoff = Duration::from_millis(250);
                match queue::next_run_after(shared.runs.db()).await {
                    Ok(Some(at)) if at > now => (at - now)
                        .to_std()
                        .map(|d| (d + Duration::from_millis(5)).min(poll))
                        .unwrap_or(poll),
                    _ => poll,
                }
            }
            Err(e) => {
                drop(permit);
                tracing::warn!(error = %e, "cannot claim runs; retrying");
                let wait = error_backoff;
                error_backoff = (error_backoff * 2).min(poll);
                wait
            }
        };
        tokio::select! {
            _ = &mut woken => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
    }
}

fn lease_of(shared: &Shared) -> TimeDelta {
    TimeDelta::from_std(shared.settings.lease.max(Duration::from_secs(1)))
        .unwrap_or(TimeDelta::seconds(60))
}

/// How an executing run is stopped. The engine watches `token`; `interrupted` says why when
/// the stop is this instance's own (shutdown, heartbeats failing) rather than a user's cancel,
/// so that the run is recorded `interrupted` and retried instead of `cancelled`.
#[derive(Clone, Default)]
struct RunStop {
    token: CancellationToken,
    interrupted: Arc<OnceLock<String>>,
}

impl RunStop {
    /// Stop the run and record it as interrupted for `why` (the first reason given wins).
    fn interrupt(&self, why: String) {
        let _ = self.interrupted.set(why);
        self.token.cancel();
    }
}

/// Execute one claimed run to its end, then free its slot and wake the dispatcher.
/// `shutdown` fires when the grace period of a shutdown is over.
async fn execute(
    shared: Arc<Shared>,
    run: ingest_run::Model,
    permit: OwnedSemaphorePermit,
    shutdown: CancellationToken,
) {
    let stop = RunStop::default();
    let heartbeat = tokio::spawn(heartbeat(shared.clone(), run.id, stop.clone()));
    let on_shutdown = tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown.cancelled().await;
            stop.interrupt("interrupted: the instance shut down before the run finished".into());
        }
    });

    // Every write the engine makes to the run row is fenced by `run.lease_owner` (our claim):
    // if the run was reaped or cancelled meanwhile, the engine stops and records nothing.
    // While it executes the run is in the state's registry: `cancelIngestRun` in this process
    // cancels the token without a reason, so the run ends `cancelled`.
    let result = shared
        .runs
        .execute_with(&run, &stop.token, &stop.interrupted)
        .await;
    heartbeat.abort();
    on_shutdown.abort();

    match result {
        Ok(report) => {
            if let Err(e) = retry_if_failed(&shared, &report).await {
                tracing::error!(run_id = run.id, error = %e, "cannot queue the run's retry");
            }
        }
        // The row stays `running`; its lease expires and the reaper interrupts and retries it.
        Err(e) => tracing::error!(run_id = run.id, error = %e, "cannot record the run's end"),
    }
    drop(permit);
    shared.runs.wake().run_queued();
}

/// Queue the next attempt of a run this worker recorded as `failed` or `interrupted`. A run
/// that was reaped is retried by the reaper, and a cancelled one never is.
async fn retry_if_failed(
    shared: &Shared,
    report: &ingest::engine::RunReport,
) -> Result<(), sea_orm::DbErr> {
    if report.outcome != FinishOutcome::Recorded {
        return Ok(());
    }
    let db = shared.runs.db();
    let now = shared.runs.clock().now(db).await?;
    if let Some(r) = queue::retry_if_allowed(db, &report.run, now).await? {
        shared.runs.engine().bus.publish(IngestEvent::RunQueued {
            run_id: r.id,
            source: r.source,
        });
    }
    Ok(())
}

/// Renew the lease every third of it until aborted, and stop the run when the lease can no
/// longer be trusted:
/// - the renewal finds the run no longer ours (cancelled through the API on another instance,
///   or reaped after a stall): the run is cancelled at once, and the engine's fenced writes
///   leave the row to whoever took it;
/// - renewals fail (the database is unreachable) for half the lease: by the time it answers
///   again the lease may have expired and the run been retried elsewhere, so the run is stopped
///   now, before two workers can run it, and recorded `interrupted` if the database lets us.
async fn heartbeat(shared: Arc<Shared>, run_id: i64, stop: RunStop) {
    let lease = lease_of(&shared);
    let every = (shared.settings.lease / 3).max(Duration::from_millis(100));
    let give_up_after = shared.settings.lease / 2;
    let retry_every = (shared.settings.lease / 10).max(Duration::from_millis(50));
    // The claim just set the lease: it counts as the first renewal.
    let mut renewed_at = Instant::now();
    let mut wait = every;
    loop {
        tokio::time::sleep(wait).await;
        let renewed = async {
            let now = shared.runs.clock().now(shared.runs.db()).await?;
            queue::heartbeat(shared.runs.db(), run_id, &shared.owner, now, lease).await
        }
        .await;
        match renewed {
            Ok(true) => {
                renewed_at = Instant::now();
                wait = every;
            }
            Ok(false) => {
                let status = ingest_run::Entity::find_by_id(run_id)
                    .one(shared.runs.db())
                    .await
                    .ok()
                    .flatten()
                    .map(|r| r.status.to_string())
                    .unwrap_or_else(|| "unknown".into());
                tracing::warn!(run_id, status = %status, "run is no longer ours; stopping it");
                stop.token.cancel();
                return;
            }
            Err(e) => {
                let failing = renewed_at.elapsed();
                if failing >= give_up_after {
                    tracing::error!(
                        run_id,
                        error = %e,
                        failing_secs = failing.as_secs_f64(),
                        "heartbeats keep failing; stopping the run before its lease can expire"
                    );
                    stop.interrupt(format!(
                        "interrupted: heartbeats failed for {:.1}s (last error: {e}); the run was stopped before its lease could expire",
                        failing.as_secs_f64()
                    ));
                    return;
                }
                tracing::warn!(run_id, error = %e, "heartbeat failed; retrying");
                wait = retry_every.min(give_up_after - failing);
            }
        }
    }
}

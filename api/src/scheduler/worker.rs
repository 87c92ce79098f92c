//! The worker pool: claim queued runs and execute them with [`Engine::execute`].
//!
//! One dispatcher per instance holds `workers` slots (the instance's concurrency limit). It
//! claims a run whenever a slot is free and a run is claimable (see [`queue::claim_next`] for
//! the per-source limit), and otherwise sleeps until a run is queued here (`run_queued`), a run
//! finishes, the earliest `run_after` arrives, or the poll interval passes (runs queued by other
//! instances).
//!
//! Each executing run has a heartbeat task renewing its lease every third of the lease. If the
//! renewal finds the run no longer ours (cancelled through the API on another instance, or
//! reaped after a long stall), the run's token is cancelled and the engine stops at the next
//! page boundary.
//!
//! Shutdown: the dispatcher stops claiming at once; in-flight runs keep their heartbeats and get
//! the grace period to finish; then their tokens are cancelled and they are recorded as
//! `interrupted` (and retried per their schedule's policy, by whichever instance runs next).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use entity::{RunStatus, ingest_run};
use ingest::events::IngestEvent;
use sea_orm::EntityTrait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::service::queue;

/// Runs executing in this process, by id: `cancelIngestRun` stops them at once.
static RUNNING: LazyLock<Mutex<HashMap<i64, CancellationToken>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Cancel a run if it executes in this process. Returns whether it did.
pub fn cancel_local(run_id: i64) -> bool {
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    match running.get(&run_id) {
        Some(token) => {
            token.cancel();
            true
        }
        None => false,
    }
}

fn register(run_id: i64, token: CancellationToken) {
    RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(run_id, token);
}

fn unregister(run_id: i64) {
    RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&run_id);
}

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
        let woken = shared.run_queued.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let attempt = async {
            let now = shared.clock.now(&shared.db).await?;
            let run = queue::claim_next(
                &shared.db,
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
                match queue::next_run_after(&shared.db).await {
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

/// Execute one claimed run to its end, then free its slot and wake the dispatcher.
async fn execute(
    shared: Arc<Shared>,
    run: ingest_run::Model,
    permit: OwnedSemaphorePermit,
    token: CancellationToken,
) {
    let shutdown = token.clone();
    // The run's own token: cancelled by shutdown (through `token`), the API, or a lost lease.
    let run_token = token.child_token();
    register(run.id, run_token.clone());
    let lost: Arc<Mutex<Option<RunStatus>>> = Arc::new(Mutex::new(None));
    let heartbeat = tokio::spawn(heartbeat(
        shared.clone(),
        run.id,
        run_token.clone(),
        lost.clone(),
    ));

    let result = shared.engine.execute(&run, &run_token).await;
    heartbeat.abort();
    unregister(run.id);

    let lost = *lost.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = finish(&shared, &run, result, lost, shutdown.is_cancelled()).await {
        // The row stays `running`; its lease expires and the reaper interrupts and retries it.
        tracing::error!(run_id = run.id, error = %e, "cannot record the run's end");
    }
    drop(permit);
    shared.run_queued.notify_one();
}

/// Record what the engine's terminal status does not say: an interruption (shutdown, lost
/// lease) and the retry of a failed run.
async fn finish(
    shared: &Shared,
    run: &ingest_run::Model,
    result: Result<ingest::engine::RunReport, sea_orm::DbErr>,
    lost: Option<RunStatus>,
    shut_down: bool,
) -> Result<(), sea_orm::DbErr> {
    let report = result?;
    let db = &shared.db;
    let now = shared.clock.now(db).await?;
    let retry = match (lost, report.status) {
        // Reaped while we stalled: the reaper already recorded it and queued the retry; the
        // engine's own end overwrote that, so put it back.
        (Some(RunStatus::Interrupted), _) => {
            queue::mark_interrupted(
                db,
                run.id,
                now,
                "interrupted: this instance lost its lease (heartbeats failed) and stopped the run",
            )
            .await?;
            None
        }
        // Cancelled through the API: nothing more to do.
        (Some(_), _) => None,
        (None, RunStatus::Cancelled) if shut_down => {
            let interrupted = queue::mark_interrupted(
                db,
                run.id,
                now,
                "interrupted: the instance shut down before the run finished",
            )
            .await?;
            match interrupted {
                Some(r) => queue::retry_if_allowed(db, &r, now).await?,
                None => None,
            }
        }
        (None, RunStatus::Failed) => queue::retry_if_allowed(db, &report.run, now).await?,
        _ => None,
    };
    if let Some(r) = retry {
        shared.engine.bus.publish(IngestEvent::RunQueued {
            run_id: r.id,
            source: r.source,
        });
    }
    Ok(())
}

/// Renew the lease every third of it until aborted; cancel the run if it is no longer ours.
async fn heartbeat(
    shared: Arc<Shared>,
    run_id: i64,
    token: CancellationToken,
    lost: Arc<Mutex<Option<RunStatus>>>,
) {
    let lease = lease_of(&shared);
    let every = (shared.settings.lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let renewed = async {
            let now = shared.clock.now(&shared.db).await?;
            queue::heartbeat(&shared.db, run_id, &shared.owner, now, lease).await
        }
        .await;
        match renewed {
            Ok(true) => {}
            Ok(false) => {
                let status = ingest_run::Entity::find_by_id(run_id)
                    .one(&shared.db)
                    .await
                    .ok()
                    .flatten()
                    .map(|r| r.status)
                    .unwrap_or(RunStatus::Cancelled);
                tracing::warn!(run_id, status = %status, "run is no longer ours; stopping it");
                *lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
                token.cancel();
                return;
            }
            Err(e) => tracing::warn!(run_id, error = %e, "heartbeat failed; retrying"),
        }
    }
}

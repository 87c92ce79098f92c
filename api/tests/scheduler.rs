//! The embedded scheduler: ticks, policies, leases, the worker pool, housekeeping, and the real
//! binary surviving `kill -9`. Time-driven logic runs on a manual clock (`tick_once(db, now)`),
//! so simulated minutes and days take milliseconds. Every test runs on SQLite and, with
//! `TEST_DATABASE_URL`, on PostgreSQL.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{MisfirePolicy, OverlapPolicy, RunStatus, RunTrigger, Source, ingest_run, schedule};
use ingest::SearchParams;
use ingest::engine::{BaseUrls, Engine, EngineConfig};
use ingest::events::EventBus;
use ingest::fetch::{FetchConfig, Fetcher};
use ingest::store::{self, FinishOutcome, RunClaim, RunCounters};
use jobintel::config::SchedulerSettings;
use jobintel::scheduler::housekeeping::{self, Retention};
use jobintel::scheduler::tick::{self, TickOptions};
use jobintel::scheduler::{Scheduler, reaper};
use jobintel::scheduling::clock::Clock;
use jobintel::service::queue;
use jobintel::service::runs::Runs;
use jobintel::service::schedules::{self, ScheduleDef, SchedulePatch};
use jobintel::service::wake::Wakeups;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Statement,
};
use testkit::{TestDb, count};
use tokio_util::sync::CancellationToken;

mod process;
use process::KillOnDrop;

const BIN: &str = env!("CARGO_BIN_EXE_jobintel");
const GREENHOUSE_BOARD: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ingest/tests/fixtures/ats/greenhouse_boards_api_jobs_content_true.json"
));

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn def(name: &str, cron: &str, tz: &str) -> ScheduleDef {
    ScheduleDef {
        name: name.into(),
        source: Source::Greenhouse,
        params: SearchParams {
            target: Some("acme".into()),
            ..SearchParams::default()
        },
        cron: cron.into(),
        timezone: tz.into(),
        enabled: true,
        jitter_seconds: 0,
        overlap_policy: OverlapPolicy::Queue,
        misfire_policy: MisfirePolicy::FireOnce,
        max_attempts: 1,
        retry_backoff_seconds: 60,
    }
}

async fn create(db: &impl ConnectionTrait, d: ScheduleDef, now: DateTime<Utc>) -> schedule::Model {
    schedules::create(db, d, &EngineConfig::default(), now, &Wakeups::default())
        .await
        .unwrap_or_else(|e| panic!("create schedule: {}", e.message()))
}

async fn runs_of(db: &impl ConnectionTrait, schedule_id: i64) -> Vec<ingest_run::Model> {
    ingest_run::Entity::find()
        .filter(ingest_run::Column::ScheduleId.eq(schedule_id))
        .order_by_asc(ingest_run::Column::Id)
        .all(db)
        .await
        .unwrap()
}

async fn reload(db: &impl ConnectionTrait, id: i64) -> schedule::Model {
    schedule::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

async fn tick_at(db: &DatabaseConnection, now: DateTime<Utc>) -> tick::TickReport {
    tick::tick_once(db, now, TickOptions::default())
        .await
        .unwrap()
}

/// Finish a claimed run the way the engine does (fenced by its claim), and check that the end
/// was recorded.
async fn finish(
    db: &impl ConnectionTrait,
    run: &ingest_run::Model,
    status: RunStatus,
) -> ingest_run::Model {
    let finished = store::finish_run(
        db,
        &RunClaim::of(run),
        status,
        &RunCounters::default(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        finished.outcome,
        FinishOutcome::Recorded,
        "{:?}",
        finished.run
    );
    finished.run
}

const LEASE: TimeDelta = TimeDelta::seconds(60);

#[tokio::test]
async fn creating_editing_and_resuming_never_fire_unless_an_occurrence_is_due() {
    for db in testkit::databases("sched_no_catchup").await {
        let db = &db.conn;
        let now = t("2026-06-01T09:30:00Z");
        // Created at 09:30 for a 09:00 daily cron: the 09:00 occurrence already passed.
        let s = create(db, def("daily", "0 9 * * *", "UTC"), now).await;
        assert_eq!(s.next_fire_at, Some(t("2026-06-02T09:00:00Z")));
        assert!(tick_at(db, now).await.queued.is_empty());

        // Editing the cron to one whose last occurrence was a minute ago fires nothing
        // (Hangfire#728); it fires at its next occurrence.
        let later = t("2026-06-01T10:15:30Z");
        let patch = SchedulePatch {
            cron: Some("15 * * * *".into()),
            ..SchedulePatch::default()
        };
        let s = schedules::update(
            db,
            s.id,
            patch,
            &EngineConfig::default(),
            later,
            &Wakeups::default(),
        )
        .await
        .unwrap();
        assert_eq!(s.next_fire_at, Some(t("2026-06-01T11:15:00Z")));
        assert!(tick_at(db, later).await.queued.is_empty());
        // Editing something else keeps next_fire_at.
        let patch = SchedulePatch {
            jitter_seconds: Some(5),
            ..SchedulePatch::default()
        };
        let s = schedules::update(
            db,
            s.id,
            patch,
            &EngineConfig::default(),
            later,
            &Wakeups::default(),
        )
        .await
        .unwrap();
        assert_eq!(s.next_fire_at, Some(t("2026-06-01T11:15:00Z")));

        let fired = tick_at(db, t("2026-06-01T11:15:00Z")).await;
        assert_eq!(fired.queued.len(), 1);
        assert_eq!(
            fired.queued[0].scheduled_for,
            Some(t("2026-06-01T11:15:00Z"))
        );
        // 5 s of jitter at most.
        let delay = fired.queued[0].run_after - t("2026-06-01T11:15:00Z");
        assert!((TimeDelta::zero()..=TimeDelta::seconds(5)).contains(&delay));
        assert_eq!(runs_of(db, s.id).await.len(), 1);
    }
}

#[tokio::test]
async fn every_fire_becomes_exactly_one_run_however_often_the_tick_runs() {
    for db in testkit::databases("sched_once").await {
        let db = &db.conn;
        let start = t("2026-06-01T00:00:30Z");
        let s = create(db, def("every-minute", "* * * * *", "UTC"), start).await;
        let mut now = start;
        // Tick every 10 simulated seconds for 5 minutes, twice each time.
        for _ in 0..30 {
            now += TimeDelta::seconds(10);
            tick_at(db, now).await;
            tick_at(db, now).await;
        }
        let runs = runs_of(db, s.id).await;
        let fires: Vec<_> = runs.iter().map(|r| r.scheduled_for.unwrap()).collect();
        assert_eq!(
            fires,
            (1..=5)
                .map(|m| t("2026-06-01T00:00:00Z") + TimeDelta::minutes(m))
                .collect::<Vec<_>>()
        );
        assert!(runs.iter().all(|r| r.trigger == RunTrigger::Schedule));
        let s = reload(db, s.id).await;
        assert_eq!(s.next_fire_at, Some(t("2026-06-01T00:06:00Z")));
        assert_eq!(s.last_fire_at, Some(t("2026-06-01T00:05:00Z")));
    }
}

/// Tick through one local day every `step`, counting the fires recorded for that day.
async fn fires_through_day(
    db: &DatabaseConnection,
    name: &str,
    cron: &str,
    day_start: DateTime<Utc>,
    day_end: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let s = create(
        db,
        def(name, cron, "Australia/Sydney"),
        day_start - TimeDelta::seconds(1),
    )
    .await;
    let mut now = day_start;
    while now < day_end {
        tick_at(db, now).await;
        now += TimeDelta::minutes(7);
    }
    tick_at(db, day_end - TimeDelta::seconds(1)).await;
    runs_of(db, s.id)
        .await
        .into_iter()
        .map(|r| r.scheduled_for.unwrap())
        .collect()
}

#[tokio::test]
async fn sydney_dst_days_fire_like_hangfire() {
    for db in testkit::databases("sched_dst").await {
        let db = &db.conn;
        // 2026-04-05: 03:00 AEDT → 02:00 AEST; the local day lasts 25 hours.
        let (a, b) = (
            t("2026-04-05T00:00:00+11:00"),
            t("2026-04-06T00:00:00+10:00"),
        );
        let fixed = fires_through_day(db, "fall-fixed", "30 2 * * *", a, b).await;
        assert_eq!(fixed, [t("2026-04-05T02:30:00+11:00")]);
        let interval = fires_through_day(db, "fall-interval", "*/30 * * * *", a, b).await;
        assert_eq!(interval.len(), 50);
        assert!(interval.contains(&t("2026-04-05T02:30:00+11:00")));
        assert!(interval.contains(&t("2026-04-05T02:30:00+10:00")));

        // 2026-10-04: 02:00 AEST → 03:00 AEDT; the local day lasts 23 hours.
        let (a, b) = (
            t("2026-10-04T00:00:00+10:00"),
            t("2026-10-05T00:00:00+11:00"),
        );
        let fixed = fires_through_day(db, "spring-fixed", "30 2 * * *", a, b).await;
        assert_eq!(fixed, [t("2026-10-04T03:00:00+11:00")]);
        let interval = fires_through_day(db, "spring-interval", "*/30 * * * *", a, b).await;
        assert_eq!(interval.len(), 46);
    }
}

#[tokio::test]
async fn overlap_skip_records_skipped_runs_and_queue_keeps_one_waiting() {
    for db in testkit::databases("sched_overlap").await {
        let db = &db.conn;
        let start = t("2026-06-01T00:00:30Z");
        let skip = create(
            db,
            ScheduleDef {
                overlap_policy: OverlapPolicy::Skip,
                ..def("skip", "* * * * *", "UTC")
            },
            start,
        )
        .await;
        let queue_ = create(db, def("queue", "* * * * *", "UTC"), start).await;

        // 00:01 fires both; a worker starts them (per-source limit 2 so both can run).
        tick_at(db, t("2026-06-01T00:01:00Z")).await;
        for _ in 0..2 {
            queue::claim_next(db, t("2026-06-01T00:01:01Z"), "w", LEASE, 2)
                .await
                .unwrap()
                .unwrap();
        }
        // Still running at 00:02 and 00:03.
        tick_at(db, t("2026-06-01T00:02:00Z")).await;
        tick_at(db, t("2026-06-01T00:03:00Z")).await;

        let statuses = |runs: Vec<ingest_run::Model>| {
            runs.into_iter()
                .map(|r| r.status)
                .collect::<Vec<RunStatus>>()
        };
        assert_eq!(
            statuses(runs_of(db, skip.id).await),
            [RunStatus::Running, RunStatus::Skipped, RunStatus::Skipped]
        );
        let skipped = &runs_of(db, skip.id).await[1];
        assert!(
            skipped.error.as_deref().unwrap().contains("still running"),
            "{skipped:?}"
        );
        assert!(skipped.finished_at.is_some());
        // `queue`: the 00:02 fire waits; the 00:03 fire is coalesced into it.
        assert_eq!(
            statuses(runs_of(db, queue_.id).await),
            [RunStatus::Running, RunStatus::Queued, RunStatus::Skipped]
        );
        // The waiting run cannot start while its schedule's previous run is running…
        let waiting = runs_of(db, queue_.id).await[1].clone();
        assert!(
            queue::claim_next(db, t("2026-06-01T00:03:01Z"), "w", LEASE, 5)
                .await
                .unwrap()
                .is_none()
        );
        // …and starts once it ends.
        finish(db, &runs_of(db, queue_.id).await[0], RunStatus::Succeeded).await;
        let next = queue::claim_next(db, t("2026-06-01T00:03:02Z"), "w", LEASE, 5)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next.id, waiting.id);
    }
}

#[tokio::test]
async fn misfires_after_three_hours_down_follow_each_schedules_policy() {
    for db in testkit::databases("sched_misfire").await {
        let db = &db.conn;
        let start = t("2026-06-01T00:30:00Z");
        let mut once = Vec::new();
        let mut skip = Vec::new();
        for i in 0..10 {
            once.push(create(db, def(&format!("once-{i}"), "0 * * * *", "UTC"), start).await);
            skip.push(
                create(
                    db,
                    ScheduleDef {
                        misfire_policy: MisfirePolicy::Skip,
                        ..def(&format!("skip-{i}"), "0 * * * *", "UTC")
                    },
                    start,
                )
                .await,
            );
        }
        // Down from 00:30 to 03:30: the 01:00, 02:00 and 03:00 fires were missed.
        let now = t("2026-06-01T03:30:00Z");
        let report = tick_at(db, now).await;
        assert_eq!(report.queued.len(), 10);
        assert_eq!(report.misfired_schedules, 20);
        for s in &once {
            let runs = runs_of(db, s.id).await;
            assert_eq!(runs.len(), 1, "fire_once: exactly one run");
            assert_eq!(runs[0].scheduled_for, Some(t("2026-06-01T01:00:00Z")));
            assert!(
                runs[0].run_after <= now,
                "a missed fire runs as soon as possible"
            );
        }
        for s in &skip {
            assert!(runs_of(db, s.id).await.is_empty(), "skip: no run");
        }
        for s in once.iter().chain(&skip) {
            assert_eq!(
                reload(db, s.id).await.next_fire_at,
                Some(t("2026-06-01T04:00:00Z"))
            );
        }
        // A fire a little late (within the misfire threshold) is not a misfire.
        let late = tick_at(db, t("2026-06-01T04:00:40Z")).await;
        assert_eq!(late.queued.len() + late.skipped, 20);
        assert_eq!(late.misfired_schedules, 0);
    }
}

#[tokio::test]
async fn pause_stops_fires_and_resume_does_not_backfill() {
    for db in testkit::databases("sched_pause").await {
        let db = &db.conn;
        let s = create(
            db,
            def("pausable", "*/10 * * * *", "UTC"),
            t("2026-06-01T00:05:00Z"),
        )
        .await;
        tick_at(db, t("2026-06-01T00:10:00Z")).await;
        let paused = schedules::pause(db, s.id, t("2026-06-01T00:11:00Z"))
            .await
            .unwrap();
        assert!(!paused.enabled);
        assert_eq!(paused.next_fire_at, None);
        // Three due fires pass while paused.
        for m in [20, 30, 40] {
            tick_at(db, t(&format!("2026-06-01T00:{m}:00Z"))).await;
        }
        assert_eq!(runs_of(db, s.id).await.len(), 1);
        let resumed = schedules::resume(db, s.id, t("2026-06-01T00:45:00Z"), &Wakeups::default())
            .await
            .unwrap();
        assert_eq!(resumed.next_fire_at, Some(t("2026-06-01T00:50:00Z")));
        assert!(
            tick_at(db, t("2026-06-01T00:45:00Z"))
                .await
                .queued
                .is_empty()
        );
        tick_at(db, t("2026-06-01T00:50:00Z")).await;
        assert_eq!(runs_of(db, s.id).await.len(), 2);
    }
}

#[tokio::test]
async fn failed_runs_are_retried_with_exponential_backoff_then_give_up() {
    for db in testkit::databases("sched_retry").await {
        let db = &db.conn;
        let s = create(
            db,
            ScheduleDef {
                max_attempts: 3,
                retry_backoff_seconds: 30,
                ..def("flaky", "0 * * * *", "UTC")
            },
            t("2026-06-01T00:30:00Z"),
        )
        .await;
        let mut now = t("2026-06-01T01:00:00Z");
        tick_at(db, now).await;
        let mut starts = Vec::new();
        loop {
            let Some(run) = queue::claim_next(db, now, "w", LEASE, 1).await.unwrap() else {
                // Not claimable before its backoff is over.
                now += TimeDelta::seconds(1);
                if now > t("2026-06-01T01:10:00Z") {
                    break;
                }
                continue;
            };
            starts.push((run.attempt, now));
            let failed = finish(db, &run, RunStatus::Failed).await;
            now += TimeDelta::seconds(2);
            queue::retry_if_allowed(db, &failed, now).await.unwrap();
        }
        let attempts: Vec<i32> = starts.iter().map(|(a, _)| *a).collect();
        assert_eq!(attempts, [1, 2, 3]);
        // Failed at +2 s each time; retried 30 s, then 60 s after the failure.
        assert_eq!(starts[1].1 - starts[0].1, TimeDelta::seconds(32));
        assert_eq!(starts[2].1 - starts[1].1, TimeDelta::seconds(62));
        let runs = runs_of(db, s.id).await;
        assert_eq!(runs.len(), 3, "retries never add cron fires");
        assert!(runs.iter().all(|r| r.status == RunStatus::Failed));
        assert!(
            runs.iter()
                .all(|r| r.scheduled_for == Some(t("2026-06-01T01:00:00Z")))
        );
    }
}

#[tokio::test]
async fn expired_leases_are_reaped_and_retried_but_heartbeats_keep_a_run() {
    for db in testkit::databases("sched_reaper").await {
        let db = &db.conn;
        let s = create(
            db,
            ScheduleDef {
                max_attempts: 2,
                retry_backoff_seconds: 10,
                ..def("leased", "0 * * * *", "UTC")
            },
            t("2026-06-01T00:30:00Z"),
        )
        .await;
        let now = t("2026-06-01T01:00:00Z");
        tick_at(db, now).await;
        let run = queue::claim_next(db, now, "dead-instance", LEASE, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(run.lease_expires_at, Some(now + LEASE));
        let stale = TimeDelta::minutes(10);

        // A heartbeat at +40 s extends the lease: not reaped at +90 s.
        assert!(
            queue::heartbeat(
                db,
                run.id,
                "dead-instance",
                now + TimeDelta::seconds(40),
                LEASE
            )
            .await
            .unwrap()
        );
        let r = reaper::reap_once(db, now + TimeDelta::seconds(90), stale)
            .await
            .unwrap();
        assert!(r.interrupted.is_empty());
        // Another owner cannot renew it.
        assert!(
            !queue::heartbeat(db, run.id, "other", now + TimeDelta::seconds(91), LEASE)
                .await
                .unwrap()
        );

        // Then the instance dies: at +101 s the lease (renewed until +100 s) has expired.
        let at = now + TimeDelta::seconds(101);
        let r = reaper::reap_once(db, at, stale).await.unwrap();
        assert_eq!(r.interrupted.len(), 1);
        let interrupted = &r.interrupted[0];
        assert_eq!(interrupted.status, RunStatus::Interrupted);
        assert!(
            interrupted
                .error
                .as_deref()
                .unwrap()
                .contains("dead-instance")
        );
        assert_eq!(r.retries.len(), 1);
        let retry = &r.retries[0];
        assert_eq!(
            (retry.attempt, retry.status, retry.run_after),
            (2, RunStatus::Queued, at + TimeDelta::seconds(10))
        );
        assert_eq!(retry.scheduled_for, run.scheduled_for);
        // Reaping again finds nothing: nothing is reaped (or retried) twice.
        assert!(
            reaper::reap_once(db, at + TimeDelta::seconds(1), stale)
                .await
                .unwrap()
                .interrupted
                .is_empty()
        );
        assert_eq!(runs_of(db, s.id).await.len(), 2);

        // A `running` row without a lease (the CLI's) is reaped once silent for long.
        let cli = store::create_run(
            db,
            store::NewRun::manual(Source::Lever, SearchParams::default(), RunTrigger::Cli),
        )
        .await
        .unwrap();
        store::mark_running(db, cli.id, "cli").await.unwrap();
        let r = reaper::reap_once(db, Utc::now() + TimeDelta::minutes(11), stale)
            .await
            .unwrap();
        assert!(r.interrupted.iter().any(|x| x.id == cli.id));
    }
}

#[tokio::test]
async fn claims_respect_the_per_source_limit_and_run_after() {
    for db in testkit::databases("sched_claims").await {
        let db = &db.conn;
        let now = t("2026-06-01T00:00:00Z");
        let mk = |source: Source, after: DateTime<Utc>| store::NewRun {
            run_after: Some(after),
            params: serde_json::json!({"target": "x"}),
            ..store::NewRun::manual(source, SearchParams::default(), RunTrigger::Manual)
        };
        for _ in 0..3 {
            queue::enqueue(db, mk(Source::Greenhouse, now), now)
                .await
                .unwrap();
        }
        let lever = queue::enqueue(db, mk(Source::Lever, now + TimeDelta::seconds(30)), now)
            .await
            .unwrap();
        let first = queue::claim_next(db, now, "a", LEASE, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.source, Source::Greenhouse);
        assert_eq!(first.status, RunStatus::Running);
        assert_eq!(first.lease_owner.as_deref(), Some("a"));
        // One greenhouse run at a time; the lever run is not due yet.
        assert!(
            queue::claim_next(db, now, "b", LEASE, 1)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            queue::next_run_after(db).await.unwrap(),
            Some(now),
            "earliest queued run_after"
        );
        let later = now + TimeDelta::seconds(30);
        let second = queue::claim_next(db, later, "b", LEASE, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.id, lever.id);
        // With a limit of 2, a second greenhouse run may start.
        let third = queue::claim_next(db, later, "b", LEASE, 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(third.source, Source::Greenhouse);
    }
}

async fn insert_run(db: &impl ConnectionTrait, schedule_id: Option<i64>, finished: DateTime<Utc>) {
    let backend = db.get_database_backend();
    db.execute_raw(queue::statement(
        backend,
        "INSERT INTO ingest_runs (source, params, trigger, schedule_id, status, attempt, \
         queued_at, run_after, finished_at) \
         VALUES ('greenhouse', '{}', 'schedule', $1, 'succeeded', 1, $2, $2, $2)",
        vec![schedule_id.into(), finished.into()],
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn retention_deletes_old_runs_in_batches_keeping_the_newest_per_schedule() {
    for db in testkit::databases("sched_retention").await {
        let db = &db.conn;
        let now = t("2026-09-01T00:00:00Z");
        let busy = create(db, def("busy", "* * * * *", "UTC"), now).await;
        let rare = create(db, def("rare", "0 0 1 * *", "UTC"), now).await;
        // busy: 300 runs, 60 to 31 days old → all old; keep the newest 200.
        for i in 0..300 {
            insert_run(
                db,
                Some(busy.id),
                now - TimeDelta::days(60) + TimeDelta::minutes(i),
            )
            .await;
        }
        // rare: 5 old runs, all kept (fewer than 200).
        for i in 0..5 {
            insert_run(db, Some(rare.id), now - TimeDelta::days(300 - i)).await;
        }
        // Manual runs: 30 old (deleted), 10 recent (kept).
        for i in 0..30 {
            insert_run(db, None, now - TimeDelta::days(40) + TimeDelta::minutes(i)).await;
        }
        for i in 0..10 {
            insert_run(db, None, now - TimeDelta::days(1) + TimeDelta::minutes(i)).await;
        }
        let r = Retention {
            batch: 25,
            ..Retention::default()
        };
        let (deleted, statements) = housekeeping::purge_runs(db, now, r).await.unwrap();
        assert_eq!(deleted, 100 + 30);
        assert!(statements >= 130 / 25, "batches of at most 25 rows");
        let busy_runs = runs_of(db, busy.id).await;
        assert_eq!(busy_runs.len(), 200);
        // The kept ones are the newest.
        assert_eq!(
            busy_runs[0].finished_at,
            Some(now - TimeDelta::days(60) + TimeDelta::minutes(100))
        );
        assert_eq!(runs_of(db, rare.id).await.len(), 5);
        let manual = ingest_run::Entity::find()
            .filter(ingest_run::Column::ScheduleId.is_null())
            .count(db)
            .await
            .unwrap();
        assert_eq!(manual, 10);
        // Idempotent.
        assert_eq!(housekeeping::purge_runs(db, now, r).await.unwrap().0, 0);
    }
}

#[tokio::test]
async fn postings_not_seen_for_n_days_are_closed() {
    for db in testkit::databases("sched_close").await {
        let db = &db.conn;
        let now = t("2026-09-01T00:00:00Z");
        let backend = db.get_database_backend();
        for (i, days) in [1, 13, 15, 40, 40].iter().enumerate() {
            db.execute_raw(queue::statement(
                backend,
                "INSERT INTO job_postings (source, external_id, url, title, work_arrangement, \
                 first_seen_at, last_seen_at, content_hash, created_at, updated_at) VALUES \
                 ('lever', $1, 'u', 't', 'unknown', $2, $2, 'h', $2, $2)",
                vec![i.to_string().into(), (now - TimeDelta::days(*days)).into()],
            ))
            .await
            .unwrap();
        }
        let r = Retention {
            close_after_days: 14,
            batch: 2,
            ..Retention::default()
        };
        let report = housekeeping::housekeep_once(db, now, r).await.unwrap();
        assert_eq!(report.postings_closed, 3);
        let closed: Vec<(String, Option<DateTime<Utc>>)> = entity::job_posting::Entity::find()
            .order_by_asc(entity::job_posting::Column::ExternalId)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.external_id, p.closed_at))
            .collect();
        assert_eq!(
            closed,
            [
                ("0".into(), None),
                ("1".into(), None),
                ("2".into(), Some(now)),
                ("3".into(), Some(now)),
                ("4".into(), Some(now)),
            ]
        );
        // Each closing is a `closed` history entry, written with it.
        let history = entity::posting_history::Entity::find()
            .order_by_asc(entity::posting_history::Column::PostingId)
            .all(db)
            .await
            .unwrap();
        assert_eq!(history.len(), 3);
        for h in &history {
            assert_eq!(h.kind, entity::PostingChangeKind::Closed);
            assert_eq!(h.changed_at, now);
            assert_eq!(h.run_id, None);
        }
        // Already closed ones are not touched again.
        let again = housekeeping::housekeep_once(db, now + TimeDelta::days(1), r)
            .await
            .unwrap();
        assert_eq!(again.postings_closed, 0);
        assert_eq!(
            entity::posting_history::Entity::find()
                .count(db)
                .await
                .unwrap(),
            3
        );
    }
}

/// Posting history is bounded: entries older than the retention go, and a posting keeps only
/// its newest N.
#[tokio::test]
async fn posting_history_is_capped_per_posting_and_by_age() {
    for db in testkit::databases("sched_history").await {
        let db = &db.conn;
        let now = t("2026-09-01T00:00:00Z");
        let backend = db.get_database_backend();
        for i in 0..3 {
            db.execute_raw(queue::statement(
                backend,
                "INSERT INTO job_postings (source, external_id, url, title, work_arrangement, \
                 first_seen_at, last_seen_at, content_hash, created_at, updated_at) VALUES \
                 ('lever', $1, 'u', 't', 'unknown', $2, $2, 'h', $2, $2)",
                vec![i.to_string().into(), now.into()],
            ))
            .await
            .unwrap();
        }
        let ids: Vec<i64> = entity::job_posting::Entity::find()
            .order_by_asc(entity::job_posting::Column::ExternalId)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        // Posting 0: 12 recent entries; posting 1: 3 recent + 4 older than the retention;
        // posting 2: 2 recent.
        let add = |posting_id: i64, age_days: i64| {
            ingest::store::history::insert(
                db,
                vec![ingest::store::history::Entry {
                    posting_id,
                    kind: entity::PostingChangeKind::Changed,
                    changes: vec![serde_json::json!({"field": "title", "from": "a", "to": "b"})],
                }],
                None,
                now - TimeDelta::days(age_days),
            )
        };
        for _ in 0..12 {
            add(ids[0], 1).await.unwrap();
        }
        for _ in 0..4 {
            add(ids[1], 400).await.unwrap();
        }
        for _ in 0..3 {
            add(ids[1], 2).await.unwrap();
        }
        for _ in 0..2 {
            add(ids[2], 3).await.unwrap();
        }
        let r = Retention {
            history_days: 365,
            history_per_posting: 5,
            batch: 3,
            ..Retention::default()
        };
        let report = housekeeping::housekeep_once(db, now, r).await.unwrap();
        assert_eq!(report.history_deleted, 4 + 7);
        let left = |posting_id: i64| async move {
            entity::posting_history::Entity::find()
                .filter(entity::posting_history::Column::PostingId.eq(posting_id))
                .order_by_asc(entity::posting_history::Column::Id)
                .all(db)
                .await
                .unwrap()
        };
        let zero = left(ids[0]).await;
        assert_eq!(zero.len(), 5);
        let newest_ids: Vec<i64> = zero.iter().map(|h| h.id).collect();
        let max = *newest_ids.last().unwrap();
        assert_eq!(
            newest_ids,
            (max - 4..=max).collect::<Vec<_>>(),
            "the newest five kept"
        );
        let one = left(ids[1]).await;
        assert_eq!(one.len(), 3);
        assert!(one.iter().all(|h| h.changed_at == now - TimeDelta::days(2)));
        assert_eq!(left(ids[2]).await.len(), 2);
        // Idempotent.
        assert_eq!(
            housekeeping::housekeep_once(db, now, r)
                .await
                .unwrap()
                .history_deleted,
            0
        );
    }
}

/// SQLite: housekeeping merges the full-text index that page-by-page ingests leave in many
/// segments, and search still finds every posting.
#[tokio::test]
async fn housekeeping_merges_the_sqlite_full_text_index() {
    let db = testkit::sqlite("sched_fts_merge").await;
    let conn = &db.conn;
    // One transaction per posting, as an ingest's pages arrive: one FTS5 segment each, which
    // FTS5's automerge folds four at a time (63 = 333 in base 4 leaves nine segments).
    for i in 0..63 {
        conn.execute_unprepared(&format!(
            "INSERT INTO job_postings (source, external_id, url, title, work_arrangement, \
             first_seen_at, last_seen_at, content_hash, created_at, updated_at) VALUES \
             ('lever', '{i}', 'u', 'Engineer {i}', 'unknown', '2026-09-01T00:00:00Z', \
             '2026-09-01T00:00:00Z', 'h', '2026-09-01T00:00:00Z', '2026-09-01T00:00:00Z')"
        ))
        .await
        .unwrap();
    }
    let count = |sql: &'static str| async move {
        conn.query_one_raw(Statement::from_string(sea_orm::DbBackend::Sqlite, sql))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
    };
    let segments = "SELECT COUNT(DISTINCT segid) AS n FROM job_postings_fts_idx";
    let matches =
        "SELECT COUNT(*) AS n FROM job_postings_fts WHERE job_postings_fts MATCH 'engineer'";
    let before = count(segments).await;
    assert!(before > 1, "{before} segments");
    let report =
        housekeeping::housekeep_once(conn, t("2026-09-02T00:00:00Z"), Retention::default())
            .await
            .unwrap();
    assert!(report.search_merge_steps > 0);
    assert_eq!(count(segments).await, 1, "from {before} segments");
    assert_eq!(count(matches).await, 63);
}

/// Another pool on the same database: a second "instance".
async fn second_pool(db: &TestDb) -> DatabaseConnection {
    let mut o = sea_orm::ConnectOptions::new(db.url.clone());
    o.sqlx_logging(false).max_connections(5);
    Database::connect(o).await.unwrap()
}

#[tokio::test]
async fn two_instances_fire_and_run_each_occurrence_exactly_once() {
    for db in testkit::databases("sched_two").await {
        let a = db.conn.clone();
        let b = second_pool(&db).await;
        let start = t("2026-06-01T00:00:30Z");
        for i in 0..20 {
            create(&a, def(&format!("s{i:02}"), "* * * * *", "UTC"), start).await;
        }
        let claimed: Arc<std::sync::Mutex<Vec<i64>>> = Arc::default();
        for minute in 1..=5 {
            let now =
                t("2026-06-01T00:00:00Z") + TimeDelta::minutes(minute) + TimeDelta::seconds(1);
            // Both instances tick at the same moment, twice each.
            let (ra, rb, rc, rd) = tokio::join!(
                tick::tick_once(&a, now, TickOptions::default()),
                tick::tick_once(&b, now, TickOptions::default()),
                tick::tick_once(&a, now, TickOptions::default()),
                tick::tick_once(&b, now, TickOptions::default()),
            );
            let queued: usize = [ra, rb, rc, rd]
                .into_iter()
                .map(|r| r.unwrap().queued.len())
                .sum();
            assert_eq!(queued, 20, "minute {minute}");
            // Both instances' workers drain the queue concurrently.
            let drain = |db: DatabaseConnection, owner: &'static str| {
                let claimed = claimed.clone();
                async move {
                    while let Some(run) = queue::claim_next(&db, now, owner, LEASE, 100)
                        .await
                        .unwrap()
                    {
                        claimed.lock().unwrap().push(run.id);
                        finish(&db, &run, RunStatus::Succeeded).await;
                    }
                }
            };
            tokio::join!(
                drain(a.clone(), "a1"),
                drain(a.clone(), "a2"),
                drain(b.clone(), "b1"),
                drain(b.clone(), "b2")
            );
        }
        let runs = ingest_run::Entity::find().all(&a).await.unwrap();
        assert_eq!(runs.len(), 100, "{:?}", db.backend);
        let fires: HashSet<(i64, DateTime<Utc>)> = runs
            .iter()
            .map(|r| (r.schedule_id.unwrap(), r.scheduled_for.unwrap()))
            .collect();
        assert_eq!(fires.len(), 100, "no duplicate (schedule, occurrence)");
        assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded));
        let claimed = claimed.lock().unwrap().clone();
        let distinct: HashSet<i64> = claimed.iter().copied().collect();
        assert_eq!(
            (claimed.len(), distinct.len()),
            (100, 100),
            "each run claimed once"
        );
        b.close().await.unwrap();
    }
}

/// A local stand-in for boards-api.greenhouse.io. The first `slow_first` board requests
/// answer only after `delay`; it counts board requests.
async fn greenhouse_stub(slow_first: usize, delay: Duration) -> (String, Arc<AtomicUsize>) {
    use axum::routing::get;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new()
        .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\n" }))
        .route(
            "/v1/boards/{token}/jobs",
            get(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < slow_first {
                        tokio::time::sleep(delay).await;
                    }
                    ([("content-type", "application/json")], GREENHOUSE_BOARD)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

fn engine_for(db: &DatabaseConnection, base: &str) -> Engine {
    jobintel::install_crypto_provider();
    let fetch = FetchConfig {
        allow_private_network: true,
        json_rate_per_sec: 1000.0,
        max_in_flight_per_host: 16,
        ..FetchConfig::default()
    };
    Engine::new(
        db.clone(),
        Fetcher::new(fetch).unwrap(),
        EventBus::default(),
        EngineConfig {
            base_urls: BaseUrls::from([(Source::Greenhouse, base.parse().unwrap())]),
            ..EngineConfig::default()
        },
    )
}

fn fast_settings() -> SchedulerSettings {
    SchedulerSettings {
        workers: 4,
        per_source_concurrency: 4,
        lease: Duration::from_secs(3),
        reaper_interval: Duration::from_millis(200),
        scheduler_poll: Duration::from_secs(30),
        worker_poll: Duration::from_millis(200),
        ..SchedulerSettings::default()
    }
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_worker_pool_runs_fires_promptly_start_delay_p99_under_3s() {
    let (base, hits) = greenhouse_stub(0, Duration::ZERO).await;
    for db in testkit::databases("sched_pool").await {
        let conn = db.conn.clone();
        let now = Utc::now();
        // 8 schedules firing every 2 s, on the real clock, for ~7 s.
        let mut ids = Vec::new();
        for i in 0..8 {
            let s = create(
                &conn,
                ScheduleDef {
                    overlap_policy: OverlapPolicy::Skip,
                    ..def(&format!("fast-{i}"), "*/2 * * * * *", "UTC")
                },
                now,
            )
            .await;
            ids.push(s.id);
        }
        let shutdown = CancellationToken::new();
        let scheduler = Scheduler::start_with(
            Runs::new(
                conn.clone(),
                engine_for(&conn, &base),
                Wakeups::default(),
                Clock::Database,
            ),
            fast_settings(),
            "pool".into(),
            &shutdown,
        );
        tokio::time::sleep(Duration::from_secs(7)).await;
        shutdown.cancel();
        scheduler.stop(Duration::from_secs(10)).await;

        let runs = ingest_run::Entity::find()
            .filter(ingest_run::Column::ScheduleId.is_in(ids.clone()))
            .all(&conn)
            .await
            .unwrap();
        // Start delay is the scheduler's part: it counts every run a worker started.
        let started: Vec<_> = runs.iter().filter(|r| r.started_at.is_some()).collect();
        let mut by_status: std::collections::BTreeMap<&str, usize> = Default::default();
        for r in &runs {
            *by_status.entry(r.status.as_str()).or_default() += 1;
        }
        eprintln!("{:?}: runs by status {by_status:?}", db.backend);
        assert!(started.len() >= 16, "{:?}: {by_status:?}", db.backend);
        // Concurrent runs on SQLite wait for the write lock (IMMEDIATE transactions) instead
        // of failing with "database is locked".
        assert!(
            runs.iter().all(|r| matches!(
                r.status,
                RunStatus::Succeeded | RunStatus::Skipped | RunStatus::Queued
            )),
            "{:?}: {by_status:?}",
            db.backend
        );
        let mut delays: Vec<f64> = started
            .iter()
            .map(|r| (r.started_at.unwrap() - r.scheduled_for.unwrap()).as_seconds_f64())
            .collect();
        delays.sort_by(|a, b| a.total_cmp(b));
        let at = |p| testkit::percentile(&delays, p).expect("runs started");
        let (p50, p99, max) = (at(0.5), at(0.99), at(1.0));
        eprintln!(
            "{:?}: {} runs; start delay (started_at - scheduled_for) p50 {p50:.3}s p99 {p99:.3}s max {max:.3}s",
            db.backend,
            delays.len()
        );
        assert!(p99 < 3.0, "p99 start delay {p99:.3}s");
        assert!(delays[0] >= 0.0, "never before the scheduled time");
        // Runs queued just before the stop wait for the next start; none is left `running`.
        assert!(
            runs.iter().all(|r| r.status != RunStatus::Running),
            "nothing left running after stop: {runs:?}"
        );
    }
    assert!(hits.load(Ordering::SeqCst) > 0);
}

#[tokio::test]
async fn shutdown_lets_runs_finish_within_grace_then_interrupts_and_retries_them() {
    for db in testkit::databases("sched_grace").await {
        let conn = db.conn.clone();
        // Slow board: 1.5 s per answer for the first two requests.
        let (base, hits) = greenhouse_stub(2, Duration::from_millis(1500)).await;
        let now = Utc::now();
        let s = create(
            &conn,
            ScheduleDef {
                max_attempts: 2,
                retry_backoff_seconds: 5,
                ..def("slow", "0 0 1 1 *", "UTC")
            },
            now,
        )
        .await;
        let start = |conn: DatabaseConnection, shutdown: &CancellationToken| {
            Scheduler::start_with(
                Runs::new(
                    conn.clone(),
                    engine_for(&conn, &base),
                    Wakeups::default(),
                    Clock::Database,
                ),
                fast_settings(),
                "graceful".into(),
                shutdown,
            )
        };

        // Within grace: the run finishes.
        let shutdown = CancellationToken::new();
        let scheduler = start(conn.clone(), &shutdown);
        let run = schedules::run_now(&conn, s.id, Utc::now()).await.unwrap();
        let h = hits.clone();
        wait_for("the board request", Duration::from_secs(10), || {
            let h = h.clone();
            async move { h.load(Ordering::SeqCst) >= 1 }
        })
        .await;
        shutdown.cancel();
        scheduler.stop(Duration::from_secs(10)).await;
        let r = ingest_run::Entity::find_by_id(run.id)
            .one(&conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");

        // Grace too short: cancelled, recorded as interrupted, retried later.
        let shutdown = CancellationToken::new();
        let scheduler = start(conn.clone(), &shutdown);
        let run = schedules::run_now(&conn, s.id, Utc::now()).await.unwrap();
        let h = hits.clone();
        wait_for("the second board request", Duration::from_secs(10), || {
            let h = h.clone();
            async move { h.load(Ordering::SeqCst) >= 2 }
        })
        .await;
        shutdown.cancel();
        let stopping = Instant::now();
        scheduler.stop(Duration::from_millis(200)).await;
        assert!(stopping.elapsed() < Duration::from_secs(5));
        let r = ingest_run::Entity::find_by_id(run.id)
            .one(&conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, RunStatus::Interrupted, "{r:?}");
        assert!(r.error.as_deref().unwrap().contains("shut down"), "{r:?}");
        let runs = runs_of(&conn, s.id).await;
        let retry = runs.last().unwrap();
        assert_eq!((retry.attempt, retry.status), (2, RunStatus::Queued));
    }
}

#[tokio::test]
async fn cancelling_a_running_run_stops_it() {
    for db in testkit::databases("sched_cancel").await {
        let conn = db.conn.clone();
        let (base, hits) = greenhouse_stub(1, Duration::from_secs(20)).await;
        let s = create(&conn, def("cancel-me", "0 0 1 1 *", "UTC"), Utc::now()).await;
        let shutdown = CancellationToken::new();
        let runs = Runs::new(
            conn.clone(),
            engine_for(&conn, &base),
            Wakeups::default(),
            Clock::Database,
        );
        let scheduler =
            Scheduler::start_with(runs.clone(), fast_settings(), "canceller".into(), &shutdown);
        let run = schedules::run_now(&conn, s.id, Utc::now()).await.unwrap();
        let h = hits.clone();
        wait_for("the board request", Duration::from_secs(10), || {
            let h = h.clone();
            async move { h.load(Ordering::SeqCst) >= 1 }
        })
        .await;
        // The worker registered the run in the state's registry: the cancel stops it here.
        assert!(runs.registry().is_running(run.id));
        let cancelled = runs.cancel(run.id).await.unwrap();
        assert_eq!(cancelled.status, RunStatus::Cancelled);
        let c = conn.clone();
        wait_for("the run to end", Duration::from_secs(10), || {
            let c = c.clone();
            async move {
                ingest_run::Entity::find_by_id(run.id)
                    .one(&c)
                    .await
                    .unwrap()
                    .unwrap()
                    .finished_at
                    .is_some()
            }
        })
        .await;
        let r = ingest_run::Entity::find_by_id(run.id)
            .one(&conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, RunStatus::Cancelled);
        assert_eq!(
            runs_of(&conn, s.id).await.len(),
            1,
            "cancelled runs are not retried"
        );
        shutdown.cancel();
        scheduler.stop(Duration::from_secs(5)).await;
    }
}

/// A local stand-in for a Greenhouse board that answers nothing until `release` is sent
/// `true`: a fetch stalled for as long as the test wants. Counts board requests.
async fn gated_greenhouse_stub() -> (String, Arc<AtomicUsize>, tokio::sync::watch::Sender<bool>) {
    use axum::routing::get;
    let hits = Arc::new(AtomicUsize::new(0));
    let (release, gate) = tokio::sync::watch::channel(false);
    let counter = hits.clone();
    let app = axum::Router::new()
        .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\n" }))
        .route(
            "/v1/boards/{token}/jobs",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut gate = gate.clone();
                async move {
                    let _ = gate.wait_for(|open| *open).await;
                    ([("content-type", "application/json")], GREENHOUSE_BOARD)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits, release)
}

async fn run_row(db: &impl ConnectionTrait, id: i64) -> ingest_run::Model {
    ingest_run::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

async fn wait_for_hits(hits: &Arc<AtomicUsize>, n: usize) {
    let h = hits.clone();
    wait_for("the board request", Duration::from_secs(10), || {
        let h = h.clone();
        async move { h.load(Ordering::SeqCst) >= n }
    })
    .await;
}

/// A worker frozen past its lease (its fetch hangs; its heartbeat would be frozen with it):
/// another instance reaps and retries the run, or cancels it. When the worker wakes up, it
/// fetches the page it had in flight, but the page's transaction renews the claim first and
/// finds the run no longer its own: nothing is stored, it stops, and its finish changes nothing
/// on the row (status, counters, error, finished_at, lease).
#[tokio::test]
async fn a_stalled_worker_that_resumes_after_losing_its_run_changes_nothing() {
    for db in testkit::databases("sched_stalled").await {
        let conn = db.conn.clone();
        let lease = TimeDelta::seconds(3);
        let stale = TimeDelta::minutes(10);
        let s = create(
            &conn,
            ScheduleDef {
                max_attempts: 3,
                retry_backoff_seconds: 10,
                ..def("stalled", "0 0 1 1 *", "UTC")
            },
            Utc::now(),
        )
        .await;
        for taken_by in ["reaper", "canceller"] {
            let what = format!("{:?}, taken by the {taken_by}", db.backend);
            let (base, hits, release) = gated_greenhouse_stub().await;
            let now = Utc::now();
            schedules::run_now(&conn, s.id, now).await.unwrap();
            let run = queue::claim_next(&conn, now, "frozen-instance", lease, 4)
                .await
                .unwrap()
                .expect("the run is claimable");
            let engine = engine_for(&conn, &base);
            let worker = tokio::spawn({
                let run = run.clone();
                async move { engine.execute(&run, &CancellationToken::new()).await }
            });
            wait_for_hits(&hits, 1).await;

            // The lease expires while the worker hangs.
            let later = now + lease + TimeDelta::seconds(1);
            if taken_by == "canceller" {
                // Another instance's cancelIngestRun (this worker's token is not told)…
                queue::cancel(&conn, run.id, now).await.unwrap();
            }
            // …and any instance's reaper.
            let reaped = reaper::reap_once(&conn, later, stale).await.unwrap();
            if taken_by == "reaper" {
                assert_eq!(reaped.interrupted.len(), 1, "{what}");
                assert_eq!(reaped.retries.len(), 1, "{what}");
            } else {
                assert_eq!(reaped.cancels_closed, 1, "{what}");
            }
            let taken = run_row(&conn, run.id).await;
            assert!(taken.finished_at.is_some(), "{what}: {taken:?}");

            // The worker wakes up.
            release.send(true).unwrap();
            let report = tokio::time::timeout(Duration::from_secs(20), worker)
                .await
                .expect("the resumed worker stops")
                .unwrap()
                .unwrap();
            // It did fetch its page, but did not store it: the page's transaction renews the
            // claim first and found the run taken…
            assert_eq!(report.counters.pages_fetched, 1, "{what}");
            assert_eq!(report.counters.jobs_found, 0, "{what}");
            let stored = entity::job_posting::Entity::find()
                .filter(entity::job_posting::Column::FirstRunId.eq(run.id))
                .count(&conn)
                .await
                .unwrap();
            assert_eq!(stored, 0, "{what}: postings of a lost run");
            // …and recorded nothing on the run row.
            assert_eq!(report.outcome, FinishOutcome::Lost, "{what}");
            assert_eq!(run_row(&conn, run.id).await, taken, "{what}");
            assert_eq!(
                report.run, taken,
                "{what}: the report shows the row as it is"
            );
            match taken_by {
                "reaper" => {
                    assert_eq!(taken.status, RunStatus::Interrupted, "{what}");
                    assert!(taken.error.as_deref().unwrap().contains("frozen-instance"));
                    let runs = runs_of(&conn, s.id).await;
                    let retry = runs.last().unwrap();
                    assert_eq!(
                        (retry.attempt, retry.status, retry.started_at),
                        (2, RunStatus::Queued, None),
                        "{what}: the retry is untouched"
                    );
                    // Out of the way of the next scenario (one run of a schedule at a time).
                    queue::cancel(&conn, retry.id, now).await.unwrap();
                }
                _ => {
                    assert_eq!(taken.status, RunStatus::Cancelled, "{what}");
                    assert_eq!(taken.error.as_deref(), Some("cancelled"), "{what}");
                }
            }
            assert_eq!(
                (taken.pages_fetched, taken.jobs_found),
                (0, 0),
                "{what}: the late progress was not saved"
            );
        }
    }
}

/// A finish that arrives after the run was cancelled keeps `cancelled` (the owner still
/// records the end time and its counters); once the row is closed, or when the writer is not
/// the owner, or the run was reaped, a finish changes nothing. The same holds for runs the
/// `jobintel ingest` CLI marks running (owner, no lease).
#[tokio::test]
async fn late_finishes_never_overwrite_a_cancelled_or_reaped_run() {
    for db in testkit::databases("sched_late_finish").await {
        let conn = &db.conn;
        let what = format!("{:?}", db.backend);
        let counters = RunCounters {
            pages_fetched: 3,
            jobs_found: 30,
            jobs_new: 30,
            ..RunCounters::default()
        };
        let now = Utc::now();
        let queued = |source| {
            queue::enqueue(
                conn,
                store::NewRun::manual(source, SearchParams::default(), RunTrigger::Manual),
                now,
            )
        };

        // Cancelled while its owner is alive: the owner's finish closes it, still cancelled.
        queued(Source::Lever).await.unwrap();
        let run = queue::claim_next(conn, now, "owner", LEASE, 4)
            .await
            .unwrap()
            .unwrap();
        queue::cancel(conn, run.id, now).await.unwrap();
        let claim = RunClaim::of(&run);
        let late = store::finish_run(conn, &claim, RunStatus::Succeeded, &counters, None)
            .await
            .unwrap();
        assert_eq!(late.outcome, FinishOutcome::Cancelled, "{what}");
        let closed = late.run;
        assert_eq!(closed.status, RunStatus::Cancelled, "{what}");
        assert_eq!(closed.error.as_deref(), Some("cancelled"), "{what}");
        assert_eq!((closed.pages_fetched, closed.jobs_found), (3, 30), "{what}");
        assert!(closed.finished_at.is_some(), "{what}");
        assert_eq!(closed.lease_expires_at, None, "{what}");
        // A second finish, or progress, finds the run no longer running: nothing changes.
        let again = store::finish_run(
            conn,
            &claim,
            RunStatus::Failed,
            &RunCounters::default(),
            Some("boom"),
        )
        .await
        .unwrap();
        assert_eq!(again.outcome, FinishOutcome::Lost, "{what}");
        assert!(
            !store::save_progress(conn, &claim, &RunCounters::default())
                .await
                .unwrap()
        );
        assert_eq!(run_row(conn, run.id).await, closed, "{what}");

        // Another instance's finish of a run it does not own changes nothing, even while the
        // run is running; the owner's own progress is still accepted.
        queued(Source::Lever).await.unwrap();
        let run = queue::claim_next(conn, now, "owner", LEASE, 4)
            .await
            .unwrap()
            .unwrap();
        let intruder = RunClaim {
            run_id: run.id,
            owner: Some("intruder".into()),
        };
        let stolen = store::finish_run(conn, &intruder, RunStatus::Succeeded, &counters, None)
            .await
            .unwrap();
        assert_eq!(stolen.outcome, FinishOutcome::Lost, "{what}");
        assert_eq!(stolen.run.status, RunStatus::Running, "{what}");
        assert!(
            !store::save_progress(conn, &intruder, &counters)
                .await
                .unwrap()
        );
        assert!(
            store::save_progress(conn, &RunClaim::of(&run), &counters)
                .await
                .unwrap()
        );
        // Reaped: the owner's late finish changes nothing.
        let reaped = reaper::reap_once(conn, now + LEASE * 2, TimeDelta::minutes(10))
            .await
            .unwrap();
        assert_eq!(reaped.interrupted.len(), 1, "{what}");
        let taken = run_row(conn, run.id).await;
        let late = store::finish_run(
            conn,
            &RunClaim::of(&run),
            RunStatus::Succeeded,
            &RunCounters::default(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(late.outcome, FinishOutcome::Lost, "{what}");
        assert_eq!(run_row(conn, run.id).await, taken, "{what}");
        assert_eq!(taken.status, RunStatus::Interrupted, "{what}");

        // The CLI's runs: an owner but no lease. Fenced by that owner while running…
        let cli = store::create_run(
            conn,
            store::NewRun::manual(Source::Lever, SearchParams::default(), RunTrigger::Cli),
        )
        .await
        .unwrap();
        let cli = store::mark_running(conn, cli.id, "cli-host:42")
            .await
            .unwrap();
        assert_eq!(cli.lease_owner.as_deref(), Some("cli-host:42"));
        assert!(
            store::save_progress(conn, &RunClaim::of(&cli), &counters)
                .await
                .unwrap()
        );
        // …and reaped once silent for long: its late finish, by owner or by status alone (a
        // model read before `mark_running`), changes nothing.
        let reaped = reaper::reap_once(
            conn,
            Utc::now() + TimeDelta::minutes(11),
            TimeDelta::minutes(10),
        )
        .await
        .unwrap();
        assert!(reaped.interrupted.iter().any(|r| r.id == cli.id), "{what}");
        let taken = run_row(conn, cli.id).await;
        for claim in [
            RunClaim::of(&cli),
            RunClaim {
                run_id: cli.id,
                owner: None,
            },
        ] {
            let late = store::finish_run(conn, &claim, RunStatus::Succeeded, &counters, None)
                .await
                .unwrap();
            assert_eq!(late.outcome, FinishOutcome::Lost, "{what}: {claim:?}");
        }
        assert_eq!(run_row(conn, cli.id).await, taken, "{what}");
        assert_eq!(taken.status, RunStatus::Interrupted, "{what}");

        // A CLI run cancelled before it started is never brought back to `running`.
        let cli = store::create_run(
            conn,
            store::NewRun::manual(Source::Lever, SearchParams::default(), RunTrigger::Cli),
        )
        .await
        .unwrap();
        queue::cancel(conn, cli.id, now).await.unwrap();
        let refused = store::mark_running(conn, cli.id, "cli-host:42").await;
        assert!(refused.is_err(), "{what}");
        assert_eq!(run_row(conn, cli.id).await.status, RunStatus::Cancelled);
    }
}

fn held_settings(lease: Duration) -> SchedulerSettings {
    SchedulerSettings {
        lease,
        // Reaping is done by hand, at chosen times.
        reaper_interval: Duration::from_secs(3600),
        ..fast_settings()
    }
}

/// A worker whose fetch hangs past its lease, with the scheduler running: another instance
/// reaps and retries the run (or cancels it); the worker's next heartbeat finds the run no
/// longer its own and stops the run at once (the hanging fetch is dropped), leaving the row as
/// the other instance recorded it. The lease comes from the test's manual clock, so "past its
/// lease" needs no real waiting.
#[tokio::test]
async fn a_worker_whose_run_was_taken_stops_it_at_the_next_heartbeat() {
    for db in testkit::databases("sched_taken").await {
        let conn = db.conn.clone();
        let (base, hits, _release) = gated_greenhouse_stub().await;
        let t0 = Utc::now();
        let clock = Clock::manual(t0);
        let s = create(
            &conn,
            ScheduleDef {
                max_attempts: 3,
                retry_backoff_seconds: 10,
                ..def("held", "0 0 1 1 *", "UTC")
            },
            t0,
        )
        .await;
        let shutdown = CancellationToken::new();
        let scheduler = Scheduler::start_with(
            Runs::new(
                conn.clone(),
                engine_for(&conn, &base),
                Wakeups::default(),
                clock.clone(),
            ),
            held_settings(Duration::from_secs(1)),
            "held".into(),
            &shutdown,
        );
        let in_flight = |n: usize| {
            let scheduler = &scheduler;
            move || async move { scheduler.in_flight() == n }
        };

        for (i, taken_by) in ["reaper", "canceller"].into_iter().enumerate() {
            let what = format!("{:?}, taken by the {taken_by}", db.backend);
            let run = schedules::run_now(&conn, s.id, t0).await.unwrap();
            wait_for_hits(&hits, i + 1).await;
            let c = conn.clone();
            wait_for("the claim", Duration::from_secs(5), || {
                let c = c.clone();
                async move { run_row(&c, run.id).await.status == RunStatus::Running }
            })
            .await;
            if taken_by == "reaper" {
                // The reaping instance's clock is past the lease (renewed until t0 + 1 s).
                let r = reaper::reap_once(&conn, t0 + TimeDelta::hours(1), TimeDelta::hours(1))
                    .await
                    .unwrap();
                assert_eq!(r.interrupted.len(), 1, "{what}");
                assert_eq!(r.retries.len(), 1, "{what}");
            } else {
                // Cancelled on another instance: this one hears of it only by its heartbeat.
                queue::cancel(&conn, run.id, t0).await.unwrap();
            }
            let taken = run_row(&conn, run.id).await;
            wait_for(
                "the worker to stop the run",
                Duration::from_secs(5),
                in_flight(0),
            )
            .await;
            let after = run_row(&conn, run.id).await;
            if taken_by == "reaper" {
                assert_eq!(after, taken, "{what}: the reaped row is left as it was");
                // The retry waits for its backoff (the manual clock does not move): claimed by
                // no one, and the board was asked once per run.
                let retry = runs_of(&conn, s.id).await.pop().unwrap();
                assert_eq!((retry.attempt, retry.status), (2, RunStatus::Queued));
                queue::cancel(&conn, retry.id, t0).await.unwrap();
            } else {
                // The owner closes the cancelled run; it stays cancelled.
                assert_eq!(after.status, RunStatus::Cancelled, "{what}");
                assert_eq!(after.error.as_deref(), Some("cancelled"), "{what}");
                assert!(after.finished_at.is_some(), "{what}");
                assert_eq!(runs_of(&conn, s.id).await.len(), 3, "{what}: no retry");
            }
            assert_eq!(hits.load(Ordering::SeqCst), i + 1, "{what}");
        }
        shutdown.cancel();
        scheduler.stop(Duration::from_secs(5)).await;
    }
}

/// A worker that cannot renew its lease (here: every renewal fails with a database error) stops
/// its run after half the lease, before the lease can expire and another instance retry it, so
/// that the run never executes twice at once. Its end cannot be recorded either; the row stays
/// `running` until its lease expires, and is then reaped and retried as usual.
#[tokio::test]
async fn a_worker_whose_heartbeats_keep_failing_stops_its_run_before_the_lease_expires() {
    for db in testkit::databases("sched_hb_fail").await {
        let conn = db.conn.clone();
        let (base, hits, _release) = gated_greenhouse_stub().await;
        let t0 = Utc::now();
        let s = create(
            &conn,
            ScheduleDef {
                max_attempts: 2,
                ..def("unrenewable", "0 0 1 1 *", "UTC")
            },
            t0,
        )
        .await;
        let lease = Duration::from_secs(2);
        let shutdown = CancellationToken::new();
        let scheduler = Scheduler::start_with(
            Runs::new(
                conn.clone(),
                engine_for(&conn, &base),
                Wakeups::default(),
                Clock::manual(t0),
            ),
            held_settings(lease),
            "unrenewable".into(),
            &shutdown,
        );
        let run = schedules::run_now(&conn, s.id, t0).await.unwrap();
        wait_for_hits(&hits, 1).await;
        assert_eq!(scheduler.in_flight(), 1);

        // Every statement touching `heartbeat_at` now fails, on both backends.
        let rename =
            |from: &str, to: &str| format!("ALTER TABLE ingest_runs RENAME COLUMN {from} TO {to}");
        conn.execute_unprepared(&rename("heartbeat_at", "heartbeat_at_gone"))
            .await
            .unwrap();
        let failing_since = Instant::now();
        let s2 = &scheduler;
        wait_for(
            "the worker to give up",
            Duration::from_secs(10),
            || async move { s2.in_flight() == 0 },
        )
        .await;
        let stopped_after = failing_since.elapsed();
        eprintln!(
            "{:?}: stopped {stopped_after:?} after renewals began to fail",
            db.backend
        );
        // Half the lease since the last renewal (at most a third of the lease before the
        // failures began), plus scheduling slack on a busy machine.
        assert!(stopped_after < lease * 2, "{stopped_after:?}");
        conn.execute_unprepared(&rename("heartbeat_at_gone", "heartbeat_at"))
            .await
            .unwrap();

        // Nothing could be recorded: the row is as claimed, its lease not renewed since…
        let row = run_row(&conn, run.id).await;
        assert_eq!(row.status, RunStatus::Running, "{row:?}");
        // …and once the lease has expired it is reaped and retried like a crashed worker's.
        let r = reaper::reap_once(&conn, t0 + TimeDelta::hours(1), TimeDelta::hours(1))
            .await
            .unwrap();
        assert_eq!(r.interrupted.len(), 1);
        assert_eq!(r.retries.len(), 1);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        shutdown.cancel();
        scheduler.stop(Duration::from_secs(5)).await;
    }
}

/// Deleting a schedule cancels its queued runs, detaches all its runs and removes it as one
/// transaction: when the last step fails (here a trigger refuses the DELETE), nothing of it is
/// left done; when it succeeds, all of it is.
#[tokio::test]
async fn deleting_a_schedule_is_all_or_nothing() {
    for db in testkit::databases("sched_delete").await {
        let conn = &db.conn;
        let what = format!("{:?}", db.backend);
        let now = t("2026-06-01T00:30:00Z");
        let s = create(
            conn,
            ScheduleDef {
                max_attempts: 3,
                ..def("doomed", "0 * * * *", "UTC")
            },
            now,
        )
        .await;
        // A finished run, a running one and a queued one.
        let done = schedules::run_now(conn, s.id, now).await.unwrap();
        let done = queue::claim_next(conn, now, "w", LEASE, 4)
            .await
            .unwrap()
            .filter(|r| r.id == done.id)
            .unwrap();
        finish(conn, &done, RunStatus::Succeeded).await;
        schedules::run_now(conn, s.id, now).await.unwrap();
        let running = queue::claim_next(conn, now, "w", LEASE, 4)
            .await
            .unwrap()
            .unwrap();
        let queued = schedules::run_now(conn, s.id, now).await.unwrap();
        assert_eq!(queued.status, RunStatus::Queued);
        let before = runs_of(conn, s.id).await;
        assert_eq!(before.len(), 3, "{what}");

        // The last statement fails: the cancel and the detach before it are rolled back.
        let (refuse, allow) = match db.backend {
            testkit::Backend::Sqlite => (
                vec![
                    "CREATE TRIGGER refuse_delete BEFORE DELETE ON schedules \
                     BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                ],
                vec!["DROP TRIGGER refuse_delete"],
            ),
            testkit::Backend::Postgres => (
                vec![
                    "CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
                    "CREATE TRIGGER refuse_delete BEFORE DELETE ON schedules \
                     FOR EACH ROW EXECUTE FUNCTION refuse_delete()",
                ],
                vec![
                    "DROP TRIGGER refuse_delete ON schedules",
                    "DROP FUNCTION refuse_delete()",
                ],
            ),
        };
        for sql in refuse {
            conn.execute_unprepared(sql).await.unwrap();
        }
        let failed = schedules::delete(conn, s.id, now).await;
        assert!(failed.is_err(), "{what}: the trigger refused the delete");
        assert!(
            schedule::Entity::find_by_id(s.id)
                .one(conn)
                .await
                .unwrap()
                .is_some(),
            "{what}"
        );
        assert_eq!(
            runs_of(conn, s.id).await,
            before,
            "{what}: no run cancelled or detached"
        );
        for sql in allow {
            conn.execute_unprepared(sql).await.unwrap();
        }

        // Now it goes through, all of it.
        let later = now + TimeDelta::minutes(1);
        schedules::delete(conn, s.id, later).await.unwrap();
        assert!(
            schedule::Entity::find_by_id(s.id)
                .one(conn)
                .await
                .unwrap()
                .is_none(),
            "{what}"
        );
        assert!(runs_of(conn, s.id).await.is_empty(), "{what}: all detached");
        let after = |id| run_row(conn, id);
        let q = after(queued.id).await;
        assert_eq!(
            (q.status, q.finished_at, q.schedule_id),
            (RunStatus::Cancelled, Some(later), None),
            "{what}"
        );
        assert_eq!(
            q.error.as_deref(),
            Some("cancelled: its schedule was deleted")
        );
        let r = after(running.id).await;
        assert_eq!(
            (r.status, r.schedule_id),
            (RunStatus::Running, None),
            "{what}"
        );
        let d = after(done.id).await;
        assert_eq!(
            (d.status, d.schedule_id),
            (RunStatus::Succeeded, None),
            "{what}"
        );
        // The run that was going on ends as usual and is not retried: no schedule to retry.
        let failed = finish(conn, &running, RunStatus::Failed).await;
        assert!(
            queue::retry_if_allowed(conn, &failed, later)
                .await
                .unwrap()
                .is_none()
        );
        // Deleting it again: not found.
        assert!(schedules::delete(conn, s.id, later).await.is_err());
    }
}

/// Start `jobintel serve` with `env`, wait for its listening line, return it and its address.
/// The child is killed when dropped, so a failing assertion does not leave a server running.
fn spawn_serve(env: &[(&str, String)]) -> (KillOnDrop, String) {
    let mut cmd = Command::new(BIN);
    for var in [
        "DATABASE_URL",
        "JOBINTEL_BIND",
        "JOBINTEL_API_TOKEN",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.current_dir(std::env::temp_dir())
        .arg("serve")
        .env("JOBINTEL_BIND", "127.0.0.1:0")
        .env("JOBINTEL_LOG_FORMAT", "json")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["message"] == "listening" {
                // Keep draining so the child never blocks on a full pipe.
                std::thread::spawn(move || while rx.recv().is_ok() {});
                return (child, v["addr"].as_str().unwrap().to_owned());
            }
        }
    }
    drop(child);
    panic!("jobintel serve did not start within 30 s");
}

async fn gql(addr: &str, token: &str, query: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn kill_9_mid_run_interrupts_and_retries_the_run_without_duplicate_postings() {
    jobintel::install_crypto_provider();
    for db in testkit::databases("sched_kill9").await {
        // The first board request hangs (the instance is killed while waiting on it).
        let (base, hits) = greenhouse_stub(1, Duration::from_secs(60)).await;
        let env = vec![
            ("DATABASE_URL", db.url.clone()),
            ("JOBINTEL_API_TOKEN", "t0ken".to_owned()),
            ("JOBINTEL_GREENHOUSE_BASE_URL", base.clone()),
            ("JOBINTEL_ALLOW_PRIVATE_NETWORK", "true".to_owned()),
            ("JOBINTEL_LEASE", "2s".to_owned()),
            ("JOBINTEL_REAPER_INTERVAL", "300ms".to_owned()),
            ("JOBINTEL_WORKER_POLL", "300ms".to_owned()),
        ];
        let (mut a, addr) = spawn_serve(&env);
        let v = gql(
            &addr,
            "t0ken",
            r#"mutation { createSchedule(input: {name: "acme", source: GREENHOUSE,
                target: "acme", cron: "0 0 1 1 *", maxAttempts: 3, retryBackoffSeconds: 1}) { id } }"#,
        )
        .await;
        let id = v["data"]["createSchedule"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let v = gql(
            &addr,
            "t0ken",
            &format!(r#"mutation {{ runScheduleNow(id: "{id}") {{ databaseId status }} }}"#),
        )
        .await;
        assert_eq!(v["data"]["runScheduleNow"]["status"], "QUEUED", "{v}");
        let run_id = v["data"]["runScheduleNow"]["databaseId"].as_i64().unwrap();
        let h = hits.clone();
        wait_for("the board request", Duration::from_secs(15), || {
            let h = h.clone();
            async move { h.load(Ordering::SeqCst) >= 1 }
        })
        .await;
        let running = ingest_run::Entity::find_by_id(run_id)
            .one(&db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(running.status, RunStatus::Running);
        let owner_a = running.lease_owner.clone().unwrap();

        a.kill().unwrap(); // SIGKILL
        a.wait().unwrap();
        let killed_at = Instant::now();

        // A new instance reaps the dead one's run and retries it.
        let (mut b, _) = spawn_serve(&env);
        let conn = db.conn.clone();
        wait_for("the retry to succeed", Duration::from_secs(30), || {
            let conn = conn.clone();
            async move {
                ingest_run::Entity::find()
                    .filter(ingest_run::Column::Attempt.eq(2))
                    .filter(ingest_run::Column::Status.eq(RunStatus::Succeeded))
                    .count(&conn)
                    .await
                    .unwrap()
                    == 1
            }
        })
        .await;
        let recovered_in = killed_at.elapsed();
        let first = ingest_run::Entity::find_by_id(run_id)
            .one(&db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.status, RunStatus::Interrupted, "{first:?}");
        assert!(
            first.error.as_deref().unwrap().contains(&owner_a),
            "{first:?}"
        );
        let runs = ingest_run::Entity::find()
            .order_by_asc(ingest_run::Column::Id)
            .all(&db.conn)
            .await
            .unwrap();
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_ne!(runs[1].lease_owner.as_deref(), Some(owner_a.as_str()));
        assert_eq!(runs[1].jobs_new, 2);
        assert_eq!(
            count(&db.conn, "SELECT COUNT(*) FROM job_postings").await,
            2
        );
        assert_eq!(
            count(
                &db.conn,
                "SELECT COUNT(*) FROM (SELECT source, external_id FROM job_postings \
                 GROUP BY source, external_id HAVING COUNT(*) > 1) d"
            )
            .await,
            0
        );
        assert_eq!(
            count(
                &db.conn,
                "SELECT COUNT(*) FROM ingest_runs WHERE status = 'running'"
            )
            .await,
            0
        );
        eprintln!(
            "{:?}: killed run {run_id} interrupted and its retry succeeded {:.1}s after kill -9",
            db.backend,
            recovered_in.as_secs_f64()
        );

        let status = Command::new("kill")
            .args(["-TERM", &b.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        let exit = loop {
            if let Some(s) = b.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "no exit within 15 s of SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(exit.code(), Some(0));
    }
}

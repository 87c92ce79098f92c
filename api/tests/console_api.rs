//! The GraphQL additions the operations console (issue #14) reads, over HTTP against the real
//! router on 127.0.0.1:0, on a fresh SQLite and PostgreSQL database each: `viewer`,
//! `cronPreview`, `instances` (with the heartbeat and housekeeping behind it),
//! `ingestRunStats` and `retryIngestRun`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Timelike, Utc};
use entity::{RunStatus, RunTrigger, Source, ingest_run};
use ingest::events::IngestEvent;
use ingest::store::NewRun;
use jobintel::config::Secret;
use jobintel::graphql::auth::AuthPolicy;
use jobintel::presence::{Beat, Presence};
use jobintel::scheduler::WorkerLoad;
use jobintel::scheduler::housekeeping::{Retention, housekeep_once};
use jobintel::scheduling::clock::Clock;
use jobintel::service::instances::{self, InstanceInfo, STALE_AFTER};
use jobintel::service::{queue, schedules};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::{Value, json};
use support::{Server, start_with, test_settings};

fn policy(token: Option<&str>, loopback_only: bool, protect_reads: bool) -> AuthPolicy {
    AuthPolicy {
        token: token.map(Secret::new),
        protect_reads,
        loopback_only,
    }
}

async fn server(db: &DatabaseConnection, auth: AuthPolicy) -> Server {
    let mut settings = test_settings();
    settings.auth = auth;
    settings.instance_id = "console-test-current".into();
    start_with(db, settings).await
}

fn code(v: &Value) -> &str {
    v["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

fn message(v: &Value) -> &str {
    v["errors"][0]["message"].as_str().unwrap_or("")
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

// ---- viewer ---------------------------------------------------------------------------------

const VIEWER: &str = "{ viewer { tokenRequired readsProtected canRead canWrite } }";

#[tokio::test]
async fn viewer_says_what_the_caller_may_do_and_is_public_even_when_reads_are_protected() {
    for db in testkit::databases("console_viewer").await {
        let what = format!("{:?}", db.backend);
        // (policy, token sent, expected [tokenRequired, readsProtected, canRead, canWrite])
        let cases: [(AuthPolicy, Option<&str>, [bool; 4]); 8] = [
            // A developer's loopback server without a token: everything from this machine.
            (policy(None, true, false), None, [false, false, true, true]),
            // No token on a public address: reads only.
            (
                policy(None, false, false),
                None,
                [false, false, true, false],
            ),
            // Token set, not sent: reads only.
            (
                policy(Some("tok"), true, false),
                None,
                [true, false, true, false],
            ),
            (
                policy(Some("tok"), true, false),
                Some("wrong"),
                [true, false, true, false],
            ),
            (
                policy(Some("tok"), true, false),
                Some("tok"),
                [true, false, true, true],
            ),
            // Reads protected: nothing without the token, everything with it.
            (
                policy(Some("tok"), false, true),
                None,
                [true, true, false, false],
            ),
            (
                policy(Some("tok"), false, true),
                Some("wrong"),
                [true, true, false, false],
            ),
            (
                policy(Some("tok"), false, true),
                Some("tok"),
                [true, true, true, true],
            ),
        ];
        for (auth, token, want) in cases {
            let label = format!("{what} {auth:?} token {token:?}");
            let srv = server(&db.conn, auth).await;
            let v = srv.gql_with(VIEWER, json!({}), token).await;
            assert!(v["errors"].is_null(), "{label}: {v}");
            let got = ["tokenRequired", "readsProtected", "canRead", "canWrite"]
                .map(|f| v["data"]["viewer"][f].as_bool().unwrap());
            assert_eq!(got, want, "{label}: {v}");
            // The answer matches what the server then does.
            let read = srv.gql_with("{ instances { id } }", json!({}), token).await;
            assert_eq!(read["errors"].is_null(), want[2], "{label}: {read}");
            let write = srv
                .gql_with(
                    r#"mutation { retryIngestRun(id: "999999") { id } }"#,
                    json!({}),
                    token,
                )
                .await;
            let expected = if want[3] {
                "NOT_FOUND"
            } else {
                "UNAUTHENTICATED"
            };
            assert_eq!(code(&write), expected, "{label}: {write}");
            srv.stop().await;
        }
    }
}

// ---- cronPreview ----------------------------------------------------------------------------

#[test]
fn cron_preview_fires_at_the_end_of_the_spring_forward_gap_in_sydney() {
    // Sydney moves from 02:00 AEST (+10) to 03:00 AEDT (+11) on Sunday 4 October 2026.
    let now = ts("2026-10-02T00:00:00Z"); // Friday 10:00 in Sydney
    let p = schedules::preview("30 2 * * *", "Australia/Sydney", 4, now).unwrap();
    assert_eq!(p.cron, "30 2 * * *");
    assert_eq!(p.timezone, "Australia/Sydney");
    assert!(!p.description.is_empty());
    assert_eq!(
        p.fires,
        vec![
            ts("2026-10-02T16:30:00Z"), // Sat 3 Oct 02:30 AEST
            ts("2026-10-03T16:00:00Z"), // Sun 4 Oct: 02:30 does not exist, fires at 03:00 AEDT
            ts("2026-10-04T15:30:00Z"), // Mon 5 Oct 02:30 AEDT
            ts("2026-10-05T15:30:00Z"),
        ]
    );
    // Autumn in London: 09:00 local is 08:00Z before 25 October 2026 and 09:00Z after.
    let p =
        schedules::preview("0 9 * * *", "Europe/London", 3, ts("2026-10-23T12:00:00Z")).unwrap();
    assert_eq!(
        p.fires,
        vec![
            ts("2026-10-24T08:00:00Z"),
            ts("2026-10-25T09:00:00Z"),
            ts("2026-10-26T09:00:00Z"),
        ]
    );
}

#[tokio::test]
async fn cron_preview_gives_fires_or_the_message_create_schedule_gives() {
    for db in testkit::databases("console_cron").await {
        let what = format!("{:?}", db.backend);
        let srv = server(&db.conn, policy(Some("tok"), true, false)).await;

        let v = srv
            .gql(r#"{ cronPreview(cron: " 0 9 * * 1-5 ", timeZone: "Australia/Sydney", count: 5) { cron timeZone description fires } }"#)
            .await;
        assert!(v["errors"].is_null(), "{what}: {v}");
        let p = &v["data"]["cronPreview"];
        assert_eq!(p["cron"], "0 9 * * 1-5", "{what}");
        assert_eq!(p["timeZone"], "Australia/Sydney", "{what}");
        assert!(!p["description"].as_str().unwrap().is_empty(), "{what}");
        let fires: Vec<DateTime<Utc>> = p["fires"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| ts(f.as_str().unwrap()))
            .collect();
        assert_eq!(fires.len(), 5, "{what}");
        assert!(fires.windows(2).all(|w| w[0] < w[1]), "{what}: {fires:?}");
        assert!(fires[0] > Utc::now() - TimeDelta::minutes(1), "{what}");
        for f in &fires {
            let local = f.with_timezone(&chrono_tz::Australia::Sydney);
            assert_eq!((local.hour(), local.minute()), (9, 0), "{what}: {local}");
            use chrono::Datelike;
            assert!(local.weekday().number_from_monday() <= 5, "{what}: {local}");
        }

        // Defaults: UTC and three fires.
        let v = srv
            .gql(r#"{ cronPreview(cron: "@hourly") { timeZone fires } }"#)
            .await;
        assert_eq!(v["data"]["cronPreview"]["timeZone"], "UTC", "{what}: {v}");
        assert_eq!(
            v["data"]["cronPreview"]["fires"].as_array().unwrap().len(),
            3,
            "{what}"
        );

        // A bad cron or zone: the same BAD_USER_INPUT message as createSchedule.
        for (cron, zone) in [
            ("0 25 * * *", "UTC"),
            ("0 9 * *", "UTC"),
            ("0 0 30 2 *", "UTC"),
            ("0 9 * * *", "Mars/Olympus"),
        ] {
            let preview = srv
                .gql_with(
                    "query($c: String!, $z: String) { cronPreview(cron: $c, timeZone: $z) { cron } }",
                    json!({"c": cron, "z": zone}),
                    None,
                )
                .await;
            let create = srv
                .gql_with(
                    "mutation($c: String!, $z: String!) { createSchedule(input: {name: \"x\", \
                     source: LEVER, target: \"acme\", cron: $c, timeZone: $z}) { id } }",
                    json!({"c": cron, "z": zone}),
                    Some("tok"),
                )
                .await;
            assert_eq!(code(&preview), "BAD_USER_INPUT", "{what} {cron}: {preview}");
            assert_eq!(code(&create), "BAD_USER_INPUT", "{what} {cron}: {create}");
            assert_eq!(message(&preview), message(&create), "{what} {cron}");
            assert!(!message(&preview).is_empty(), "{what}");
        }
        let v = srv
            .gql(r#"{ cronPreview(cron: "0 25 * * *") { cron } }"#)
            .await;
        assert!(message(&v).contains("hour"), "{what}: names the field: {v}");

        for count in [0, 21, -1] {
            let v = srv
                .gql(&format!(
                    r#"{{ cronPreview(cron: "0 * * * *", count: {count}) {{ cron }} }}"#
                ))
                .await;
            assert_eq!(code(&v), "BAD_USER_INPUT", "{what} {count}: {v}");
            assert!(message(&v).contains("between 1 and 20"), "{what}: {v}");
        }
        srv.stop().await;
    }
}

// ---- instances ------------------------------------------------------------------------------

fn beat(db: &DatabaseConnection, clock: &Clock, id: &str, load: Option<WorkerLoad>) -> Beat {
    Beat {
        db: db.clone(),
        clock: clock.clone(),
        info: InstanceInfo::this_process(id.into(), load.as_ref().map_or(0, |l| l.total())),
        load,
    }
}

const INSTANCES: &str = "{ instances { id version hostname pid startedAt heartbeatAt busyWorkers totalWorkers isCurrent } }";

#[tokio::test]
async fn instances_heartbeat_report_workers_and_stale_ones_are_dropped_by_housekeeping() {
    for db in testkit::databases("console_instances").await {
        let what = format!("{:?}", db.backend);
        let t0 = ts("2026-12-01T10:00:00Z");
        let clock = Clock::manual(t0);
        let srv = server(&db.conn, policy(None, true, false)).await;

        // This server's process (two workers, one busy) and an older API-only one.
        let slots = Arc::new(tokio::sync::Semaphore::new(2));
        let current = beat(
            &db.conn,
            &clock,
            "console-test-current",
            Some(WorkerLoad::new(slots.clone(), 2)),
        );
        let other = beat(&db.conn, &clock, "other-host:42", None);
        other.register().await.unwrap();
        clock.advance(TimeDelta::seconds(30));
        current.register().await.unwrap();
        let busy = slots.clone().acquire_owned().await.unwrap();
        clock.advance(TimeDelta::seconds(15));
        current.once().await.unwrap();

        let v = srv.gql(INSTANCES).await;
        assert!(v["errors"].is_null(), "{what}: {v}");
        let list = v["data"]["instances"].as_array().unwrap();
        assert_eq!(list.len(), 2, "{what}: {v}");
        // Newest start first.
        assert_eq!(list[0]["id"], "console-test-current", "{what}");
        assert_eq!(list[0]["isCurrent"], true, "{what}");
        assert_eq!(list[0]["busyWorkers"], 1, "{what}");
        assert_eq!(list[0]["totalWorkers"], 2, "{what}");
        assert_eq!(list[0]["version"], env!("CARGO_PKG_VERSION"), "{what}");
        assert_eq!(list[0]["pid"], std::process::id(), "{what}");
        assert_eq!(
            ts(list[0]["startedAt"].as_str().unwrap()),
            t0 + TimeDelta::seconds(30)
        );
        assert_eq!(
            ts(list[0]["heartbeatAt"].as_str().unwrap()),
            t0 + TimeDelta::seconds(45)
        );
        assert_eq!(list[1]["id"], "other-host:42", "{what}");
        assert_eq!(list[1]["isCurrent"], false, "{what}");
        assert_eq!(list[1]["totalWorkers"], 0, "{what}");
        drop(busy);

        // The other process dies; this one keeps its heartbeat fresh. Past the stale bound,
        // housekeeping drops the dead row and keeps the live one.
        clock.advance(STALE_AFTER);
        let now = clock.now(&db.conn).await.unwrap();
        assert!(
            instances::heartbeat(&db.conn, "console-test-current", now, 0, 2)
                .await
                .unwrap()
        );
        let report = housekeep_once(&db.conn, now, Retention::default())
            .await
            .unwrap();
        assert_eq!(report.instances_dropped, 1, "{what}");
        let rows = instances::list(&db.conn).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["console-test-current"],
            "{what}"
        );
        // Within the bound, nothing is dropped.
        clock.advance(STALE_AFTER - TimeDelta::seconds(1));
        let now = clock.now(&db.conn).await.unwrap();
        let report = housekeep_once(&db.conn, now, Retention::default())
            .await
            .unwrap();
        assert_eq!(report.instances_dropped, 0, "{what}");

        // Every beat also sweeps other instances' stale rows (housekeeping is hourly).
        other.register().await.unwrap();
        clock.advance(STALE_AFTER + TimeDelta::seconds(1));
        current.once().await.unwrap();
        let rows = instances::list(&db.conn).await.unwrap();
        assert_eq!(rows.len(), 1, "{what}: {rows:?}");
        assert_eq!(rows[0].busy_workers, 0, "{what}: the run finished");

        // A beat that finds its row gone (dropped while this process was stalled) registers
        // again.
        instances::deregister(&db.conn, "console-test-current")
            .await
            .unwrap();
        current.once().await.unwrap();
        assert_eq!(instances::list(&db.conn).await.unwrap().len(), 1, "{what}");
        srv.stop().await;
    }
}

#[tokio::test]
async fn presence_registers_at_start_beats_and_deregisters_on_stop() {
    for db in testkit::databases("console_presence").await {
        let what = format!("{:?}", db.backend);
        let clock = Clock::Database;
        let slots = Arc::new(tokio::sync::Semaphore::new(3));
        let b = beat(
            &db.conn,
            &clock,
            "presence-test",
            Some(WorkerLoad::new(slots.clone(), 3)),
        );
        let presence = Presence::start(b, Duration::from_millis(50)).await;
        let rows = instances::list(&db.conn).await.unwrap();
        assert_eq!(rows.len(), 1, "{what}: registered before start returns");
        assert_eq!(rows[0].total_workers, 3, "{what}");
        let first_beat = rows[0].heartbeat_at;
        let _busy = slots.clone().acquire_many_owned(2).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let row = &instances::list(&db.conn).await.unwrap()[0];
            if row.busy_workers == 2 && row.heartbeat_at > first_beat {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: no beat: {row:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        presence.stop().await;
        assert!(
            instances::list(&db.conn).await.unwrap().is_empty(),
            "{what}: deregistered on stop"
        );
    }
}

// ---- ingestRunStats -------------------------------------------------------------------------

async fn seed_run(
    db: &DatabaseConnection,
    source: Source,
    trigger: RunTrigger,
    status: RunStatus,
    schedule_id: Option<i64>,
    queued_at: DateTime<Utc>,
) -> ingest_run::Model {
    let target = match source {
        Source::Seek | Source::Indeed => None,
        _ => Some("acme".to_owned()),
    };
    let keywords = target.is_none().then(|| "rust".to_owned());
    queue::enqueue(
        db,
        NewRun {
            schedule_id,
            status,
            error: (status == RunStatus::Failed).then(|| "boom".to_owned()),
            ..NewRun::manual(
                source,
                ingest::SearchParams {
                    target,
                    keywords,
                    max_pages: Some(2),
                    ..Default::default()
                },
                trigger,
            )
        },
        queued_at,
    )
    .await
    .unwrap()
}

/// A schedule (through `createSchedule`, with the token the retry test's server wants; a
/// loopback server without one ignores it).
async fn create_schedule(srv: &Server, name: &str) -> i64 {
    let v = srv
        .gql_with(
            &format!(
                r#"mutation {{ createSchedule(input: {{name: "{name}", source: LEVER, target: "acme", cron: "0 3 * * *"}}) {{ databaseId }} }}"#
            ),
            json!({}),
            Some("tok"),
        )
        .await;
    v["data"]["createSchedule"]["databaseId"]
        .as_i64()
        .unwrap_or_else(|| panic!("{v}"))
}

fn by_status(v: &Value) -> Vec<(String, u64)> {
    v["byStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

const STATUSES: [&str; 8] = [
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "BLOCKED",
    "CANCELLED",
    "INTERRUPTED",
    "SKIPPED",
];

#[tokio::test]
async fn ingest_run_stats_count_by_status_and_hour_with_known_data() {
    for db in testkit::databases("console_stats").await {
        let what = format!("{:?}", db.backend);
        let srv = server(&db.conn, policy(None, true, false)).await;
        let sched = create_schedule(&srv, "stats").await;
        let h = |hh: u32, mm: u32| Utc.with_ymd_and_hms(2026, 11, 30, hh, mm, 0).unwrap();
        use RunStatus as S;
        use RunTrigger as T;
        use Source::{Greenhouse as GH, Lever as LV, Seek as SK};
        // hour 10: 2 succeeded (one lever scheduled), 1 failed; hour 11: nothing;
        // hour 12: blocked, cancelled, interrupted, skipped (scheduled), queued;
        // before the window: a succeeded and a failed run; after it: a failed run.
        let rows = [
            (LV, T::Schedule, S::Succeeded, Some(sched), h(10, 5)),
            (GH, T::Manual, S::Succeeded, None, h(10, 59)),
            (SK, T::Manual, S::Failed, None, h(10, 30)),
            (SK, T::Manual, S::Blocked, None, h(12, 0)),
            (GH, T::Retry, S::Cancelled, None, h(12, 1)),
            (LV, T::Schedule, S::Interrupted, Some(sched), h(12, 2)),
            (LV, T::Schedule, S::Skipped, Some(sched), h(12, 3)),
            (GH, T::Manual, S::Queued, None, h(12, 59)),
            (GH, T::Manual, S::Succeeded, None, h(9, 59)),
            (LV, T::Cli, S::Failed, None, h(8, 0)),
            (SK, T::Manual, S::Failed, None, h(13, 0)),
        ];
        for (source, trigger, status, schedule, at) in rows {
            seed_run(&db.conn, source, trigger, status, schedule, at).await;
        }

        // All time, unfiltered: every status in enum order, zeros included.
        let v = srv
            .gql("{ ingestRunStats { total byStatus { status count } perHour { hour } } }")
            .await;
        assert!(v["errors"].is_null(), "{what}: {v}");
        let s = &v["data"]["ingestRunStats"];
        assert_eq!(s["total"], 11, "{what}");
        assert_eq!(
            by_status(s),
            STATUSES
                .iter()
                .zip([1, 0, 3, 3, 1, 1, 1, 1])
                .map(|(st, n)| (st.to_string(), n))
                .collect::<Vec<_>>(),
            "{what}"
        );
        assert_eq!(s["perHour"], json!([]), "{what}: no window, no hours");

        // The window [10:00, 13:00): per hour, zeros included.
        let v = srv
            .gql(
                r#"{ ingestRunStats(from: "2026-11-30T10:00:00Z", to: "2026-11-30T13:00:00Z") {
                    total byStatus { status count }
                    perHour { hour succeeded failed blocked cancelled interrupted other } } }"#,
            )
            .await;
        assert!(v["errors"].is_null(), "{what}: {v}");
        let s = &v["data"]["ingestRunStats"];
        assert_eq!(s["total"], 8, "{what}");
        let hours = s["perHour"].as_array().unwrap();
        assert_eq!(hours.len(), 3, "{what}: {hours:?}");
        let row = |i: usize| {
            let r = &hours[i];
            (
                ts(r["hour"].as_str().unwrap()),
                [
                    "succeeded",
                    "failed",
                    "blocked",
                    "cancelled",
                    "interrupted",
                    "other",
                ]
                .map(|f| r[f].as_u64().unwrap()),
            )
        };
        assert_eq!(row(0), (h(10, 0), [2, 1, 0, 0, 0, 0]), "{what}");
        assert_eq!(row(1), (h(11, 0), [0, 0, 0, 0, 0, 0]), "{what}");
        assert_eq!(row(2), (h(12, 0), [0, 0, 1, 1, 1, 2]), "{what}");

        // Filters: source, trigger, schedule (and a window that starts mid-hour).
        for (filter, want_total, want_failed) in [
            (r#"{sources: [SEEK]}"#, 3, 2),
            (r#"{sources: [SEEK], statuses: [FAILED]}"#, 2, 2),
            (r#"{triggers: [SCHEDULE]}"#, 3, 0),
            (r#"{triggers: [RETRY]}"#, 1, 0),
            (&*format!(r#"{{scheduleId: "{sched}"}}"#), 3, 0),
        ] {
            let v = srv
                .gql(&format!(
                    "{{ ingestRunStats(filter: {filter}) {{ total byStatus {{ status count }} }} }}"
                ))
                .await;
            assert!(v["errors"].is_null(), "{what} {filter}: {v}");
            let s = &v["data"]["ingestRunStats"];
            assert_eq!(s["total"], want_total, "{what} {filter}");
            let failed = by_status(s)
                .into_iter()
                .find(|(st, _)| st == "FAILED")
                .unwrap()
                .1;
            assert_eq!(failed, want_failed, "{what} {filter}");
            assert_eq!(by_status(s).len(), 8, "{what} {filter}");
        }
        let v = srv
            .gql(
                r#"{ ingestRunStats(filter: {sources: [LEVER]}, from: "2026-11-30T10:30:00Z", to: "2026-11-30T12:30:00Z") {
                    total perHour { hour succeeded interrupted other } } }"#,
            )
            .await;
        let s = &v["data"]["ingestRunStats"];
        assert_eq!(s["total"], 2, "{what}: {v}");
        let hours = s["perHour"].as_array().unwrap();
        assert_eq!(hours.len(), 3, "{what}: 10:00, 11:00, 12:00: {v}");
        assert_eq!(hours[0]["succeeded"], 0, "{what}: 10:05 is before `from`");
        assert_eq!(hours[2]["interrupted"], 1, "{what}");
        assert_eq!(hours[2]["other"], 1, "{what}");

        // Bounds.
        let v = srv
            .gql(r#"{ ingestRunStats(from: "2026-10-01T00:00:00Z", to: "2026-11-02T00:00:00Z") { perHour { hour } } }"#)
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{what}: {v}");
        assert!(message(&v).contains("31 days"), "{what}: {v}");
        // 31 days exactly is allowed: 744 hours.
        let v = srv
            .gql(r#"{ ingestRunStats(from: "2026-11-01T00:00:00Z", to: "2026-12-02T00:00:00Z") { total perHour { hour } } }"#)
            .await;
        assert!(v["errors"].is_null(), "{what}: {v}");
        assert_eq!(
            v["data"]["ingestRunStats"]["perHour"]
                .as_array()
                .unwrap()
                .len(),
            744
        );
        // Counts without hours may cover any range.
        let v = srv
            .gql(r#"{ ingestRunStats(from: "2026-01-01T00:00:00Z", to: "2026-12-31T00:00:00Z") { total } }"#)
            .await;
        assert_eq!(v["data"]["ingestRunStats"]["total"], 11, "{what}: {v}");
        let v = srv
            .gql(r#"{ ingestRunStats(from: "2026-12-01T00:00:00Z", to: "2026-11-01T00:00:00Z") { total } }"#)
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{what}: {v}");
        srv.stop().await;
    }
}

// ---- retryIngestRun -------------------------------------------------------------------------

#[tokio::test]
async fn retry_ingest_run_copies_allowed_runs_and_refuses_the_others() {
    for db in testkit::databases("console_retry").await {
        let what = format!("{:?}", db.backend);
        let srv = server(&db.conn, policy(Some("tok"), true, false)).await;
        let sched = create_schedule(&srv, "retry").await;
        let mut events = srv.state.api.runs.engine().bus.subscribe();
        let at = Utc::now() - TimeDelta::hours(1);
        for status in RunStatus::ALL {
            let original = seed_run(
                &db.conn,
                Source::Lever,
                RunTrigger::Schedule,
                *status,
                Some(sched),
                at,
            )
            .await;
            let id = format!("{}", original.id);
            let mutation = "mutation($id: ID!) { retryIngestRun(id: $id) { id databaseId \
                 status trigger source params scheduleId attempt scheduledFor } }";
            // Like every mutation, it needs the writer.
            let v = srv.gql_with(mutation, json!({"id": id}), None).await;
            assert_eq!(code(&v), "UNAUTHENTICATED", "{what} {status}: {v}");

            let v = srv.gql_with(mutation, json!({"id": id}), Some("tok")).await;
            let allowed = matches!(
                status,
                RunStatus::Failed
                    | RunStatus::Interrupted
                    | RunStatus::Blocked
                    | RunStatus::Cancelled
            );
            if !allowed {
                assert_eq!(code(&v), "BAD_USER_INPUT", "{what} {status}: {v}");
                assert_eq!(
                    message(&v),
                    format!(
                        "ingest run {} is {status}: only failed, interrupted, blocked or \
                         cancelled runs can be retried",
                        original.id
                    ),
                    "{what}"
                );
                continue;
            }
            assert!(v["errors"].is_null(), "{what} {status}: {v}");
            let r = &v["data"]["retryIngestRun"];
            assert_eq!(r["status"], "QUEUED", "{what} {status}");
            assert_eq!(r["trigger"], "RETRY", "{what} {status}");
            assert_eq!(r["source"], "LEVER", "{what} {status}");
            assert_eq!(r["params"], original.params, "{what} {status}");
            assert_eq!(r["scheduleId"], sched, "{what} {status}");
            assert_eq!(r["attempt"], 1, "{what} {status}");
            assert!(r["scheduledFor"].is_null(), "{what} {status}");
            let new_id = r["databaseId"].as_i64().unwrap();
            assert!(new_id > original.id, "{what}");
            // The same queue path as startIngest: announced and the worker pool woken.
            let event = tokio::time::timeout(Duration::from_secs(2), events.recv())
                .await
                .unwrap_or_else(|_| panic!("{what} {status}: no QUEUED event"))
                .unwrap();
            assert!(
                matches!(event, IngestEvent::RunQueued { run_id, .. } if run_id == new_id),
                "{what}: {event:?}"
            );
            tokio::time::timeout(
                Duration::from_secs(1),
                srv.state.api.runs.wake().on_run_queued(),
            )
            .await
            .unwrap_or_else(|_| panic!("{what}: the worker pool was not woken"));
            // The original is untouched.
            let stored = ingest_run::Entity::find_by_id(original.id)
                .one(&db.conn)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stored, original, "{what}");
            // The new run is listed under the RETRY trigger.
            let v = srv
                .gql("{ ingestRuns(filter: {triggers: [RETRY]}, first: 1) { nodes { databaseId } } }")
                .await;
            assert_eq!(
                v["data"]["ingestRuns"]["nodes"][0]["databaseId"], new_id,
                "{what}"
            );
        }
        let retries = ingest_run::Entity::find()
            .all(&db.conn)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.trigger == RunTrigger::Retry)
            .count();
        assert_eq!(retries, 4, "{what}");

        // Unknown runs, and runs that cannot be scraped again.
        let v = srv
            .gql_with(
                r#"mutation { retryIngestRun(id: "987654") { id } }"#,
                json!({}),
                Some("tok"),
            )
            .await;
        assert_eq!(code(&v), "NOT_FOUND", "{what}: {v}");
        let import = seed_run(
            &db.conn,
            Source::Linkedin,
            RunTrigger::Import,
            RunStatus::Failed,
            None,
            at,
        )
        .await;
        let v = srv
            .gql_with(
                "mutation($id: ID!) { retryIngestRun(id: $id) { id } }",
                json!({"id": import.id.to_string()}),
                Some("tok"),
            )
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{what}: {v}");
        assert!(message(&v).contains("jobintel import"), "{what}: {v}");
        srv.stop().await;
    }
}

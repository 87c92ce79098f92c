//! Ingest control and schedule mutations over HTTP against the real router on 127.0.0.1:0:
//! the token policy, input validation, and a schedule through its whole life.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use entity::{RunStatus, ingest_run};
use jobintel::config::Secret;
use jobintel::graphql::auth::AuthPolicy;
use jobintel::server;
use jobintel::state::{AppState, ServerSettings};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

struct Server {
    addr: SocketAddr,
    state: AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(db: &testkit::TestDb, auth: AuthPolicy) -> Server {
    jobintel::install_crypto_provider();
    let state = AppState::new(
        db.conn.clone(),
        ServerSettings {
            auth,
            ..ServerSettings::default()
        },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, state.clone(), async move {
        let _ = rx.await;
    }));
    Server {
        addr,
        state,
        stop,
        task,
    }
}

fn policy(token: Option<&str>, loopback_only: bool, protect_reads: bool) -> AuthPolicy {
    AuthPolicy {
        token: token.map(Secret::new),
        protect_reads,
        loopback_only,
    }
}

impl Server {
    async fn gql(&self, token: Option<&str>, query: &str) -> Value {
        let mut req = reqwest::Client::new()
            .post(format!("http://{}/graphql", self.addr))
            .json(&json!({ "query": query }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops within 10 s")
            .unwrap()
            .unwrap();
    }
}

fn code(v: &Value) -> &str {
    v["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

fn message(v: &Value) -> &str {
    v["errors"][0]["message"].as_str().unwrap_or("")
}

const ALL_MUTATIONS: [&str; 9] = [
    r#"mutation { startIngest(input: {source: LEVER, target: "acme"}) { id } }"#,
    r#"mutation { cancelIngestRun(id: "1") { id } }"#,
    r#"mutation { createSchedule(input: {name: "x", source: LEVER, target: "acme", cron: "0 * * * *"}) { id } }"#,
    r#"mutation { updateSchedule(id: "1", input: {cron: "5 * * * *"}) { id } }"#,
    r#"mutation { deleteSchedule(id: "1") }"#,
    r#"mutation { pauseSchedule(id: "1") { id } }"#,
    r#"mutation { resumeSchedule(id: "1") { id } }"#,
    r#"mutation { runScheduleNow(id: "1") { id } }"#,
    r#"mutation { retryIngestRun(id: "1") { id } }"#,
];

#[tokio::test]
async fn every_mutation_requires_the_bearer_token() {
    let db = testkit::sqlite("mut_token").await;
    let srv = start(&db, policy(Some("s3cret-token"), true, false)).await;
    for m in ALL_MUTATIONS {
        for token in [None, Some("wrong"), Some("s3cret-tokenX"), Some("")] {
            let v = srv.gql(token, m).await;
            assert_eq!(code(&v), "UNAUTHENTICATED", "{m} with {token:?}: {v}");
            assert!(message(&v).contains("Bearer"), "{v}");
            assert!(v["data"].is_null(), "{v}");
        }
        let v = srv.gql(Some("s3cret-token"), m).await;
        assert_ne!(code(&v), "UNAUTHENTICATED", "{m}: {v}");
    }
    // Nothing was written by the refused calls.
    let runs = ingest_run::Entity::find().all(&db.conn).await.unwrap();
    // Only the authenticated startIngest, and the authenticated retryIngestRun of it (it was
    // cancelled by the authenticated cancelIngestRun before).
    assert_eq!(
        runs.iter().map(|r| r.trigger).collect::<Vec<_>>(),
        [entity::RunTrigger::Manual, entity::RunTrigger::Retry],
        "{runs:?}"
    );
    // Reads stay public.
    let v = srv
        .gql(None, "{ schedules { edges { node { id } } } }")
        .await;
    assert!(v["errors"].is_null(), "{v}");
    srv.stop().await;
}

#[tokio::test]
async fn without_a_token_mutations_work_only_on_a_loopback_server() {
    let db = testkit::sqlite("mut_loopback").await;
    let m = ALL_MUTATIONS[0];
    let local = start(&db, policy(None, true, false)).await;
    let v = local.gql(None, m).await;
    assert!(v["errors"].is_null(), "{v}");
    local.stop().await;

    let public = start(&db, policy(None, false, false)).await;
    let v = public.gql(None, m).await;
    assert_eq!(code(&v), "UNAUTHENTICATED", "{v}");
    assert!(message(&v).contains("JOBINTEL_API_TOKEN"), "{v}");
    public.stop().await;
}

#[tokio::test]
async fn protected_reads_need_the_token_for_schedules_too() {
    let db = testkit::sqlite("mut_reads").await;
    let srv = start(&db, policy(Some("tok"), true, true)).await;
    for q in [
        "{ schedules { edges { node { id } } } }",
        r#"{ schedule(id: "1") { id } }"#,
    ] {
        let v = srv.gql(None, q).await;
        assert_eq!(code(&v), "UNAUTHENTICATED", "{q}: {v}");
        let v = srv.gql(Some("tok"), q).await;
        assert!(v["errors"].is_null(), "{q}: {v}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn start_ingest_queues_a_run_and_returns_it_at_once() {
    for db in testkit::databases("mut_start").await {
        let srv = start(&db, policy(Some("tok"), true, false)).await;
        let mut events = srv.state.api.runs.engine().bus.subscribe();
        let v = srv
            .gql(
                Some("tok"),
                r#"mutation { startIngest(input: {source: SEEK, keywords: " rust ",
                    location: "Sydney NSW", maxPages: 2, country: "AU"}) {
                    id databaseId source status trigger attempt params scheduleId } }"#,
            )
            .await;
        let run = &v["data"]["startIngest"];
        assert_eq!(run["status"], "QUEUED", "{v}");
        assert_eq!(run["source"], "SEEK");
        assert_eq!(run["trigger"], "MANUAL");
        assert_eq!(run["attempt"], 1);
        assert!(run["scheduleId"].is_null());
        // Normalised by the engine's validation.
        assert_eq!(
            run["params"],
            json!({"keywords": "rust", "location": "Sydney NSW", "max_pages": 2, "country": "au"})
        );
        let id = run["databaseId"].as_i64().unwrap();
        let stored = ingest_run::Entity::find_by_id(id)
            .one(&db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, RunStatus::Queued);
        let ev = tokio::time::timeout(Duration::from_secs(2), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ev.run_id(), id);
        // Readable at once through the read API.
        let gid = run["id"].as_str().unwrap();
        let v = srv
            .gql(
                None,
                &format!(r#"{{ ingestRun(id: "{gid}") {{ status }} }}"#),
            )
            .await;
        assert_eq!(v["data"]["ingestRun"]["status"], "QUEUED", "{v}");
        srv.stop().await;
    }
}

#[tokio::test]
async fn input_errors_are_bad_user_input_and_say_what_is_wrong() {
    let db = testkit::sqlite("mut_input").await;
    let srv = start(&db, policy(Some("tok"), true, false)).await;
    let cases: &[(&str, &str)] = &[
        (
            r#"mutation { startIngest(input: {source: GREENHOUSE}) { id } }"#,
            "greenhouse needs `target`",
        ),
        (
            r#"mutation { startIngest(input: {source: INDEED}) { id } }"#,
            "Indeed needs `keywords` or `location`",
        ),
        (
            r#"mutation { startIngest(input: {source: SEEK, maxPages: 0}) { id } }"#,
            "maxPages must be at least 1",
        ),
        (
            r#"mutation { createSchedule(input: {name: "a", source: LEVER, target: "acme", cron: "0 25 * * *"}) { id } }"#,
            "invalid cron expression `0 25 * * *`: field 2 (hour) `25` is not valid",
        ),
        (
            r#"mutation { createSchedule(input: {name: "a", source: LEVER, target: "acme", cron: "0 9 * *"}) { id } }"#,
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), got 4",
        ),
        (
            r#"mutation { createSchedule(input: {name: "a", source: LEVER, target: "acme", cron: "0 9 * * *", timeZone: "Mars/Olympus"}) { id } }"#,
            "unknown time zone `Mars/Olympus`",
        ),
        (
            r#"mutation { createSchedule(input: {name: "a", source: JSONLD, cron: "0 9 * * *"}) { id } }"#,
            "jsonld needs `target`",
        ),
        (
            r#"mutation { createSchedule(input: {name: "a", source: LEVER, target: "acme", cron: "0 9 * * *", jitterSeconds: 99999}) { id } }"#,
            "`jitterSeconds` must be between 0 and 3600",
        ),
        (
            r#"mutation { createSchedule(input: {name: " ", source: LEVER, target: "acme", cron: "0 9 * * *"}) { id } }"#,
            "`name` must not be empty",
        ),
        // Import-only sources (JobSpy boards jobintel does not scrape) are searchable values
        // of `Source`, but no run or schedule can use them.
        (
            r#"mutation { startIngest(input: {source: LINKEDIN, keywords: "rust"}) { id } }"#,
            "`linkedin` is import-only",
        ),
        (
            r#"mutation { createSchedule(input: {name: "gd", source: GLASSDOOR, keywords: "rust", cron: "0 9 * * *"}) { id } }"#,
            "`glassdoor` is import-only",
        ),
    ];
    for (m, expected) in cases {
        let v = srv.gql(Some("tok"), m).await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{m}: {v}");
        assert!(message(&v).contains(expected), "{m}: {v}");
    }
    // `source` is the `Source` enum (GraphiQL completes it): anything else, a string included,
    // is refused before any resolver runs, with the type named.
    for m in [
        r#"mutation { startIngest(input: {source: MONSTER}) { id } }"#,
        r#"mutation { startIngest(input: {source: "seek", keywords: "rust"}) { id } }"#,
        r#"mutation { createSchedule(input: {name: "a", source: RSS, target: "acme", cron: "0 9 * * *"}) { id } }"#,
        r#"mutation { updateSchedule(id: "1", input: {source: "lever"}) { id } }"#,
    ] {
        let v = srv.gql(Some("tok"), m).await;
        assert_eq!(code(&v), "GRAPHQL_VALIDATION_FAILED", "{m}: {v}");
        assert!(message(&v).contains("Source"), "{m}: {v}");
    }
    let create = r#"mutation { createSchedule(input: {name: "dup", source: LEVER, target: "acme", cron: "0 9 * * *"}) { id } }"#;
    assert!(srv.gql(Some("tok"), create).await["errors"].is_null());
    let v = srv.gql(Some("tok"), create).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert!(
        message(&v).contains("a schedule named `dup` already exists"),
        "{v}"
    );
    // Nothing queued by the refused calls.
    assert!(
        ingest_run::Entity::find()
            .all(&db.conn)
            .await
            .unwrap()
            .is_empty()
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_schedule_through_its_life() {
    for db in testkit::databases("mut_life").await {
        let srv = start(&db, policy(Some("tok"), true, false)).await;
        let gql = |q: String| {
            let srv = &srv;
            async move {
                let v = srv.gql(Some("tok"), &q).await;
                assert!(v["errors"].is_null(), "{q}: {v}");
                v["data"].clone()
            }
        };
        let d = gql(r#"mutation { createSchedule(input: {
                name: "seek-rust-sydney", source: SEEK, keywords: "rust", location: "Sydney NSW",
                cron: "0 9 * * 1-5", timeZone: "Australia/Sydney", jitterSeconds: 30,
                overlapPolicy: SKIP, misfirePolicy: FIRE_ONCE, maxAttempts: 3, retryBackoffSeconds: 120 }) {
                id name source cron timeZone enabled jitterSeconds overlapPolicy misfirePolicy
                maxAttempts retryBackoffSeconds nextFireAt lastFireAt cronDescription
                upcomingFires(count: 3) lastRun { id } } }"#
            .into())
        .await;
        let s = &d["createSchedule"];
        assert_eq!(s["source"], "SEEK");
        assert_eq!(s["timeZone"], "Australia/Sydney");
        assert_eq!(s["overlapPolicy"], "SKIP");
        assert_eq!(s["misfirePolicy"], "FIRE_ONCE");
        assert!(s["lastRun"].is_null() && s["lastFireAt"].is_null());
        let fires = s["upcomingFires"].as_array().unwrap();
        assert_eq!(fires.len(), 3);
        assert_eq!(fires[0], s["nextFireAt"]);
        for f in fires {
            let at = chrono::DateTime::parse_from_rfc3339(f.as_str().unwrap()).unwrap();
            let local = at.with_timezone(&chrono_tz::Australia::Sydney);
            assert_eq!(local.format("%H:%M").to_string(), "09:00", "{f}");
            assert!(!matches!(
                chrono::Datelike::weekday(&local),
                chrono::Weekday::Sat | chrono::Weekday::Sun
            ));
        }
        let id = s["id"].as_str().unwrap().to_owned();

        // Run now: queued; again while it waits: recorded as skipped (overlap SKIP).
        let first = gql(format!(
            r#"mutation {{ runScheduleNow(id: "{id}") {{ id status trigger scheduleId }} }}"#
        ))
        .await;
        assert_eq!(first["runScheduleNow"]["status"], "QUEUED");
        assert_eq!(first["runScheduleNow"]["trigger"], "MANUAL");
        let second = gql(format!(
            r#"mutation {{ runScheduleNow(id: "{id}") {{ id status error }} }}"#
        ))
        .await;
        assert_eq!(second["runScheduleNow"]["status"], "SKIPPED");
        assert!(
            second["runScheduleNow"]["error"]
                .as_str()
                .unwrap()
                .contains("still queued")
        );

        // The list with lastRun (batched), and the schedule's runs, newest first.
        let d = gql(
            "{ schedules(first: 10) { edges { node { name lastRun { id status } } } pageInfo { hasNextPage } } }".into(),
        )
        .await;
        let node = &d["schedules"]["edges"][0]["node"];
        assert_eq!(node["lastRun"]["id"], second["runScheduleNow"]["id"]);
        assert_eq!(node["lastRun"]["status"], "SKIPPED");
        let d = gql(format!(
            r#"{{ schedule(id: "{id}") {{ runs(first: 1) {{ edges {{ cursor node {{ status }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}"#
        ))
        .await;
        let runs = &d["schedule"]["runs"];
        assert_eq!(runs["edges"][0]["node"]["status"], "SKIPPED");
        assert_eq!(runs["pageInfo"]["hasNextPage"], true);
        let after = runs["pageInfo"]["endCursor"].as_str().unwrap();
        let d = gql(format!(
            r#"{{ schedule(id: "{id}") {{ runs(first: 5, after: "{after}", status: QUEUED) {{ edges {{ node {{ id }} }} pageInfo {{ hasNextPage }} }} }} }}"#
        ))
        .await;
        assert_eq!(
            d["schedule"]["runs"]["edges"][0]["node"]["id"],
            first["runScheduleNow"]["id"]
        );

        // Edit the cron: next fire recomputed, nothing fired.
        let d = gql(format!(
            r#"mutation {{ updateSchedule(id: "{id}", input: {{cron: "30 7 * * *", keywords: ""}}) {{ cron nextFireAt params }} }}"#
        ))
        .await;
        let u = &d["updateSchedule"];
        assert_eq!(u["cron"], "30 7 * * *");
        assert!(u["params"].get("keywords").is_none(), "{u}");
        let next = chrono::DateTime::parse_from_rfc3339(u["nextFireAt"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono_tz::Australia::Sydney);
        assert_eq!(next.format("%H:%M").to_string(), "07:30");

        // Pause and resume.
        let d = gql(format!(
            r#"mutation {{ pauseSchedule(id: "{id}") {{ enabled nextFireAt upcomingFires }} }}"#
        ))
        .await;
        assert_eq!(
            d["pauseSchedule"],
            json!({"enabled": false, "nextFireAt": null, "upcomingFires": []})
        );
        let d = gql("{ schedules(enabled: false) { edges { node { name } } } }".into()).await;
        assert_eq!(d["schedules"]["edges"].as_array().unwrap().len(), 1);
        let d = gql(format!(
            r#"mutation {{ resumeSchedule(id: "{id}") {{ enabled nextFireAt }} }}"#
        ))
        .await;
        assert_eq!(d["resumeSchedule"]["enabled"], true);
        assert_eq!(d["resumeSchedule"]["nextFireAt"], u["nextFireAt"]);

        // Delete: the queued run is cancelled, the runs stay, the schedule is gone.
        let d = gql(format!(r#"mutation {{ deleteSchedule(id: "{id}") }}"#)).await;
        assert_eq!(d["deleteSchedule"], json!(id));
        let d = gql(format!(r#"{{ schedule(id: "{id}") {{ id }} }}"#)).await;
        assert!(d["schedule"].is_null());
        let runs = ingest_run::Entity::find().all(&db.conn).await.unwrap();
        assert_eq!(runs.len(), 2);
        assert!(runs.iter().all(|r| r.schedule_id.is_none()));
        assert!(
            runs.iter()
                .all(|r| matches!(r.status, RunStatus::Cancelled | RunStatus::Skipped))
        );
        let v = srv
            .gql(
                Some("tok"),
                &format!(r#"mutation {{ pauseSchedule(id: "{id}") {{ id }} }}"#),
            )
            .await;
        assert_eq!(code(&v), "NOT_FOUND", "{v}");
        srv.stop().await;
    }
}

#[tokio::test]
async fn cancel_ingest_run_cancels_queued_runs_and_refuses_finished_ones() {
    let db = testkit::sqlite("mut_cancel").await;
    let srv = start(&db, policy(Some("tok"), true, false)).await;
    let v = srv
        .gql(
            Some("tok"),
            r#"mutation { startIngest(input: {source: LEVER, target: "acme"}) { id } }"#,
        )
        .await;
    let id = v["data"]["startIngest"]["id"].as_str().unwrap().to_owned();
    let cancel =
        format!(r#"mutation {{ cancelIngestRun(id: "{id}") {{ status finishedAt error }} }}"#);
    let v = srv.gql(Some("tok"), &cancel).await;
    assert_eq!(v["data"]["cancelIngestRun"]["status"], "CANCELLED", "{v}");
    assert!(v["data"]["cancelIngestRun"]["finishedAt"].is_string());
    let v = srv.gql(Some("tok"), &cancel).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert!(message(&v).contains("already finished (cancelled)"), "{v}");
    let v = srv
        .gql(
            Some("tok"),
            r#"mutation { cancelIngestRun(id: "424242") { id } }"#,
        )
        .await;
    assert_eq!(code(&v), "NOT_FOUND", "{v}");
    srv.stop().await;
}

#[test]
fn serve_refuses_a_public_address_without_a_token() {
    let dir = std::env::temp_dir().join(format!("jobintel-mut-public-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.join("j.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_jobintel"))
        .current_dir(&dir)
        .env_remove("JOBINTEL_API_TOKEN")
        .env("DATABASE_URL", &db)
        .env("JOBINTEL_BIND", "0.0.0.0:0")
        .arg("serve")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("JOBINTEL_API_TOKEN"), "{stderr}");
    assert!(stderr.contains("0.0.0.0:0"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

//! The runs service (`service::runs::Runs`) on a fresh SQLite and PostgreSQL database each: the
//! one path by which `startIngest`, `cancelIngestRun`, `jobintel ingest` and the worker pool
//! start, execute and cancel runs.

use std::time::Duration;

use entity::{RunStatus, RunTrigger, Source, ingest_run};
use ingest::SearchParams;
use ingest::engine::{BaseUrls, Engine, EngineConfig};
use ingest::events::{EventBus, IngestEvent};
use ingest::fetch::{FetchConfig, Fetcher};
use jobintel::error::ApiError;
use jobintel::scheduling::clock::Clock;
use jobintel::service::queue;
use jobintel::service::runs::{Runs, StartRun};
use jobintel::service::wake::Wakeups;
use sea_orm::{DatabaseConnection, EntityTrait};
use tokio_util::sync::CancellationToken;

/// A Greenhouse board that answers after `delay` (robots.txt at once).
async fn slow_board(delay: Duration) -> url::Url {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\n" }))
        .route(
            "/v1/boards/{token}/jobs",
            get(move || async move {
                tokio::time::sleep(delay).await;
                ([("content-type", "application/json")], r#"{"jobs": []}"#)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    url::Url::parse(&format!("http://{addr}")).unwrap()
}

fn runs_for(db: &DatabaseConnection, greenhouse: Option<url::Url>) -> Runs {
    jobintel::install_crypto_provider();
    let fetch = FetchConfig {
        allow_private_network: true,
        json_rate_per_sec: 1000.0,
        ..FetchConfig::default()
    };
    let engine = Engine::new(
        db.clone(),
        Fetcher::new(fetch).unwrap(),
        EventBus::default(),
        EngineConfig {
            base_urls: greenhouse
                .map(|url| BaseUrls::from([(entity::Source::Greenhouse, url)]))
                .unwrap_or_default(),
            ..EngineConfig::default()
        },
    );
    Runs::new(db.clone(), engine, Wakeups::default(), Clock::Database)
}

fn greenhouse(target: Option<&str>, trigger: RunTrigger) -> StartRun {
    StartRun {
        source: Source::Greenhouse,
        params: SearchParams {
            target: target.map(str::to_owned),
            ..SearchParams::default()
        },
        trigger,
    }
}

async fn row(db: &DatabaseConnection, id: i64) -> ingest_run::Model {
    ingest_run::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

fn message(e: ApiError) -> (&'static str, String) {
    (e.code(), e.message())
}

#[tokio::test]
async fn queue_validates_stores_announces_and_wakes_the_worker_pool() {
    for db in testkit::databases("runs_queue").await {
        let what = format!("{:?}", db.backend);
        let runs = runs_for(&db.conn, None);
        let mut events = runs.engine().bus.subscribe();

        // Bad input: refused with what to pass, nothing stored.
        let (code, msg) = message(
            runs.queue(greenhouse(None, RunTrigger::Manual))
                .await
                .unwrap_err(),
        );
        assert_eq!(code, "BAD_USER_INPUT", "{what}");
        assert!(msg.contains("target"), "{what}: {msg}");
        assert!(
            ingest_run::Entity::find()
                .all(&db.conn)
                .await
                .unwrap()
                .is_empty(),
            "{what}"
        );

        let run = runs
            .queue(greenhouse(Some("  acme "), RunTrigger::Manual))
            .await
            .unwrap();
        assert_eq!(run.status, RunStatus::Queued, "{what}");
        assert_eq!(run.trigger, RunTrigger::Manual, "{what}");
        assert_eq!(
            run.params["target"], "acme",
            "{what}: params are normalised"
        );
        assert!(run.lease_owner.is_none(), "{what}: left to the worker pool");
        assert!(
            matches!(events.try_recv(), Ok(IngestEvent::RunQueued { run_id, .. }) if run_id == run.id),
            "{what}"
        );
        // The wake-up is stored for the pool's next wait.
        tokio::time::timeout(Duration::from_secs(1), runs.wake().on_run_queued())
            .await
            .unwrap_or_else(|_| panic!("{what}: the worker pool was not woken"));
    }
}

#[tokio::test]
async fn start_here_claims_the_run_so_no_worker_can() {
    for db in testkit::databases("runs_start_here").await {
        let what = format!("{:?}", db.backend);
        let runs = runs_for(&db.conn, None);
        let run = runs
            .start_here(greenhouse(Some("acme"), RunTrigger::Cli), "cli-test")
            .await
            .unwrap();
        assert_eq!(run.status, RunStatus::Running, "{what}");
        assert_eq!(run.trigger, RunTrigger::Cli, "{what}");
        assert_eq!(run.lease_owner.as_deref(), Some("cli-test"), "{what}");
        assert!(run.started_at.is_some(), "{what}");
        assert!(
            run.lease_expires_at.is_none(),
            "{what}: no lease, no heartbeats"
        );
        let now = Clock::Database.now(&db.conn).await.unwrap();
        let other = queue::claim_next(&db.conn, now, "worker", chrono::TimeDelta::minutes(1), 8)
            .await
            .unwrap();
        assert!(other.is_none(), "{what}: a worker claimed {other:?}");

        let (code, _) = message(
            runs.start_here(greenhouse(None, RunTrigger::Cli), "cli-test")
                .await
                .unwrap_err(),
        );
        assert_eq!(code, "BAD_USER_INPUT", "{what}");
    }
}

#[tokio::test]
async fn cancel_stops_a_run_executing_here_at_once() {
    let board = slow_board(Duration::from_secs(30)).await;
    for db in testkit::databases("runs_cancel_here").await {
        let what = format!("{:?}", db.backend);
        let runs = runs_for(&db.conn, Some(board.clone()));
        let run = runs
            .start_here(greenhouse(Some("acme"), RunTrigger::Cli), "cli-test")
            .await
            .unwrap();
        let executing = tokio::spawn({
            let runs = runs.clone();
            let run = run.clone();
            async move { runs.execute(&run, &CancellationToken::new()).await }
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !runs.registry().is_running(run.id) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: never registered"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let cancelled = runs.cancel(run.id).await.unwrap();
        assert_eq!(cancelled.status, RunStatus::Cancelled, "{what}");
        // The board would answer in 30 s: the run stopped because the registry cancelled it.
        let report = tokio::time::timeout(Duration::from_secs(10), executing)
            .await
            .unwrap_or_else(|_| panic!("{what}: the run did not stop"))
            .unwrap()
            .unwrap();
        assert_eq!(report.status, RunStatus::Cancelled, "{what}");
        assert!(
            !runs.registry().is_running(run.id),
            "{what}: still registered"
        );
        let stored = row(&db.conn, run.id).await;
        assert_eq!(stored.status, RunStatus::Cancelled, "{what}");
        assert!(stored.finished_at.is_some(), "{what}");
    }
}

#[tokio::test]
async fn cancel_ends_a_queued_run_and_refuses_finished_and_unknown_ones() {
    for db in testkit::databases("runs_cancel_queued").await {
        let what = format!("{:?}", db.backend);
        let runs = runs_for(&db.conn, None);
        let run = runs
            .queue(greenhouse(Some("acme"), RunTrigger::Manual))
            .await
            .unwrap();
        let cancelled = runs.cancel(run.id).await.unwrap();
        assert_eq!(cancelled.status, RunStatus::Cancelled, "{what}");
        assert_eq!(
            cancelled.error.as_deref(),
            Some("cancelled before it started"),
            "{what}"
        );
        assert!(cancelled.finished_at.is_some(), "{what}");

        let (code, msg) = message(runs.cancel(run.id).await.unwrap_err());
        assert_eq!(code, "BAD_USER_INPUT", "{what}");
        assert!(
            msg.contains("already finished (cancelled)"),
            "{what}: {msg}"
        );
        let (code, _) = message(runs.cancel(run.id + 1000).await.unwrap_err());
        assert_eq!(code, "NOT_FOUND", "{what}");
    }
}

/// The registry belongs to one application state: a second service on the same database (a
/// second server in the same process) neither sees nor stops the first one's runs locally.
#[tokio::test]
async fn registries_are_per_service_not_per_process() {
    let board = slow_board(Duration::from_secs(30)).await;
    let db = testkit::sqlite("runs_registry").await;
    let a = runs_for(&db.conn, Some(board.clone()));
    let b = runs_for(&db.conn, Some(board));
    let run = a
        .start_here(greenhouse(Some("acme"), RunTrigger::Cli), "a")
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let executing = tokio::spawn({
        let a = a.clone();
        let run = run.clone();
        let stop = stop.clone();
        async move { a.execute(&run, &stop).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !a.registry().is_running(run.id) {
        assert!(tokio::time::Instant::now() < deadline, "never registered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!b.registry().is_running(run.id));
    assert!(!b.registry().cancel(run.id));
    assert!(!stop.is_cancelled());
    stop.cancel();
    let report = executing.await.unwrap().unwrap();
    assert_eq!(report.status, RunStatus::Cancelled);
}

//! The exact response cache end to end (issue #16): real servers on SQLite and PostgreSQL,
//! real ingests against a local board, real housekeeping, two instances sharing PostgreSQL.
//! Every cached answer is checked against the database itself, and every test also checks
//! that the cache did answer (its `/metrics` counters), so none passes by never caching.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use jobintel::scheduler::housekeeping::{Retention, housekeep_fenced};
use jobintel::state::ServerSettings;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use support::*;

/// Every posting, by title, with the fields a write changes.
const POSTINGS: &str = "{ jobPostings(first: 50, orderBy: {field: TITLE, direction: ASC}) { totalCount nodes { externalId title isOpen } } }";

fn settings_for(base: &url::Url) -> ServerSettings {
    let mut s = test_settings();
    s.engine
        .base_urls
        .insert(entity::Source::Greenhouse, base.clone());
    s
}

/// A Greenhouse board holding one job per title (ids 1, 2, …), from the recorded fixture.
fn board(titles: &[&str]) -> String {
    let fixture: Value = serde_json::from_str(GREENHOUSE_BOARD).unwrap();
    let template = fixture["jobs"][0].clone();
    let jobs: Vec<Value> = titles
        .iter()
        .enumerate()
        .map(|(i, title)| {
            let mut job = template.clone();
            job["id"] = json!(1000 + i);
            job["internal_job_id"] = json!(5000 + i);
            job["title"] = json!(title);
            job["absolute_url"] = json!(format!("https://boards.example.com/acme/jobs/{i}"));
            job
        })
        .collect();
    json!({ "jobs": jobs, "meta": { "total": titles.len() } }).to_string()
}

/// What the database holds, in the shape of [`POSTINGS`]'s answer.
async fn truth(db: &DatabaseConnection) -> Value {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT external_id, title, closed_at IS NULL AS open FROM job_postings ORDER BY title",
        ))
        .await
        .unwrap();
    let nodes: Vec<Value> = rows
        .iter()
        .map(|r| {
            let open: bool = r
                .try_get::<bool>("", "open")
                .or_else(|_| r.try_get::<i32>("", "open").map(|n| n != 0))
                .unwrap();
            json!({
                "externalId": r.try_get::<String>("", "external_id").unwrap(),
                "title": r.try_get::<String>("", "title").unwrap(),
                "isOpen": open,
            })
        })
        .collect();
    json!({ "data": { "jobPostings": { "totalCount": nodes.len(), "nodes": nodes } } })
}

/// A counter or gauge from `/metrics`.
async fn metric(srv: &Server, name: &str) -> u64 {
    let text = reqwest::get(srv.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

/// Run a Greenhouse ingest of board `acme` on `srv` to its end.
async fn ingest(srv: &Server) {
    let run = queue_greenhouse_run(&srv.state).await;
    let report = execute(&srv.state, run).await.unwrap();
    assert_eq!(report.status, entity::RunStatus::Succeeded, "{report:?}");
}

#[tokio::test]
async fn a_write_on_this_instance_is_seen_by_the_next_read() {
    let body = Arc::new(Mutex::new(board(&["Cook"])));
    let base = greenhouse_stub_shared(body.clone()).await;
    for db in testkit::databases("rcache_local").await {
        let what = format!("{:?}", db.backend);
        let srv = start_with(&db.conn, settings_for(&base)).await;

        let empty = srv.gql(POSTINGS).await;
        assert_eq!(empty, truth(&db.conn).await, "{what}");
        assert_eq!(srv.gql(POSTINGS).await, empty, "{what}");
        assert_eq!(
            metric(&srv, "jobintel_response_cache_hits_total").await,
            1,
            "{what}"
        );

        *body.lock().unwrap() = board(&["Cook"]);
        ingest(&srv).await;
        let one = srv.gql(POSTINGS).await;
        assert_eq!(
            one,
            truth(&db.conn).await,
            "{what}: the page is seen at once"
        );
        assert_eq!(one["data"]["jobPostings"]["totalCount"], 1, "{what}");

        // A title changed and a posting added: the next read sees both.
        *body.lock().unwrap() = board(&["Head Cook", "Waiter"]);
        assert_eq!(
            srv.gql(POSTINGS).await,
            one,
            "{what}: cached until the write"
        );
        ingest(&srv).await;
        let two = srv.gql(POSTINGS).await;
        assert_eq!(two, truth(&db.conn).await, "{what}");
        assert_eq!(
            two["data"]["jobPostings"]["nodes"][0]["title"], "Head Cook",
            "{what}"
        );
        assert_eq!(srv.gql(POSTINGS).await, two, "{what}");
        assert_eq!(
            metric(&srv, "jobintel_response_cache_hits_total").await,
            3,
            "{what}"
        );
        assert_eq!(srv.state.api.runs.engine().generation.in_flight(), 0);
        srv.stop().await;
    }
}

#[tokio::test]
async fn housekeeping_that_closes_postings_is_seen_by_the_next_read() {
    let base = greenhouse_stub(board(&["Cook", "Waiter"])).await;
    for db in testkit::databases("rcache_housekeeping").await {
        let what = format!("{:?}", db.backend);
        let srv = start_with(&db.conn, settings_for(&base)).await;
        ingest(&srv).await;
        let open = "{ jobPostings(filter: {open: true}) { totalCount } jobStats { open } }";
        let before = srv.gql(open).await;
        assert_eq!(before["data"]["jobPostings"]["totalCount"], 2, "{what}");
        assert_eq!(srv.gql(open).await, before, "{what}");
        let hits = metric(&srv, "jobintel_response_cache_hits_total").await;
        assert_eq!(hits, 1, "{what}");

        let later = Utc::now() + TimeDelta::days(30);
        let report = housekeep_fenced(
            &db.conn,
            &srv.state.api.runs.engine().generation,
            later,
            Retention::default(),
        )
        .await
        .unwrap();
        assert_eq!(report.postings_closed, 2, "{what}");
        let after = srv.gql(open).await;
        assert_eq!(after["data"]["jobPostings"]["totalCount"], 0, "{what}");
        assert_eq!(after["data"]["jobStats"]["open"], 0, "{what}");
        assert_eq!(srv.gql(POSTINGS).await, truth(&db.conn).await, "{what}");
        srv.stop().await;
    }
}

/// A board that answers after `delay` (a run on it can be cancelled while it waits).
async fn slow_board(delay: Duration, body: String) -> url::Url {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\n" }))
        .route(
            "/v1/boards/{token}/jobs",
            get(move || {
                let body = body.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    ([("content-type", "application/json")], body)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    url::Url::parse(&format!("http://{addr}")).unwrap()
}

#[tokio::test]
async fn a_cancelled_run_leaves_exact_answers_and_caching_on() {
    let fast = greenhouse_stub(board(&["Cook"])).await;
    let slow = slow_board(Duration::from_secs(30), board(&["Baker", "Porter"])).await;
    for db in testkit::databases("rcache_cancel").await {
        let what = format!("{:?}", db.backend);
        let srv = start_with(&db.conn, settings_for(&fast)).await;
        ingest(&srv).await;
        let before = srv.gql(POSTINGS).await;
        assert_eq!(before, truth(&db.conn).await, "{what}");

        // A second server on the same database whose runs wait on the slow board: its run is
        // cancelled mid-fetch (cancellation writes the run row, never a posting).
        let other = start_with(&db.conn, settings_for(&slow)).await;
        let run = queue_greenhouse_run(&other.state).await;
        let executing = execute(&other.state, run.clone());
        let runs = other.state.api.runs.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !runs.registry().is_running(run.id) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not running"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let cancelled = runs.cancel(run.id).await.unwrap();
        assert_eq!(cancelled.status, entity::RunStatus::Cancelled, "{what}");
        let report = tokio::time::timeout(Duration::from_secs(10), executing)
            .await
            .expect("the run stops")
            .unwrap();
        assert_eq!(report.status, entity::RunStatus::Cancelled, "{what}");
        assert_eq!(runs.engine().generation.in_flight(), 0, "{what}");

        let hits = metric(&srv, "jobintel_response_cache_hits_total").await;
        let after = srv.gql(POSTINGS).await;
        assert_eq!(after, truth(&db.conn).await, "{what}");
        assert_eq!(
            after, before,
            "{what}: nothing of the cancelled run was stored"
        );
        assert_eq!(
            metric(&srv, "jobintel_response_cache_hits_total").await,
            hits + 1,
            "{what}: still cached"
        );
        // The same on the instance that ran (and cancelled) it: computed afresh (its own cache
        // is empty), stored, then served.
        assert_eq!(other.gql(POSTINGS).await, before, "{what}");
        assert_eq!(other.gql(POSTINGS).await, before, "{what}");
        assert_eq!(
            metric(&other, "jobintel_response_cache_hits_total").await,
            1,
            "{what}"
        );
        other.stop().await;
        srv.stop().await;
    }
}

#[tokio::test]
async fn a_write_on_one_postgres_instance_reaches_the_others_cache() {
    let Some(_) = testkit::postgres_admin_url() else {
        // Cross-instance invalidation is PostgreSQL-only (LISTEN/NOTIFY).
        return;
    };
    let body = Arc::new(Mutex::new(board(&["Cook"])));
    let base = greenhouse_stub_shared(body.clone()).await;
    let db = testkit::postgres("rcache_two").await;
    let mut sa = settings_for(&base);
    sa.listen_url = Some(db.url.clone());
    let mut sb = settings_for(&base);
    sb.listen_url = Some(db.url.clone());
    // Separate pools, as two processes would have.
    let conn_b = sea_orm::Database::connect(db.url.as_str()).await.unwrap();
    let a = start_with(&db.conn, sa).await;
    let b = start_with(&conn_b, sb).await;
    // Until B listens it stores nothing (it could miss A's notifications).
    let generation = b.state.api.runs.engine().generation.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while generation.in_flight() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "B never listened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    ingest(&a).await;
    let one = b.gql(POSTINGS).await;
    assert_eq!(one, truth(&db.conn).await);
    // A's last notifications (the run's end) may still be on their way, each one dropping
    // what B stored: B serves from its cache once they have all arrived.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metric(&b, "jobintel_response_cache_hits_total").await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "B never cached");
        assert_eq!(b.gql(POSTINGS).await, one);
    }

    *body.lock().unwrap() = board(&["Head Cook", "Waiter"]);
    let seen = generation.current();
    ingest(&a).await;
    // B stops serving the old answer once A's notification arrives (the run's own event
    // notifications may come earlier, before the page committed: B may store the old answer
    // again in between, and drops it when the page's announcement arrives).
    let fresh = truth(&db.conn).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while b.gql(POSTINGS).await != fresh {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A's notification never reached B"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_ne!(generation.current(), seen);
    let two = b.gql(POSTINGS).await;
    assert_eq!(two, truth(&db.conn).await);
    assert_eq!(two["data"]["jobPostings"]["totalCount"], 2);
    assert_eq!(b.gql(POSTINGS).await, two);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn evictions_keep_the_cache_within_its_bytes_and_zero_turns_it_off() {
    let base = greenhouse_stub(board(&["Cook", "Waiter", "Baker"])).await;
    for db in testkit::databases("rcache_bound").await {
        let what = format!("{:?}", db.backend);
        let mut settings = settings_for(&base);
        let limit = 4096;
        settings.response_cache_bytes = limit;
        let srv = start_with(&db.conn, settings).await;
        ingest(&srv).await;
        // 40 distinct answers of a few hundred bytes each: far more than 4 KiB.
        for n in 0..40 {
            // The comment makes each text, and so each key, distinct.
            let q = format!(
                "{{ jobPostings(first: {}) {{ totalCount nodes {{ title descriptionText }} }} }} # {n}",
                n % 3 + 1
            );
            let v = srv.gql(&q).await;
            assert!(v.get("errors").is_none(), "{what}: {v}");
            let bytes = metric(&srv, "jobintel_response_cache_bytes").await;
            assert!(bytes as usize <= limit, "{what}: {bytes} > {limit}");
        }
        assert!(
            metric(&srv, "jobintel_response_cache_evictions_total").await > 0,
            "{what}"
        );
        assert_eq!(
            metric(&srv, "jobintel_response_cache_max_bytes").await as usize,
            limit
        );
        srv.stop().await;

        let mut off = settings_for(&base);
        off.response_cache_bytes = 0;
        let srv = start_with(&db.conn, off).await;
        for _ in 0..3 {
            assert_eq!(srv.gql(POSTINGS).await, truth(&db.conn).await, "{what}");
        }
        assert_eq!(metric(&srv, "jobintel_response_cache_hits_total").await, 0);
        assert_eq!(metric(&srv, "jobintel_response_cache_entries").await, 0);
        srv.stop().await;
    }
}

#[tokio::test]
async fn live_fields_errors_and_mutations_are_never_cached() {
    let base = greenhouse_stub(board(&["Cook"])).await;
    for db in testkit::databases("rcache_uncached").await {
        let what = format!("{:?}", db.backend);
        let srv = start_with(&db.conn, settings_for(&base)).await;
        ingest(&srv).await;
        for q in [
            "{ jobPostings { nodes { lastRun { status heartbeatAt } } } }",
            "{ health { status } }",
            "{ ingestRuns { nodes { id status } } }",
            "{ jobPosting(id: \"nope\") { id } }",
        ] {
            srv.gql(q).await;
            srv.gql(q).await;
        }
        assert_eq!(
            metric(&srv, "jobintel_response_cache_hits_total").await,
            0,
            "{what}"
        );
        assert_eq!(
            metric(&srv, "jobintel_response_cache_entries").await,
            0,
            "{what}"
        );
        srv.stop().await;
    }
}

/// PostgreSQL: a search probes the full-text queue in the same statement as its page (read
/// from the index alone when nothing is queued); a page stored meanwhile must still be found
/// through the queue before the indexer has run, on every search. (On SQLite FTS5 is written
/// with the row: the same answers, nothing queued.)
#[tokio::test]
async fn a_search_finds_postings_still_queued_for_the_full_text_index() {
    let body = Arc::new(Mutex::new(board(&["Cook"])));
    let base = greenhouse_stub_shared(body.clone()).await;
    for db in testkit::databases("search_queue_watch").await {
        let what = format!("{:?}", db.backend);
        let mut settings = settings_for(&base);
        // Every answer from the database, not the response cache.
        settings.response_cache_bytes = 0;
        let srv = start_with(&db.conn, settings).await;
        let search = r#"{ jobPostings(first: 5, filter: {search: "waiter"}) { nodes { title } } }"#;
        let titles = |v: &Value| -> Vec<String> {
            v["data"]["jobPostings"]["nodes"]
                .as_array()
                .unwrap_or_else(|| panic!("{v}"))
                .iter()
                .map(|n| n["title"].as_str().unwrap().to_owned())
                .collect()
        };
        // Twice: the same statement again, empty queue.
        for _ in 0..2 {
            assert!(titles(&srv.gql(search).await).is_empty(), "{what}");
        }
        *body.lock().unwrap() = board(&["Cook", "Waiter"]);
        ingest(&srv).await;
        if db.backend == testkit::Backend::Postgres {
            let queued =
                testkit::count(&db.conn, "SELECT COUNT(*) FROM job_posting_search_queue").await;
            assert!(
                queued > 0,
                "no indexer runs in this server: the page waits in the queue"
            );
        }
        for round in ["queued", "queued, asked again"] {
            assert_eq!(
                titles(&srv.gql(search).await),
                ["Waiter"],
                "{what}: {round}"
            );
        }
        if db.backend == testkit::Backend::Postgres {
            ingest::search_index::refresh_all(&db.conn).await.unwrap();
        }
        assert_eq!(
            titles(&srv.gql(search).await),
            ["Waiter"],
            "{what}: indexed"
        );
        srv.stop().await;
    }
}

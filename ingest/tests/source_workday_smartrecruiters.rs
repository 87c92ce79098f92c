//! Workday and SmartRecruiters end to end: a local HTTP server on 127.0.0.1 answers the live
//! APIs' exact paths with the recorded fixtures (`tests/fixtures/workday`,
//! `tests/fixtures/smartrecruiters`), the engine's base URLs for both sources point at it, and
//! every test runs on each database backend (SQLite always, PostgreSQL with
//! `TEST_DATABASE_URL`).
//!
//! The shared `MockServer` routes by path only; Workday's listing is one path whose page is in
//! the POST body, so this file has its own small server that routes listing requests by their
//! offset (from the JSON body for Workday, from the query for SmartRecruiters).

mod support;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::{RunStatus, SalaryPeriod, SalarySource, Source, WorkArrangement, WorkType};
use ingest::SearchParams;
use ingest::engine::{BaseUrls, Engine, EngineConfig, validate_params};
use ingest::events::EventBus;
use serde_json::{Value, json};
use support::*;
use testkit::TestDb;
use url::Url;

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/",
            $path
        ))
    };
}

const NVIDIA_JOBS: &[u8] = fixture!("workday/nvidia_jobs_offset0.json");
const NVIDIA_JOB: &[u8] = fixture!("workday/nvidia_job_JR2024692.json");
const WORKDAY_JOBS: &[u8] = fixture!("workday/workday_jobs_offset0.json");
const WORKDAY_JOB: &[u8] = fixture!("workday/workday_job_JR-0105486.json");
const HIREVUE_POSTINGS: &[u8] = fixture!("smartrecruiters/hirevue_postings_offset0.json");
const HIREVUE_POSTING: &[u8] = fixture!("smartrecruiters/hirevue_posting_744000138728139.json");
const UBISOFT_POSTINGS: &[u8] = fixture!("smartrecruiters/ubisoft2_postings_offset0.json");
const UBISOFT_POSTING: &[u8] = fixture!("smartrecruiters/ubisoft2_posting_744000151103220.json");

const NVIDIA: &str = "nvidia.wd5/NVIDIAExternalCareerSite";
const NVIDIA_CXS: &str = "/wday/cxs/nvidia/NVIDIAExternalCareerSite";
const NVIDIA_JOB_PATH: &str = "/job/China-Shanghai/Custom-SOC-Intern---2027_JR2024692";
const WORKDAY: &str = "workday.wd5/Workday";
const WORKDAY_CXS: &str = "/wday/cxs/workday/Workday";
const WORKDAY_JOB_PATH: &str =
    "/job/USAVAReston/Sr-Site-Reliability-Engineer--US-Federal-_JR-0105486";

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<DateTime<Utc>> {
    Some(Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap())
}

/// `body` (JSON) after `edit`.
fn edit_json(body: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(body).unwrap();
    edit(&mut doc);
    serde_json::to_vec(&doc).unwrap()
}

/// The items at `indices` of the array at `field` of a recorded page, with `total` (a page
/// built from the recording's real postings, for pagination tests).
fn page_of(body: &[u8], field: &str, indices: &[usize], total_field: &str, total: u64) -> Vec<u8> {
    edit_json(body, |doc| {
        let items = doc[field].as_array().unwrap().clone();
        doc[field] = indices.iter().map(|&i| items[i].clone()).collect();
        doc[total_field] = total.into();
    })
}

// =============================================================================================
// The local server

/// One request the server received.
#[derive(Debug, Clone)]
struct Hit {
    key: String,
    method: String,
    /// Path and query as sent.
    target: String,
    body: Option<Value>,
}

#[derive(Default)]
struct ServerState {
    /// Route key → JSON body.
    bodies: Mutex<HashMap<String, Bytes>>,
    /// Route key → answers to give before the body (each once, in order).
    scripted: Mutex<HashMap<String, VecDeque<Reply>>>,
    hits: Mutex<Vec<Hit>>,
}

/// The route of a listing page at `offset` under `path`.
fn page_key(path: &str, offset: u64) -> String {
    format!("{path} offset={offset}")
}

/// Workday's listing page at `offset` for the cxs prefix `cxs`.
fn workday_page(cxs: &str, offset: u64) -> String {
    page_key(&format!("{cxs}/jobs"), offset)
}

/// SmartRecruiters' listing page at `offset` for `company`.
fn sr_page(company: &str, offset: u64) -> String {
    page_key(&format!("/v1/companies/{company}/postings"), offset)
}

/// SmartRecruiters' detail route for `id` of `company`.
fn sr_detail(company: &str, id: &str) -> String {
    format!("/v1/companies/{company}/postings/{id}")
}

async fn handle(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let method = request.method().to_string();
    let uri = request.uri().clone();
    let bytes = to_bytes(request.into_body(), 1 << 20).await.unwrap();
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    let query_offset = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "offset")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    let body_offset = body
        .as_ref()
        .and_then(|b| b.get("offset"))
        .and_then(Value::as_u64);
    let key = match body_offset.or(query_offset) {
        Some(offset) => page_key(uri.path(), offset),
        None => uri.path().to_owned(),
    };
    state.hits.lock().unwrap().push(Hit {
        key: key.clone(),
        method,
        target: uri.to_string(),
        body,
    });
    let scripted = state
        .scripted
        .lock()
        .unwrap()
        .get_mut(&key)
        .and_then(VecDeque::pop_front);
    if let Some(reply) = scripted {
        let mut response = Response::new(Body::from(reply.body));
        *response.status_mut() = reply.status;
        for (name, value) in reply.headers {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_str(&value).unwrap());
        }
        return response;
    }
    let found = state.bodies.lock().unwrap().get(&key).cloned();
    let (status, body, content_type) = match found {
        Some(body) => (StatusCode::OK, body, "application/json;charset=UTF-8"),
        None => (
            StatusCode::NOT_FOUND,
            Bytes::from("not found"),
            "text/plain",
        ),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Workday's and SmartRecruiters' APIs on 127.0.0.1 (robots.txt: 404, everything allowed).
struct ApiServer {
    base: Url,
    state: Arc<ServerState>,
}

impl ApiServer {
    async fn start() -> Self {
        let state = Arc::new(ServerState::default());
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ApiServer {
            base: Url::parse(&format!("http://{addr}/")).unwrap(),
            state,
        }
    }

    fn url(&self, path: &str) -> String {
        self.base.join(path).unwrap().to_string()
    }

    fn serve(&self, key: &str, body: impl Into<Bytes>) {
        self.state
            .bodies
            .lock()
            .unwrap()
            .insert(key.to_owned(), body.into());
    }

    fn script(&self, key: &str, reply: Reply) {
        self.state
            .scripted
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_default()
            .push_back(reply);
    }

    fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    /// Requests whose route key starts with `prefix`.
    fn hits_under(&self, prefix: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.key.starts_with(prefix))
            .collect()
    }

    fn reset_hits(&self) {
        self.state.hits.lock().unwrap().clear();
    }

    /// NVIDIA's recorded board: page 0 as recorded (3 of its 1023 postings: the recording was
    /// trimmed), an empty page after it, and the one recorded detail.
    fn serve_nvidia(&self) {
        self.serve(&workday_page(NVIDIA_CXS, 0), NVIDIA_JOBS);
        self.serve(
            &workday_page(NVIDIA_CXS, 20),
            json!({"total": 0, "jobPostings": [], "userAuthenticated": false}).to_string(),
        );
        self.serve(&format!("{NVIDIA_CXS}{NVIDIA_JOB_PATH}"), NVIDIA_JOB);
    }

    /// Workday's own board (4 of 347 recorded), an empty page after it, one detail.
    fn serve_workday(&self) {
        self.serve(&workday_page(WORKDAY_CXS, 0), WORKDAY_JOBS);
        self.serve(
            &workday_page(WORKDAY_CXS, 20),
            json!({"total": 0, "jobPostings": [], "facets": []}).to_string(),
        );
        self.serve(&format!("{WORKDAY_CXS}{WORKDAY_JOB_PATH}"), WORKDAY_JOB);
    }

    /// HireVue's recorded postings (all of a 5-posting board fit the first page of 100; the
    /// recording kept 3) and the one recorded detail.
    fn serve_hirevue(&self) {
        self.serve(&sr_page("HireVue", 0), HIREVUE_POSTINGS);
        self.serve(&sr_detail("HireVue", "744000138728139"), HIREVUE_POSTING);
    }
}

/// An engine whose Workday and SmartRecruiters base URLs are `api`'s (the support harness's
/// mock server stands by for everything else).
async fn harness(db: &TestDb, api: &ApiServer) -> Harness {
    let server = MockServer::start().await;
    let base_urls: BaseUrls = [
        (Source::Workday, api.base.clone()),
        (Source::SmartRecruiters, api.base.clone()),
    ]
    .into_iter()
    .collect();
    let engine = Engine::new(
        db.conn.clone(),
        fetcher(fetch_config()),
        EventBus::default(),
        EngineConfig {
            base_urls,
            ..EngineConfig::default()
        },
    );
    Harness { server, engine }
}

fn keywords(target_: &str, keywords: &str) -> SearchParams {
    SearchParams {
        keywords: Some(keywords.to_owned()),
        ..target(target_)
    }
}

fn max_pages(target_: &str, n: u32) -> SearchParams {
    SearchParams {
        max_pages: Some(n),
        ..target(target_)
    }
}

/// The offsets of the listing requests received under `prefix`, in order.
fn offsets(hits: &[Hit]) -> Vec<u64> {
    hits.iter()
        .filter_map(|h| h.key.rsplit_once(" offset=")?.1.parse().ok())
        .collect()
}

/// Midnight UTC `days` days before `at`.
fn days_before(at: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    (at.date_naive() - Duration::days(days))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
}

// =============================================================================================
// Workday

#[tokio::test]
async fn a_workday_run_stores_every_posting_with_the_details_of_new_ones() {
    for db in testkit::databases("wd_run").await {
        let api = ApiServer::start().await;
        api.serve_nvidia();
        let h = harness(&db, &api).await;
        let before = Utc::now();
        let out = h.run(Source::Workday, target(NVIDIA)).await;
        let after = Utc::now();
        let events = check_succeeded(&out, Source::Workday);
        let c = out.report.counters;
        assert_eq!(
            c.pages_fetched, 2,
            "page 0 and the empty page after the recording"
        );
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (3, 3, 0, 0)
        );
        assert_eq!(
            c.requests,
            1 + 2 + 3,
            "robots.txt, 2 listing pages, 3 details"
        );
        assert_eq!(c.http_errors, 2, "the two details the recording lacks: 404");
        assert_eq!(events.pages, 1);

        // The listing: POSTs of the live path, 20 a page, the offset in the body.
        let listing = api.hits_under(&format!("{NVIDIA_CXS}/jobs"));
        assert!(listing.iter().all(|h| h.method == "POST"));
        assert!(
            listing
                .iter()
                .all(|h| h.target == format!("{NVIDIA_CXS}/jobs"))
        );
        assert_eq!(
            listing
                .iter()
                .map(|h| h.body.clone().unwrap())
                .collect::<Vec<_>>(),
            [0, 20]
                .map(
                    |offset| json!({"limit": 20, "offset": offset, "searchText": "",
                                     "appliedFacets": {}})
                )
                .to_vec()
        );
        // One GET per new posting, at the cxs prefix plus its externalPath.
        let details: Vec<String> = api
            .hits_under(&format!("{NVIDIA_CXS}/job/"))
            .into_iter()
            .map(|h| {
                assert_eq!(h.method, "GET");
                h.target
            })
            .collect();
        assert_eq!(
            details,
            [
                NVIDIA_JOB_PATH,
                "/job/US-CA-Santa-Clara/Applied-Deep-Learning-PhD-Research-Intern--Reinforcement-Learning-for-LLMs---Fall-2026_JR2012398",
                "/job/US-CA-Santa-Clara/PhD-Software-Engineering-Intern--Decision-Intelligence---Fall-2026_JR2017522",
            ]
            .map(|p| format!("{NVIDIA_CXS}{p}"))
        );

        let rows = postings(h.db(), Source::Workday).await;
        assert_eq!(
            rows.iter()
                .map(|r| r.external_id.as_str())
                .collect::<Vec<_>>(),
            ["nvidia:JR2012398", "nvidia:JR2017522", "nvidia:JR2024692"]
        );
        for row in &rows {
            assert_eq!(row.company_external_id.as_deref(), Some("nvidia"));
            assert_eq!(row.first_run_id, Some(out.report.run.id));
            assert!(
                row.url
                    .starts_with(&api.url("NVIDIAExternalCareerSite/job/")),
                "{}",
                row.url
            );
        }

        // The posting with a recorded detail: the detail's company, dates, type, ad.
        let p = posting(h.db(), Source::Workday, "nvidia:JR2024692").await;
        assert_eq!(p.title, "Custom SOC Intern - 2027");
        assert_eq!(p.company.as_deref(), Some("CN05 NVIDIA Shanghai WFOE"));
        assert_eq!(
            p.url,
            api.url(&format!("NVIDIAExternalCareerSite{NVIDIA_JOB_PATH}"))
        );
        assert_eq!(p.location_raw.as_deref(), Some("China, Shanghai"));
        assert_eq!(p.city.as_deref(), Some("Shanghai"));
        assert_eq!(p.country.as_deref(), Some("CN"));
        assert_eq!(p.work_type, Some(WorkType::FullTime));
        assert_eq!(p.work_arrangement, WorkArrangement::Unknown);
        assert_eq!(p.posted_at, utc(2026, 9, 16, 0, 0, 0), "startDate, exact");
        assert_clean_description(&p);
        assert!(
            p.description_text
                .as_deref()
                .unwrap()
                .contains("Basic C/C++ knowledge is a must")
        );
        assert_eq!(p.salary_text, None);
        assert_eq!(p.raw.as_ref().unwrap()["externalPath"], NVIDIA_JOB_PATH);

        // A posting whose detail failed: the card alone, dated from "Posted 30+ Days Ago".
        let p = posting(h.db(), Source::Workday, "nvidia:JR2012398").await;
        assert_eq!(
            p.title,
            "Applied Deep Learning PhD Research Intern, Reinforcement Learning for LLMs - Fall 2026"
        );
        assert_eq!(p.company, None);
        assert_eq!(p.description_html, None);
        assert_eq!(p.location_raw.as_deref(), Some("US, CA, Santa Clara"));
        assert_eq!(p.city.as_deref(), Some("Santa Clara"));
        assert_eq!(p.region.as_deref(), Some("CA"));
        assert_eq!(p.country.as_deref(), Some("US"));
        let posted = p.posted_at.unwrap();
        assert!(
            posted == days_before(before, 30) || posted == days_before(after, 30),
            "30+ days ago is 30 days before the fetch: {posted}"
        );
    }
}

#[tokio::test]
async fn a_workday_detail_adds_the_pay_band_and_the_cards_remote_type_stays() {
    for db in testkit::databases("wd_pay").await {
        let api = ApiServer::start().await;
        api.serve_workday();
        let h = harness(&db, &api).await;
        let out = h.run(Source::Workday, target(WORKDAY)).await;
        check_succeeded(&out, Source::Workday);
        assert_eq!(out.report.counters.jobs_new, 4);

        let p = posting(h.db(), Source::Workday, "workday:JR-0105486").await;
        assert_eq!(p.title, "Sr. Site Reliability Engineer (US Federal)");
        assert_eq!(p.company.as_deref(), Some("Workday Government, LLC"));
        assert_eq!(p.salary_min, Some(151_500.0));
        assert_eq!(p.salary_max, Some(227_300.0));
        assert_eq!(p.salary_currency.as_deref(), Some("USD"));
        assert_eq!(p.salary_period, Some(SalaryPeriod::Year));
        assert_eq!(p.salary_source, Some(SalarySource::Parsed));
        assert_eq!(p.salary_annual_max, Some(227_300.0));
        assert_eq!(p.work_arrangement, WorkArrangement::OnSite);
        assert_eq!(p.work_type, Some(WorkType::FullTime));
        assert_eq!(
            (p.city.as_deref(), p.region.as_deref(), p.country.as_deref()),
            (Some("Reston"), Some("VA"), Some("US"))
        );
        assert_eq!(p.posted_at, utc(2026, 7, 25, 0, 0, 0));
        assert_clean_description(&p);

        // "Flex" on the card is Workday's hybrid model; the retitled posting keeps its path id.
        let p = posting(h.db(), Source::Workday, "workday:JR-0105494").await;
        assert_eq!(p.work_arrangement, WorkArrangement::Hybrid);
        let p = posting(h.db(), Source::Workday, "workday:JR-0105489-1").await;
        assert_eq!(p.title, "Sr Site Reliability Engineer (US Federal)");
    }
}

#[tokio::test]
async fn a_second_workday_run_finds_every_posting_unchanged_and_fetches_no_detail() {
    for db in testkit::databases("wd_again").await {
        let api = ApiServer::start().await;
        api.serve_nvidia();
        let h = harness(&db, &api).await;
        let first = h.run(Source::Workday, target(NVIDIA)).await;
        check_succeeded(&first, Source::Workday);
        let stored = postings(h.db(), Source::Workday).await;
        api.reset_hits();

        let second = h.run(Source::Workday, target(NVIDIA)).await;
        let events = check_succeeded(&second, Source::Workday);
        let c = second.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (3, 0, 0, 3)
        );
        assert!(events.added.is_empty() && events.updated.is_empty());
        assert!(
            api.hits_under(&format!("{NVIDIA_CXS}/job/")).is_empty(),
            "no detail is fetched again"
        );
        assert_eq!(
            offsets(&api.hits_under(&format!("{NVIDIA_CXS}/jobs"))),
            [0, 20]
        );
        let again = postings(h.db(), Source::Workday).await;
        for (a, b) in stored.iter().zip(&again) {
            assert_eq!(a.content_hash, b.content_hash, "{}", a.external_id);
            assert_eq!(a.description_html, b.description_html);
            assert_eq!(a.posted_at, b.posted_at, "the exact date stays");
            assert_eq!(b.last_run_id, Some(second.report.run.id));
        }
    }
}

#[tokio::test]
async fn workday_pages_advance_by_twenty_until_the_total_and_carry_the_keywords() {
    for db in testkit::databases("wd_pages").await {
        let api = ApiServer::start().await;
        // NVIDIA's three recorded postings spread over three pages of a 43-posting board.
        for (i, offset) in [0u64, 20, 40].into_iter().enumerate() {
            api.serve(
                &workday_page(NVIDIA_CXS, offset),
                page_of(NVIDIA_JOBS, "jobPostings", &[i], "total", 43),
            );
        }
        api.serve(
            &workday_page(NVIDIA_CXS, 60),
            page_of(NVIDIA_JOBS, "jobPostings", &[], "total", 43),
        );
        let h = harness(&db, &api).await;
        let out = h.run(Source::Workday, keywords(NVIDIA, "soc intern")).await;
        let events = check_succeeded(&out, Source::Workday);
        assert_eq!(out.report.counters.pages_fetched, 3, "offset 60 is past 43");
        assert_eq!(events.pages, 3);
        let listing = api.hits_under(&format!("{NVIDIA_CXS}/jobs"));
        assert_eq!(offsets(&listing), [0, 20, 40]);
        assert!(
            listing
                .iter()
                .all(|h| h.body.as_ref().unwrap()["searchText"] == "soc intern")
        );
        assert_eq!(postings(h.db(), Source::Workday).await.len(), 3);
    }
}

#[tokio::test]
async fn a_workday_run_stops_at_max_pages_and_at_a_page_with_nothing_new() {
    for db in testkit::databases("wd_stop").await {
        let api = ApiServer::start().await;
        // 1023 postings: only the page budget or a repeated page can stop the run.
        for (i, offset) in [0u64, 20, 40].into_iter().enumerate() {
            api.serve(
                &workday_page(NVIDIA_CXS, offset),
                page_of(NVIDIA_JOBS, "jobPostings", &[i], "total", 1023),
            );
        }
        let h = harness(&db, &api).await;
        let out = h.run(Source::Workday, max_pages(NVIDIA, 2)).await;
        check_succeeded(&out, Source::Workday);
        assert_eq!(
            offsets(&api.hits_under(&format!("{NVIDIA_CXS}/jobs"))),
            [0, 20]
        );
        assert_eq!(out.report.counters.jobs_found, 2);

        // A site that answers every offset with the same page: the second page has nothing new.
        api.reset_hits();
        api.serve(&workday_page(NVIDIA_CXS, 20), NVIDIA_JOBS);
        api.serve(&workday_page(NVIDIA_CXS, 0), NVIDIA_JOBS);
        let out = h.run(Source::Workday, target(NVIDIA)).await;
        check_succeeded(&out, Source::Workday);
        assert_eq!(
            offsets(&api.hits_under(&format!("{NVIDIA_CXS}/jobs"))),
            [0, 20]
        );
        assert_eq!(out.report.counters.pages_fetched, 2);
    }
}

#[tokio::test]
async fn a_broken_workday_listing_fails_the_run_with_a_precise_error() {
    for db in testkit::databases("wd_broken").await {
        let api = ApiServer::start().await;
        let truncated = &NVIDIA_JOBS[..NVIDIA_JOBS.len() / 2];
        api.serve(
            &workday_page(NVIDIA_CXS, 0),
            Bytes::copy_from_slice(truncated),
        );
        let h = harness(&db, &api).await;
        let out = h.run(Source::Workday, target(NVIDIA)).await;
        check_run(&out, Source::Workday);
        assert_eq!(out.report.status, RunStatus::Failed);
        // serde_json's own words for the same bytes, without its " at line L column C".
        let e = serde_json::from_slice::<Value>(truncated).unwrap_err();
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or_default();
        assert_eq!(
            out.report.error.as_deref(),
            Some(
                format!(
                    "cannot read Workday job search from {}: invalid JSON at line {} column {}: \
                     {message}",
                    api.url(&format!("{NVIDIA_CXS}/jobs")),
                    e.line(),
                    e.column()
                )
                .as_str()
            )
        );
        assert!(message.starts_with("EOF while parsing"), "{message}");
        assert!(postings(h.db(), Source::Workday).await.is_empty());

        // Workday's answer to a request it refuses: HTTP 422, not retried.
        api.script(
            &workday_page(NVIDIA_CXS, 0),
            Reply::status(StatusCode::UNPROCESSABLE_ENTITY),
        );
        let out = h.run(Source::Workday, target(NVIDIA)).await;
        assert_eq!(out.report.status, RunStatus::Failed);
        assert_eq!(
            out.report.error.as_deref(),
            Some(format!("HTTP 422 from {}", api.url(&format!("{NVIDIA_CXS}/jobs"))).as_str())
        );
    }
}

#[tokio::test]
async fn a_broken_workday_detail_keeps_the_card_and_the_run_succeeds() {
    for db in testkit::databases("wd_detail").await {
        let api = ApiServer::start().await;
        api.serve_nvidia();
        api.serve(
            &format!("{NVIDIA_CXS}{NVIDIA_JOB_PATH}"),
            Bytes::copy_from_slice(&NVIDIA_JOB[..200]),
        );
        let h = harness(&db, &api).await;
        let before = Utc::now();
        let out = h.run(Source::Workday, target(NVIDIA)).await;
        check_succeeded(&out, Source::Workday);
        assert_eq!(out.report.counters.jobs_new, 3);
        let p = posting(h.db(), Source::Workday, "nvidia:JR2024692").await;
        assert_eq!(p.title, "Custom SOC Intern - 2027");
        assert_eq!(p.description_html, None);
        assert_eq!(p.company, None);
        assert_eq!(p.country.as_deref(), Some("CN"), "from the card's label");
        let posted = p.posted_at.unwrap();
        assert!(
            posted == days_before(before, 6) || posted == days_before(Utc::now(), 6),
            "\"Posted 6 Days Ago\" from the card: {posted}"
        );
    }
}

#[test]
fn workday_targets_are_checked_before_a_run_is_queued() {
    let config = EngineConfig::default();
    let refused = |t: Option<&str>| {
        validate_params(
            Source::Workday,
            &SearchParams {
                target: t.map(str::to_owned),
                ..SearchParams::default()
            },
            &config,
        )
        .unwrap_err()
        .to_string()
    };
    assert!(refused(None).starts_with("workday needs `target`: the career site as"));
    assert_eq!(
        refused(Some(
            "https://nvidia.wd5.myworkdayjobs.com/en-US/NVIDIAExternalCareerSite"
        )),
        "Workday `target` must be `<tenant>.wd<N>/<site>`, as in \
         `nvidia.wd5/NVIDIAExternalCareerSite` for the career site \
         https://nvidia.wd5.myworkdayjobs.com/NVIDIAExternalCareerSite; for \
         `https://nvidia.wd5.myworkdayjobs.com/en-US/NVIDIAExternalCareerSite` send \
         `nvidia.wd5/NVIDIAExternalCareerSite`"
    );
    assert!(refused(Some("nvidia/Site")).ends_with("got `nvidia/Site`"));
    let ok = validate_params(
        Source::Workday,
        &target(" nvidia.wd5/NVIDIAExternalCareerSite "),
        &config,
    )
    .unwrap();
    assert_eq!(ok.target.as_deref(), Some(NVIDIA));
    // Without an operator override, a run goes to the target's own host.
    let plan = config.plan(Source::Workday, ok);
    assert_eq!(
        plan.base().as_str(),
        "https://nvidia.wd5.myworkdayjobs.com/"
    );
}

// =============================================================================================
// SmartRecruiters

#[tokio::test]
async fn a_smartrecruiters_run_stores_every_posting_with_the_details_of_new_ones() {
    for db in testkit::databases("sr_run").await {
        let api = ApiServer::start().await;
        api.serve_hirevue();
        let h = harness(&db, &api).await;
        let out = h.run(Source::SmartRecruiters, target("HireVue")).await;
        let events = check_succeeded(&out, Source::SmartRecruiters);
        let c = out.report.counters;
        assert_eq!(c.pages_fetched, 1, "5 postings fit the first page of 100");
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (3, 3, 0, 0)
        );
        assert_eq!(c.requests, 1 + 1 + 3, "robots.txt, the page, 3 details");
        assert_eq!(events.pages, 1);
        let listing = api.hits_under("/v1/companies/HireVue/postings offset=");
        assert_eq!(listing.len(), 1);
        assert_eq!(
            listing[0].target,
            "/v1/companies/HireVue/postings?offset=0&limit=100"
        );
        let mut details: Vec<String> = api
            .hits_under("/v1/companies/HireVue/postings/")
            .into_iter()
            .map(|h| h.target)
            .collect();
        details.sort();
        assert_eq!(
            details,
            ["744000133640099", "744000136509359", "744000138728139"]
                .map(|id| sr_detail("HireVue", id))
        );

        let rows = postings(h.db(), Source::SmartRecruiters).await;
        assert_eq!(rows.len(), 3);
        for row in &rows {
            assert_eq!(row.company.as_deref(), Some("HireVue Inc"));
            assert_eq!(row.company_external_id.as_deref(), Some("HireVue"));
            assert_eq!(row.work_arrangement, WorkArrangement::Remote);
        }

        let p = posting(h.db(), Source::SmartRecruiters, "744000138728139").await;
        assert_eq!(p.title, "Data Science Intern | Fully Remote US");
        assert_eq!(
            p.url,
            "https://jobs.smartrecruiters.com/HireVue/744000138728139-data-science-intern-fully-remote-us",
            "the detail's postingUrl"
        );
        assert_eq!(p.apply_url, None);
        assert_eq!(p.work_type, Some(WorkType::PartTime));
        assert_eq!(
            (p.city.as_deref(), p.region.as_deref(), p.country.as_deref()),
            (Some("Sandy"), Some("UT"), Some("US"))
        );
        assert_eq!(p.location_raw.as_deref(), Some("Sandy, UT, United States"));
        assert_eq!(p.classification.as_deref(), Some("Data Science"));
        assert_eq!(
            p.posted_at.map(|t| t.timestamp_millis()),
            utc(2026, 7, 20, 20, 54, 18).map(|t| t.timestamp_millis() + 136)
        );
        assert_clean_description(&p);
        let html = p.description_html.as_deref().unwrap();
        for heading in [
            "Company Description",
            "Job Description",
            "Qualifications",
            "Additional Information",
        ] {
            assert!(html.contains(&format!(">{heading}</")), "{heading}: {html}");
        }
        assert_eq!(p.salary_min, None, "HireVue publishes no pay");

        // A posting whose detail is not recorded (404): the card alone.
        let p = posting(h.db(), Source::SmartRecruiters, "744000136509359").await;
        assert_eq!(p.title, "Deal Desk Analyst | Fully Remote Poland and UK");
        assert_eq!(
            p.url,
            "https://jobs.smartrecruiters.com/HireVue/744000136509359"
        );
        assert_eq!(p.location_raw.as_deref(), Some("Warsaw, Poland"));
        assert_eq!(p.country.as_deref(), Some("PL"));
        assert_eq!(p.classification.as_deref(), Some("Sales"));
        assert_eq!(p.description_html, None);
    }
}

#[tokio::test]
async fn a_second_smartrecruiters_run_finds_every_posting_unchanged_and_fetches_no_detail() {
    for db in testkit::databases("sr_again").await {
        let api = ApiServer::start().await;
        api.serve_hirevue();
        let h = harness(&db, &api).await;
        check_succeeded(
            &h.run(Source::SmartRecruiters, target("HireVue")).await,
            Source::SmartRecruiters,
        );
        let stored = postings(h.db(), Source::SmartRecruiters).await;
        api.reset_hits();
        let second = h.run(Source::SmartRecruiters, target("HireVue")).await;
        check_succeeded(&second, Source::SmartRecruiters);
        let c = second.report.counters;
        assert_eq!(
            (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
            (3, 0, 0, 3)
        );
        assert!(api.hits_under("/v1/companies/HireVue/postings/").is_empty());
        let again = postings(h.db(), Source::SmartRecruiters).await;
        for (a, b) in stored.iter().zip(&again) {
            assert_eq!(a.content_hash, b.content_hash, "{}", a.external_id);
            assert_eq!(a.description_html, b.description_html);
            assert_eq!(a.url, b.url);
        }
    }
}

#[tokio::test]
async fn smartrecruiters_pages_advance_by_a_hundred_until_an_empty_page_or_the_total() {
    for db in testkit::databases("sr_pages").await {
        let api = ApiServer::start().await;
        // Ubisoft's three recorded postings over two pages of a 298-posting board, then an
        // empty page (what the API answers past the end).
        api.serve(
            &sr_page("Ubisoft2", 0),
            page_of(UBISOFT_POSTINGS, "content", &[0], "totalFound", 298),
        );
        api.serve(
            &sr_page("Ubisoft2", 100),
            page_of(UBISOFT_POSTINGS, "content", &[1, 2], "totalFound", 298),
        );
        api.serve(
            &sr_page("Ubisoft2", 200),
            page_of(UBISOFT_POSTINGS, "content", &[], "totalFound", 298),
        );
        api.serve(&sr_detail("Ubisoft2", "744000151103220"), UBISOFT_POSTING);
        let h = harness(&db, &api).await;
        let out = h
            .run(Source::SmartRecruiters, keywords("Ubisoft2", "programmer"))
            .await;
        let events = check_succeeded(&out, Source::SmartRecruiters);
        assert_eq!(
            out.report.counters.pages_fetched, 3,
            "the empty page ends the run"
        );
        assert_eq!(events.pages, 2);
        let targets: Vec<String> = api
            .hits_under("/v1/companies/Ubisoft2/postings offset=")
            .into_iter()
            .map(|h| h.target)
            .collect();
        assert_eq!(
            targets,
            [0, 100, 200].map(|o| format!(
                "/v1/companies/Ubisoft2/postings?offset={o}&limit=100&q=programmer"
            ))
        );
        let p = posting(h.db(), Source::SmartRecruiters, "744000151103220").await;
        assert_eq!(p.work_arrangement, WorkArrangement::OnSite);
        assert_eq!(p.classification.as_deref(), Some("Art/Creative"));
        assert!(
            p.description_text
                .as_deref()
                .unwrap()
                .contains("Role based at the Annecy Studio")
        );

        // A board whose count is reached stops without asking for the next page; so does the
        // page budget.
        api.reset_hits();
        api.serve(
            &sr_page("Ubisoft2", 100),
            page_of(UBISOFT_POSTINGS, "content", &[1, 2], "totalFound", 103),
        );
        let out = h.run(Source::SmartRecruiters, target("Ubisoft2")).await;
        check_succeeded(&out, Source::SmartRecruiters);
        assert_eq!(
            offsets(&api.hits_under("/v1/companies/Ubisoft2/postings offset=")),
            [0, 100]
        );
        api.reset_hits();
        let out = h
            .run(Source::SmartRecruiters, max_pages("Ubisoft2", 1))
            .await;
        check_succeeded(&out, Source::SmartRecruiters);
        assert_eq!(
            offsets(&api.hits_under("/v1/companies/Ubisoft2/postings offset=")),
            [0]
        );
    }
}

#[tokio::test]
async fn a_broken_smartrecruiters_listing_fails_the_run_with_a_precise_error() {
    for db in testkit::databases("sr_broken").await {
        let api = ApiServer::start().await;
        api.serve(
            &sr_page("HireVue", 0),
            r#"{"code":"NOT_FOUND","message":"Company HireVue does not exist"}"#,
        );
        let h = harness(&db, &api).await;
        let out = h.run(Source::SmartRecruiters, target("HireVue")).await;
        check_run(&out, Source::SmartRecruiters);
        assert_eq!(out.report.status, RunStatus::Failed);
        assert_eq!(
            out.report.error.as_deref(),
            Some(
                format!(
                    "cannot read SmartRecruiters postings from {}: unexpected response shape: \
                     smartrecruiters answered with an error: Company HireVue does not exist",
                    api.url("/v1/companies/HireVue/postings?offset=0&limit=100")
                )
                .as_str()
            )
        );
        assert!(postings(h.db(), Source::SmartRecruiters).await.is_empty());
    }
}

#[tokio::test]
async fn a_broken_smartrecruiters_detail_keeps_the_card_and_the_run_succeeds() {
    for db in testkit::databases("sr_detail").await {
        let api = ApiServer::start().await;
        api.serve_hirevue();
        // Every attempt at the recorded detail fails (the retries included).
        for _ in 0..3 {
            api.script(
                &sr_detail("HireVue", "744000138728139"),
                Reply::status(StatusCode::SERVICE_UNAVAILABLE),
            );
        }
        api.serve(
            &sr_detail("HireVue", "744000136509359"),
            "<html><body>Down for maintenance</body></html>",
        );
        let h = harness(&db, &api).await;
        let out = h.run(Source::SmartRecruiters, target("HireVue")).await;
        check_succeeded(&out, Source::SmartRecruiters);
        assert_eq!(out.report.counters.jobs_new, 3);
        let p = posting(h.db(), Source::SmartRecruiters, "744000138728139").await;
        assert_eq!(p.title, "Data Science Intern | Fully Remote US");
        assert_eq!(p.description_html, None);
        assert_eq!(
            p.url,
            "https://jobs.smartrecruiters.com/HireVue/744000138728139"
        );
        assert_eq!(p.work_type, Some(WorkType::PartTime));

        // A detail that answers 200 with something else than JSON is logged and skipped too.
        let p = posting(h.db(), Source::SmartRecruiters, "744000136509359").await;
        assert_eq!(p.title, "Deal Desk Analyst | Fully Remote Poland and UK");
        assert_eq!(p.description_html, None);
        assert_eq!(
            api.hits_under(&sr_detail("HireVue", "744000138728139"))
                .len(),
            3,
            "the first attempt and two retries"
        );
    }
}

#[test]
fn smartrecruiters_targets_are_checked_before_a_run_is_queued() {
    let config = EngineConfig::default();
    let err = validate_params(
        Source::SmartRecruiters,
        &target("https://jobs.smartrecruiters.com/Ubisoft2"),
        &config,
    )
    .unwrap_err()
    .to_string();
    assert!(err.ends_with("send `Ubisoft2`"), "{err}");
    let plan = config.plan(
        Source::SmartRecruiters,
        validate_params(Source::SmartRecruiters, &target("Ubisoft2"), &config).unwrap(),
    );
    assert_eq!(plan.base().as_str(), "https://api.smartrecruiters.com/");
}

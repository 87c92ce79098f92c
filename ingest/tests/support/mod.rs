//! Shared support for the engine's end-to-end tests: a local HTTP server that answers the live
//! sites' exact paths with the recorded fixtures, an engine wired to it, and helpers to run a run
//! and collect its events.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use entity::{RunStatus, RunTrigger, Source, job_posting};
use ingest::SearchParams;
use ingest::engine::{BaseUrls, Engine, EngineConfig, RunReport};
use ingest::events::{EventBus, IngestEvent};
use ingest::fetch::{FetchConfig, Fetcher};
use ingest::store::{self, NewRun, RunCounters};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use testkit::TestDb;
use tokio::sync::broadcast::error::TryRecvError;
use tokio_util::sync::CancellationToken;
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

pub const SEEK_PAGE1: &[u8] = fixture!("seek/seek_v5_search_page1.json");
pub const SEEK_PAGE2: &[u8] = fixture!("seek/seek_v5_search_page2.json");
pub const SEEK_EMPTY_PAGE: &[u8] = fixture!("seek/seek_v5_search_empty_page.json");
pub const SEEK_JOB_PAGE: &[u8] = fixture!("seek/seek_job_page.html");
pub const INDEED_SEARCH: &[u8] = fixture!("indeed/indeed_search_page.html");
pub const INDEED_VIEWJOB: &[u8] = fixture!("indeed/indeed_viewjob_page.html");
pub const INDEED_CHALLENGE: &[u8] = fixture!("indeed/indeed_challenge_just_a_moment.html");
pub const GREENHOUSE_BOARD: &[u8] = fixture!("ats/greenhouse_boards_api_jobs_content_true.json");
pub const LEVER_POSTINGS: &[u8] = fixture!("ats/lever_postings_api.json");
pub const ASHBY_BOARD: &[u8] = fixture!("ats/ashby_posting_api_job_board.json");

/// The JSON-LD fixture pages, served at `/careers/{name}`.
pub const JSONLD_PAGES: &[(&str, &[u8])] = &[
    (
        "array",
        fixture!("jsonld/jsonld_array_of_two_postings.html"),
    ),
    (
        "graph",
        fixture!("jsonld/jsonld_graph_organization_and_posting.html"),
    ),
    (
        "invalid-next-to-valid",
        fixture!("jsonld/jsonld_invalid_next_to_valid.html"),
    ),
    (
        "meta",
        fixture!("jsonld/jsonld_meta_software_engineer.html"),
    ),
    (
        "neura",
        fixture!("jsonld/jsonld_neura_robotics_manager.html"),
    ),
    ("garbage", fixture!("jsonld/jsonld_no_jsonld_garbage.html")),
    (
        "trailing-commas",
        fixture!("jsonld/jsonld_trailing_commas_raw_newlines.html"),
    ),
    ("remote", fixture!("jsonld/jsonld_type_array_remote.html")),
];

/// Board tokens the ATS fixtures are served under.
pub const GREENHOUSE_TOKEN: &str = "helsing";
pub const LEVER_SITE: &str = "matchgroup";
pub const ASHBY_BOARD_NAME: &str = "comand-ai";

/// Route keys: what the server serves for a request, whatever its id or query.
pub const SEEK_JOB: &str = "seek:job";
pub const INDEED_FIRST_PAGE: &str = "indeed:search:0";
pub const INDEED_VIEW: &str = "indeed:viewjob";

pub fn seek_page(n: u32) -> String {
    format!("seek:page:{n}")
}

pub fn greenhouse_path() -> String {
    format!("/v1/boards/{GREENHOUSE_TOKEN}/jobs")
}

pub fn lever_path() -> String {
    format!("/v0/postings/{LEVER_SITE}")
}

pub fn ashby_path() -> String {
    format!("/posting-api/job-board/{ASHBY_BOARD_NAME}")
}

pub fn careers_path(name: &str) -> String {
    format!("/careers/{name}")
}

/// The Indeed search page with its card list emptied: what Indeed answers past the last page.
pub fn indeed_page_without_cards() -> Vec<u8> {
    let page = std::str::from_utf8(INDEED_SEARCH).expect("utf-8 fixture");
    let start = page.find("\"results\":[").expect("results array") + "\"results\":[".len();
    let end = page.find("],\"tierSummaries\"").expect("end of results");
    format!("{}{}", &page[..start], &page[end..]).into_bytes()
}

/// One scripted answer (served instead of the route's body, once).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: StatusCode) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::from(status.canonical_reason().unwrap_or("error").to_owned()),
            delay: Duration::ZERO,
        }
    }

    pub fn ok(body: impl Into<Bytes>, content_type: &str) -> Self {
        Reply {
            status: StatusCode::OK,
            headers: vec![("content-type", content_type.to_owned())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The route key ([`route_key`]).
    pub key: String,
    /// Path and query as sent.
    pub target: String,
}

#[derive(Default)]
struct MockState {
    /// Route key → (body, content type).
    bodies: Mutex<HashMap<String, (Bytes, &'static str)>>,
    /// Route key → answers to give before the body (each once, in order).
    scripted: Mutex<HashMap<String, VecDeque<Reply>>>,
    hits: Mutex<Vec<Hit>>,
    /// `None`: /robots.txt answers 404 (no robots.txt: everything allowed).
    robots: Mutex<Option<String>>,
}

/// Which fixture a request asks for: SEEK search pages by their `page`, any SEEK job page, the
/// first Indeed search page or a later one, any Indeed viewjob page; other paths as they are.
pub fn route_key(path: &str, query: &HashMap<String, String>) -> String {
    match path {
        "/api/jobsearch/v5/search" => match query.get("page") {
            Some(n) => format!("seek:page:{n}"),
            None => "seek:page:1".into(),
        },
        "/jobs" => match query.get("start").map(String::as_str) {
            None | Some("0") => INDEED_FIRST_PAGE.into(),
            Some(start) => format!("indeed:search:{start}"),
        },
        "/viewjob" => INDEED_VIEW.into(),
        _ if path.starts_with("/job/") => SEEK_JOB.into(),
        _ => path.to_owned(),
    }
}

async fn handle(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let uri = request.uri().clone();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let key = route_key(uri.path(), &query);
    state.hits.lock().unwrap().push(Hit {
        key: key.clone(),
        target: uri.to_string(),
    });
    let scripted = state
        .scripted
        .lock()
        .unwrap()
        .get_mut(&key)
        .and_then(VecDeque::pop_front);
    if let Some(reply) = scripted {
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        let mut response = Response::new(Body::from(reply.body));
        *response.status_mut() = reply.status;
        for (name, value) in reply.headers {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_str(&value).unwrap());
        }
        return response;
    }
    if key == "/robots.txt" {
        return match state.robots.lock().unwrap().clone() {
            Some(text) => text_response(StatusCode::OK, Bytes::from(text), "text/plain"),
            None => text_response(
                StatusCode::NOT_FOUND,
                Bytes::from("not found"),
                "text/plain",
            ),
        };
    }
    let body = state.bodies.lock().unwrap().get(&key).cloned();
    match body {
        Some((body, content_type)) => text_response(StatusCode::OK, body, content_type),
        None => text_response(
            StatusCode::NOT_FOUND,
            Bytes::from("not found"),
            "text/plain",
        ),
    }
}

fn text_response(status: StatusCode, body: Bytes, content_type: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

const JSON: &str = "application/json; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// The local stand-in for every site: SEEK, Indeed, Greenhouse, Lever, Ashby and career pages,
/// at the live sites' paths, on 127.0.0.1 and a free port.
pub struct MockServer {
    pub base: Url,
    state: Arc<MockState>,
}

impl MockServer {
    pub async fn start() -> Self {
        let state = Arc::new(MockState::default());
        {
            let mut bodies = state.bodies.lock().unwrap();
            let mut put = |key: String, body: &[u8], content_type: &'static str| {
                bodies.insert(key, (Bytes::copy_from_slice(body), content_type));
            };
            put(seek_page(1), SEEK_PAGE1, JSON);
            put(seek_page(2), SEEK_PAGE2, JSON);
            // Every later page is past SEEK's window.
            for n in 3..=50 {
                put(seek_page(n), SEEK_EMPTY_PAGE, JSON);
            }
            put(SEEK_JOB.into(), SEEK_JOB_PAGE, HTML);
            put(INDEED_FIRST_PAGE.into(), INDEED_SEARCH, HTML);
            let without_cards = indeed_page_without_cards();
            for start in (10..=500).step_by(10) {
                put(format!("indeed:search:{start}"), &without_cards, HTML);
            }
            put(INDEED_VIEW.into(), INDEED_VIEWJOB, HTML);
            put(greenhouse_path(), GREENHOUSE_BOARD, JSON);
            put(lever_path(), LEVER_POSTINGS, JSON);
            put(ashby_path(), ASHBY_BOARD, JSON);
            for (name, page) in JSONLD_PAGES {
                put(careers_path(name), page, HTML);
            }
        }
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        MockServer {
            base: Url::parse(&format!("http://{addr}/")).unwrap(),
            state,
        }
    }

    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    /// Replace what a route serves from now on (as JSON for the JSON APIs' routes, else HTML).
    pub fn set_body(&self, key: &str, body: impl Into<Vec<u8>>) {
        let body = body.into();
        let json_api = ["seek:page:", "/v1/", "/v0/", "/posting-api/"];
        let content_type = if json_api.iter().any(|prefix| key.starts_with(prefix)) {
            JSON
        } else {
            HTML
        };
        self.state
            .lock_bodies()
            .insert(key.to_owned(), (Bytes::from(body), content_type));
    }

    /// Answer the next request for `key` with `reply` (queued after earlier scripted replies).
    pub fn script(&self, key: &str, reply: Reply) {
        self.state
            .scripted
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_default()
            .push_back(reply);
    }

    pub fn set_robots(&self, text: &str) {
        *self.state.robots.lock().unwrap() = Some(text.to_owned());
    }

    /// Requests received for a route key.
    pub fn hits(&self, key: &str) -> usize {
        self.state
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.key == key)
            .count()
    }

    /// Requests received whose path starts with `prefix`.
    pub fn hits_under(&self, prefix: &str) -> usize {
        self.state
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.target.starts_with(prefix))
            .count()
    }

    pub fn total_hits(&self) -> usize {
        self.state.hits.lock().unwrap().len()
    }

    pub fn all_hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    pub fn reset_hits(&self) {
        self.state.hits.lock().unwrap().clear();
    }
}

impl MockState {
    fn lock_bodies(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Bytes, &'static str)>> {
        self.bodies.lock().unwrap()
    }
}

/// Fast, local settings: high rates, short timeouts and backoff, private addresses allowed,
/// robots.txt obeyed (the server answers 404 unless a test sets one).
pub fn fetch_config() -> FetchConfig {
    FetchConfig {
        user_agent_version: "0.0.0-test".into(),
        contact_url: "https://example.com/contact".into(),
        html_rate_per_sec: 500.0,
        json_rate_per_sec: 500.0,
        max_in_flight_per_host: 4,
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(5),
        max_retries: 2,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        retry_after_cap: Duration::from_secs(5),
        robots_error_ttl: Duration::from_millis(200),
        allow_private_network: true,
        ..FetchConfig::default()
    }
}

pub fn fetcher(config: FetchConfig) -> Fetcher {
    // reqwest is built without a crypto provider; the binary installs ring's at start.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Fetcher::new(config).expect("fetcher")
}

/// What one executed run produced.
pub struct Outcome {
    pub report: RunReport,
    /// The run's events, in publication order.
    pub events: Vec<IngestEvent>,
}

/// A mock server and an engine whose every source points at it.
pub struct Harness {
    pub server: MockServer,
    pub engine: Engine,
}

impl Harness {
    pub async fn new(db: &TestDb) -> Self {
        Self::with_fetch_config(db, fetch_config()).await
    }

    pub async fn with_fetch_config(db: &TestDb, config: FetchConfig) -> Self {
        let server = MockServer::start().await;
        // Every registered source with a base URL answers from the mock server.
        let base_urls: BaseUrls = ingest::sources::all()
            .filter(|s| s.spec().default_base_url.is_some())
            .map(|s| (s.spec().source, server.base.clone()))
            .collect();
        let engine_config = EngineConfig {
            base_urls,
            ..EngineConfig::default()
        };
        let engine = Engine::new(
            db.conn.clone(),
            fetcher(config),
            EventBus::default(),
            engine_config,
        );
        Harness { server, engine }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.engine.db
    }

    /// A `running` run, as `jobintel run` makes one.
    pub async fn claimed_run(
        &self,
        source: Source,
        params: SearchParams,
    ) -> entity::ingest_run::Model {
        let run = store::create_run(self.db(), NewRun::manual(source, params, RunTrigger::Cli))
            .await
            .expect("create run");
        store::mark_running(self.db(), run.id, "engine-tests")
            .await
            .expect("mark running");
        run
    }

    /// Create, claim and execute a run to its end; collect its events.
    pub async fn run(&self, source: Source, params: SearchParams) -> Outcome {
        let mut rx = self.engine.bus.subscribe();
        let run = self.claimed_run(source, params).await;
        let report = tokio::time::timeout(
            Duration::from_secs(30),
            self.engine.execute(&run, &CancellationToken::new()),
        )
        .await
        .expect("the run finishes within 30 s")
        .expect("execute");
        let mut events = Vec::new();
        loop {
            match rx.try_recv() {
                Ok(event) if event.run_id() == run.id => events.push(event),
                Ok(_) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                Err(TryRecvError::Lagged(n)) => panic!("the test subscriber lagged by {n}"),
            }
        }
        Outcome { report, events }
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters

pub fn seek_params() -> SearchParams {
    SearchParams {
        keywords: Some("developer".into()),
        location: Some("Wellington".into()),
        country: Some("nz".into()),
        ..SearchParams::default()
    }
}

pub fn indeed_params() -> SearchParams {
    SearchParams {
        keywords: Some("rust".into()),
        location: Some("Brisbane QLD".into()),
        country: Some("au".into()),
        ..SearchParams::default()
    }
}

pub fn target(target: &str) -> SearchParams {
    SearchParams {
        target: Some(target.to_owned()),
        ..SearchParams::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Database

pub async fn postings(db: &DatabaseConnection, source: Source) -> Vec<job_posting::Model> {
    job_posting::Entity::find()
        .filter(job_posting::Column::Source.eq(source))
        .order_by_asc(job_posting::Column::ExternalId)
        .all(db)
        .await
        .expect("select postings")
}

pub async fn posting(
    db: &DatabaseConnection,
    source: Source,
    external_id: &str,
) -> job_posting::Model {
    job_posting::Entity::find()
        .filter(job_posting::Column::Source.eq(source))
        .filter(job_posting::Column::ExternalId.eq(external_id))
        .one(db)
        .await
        .expect("select posting")
        .unwrap_or_else(|| panic!("no {source} posting {external_id}"))
}

// ---------------------------------------------------------------------------------------------
// Assertions

/// What a run's events said, once their order has been checked.
#[derive(Debug, Default)]
pub struct EventSummary {
    pub pages: u32,
    pub added: Vec<i64>,
    pub updated: Vec<i64>,
}

/// Checks the run's event stream: `RunStarted` first, then per page its `PostingAdded` /
/// `PostingUpdated` followed by `PageStored` (numbered from 1, with running totals that match
/// the posting events so far), and `RunFinished` last with the report's status, counters and
/// error. Also checks that the stored run row agrees with the report.
pub fn check_run(outcome: &Outcome, source: Source) -> EventSummary {
    let report = &outcome.report;
    let run_id = report.run.id;
    let events = &outcome.events;
    assert!(
        events.len() >= 2,
        "at least RunStarted and RunFinished: {events:#?}"
    );
    assert_eq!(
        events[0],
        IngestEvent::RunStarted { run_id, source },
        "first event"
    );
    assert_eq!(
        events[events.len() - 1],
        IngestEvent::RunFinished {
            run_id,
            source,
            status: report.status,
            counters: report.counters,
            error: report.error.clone(),
        },
        "last event"
    );
    let mut summary = EventSummary::default();
    let mut pending_added = 0;
    let mut pending_updated = 0;
    let mut last_counters = RunCounters::default();
    for event in &events[1..events.len() - 1] {
        match event {
            IngestEvent::PostingAdded {
                run_id: r,
                source: s,
                posting_id,
            } => {
                assert_eq!((*r, *s), (run_id, source));
                summary.added.push(*posting_id);
                pending_added += 1;
            }
            IngestEvent::PostingUpdated {
                run_id: r,
                source: s,
                posting_id,
            } => {
                assert_eq!((*r, *s), (run_id, source));
                summary.updated.push(*posting_id);
                pending_updated += 1;
            }
            IngestEvent::PageStored {
                run_id: r,
                source: s,
                page,
                counters,
                ..
            } => {
                assert_eq!((*r, *s), (run_id, source));
                summary.pages += 1;
                assert_eq!(*page, summary.pages, "pages are numbered from 1 in order");
                assert_eq!(
                    counters.jobs_new - last_counters.jobs_new,
                    pending_added,
                    "PostingAdded events before page {page} match its new count"
                );
                assert_eq!(
                    counters.jobs_updated - last_counters.jobs_updated,
                    pending_updated,
                    "PostingUpdated events before page {page} match its updated count"
                );
                assert!(counters.jobs_found > last_counters.jobs_found);
                pending_added = 0;
                pending_updated = 0;
                last_counters = *counters;
            }
            other => panic!("unexpected event between start and finish: {other:?}"),
        }
    }
    assert_eq!(
        (pending_added, pending_updated),
        (0, 0),
        "every posting event is followed by its PageStored"
    );
    let c = &report.counters;
    assert_eq!(
        (
            last_counters.jobs_found,
            last_counters.jobs_new,
            last_counters.jobs_updated,
            last_counters.jobs_unchanged
        ),
        (c.jobs_found, c.jobs_new, c.jobs_updated, c.jobs_unchanged),
        "the last PageStored has the final job counts"
    );
    assert_eq!(
        c.jobs_found,
        c.jobs_new + c.jobs_updated + c.jobs_unchanged,
        "every posting found is new, updated or unchanged: {c:?}"
    );

    let row = &report.run;
    assert_eq!(row.id, run_id);
    assert_eq!(row.status, report.status, "stored status");
    assert_eq!(row.error, report.error, "stored error");
    assert!(row.finished_at.is_some(), "finished_at is set");
    assert_eq!(
        RunCounters {
            pages_fetched: row.pages_fetched,
            requests: row.requests,
            http_errors: row.http_errors,
            jobs_found: row.jobs_found,
            jobs_new: row.jobs_new,
            jobs_updated: row.jobs_updated,
            jobs_unchanged: row.jobs_unchanged,
            descriptions_truncated: row.descriptions_truncated,
        },
        report.counters,
        "stored counters"
    );
    summary
}

/// [`check_run`] for a run that must have succeeded.
pub fn check_succeeded(outcome: &Outcome, source: Source) -> EventSummary {
    assert_eq!(
        outcome.report.status,
        RunStatus::Succeeded,
        "error: {:?}",
        outcome.report.error
    );
    assert_eq!(outcome.report.error, None);
    check_run(outcome, source)
}

/// The description checks every stored posting with a description must pass: sanitised HTML
/// (no scripts, no inline handlers) and a plain-text twin.
pub fn assert_clean_description(p: &job_posting::Model) {
    let html = p
        .description_html
        .as_deref()
        .unwrap_or_else(|| panic!("{} has a description", p.external_id));
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "{}: {html}", p.external_id);
    assert!(!lower.contains("alert(1)"), "{}: {html}", p.external_id);
    assert!(!lower.contains("onclick"), "{}: {html}", p.external_id);
    let text = p.description_text.as_deref().unwrap_or_default();
    assert!(!text.is_empty(), "{} has a text description", p.external_id);
    assert!(
        !text.contains("<p>") && !text.contains("</"),
        "{}: the text has no tags: {text}",
        p.external_id
    );
}

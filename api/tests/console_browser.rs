//! The console (`/console`) in a real browser: Debian's Chromium, headless, driven over the
//! DevTools protocol (`tests/browser`), against the real `jobintel serve` binary on SQLite and
//! PostgreSQL and a local job board serving recorded SEEK and Greenhouse answers.
//!
//! Every page is opened, every action the issue names is taken through the UI, and the page
//! must report no error (an uncaught exception or a Content-Security-Policy violation fails
//! the test). The SQLite run takes the screenshots the README shows, into `docs/console/` with
//! `JOBINTEL_UPDATE_SCREENSHOTS=1` (otherwise into a temporary directory).

#![cfg(target_os = "linux")]

mod browser;
mod process;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::routing::get;
use browser::{Browser, Page, q};
use serde_json::Value;

const TOKEN: &str = "console-test-token";

const SEEK_PAGE1: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ingest/tests/fixtures/seek/seek_v5_search_page1.json"
));
const SEEK_PAGE2: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ingest/tests/fixtures/seek/seek_v5_search_page2.json"
));
const SEEK_EMPTY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ingest/tests/fixtures/seek/seek_v5_search_empty_page.json"
));
const SEEK_JOB: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ingest/tests/fixtures/seek/seek_job_page.html"
));
const GREENHOUSE_BOARD: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ingest/tests/fixtures/ats/greenhouse_boards_api_jobs_content_true.json"
));

/// How long each SEEK search page takes to answer: slow enough that the run page shows the
/// run between pages (its progress must arrive while it runs, not only at the end).
const SEARCH_PAGE_DELAY: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------------------------------
// The job board

#[derive(Clone, Default)]
struct Board {
    /// Greenhouse answers 404 (a board that does not exist) until a test flips this.
    greenhouse_up: Arc<AtomicBool>,
}

async fn board() -> (String, Board) {
    let state = Board::default();
    let app = axum::Router::new()
        .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\n" }))
        .route(
            "/api/jobsearch/v5/search",
            get(
                |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    tokio::time::sleep(SEARCH_PAGE_DELAY).await;
                    let body = match q.get("page").map(String::as_str) {
                        None | Some("1") => SEEK_PAGE1,
                        Some("2") => SEEK_PAGE2,
                        _ => SEEK_EMPTY,
                    };
                    ([("content-type", "application/json")], body)
                },
            ),
        )
        .route(
            "/job/{id}",
            get(|| async { ([("content-type", "text/html; charset=utf-8")], SEEK_JOB) }),
        )
        .route(
            "/v1/boards/{token}/jobs",
            get(|State(b): State<Board>| async move {
                if b.greenhouse_up.load(Ordering::SeqCst) {
                    (
                        axum::http::StatusCode::OK,
                        [("content-type", "application/json")],
                        GREENHOUSE_BOARD,
                    )
                } else {
                    (
                        axum::http::StatusCode::NOT_FOUND,
                        [("content-type", "application/json")],
                        r#"{"status":404,"error":"Job board not found"}"#,
                    )
                }
            }),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), state)
}

// ---------------------------------------------------------------------------------------------
// The server

/// `jobintel serve` (`$JOBINTEL_BIN`, e.g. a release build, or the test build) on `database`
/// (`None`: a fresh SQLite file) with the board as SEEK's and Greenhouse's base URL.
async fn serve(database: Option<&str>, board: &str, env: &[(&str, &str)]) -> process::Process {
    let mut serve = process::Serve::new("console")
        .env("JOBINTEL_SEEK_BASE_URL", board)
        .env("JOBINTEL_GREENHOUSE_BASE_URL", board)
        .env("JOBINTEL_ALLOW_PRIVATE_NETWORK", "true")
        .env("JOBINTEL_HTML_RATE", "50")
        .env("JOBINTEL_JSON_RATE", "50");
    if let Some(url) = database {
        serve = serve.database(url);
    }
    for (k, v) in env {
        serve = serve.env(k, v);
    }
    serve.start().await
}

/// `docs/console/` (the README's pictures) with `JOBINTEL_UPDATE_SCREENSHOTS=1`; otherwise a
/// temporary directory, so that a test run leaves the checkout as it found it (every run
/// renders slightly different bytes, which then got committed by accident).
fn screenshot_dir() -> PathBuf {
    let dir = if std::env::var_os("JOBINTEL_UPDATE_SCREENSHOTS").is_some() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/console")
    } else {
        std::env::temp_dir().join(format!("jobintel-console-shots-{}", std::process::id()))
    };
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

const LONG: Duration = Duration::from_secs(60);

async fn goto_page(page: &Page<'_>, base: &str, nav: &str, root: &str) {
    if page.eval(&format!("!!{}", q(nav))).await == Value::Bool(true) {
        page.click(nav).await;
    } else {
        page.goto(&format!("{base}/console")).await;
        page.click(nav).await;
    }
    page.wait_ready(root).await;
}

/// The number in a runs tab's `.count`.
async fn tab_count(page: &Page<'_>, status: &str) -> i64 {
    let v = page
        .wait_for(
            &format!(
                "{} && {}.querySelector('.count') && {}.querySelector('.count').textContent.trim()",
                q(&format!("runs-tab-{status}")),
                q(&format!("runs-tab-{status}")),
                q(&format!("runs-tab-{status}"))
            ),
            &format!("the {status} tab's count"),
            LONG,
        )
        .await;
    v.as_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// The current route's run id (`#/runs/<id>`).
async fn current_run_id(page: &Page<'_>) -> String {
    page.wait_for(
        "location.hash.startsWith('#/runs/') && location.hash.slice(7)",
        "a run's page",
        LONG,
    )
    .await
    .as_str()
    .unwrap()
    .to_string()
}

/// Starts a run through the runs page's form; returns its id (the console opens its page).
async fn start_ingest(page: &Page<'_>, base: &str, source: &str, params: &str) -> String {
    goto_page(page, base, "nav-runs", "page-runs").await;
    page.click("start-ingest-open").await;
    page.wait_testid("start-ingest-form").await;
    page.fill("start-ingest-source", source).await;
    page.fill("start-ingest-params", params).await;
    page.click("start-ingest-submit").await;
    page.wait_ready("page-run").await;
    current_run_id(page).await
}

async fn wait_status(page: &Page<'_>, status: &str) {
    page.wait_for(
        &format!(
            "{} && {}.textContent.trim() === '{status}'",
            q("run-status"),
            q("run-status")
        ),
        &format!("run status {status}"),
        LONG,
    )
    .await;
}

/// Every page and action, on one database. `shots`: write the screenshots.
async fn every_page_and_action(database: Option<&str>, shots: bool) {
    let (board_url, board_state) = board().await;
    let server = serve(database, &board_url, &[]).await;
    let base = server.base.clone();
    let browser = Browser::launch().await;
    let page = browser.page(1280, 800).await;
    let dir = screenshot_dir();

    // Overview, empty.
    page.goto(&format!("{base}/console")).await;
    page.wait_ready("page-overview").await;
    assert!(
        page.text("health-status")
            .await
            .to_lowercase()
            .contains("ok"),
        "health shown"
    );
    assert_eq!(
        page.text("health-version").await.trim_start_matches('v'),
        env!("CARGO_PKG_VERSION")
    );

    // Runs, empty: the empty state says what to do.
    goto_page(&page, &base, "nav-runs", "page-runs").await;
    assert_eq!(tab_count(&page, "ALL").await, 0);

    // A SEEK run started from the console: its progress arrives while it runs.
    let seek_run = start_ingest(
        &page,
        &base,
        "SEEK",
        r#"{"keywords": "developer", "location": "Wellington", "country": "nz", "maxPages": 3}"#,
    )
    .await;
    let mut seen_pages = Vec::new();
    let deadline = Instant::now() + LONG;
    loop {
        let state = page
            .eval(&format!(
                "JSON.stringify({{status: {s}?.textContent.trim(), pages: {p}?.textContent.trim(), \
                   value: {g}?.value, max: {g}?.max}})",
                s = q("run-status"),
                p = q("run-pages"),
                g = q("run-progress")
            ))
            .await;
        let state: Value = serde_json::from_str(state.as_str().unwrap()).unwrap();
        let status = state["status"].as_str().unwrap_or_default().to_string();
        if status == "RUNNING" {
            let pages: i64 = state["pages"].as_str().unwrap_or("0").parse().unwrap_or(0);
            if !seen_pages.contains(&pages) {
                seen_pages.push(pages);
            }
            assert_eq!(state["max"], 3.0, "the progress bar's end is maxPages");
        }
        if status == "SUCCEEDED" {
            break;
        }
        assert!(
            Instant::now() < deadline && status != "FAILED",
            "the SEEK run did not succeed: {state}; errors {:?}",
            page.log().errors
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen_pages.iter().any(|p| *p >= 1),
        "pages counted while the run was RUNNING, before it finished (seen {seen_pages:?})"
    );
    assert_eq!(page.text("run-pages").await, "3");
    page.wait_for(
        &format!(
            "{}.querySelectorAll('tbody tr').length === 20",
            q("run-postings")
        ),
        "the run's 20 postings",
        LONG,
    )
    .await;
    page.wait_for(
        &format!(
            "{}.querySelectorAll('[data-testid=timeline-item]').length >= 3",
            q("run-timeline")
        ),
        "queued, started, pages and finished in the timeline",
        LONG,
    )
    .await;
    if shots {
        page.screenshot(&dir.join("run-light.png")).await;
    }

    // A failed Greenhouse run (the board answers 404), then retried once the board is up.
    let failed = start_ingest(&page, &base, "GREENHOUSE", r#"{"target": "acme"}"#).await;
    wait_status(&page, "FAILED").await;
    assert!(
        !page.text("run-error").await.is_empty(),
        "the full error is shown"
    );
    board_state.greenhouse_up.store(true, Ordering::SeqCst);
    page.click("run-retry").await;
    page.wait_for(
        &format!("location.hash.startsWith('#/runs/') && location.hash.slice(7) !== '{failed}'"),
        "the retry's own page",
        LONG,
    )
    .await;
    page.wait_ready("page-run").await;
    let retried = current_run_id(&page).await;
    assert_ne!(retried, failed);
    wait_status(&page, "SUCCEEDED").await;

    // The runs page: counts per status, rows, filters.
    goto_page(&page, &base, "nav-runs", "page-runs").await;
    page.wait_for(
        &format!(
            "{}.querySelectorAll('tr[data-run-id]').length === 3",
            q("runs-table")
        ),
        "three runs listed",
        LONG,
    )
    .await;
    assert_eq!(tab_count(&page, "ALL").await, 3);
    assert_eq!(tab_count(&page, "FAILED").await, 1);
    assert_eq!(tab_count(&page, "SUCCEEDED").await, 2);
    for id in [&seek_run, &failed, &retried] {
        assert_eq!(
            page.eval(&format!(
                "!!document.querySelector('tr[data-run-id=\"{id}\"]')"
            ))
            .await,
            Value::Bool(true),
            "run {id} listed"
        );
    }
    page.click("runs-tab-FAILED").await;
    page.wait_for(
        &format!(
            "{t}.querySelectorAll('tr[data-run-id]').length === 1 && \
             !!{t}.querySelector('tr[data-run-id=\"{failed}\"]')",
            t = q("runs-table")
        ),
        "only the failed run under FAILED",
        LONG,
    )
    .await;
    page.click("runs-tab-ALL").await;
    page.fill("runs-filter-source", "SEEK").await;
    page.wait_for(
        &format!(
            "{t}.querySelectorAll('tr[data-run-id]').length === 1 && \
             !!{t}.querySelector('tr[data-run-id=\"{seek_run}\"]')",
            t = q("runs-table")
        ),
        "only the SEEK run with the source filter",
        LONG,
    )
    .await;
    page.fill("runs-filter-source", "").await;
    page.wait_for(
        &format!(
            "{}.querySelectorAll('tr[data-run-id]').length === 3",
            q("runs-table")
        ),
        "all runs again",
        LONG,
    )
    .await;
    if shots {
        page.screenshot(&dir.join("runs-light.png")).await;
    }

    // Schedules: a wrong cron shows the error, a right one previews fires.
    goto_page(&page, &base, "nav-schedules", "page-schedules").await;
    page.click("schedule-new").await;
    page.wait_testid("schedule-form").await;
    page.fill("schedule-name", "acme nightly").await;
    page.fill("schedule-source", "GREENHOUSE").await;
    page.fill("schedule-params", r#"{"target": "acme"}"#).await;
    page.fill("schedule-timezone", "Australia/Sydney").await;
    page.fill("schedule-cron", "61 3 * * *").await;
    let err = page
        .wait_for(
            &format!("{e} && {e}.textContent.trim()", e = q("cron-error")),
            "the cron error",
            LONG,
        )
        .await;
    assert!(
        err.as_str().unwrap().to_lowercase().contains("minute")
            || err.as_str().unwrap().contains("61"),
        "the error names what is wrong: {err}"
    );
    page.fill("schedule-cron", "0 3 * * 1-5").await;
    page.wait_for(
        &format!(
            "!{e} && {p} && {p}.querySelectorAll('li').length === 3",
            e = q("cron-error"),
            p = q("cron-preview")
        ),
        "three previewed fires and no error",
        LONG,
    )
    .await;
    assert!(!page.text("cron-description").await.is_empty());
    if shots {
        page.screenshot(&dir.join("schedule-form-light.png")).await;
    }
    page.click("schedule-submit").await;
    let row = "document.querySelector('[data-testid=schedules-table] tr[data-schedule-id]')";
    page.wait_for(row, "the new schedule's row", LONG).await;
    let enabled =
        format!("{row}.querySelector('[data-testid=schedule-enabled]').textContent.trim()");
    page.wait_for(&format!("{enabled} === 'enabled'"), "enabled", LONG)
        .await;
    page.eval(&format!(
        "{row}.querySelector('[data-testid=schedule-pause]').click()"
    ))
    .await;
    page.wait_for(&format!("{enabled} === 'paused'"), "paused", LONG)
        .await;
    page.wait_for(
        &format!("{row}.querySelector('[data-testid=schedule-resume]') && !{row}.querySelector('[data-testid=schedule-resume]').disabled"),
        "the resume button",
        LONG,
    )
    .await;
    page.eval(&format!(
        "{row}.querySelector('[data-testid=schedule-resume]').click()"
    ))
    .await;
    page.wait_for(&format!("{enabled} === 'enabled'"), "enabled again", LONG)
        .await;
    if shots {
        page.screenshot(&dir.join("schedules-light.png")).await;
    }

    // Postings: search, open one.
    goto_page(&page, &base, "nav-postings", "page-postings").await;
    page.wait_for(
        &format!(
            "{}.querySelectorAll('tr[data-posting-id]').length >= 20",
            q("postings-table")
        ),
        "a first page of postings",
        LONG,
    )
    .await;
    page.fill("postings-search", "payable").await;
    page.key("Enter", "Enter", 13).await;
    let found = page
        .wait_for(
            &format!(
                "(() => {{ const n = {}.querySelectorAll('tr[data-posting-id]').length; return n === 1 && n; }})()",
                q("postings-table")
            ),
            "the one posting about accounts payable",
            LONG,
        )
        .await;
    assert!(found.as_i64().unwrap() > 0);
    page.click_css("[data-testid=postings-table] tr[data-posting-id] a, [data-testid=postings-table] tr[data-posting-id] button")
        .await;
    page.wait_testid("posting-detail").await;
    assert!(
        page.text("posting-title")
            .await
            .contains("Accounts Payable")
    );
    page.wait_testid("postings-charts").await;
    if shots {
        page.screenshot(&dir.join("postings-light.png")).await;
    }

    // Instances: this process.
    goto_page(&page, &base, "nav-instances", "page-instances").await;
    page.wait_for(
        &format!(
            "{}.querySelectorAll('tr[data-instance-id]').length === 1",
            q("instances-table")
        ),
        "this instance",
        LONG,
    )
    .await;
    if shots {
        page.screenshot(&dir.join("instances-light.png")).await;
    }

    // The overview with data: totals, the activity the runs above produced.
    goto_page(&page, &base, "nav-overview", "page-overview").await;
    page.wait_for(
        &format!(
            "{}.textContent.replace(/\\D/g, '') === '22'",
            q("overview-total")
        ),
        "22 postings (20 from SEEK, 2 from Greenhouse)",
        LONG,
    )
    .await;
    if shots {
        page.screenshot(&dir.join("overview-light.png")).await;
        // Dark theme and a phone's width.
        page.color_scheme(true).await;
        for (nav, root, name) in [
            ("nav-overview", "page-overview", "overview"),
            ("nav-runs", "page-runs", "runs"),
            ("nav-schedules", "page-schedules", "schedules"),
            ("nav-postings", "page-postings", "postings"),
            ("nav-instances", "page-instances", "instances"),
        ] {
            goto_page(&page, &base, nav, root).await;
            page.screenshot(&dir.join(format!("{name}-dark.png"))).await;
        }
        page.goto(&format!("{base}/console#/runs/{seek_run}")).await;
        page.wait_ready("page-run").await;
        page.screenshot(&dir.join("run-dark.png")).await;
        page.color_scheme(false).await;
        page.resize(390, 844).await;
        goto_page(&page, &base, "nav-overview", "page-overview").await;
        page.screenshot(&dir.join("overview-phone.png")).await;
    }
    page.assert_no_errors(&[]);
}

#[tokio::test]
async fn every_page_and_action_works_on_sqlite() {
    jobintel::install_crypto_provider();
    every_page_and_action(None, true).await;
}

#[tokio::test]
async fn every_page_and_action_works_on_postgres() {
    let Some(_) = testkit::postgres_admin_url() else {
        // The PostgreSQL suite runs with TEST_DATABASE_URL (`.ci/run` sets it); the SQLite
        // test above covers the same pages without it.
        return;
    };
    jobintel::install_crypto_provider();
    let db = testkit::postgres("console_browser").await;
    let url = db.url.clone();
    every_page_and_action(Some(&url), false).await;
}

/// With `JOBINTEL_PROTECT_READS`, the console asks for the token before anything else; a wrong
/// one is refused with a message, the right one opens the overview and is kept for the tab.
#[tokio::test]
async fn a_server_protecting_reads_asks_for_the_token_first() {
    jobintel::install_crypto_provider();
    let (board_url, _) = board().await;
    let server = serve(
        None,
        &board_url,
        &[
            ("JOBINTEL_API_TOKEN", TOKEN),
            ("JOBINTEL_PROTECT_READS", "true"),
        ],
    )
    .await;
    let browser = Browser::launch().await;
    let page = browser.page(1280, 800).await;
    page.goto(&format!("{}/console", server.base)).await;
    page.wait_testid("token-dialog").await;
    page.fill("token-input", "not-the-token").await;
    page.click("token-submit").await;
    page.wait_for(
        &format!("{e} && {e}.textContent.trim()", e = q("token-error")),
        "the wrong token refused with a message",
        LONG,
    )
    .await;
    page.fill("token-input", TOKEN).await;
    page.click("token-submit").await;
    page.wait_ready("page-overview").await;
    assert_eq!(
        page.eval("Object.values(sessionStorage).includes('console-test-token')")
            .await,
        Value::Bool(true),
        "the token is kept in sessionStorage for this tab"
    );
    // Another page of the console reuses it.
    page.click("nav-runs").await;
    page.wait_ready("page-runs").await;
    page.wait_testid("start-ingest-open").await;
    page.screenshot(&std::env::temp_dir().join("jobintel-console-token.png"))
        .await;
    // The refused attempt logs a 401-ish error in the console at most; nothing else.
    page.assert_no_errors(&["401", "403", "UNAUTHENTICATED", "FORBIDDEN", "token"]);
}

/// With a token but public reads, pages load at once and the actions stay disabled until the
/// token is given.
#[tokio::test]
async fn with_a_token_set_actions_wait_for_it() {
    jobintel::install_crypto_provider();
    let (board_url, _) = board().await;
    let server = serve(None, &board_url, &[("JOBINTEL_API_TOKEN", TOKEN)]).await;
    let browser = Browser::launch().await;
    let page = browser.page(1280, 800).await;
    page.goto(&format!("{}/console#/runs", server.base)).await;
    page.wait_ready("page-runs").await;
    let start = q("start-ingest-open");
    assert_eq!(
        page.eval(&format!("!{start} || {start}.disabled")).await,
        Value::Bool(true),
        "no ingest can be started without the token"
    );
    page.click("token-button").await;
    page.fill("token-input", TOKEN).await;
    page.click("token-submit").await;
    page.wait_testid("start-ingest-open").await;
    page.assert_no_errors(&[]);
}

/// The first load of the console on loopback: bytes over the wire and the time to a rendered
/// Overview. Prints the figures (`cargo test -p jobintel-api --test console_browser first_load
/// -- --nocapture`; `JOBINTEL_BIN=target/release/jobintel` for the release binary).
#[tokio::test]
async fn first_load_of_the_console() {
    jobintel::install_crypto_provider();
    let (board_url, _) = board().await;
    let server = serve(None, &board_url, &[]).await;
    let browser = Browser::launch().await;
    let mut times = Vec::new();
    let mut bytes = Vec::new();
    for _ in 0..5 {
        // A new tab with the HTTP cache disabled: a first visit each time.
        let page = browser.page(1280, 800).await;
        page.call("Network.enable", serde_json::json!({})).await;
        page.call(
            "Network.setCacheDisabled",
            serde_json::json!({ "cacheDisabled": true }),
        )
        .await;
        page.goto(&format!("{}/console", server.base)).await;
        page.wait_ready("page-overview").await;
        let m: Value = serde_json::from_str(
            page.eval(
                "JSON.stringify({ready: (performance.getEntriesByName('console:overview-ready')[0] || {}).startTime || null, \
                   bytes: performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')) \
                     .filter(e => !e.name.includes('/graphql')) \
                     .reduce((s, e) => s + e.transferSize, 0), \
                   decoded: performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')) \
                     .filter(e => !e.name.includes('/graphql')) \
                     .reduce((s, e) => s + e.decodedBodySize, 0), \
                   requests: performance.getEntriesByType('resource').length + 1})",
            )
            .await
            .as_str()
            .unwrap(),
        )
        .unwrap();
        let ready = m["ready"]
            .as_f64()
            .expect("the overview marks `console:overview-ready` when it first renders");
        times.push(ready);
        bytes.push(m["bytes"].as_f64().unwrap());
        println!("first load: {m}");
        page.assert_no_errors(&[]);
    }
    times.sort_by(f64::total_cmp);
    bytes.sort_by(f64::total_cmp);
    let (t, b) = (times[2], bytes[2]);
    println!(
        "console first load, median of 5: {t:.0} ms to a rendered Overview, {:.1} KB transferred (gzipped where the browser accepts it)",
        b / 1024.0
    );
    assert!(b > 0.0, "the assets were fetched");
    assert!(
        b < 1_200_000.0,
        "the console's assets stay small ({b} bytes transferred)"
    );
}

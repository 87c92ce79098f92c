//! The polite fetcher against a real HTTP server on 127.0.0.1 (port 0).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use ingest::fetch::{FetchConfig, FetchError, FetchStats, Fetcher, HostResolver, RequestOptions};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

/// Requests the server received, per path.
#[derive(Clone, Default)]
struct Hits(Arc<Mutex<HashMap<String, u32>>>);

impl Hits {
    fn of(&self, path: &str) -> u32 {
        self.0.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn total(&self) -> u32 {
        self.0.lock().unwrap().values().sum()
    }
}

async fn count_hits(State(hits): State<Hits>, request: Request, next: Next) -> Response {
    *hits
        .0
        .lock()
        .unwrap()
        .entry(request.uri().path().to_owned())
        .or_default() += 1;
    next.run(request).await
}

struct TestServer {
    base: Url,
    hits: Hits,
}

impl TestServer {
    /// Serves `router` (unknown paths, including /robots.txt unless routed, answer 404).
    async fn start(router: Router) -> Self {
        let hits = Hits::default();
        let app = router.layer(middleware::from_fn_with_state(hits.clone(), count_hits));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestServer {
            base: Url::parse(&format!("http://{addr}/")).unwrap(),
            hits,
        }
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    fn port(&self) -> u16 {
        self.base.port().unwrap()
    }
}

fn robots(text: &'static str) -> Router {
    Router::new().route("/robots.txt", get(move || async move { text }))
}

/// A handler answering with `responses` in turn (repeating the last one).
fn sequence(responses: Vec<fn() -> Response>) -> axum::routing::MethodRouter {
    let calls = Arc::new(AtomicU32::new(0));
    any(move || {
        let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
        let respond = responses[n.min(responses.len() - 1)];
        async move { respond() }
    })
}

fn ok() -> Response {
    "ok".into_response()
}

async fn ok_page() -> &'static str {
    "ok"
}

fn internal_error() -> Response {
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Fast settings for tests: quick backoff, high rates, local addresses allowed.
fn test_config() -> FetchConfig {
    FetchConfig {
        user_agent_version: "9.9.9".into(),
        contact_url: "https://example.com/contact".into(),
        html_rate_per_sec: 1000.0,
        json_rate_per_sec: 1000.0,
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        robots_error_ttl: Duration::from_millis(200),
        allow_private_network: true,
        ..FetchConfig::default()
    }
}

fn fetcher(config: FetchConfig) -> Fetcher {
    // reqwest is built without a crypto provider; the binary installs ring's at start.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Fetcher::new(config).unwrap()
}

async fn fetch_html(
    fetcher: &Fetcher,
    url: &Url,
    stats: &FetchStats,
) -> Result<ingest::fetch::FetchedPage, FetchError> {
    fetcher
        .fetch(
            url,
            &RequestOptions::html(),
            stats,
            &CancellationToken::new(),
        )
        .await
}

// ---------------------------------------------------------------------------------------------
// Retries

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_then_succeeds() {
    let router = Router::new().route(
        "/jobs",
        sequence(vec![
            || {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    "slow down",
                )
                    .into_response()
            },
            ok,
        ]),
    );
    let server = TestServer::start(router).await;
    let fetcher = fetcher(test_config());
    let stats = FetchStats::new();

    let started = Instant::now();
    let page = fetch_html(&fetcher, &server.url("/jobs"), &stats)
        .await
        .unwrap();

    assert!(
        started.elapsed() >= Duration::from_millis(990),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(page.text(), "ok");
    assert_eq!(server.hits.of("/jobs"), 2);
    let counted = stats.snapshot();
    assert_eq!(counted.requests, 3, "2 page attempts + robots.txt");
    assert_eq!(counted.retries, 1);
    assert_eq!(
        counted.http_errors, 1,
        "the 429 (a robots.txt 404 is not an error)"
    );
}

#[tokio::test]
async fn a_500_is_retried_and_the_later_success_returned() {
    let router = Router::new().route("/jobs", sequence(vec![internal_error, ok]));
    let server = TestServer::start(router).await;
    let stats = FetchStats::new();

    let page = fetch_html(&fetcher(test_config()), &server.url("/jobs"), &stats)
        .await
        .unwrap();

    assert_eq!(page.status, 200);
    assert_eq!(server.hits.of("/jobs"), 2);
    assert_eq!(stats.snapshot().retries, 1);
    assert_eq!(stats.snapshot().http_errors, 1);
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_max_retries_with_the_status() {
    let router = Router::new().route(
        "/jobs",
        sequence(vec![|| StatusCode::BAD_GATEWAY.into_response()]),
    );
    let server = TestServer::start(router).await;
    let stats = FetchStats::new();
    let config = FetchConfig {
        max_retries: 2,
        ..test_config()
    };

    let err = fetch_html(&fetcher(config), &server.url("/jobs"), &stats)
        .await
        .unwrap_err();

    assert!(
        matches!(err, FetchError::Status { status: 502, .. }),
        "{err}"
    );
    assert!(err.is_transient());
    assert!(
        err.to_string().contains(server.url("/jobs").as_str()),
        "{err}"
    );
    assert_eq!(server.hits.of("/jobs"), 3);
    assert_eq!(stats.snapshot().retries, 2);
}

#[tokio::test]
async fn a_server_slower_than_the_total_timeout_is_retried_then_reported_as_a_timeout() {
    let router = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "too late"
        }),
    );
    let server = TestServer::start(router).await;
    let stats = FetchStats::new();
    let config = FetchConfig {
        total_timeout: Duration::from_millis(300),
        max_retries: 1,
        ..test_config()
    };

    let started = Instant::now();
    let err = fetch_html(&fetcher(config), &server.url("/slow"), &stats)
        .await
        .unwrap_err();

    assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.hits.of("/slow"), 2);
    assert_eq!(stats.snapshot().retries, 1);
    assert_eq!(stats.snapshot().http_errors, 2);
}

#[tokio::test]
async fn client_errors_other_than_429_are_not_retried() {
    let router = Router::new().route(
        "/gone",
        sequence(vec![|| StatusCode::NOT_FOUND.into_response()]),
    );
    let server = TestServer::start(router).await;
    let stats = FetchStats::new();

    let err = fetch_html(&fetcher(test_config()), &server.url("/gone"), &stats)
        .await
        .unwrap_err();

    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(!err.is_transient());
    assert_eq!(server.hits.of("/gone"), 1);
    assert_eq!(stats.snapshot().retries, 0);
    assert_eq!(stats.snapshot().http_errors, 1);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_cap_gives_up_at_once_saying_so() {
    let router = Router::new().route(
        "/jobs",
        sequence(vec![|| {
            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "120")]).into_response()
        }]),
    );
    let server = TestServer::start(router).await;

    let err = fetch_html(
        &fetcher(test_config()),
        &server.url("/jobs"),
        &FetchStats::new(),
    )
    .await
    .unwrap_err();

    assert!(
        matches!(
            err,
            FetchError::RetryAfterTooLong {
                seconds: 120,
                cap_seconds: 60,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("120"), "{err}");
    assert_eq!(server.hits.of("/jobs"), 1);
}

// ---------------------------------------------------------------------------------------------
// Size cap and challenges

#[tokio::test]
async fn a_body_over_the_size_cap_is_too_large_whether_declared_or_streamed() {
    let router = Router::new()
        .route("/declared", get(|| async { vec![b'x'; 4096] }))
        .route(
            "/streamed",
            get(|| async {
                let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 256])));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route("/small", get(|| async { vec![b'x'; 1000] }));
    let server = TestServer::start(router).await;
    let config = FetchConfig {
        max_body_bytes: 1024,
        ..test_config()
    };
    let fetcher = fetcher(config);
    let stats = FetchStats::new();

    for path in ["/declared", "/streamed"] {
        let err = fetch_html(&fetcher, &server.url(path), &stats)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { limit: 1024, .. }),
            "{path}: {err}"
        );
        assert_eq!(server.hits.of(path), 1, "{path} must not be retried");
    }
    let small = fetch_html(&fetcher, &server.url("/small"), &stats)
        .await
        .unwrap();
    assert_eq!(small.body.len(), 1000);
}

#[tokio::test]
async fn a_challenge_page_served_with_200_is_blocked_and_not_retried() {
    let router = Router::new().route(
        "/viewjob",
        get(|| async {
            axum::response::Html("<html><head><title>Just a moment...</title></head></html>")
        }),
    );
    let server = TestServer::start(router).await;
    let stats = FetchStats::new();

    let err = fetch_html(&fetcher(test_config()), &server.url("/viewjob"), &stats)
        .await
        .unwrap_err();

    assert!(matches!(err, FetchError::Blocked { .. }), "{err}");
    assert_eq!(server.hits.of("/viewjob"), 1);
    assert_eq!(stats.snapshot().retries, 0);
}

#[tokio::test]
async fn a_403_marked_cf_mitigated_challenge_is_blocked_and_not_retried() {
    let router = Router::new().route(
        "/viewjob",
        get(|| async { (StatusCode::FORBIDDEN, [("cf-mitigated", "challenge")], "") }),
    );
    let server = TestServer::start(router).await;

    let err = fetch_html(
        &fetcher(test_config()),
        &server.url("/viewjob"),
        &FetchStats::new(),
    )
    .await
    .unwrap_err();

    assert!(
        matches!(&err, FetchError::Blocked { reason, .. } if reason.contains("cf-mitigated")),
        "{err}"
    );
    assert_eq!(server.hits.of("/viewjob"), 1);
}

// ---------------------------------------------------------------------------------------------
// robots.txt

#[tokio::test]
async fn a_url_disallowed_by_robots_txt_is_refused_without_requesting_it() {
    let router = robots("User-agent: *\nDisallow: /private\n").route("/private/job", get(ok_page));
    let server = TestServer::start(router).await;
    let stats = FetchStats::new();

    let err = fetch_html(&fetcher(test_config()), &server.url("/private/job"), &stats)
        .await
        .unwrap_err();

    assert!(
        matches!(&err, FetchError::RobotsDisallowed { reason, .. } if reason.contains("/private")),
        "{err}"
    );
    assert!(!err.is_transient());
    assert_eq!(server.hits.of("/private/job"), 0);
    assert_eq!(server.hits.of("/robots.txt"), 1);
    assert_eq!(stats.snapshot().requests, 1);
}

#[tokio::test]
async fn robots_txt_groups_for_jobintel_take_precedence_over_star() {
    let router = robots("User-agent: *\nDisallow: /\n\nUser-agent: JobIntel\nDisallow: /search\n")
        .route("/jobs", get(ok_page))
        .route("/search", get(ok_page));
    let server = TestServer::start(router).await;
    let fetcher = fetcher(test_config());
    let stats = FetchStats::new();

    assert!(
        fetch_html(&fetcher, &server.url("/jobs"), &stats)
            .await
            .is_ok()
    );
    let err = fetch_html(&fetcher, &server.url("/search?q=x"), &stats)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::RobotsDisallowed { .. }), "{err}");
    assert_eq!(server.hits.of("/search"), 0);
}

#[tokio::test]
async fn a_missing_robots_txt_allows_everything() {
    let server = TestServer::start(Router::new().route("/jobs", get(ok_page))).await;
    let stats = FetchStats::new();

    let page = fetch_html(&fetcher(test_config()), &server.url("/jobs"), &stats)
        .await
        .unwrap();

    assert_eq!(page.text(), "ok");
    assert_eq!(server.hits.of("/robots.txt"), 1);
    assert_eq!(stats.snapshot().requests, 2);
    assert_eq!(stats.snapshot().http_errors, 0);
}

#[tokio::test]
async fn robots_txt_is_fetched_once_for_many_requests_even_concurrent_ones() {
    let router = robots("User-agent: *\nAllow: /\n").route("/jobs", get(ok_page));
    let server = TestServer::start(router).await;
    let fetcher = fetcher(test_config());
    let stats = FetchStats::new();
    let url = server.url("/jobs");

    let concurrent = (0..5).map(|_| fetch_html(&fetcher, &url, &stats));
    for result in futures_util::future::join_all(concurrent).await {
        result.unwrap();
    }
    for _ in 0..5 {
        fetch_html(&fetcher, &url, &stats).await.unwrap();
    }

    assert_eq!(server.hits.of("/jobs"), 10);
    assert_eq!(server.hits.of("/robots.txt"), 1);
    assert_eq!(stats.snapshot().requests, 11);
}

#[tokio::test]
async fn an_unreachable_robots_txt_disallows_everything_but_only_briefly() {
    let router = Router::new()
        .route(
            "/robots.txt",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        )
        .route("/jobs", get(ok_page));
    let server = TestServer::start(router).await;
    let fetcher = fetcher(test_config());
    let stats = FetchStats::new();
    let url = server.url("/jobs");

    for _ in 0..2 {
        let err = fetch_html(&fetcher, &url, &stats).await.unwrap_err();
        assert!(
            matches!(&err, FetchError::RobotsDisallowed { reason, .. } if reason.contains("503")),
            "{err}"
        );
        assert!(err.is_transient(), "robots.txt may come back");
    }
    assert_eq!(server.hits.of("/robots.txt"), 1, "the failure is cached");

    tokio::time::sleep(Duration::from_millis(250)).await; // past robots_error_ttl
    let err = fetch_html(&fetcher, &url, &stats).await.unwrap_err();
    assert!(matches!(err, FetchError::RobotsDisallowed { .. }), "{err}");
    assert_eq!(
        server.hits.of("/robots.txt"),
        2,
        "retried after the short TTL"
    );
    assert_eq!(server.hits.of("/jobs"), 0);
}

#[tokio::test]
async fn an_unreachable_host_is_a_temporary_robots_refusal_naming_the_cause() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = Url::parse(&format!("http://127.0.0.1:{port}/jobs")).unwrap();
    let stats = FetchStats::new();

    let err = fetch_html(&fetcher(test_config()), &url, &stats)
        .await
        .unwrap_err();

    assert!(
        matches!(&err, FetchError::RobotsDisallowed { reason, temporary: true, .. } if reason.contains("could not be fetched")),
        "{err}"
    );
    assert!(err.is_transient());
    assert_eq!(stats.snapshot().http_errors, 1);
}

#[tokio::test]
async fn robots_txt_is_not_consulted_when_disabled() {
    let router = robots("User-agent: *\nDisallow: /\n").route("/jobs", get(ok_page));
    let server = TestServer::start(router).await;
    let config = FetchConfig {
        respect_robots: false,
        ..test_config()
    };

    fetch_html(&fetcher(config), &server.url("/jobs"), &FetchStats::new())
        .await
        .unwrap();

    assert_eq!(server.hits.of("/robots.txt"), 0);
    assert_eq!(server.hits.of("/jobs"), 1);
}

// ---------------------------------------------------------------------------------------------
// Pacing and concurrency

#[tokio::test]
async fn requests_to_one_host_are_spaced_by_the_per_request_rate() {
    let server = TestServer::start(Router::new().route("/api", get(ok_page))).await;
    let config = FetchConfig {
        respect_robots: false,
        ..test_config()
    };
    let fetcher = fetcher(config);
    let stats = FetchStats::new();
    let options = RequestOptions::json().with_rate(20.0);
    let cancel = CancellationToken::new();
    let n = 5;

    let started = Instant::now();
    for _ in 0..n {
        fetcher
            .fetch(&server.url("/api"), &options, &stats, &cancel)
            .await
            .unwrap();
    }

    let lower_bound = Duration::from_secs_f64((n - 1) as f64 / 20.0);
    assert!(
        started.elapsed() >= lower_bound,
        "{:?} < {lower_bound:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn concurrent_requests_share_the_host_rate() {
    let server = TestServer::start(Router::new().route("/api", get(ok_page))).await;
    let config = FetchConfig {
        respect_robots: false,
        json_rate_per_sec: 20.0,
        max_in_flight_per_host: 10,
        ..test_config()
    };
    let fetcher = fetcher(config);
    let stats = FetchStats::new();
    let cancel = CancellationToken::new();
    let url = server.url("/api");
    let options = RequestOptions::json();

    let started = Instant::now();
    let all = (0..5).map(|_| fetcher.fetch(&url, &options, &stats, &cancel));
    for result in futures_util::future::join_all(all).await {
        result.unwrap();
    }

    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn robots_crawl_delay_slows_the_host_below_the_configured_rate() {
    let router = robots("User-agent: *\nCrawl-delay: 0.3\n").route("/jobs", get(ok_page));
    let server = TestServer::start(router).await;
    let fetcher = fetcher(test_config());
    let stats = FetchStats::new();

    let started = Instant::now();
    for _ in 0..3 {
        fetch_html(&fetcher, &server.url("/jobs"), &stats)
            .await
            .unwrap();
    }

    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn different_hosts_are_paced_independently() {
    let first = TestServer::start(Router::new().route("/a", get(ok_page))).await;
    let second = TestServer::start(Router::new().route("/b", get(ok_page))).await;
    let config = FetchConfig {
        respect_robots: false,
        html_rate_per_sec: 0.5,
        ..test_config()
    };
    let fetcher = fetcher(config);
    let stats = FetchStats::new();

    let started = Instant::now();
    fetch_html(&fetcher, &first.url("/a"), &stats)
        .await
        .unwrap();
    fetch_html(&fetcher, &second.url("/b"), &stats)
        .await
        .unwrap();

    // One shared pace would have made the second request wait two seconds.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn requests_in_flight_per_host_never_exceed_the_limit() {
    #[derive(Clone, Default)]
    struct Gauge {
        now: Arc<AtomicU32>,
        max: Arc<AtomicU32>,
    }
    let gauge = Gauge::default();
    let router = Router::new()
        .route(
            "/jobs",
            get(|State(gauge): State<Gauge>| async move {
                let current = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
                gauge.max.fetch_max(current, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                gauge.now.fetch_sub(1, Ordering::SeqCst);
                "ok"
            }),
        )
        .with_state(gauge.clone());
    let server = TestServer::start(router).await;
    let config = FetchConfig {
        max_in_flight_per_host: 2,
        ..test_config()
    };
    let fetcher = fetcher(config);
    let stats = FetchStats::new();
    let url = server.url("/jobs");

    let all = (0..10).map(|_| fetch_html(&fetcher, &url, &stats));
    for result in futures_util::future::join_all(all).await {
        result.unwrap();
    }

    assert_eq!(server.hits.of("/jobs"), 10);
    assert_eq!(gauge.max.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------------------------------
// Cancellation

#[tokio::test]
async fn cancelling_during_a_backoff_returns_cancelled_promptly() {
    let router = Router::new().route("/jobs", sequence(vec![internal_error]));
    let server = TestServer::start(router).await;
    let config = FetchConfig {
        max_retries: 10,
        backoff_base: Duration::from_secs(20),
        backoff_max: Duration::from_secs(20),
        ..test_config()
    };
    let fetcher = fetcher(config);
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        canceller.cancel();
    });

    let started = Instant::now();
    let err = fetcher
        .fetch(
            &server.url("/jobs"),
            &RequestOptions::html(),
            &FetchStats::new(),
            &cancel,
        )
        .await
        .unwrap_err();

    assert!(matches!(err, FetchError::Cancelled { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cancelling_during_a_retry_after_wait_returns_cancelled_promptly() {
    let router = Router::new().route(
        "/jobs",
        sequence(vec![|| {
            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "30")]).into_response()
        }]),
    );
    let server = TestServer::start(router).await;
    let fetcher = fetcher(test_config());
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        canceller.cancel();
    });

    let started = Instant::now();
    let err = fetcher
        .fetch(
            &server.url("/jobs"),
            &RequestOptions::html(),
            &FetchStats::new(),
            &cancel,
        )
        .await
        .unwrap_err();

    assert!(matches!(err, FetchError::Cancelled { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.hits.of("/jobs"), 1);
}

#[tokio::test]
async fn an_already_cancelled_token_sends_nothing() {
    let server = TestServer::start(Router::new().route("/jobs", get(ok_page))).await;
    let cancel = CancellationToken::new();
    cancel.cancel();

    let err = fetcher(test_config())
        .fetch(
            &server.url("/jobs"),
            &RequestOptions::html(),
            &FetchStats::new(),
            &cancel,
        )
        .await
        .unwrap_err();

    assert!(matches!(err, FetchError::Cancelled { .. }), "{err}");
    assert_eq!(server.hits.total(), 0);
}

// ---------------------------------------------------------------------------------------------
// Private-network guard

#[tokio::test]
async fn private_network_addresses_are_refused_before_any_request_is_sent() {
    let server = TestServer::start(Router::new().route("/", get(ok_page))).await;
    let port = server.port();
    let config = FetchConfig {
        allow_private_network: false,
        ..test_config()
    };
    let fetcher = fetcher(config);

    for target in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        "http://10.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let url = Url::parse(&target).unwrap();
        let err = fetch_html(&fetcher, &url, &FetchStats::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::PrivateNetwork { .. }),
            "{target}: {err}"
        );
        assert!(
            err.to_string().contains("JOBINTEL_ALLOW_PRIVATE_NETWORK"),
            "{err}"
        );
    }
    assert_eq!(server.hits.total(), 0);
}

// ---------------------------------------------------------------------------------------------
// Redirects, headers, URLs

#[tokio::test]
async fn redirects_are_followed_reported_and_counted() {
    let router = Router::new()
        .route(
            "/old",
            get(|| async { (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "/new")]) }),
        )
        .route("/new", get(ok_page));
    let server = TestServer::start(router).await;
    let stats = FetchStats::new();

    let page = fetch_html(&fetcher(test_config()), &server.url("/old"), &stats)
        .await
        .unwrap();

    assert_eq!(page.url, server.url("/new"));
    assert_eq!(stats.snapshot().requests, 3, "robots.txt, /old, /new");
}

#[tokio::test]
async fn a_redirect_loop_stops_after_five_redirects() {
    let router = Router::new().route(
        "/loop",
        get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/loop")]) }),
    );
    let server = TestServer::start(router).await;

    let err = fetch_html(
        &fetcher(test_config()),
        &server.url("/loop"),
        &FetchStats::new(),
    )
    .await
    .unwrap_err();

    assert!(
        matches!(err, FetchError::TooManyRedirects { limit: 5, .. }),
        "{err}"
    );
    assert_eq!(server.hits.of("/loop"), 6, "the request and five redirects");
}

#[tokio::test]
async fn requests_identify_jobintel_and_accept_compressed_json() {
    let router = Router::new().route(
        "/api",
        get(|headers: HeaderMap| async move {
            let get = |name: header::HeaderName| {
                headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            };
            axum::Json(serde_json::json!({
                "user_agent": get(header::USER_AGENT),
                "accept": get(header::ACCEPT),
                "accept_encoding": get(header::ACCEPT_ENCODING),
            }))
        }),
    );
    let server = TestServer::start(router).await;

    let page = fetcher(test_config())
        .fetch(
            &server.url("/api"),
            &RequestOptions::json(),
            &FetchStats::new(),
            &CancellationToken::new(),
        )
        .await
        .unwrap();

    let seen: serde_json::Value = page.json().unwrap();
    assert_eq!(
        seen["user_agent"],
        "jobintel/9.9.9 (+https://example.com/contact)"
    );
    assert_eq!(seen["accept"], "application/json");
    let encodings = seen["accept_encoding"].as_str().unwrap();
    assert!(
        encodings.contains("gzip") && encodings.contains("br"),
        "{encodings}"
    );
    assert!(page.content_type.unwrap().starts_with("application/json"));
}

#[tokio::test]
async fn json_posts_send_their_body() {
    let router = Router::new().route(
        "/graphql",
        axum::routing::post(|body: String| async move { body }),
    );
    let server = TestServer::start(router).await;
    let options = RequestOptions::json()
        .with_json_body(&serde_json::json!({"operationName": "jobDetails"}))
        .unwrap();

    let page = fetcher(test_config())
        .fetch(
            &server.url("/graphql"),
            &options,
            &FetchStats::new(),
            &CancellationToken::new(),
        )
        .await
        .unwrap();

    assert_eq!(page.text(), r#"{"operationName":"jobDetails"}"#);
}

#[tokio::test]
async fn non_http_urls_are_invalid() {
    let err = fetch_html(
        &fetcher(test_config()),
        &Url::parse("ftp://example.com/jobs.csv").unwrap(),
        &FetchStats::new(),
    )
    .await
    .unwrap_err();

    assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err}");
}

#[tokio::test]
async fn errors_redact_credentials_in_urls() {
    let router = Router::new().route(
        "/gone",
        sequence(vec![|| StatusCode::NOT_FOUND.into_response()]),
    );
    let server = TestServer::start(router).await;
    let mut url = server.url("/gone?api_key=hunter2");
    url.set_username("alice").unwrap();
    url.set_password(Some("s3cret")).unwrap();

    let err = fetch_html(&fetcher(test_config()), &url, &FetchStats::new())
        .await
        .unwrap_err();

    let message = err.to_string();
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{message}"
    );
    assert!(
        !message.contains("s3cret") && !message.contains("hunter2"),
        "{message}"
    );
    assert!(!message.contains("alice"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Redirect hops and DNS answers (issue #11): names are looked up in a table instead of DNS

/// Names answered from a table (anything else does not resolve).
#[derive(Debug)]
struct Table(Vec<(&'static str, Vec<IpAddr>)>);

impl HostResolver for Table {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let found = self
            .0
            .iter()
            .find(|(name, _)| *name == host)
            .map(|(_, ips)| ips.clone());
        Box::pin(async move { found.ok_or_else(|| std::io::Error::other("not in the test table")) })
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|ip| ip.parse().unwrap()).collect()
}

/// `jobs.test` is the test server (trusted, as an operator's own host would be);
/// `internal.test` resolves to loopback, `mixed.test` to a public and a private address,
/// `public.test` and `elsewhere.test` to public addresses.
fn table() -> Arc<Table> {
    Arc::new(Table(vec![
        ("jobs.test", ips(&["127.0.0.1"])),
        ("internal.test", ips(&["127.0.0.1"])),
        ("mixed.test", ips(&["93.184.216.34", "10.20.30.40"])),
        ("public.test", ips(&["93.184.216.34"])),
        ("elsewhere.test", ips(&["93.184.216.35"])),
    ]))
}

fn guarded_config() -> FetchConfig {
    FetchConfig {
        allow_private_network: false,
        ..test_config()
    }
}

/// A server that redirects `/to/{host}` to `http://{host}:{its port}/secret`.
async fn redirecting_server() -> TestServer {
    let port = Arc::new(Mutex::new(0u16));
    let router = Router::new()
        .route(
            "/to/{host}",
            get({
                let port = port.clone();
                move |axum::extract::Path(host): axum::extract::Path<String>| {
                    let port = *port.lock().unwrap();
                    async move {
                        let target = format!("http://{host}:{port}/secret");
                        (StatusCode::FOUND, [(header::LOCATION, target)])
                    }
                }
            }),
        )
        .route("/secret", get(|| async { "internal data" }))
        .route("/page", get(ok_page));
    let server = TestServer::start(router).await;
    *port.lock().unwrap() = server.port();
    server
}

#[tokio::test]
async fn a_redirect_to_a_name_resolving_to_loopback_is_refused_before_it_is_requested() {
    let server = redirecting_server().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fetcher = Fetcher::builder(guarded_config())
        .resolver(table())
        .trusted_host("jobs.test")
        .build()
        .unwrap();
    let port = server.port();
    let start = Url::parse(&format!("http://jobs.test:{port}/to/internal.test")).unwrap();

    let stats = FetchStats::new();
    let err = fetch_html(&fetcher, &start, &stats).await.unwrap_err();

    let FetchError::PrivateNetwork { url, reason } = &err else {
        panic!("{err}");
    };
    assert_eq!(url, start.as_str());
    assert_eq!(
        reason,
        &format!(
            "redirected to http://internal.test:{port}/secret: internal.test resolves to non-public address (127.0.0.1)"
        )
    );
    assert_eq!(server.hits.of("/secret"), 0, "the hop was never requested");
    assert_eq!(
        stats.snapshot().requests,
        2,
        "robots.txt and the first request"
    );

    // The trusted host itself is fetched.
    let page = Url::parse(&format!("http://jobs.test:{port}/page")).unwrap();
    assert!(
        fetch_html(&fetcher, &page, &FetchStats::new())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_name_whose_answer_mixes_public_and_private_addresses_is_refused() {
    let server = redirecting_server().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fetcher = Fetcher::builder(guarded_config())
        .resolver(table())
        .trusted_host("jobs.test")
        .build()
        .unwrap();
    let port = server.port();

    // As a redirect hop: refused before it is requested.
    let start = Url::parse(&format!("http://jobs.test:{port}/to/mixed.test")).unwrap();
    let err = fetch_html(&fetcher, &start, &FetchStats::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::PrivateNetwork { reason, .. }
            if reason.ends_with("mixed.test resolves to non-public address (10.20.30.40)")),
        "{err}"
    );

    // As the URL itself: the connection's resolver refuses it instead of quietly using the
    // public address.
    let direct = Url::parse(&format!("http://mixed.test:{port}/page")).unwrap();
    let err = fetch_html(&fetcher, &direct, &FetchStats::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::PrivateNetwork { reason, .. } if reason.contains("10.20.30.40")),
        "{err}"
    );
    assert_eq!(server.hits.of("/secret"), 0);
}

/// A forward proxy stand-in: answers every request itself (requests arrive in absolute form),
/// recording the absolute URLs it was asked for. `/to/{host}` redirects to `{host}/secret`.
async fn proxy_server() -> (TestServer, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let router = Router::new().fallback({
        let asked = asked.clone();
        move |request: Request| {
            let asked = asked.clone();
            async move {
                let uri = request.uri().clone();
                asked.lock().unwrap().push(uri.to_string());
                match uri.path().strip_prefix("/to/") {
                    Some(host) => {
                        let target = format!("http://{host}/secret");
                        (StatusCode::FOUND, [(header::LOCATION, target)]).into_response()
                    }
                    None if uri.path() == "/robots.txt" => StatusCode::NOT_FOUND.into_response(),
                    None => "through the proxy".into_response(),
                }
            }
        }
    });
    (TestServer::start(router).await, asked)
}

#[tokio::test]
async fn behind_a_proxy_each_redirect_hop_is_resolved_and_checked_before_it_is_followed() {
    let (proxy, asked) = proxy_server().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fetcher = Fetcher::builder(guarded_config())
        .resolver(table())
        .proxy(proxy.base.clone())
        .build()
        .unwrap();

    // A public page redirecting to a public host is followed through the proxy.
    let start = Url::parse("http://public.test/to/elsewhere.test").unwrap();
    let page = fetch_html(&fetcher, &start, &FetchStats::new())
        .await
        .unwrap();
    assert_eq!(page.url.as_str(), "http://elsewhere.test/secret");
    assert_eq!(&page.body[..], b"through the proxy");

    // A redirect to a name that resolves to loopback is refused: the proxy never sees it.
    for (hop, address) in [
        ("internal.test", "127.0.0.1"),
        ("mixed.test", "10.20.30.40"),
    ] {
        let start = Url::parse(&format!("http://public.test/to/{hop}")).unwrap();
        let err = fetch_html(&fetcher, &start, &FetchStats::new())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::PrivateNetwork { reason, .. }
                if reason.starts_with(&format!("redirected to http://{hop}/secret: {hop} resolves to non-public"))
                    && reason.contains(address)),
            "{err}"
        );
    }
    // A name we cannot resolve cannot be checked, so it is not handed to the proxy either.
    let start = Url::parse("http://public.test/to/unknown.test").unwrap();
    let err = fetch_html(&fetcher, &start, &FetchStats::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::PrivateNetwork { reason, .. }
            if reason.contains("cannot resolve unknown.test to check that it is public")),
        "{err}"
    );
    let asked = asked.lock().unwrap().clone();
    for hop in ["internal.test", "mixed.test", "unknown.test"] {
        let prefix = format!("http://{hop}/");
        assert!(!asked.iter().any(|u| u.starts_with(&prefix)), "{asked:?}");
    }
    assert!(
        asked.iter().any(|u| u == "http://elsewhere.test/secret"),
        "{asked:?}"
    );

    // The first URL is checked the same way when a proxy resolves names.
    let err = fetch_html(
        &fetcher,
        &Url::parse("http://internal.test/").unwrap(),
        &FetchStats::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, FetchError::PrivateNetwork { .. }), "{err}");
}

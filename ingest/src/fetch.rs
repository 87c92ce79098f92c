//! The polite fetcher: one HTTP client shared by every ingest run.
//!
//! Every request a source makes goes through [`Fetcher::fetch`], which, per origin (scheme, host,
//! port) and across all runs:
//! - obeys robots.txt (fetched once, cached; [`robots`]), including `Crawl-delay`;
//! - paces requests with a token bucket (≤ 1 req/s for HTML and ≤ 2 req/s for JSON by default,
//!   overridable per request) and bounds the requests in flight;
//! - retries 429, 500/502/503/504, timeouts and connection errors, honouring `Retry-After` up to
//!   a cap, else with exponential backoff and full jitter;
//! - treats bot challenges (even served with HTTP 200) as [`FetchError::Blocked`] and does not
//!   retry them;
//! - refuses private-network addresses unless allowed (see `guard` for where that is checked);
//! - caps response sizes, applies timeouts, identifies itself as
//!   `jobintel/{version} (+{contact_url})`, and takes proxies from the standard environment
//!   variables (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`).
//!
//! Every wait can be cut short with the caller's [`CancellationToken`], and every attempt is
//! counted in the caller's [`FetchStats`].
//!
//! Layout: `error` (the error type, URL redaction), `guard` (private-network guard), `limit`
//! (per-host pacing), `retry` (`Retry-After`, backoff), [`robots`] (robots.txt), `challenge`
//! (bot challenge detection); the client itself is here. The useful items of the private
//! modules are re-exported.
//!
//! Building the client needs a rustls crypto provider to be installed first (reqwest is built
//! without one): the binary calls `rustls::crypto::ring::default_provider().install_default()`
//! at start.

mod challenge;
mod error;
mod guard;
mod limit;
mod retry;
pub mod robots;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::error::Error as StdError;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HeaderMap, HeaderName,
    HeaderValue, LOCATION, PROXY_AUTHORIZATION, RETRY_AFTER,
};
use reqwest::{Method, redirect};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::{Position, Url};

pub use error::{FetchError, redact_url};
pub use guard::{HostResolver, SystemResolver, is_non_public_ip};
pub use retry::parse_retry_after;
pub use robots::{RobotsRules, RobotsTxt};

use guard::{Guard, GuardedResolver, PrivateAddressError, RedirectRefusal};
use limit::{HostState, request_interval};

/// Our product token: the name robots.txt groups address us by, and the start of our
/// User-Agent.
pub const PRODUCT_TOKEN: &str = "jobintel";

/// The environment variable the binary reads into [`FetchConfig::allow_private_network`].
pub const ALLOW_PRIVATE_NETWORK_ENV: &str = "JOBINTEL_ALLOW_PRIVATE_NETWORK";

/// The most redirects one fetch follows.
pub const MAX_REDIRECTS: usize = 5;

/// The most of a robots.txt file we read (RFC 9309 asks parsers to handle at least 500 KiB);
/// longer files are truncated rather than refused.
const ROBOTS_MAX_BYTES: usize = 512 * 1024;

/// How the fetcher behaves. `Default` gives the documented defaults; the binary fills it from
/// its configuration.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Version in the User-Agent (`jobintel/{version} (+{contact_url})`). Default: this
    /// crate's version.
    pub user_agent_version: String,
    /// Where site operators can find out who we are and how to reach us; in the User-Agent.
    /// Default: a placeholder, `https://jobintel.invalid/contact`; set a real page.
    pub contact_url: String,
    /// Requests per second per host for HTML pages. Default 1.
    pub html_rate_per_sec: f64,
    /// Requests per second per host for JSON APIs. Default 2.
    pub json_rate_per_sec: f64,
    /// Requests in flight at once per host, across all runs. Default 2.
    pub max_in_flight_per_host: usize,
    /// Time allowed to establish a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt: connect, send, receive the whole body. Default 30 s.
    pub total_timeout: Duration,
    /// Largest response body accepted, after decompression. Default 8 MiB.
    pub max_body_bytes: usize,
    /// Retries after the first attempt (so `max_retries + 1` attempts at most). Default 3.
    pub max_retries: u32,
    /// Backoff ceiling before the first retry; doubles with each retry. Default 500 ms.
    pub backoff_base: Duration,
    /// Largest backoff ceiling. Default 30 s.
    pub backoff_max: Duration,
    /// Longest `Retry-After` we wait for; a longer one fails the fetch with
    /// [`FetchError::RetryAfterTooLong`]. Default 60 s.
    pub retry_after_cap: Duration,
    /// Whether to fetch and obey robots.txt. Default true.
    pub respect_robots: bool,
    /// How long a fetched robots.txt (or its absence, 4xx) is trusted. Default 24 h.
    pub robots_cache_ttl: Duration,
    /// How long an unreachable robots.txt (5xx, network error), which means "disallow
    /// everything", is remembered before trying again. Default 5 min.
    pub robots_error_ttl: Duration,
    /// Whether private, loopback, link-local and similar addresses may be fetched (local
    /// development and tests). Default false; the binary reads `JOBINTEL_ALLOW_PRIVATE_NETWORK`.
    pub allow_private_network: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            user_agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            contact_url: "https://jobintel.invalid/contact".to_owned(),
            html_rate_per_sec: 1.0,
            json_rate_per_sec: 2.0,
            max_in_flight_per_host: 2,
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_body_bytes: 8 * 1024 * 1024,
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            retry_after_cap: Duration::from_secs(60),
            respect_robots: true,
            robots_cache_ttl: Duration::from_secs(24 * 60 * 60),
            robots_error_ttl: Duration::from_secs(5 * 60),
            allow_private_network: false,
        }
    }
}

impl FetchConfig {
    /// The User-Agent header value: `jobintel/{version} (+{contact_url})`.
    pub fn user_agent(&self) -> String {
        format!(
            "{PRODUCT_TOKEN}/{} (+{})",
            self.user_agent_version, self.contact_url
        )
    }
}

/// What kind of resource a request is for; picks the default rate and `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResourceKind {
    /// A web page (default rate [`FetchConfig::html_rate_per_sec`]).
    #[default]
    Html,
    /// A JSON API (default rate [`FetchConfig::json_rate_per_sec`]).
    Json,
}

/// Per-request options.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// HTML page or JSON API.
    pub kind: ResourceKind,
    /// Requests per second for this host instead of the kind's default (a source that knows
    /// its host's budget). A longer robots.txt `Crawl-delay` still wins.
    pub rate_per_sec: Option<f64>,
    /// HTTP method; `None` means GET. Failed attempts are retried whatever the method, so use
    /// this only for requests that are safe to repeat (GraphQL queries are).
    pub method: Option<Method>,
    /// Extra headers. An `Accept` header here replaces the kind's default.
    pub headers: HeaderMap,
    /// Request body (for POST APIs such as GraphQL).
    pub body: Option<Bytes>,
}

impl RequestOptions {
    /// GET an HTML page.
    pub fn html() -> Self {
        RequestOptions::default()
    }

    /// GET a JSON API.
    pub fn json() -> Self {
        RequestOptions {
            kind: ResourceKind::Json,
            ..RequestOptions::default()
        }
    }

    /// Overrides the rate for this request's host.
    pub fn with_rate(mut self, rate_per_sec: f64) -> Self {
        self.rate_per_sec = Some(rate_per_sec);
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Makes this a POST of `body` as JSON.
    pub fn with_json_body<T: serde::Serialize + ?Sized>(
        mut self,
        body: &T,
    ) -> Result<Self, serde_json::Error> {
        self.body = Some(Bytes::from(serde_json::to_vec(body)?));
        self.method = Some(Method::POST);
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(self)
    }

    fn default_accept(&self) -> HeaderValue {
        HeaderValue::from_static(match self.kind {
            ResourceKind::Html => "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            ResourceKind::Json => "application/json",
        })
    }
}

/// A successful response.
#[derive(Debug, Clone)]
pub struct FetchedPage {
    /// The final URL, after redirects.
    pub url: Url,
    /// HTTP status (2xx, or 304 for conditional requests).
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body, decompressed.
    pub body: Bytes,
}

impl FetchedPage {
    /// The body as text: windows-1252 when the `Content-Type` charset says Latin-1,
    /// windows-1252 or ASCII (as browsers do), otherwise UTF-8 with invalid bytes replaced.
    pub fn text(&self) -> Cow<'_, str> {
        let body = &self.body[..];
        if let Some(rest) = body.strip_prefix(b"\xEF\xBB\xBF") {
            return String::from_utf8_lossy(rest);
        }
        let latin = self
            .content_type
            .as_deref()
            .and_then(charset_param)
            .is_some_and(|cs| is_windows_1252_label(&cs));
        if latin {
            Cow::Owned(decode_windows_1252(body))
        } else {
            String::from_utf8_lossy(body)
        }
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_ascii_lowercase())
    })
}

fn is_windows_1252_label(label: &str) -> bool {
    matches!(
        label,
        "iso-8859-1"
            | "iso8859-1"
            | "iso_8859-1"
            | "latin1"
            | "l1"
            | "windows-1252"
            | "cp1252"
            | "us-ascii"
            | "ascii"
    )
}

/// windows-1252 code points for bytes 0x80–0x9F (the rest map to the same code point).
const WINDOWS_1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

fn decode_windows_1252(body: &[u8]) -> String {
    body.iter()
        .map(|&b| match b {
            0x80..=0x9F => WINDOWS_1252_HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

/// Request counters for one run; the caller owns them and passes them to every fetch.
#[derive(Debug, Default)]
pub struct FetchStats {
    /// HTTP requests sent: every attempt, retries, redirect hops and robots.txt fetches.
    pub requests: AtomicU32,
    /// 4xx/5xx responses and transport errors (timeouts, connection failures). A robots.txt
    /// 404/410 is the normal "no robots.txt" answer and is not counted.
    pub http_errors: AtomicU32,
    /// Retries (attempts after the first for a fetch).
    pub retries: AtomicU32,
}

/// A point-in-time copy of [`FetchStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FetchStatsSnapshot {
    pub requests: u32,
    pub http_errors: u32,
    pub retries: u32,
}

impl FetchStats {
    /// Fresh counters.
    pub fn new() -> Self {
        FetchStats::default()
    }

    /// The current values.
    pub fn snapshot(&self) -> FetchStatsSnapshot {
        FetchStatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            http_errors: self.http_errors.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }

    fn add(counter: &AtomicU32, n: u32) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The robots.txt verdict remembered for an origin.
#[derive(Debug)]
pub(crate) struct CachedRobots {
    verdict: RobotsVerdict,
    expires: Instant,
}

#[derive(Debug)]
enum RobotsVerdict {
    /// robots.txt was fetched: obey it.
    Rules(RobotsRules),
    /// robots.txt answered 5xx/429 or could not be reached: disallow everything for now.
    Unreachable(String),
    /// robots.txt itself came back as a bot challenge.
    Blocked(String),
}

/// The shared HTTP client. Cheap to clone; clones share the connection pool and all per-host
/// state (pacing, in-flight limits, robots.txt cache).
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    config: FetchConfig,
    hosts: Mutex<HashMap<String, Arc<HostState>>>,
    /// The private-network guard (also the client's resolver, in direct mode).
    guard: Guard,
    /// A proxy is configured, so target names are resolved by the proxy rather than by our
    /// guarded resolver: check them ourselves before sending.
    preflight_dns: bool,
}

/// Builds a [`Fetcher`] ([`Fetcher::builder`]). Its options are the fetcher's seams: how host
/// names are looked up and which proxy is used; [`Fetcher::new`] takes the defaults (the system
/// resolver, proxies from the environment).
#[derive(Debug)]
pub struct FetcherBuilder {
    config: FetchConfig,
    resolver: Arc<dyn HostResolver>,
    proxy: Option<Url>,
    trusted_hosts: HashSet<String>,
}

impl FetcherBuilder {
    /// Look host names up with `resolver` (for the guard's checks and, without a proxy, for
    /// connections) instead of the system resolver.
    pub fn resolver(mut self, resolver: Arc<dyn HostResolver>) -> Self {
        self.resolver = resolver;
        self
    }

    /// Send every request through the proxy at `url` instead of the ones the environment
    /// names (`HTTP_PROXY`, …). The proxy's own host may be private.
    pub fn proxy(mut self, url: Url) -> Self {
        self.proxy = Some(url);
        self
    }

    /// Let `host` resolve to private addresses, as a proxy may (a host on the operator's own
    /// network that runs are meant to reach; tests' local servers).
    pub fn trusted_host(mut self, host: &str) -> Self {
        self.trusted_hosts.insert(host.to_ascii_lowercase());
        self
    }

    /// Builds the client (see [`Fetcher::new`] for the crypto provider it needs).
    pub fn build(self) -> Result<Fetcher, FetchError> {
        let config = self.config;
        let allow_private = config.allow_private_network;
        let mut exempt = match &self.proxy {
            Some(proxy) => proxy
                .host_str()
                .map(str::to_ascii_lowercase)
                .into_iter()
                .collect(),
            None => guard::proxy_hosts_from_env(),
        };
        let proxied = !exempt.is_empty();
        exempt.extend(self.trusted_hosts);
        let guard = Guard {
            resolver: self.resolver,
            allow_private_network: allow_private,
            exempt_hosts: Arc::new(exempt),
        };
        let client_error = |err: reqwest::Error| FetchError::Client {
            message: error_chain(&err),
        };
        // Redirects are followed by `exchange`, which checks every hop first.
        let mut builder = reqwest::Client::builder()
            .user_agent(config.user_agent())
            .connect_timeout(config.connect_timeout)
            .timeout(config.total_timeout)
            .redirect(redirect::Policy::none())
            .dns_resolver(GuardedResolver(guard.clone()))
            .gzip(true)
            .brotli(true);
        // Without one, proxies come from the environment (reqwest's system proxy support); do
        // not call `no_proxy()`.
        if let Some(proxy) = &self.proxy {
            builder = builder.proxy(reqwest::Proxy::all(proxy.as_str()).map_err(client_error)?);
        }
        let client = builder.build().map_err(client_error)?;
        Ok(Fetcher {
            inner: Arc::new(Inner {
                client,
                config,
                hosts: Mutex::new(HashMap::new()),
                guard,
                preflight_dns: !allow_private && proxied,
            }),
        })
    }
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// One HTTP exchange's result, before the retry logic looks at it.
struct Exchange {
    status: u16,
    final_url: Url,
    content_type: Option<String>,
    retry_after: Option<String>,
    body: Bytes,
}

/// What one HTTP exchange sends and how it reads the answer.
struct ExchangeRequest<'a> {
    url: &'a Url,
    /// The redacted URL, for errors.
    shown: &'a str,
    method: Method,
    headers: HeaderMap,
    body: Option<Bytes>,
    interval: Duration,
    body_limit: usize,
    /// Keep the first `body_limit` bytes instead of failing with `TooLarge`.
    truncate: bool,
    is_robots: bool,
}

impl Fetcher {
    /// Builds the shared client.
    ///
    /// # Panics
    /// If no rustls crypto provider has been installed (reqwest is compiled without one):
    /// install one first, e.g. `rustls::crypto::ring::default_provider().install_default()`.
    pub fn new(config: FetchConfig) -> Result<Self, FetchError> {
        Fetcher::builder(config).build()
    }

    /// A builder, for a resolver or proxy other than the defaults.
    pub fn builder(config: FetchConfig) -> FetcherBuilder {
        FetcherBuilder {
            config,
            resolver: Arc::new(SystemResolver),
            proxy: None,
            trusted_hosts: HashSet::new(),
        }
    }

    /// The configuration the fetcher was built with.
    pub fn config(&self) -> &FetchConfig {
        &self.inner.config
    }

    /// Fetches `url` politely (see the module documentation), retrying transient failures.
    /// Succeeds with 2xx (and 304) responses; every other outcome is a [`FetchError`].
    #[tracing::instrument(skip_all, fields(url = %redact_url(url)))]
    pub async fn fetch(
        &self,
        url: &Url,
        opts: &RequestOptions,
        stats: &FetchStats,
        cancel: &CancellationToken,
    ) -> Result<FetchedPage, FetchError> {
        let config = &self.inner.config;
        let shown = redact_url(url);
        if url.host_str().is_none() {
            return Err(FetchError::InvalidUrl {
                url: shown,
                reason: "the URL has no host".into(),
            });
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::InvalidUrl {
                reason: format!("unsupported scheme {:?}", url.scheme()),
                url: shown,
            });
        }
        if cancel.is_cancelled() {
            return Err(FetchError::Cancelled { url: shown });
        }
        if !config.allow_private_network {
            guard::check_literal_host(url).map_err(|reason| FetchError::PrivateNetwork {
                url: shown.clone(),
                reason,
            })?;
            if self.inner.preflight_dns {
                cancellable(cancel, &shown, self.inner.guard.check_url_host(url))
                    .await?
                    .map_err(|reason| FetchError::PrivateNetwork {
                        url: shown.clone(),
                        reason,
                    })?;
            }
        }

        let host = self.host_state(url);
        let default_rate = match opts.kind {
            ResourceKind::Html => config.html_rate_per_sec,
            ResourceKind::Json => config.json_rate_per_sec,
        };
        let crawl_delay = if config.respect_robots {
            let interval = request_interval(opts.rate_per_sec, default_rate, None);
            self.robots_gate(&host, url, &shown, interval, stats, cancel)
                .await?
        } else {
            None
        };
        let interval = request_interval(opts.rate_per_sec, default_rate, crawl_delay);

        let mut headers = opts.headers.clone();
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, opts.default_accept());
        }
        let method = opts.method.clone().unwrap_or(Method::GET);
        let mut retries_done = 0u32;
        loop {
            let request = ExchangeRequest {
                url,
                shown: &shown,
                method: method.clone(),
                headers: headers.clone(),
                body: opts.body.clone(),
                interval,
                body_limit: config.max_body_bytes,
                truncate: false,
                is_robots: false,
            };
            let (error, retry_after) = match self.exchange(&host, request, stats, cancel).await {
                Ok(ex) if (200..300).contains(&ex.status) || ex.status == 304 => {
                    return Ok(FetchedPage {
                        url: ex.final_url,
                        status: ex.status,
                        content_type: ex.content_type,
                        body: ex.body,
                    });
                }
                Ok(ex) if retry::is_retryable_status(ex.status) => {
                    let retry_after = ex
                        .retry_after
                        .as_deref()
                        .and_then(|value| parse_retry_after(value, chrono::Utc::now()));
                    if let Some(wait) = retry_after
                        && wait > config.retry_after_cap
                    {
                        return Err(FetchError::RetryAfterTooLong {
                            url: shown,
                            seconds: wait.as_secs_f64().ceil() as u64,
                            cap_seconds: config.retry_after_cap.as_secs(),
                        });
                    }
                    let status = FetchError::Status {
                        url: shown.clone(),
                        status: ex.status,
                    };
                    (status, retry_after)
                }
                Ok(ex) => {
                    return Err(FetchError::Status {
                        url: shown,
                        status: ex.status,
                    });
                }
                Err(err @ (FetchError::Timeout { .. } | FetchError::Network { .. })) => (err, None),
                Err(err) => return Err(err),
            };
            if retries_done >= config.max_retries {
                return Err(error);
            }
            retries_done += 1;
            FetchStats::add(&stats.retries, 1);
            match retry_after {
                Some(wait) => {
                    // The server named a time: hold the whole host back, not just this request.
                    tracing::warn!(%error, ?wait, retry = retries_done, "retrying after Retry-After");
                    host.bucket.defer_until(Instant::now() + wait);
                }
                None => {
                    let wait = retry::backoff_delay(
                        retries_done - 1,
                        config.backoff_base,
                        config.backoff_max,
                    );
                    tracing::warn!(%error, ?wait, retry = retries_done, "retrying after backoff");
                    cancellable(cancel, &shown, tokio::time::sleep(wait)).await?;
                }
            }
        }
    }

    /// The shared state for the URL's origin.
    fn host_state(&self, url: &Url) -> Arc<HostState> {
        let key = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        );
        let mut hosts = self
            .inner
            .hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        hosts
            .entry(key)
            .or_insert_with(|| Arc::new(HostState::new(self.inner.config.max_in_flight_per_host)))
            .clone()
    }

    /// Checks `url` against its origin's robots.txt (fetching it if not cached) and returns the
    /// `Crawl-delay` that applies.
    async fn robots_gate(
        &self,
        host: &HostState,
        url: &Url,
        shown: &str,
        interval: Duration,
        stats: &FetchStats,
        cancel: &CancellationToken,
    ) -> Result<Option<Duration>, FetchError> {
        let mut cached = cancellable(cancel, shown, host.robots.lock()).await?;
        let entry = match cached.take() {
            Some(entry) if entry.expires > Instant::now() => entry,
            _ => {
                self.fetch_robots(host, url, shown, interval, stats, cancel)
                    .await?
            }
        };
        match &cached.insert(entry).verdict {
            RobotsVerdict::Rules(rules) => {
                let path = &url[Position::BeforePath..Position::AfterQuery];
                rules
                    .check(path)
                    .map_err(|reason| FetchError::RobotsDisallowed {
                        url: shown.to_owned(),
                        reason,
                        temporary: false,
                    })?;
                Ok(rules.crawl_delay())
            }
            RobotsVerdict::Unreachable(reason) => Err(FetchError::RobotsDisallowed {
                url: shown.to_owned(),
                reason: reason.clone(),
                temporary: true,
            }),
            RobotsVerdict::Blocked(reason) => Err(FetchError::Blocked {
                url: shown.to_owned(),
                reason: format!("robots.txt: {reason}"),
            }),
        }
    }

    /// Fetches and interprets robots.txt for `url`'s origin (RFC 9309 §2.3.1): 2xx → its rules;
    /// other 4xx → allow all; 429, 5xx or unreachable → disallow all, remembered only briefly.
    async fn fetch_robots(
        &self,
        host: &HostState,
        url: &Url,
        shown: &str,
        interval: Duration,
        stats: &FetchStats,
        cancel: &CancellationToken,
    ) -> Result<CachedRobots, FetchError> {
        let config = &self.inner.config;
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        robots_url.set_fragment(None);
        let robots_shown = redact_url(&robots_url);
        let request = ExchangeRequest {
            url: &robots_url,
            shown: &robots_shown,
            method: Method::GET,
            headers: HeaderMap::from_iter([(ACCEPT, HeaderValue::from_static("text/plain"))]),
            body: None,
            interval,
            body_limit: ROBOTS_MAX_BYTES,
            truncate: true,
            is_robots: true,
        };
        let now = Instant::now();
        let ok = |rules| CachedRobots {
            verdict: RobotsVerdict::Rules(rules),
            expires: now + config.robots_cache_ttl,
        };
        let failed = |verdict| CachedRobots {
            verdict,
            expires: now + config.robots_error_ttl,
        };
        let cached = match self.exchange(host, request, stats, cancel).await {
            Ok(ex) if (200..300).contains(&ex.status) => {
                let rules =
                    RobotsTxt::parse(&String::from_utf8_lossy(&ex.body)).rules_for(PRODUCT_TOKEN);
                ok(rules)
            }
            Ok(ex) if ex.status == 429 || ex.status >= 500 => {
                failed(RobotsVerdict::Unreachable(format!(
                    "{robots_shown} answered HTTP {}; per RFC 9309 everything is disallowed until it is available",
                    ex.status
                )))
            }
            // 4xx: "unavailable", so no restrictions. Also unfollowed 3xx.
            Ok(_) => ok(RobotsRules::allow_all()),
            // RFC 9309 lets crawlers treat a robots.txt behind too many redirects as unavailable.
            Err(FetchError::TooManyRedirects { .. }) => ok(RobotsRules::allow_all()),
            Err(FetchError::Cancelled { .. }) => {
                return Err(FetchError::Cancelled {
                    url: shown.to_owned(),
                });
            }
            Err(FetchError::PrivateNetwork { reason, .. }) => {
                return Err(FetchError::PrivateNetwork {
                    url: shown.to_owned(),
                    reason,
                });
            }
            Err(FetchError::Blocked { reason, .. }) => failed(RobotsVerdict::Blocked(reason)),
            Err(err) => failed(RobotsVerdict::Unreachable(format!(
                "robots.txt could not be fetched ({err}); per RFC 9309 everything is disallowed until it is available"
            ))),
        };
        Ok(cached)
    }

    /// One HTTP exchange: waits for an in-flight slot and the host's pace, sends, and reads the
    /// (capped) body. Counts the request and any error status or transport error; fails on bot
    /// challenges.
    async fn exchange(
        &self,
        host: &HostState,
        req: ExchangeRequest<'_>,
        stats: &FetchStats,
        cancel: &CancellationToken,
    ) -> Result<Exchange, FetchError> {
        let shown = req.shown;
        let _permit = cancellable(cancel, shown, host.in_flight.clone().acquire_owned())
            .await?
            .map_err(|_| FetchError::Cancelled {
                url: shown.to_owned(),
            })?;
        let slot = host.bucket.reserve(req.interval);
        cancellable(cancel, shown, tokio::time::sleep_until(slot)).await?;

        let hops = AtomicU32::new(0);
        let attempt = self.send_following_redirects(&req, stats, &hops);
        let outcome = cancellable(
            cancel,
            shown,
            tokio::time::timeout(self.inner.config.total_timeout, attempt),
        )
        .await;
        FetchStats::add(&stats.requests, 1 + hops.load(Ordering::Relaxed));
        let outcome = outcome?;
        let result = match outcome {
            Ok(result) => result,
            Err(_elapsed) => Err(FetchError::Timeout {
                url: shown.to_owned(),
            }),
        };
        if let Err(FetchError::Timeout { .. } | FetchError::Network { .. }) = &result {
            FetchStats::add(&stats.http_errors, 1);
        }
        if let Ok(ex) = &result {
            tracing::debug!(status = ex.status, bytes = ex.body.len(), url = %shown, "fetched");
        }
        result
    }
}

impl Fetcher {
    /// Sends `req` and follows its redirects (at most [`MAX_REDIRECTS`]), checking each hop
    /// before requesting it: scheme and literal address ([`guard::redirect_decision`]), then,
    /// unless private networks are allowed, every address its host resolves to
    /// ([`Guard::check_url_host`]; also with a proxy, which would otherwise resolve the name
    /// unchecked). As browsers do, a 303 (and a 301/302 answering a POST) continues as a GET
    /// without the body, and credentials are not sent on to another origin. `hops` counts the
    /// redirects followed.
    async fn send_following_redirects(
        &self,
        req: &ExchangeRequest<'_>,
        stats: &FetchStats,
        hops: &AtomicU32,
    ) -> Result<Exchange, FetchError> {
        let shown = req.shown;
        let (mut url, mut method) = (req.url.clone(), req.method.clone());
        let (mut headers, mut body) = (req.headers.clone(), req.body.clone());
        let mut redirects = 0;
        loop {
            let mut builder = self
                .inner
                .client
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(body) = &body {
                builder = builder.body(body.clone());
            }
            let response = builder
                .send()
                .await
                .map_err(|err| transport_error(err, shown))?;
            let status = response.status().as_u16();
            let location = response.headers().get(LOCATION);
            let (true, Some(location)) = (matches!(status, 301 | 302 | 303 | 307 | 308), location)
            else {
                return read_response(response, req, stats).await;
            };
            let next = location
                .to_str()
                .ok()
                .and_then(|l| url.join(l).ok())
                .ok_or_else(|| FetchError::InvalidUrl {
                    url: shown.to_owned(),
                    reason: format!("HTTP {status} redirect to an unreadable Location"),
                })?;
            drop(response);
            redirects += 1;
            let allow_private = self.inner.config.allow_private_network;
            guard::redirect_decision(&next, redirects, MAX_REDIRECTS, allow_private)
                .map_err(|refusal| redirect_refused(refusal, shown))?;
            self.inner
                .guard
                .check_url_host(&next)
                .await
                .map_err(|reason| FetchError::PrivateNetwork {
                    url: shown.to_owned(),
                    reason: format!("redirected to {}: {reason}", redact_url(&next)),
                })?;
            if (status == 303 && method != Method::HEAD)
                || (matches!(status, 301 | 302) && method == Method::POST)
            {
                method = Method::GET;
                body = None;
                headers.remove(CONTENT_TYPE);
                headers.remove(CONTENT_LENGTH);
            }
            if next.origin() != url.origin() {
                for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
                    headers.remove(name);
                }
            }
            hops.fetch_add(1, Ordering::Relaxed);
            url = next;
        }
    }
}

/// The error for a redirect the guard refused.
fn redirect_refused(refusal: RedirectRefusal, shown: &str) -> FetchError {
    match refusal {
        RedirectRefusal::PrivateNetwork { url, reason } => FetchError::PrivateNetwork {
            url: shown.to_owned(),
            reason: format!("redirected to {url}: {reason}"),
        },
        RedirectRefusal::TooMany { limit } => FetchError::TooManyRedirects {
            url: shown.to_owned(),
            limit,
        },
        RedirectRefusal::Scheme { .. } => FetchError::InvalidUrl {
            url: shown.to_owned(),
            reason: refusal.to_string(),
        },
    }
}

/// Reads status, headers and the capped body; counts error statuses; detects challenges.
async fn read_response(
    response: reqwest::Response,
    req: &ExchangeRequest<'_>,
    stats: &FetchStats,
) -> Result<Exchange, FetchError> {
    let shown = req.shown;
    let status = response.status().as_u16();
    let normal_robots_absence = req.is_robots && matches!(status, 404 | 410);
    if status >= 400 && !normal_robots_absence {
        FetchStats::add(&stats.http_errors, 1);
    }
    if let Some(reason) = challenge::challenge_in_headers(status, response.headers()) {
        return Err(FetchError::Blocked {
            url: shown.to_owned(),
            reason,
        });
    }
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(CONTENT_TYPE);
    let retry_after = header(RETRY_AFTER);
    let final_url = response.url().clone();
    let too_large = || FetchError::TooLarge {
        url: shown.to_owned(),
        limit: req.body_limit,
    };
    let declared = response.content_length().unwrap_or(0);
    if !req.truncate && declared > req.body_limit as u64 {
        return Err(too_large());
    }

    let mut body = BytesMut::with_capacity((declared as usize).min(req.body_limit));
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| transport_error(err, shown))?;
        let room = req.body_limit - body.len();
        if chunk.len() > room {
            if req.truncate {
                body.extend_from_slice(&chunk[..room]);
                break;
            }
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    if let Some(reason) = challenge::challenge_in_body(&body) {
        return Err(FetchError::Blocked {
            url: shown.to_owned(),
            reason: format!("HTTP {status}: {reason}"),
        });
    }
    Ok(Exchange {
        status,
        final_url,
        content_type,
        retry_after,
        body,
    })
}

/// Runs `fut` unless `cancel` fires first.
async fn cancellable<F: Future>(
    cancel: &CancellationToken,
    shown: &str,
    fut: F,
) -> Result<F::Output, FetchError> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(FetchError::Cancelled { url: shown.to_owned() }),
        output = fut => Ok(output),
    }
}

/// Maps a reqwest error to ours, recognising the guard's refusals anywhere in its source chain.
fn transport_error(err: reqwest::Error, shown: &str) -> FetchError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&err);
    while let Some(current) = source {
        if let Some(private) = current.downcast_ref::<PrivateAddressError>() {
            return FetchError::PrivateNetwork {
                url: shown.to_owned(),
                reason: private.to_string(),
            };
        }
        source = current.source();
    }
    if err.is_timeout() {
        return FetchError::Timeout {
            url: shown.to_owned(),
        };
    }
    FetchError::Network {
        url: shown.to_owned(),
        message: error_chain(&err.without_url()),
    }
}

/// An error and its sources, joined with ": " (repeated messages dropped).
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = Some(err);
    while let Some(current) = source {
        let text = current.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = current.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(content_type: Option<&str>, body: &'static [u8]) -> FetchedPage {
        FetchedPage {
            url: Url::parse("https://example.com/").unwrap(),
            status: 200,
            content_type: content_type.map(str::to_owned),
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn user_agent_names_jobintel_the_version_and_the_contact_url() {
        let config = FetchConfig {
            user_agent_version: "1.2.3".into(),
            contact_url: "https://example.com/bot".into(),
            ..FetchConfig::default()
        };
        assert_eq!(
            config.user_agent(),
            "jobintel/1.2.3 (+https://example.com/bot)"
        );
    }

    #[test]
    fn defaults_are_the_documented_politeness_policy() {
        let config = FetchConfig::default();
        assert_eq!(config.html_rate_per_sec, 1.0);
        assert_eq!(config.json_rate_per_sec, 2.0);
        assert_eq!(config.max_in_flight_per_host, 2);
        assert_eq!(config.connect_timeout, Duration::from_secs(10));
        assert_eq!(config.total_timeout, Duration::from_secs(30));
        assert_eq!(config.max_body_bytes, 8 * 1024 * 1024);
        assert_eq!(config.max_retries, 3);
        assert_eq!(config.backoff_base, Duration::from_millis(500));
        assert_eq!(config.retry_after_cap, Duration::from_secs(60));
        assert!(config.respect_robots);
        assert_eq!(config.robots_cache_ttl, Duration::from_secs(86_400));
        assert!(!config.allow_private_network);
    }

    #[test]
    fn text_decodes_utf8_lossily_and_strips_a_bom() {
        assert_eq!(page(None, "café".as_bytes()).text(), "café");
        assert_eq!(page(None, b"caf\xff").text(), "caf\u{fffd}");
        assert_eq!(page(None, b"\xEF\xBB\xBFhi").text(), "hi");
    }

    #[test]
    fn text_decodes_latin1_and_windows_1252_charsets() {
        let latin = page(Some("text/html; charset=ISO-8859-1"), b"caf\xe9 \x80");
        assert_eq!(latin.text(), "café €");
        let quoted = page(Some("text/html;charset=\"windows-1252\""), b"\x93hi\x94");
        assert_eq!(quoted.text(), "\u{201C}hi\u{201D}");
    }

    #[test]
    fn json_body_options_make_a_post_with_a_json_content_type() {
        let opts = RequestOptions::json()
            .with_rate(5.0)
            .with_json_body(&serde_json::json!({"query": "{ jobs }"}))
            .unwrap();
        assert_eq!(opts.method, Some(Method::POST));
        assert_eq!(opts.headers[CONTENT_TYPE], "application/json");
        assert_eq!(opts.rate_per_sec, Some(5.0));
        assert_eq!(opts.body.as_deref(), Some(&br#"{"query":"{ jobs }"}"#[..]));
    }

    #[test]
    fn stats_snapshot_reads_the_counters() {
        let stats = FetchStats::new();
        FetchStats::add(&stats.requests, 3);
        FetchStats::add(&stats.retries, 1);
        assert_eq!(
            stats.snapshot(),
            FetchStatsSnapshot {
                requests: 3,
                http_errors: 0,
                retries: 1
            }
        );
    }
}

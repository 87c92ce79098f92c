//! The HTTP server: router, shared state and `run(listener, state, shutdown)`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{Redirect, Response};
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use ingest::engine::{Engine, EngineConfig};
use ingest::events::EventBus;
use ingest::fetch::{FetchConfig, FetchError, Fetcher};

use crate::config::{Config, RateLimit};
use crate::graphql::auth::AuthPolicy;
use crate::graphql::executor::GraphqlExecutor;
use crate::graphql::{ApiContext, build_schema};
use crate::metrics::Metrics;
use crate::routes;
use crate::routes::guard::{self, HostPolicy, RateLimiter};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: GraphqlExecutor,
    pub api: ApiContext,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server begins shutting down (closes WebSockets, stops workers).
    pub shutdown: CancellationToken,
    /// The configured pool size, for `/metrics`.
    pub pool_max: u32,
    pub max_body_bytes: usize,
    /// Open WebSocket connections; a new one is refused when none is left.
    pub ws_slots: Arc<tokio::sync::Semaphore>,
    pub ws_max_connections: usize,
    pub ws_max_subscriptions: usize,
    /// `JOBINTEL_CORS_ORIGINS` (also the origins allowed to open WebSockets).
    pub cors_origins: Vec<String>,
    /// `JOBINTEL_ALLOWED_HOSTS`.
    pub allowed_hosts: Vec<String>,
    /// `JOBINTEL_RATE_LIMIT`; `None` when off.
    pub rate_limiter: Option<Arc<RateLimiter>>,
    /// Anonymous WebSocket connections per client address.
    pub ws_per_address: Arc<routes::ws::PerAddress>,
    pub ws_max_per_address: usize,
    pub ws_init_timeout: Duration,
    /// How long a client may take to send a request's head ([`HEADER_READ_TIMEOUT`]; tests
    /// shorten it).
    pub header_read_timeout: Duration,
}

/// Server settings derived from the configuration (tests start from `Default`).
#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub pool_max: u32,
    pub max_body_bytes: usize,
    pub auth: AuthPolicy,
    pub fetch: FetchConfig,
    pub engine: EngineConfig,
    /// Database URL for a dedicated LISTEN connection (PostgreSQL only): events from other
    /// instances reach this one's subscribers through it.
    pub listen_url: Option<String>,
    /// `JOBINTEL_WS_MAX_CONNECTIONS`.
    pub ws_max_connections: usize,
    /// `JOBINTEL_WS_MAX_SUBSCRIPTIONS` (per connection).
    pub ws_max_subscriptions: usize,
    /// `host:pid`, to tell this instance's events from others'.
    pub instance: String,
    /// Events a subscriber may fall behind before its subscription is closed.
    pub fanout_capacity: usize,
    /// Browser origins allowed by CORS (`*` for any); empty = same-origin only.
    pub cors_origins: Vec<String>,
    /// `JOBINTEL_REQUEST_TIMEOUT`.
    pub request_timeout: std::time::Duration,
    /// `JOBINTEL_ALLOWED_HOSTS`: `Host` names served besides the bind address and localhost.
    pub allowed_hosts: Vec<String>,
    /// `JOBINTEL_RATE_LIMIT` for anonymous `/graphql` requests, per client address.
    pub rate_limit: RateLimit,
    /// `JOBINTEL_WS_MAX_PER_ADDRESS` (0: no limit).
    pub ws_max_per_address: usize,
    /// How long a WebSocket may wait before `connection_init` (10 s; tests shorten it).
    pub ws_init_timeout: Duration,
    /// How long a client may take to send a request's head ([`HEADER_READ_TIMEOUT`]; tests
    /// shorten it).
    pub header_read_timeout: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            pool_max: 5,
            max_body_bytes: 256 * 1024,
            auth: AuthPolicy {
                token: None,
                protect_reads: false,
                loopback_only: true,
            },
            fetch: FetchConfig::default(),
            engine: EngineConfig::default(),
            listen_url: None,
            ws_max_connections: 2048,
            ws_max_subscriptions: 32,
            instance: unique_instance(),
            fanout_capacity: crate::bus::FANOUT_CAPACITY,
            cors_origins: Vec::new(),
            request_timeout: std::time::Duration::from_secs(30),
            allowed_hosts: Vec::new(),
            // Off here, unlike the configured default (50/s, burst 100): tests that send many
            // requests from one address measure what they mean to; rate-limit tests set one.
            rate_limit: RateLimit::OFF,
            ws_max_per_address: 64,
            ws_init_timeout: routes::ws::WS_INIT_TIMEOUT,
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

impl ServerSettings {
    pub fn from_config(config: &Config) -> Self {
        ServerSettings {
            pool_max: config.db_pool_size,
            max_body_bytes: config.max_body_bytes,
            auth: AuthPolicy {
                token: config.api_token().cloned(),
                protect_reads: config.protect_reads,
                loopback_only: config.bind.ip().is_loopback(),
            },
            fetch: config.ingest.fetch_config(),
            engine: config.ingest.engine_config(),
            listen_url: (config.database_url.kind() == crate::config::DbKind::Postgres)
                .then(|| config.database_url.expose().to_owned()),
            ws_max_connections: config.ws_max_connections,
            ws_max_subscriptions: config.ws_max_subscriptions,
            instance: unique_instance(),
            fanout_capacity: crate::bus::FANOUT_CAPACITY,
            cors_origins: config
                .cors_origins
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            request_timeout: config.request_timeout,
            allowed_hosts: config.allowed_hosts.clone(),
            rate_limit: config.rate_limit,
            ws_max_per_address: config.ws_max_per_address,
            ws_init_timeout: routes::ws::WS_INIT_TIMEOUT,
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

impl AppState {
    /// Build the state and start the event fan-out tasks (stopped by `shutdown`). Must be
    /// called inside a Tokio runtime.
    pub fn new(db: DatabaseConnection, settings: ServerSettings) -> Result<Self, FetchError> {
        crate::install_crypto_provider();
        let metrics = Arc::new(Metrics::default());
        let engine = Engine::new(
            db.clone(),
            Fetcher::new(settings.fetch)?,
            EventBus::default(),
            settings.engine,
        );
        let shutdown = CancellationToken::new();
        let fanout = crate::bus::Fanout::new(settings.fanout_capacity);
        crate::bus::start(
            db.clone(),
            settings.listen_url.clone(),
            &engine.bus,
            fanout.clone(),
            settings.instance.clone(),
            shutdown.clone(),
        );
        let api = ApiContext {
            db: db.clone(),
            engine,
            auth: settings.auth,
            run_queued: Arc::new(tokio::sync::Notify::new()),
            fanout,
        };
        let rate_limiter = RateLimiter::new(settings.rate_limit).map(Arc::new);
        if let Some(limiter) = rate_limiter.clone() {
            // Forget addresses whose bucket has refilled, so the limiter's memory follows the
            // clients of the last few seconds, not every address ever seen.
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(10));
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = every.tick() => limiter.forget_idle(),
                    }
                }
            });
        }
        Ok(AppState {
            schema: build_schema(api.clone(), metrics.clone(), settings.request_timeout),
            api,
            db,
            metrics,
            shutdown,
            pool_max: settings.pool_max,
            max_body_bytes: settings.max_body_bytes,
            ws_slots: Arc::new(tokio::sync::Semaphore::new(settings.ws_max_connections)),
            ws_max_connections: settings.ws_max_connections,
            ws_max_subscriptions: settings.ws_max_subscriptions,
            cors_origins: settings.cors_origins,
            allowed_hosts: settings.allowed_hosts,
            rate_limiter,
            ws_per_address: Arc::default(),
            ws_max_per_address: settings.ws_max_per_address,
            ws_init_timeout: settings.ws_init_timeout,
            header_read_timeout: settings.header_read_timeout,
        })
    }
}

/// The application. `bind` is the address the listener is bound to: while it is loopback, the
/// `Host` header is checked (DNS rebinding; `/health` is exempt for probes). `/graphql` is
/// rate-limited; `/health`, `/metrics` and GraphiQL are not (they are cheap or static).
pub fn router(state: AppState, bind: SocketAddr) -> Router {
    let cors = cors_layer(&state.cors_origins);
    let hosts = Arc::new(HostPolicy::new(bind, &state.allowed_hosts));
    let graphql = Router::new()
        .route(
            "/graphql",
            get(routes::graphql::get).post(routes::graphql::post),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::rate_limit,
        ));
    let app = Router::new()
        .route("/", get(|| async { Redirect::temporary("/graphiql") }))
        .merge(graphql)
        .route("/graphiql", get(routes::graphiql::page))
        .route("/graphiql/assets/{name}", get(routes::graphiql::asset))
        .route("/metrics", get(routes::metrics::get))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: see /graphiql") })
        .layer(middleware::from_fn_with_state(hosts, guard::check_host))
        .route("/health", get(routes::health::get))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), record_http))
        .layer(middleware::from_fn(guard::security_headers));
    let app = match cors {
        Some(cors) => app.layer(cors),
        None => app,
    };
    app.with_state(state)
}

/// CORS for browser frontends on other origins. Bearer tokens travel in a header, never in
/// cookies, so credentials are not allowed.
fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Count every request by its route template (not the raw path, which would explode label
/// cardinality) and status.
async fn record_http(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = crate::metrics::method_label(req.method().as_str());
    let resp = next.run(req).await;
    state
        .metrics
        .record_http(&route, method, resp.status().as_u16(), started.elapsed());
    resp
}

/// How long a client may take to send a request's head (line and headers), and how long an
/// idle keep-alive connection waits for the next one. Without it (`axum::serve` sets no timer),
/// a client dripping one header line every few seconds holds its connection — and a file
/// descriptor — for ever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serve until `shutdown` resolves, then stop accepting, let in-flight requests finish and
/// close WebSockets with a going-away frame.
///
/// The accept loop is ours rather than `axum::serve` for one reason: hyper's header-read
/// timeout needs a timer, which `axum::serve` does not configure ([`HEADER_READ_TIMEOUT`]).
/// Everything else is what `axum::serve` does: HTTP/1.1 with upgrades (WebSockets), the peer
/// address as `ConnectInfo`, graceful shutdown that waits for every connection.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower_service::Service as _;

    let token = state.shutdown.clone();
    let header_read_timeout = state.header_read_timeout;
    let bind = listener.local_addr()?;
    let app = router(state, bind);
    tracing::info!(addr = %bind, "listening");
    let mut shutdown = std::pin::pin!(shutdown);
    // Each connection holds a receiver; shutdown waits until all are dropped.
    let (closed_tx, closed_rx) = tokio::sync::watch::channel(());
    let stopping = CancellationToken::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            // The peer address decides who may write without a token and keys the
            // per-address limits.
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut app = app.clone();
            async move { app.call(req.map(axum::body::Body::new)).await }
        });
        let stopping = stopping.clone();
        let closed_rx = closed_rx.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, "connection ended");
                    }
                }
                () = stopping.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(closed_rx);
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    token.cancel();
    stopping.cancel();
    drop(closed_rx);
    closed_tx.closed().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// `host:pid` plus a random tag: two instances in one process (tests) or two containers that
/// are both pid 1 must still tell their events apart.
fn unique_instance() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}#{nanos:08x}", crate::cli::instance_name())
}

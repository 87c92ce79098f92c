//! The HTTP server: router, shared state and `run(listener, state, shutdown)`.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

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

use crate::config::Config;
use crate::graphql::auth::AuthPolicy;
use crate::graphql::executor::GraphqlExecutor;
use crate::graphql::{ApiContext, build_schema};
use crate::metrics::Metrics;
use crate::routes;

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
    /// `JOBINTEL_CORS_ORIGINS`.
    pub cors_origins: Vec<String>,
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
        }
    }
}

impl ServerSettings {
    pub fn from_config(config: &Config) -> Self {
        ServerSettings {
            pool_max: config.db_pool_size,
            max_body_bytes: config.max_body_bytes,
            auth: AuthPolicy {
                token: config.api_token.clone(),
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
        })
    }
}

pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.cors_origins);
    let app = Router::new()
        .route("/", get(|| async { Redirect::temporary("/graphiql") }))
        .route(
            "/graphql",
            get(routes::graphql::get).post(routes::graphql::post),
        )
        .route("/graphiql", get(routes::graphiql::page))
        .route("/graphiql/assets/{name}", get(routes::graphiql::asset))
        .route("/health", get(routes::health::get))
        .route("/metrics", get(routes::metrics::get))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: see /graphiql") })
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), record_http));
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
    let method = req.method().as_str().to_owned();
    let resp = next.run(req).await;
    state
        .metrics
        .record_http(&route, &method, resp.status().as_u16(), started.elapsed());
    resp
}

/// Serve until `shutdown` resolves, then stop accepting, let in-flight requests finish and
/// close WebSockets with a going-away frame.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = state.shutdown.clone();
    let app = router(state);
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        token.cancel();
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .await
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

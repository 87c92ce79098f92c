//! The application state: what every handler, resolver and background task of one server
//! reaches, built once from [`ServerSettings`] by [`AppState::new`]. Nothing of it is
//! process-global, so two servers in one process (tests) never see each other's state.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use ingest::engine::{Engine, EngineConfig};
use ingest::events::EventBus;
use ingest::fetch::{FetchConfig, FetchError, Fetcher};

use crate::config::{Config, RateLimit};
use crate::graphql::auth::AuthPolicy;
use crate::graphql::executor::GraphqlExecutor;
use crate::graphql::response_cache::ResponseCache;
use crate::graphql::{ApiContext, build_schema};
use crate::metrics::Metrics;
use crate::per_client::{PerAddress, RateLimiter};
use crate::scheduling::clock::Clock;
use crate::service::aggregates::AggregateCache;
use crate::service::runs::Runs;
use crate::service::wake::Wakeups;

/// How long a client may take to send a request's head (line and headers), and how long an
/// idle keep-alive connection waits for the next one. Without it (`axum::serve` sets no timer),
/// a client dripping one header line every few seconds holds its connection — and a file
/// descriptor — for ever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a new socket may stay silent before `connection_init` (as graphql-ws's server
/// default): an idle socket holds a connection slot.
pub const WS_INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What every handler can reach: one `Arc`, because axum clones the state for every
/// middleware layer and handler of every request, and cloning the fields one by one (a dozen
/// reference counts, two `Vec<String>`s) was ~4 % of the CPU of an uncached lookup by id
/// (issue #16).
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The fields of [`AppState`].
pub struct SharedState {
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
    pub ws_per_address: Arc<PerAddress>,
    /// Exports running per client address (`/export/postings.*`).
    pub export_slots: Arc<PerAddress>,
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
    /// This process's lease-owner name (`JOBINTEL_INSTANCE_ID`, else `host:pid`): its row in
    /// `instances`, and what `Instance.isCurrent` compares with.
    pub instance_id: String,
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
    /// `JOBINTEL_RESPONSE_CACHE_BYTES` (0: no response cache).
    pub response_cache_bytes: usize,
    /// `JOBINTEL_AGGREGATE_CACHE_BYTES` (0: no aggregate cache).
    pub aggregate_cache_bytes: usize,
    /// The read path keeps a few PostgreSQL connections between statements
    /// ([`crate::db::Reader`]); tests that count statements through sea-orm's metric
    /// callback turn it off (the kept connections run their statements through sqlx).
    pub keep_read_connections: bool,
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
            instance_id: crate::config::instance_name(),
            fanout_capacity: crate::bus::FANOUT_CAPACITY,
            cors_origins: Vec::new(),
            request_timeout: std::time::Duration::from_secs(30),
            allowed_hosts: Vec::new(),
            // Off here, unlike the configured default (50/s, burst 100): tests that send many
            // requests from one address measure what they mean to; rate-limit tests set one.
            rate_limit: RateLimit::OFF,
            ws_max_per_address: 64,
            ws_init_timeout: WS_INIT_TIMEOUT,
            header_read_timeout: HEADER_READ_TIMEOUT,
            response_cache_bytes: crate::config::DEFAULT_RESPONSE_CACHE_BYTES,
            aggregate_cache_bytes: crate::config::DEFAULT_AGGREGATE_CACHE_BYTES,
            keep_read_connections: true,
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
            instance_id: config
                .scheduler
                .instance_id
                .clone()
                .unwrap_or_else(crate::config::instance_name),
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
            ws_init_timeout: WS_INIT_TIMEOUT,
            header_read_timeout: HEADER_READ_TIMEOUT,
            response_cache_bytes: config.response_cache_bytes,
            aggregate_cache_bytes: config.aggregate_cache_bytes,
            keep_read_connections: true,
        }
    }
}

impl AppState {
    /// Build the state and start the event fan-out tasks (stopped by `shutdown`). Must be
    /// called inside a Tokio runtime.
    pub fn new(db: DatabaseConnection, settings: ServerSettings) -> Result<Self, FetchError> {
        crate::install_crypto_provider();
        let metrics = Arc::new(Metrics::default());
        let allow_private_network = settings.fetch.allow_private_network;
        // Bumped by every write that changes what a cached query returns (the engine's pages,
        // housekeeping) and by other instances' notifications.
        let generation = ingest::generation::Generation::new();
        let engine = Engine::new(
            db.clone(),
            Fetcher::new(settings.fetch)?,
            EventBus::default(),
            settings.engine,
        )
        // Saved searches' webhook deliveries commit with the page that caused them.
        .with_page_hook(Arc::new(crate::service::webhooks::OutboxHook))
        .with_generation(generation.clone());
        let shutdown = CancellationToken::new();
        let fanout = crate::bus::Fanout::new(settings.fanout_capacity);
        crate::bus::start(
            db.clone(),
            settings.listen_url.clone(),
            &engine.bus,
            fanout.clone(),
            settings.instance.clone(),
            generation.clone(),
            shutdown.clone(),
        );
        let keep = if settings.keep_read_connections {
            crate::db::Reader::keep_for(settings.pool_max)
        } else {
            0
        };
        let reader = crate::db::Reader::new(db.clone(), keep);
        reader.watch(shutdown.clone());
        let api = ApiContext {
            db: db.clone(),
            reader,
            runs: Runs::new(db.clone(), engine, Wakeups::default(), Clock::Database),
            auth: settings.auth,
            fanout,
            instance_id: settings.instance_id,
            allow_private_network,
            aggregates: Arc::new(AggregateCache::new(
                generation.clone(),
                settings.aggregate_cache_bytes,
            )),
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
        Ok(AppState(Arc::new(SharedState {
            schema: build_schema(
                api.clone(),
                metrics.clone(),
                settings.request_timeout,
                Arc::new(ResponseCache::new(
                    generation,
                    settings.response_cache_bytes,
                )),
            ),
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
            export_slots: Arc::default(),
            ws_max_per_address: settings.ws_max_per_address,
            ws_init_timeout: settings.ws_init_timeout,
            header_read_timeout: settings.header_read_timeout,
        })))
    }
}

/// `host:pid` plus a random tag: two instances in one process (tests) or two containers that
/// are both pid 1 must still tell their events apart.
fn unique_instance() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}#{nanos:08x}", crate::config::instance_name())
}

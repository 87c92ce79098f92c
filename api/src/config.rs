//! One typed configuration, read once at start-up from flags, environment variables and `.env`.
//!
//! Every option has a flag and an environment variable; the variable names are a contract with
//! operators (Dockerfile, compose files, systemd units) — never rename one.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use url::Url;

mod base_urls;
pub use base_urls::SourceBaseUrls;

/// jobintel: scrape job boards on a schedule, keep every posting, serve it all through GraphQL.
#[derive(Debug, Parser)]
#[command(name = "jobintel", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    /// What to do (default: `serve`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the GraphQL server, the scheduler and the ingest workers (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL); `schema.graphql` must equal it.
    Schema,
    /// Run one ingest against the configured database and print a summary.
    #[command(after_help = base_urls::sources_help())]
    Ingest(IngestArgs),
    /// Exit 0 if the server at JOBINTEL_BIND answers `GET /health` with 200 (for container
    /// health checks on images without curl).
    Healthcheck,
    /// Import from elsewhere into the configured database: the old system's postings and
    /// Hangfire jobs, python-jobspy CSVs (see the README, "Moving from the old system").
    Import(ImportArgs),
    /// Write postings as CSV (python-jobspy's columns first) or JSON Lines.
    Export(ExportArgs),
}

/// `jobintel import …`
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub command: ImportCommand,
}

/// What to import. Each variant carries its own arguments.
#[derive(Debug, Clone, Subcommand)]
pub enum ImportCommand {
    /// The old system's `job_postings` table, read from its PostgreSQL database (read-only).
    Legacy(ImportLegacyArgs),
    /// A python-jobspy CSV file.
    Jobspy(ImportJobspyArgs),
    /// Hangfire recurring jobs (Hangfire.PostgreSql) become schedules, by name: a re-import
    /// updates them. Jobs that cannot be mapped are listed with the reason.
    Hangfire(HangfireArgs),
}

/// `jobintel import legacy --from <postgres-url> …`
#[derive(Debug, Clone, Args)]
pub struct ImportLegacyArgs {
    /// The old system's PostgreSQL URL (add `?sslmode=require` for managed servers). Only read.
    #[arg(long, value_name = "POSTGRES_URL")]
    pub from: DatabaseUrl,
    /// The postings table, optionally `schema.table`; matched in any spelling
    /// (`job_postings`, `JobPostings`).
    #[arg(long, default_value = "job_postings")]
    pub table: String,
    /// A TOML mapping file: `SourceColumn = "field"` lines override or complete the automatic
    /// match (`"-"` leaves a column out); a `[platforms]` table maps platform values to sources.
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Print the mapping, the unmapped columns and five sample rows as they would be stored;
    /// write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where skipped rows are listed (CSV: primary key, reason). Default:
    /// `jobintel-import-legacy-<time>.csv` in the working directory.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// `jobintel import jobspy FILE.csv`
#[derive(Debug, Clone, Args)]
pub struct ImportJobspyArgs {
    /// The CSV python-jobspy wrote (`jobs.to_csv(...)`).
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    /// Print the mapping and five sample rows as they would be stored; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where skipped rows are listed (CSV: id and line, reason). Default:
    /// `jobintel-import-jobspy-<time>.csv` in the working directory.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// `jobintel import hangfire --from <postgres-url> …`
#[derive(Debug, Clone, Args)]
pub struct HangfireArgs {
    /// The Hangfire database (PostgreSQL URL). Only read, in a read-only transaction.
    #[arg(long, value_name = "POSTGRES_URL")]
    pub from: DatabaseUrl,
    /// The schema Hangfire.PostgreSql installed its tables in.
    #[arg(long, default_value = crate::import::hangfire::DEFAULT_SCHEMA)]
    pub schema: String,
    /// A TOML file saying which job argument is the source, the keywords, … per job type and
    /// method (see the README); without one, an argument naming a source is the source and the
    /// string arguments after it are the keywords and the location.
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Print the schedules that would be created or updated, with their next three fires, and
    /// write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Create new schedules paused (existing ones keep their state).
    #[arg(long)]
    pub paused: bool,
}

/// `jobintel export --format csv|jsonl …`
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// `csv` (python-jobspy's columns, then jobintel's) or `jsonl` (one JSON object a line).
    #[arg(long, value_parser = parse_export_format)]
    pub format: crate::service::export::Format,
    /// Which postings: a GraphQL `JobPostingFilter` as JSON, e.g.
    /// '{"sources": ["SEEK"], "titleContains": "rust"}'. Default: all.
    #[arg(long, value_name = "JSON")]
    pub filter: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn parse_export_format(s: &str) -> Result<crate::service::export::Format, String> {
    s.parse()
}

/// Settings shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database URL: `sqlite://path?mode=rwc` (embedded, the default) or
    /// `postgres://user:password@host/db` (add `?sslmode=require` for managed servers). Without
    /// it, the old system's DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD and DB_SSLMODE
    /// make a PostgreSQL URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        default_value = "sqlite://jobintel.db?mode=rwc",
        global = true
    )]
    pub database_url: DatabaseUrl,

    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "JOBINTEL_BIND",
        value_name = "JOBINTEL_BIND",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub bind: SocketAddr,

    /// Bearer token that mutations require (`Authorization: Bearer <token>`). Surrounding
    /// whitespace is ignored (a secrets file's trailing newline); blank means no token.
    #[arg(
        long,
        env = "JOBINTEL_API_TOKEN",
        value_name = "JOBINTEL_API_TOKEN",
        hide_env_values = true,
        value_parser = parse_api_token,
        global = true
    )]
    pub api_token: Option<Secret>,

    /// Log line format.
    #[arg(
        long,
        env = "JOBINTEL_LOG_FORMAT",
        value_name = "JOBINTEL_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info` or `jobintel=debug,sqlx=warn`.
    #[arg(
        long = "log",
        env = "RUST_LOG",
        value_name = "RUST_LOG",
        default_value = "info",
        global = true
    )]
    pub log_filter: String,

    /// Maximum database connections in the pool.
    #[arg(
        long,
        env = "JOBINTEL_DB_POOL_SIZE",
        value_name = "JOBINTEL_DB_POOL_SIZE",
        default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..=200),
        global = true
    )]
    pub db_pool_size: u32,

    /// Threads that run requests in `jobintel serve` (default: one per CPU). On a small
    /// machine that PostgreSQL shares, 1 answers cheap lookups faster (no hand-offs between
    /// threads) and many concurrent pages slower: README, "Threads".
    #[arg(
        long,
        env = "JOBINTEL_WORKER_THREADS",
        value_name = "JOBINTEL_WORKER_THREADS",
        value_parser = clap::value_parser!(u16).range(1..=1024),
        global = true
    )]
    pub worker_threads: Option<u16>,

    /// How long start-up keeps retrying an unreachable database before giving up.
    #[arg(
        long,
        env = "JOBINTEL_DB_CONNECT_TIMEOUT",
        value_name = "JOBINTEL_DB_CONNECT_TIMEOUT",
        default_value = "30s",
        value_parser = parse_duration,
        global = true
    )]
    pub db_connect_timeout: Duration,

    /// Largest accepted HTTP request body, in bytes.
    #[arg(
        long,
        env = "JOBINTEL_MAX_BODY_BYTES",
        value_name = "JOBINTEL_MAX_BODY_BYTES",
        default_value_t = 256 * 1024,
        global = true
    )]
    pub max_body_bytes: usize,

    /// Memory for the exact response cache (whole answers of job-posting queries, reused until
    /// a write changes the data): bytes, or with a KiB/MiB/GiB suffix. 0 turns it off.
    #[arg(
        long,
        env = "JOBINTEL_RESPONSE_CACHE_BYTES",
        value_name = "JOBINTEL_RESPONSE_CACHE_BYTES",
        default_value = "4MiB",
        value_parser = parse_byte_size,
        global = true
    )]
    pub response_cache_bytes: usize,

    /// Memory for the exact cache of aggregates (`totalCount` and `jobStats` parts per filter,
    /// reused until a write changes the data): bytes, or with a KiB/MiB/GiB suffix. 0 turns it
    /// off.
    #[arg(
        long,
        env = "JOBINTEL_AGGREGATE_CACHE_BYTES",
        value_name = "JOBINTEL_AGGREGATE_CACHE_BYTES",
        default_value = "1MiB",
        value_parser = parse_byte_size,
        global = true
    )]
    pub aggregate_cache_bytes: usize,

    /// How long shutdown waits for in-flight requests and runs before cancelling them.
    #[arg(
        long,
        env = "JOBINTEL_SHUTDOWN_GRACE",
        value_name = "JOBINTEL_SHUTDOWN_GRACE",
        default_value = "30s",
        value_parser = parse_duration,
        global = true
    )]
    pub shutdown_grace: Duration,

    /// Longest one GraphQL request (a batch, or a query or mutation sent over a WebSocket) may
    /// run; past it the answer is an error with code `TIMEOUT`. Subscriptions are not limited.
    #[arg(
        long,
        env = "JOBINTEL_REQUEST_TIMEOUT",
        value_name = "JOBINTEL_REQUEST_TIMEOUT",
        default_value = "30s",
        value_parser = parse_duration,
        global = true
    )]
    pub request_timeout: Duration,

    /// Require the API token for queries and subscriptions too, not only mutations.
    #[arg(
        long,
        env = "JOBINTEL_PROTECT_READS",
        value_name = "JOBINTEL_PROTECT_READS",
        default_value_t = false,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub protect_reads: bool,

    /// Most WebSocket (subscription) connections open at once; more are refused with 503.
    #[arg(
        long,
        env = "JOBINTEL_WS_MAX_CONNECTIONS",
        value_name = "JOBINTEL_WS_MAX_CONNECTIONS",
        default_value_t = 2048,
        global = true
    )]
    pub ws_max_connections: usize,

    /// Most active subscriptions on one WebSocket connection.
    #[arg(
        long,
        env = "JOBINTEL_WS_MAX_SUBSCRIPTIONS",
        value_name = "JOBINTEL_WS_MAX_SUBSCRIPTIONS",
        default_value_t = 32,
        global = true
    )]
    pub ws_max_subscriptions: usize,

    /// Origins allowed to call the API from a browser (CORS), comma-separated, or `*`.
    /// Empty (the default): same-origin only, so a web page cannot drive a token-less
    /// loopback server from a visitor's browser.
    #[arg(
        long,
        env = "JOBINTEL_CORS_ORIGINS",
        value_name = "JOBINTEL_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Vec<String>,

    /// Host names the server answers to besides its bind address, loopback addresses and
    /// `localhost` (comma-separated, `name` or `name:port`; `*` for any). The `Host` header is
    /// checked while bound to loopback (against DNS rebinding), elsewhere only if this is set.
    #[arg(
        long,
        env = "JOBINTEL_ALLOWED_HOSTS",
        value_name = "JOBINTEL_ALLOWED_HOSTS",
        value_delimiter = ',',
        global = true
    )]
    pub allowed_hosts: Vec<String>,

    /// Requests to /graphql per client address without the API token: `50/s`, `600/m` or
    /// `1000/h`, optionally `,burst=N` (default: one period's worth); `off` or `0` disables.
    #[arg(
        long,
        env = "JOBINTEL_RATE_LIMIT",
        value_name = "JOBINTEL_RATE_LIMIT",
        default_value = "50/s,burst=100",
        global = true
    )]
    pub rate_limit: RateLimit,

    /// Most WebSocket connections one client address may hold open without the API token in
    /// the upgrade request (0: no per-address limit).
    #[arg(
        long,
        env = "JOBINTEL_WS_MAX_PER_ADDRESS",
        value_name = "JOBINTEL_WS_MAX_PER_ADDRESS",
        default_value_t = 64,
        global = true
    )]
    pub ws_max_per_address: usize,

    #[command(flatten)]
    pub ingest: IngestSettings,

    #[command(flatten)]
    pub scheduler: SchedulerSettings,
}

/// `jobintel ingest <source> …`
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    #[arg(value_parser = parse_source, help = base_urls::source_names_help())]
    pub source: entity::Source,
    /// Search words (see each source below).
    #[arg(long)]
    pub keywords: Option<String>,
    /// Where, e.g. "Sydney NSW" (see each source below).
    #[arg(long)]
    pub location: Option<String>,
    /// What to read: a board token, a company, a URL (see each source below).
    #[arg(long)]
    pub target: Option<String>,
    /// Most result pages to fetch.
    #[arg(long)]
    pub max_pages: Option<u32>,
    /// Country site, for the sources that have several (see each source below).
    #[arg(long)]
    pub country: Option<String>,
}

fn parse_source(s: &str) -> Result<entity::Source, String> {
    s.parse::<entity::Source>().map_err(|e| e.to_string())
}

/// How ingest reaches the sources. The base URL overrides point a source at another host (a
/// mirror, or a local server in tests) while keeping the live site's paths and queries.
#[derive(Debug, Clone, Args)]
pub struct IngestSettings {
    /// `--<source>-base-url` / `JOBINTEL_<SOURCE>_BASE_URL` for every source with a live host.
    #[command(flatten)]
    pub base_urls: SourceBaseUrls,
    /// Allow fetching private, loopback and link-local addresses (local development, tests).
    #[arg(
        long,
        env = "JOBINTEL_ALLOW_PRIVATE_NETWORK",
        value_name = "JOBINTEL_ALLOW_PRIVATE_NETWORK",
        default_value_t = false,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub allow_private_network: bool,
    /// Where site operators can learn about this crawler; sent in the User-Agent.
    #[arg(
        long,
        env = "JOBINTEL_CONTACT_URL",
        value_name = "JOBINTEL_CONTACT_URL",
        default_value = "https://jobintel.invalid/contact",
        global = true
    )]
    pub contact_url: String,
    /// Requests per second per host for HTML pages.
    #[arg(
        long,
        env = "JOBINTEL_HTML_RATE",
        value_name = "JOBINTEL_HTML_RATE",
        default_value_t = 1.0,
        global = true
    )]
    pub html_rate: f64,
    /// Requests per second per host for JSON APIs.
    #[arg(
        long,
        env = "JOBINTEL_JSON_RATE",
        value_name = "JOBINTEL_JSON_RATE",
        default_value_t = 2.0,
        global = true
    )]
    pub json_rate: f64,
    /// Requests in flight at once per host.
    #[arg(
        long,
        env = "JOBINTEL_MAX_IN_FLIGHT_PER_HOST",
        value_name = "JOBINTEL_MAX_IN_FLIGHT_PER_HOST",
        default_value_t = 2,
        global = true
    )]
    pub max_in_flight_per_host: usize,
    /// Time allowed for one HTTP request (connect + response + body).
    #[arg(
        long,
        env = "JOBINTEL_HTTP_TIMEOUT",
        value_name = "JOBINTEL_HTTP_TIMEOUT",
        default_value = "30s",
        value_parser = parse_duration,
        global = true
    )]
    pub http_timeout: Duration,
    /// Largest response body accepted from a source, in bytes.
    #[arg(
        long,
        env = "JOBINTEL_MAX_RESPONSE_BYTES",
        value_name = "JOBINTEL_MAX_RESPONSE_BYTES",
        default_value_t = 8 * 1024 * 1024,
        global = true
    )]
    pub max_response_bytes: usize,
    /// Obey robots.txt (strongly recommended).
    #[arg(
        long,
        env = "JOBINTEL_RESPECT_ROBOTS",
        value_name = "JOBINTEL_RESPECT_ROBOTS",
        default_value_t = true,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub respect_robots: bool,
    /// Pages fetched when a run does not say.
    #[arg(
        long,
        env = "JOBINTEL_DEFAULT_MAX_PAGES",
        value_name = "JOBINTEL_DEFAULT_MAX_PAGES",
        default_value_t = 5,
        global = true
    )]
    pub default_max_pages: u32,
}

impl IngestSettings {
    pub fn fetch_config(&self) -> ingest::fetch::FetchConfig {
        ingest::fetch::FetchConfig {
            contact_url: self.contact_url.clone(),
            html_rate_per_sec: self.html_rate,
            json_rate_per_sec: self.json_rate,
            max_in_flight_per_host: self.max_in_flight_per_host.max(1),
            total_timeout: self.http_timeout,
            max_body_bytes: self.max_response_bytes,
            respect_robots: self.respect_robots,
            allow_private_network: self.allow_private_network,
            ..ingest::fetch::FetchConfig::default()
        }
    }

    pub fn engine_config(&self) -> ingest::engine::EngineConfig {
        ingest::engine::EngineConfig {
            base_urls: self.base_urls.0.clone(),
            default_max_pages: self.default_max_pages.max(1),
            ..ingest::engine::EngineConfig::default()
        }
    }
}

/// Scheduler and worker settings (every one a flag and an environment variable).
#[derive(Debug, Clone, Args)]
pub struct SchedulerSettings {
    /// Run the scheduler and the ingest workers in this process (`false`: serve the API only).
    #[arg(
        long = "scheduler",
        env = "JOBINTEL_SCHEDULER",
        value_name = "JOBINTEL_SCHEDULER",
        default_value_t = true,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub enabled: bool,

    /// Ingest runs this instance executes at once.
    #[arg(
        long,
        env = "JOBINTEL_WORKERS",
        value_name = "JOBINTEL_WORKERS",
        default_value_t = 2,
        value_parser = clap::value_parser!(u32).range(1..=64),
        global = true
    )]
    pub workers: u32,

    /// Runs of one source executing at once, across all instances sharing the database.
    #[arg(
        long,
        env = "JOBINTEL_PER_SOURCE_CONCURRENCY",
        value_name = "JOBINTEL_PER_SOURCE_CONCURRENCY",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=64),
        global = true
    )]
    pub per_source_concurrency: u32,

    /// How long a running run's lease lasts; its worker renews it every third of this. A run
    /// whose lease expires (its instance died) is marked interrupted and retried.
    #[arg(
        long,
        env = "JOBINTEL_LEASE",
        value_name = "JOBINTEL_LEASE",
        default_value = "60s",
        value_parser = parse_duration,
        global = true
    )]
    pub lease: Duration,

    /// How often to look for runs whose lease expired.
    #[arg(
        long,
        env = "JOBINTEL_REAPER_INTERVAL",
        value_name = "JOBINTEL_REAPER_INTERVAL",
        default_value = "15s",
        value_parser = parse_duration,
        global = true
    )]
    pub reaper_interval: Duration,

    /// Longest the scheduler sleeps between looks for due schedules (it wakes for the next
    /// fire, and at once when a schedule changes on this instance).
    #[arg(
        long,
        env = "JOBINTEL_SCHEDULER_POLL",
        value_name = "JOBINTEL_SCHEDULER_POLL",
        default_value = "30s",
        value_parser = parse_duration,
        global = true
    )]
    pub scheduler_poll: Duration,

    /// Longest an idle worker waits before looking for runs (runs queued by this instance wake
    /// it at once; this bounds the pickup of runs queued by other instances).
    #[arg(
        long,
        env = "JOBINTEL_WORKER_POLL",
        value_name = "JOBINTEL_WORKER_POLL",
        default_value = "10s",
        value_parser = parse_duration,
        global = true
    )]
    pub worker_poll: Duration,

    /// A fire later than this counts as missed and follows the schedule's misfire policy.
    #[arg(
        long,
        env = "JOBINTEL_MISFIRE_THRESHOLD",
        value_name = "JOBINTEL_MISFIRE_THRESHOLD",
        default_value = "60s",
        value_parser = parse_duration,
        global = true
    )]
    pub misfire_threshold: Duration,

    /// Finished runs older than this many days are deleted…
    #[arg(
        long,
        env = "JOBINTEL_RUN_RETENTION_DAYS",
        value_name = "JOBINTEL_RUN_RETENTION_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub run_retention_days: u32,

    /// …except the newest this many runs of each schedule.
    #[arg(
        long,
        env = "JOBINTEL_RUN_RETENTION_KEEP",
        value_name = "JOBINTEL_RUN_RETENTION_KEEP",
        default_value_t = 200,
        global = true
    )]
    pub run_retention_keep: u32,

    /// Postings not seen at their source for this many days get `closedAt`.
    #[arg(
        long,
        env = "JOBINTEL_CLOSE_AFTER_DAYS",
        value_name = "JOBINTEL_CLOSE_AFTER_DAYS",
        default_value_t = 14,
        global = true
    )]
    pub close_after_days: u32,

    /// Posting history entries older than this many days are deleted…
    #[arg(
        long,
        env = "JOBINTEL_HISTORY_RETENTION_DAYS",
        value_name = "JOBINTEL_HISTORY_RETENTION_DAYS",
        default_value_t = 365,
        global = true
    )]
    pub history_retention_days: u32,

    /// …and a posting keeps at most this many (its newest).
    #[arg(
        long,
        env = "JOBINTEL_HISTORY_PER_POSTING",
        value_name = "JOBINTEL_HISTORY_PER_POSTING",
        default_value_t = 100,
        global = true
    )]
    pub history_per_posting: u32,

    /// How often retention and closing run.
    #[arg(
        long,
        env = "JOBINTEL_HOUSEKEEPING_INTERVAL",
        value_name = "JOBINTEL_HOUSEKEEPING_INTERVAL",
        default_value = "1h",
        value_parser = parse_duration,
        global = true
    )]
    pub housekeeping_interval: Duration,

    /// Rows deleted or updated per housekeeping statement.
    #[arg(
        long,
        env = "JOBINTEL_HOUSEKEEPING_BATCH",
        value_name = "JOBINTEL_HOUSEKEEPING_BATCH",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub housekeeping_batch: u32,

    /// Saved searches' webhooks: delay before the first retry of a failed delivery, doubled
    /// for each further one (for up to a day).
    #[arg(
        long,
        env = "JOBINTEL_WEBHOOK_RETRY_BASE",
        value_name = "JOBINTEL_WEBHOOK_RETRY_BASE",
        default_value = "5s",
        value_parser = parse_duration,
        global = true
    )]
    pub webhook_retry_base: Duration,

    /// Saved searches' webhooks: how long a claimed delivery waits for a worker that died
    /// (killed mid-POST) before another takes it. Never less than one attempt's timeout (10 s)
    /// plus a second.
    #[arg(
        long,
        env = "JOBINTEL_WEBHOOK_LEASE",
        value_name = "JOBINTEL_WEBHOOK_LEASE",
        default_value = "60s",
        value_parser = parse_duration,
        global = true
    )]
    pub webhook_lease: Duration,

    /// This instance's name in run leases (default `host:pid`).
    #[arg(
        long,
        env = "JOBINTEL_INSTANCE_ID",
        value_name = "JOBINTEL_INSTANCE_ID",
        global = true
    )]
    pub instance_id: Option<String>,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Config::defaults().scheduler
    }
}

impl Cli {
    /// Parse the command line and the environment. Without `--database-url` or `DATABASE_URL`,
    /// the old system's `DB_HOST`/`DB_PORT`/`DB_NAME`/`DB_USER`/`DB_PASSWORD`/`DB_SSLMODE`
    /// make the PostgreSQL URL ([`legacy_database_url`]), so its `.env` works unchanged.
    pub fn from_env() -> Result<Cli, clap::Error> {
        Self::parse_with(std::env::args_os(), |key| std::env::var(key).ok())
    }

    /// [`Cli::from_env`] with the arguments and the `DB_*` variables given (tests).
    pub fn parse_with<I, T>(
        args: I,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches: ArgMatches = Cli::command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        if matches.value_source("database_url") == Some(ValueSource::DefaultValue) {
            match legacy_database_url(&env) {
                Ok(Some(url)) => cli.config.database_url = url,
                Ok(None) => {}
                Err(message) => {
                    return Err(
                        Cli::command().error(clap::error::ErrorKind::ValueValidation, message)
                    );
                }
            }
        }
        Ok(cli)
    }
}

/// The PostgreSQL URL the old system's settings describe, if `DB_HOST` is set: `DB_PORT`
/// (default 5432), `DB_NAME` and `DB_USER` (both required then), `DB_PASSWORD` (optional),
/// `DB_SSLMODE` (optional: `disable`, `prefer`, `require`, `verify-ca`, `verify-full`).
/// User and password are percent-encoded; the URL's `Display` redacts them.
pub fn legacy_database_url(
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<DatabaseUrl>, String> {
    let var = |key: &str| {
        env(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let Some(host) = var("DB_HOST") else {
        return Ok(None);
    };
    let missing = ["DB_NAME", "DB_USER"]
        .into_iter()
        .filter(|k| var(k).is_none())
        .collect::<Vec<_>>();
    if !missing.is_empty() {
        return Err(format!(
            "DB_HOST is set but {} {} not: set them, or DATABASE_URL",
            missing.join(" and "),
            if missing.len() == 1 { "is" } else { "are" }
        ));
    }
    let port = match var("DB_PORT") {
        None => 5432,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("DB_PORT `{p}` is not a port number"))?,
    };
    let mut url = Url::parse("postgres://localhost")
        .map_err(|e| format!("cannot build the database URL: {e}"))?;
    url.set_host(Some(&host))
        .map_err(|e| format!("DB_HOST `{host}` is not a host name: {e}"))?;
    url.set_port(Some(port))
        .map_err(|()| "DB_PORT cannot be set on this URL".to_owned())?;
    url.set_path(&var("DB_NAME").unwrap_or_default());
    url.set_username(&var("DB_USER").unwrap_or_default())
        .map_err(|()| "DB_USER cannot be set on this URL".to_owned())?;
    if let Some(password) = env("DB_PASSWORD").filter(|p| !p.is_empty()) {
        url.set_password(Some(&password))
            .map_err(|()| "DB_PASSWORD cannot be set on this URL".to_owned())?;
    }
    if let Some(mode) = var("DB_SSLMODE") {
        let mode = mode.to_ascii_lowercase();
        if ![
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ]
        .contains(&mode.as_str())
        {
            return Err(format!(
                "DB_SSLMODE `{mode}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ));
        }
        url.query_pairs_mut().append_pair("sslmode", &mode);
    }
    url.as_str().parse().map(Some)
}

impl Config {
    /// The defaults, as if no flag or variable were set (tests start from this).
    pub fn defaults() -> Self {
        Cli::try_parse_from(["jobintel"])
            .map(|c| c.config)
            .unwrap_or_else(|e| panic!("built-in defaults must parse: {e}"))
    }
}

/// `host:pid`: this process's name where one is recorded (a run's lease owner, the origin of
/// its events) unless `JOBINTEL_INSTANCE_ID` names it.
pub fn instance_name() -> String {
    let host = hostname().unwrap_or_else(|| "jobintel".into());
    format!("{host}:{}", std::process::id())
}

/// This machine's name: `HOSTNAME`, else `/etc/hostname`.
pub fn hostname() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A secret (token, password) whose `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself: call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err("must not be empty".into());
        }
        Ok(Secret(s.to_owned()))
    }
}

/// `JOBINTEL_API_TOKEN`, trimmed like the token a client presents, so a token read from a file
/// with a trailing newline still matches. Blank parses to an empty secret, which
/// [`Config::api_token`] reports as no token.
fn parse_api_token(s: &str) -> Result<Secret, String> {
    Ok(Secret(s.trim().to_owned()))
}

impl Config {
    /// The configured API token, if any (blank counts as none).
    pub fn api_token(&self) -> Option<&Secret> {
        self.api_token.as_ref().filter(|t| !t.expose().is_empty())
    }
}

/// A per-client token bucket (`JOBINTEL_RATE_LIMIT`): up to `burst` requests at once, refilled
/// at `requests` per `per`. `requests == 0` means off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
    pub burst: u32,
}

impl RateLimit {
    pub const OFF: RateLimit = RateLimit {
        requests: 0,
        per: Duration::from_secs(1),
        burst: 0,
    };

    /// `None` when the limit is off.
    pub fn enabled(self) -> Option<RateLimit> {
        (self.requests > 0).then_some(self)
    }
}

impl FromStr for RateLimit {
    type Err = String;

    /// `50/s`, `600/m`, `1000/h`, each optionally followed by `,burst=N`; `off` or `0`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") || s == "0" {
            return Ok(RateLimit::OFF);
        }
        let usage = || format!("`{s}`: expected e.g. `50/s`, `600/m,burst=100` or `off`");
        let (rate, burst) = match s.split_once(',') {
            Some((rate, burst)) => {
                let n = burst
                    .trim()
                    .strip_prefix("burst=")
                    .and_then(|n| n.trim().parse::<u32>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(usage)?;
                (rate, Some(n))
            }
            None => (s, None),
        };
        let (n, unit) = rate.split_once('/').ok_or_else(usage)?;
        let requests: u32 = n.trim().parse().map_err(|_| usage())?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(usage()),
        };
        if requests == 0 {
            return Ok(RateLimit::OFF);
        }
        Ok(RateLimit {
            requests,
            per,
            burst: burst.unwrap_or(requests),
        })
    }
}

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// A validated database URL. `Display` and `Debug` redact the credentials with the one rule
/// every logged URL follows ([`ingest::fetch::redact_url`]: `postgres://***:***@host/db`); use
/// [`DatabaseUrl::expose`] only to connect.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    raw: String,
    kind: DbKind,
    redacted: String,
}

impl DatabaseUrl {
    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub fn expose(&self) -> &str {
        &self.raw
    }

    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted)
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.starts_with("sqlite:") {
            // sqlite URLs (sqlite::memory:, sqlite://file.db?mode=rwc) carry no credentials.
            return Ok(DatabaseUrl {
                raw: s.to_owned(),
                kind: DbKind::Sqlite,
                redacted: s.to_owned(),
            });
        }
        let url = Url::parse(s).map_err(|e| format!("not a URL ({e})"))?;
        match url.scheme() {
            "postgres" | "postgresql" => {}
            other => {
                return Err(format!(
                    "unsupported scheme `{other}` (expected sqlite:// or postgres://)"
                ));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("PostgreSQL URL has no host".into());
        }
        let pgsslmode = std::env::var_os("PGSSLMODE").is_some_and(|v| !v.is_empty());
        Ok(DatabaseUrl {
            raw: without_loopback_tls(&url, pgsslmode).unwrap_or_else(|| s.to_owned()),
            kind: DbKind::Postgres,
            redacted: ingest::fetch::redact_url(&url),
        })
    }
}

/// The URL with `sslmode=disable` added when it names no TLS mode (neither in the URL nor in
/// `PGSSLMODE`) and its server is this machine (`localhost`, `127.0.0.0/8`, `::1`); `None`
/// otherwise, i.e. keep the URL as given.
///
/// The drivers' default, `prefer`, encrypts whenever the server offers TLS, and Debian's and
/// most packaged servers do (a self-signed certificate): on the loopback interface that buys
/// nothing — the bytes never leave the host, and `prefer` does not verify the certificate, so
/// it could not tell an impostor anyway — and costs both sides the encryption of every
/// statement and row: 10–20 % of an uncached read's throughput (issue #16). A URL that asks
/// for TLS (`?sslmode=require`, or `prefer` written out) gets it, on any host.
fn without_loopback_tls(url: &Url, pgsslmode: bool) -> Option<String> {
    let names_mode = url
        .query_pairs()
        .any(|(k, _)| k == "sslmode" || k == "ssl-mode");
    if names_mode || pgsslmode {
        return None;
    }
    let loopback = match url.host()? {
        // `postgres:` is not a special scheme to the URL standard: its IPv4 hosts come back
        // as names.
        url::Host::Domain(d) => {
            d.eq_ignore_ascii_case("localhost")
                || d.parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    if !loopback {
        return None;
    }
    let mut url = url.clone();
    url.query_pairs_mut().append_pair("sslmode", "disable");
    Some(url.into())
}

/// `30s`, `500ms`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 30s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` (use ms, s, m or h)"
            ));
        }
    };
    Ok(Duration::from_secs_f64(secs))
}

/// The response cache's default budget: a page of 20 postings with descriptions is ~50 KB, so
/// this holds hundreds of distinct answers while staying small beside the process.
pub const DEFAULT_RESPONSE_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// The aggregate cache's default budget: the aggregates of one `jobStats` filter take ~3 KiB.
pub const DEFAULT_AGGREGATE_CACHE_BYTES: usize = 1024 * 1024;

/// A size in bytes: `0`, `1048576`, `512KiB`, `64MiB`, `1GiB` (KB/MB/GB mean the same).
pub fn parse_byte_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let bad = || format!("`{s}` is not a size in bytes (e.g. 0, 1048576, 512KiB, 64MiB, 1GiB)");
    let n: usize = num.parse().map_err(|_| bad())?;
    let scale: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("`{s}` is larger than this machine can address"))
}

/// Where `.env` is looked for: the working directory.
pub fn dotenv_path() -> PathBuf {
    PathBuf::from(".env")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_without_a_tls_mode_connect_in_the_clear() {
        let rule =
            |s: &str, pgsslmode: bool| without_loopback_tls(&Url::parse(s).unwrap(), pgsslmode);
        assert_eq!(
            rule("postgres://u:p@127.0.0.1:5432/db", false).as_deref(),
            Some("postgres://u:p@127.0.0.1:5432/db?sslmode=disable")
        );
        assert_eq!(
            rule("postgres://u@localhost/db?application_name=x", false).as_deref(),
            Some("postgres://u@localhost/db?application_name=x&sslmode=disable")
        );
        assert_eq!(
            rule("postgres://u@[::1]:5432/db", false).as_deref(),
            Some("postgres://u@[::1]:5432/db?sslmode=disable")
        );
        assert!(rule("postgres://u@127.0.0.2/db", false).is_some());
        // Asked for TLS in the URL or the environment, or another host: as given.
        assert_eq!(
            rule("postgres://u@127.0.0.1/db?sslmode=prefer", false),
            None
        );
        assert_eq!(
            rule("postgres://u@127.0.0.1/db?ssl-mode=require", false),
            None
        );
        assert_eq!(rule("postgres://u@127.0.0.1/db", true), None);
        assert_eq!(rule("postgres://u@db.example.com/db", false), None);
        assert_eq!(rule("postgres://u@10.0.0.5/db", false), None);
        assert_eq!(rule("postgres://u@localhost.example.com/db", false), None);
    }

    #[test]
    fn debug_and_display_of_a_postgres_url_hide_the_password() {
        let url: DatabaseUrl = "postgres://app:hunter2@db.example.com:5432/jobs?sslmode=require"
            .parse()
            .unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://***:***@db.example.com:5432/jobs?sslmode=require"
        );
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.kind(), DbKind::Postgres);
    }

    #[test]
    fn passwords_in_the_query_string_are_redacted_too() {
        let url: DatabaseUrl = "postgres://db/jobs?user=a&password=s3cret&sslpassword=k3y"
            .parse()
            .unwrap();
        assert!(!url.to_string().contains("s3cret"), "{url}");
        assert!(!url.to_string().contains("k3y"), "{url}");
    }

    #[test]
    fn secrets_never_print() {
        let s: Secret = "tok-123".parse().unwrap();
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.expose(), "tok-123");
    }

    #[test]
    fn unparseable_database_urls_are_rejected_with_the_reason() {
        assert!(
            "mysql://x/y"
                .parse::<DatabaseUrl>()
                .unwrap_err()
                .contains("unsupported scheme `mysql`")
        );
        assert!(
            "not a url"
                .parse::<DatabaseUrl>()
                .unwrap_err()
                .contains("not a URL")
        );
    }

    #[test]
    fn durations_accept_common_units() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert!(parse_duration("soon").is_err());
    }

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key| {
            vars.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_old_systems_db_settings_make_the_postgres_url() {
        let env = env_of(&[
            ("DB_HOST", "db.example.com"),
            ("DB_PORT", "6543"),
            ("DB_NAME", "jobs"),
            ("DB_USER", "app user"),
            ("DB_PASSWORD", "p@ss:w/rd#1"),
            ("DB_SSLMODE", "Require"),
        ]);
        let cli = Cli::parse_with(["jobintel"], &env).unwrap();
        let url = &cli.config.database_url;
        assert_eq!(url.kind(), DbKind::Postgres);
        assert_eq!(
            url.expose(),
            "postgres://app%20user:p%40ss%3Aw%2Frd%231@db.example.com:6543/jobs?sslmode=require"
        );
        // Never the password in what is logged.
        assert!(!format!("{url} {url:?}").contains("p%40ss") && !format!("{url}").contains("p@ss"));
        // The same after a subcommand.
        let cli = Cli::parse_with(["jobintel", "migrate"], &env).unwrap();
        assert_eq!(cli.config.database_url.expose(), url.expose());
    }

    #[test]
    fn database_url_wins_over_the_db_settings_and_they_are_checked() {
        let env = env_of(&[("DB_HOST", "db"), ("DB_NAME", "jobs"), ("DB_USER", "app")]);
        for args in [
            vec!["jobintel", "--database-url", "sqlite://x.db?mode=rwc"],
            vec![
                "jobintel",
                "migrate",
                "--database-url",
                "sqlite://x.db?mode=rwc",
            ],
        ] {
            let cli = Cli::parse_with(args, &env).unwrap();
            assert_eq!(cli.config.database_url.expose(), "sqlite://x.db?mode=rwc");
        }
        // Defaults: port 5432, no password, no sslmode.
        let cli = Cli::parse_with(["jobintel"], &env).unwrap();
        assert_eq!(
            cli.config.database_url.expose(),
            "postgres://app@db:5432/jobs"
        );
        // Nothing set: the embedded default.
        let cli = Cli::parse_with(["jobintel"], env_of(&[])).unwrap();
        assert_eq!(
            cli.config.database_url.expose(),
            "sqlite://jobintel.db?mode=rwc"
        );

        let err = |vars| {
            Cli::parse_with(["jobintel"], env_of(vars))
                .unwrap_err()
                .to_string()
        };
        assert!(err(&[("DB_HOST", "db")]).contains("DB_NAME and DB_USER are not"));
        assert!(
            err(&[
                ("DB_HOST", "db"),
                ("DB_NAME", "j"),
                ("DB_USER", "u"),
                ("DB_PORT", "x")
            ])
            .contains("DB_PORT `x`")
        );
        assert!(
            err(&[
                ("DB_HOST", "db"),
                ("DB_NAME", "j"),
                ("DB_USER", "u"),
                ("DB_SSLMODE", "maybe")
            ])
            .contains("DB_SSLMODE `maybe`")
        );
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::defaults();
        assert_eq!(c.database_url.expose(), "sqlite://jobintel.db?mode=rwc");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(c.api_token.is_none());
        assert_eq!(
            c.rate_limit,
            RateLimit {
                requests: 50,
                per: Duration::from_secs(1),
                burst: 100
            }
        );
        assert_eq!(c.ws_max_per_address, 64);
        assert!(c.allowed_hosts.is_empty());
        assert_eq!(c.response_cache_bytes, DEFAULT_RESPONSE_CACHE_BYTES);
        assert_eq!(c.aggregate_cache_bytes, DEFAULT_AGGREGATE_CACHE_BYTES);
    }

    #[test]
    fn response_cache_sizes_parse_with_units_and_bad_ones_are_named() {
        let size = |v: &str| {
            Cli::parse_with(["jobintel", "--response-cache-bytes", v], env_of(&[]))
                .map(|cli| cli.config.response_cache_bytes)
                .map_err(|e| e.to_string())
        };
        assert_eq!(size("0"), Ok(0));
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("512KiB"), Ok(512 * 1024));
        assert_eq!(size("64MiB"), Ok(64 << 20));
        assert_eq!(size("1 GiB"), Ok(1 << 30));
        let err = size("lots").unwrap_err();
        assert!(
            err.contains("JOBINTEL_RESPONSE_CACHE_BYTES") && err.contains("not a size in bytes"),
            "{err}"
        );
        assert!(size("-1").is_err());
        assert!(size("99999999999999999999GiB").is_err());
    }

    #[test]
    fn webhook_retry_base_and_lease_are_durations_and_bad_ones_are_named() {
        let parse = |args: &[&str]| {
            Cli::parse_with(["jobintel"].iter().chain(args), env_of(&[]))
                .map(|cli| {
                    (
                        cli.config.scheduler.webhook_retry_base,
                        cli.config.scheduler.webhook_lease,
                    )
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            parse(&[]),
            Ok((Duration::from_secs(5), Duration::from_secs(60)))
        );
        assert_eq!(
            parse(&["--webhook-retry-base", "250ms", "--webhook-lease", "2m"]),
            Ok((Duration::from_millis(250), Duration::from_secs(120)))
        );
        let err = parse(&["--webhook-retry-base", "soon"]).unwrap_err();
        assert!(
            err.contains("JOBINTEL_WEBHOOK_RETRY_BASE") && err.contains("not a duration"),
            "{err}"
        );
    }

    #[test]
    fn rate_limits_parse_with_and_without_a_burst_and_turn_off() {
        let per_minute: RateLimit = "600/m".parse().unwrap();
        assert_eq!(per_minute.requests, 600);
        assert_eq!(per_minute.per, Duration::from_secs(60));
        assert_eq!(per_minute.burst, 600);
        assert_eq!("20/s, burst=5".parse::<RateLimit>().unwrap().burst, 5);
        assert_eq!("off".parse::<RateLimit>().unwrap().enabled(), None);
        assert_eq!("0".parse::<RateLimit>().unwrap().enabled(), None);
        for bad in ["fast", "10/d", "10/s,burst=0", "-1/s", "10/s,5"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_api_token_is_trimmed_and_a_blank_one_is_no_token() {
        let parse = |token: &str| {
            Cli::try_parse_from(["jobintel", "--api-token", token])
                .unwrap()
                .config
        };
        assert_eq!(parse("s3cret\n").api_token().unwrap().expose(), "s3cret");
        assert!(parse(" \n").api_token().is_none());
    }
}

//! One typed configuration, read once at start-up from flags, environment variables and `.env`.
//!
//! Every option has a flag and an environment variable; the variable names are a contract with
//! operators (Dockerfile, compose files, systemd units) — never rename one.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

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
    /// Exit 0 if the server at JOBINTEL_BIND answers `GET /health` with 200 (for container
    /// health checks on images without curl).
    Healthcheck,
}

/// Settings shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database URL: `sqlite://path?mode=rwc` (embedded, the default) or
    /// `postgres://user:password@host/db` (add `?sslmode=require` for managed servers).
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

    /// Bearer token that mutations require (`Authorization: Bearer <token>`).
    #[arg(
        long,
        env = "JOBINTEL_API_TOKEN",
        value_name = "JOBINTEL_API_TOKEN",
        hide_env_values = true,
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
}

impl Config {
    /// The defaults, as if no flag or variable were set (tests start from this).
    pub fn defaults() -> Self {
        Cli::try_parse_from(["jobintel"])
            .map(|c| c.config)
            .unwrap_or_else(|e| panic!("built-in defaults must parse: {e}"))
    }
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

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// A validated database URL. `Display` and `Debug` redact the password
/// (`postgres://user:***@host/db`); use [`DatabaseUrl::expose`] only to connect.
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
        Ok(DatabaseUrl {
            raw: s.to_owned(),
            kind: DbKind::Postgres,
            redacted: redact_url(&url),
        })
    }
}

/// A URL with any password replaced by `***`.
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    // Passwords can also hide in the query string (`?password=…`).
    if u.query_pairs().any(|(k, _)| is_secret_key(&k)) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_key(&k) {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    k.contains("password") || k.contains("token") || k.contains("secret") || k == "sslpassword"
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

/// Where `.env` is looked for: the working directory.
pub fn dotenv_path() -> PathBuf {
    PathBuf::from(".env")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_of_a_postgres_url_hide_the_password() {
        let url: DatabaseUrl = "postgres://app:hunter2@db.example.com:5432/jobs?sslmode=require"
            .parse()
            .unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://app:***@db.example.com:5432/jobs?sslmode=require"
        );
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.kind(), DbKind::Postgres);
    }

    #[test]
    fn passwords_in_the_query_string_are_redacted_too() {
        let url: DatabaseUrl = "postgres://db/jobs?user=a&password=s3cret".parse().unwrap();
        assert!(!url.to_string().contains("s3cret"), "{url}");
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

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::defaults();
        assert_eq!(c.database_url.expose(), "sqlite://jobintel.db?mode=rwc");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(c.api_token.is_none());
    }
}

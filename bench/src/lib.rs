//! What the benchmark binaries (`bench`, `soak`, `runs_page`) share.

use anyhow::{Context as _, bail};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

/// `VmHWM` (peak) and `VmRSS` (current) of `pid`, in MB.
pub fn rss_mb(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// `sqlite` → `target/bench/<sqlite_file>`; a PostgreSQL URL gets its database created if
/// missing.
pub async fn database_url(arg: &str, sqlite_file: &str) -> anyhow::Result<String> {
    if arg == "sqlite" {
        std::fs::create_dir_all("target/bench")?;
        return Ok(format!("sqlite://target/bench/{sqlite_file}?mode=rwc"));
    }
    if arg.starts_with("sqlite:") {
        return Ok(arg.to_owned());
    }
    let mut u = url::Url::parse(arg).context("while parsing --database")?;
    let name = u.path().trim_start_matches('/').to_owned();
    if name.is_empty() {
        bail!(
            "--database must name the database, e.g. postgres://postgres@127.0.0.1:5432/jobintel_bench"
        );
    }
    let target = u.to_string();
    u.set_path("/postgres");
    let admin = Database::connect(quiet(u.as_str()))
        .await
        .context("while connecting to the postgres database to create the bench database")?;
    let exists = admin
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
        .await?
        .is_some();
    if !exists {
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("while creating database {name}"))?;
    }
    admin.close().await?;
    Ok(target)
}

pub fn quiet(url: &str) -> ConnectOptions {
    let mut o = ConnectOptions::new(url.to_owned());
    o.sqlx_logging(false).max_connections(4);
    o
}

pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    Database::connect(quiet(url))
        .await
        .with_context(|| format!("while connecting to {}", redact(url)))
}

/// `url` as it may be printed ([`ingest::fetch::redact_url`]; unparseable text as it is).
pub fn redact(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| url.to_owned(), |u| ingest::fetch::redact_url(&u))
}

//! Test support: every database-touching test runs once per backend, each time on a fresh,
//! migrated database; and [`percentile`], the one way the tests and benchmarks read latencies.
//!
//! - SQLite always: a new file in a new temporary directory (not `:memory:`, which would give
//!   every pooled connection its own empty database).
//! - PostgreSQL when `TEST_DATABASE_URL` is set (e.g. `postgres://postgres@127.0.0.1:5432/postgres`):
//!   a new database per test, created through that URL and dropped afterwards. If the variable
//!   is set but the server cannot be reached, tests FAIL: a PostgreSQL suite that silently
//!   skips would hide exactly the failures it exists to catch.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

/// The single integer `sql` returns (a `SELECT COUNT(*) …`), on either backend.
pub async fn count(db: &impl ConnectionTrait, sql: &str) -> i64 {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
    .unwrap_or_else(|| panic!("{sql}: no row"))
    .try_get_by_index::<i64>(0)
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Which engine a [`TestDb`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, migrated database that is removed when dropped.
pub struct TestDb {
    pub backend: Backend,
    /// URL a second process (the real binary) can use to reach the same database.
    pub url: String,
    pub conn: DatabaseConnection,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    PgDatabase { admin_url: String, name: String },
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(label: &str) -> String {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let r: u32 = rand::random();
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(20)
        .collect();
    format!(
        "jobintel_test_{ts}_{}_{n}_{r:08x}_{label}",
        std::process::id()
    )
}

/// The PostgreSQL admin URL, if the PostgreSQL suite is enabled.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// A fresh PostgreSQL database for a PostgreSQL-only test, or `None` (said on stderr) when
/// `TEST_DATABASE_URL` is not set: such a test then has nothing to run (`.ci/run` always sets
/// it, and a set but unreachable server fails the test, as [`postgres`] does).
pub async fn postgres_only(label: &str) -> Option<TestDb> {
    if postgres_admin_url().is_none() {
        eprintln!("{label}: PostgreSQL only, and TEST_DATABASE_URL is not set: nothing to run");
        return None;
    }
    Some(postgres(label).await)
}

/// One fresh database per enabled backend: SQLite always, PostgreSQL with `TEST_DATABASE_URL`.
pub async fn databases(label: &str) -> Vec<TestDb> {
    let mut out = vec![sqlite(label).await];
    if postgres_admin_url().is_some() {
        out.push(postgres(label).await);
    }
    out
}

/// A fresh, migrated SQLite database in its own temporary directory.
pub async fn sqlite(label: &str) -> TestDb {
    let dir = std::env::temp_dir().join(unique(label));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.join("test.db").display());
    let conn = connect(&url).await;
    TestDb {
        backend: Backend::Sqlite,
        url,
        conn,
        cleanup: Cleanup::Dir(dir),
    }
}

/// A fresh, migrated PostgreSQL database. Panics (fails the test) if `TEST_DATABASE_URL` is
/// unset or unreachable.
pub async fn postgres(label: &str) -> TestDb {
    let admin_url =
        postgres_admin_url().expect("TEST_DATABASE_URL must be set for PostgreSQL tests");
    let admin = Database::connect(quiet(&admin_url))
        .await
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
    let name = unique(label);
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let _ = admin.close().await;
    let url = with_database(&admin_url, &name);
    let conn = connect(&url).await;
    TestDb {
        backend: Backend::Postgres,
        url,
        conn,
        cleanup: Cleanup::PgDatabase { admin_url, name },
    }
}

/// `url` with its path replaced by `/name`.
pub fn with_database(url: &str, name: &str) -> String {
    let mut u = url::Url::parse(url).expect("TEST_DATABASE_URL must be a URL");
    u.set_path(&format!("/{name}"));
    u.to_string()
}

fn quiet(url: &str) -> ConnectOptions {
    let mut o = ConnectOptions::new(url.to_owned());
    o.sqlx_logging(false).max_connections(5);
    o
}

/// Migrate `url` through a connection of its own, then open the pool the test gets, so that
/// every pooled connection loads the migrated schema when it opens.
///
/// Not the same pool for both: the migrator's statements go to whichever pooled connection is
/// idle, and a connection that loaded the schema part-way (e.g. before migration 7 added
/// `ingest_runs.descriptions_truncated`) keeps that copy until it next runs a statement.
/// sqlx-sqlite (0.9.0 and 0.9.1) takes a statement's columns when it prepares it — against that
/// stale copy — while SQLite re-prepares the statement against the current schema when it
/// runs; for `SELECT *` / `RETURNING *` (the queue's claim, the reaper) the row then has more
/// columns than sqlx expects: its worker thread panics (`row.rs:43`, index out of bounds) and
/// the query returns no rows. `tests/stale_schema.rs` shows it on two plain connections.
async fn connect(url: &str) -> DatabaseConnection {
    let mut one = quiet(url);
    one.max_connections(1);
    let migrator = Database::connect(one)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to test database {url}: {e}"));
    Migrator::up(&migrator, None)
        .await
        .unwrap_or_else(|e| panic!("migrations failed on {url}: {e}"));
    let _ = migrator.close().await;
    Database::connect(quiet(url))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to test database {url}: {e}"))
}

impl TestDb {
    pub fn db_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PgDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside (or outside) a runtime; a thread with its own runtime works
                // in both cases and finishes before the test process exits.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async move {
                        if let Ok(admin) = Database::connect(quiet(&admin_url)).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                                ))
                                .await;
                            let _ = admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// The value at quantile `p` (0.0–1.0) of `sorted` (ascending), by nearest rank: the element
/// at `round(p × (len − 1))`. `None` when there are no samples. Every latency figure the tests
/// and benchmarks print (p50, p99, …) goes through this, so their numbers compare.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    let i = (last as f64 * p.clamp(0.0, 1.0)).round() as usize;
    sorted.get(i).copied()
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_takes_the_nearest_rank_and_is_none_without_samples() {
        let v: Vec<u32> = (1..=101).collect();
        assert_eq!(percentile(&v, 0.5), Some(51));
        assert_eq!(percentile(&v, 0.99), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&v, 1.0), Some(101));
        assert_eq!(percentile(&[7.5], 0.99), Some(7.5));
        assert_eq!(percentile::<f64>(&[], 0.5), None);
    }
}

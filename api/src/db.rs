//! Connecting to the database (with bounded retries at start-up) and applying migrations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::config::{DatabaseUrl, DbKind};

/// Why the database could not be used at start-up.
#[derive(Debug, thiserror::Error)]
pub enum DbStartError {
    #[error("database {url} unreachable after {attempts} attempts over {waited:?}: {last_error}")]
    Unreachable {
        url: String,
        attempts: u32,
        waited: Duration,
        last_error: String,
    },
    #[error("migrating database {url} failed: {source}")]
    Migration { url: String, source: DbErr },
}

/// Bytes of heap all SQLite connections together try to stay under (`PRAGMA soft_heap_limit`).
const SQLITE_SOFT_HEAP_LIMIT: u64 = 16 * 1024 * 1024;

/// A pooled PostgreSQL connection idle at least this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(5);

/// How long [`Reader`] keeps a connection out of its pool, busy or not: the pool closes one
/// past its `max_lifetime` only when it comes back. A round trip of the pool's test per
/// connection per minute costs nothing measurable.
const KEEP_AT_MOST: Duration = Duration::from_secs(60);

/// Pool settings for `url`.
pub fn connect_options(url: &DatabaseUrl, pool_size: u32) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.expose().to_owned());
    opts.max_connections(pool_size)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .idle_timeout(Duration::from_secs(300))
        // Statements are logged by our own spans when needed; sqlx's per-statement INFO lines
        // would drown everything else (and could carry bound values).
        .sqlx_logging(false);
    match url.kind() {
        // sqlx pings every connection it hands out by default: a round trip to PostgreSQL
        // before each request's real one, 12 % of the server's CPU per uncached read (perf,
        // issue #16) and as much again in PostgreSQL. A connection in steady use cannot
        // have been dropped by a proxy or firewall, so only one idle for a while is checked
        // first; one that died meanwhile (a restarted server) fails its next statement with
        // SERVICE_UNAVAILABLE and is replaced, as one in use when the server went would.
        DbKind::Postgres => {
            opts.test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
        }
        // An in-process database cannot drop a connection: the ping was a hop to the
        // connection's worker thread for nothing.
        DbKind::Sqlite => {
            opts.test_before_acquire(false);
            opts.map_sqlx_sqlite_opts(|o| {
                // WAL lets GraphQL reads proceed while an ingest writes; NORMAL is durable in
                // WAL mode.
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    // A cap on what the pooled connections' page and temp caches may hold
                    // together (2 MB each by default, more during big GROUP BYs).
                    // Process-wide: past it SQLite recycles cache pages instead of growing;
                    // re-reads come from the OS page cache.
                    .pragma("soft_heap_limit", SQLITE_SOFT_HEAP_LIMIT.to_string())
            });
        }
    }
    opts
}

/// Connect, retrying with exponential backoff for at most `give_up_after`.
pub async fn connect_with_retry(
    url: &DatabaseUrl,
    pool_size: u32,
    give_up_after: Duration,
) -> Result<DatabaseConnection, DbStartError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    let mut attempts = 0;
    loop {
        attempts += 1;
        // sqlx retries refused connections until its acquire timeout; bound each attempt so
        // the operator sees progress lines instead of one long silence.
        let remaining = give_up_after.saturating_sub(started.elapsed());
        let per_attempt = (remaining / 3).clamp(Duration::from_millis(250), Duration::from_secs(5));
        let result = tokio::time::timeout(per_attempt, async {
            let db = Database::connect(connect_options(url, pool_size)).await?;
            // A lazy pool may "connect" without touching the server: prove it answers.
            db.execute_unprepared("SELECT 1").await?;
            Ok::<_, DbErr>(db)
        })
        .await
        .unwrap_or_else(|_| {
            Err(DbErr::Custom(format!(
                "no answer within {} ms",
                per_attempt.as_millis()
            )))
        });
        match result {
            Ok(db) => return Ok(db),
            Err(err) => {
                let waited = started.elapsed();
                if waited + delay > give_up_after {
                    return Err(DbStartError::Unreachable {
                        url: url.redacted().to_owned(),
                        attempts,
                        waited,
                        last_error: err.to_string(),
                    });
                }
                tracing::warn!(
                    database = %url,
                    attempt = attempts,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %err,
                    "database not reachable yet; retrying"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Arbitrary, fixed key of the PostgreSQL advisory lock that serialises migrations across
/// instances (the scheduler's claim lock is `…01`).
const MIGRATION_LOCK_KEY: i64 = 0x6a6f_6269_6e74_6c02;

/// Apply pending migrations (a no-op when the schema is current). Safe when several instances
/// start at once on one database: see [`migrate_exclusively`].
pub async fn migrate(db: &DatabaseConnection, url: &DatabaseUrl) -> Result<(), DbStartError> {
    migrate_exclusively(db)
        .await
        .map_err(|source| DbStartError::Migration {
            url: url.redacted().to_owned(),
            source,
        })
}

/// Run the migrator inside one transaction that first takes the database's migration lock, so
/// that concurrent start-ups apply each migration once and the others wait, then find nothing
/// pending. Without it, two instances both see a migration pending and the second fails on
/// "already exists" (or records it twice).
///
/// - PostgreSQL: `pg_advisory_xact_lock` on a fixed key. It must be held by the connection the
///   migrations run on, and the pool may hand each statement another connection; a transaction
///   pins one connection, and the lock is released by its commit or rollback (also when the
///   process dies), never leaked. The migrator runs its per-migration transactions as
///   savepoints inside it, so the whole upgrade also commits or rolls back as one. (A future
///   migration that cannot run in a transaction, such as `CREATE INDEX CONCURRENTLY`, would need
///   a session-level lock on a dedicated connection instead.)
/// - SQLite: the file itself is the lock. `BEGIN IMMEDIATE` takes the write lock before the
///   migrator reads `seaql_migrations`; a second process waits for it (`busy_timeout`) and
///   then sees the migrations applied. It costs nothing more, and also keeps every statement on
///   one connection (whose schema cache is never stale).
///
/// After the migrations, under the same lock: the trigram indexes a migration had to skip
/// (`migration::ensure_trigram_indexes`).
pub async fn migrate_exclusively(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = match db.get_database_backend() {
        DbBackend::Postgres => {
            let txn = db.begin().await?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK_KEY.into()],
            ))
            .await?;
            txn
        }
        _ => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await?
        }
    };
    Migrator::up(&txn, None).await?;
    if let Err(e) = migration::ensure_trigram_indexes(&txn).await {
        tracing::warn!(
            error = %e,
            "trigram indexes not created: substring filters run without them"
        );
    }
    txn.commit().await
}

/// A [`ConnectionTrait`] for the read path that keeps a few PostgreSQL connections between
/// statements instead of handing each back to the pool.
///
/// sqlx tests every connection handed back to its pool with a round trip (a `Sync`, awaiting
/// `ReadyForQuery`), so an uncached read cost PostgreSQL two wake-ups instead of one: ~10 %
/// of jobintel's CPU for a lookup by id, and as much again in PostgreSQL (perf, issue #16).
/// The check exists for connections whose statement was cancelled or failed half-way; a
/// statement that ran to the end leaves its connection idle and clean. So a connection whose
/// statement succeeded goes back here (the most recent first: its server process is the one
/// still in the CPU's caches), and any other — failed, or dropped by a cancelled request — goes
/// back to the pool the usual way, test included. A kept connection idle for
/// [`PING_IF_IDLE_FOR`] goes back to the pool too, so one the server dropped meanwhile is
/// found by the pool's test, as before; so does one taken from the pool [`KEEP_AT_MOST`]
/// ago however busy it is, so the pool's `max_lifetime` (sqlx: 30 minutes) still replaces
/// every connection under steady reads. Writes, and everything on SQLite, go to the pool.
#[derive(Clone)]
pub struct Reader {
    db: DatabaseConnection,
    kept: Option<Arc<Kept>>,
}

struct Kept {
    pool: sea_orm::sqlx::PgPool,
    /// Each with when it went idle and when it left the pool.
    idle: std::sync::Mutex<Vec<(PgPooled, Instant, Instant)>>,
    /// [`KEEP_AT_MOST`] (shorter in tests).
    keep_at_most: Duration,
    /// At most this many kept at once: they count against the pool's size.
    max: usize,
    /// Set at shutdown: nothing is kept any more, so closing the pool (which waits for every
    /// connection to come back) does not wait for ours.
    closed: std::sync::atomic::AtomicBool,
}

type PgPooled = sea_orm::sqlx::pool::PoolConnection<sea_orm::sqlx::Postgres>;

impl Reader {
    /// Keeps up to `keep` connections on PostgreSQL (0: none, every statement goes to the pool).
    pub fn new(db: DatabaseConnection, keep: usize) -> Reader {
        let kept = (db.get_database_backend() == DbBackend::Postgres && keep > 0).then(|| {
            Arc::new(Kept {
                pool: db.get_postgres_connection_pool().clone(),
                idle: std::sync::Mutex::new(Vec::with_capacity(keep)),
                keep_at_most: KEEP_AT_MOST,
                max: keep,
                closed: std::sync::atomic::AtomicBool::new(false),
            })
        });
        Reader { db, kept }
    }

    /// Hand a connection back to the pool once it left it `after` ago (default
    /// [`KEEP_AT_MOST`]; tests shorten it). Call before the reader is cloned.
    pub fn keeping_each_at_most(mut self, after: Duration) -> Reader {
        if let Some(kept) = self.kept.as_mut().and_then(Arc::get_mut) {
            kept.keep_at_most = after;
        }
        self
    }

    /// How many connections to keep for a pool of `pool_size`: a quarter, 1 to 4, so the
    /// engine, scheduler and webhooks always find most of the pool.
    pub fn keep_for(pool_size: u32) -> usize {
        (pool_size as usize / 4).clamp(1, 4)
    }

    /// Hand kept connections that idled [`PING_IF_IDLE_FOR`] back to the pool (whose idle
    /// timeout then applies to them) until `stop` is cancelled, then every one, for good.
    pub fn watch(&self, stop: tokio_util::sync::CancellationToken) {
        let Some(kept) = self.kept.as_ref().map(Arc::downgrade) else {
            return;
        };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(PING_IF_IDLE_FOR) => {}
                }
                let Some(kept) = kept.upgrade() else { return };
                kept.lock()
                    .retain(|(_, since, _)| since.elapsed() < PING_IF_IDLE_FOR);
            }
            if let Some(kept) = kept.upgrade() {
                kept.closed.store(true, std::sync::atomic::Ordering::SeqCst);
                kept.lock().clear();
            }
        });
    }

    /// Connections kept now (tests).
    pub fn kept(&self) -> usize {
        self.kept.as_ref().map_or(0, |k| k.lock().len())
    }

    /// A kept connection, else one from the pool; with when it left the pool.
    async fn checkout(kept: &Kept) -> Result<(PgPooled, Instant), DbErr> {
        if let Some(kept) = kept.take() {
            return Ok(kept);
        }
        let conn = kept.pool.acquire().await.map_err(|e| match e {
            sea_orm::sqlx::Error::PoolTimedOut => {
                DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)
            }
            sea_orm::sqlx::Error::PoolClosed => {
                DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed)
            }
            e => DbErr::Conn(sea_orm::RuntimeErr::SqlxError(Arc::new(e))),
        })?;
        Ok((conn, Instant::now()))
    }
}

/// `stmt` as sqlx runs it (as sea-orm does: the same SQL and bound values).
fn sqlx_query(
    stmt: Statement,
) -> sea_orm::sqlx::query::Query<'static, sea_orm::sqlx::Postgres, sea_query_sqlx::SqlxValues> {
    let values = stmt.values.unwrap_or(sea_orm::Values(Vec::new()));
    sea_orm::sqlx::query_with(
        sea_orm::sqlx::AssertSqlSafe(stmt.sql),
        sea_query_sqlx::SqlxValues(values),
    )
}

fn query_err(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(sea_orm::RuntimeErr::SqlxError(Arc::new(e)))
}

impl Kept {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PgPooled, Instant, Instant)>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self) -> Option<(PgPooled, Instant)> {
        let mut idle = self.lock();
        let (conn, since, left_pool) = idle.pop()?;
        if since.elapsed() < PING_IF_IDLE_FOR {
            return Some((conn, left_pool));
        }
        // The newest has idled too long, so have the others: all back to the pool, tested.
        drop(conn);
        idle.clear();
        None
    }

    /// Keep `conn` (which left the pool at `left_pool`) for the next statement, unless it has
    /// been out long enough, enough are kept, or the server is shutting down: then it goes
    /// back to the pool (dropped).
    fn put(&self, conn: PgPooled, left_pool: Instant) {
        if left_pool.elapsed() >= self.keep_at_most {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.max && !self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            idle.push((conn, Instant::now(), left_pool));
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Reader {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        self.db.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        self.db.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        let Some(kept) = &self.kept else {
            return self.db.query_one_raw(stmt).await;
        };
        let (mut conn, left_pool) = Reader::checkout(kept).await?;
        // On an error, or when the request is cancelled meanwhile, `conn` is dropped: back to
        // the pool, which tests it.
        let row = sqlx_query(stmt)
            .fetch_optional(&mut *conn)
            .await
            .map_err(query_err)?;
        kept.put(conn, left_pool);
        Ok(row.map(Into::into))
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        let Some(kept) = &self.kept else {
            return self.db.query_all_raw(stmt).await;
        };
        let (mut conn, left_pool) = Reader::checkout(kept).await?;
        let rows = sqlx_query(stmt)
            .fetch_all(&mut *conn)
            .await
            .map_err(query_err)?;
        kept.put(conn, left_pool);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    fn support_returning(&self) -> bool {
        self.db.support_returning()
    }
}

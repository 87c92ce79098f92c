//! Housekeeping: bounded history and closing postings that disappeared.
//!
//! - Finished runs older than the retention are deleted, except the newest N of every schedule
//!   (so a rarely-firing schedule keeps its history), in batches of at most `batch` rows per
//!   statement: no long lock, no giant transaction (pg_cron#416, Hangfire.PostgreSql#27/#194).
//!   `idx_ingest_runs_finished` and `idx_ingest_runs_schedule` keep each batch an index scan.
//! - Postings whose `last_seen_at` is older than the close-after period get `closed_at`, in
//!   batches as well, each with its `closed` history entry in the same transaction. A posting
//!   seen again is reopened by the ingest upsert (which writes the `reopened` entry).
//! - Posting history older than its retention is deleted, and beyond the newest N entries of a
//!   posting (a posting whose salary flips every day must not grow without end).
//! - SQLite: the full-text index is merged toward one segment, a bounded step at a time (see
//!   [`merge_search_index`]). PostgreSQL's GIN pending list is autovacuum's job.
//! - Postings stored before clusters existed get their cluster keys
//!   ([`fill_cluster_keys`]), so new postings of the same job find them; a batch per short
//!   transaction.
//! - `instances` rows of processes that stopped heartbeating (killed, host lost) are dropped
//!   once older than [`instances::STALE_AFTER`]. Live instances also do this at every
//!   heartbeat ([`crate::presence`]), because housekeeping runs only hourly by default and
//!   only where a scheduler runs.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionSession, TransactionTrait,
};

use crate::service::instances;
use crate::service::queue::statement;

/// Retention settings.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Finished runs older than this are deleted…
    pub run_days: u32,
    /// …except the newest this many of each schedule.
    pub keep_per_schedule: u32,
    /// Postings not seen for this many days are closed.
    pub close_after_days: u32,
    /// Posting history entries older than this many days are deleted…
    pub history_days: u32,
    /// …and any beyond the newest this many of a posting.
    pub history_per_posting: u32,
    /// Rows per statement.
    pub batch: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            run_days: 30,
            keep_per_schedule: 200,
            close_after_days: 14,
            history_days: 365,
            history_per_posting: 100,
            batch: 1000,
        }
    }
}

/// What one housekeeping pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HousekeepingReport {
    pub runs_deleted: u64,
    pub postings_closed: u64,
    pub history_deleted: u64,
    /// Statements issued (each touching at most `batch` rows).
    pub statements: u64,
    /// FTS5 merge steps run (SQLite).
    pub search_merge_steps: u64,
    /// Stale `instances` rows dropped.
    pub instances_dropped: u64,
    /// Postings stored before clusters existed that got their cluster keys.
    pub cluster_keys_filled: u64,
}

/// Postings given cluster keys per transaction, and most such transactions per pass (50,000
/// postings an hour by default: a database of the old system's size is done in a few hours
/// without holding the write lock for long).
const CLUSTER_KEYS_BATCH: u64 = 500;
const CLUSTER_KEYS_MAX_BATCHES: u64 = 100;

/// Leaf pages of FTS5 merge work per step (~4 MB): one short write transaction each.
const FTS_MERGE_PAGES: u32 = 1000;
/// Most merge steps per housekeeping pass (~256 MB of index rewritten at most).
const FTS_MERGE_MAX_STEPS: u64 = 64;

/// [`housekeep_once`] as a server runs it: the chores that change what queries return (runs,
/// postings, history) are one write of `generation`, so the response cache stops serving
/// answers that predate them.
pub async fn housekeep_fenced(
    db: &(impl ConnectionTrait + TransactionTrait),
    generation: &ingest::generation::Generation,
    now: DateTime<Utc>,
    r: Retention,
) -> Result<HousekeepingReport, DbErr> {
    let write = generation.write();
    let mut report = HousekeepingReport::default();
    let outcome = data_chores(db, now, r, &mut report).await;
    drop(write);
    outcome?;
    other_chores(db, now, &mut report).await?;
    Ok(report)
}

/// Run every chore once.
pub async fn housekeep_once(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    r: Retention,
) -> Result<HousekeepingReport, DbErr> {
    let mut report = HousekeepingReport::default();
    data_chores(db, now, r, &mut report).await?;
    other_chores(db, now, &mut report).await?;
    Ok(report)
}

/// The chores that change what queries can return.
async fn data_chores(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    r: Retention,
    report: &mut HousekeepingReport,
) -> Result<(), DbErr> {
    let (deleted, n) = purge_runs(db, now, r).await?;
    report.runs_deleted = deleted;
    report.statements += n;
    let (closed, n) = close_stale_postings(db, now, r).await?;
    report.postings_closed = closed;
    report.statements += n;
    let (deleted, n) = prune_history(db, now, r).await?;
    report.history_deleted = deleted;
    report.statements += n;
    Ok(())
}

/// The full-text index's merge (same answers, faster) and stale `instances` rows (never
/// cached).
async fn other_chores(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    report: &mut HousekeepingReport,
) -> Result<(), DbErr> {
    report.search_merge_steps = merge_search_index(db).await?;
    let (filled, n) = fill_cluster_keys(db).await?;
    report.cluster_keys_filled = filled;
    report.statements += n;
    report.instances_dropped = instances::drop_stale(db, now).await?;
    report.statements += 1;
    Ok(())
}

/// Give postings stored before clusters existed their cluster keys, `CLUSTER_KEYS_BATCH` per
/// transaction. Keys change no answer (a posting's cluster is decided when a posting of the
/// same job arrives), so this is not a fenced write. Returns (postings filled, transactions).
pub async fn fill_cluster_keys(
    db: &(impl ConnectionTrait + TransactionTrait),
) -> Result<(u64, u64), DbErr> {
    let (mut filled, mut after, mut batches) = (0, 0, 0);
    while batches < CLUSTER_KEYS_MAX_BATCHES {
        let txn = db.begin().await?;
        let (n, last) = ingest::store::cluster::backfill(&txn, after, CLUSTER_KEYS_BATCH).await?;
        txn.commit().await?;
        batches += 1;
        filled += n;
        after = last;
        if n < CLUSTER_KEYS_BATCH {
            break;
        }
        // Let an ingest storing a page in between.
        tokio::task::yield_now().await;
    }
    Ok((filled, batches))
}

/// SQLite: merge the FTS5 index's segments. FTS5 merges on its own as rows arrive, but the
/// steady stream of one-transaction-per-page writes an ingest makes leaves many segments, and
/// a search for a common word then walks every one (read benchmark (c) on an index left that
/// way: ~450 req/s). A negative `merge` works toward a single segment like `optimize` does, but
/// in steps of at most `FTS_MERGE_PAGES` pages, so the write lock is only held briefly; the
/// pass stops once one segment is left. Returns the steps run.
pub async fn merge_search_index(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(0);
    }
    let merge = format!(
        "INSERT INTO job_postings_fts (job_postings_fts, rank) VALUES ('merge', -{FTS_MERGE_PAGES})"
    );
    // The `_idx` table holds a few rows per segment: cheap to count.
    let segments = sea_orm::Statement::from_string(
        DbBackend::Sqlite,
        "SELECT COUNT(DISTINCT segid) AS n FROM job_postings_fts_idx",
    );
    let mut steps = 0;
    while steps < FTS_MERGE_MAX_STEPS {
        let n: i64 = match db.query_one_raw(segments.clone()).await? {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        if n <= 1 {
            break;
        }
        db.execute_unprepared(&merge).await?;
        steps += 1;
        // Let other writers (an ingest storing a page) in between steps.
        tokio::task::yield_now().await;
    }
    Ok(steps)
}

/// Delete finished runs older than `run_days`, keeping the newest `keep_per_schedule` of each
/// schedule. Returns (rows deleted, statements issued).
pub async fn purge_runs(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    r: Retention,
) -> Result<(u64, u64), DbErr> {
    let cutoff = now - TimeDelta::days(r.run_days.into());
    // `r.id` older than the schedule's keep-th newest run (NULL when it has fewer: kept).
    let keep = if r.keep_per_schedule == 0 {
        String::new()
    } else {
        "AND (r.schedule_id IS NULL OR r.id < ( \
             SELECT n.id FROM ingest_runs n WHERE n.schedule_id = r.schedule_id \
             ORDER BY n.id DESC LIMIT 1 OFFSET $3))"
            .to_owned()
    };
    let sql = format!(
        "DELETE FROM ingest_runs WHERE id IN ( \
           SELECT r.id FROM ingest_runs r \
           WHERE r.finished_at < $1 AND r.status NOT IN ('queued', 'running') {keep} \
           ORDER BY r.id LIMIT $2)"
    );
    let mut values = vec![cutoff.into(), i64::from(r.batch.max(1)).into()];
    if r.keep_per_schedule > 0 {
        values.push(i64::from(r.keep_per_schedule - 1).into());
    }
    batched(db, &sql, values, r.batch).await
}

/// Close postings not seen for `close_after_days`, each with its `closed` history entry (in
/// the same transaction, a batch at a time). Returns (rows closed, statements issued).
pub async fn close_stale_postings(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    r: Retention,
) -> Result<(u64, u64), DbErr> {
    let cutoff = now - TimeDelta::days(r.close_after_days.into());
    let backend = db.get_database_backend();
    let sql = "UPDATE job_postings SET closed_at = $1 WHERE id IN ( \
                 SELECT id FROM job_postings \
                 WHERE closed_at IS NULL AND last_seen_at < $2 \
                 ORDER BY id LIMIT $3) RETURNING id";
    let values: Vec<sea_orm::Value> =
        vec![now.into(), cutoff.into(), i64::from(r.batch.max(1)).into()];
    let (mut total, mut statements) = (0, 0);
    loop {
        // IMMEDIATE on SQLite: take the write lock up front, as an ingest page does.
        let txn = db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await?;
        let rows = txn
            .query_all_raw(statement(backend, sql, values.clone()))
            .await?;
        let mut ids = Vec::with_capacity(rows.len());
        for row in rows {
            ids.push(row.try_get::<i64>("", "id")?);
        }
        let n = ids.len() as u64;
        // Saved searches subscribed to CLOSED hear of it in the same transaction.
        crate::service::webhooks::enqueue(&txn, &[(entity::WebhookEvent::Closed, &ids)], now)
            .await?;
        let entries = ids
            .into_iter()
            .map(|posting_id| ingest::store::history::Entry {
                posting_id,
                kind: entity::PostingChangeKind::Closed,
                changes: Vec::new(),
            })
            .collect();
        ingest::store::history::insert(&txn, entries, None, now).await?;
        txn.commit().await?;
        total += n;
        statements += 2;
        if n < u64::from(r.batch.max(1)) {
            return Ok((total, statements));
        }
        tokio::task::yield_now().await;
    }
}

/// Delete posting history older than `history_days`, then the entries of each posting beyond
/// its newest `history_per_posting`. Returns (rows deleted, statements issued).
///
/// The cap numbers every entry (a window over `idx_posting_history_posting`): linear in the
/// history's size, once an hour — a few hundred ms at a million entries.
pub async fn prune_history(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    r: Retention,
) -> Result<(u64, u64), DbErr> {
    let cutoff = now - TimeDelta::days(r.history_days.into());
    let batch = i64::from(r.batch.max(1));
    let old = "DELETE FROM posting_history WHERE id IN ( \
                 SELECT id FROM posting_history WHERE changed_at < $1 ORDER BY id LIMIT $2)";
    let (aged, n1) = batched(db, old, vec![cutoff.into(), batch.into()], r.batch).await?;
    let beyond = "DELETE FROM posting_history WHERE id IN ( \
                    SELECT id FROM ( \
                      SELECT id, ROW_NUMBER() OVER (PARTITION BY posting_id ORDER BY id DESC) AS n \
                      FROM posting_history) h \
                    WHERE h.n > $1 LIMIT $2)";
    let (capped, n2) = batched(
        db,
        beyond,
        vec![i64::from(r.history_per_posting).into(), batch.into()],
        r.batch,
    )
    .await?;
    Ok((aged + capped, n1 + n2))
}

/// Repeat a bounded statement until it touches fewer rows than a full batch.
async fn batched(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<sea_orm::Value>,
    batch: u32,
) -> Result<(u64, u64), DbErr> {
    let backend = db.get_database_backend();
    let (mut total, mut statements) = (0, 0);
    loop {
        let n = db
            .execute_raw(statement(backend, sql, values.clone()))
            .await?
            .rows_affected();
        total += n;
        statements += 1;
        if n < u64::from(batch.max(1)) {
            return Ok((total, statements));
        }
        // Let other writers (an ingest storing a page) in between batches.
        tokio::task::yield_now().await;
    }
}

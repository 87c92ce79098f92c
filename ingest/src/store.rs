//! Persistence: run records and the per-page upsert of postings.
//!
//! A page is stored in ONE transaction: a crash loses at most the page in flight, and the
//! unique `(source, external_id)` index plus `ON CONFLICT DO NOTHING` means two runs racing on
//! the same posting never create a duplicate.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{RunStatus, RunTrigger, Source, ingest_run, job_posting};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, DbErr, EntityTrait, NotSet, QueryFilter, QueryTrait, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait, Value,
};
use sea_orm::{DatabaseTransaction, IdenStatic};
use serde::{Deserialize, Serialize};

use crate::model::{NormalizedPosting, SearchParams};
use crate::normalize::{content_hash, make_storable, needs_cleaning};

pub mod cluster;
pub mod history;
mod import;
pub use import::{ImportedPosting, upsert_imported};

/// Rows per INSERT statement: 37 columns × 200 stays far below SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters.
const INSERT_CHUNK: usize = 200;
/// Ids per `IN (…)` list.
const IN_CHUNK: usize = 500;
/// `job_postings.external_id` is `VARCHAR(255)`: longer ids are stored cut to this many bytes,
/// and must be looked up the same way.
const EXTERNAL_ID_MAX: usize = 255;

/// The external id as stored (see [`EXTERNAL_ID_MAX`]), without NULs, which PostgreSQL
/// refuses in text (see `normalize::make_storable`).
fn stored_external_id(external_id: &str) -> String {
    if external_id.contains('\0') {
        return truncate(&external_id.replace('\0', ""), EXTERNAL_ID_MAX);
    }
    truncate(external_id, EXTERNAL_ID_MAX)
}

/// What a new run row starts with: the one type for every way a run is created (the API's and
/// the CLI's runs, schedule fires, retries).
#[derive(Debug, Clone)]
pub struct NewRun {
    pub source: Source,
    /// Validated [`SearchParams`], as stored (JSON).
    pub params: serde_json::Value,
    pub trigger: RunTrigger,
    pub schedule_id: Option<i64>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub attempt: i32,
    /// Not claimable before this; `None`: as soon as it is queued.
    pub run_after: Option<DateTime<Utc>>,
    /// `queued` normally; `skipped` for a schedule fire that overlapped (stored finished).
    pub status: RunStatus,
    /// Why a `skipped` run was skipped.
    pub error: Option<String>,
}

impl NewRun {
    pub fn manual(source: Source, params: SearchParams, trigger: RunTrigger) -> Self {
        NewRun {
            source,
            // Options of strings and numbers: serialising cannot fail.
            params: serde_json::to_value(&params).unwrap_or_default(),
            trigger,
            schedule_id: None,
            scheduled_for: None,
            attempt: 1,
            run_after: None,
            status: RunStatus::Queued,
            error: None,
        }
    }

    /// The row to insert, queued at `now` (a terminal status is finished at `now` too).
    pub fn into_active_model(self, now: DateTime<Utc>) -> ingest_run::ActiveModel {
        let finished = self.status.is_terminal().then_some(now);
        ingest_run::ActiveModel {
            id: NotSet,
            source: Set(self.source),
            params: Set(self.params),
            trigger: Set(self.trigger),
            schedule_id: Set(self.schedule_id),
            scheduled_for: Set(self.scheduled_for),
            status: Set(self.status),
            attempt: Set(self.attempt),
            queued_at: Set(now),
            run_after: Set(self.run_after.unwrap_or(now)),
            started_at: Set(None),
            finished_at: Set(finished),
            heartbeat_at: Set(None),
            lease_owner: Set(None),
            lease_expires_at: Set(None),
            pages_fetched: Set(0),
            requests: Set(0),
            http_errors: Set(0),
            jobs_found: Set(0),
            jobs_new: Set(0),
            jobs_updated: Set(0),
            jobs_unchanged: Set(0),
            descriptions_truncated: Set(0),
            error: Set(self.error),
        }
    }
}

/// A run's counters, as stored on its row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounters {
    pub pages_fetched: i32,
    pub requests: i32,
    pub http_errors: i32,
    pub jobs_found: i32,
    pub jobs_new: i32,
    pub jobs_updated: i32,
    pub jobs_unchanged: i32,
    /// Descriptions cut at the size cap (`normalize::DESCRIPTION_MAX_BYTES`) by this run.
    #[serde(default)]
    pub descriptions_truncated: i32,
}

/// Insert a run row (status `queued` unless `new.status` says otherwise), queued now.
pub async fn create_run(
    db: &impl ConnectionTrait,
    new: NewRun,
) -> Result<ingest_run::Model, DbErr> {
    new.into_active_model(Utc::now()).insert(db).await
}

/// Mark a queued run `running` under `owner` (for runs executed directly, without the queue's
/// claim) and return the row as it now is: pass that model to
/// [`crate::engine::Engine::execute`] so the run's writes are fenced by `owner` (see
/// [`RunClaim`]). Only a `queued` run can start: one cancelled (or claimed by a worker) since it
/// was created is an error, never brought back to `running`.
pub async fn mark_running(
    db: &impl ConnectionTrait,
    run_id: i64,
    owner: &str,
) -> Result<ingest_run::Model, DbErr> {
    let now = Utc::now();
    let started = ingest_run::Entity::update_many()
        .col_expr(
            ingest_run::Column::Status,
            Expr::value(RunStatus::Running.as_str()),
        )
        .col_expr(ingest_run::Column::StartedAt, Expr::value(now))
        .col_expr(ingest_run::Column::HeartbeatAt, Expr::value(now))
        .col_expr(ingest_run::Column::LeaseOwner, Expr::value(owner))
        .filter(ingest_run::Column::Id.eq(run_id))
        .filter(ingest_run::Column::Status.eq(RunStatus::Queued))
        .exec(db)
        .await?;
    let run = ingest_run::Entity::find_by_id(run_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("ingest run {run_id}")))?;
    if started.rows_affected == 0 {
        return Err(DbErr::Custom(format!(
            "ingest run {run_id} cannot start: it is {}, not queued",
            run.status
        )));
    }
    Ok(run)
}

/// The claim a writer holds on a `running` run. Every write to the run row while it executes
/// is conditioned on it (`WHERE id = … AND status = 'running' AND lease_owner = …`), and a
/// write that matches no row means the run is no longer this writer's: it was reaped after its
/// lease expired (and perhaps retried), or cancelled. The writer then stops and changes nothing,
/// so a worker that stalled past its lease can never overwrite what the reaper or a canceller
/// recorded.
///
/// `owner` is the `lease_owner` the claim (or [`mark_running`]) wrote. A run model without
/// one (a row executed without going through either) is fenced by its status alone, which is
/// still safe against late writes because a run's status only moves forward: `queued` →
/// `running` → a final status, never back to `running`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunClaim {
    pub run_id: i64,
    pub owner: Option<String>,
}

impl RunClaim {
    /// The claim that produced `run` (a row returned by the queue's claim or [`mark_running`]).
    pub fn of(run: &ingest_run::Model) -> Self {
        RunClaim {
            run_id: run.id,
            owner: run.lease_owner.clone(),
        }
    }

    /// `update` restricted to this claim's row while it is still `status` and ours.
    fn fence(
        &self,
        update: sea_orm::UpdateMany<ingest_run::Entity>,
        status: RunStatus,
    ) -> sea_orm::UpdateMany<ingest_run::Entity> {
        let update = update
            .filter(ingest_run::Column::Id.eq(self.run_id))
            .filter(ingest_run::Column::Status.eq(status));
        match &self.owner {
            Some(owner) => update.filter(ingest_run::Column::LeaseOwner.eq(owner.as_str())),
            None => update,
        }
    }
}

/// Persist the counters of a run in progress (also refreshes its heartbeat). `false` when the
/// run is no longer `running` under this claim (see [`RunClaim`]): nothing was written, and the
/// caller must stop.
pub async fn save_progress(
    db: &impl ConnectionTrait,
    claim: &RunClaim,
    c: &RunCounters,
) -> Result<bool, DbErr> {
    let update =
        counters_update(c).col_expr(ingest_run::Column::HeartbeatAt, Expr::value(Utc::now()));
    let res = claim.fence(update, RunStatus::Running).exec(db).await?;
    Ok(res.rows_affected == 1)
}

/// What [`finish_run`] could record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishOutcome {
    /// The run was still ours: its final status, counters and error are recorded.
    Recorded,
    /// The run was cancelled while it executed: it stays `cancelled` (with the canceller's
    /// error) and got its end time and our final counters. A cancel always wins over a finish.
    Cancelled,
    /// The run is no longer ours (reaped, cancelled and already closed, or claimed by someone
    /// else): nothing was written.
    Lost,
}

/// The row after [`finish_run`], and what it recorded.
#[derive(Debug, Clone)]
pub struct Finished {
    pub run: ingest_run::Model,
    pub outcome: FinishOutcome,
}

/// Put a run in its terminal status with its final counters and error, if it is still
/// `running` under `claim`. A run cancelled meanwhile keeps `cancelled`; a run that is no
/// longer ours is left exactly as it is (see [`FinishOutcome`]).
pub async fn finish_run(
    db: &impl ConnectionTrait,
    claim: &RunClaim,
    status: RunStatus,
    c: &RunCounters,
    error: Option<&str>,
) -> Result<Finished, DbErr> {
    use ingest_run::Column as C;
    let now = Utc::now();
    let no_lease = Expr::value(Option::<DateTime<Utc>>::None);
    let finish = counters_update(c)
        .col_expr(C::Status, Expr::value(status.as_str()))
        .col_expr(C::FinishedAt, Expr::value(now))
        .col_expr(C::HeartbeatAt, Expr::value(now))
        .col_expr(C::LeaseExpiresAt, no_lease.clone())
        .col_expr(C::Error, Expr::value(error.map(str::to_owned)));
    let mut outcome = FinishOutcome::Recorded;
    if claim
        .fence(finish, RunStatus::Running)
        .exec(db)
        .await?
        .rows_affected
        == 0
    {
        // Cancelled through the API while we ran: the canceller set the status and the error
        // but left the end to us (the worker that still holds the lease), unless the reaper
        // already closed it because our lease had expired.
        let close = counters_update(c)
            .col_expr(C::FinishedAt, Expr::value(now))
            .col_expr(C::HeartbeatAt, Expr::value(now))
            .col_expr(C::LeaseExpiresAt, no_lease)
            .filter(C::FinishedAt.is_null());
        outcome = if claim
            .fence(close, RunStatus::Cancelled)
            .exec(db)
            .await?
            .rows_affected
            == 1
        {
            FinishOutcome::Cancelled
        } else {
            FinishOutcome::Lost
        };
    }
    let run = ingest_run::Entity::find_by_id(claim.run_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("ingest run {}", claim.run_id)))?;
    Ok(Finished { run, outcome })
}

fn counters_update(c: &RunCounters) -> sea_orm::UpdateMany<ingest_run::Entity> {
    use ingest_run::Column as C;
    ingest_run::Entity::update_many()
        .col_expr(C::PagesFetched, Expr::value(c.pages_fetched))
        .col_expr(C::Requests, Expr::value(c.requests))
        .col_expr(C::HttpErrors, Expr::value(c.http_errors))
        .col_expr(C::JobsFound, Expr::value(c.jobs_found))
        .col_expr(C::JobsNew, Expr::value(c.jobs_new))
        .col_expr(C::JobsUpdated, Expr::value(c.jobs_updated))
        .col_expr(C::JobsUnchanged, Expr::value(c.jobs_unchanged))
        .col_expr(
            C::DescriptionsTruncated,
            Expr::value(c.descriptions_truncated),
        )
}

/// Which of `external_ids` are already stored for `source` (to fetch details only for new ones).
pub async fn known_external_ids(
    db: &DatabaseConnection,
    source: Source,
    external_ids: &[String],
) -> Result<HashSet<String>, DbErr> {
    let ids: Vec<String> = external_ids
        .iter()
        .map(|id| stored_external_id(id))
        .collect();
    let stored = if db.get_database_backend() == DbBackend::Postgres {
        // In a transaction only to plan the lookup for the table as it is (see `plan_afresh`).
        let txn = db.begin().await?;
        plan_afresh(&txn).await?;
        let stored = existing_rows(&txn, source, &ids).await?;
        txn.commit().await?;
        stored
    } else {
        existing_rows(db, source, &ids).await?
    };
    // Answer in the caller's ids, which may be longer than the stored ones.
    Ok(external_ids
        .iter()
        .filter(|id| stored.contains_key(&stored_external_id(id)))
        .cloned()
        .collect())
}

/// PostgreSQL: plan the rest of this transaction's statements for the table as it is now.
/// After five executions PostgreSQL may switch a prepared statement to a generic plan and keep
/// it for the connection's life; one chosen during the first pages of a first ingest, while the
/// table is nearly empty, reads every row of a source per lookup once the table has grown.
/// Planning these statements takes well under a millisecond.
async fn plan_afresh(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
        .await?;
    Ok(())
}

/// What storing one page did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOutcome {
    /// Ids of postings inserted by this page.
    pub new: Vec<i64>,
    /// Ids of postings whose content changed.
    pub updated: Vec<i64>,
    pub unchanged: usize,
    /// Postings not stored because their `url` is not http(s) (see `normalize::make_storable`).
    pub refused: usize,
}

/// Upsert one page of postings in one transaction. Postings repeated within the page count once
/// (the last copy wins). Each posting is first made storable (`normalize::make_storable`: NULs
/// stripped, non-http(s) links dropped); one without an http(s) `url` is left out and counted
/// in [`PageOutcome::refused`].
///
/// A page costs one lookup of the stored hashes, one multi-row INSERT (with RETURNING) of the
/// new postings, one batched UPDATE of the changed ones and one of all the unchanged ones; a
/// second lookup only for the rows a concurrent run inserted in between.
pub async fn upsert_page(
    db: &DatabaseConnection,
    run_id: i64,
    postings: &[NormalizedPosting],
) -> Result<PageOutcome, DbErr> {
    Ok(upsert_page_fenced(db, run_id, postings, None)
        .await?
        .unwrap_or_default())
}

/// [`upsert_page`], stored only while `claim` still holds the run: the page's transaction
/// first renews the run's heartbeat through the claim's fence, and stores nothing (`None`)
/// when that matches no row. On PostgreSQL that UPDATE also locks the run row until the page
/// commits, so a reaper or canceller either commits first (and the page is not stored) or
/// waits for the page; SQLite's IMMEDIATE transaction serialises the two anyway. A worker
/// that stalled past its lease therefore cannot store even the page it had in flight.
pub async fn upsert_page_fenced(
    db: &DatabaseConnection,
    run_id: i64,
    postings: &[NormalizedPosting],
    claim: Option<&RunClaim>,
) -> Result<Option<PageOutcome>, DbErr> {
    upsert_page_hooked(db, run_id, postings, claim, None).await
}

/// Writes that must commit or roll back with a stored page, made by a crate this one cannot
/// depend on (the API's saved searches write their webhook outbox rows here, so an event is
/// never committed without its delivery). Called once per page, inside the page's
/// transaction, after its postings are written; an error rolls the whole page back.
pub trait PageHook: Send + Sync {
    /// `new_ids`: postings first stored by this page; `updated_ids`: postings whose content
    /// changed. Either may be empty (the hook is not called when both are).
    fn on_page<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        new_ids: &'a [i64],
        updated_ids: &'a [i64],
    ) -> futures_util::future::BoxFuture<'a, Result<(), DbErr>>;
}

/// [`upsert_page_fenced`], with `hook` run inside the page's transaction before it commits.
pub async fn upsert_page_hooked(
    db: &DatabaseConnection,
    run_id: i64,
    postings: &[NormalizedPosting],
    claim: Option<&RunClaim>,
    hook: Option<&dyn PageHook>,
) -> Result<Option<PageOutcome>, DbErr> {
    let mut outcome = PageOutcome::default();
    if postings.is_empty() {
        return Ok(Some(outcome));
    }
    let now = Utc::now();
    // Only postings that need it are copied to be cleaned.
    let mut storable: Vec<Cow<'_, NormalizedPosting>> = Vec::with_capacity(postings.len());
    for p in postings {
        if !needs_cleaning(p) {
            storable.push(Cow::Borrowed(p));
            continue;
        }
        let mut clean = p.clone();
        match make_storable(&mut clean) {
            Ok(()) => storable.push(Cow::Owned(clean)),
            Err(e) => {
                tracing::warn!(run_id, error = %e, "posting not stored");
                outcome.refused += 1;
            }
        }
    }
    // Dedupe within the page by the id as stored; group by source (a page normally has one).
    let mut by_key: HashMap<(Source, String), &NormalizedPosting> = HashMap::new();
    let mut order: Vec<(Source, String)> = Vec::new();
    for p in storable.iter().map(|p| &**p) {
        let key = (p.source, stored_external_id(&p.external_id));
        if by_key.insert(key.clone(), p).is_none() {
            order.push(key);
        }
    }
    let mut sources: Vec<Source> = order.iter().map(|(s, _)| *s).collect();
    sources.sort_by_key(|s| s.as_str());
    sources.dedup();

    let Some(txn) = begin_page(db, claim, now).await? else {
        return Ok(None);
    };
    for source in sources {
        // (the id as stored, the posting, its content hash)
        let page: Vec<(&str, &NormalizedPosting, String)> = order
            .iter()
            .filter(|(s, _)| *s == source)
            .map(|k| (k.1.as_str(), by_key[k], content_hash(by_key[k])))
            .collect();
        let ids: Vec<String> = page.iter().map(|(id, _, _)| (*id).to_owned()).collect();
        let existing = existing_rows(&txn, source, &ids).await?;

        let mut fresh = Vec::new();
        let mut changed: Vec<(i64, &NormalizedPosting, &str)> = Vec::new();
        let mut unchanged_ids = Vec::new();
        let mut reopened = Vec::new();
        for (external_id, p, hash) in &page {
            match existing.get(*external_id) {
                None => fresh.push((*external_id, *p, hash.as_str())),
                Some(e) => {
                    if e.closed {
                        reopened.push(e.id);
                    }
                    if e.content_hash == *hash {
                        unchanged_ids.push(e.id);
                    } else {
                        changed.push((e.id, *p, hash.as_str()));
                    }
                }
            }
        }

        // Clusters: the keys of new and changed postings, their candidates in one lookup.
        let fresh_keys: Vec<cluster::Keys> = fresh
            .iter()
            .map(|(_, p, _)| cluster::Keys::of_if_enabled(p, now))
            .collect();
        let mut changed_keys: Vec<cluster::Keys> = changed
            .iter()
            .map(|(_, p, _)| cluster::Keys::of_if_enabled(p, now))
            .collect();
        let candidates = cluster::candidates(&txn, fresh_keys.iter().chain(&changed_keys)).await?;
        let seen = Seen::now(now);
        let fresh_seen: Vec<_> = fresh.iter().map(|(id, p, h)| (*id, *p, *h, seen)).collect();
        let inserted =
            insert_clustered(&txn, &fresh_seen, &fresh_keys, &candidates, run_id, now).await?;
        // Rows another run inserted between our SELECT and INSERT were skipped by ON CONFLICT
        // (and are missing from RETURNING): those are not ours to count as new. Look them up
        // again (READ COMMITTED: the statement sees the other run's committed row) and treat
        // them like rows that were there before.
        let mut conflicted = Vec::new();
        for (external_id, p, hash) in &fresh {
            match inserted.get(*external_id) {
                Some(id) => outcome.new.push(*id),
                None => conflicted.push((*external_id, *p, *hash)),
            }
        }
        if !conflicted.is_empty() {
            let ids: Vec<String> = conflicted
                .iter()
                .map(|(id, _, _)| (*id).to_owned())
                .collect();
            let after = existing_rows(&txn, source, &ids).await?;
            for (external_id, p, hash) in conflicted {
                match after.get(external_id) {
                    None => {}
                    Some(e) if e.content_hash == hash => unchanged_ids.push(e.id),
                    Some(e) => {
                        changed.push((e.id, p, hash));
                        changed_keys.push(cluster::Keys::of_if_enabled(p, now));
                    }
                }
            }
        }

        record_history(&txn, &reopened, &changed, run_id, now).await?;
        let changed_clusters: Vec<(i64, &cluster::Keys)> = changed
            .iter()
            .zip(&changed_keys)
            .map(|((id, _, _), k)| (*id, k))
            .collect();
        let moved = cluster::maintain_changed(&txn, &changed_clusters, &candidates).await?;
        update_changed(&txn, &changed, &changed_keys, &moved, run_id, now).await?;
        outcome.updated.extend(changed.iter().map(|(id, _, _)| *id));
        outcome.unchanged += unchanged_ids.len();
        mark_seen(&txn, &unchanged_ids, run_id, now).await?;
        reopen(&txn, &reopened).await?;
    }
    if let Some(hook) = hook
        && (!outcome.new.is_empty() || !outcome.updated.is_empty())
    {
        hook.on_page(&txn, &outcome.new, &outcome.updated).await?;
    }
    txn.commit().await?;
    Ok(Some(outcome))
}

/// When a posting was first and last seen: both "now" for a scraped posting, the other
/// system's times for an imported one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

impl Seen {
    fn now(now: DateTime<Utc>) -> Self {
        Seen {
            first: now,
            last: now,
        }
    }
}

/// Open the transaction one page is stored in. IMMEDIATE on SQLite: a deferred transaction that
/// reads then writes fails at once with "database is locked" when another run wrote in
/// between; taking the write lock up front makes concurrent runs wait their turn
/// (busy_timeout) instead (ignored by PostgreSQL). Under a `claim`, the run's heartbeat is
/// renewed through its fence first: `None` (nothing open) when the claim no longer holds.
pub(crate) async fn begin_page(
    db: &DatabaseConnection,
    claim: Option<&RunClaim>,
    now: DateTime<Utc>,
) -> Result<Option<DatabaseTransaction>, DbErr> {
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    if let Some(claim) = claim {
        let renew = ingest_run::Entity::update_many()
            .col_expr(ingest_run::Column::HeartbeatAt, Expr::value(now));
        if claim
            .fence(renew, RunStatus::Running)
            .exec(&txn)
            .await?
            .rows_affected
            != 1
        {
            txn.rollback().await?;
            return Ok(None);
        }
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        plan_afresh(&txn).await?;
    }
    Ok(Some(txn))
}

/// A stored posting as the upsert sees it.
#[derive(Debug, Clone)]
struct Existing {
    id: i64,
    content_hash: String,
    /// `closed_at` is set: seeing it again reopens it (a history entry).
    closed: bool,
}

/// The rows of a SQLite statement whose one value is `json_group_array(json_array(…))`, each
/// as a `T` (a tuple of the array's items). Rows come back this way where a page reads many:
/// the driver hands every row from SQLite's thread to the task on its own, a context switch
/// per row, which cost more CPU than the lookups themselves (`existing_rows`, the cluster
/// candidates).
pub(crate) async fn sqlite_json_rows<T: serde::de::DeserializeOwned>(
    db: &impl ConnectionTrait,
    stmt: Statement,
) -> Result<Vec<T>, DbErr> {
    let text: Option<String> = match db.query_one_raw(stmt).await? {
        Some(r) => r.try_get_by_index(0)?,
        None => None,
    };
    serde_json::from_str(text.as_deref().unwrap_or("[]"))
        .map_err(|e| DbErr::Custom(format!("rows as JSON: {e}")))
}

/// `(id, external_id, content_hash, closed)`.
type ExistingRow = (i64, String, String, bool);

/// The stored postings of `source` among `ids` (ids as stored), by external id.
async fn existing_rows(
    db: &impl ConnectionTrait,
    source: Source,
    ids: &[String],
) -> Result<HashMap<String, Existing>, DbErr> {
    let mut out = HashMap::new();
    let backend = db.get_database_backend();
    for chunk in ids.chunks(IN_CHUNK) {
        let rows: Vec<ExistingRow> = if backend == DbBackend::Postgres {
            // One statement text for every page size (the ids as one array parameter), probing
            // the unique index once per id. Written as a LATERAL probe rather than
            // `external_id = ANY(…)`: on a table without statistics yet the planner prices the
            // ANY list above reading every row of the source through `idx_job_postings_facets`
            // (30–50 ms a page at 10,000 rows). Callers plan it afresh (`plan_afresh`): the
            // planner rightly prefers that index while the table is tiny, and such a plan must
            // not stick.
            let sql = "SELECT p.id, p.external_id, p.content_hash, p.closed_at \
                       FROM unnest(CAST($2 AS TEXT[])) AS k (external_id) \
                       CROSS JOIN LATERAL (SELECT id, external_id, content_hash, closed_at \
                       FROM job_postings \
                       WHERE source = $1 AND external_id = k.external_id LIMIT 1) AS p";
            let stmt = Statement::from_sql_and_values(
                backend,
                sql,
                [
                    source.as_str().into(),
                    pg_array(chunk.iter().map(String::as_str)).into(),
                ],
            );
            let mut rows = Vec::with_capacity(chunk.len());
            for r in db.query_all_raw(stmt).await? {
                rows.push((
                    r.try_get("", "id")?,
                    r.try_get("", "external_id")?,
                    r.try_get("", "content_hash")?,
                    r.try_get::<Option<DateTime<Utc>>>("", "closed_at")?
                        .is_some(),
                ));
            }
            rows
        } else {
            // Not `cluster_id` (nor on PostgreSQL, for one code path): added by a later
            // migration, it sits at the end of each SQLite record, after the descriptions and
            // raw JSON, so reading it follows every row's overflow pages (+13-17 % CPU on a
            // page of unchanged postings). Only changed postings need it: cluster maintenance
            // reads theirs with their clusters' members (`cluster::maintain_changed`).
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT json_group_array(json_array(id, external_id, content_hash, \
                 closed_at IS NOT NULL)) \
                 FROM job_postings WHERE source = ? AND external_id IN ({marks})"
            );
            let values: Vec<Value> = std::iter::once(source.as_str().into())
                .chain(chunk.iter().map(|id| id.as_str().into()))
                .collect();
            let found: Vec<(i64, String, String, i64)> =
                sqlite_json_rows(db, Statement::from_sql_and_values(backend, sql, values)).await?;
            found
                .into_iter()
                .map(|(id, ext, hash, closed)| (id, ext, hash, closed != 0))
                .collect()
        };
        out.extend(rows.into_iter().map(|(id, ext, content_hash, closed)| {
            (
                ext,
                Existing {
                    id,
                    content_hash,
                    closed,
                },
            )
        }));
    }
    Ok(out)
}

/// Insert a page's new postings `fresh` (with their cluster `keys`, in the same order) into
/// the clusters of their closest `candidates` or of an earlier posting of the same page
/// ([`cluster::plan_fresh`]); the ids inserted, by external id as stored. Scraped and
/// imported pages both store their new postings through this.
pub(crate) async fn insert_clustered(
    txn: &impl ConnectionTrait,
    fresh: &[(&str, &NormalizedPosting, &str, Seen)],
    keys: &[cluster::Keys],
    candidates: &[cluster::Stored],
    run_id: i64,
    now: DateTime<Utc>,
) -> Result<HashMap<String, i64>, DbErr> {
    let refs: Vec<&cluster::Keys> = keys.iter().collect();
    let plan = cluster::plan_fresh(&refs, candidates);
    let clusters = ClusterPlan {
        keys: fresh.iter().zip(keys).map(|(f, k)| (f.0, k)).collect(),
        joins: fresh
            .iter()
            .zip(&plan)
            .filter_map(|(f, j)| match j {
                cluster::Join::Stored(root) => Some((f.0, *root)),
                _ => None,
            })
            .collect(),
    };
    let inserted = insert_fresh(txn, fresh, run_id, now, &clusters).await?;
    // New postings that joined a cluster an earlier posting of this page started.
    let mut in_page: HashMap<i64, Vec<i64>> = HashMap::new();
    for (i, join) in plan.iter().enumerate() {
        if let cluster::Join::Fresh(j) = join
            && let (Some(id), Some(root)) = (inserted.get(fresh[i].0), inserted.get(fresh[*j].0))
        {
            in_page.entry(*root).or_default().push(*id);
        }
    }
    for (root, ids) in in_page {
        cluster::set_cluster(txn, &ids, Some(root)).await?;
    }
    Ok(inserted)
}

/// Insert `fresh` (external id as stored, posting, hash, first/last seen), skipping any that
/// another run inserted meanwhile; the ids of the rows inserted, by external id.
async fn insert_fresh(
    db: &impl ConnectionTrait,
    fresh: &[(&str, &NormalizedPosting, &str, Seen)],
    run_id: i64,
    now: DateTime<Utc>,
    clusters: &ClusterPlan<'_>,
) -> Result<HashMap<String, i64>, DbErr> {
    let mut inserted = HashMap::with_capacity(fresh.len());
    for chunk in fresh.chunks(INSERT_CHUNK) {
        let models = chunk.iter().map(|(id, p, hash, seen)| {
            let mut m = new_posting(p, hash, run_id, now, *seen);
            match clusters.keys.get(id) {
                Some(k) => set_cluster_keys(&mut m, k),
                None => set_cluster_keys(&mut m, &cluster::Keys::of(p, seen.first)),
            }
            m.cluster_id = Set(clusters.joins.get(id).copied());
            m
        });
        // RETURNING lists exactly the rows this statement inserted (not those ON CONFLICT
        // skipped), so no second lookup is needed to tell ours from a concurrent run's.
        let mut insert = job_posting::Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([job_posting::Column::Source, job_posting::Column::ExternalId])
                    .do_nothing()
                    .to_owned(),
            )
            .into_query();
        insert.returning(
            Query::returning().columns([job_posting::Column::Id, job_posting::Column::ExternalId]),
        );
        for r in db.query_all(&insert).await? {
            inserted.insert(r.try_get("", "external_id")?, r.try_get("", "id")?);
        }
    }
    Ok(inserted)
}

/// The history entries of a page: postings seen again after they were closed, and the tracked
/// fields of changed postings that differ from what is stored (read before it is overwritten).
async fn record_history(
    db: &impl ConnectionTrait,
    reopened: &[i64],
    changed: &[(i64, &NormalizedPosting, &str)],
    run_id: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut entries: Vec<history::Entry> = reopened
        .iter()
        .map(|id| history::Entry {
            posting_id: *id,
            kind: entity::PostingChangeKind::Reopened,
            changes: Vec::new(),
        })
        .collect();
    if !changed.is_empty() {
        let ids: Vec<i64> = changed.iter().map(|(id, _, _)| *id).collect();
        let old = history::stored(db, &ids).await?;
        for (id, p, hash) in changed {
            let Some(old) = old.get(id) else { continue };
            let new = history::Tracked::of_content(*id, &content(p, hash));
            let changes = history::diff(old, &new);
            if !changes.is_empty() {
                entries.push(history::Entry {
                    posting_id: *id,
                    kind: entity::PostingChangeKind::Changed,
                    changes,
                });
            }
        }
    }
    if entries.is_empty() {
        return Ok(());
    }
    history::insert(db, entries, Some(run_id), now).await
}

/// Store the new content of changed postings (id, posting, hash) with the bookkeeping of a
/// sighting by this run ([`CONTENT_COLUMNS`], [`SIGHTING_COLUMNS`]) and their cluster `keys`
/// (in the same order: computed once per page, the SimHash is not free).
async fn update_changed(
    db: &impl ConnectionTrait,
    changed: &[(i64, &NormalizedPosting, &str)],
    keys: &[cluster::Keys],
    clusters: &HashMap<i64, Option<i64>>,
    run_id: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    debug_assert_eq!(
        changed.len(),
        keys.len(),
        "one set of keys per changed posting"
    );
    let rows = changed.iter().zip(keys).map(|((id, p, hash), k)| {
        let mut m = content(p, hash);
        m.last_seen_at = Set(now);
        m.closed_at = Set(None);
        m.last_run_id = Set(Some(run_id));
        m.updated_at = Set(now);
        set_cluster_keys(&mut m, k);
        // A posting changed by a concurrent run after our lookup keeps its cluster.
        m.cluster_id = clusters.get(id).map_or(NotSet, |c| Set(*c));
        (*id, m)
    });
    let columns = [
        CONTENT_COLUMNS.as_slice(),
        &SIGHTING_COLUMNS,
        &CLUSTER_KEY_COLUMNS,
    ]
    .concat();
    let (with_cluster, without): (Vec<_>, Vec<_>) = rows.partition(|(_, m)| m.cluster_id.is_set());
    update_rows(db, without, &columns).await?;
    let columns = [columns.as_slice(), &[job_posting::Column::ClusterId]].concat();
    update_rows(db, with_cluster, &columns).await
}

/// Write `columns` of each `(id, model)`: one
/// `WITH v (…) AS (VALUES …) UPDATE job_postings … FROM v` per [`UPDATE_CHUNK`] rows.
///
/// PostgreSQL first locks the rows in id order (`SELECT … ORDER BY id FOR UPDATE`), so two runs
/// updating the same postings take their locks in the same order whatever plan the join gets;
/// SQLite's IMMEDIATE transaction serialises writers anyway. (This was one UPDATE per row while
/// sqlx 0.9.0 did not set TCP_NODELAY: a 16–100 KiB message then waited ~40 ms for a delayed
/// ACK. sqlx 0.9.1 sets it again; the upsert benchmark's 10 %-changed case is the measure, see
/// the README.)
pub(crate) async fn update_rows(
    db: &impl ConnectionTrait,
    mut rows: Vec<(i64, job_posting::ActiveModel)>,
    columns: &[job_posting::Column],
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    rows.sort_by_key(|(id, _)| *id);
    let backend = db.get_database_backend();
    for chunk in rows.chunks(UPDATE_CHUNK) {
        if backend == DbBackend::Postgres {
            let ids: Vec<String> = chunk.iter().map(|(id, _)| id.to_string()).collect();
            let lock = "SELECT id FROM job_postings WHERE id = ANY(CAST($1 AS BIGINT[])) \
                        ORDER BY id FOR UPDATE";
            db.query_all_raw(Statement::from_sql_and_values(
                backend,
                lock,
                [pg_array(ids.iter().map(String::as_str)).into()],
            ))
            .await?;
        }
        let mut sql = String::from("WITH v (id");
        for col in columns {
            sql.push_str(", ");
            sql.push_str(col.as_str());
        }
        sql.push_str(") AS (VALUES ");
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * (columns.len() + 1));
        for (row, (id, m)) in chunk.iter().enumerate() {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            values.push((*id).into());
            push_placeholder(&mut sql, backend, values.len());
            for col in columns {
                let value = m.get(*col).into_value().ok_or_else(|| {
                    DbErr::Custom(format!("update of {} without a value", col.as_str()))
                })?;
                values.push(value);
                sql.push_str(", ");
                push_placeholder(&mut sql, backend, values.len());
            }
            sql.push(')');
        }
        sql.push_str(") UPDATE job_postings SET ");
        for (i, col) in columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(col.as_str());
            sql.push_str(" = v.");
            sql.push_str(col.as_str());
        }
        sql.push_str(" FROM v WHERE job_postings.id = v.id");
        let result = db
            .execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        if result.rows_affected() != chunk.len() as u64 {
            return Err(DbErr::RecordNotUpdated);
        }
    }
    Ok(())
}

/// Rows per batched UPDATE: 31 values a row, and descriptions make each row a few KiB.
const UPDATE_CHUNK: usize = 50;

/// The columns [`content`] fills.
pub(crate) const CONTENT_COLUMNS: [job_posting::Column; 26] = {
    use job_posting::Column as C;
    [
        C::Url,
        C::ApplyUrl,
        C::Title,
        C::Company,
        C::CompanyExternalId,
        C::LocationRaw,
        C::City,
        C::Region,
        C::Country,
        C::WorkType,
        C::WorkArrangement,
        C::SalaryText,
        C::SalaryMin,
        C::SalaryMax,
        C::SalaryCurrency,
        C::SalaryPeriod,
        C::SalaryAnnualMin,
        C::SalaryAnnualMax,
        C::SalarySource,
        C::DescriptionHtml,
        C::DescriptionText,
        C::Classification,
        C::PostedAt,
        C::ExpiresAt,
        C::ContentHash,
        C::Raw,
    ]
};

/// The cluster keys a changed posting's UPDATE writes (its `cluster_id` too, when decided).
const CLUSTER_KEY_COLUMNS: [job_posting::Column; 3] = [
    job_posting::Column::CompanyKey,
    job_posting::Column::TitleKey,
    job_posting::Column::Simhash,
];

fn set_cluster_keys(m: &mut job_posting::ActiveModel, k: &cluster::Keys) {
    m.company_key = Set(k.company_key.clone());
    m.title_key = Set(Some(k.title_key.clone()));
    m.simhash = Set(k.stored_simhash());
}

/// The clusters of a page's new postings: their keys (computed once, for matching) and the
/// stored cluster each joins, by external id as stored.
#[derive(Debug, Default)]
pub(crate) struct ClusterPlan<'a> {
    pub keys: HashMap<&'a str, &'a cluster::Keys>,
    pub joins: HashMap<&'a str, i64>,
}

/// What a sighting by a run updates beside the content.
const SIGHTING_COLUMNS: [job_posting::Column; 4] = [
    job_posting::Column::LastSeenAt,
    job_posting::Column::ClosedAt,
    job_posting::Column::LastRunId,
    job_posting::Column::UpdatedAt,
];

/// Append the placeholder of the `n`-th (1-based) bound value.
fn push_placeholder(sql: &mut String, backend: DbBackend, n: usize) {
    use std::fmt::Write as _;
    match backend {
        DbBackend::Postgres => {
            let _ = write!(sql, "${n}");
        }
        _ => sql.push('?'),
    }
}

/// Record that unchanged postings were seen again by this run. `closed_at` is left alone (see
/// [`reopen`]): setting it, even to the NULL it already holds, rewrote the entries of every
/// index holding it (facets, trends, open postings) for every posting seen again.
async fn mark_seen(
    db: &impl ConnectionTrait,
    ids: &[i64],
    run_id: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    for chunk in ids.chunks(IN_CHUNK) {
        if backend == DbBackend::Postgres {
            // An array parameter, for the same reason as in `existing_rows`.
            let sql = "UPDATE job_postings SET last_seen_at = $1, last_run_id = $2 \
                       WHERE id = ANY(CAST($3 AS BIGINT[]))";
            let ids: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let values: [Value; 3] = [
                now.into(),
                run_id.into(),
                pg_array(ids.iter().map(String::as_str)).into(),
            ];
            db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
        } else {
            job_posting::Entity::update_many()
                .col_expr(job_posting::Column::LastSeenAt, Expr::value(now))
                .col_expr(job_posting::Column::LastRunId, Expr::value(run_id))
                .filter(job_posting::Column::Id.is_in(chunk.iter().copied()))
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

/// Open again the closed postings this page saw (their `reopened` history entries are written
/// by [`record_history`]).
async fn reopen(db: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    for chunk in ids.chunks(IN_CHUNK) {
        job_posting::Entity::update_many()
            .col_expr(
                job_posting::Column::ClosedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(job_posting::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// `column IN ids` as a condition on bound values (PostgreSQL: parameter `$param`, one array;
/// SQLite: `?`s, so a statement using it twice binds the values twice), for the few rows of a
/// page or a request. Its text depends only on the backend and, on SQLite, on the number of
/// ids padded to a power of two (NULLs match nothing), so each connection prepares it once:
/// ids written into the text made every such statement new to SQLite's and PostgreSQL's
/// statement caches, and preparing it cost more than running it.
pub fn ids_in(backend: DbBackend, column: &str, ids: &[i64], param: usize) -> (String, Vec<Value>) {
    if backend == DbBackend::Postgres {
        let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
        (
            format!("{column} = ANY(CAST(${param} AS BIGINT[]))"),
            vec![pg_array(ids.iter().map(String::as_str)).into()],
        )
    } else {
        let slots = ids.len().next_power_of_two().min(IN_CHUNK.max(ids.len()));
        let values = ids
            .iter()
            .map(|id| Value::BigInt(Some(*id)))
            .chain((ids.len()..slots).map(|_| Value::BigInt(None)))
            .collect();
        let marks = vec!["?"; slots].join(", ");
        (format!("{column} IN ({marks})"), values)
    }
}

/// A PostgreSQL array literal of `items` (`{"a","b\"c"}`), to bind as one text parameter and
/// cast in SQL: every element quoted, `"` and `\` escaped, so any string round-trips.
fn pg_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("{");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.chars() {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// The content columns, shared by insert and update.
fn content(p: &NormalizedPosting, hash: &str) -> job_posting::ActiveModel {
    job_posting::ActiveModel {
        url: Set(p.url.clone()),
        apply_url: Set(p.apply_url.clone()),
        title: Set(truncate(&p.title, 2000)),
        company: Set(p.company.as_deref().map(|c| truncate(c, 255))),
        company_external_id: Set(p.company_external_id.as_deref().map(|c| truncate(c, 255))),
        location_raw: Set(p.location.raw.clone()),
        city: Set(p.location.city.as_deref().map(|c| truncate(c, 128))),
        region: Set(p.location.region.as_deref().map(|c| truncate(c, 128))),
        country: Set(p
            .location
            .country
            .as_deref()
            .filter(|c| c.len() == 2)
            .map(str::to_ascii_uppercase)),
        work_type: Set(p.work_type),
        work_arrangement: Set(p.work_arrangement),
        salary_text: Set(p.salary.text.clone()),
        salary_min: Set(p.salary.min),
        salary_max: Set(p.salary.max),
        salary_currency: Set(p
            .salary
            .currency
            .as_deref()
            .filter(|c| c.len() == 3)
            .map(str::to_owned)),
        salary_period: Set(p.salary.period),
        salary_annual_min: Set(p.salary.annual_min),
        salary_annual_max: Set(p.salary.annual_max),
        salary_source: Set(p.salary.source),
        description_html: Set(p.description_html.clone()),
        description_text: Set(p.description_text.clone()),
        classification: Set(p.classification.as_deref().map(|c| truncate(c, 255))),
        posted_at: Set(p.posted_at),
        expires_at: Set(p.expires_at),
        content_hash: Set(hash.to_owned()),
        raw: Set(Some(p.raw.clone())),
        ..Default::default()
    }
}

fn new_posting(
    p: &NormalizedPosting,
    hash: &str,
    run_id: i64,
    now: DateTime<Utc>,
    seen: Seen,
) -> job_posting::ActiveModel {
    let mut m = content(p, hash);
    m.id = NotSet;
    m.source = Set(p.source);
    m.external_id = Set(stored_external_id(&p.external_id));
    m.first_seen_at = Set(seen.first);
    m.last_seen_at = Set(seen.last);
    m.closed_at = Set(None);
    m.first_run_id = Set(Some(run_id));
    m.last_run_id = Set(Some(run_id));
    m.created_at = Set(now);
    m.updated_at = Set(now);
    m
}

/// Cut a string to at most `max` bytes on a character boundary (VARCHAR limits on PostgreSQL).
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use entity::WorkArrangement;
    use sea_orm::Iterable;

    use super::*;

    /// A Greenhouse posting `race-{n}` titled `title` (also used by `search_index`'s tests).
    pub(crate) fn posting(n: usize, title: &str) -> NormalizedPosting {
        NormalizedPosting {
            source: Source::Greenhouse,
            external_id: format!("race-{n}"),
            url: format!("https://boards.example.com/jobs/{n}"),
            apply_url: None,
            title: title.into(),
            company: Some("Example".into()),
            company_external_id: None,
            location: Default::default(),
            work_type: None,
            work_arrangement: WorkArrangement::Unknown,
            salary: Default::default(),
            description_html: Some(format!("<p>{title} number {n}</p>")),
            description_text: Some(format!("{title} number {n}")),
            classification: None,
            posted_at: None,
            expires_at: None,
            raw: serde_json::json!({ "id": n }),
        }
    }

    async fn run(db: &DatabaseConnection) -> i64 {
        create_run(
            db,
            NewRun::manual(Source::Greenhouse, SearchParams::default(), RunTrigger::Cli),
        )
        .await
        .unwrap()
        .id
    }

    async fn history_of(
        db: &DatabaseConnection,
        posting_id: i64,
    ) -> Vec<entity::posting_history::Model> {
        use sea_orm::QueryOrder;
        entity::posting_history::Entity::find()
            .filter(entity::posting_history::Column::PostingId.eq(posting_id))
            .order_by_asc(entity::posting_history::Column::Id)
            .all(db)
            .await
            .unwrap()
    }

    /// A change of a tracked field is an entry with the old and new values and the run, in
    /// the page's transaction; an unchanged sighting or a change of an untracked field is
    /// none; a closed posting seen again is `reopened`.
    #[tokio::test]
    async fn changes_of_tracked_fields_closing_and_reopening_are_history() {
        for db in testkit::databases("store_history").await {
            let what = format!("{:?}", db.backend);
            let first = run(&db.conn).await;
            let out = upsert_page(&db.conn, first, &[posting(1, "Cook")])
                .await
                .unwrap();
            let id = out.new[0];
            assert!(
                history_of(&db.conn, id).await.is_empty(),
                "{what}: new is no change"
            );

            // Unchanged: nothing.
            let again = run(&db.conn).await;
            upsert_page(&db.conn, again, &[posting(1, "Cook")])
                .await
                .unwrap();
            assert!(history_of(&db.conn, id).await.is_empty(), "{what}");

            // Untracked field only (the apply link): the posting is updated, no entry.
            let mut p = posting(1, "Cook");
            p.apply_url = Some("https://boards.example.com/apply/1".into());
            let o = upsert_page(&db.conn, again, &[p]).await.unwrap();
            assert_eq!(o.updated, [id], "{what}");
            assert!(history_of(&db.conn, id).await.is_empty(), "{what}");

            // Title, salary and description change.
            let third = run(&db.conn).await;
            let mut p = posting(1, "Head Chef");
            p.apply_url = Some("https://boards.example.com/apply/1".into());
            p.salary.min = Some(90_000.0);
            p.salary.currency = Some("AUD".into());
            p.salary.period = Some(entity::SalaryPeriod::Year);
            upsert_page(&db.conn, third, &[p.clone()]).await.unwrap();
            let h = history_of(&db.conn, id).await;
            assert_eq!(h.len(), 1, "{what}");
            assert_eq!(h[0].kind, entity::PostingChangeKind::Changed);
            assert_eq!(h[0].run_id, Some(third));
            let fields: Vec<&str> = h[0]
                .changes
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["field"].as_str().unwrap())
                .collect();
            assert_eq!(
                fields,
                [
                    "title",
                    "salaryMin",
                    "salaryCurrency",
                    "salaryPeriod",
                    "descriptionHash"
                ],
                "{what}"
            );
            let title = &h[0].changes[0];
            assert_eq!(
                (title["from"].as_str(), title["to"].as_str()),
                (Some("Cook"), Some("Head Chef"))
            );
            assert_eq!(
                h[0].changes[3]["to"], "YEAR",
                "{what}: enum values as GraphQL spells them"
            );

            // Closed (as housekeeping does), then seen again unchanged: `reopened`.
            entity::job_posting::Entity::update_many()
                .col_expr(
                    entity::job_posting::Column::ClosedAt,
                    Expr::value(Utc::now()),
                )
                .filter(entity::job_posting::Column::Id.eq(id))
                .exec(&db.conn)
                .await
                .unwrap();
            let fourth = run(&db.conn).await;
            upsert_page(&db.conn, fourth, &[p.clone()]).await.unwrap();
            let h = history_of(&db.conn, id).await;
            assert_eq!(h.len(), 2, "{what}");
            assert_eq!(h[1].kind, entity::PostingChangeKind::Reopened);
            assert_eq!(h[1].run_id, Some(fourth));
            assert_eq!(h[1].changes, serde_json::json!([]));
            let row = entity::job_posting::Entity::find_by_id(id)
                .one(&db.conn)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.closed_at, None, "{what}: seen again, open again");
            assert_eq!(row.last_run_id, Some(fourth));
        }
    }

    /// Two runs storing the same new postings at the same time: each posting is stored once,
    /// counted new by exactly one run, and unchanged or updated by the other (whichever way the
    /// race went: seen by the lookup, or skipped by ON CONFLICT and looked up again).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_racing_on_the_same_new_postings_store_and_count_each_once() {
        for db in testkit::databases("store_race").await {
            for (round, other_title) in ["Cook", "Chef", "Cook", "Chef"].iter().enumerate() {
                let ids = (round * 100)..(round * 100 + 60);
                let page_a: Vec<_> = ids.clone().map(|n| posting(n, "Cook")).collect();
                let page_b: Vec<_> = ids.clone().map(|n| posting(n, other_title)).collect();
                let (run_a, run_b) = (run(&db.conn).await, run(&db.conn).await);
                let (a, b) = tokio::join!(
                    upsert_page(&db.conn, run_a, &page_a),
                    upsert_page(&db.conn, run_b, &page_b)
                );
                let (a, b) = (a.unwrap(), b.unwrap());
                let what = format!("{:?} round {round}: {a:?} / {b:?}", db.backend);
                for o in [&a, &b] {
                    assert_eq!(o.new.len() + o.updated.len() + o.unchanged, 60, "{what}");
                }
                assert_eq!(a.new.len() + b.new.len(), 60, "{what}");
                let (updated, unchanged) =
                    (a.updated.len() + b.updated.len(), a.unchanged + b.unchanged);
                if *other_title == "Cook" {
                    assert_eq!((updated, unchanged), (0, 60), "{what}");
                } else {
                    assert_eq!((updated, unchanged), (60, 0), "{what}");
                }
                let mut new: Vec<i64> = a.new.iter().chain(&b.new).copied().collect();
                new.sort_unstable();
                new.dedup();
                assert_eq!(new.len(), 60, "{what}");

                let stored = job_posting::Entity::find()
                    .filter(job_posting::Column::Source.eq(Source::Greenhouse))
                    .filter(
                        job_posting::Column::ExternalId
                            .is_in(ids.clone().map(|n| format!("race-{n}"))),
                    )
                    .all(&db.conn)
                    .await
                    .unwrap();
                assert_eq!(stored.len(), 60, "{what}");
            }
        }
    }

    /// More changed postings than one batched UPDATE takes, with values appearing and
    /// disappearing: every row ends up exactly as the second page had it (read back through
    /// the entity), and the untouched bookkeeping (first seen, first run) stays.
    #[tokio::test]
    async fn a_page_of_changes_larger_than_a_batch_stores_every_field() {
        use entity::{SalaryPeriod, WorkType};
        for db in testkit::databases("store_batched_update").await {
            let what = format!("{:?}", db.backend);
            let n = UPDATE_CHUNK * 2 + 7;
            let first: Vec<_> = (0..n).map(|i| posting(i, "Cook")).collect();
            let run_a = run(&db.conn).await;
            let a = upsert_page(&db.conn, run_a, &first).await.unwrap();
            assert_eq!(a.new.len(), n, "{what}");

            let second: Vec<_> = (0..n)
                .map(|i| {
                    let mut p = posting(i, &format!("Chef {i}"));
                    if i % 2 == 0 {
                        p.company = None;
                        p.description_html = None;
                        p.work_type = Some(WorkType::FullTime);
                        p.salary.min = Some(1000.0 + i as f64);
                        p.salary.currency = Some("AUD".into());
                        p.salary.period = Some(SalaryPeriod::Year);
                        p.posted_at = Some(Utc::now());
                        p.apply_url = Some(format!("https://apply.example.com/{i}"));
                    }
                    p.raw = serde_json::json!({ "id": i, "round": 2 });
                    p
                })
                .collect();
            let run_b = run(&db.conn).await;
            let b = upsert_page(&db.conn, run_b, &second).await.unwrap();
            assert_eq!(
                (b.new.len(), b.updated.len(), b.unchanged),
                (0, n, 0),
                "{what}"
            );

            for (i, p) in second.iter().enumerate() {
                let row = job_posting::Entity::find()
                    .filter(job_posting::Column::ExternalId.eq(format!("race-{i}")))
                    .one(&db.conn)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(row.title, p.title, "{what} {i}");
                assert_eq!(row.company, p.company, "{what} {i}");
                assert_eq!(row.description_html, p.description_html, "{what} {i}");
                assert_eq!(row.work_type, p.work_type, "{what} {i}");
                assert_eq!(row.salary_min, p.salary.min, "{what} {i}");
                assert_eq!(row.salary_currency, p.salary.currency, "{what} {i}");
                assert_eq!(row.salary_period, p.salary.period, "{what} {i}");
                assert_eq!(row.apply_url, p.apply_url, "{what} {i}");
                assert_eq!(
                    row.posted_at.map(|t| t.timestamp_micros()),
                    p.posted_at.map(|t| t.timestamp_micros()),
                    "{what} {i}"
                );
                assert_eq!(row.raw, Some(p.raw.clone()), "{what} {i}");
                assert_eq!(row.content_hash, content_hash(p), "{what} {i}");
                assert_eq!(row.first_run_id, Some(run_a), "{what} {i}");
                assert_eq!(row.last_run_id, Some(run_b), "{what} {i}");
                assert!(row.updated_at >= row.first_seen_at, "{what} {i}");
            }
        }
    }

    /// A page stored under a claim that no longer holds the run (reaped, cancelled, or
    /// another owner's) stores nothing; under the live claim it is stored and renews the
    /// heartbeat in the same transaction.
    #[tokio::test]
    async fn a_page_under_a_lost_claim_stores_nothing() {
        for db in testkit::databases("store_fenced_page").await {
            let what = format!("{:?}", db.backend);
            let id = run(&db.conn).await;
            let running = mark_running(&db.conn, id, "this-instance").await.unwrap();
            let ours = RunClaim::of(&running);
            assert!(ours.owner.is_some(), "{what}");
            let theirs = RunClaim {
                run_id: id,
                owner: Some("another-instance".into()),
            };
            let page = vec![posting(1, "Cook"), posting(2, "Chef")];
            let stored = |ids: &'static [&'static str]| {
                let conn = db.conn.clone();
                async move {
                    job_posting::Entity::find()
                        .filter(job_posting::Column::ExternalId.is_in(ids.iter().copied()))
                        .all(&conn)
                        .await
                        .unwrap()
                        .len()
                }
            };
            let none = upsert_page_fenced(&db.conn, id, &page, Some(&theirs))
                .await
                .unwrap();
            assert_eq!(none, None, "{what}");
            assert_eq!(stored(&["race-1", "race-2"]).await, 0, "{what}");

            let some = upsert_page_fenced(&db.conn, id, &page, Some(&ours))
                .await
                .unwrap()
                .expect("stored under the live claim");
            assert_eq!(some.new.len(), 2, "{what}");
            let row = ingest_run::Entity::find_by_id(id)
                .one(&db.conn)
                .await
                .unwrap()
                .unwrap();
            assert!(row.heartbeat_at.is_some(), "{what}");

            // Reaped (as the reaper writes it): the owner's next page is not stored.
            ingest_run::Entity::update_many()
                .col_expr(
                    ingest_run::Column::Status,
                    Expr::value(RunStatus::Interrupted),
                )
                .filter(ingest_run::Column::Id.eq(id))
                .exec(&db.conn)
                .await
                .unwrap();
            let late = vec![posting(3, "Baker")];
            let none = upsert_page_fenced(&db.conn, id, &late, Some(&ours))
                .await
                .unwrap();
            assert_eq!(none, None, "{what}");
            assert_eq!(stored(&["race-3"]).await, 0, "{what}");
        }
    }

    /// Ids that need quoting in an array literal (PostgreSQL) or escaping in JSON (SQLite's
    /// existing rows come back as one JSON array) are looked up as themselves.
    #[tokio::test]
    async fn external_ids_with_quotes_commas_and_braces_are_found_again() {
        for db in testkit::databases("store_odd_ids").await {
            let odd = [
                "a,b", "{c}", "d\"e", "f\\g", "NULL", " h ", "é", "t\tab", "[1]", "🙂",
            ];
            let page: Vec<NormalizedPosting> = odd
                .iter()
                .enumerate()
                .map(|(n, id)| NormalizedPosting {
                    external_id: (*id).to_owned(),
                    ..posting(n, "Cook")
                })
                .collect();
            let run_id = run(&db.conn).await;
            let first = upsert_page(&db.conn, run_id, &page).await.unwrap();
            assert_eq!(first.new.len(), odd.len(), "{:?}", db.backend);
            let again = upsert_page(&db.conn, run_id, &page).await.unwrap();
            assert_eq!(
                (again.new.len(), again.updated.len(), again.unchanged),
                (0, 0, odd.len()),
                "{:?}",
                db.backend
            );
            let ids: Vec<String> = odd.iter().map(|s| (*s).to_owned()).collect();
            let known = known_external_ids(&db.conn, Source::Greenhouse, &ids)
                .await
                .unwrap();
            assert_eq!(known.len(), odd.len(), "{:?}", db.backend);
        }
    }

    /// A column `content` fills but the batched update leaves out would silently keep its old
    /// value on every change.
    #[test]
    fn the_batched_update_writes_every_content_column() {
        let m = content(&posting(1, "Engineer"), "hash");
        for col in job_posting::Column::iter() {
            if m.get(col).is_set() {
                assert!(
                    CONTENT_COLUMNS.iter().any(|c| c.as_str() == col.as_str()),
                    "{} is content but not updated",
                    col.as_str()
                );
            }
        }
        for bookkeeping in [
            job_posting::Column::LastSeenAt,
            job_posting::Column::ClosedAt,
            job_posting::Column::LastRunId,
            job_posting::Column::UpdatedAt,
        ] {
            assert!(
                SIGHTING_COLUMNS
                    .iter()
                    .any(|c| c.as_str() == bookkeeping.as_str())
            );
        }
    }

    #[test]
    fn pg_array_quotes_every_element() {
        assert_eq!(
            pg_array(["a", "b\"c", "d\\e", ""]),
            r#"{"a","b\"c","d\\e",""}"#
        );
        assert_eq!(pg_array([]), "{}");
    }
}

//! Persistence: run records and the per-page upsert of postings.
//!
//! A page is stored in ONE transaction: a crash loses at most the page in flight, and the
//! unique `(source, external_id)` index plus `ON CONFLICT DO NOTHING` means two runs racing on
//! the same posting never create a duplicate.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{RunStatus, RunTrigger, Source, ingest_run, job_posting};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, NotSet, QueryFilter, QuerySelect, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::model::{NormalizedPosting, SearchParams};
use crate::normalize::content_hash;

/// Rows per INSERT statement: 37 columns × 200 stays far below SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters.
const INSERT_CHUNK: usize = 200;
/// Ids per `IN (…)` list.
const IN_CHUNK: usize = 500;
/// `job_postings.external_id` is `VARCHAR(255)`: longer ids are stored cut to this many bytes,
/// and must be looked up the same way.
const EXTERNAL_ID_MAX: usize = 255;

/// The external id as stored (see [`EXTERNAL_ID_MAX`]).
fn stored_external_id(external_id: &str) -> String {
    truncate(external_id, EXTERNAL_ID_MAX)
}

/// What a new run row starts with.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub source: Source,
    pub params: SearchParams,
    pub trigger: RunTrigger,
    pub schedule_id: Option<i64>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub attempt: i32,
    pub run_after: Option<DateTime<Utc>>,
    /// `queued` normally; `skipped` for a schedule fire that overlapped.
    pub status: RunStatus,
}

impl NewRun {
    pub fn manual(source: Source, params: SearchParams, trigger: RunTrigger) -> Self {
        NewRun {
            source,
            params,
            trigger,
            schedule_id: None,
            scheduled_for: None,
            attempt: 1,
            run_after: None,
            status: RunStatus::Queued,
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
}

/// Insert a run row (status `queued` unless `new.status` says otherwise).
pub async fn create_run(
    db: &impl ConnectionTrait,
    new: NewRun,
) -> Result<ingest_run::Model, DbErr> {
    let now = Utc::now();
    let params = serde_json::to_value(&new.params).map_err(|e| DbErr::Custom(e.to_string()))?;
    let finished = new.status.is_terminal().then_some(now);
    ingest_run::ActiveModel {
        id: NotSet,
        source: Set(new.source),
        params: Set(params),
        trigger: Set(new.trigger),
        schedule_id: Set(new.schedule_id),
        scheduled_for: Set(new.scheduled_for),
        status: Set(new.status),
        attempt: Set(new.attempt),
        queued_at: Set(now),
        run_after: Set(new.run_after.unwrap_or(now)),
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
        error: Set(None),
    }
    .insert(db)
    .await
}

/// Mark a run `running` (for runs executed directly, without the queue's claim).
pub async fn mark_running(
    db: &impl ConnectionTrait,
    run_id: i64,
    owner: &str,
) -> Result<(), DbErr> {
    let now = Utc::now();
    ingest_run::Entity::update_many()
        .col_expr(
            ingest_run::Column::Status,
            Expr::value(RunStatus::Running.as_str()),
        )
        .col_expr(ingest_run::Column::StartedAt, Expr::value(now))
        .col_expr(ingest_run::Column::HeartbeatAt, Expr::value(now))
        .col_expr(ingest_run::Column::LeaseOwner, Expr::value(owner))
        .filter(ingest_run::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Persist the counters of a run in progress (also refreshes its heartbeat).
pub async fn save_progress(
    db: &impl ConnectionTrait,
    run_id: i64,
    c: &RunCounters,
) -> Result<(), DbErr> {
    counters_update(c)
        .col_expr(ingest_run::Column::HeartbeatAt, Expr::value(Utc::now()))
        .filter(ingest_run::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Put a run in its terminal status with its final counters and error.
pub async fn finish_run(
    db: &impl ConnectionTrait,
    run_id: i64,
    status: RunStatus,
    c: &RunCounters,
    error: Option<&str>,
) -> Result<ingest_run::Model, DbErr> {
    let now = Utc::now();
    counters_update(c)
        .col_expr(ingest_run::Column::Status, Expr::value(status.as_str()))
        .col_expr(ingest_run::Column::FinishedAt, Expr::value(now))
        .col_expr(ingest_run::Column::HeartbeatAt, Expr::value(now))
        .col_expr(
            ingest_run::Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            ingest_run::Column::Error,
            Expr::value(error.map(str::to_owned)),
        )
        .filter(ingest_run::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    ingest_run::Entity::find_by_id(run_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("ingest run {run_id}")))
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
}

/// Which of `external_ids` are already stored for `source` (to fetch details only for new ones).
pub async fn known_external_ids(
    db: &impl ConnectionTrait,
    source: Source,
    external_ids: &[String],
) -> Result<HashSet<String>, DbErr> {
    let mut stored = HashSet::new();
    for chunk in external_ids.chunks(IN_CHUNK) {
        let rows: Vec<String> = job_posting::Entity::find()
            .select_only()
            .column(job_posting::Column::ExternalId)
            .filter(job_posting::Column::Source.eq(source))
            .filter(
                job_posting::Column::ExternalId
                    .is_in(chunk.iter().map(|id| stored_external_id(id))),
            )
            .into_tuple()
            .all(db)
            .await?;
        stored.extend(rows);
    }
    // Answer in the caller's ids, which may be longer than the stored ones.
    Ok(external_ids
        .iter()
        .filter(|id| stored.contains(&stored_external_id(id)))
        .cloned()
        .collect())
}

/// What storing one page did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOutcome {
    /// Ids of postings inserted by this page.
    pub new: Vec<i64>,
    /// Ids of postings whose content changed.
    pub updated: Vec<i64>,
    pub unchanged: usize,
}

/// Upsert one page of postings in one transaction. Postings repeated within the page count once
/// (the last copy wins).
pub async fn upsert_page(
    db: &DatabaseConnection,
    run_id: i64,
    postings: &[NormalizedPosting],
) -> Result<PageOutcome, DbErr> {
    let mut outcome = PageOutcome::default();
    if postings.is_empty() {
        return Ok(outcome);
    }
    let now = Utc::now();
    // Dedupe within the page by the id as stored; group by source (a page normally has one).
    let mut by_key: HashMap<(Source, String), &NormalizedPosting> = HashMap::new();
    let mut order: Vec<(Source, String)> = Vec::new();
    for p in postings {
        let key = (p.source, stored_external_id(&p.external_id));
        if by_key.insert(key.clone(), p).is_none() {
            order.push(key);
        }
    }
    let mut sources: Vec<Source> = order.iter().map(|(s, _)| *s).collect();
    sources.sort_by_key(|s| s.as_str());
    sources.dedup();

    // IMMEDIATE on SQLite: a deferred transaction that reads then writes fails at once with
    // "database is locked" when another run wrote in between; taking the write lock up front
    // makes concurrent runs wait their turn (busy_timeout) instead. Ignored by PostgreSQL.
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    for source in sources {
        // (the id as stored, the posting)
        let page: Vec<(&str, &NormalizedPosting)> = order
            .iter()
            .filter(|(s, _)| *s == source)
            .map(|k| (k.1.as_str(), by_key[k]))
            .collect();
        let ids: Vec<String> = page.iter().map(|(id, _)| (*id).to_owned()).collect();
        let existing = existing_rows(&txn, source, &ids).await?;

        let mut fresh = Vec::new();
        let mut unchanged_ids = Vec::new();
        for (external_id, p) in &page {
            let hash = content_hash(p);
            match existing.get(*external_id) {
                None => fresh.push((*external_id, *p, hash)),
                Some((id, old_hash)) if *old_hash == hash => unchanged_ids.push(*id),
                Some((id, _)) => {
                    update_posting(&txn, *id, p, &hash, run_id, now).await?;
                    outcome.updated.push(*id);
                }
            }
        }

        for chunk in fresh.chunks(INSERT_CHUNK) {
            let models = chunk
                .iter()
                .map(|(_, p, hash)| new_posting(p, hash, run_id, now));
            job_posting::Entity::insert_many(models)
                .on_conflict(
                    OnConflict::columns([
                        job_posting::Column::Source,
                        job_posting::Column::ExternalId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        if !fresh.is_empty() {
            // Rows another run inserted between our SELECT and INSERT were skipped by ON
            // CONFLICT: those are not ours to count as new.
            let fresh_ids: Vec<String> = fresh.iter().map(|(id, _, _)| (*id).to_owned()).collect();
            let after = existing_rows_with_run(&txn, source, &fresh_ids).await?;
            for (external_id, p, hash) in &fresh {
                let Some((id, stored_hash, first_run)) = after.get(*external_id) else {
                    continue;
                };
                if *first_run == Some(run_id) {
                    outcome.new.push(*id);
                } else if stored_hash == hash {
                    unchanged_ids.push(*id);
                } else {
                    update_posting(&txn, *id, p, hash, run_id, now).await?;
                    outcome.updated.push(*id);
                }
            }
        }

        outcome.unchanged += unchanged_ids.len();
        for chunk in unchanged_ids.chunks(IN_CHUNK) {
            job_posting::Entity::update_many()
                .col_expr(job_posting::Column::LastSeenAt, Expr::value(now))
                .col_expr(job_posting::Column::LastRunId, Expr::value(run_id))
                .col_expr(
                    job_posting::Column::ClosedAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(job_posting::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(outcome)
}

async fn existing_rows(
    db: &impl ConnectionTrait,
    source: Source,
    ids: &[String],
) -> Result<HashMap<String, (i64, String)>, DbErr> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let rows: Vec<(i64, String, String)> = job_posting::Entity::find()
            .select_only()
            .column(job_posting::Column::Id)
            .column(job_posting::Column::ExternalId)
            .column(job_posting::Column::ContentHash)
            .filter(job_posting::Column::Source.eq(source))
            .filter(job_posting::Column::ExternalId.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|(id, ext, h)| (ext, (id, h))));
    }
    Ok(out)
}

async fn existing_rows_with_run(
    db: &impl ConnectionTrait,
    source: Source,
    ids: &[String],
) -> Result<HashMap<String, (i64, String, Option<i64>)>, DbErr> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let rows: Vec<(i64, String, String, Option<i64>)> = job_posting::Entity::find()
            .select_only()
            .column(job_posting::Column::Id)
            .column(job_posting::Column::ExternalId)
            .column(job_posting::Column::ContentHash)
            .column(job_posting::Column::FirstRunId)
            .filter(job_posting::Column::Source.eq(source))
            .filter(job_posting::Column::ExternalId.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|(id, ext, h, r)| (ext, (id, h, r))));
    }
    Ok(out)
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
) -> job_posting::ActiveModel {
    let mut m = content(p, hash);
    m.id = NotSet;
    m.source = Set(p.source);
    m.external_id = Set(stored_external_id(&p.external_id));
    m.first_seen_at = Set(now);
    m.last_seen_at = Set(now);
    m.closed_at = Set(None);
    m.first_run_id = Set(Some(run_id));
    m.last_run_id = Set(Some(run_id));
    m.created_at = Set(now);
    m.updated_at = Set(now);
    m
}

async fn update_posting(
    db: &impl ConnectionTrait,
    id: i64,
    p: &NormalizedPosting,
    hash: &str,
    run_id: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut m = content(p, hash);
    m.id = sea_orm::ActiveValue::Unchanged(id);
    m.last_seen_at = Set(now);
    m.closed_at = Set(None);
    m.last_run_id = Set(Some(run_id));
    m.updated_at = Set(now);
    m.update(db).await?;
    Ok(())
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

//! Ingest runs: the `IngestRun` type, its postings, and the queries that read runs.

use async_graphql::connection::PageInfo;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::ingest_run;
use tokio::sync::OnceCell;

use super::auth::require_reader;
use super::filter::{JobPostingFilter, JobPostingOrder};
use super::limits::{self, page_size};
use super::query::posting_connection;
use super::types::{JobPostingConnection, Source};
use super::{ApiContext, cursor_for_id, id_from_cursor, ids};
use crate::error::ApiError;
use crate::service;
use crate::service::runs::{RunFilter, RunWindow};

/// Lifecycle of an ingest run.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::RunStatus")]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is executing it.
    Running,
    /// Finished; every page was fetched and stored.
    Succeeded,
    /// Stopped by an error (see `error`).
    Failed,
    /// The site answered with a bot challenge; the run stopped instead of retrying into it.
    Blocked,
    /// Cancelled by a client.
    Cancelled,
    /// The process running it died or shut down before it finished.
    Interrupted,
    /// A schedule fired while its previous run was still going (overlap policy `skip`).
    Skipped,
}

/// What started a run.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::RunTrigger")]
pub enum RunTrigger {
    /// The `startIngest` mutation.
    Manual,
    /// A schedule fired.
    Schedule,
    /// `jobintel ingest`.
    Cli,
    /// `jobintel import`: postings from the old system or a python-jobspy CSV.
    Import,
    /// `retryIngestRun`: a new run with the parameters of a run that did not succeed.
    Retry,
}

/// One ingest run, from queued to a terminal status, with its counters.
pub struct IngestRun(pub ingest_run::Model);

/// One ingest run, from queued to a terminal status, with its counters.
#[Object]
impl IngestRun {
    /// Opaque global ID.
    pub async fn id(&self) -> ID {
        ID(ids::encode("IngestRun", self.0.id))
    }
    /// The numeric database id.
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    /// What it ingests from.
    async fn source(&self) -> Source {
        self.0.source
    }
    /// The run's parameters: keywords, location, target, maxPages, country.
    async fn params(&self) -> &serde_json::Value {
        &self.0.params
    }
    /// What started it.
    async fn trigger(&self) -> RunTrigger {
        self.0.trigger.into()
    }
    /// Where it is in its lifecycle.
    async fn status(&self) -> RunStatus {
        self.0.status.into()
    }
    /// The schedule that fired it, if any (database id).
    async fn schedule_id(&self) -> Option<i64> {
        self.0.schedule_id
    }
    /// The cron occurrence it was fired for.
    async fn scheduled_for(&self) -> Option<DateTime<Utc>> {
        self.0.scheduled_for
    }
    /// 1 for the first try; retries count up.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }
    /// When it was queued.
    async fn queued_at(&self) -> DateTime<Utc> {
        self.0.queued_at
    }
    /// When a worker started it.
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    /// When it reached a terminal status.
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// Last sign of life from the worker running it.
    async fn heartbeat_at(&self) -> Option<DateTime<Utc>> {
        self.0.heartbeat_at
    }
    /// Which instance (`host:pid`) holds it.
    async fn lease_owner(&self) -> Option<&str> {
        self.0.lease_owner.as_deref()
    }
    /// Result pages fetched and stored.
    async fn pages_fetched(&self) -> i32 {
        self.0.pages_fetched
    }
    /// HTTP requests sent, including retries and robots.txt.
    async fn requests(&self) -> i32 {
        self.0.requests
    }
    /// 4xx/5xx answers and transport errors.
    async fn http_errors(&self) -> i32 {
        self.0.http_errors
    }
    /// Postings the source listed.
    async fn jobs_found(&self) -> i32 {
        self.0.jobs_found
    }
    /// Postings stored for the first time.
    async fn jobs_new(&self) -> i32 {
        self.0.jobs_new
    }
    /// Known postings whose content changed.
    async fn jobs_updated(&self) -> i32 {
        self.0.jobs_updated
    }
    /// Known postings seen again unchanged.
    async fn jobs_unchanged(&self) -> i32 {
        self.0.jobs_unchanged
    }
    /// Descriptions cut at the size cap (512 KiB of HTML); each ends with a note saying so.
    async fn descriptions_truncated(&self) -> i32 {
        self.0.descriptions_truncated
    }
    /// Why it did not succeed.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// Postings this run first or last saw (a posting seen again by a later run counts for
    /// both runs only while its `lastRun` is this one), filtered and ordered like
    /// `Query.jobPostings`.
    #[allow(clippy::too_many_arguments)]
    async fn postings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which postings (AND-combined with this run).")] filter: Option<
            JobPostingFilter,
        >,
        #[graphql(desc = "Sort order (default: newest posting first).")] order_by: Option<
            JobPostingOrder,
        >,
        #[graphql(desc = "Page size from the start, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor to continue after.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, at most 100.")] last: Option<i32>,
        #[graphql(desc = "Cursor to continue before.")] before: Option<String>,
    ) -> Result<JobPostingConnection> {
        posting_connection(
            ctx,
            filter,
            order_by,
            limits::PageArgs {
                first,
                after,
                last,
                before,
            },
            Some(self.0.id),
        )
        .await
    }
}

/// Which ingest runs to list. Fields are AND-combined; a list matches any of its values (an
/// empty list is ignored).
#[derive(InputObject, Clone, Debug, Default)]
pub struct IngestRunFilter {
    /// Runs in any of these statuses.
    pub statuses: Option<Vec<RunStatus>>,
    /// Runs on any of these sources.
    pub sources: Option<Vec<Source>>,
    /// Runs started by any of these triggers.
    pub triggers: Option<Vec<RunTrigger>>,
    /// Runs fired by this schedule (a `Schedule` ID or its database id).
    pub schedule_id: Option<ID>,
}

impl IngestRunFilter {
    pub(crate) fn to_service(&self) -> Result<RunFilter, crate::error::ApiError> {
        use super::filter::MAX_FILTER_VALUES;
        for (name, n) in [
            ("statuses", self.statuses.as_ref().map_or(0, Vec::len)),
            ("sources", self.sources.as_ref().map_or(0, Vec::len)),
            ("triggers", self.triggers.as_ref().map_or(0, Vec::len)),
        ] {
            if n > MAX_FILTER_VALUES {
                return Err(crate::error::ApiError::bad_input(format!(
                    "`{name}` may list at most {MAX_FILTER_VALUES} values, got {n}"
                )));
            }
        }
        Ok(RunFilter {
            statuses: self
                .statuses
                .iter()
                .flatten()
                .map(|s| (*s).into())
                .collect(),
            sources: self.sources.iter().flatten().copied().collect(),
            triggers: self
                .triggers
                .iter()
                .flatten()
                .map(|s| (*s).into())
                .collect(),
            schedule_id: self
                .schedule_id
                .as_ref()
                .map(|id| ids::decode("Schedule", id))
                .transpose()?,
        })
    }
}

/// A page of ingest runs, newest first (a Relay connection).
pub struct IngestRunConnection {
    edges: Vec<IngestRunEdge>,
    page_info: PageInfo,
}

/// A page of ingest runs, newest first (a Relay connection).
#[Object]
impl IngestRunConnection {
    /// The runs of this page with their cursors.
    async fn edges(&self) -> &[IngestRunEdge] {
        &self.edges
    }
    /// The runs of this page (the edges' nodes, without cursors).
    async fn nodes(&self) -> Vec<&IngestRun> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    /// Cursors of the first and last edge, and whether more pages exist.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
}

/// One run in a connection, with the cursor to paginate from it.
pub struct IngestRunEdge {
    cursor: String,
    node: IngestRun,
}

/// One run in a connection, with the cursor to paginate from it.
#[Object]
impl IngestRunEdge {
    /// Opaque cursor: pass it as `after` to continue after this run.
    async fn cursor(&self) -> &str {
        &self.cursor
    }
    /// The run.
    async fn node(&self) -> &IngestRun {
        &self.node
    }
}

/// How many runs are in one status.
#[derive(SimpleObject, Debug, Clone)]
pub struct RunStatusCount {
    /// The status.
    pub status: RunStatus,
    /// Runs in it.
    pub count: u64,
}

/// Runs queued in one UTC hour, by how they ended.
#[derive(SimpleObject, Debug, Clone)]
pub struct RunHourCount {
    /// Start of the hour, UTC.
    pub hour: DateTime<Utc>,
    /// Runs that succeeded.
    pub succeeded: u64,
    /// Runs that failed.
    pub failed: u64,
    /// Runs stopped by a bot challenge.
    pub blocked: u64,
    /// Runs cancelled by a client.
    pub cancelled: u64,
    /// Runs whose process died or shut down before they finished.
    pub interrupted: u64,
    /// Runs still queued or running, and skipped fires.
    pub other: u64,
}

/// Counts over the ingest runs matching a filter and queued in a window.
pub struct IngestRunStats {
    window: RunWindow,
    /// `total` and `byStatus` come from one `GROUP BY status`, run once for both.
    by_status: OnceCell<Vec<(entity::RunStatus, u64)>>,
}

impl IngestRunStats {
    async fn by_status_counts(&self, ctx: &Context<'_>) -> Result<&[(entity::RunStatus, u64)]> {
        let api = ctx.data_unchecked::<ApiContext>();
        Ok(self
            .by_status
            .get_or_try_init(|| service::runs::count_by_status(&api.db, &self.window))
            .await?)
    }
}

/// Counts over the ingest runs matching a filter and queued in a window.
#[Object]
impl IngestRunStats {
    /// Runs matching.
    async fn total(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(self
            .by_status_counts(ctx)
            .await?
            .iter()
            .map(|(_, n)| n)
            .sum())
    }
    /// Runs per status: every status, zeros included, in the order of `RunStatus`.
    async fn by_status(&self, ctx: &Context<'_>) -> Result<Vec<RunStatusCount>> {
        Ok(self
            .by_status_counts(ctx)
            .await?
            .iter()
            .map(|(status, count)| RunStatusCount {
                status: (*status).into(),
                count: *count,
            })
            .collect())
    }
    /// Runs per UTC hour of queueing, every hour of `[from, to)` with zeros included; empty
    /// unless both `from` and `to` were given. At most 31 days (`BAD_USER_INPUT` beyond).
    async fn per_hour(&self, ctx: &Context<'_>) -> Result<Vec<RunHourCount>> {
        let (Some(from), Some(to)) = (self.window.from, self.window.to) else {
            return Ok(Vec::new());
        };
        let api = ctx.data_unchecked::<ApiContext>();
        Ok(
            service::runs::count_per_hour(&api.db, &self.window.filter, from, to)
                .await?
                .into_iter()
                .map(|h| RunHourCount {
                    hour: h.hour,
                    succeeded: h.succeeded,
                    failed: h.failed,
                    blocked: h.blocked,
                    cancelled: h.cancelled,
                    interrupted: h.interrupted,
                    other: h.other,
                })
                .collect(),
        )
    }
}

#[derive(Default)]
pub struct RunQuery;

#[Object]
impl RunQuery {
    /// One ingest run by its ID.
    async fn ingest_run(&self, ctx: &Context<'_>, id: ID) -> Result<Option<IngestRun>> {
        require_reader(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let id = ids::decode("IngestRun", &id)?;
        Ok(service::runs::get(&api.db, id).await?.map(IngestRun))
    }

    /// Counts over ingest runs matching `filter` and queued in [from, to) (defaults: all
    /// time): per status, and per hour (only when both from and to are given, at most 31
    /// days).
    async fn ingest_run_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which runs (all when omitted).")] filter: Option<IngestRunFilter>,
        #[graphql(desc = "Runs queued at or after this instant.")] from: Option<DateTime<Utc>>,
        #[graphql(desc = "Runs queued before this instant.")] to: Option<DateTime<Utc>>,
    ) -> Result<IngestRunStats> {
        require_reader(ctx)?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(
                ApiError::bad_input(format!("`from` ({f}) must not be after `to` ({t})")).into(),
            );
        }
        Ok(IngestRunStats {
            window: RunWindow {
                filter: filter.unwrap_or_default().to_service()?,
                from,
                to,
            },
            by_status: OnceCell::new(),
        })
    }

    /// Ingest runs, newest first (a Relay connection).
    async fn ingest_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which runs.")] filter: Option<IngestRunFilter>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge of the previous page.")] after: Option<String>,
    ) -> Result<IngestRunConnection> {
        require_reader(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let (limit, _) = page_size(first, None)?;
        let filter = filter.unwrap_or_default().to_service()?;
        let before_id = after.as_deref().map(id_from_cursor).transpose()?;
        let mut rows = service::runs::page(&api.db, &filter, before_id, limit).await?;
        let has_next_page = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let edges: Vec<IngestRunEdge> = rows
            .into_iter()
            .map(|m| IngestRunEdge {
                cursor: cursor_for_id(m.id),
                node: IngestRun(m),
            })
            .collect();
        Ok(IngestRunConnection {
            page_info: PageInfo {
                has_previous_page: after.is_some(),
                has_next_page,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }
}

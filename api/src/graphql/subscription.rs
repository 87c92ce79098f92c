//! Subscriptions: run progress and new/updated postings, as they are stored.
//!
//! Streams read the process-wide fan-out ([`crate::bus`]), which on PostgreSQL also carries
//! other instances' events. Each stream ends with an error if its client falls too far
//! behind (`Lagged`): a slow consumer is told and closed, never buffered without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::futures_util::Stream;
use async_graphql::{Context, Enum, ErrorExtensions, ID, Object, Result, Subscription};
use chrono::{DateTime, Utc};
use entity::RunStatus as StoredStatus;
use ingest::events::IngestEvent;
use tokio::sync::broadcast::error::RecvError;

use super::ApiContext;
use super::auth::require_reader;
use super::filter::JobPostingFilter;
use super::ids;
use super::runs::{IngestRun, RunStatus};
use super::types::JobPosting;
use super::types::Source;
use crate::bus::{ChangeKind, PostingChange};
use crate::error::ApiError;
use crate::service;
use crate::service::filter::{PostingFilter, matches};

/// What happened to a run.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum IngestRunEventKind {
    /// The run was queued.
    Queued,
    /// A worker started it.
    Started,
    /// A page of postings was stored; counters are the run's running totals.
    PageStored,
    /// The run reached a terminal status; no more events follow for it.
    Finished,
}

/// One step of an ingest run.
pub struct IngestRunEvent {
    kind: IngestRunEventKind,
    run_id: i64,
    source: entity::Source,
    page: Option<u32>,
    counters: Option<ingest::store::RunCounters>,
    status: Option<StoredStatus>,
    error: Option<String>,
    at: DateTime<Utc>,
}

/// One step of an ingest run (queued, started, page stored, finished), with the run's counters.
#[Object]
impl IngestRunEvent {
    /// Which step this is.
    async fn kind(&self) -> IngestRunEventKind {
        self.kind
    }
    /// Global ID of the run (as `IngestRun.id`).
    async fn run_id(&self) -> ID {
        ID(ids::encode("IngestRun", self.run_id))
    }
    /// The run's source.
    async fn source(&self) -> Source {
        self.source
    }
    /// The page just stored (PAGE_STORED only).
    async fn page(&self) -> Option<u32> {
        self.page
    }
    /// Pages fetched so far (PAGE_STORED and FINISHED).
    async fn pages_fetched(&self) -> Option<i32> {
        self.counters.map(|c| c.pages_fetched)
    }
    /// Postings found so far.
    async fn jobs_found(&self) -> Option<i32> {
        self.counters.map(|c| c.jobs_found)
    }
    /// Postings stored for the first time so far.
    async fn jobs_new(&self) -> Option<i32> {
        self.counters.map(|c| c.jobs_new)
    }
    /// Postings whose content changed so far.
    async fn jobs_updated(&self) -> Option<i32> {
        self.counters.map(|c| c.jobs_updated)
    }
    /// Postings seen again unchanged so far.
    async fn jobs_unchanged(&self) -> Option<i32> {
        self.counters.map(|c| c.jobs_unchanged)
    }
    /// The final status (FINISHED only).
    async fn status(&self) -> Option<RunStatus> {
        self.status.map(Into::into)
    }
    /// Why the run did not succeed (FINISHED only).
    async fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    /// When it happened: for PAGE_STORED, when the page's transaction committed; for a run
    /// that had already finished, its finish time; otherwise when this instance received it.
    async fn at(&self) -> DateTime<Utc> {
        self.at
    }
    /// The run as stored now (one query; select only when needed).
    async fn run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        let api = ctx.data_unchecked::<ApiContext>();
        Ok(service::runs::get(&api.db, self.run_id)
            .await?
            .map(IngestRun))
    }
}

impl IngestRunEvent {
    fn from_event(ev: &IngestEvent) -> Option<Self> {
        let at = Utc::now();
        let base = |kind| IngestRunEvent {
            kind,
            run_id: ev.run_id(),
            source: ev.source(),
            page: None,
            counters: None,
            status: None,
            error: None,
            at,
        };
        Some(match ev {
            IngestEvent::RunQueued { .. } => base(IngestRunEventKind::Queued),
            IngestEvent::RunStarted { .. } => base(IngestRunEventKind::Started),
            IngestEvent::PageStored {
                page,
                counters,
                stored_at,
                ..
            } => IngestRunEvent {
                page: Some(*page),
                counters: Some(*counters),
                at: *stored_at,
                ..base(IngestRunEventKind::PageStored)
            },
            IngestEvent::RunFinished {
                status,
                counters,
                error,
                ..
            } => IngestRunEvent {
                counters: Some(*counters),
                status: Some(*status),
                error: error.clone(),
                ..base(IngestRunEventKind::Finished)
            },
            IngestEvent::PostingAdded { .. } | IngestEvent::PostingUpdated { .. } => return None,
        })
    }

    fn finished_from_row(run: &entity::ingest_run::Model) -> Self {
        IngestRunEvent {
            kind: IngestRunEventKind::Finished,
            run_id: run.id,
            source: run.source,
            page: None,
            counters: Some(ingest::store::RunCounters {
                pages_fetched: run.pages_fetched,
                requests: run.requests,
                http_errors: run.http_errors,
                jobs_found: run.jobs_found,
                jobs_new: run.jobs_new,
                jobs_updated: run.jobs_updated,
                jobs_unchanged: run.jobs_unchanged,
                descriptions_truncated: run.descriptions_truncated,
            }),
            status: Some(run.status),
            error: run.error.clone(),
            at: run.finished_at.unwrap_or_else(Utc::now),
        }
    }
}

/// The per-connection subscription budget, set up by the WebSocket layer.
#[derive(Clone)]
pub struct SubscriptionBudget {
    pub active: Arc<AtomicUsize>,
    pub limit: usize,
}

/// Released when a subscription's stream is dropped.
pub struct BudgetGuard(Option<Arc<AtomicUsize>>);

impl Drop for BudgetGuard {
    fn drop(&mut self) {
        if let Some(a) = &self.0 {
            a.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn take_budget(ctx: &Context<'_>) -> Result<BudgetGuard, ApiError> {
    let Some(b) = ctx.data_opt::<SubscriptionBudget>() else {
        return Ok(BudgetGuard(None));
    };
    let prev = b.active.fetch_add(1, Ordering::AcqRel);
    if prev >= b.limit {
        b.active.fetch_sub(1, Ordering::AcqRel);
        return Err(ApiError::LimitExceeded(format!(
            "too many subscriptions on this connection (limit {}, JOBINTEL_WS_MAX_SUBSCRIPTIONS)",
            b.limit
        )));
    }
    Ok(BudgetGuard(Some(b.active.clone())))
}

/// The error a lagging subscriber gets before its stream closes.
fn lagged(missed: u64) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "this subscription fell {missed} events behind and was closed; resubscribe to continue"
    ))
    .extend_with(|_, e| e.set("code", "SLOW_CONSUMER"))
}

#[derive(Default)]
pub struct Subscription;

/// A stream of stored postings of one kind of change that pass `filter`.
fn posting_stream(
    ctx: &Context<'_>,
    filter: Option<JobPostingFilter>,
    kind: ChangeKind,
    new_clusters_only: bool,
) -> Result<impl Stream<Item = Result<JobPosting>> + use<>> {
    require_reader(ctx)?;
    // Validated once, here: a malformed filter is an error now rather than silently matching
    // nothing, and each event is only matched (`service::filter::matches`).
    let filter = filter
        .as_ref()
        .map(JobPostingFilter::to_service)
        .transpose()?;
    let guard = take_budget(ctx)?;
    let api = ctx.data_unchecked::<ApiContext>();
    let rx = api.fanout.subscribe_postings();
    struct State {
        rx: tokio::sync::broadcast::Receiver<PostingChange>,
        filter: Option<PostingFilter>,
        kind: ChangeKind,
        new_clusters_only: bool,
        done: bool,
        _guard: BudgetGuard,
    }
    let state = State {
        rx,
        filter,
        kind,
        new_clusters_only,
        done: false,
        _guard: guard,
    };
    Ok(futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.rx.recv().await {
                Ok(change) => {
                    if change.kind != st.kind {
                        continue;
                    }
                    // A new posting that joined a cluster is another board's copy of a job
                    // already announced; one that starts its own has no `cluster_id`.
                    if st.new_clusters_only && change.posting.cluster_id.is_some() {
                        continue;
                    }
                    if let Some(f) = &st.filter
                        && !matches(f, &change.posting)
                    {
                        continue;
                    }
                    return Some((Ok(JobPosting((*change.posting).clone())), st));
                }
                Err(RecvError::Lagged(n)) => {
                    st.done = true;
                    return Some((Err(lagged(n)), st));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }))
}

/// Live updates over a WebSocket (graphql-transport-ws or graphql-ws).
#[Subscription]
impl Subscription {
    /// Each new posting matching `filter` (the same filter type as `jobPostings`), as soon as
    /// its page is stored. `search` here matches words in the title and company only (the
    /// full-text index is not consulted per event).
    ///
    /// With `newClustersOnly: true`, only postings of a job not seen before: a posting that
    /// joined the cluster of one already stored (the same job on another board) is skipped.
    async fn job_posting_added(
        &self,
        ctx: &Context<'_>,
        filter: Option<JobPostingFilter>,
        #[graphql(
            desc = "Only postings that start a new cluster (a job not seen on another board)."
        )]
        new_clusters_only: Option<bool>,
    ) -> Result<impl Stream<Item = Result<JobPosting>> + use<>> {
        posting_stream(
            ctx,
            filter,
            ChangeKind::Added,
            new_clusters_only.unwrap_or(false),
        )
    }

    /// Each posting whose content changed (a new salary, title, description, …) that matches
    /// `filter`. `search` matches words in the title and company only.
    async fn job_posting_updated(
        &self,
        ctx: &Context<'_>,
        filter: Option<JobPostingFilter>,
    ) -> Result<impl Stream<Item = Result<JobPosting>> + use<>> {
        posting_stream(ctx, filter, ChangeKind::Updated, false)
    }

    /// Every event of matching runs: queued, started, page stored (page number and running
    /// counts of found/new/updated), finished (final status, counts, error). With `runId`, the
    /// stream completes after that run's FINISHED event — at once if it has already finished.
    async fn ingest_run_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this run (completes when it finishes).")] run_id: Option<ID>,
        #[graphql(desc = "Only runs of these sources.")] sources: Option<Vec<Source>>,
    ) -> Result<impl Stream<Item = Result<IngestRunEvent>> + use<>> {
        require_reader(ctx)?;
        let guard = take_budget(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        // Subscribe before reading the run so no event between the two is lost.
        let rx = api.fanout.subscribe_events();
        let run_id = run_id.map(|id| ids::decode("IngestRun", &id)).transpose()?;
        let sources: Option<Vec<entity::Source>> = sources.map(|s| s.into_iter().collect());
        let mut already_finished = None;
        if let Some(id) = run_id {
            let run = service::runs::get(&api.db, id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no ingest run with id {id}")))?;
            if run.status.is_terminal() {
                already_finished = Some(IngestRunEvent::finished_from_row(&run));
            }
        }
        struct State {
            rx: tokio::sync::broadcast::Receiver<IngestEvent>,
            run_id: Option<i64>,
            sources: Option<Vec<entity::Source>>,
            first: Option<IngestRunEvent>,
            done: bool,
            _guard: BudgetGuard,
        }
        let state = State {
            rx,
            run_id,
            sources,
            first: already_finished,
            done: false,
            _guard: guard,
        };
        Ok(futures_util::stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            if let Some(ev) = st.first.take() {
                st.done = true;
                return Some((Ok(ev), st));
            }
            loop {
                match st.rx.recv().await {
                    Ok(ev) => {
                        if st.run_id.is_some_and(|id| id != ev.run_id()) {
                            continue;
                        }
                        if let Some(s) = &st.sources
                            && !s.contains(&ev.source())
                        {
                            continue;
                        }
                        let Some(out) = IngestRunEvent::from_event(&ev) else {
                            continue;
                        };
                        st.done = st.run_id.is_some() && out.kind == IngestRunEventKind::Finished;
                        return Some((Ok(out), st));
                    }
                    Err(RecvError::Lagged(n)) => {
                        st.done = true;
                        return Some((Err(lagged(n)), st));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }))
    }
}

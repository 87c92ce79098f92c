//! The run engine: executes one ingest run — fetch pages from a source, normalise, upsert one
//! page per transaction, keep the run row's counters current and publish progress events.
//!
//! The engine never panics a run away: every outcome ends in a terminal status with a precise
//! error (`failed` for broken pages and network failures, `blocked` for bot challenges,
//! `cancelled` when the token fires). Pages already stored stay stored.
//!
//! Responses are parsed on tokio's blocking pool, at most one parse per CPU at a time across
//! all runs ([`Engine::parse_slots`]): a parse takes milliseconds on real pages, but whatever a
//! hostile page costs must not hold a runtime worker, which would stall every other run's
//! requests and the lease heartbeats.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use entity::{RunStatus, Source, ingest_run, job_posting};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::events::{EventBus, IngestEvent};
use crate::fetch::{FetchError, FetchStats, FetchedPage, Fetcher, RequestOptions};
use crate::model::{
    Location, NormalizedPosting, Salary, SalarySource, SearchParams, WorkArrangement,
};
use crate::normalize::{is_truncated, make_storable};
pub use crate::sources::ParamError;
use crate::sources::{self, JobSource, Listing, ParseError, RunPlan, SourceError, registry};
use crate::store::{self, FinishOutcome, RunClaim, RunCounters};

/// Postings per stored page for sources that return a whole board in one response, so progress
/// events keep flowing and one transaction stays small.
const BOARD_PAGE: usize = 100;

/// Base URLs the operator overrides (`JOBINTEL_<SOURCE>_BASE_URL`), so that a local server that
/// mimics a site exercises the real code path. A source not in the map uses its live host.
pub type BaseUrls = HashMap<Source, Url>;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub base_urls: BaseUrls,
    /// Pages fetched when a run does not say (`max_pages`).
    pub default_max_pages: u32,
    /// The most pages any run may ask for.
    pub max_pages_limit: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            base_urls: BaseUrls::default(),
            default_max_pages: 5,
            max_pages_limit: 50,
        }
    }
}

impl EngineConfig {
    /// The plan of a run of `source` with already validated `params`.
    pub fn plan(&self, source: Source, params: SearchParams) -> RunPlan {
        // Import-only sources have no scraper and nothing to fetch from.
        let Some(imp) = registry(source) else {
            return RunPlan { params, base: None };
        };
        let base = match imp.spec().default_base_url {
            Some(_) => self
                .base_urls
                .get(&source)
                .cloned()
                .or_else(|| imp.default_base(&params)),
            None => None,
        };
        RunPlan { params, base }
    }
}

/// Check (and normalise) a run's parameters for `source` before queueing it
/// ([`sources::check_params`] with this engine's page limit).
pub fn validate_params(
    source: Source,
    params: &SearchParams,
    config: &EngineConfig,
) -> Result<SearchParams, ParamError> {
    sources::check_params(source, params, config.max_pages_limit)
}

/// Why a run stopped before finishing its work.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Params(#[from] ParamError),
    #[error("{0}")]
    Fetch(FetchError),
    #[error("cannot read {what} from {url}: {source}")]
    Parse {
        what: &'static str,
        url: String,
        source: ParseError,
    },
    #[error("blocked: {0}")]
    Blocked(String),
    #[error("cancelled")]
    Cancelled,
    /// The run row is no longer ours (see [`store::RunClaim`]): reaped, cancelled or taken.
    #[error("the run is no longer this worker's (its lease was lost)")]
    Lost,
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

impl From<FetchError> for RunError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Cancelled { .. } => RunError::Cancelled,
            FetchError::Blocked { .. } => RunError::Blocked(e.to_string()),
            other => RunError::Fetch(other),
        }
    }
}

impl RunError {
    pub fn status(&self) -> RunStatus {
        match self {
            RunError::Cancelled => RunStatus::Cancelled,
            RunError::Lost => RunStatus::Interrupted,
            RunError::Blocked(_) => RunStatus::Blocked,
            _ => RunStatus::Failed,
        }
    }
}

/// The result of executing a run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The row as it is after the run: what was recorded, or what whoever took the run over
    /// recorded (see `outcome`).
    pub run: ingest_run::Model,
    /// The run's status as stored (`run.status`).
    pub status: RunStatus,
    /// What this execution counted.
    pub counters: RunCounters,
    /// The run's error as stored (`run.error`).
    pub error: Option<String>,
    /// Whether this execution's end was recorded, or the run had been cancelled or taken over.
    pub outcome: FinishOutcome,
}

/// Everything a run needs. Cheap to clone: share one per process.
#[derive(Clone)]
pub struct Engine {
    pub db: DatabaseConnection,
    pub fetcher: Fetcher,
    pub bus: EventBus,
    pub config: EngineConfig,
    /// Parses running on the blocking pool at once, shared by the clones: one per CPU.
    parse_slots: Arc<Semaphore>,
    /// Extra writes in every page's transaction (the API's webhook outbox); none by default.
    page_hook: Option<Arc<dyn store::PageHook>>,
    /// Bumped around every page's transaction (readers' caches check answers against it).
    pub generation: crate::generation::Generation,
}

impl Engine {
    pub fn new(
        db: DatabaseConnection,
        fetcher: Fetcher,
        bus: EventBus,
        config: EngineConfig,
    ) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Engine {
            db,
            fetcher,
            bus,
            config,
            parse_slots: Arc::new(Semaphore::new(cpus)),
            page_hook: None,
            generation: crate::generation::Generation::new(),
        }
    }

    /// Run `hook` inside every page's transaction (see [`store::PageHook`]).
    pub fn with_page_hook(mut self, hook: Arc<dyn store::PageHook>) -> Self {
        self.page_hook = Some(hook);
        self
    }

    /// Bump `generation` around every page's transaction (the API's response cache).
    pub fn with_generation(mut self, generation: crate::generation::Generation) -> Self {
        self.generation = generation;
        self
    }

    /// Execute an already-claimed run (status `running`) to a terminal status, store it, and
    /// publish `RunStarted` … `RunFinished`. `run` is the row as claimed: its `lease_owner`
    /// fences every write to the row (see [`RunClaim`]); once the run is no longer ours the
    /// engine stops at the next page and records nothing.
    pub async fn execute(
        &self,
        run: &ingest_run::Model,
        cancel: &CancellationToken,
    ) -> Result<RunReport, DbErr> {
        self.execute_with(run, cancel, &OnceLock::new()).await
    }

    /// [`Engine::execute`] for a caller that may also stop the run for its own reasons
    /// (shutdown, lost contact with the database): if `cancel` fires after `interrupted` was
    /// set, the run ends `interrupted` with that text as its error (so that it is retried)
    /// instead of `cancelled` (a user's decision, never retried).
    #[tracing::instrument(skip_all, fields(run_id = run.id, source = %run.source))]
    pub async fn execute_with(
        &self,
        run: &ingest_run::Model,
        cancel: &CancellationToken,
        interrupted: &OnceLock<String>,
    ) -> Result<RunReport, DbErr> {
        self.bus.publish(IngestEvent::RunStarted {
            run_id: run.id,
            source: run.source,
        });
        let mut ctx = RunCtx {
            engine: self,
            run_id: run.id,
            claim: RunClaim::of(run),
            source: run.source,
            stats: FetchStats::new(),
            counters: RunCounters::default(),
            cancel,
            page: 0,
        };
        let result = match serde_json::from_value::<SearchParams>(run.params.clone()) {
            Ok(params) => match validate_params(run.source, &params, &self.config) {
                Ok(params) => ctx.run_source(params).await,
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(RunError::Params(ParamError(format!(
                "stored params are not valid: {e}"
            )))),
        };
        ctx.sync_fetch_stats();
        let (status, error) = match (&result, interrupted.get()) {
            (Ok(()), _) => (RunStatus::Succeeded, None),
            (Err(RunError::Cancelled), Some(why)) => (RunStatus::Interrupted, Some(why.clone())),
            (Err(e), _) => (e.status(), Some(e.to_string())),
        };
        let lost = matches!(result, Err(RunError::Lost));
        if !lost {
            match &error {
                None => tracing::info!(counters = ?ctx.counters, "run succeeded"),
                Some(e) => {
                    tracing::warn!(status = %status, error = %e, counters = ?ctx.counters, "run ended")
                }
            }
        }
        let finished = store::finish_run(
            &self.db,
            &ctx.claim,
            status,
            &ctx.counters,
            error.as_deref(),
        )
        .await?;
        let stored = finished.run;
        match finished.outcome {
            FinishOutcome::Recorded => {}
            FinishOutcome::Cancelled => {
                tracing::info!(counters = ?ctx.counters, "run was cancelled while it ran; it stays cancelled")
            }
            // Logged once per run, here: the rows this worker would have written belong to
            // whoever took the run over.
            FinishOutcome::Lost => tracing::warn!(
                now = %stored.status,
                counters = ?ctx.counters,
                "run is no longer ours (reaped or cancelled meanwhile); stopped without recording its end"
            ),
        }
        // Subscribers hear the status the row has, not the one this worker wanted.
        self.bus.publish(IngestEvent::RunFinished {
            run_id: run.id,
            source: run.source,
            status: stored.status,
            counters: ctx.counters,
            error: stored.error.clone(),
        });
        Ok(RunReport {
            status: stored.status,
            error: stored.error.clone(),
            run: stored,
            counters: ctx.counters,
            outcome: finished.outcome,
        })
    }
}

struct RunCtx<'a> {
    engine: &'a Engine,
    run_id: i64,
    /// Fences this execution's writes to the run row.
    claim: RunClaim,
    source: Source,
    stats: FetchStats,
    counters: RunCounters,
    cancel: &'a CancellationToken,
    page: u32,
}

impl RunCtx<'_> {
    /// The one loop every source runs: listing pages until the source has no more (or the run's
    /// page budget, the source's result cap, an empty page or a page with nothing new), details
    /// for postings not stored before, one stored page per transaction.
    async fn run_source(&mut self, params: SearchParams) -> Result<(), RunError> {
        // `validate_params` refuses import-only sources; a run row made some other way (by
        // hand in the database) still stops here with the same message.
        let imp = match registry(self.source) {
            Some(imp) => imp,
            None => {
                return Err(RunError::Params(
                    validate_params(self.source, &params, &self.engine.config)
                        .err()
                        .unwrap_or_else(|| ParamError(format!("{} is import-only", self.source))),
                ));
            }
        };
        let spec = imp.spec();
        let plan = Arc::new(self.engine.config.plan(self.source, params));
        let cap = spec.result_cap.unwrap_or(usize::MAX);
        let mut seen: HashSet<String> = HashSet::new();
        let mut details_allowed = true;
        for page in 0..self.max_pages(&plan.params) {
            let request = imp.listing_request(&plan, page);
            let response = self.get(&request.url, &request.options).await?;
            self.counters.pages_fetched += 1;
            let (page_plan, url) = (Arc::clone(&plan), request.url.clone());
            let listing: Listing = self
                .parse_off_runtime(spec.listing_what, &request.url, move || {
                    let mut listing = imp
                        .parse_listing(&page_plan, page, &response)
                        .map_err(|e| source_error(e, spec.listing_what, &url))?;
                    listing.postings = storable(listing.postings);
                    Ok(listing)
                })
                .await?;
            if listing.cards == 0 {
                break;
            }
            let fresh = Self::first_seen(&mut seen, listing.postings);
            if fresh.is_empty() {
                if page > 0 {
                    tracing::info!(page, "no new ids on this page; stopping");
                }
                break;
            }
            self.store_listing(imp, &plan, fresh, &mut details_allowed)
                .await?;
            if !listing.has_more || seen.len() >= cap.min(listing.total.unwrap_or(usize::MAX)) {
                break;
            }
        }
        Ok(())
    }

    fn max_pages(&self, params: &SearchParams) -> u32 {
        params
            .max_pages
            .unwrap_or(self.engine.config.default_max_pages)
            .min(self.engine.config.max_pages_limit)
    }

    fn check_cancel(&self) -> Result<(), RunError> {
        if self.cancel.is_cancelled() {
            Err(RunError::Cancelled)
        } else {
            Ok(())
        }
    }

    async fn get(&self, url: &Url, opts: &RequestOptions) -> Result<FetchedPage, RunError> {
        self.check_cancel()?;
        Ok(self
            .engine
            .fetcher
            .fetch(url, opts, &self.stats, self.cancel)
            .await?)
    }

    /// Runs `parse` on the blocking pool, once a parse slot is free (see the module
    /// documentation). A parser that panics fails the run as a page that cannot be read.
    async fn parse_off_runtime<T: Send + 'static>(
        &self,
        what: &'static str,
        url: &Url,
        parse: impl FnOnce() -> Result<T, RunError> + Send + 'static,
    ) -> Result<T, RunError> {
        let _slot = self
            .engine
            .parse_slots
            .acquire()
            .await
            .expect("the parse semaphore is never closed");
        tokio::task::spawn_blocking(parse)
            .await
            .unwrap_or_else(|e| {
                Err(RunError::Parse {
                    what,
                    url: crate::fetch::redact_url(url),
                    source: ParseError::Shape(format!("the parser stopped: {e}")),
                })
            })
    }

    fn sync_fetch_stats(&mut self) {
        let s = self.stats.snapshot();
        self.counters.requests = s.requests as i32;
        self.counters.http_errors = s.http_errors as i32;
    }

    /// Store one page, update counters, publish events.
    async fn store(&mut self, postings: Vec<NormalizedPosting>) -> Result<(), RunError> {
        self.page += 1;
        // Held until the page's transaction has committed or rolled back.
        let write = self.engine.generation.write();
        let stored = store::upsert_page_hooked(
            &self.engine.db,
            self.run_id,
            &postings,
            Some(&self.claim),
            self.engine.page_hook.as_deref(),
        )
        .await;
        drop(write);
        let Some(outcome) = stored? else {
            // Reaped or cancelled before this page: it is not stored, and the run stops.
            return Err(RunError::Lost);
        };
        // A posting listed twice on a page is one posting found (and stored once).
        let distinct: HashMap<(Source, &str), &NormalizedPosting> = postings
            .iter()
            .map(|p| ((p.source, p.external_id.as_str()), p))
            .collect();
        self.counters.jobs_found += distinct.len() as i32;
        self.counters.descriptions_truncated += distinct
            .values()
            .filter(|p| has_truncated_description(p))
            .count() as i32;
        if outcome.refused > 0 {
            tracing::warn!(
                refused = outcome.refused,
                "postings without an http(s) URL not stored"
            );
        }
        self.counters.jobs_new += outcome.new.len() as i32;
        self.counters.jobs_updated += outcome.updated.len() as i32;
        self.counters.jobs_unchanged += outcome.unchanged as i32;
        self.sync_fetch_stats();
        if !store::save_progress(&self.engine.db, &self.claim, &self.counters).await? {
            // Reaped or cancelled while this page was stored: stop fetching and storing.
            return Err(RunError::Lost);
        }
        let bus = &self.engine.bus;
        for id in &outcome.new {
            bus.publish(IngestEvent::PostingAdded {
                run_id: self.run_id,
                source: self.source,
                posting_id: *id,
            });
        }
        for id in &outcome.updated {
            bus.publish(IngestEvent::PostingUpdated {
                run_id: self.run_id,
                source: self.source,
                posting_id: *id,
            });
        }
        bus.publish(IngestEvent::PageStored {
            run_id: self.run_id,
            source: self.source,
            page: self.page,
            counters: self.counters,
            stored_at: chrono::Utc::now(),
        });
        tracing::info!(
            page = self.page,
            found = self.counters.jobs_found,
            new = self.counters.jobs_new,
            updated = self.counters.jobs_updated,
            unchanged = self.counters.jobs_unchanged,
            "page stored"
        );
        Ok(())
    }

    /// For postings already stored, carry over what only their detail page gave us (description,
    /// expiry, and every field the listing lacks that the detail page filled in: salary,
    /// location, work type and arrangement, company, classification), so that seeing a listing
    /// again without re-fetching the detail page does not count as a change or erase the details.
    async fn carry_over_details(
        &self,
        postings: &mut [NormalizedPosting],
        known: &HashSet<String>,
    ) -> Result<(), RunError> {
        let ids: Vec<String> = postings
            .iter()
            .filter(|p| known.contains(&p.external_id))
            .map(|p| p.external_id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let rows: Vec<job_posting::Model> = job_posting::Entity::find()
            .filter(job_posting::Column::Source.eq(self.source))
            .filter(job_posting::Column::ExternalId.is_in(ids))
            .all(&self.engine.db)
            .await?;
        let by_id: HashMap<&str, &job_posting::Model> =
            rows.iter().map(|r| (r.external_id.as_str(), r)).collect();
        for p in postings.iter_mut() {
            if let Some(row) = by_id.get(p.external_id.as_str()) {
                carry_over_from_row(p, row);
            }
        }
        Ok(())
    }

    /// The postings of a listing page not seen earlier in this run (promoted cards repeat).
    fn first_seen(
        seen: &mut HashSet<String>,
        postings: Vec<NormalizedPosting>,
    ) -> Vec<NormalizedPosting> {
        postings
            .into_iter()
            .filter(|p| seen.insert(p.external_id.clone()))
            .collect()
    }

    /// Hydrate a listing page and store it: postings not stored before get their detail
    /// (when the source has one), postings already stored get what their detail gave last time
    /// from their row, so a re-listing costs no request and is not a change. A detail that fails
    /// or cannot be read leaves the card as it is; a robots.txt refusal stops detail fetches for
    /// the rest of the run (`details_allowed`). Stored in pages of [`BOARD_PAGE`].
    async fn store_listing(
        &mut self,
        imp: &'static dyn JobSource,
        plan: &Arc<RunPlan>,
        mut fresh: Vec<NormalizedPosting>,
        details_allowed: &mut bool,
    ) -> Result<(), RunError> {
        let with_details = fresh.iter().any(|p| imp.detail_request(plan, p).is_some());
        if with_details {
            let ids: Vec<String> = fresh.iter().map(|p| p.external_id.clone()).collect();
            let known = store::known_external_ids(&self.engine.db, self.source, &ids).await?;
            for p in fresh.iter_mut().filter(|p| !known.contains(&p.external_id)) {
                if !*details_allowed {
                    break;
                }
                let Some(request) = imp.detail_request(plan, p) else {
                    continue;
                };
                match self.get(&request.url, &request.options).await {
                    Ok(page) => {
                        let what = imp.spec().detail_what;
                        let (mut detailed, detail_plan, url) =
                            (p.clone(), Arc::clone(plan), request.url.clone());
                        *p = self
                            .parse_off_runtime(what, &request.url, move || {
                                imp.apply_detail(&detail_plan, &mut detailed, &page)
                                    .map_err(|e| source_error(e, what, &url))?;
                                // What the detail added is checked like the card was; a
                                // posting still unstorable is refused by the store, with a count.
                                let _ = make_storable(&mut detailed);
                                Ok(detailed)
                            })
                            .await?;
                    }
                    Err(RunError::Fetch(FetchError::RobotsDisallowed { reason, .. })) => {
                        tracing::warn!(%reason, "robots.txt disallows detail pages; storing cards only");
                        *details_allowed = false;
                    }
                    Err(RunError::Fetch(e)) => {
                        tracing::warn!(error = %e, "detail request failed; keeping the card");
                    }
                    Err(other) => return Err(other),
                }
            }
            self.carry_over_details(&mut fresh, &known).await?;
        }
        while !fresh.is_empty() {
            self.check_cancel()?;
            let tail = fresh.split_off(fresh.len().min(BOARD_PAGE));
            let page = std::mem::replace(&mut fresh, tail);
            self.store(page).await?;
        }
        Ok(())
    }
}

/// Fill what a listing lacks from the stored row of the same posting, the way the sources'
/// `apply_detail` fills it from a detail page: the stored row holds what the detail page said
/// when the posting was first seen. What the listing itself says always wins, except that a
/// structured salary (from the detail page) beats one parsed from the listing's text.
fn carry_over_from_row(p: &mut NormalizedPosting, row: &job_posting::Model) {
    if row.description_html.is_some() {
        p.description_html = row.description_html.clone();
        p.description_text = row.description_text.clone();
    }
    p.expires_at = p.expires_at.or(row.expires_at);
    if p.apply_url.is_none() {
        p.apply_url = row.apply_url.clone();
    }
    p.posted_at = p.posted_at.or(row.posted_at);
    if p.title.trim().is_empty() {
        p.title = row.title.clone();
    }
    if p.company.is_none() {
        p.company = row.company.clone();
    }
    if p.company_external_id.is_none() {
        p.company_external_id = row.company_external_id.clone();
    }
    if p.classification.is_none() {
        p.classification = row.classification.clone();
    }
    if p.work_type.is_none() {
        p.work_type = row.work_type;
    }
    if p.work_arrangement == WorkArrangement::Unknown {
        p.work_arrangement = row.work_arrangement;
    }
    let listing_salary = &p.salary;
    let listing_has_none = listing_salary.text.is_none()
        && listing_salary.min.is_none()
        && listing_salary.max.is_none();
    let stored_is_better = listing_salary.source != Some(SalarySource::Structured)
        && row.salary_source == Some(SalarySource::Structured);
    if listing_has_none || stored_is_better {
        p.salary = Salary {
            text: row.salary_text.clone(),
            min: row.salary_min,
            max: row.salary_max,
            currency: row.salary_currency.clone(),
            period: row.salary_period,
            source: row.salary_source,
            annual_min: row.salary_annual_min,
            annual_max: row.salary_annual_max,
        };
    }
    let location = &mut p.location;
    if location.raw.is_none() || (location.city.is_none() && row.city.is_some()) {
        *location = Location {
            raw: location.raw.take().or_else(|| row.location_raw.clone()),
            city: row.city.clone(),
            region: row.region.clone(),
            country: row.country.clone(),
        };
    }
}

/// `postings` made storable (`normalize::make_storable`: NULs stripped, links checked) as they
/// leave the parser, so lookups by external id and the carry-over of stored details see the
/// ids as they will be stored. A posting without an http(s) URL is left out, with a warning.
fn storable(mut postings: Vec<NormalizedPosting>) -> Vec<NormalizedPosting> {
    postings.retain_mut(|p| match make_storable(p) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "posting not stored");
            false
        }
    });
    postings
}

/// Whether the posting's description was cut at the size cap (`normalize::TRUNCATION_NOTE`).
fn has_truncated_description(p: &NormalizedPosting) -> bool {
    p.description_html.as_deref().is_some_and(is_truncated)
        || p.description_text.as_deref().is_some_and(is_truncated)
}

/// How long a `running` run's lease lasts without a heartbeat (used by the worker pool).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// A source's verdict on a response as the run's error: a page it cannot read fails the run,
/// a challenge blocks it.
fn source_error(e: SourceError, what: &'static str, url: &Url) -> RunError {
    match e {
        SourceError::Parse(source) => RunError::Parse {
            what,
            url: crate::fetch::redact_url(url),
            source,
        },
        SourceError::Blocked(why) => RunError::Blocked(why),
    }
}

//! Mutations: starting, retrying and cancelling ingest runs, and managing schedules.
//!
//! Every mutation requires the writer role first ([`require_writer`]: the bearer token, or a
//! loopback-only server without one). Input problems are `BAD_USER_INPUT` errors that say what
//! to send instead; unknown IDs are `NOT_FOUND`.

use async_graphql::{Context, ID, InputObject, MergedObject, Object, Result};
use entity::RunTrigger;
use ingest::SearchParams;

use super::ApiContext;
use super::auth::require_writer;
use super::ids;
use super::runs::IngestRun;
use super::schedules::{MisfirePolicy, OverlapPolicy, Schedule};
use super::types::Source;
use crate::error::ApiError;
use crate::service::runs::StartRun;
use crate::service::schedules::{self as svc, ScheduleDef, SchedulePatch};

/// All mutations, merged from the domains.
#[derive(MergedObject, Default)]
pub struct Mutation(
    IngestMutation,
    ScheduleMutation,
    super::saved_searches::SavedSearchMutation,
);

fn max_pages(n: Option<i32>) -> Result<Option<u32>, ApiError> {
    match n {
        None => Ok(None),
        Some(n) if n >= 1 => Ok(Some(n as u32)),
        Some(n) => Err(ApiError::bad_input(format!(
            "maxPages must be at least 1, got {n}"
        ))),
    }
}

/// What to ingest.
#[derive(InputObject, Debug)]
pub struct StartIngestInput {
    /// The source to scrape (`sources` lists what each one needs).
    pub source: Source,
    /// Search words (SEEK, Indeed).
    pub keywords: Option<String>,
    /// Where (SEEK, Indeed), e.g. "Sydney NSW".
    pub location: Option<String>,
    /// Board token (Greenhouse, Lever, Ashby) or career page URL (jsonld).
    pub target: Option<String>,
    /// Most result pages to fetch.
    pub max_pages: Option<i32>,
    /// Country site: au or nz (SEEK), a two-letter code (Indeed).
    pub country: Option<String>,
}

#[derive(Default)]
pub struct IngestMutation;

#[Object]
impl IngestMutation {
    /// Queue an ingest run and return it at once (status `QUEUED`); a worker starts it as soon
    /// as the concurrency limits allow. Follow it with `ingestRun(id)` or a subscription.
    async fn start_ingest(&self, ctx: &Context<'_>, input: StartIngestInput) -> Result<IngestRun> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let start = StartRun {
            source: input.source,
            params: SearchParams {
                keywords: input.keywords,
                location: input.location,
                target: input.target,
                max_pages: max_pages(input.max_pages)?,
                country: input.country,
            },
            trigger: RunTrigger::Manual,
        };
        Ok(IngestRun(api.runs.queue(start).await?))
    }

    /// A new run with the same source, parameters and schedule as run `id` (trigger RETRY,
    /// status QUEUED). Allowed for FAILED, INTERRUPTED, BLOCKED and CANCELLED runs; otherwise
    /// BAD_USER_INPUT.
    async fn retry_ingest_run(&self, ctx: &Context<'_>, id: ID) -> Result<IngestRun> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let run_id = ids::decode("IngestRun", &id)?;
        Ok(IngestRun(api.runs.retry(run_id).await?))
    }

    /// Cancel a run: a queued run is cancelled at once; a running run stops at its next page
    /// (its status is `CANCELLED` immediately). A finished run cannot be cancelled.
    async fn cancel_ingest_run(&self, ctx: &Context<'_>, id: ID) -> Result<IngestRun> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let run_id = ids::decode("IngestRun", &id)?;
        Ok(IngestRun(api.runs.cancel(run_id).await?))
    }
}

/// A new schedule.
#[derive(InputObject, Debug)]
pub struct CreateScheduleInput {
    /// Unique name, e.g. "seek-rust-sydney".
    pub name: String,
    /// The source every run scrapes (`sources` lists what each one needs).
    pub source: Source,
    /// Search keywords (SEEK, Indeed).
    pub keywords: Option<String>,
    /// Where to search (SEEK, Indeed).
    pub location: Option<String>,
    /// The board token, site, board name or career page URL (Greenhouse, Lever, Ashby, JSON-LD).
    pub target: Option<String>,
    /// Most search pages per run.
    pub max_pages: Option<i32>,
    /// `au` or `nz` (SEEK), or Indeed's country.
    pub country: Option<String>,
    /// Cron: 5 fields, or 6 with seconds first (e.g. `0 */6 * * *`). Day-of-month and
    /// day-of-week combine with AND, as in Hangfire.
    pub cron: String,
    /// IANA time zone the cron is evaluated in.
    #[graphql(default_with = "String::from(\"UTC\")")]
    pub time_zone: String,
    /// Create it paused with `false`.
    #[graphql(default = true)]
    pub enabled: bool,
    /// Spread starts over up to this many seconds after each fire (0–3600).
    #[graphql(default = 0)]
    pub jitter_seconds: i32,
    /// What a fire does while the previous run is still queued or running (default SKIP).
    #[graphql(default_with = "OverlapPolicy::Skip")]
    pub overlap_policy: OverlapPolicy,
    /// What happens to fires missed while no instance ran (default FIRE_ONCE).
    #[graphql(default_with = "MisfirePolicy::FireOnce")]
    pub misfire_policy: MisfirePolicy,
    /// Attempts per fire, the first included (1–20).
    #[graphql(default = 3)]
    pub max_attempts: i32,
    /// Delay before the first retry, doubled for each further attempt (1–86400).
    #[graphql(default = 60)]
    pub retry_backoff_seconds: i32,
}

/// Changes to a schedule: omitted fields keep their value; a search parameter set to `""` is
/// cleared. Pause and resume with `pauseSchedule` / `resumeSchedule`.
#[derive(InputObject, Debug, Default)]
pub struct UpdateScheduleInput {
    /// A new unique name.
    pub name: Option<String>,
    /// A new source (its required parameters must then be present).
    pub source: Option<Source>,
    /// Search keywords (SEEK, Indeed); `""` clears them.
    pub keywords: Option<String>,
    /// Where to search (SEEK, Indeed); `""` clears it.
    pub location: Option<String>,
    /// Board token, site, board name or career page URL; `""` clears it.
    pub target: Option<String>,
    /// Most search pages per run.
    pub max_pages: Option<i32>,
    /// `au` or `nz` (SEEK), or Indeed's country; `""` clears it.
    pub country: Option<String>,
    /// A new cron: the schedule next fires at its first occurrence after now (never at once
    /// for occurrences "missed" under the old cron).
    pub cron: Option<String>,
    /// A new IANA time zone for the cron.
    pub time_zone: Option<String>,
    /// Spread starts over up to this many seconds after each fire (0–3600).
    pub jitter_seconds: Option<i32>,
    /// What a fire does while the previous run is still queued or running.
    pub overlap_policy: Option<OverlapPolicy>,
    /// What happens to fires missed while no instance ran.
    pub misfire_policy: Option<MisfirePolicy>,
    /// Attempts per fire, the first included (1–20).
    pub max_attempts: Option<i32>,
    /// Delay before the first retry, doubled for each further attempt (1–86400).
    pub retry_backoff_seconds: Option<i32>,
}

#[derive(Default)]
pub struct ScheduleMutation;

#[Object]
impl ScheduleMutation {
    /// Create a schedule. It never fires at once: first at its next occurrence.
    async fn create_schedule(
        &self,
        ctx: &Context<'_>,
        input: CreateScheduleInput,
    ) -> Result<Schedule> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let def = ScheduleDef {
            name: input.name,
            source: input.source,
            params: SearchParams {
                keywords: input.keywords,
                location: input.location,
                target: input.target,
                max_pages: max_pages(input.max_pages)?,
                country: input.country,
            },
            cron: input.cron,
            timezone: input.time_zone,
            enabled: input.enabled,
            jitter_seconds: input.jitter_seconds,
            overlap_policy: input.overlap_policy.into(),
            misfire_policy: input.misfire_policy.into(),
            max_attempts: input.max_attempts,
            retry_backoff_seconds: input.retry_backoff_seconds,
        };
        let now = api
            .runs
            .clock()
            .now(&api.db)
            .await
            .map_err(ApiError::from)?;
        let created = svc::create(
            &api.db,
            def,
            &api.runs.engine().config,
            now,
            api.runs.wake(),
        )
        .await?;
        Ok(Schedule::new(created))
    }

    /// Change a schedule.
    async fn update_schedule(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateScheduleInput,
    ) -> Result<Schedule> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let id = ids::decode("Schedule", &id)?;
        let patch = SchedulePatch {
            name: input.name,
            source: input.source,
            keywords: input.keywords,
            location: input.location,
            target: input.target,
            max_pages: max_pages(input.max_pages)?,
            clear_max_pages: false,
            country: input.country,
            cron: input.cron,
            timezone: input.time_zone,
            jitter_seconds: input.jitter_seconds,
            overlap_policy: input.overlap_policy.map(Into::into),
            misfire_policy: input.misfire_policy.map(Into::into),
            max_attempts: input.max_attempts,
            retry_backoff_seconds: input.retry_backoff_seconds,
        };
        let now = api
            .runs
            .clock()
            .now(&api.db)
            .await
            .map_err(ApiError::from)?;
        let updated = svc::update(
            &api.db,
            id,
            patch,
            &api.runs.engine().config,
            now,
            api.runs.wake(),
        )
        .await?;
        Ok(Schedule::new(updated))
    }

    /// Delete a schedule and cancel its queued runs; its finished runs are kept. Returns the
    /// deleted schedule's ID.
    async fn delete_schedule(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let db_id = ids::decode("Schedule", &id)?;
        let now = api
            .runs
            .clock()
            .now(&api.db)
            .await
            .map_err(ApiError::from)?;
        svc::delete(&api.db, db_id, now).await?;
        Ok(ID(ids::encode("Schedule", db_id)))
    }

    /// Stop firing (a run in flight continues).
    async fn pause_schedule(&self, ctx: &Context<'_>, id: ID) -> Result<Schedule> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let id = ids::decode("Schedule", &id)?;
        let now = api
            .runs
            .clock()
            .now(&api.db)
            .await
            .map_err(ApiError::from)?;
        Ok(Schedule::new(svc::pause(&api.db, id, now).await?))
    }

    /// Fire again from the next occurrence; fires missed while paused are not made up.
    async fn resume_schedule(&self, ctx: &Context<'_>, id: ID) -> Result<Schedule> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let id = ids::decode("Schedule", &id)?;
        let now = api
            .runs
            .clock()
            .now(&api.db)
            .await
            .map_err(ApiError::from)?;
        Ok(Schedule::new(
            svc::resume(&api.db, id, now, api.runs.wake()).await?,
        ))
    }

    /// Queue a run of the schedule now (trigger `MANUAL`). Its overlap policy applies: with
    /// `SKIP`, a run while another is active comes back `SKIPPED`.
    async fn run_schedule_now(&self, ctx: &Context<'_>, id: ID) -> Result<IngestRun> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let id = ids::decode("Schedule", &id)?;
        Ok(IngestRun(api.runs.run_schedule_now(id).await?))
    }
}

//! Schedules: the `Schedule` type, its policies, and the queries that read schedules and their
//! runs.

use async_graphql::connection::{
    Connection, ConnectionNameType, Edge, EdgeNameType, EmptyFields, EnableNodesField,
};
use async_graphql::{Context, Enum, ID, Object, OutputType, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{ingest_run, schedule};

use super::auth::require_reader;
use super::ids;
use super::runs::{IngestRun, RunStatus};
use super::types::Source;
use super::{ApiContext, cursor_for_id, id_from_cursor};
use crate::error::ApiError;
use crate::scheduling::cron::CronSchedule;
use crate::service;

/// Largest page of schedules or runs a client may ask for.
pub const MAX_PAGE: i32 = 100;
/// Most upcoming fires one query may ask for.
pub const MAX_UPCOMING: i32 = 100;

/// What a schedule does when it fires while its previous run is still queued or running.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::OverlapPolicy")]
pub enum OverlapPolicy {
    /// Record the fire as a `SKIPPED` run and do not start another.
    Skip,
    /// Queue the fire; it starts when the previous run ends. At most one run waits: a fire
    /// while one already waits is recorded as `SKIPPED`.
    Queue,
}

/// What a schedule does with fires missed while no instance was running (or all were busy for
/// longer than JOBINTEL_MISFIRE_THRESHOLD).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::MisfirePolicy")]
pub enum MisfirePolicy {
    /// Drop missed fires; wait for the next occurrence.
    Skip,
    /// Run once for all missed fires, as soon as possible.
    FireOnce,
}

/// A cron schedule: the scheduler turns each occurrence into an ingest run.
pub struct Schedule {
    pub model: schedule::Model,
    /// The newest run, when the resolver that returned this schedule already loaded it.
    pub last_run: Option<Option<ingest_run::Model>>,
}

impl Schedule {
    pub fn new(model: schedule::Model) -> Self {
        Schedule {
            model,
            last_run: None,
        }
    }
}

pub struct ScheduleRunConnectionName;

impl ConnectionNameType for ScheduleRunConnectionName {
    fn type_name<T: OutputType>() -> String {
        "ScheduleRunConnection".into()
    }
}

pub struct ScheduleRunEdgeName;

impl EdgeNameType for ScheduleRunEdgeName {
    fn type_name<T: OutputType>() -> String {
        "ScheduleRunEdge".into()
    }
}

/// A page of a schedule's runs, newest first.
pub type ScheduleRunConnection = Connection<
    String,
    IngestRun,
    EmptyFields,
    EmptyFields,
    ScheduleRunConnectionName,
    ScheduleRunEdgeName,
    EnableNodesField,
>;

fn page_size(first: Option<i32>, default: i32) -> Result<u64, ApiError> {
    match first {
        None => Ok(default as u64),
        Some(n) if (0..=MAX_PAGE).contains(&n) => Ok(n as u64),
        Some(n) => Err(ApiError::bad_input(format!(
            "`first` must be between 0 and {MAX_PAGE}, got {n}"
        ))),
    }
}

/// A cron schedule stored in the database: the scheduler turns each occurrence into an
/// ingest run of one source with fixed parameters.
#[Object]
impl Schedule {
    /// Opaque global ID.
    pub async fn id(&self) -> ID {
        ID(ids::encode("Schedule", self.model.id))
    }
    /// The numeric database id.
    async fn database_id(&self) -> i64 {
        self.model.id
    }
    /// Unique name.
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// The source every run scrapes.
    async fn source(&self) -> Source {
        self.model.source
    }
    /// The parameters every run gets: keywords, location, target, maxPages, country.
    async fn params(&self) -> &serde_json::Value {
        &self.model.params
    }
    /// Cron expression: 5 fields, or 6 with seconds first. Day-of-month and day-of-week are
    /// combined with AND when both are restricted (as in Hangfire/Cronos).
    async fn cron(&self) -> &str {
        &self.model.cron
    }
    /// The cron in plain English.
    async fn cron_description(&self) -> String {
        CronSchedule::parse(&self.model.cron, &self.model.timezone)
            .map(|s| s.describe())
            .unwrap_or_default()
    }
    /// IANA time zone the cron is evaluated in.
    async fn time_zone(&self) -> &str {
        &self.model.timezone
    }
    /// `false` while paused.
    async fn enabled(&self) -> bool {
        self.model.enabled
    }
    /// Each fire's run may start up to this many seconds late, to spread load.
    async fn jitter_seconds(&self) -> i32 {
        self.model.jitter_seconds
    }
    /// What a fire does while the previous run is still queued or running.
    async fn overlap_policy(&self) -> OverlapPolicy {
        self.model.overlap_policy.into()
    }
    /// What happens to fires missed while no instance was running.
    async fn misfire_policy(&self) -> MisfirePolicy {
        self.model.misfire_policy.into()
    }
    /// Attempts per fire, the first included (a failed or interrupted run is retried until
    /// this many attempts were made).
    async fn max_attempts(&self) -> i32 {
        self.model.max_attempts
    }
    /// Delay before the first retry; doubled for each further attempt (at most a day).
    async fn retry_backoff_seconds(&self) -> i32 {
        self.model.retry_backoff_seconds
    }
    /// When it fires next (`null` while paused).
    async fn next_fire_at(&self) -> Option<DateTime<Utc>> {
        self.model.next_fire_at
    }
    /// The occurrence it last fired for.
    async fn last_fire_at(&self) -> Option<DateTime<Utc>> {
        self.model.last_fire_at
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// When it was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
    /// Its newest run (of any trigger or status).
    async fn last_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        if let Some(prefetched) = &self.last_run {
            return Ok(prefetched.clone().map(IngestRun));
        }
        let api = ctx.data_unchecked::<ApiContext>();
        let mut found = service::schedules::last_runs(&api.db, &[self.model.id]).await?;
        Ok(found.remove(&self.model.id).map(IngestRun))
    }
    /// The next `count` fire times (empty while paused).
    async fn upcoming_fires(
        &self,
        #[graphql(default = 5, desc = "How many, at most 100.")] count: i32,
    ) -> Result<Vec<DateTime<Utc>>> {
        if !(0..=MAX_UPCOMING).contains(&count) {
            return Err(ApiError::bad_input(format!(
                "`count` must be between 0 and {MAX_UPCOMING}, got {count}"
            ))
            .into());
        }
        let Some(next) = self.model.next_fire_at.filter(|_| self.model.enabled) else {
            return Ok(Vec::new());
        };
        let Ok(spec) = CronSchedule::parse(&self.model.cron, &self.model.timezone) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(count as usize);
        if count > 0 {
            out.push(next);
            out.extend(spec.upcoming(next, count as usize - 1));
        }
        Ok(out)
    }
    /// Its runs, newest first (a Relay connection; `first` ≤ 100).
    async fn runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge of the previous page.")] after: Option<String>,
        #[graphql(desc = "Only runs in this status.")] status: Option<RunStatus>,
    ) -> Result<ScheduleRunConnection> {
        let api = ctx.data_unchecked::<ApiContext>();
        let first = page_size(first, 20)?;
        let before_id = after.as_deref().map(id_from_cursor).transpose()?;
        let mut rows = service::schedules::runs_page(
            &api.db,
            self.model.id,
            before_id,
            first,
            status.map(Into::into),
        )
        .await?;
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let mut conn = ScheduleRunConnection::new(after.is_some(), has_next);
        conn.edges.extend(
            rows.into_iter()
                .map(|m| Edge::new(cursor_for_id(m.id), IngestRun(m))),
        );
        Ok(conn)
    }
}

/// A cron expression's plain-language description and next fires, before it is saved.
#[derive(SimpleObject, Debug, Clone)]
pub struct CronPreview {
    /// The expression, as a schedule would store it (trimmed).
    pub cron: String,
    /// The IANA time zone it is evaluated in.
    pub time_zone: String,
    /// The cron in plain English.
    pub description: String,
    /// Its next fires after now.
    pub fires: Vec<DateTime<Utc>>,
}

#[derive(Default)]
pub struct ScheduleQuery;

#[Object]
impl ScheduleQuery {
    /// Schedules by creation (a Relay connection; `first` ≤ 100).
    async fn schedules(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge of the previous page.")] after: Option<String>,
        #[graphql(desc = "Only enabled (`true`) or paused (`false`) schedules.")] enabled: Option<
            bool,
        >,
    ) -> Result<Connection<String, Schedule>> {
        require_reader(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let first = page_size(first, 20)?;
        let after_id = after.as_deref().map(id_from_cursor).transpose()?;
        let mut rows = service::schedules::page(&api.db, after_id, first, enabled).await?;
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        // `lastRun` for the whole page in one query instead of one per schedule.
        let wants_last_run = ctx
            .look_ahead()
            .field("edges")
            .field("node")
            .field("lastRun")
            .exists()
            || ctx.look_ahead().field("nodes").field("lastRun").exists();
        let mut last = if wants_last_run {
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            Some(service::schedules::last_runs(&api.db, &ids).await?)
        } else {
            None
        };
        let mut conn = Connection::new(after.is_some(), has_next);
        conn.edges.extend(rows.into_iter().map(|m| {
            let id = m.id;
            let last_run = last.as_mut().map(|l| l.remove(&id));
            Edge::new(cursor_for_id(id), Schedule { model: m, last_run })
        }));
        Ok(conn)
    }

    /// Next `count` (1..=20, default 3) fires of a cron expression in `timeZone` (IANA,
    /// default "UTC"), with its plain-language description. A bad cron / zone is a GraphQL
    /// error with extensions.code BAD_USER_INPUT and the same message createSchedule gives.
    async fn cron_preview(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Cron: 5 fields, or 6 with seconds first.")] cron: String,
        #[graphql(desc = "IANA time zone (default \"UTC\").")] time_zone: Option<String>,
        #[graphql(desc = "How many fires, 1 to 20 (default 3).")] count: Option<i32>,
    ) -> Result<CronPreview> {
        require_reader(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let now = api
            .runs
            .clock()
            .now(&api.db)
            .await
            .map_err(ApiError::from)?;
        let p = service::schedules::preview(
            &cron,
            time_zone.as_deref().unwrap_or("UTC"),
            count.unwrap_or(3),
            now,
        )?;
        Ok(CronPreview {
            cron: p.cron,
            time_zone: p.timezone,
            description: p.description,
            fires: p.fires,
        })
    }

    /// One schedule by its ID.
    async fn schedule(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Schedule>> {
        require_reader(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let id = ids::decode("Schedule", &id)?;
        Ok(service::schedules::get(&api.db, id)
            .await?
            .map(Schedule::new))
    }
}

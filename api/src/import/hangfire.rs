//! `jobintel import hangfire`: the old system's Hangfire recurring jobs become schedules.
//!
//! Hangfire.PostgreSql keeps a recurring job's id in `<schema>.set` (key `recurring-jobs`) and
//! its definition in `<schema>.hash` (key `recurring-job:<id>`, one row per field: `Cron`,
//! `TimeZoneId`, `Job`, `Queue`, `NextExecution`, …). `Job` is Hangfire's invocation data: the
//! type and method it calls and their arguments, each a JSON-encoded value.
//!
//! Steps, each its own function so tests (and the CLI) call exactly these:
//! 1. [`read_jobs`]: one read-only, repeatable-read transaction on the Hangfire database (the
//!    old system is never written);
//! 2. [`plan`]: each job to a schedule definition — its id as the name, its cron, its time zone
//!    (Windows ids through CLDR's table, [`super::windows_zones`]), the source and parameters
//!    from its arguments (a [`JobMap`] or the default rule) — checked by the same
//!    [`schedules::validate`] as `createSchedule`; a job that fails any step is skipped with the
//!    reason;
//! 3. [`apply`]: create or update through the schedules service, by name, in one transaction,
//!    so the scheduler sees them exactly like schedules created over GraphQL.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use entity::{MisfirePolicy, OverlapPolicy, Source, schedule};
use ingest::SearchParams;
use ingest::engine::EngineConfig;
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, IsolationLevel, Statement, TransactionOptions, TransactionSession,
    TransactionTrait,
};
use serde::Deserialize;

use super::windows_zones;
use crate::error::ApiError;
use crate::service::schedules::{self, ScheduleDef, SchedulePatch};
use crate::service::wake::Wakeups;

/// Where Hangfire.PostgreSql installs its tables unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "hangfire";

/// How many upcoming fires `--dry-run` shows per schedule.
pub const PREVIEW_FIRES: usize = 3;

/// Why an import could not run at all (a job that cannot be mapped is not an error: it is
/// listed in [`Plan::skipped`]).
#[derive(Debug, thiserror::Error)]
pub enum HangfireError {
    /// The options are wrong (schema name, mapping file): exit code 2.
    #[error("{0}")]
    BadInput(String),
    /// The Hangfire database could not be reached or read.
    #[error("{context}: {source}")]
    Source {
        context: String,
        #[source]
        source: DbErr,
    },
    /// Writing the schedules failed.
    #[error("cannot store the schedules")]
    Target(ApiError),
}

impl From<ApiError> for HangfireError {
    fn from(e: ApiError) -> Self {
        HangfireError::Target(e)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// One recurring job as stored: its id and its hash fields (`Cron`, `TimeZoneId`, `Job`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecurringJob {
    pub id: String,
    pub fields: BTreeMap<String, String>,
}

/// `name` as a quoted SQL identifier. Hangfire lets operators pick the schema name, so it is
/// quoted rather than trusted.
fn quote_ident(name: &str) -> Result<String, HangfireError> {
    if name.is_empty() || name.contains('\0') {
        return Err(HangfireError::BadInput(format!(
            "`{name}` is not a schema name (--schema)"
        )));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// Connect to the Hangfire database (one connection: this is a handful of queries).
pub async fn connect_source(url: &str) -> Result<DatabaseConnection, HangfireError> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(std::time::Duration::from_secs(10))
        .acquire_timeout(std::time::Duration::from_secs(10))
        .sqlx_logging(false);
    let redacted = url::Url::parse(url)
        .map(|u| ingest::fetch::redact_url(&u))
        .unwrap_or_else(|_| "the --from URL".into());
    Database::connect(options)
        .await
        .map_err(|source| HangfireError::Source {
            context: format!("cannot connect to the Hangfire database {redacted}"),
            source,
        })
}

/// Every recurring job in `schema`, by id, read in one read-only transaction.
pub async fn read_jobs(
    source: &DatabaseConnection,
    schema: &str,
) -> Result<Vec<RecurringJob>, HangfireError> {
    if source.get_database_backend() != DbBackend::Postgres {
        return Err(HangfireError::BadInput(
            "--from must be the PostgreSQL database Hangfire.PostgreSql uses (postgres://…)".into(),
        ));
    }
    let read = |e: DbErr| HangfireError::Source {
        context: "cannot read the Hangfire database".into(),
        source: e,
    };
    let quoted = quote_ident(schema)?;
    // Read-only: PostgreSQL refuses any write in it, whatever this code does. Repeatable read:
    // the set and the hashes come from one snapshot even while Hangfire keeps running.
    let txn = source
        .begin_with_options(TransactionOptions {
            isolation_level: Some(IsolationLevel::RepeatableRead),
            access_mode: Some(AccessMode::ReadOnly),
            sqlite_transaction_mode: None,
        })
        .await
        .map_err(read)?;
    let tables = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = $1 AND table_name IN ('set', 'hash')",
            [schema.into()],
        ))
        .await
        .map_err(read)?;
    if tables.len() != 2 {
        return Err(HangfireError::BadInput(format!(
            "schema `{schema}` has no Hangfire tables (`{schema}.set` and `{schema}.hash`): \
             pass the schema Hangfire.PostgreSql was configured with (--schema)"
        )));
    }
    let rows = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT s.value AS id, h.field AS field, h.value AS value \
                 FROM {quoted}.\"set\" s \
                 LEFT JOIN {quoted}.\"hash\" h ON h.\"key\" = 'recurring-job:' || s.value \
                 WHERE s.\"key\" = 'recurring-jobs' \
                 ORDER BY s.value, h.field"
            ),
        ))
        .await
        .map_err(read)?;
    txn.rollback().await.map_err(read)?;
    let mut jobs: Vec<RecurringJob> = Vec::new();
    for row in rows {
        let id: String = row.try_get("", "id").map_err(read)?;
        let field: Option<String> = row.try_get("", "field").map_err(read)?;
        let value: Option<String> = row.try_get("", "value").map_err(read)?;
        if jobs.last().is_none_or(|j| j.id != id) {
            jobs.push(RecurringJob {
                id,
                fields: BTreeMap::new(),
            });
        }
        if let (Some(job), Some(field), Some(value)) = (jobs.last_mut(), field, value) {
            job.fields.insert(field, value);
        }
    }
    Ok(jobs)
}

// ---------------------------------------------------------------------------------------------
// The mapping file

/// The mapping file (TOML): how each job type's arguments become a source and parameters.
///
/// ```toml
/// [[job]]
/// type = "OldApi.Jobs.ScrapeJob"   # Hangfire's `Type`, with or without ", Assembly…"
/// method = "Run"
/// source = { arg = 0 }             # the first argument names the source…
/// keywords = { arg = 1 }
/// location = { arg = 2 }
/// max_pages = 3                    # …or a fixed value
/// country = "au"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMap {
    #[serde(default, rename = "job")]
    pub jobs: Vec<JobRule>,
}

/// How one `Type`/`Method` maps. A parameter left out is not set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRule {
    #[serde(rename = "type")]
    pub type_name: String,
    pub method: String,
    pub source: Option<Value>,
    pub keywords: Option<Value>,
    pub location: Option<Value>,
    pub target: Option<Value>,
    pub max_pages: Option<Value>,
    pub country: Option<Value>,
}

/// A parameter's value: one of the job's arguments (`{ arg = 1 }`, counted from 0) or fixed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Arg { arg: usize },
    Text(String),
    Number(i64),
}

impl JobMap {
    /// Read and check a mapping file.
    pub fn load(path: &Path) -> Result<JobMap, HangfireError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            HangfireError::BadInput(format!("cannot read --map {}: {e}", path.display()))
        })?;
        Self::parse(&text)
            .map_err(|e| HangfireError::BadInput(format!("--map {}: {e}", path.display())))
    }

    pub fn parse(text: &str) -> Result<JobMap, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// The rule for a job's type and method: `type` matches the stored type name whole, or
    /// without its assembly part (`Ns.Type, Assembly, Version=…`).
    fn rule_for(&self, type_name: &str, method: &str) -> Option<&JobRule> {
        let bare = type_name.split(',').next().unwrap_or(type_name).trim();
        self.jobs.iter().find(|r| {
            let t = r.type_name.trim();
            (t == type_name.trim() || t == bare) && r.method.trim() == method.trim()
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Planning

/// A job that becomes a schedule.
#[derive(Debug, Clone)]
pub struct Planned {
    pub name: String,
    pub source: Source,
    /// As `createSchedule` normalises them.
    pub params: SearchParams,
    pub cron: String,
    /// IANA.
    pub timezone: String,
    /// As Hangfire stored it, when it was converted (a Windows id).
    pub converted_from: Option<String>,
    pub next_fires: Vec<DateTime<Utc>>,
}

/// A job that cannot become a schedule, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub id: String,
    pub reason: String,
}

/// What an import would do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub planned: Vec<Planned>,
    pub skipped: Vec<Skipped>,
}

/// Hangfire's invocation data, in either of its JSON shapes: Hangfire 1.7+ writes
/// `{"t": …, "m": …, "p": […], "a": […]}`; older versions `{"Type": …, "Method": …,
/// "ParameterTypes": "[…]", "Arguments": "[…]"}` with the arrays themselves JSON-encoded.
#[derive(Debug, Deserialize)]
struct Invocation {
    #[serde(alias = "t", alias = "Type")]
    type_name: String,
    #[serde(alias = "m", alias = "Method")]
    method: String,
    #[serde(default, alias = "a", alias = "Arguments")]
    arguments: serde_json::Value,
}

/// One argument of a job, decoded from its JSON encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    Null,
    /// A JSON string.
    Text(String),
    /// A number or boolean (or anything else), as JSON text.
    Other(String),
}

impl Arg {
    fn text(&self) -> Option<String> {
        match self {
            Arg::Null => None,
            Arg::Text(s) | Arg::Other(s) => Some(s.clone()),
        }
    }
}

/// A job's arguments: each is stored JSON-encoded (`"\"seek\""`, `"5"`, `"null"`).
fn arguments(invocation: &Invocation) -> Result<Vec<Arg>, String> {
    let list = match &invocation.arguments {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Array(items) => items.clone(),
        serde_json::Value::String(text) => serde_json::from_str::<Vec<serde_json::Value>>(text)
            .map_err(|e| format!("its `Arguments` are not a JSON array: {e}"))?,
        other => return Err(format!("its `Arguments` are not a JSON array: {other}")),
    };
    Ok(list
        .into_iter()
        .map(|item| {
            let decoded = match item {
                serde_json::Value::String(encoded) => {
                    serde_json::from_str(&encoded).unwrap_or(serde_json::Value::String(encoded))
                }
                other => other,
            };
            match decoded {
                serde_json::Value::Null => Arg::Null,
                serde_json::Value::String(s) => Arg::Text(s),
                other => Arg::Other(other.to_string()),
            }
        })
        .collect())
}

/// The time zone a job runs in, as an IANA name: IANA ids are kept, Windows ids converted.
/// Hangfire's default (no `TimeZoneId`) is UTC.
fn time_zone(stored: Option<&str>) -> Result<(String, Option<String>), String> {
    let Some(id) = stored.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(("UTC".into(), None));
    };
    if id.parse::<chrono_tz::Tz>().is_ok() {
        return Ok((id.to_owned(), None));
    }
    match windows_zones::to_iana(id) {
        Some(iana) => Ok((iana.to_owned(), Some(id.to_owned()))),
        None => Err(format!(
            "time zone `{id}` is neither an IANA name nor a Windows id in CLDR's mapping"
        )),
    }
}

/// Parameters from the job's arguments, by `rule` or, without one, by the default rule: the
/// first argument that names a source is the source, the string arguments after it are the
/// keywords and then the location.
fn source_and_params(
    args: &[Arg],
    rule: Option<&JobRule>,
) -> Result<(Source, SearchParams), String> {
    let Some(rule) = rule else {
        let named = args.iter().enumerate().find_map(|(i, a)| match a {
            Arg::Text(t) => t.parse::<Source>().ok().map(|s| (i, s)),
            _ => None,
        });
        let Some((at, source)) = named else {
            let names: Vec<&str> = Source::ALL.iter().map(|s| s.as_str()).collect();
            return Err(format!(
                "no argument names a source ({}) and no --map rule matches its type and method",
                names.join(", ")
            ));
        };
        // Strings only: numbers and booleans are not search words.
        let mut rest = args[at + 1..].iter().filter_map(|a| match a {
            Arg::Text(t) => Some(t.clone()),
            _ => None,
        });
        let params = SearchParams {
            keywords: rest.next(),
            location: rest.next(),
            ..SearchParams::default()
        };
        return Ok((source, params));
    };
    let value = |name: &str, v: &Option<Value>| -> Result<Option<String>, String> {
        match v {
            None => Ok(None),
            Some(Value::Text(t)) => Ok(Some(t.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Arg { arg }) => match args.get(*arg) {
                Some(a) => Ok(a.text()),
                None => Err(format!(
                    "the --map rule takes `{name}` from argument {arg}, but the job has {} \
                     argument(s)",
                    args.len()
                )),
            },
        }
    };
    let source_text = value("source", &rule.source)?.ok_or_else(|| {
        format!(
            "the --map rule for {}.{} gives no source",
            rule.type_name, rule.method
        )
    })?;
    let source = source_text
        .parse::<Source>()
        .map_err(|e| format!("{e}: jobintel does not scrape `{source_text}`"))?;
    let max_pages = match value("max_pages", &rule.max_pages)? {
        None => None,
        Some(n) => Some(
            n.trim()
                .parse::<u32>()
                .map_err(|_| format!("`max_pages` is `{n}`, not a whole number of pages"))?,
        ),
    };
    Ok((
        source,
        SearchParams {
            keywords: value("keywords", &rule.keywords)?,
            location: value("location", &rule.location)?,
            target: value("target", &rule.target)?,
            max_pages,
            country: value("country", &rule.country)?,
        },
    ))
}

/// The schedule definition `createSchedule` would be given for this job, with its defaults.
fn definition(
    name: &str,
    source: Source,
    params: SearchParams,
    cron: &str,
    tz: &str,
) -> ScheduleDef {
    ScheduleDef {
        name: name.to_owned(),
        source,
        params,
        cron: cron.to_owned(),
        timezone: tz.to_owned(),
        enabled: true,
        // createSchedule's defaults (see `CreateScheduleInput`).
        jitter_seconds: 0,
        overlap_policy: OverlapPolicy::Skip,
        misfire_policy: MisfirePolicy::FireOnce,
        max_attempts: 3,
        retry_backoff_seconds: 60,
    }
}

fn plan_one(
    job: &RecurringJob,
    map: Option<&JobMap>,
    engine: &EngineConfig,
    now: DateTime<Utc>,
) -> Result<Planned, String> {
    let cron = job
        .fields
        .get("Cron")
        .filter(|c| !c.trim().is_empty())
        .ok_or("it has no `Cron`")?;
    let (timezone, converted_from) = time_zone(job.fields.get("TimeZoneId").map(String::as_str))?;
    let invocation: Invocation = serde_json::from_str(
        job.fields
            .get("Job")
            .ok_or("it has no `Job` (invocation data)")?,
    )
    .map_err(|e| format!("its `Job` is not Hangfire invocation data: {e}"))?;
    let args = arguments(&invocation)?;
    let rule = map.and_then(|m| m.rule_for(&invocation.type_name, &invocation.method));
    let (source, params) = source_and_params(&args, rule)?;
    let def = definition(&job.id, source, params, cron, &timezone);
    // The same checks as createSchedule: name, the source's parameters, cron and time zone.
    let (params, spec) = schedules::validate(&def, engine).map_err(|e| e.message())?;
    Ok(Planned {
        name: def.name.trim().to_owned(),
        source,
        params,
        cron: spec.expr().to_owned(),
        timezone: spec.time_zone().name().to_owned(),
        converted_from,
        next_fires: spec.upcoming(now, PREVIEW_FIRES),
    })
}

/// Map every job (pure: no database).
pub fn plan(
    jobs: &[RecurringJob],
    map: Option<&JobMap>,
    engine: &EngineConfig,
    now: DateTime<Utc>,
) -> Plan {
    let mut out = Plan::default();
    for job in jobs {
        match plan_one(job, map, engine, now) {
            Ok(p) => out.planned.push(p),
            Err(reason) => out.skipped.push(Skipped {
                id: job.id.clone(),
                reason,
            }),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Writing

/// What [`apply`] did (or, in a dry run, would do) to one planned schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Unchanged,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
        }
    }
}

fn action_for(p: &Planned, existing: Option<&schedule::Model>) -> Action {
    let Some(s) = existing else {
        return Action::Create;
    };
    let params: SearchParams = serde_json::from_value(s.params.clone()).unwrap_or_default();
    if s.source == p.source && params == p.params && s.cron == p.cron && s.timezone == p.timezone {
        Action::Unchanged
    } else {
        Action::Update
    }
}

/// Existing schedules by name.
async fn existing_by_name(
    db: &impl ConnectionTrait,
) -> Result<HashMap<String, schedule::Model>, DbErr> {
    Ok(schedule::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect())
}

/// What each planned schedule would undergo, without writing. A database whose schedules cannot
/// be read (a dry run against one jobintel has not migrated yet) has none: all are created.
pub async fn preview(db: &impl ConnectionTrait, plan: &Plan) -> Vec<Action> {
    let existing = existing_by_name(db).await.unwrap_or_default();
    plan.planned
        .iter()
        .map(|p| action_for(p, existing.get(&p.name)))
        .collect()
}

/// Create or update every planned schedule by name, in one transaction. New schedules are
/// disabled when `paused`; existing ones keep their enabled state (an operator who resumed
/// one after a paused import does not find it paused again). A schedule whose definition
/// already matches is not written at all, so a second import changes nothing.
pub async fn apply<C>(
    db: &C,
    plan: &Plan,
    paused: bool,
    engine: &EngineConfig,
    now: DateTime<Utc>,
    wake: &Wakeups,
) -> Result<Vec<Action>, HangfireError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await.map_err(ApiError::from)?;
    let existing = existing_by_name(&txn).await.map_err(ApiError::from)?;
    let mut actions = Vec::with_capacity(plan.planned.len());
    for p in &plan.planned {
        let current = existing.get(&p.name);
        let action = action_for(p, current);
        match (action, current) {
            (Action::Create, _) => {
                let mut def = definition(&p.name, p.source, p.params.clone(), &p.cron, &p.timezone);
                def.enabled = !paused;
                schedules::create(&txn, def, engine, now, wake).await?;
            }
            (Action::Update, Some(s)) => {
                // An empty string clears a parameter the job no longer gives.
                let text = |v: &Option<String>| Some(v.clone().unwrap_or_default());
                let patch = SchedulePatch {
                    source: Some(p.source),
                    keywords: text(&p.params.keywords),
                    location: text(&p.params.location),
                    target: text(&p.params.target),
                    country: text(&p.params.country),
                    max_pages: p.params.max_pages,
                    // A job that no longer gives max pages: the schedule no longer has one
                    // (else every re-import would report it updated).
                    clear_max_pages: p.params.max_pages.is_none(),
                    cron: Some(p.cron.clone()),
                    timezone: Some(p.timezone.clone()),
                    ..SchedulePatch::default()
                };
                schedules::update(&txn, s.id, patch, engine, now, wake).await?;
            }
            _ => {}
        }
        actions.push(action);
    }
    txn.commit().await.map_err(ApiError::from)?;
    Ok(actions)
}

// ---------------------------------------------------------------------------------------------
// The whole import, and its report

/// What to import and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Hangfire database (PostgreSQL URL).
    pub from: String,
    pub schema: String,
    pub map: Option<JobMap>,
    pub dry_run: bool,
    pub paused: bool,
}

/// The outcome: each planned schedule with what was done to it, and the skipped jobs.
#[derive(Debug, Clone)]
pub struct Report {
    pub plan: Plan,
    /// One per `plan.planned`, in order.
    pub actions: Vec<Action>,
    pub dry_run: bool,
    pub paused: bool,
}

impl Report {
    pub fn count(&self, action: Action) -> usize {
        self.actions.iter().filter(|a| **a == action).count()
    }
}

/// Read, plan and (unless `dry_run`) apply: what `jobintel import hangfire` does.
pub async fn import<C>(
    target: &C,
    options: &Options,
    engine: &EngineConfig,
    now: DateTime<Utc>,
    wake: &Wakeups,
) -> Result<Report, HangfireError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let source = connect_source(&options.from).await?;
    let jobs = read_jobs(&source, &options.schema).await;
    source.close().await.ok();
    let plan = plan(&jobs?, options.map.as_ref(), engine, now);
    let actions = if options.dry_run {
        preview(target, &plan).await
    } else {
        apply(target, &plan, options.paused, engine, now, wake).await?
    };
    Ok(Report {
        plan,
        actions,
        dry_run: options.dry_run,
        paused: options.paused,
    })
}

fn params_text(p: &SearchParams) -> String {
    let mut parts = Vec::new();
    for (name, v) in [
        ("keywords", &p.keywords),
        ("location", &p.location),
        ("target", &p.target),
        ("country", &p.country),
    ] {
        if let Some(v) = v {
            parts.push(format!("{name}={v}"));
        }
    }
    if let Some(n) = p.max_pages {
        parts.push(format!("maxPages={n}"));
    }
    parts.join(" ")
}

/// The report as text: a table of schedules (with their next fires in a dry run), the skipped
/// jobs with their reasons, and a summary line.
pub fn render(report: &Report) -> String {
    let mut rows: Vec<[String; 6]> = vec![[
        "NAME".into(),
        "ACTION".into(),
        "SOURCE".into(),
        "PARAMS".into(),
        "CRON".into(),
        "TIME ZONE".into(),
    ]];
    for (p, a) in report.plan.planned.iter().zip(&report.actions) {
        let tz = match &p.converted_from {
            Some(w) => format!("{} (from {w})", p.timezone),
            None => p.timezone.clone(),
        };
        rows.push([
            p.name.clone(),
            a.as_str().into(),
            p.source.as_str().into(),
            params_text(&p.params),
            p.cron.clone(),
            tz,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
        }
        if report.dry_run {
            let fires = match i {
                0 => "NEXT FIRES (UTC)".to_owned(),
                _ => report.plan.planned[i - 1]
                    .next_fires
                    .iter()
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            line.push_str(&fires);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !report.plan.skipped.is_empty() {
        let _ = writeln!(out, "\n{} job(s) not imported:", report.plan.skipped.len());
        for s in &report.plan.skipped {
            let _ = writeln!(out, "  {}: {}", s.id, s.reason);
        }
    }
    let (created, updated, unchanged, skipped) = (
        report.count(Action::Create),
        report.count(Action::Update),
        report.count(Action::Unchanged),
        report.plan.skipped.len(),
    );
    let _ = if report.dry_run {
        writeln!(
            out,
            "\ndry run, nothing written: would create {created}, update {updated}, leave \
             {unchanged} unchanged; {skipped} skipped"
        )
    } else {
        let paused = if report.paused && created > 0 {
            " (new ones paused)"
        } else {
            ""
        };
        writeln!(
            out,
            "\ncreated {created}{paused}, updated {updated}, unchanged {unchanged}; {skipped} \
             skipped"
        )
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, fields: &[(&str, &str)]) -> RecurringJob {
        RecurringJob {
            id: id.into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-12-01T00:00:00Z".parse().unwrap()
    }

    const SEEK_JOB: &str = r#"{"Type":"OldApi.Jobs.ScrapeJob, OldApi","Method":"Run","ParameterTypes":"[\"System.String\",\"System.String\",\"System.String\"]","Arguments":"[\"\\\"seek\\\"\",\"\\\"rust developer\\\"\",\"\\\"Sydney\\\"\"]"}"#;

    #[test]
    fn the_default_rule_takes_the_source_then_keywords_then_location() {
        let j = job(
            "seek-rust",
            &[
                ("Cron", "0 6 * * *"),
                ("TimeZoneId", "AUS Eastern Standard Time"),
                ("Job", SEEK_JOB),
            ],
        );
        let plan = plan(&[j], None, &EngineConfig::default(), now());
        assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
        let p = &plan.planned[0];
        assert_eq!(p.source, Source::Seek);
        assert_eq!(p.params.keywords.as_deref(), Some("rust developer"));
        assert_eq!(p.params.location.as_deref(), Some("Sydney"));
        assert_eq!(p.timezone, "Australia/Sydney");
        assert_eq!(
            p.converted_from.as_deref(),
            Some("AUS Eastern Standard Time")
        );
        assert_eq!(p.next_fires.len(), PREVIEW_FIRES);
        // 06:00 in Sydney (UTC+11 in December) is 19:00 UTC the day before.
        assert_eq!(p.next_fires[0].to_rfc3339(), "2026-12-01T19:00:00+00:00");
    }

    #[test]
    fn the_compact_invocation_format_of_hangfire_1_7_is_read_too() {
        let compact = r#"{"t":"OldApi.Jobs.ScrapeJob, OldApi","m":"Run","p":["System.String"],"a":["\"indeed\"","\"data engineer\"","5"]}"#;
        let j = job("indeed", &[("Cron", "*/30 * * * *"), ("Job", compact)]);
        let plan = plan(&[j], None, &EngineConfig::default(), now());
        let p = &plan.planned[0];
        assert_eq!(p.source, Source::Indeed);
        assert_eq!(p.params.keywords.as_deref(), Some("data engineer"));
        assert_eq!(p.params.location, None, "a number is not a location");
        assert_eq!(p.timezone, "UTC");
    }

    #[test]
    fn a_mapping_file_picks_arguments_and_fixed_values_by_type_and_method() {
        let map = JobMap::parse(
            r#"
            [[job]]
            type = "OldApi.Jobs.BoardJob"
            method = "Sync"
            source = "greenhouse"
            target = { arg = 1 }
            max_pages = { arg = 0 }
            "#,
        )
        .unwrap();
        let invocation = r#"{"t":"OldApi.Jobs.BoardJob, OldApi, Version=1.0.0.0","m":"Sync","a":["2","\"acme\""]}"#;
        let j = job("acme-board", &[("Cron", "0 * * * *"), ("Job", invocation)]);
        let plan = plan(&[j], Some(&map), &EngineConfig::default(), now());
        assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
        let p = &plan.planned[0];
        assert_eq!(p.source, Source::Greenhouse);
        assert_eq!(p.params.target.as_deref(), Some("acme"));
        assert_eq!(p.params.max_pages, Some(2));
    }

    #[test]
    fn unknown_fields_in_a_mapping_file_are_refused() {
        let err = JobMap::parse("[[job]]\ntype = \"T\"\nmethod = \"M\"\nkeyword = { arg = 1 }\n")
            .unwrap_err();
        assert!(err.contains("keyword"), "{err}");
    }

    #[test]
    fn jobs_that_cannot_be_mapped_are_skipped_with_the_reason() {
        let args = |a: &str| format!(r#"{{"t":"T","m":"M","a":{a}}}"#);
        let jobs = [
            job(
                "bad-cron",
                &[("Cron", "0 25 * * *"), ("Job", &args(r#"["\"seek\""]"#))],
            ),
            job(
                "no-source",
                &[("Cron", "0 6 * * *"), ("Job", &args(r#"["\"monster\""]"#))],
            ),
            job(
                "mars",
                &[
                    ("Cron", "0 6 * * *"),
                    ("TimeZoneId", "Mars Standard Time"),
                    ("Job", &args(r#"["\"seek\""]"#)),
                ],
            ),
            job("no-cron", &[("Job", &args("[]"))]),
            job(
                "lever-without-target",
                &[("Cron", "0 6 * * *"), ("Job", &args(r#"["\"lever\""]"#))],
            ),
        ];
        let plan = plan(&jobs, None, &EngineConfig::default(), now());
        assert!(plan.planned.is_empty());
        let reason = |id: &str| {
            plan.skipped
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.reason.clone())
                .unwrap()
        };
        assert!(reason("bad-cron").contains("invalid cron expression"));
        assert!(reason("no-source").contains("no argument names a source"));
        assert!(reason("mars").contains("Mars Standard Time"));
        assert!(reason("no-cron").contains("no `Cron`"));
        assert!(reason("lever-without-target").contains("target"));
    }
}

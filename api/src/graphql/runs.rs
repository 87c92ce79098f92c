//! Ingest runs: the `IngestRun` type and the queries that read runs.

use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::ingest_run;

use super::ApiContext;
use super::auth::require_reader;
use super::ids;
use super::types::Source;
use crate::service;

/// Lifecycle of an ingest run.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::RunStatus")]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    Running,
    Succeeded,
    Failed,
    /// The site answered with a bot challenge; the run stopped instead of retrying into it.
    Blocked,
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
}

/// One ingest run, from queued to a terminal status, with its counters.
pub struct IngestRun(pub ingest_run::Model);

#[Object]
impl IngestRun {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        ID(ids::encode("IngestRun", self.0.id))
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn source(&self) -> Source {
        self.0.source.into()
    }
    /// The run's parameters: keywords, location, target, maxPages, country.
    async fn params(&self) -> &serde_json::Value {
        &self.0.params
    }
    async fn trigger(&self) -> RunTrigger {
        self.0.trigger.into()
    }
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
    async fn queued_at(&self) -> DateTime<Utc> {
        self.0.queued_at
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
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
    async fn jobs_found(&self) -> i32 {
        self.0.jobs_found
    }
    async fn jobs_new(&self) -> i32 {
        self.0.jobs_new
    }
    async fn jobs_updated(&self) -> i32 {
        self.0.jobs_updated
    }
    async fn jobs_unchanged(&self) -> i32 {
        self.0.jobs_unchanged
    }
    /// Why it did not succeed.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
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
}

//! `ingest_runs`: one row per run, from `queued` to a terminal status, with its counters.

use sea_orm::entity::prelude::*;

use crate::enums::{RunStatus, RunTrigger, Source};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ingest_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub source: Source,
    /// JSON: keywords, location, target, max_pages, country, …
    pub params: Json,
    pub trigger: RunTrigger,
    pub schedule_id: Option<i64>,
    /// The cron occurrence this run was fired for; unique with `schedule_id`.
    pub scheduled_for: Option<DateTimeUtc>,
    pub status: RunStatus,
    pub attempt: i32,
    pub queued_at: DateTimeUtc,
    /// Earliest time a worker may claim it (retries with backoff set it in the future).
    pub run_after: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub heartbeat_at: Option<DateTimeUtc>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub pages_fetched: i32,
    pub requests: i32,
    pub http_errors: i32,
    pub jobs_found: i32,
    pub jobs_new: i32,
    pub jobs_updated: i32,
    pub jobs_unchanged: i32,
    /// Descriptions cut at the size cap (`ingest::normalize::DESCRIPTION_MAX_BYTES`).
    pub descriptions_truncated: i32,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::schedule::Entity",
        from = "Column::ScheduleId",
        to = "super::schedule::Column::Id",
        on_delete = "SetNull"
    )]
    Schedule,
}

impl Related<super::schedule::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Schedule.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

//! `instances`: one row per serving `jobintel` process sharing the database, kept alive by its
//! heartbeat and removed on graceful shutdown (or, once stale, by housekeeping).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "instances")]
pub struct Model {
    /// The name the process uses as lease owner of the runs it executes
    /// (`ingest_runs.lease_owner`): `JOBINTEL_INSTANCE_ID`, else `host:pid`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The binary's version (`CARGO_PKG_VERSION`).
    pub version: String,
    pub hostname: Option<String>,
    pub pid: Option<i32>,
    pub started_at: DateTimeUtc,
    /// Last sign of life; rows older than the stale bound are dropped by housekeeping.
    pub heartbeat_at: DateTimeUtc,
    /// Runs executing in the process at the last heartbeat.
    pub busy_workers: i32,
    /// `JOBINTEL_WORKERS`, or 0 when the process runs no scheduler (API only).
    pub total_workers: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

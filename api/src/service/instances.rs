//! The `instances` table: every serving `jobintel` process sharing the database, as the
//! console's Instances page shows them (Hangfire's "Servers").
//!
//! A process registers at start-up ([`register`]), refreshes its heartbeat and worker counts
//! every [`HEARTBEAT_EVERY`] ([`heartbeat`]), and deregisters on graceful shutdown
//! ([`deregister`]); a process that died without deregistering (`kill -9`, OOM, a lost host)
//! is dropped once its heartbeat is older than [`STALE_AFTER`] ([`drop_stale`], called by
//! housekeeping and by every live instance's heartbeat). The loop that does this is
//! [`crate::presence`]. One-shot commands (`ingest`, `import`, `export`) do not register: they
//! are not servers and would only leave short-lived rows behind.
//!
//! Every timestamp comes from the caller's clock (the database clock in production), so
//! instances whose OS clocks disagree still agree on which rows are stale.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use entity::instance::{self, Column, Entity};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use crate::error::ApiResult;

/// How often a serving process refreshes its row.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);

/// A row whose heartbeat is older than this belongs to a process that is gone. Eight missed
/// heartbeats: a live instance stalled by a slow database or a busy
/// host is not dropped (it would re-register at its next beat anyway), and a dead one leaves
/// the console within about two minutes.
pub const STALE_AFTER: TimeDelta = TimeDelta::minutes(2);

/// What a process says about itself when it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// Its lease-owner name (`JOBINTEL_INSTANCE_ID`, else `host:pid`).
    pub id: String,
    pub version: String,
    pub hostname: Option<String>,
    pub pid: Option<i32>,
    /// `JOBINTEL_WORKERS`, or 0 without a scheduler.
    pub total_workers: i32,
}

impl InstanceInfo {
    /// This process, registered as `id`.
    pub fn this_process(id: String, total_workers: u32) -> Self {
        InstanceInfo {
            id,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            hostname: crate::config::hostname(),
            pid: i32::try_from(std::process::id()).ok(),
            total_workers: i32::try_from(total_workers).unwrap_or(i32::MAX),
        }
    }
}

/// Insert this process's row, started and alive at `now`. A row left under the same id (a
/// restart with a fixed `JOBINTEL_INSTANCE_ID` before housekeeping dropped the old one) is
/// taken over.
pub async fn register(
    db: &impl ConnectionTrait,
    info: &InstanceInfo,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let row = instance::ActiveModel {
        id: Set(info.id.clone()),
        version: Set(info.version.clone()),
        hostname: Set(info.hostname.clone()),
        pid: Set(info.pid),
        started_at: Set(now),
        heartbeat_at: Set(now),
        busy_workers: Set(0),
        total_workers: Set(info.total_workers),
    };
    Entity::insert(row)
        .on_conflict(
            OnConflict::column(Column::Id)
                .update_columns([
                    Column::Version,
                    Column::Hostname,
                    Column::Pid,
                    Column::StartedAt,
                    Column::HeartbeatAt,
                    Column::BusyWorkers,
                    Column::TotalWorkers,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Refresh the heartbeat and worker counts. `false` when the row is gone (dropped as stale
/// while this process was stalled): the caller registers again.
pub async fn heartbeat(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
    busy_workers: u32,
    total_workers: u32,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::HeartbeatAt, Expr::value(now))
        .col_expr(
            Column::BusyWorkers,
            Expr::value(i32::try_from(busy_workers).unwrap_or(i32::MAX)),
        )
        .col_expr(
            Column::TotalWorkers,
            Expr::value(i32::try_from(total_workers).unwrap_or(i32::MAX)),
        )
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Remove this process's row (graceful shutdown).
pub async fn deregister(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(())
}

/// Drop rows whose heartbeat is older than [`STALE_AFTER`] before `now`. Returns how many.
pub async fn drop_stale(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let res = Entity::delete_many()
        .filter(Column::HeartbeatAt.lt(now - STALE_AFTER))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Every registered process, newest start first (ties by id, so the order is stable).
pub async fn list(db: &impl ConnectionTrait) -> ApiResult<Vec<instance::Model>> {
    Ok(Entity::find()
        .order_by_desc(Column::StartedAt)
        .order_by_asc(Column::Id)
        .all(db)
        .await?)
}

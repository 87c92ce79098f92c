//! Reading ingest runs: by id, many ids at once (for the DataLoader), and newest-first pages.

use entity::ingest_run::{self, Column, Entity};
use entity::{RunStatus, RunTrigger, Source};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::error::ApiResult;

pub async fn get(db: &impl ConnectionTrait, id: i64) -> ApiResult<Option<ingest_run::Model>> {
    Ok(Entity::find_by_id(id).one(db).await?)
}

/// Runs by id, in no particular order; ids that don't exist are simply absent.
pub async fn get_many(db: &impl ConnectionTrait, ids: &[i64]) -> ApiResult<Vec<ingest_run::Model>> {
    let mut out = Vec::with_capacity(ids.len());
    // Stay far below SQLite's bound-parameter limit.
    for chunk in ids.chunks(500) {
        out.extend(
            Entity::find()
                .filter(Column::Id.is_in(chunk.iter().copied()))
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

/// Which runs to list; parts are AND-combined, empty lists mean "no constraint".
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub statuses: Vec<RunStatus>,
    pub sources: Vec<Source>,
    pub triggers: Vec<RunTrigger>,
    pub schedule_id: Option<i64>,
}

/// Newest first (highest id first: ids grow with queueing time), keyset-paginated on id.
/// Returns up to `limit + 1` rows so the caller can tell whether there is a next page.
pub async fn page(
    db: &impl ConnectionTrait,
    filter: &RunFilter,
    before_id: Option<i64>,
    limit: u64,
) -> ApiResult<Vec<ingest_run::Model>> {
    let mut q = Entity::find().order_by_desc(Column::Id).limit(limit + 1);
    if let Some(id) = before_id {
        q = q.filter(Column::Id.lt(id));
    }
    if !filter.statuses.is_empty() {
        q = q.filter(Column::Status.is_in(filter.statuses.iter().copied()));
    }
    if !filter.sources.is_empty() {
        q = q.filter(Column::Source.is_in(filter.sources.iter().copied()));
    }
    if !filter.triggers.is_empty() {
        q = q.filter(Column::Trigger.is_in(filter.triggers.iter().copied()));
    }
    if let Some(s) = filter.schedule_id {
        q = q.filter(Column::ScheduleId.eq(s));
    }
    Ok(q.all(db).await?)
}

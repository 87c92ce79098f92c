//! Reading ingest runs.

use entity::ingest_run::{self, Entity};
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::error::ApiResult;

pub async fn get(db: &impl ConnectionTrait, id: i64) -> ApiResult<Option<ingest_run::Model>> {
    Ok(Entity::find_by_id(id).one(db).await?)
}

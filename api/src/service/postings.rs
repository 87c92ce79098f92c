//! Reading job postings.

use entity::job_posting::{self, Column, Entity};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::error::ApiResult;

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;

pub async fn get(db: &impl ConnectionTrait, id: i64) -> ApiResult<Option<job_posting::Model>> {
    Ok(Entity::find_by_id(id).one(db).await?)
}

/// Newest-ingested first, keyset-paginated on `id` so concurrent inserts never shift a page.
/// Returns up to `limit + 1` rows so the caller can tell whether there is a next page.
pub async fn page_by_id_desc(
    db: &impl ConnectionTrait,
    before_id: Option<i64>,
    limit: u64,
) -> ApiResult<Vec<job_posting::Model>> {
    let mut q = Entity::find().order_by_desc(Column::Id).limit(limit + 1);
    if let Some(id) = before_id {
        q = q.filter(Column::Id.lt(id));
    }
    Ok(q.all(db).await?)
}

pub async fn count_all(db: &impl ConnectionTrait) -> ApiResult<u64> {
    Ok(Entity::find().count(db).await?)
}

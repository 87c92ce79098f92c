//! A posting's history (`posting_history`), newest first.

use entity::posting_history;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::error::ApiResult;

/// Up to `limit + 1` entries of `posting_id` older than `before_id` (the extra one says there
/// is a next page), newest first: an index range scan on `idx_posting_history_posting`.
pub async fn page(
    db: &impl ConnectionTrait,
    posting_id: i64,
    before_id: Option<i64>,
    limit: u64,
) -> ApiResult<Vec<posting_history::Model>> {
    let mut q = posting_history::Entity::find()
        .filter(posting_history::Column::PostingId.eq(posting_id))
        .order_by_desc(posting_history::Column::Id)
        .limit(limit + 1);
    if let Some(id) = before_id {
        q = q.filter(posting_history::Column::Id.lt(id));
    }
    Ok(q.all(db).await?)
}

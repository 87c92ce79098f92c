//! A posting's history (`posting_history`), newest first.

use std::collections::HashMap;

use entity::posting_history;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

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

/// The newest `limit` entries of each of `posting_ids` (newest first; an empty list for a
/// posting without any), in one statement: `JobPosting.history` on a page of postings is
/// one query, not one per posting. `ROW_NUMBER()` per posting over
/// `idx_posting_history_posting`; the per-posting cap bounds what each posting adds.
pub async fn newest_many(
    db: &impl ConnectionTrait,
    posting_ids: &[i64],
    limit: u64,
) -> ApiResult<HashMap<i64, Vec<posting_history::Model>>> {
    let mut out: HashMap<i64, Vec<posting_history::Model>> =
        posting_ids.iter().map(|id| (*id, Vec::new())).collect();
    let backend = db.get_database_backend();
    // Pages hold at most 100 postings; the chunk keeps any caller under both databases'
    // parameter limits.
    for chunk in posting_ids.chunks(500) {
        let (cond, values) = ingest::store::ids_in(backend, "posting_id", chunk, 1);
        let sql = format!(
            "SELECT id, posting_id, run_id, kind, changes, changed_at FROM \
             (SELECT id, posting_id, run_id, kind, changes, changed_at, \
             ROW_NUMBER() OVER (PARTITION BY posting_id ORDER BY id DESC) AS rn \
             FROM posting_history WHERE {cond}) AS h \
             WHERE rn <= {limit} ORDER BY posting_id, id DESC"
        );
        let rows = posting_history::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
            .all(db)
            .await?;
        for row in rows {
            out.entry(row.posting_id).or_default().push(row);
        }
    }
    Ok(out)
}

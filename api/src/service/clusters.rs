//! Posting clusters (the same job on several boards), as the ingest keeps them
//! (`ingest::store::cluster`): a cluster's id is its first-stored member's id; the others point
//! to it through `cluster_id`.

use std::collections::HashMap;

use entity::Source;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::error::ApiResult;

/// Most members `cluster.postings` returns (its `limit` is clamped to this).
pub const MAX_CLUSTER_POSTINGS: usize = 100;

/// One member of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: i64,
    pub source: Source,
    pub url: String,
}

/// A cluster: how many postings it has, and the first [`MAX_CLUSTER_POSTINGS`] of them in the
/// order they were stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    pub size: i64,
    pub members: Vec<Member>,
}

/// The clusters `roots` (cluster ids), in one statement per 500: both halves of the `OR` use
/// an index (the primary key, the partial `idx_job_postings_cluster`). A cluster that does not
/// exist (its root deleted) is missing from the map.
pub async fn get_many(
    db: &impl ConnectionTrait,
    roots: &[i64],
) -> ApiResult<HashMap<i64, Cluster>> {
    let mut out: HashMap<i64, Cluster> = HashMap::with_capacity(roots.len());
    let backend = db.get_database_backend();
    for chunk in roots.chunks(500) {
        // Bound, with a statement text per padded size: ids written into the SQL made every
        // request's statement new to the driver's statement cache, evicting others.
        let (by_id, mut values) = ingest::store::ids_in(backend, "id", chunk, 1);
        let (by_cluster, again) = ingest::store::ids_in(backend, "cluster_id", chunk, 1);
        if backend != DbBackend::Postgres {
            values.extend(again);
        }
        let sql = format!(
            "SELECT root, id, source, url, n FROM ( \
             SELECT COALESCE(cluster_id, id) AS root, id, source, url, \
             ROW_NUMBER() OVER (PARTITION BY COALESCE(cluster_id, id) ORDER BY id) AS rn, \
             COUNT(*) OVER (PARTITION BY COALESCE(cluster_id, id)) AS n \
             FROM job_postings WHERE {by_id} OR {by_cluster}) AS m \
             WHERE rn <= {MAX_CLUSTER_POSTINGS} ORDER BY root, id"
        );
        for r in db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?
        {
            let root: i64 = r.try_get("", "root")?;
            let c = out.entry(root).or_default();
            c.size = r.try_get("", "n")?;
            c.members.push(Member {
                id: r.try_get("", "id")?,
                source: r.try_get("", "source")?,
                url: r.try_get("", "url")?,
            });
        }
    }
    // A root asked for whose row is gone while members remain cannot happen (a split re-roots
    // in the same transaction); a root not asked for (a member's id) is dropped here.
    out.retain(|root, _| roots.contains(root));
    Ok(out)
}

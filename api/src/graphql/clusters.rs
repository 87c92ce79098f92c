//! `JobPosting.cluster`: the same job on several boards (issue #15).

use async_graphql::{Context, ID, Object, Result};

use super::ids;
use super::loaders::Loaders;
use super::types::Source;
use crate::service::clusters::{Cluster, MAX_CLUSTER_POSTINGS, Member};

/// Postings of one job on several boards: the same company (legal suffixes, case and
/// punctuation aside; never an unknown one), a matching title, a compatible place and date,
/// and a near-identical description. Kept by the ingest as postings are stored: a posting can
/// join, and a re-worded one leaves.
pub struct PostingCluster {
    pub id: i64,
    pub cluster: Cluster,
}

#[Object]
impl PostingCluster {
    /// Opaque ID of the cluster (stable while its first-stored posting stays in it).
    async fn id(&self) -> ID {
        ID(ids::encode("PostingCluster", self.id))
    }
    /// How many postings it has (1: the posting is alone).
    async fn size(&self) -> i64 {
        self.cluster.size
    }
    /// Its postings in the order they were first stored (the first is the one
    /// `JobPostingFilter.distinct` returns); at most `limit` (≤ 100).
    async fn postings(
        &self,
        #[graphql(default = 20, desc = "At most this many (1–100).")] limit: i32,
    ) -> Vec<ClusterPosting> {
        let n = usize::try_from(limit)
            .unwrap_or(1)
            .clamp(1, MAX_CLUSTER_POSTINGS);
        self.cluster
            .members
            .iter()
            .take(n)
            .cloned()
            .map(ClusterPosting)
            .collect()
    }
}

/// A posting of a cluster: enough to link to it (`node(id:)` returns the whole posting).
pub struct ClusterPosting(Member);

#[Object]
impl ClusterPosting {
    /// The posting's global ID (as `JobPosting.id`).
    async fn id(&self) -> ID {
        ID(ids::encode("JobPosting", self.0.id))
    }
    /// Where it was posted.
    async fn source(&self) -> Source {
        self.0.source
    }
    /// The posting's page at the source.
    async fn url(&self) -> &str {
        &self.0.url
    }
}

/// The cluster of posting `id` whose `cluster_id` is `cluster_id`, through the request's loader.
pub async fn load(ctx: &Context<'_>, id: i64, cluster_id: Option<i64>) -> Result<PostingCluster> {
    let root = cluster_id.unwrap_or(id);
    let loaders = ctx.data::<Loaders>()?;
    let cluster = loaders.clusters.load_one(root).await?.unwrap_or_default();
    Ok(PostingCluster { id: root, cluster })
}

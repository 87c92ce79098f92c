//! DataLoaders: fields that would otherwise cost one query per row batch their keys into one
//! query. `JobPosting.firstRun` / `lastRun` on a page of 100 postings is one `IN (…)` query,
//! not 200 lookups.
//!
//! Each operation gets fresh loaders (inserted by [`super::executor::GraphqlExecutor`]) whose
//! cache lives as long as the operation: a run's counters change while it runs, and a cache
//! shared across requests would serve stale ones. Connection resolvers *prime* the loader with every run their page
//! refers to, so the count of statements does not depend on how fast the executor happens to
//! walk the page (the loader's 1 ms batching window is a race on a busy machine).

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::{ingest_run, posting_history};
use sea_orm::DatabaseConnection;

use crate::service;

/// Ingest runs by database id.
pub struct RunLoader {
    db: DatabaseConnection,
}

impl Loader<i64> for RunLoader {
    type Value = ingest_run::Model;
    /// Already mapped to a client-safe GraphQL error (details logged).
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let runs = service::runs::get_many(&self.db, keys).await?;
        Ok(runs.into_iter().map(|r| (r.id, r)).collect())
    }
}

/// Posting clusters by cluster id: `JobPosting.cluster` on a page of 100 postings is one query.
pub struct ClusterLoader {
    db: DatabaseConnection,
}

impl Loader<i64> for ClusterLoader {
    type Value = service::clusters::Cluster;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        Ok(service::clusters::get_many(&self.db, keys).await?)
    }
}

/// The newest entries of postings' history, by `(posting id, how many)`: `JobPosting.history`
/// (without `after`) on a page of postings is one query. Every requested key gets a value
/// (empty for a posting without history), so the cache answers each later lookup.
pub struct HistoryLoader {
    db: DatabaseConnection,
}

impl Loader<(i64, u64)> for HistoryLoader {
    type Value = Vec<posting_history::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[(i64, u64)],
    ) -> Result<HashMap<(i64, u64), Self::Value>, Self::Error> {
        let mut by_limit: HashMap<u64, Vec<i64>> = HashMap::new();
        for (id, limit) in keys {
            by_limit.entry(*limit).or_default().push(*id);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (limit, ids) in by_limit {
            for (id, rows) in service::history::newest_many(&self.db, &ids, limit).await? {
                out.insert((id, limit), rows);
            }
        }
        Ok(out)
    }
}

/// Every loader of one request, as request data.
pub struct Loaders {
    pub runs: DataLoader<RunLoader, HashMapCache>,
    pub clusters: DataLoader<ClusterLoader, HashMapCache>,
    pub history: DataLoader<HistoryLoader, HashMapCache>,
}

impl Loaders {
    /// Loaders for one operation. A subscription's (`per_event`) keep nothing between its
    /// events: they live as long as the subscription, and a posting's history, cluster or runs
    /// change between two of its events (batching within one event still applies).
    pub fn for_operation(db: DatabaseConnection, per_event: bool) -> Self {
        let loaders = Loaders::new(db);
        if per_event {
            loaders.runs.enable_all_cache(false);
            loaders.clusters.enable_all_cache(false);
            loaders.history.enable_all_cache(false);
        }
        loaders
    }

    pub fn new(db: DatabaseConnection) -> Self {
        Loaders {
            clusters: DataLoader::with_cache(
                ClusterLoader { db: db.clone() },
                tokio::spawn,
                HashMapCache::default(),
            ),
            history: DataLoader::with_cache(
                HistoryLoader { db: db.clone() },
                tokio::spawn,
                HashMapCache::default(),
            ),
            runs: DataLoader::with_cache(RunLoader { db }, tokio::spawn, HashMapCache::default()),
        }
    }
}

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
use entity::ingest_run;
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

/// Every loader of one request, as request data.
pub struct Loaders {
    pub runs: DataLoader<RunLoader, HashMapCache>,
    pub clusters: DataLoader<ClusterLoader, HashMapCache>,
}

impl Loaders {
    pub fn new(db: DatabaseConnection) -> Self {
        Loaders {
            clusters: DataLoader::with_cache(
                ClusterLoader { db: db.clone() },
                tokio::spawn,
                HashMapCache::default(),
            ),
            runs: DataLoader::with_cache(RunLoader { db }, tokio::spawn, HashMapCache::default()),
        }
    }
}

//! Posting clusters (issue #15): the same job on several boards.
//!
//! Four columns on `job_postings`, kept by the ingest on every upsert inside the page's
//! transaction (`ingest::store::cluster`):
//! - `company_key`, `title_key`: the normalised company and title (`ingest::normalize::
//!   cluster_keys`); `idx_job_postings_cluster_candidates` on them makes finding a posting's
//!   candidates one indexed lookup. Partial (`company_key IS NOT NULL`): postings of unknown
//!   companies are never candidates and cost the index nothing.
//! - `simhash`: the description's SimHash (decides among candidates).
//! - `cluster_id`: the id of the cluster's first-stored member, NULL on that member itself and
//!   on postings alone, so a new posting that starts its own cluster writes nothing extra and
//!   `idx_job_postings_cluster` (partial) only holds postings that joined another.
//!
//! Backfill is lazy: existing rows keep NULL keys (each its own cluster) until the ingest
//! stores them again with a change, or housekeeping's `cluster::backfill` reaches them — a
//! migration cannot run the Rust normalisation, and filling 100,000 rows here would hold the
//! start-up.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "ALTER TABLE job_postings ADD COLUMN company_key VARCHAR(255) NULL",
    "ALTER TABLE job_postings ADD COLUMN title_key VARCHAR(255) NULL",
    "ALTER TABLE job_postings ADD COLUMN simhash BIGINT NULL",
    "ALTER TABLE job_postings ADD COLUMN cluster_id BIGINT NULL",
    "CREATE INDEX IF NOT EXISTS idx_job_postings_cluster_candidates \
     ON job_postings (company_key, title_key, id) WHERE company_key IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS idx_job_postings_cluster \
     ON job_postings (cluster_id) WHERE cluster_id IS NOT NULL",
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_job_postings_cluster",
    "DROP INDEX IF EXISTS idx_job_postings_cluster_candidates",
    "ALTER TABLE job_postings DROP COLUMN cluster_id",
    "ALTER TABLE job_postings DROP COLUMN simhash",
    "ALTER TABLE job_postings DROP COLUMN title_key",
    "ALTER TABLE job_postings DROP COLUMN company_key",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, DOWN).await
    }
}

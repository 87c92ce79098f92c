//! PostgreSQL: the cluster candidates index on a 64-bit hash of the two keys (issue #15,
//! ingest overhead).
//!
//! 000012's `idx_job_postings_cluster_candidates (company_key, title_key, id)` held both text
//! keys in every entry. A scheduled scrape's commonest write, a sighting of an unchanged
//! posting, sets `last_seen_at` and `last_run_id`, which other indexes hold, so it is never a
//! HOT update: every index of `job_postings` gets a new entry, this one included — and a new
//! posting's entry lands at a random place in it. `idx_job_postings_cluster_hash` holds
//! `hashtextextended(company_key || '|' || title_key, 0)` and the id instead (16 bytes a
//! key); the lookup (`ingest::store::cluster`, `PG_KEYS_HASH`) probes it with the same
//! expression and checks the keys themselves on the rows it finds. An expression index needs
//! no new column and no backfill: building it reads the keys already stored.
//!
//! SQLite has no hash function to index; it keeps 000014's covering index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_job_postings_cluster_hash ON job_postings \
     (hashtextextended(company_key || '|' || title_key, 0), id) WHERE company_key IS NOT NULL",
    "DROP INDEX IF EXISTS idx_job_postings_cluster_candidates",
];

const POSTGRES_DOWN: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_job_postings_cluster_candidates \
     ON job_postings (company_key, title_key, id) WHERE company_key IS NOT NULL",
    "DROP INDEX IF EXISTS idx_job_postings_cluster_hash",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::postgres_only(manager, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::postgres_only(manager, POSTGRES_DOWN).await
    }
}

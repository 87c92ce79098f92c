//! SQLite: the cluster candidate lookup reads only its index (issue #15, ingest overhead).
//!
//! 000012's `idx_job_postings_cluster_candidates (company_key, title_key, id)` found a new
//! posting's candidates, but each candidate's SimHash then came from the table row — and on
//! SQLite the columns 000012 added sit after the descriptions and the raw JSON, in the row's
//! overflow pages: reading it walked several pages per candidate, inside every page's write
//! transaction. The lookup now reads `(id, simhash)` of every candidate first and the other
//! columns only of the few whose SimHash is close (`ingest::store::cluster::candidates`);
//! with `simhash` in this index SQLite answers that first step from the index alone.
//!
//! Both databases: `idx_job_postings_unkeyed`, partial on `title_key IS NULL`, holds the rows
//! stored before 000012: housekeeping fills their keys in
//! batches (`ingest::store::cluster::backfill`) and, once none is left, finds that out from
//! an empty index instead of a table scan. New postings always get keys, so it stays empty.
//!
//! PostgreSQL keeps 000012's index: its rows keep big values out of line (TOAST), so the heap
//! fetch is one short tuple, and an index-only scan would not apply to the rows an ingest has
//! just written (not yet all-visible) anyway.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &["CREATE INDEX IF NOT EXISTS idx_job_postings_unkeyed \
     ON job_postings (id) WHERE title_key IS NULL"];

const DOWN: &[&str] = &["DROP INDEX IF EXISTS idx_job_postings_unkeyed"];

const SQLITE_UP: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_job_postings_cluster_match \
     ON job_postings (company_key, title_key, id, simhash) WHERE company_key IS NOT NULL",
    "DROP INDEX IF EXISTS idx_job_postings_cluster_candidates",
];

const SQLITE_DOWN: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_job_postings_cluster_candidates \
     ON job_postings (company_key, title_key, id) WHERE company_key IS NOT NULL",
    "DROP INDEX IF EXISTS idx_job_postings_cluster_match",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, UP).await?;
        crate::sqlite_only(manager, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::sqlite_only(manager, SQLITE_DOWN).await?;
        crate::run_all(manager, DOWN).await
    }
}

//! Indexes for `jobStats.timeSeries` (issue #15): trend charts read them, not the table.
//!
//! - `idx_job_postings_trends (first_seen_at, id, source, country, work_arrangement,
//!   closed_at)`: new and open postings per day/week/month, grouped or not, are an index-only
//!   range scan (SQLite read the whole table, descriptions and all: ~350 ms at 100,000
//!   postings). It starts with `idx_job_postings_first_seen`'s `(first_seen_at, id)`, so it
//!   replaces that one (keyset pages in first-seen order walk it the same way): one index more
//!   to maintain on every insert cost the ingest benchmark ~0.1–0.2 s per 10,000 postings.
//! - `idx_job_postings_salary_mid` gains the first-seen time and the group columns, so the
//!   median salary per bucket of one currency is read from the index in midpoint order (no
//!   table lookups, no sort on SQLite).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_job_postings_trends \
     ON job_postings (first_seen_at, id, source, country, work_arrangement, closed_at)",
    "DROP INDEX IF EXISTS idx_job_postings_first_seen",
    "DROP INDEX IF EXISTS idx_job_postings_salary_mid",
    "CREATE INDEX IF NOT EXISTS idx_job_postings_salary_mid ON job_postings (salary_currency, \
     ((COALESCE(salary_annual_min, salary_annual_max) \
     + COALESCE(salary_annual_max, salary_annual_min)) / 2.0), \
     salary_annual_min, salary_annual_max, first_seen_at, source, country, work_arrangement)",
];

const DOWN: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_job_postings_first_seen ON job_postings (first_seen_at, id)",
    "DROP INDEX IF EXISTS idx_job_postings_trends",
    "DROP INDEX IF EXISTS idx_job_postings_salary_mid",
    "CREATE INDEX IF NOT EXISTS idx_job_postings_salary_mid ON job_postings (salary_currency, \
     ((COALESCE(salary_annual_min, salary_annual_max) \
     + COALESCE(salary_annual_max, salary_annual_min)) / 2.0), \
     salary_annual_min, salary_annual_max)",
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

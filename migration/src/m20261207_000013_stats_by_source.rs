//! Covering indexes for `jobStats` over one source (issue #16, "uncached paths").
//!
//! `idx_job_postings_facets` starts with `source`, so the totals and breakdowns of one source
//! were already a range of one index. The other parts were not: with `filter: {sources: […]}`
//! top companies, top locations, salaries and postings per day found the source's rows through
//! an index on `source` and then read each row from the table (SQLite: ~35,000 lookups of rows
//! holding descriptions for SEEK in the 100,000-posting benchmark; PostgreSQL: a sequential
//! scan). Each now has an index that starts with `source` and holds every column the query
//! reads, so one source is an index-only range scan, grouped in index order where it can be:
//!
//! - `idx_job_postings_source_company (source, company)`: top companies (SEEK: 161 → 3 ms on
//!   SQLite, 106 → 5 ms on PostgreSQL).
//! - `idx_job_postings_source_location (source, city, region, country)`: top locations
//!   (97 → 5 ms; 69 → 9 ms).
//! - `idx_job_postings_source_salary (source, salary_currency, <annual midpoint>, min, max)`:
//!   salary statistics, and on SQLite each percentile is a seek plus `OFFSET` steps in it
//!   (75 → 3 ms; 11 → 7 ms). Same expression text as `api/src/service/stats.rs`.
//! - `idx_job_postings_source_day`: postings per day, on SQLite the UTC day expression of
//!   000005, on PostgreSQL the timestamp the range is on, with the two columns it is made of
//!   (`INCLUDE`) so the day can be computed without the table (211 → 2 ms; 68 → 5 ms).
//!
//! Measured on the benchmark's seed, SEEK (35 % of it), one statement at a time. Each index
//! costs the ingest a little on every insert; filters on other columns still read rows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const BOTH: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_job_postings_source_company \
     ON job_postings (source, company)",
    "CREATE INDEX IF NOT EXISTS idx_job_postings_source_location \
     ON job_postings (source, city, region, country)",
    "CREATE INDEX IF NOT EXISTS idx_job_postings_source_salary ON job_postings (source, \
     salary_currency, ((COALESCE(salary_annual_min, salary_annual_max) \
     + COALESCE(salary_annual_max, salary_annual_min)) / 2.0), \
     salary_annual_min, salary_annual_max)",
];

const SQLITE_UP: &str = "CREATE INDEX IF NOT EXISTS idx_job_postings_source_day \
     ON job_postings (source, substr(COALESCE(posted_at, first_seen_at), 1, 10))";

const POSTGRES_UP: &str = "CREATE INDEX IF NOT EXISTS idx_job_postings_source_day \
     ON job_postings (source, (COALESCE(posted_at, first_seen_at))) \
     INCLUDE (posted_at, first_seen_at)";

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_job_postings_source_day",
    "DROP INDEX IF EXISTS idx_job_postings_source_salary",
    "DROP INDEX IF EXISTS idx_job_postings_source_location",
    "DROP INDEX IF EXISTS idx_job_postings_source_company",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, BOTH).await?;
        let day = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_UP,
            _ => SQLITE_UP,
        };
        crate::run_all(manager, &[day]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, DOWN).await
    }
}

//! PostgreSQL: trigram indexes for the substring filters (issue #16) — `titleContains` and
//! `locationContains` are `ILIKE '%…%'`, which a B-tree cannot serve: without these every such
//! query read every posting of the filter's other conditions.
//!
//! `pg_trgm` is a trusted extension (PostgreSQL 13+: the database owner may create it, as
//! managed services allow). Where it cannot be created the indexes are skipped with a notice
//! and the filters work as before, only slower. SQLite keeps `LIKE` (FTS5's trigram tokenizer
//! would need a second full-text table kept in sync; not done yet).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS idx_job_postings_title_trgm
        ON job_postings USING gin (title gin_trgm_ops);
    CREATE INDEX IF NOT EXISTS idx_job_postings_location_trgm
        ON job_postings USING gin (location_raw gin_trgm_ops, city gin_trgm_ops, region gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm unavailable (%): substring filters stay unindexed', SQLERRM;
END
$$";

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_job_postings_title_trgm",
    "DROP INDEX IF EXISTS idx_job_postings_location_trgm",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared(UP).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            crate::run_all(manager, DOWN).await?;
        }
        Ok(())
    }
}

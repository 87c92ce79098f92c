//! Full-text search over postings, and the indexes the read API sorts and aggregates by.
//!
//! Full-text search is kept in sync by the database itself, never by application code, so
//! every writer (ingest, a future importer, a hand-run `UPDATE`) keeps it correct:
//!
//! - PostgreSQL: `job_posting_search(posting_id, document tsvector)` with a GIN index, filled by
//!   row triggers on `job_postings`. Title is weighted A, company B, description C, so
//!   `ts_rank` puts title matches first. A side table rather than a generated column keeps
//!   `job_postings` equal to its entity on both backends.
//! - SQLite: the FTS5 table `job_postings_fts(title, company, description)` (contentless, with
//!   `contentless_delete` so triggers can delete by rowid), filled by triggers as well.
//!
//! Both index the plain-text description, or the HTML one when there is no text version.
//!
//! Sorting: keyset pagination orders by `(COALESCE(posted_at, <far past>), id)` so postings
//! without a date still paginate; the expression indexes below serve the default order
//! (`POSTED_AT DESC`), overall and per source. The query text must use exactly the same
//! expression (see `api/src/service/postings.rs`).
//!
//! Aggregates: `jobStats` groups by a handful of short columns; the covering indexes below let
//! both engines answer from an index instead of reading wide rows (descriptions, raw JSON).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Covering indexes for `jobStats`, identical on both backends.
const STATS_INDEXES: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_job_postings_facets \
     ON job_postings (source, work_type, work_arrangement, country, closed_at)",
    "CREATE INDEX IF NOT EXISTS idx_job_postings_location \
     ON job_postings (city, region, country)",
    // The annual midpoint, as `jobStats.salary` computes it (same expression text), in order
    // per currency; min and max are in the key too so PostgreSQL can answer from the index
    // alone (it re-computes the expression from them).
    "CREATE INDEX IF NOT EXISTS idx_job_postings_salary_mid ON job_postings (salary_currency, \
     ((COALESCE(salary_annual_min, salary_annual_max) \
     + COALESCE(salary_annual_max, salary_annual_min)) / 2.0), \
     salary_annual_min, salary_annual_max)",
    "CREATE INDEX IF NOT EXISTS idx_job_postings_day \
     ON job_postings (posted_at, first_seen_at)",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_job_postings_posted_key \
     ON job_postings ((COALESCE(posted_at, TIMESTAMPTZ '0001-01-01 00:00:00+00')), id)",
    "CREATE INDEX IF NOT EXISTS idx_job_postings_source_posted_key \
     ON job_postings (source, (COALESCE(posted_at, TIMESTAMPTZ '0001-01-01 00:00:00+00')), id)",
    "CREATE TABLE IF NOT EXISTS job_posting_search (
        posting_id BIGINT PRIMARY KEY REFERENCES job_postings (id) ON DELETE CASCADE,
        document TSVECTOR NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS idx_job_posting_search_document \
     ON job_posting_search USING GIN (document)",
    "CREATE OR REPLACE FUNCTION job_posting_search_document(title TEXT, company TEXT, description TEXT)
     RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT setweight(to_tsvector('english', COALESCE(title, '')), 'A')
            || setweight(to_tsvector('english', COALESCE(company, '')), 'B')
            || setweight(to_tsvector('english', COALESCE(description, '')), 'C')
     $$",
    "CREATE OR REPLACE FUNCTION job_postings_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
        INSERT INTO job_posting_search (posting_id, document)
        VALUES (NEW.id, job_posting_search_document(
            NEW.title, NEW.company, COALESCE(NEW.description_text, NEW.description_html)))
        ON CONFLICT (posting_id) DO UPDATE SET document = EXCLUDED.document;
        RETURN NULL;
     END
     $$",
    "DROP TRIGGER IF EXISTS trg_job_postings_search_insert ON job_postings",
    "CREATE TRIGGER trg_job_postings_search_insert AFTER INSERT ON job_postings
     FOR EACH ROW EXECUTE FUNCTION job_postings_search_sync()",
    "DROP TRIGGER IF EXISTS trg_job_postings_search_update ON job_postings",
    "CREATE TRIGGER trg_job_postings_search_update
     AFTER UPDATE OF title, company, description_text, description_html ON job_postings
     FOR EACH ROW
     WHEN (OLD.title IS DISTINCT FROM NEW.title
        OR OLD.company IS DISTINCT FROM NEW.company
        OR OLD.description_text IS DISTINCT FROM NEW.description_text
        OR OLD.description_html IS DISTINCT FROM NEW.description_html)
     EXECUTE FUNCTION job_postings_search_sync()",
    // Postings stored before this migration.
    "INSERT INTO job_posting_search (posting_id, document)
     SELECT id, job_posting_search_document(title, company, COALESCE(description_text, description_html))
     FROM job_postings
     ON CONFLICT (posting_id) DO NOTHING",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS trg_job_postings_search_update ON job_postings",
    "DROP TRIGGER IF EXISTS trg_job_postings_search_insert ON job_postings",
    "DROP FUNCTION IF EXISTS job_postings_search_sync()",
    "DROP TABLE IF EXISTS job_posting_search",
    "DROP FUNCTION IF EXISTS job_posting_search_document(TEXT, TEXT, TEXT)",
    "DROP INDEX IF EXISTS idx_job_postings_source_posted_key",
    "DROP INDEX IF EXISTS idx_job_postings_posted_key",
];

const SQLITE_UP: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_job_postings_posted_key \
     ON job_postings (COALESCE(posted_at, '0001-01-01T00:00:00+00:00'), id)",
    "CREATE INDEX IF NOT EXISTS idx_job_postings_source_posted_key \
     ON job_postings (source, COALESCE(posted_at, '0001-01-01T00:00:00+00:00'), id)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS job_postings_fts USING fts5(
        title, company, description,
        content = '', contentless_delete = 1,
        tokenize = 'porter unicode61 remove_diacritics 2'
    )",
    "CREATE TRIGGER IF NOT EXISTS trg_job_postings_fts_insert AFTER INSERT ON job_postings
     BEGIN
        INSERT INTO job_postings_fts (rowid, title, company, description)
        VALUES (NEW.id, NEW.title, NEW.company, COALESCE(NEW.description_text, NEW.description_html));
     END",
    "CREATE TRIGGER IF NOT EXISTS trg_job_postings_fts_update
     AFTER UPDATE OF title, company, description_text, description_html ON job_postings
     BEGIN
        DELETE FROM job_postings_fts WHERE rowid = OLD.id;
        INSERT INTO job_postings_fts (rowid, title, company, description)
        VALUES (NEW.id, NEW.title, NEW.company, COALESCE(NEW.description_text, NEW.description_html));
     END",
    "CREATE TRIGGER IF NOT EXISTS trg_job_postings_fts_delete AFTER DELETE ON job_postings
     BEGIN
        DELETE FROM job_postings_fts WHERE rowid = OLD.id;
     END",
    // Postings stored before this migration.
    "INSERT INTO job_postings_fts (rowid, title, company, description)
     SELECT id, title, company, COALESCE(description_text, description_html) FROM job_postings
     WHERE id NOT IN (SELECT rowid FROM job_postings_fts)",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS trg_job_postings_fts_delete",
    "DROP TRIGGER IF EXISTS trg_job_postings_fts_update",
    "DROP TRIGGER IF EXISTS trg_job_postings_fts_insert",
    "DROP TABLE IF EXISTS job_postings_fts",
    "DROP INDEX IF EXISTS idx_job_postings_source_posted_key",
    "DROP INDEX IF EXISTS idx_job_postings_posted_key",
];

const STATS_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_job_postings_day",
    "DROP INDEX IF EXISTS idx_job_postings_salary_mid",
    "DROP INDEX IF EXISTS idx_job_postings_location",
    "DROP INDEX IF EXISTS idx_job_postings_facets",
];

async fn run_all(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => run_all(manager, POSTGRES_UP).await?,
            DbBackend::Sqlite => run_all(manager, SQLITE_UP).await?,
            other => {
                return Err(DbErr::Migration(format!(
                    "full-text search is not implemented for {other:?}"
                )));
            }
        }
        run_all(manager, STATS_INDEXES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, STATS_DOWN).await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => run_all(manager, POSTGRES_DOWN).await,
            DbBackend::Sqlite => run_all(manager, SQLITE_DOWN).await,
            _ => Ok(()),
        }
    }
}

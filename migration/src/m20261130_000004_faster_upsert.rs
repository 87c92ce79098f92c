//! SQLite: re-index a posting's full text only when the indexed text changed (issue #3).
//!
//! 000002's FTS5 UPDATE trigger fires on `UPDATE OF title, company, description_text,
//! description_html`, and an ingest update writes every content column, so a posting whose
//! salary changed had its FTS5 row deleted and re-inserted all the same. A `WHEN` on what FTS5
//! actually indexes (title, company, and the text description or else the HTML one) skips that.
//! PostgreSQL's UPDATE trigger has had the equivalent `WHEN` since 000002, so this migration
//! changes nothing there.
//!
//! Measured and left alone for issue #3 (PostgreSQL, 10,000 postings of the ingest benchmark):
//! a statement-level INSERT trigger with a transition table instead of the row trigger, and lz4
//! instead of pglz for the TOASTed columns, were both within the noise (±5 %): the time goes
//! into `to_tsvector` itself (~2 s for the 10,000 descriptions) and the GIN index, not into
//! per-row trigger calls, and most documents stay under the TOAST threshold. The indexes
//! `idx_job_postings_posted` and `idx_job_postings_source_posted` are not superseded by
//! 000002's `*_posted_key` ones: they serve `postedAfter`/`postedBefore` ranges (overall and per
//! source) as index-only scans, which the expression indexes cannot.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "DROP TRIGGER IF EXISTS trg_job_postings_fts_update",
    "CREATE TRIGGER trg_job_postings_fts_update
     AFTER UPDATE OF title, company, description_text, description_html ON job_postings
     WHEN OLD.title IS NOT NEW.title
        OR OLD.company IS NOT NEW.company
        OR COALESCE(OLD.description_text, OLD.description_html)
           IS NOT COALESCE(NEW.description_text, NEW.description_html)
     BEGIN
        DELETE FROM job_postings_fts WHERE rowid = OLD.id;
        INSERT INTO job_postings_fts (rowid, title, company, description)
        VALUES (NEW.id, NEW.title, NEW.company, COALESCE(NEW.description_text, NEW.description_html));
     END",
];

/// 000002's trigger, as it was.
const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS trg_job_postings_fts_update",
    "CREATE TRIGGER trg_job_postings_fts_update
     AFTER UPDATE OF title, company, description_text, description_html ON job_postings
     BEGIN
        DELETE FROM job_postings_fts WHERE rowid = OLD.id;
        INSERT INTO job_postings_fts (rowid, title, company, description)
        VALUES (NEW.id, NEW.title, NEW.company, COALESCE(NEW.description_text, NEW.description_html));
     END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on every backend. On SQLite (no transaction by default) each statement
    /// may run on another pooled connection, whose cached schema still holds the trigger the
    /// previous statement dropped ("trigger … already exists"); and a failure leaves nothing
    /// half done.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::sqlite_only(manager, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::sqlite_only(manager, SQLITE_DOWN).await
    }
}

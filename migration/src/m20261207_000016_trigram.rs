//! Trigram indexes for the substring filters `titleContains` and `locationContains` (issue #16):
//! without them a word that few titles contain is a scan of every posting.
//!
//! - PostgreSQL: `pg_trgm` GIN indexes on `title`, `location_raw`, `city` and `region`, which
//!   serve the filter's `ILIKE '%…%' ESCAPE '\'` as it is (one bitmap per column, OR-ed for
//!   the location). Managed databases may refuse `CREATE EXTENSION` (no CREATE privilege, or
//!   the extension is not available): a DO block catches that, logs a NOTICE and creates no
//!   index, so start-up never fails on it; the filter is plain ILIKE either way and only gets
//!   slower. The operator class is looked up in whatever schema holds the extension (hosted
//!   services often install extensions into their own schema, off the search path).
//! - SQLite: the FTS5 table `job_postings_trgm(title, location_raw, city, region)` with the
//!   `trigram` tokenizer (SQLite ≥ 3.34; case-insensitive by Unicode folding), kept in sync by
//!   triggers like 000002's `job_postings_fts`, and contentless with `contentless_delete` for
//!   the same reason: the text stays in `job_postings` only. Being contentless it cannot answer
//!   LIKE itself (no column values to check), so the filter asks it a phrase query — a
//!   substring of the folded text — for candidates and checks the unchanged LIKE on the
//!   posting (`api/src/service/filter.rs`); answers are the same as without the table.
//!
//! Ingest cost: only these four short columns are indexed, and the SQLite UPDATE trigger fires
//! only when one of them changed (an ingest update rewrites every column; see 000004). The GIN
//! indexes keep `fastupdate` on: off, the ingest benchmark's PostgreSQL CPU per page doubled to
//! tripled; on, a search also reads the pending list until (auto)vacuum merges it (README,
//! "substring filters").
//!
//! `companies` needs nothing here: it is an exact `company IN (…)`, which trigrams do not help.
//!
//! A server migrated while `pg_trgm` was unavailable gets the indexes later: every start-up
//! runs the same block again when one of the four is missing
//! ([`crate::ensure_trigram_indexes`]), so installing the extension (or granting CREATE) and
//! restarting is enough.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// PostgreSQL: the extension if we may, then the indexes if the extension is there.
/// `insufficient_privilege`: no CREATE on the database (trusted extension) or not a superuser;
/// `undefined_file`: not installed on the server; `feature_not_supported`: some hosted
/// services' allow-lists. Any other error (a full disk, say) still fails the migration.
pub(crate) const POSTGRES_UP: &str = r#"
DO $$
DECLARE
    ops TEXT;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
        RAISE NOTICE 'pg_trgm unavailable (%): substring filters run without trigram indexes', SQLERRM;
    END;
    SELECT quote_ident(n.nspname) || '.gin_trgm_ops' INTO ops
    FROM pg_opclass c
    JOIN pg_namespace n ON n.oid = c.opcnamespace
    JOIN pg_am a ON a.oid = c.opcmethod
    WHERE c.opcname = 'gin_trgm_ops' AND a.amname = 'gin'
    LIMIT 1;
    IF ops IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE INDEX IF NOT EXISTS idx_job_postings_title_trgm ON job_postings USING GIN (title %s)', ops);
    EXECUTE format('CREATE INDEX IF NOT EXISTS idx_job_postings_location_raw_trgm ON job_postings USING GIN (location_raw %s)', ops);
    EXECUTE format('CREATE INDEX IF NOT EXISTS idx_job_postings_city_trgm ON job_postings USING GIN (city %s)', ops);
    EXECUTE format('CREATE INDEX IF NOT EXISTS idx_job_postings_region_trgm ON job_postings USING GIN (region %s)', ops);
END
$$"#;

/// The extension stays: it may have been there before us, and other objects may use it.
const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_job_postings_region_trgm",
    "DROP INDEX IF EXISTS idx_job_postings_city_trgm",
    "DROP INDEX IF EXISTS idx_job_postings_location_raw_trgm",
    "DROP INDEX IF EXISTS idx_job_postings_title_trgm",
];

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE IF NOT EXISTS job_postings_trgm USING fts5(
        title, location_raw, city, region,
        content = '', contentless_delete = 1,
        tokenize = 'trigram case_sensitive 0'
    )",
    "CREATE TRIGGER IF NOT EXISTS trg_job_postings_trgm_insert AFTER INSERT ON job_postings
     BEGIN
        INSERT INTO job_postings_trgm (rowid, title, location_raw, city, region)
        VALUES (NEW.id, NEW.title, NEW.location_raw, NEW.city, NEW.region);
     END",
    "CREATE TRIGGER IF NOT EXISTS trg_job_postings_trgm_update
     AFTER UPDATE OF title, location_raw, city, region ON job_postings
     WHEN OLD.title IS NOT NEW.title
        OR OLD.location_raw IS NOT NEW.location_raw
        OR OLD.city IS NOT NEW.city
        OR OLD.region IS NOT NEW.region
     BEGIN
        DELETE FROM job_postings_trgm WHERE rowid = OLD.id;
        INSERT INTO job_postings_trgm (rowid, title, location_raw, city, region)
        VALUES (NEW.id, NEW.title, NEW.location_raw, NEW.city, NEW.region);
     END",
    "CREATE TRIGGER IF NOT EXISTS trg_job_postings_trgm_delete AFTER DELETE ON job_postings
     BEGIN
        DELETE FROM job_postings_trgm WHERE rowid = OLD.id;
     END",
    // Postings stored before this migration (the table is new, so all of them).
    "INSERT INTO job_postings_trgm (rowid, title, location_raw, city, region)
     SELECT id, title, location_raw, city, region FROM job_postings",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS trg_job_postings_trgm_delete",
    "DROP TRIGGER IF EXISTS trg_job_postings_trgm_update",
    "DROP TRIGGER IF EXISTS trg_job_postings_trgm_insert",
    "DROP TABLE IF EXISTS job_postings_trgm",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on every backend: on SQLite the fill must not see a half-made table on
    /// another pooled connection (see 000004), and a failure leaves nothing half done.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => crate::run_all(manager, &[POSTGRES_UP]).await,
            DbBackend::Sqlite => crate::run_all(manager, SQLITE_UP).await,
            _ => Ok(()),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => crate::run_all(manager, POSTGRES_DOWN).await,
            DbBackend::Sqlite => crate::run_all(manager, SQLITE_DOWN).await,
            _ => Ok(()),
        }
    }
}

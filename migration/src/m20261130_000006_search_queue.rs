//! PostgreSQL: index full text after the write, not inside it (issue #3), and never answer a
//! search from a stale entry.
//!
//! Until now a row trigger computed each posting's `tsvector` inside the INSERT or UPDATE that
//! wrote it. `to_tsvector('english')` costs ~0.25 ms per posting of ~2 KB of text on one core,
//! plus the GIN insert: 10,000 new postings spent ~4 of their ~6 s in it, and a page's
//! transaction (and its locks) lasted that long. Now:
//!
//! - The triggers only note what needs indexing in `job_posting_search_queue(posting_id,
//!   queued_at)`: one statement per INSERT statement (a transition table), a row trigger with a
//!   `WHEN` on the indexed text for updates. Still the database's job, for every writer.
//! - `job_posting_search_refresh(max_rows)` indexes up to `max_rows` queued postings and returns
//!   how many it took. jobintel calls it in the background after pages are stored and every few
//!   seconds (`ingest::search_index`); anything may call it.
//! - Searches read `job_posting_search_current`: the stored entry of every posting that is not
//!   queued, and for a queued one its document computed on the spot. A search is therefore exact
//!   at every moment, indexed or not; what is still queued only costs the search time (~0.25 ms
//!   a queued posting), which the background refresh keeps near zero. The pending half is
//!   written as a LATERAL subquery behind `OFFSET 0` so that it is always driven by the queue:
//!   with the queue's statistics out of date (it empties and fills all the time) the planner
//!   otherwise computed the document of every posting to find the few queued ones (10 s).
//!   The view never lets the planner walk postings in order and probe the index one row at a
//!   time (what "newest 20 matching a common word" needs), so the API reads
//!   `job_posting_search` directly when the queue is empty (`api/src/service/postings.rs`).
//!
//! Why the refresh cannot lose a change: it deletes the queued rows it takes (locking them;
//! `SKIP LOCKED` lets several instances share the queue) in one statement, and reads the postings
//! in a second one, with a newer snapshot. A writer whose change that snapshot misses either
//! still held its queue row (so the refresh skipped it), or queues it again: its `ON CONFLICT DO
//! UPDATE` waits for the refresh's transaction and then inserts a new queue row.
//!
//! Also: lz4 instead of pglz for the TOASTed columns (descriptions, raw JSON) where the server
//! has it. With the `tsvector` gone from the insert, compression was the next cost: 10,000 new
//! postings 2.19 → 1.91 s in the ingest benchmark. (Tried in 000004 and dropped then, when the
//! `tsvector` hid it.)
//!
//! SQLite keeps its FTS5 triggers: FTS5 indexes 10,000 postings in well under a second.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    // TOAST compresses descriptions and raw JSON (~2 KB each) on every insert: lz4 does it in a
    // fraction of pglz's time. Only where the server has lz4 (PostgreSQL 14+ built with it);
    // elsewhere pglz stays, and only speed differs.
    "DO $$
     BEGIN
        ALTER TABLE job_postings
            ALTER COLUMN description_html SET COMPRESSION lz4,
            ALTER COLUMN description_text SET COMPRESSION lz4,
            ALTER COLUMN raw SET COMPRESSION lz4;
     EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'lz4 unavailable (%): TOAST keeps its default compression', SQLERRM;
     END
     $$",
    // No foreign key: a check per queued row would cost what the queue saves. A queued id whose
    // posting was deleted is dropped by the next refresh (and never matches: the view joins).
    "CREATE TABLE IF NOT EXISTS job_posting_search_queue (
        posting_id BIGINT PRIMARY KEY,
        queued_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )",
    "CREATE OR REPLACE FUNCTION job_postings_search_enqueue_inserted() RETURNS trigger
     LANGUAGE plpgsql AS $$
     BEGIN
        INSERT INTO job_posting_search_queue (posting_id)
        SELECT id FROM inserted_postings
        ON CONFLICT (posting_id) DO UPDATE SET queued_at = EXCLUDED.queued_at;
        RETURN NULL;
     END
     $$",
    "CREATE OR REPLACE FUNCTION job_postings_search_enqueue() RETURNS trigger
     LANGUAGE plpgsql AS $$
     BEGIN
        INSERT INTO job_posting_search_queue (posting_id) VALUES (NEW.id)
        ON CONFLICT (posting_id) DO UPDATE SET queued_at = EXCLUDED.queued_at;
        RETURN NULL;
     END
     $$",
    "DROP TRIGGER IF EXISTS trg_job_postings_search_insert ON job_postings",
    "CREATE TRIGGER trg_job_postings_search_insert AFTER INSERT ON job_postings
     REFERENCING NEW TABLE AS inserted_postings
     FOR EACH STATEMENT EXECUTE FUNCTION job_postings_search_enqueue_inserted()",
    "DROP TRIGGER IF EXISTS trg_job_postings_search_update ON job_postings",
    "CREATE TRIGGER trg_job_postings_search_update
     AFTER UPDATE OF title, company, description_text, description_html ON job_postings
     FOR EACH ROW
     WHEN (OLD.title IS DISTINCT FROM NEW.title
        OR OLD.company IS DISTINCT FROM NEW.company
        OR COALESCE(OLD.description_text, OLD.description_html)
           IS DISTINCT FROM COALESCE(NEW.description_text, NEW.description_html))
     EXECUTE FUNCTION job_postings_search_enqueue()",
    "DROP FUNCTION IF EXISTS job_postings_search_sync()",
    "CREATE OR REPLACE FUNCTION job_posting_search_refresh(max_rows INTEGER)
     RETURNS INTEGER LANGUAGE plpgsql AS $$
     DECLARE
        taken BIGINT[];
     BEGIN
        WITH t AS (
            DELETE FROM job_posting_search_queue
            WHERE posting_id IN (
                SELECT posting_id FROM job_posting_search_queue
                ORDER BY posting_id LIMIT max_rows
                FOR UPDATE SKIP LOCKED)
            RETURNING posting_id
        )
        SELECT array_agg(posting_id) INTO taken FROM t;
        IF taken IS NULL THEN
            RETURN 0;
        END IF;
        -- A new statement, so a new snapshot (see the migration's header).
        INSERT INTO job_posting_search (posting_id, document)
        SELECT p.id, job_posting_search_document(
            p.title, p.company, COALESCE(p.description_text, p.description_html))
        FROM job_postings p
        WHERE p.id = ANY (taken)
        ON CONFLICT (posting_id) DO UPDATE SET document = EXCLUDED.document;
        RETURN cardinality(taken);
     END
     $$",
    "CREATE OR REPLACE VIEW job_posting_search_current AS
     SELECT s.posting_id, s.document
     FROM job_posting_search s
     WHERE NOT EXISTS (
        SELECT 1 FROM job_posting_search_queue q WHERE q.posting_id = s.posting_id)
     UNION ALL
     SELECT q.posting_id, d.document
     FROM job_posting_search_queue q
     CROSS JOIN LATERAL (
        SELECT job_posting_search_document(
            p.title, p.company, COALESCE(p.description_text, p.description_html)) AS document
        FROM job_postings p
        WHERE p.id = q.posting_id
        OFFSET 0) d",
];

/// 000002's synchronous triggers, with whatever was still queued indexed first.
const POSTGRES_DOWN: &[&str] = &[
    "DROP VIEW IF EXISTS job_posting_search_current",
    "INSERT INTO job_posting_search (posting_id, document)
     SELECT p.id, job_posting_search_document(
        p.title, p.company, COALESCE(p.description_text, p.description_html))
     FROM job_posting_search_queue q JOIN job_postings p ON p.id = q.posting_id
     ON CONFLICT (posting_id) DO UPDATE SET document = EXCLUDED.document",
    "DROP FUNCTION IF EXISTS job_posting_search_refresh(INTEGER)",
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
    "DROP FUNCTION IF EXISTS job_postings_search_enqueue()",
    "DROP FUNCTION IF EXISTS job_postings_search_enqueue_inserted()",
    "DROP TABLE IF EXISTS job_posting_search_queue",
    "DO $$
     BEGIN
        ALTER TABLE job_postings
            ALTER COLUMN description_html SET COMPRESSION DEFAULT,
            ALTER COLUMN description_text SET COMPRESSION DEFAULT,
            ALTER COLUMN raw SET COMPRESSION DEFAULT;
     EXCEPTION WHEN OTHERS THEN
        NULL; -- no per-column compression before PostgreSQL 14: nothing was changed
     END
     $$",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => crate::run_all(manager, POSTGRES_UP).await,
            _ => Ok(()),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => crate::run_all(manager, POSTGRES_DOWN).await,
            _ => Ok(()),
        }
    }
}

//! What the operations console (issue #14) reads.
//!
//! - `instances`: one row per serving `jobintel` process sharing the database — its lease-owner
//!   id, version, host, pid, start, heartbeat and busy/total workers — so the console can show
//!   every process as Hangfire's "Servers" page did. Rows are inserted at start-up, updated
//!   every ~15 s, deleted on graceful shutdown and dropped by housekeeping once stale.
//! - Runs list with 100,000 runs (status tabs, source / trigger / schedule filters, keyset on
//!   `id DESC`, and per-status counts): each filter gets an index that ends in `id`, so a page
//!   is a backward walk of one index range that stops after `first + 1` rows, and the counts
//!   are read from the index alone.
//!   - `(status, id)`: a status tab's pages; `GROUP BY status` over everything.
//!   - `(source, status, id)` replaces `(source, status)` (a prefix of it, so the claim's
//!     per-source running count is served as before): a source's pages, filtered by status too,
//!     and its per-status counts.
//!   - `(trigger, status, id)`: the same for the trigger filter.
//!   - A schedule's runs keep `idx_ingest_runs_schedule (schedule_id, id)`; one schedule's few
//!     thousand rows are counted without a wider index.
//!   - `(queued_at, status)` and `(status, queued_at)`: counts over a time window (the
//!     overview's runs of the last 24 h and its week of hourly counts) read an index alone
//!     instead of every run's row. Both, because for `GROUP BY status` over a wide window
//!     SQLite prefers walking an index in status order (no temporary B-tree) even when that
//!     index lacks `queued_at` and every row must be read: a week of 100,000 runs took
//!     ~100 ms that way, ~10 ms with `queued_at` in the status index.
//!
//!   On SQLite every index ends in the rowid (`id`) anyway; naming it makes PostgreSQL's
//!   indexes the same and keeps both backends listing the same indexes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::run_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Instances {
    Table,
    Id,
    Version,
    Hostname,
    Pid,
    StartedAt,
    HeartbeatAt,
    BusyWorkers,
    TotalWorkers,
}

const UP: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_ingest_runs_status_id ON ingest_runs (status, id)",
    "CREATE INDEX IF NOT EXISTS idx_ingest_runs_source_status_id \
     ON ingest_runs (source, status, id)",
    "DROP INDEX IF EXISTS idx_ingest_runs_source_status",
    "CREATE INDEX IF NOT EXISTS idx_ingest_runs_trigger_status_id \
     ON ingest_runs (\"trigger\", status, id)",
    "CREATE INDEX IF NOT EXISTS idx_ingest_runs_queued_status ON ingest_runs (queued_at, status)",
    "CREATE INDEX IF NOT EXISTS idx_ingest_runs_status_queued ON ingest_runs (status, queued_at)",
    // Housekeeping drops stale rows by heartbeat.
    "CREATE INDEX IF NOT EXISTS idx_instances_heartbeat ON instances (heartbeat_at)",
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_instances_heartbeat",
    "DROP INDEX IF EXISTS idx_ingest_runs_status_queued",
    "DROP INDEX IF EXISTS idx_ingest_runs_queued_status",
    "DROP INDEX IF EXISTS idx_ingest_runs_trigger_status_id",
    "CREATE INDEX IF NOT EXISTS idx_ingest_runs_source_status ON ingest_runs (source, status)",
    "DROP INDEX IF EXISTS idx_ingest_runs_source_status_id",
    "DROP INDEX IF EXISTS idx_ingest_runs_status_id",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Instances::Table)
                    .if_not_exists()
                    .col(string_len(Instances::Id, 128).primary_key())
                    .col(string_len(Instances::Version, 64))
                    .col(string_len_null(Instances::Hostname, 255))
                    .col(integer_null(Instances::Pid))
                    .col(timestamp_with_time_zone(Instances::StartedAt))
                    .col(timestamp_with_time_zone(Instances::HeartbeatAt))
                    .col(integer(Instances::BusyWorkers).default(0))
                    .col(integer(Instances::TotalWorkers).default(0))
                    .to_owned(),
            )
            .await?;
        run_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, DOWN).await?;
        manager
            .drop_table(Table::drop().table(Instances::Table).if_exists().to_owned())
            .await
    }
}

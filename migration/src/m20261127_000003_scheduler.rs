//! What the embedded scheduler queries by.
//!
//! - `uq_ingest_runs_schedule_fire` becomes `(schedule_id, scheduled_for, attempt)`: still one
//!   first attempt per cron occurrence (a second instance firing the same occurrence conflicts
//!   instead of starting a duplicate run), and now also one retry per attempt, so a retry can
//!   keep the occurrence it retries.
//! - `idx_ingest_runs_schedule (schedule_id, id)`: a schedule's runs newest first, its last run,
//!   the overlap check and retention's "keep the newest N per schedule".
//! - `idx_ingest_runs_finished (finished_at)`: retention deletes in bounded batches without
//!   scanning the table (the Hangfire.PostgreSql expiration manager had no such index).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX IF EXISTS uq_ingest_runs_schedule_fire",
            "CREATE UNIQUE INDEX IF NOT EXISTS uq_ingest_runs_schedule_fire \
             ON ingest_runs (schedule_id, scheduled_for, attempt)",
            "CREATE INDEX IF NOT EXISTS idx_ingest_runs_schedule ON ingest_runs (schedule_id, id)",
            "CREATE INDEX IF NOT EXISTS idx_ingest_runs_finished ON ingest_runs (finished_at)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX IF EXISTS idx_ingest_runs_finished",
            "DROP INDEX IF EXISTS idx_ingest_runs_schedule",
            "DROP INDEX IF EXISTS uq_ingest_runs_schedule_fire",
            "CREATE UNIQUE INDEX IF NOT EXISTS uq_ingest_runs_schedule_fire \
             ON ingest_runs (schedule_id, scheduled_for)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}

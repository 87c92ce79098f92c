//! `posting_history`: how each posting changed (issue #15).
//!
//! One row per change the ingest stored: `kind` `changed` with the tracked fields that differ
//! (`changes`: a JSON array of `{"field", "from", "to"}`), or `closed` / `reopened`. Written by
//! the page's own transaction (`ingest::store`) and by housekeeping when it closes postings, so
//! a change is never stored without its history entry or the other way round. Bounded by
//! housekeeping (a cap per posting and a retention period).
//!
//! No foreign key to `ingest_runs`: housekeeping deletes old runs, and an entry outlives the
//! run that saw it (its `run_id` then resolves to nothing). Deleting a posting deletes its
//! history.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PostingHistory {
    Table,
    Id,
    PostingId,
    RunId,
    Kind,
    Changes,
    ChangedAt,
}

#[derive(DeriveIden)]
enum JobPostings {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PostingHistory::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(PostingHistory::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(PostingHistory::PostingId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(PostingHistory::RunId).big_integer().null())
                    .col(
                        ColumnDef::new(PostingHistory::Kind)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(PostingHistory::Changes).json().not_null())
                    .col(
                        ColumnDef::new(PostingHistory::ChangedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_posting_history_posting")
                            .from(PostingHistory::Table, PostingHistory::PostingId)
                            .to(JobPostings::Table, JobPostings::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A posting's history newest first (`JobPosting.history`), and the per-posting cap.
        manager
            .create_index(
                Index::create()
                    .name("idx_posting_history_posting")
                    .table(PostingHistory::Table)
                    .col(PostingHistory::PostingId)
                    .col(PostingHistory::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PostingHistory::Table).to_owned())
            .await
    }
}

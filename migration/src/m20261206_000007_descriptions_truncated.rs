//! `ingest_runs.descriptions_truncated`: how many descriptions a run cut at the size cap.
//!
//! Descriptions over `ingest::normalize::DESCRIPTION_MAX_BYTES` are cut before they are parsed
//! (html5ever's time and memory grow with them, and a page anyone can point a `jsonld` run at
//! may be built to exploit that); the cut description ends with a note, and the run counts it
//! here so it is never silent. Existing rows read 0.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IngestRuns {
    Table,
    DescriptionsTruncated,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IngestRuns::Table)
                    .add_column(
                        ColumnDef::new(IngestRuns::DescriptionsTruncated)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IngestRuns::Table)
                    .drop_column(IngestRuns::DescriptionsTruncated)
                    .to_owned(),
            )
            .await
    }
}

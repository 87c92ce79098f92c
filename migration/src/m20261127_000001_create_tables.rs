//! The whole data model: `schedules`, `ingest_runs` and `job_postings`, with the indexes the API,
//! the run queue and the scheduler query by.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Schedules {
    Table,
    Id,
    Name,
    Source,
    Params,
    Cron,
    Timezone,
    Enabled,
    JitterSeconds,
    OverlapPolicy,
    MisfirePolicy,
    MaxAttempts,
    RetryBackoffSeconds,
    NextFireAt,
    LastFireAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum IngestRuns {
    Table,
    Id,
    Source,
    Params,
    Trigger,
    ScheduleId,
    ScheduledFor,
    Status,
    Attempt,
    QueuedAt,
    RunAfter,
    StartedAt,
    FinishedAt,
    HeartbeatAt,
    LeaseOwner,
    LeaseExpiresAt,
    PagesFetched,
    Requests,
    HttpErrors,
    JobsFound,
    JobsNew,
    JobsUpdated,
    JobsUnchanged,
    Error,
}

#[derive(DeriveIden)]
enum JobPostings {
    Table,
    Id,
    Source,
    ExternalId,
    Url,
    ApplyUrl,
    Title,
    Company,
    CompanyExternalId,
    LocationRaw,
    City,
    Region,
    Country,
    WorkType,
    WorkArrangement,
    SalaryText,
    SalaryMin,
    SalaryMax,
    SalaryCurrency,
    SalaryPeriod,
    SalaryAnnualMin,
    SalaryAnnualMax,
    SalarySource,
    DescriptionHtml,
    DescriptionText,
    Classification,
    PostedAt,
    ExpiresAt,
    FirstSeenAt,
    LastSeenAt,
    ClosedAt,
    ContentHash,
    Raw,
    FirstRunId,
    LastRunId,
    CreatedAt,
    UpdatedAt,
}

/// Short closed-vocabulary strings (sources, statuses, policies).
fn code<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 16)
}

fn code_null<T: IntoIden>(col: T) -> ColumnDef {
    string_len_null(col, 16)
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table).if_not_exists();
    for c in cols {
        idx.col(Alias::new(*c));
    }
    idx
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Schedules::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Schedules::Id))
                    .col(string_len_uniq(Schedules::Name, 200))
                    .col(code(Schedules::Source))
                    .col(json_binary(Schedules::Params))
                    .col(string_len(Schedules::Cron, 120))
                    .col(string_len(Schedules::Timezone, 64))
                    .col(boolean(Schedules::Enabled).default(true))
                    .col(integer(Schedules::JitterSeconds).default(0))
                    .col(code(Schedules::OverlapPolicy))
                    .col(code(Schedules::MisfirePolicy))
                    .col(integer(Schedules::MaxAttempts).default(1))
                    .col(integer(Schedules::RetryBackoffSeconds).default(60))
                    .col(timestamp_with_time_zone_null(Schedules::NextFireAt))
                    .col(timestamp_with_time_zone_null(Schedules::LastFireAt))
                    .col(timestamp_with_time_zone(Schedules::CreatedAt))
                    .col(timestamp_with_time_zone(Schedules::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // The scheduler's tick asks "which enabled schedules are due?" every few seconds.
        manager
            .create_index(index(
                "idx_schedules_due",
                Schedules::Table,
                &["enabled", "next_fire_at"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IngestRuns::Table)
                    .if_not_exists()
                    .col(big_pk_auto(IngestRuns::Id))
                    .col(code(IngestRuns::Source))
                    .col(json_binary(IngestRuns::Params))
                    .col(code(IngestRuns::Trigger))
                    .col(big_integer_null(IngestRuns::ScheduleId))
                    .col(timestamp_with_time_zone_null(IngestRuns::ScheduledFor))
                    .col(code(IngestRuns::Status))
                    .col(integer(IngestRuns::Attempt).default(1))
                    .col(timestamp_with_time_zone(IngestRuns::QueuedAt))
                    .col(timestamp_with_time_zone(IngestRuns::RunAfter))
                    .col(timestamp_with_time_zone_null(IngestRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(IngestRuns::FinishedAt))
                    .col(timestamp_with_time_zone_null(IngestRuns::HeartbeatAt))
                    .col(string_len_null(IngestRuns::LeaseOwner, 128))
                    .col(timestamp_with_time_zone_null(IngestRuns::LeaseExpiresAt))
                    .col(integer(IngestRuns::PagesFetched).default(0))
                    .col(integer(IngestRuns::Requests).default(0))
                    .col(integer(IngestRuns::HttpErrors).default(0))
                    .col(integer(IngestRuns::JobsFound).default(0))
                    .col(integer(IngestRuns::JobsNew).default(0))
                    .col(integer(IngestRuns::JobsUpdated).default(0))
                    .col(integer(IngestRuns::JobsUnchanged).default(0))
                    .col(text_null(IngestRuns::Error))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ingest_runs_schedule")
                            .from(IngestRuns::Table, IngestRuns::ScheduleId)
                            .to(Schedules::Table, Schedules::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // One run per cron occurrence: a second instance firing the same occurrence conflicts
        // here instead of starting a duplicate run. NULLs (manual runs) never conflict.
        manager
            .create_index(
                index(
                    "uq_ingest_runs_schedule_fire",
                    IngestRuns::Table,
                    &["schedule_id", "scheduled_for"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        // Workers claim the oldest claimable queued run.
        manager
            .create_index(index(
                "idx_ingest_runs_claim",
                IngestRuns::Table,
                &["status", "run_after"],
            ))
            .await?;
        // Newest first, optionally per source.
        manager
            .create_index(index(
                "idx_ingest_runs_queued",
                IngestRuns::Table,
                &["queued_at", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_ingest_runs_source_status",
                IngestRuns::Table,
                &["source", "status"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(JobPostings::Table)
                    .if_not_exists()
                    .col(big_pk_auto(JobPostings::Id))
                    .col(code(JobPostings::Source))
                    .col(string_len(JobPostings::ExternalId, 255))
                    .col(text(JobPostings::Url))
                    .col(text_null(JobPostings::ApplyUrl))
                    .col(text(JobPostings::Title))
                    .col(string_len_null(JobPostings::Company, 255))
                    .col(string_len_null(JobPostings::CompanyExternalId, 255))
                    .col(text_null(JobPostings::LocationRaw))
                    .col(string_len_null(JobPostings::City, 128))
                    .col(string_len_null(JobPostings::Region, 128))
                    .col(string_len_null(JobPostings::Country, 2))
                    .col(code_null(JobPostings::WorkType))
                    .col(code(JobPostings::WorkArrangement))
                    .col(text_null(JobPostings::SalaryText))
                    .col(double_null(JobPostings::SalaryMin))
                    .col(double_null(JobPostings::SalaryMax))
                    .col(string_len_null(JobPostings::SalaryCurrency, 3))
                    .col(code_null(JobPostings::SalaryPeriod))
                    .col(double_null(JobPostings::SalaryAnnualMin))
                    .col(double_null(JobPostings::SalaryAnnualMax))
                    .col(code_null(JobPostings::SalarySource))
                    .col(text_null(JobPostings::DescriptionHtml))
                    .col(text_null(JobPostings::DescriptionText))
                    .col(string_len_null(JobPostings::Classification, 255))
                    .col(timestamp_with_time_zone_null(JobPostings::PostedAt))
                    .col(timestamp_with_time_zone_null(JobPostings::ExpiresAt))
                    .col(timestamp_with_time_zone(JobPostings::FirstSeenAt))
                    .col(timestamp_with_time_zone(JobPostings::LastSeenAt))
                    .col(timestamp_with_time_zone_null(JobPostings::ClosedAt))
                    .col(string_len(JobPostings::ContentHash, 64))
                    .col(json_binary_null(JobPostings::Raw))
                    .col(big_integer_null(JobPostings::FirstRunId))
                    .col(big_integer_null(JobPostings::LastRunId))
                    .col(timestamp_with_time_zone(JobPostings::CreatedAt))
                    .col(timestamp_with_time_zone(JobPostings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_job_postings_first_run")
                            .from(JobPostings::Table, JobPostings::FirstRunId)
                            .to(IngestRuns::Table, IngestRuns::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_job_postings_last_run")
                            .from(JobPostings::Table, JobPostings::LastRunId)
                            .to(IngestRuns::Table, IngestRuns::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_job_postings_source_external_id",
                    JobPostings::Table,
                    &["source", "external_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        for (name, cols) in [
            // Newest first, overall and per source (keyset pagination uses the id tie-breaker).
            ("idx_job_postings_posted", &["posted_at", "id"][..]),
            (
                "idx_job_postings_source_posted",
                &["source", "posted_at", "id"][..],
            ),
            ("idx_job_postings_company", &["company"][..]),
            ("idx_job_postings_last_seen", &["last_seen_at"][..]),
            ("idx_job_postings_first_seen", &["first_seen_at", "id"][..]),
            // Retention deletes runs; these keep the ON DELETE SET NULL checks cheap and serve
            // "postings of run N".
            ("idx_job_postings_first_run", &["first_run_id"][..]),
            ("idx_job_postings_last_run", &["last_run_id"][..]),
        ] {
            manager
                .create_index(index(name, JobPostings::Table, cols))
                .await?;
        }
        // Open postings: a partial index, same SQL on both backends.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS idx_job_postings_open \
                 ON job_postings (posted_at, id) WHERE closed_at IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(JobPostings::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(IngestRuns::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Schedules::Table).if_exists().to_owned())
            .await
    }
}

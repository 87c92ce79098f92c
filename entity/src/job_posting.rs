//! `job_postings`: every posting ever seen, one row per `(source, external_id)`.

use sea_orm::entity::prelude::*;

use crate::enums::{SalaryPeriod, SalarySource, Source, WorkArrangement, WorkType};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_postings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub source: Source,
    /// The source's own id (SEEK job id, Indeed jobkey, Greenhouse id, Lever/Ashby uuid, URL hash).
    pub external_id: String,
    pub url: String,
    pub apply_url: Option<String>,
    pub title: String,
    pub company: Option<String>,
    pub company_external_id: Option<String>,
    pub location_raw: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub work_type: Option<WorkType>,
    pub work_arrangement: WorkArrangement,
    pub salary_text: Option<String>,
    pub salary_min: Option<f64>,
    pub salary_max: Option<f64>,
    pub salary_currency: Option<String>,
    pub salary_period: Option<SalaryPeriod>,
    pub salary_annual_min: Option<f64>,
    pub salary_annual_max: Option<f64>,
    pub salary_source: Option<SalarySource>,
    pub description_html: Option<String>,
    pub description_text: Option<String>,
    pub classification: Option<String>,
    pub posted_at: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
    /// Hash over the fields that matter; a change means the posting was updated.
    pub content_hash: String,
    /// The source's JSON for this posting, kept for re-parsing without re-fetching.
    pub raw: Option<Json>,
    pub first_run_id: Option<i64>,
    pub last_run_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The company as a cluster key (`normalize::cluster_keys`); `None` for an unknown company
    /// (never clustered) and for rows stored before clusters that were not stored again since.
    pub company_key: Option<String>,
    /// The title as a cluster key.
    pub title_key: Option<String>,
    /// SimHash of the description's word shingles (the `u64` stored as `i64`); `None` for a
    /// description too short to decide.
    pub simhash: Option<i64>,
    /// The cluster this posting belongs to, as the id of its first-stored member; `None` when
    /// the posting is that member (or alone). A cluster's id is `cluster_id.unwrap_or(id)`.
    pub cluster_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::ingest_run::Entity",
        from = "Column::FirstRunId",
        to = "super::ingest_run::Column::Id",
        on_delete = "SetNull"
    )]
    FirstRun,
    #[sea_orm(
        belongs_to = "super::ingest_run::Entity",
        from = "Column::LastRunId",
        to = "super::ingest_run::Column::Id",
        on_delete = "SetNull"
    )]
    LastRun,
}

impl ActiveModelBehavior for ActiveModel {}

//! `schedules`: cron schedules stored in the database, fired by the embedded scheduler.

use sea_orm::entity::prelude::*;

use crate::enums::{MisfirePolicy, OverlapPolicy, Source};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "schedules")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub source: Source,
    pub params: Json,
    /// Cron with an optional seconds field.
    pub cron: String,
    /// IANA time zone the cron is evaluated in.
    pub timezone: String,
    pub enabled: bool,
    pub jitter_seconds: i32,
    pub overlap_policy: OverlapPolicy,
    pub misfire_policy: MisfirePolicy,
    pub max_attempts: i32,
    pub retry_backoff_seconds: i32,
    pub next_fire_at: Option<DateTimeUtc>,
    pub last_fire_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::ingest_run::Entity")]
    IngestRuns,
}

impl Related<super::ingest_run::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::IngestRuns.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

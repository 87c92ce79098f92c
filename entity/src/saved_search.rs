//! `saved_searches`: a stored `JobPostingFilter` whose matches are POSTed to a webhook (see
//! the migration `m20261206_000011_saved_searches` for the why).

use sea_orm::entity::prelude::*;

use crate::enums::DigestMode;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "saved_searches")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// The `JobPostingFilter` as GraphQL's JSON (the form `JobPostingFilter::from_json` reads).
    pub filter: Json,
    pub webhook_url: String,
    /// HMAC key of `X-Jobintel-Signature`; never returned by the API.
    pub secret: String,
    /// The subscribed events: a JSON array of `WebhookEvent` values (`["new", "closed"]`).
    pub events: Json,
    pub digest: DigestMode,
    /// `false` while paused (by `pauseSavedSearch` or by a delivery that kept failing).
    pub enabled: bool,
    pub paused_reason: Option<String>,
    /// When the last digest batch was built (HOURLY/DAILY).
    pub last_digest_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::webhook_delivery::Entity")]
    Deliveries,
}

impl Related<super::webhook_delivery::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Deliveries.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

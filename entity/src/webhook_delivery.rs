//! `webhook_deliveries`: the outbox of saved searches' webhooks, one row per event (or per
//! digest batch). Written in the transaction that caused the event; see the migration
//! `m20261206_000011_saved_searches` for the life of a row.

use sea_orm::entity::prelude::*;

use crate::enums::{DeliveryStatus, WebhookEvent};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `X-Jobintel-Delivery`: the same on every attempt.
    #[sea_orm(unique)]
    pub delivery_id: String,
    pub saved_search_id: i64,
    pub event: WebhookEvent,
    /// The posting the event is about (none for a digest batch).
    pub posting_id: Option<i64>,
    /// The JSON body POSTed to the webhook.
    pub payload: Json,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// A worker holds the row until then (it is sending it).
    pub lease_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    /// The HTTP status of the last attempt, when one came back.
    pub last_status: Option<i32>,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::saved_search::Entity",
        from = "Column::SavedSearchId",
        to = "super::saved_search::Column::Id",
        on_delete = "Cascade"
    )]
    SavedSearch,
}

impl Related<super::saved_search::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SavedSearch.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

//! `saved_searches` and their outbox `webhook_deliveries` (issue #15, "saved searches that call
//! you").
//!
//! A saved search is a stored `JobPostingFilter` plus a webhook. When a page's upsert (or
//! housekeeping's closing batch) touches postings the filter matches, a `webhook_deliveries`
//! row is written in that same transaction, so an event is never committed without its
//! delivery, nor a delivery without its event. The delivery worker reads the outbox; a row
//! stays `pending` until the receiver acknowledged it with a 2xx, which is what makes delivery
//! at-least-once across restarts and `kill -9`.
//!
//! - `delivery_id` is the `X-Jobintel-Delivery` header: unique, generated once, the same on
//!   every retry so receivers can de-duplicate.
//! - `status`: `pending` (to send), `delivered`, `failed` (gave up after the max age), or
//!   `queued` (an event of a HOURLY/DAILY search waiting for its digest; the digest delivery
//!   that bundles it is an ordinary `pending` row).
//! - `lease_until`: a worker that claims a row sets it; another worker skips the row until it
//!   passes, so a worker killed mid-delivery only delays the row, never loses it.
//! - `secret` is stored as given: it is needed to sign every delivery (a hash would not do).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SavedSearches {
    Table,
    Id,
    Name,
    Filter,
    WebhookUrl,
    Secret,
    Events,
    Digest,
    Enabled,
    PausedReason,
    LastDigestAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    DeliveryId,
    SavedSearchId,
    Event,
    PostingId,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    LastStatus,
    CreatedAt,
    DeliveredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SavedSearches::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SavedSearches::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SavedSearches::Name).string().not_null())
                    .col(ColumnDef::new(SavedSearches::Filter).json().not_null())
                    .col(ColumnDef::new(SavedSearches::WebhookUrl).text().not_null())
                    .col(ColumnDef::new(SavedSearches::Secret).text().not_null())
                    .col(ColumnDef::new(SavedSearches::Events).json().not_null())
                    .col(
                        ColumnDef::new(SavedSearches::Digest)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(SavedSearches::Enabled).boolean().not_null())
                    .col(ColumnDef::new(SavedSearches::PausedReason).text().null())
                    .col(
                        ColumnDef::new(SavedSearches::LastDigestAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(SavedSearches::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SavedSearches::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(WebhookDeliveries::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::DeliveryId)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::SavedSearchId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::Event)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::PostingId)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(WebhookDeliveries::Payload).json().not_null())
                    .col(
                        ColumnDef::new(WebhookDeliveries::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::NextAttemptAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::LeaseUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(WebhookDeliveries::LastError).text().null())
                    .col(
                        ColumnDef::new(WebhookDeliveries::LastStatus)
                            .integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::DeliveredAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_saved_search")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::SavedSearchId)
                            .to(SavedSearches::Table, SavedSearches::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The worker's scan: due rows by status, oldest due first.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_due")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // `SavedSearch.deliveries`, newest first, and the cascade on delete.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_search")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::SavedSearchId)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SavedSearches::Table).to_owned())
            .await
    }
}

//! The webhook outbox: which saved searches an event concerns, written in the transaction that
//! caused the event.
//!
//! [`OutboxHook`] is the ingest engine's [`PageHook`]: inside each page's transaction it
//! matches the page's new and changed postings against every enabled saved search and inserts
//! one `webhook_deliveries` row per (search, posting, subscribed event). Matching uses
//! [`filter::matches`], the in-memory form of the `jobPostings` filter (same rules, one
//! place), over the page's rows read inside the transaction: the full-text index is updated
//! after the page commits (`search_queue`), so an SQL `search` would miss the page's own
//! postings; `search` here matches title and company words, as subscriptions do.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use chrono::{DateTime, Utc};
use entity::{
    DeliveryStatus, DigestMode, WebhookEvent, job_posting, saved_search, webhook_delivery,
};
use ingest::store::PageHook;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::filter::{self, PostingFilter};
use super::saved_searches::events_of;
use crate::graphql::filter::JobPostingFilter;

/// Rows per INSERT (well under SQLite's bound-parameter limit).
const INSERT_CHUNK: usize = 200;

/// Writes the outbox rows of a stored page (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct OutboxHook;

impl PageHook for OutboxHook {
    fn on_page<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        new_ids: &'a [i64],
        updated_ids: &'a [i64],
    ) -> futures_util::future::BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(async move {
            enqueue(
                txn,
                &[
                    (WebhookEvent::New, new_ids),
                    (WebhookEvent::Updated, updated_ids),
                ],
                Utc::now(),
            )
            .await
            .map(|_| ())
        })
    }
}

/// A delivery id no other delivery has: 128 random-keyed bits, hex. Not a secret, only unique.
fn delivery_id(search: i64, event: WebhookEvent, posting: Option<i64>, seq: usize) -> String {
    let mut random = std::collections::hash_map::RandomState::new().build_hasher();
    random.write_usize(seq);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let digest = Sha256::digest(format!(
        "{search}:{event}:{posting:?}:{seq}:{nanos}:{}",
        random.finish()
    ));
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The JSON body a receiver gets for one posting's event.
fn event_body(
    delivery: &str,
    search: &saved_search::Model,
    event: WebhookEvent,
    p: &job_posting::Model,
    at: DateTime<Utc>,
) -> serde_json::Value {
    json!({
        "deliveryId": delivery,
        "event": event.as_str().to_uppercase(),
        "occurredAt": at,
        "savedSearch": {
            "id": crate::graphql::ids::encode("SavedSearch", search.id),
            "name": search.name,
        },
        "posting": {
            "id": crate::graphql::ids::encode("JobPosting", p.id),
            "source": p.source.as_str(),
            "externalId": p.external_id,
            "url": p.url,
            "title": p.title,
            "company": p.company,
            "location": p.location_raw,
            "country": p.country,
            "salaryMin": p.salary_min,
            "salaryMax": p.salary_max,
            "salaryCurrency": p.salary_currency,
            "postedAt": p.posted_at,
            "closedAt": p.closed_at,
        },
    })
}

/// The stored filter of `search`, or `None` (logged) if it no longer reads: a search whose
/// filter cannot be read must not match everything.
fn filter_of(search: &saved_search::Model) -> Option<PostingFilter> {
    match JobPostingFilter::from_json(&search.filter.to_string()) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(saved_search = search.id, error = ?e, "stored filter does not read; skipped");
            None
        }
    }
}

/// Insert the outbox rows for `batches` (event, posting ids) on `db` (the caller's
/// transaction): one per enabled saved search that subscribes to the event and whose filter
/// matches the posting. IMMEDIATE searches' rows are `pending`; HOURLY/DAILY searches' rows are
/// `queued` for their digest. Returns how many rows were written.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    batches: &[(WebhookEvent, &[i64])],
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let searches = saved_search::Entity::find()
        .filter(saved_search::Column::Enabled.eq(true))
        .all(db)
        .await?;
    if searches.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|(_, ids)| ids.iter().copied())
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let postings: HashMap<i64, job_posting::Model> = job_posting::Entity::find()
        .filter(job_posting::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut rows = Vec::new();
    for search in &searches {
        let events = events_of(search);
        let Some(filter) = filter_of(search) else {
            continue;
        };
        let status = if search.digest == DigestMode::Immediate {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::Queued
        };
        for (event, ids) in batches {
            if !events.contains(event) {
                continue;
            }
            for p in ids.iter().filter_map(|id| postings.get(id)) {
                if !filter::matches(&filter, p) {
                    continue;
                }
                let id = delivery_id(search.id, *event, Some(p.id), rows.len());
                rows.push(webhook_delivery::ActiveModel {
                    id: NotSet,
                    payload: Set(event_body(&id, search, *event, p, now)),
                    delivery_id: Set(id),
                    saved_search_id: Set(search.id),
                    event: Set(*event),
                    posting_id: Set(Some(p.id)),
                    status: Set(status),
                    attempts: Set(0),
                    next_attempt_at: Set(now),
                    lease_until: Set(None),
                    last_error: Set(None),
                    last_status: Set(None),
                    created_at: Set(now),
                    delivered_at: Set(None),
                });
            }
        }
    }
    let written = rows.len();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
        webhook_delivery::Entity::insert_many(chunk)
            .exec(db)
            .await?;
    }
    Ok(written)
}

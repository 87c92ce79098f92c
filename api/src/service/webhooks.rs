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
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, Iterable, QueryFilter,
    QuerySelect,
};
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
    // Every column but the large ones (descriptions, the source's raw JSON), which neither
    // the filters nor the bodies read: this runs inside every stored page's transaction.
    let mut select = job_posting::Entity::find().select_only();
    for column in job_posting::Column::iter() {
        select = match column {
            job_posting::Column::DescriptionHtml
            | job_posting::Column::DescriptionText
            | job_posting::Column::Raw => select.column_as(Expr::cust("NULL"), column),
            column => select.column(column),
        };
    }
    let postings: HashMap<i64, job_posting::Model> = select
        .filter(job_posting::Column::Id.is_in(ids))
        .into_model::<job_posting::Model>()
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

// ---------------------------------------------------------------------------------------------
// Delivery: claim due rows, POST them signed, record the answer.
// ---------------------------------------------------------------------------------------------

/// How the delivery worker behaves.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Delay before the first retry, doubled for each further one (`JOBINTEL_WEBHOOK_RETRY_BASE`,
    /// default 5 s).
    pub retry_base: std::time::Duration,
    /// A delivery still failing this long after it was written is given up and its saved
    /// search paused (a day).
    pub max_age: std::time::Duration,
    /// Time allowed for one POST, connect to status line.
    pub timeout: std::time::Duration,
    /// How long a claimed row is held by its worker: a worker killed mid-delivery delays the
    /// row by this much, never loses it.
    pub lease: std::time::Duration,
    /// Rows claimed per step.
    pub batch: u64,
    /// POSTs in flight at once per worker.
    pub concurrency: usize,
    /// How often the loop looks for due rows when the last step found none.
    pub poll: std::time::Duration,
    /// JOBINTEL_ALLOW_PRIVATE_NETWORK (checked again before every attempt: DNS may change).
    pub allow_private_network: bool,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            retry_base: std::time::Duration::from_secs(5),
            max_age: std::time::Duration::from_secs(24 * 3600),
            timeout: std::time::Duration::from_secs(10),
            lease: std::time::Duration::from_secs(60),
            batch: 50,
            concurrency: 8,
            poll: std::time::Duration::from_millis(250),
            allow_private_network: false,
        }
    }
}

impl DeliveryConfig {
    /// The defaults with the configured retry base and lease (`JOBINTEL_WEBHOOK_RETRY_BASE`,
    /// `JOBINTEL_WEBHOOK_LEASE`) and private-network guard (the fetcher's).
    pub fn configured(
        retry_base: std::time::Duration,
        lease: std::time::Duration,
        allow_private_network: bool,
    ) -> Self {
        let c = DeliveryConfig::default();
        DeliveryConfig {
            retry_base,
            // Never shorter than one attempt's timeout: a live worker's row must not be
            // claimed again while its POST may still be answered.
            lease: lease.max(c.timeout + std::time::Duration::from_secs(1)),
            allow_private_network,
            ..c
        }
    }
}

/// HMAC-SHA256 (RFC 2104) over the `sha2` the workspace already has.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let (mut ipad, mut opad) = ([0x36u8; BLOCK], [0x5cu8; BLOCK]);
    for i in 0..BLOCK {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// The `X-Jobintel-Signature` value of `body`: `sha256=<hex HMAC-SHA256 with the secret>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mac = hmac_sha256(secret.as_bytes(), body);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn chrono_of(d: std::time::Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

/// Claim up to `limit` due rows for this worker: `pending`, due, and not leased by a live
/// worker. Each row is taken by one conditional UPDATE (the lease), so two workers (or
/// instances) never send the same row at once on either backend; the attempt is counted at
/// claim time, so a worker killed after claiming still shows the attempt it made.
pub async fn claim(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lease: std::time::Duration,
    limit: u64,
) -> Result<Vec<webhook_delivery::Model>, DbErr> {
    use sea_orm::sea_query::{Condition, Expr, ExprTrait};
    use sea_orm::{QueryOrder, QuerySelect};
    let free = || {
        Condition::any()
            .add(webhook_delivery::Column::LeaseUntil.is_null())
            .add(webhook_delivery::Column::LeaseUntil.lte(now))
    };
    let due = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .filter(free())
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await?;
    let until = now + chrono_of(lease);
    let mut claimed = Vec::with_capacity(due.len());
    for row in due {
        let res = webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::LeaseUntil, Expr::value(until))
            .col_expr(
                webhook_delivery::Column::Attempts,
                Expr::col(webhook_delivery::Column::Attempts).add(1),
            )
            .filter(webhook_delivery::Column::Id.eq(row.id))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending))
            .filter(free())
            .exec(db)
            .await?;
        if res.rows_affected == 1 {
            claimed.push(webhook_delivery::Model {
                attempts: row.attempts + 1,
                lease_until: Some(until),
                ..row
            });
        }
    }
    Ok(claimed)
}

/// What one attempt came to.
enum Attempt {
    Delivered(u16),
    Failed { status: Option<u16>, error: String },
}

async fn post(
    client: &reqwest::Client,
    cfg: &DeliveryConfig,
    search: &saved_search::Model,
    row: &webhook_delivery::Model,
) -> Attempt {
    let (url, pinned) =
        match super::saved_searches::webhook_target(&search.webhook_url, cfg.allow_private_network)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                return Attempt::Failed {
                    status: None,
                    error: e.message(),
                };
            }
        };
    // A checked host name is connected to at the addresses checked (a one-off client pinned
    // to them), never re-resolved: that lookup could answer with a private address.
    let pinned_client;
    let client = match url.host_str() {
        Some(host) if !pinned.is_empty() => {
            let addrs: Vec<std::net::SocketAddr> = pinned
                .iter()
                .map(|ip| std::net::SocketAddr::new(*ip, 0))
                .collect();
            match reqwest::Client::builder()
                .timeout(cfg.timeout)
                .connect_timeout(cfg.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .resolve_to_addrs(host, &addrs)
                .build()
            {
                Ok(c) => {
                    pinned_client = c;
                    &pinned_client
                }
                Err(e) => {
                    return Attempt::Failed {
                        status: None,
                        error: format!("cannot build the HTTP client: {e}"),
                    };
                }
            }
        }
        _ => client,
    };
    let body = serde_json::to_vec(&row.payload).unwrap_or_default();
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-jobintel-signature", signature(&search.secret, &body))
        .header("x-jobintel-delivery", &row.delivery_id)
        .header(
            "x-jobintel-event",
            row.event.as_str().to_uppercase().as_str(),
        )
        .body(body)
        .send()
        .await;
    // The body is never read: only the status matters, and a receiver cannot make us buffer.
    match sent {
        Ok(resp) if resp.status().is_success() => Attempt::Delivered(resp.status().as_u16()),
        Ok(resp) => Attempt::Failed {
            status: Some(resp.status().as_u16()),
            error: format!("HTTP {}", resp.status()),
        },
        Err(e) => Attempt::Failed {
            status: None,
            error: if e.is_timeout() {
                format!("timed out after {:?}", cfg.timeout)
            } else {
                // Webhook URLs carry no credentials (refused when saved), so the URL in it is safe.
                format!("request failed: {e}")
            },
        },
    }
}

/// One step of the worker: build due digests, claim due rows, send them, record each answer.
/// Returns how many rows were attempted. Tests call this directly.
pub async fn deliver_once(
    db: &(impl ConnectionTrait + sea_orm::TransactionTrait),
    client: &reqwest::Client,
    cfg: &DeliveryConfig,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    build_digests(db, now).await?;
    use futures_util::{StreamExt, TryStreamExt};
    let rows = claim(db, now, cfg.lease, cfg.batch).await?;
    let n = rows.len();
    // Several POSTs at once: one slow receiver must not hold up every other search's events.
    futures_util::stream::iter(rows)
        .map(|row| async move {
            let Some(search) = saved_search::Entity::find_by_id(row.saved_search_id)
                .one(db)
                .await?
            else {
                return Ok(()); // deleted meanwhile: its rows went with it
            };
            let outcome = if search.enabled {
                post(client, cfg, &search, &row).await
            } else {
                // Paused: hold the row (not an attempt) until resumed.
                Attempt::Failed {
                    status: None,
                    error: "saved search paused".into(),
                }
            };
            record(db, cfg, &search, row, outcome, Utc::now()).await
        })
        .buffer_unordered(cfg.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(n)
}

async fn record(
    db: &impl ConnectionTrait,
    cfg: &DeliveryConfig,
    search: &saved_search::Model,
    row: webhook_delivery::Model,
    outcome: Attempt,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    let created_at = row.created_at;
    let attempts = row.attempts;
    let mut am = row.into_active_model();
    am.lease_until = Set(None);
    match outcome {
        Attempt::Delivered(status) => {
            am.status = Set(DeliveryStatus::Delivered);
            am.last_status = Set(Some(status.into()));
            am.last_error = Set(None);
            am.delivered_at = Set(Some(now));
            am.update(db).await?;
        }
        Attempt::Failed { status, error } if !search.enabled => {
            let _ = (status, error);
            am.attempts = Set(attempts - 1);
            am.next_attempt_at = Set(now + chrono_of(cfg.retry_base));
            am.update(db).await?;
        }
        Attempt::Failed { status, error } => {
            am.last_status = Set(status.map(i32::from));
            am.last_error = Set(Some(error.clone()));
            if now - created_at >= chrono_of(cfg.max_age) {
                am.status = Set(DeliveryStatus::Failed);
                am.update(db).await?;
                let reason = format!(
                    "webhook kept failing for {:?} ({} attempts); last: {error}",
                    cfg.max_age, attempts
                );
                tracing::warn!(saved_search = search.id, %reason, "saved search paused");
                super::saved_searches::set_enabled(db, search.id, false, Some(reason), now)
                    .await
                    .map_err(|e| DbErr::Custom(e.message()))?;
            } else {
                let factor = 2u32.saturating_pow((attempts - 1).clamp(0, 20) as u32);
                am.next_attempt_at = Set(now + chrono_of(cfg.retry_base.saturating_mul(factor)));
                am.update(db).await?;
            }
        }
    }
    Ok(())
}

/// For each HOURLY/DAILY search whose period has passed: bundle its `queued` events into one
/// `pending` DIGEST delivery (none when there were none), in one transaction.
pub async fn build_digests(
    db: &(impl ConnectionTrait + sea_orm::TransactionTrait),
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    use sea_orm::{ActiveModelTrait, IntoActiveModel, QueryOrder, TransactionSession};
    let searches = saved_search::Entity::find()
        .filter(saved_search::Column::Digest.ne(DigestMode::Immediate))
        .filter(saved_search::Column::Enabled.eq(true))
        .all(db)
        .await?;
    let mut built = 0;
    for search in searches {
        let period = match search.digest {
            DigestMode::Hourly => chrono::TimeDelta::hours(1),
            _ => chrono::TimeDelta::days(1),
        };
        if search
            .last_digest_at
            .is_some_and(|last| now - last < period)
        {
            continue;
        }
        let txn = db.begin().await?;
        let items = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::SavedSearchId.eq(search.id))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Queued))
            .order_by_asc(webhook_delivery::Column::Id)
            .all(&txn)
            .await?;
        if !items.is_empty() {
            let id = delivery_id(search.id, WebhookEvent::Digest, None, items.len());
            let events: Vec<serde_json::Value> = items.iter().map(|i| i.payload.clone()).collect();
            let payload = json!({
                "deliveryId": id,
                "event": "DIGEST",
                "occurredAt": now,
                "savedSearch": {
                    "id": crate::graphql::ids::encode("SavedSearch", search.id),
                    "name": search.name,
                },
                "events": events,
            });
            webhook_delivery::Entity::insert(webhook_delivery::ActiveModel {
                id: NotSet,
                delivery_id: Set(id),
                saved_search_id: Set(search.id),
                event: Set(WebhookEvent::Digest),
                posting_id: Set(None),
                payload: Set(payload),
                status: Set(DeliveryStatus::Pending),
                attempts: Set(0),
                next_attempt_at: Set(now),
                lease_until: Set(None),
                last_error: Set(None),
                last_status: Set(None),
                created_at: Set(now),
                delivered_at: Set(None),
            })
            .exec(&txn)
            .await?;
            webhook_delivery::Entity::update_many()
                .col_expr(
                    webhook_delivery::Column::Status,
                    sea_orm::sea_query::Expr::value(DeliveryStatus::Bundled.as_str()),
                )
                .filter(
                    webhook_delivery::Column::Id
                        .is_in(items.iter().map(|i| i.id).collect::<Vec<_>>()),
                )
                .exec(&txn)
                .await?;
            built += 1;
        }
        let mut am = search.into_active_model();
        am.last_digest_at = Set(Some(now));
        am.update(&txn).await?;
        txn.commit().await?;
    }
    Ok(built)
}

/// The delivery loop, started with the scheduler: [`deliver_once`] until `stop`. A failed step
/// is logged and the loop goes on.
pub async fn run_worker(
    db: sea_orm::DatabaseConnection,
    cfg: DeliveryConfig,
    stop: tokio_util::sync::CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook delivery worker not started");
            return;
        }
    };
    loop {
        let worked = match deliver_once(&db, &client, &cfg, Utc::now()).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(error = %e, "webhook delivery step failed; retrying");
                false
            }
        };
        if worked {
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(cfg.poll) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let long_key = [0xaau8; 131];
        let mac = hmac_sha256(
            &long_key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_lease_never_ends_before_an_attempt_can() {
        let s = std::time::Duration::from_secs;
        let c = DeliveryConfig::configured(s(2), s(1), true);
        assert_eq!(c.retry_base, s(2));
        assert_eq!(c.lease, c.timeout + s(1));
        assert!(c.allow_private_network);
        assert_eq!(DeliveryConfig::configured(s(5), s(90), false).lease, s(90));
    }
}

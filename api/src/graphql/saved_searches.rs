//! Saved searches: the `SavedSearch` type, its queries and its mutations. Thin adapters over
//! [`crate::service::saved_searches`]; the filter is validated here exactly as `jobPostings`
//! validates its argument, then stored as GraphQL JSON.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, InputObject, InputType, Object, Result};
use chrono::{DateTime, Utc};
use entity::{saved_search, webhook_delivery};

use super::auth::{require_reader, require_writer};
use super::filter::{JobPostingFilter, JobPostingOrder};
use super::ids;
use super::limits::PageArgs;
use super::query::posting_connection;
use super::types::JobPostingConnection;
use super::{ApiContext, cursor_for_id, id_from_cursor};
use crate::error::ApiError;
use crate::service::saved_searches::{self as svc, SavedSearchDef, SavedSearchPatch};

/// Largest page of saved searches or deliveries a client may ask for.
const MAX_PAGE: i32 = 100;

/// What happened to a posting, as a saved search subscribes to it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SavedSearchEvent {
    /// A posting matching the filter was stored for the first time.
    New,
    /// A matching posting's content changed (title, company, location, salary, work type or
    /// arrangement, description).
    Updated,
    /// A matching posting was closed by housekeeping (not seen at its source for a while).
    Closed,
}

impl From<SavedSearchEvent> for entity::WebhookEvent {
    fn from(e: SavedSearchEvent) -> Self {
        match e {
            SavedSearchEvent::New => entity::WebhookEvent::New,
            SavedSearchEvent::Updated => entity::WebhookEvent::Updated,
            SavedSearchEvent::Closed => entity::WebhookEvent::Closed,
        }
    }
}

/// What one delivery carries.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::WebhookEvent")]
pub enum WebhookEvent {
    New,
    Updated,
    Closed,
    /// A HOURLY or DAILY batch of several events.
    Digest,
}

/// When the webhook is called.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::DigestMode")]
pub enum DigestMode {
    /// One POST per event, as soon as possible.
    Immediate,
    /// One POST per hour with that hour's events (none when there were none).
    Hourly,
    /// One POST per day with that day's events (none when there were none).
    Daily,
}

/// Where a delivery is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::DeliveryStatus")]
pub enum DeliveryStatus {
    /// Waiting to be sent, or to be retried at `nextAttemptAt`.
    Pending,
    /// The webhook answered 2xx.
    Delivered,
    /// Given up after a day of failures (the saved search was paused).
    Failed,
    /// An event of a digest search waiting for its period's batch.
    Queued,
    /// An event that went out inside a digest delivery.
    Bundled,
}

/// A new saved search.
#[derive(InputObject, Debug)]
pub struct CreateSavedSearchInput {
    /// A name for people.
    pub name: String,
    /// Which postings (the same filter `jobPostings` takes; all when omitted).
    pub filter: Option<JobPostingFilter>,
    /// Where to POST: http(s), and a public address unless JOBINTEL_ALLOW_PRIVATE_NETWORK.
    pub webhook_url: String,
    /// At least 16 characters: the key of `X-Jobintel-Signature: sha256=<HMAC-SHA256 of the
    /// body>`. Never returned.
    pub secret: String,
    /// Which events to deliver (at least one).
    pub events: Vec<SavedSearchEvent>,
    /// One POST per event (default) or one batch per hour / day.
    #[graphql(default_with = "DigestMode::Immediate")]
    pub digest: DigestMode,
}

/// Changes to a saved search: omitted fields keep their value.
#[derive(InputObject, Debug, Default)]
pub struct UpdateSavedSearchInput {
    pub name: Option<String>,
    /// Replaces the whole filter.
    pub filter: Option<JobPostingFilter>,
    pub webhook_url: Option<String>,
    pub secret: Option<String>,
    pub events: Option<Vec<SavedSearchEvent>>,
    pub digest: Option<DigestMode>,
}

/// Validate `filter` as `jobPostings` would and return the JSON to store.
fn filter_json(filter: Option<JobPostingFilter>) -> Result<serde_json::Value, ApiError> {
    let filter = filter.unwrap_or_default();
    filter.to_service()?;
    filter
        .to_value()
        .into_json()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("filter to JSON: {e}")))
}

/// The stored filter back as the GraphQL input (stored by [`filter_json`], so it parses).
fn stored_filter(m: &saved_search::Model) -> Result<JobPostingFilter, ApiError> {
    let value = async_graphql::Value::from_json(m.filter.clone())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored filter: {e}")))?;
    JobPostingFilter::parse(Some(value)).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!(
            "stored filter of saved search {}: {}",
            m.id,
            e.into_server_error(async_graphql::Pos::default()).message
        ))
    })
}

fn page_size(first: Option<i32>) -> Result<u64, ApiError> {
    match first {
        None => Ok(20),
        Some(n) if (0..=MAX_PAGE).contains(&n) => Ok(n as u64),
        Some(n) => Err(ApiError::bad_input(format!(
            "`first` must be between 0 and {MAX_PAGE}, got {n}"
        ))),
    }
}

/// A stored filter whose matches are POSTed to a webhook.
pub struct SavedSearch(pub saved_search::Model);

#[Object]
impl SavedSearch {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        ID(ids::encode("SavedSearch", self.0.id))
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The stored `JobPostingFilter`, as JSON (GraphQL field names and enum values).
    async fn filter(&self) -> serde_json::Value {
        // Nulls are what GraphQL gives omitted fields; they say nothing.
        match &self.0.filter {
            serde_json::Value::Object(map) => serde_json::Value::Object(
                map.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    async fn webhook_url(&self) -> &str {
        &self.0.webhook_url
    }
    /// Always true (a secret is required); the secret itself is never returned.
    async fn has_secret(&self) -> bool {
        !self.0.secret.is_empty()
    }
    async fn events(&self) -> Vec<WebhookEvent> {
        svc::events_of(&self.0)
            .into_iter()
            .map(WebhookEvent::from)
            .collect()
    }
    async fn digest(&self) -> DigestMode {
        self.0.digest.into()
    }
    /// `false` while paused: by `pauseSavedSearch`, or after a delivery kept failing.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// Why it is paused (e.g. the last HTTP status or error of a delivery that kept failing).
    async fn paused_reason(&self) -> Option<&str> {
        self.0.paused_reason.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The postings that match the filter now (as `jobPostings(filter: …)`).
    async fn postings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge of the previous page.")] after: Option<String>,
        #[graphql(desc = "Sort order (default: `{field: POSTED_AT, direction: DESC}`).")]
        order_by: Option<JobPostingOrder>,
    ) -> Result<JobPostingConnection> {
        let filter = stored_filter(&self.0)?;
        posting_connection(
            ctx,
            Some(filter),
            order_by,
            PageArgs {
                first,
                after,
                last: None,
                before: None,
            },
            None,
        )
        .await
    }
    /// Its webhook deliveries, newest first.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge of the previous page.")] after: Option<String>,
    ) -> Result<Connection<String, WebhookDelivery>> {
        require_reader(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let first = page_size(first)?;
        let before_id = after.as_deref().map(id_from_cursor).transpose()?;
        let mut rows = svc::deliveries_page(&api.db, self.0.id, before_id, first).await?;
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let mut conn = Connection::new(after.is_some(), has_next);
        conn.edges.extend(
            rows.into_iter()
                .map(|m| Edge::new(cursor_for_id(m.id), WebhookDelivery(m))),
        );
        Ok(conn)
    }
}

/// One POST to a saved search's webhook (retried until acknowledged).
pub struct WebhookDelivery(pub webhook_delivery::Model);

#[Object]
impl WebhookDelivery {
    /// The `X-Jobintel-Delivery` header: the same on every attempt.
    async fn delivery_id(&self) -> &str {
        &self.0.delivery_id
    }
    async fn event(&self) -> WebhookEvent {
        self.0.event.into()
    }
    async fn status(&self) -> DeliveryStatus {
        self.0.status.into()
    }
    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// When the next attempt is due (pending deliveries).
    async fn next_attempt_at(&self) -> DateTime<Utc> {
        self.0.next_attempt_at
    }
    /// The HTTP status of the last attempt, when one came back.
    async fn last_status(&self) -> Option<i32> {
        self.0.last_status
    }
    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// The JSON body POSTed.
    async fn payload(&self) -> &serde_json::Value {
        &self.0.payload
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
}

#[derive(Default)]
pub struct SavedSearchQuery;

#[Object]
impl SavedSearchQuery {
    /// Saved searches by creation (a Relay connection; `first` ≤ 100).
    async fn saved_searches(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge of the previous page.")] after: Option<String>,
    ) -> Result<Connection<String, SavedSearch>> {
        require_reader(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let first = page_size(first)?;
        let after_id = after.as_deref().map(id_from_cursor).transpose()?;
        let mut rows = svc::page(&api.db, after_id, first).await?;
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let mut conn = Connection::new(after.is_some(), has_next);
        conn.edges.extend(
            rows.into_iter()
                .map(|m| Edge::new(cursor_for_id(m.id), SavedSearch(m))),
        );
        Ok(conn)
    }

    /// One saved search, or null.
    async fn saved_search(&self, ctx: &Context<'_>, id: ID) -> Result<Option<SavedSearch>> {
        require_reader(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let id = ids::decode("SavedSearch", &id)?;
        Ok(svc::get(&api.db, id).await?.map(SavedSearch))
    }
}

#[derive(Default)]
pub struct SavedSearchMutation;

#[Object]
impl SavedSearchMutation {
    /// Save a filter with a webhook: matching postings' events are POSTed to it, signed with
    /// `secret`. BAD_USER_INPUT for a bad filter, URL, secret or empty events.
    async fn create_saved_search(
        &self,
        ctx: &Context<'_>,
        input: CreateSavedSearchInput,
    ) -> Result<SavedSearch> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let def = SavedSearchDef {
            name: input.name,
            filter: filter_json(input.filter)?,
            webhook_url: input.webhook_url,
            secret: input.secret,
            events: input.events.into_iter().map(Into::into).collect(),
            digest: input.digest.into(),
        };
        let created = svc::create(&api.db, def, api.allow_private_network, Utc::now()).await?;
        Ok(SavedSearch(created))
    }

    /// Change a saved search; omitted fields keep their value.
    async fn update_saved_search(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateSavedSearchInput,
    ) -> Result<SavedSearch> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let id = ids::decode("SavedSearch", &id)?;
        let patch = SavedSearchPatch {
            name: input.name,
            filter: input.filter.map(|f| filter_json(Some(f))).transpose()?,
            webhook_url: input.webhook_url,
            secret: input.secret,
            events: input
                .events
                .map(|e| e.into_iter().map(Into::into).collect()),
            digest: input.digest.map(Into::into),
        };
        let updated =
            svc::update(&api.db, id, patch, api.allow_private_network, Utc::now()).await?;
        Ok(SavedSearch(updated))
    }

    /// Stop deliveries until `resumeSavedSearch` (events meanwhile are not replayed).
    async fn pause_saved_search(&self, ctx: &Context<'_>, id: ID) -> Result<SavedSearch> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let id = ids::decode("SavedSearch", &id)?;
        let reason = Some("paused by pauseSavedSearch".to_owned());
        Ok(SavedSearch(
            svc::set_enabled(&api.db, id, false, reason, Utc::now()).await?,
        ))
    }

    /// Deliver again (clears `pausedReason`).
    async fn resume_saved_search(&self, ctx: &Context<'_>, id: ID) -> Result<SavedSearch> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let id = ids::decode("SavedSearch", &id)?;
        Ok(SavedSearch(
            svc::set_enabled(&api.db, id, true, None, Utc::now()).await?,
        ))
    }

    /// Delete a saved search and its deliveries (pending ones are never sent). Returns the ID.
    async fn delete_saved_search(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        require_writer(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let db_id = ids::decode("SavedSearch", &id)?;
        svc::delete(&api.db, db_id).await?;
        Ok(id)
    }
}

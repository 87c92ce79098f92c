//! The GraphQL schema: one `build_schema`, one way to print the SDL without a database.
//!
//! Layout, by domain (each merged once here):
//! - [`query`]: health and job postings; [`runs`]: ingest runs and their counts;
//!   [`schedules`]: schedules and `cronPreview`; [`saved_searches`]: saved searches with
//!   webhooks; [`instances`]: the processes sharing the
//!   database; [`viewer`]: what the caller may do.
//! - [`types`]: shared objects and enums; [`ids`]: global IDs and cursors.
//! - [`auth`]: who is calling (bearer token) and the checks mutations and reads use.
//! - [`executor`]: what runs around every operation (parse cache, persisted queries, limits,
//!   DataLoaders, error codes, `/metrics` counters); [`response_cache`]: the exact cache of
//!   whole answers it consults for single HTTP queries.
//! - [`filter`]: the `JobPostingFilter` / `JobPostingOrder` inputs, validated into the service's
//!   filter (whose SQL and row-level forms are [`crate::service::filter`]);
//!   [`stats`]: `jobStats`; [`node`]: the Relay `Node` interface; [`loaders`]: DataLoaders;
//!   [`limits`]: depth, complexity, alias and batch limits; [`document`]: the walks that
//!   measure a document against them (each fragment once).

pub mod auth;
pub mod clusters;
pub mod document;
pub mod documents;
pub mod executor;
pub mod filter;
pub mod history;
pub mod ids;
pub mod instances;
pub mod json;
pub mod limits;
pub mod loaders;
pub mod mutation;
pub mod node;
pub mod plain;
pub mod query;
pub mod response_cache;
pub mod runs;
pub mod saved_searches;
pub mod schedules;
pub mod stats;
pub mod subscription;
pub mod types;
pub mod variables;
pub mod viewer;

use std::sync::Arc;

use async_graphql::{MergedObject, Schema, SchemaBuilder};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::DatabaseConnection;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// All queries, merged from the domain modules.
#[derive(MergedObject, Default)]
pub struct Query(
    query::PostingQuery,
    runs::RunQuery,
    schedules::ScheduleQuery,
    saved_searches::SavedSearchQuery,
    instances::InstanceQuery,
    viewer::ViewerQuery,
);

pub type Mutation = mutation::Mutation;
pub type Subscription = subscription::Subscription;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// What resolvers need, injected as schema data.
#[derive(Clone)]
pub struct ApiContext {
    pub db: DatabaseConnection,
    /// The read path's statements (pages of postings, a posting by id): on PostgreSQL they
    /// keep their connections between statements ([`crate::db::Reader`]).
    pub reader: crate::db::Reader,
    /// Starts, executes and cancels runs (its engine's bus carries their events); shared with
    /// this server's worker pool.
    pub runs: crate::service::runs::Runs,
    pub auth: auth::AuthPolicy,
    /// What subscriptions read: this instance's events and, on PostgreSQL, other instances'.
    pub fanout: crate::bus::Fanout,
    /// This process's id in `instances` (its lease-owner name).
    pub instance_id: String,
    /// JOBINTEL_ALLOW_PRIVATE_NETWORK: saved searches' webhooks may point at private and
    /// loopback addresses (the fetcher's rule, applied to webhooks too).
    pub allow_private_network: bool,
    /// Counts and `jobStats` parts per filter, exact under the data generation
    /// (`JOBINTEL_AGGREGATE_CACHE_BYTES`).
    pub aggregates: Arc<crate::service::aggregates::AggregateCache>,
}

/// The schema without data (for printing the SDL with `jobintel schema`).
fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    // async-graphql's generic connections carry no description of their own.
    .override_output_type_description::<async_graphql::connection::Connection<String, schedules::Schedule>>(
        "A page of schedules (a Relay connection), oldest first.",
    )
    .override_output_type_description::<schedules::ScheduleRunConnection>(
        "A page of a schedule's runs (a Relay connection), newest first.",
    )
}

/// The executable schema, wrapped in what runs around each operation. No async-graphql
/// extensions: see [`executor`] for why.
pub fn build_schema(
    ctx: ApiContext,
    metrics: Arc<Metrics>,
    request_timeout: std::time::Duration,
    cache: Arc<response_cache::ResponseCache>,
) -> executor::GraphqlExecutor {
    let db = ctx.db.clone();
    executor::GraphqlExecutor::new(ctx, db, metrics, request_timeout, cache)
}

/// The schema with its resolvers' context ([`executor::GraphqlExecutor`] builds it on first
/// use).
/// `mode`: `Strict` for documents not yet seen to pass, `Fast` for operations that have (see
/// [`variables`]).
fn executable_schema(ctx: ApiContext, mode: async_graphql::ValidationMode) -> AppSchema {
    // No `limit_complexity` / `limit_depth` here: async-graphql's visitors follow every
    // fragment spread afresh, so they would be exponential on hostile documents. The executor
    // measures each document first (`document::analyse`, each fragment once) and enforces the
    // cost, depth and alias limits there, for single requests, batches and WebSocket messages.
    builder().data(ctx).validation_mode(mode).finish()
}

/// The SDL that `schema.graphql` must equal.
pub fn sdl() -> String {
    builder().finish().sdl()
}

/// Opaque cursor for a keyset position on `id`.
pub fn cursor_for_id(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

pub fn id_from_cursor(cursor: &str) -> Result<i64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("id:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::bad_input(format!("`{cursor}` is not a valid cursor")))
}

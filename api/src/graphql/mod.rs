//! The GraphQL schema: one `build_schema`, one way to print the SDL without a database.
//!
//! Layout: [`query`] (roots), [`types`] (objects and enums), [`ids`] (global IDs and cursors),
//! [`metrics`] (an extension counting operations for `/metrics`).

pub mod ids;
pub mod metrics;
pub mod query;
pub mod types;

use std::sync::Arc;

use async_graphql::{EmptyMutation, EmptySubscription, Schema};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::DatabaseConnection;

use crate::error::ApiError;
use crate::metrics::Metrics;

pub type AppSchema = Schema<query::Query, EmptyMutation, EmptySubscription>;

/// What resolvers need, injected as schema data.
#[derive(Clone)]
pub struct ApiContext {
    pub db: DatabaseConnection,
}

/// The schema without data, for printing the SDL (`jobintel schema`).
fn builder() -> async_graphql::SchemaBuilder<query::Query, EmptyMutation, EmptySubscription> {
    Schema::build(query::Query, EmptyMutation, EmptySubscription)
}

/// The executable schema.
pub fn build_schema(db: DatabaseConnection, metrics: Arc<Metrics>) -> AppSchema {
    builder()
        .data(ApiContext { db })
        .extension(metrics::OperationMetrics(metrics))
        .finish()
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

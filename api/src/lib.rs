//! jobintel: one binary that scrapes job boards on a schedule, keeps every posting in a
//! database and serves it all through GraphQL.
//!
//! Layout, each module depending only on those listed before it:
//! - [`config`]: the one typed configuration (flags, environment, `.env`) and the instance name.
//! - [`error`]: typed errors mapped once to GraphQL errors with `extensions.code`.
//! - [`db`]: connecting with bounded retries, migrations. [`telemetry`], [`metrics`], [`bus`]
//!   (events between instances and to subscribers), [`per_client`] (per-address limits).
//! - [`scheduling`]: the scheduler's rules — cron, clock, jitter, backoff, overlap.
//! - [`service`]: the functions resolvers, the CLI and the scheduler call.
//! - [`scheduler`]: the background loops (tick, workers, reaper, housekeeping);
//!   [`presence`]: this process's heartbeat row in `instances`.
//! - [`graphql`]: the schema, split by domain.
//! - [`state`]: the application state one server shares with its handlers.
//! - [`routes`]: HTTP handlers (GraphQL, GraphiQL, health, metrics); [`server`]: the router
//!   and `run(listener, state, shutdown)`.
//! - [`import`]: `jobintel import` — the old system's postings, its Hangfire recurring jobs
//!   and python-jobspy CSVs; [`export`](crate::service::export) the other way.
//! - [`cli`]: what each subcommand does; `main.rs` only parses and dispatches. Nothing else
//!   imports it.

#![forbid(unsafe_code)]

pub mod bus;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod generation_lru;
pub mod graphql;
pub mod import;
pub mod metrics;
pub mod per_client;
pub mod presence;
mod repoll;
pub mod routes;
pub mod scheduler;
pub mod scheduling;
pub mod server;
pub mod service;
pub mod state;
pub mod telemetry;

/// Install the process-wide TLS crypto provider. reqwest is built without one so that a single
/// provider (ring, shared with sqlx) is compiled in; call this before building any HTTP client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

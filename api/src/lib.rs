//! jobintel: one binary that scrapes job boards on a schedule, keeps every posting in a
//! database and serves it all through GraphQL.
//!
//! Layout:
//! - [`config`]: the one typed configuration (flags, environment, `.env`).
//! - [`db`]: connecting with bounded retries, migrations.
//! - [`server`]: router, shared state and `run(listener, state, shutdown)`.
//! - [`routes`]: HTTP handlers (GraphQL, GraphiQL, health, metrics).
//! - [`graphql`]: the schema, split by domain; [`service`]: the functions resolvers call.
//! - [`error`]: typed errors mapped once to GraphQL errors with `extensions.code`.
//! - [`cli`]: what each subcommand does; `main.rs` only parses and dispatches.

#![forbid(unsafe_code)]

pub mod bus;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod graphql;
pub mod metrics;
pub mod routes;
pub mod scheduler;
pub mod server;
pub mod service;
pub mod telemetry;

/// Install the process-wide TLS crypto provider. reqwest is built without one so that a single
/// provider (ring, shared with sqlx) is compiled in; call this before building any HTTP client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

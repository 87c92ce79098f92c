//! HTTP routes: GraphQL (POST, GET and WebSocket on `/graphql`), the offline GraphiQL
//! playground and operations console, health and metrics, postings export, and the guards in
//! front of them.

pub mod console;
pub mod export;
pub mod graphiql;
pub mod graphql;
pub mod guard;
pub mod health;
pub mod metrics;
pub mod ws;

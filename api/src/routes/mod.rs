//! HTTP routes: GraphQL (POST, GET and WebSocket on `/graphql`), the offline GraphiQL
//! playground, health and metrics.

pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod metrics;

//! Turning job boards into clean, deduplicated rows.
//!
//! Layout:
//! - [`model`]: the domain types every other module speaks (`NormalizedPosting`, `SearchParams`, …).
//! - [`normalize`]: salary, location, work type, HTML and date normalisation (pure functions).
//! - [`sources`]: one module per source; each parses the source's real responses into
//!   `NormalizedPosting`s and builds the live site's URLs on an overridable base.
//! - [`fetch`]: the polite HTTP client every run shares (rate limits, robots.txt, retries,
//!   private-network guard, challenge detection).
//! - [`store`]: run rows and the one-transaction-per-page upsert.
//! - [`engine`]: executes a run from first request to terminal status.
//! - [`events`]: the in-process bus the API's subscriptions read.
//! - [`generation`]: the data generation every write bumps (what the API's response cache
//!   checks answers against).
//! - [`search_index`]: PostgreSQL's full-text indexing, in the background after pages are stored.

pub mod engine;
pub mod events;
pub mod fetch;
pub mod generation;
pub mod model;
pub mod normalize;
pub mod search_index;
pub mod sources;
pub mod store;

pub use model::*;

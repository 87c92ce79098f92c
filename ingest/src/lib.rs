//! Turning job boards into clean, deduplicated rows.
//!
//! Layout:
//! - [`model`]: the domain types every other module speaks (`NormalizedPosting`, `SearchParams`, …).
//! - [`normalize`]: salary, location, work type, HTML and date normalisation (pure functions).
//! - [`sources`]: one module per source; each parses the source's real responses into
//!   `NormalizedPosting`s.

pub mod model;
pub mod normalize;
pub mod sources;

pub use model::*;

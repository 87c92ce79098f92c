//! SeaORM entities for jobintel's tables, and the string enums stored in them.
//!
//! Layout:
//! - [`job_posting`]: one row per posting, keyed by `(source, external_id)`.
//! - [`ingest_run`]: one row per ingest run (manual, scheduled or from the CLI).
//! - [`posting_history`]: what changed in a posting, when, and which run saw it.
//! - [`saved_search`]: stored filters with a webhook; [`webhook_delivery`]: their outbox.
//! - [`schedule`]: cron schedules that the embedded scheduler turns into runs.
//! - [`instance`]: one row per `jobintel serve` process sharing the database, with its
//!   heartbeat (the console's Instances page).
//! - [`enums`]: the closed vocabularies (sources, statuses, …) stored as short strings so that the
//!   same schema works on SQLite and PostgreSQL without native enum types.
//!
//! Entities only: queries live in the service layers of `ingest` and `api`.

pub mod enums;
pub mod ingest_run;
pub mod instance;
pub mod job_posting;
pub mod posting_history;
pub mod saved_search;
pub mod schedule;
pub mod webhook_delivery;

pub use enums::*;

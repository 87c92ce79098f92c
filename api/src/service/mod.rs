//! The service layer: functions over a connection (`&impl ConnectionTrait`, so the same code runs
//! on the pool or inside a transaction). Resolvers, routes, the CLI and the scheduler stay thin
//! and call these.
//!
//! Layout:
//! - [`runs`]: starting, executing and cancelling runs ([`runs::Runs`], the one path the API,
//!   the CLI and the worker pool share) and reading them; [`queue`]: the run queue's
//!   statements (enqueue, claim, heartbeat, retry, cancel).
//! - [`schedules`]: validated schedule writes and reads; [`wake`]: the signals that wake this
//!   server's worker pool and tick.
//! - [`filter`]: the posting filter, as SQL and in memory; [`postings`]: pages, counts, one
//!   posting; [`stats`]: `jobStats`; [`aggregates`]: the exact cache of counts and `jobStats`
//!   parts per filter and data generation; [`health`]; [`export`]: postings as CSV / JSON Lines,
//!   streamed in keyset batches.
//! - [`saved_searches`]: saved searches and the webhook URL check; [`webhooks`]: their
//!   outbox, written in the page's transaction.
//! - [`clusters`]: the same job on several boards (`JobPosting.cluster`).
//! - [`instances`]: the serving processes sharing the database (heartbeat rows).

pub mod aggregates;
pub mod clusters;
pub mod export;
pub mod filter;
pub mod health;
pub mod history;
pub mod instances;
pub mod postings;
pub mod queue;
pub mod runs;
pub mod saved_searches;
pub mod schedules;
pub(crate) mod sql;
pub mod stats;
pub mod wake;
pub mod webhooks;

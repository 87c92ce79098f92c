//! The service layer: functions over a connection (`&impl ConnectionTrait`, so the same code runs
//! on the pool or inside a transaction). Resolvers and routes stay thin and call these.

pub mod filter;
pub mod health;
pub mod postings;
pub mod queue;
pub mod runs;
pub mod schedules;
pub(crate) mod sql;
pub mod stats;
pub mod wake;

//! The scheduler's rules, apart from the loops that apply them ([`crate::scheduler`]) and the
//! service functions that store schedules and runs ([`crate::service`]), so both can use them
//! without depending on each other.
//!
//! Layout:
//! - [`cron`]: cron expressions in IANA time zones, with Hangfire's (Cronos') DST rules.
//! - [`clock`]: where "now" comes from (the database clock; a manual clock in tests).
//! - [`policy`]: jitter, retry backoff and the overlap policy, as pure functions.

pub mod clock;
pub mod cron;
pub mod policy;

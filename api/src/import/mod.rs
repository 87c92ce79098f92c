//! Moving in from the old system: importers behind `jobintel import …`.
//!
//! Layout:
//! - [`hangfire`]: recurring jobs of Hangfire.PostgreSql become schedules;
//!   [`windows_zones`]: CLDR's Windows → IANA time zone table it uses.

pub mod hangfire;
pub mod windows_zones;

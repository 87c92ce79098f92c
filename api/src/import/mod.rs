//! Moving in from the old system: importers behind `jobintel import …`.
//!
//! Layout:
//! - [`windows_zones`]: CLDR's Windows → IANA time zone table.

pub mod windows_zones;

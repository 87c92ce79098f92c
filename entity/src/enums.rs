//! Closed vocabularies stored as strings. The string values are part of the public contract
//! (GraphQL, CLI, database): never rename one.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Declares a string-backed SeaORM enum with `as_str`, `ALL`, `Display` and `FromStr`.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* #[sea_orm(string_value = $value)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored string value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $value),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let t = s.trim();
                $(if t.eq_ignore_ascii_case($value) { return Ok($name::$variant); })+
                Err(UnknownValue {
                    kind: stringify!($name),
                    value: s.to_owned(),
                    expected: &[$($value),+],
                })
            }
        }
    };
}

/// A string that is not one of an enum's values; its `Display` lists the accepted ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static [&'static str],
}

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown {} `{}` (expected one of: {})",
            self.kind,
            self.value,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownValue {}

string_enum! {
    // One variant per source in `ingest::sources::registry`; the doc comments are the GraphQL
    // descriptions (the API derives its `Source` enum from this one). The variants after
    // `Personio` are import-only: boards jobintel does not scrape, whose postings arrive through
    // `jobintel import` (python-jobspy CSVs, the old system's table). They can be searched and
    // exported like any other, but `registry` has no scraper for them, so runs and schedules
    // refuse them.
    /// Where a posting came from.
    #[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
    Source {
        /// SEEK (Australia and New Zealand).
        Seek = "seek",
        /// Indeed.
        Indeed = "indeed",
        /// A Greenhouse job board.
        Greenhouse = "greenhouse",
        /// A Lever job board.
        Lever = "lever",
        /// An Ashby job board.
        Ashby = "ashby",
        /// schema.org `JobPosting` JSON-LD on any career page.
        Jsonld = "jsonld",
        /// Workday career sites (`<tenant>.wd<N>.myworkdayjobs.com`), through their public
        /// candidate-experience JSON API.
        Workday = "workday",
        /// SmartRecruiters career pages, through the public Posting API
        /// (`api.smartrecruiters.com/v1/companies/<company>/postings`).
        #[serde(rename = "smartrecruiters")]
        SmartRecruiters = "smartrecruiters",
        /// A Recruitee careers site.
        Recruitee = "recruitee",
        /// A Personio career page (its XML job feed).
        Personio = "personio",
        /// LinkedIn (import only: `jobintel import`, never scraped).
        Linkedin = "linkedin",
        /// Glassdoor (import only: `jobintel import`, never scraped).
        Glassdoor = "glassdoor",
        /// Google Jobs (import only: `jobintel import`, never scraped).
        Google = "google",
        /// ZipRecruiter (import only: `jobintel import`, never scraped).
        ZipRecruiter = "zip_recruiter",
        /// Bayt (import only: `jobintel import`, never scraped).
        Bayt = "bayt",
        /// Naukri (import only: `jobintel import`, never scraped).
        Naukri = "naukri",
        /// BDJobs (import only: `jobintel import`, never scraped).
        Bdjobs = "bdjobs",
    }
}

string_enum! {
    /// Employment type, normalised across sources.
    WorkType {
        FullTime = "full_time",
        PartTime = "part_time",
        Contract = "contract",
        Casual = "casual",
        Internship = "internship",
        Temporary = "temporary",
        Other = "other",
    }
}

string_enum! {
    /// Where the work happens.
    WorkArrangement {
        OnSite = "on_site",
        Hybrid = "hybrid",
        Remote = "remote",
        Unknown = "unknown",
    }
}

string_enum! {
    /// The period a salary figure is quoted per.
    SalaryPeriod {
        Hour = "hour",
        Day = "day",
        Week = "week",
        Month = "month",
        Year = "year",
    }
}

string_enum! {
    /// Whether salary numbers came from structured source fields or were parsed from text.
    SalarySource {
        Structured = "structured",
        Parsed = "parsed",
    }
}

string_enum! {
    /// Lifecycle of an ingest run.
    RunStatus {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        /// The site answered with a bot challenge; the run stopped instead of retrying into it.
        Blocked = "blocked",
        Cancelled = "cancelled",
        /// The process running it died or shut down before it finished.
        Interrupted = "interrupted",
        /// A schedule fired while its previous run was still going and its overlap policy is `skip`.
        Skipped = "skipped",
    }
}

impl RunStatus {
    /// Whether a run in this status will never change again.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

string_enum! {
    /// What started a run.
    RunTrigger {
        Manual = "manual",
        Schedule = "schedule",
        Cli = "cli",
        /// `jobintel import`: postings from the old system or a python-jobspy CSV.
        Import = "import",
        /// `retryIngestRun`: a new run with the parameters of a run that did not succeed.
        Retry = "retry",
    }
}

string_enum! {
    /// What a schedule does when it fires while its previous run is still queued or running.
    OverlapPolicy {
        Skip = "skip",
        Queue = "queue",
    }
}

string_enum! {
    /// What a schedule does with fires missed while no instance was running.
    MisfirePolicy {
        Skip = "skip",
        FireOnce = "fire_once",
    }
}

string_enum! {
    /// What a `posting_history` entry records.
    PostingChangeKind {
        /// Tracked fields changed (title, company, location, salary, work type or
        /// arrangement, description).
        Changed = "changed",
        /// Housekeeping closed it: not seen at its source for the close-after period.
        Closed = "closed",
        /// Seen again after it was closed.
        Reopened = "reopened",
    }
}

string_enum! {
    /// What happened to a posting that a saved search's webhook is told about.
    WebhookEvent {
        /// First stored by an ingest page.
        New = "new",
        /// Its content changed (a `changed` history entry).
        Updated = "updated",
        /// Housekeeping closed it.
        Closed = "closed",
        /// A HOURLY/DAILY digest bundling several events.
        Digest = "digest",
    }
}

string_enum! {
    /// When a saved search's webhook is called.
    DigestMode {
        /// One delivery per event, as soon as the worker sees it.
        Immediate = "immediate",
        /// One delivery per hour with that hour's events.
        Hourly = "hourly",
        /// One delivery per day with that day's events.
        Daily = "daily",
    }
}

string_enum! {
    /// Where a `webhook_deliveries` row is in its life.
    DeliveryStatus {
        /// To send (again): the worker picks it up once `next_attempt_at` has passed.
        Pending = "pending",
        /// The receiver answered 2xx.
        Delivered = "delivered",
        /// Still failing after the max age; the saved search was paused.
        Failed = "failed",
        /// An event of a digest search waiting for its period's batch.
        Queued = "queued",
        /// An event sent as part of a digest delivery.
        Bundled = "bundled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_strings() {
        for s in Source::ALL {
            assert_eq!(s.as_str().parse::<Source>().unwrap(), *s);
        }
        assert_eq!("FULL_TIME".parse::<WorkType>().unwrap(), WorkType::FullTime);
    }

    #[test]
    fn unknown_value_lists_the_accepted_ones() {
        let err = "monster".parse::<Source>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown Source `monster` (expected one of: seek, indeed, greenhouse, lever, ashby, jsonld, workday, smartrecruiters, recruitee, personio, linkedin, glassdoor, google, zip_recruiter, bayt, naukri, bdjobs)"
        );
    }
}

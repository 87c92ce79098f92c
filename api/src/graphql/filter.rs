//! `JobPostingFilter` and `JobPostingOrder`: the inputs `jobPostings`, `IngestRun.postings`,
//! `jobStats` and the posting subscriptions take, validated and translated into the service
//! layer's [`PostingFilter`] (whose SQL and in-memory forms live in [`crate::service::filter`]).

use async_graphql::{Enum, ID, InputObject};
use chrono::{DateTime, Utc};

use super::ids;
use super::types::{Source, WorkArrangement, WorkType};
use crate::error::{ApiError, ApiResult};
use crate::service::filter::{PostingFilter, Search};
use crate::service::postings::{Order, OrderField};

/// Which postings to return. Every field is optional and the fields are AND-combined; a list
/// matches postings with any of its values (an empty list is ignored).
#[derive(InputObject, Clone, Debug, Default)]
pub struct JobPostingFilter {
    /// Full-text search over title, company and description; every word must match (stemmed:
    /// `engineers` finds `engineer`). PostgreSQL `tsvector` / SQLite FTS5. In subscriptions
    /// (which see one posting at a time) it matches title and company only, as a
    /// case-insensitive substring test per word.
    pub search: Option<String>,
    /// Postings from any of these sources.
    pub sources: Option<Vec<Source>>,
    /// Exact company names, as `jobStats.topCompanies` returns them.
    pub companies: Option<Vec<String>>,
    /// Case-insensitive substring of the title (ASCII case folding on SQLite).
    pub title_contains: Option<String>,
    /// Case-insensitive substring of the location as written, the city or the region.
    pub location_contains: Option<String>,
    /// ISO 3166-1 alpha-2 codes, e.g. `AU`.
    pub countries: Option<Vec<String>>,
    /// Postings of any of these employment types.
    pub work_types: Option<Vec<WorkType>>,
    /// Postings with any of these arrangements.
    pub work_arrangements: Option<Vec<WorkArrangement>>,
    /// Postings whose annual salary range reaches at least this amount (annual max, or annual
    /// min when there is no max). Postings without an annual salary are excluded.
    pub salary_annual_min: Option<f64>,
    /// Postings whose annual salary range starts at or below this amount (annual min, or annual
    /// max when there is no min). Postings without an annual salary are excluded.
    pub salary_annual_max: Option<f64>,
    /// ISO 4217 code, e.g. `AUD`.
    pub salary_currency: Option<String>,
    /// Posted at or after this instant (postings without a posting date are excluded).
    pub posted_after: Option<DateTime<Utc>>,
    /// Posted strictly before this instant (postings without a posting date are excluded).
    pub posted_before: Option<DateTime<Utc>>,
    /// Last seen at its source at or after this instant.
    pub seen_after: Option<DateTime<Utc>>,
    /// `true`: still advertised (`closedAt` is null); `false`: closed.
    pub open: Option<bool>,
    /// First or last seen by this ingest run (an `IngestRun` ID).
    pub ingest_run_id: Option<ID>,
    /// `true`: one posting per cluster — the same job on several boards counts once, as its
    /// earliest-stored posting (the others are `cluster.postings` away). In `jobStats`, counts
    /// jobs rather than rows.
    pub distinct: Option<bool>,
}

/// What postings can be sorted by. Missing values (no posting date, no salary) sort last in
/// both directions; ties are broken by id, in the same direction.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum JobPostingOrderField {
    /// When the source says it was posted.
    PostedAt,
    /// When jobintel first saw it.
    FirstSeenAt,
    /// When jobintel last saw it at its source.
    LastSeenAt,
    /// Upper end of the annual salary range.
    SalaryAnnualMax,
    /// Lower end of the annual salary range.
    SalaryAnnualMin,
    /// Title, by code point.
    Title,
    /// How well it matches `filter.search` (only with a search). PostgreSQL: `ts_rank` with
    /// title weighted above company above description. SQLite: title matches, then company
    /// matches, then description-only matches.
    Relevance,
}

/// Sort direction.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OrderDirection {
    /// Smallest / oldest first.
    Asc,
    /// Largest / newest first.
    Desc,
}

/// How to sort postings; the default is `{field: POSTED_AT, direction: DESC}` (newest first).
#[derive(InputObject, Clone, Copy, Debug)]
pub struct JobPostingOrder {
    /// The field to sort by.
    pub field: JobPostingOrderField,
    /// The direction (default `DESC`).
    #[graphql(default_with = "OrderDirection::Desc")]
    pub direction: OrderDirection,
}

impl JobPostingOrder {
    pub fn to_service(order: Option<JobPostingOrder>) -> Order {
        let Some(o) = order else {
            return Order::default();
        };
        Order {
            field: match o.field {
                JobPostingOrderField::PostedAt => OrderField::PostedAt,
                JobPostingOrderField::FirstSeenAt => OrderField::FirstSeenAt,
                JobPostingOrderField::LastSeenAt => OrderField::LastSeenAt,
                JobPostingOrderField::SalaryAnnualMax => OrderField::SalaryAnnualMax,
                JobPostingOrderField::SalaryAnnualMin => OrderField::SalaryAnnualMin,
                JobPostingOrderField::Title => OrderField::Title,
                JobPostingOrderField::Relevance => OrderField::Relevance,
            },
            descending: o.direction == OrderDirection::Desc,
        }
    }
}

fn codes(values: &Option<Vec<String>>, len: usize, what: &str) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for v in values.iter().flatten() {
        let code = v.trim().to_ascii_uppercase();
        if code.len() != len || !code.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(ApiError::bad_input(format!(
                "`{v}` is not a {what} ({len} letters)"
            )));
        }
        out.push(code);
    }
    Ok(out)
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl JobPostingFilter {
    /// Validate and translate for the service layer.
    pub fn to_service(&self) -> ApiResult<PostingFilter> {
        self.check_sizes()?;
        let currency = codes(
            &self.salary_currency.clone().map(|c| vec![c]),
            3,
            "ISO 4217 currency code",
        )?;
        let run_ids = match &self.ingest_run_id {
            Some(id) => vec![ids::decode("IngestRun", id)?],
            None => Vec::new(),
        };
        for (name, v) in [
            ("salaryAnnualMin", self.salary_annual_min),
            ("salaryAnnualMax", self.salary_annual_max),
        ] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(ApiError::bad_input(format!(
                    "`{name}` must be a finite number"
                )));
            }
        }
        Ok(PostingFilter {
            search: self.search.as_deref().and_then(Search::parse),
            sources: self.sources.iter().flatten().copied().collect(),
            companies: self.companies.clone().unwrap_or_default(),
            title_contains: non_empty(&self.title_contains),
            location_contains: non_empty(&self.location_contains),
            countries: codes(&self.countries, 2, "ISO 3166-1 alpha-2 country code")?,
            work_types: self
                .work_types
                .iter()
                .flatten()
                .map(|s| (*s).into())
                .collect(),
            work_arrangements: self
                .work_arrangements
                .iter()
                .flatten()
                .map(|s| (*s).into())
                .collect(),
            salary_annual_min: self.salary_annual_min,
            salary_annual_max: self.salary_annual_max,
            salary_currency: currency.into_iter().next(),
            posted_after: self.posted_after,
            posted_before: self.posted_before,
            seen_after: self.seen_after,
            open: self.open,
            run_ids,
            distinct: self.distinct.unwrap_or(false),
        })
    }
}

/// Most values in one list of a filter: each becomes a bound parameter, and SQLite refuses a
/// statement with more than 32,766 of them (a 256 KiB request could carry 40,000).
pub const MAX_FILTER_VALUES: usize = 100;
/// Longest `search` text: each word is a term of the full-text query.
pub const MAX_SEARCH_CHARS: usize = 500;
/// Longest `titleContains` / `locationContains` / company value.
pub const MAX_CONTAINS_CHARS: usize = 200;

impl JobPostingFilter {
    /// Bound the work one filter can ask of the database.
    fn check_sizes(&self) -> ApiResult<()> {
        let lists = [
            ("sources", self.sources.as_ref().map_or(0, Vec::len)),
            ("companies", self.companies.as_ref().map_or(0, Vec::len)),
            ("countries", self.countries.as_ref().map_or(0, Vec::len)),
            ("workTypes", self.work_types.as_ref().map_or(0, Vec::len)),
            (
                "workArrangements",
                self.work_arrangements.as_ref().map_or(0, Vec::len),
            ),
        ];
        for (name, n) in lists {
            if n > MAX_FILTER_VALUES {
                return Err(ApiError::bad_input(format!(
                    "`{name}` may list at most {MAX_FILTER_VALUES} values, got {n}"
                )));
            }
        }
        let texts = [
            ("search", self.search.as_deref(), MAX_SEARCH_CHARS),
            (
                "titleContains",
                self.title_contains.as_deref(),
                MAX_CONTAINS_CHARS,
            ),
            (
                "locationContains",
                self.location_contains.as_deref(),
                MAX_CONTAINS_CHARS,
            ),
        ]
        .into_iter()
        .chain(
            self.companies
                .iter()
                .flatten()
                .map(|c| ("companies", Some(c.as_str()), MAX_CONTAINS_CHARS)),
        );
        for (name, text, max) in texts {
            if let Some(t) = text
                && t.chars().count() > max
            {
                return Err(ApiError::bad_input(format!(
                    "`{name}` may be at most {max} characters long"
                )));
            }
        }
        Ok(())
    }
}

impl JobPostingFilter {
    /// A filter written as JSON (`jobintel export --filter`, `GET /export/postings.csv?filter=`),
    /// read exactly as GraphQL reads a `JobPostingFilter` variable: the same field names, enum
    /// values (`"SEEK"`), date-times and checks ([`Self::to_service`]). A field GraphQL does not
    /// know is refused rather than ignored, so a misspelt field cannot widen an export to every
    /// posting.
    pub fn from_json(text: &str) -> ApiResult<PostingFilter> {
        use async_graphql::InputType as _;
        use async_graphql::registry::{MetaType, Registry};

        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| ApiError::bad_input(format!("the filter is not JSON: {e}")))?;
        let serde_json::Value::Object(fields) = &json else {
            return Err(ApiError::bad_input(
                "the filter must be a JSON object (a JobPostingFilter), e.g. {\"sources\": [\"SEEK\"]}",
            ));
        };
        let mut registry = Registry::default();
        JobPostingFilter::create_type_info(&mut registry);
        let Some(MetaType::InputObject { input_fields, .. }) =
            registry.types.get(JobPostingFilter::type_name().as_ref())
        else {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "JobPostingFilter is not an input object in its own registry"
            )));
        };
        if let Some(unknown) = fields.keys().find(|k| !input_fields.contains_key(*k)) {
            let known: Vec<&str> = input_fields.keys().map(String::as_str).collect();
            return Err(ApiError::bad_input(format!(
                "the filter has no field `{unknown}` (JobPostingFilter fields: {})",
                known.join(", ")
            )));
        }
        let value = async_graphql::Value::from_json(json)
            .map_err(|e| ApiError::bad_input(format!("the filter is not valid: {e}")))?;
        let filter = JobPostingFilter::parse(Some(value)).map_err(|e| {
            let message = e.into_server_error(async_graphql::Pos::default()).message;
            ApiError::bad_input(format!(
                "the filter is not a valid JobPostingFilter: {message}"
            ))
        })?;
        filter.to_service()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_filter_reads_like_a_graphql_variable() {
        let f = JobPostingFilter::from_json(
            r#"{"sources": ["SEEK", "INDEED"], "titleContains": " rust ", "countries": ["au"],
                "postedAfter": "2026-11-01T00:00:00Z", "open": true}"#,
        )
        .unwrap();
        assert_eq!(f.sources, [entity::Source::Seek, entity::Source::Indeed]);
        assert_eq!(f.title_contains.as_deref(), Some("rust"));
        assert_eq!(f.countries, ["AU"]);
        assert_eq!(f.open, Some(true));
        assert!(f.posted_after.is_some());
        assert_eq!(
            JobPostingFilter::from_json("{}").unwrap(),
            PostingFilter::default()
        );
    }

    #[test]
    fn bad_json_filters_say_precisely_what_is_wrong() {
        let msg = |text: &str| JobPostingFilter::from_json(text).unwrap_err().message();
        assert!(msg("{").contains("not JSON"), "{}", msg("{"));
        assert!(msg("[]").contains("JSON object"));
        let m = msg(r#"{"titleContain": "rust"}"#);
        assert!(
            m.contains("no field `titleContain`") && m.contains("titleContains"),
            "{m}"
        );
        let m = msg(r#"{"sources": ["MONSTER"]}"#);
        assert!(m.contains("MONSTER"), "{m}");
        let m = msg(r#"{"countries": ["Australia"]}"#);
        assert!(m.contains("ISO 3166"), "{m}");
        let m = msg(r#"{"postedAfter": "yesterday"}"#);
        assert!(m.contains("postedAfter") || m.contains("DateTime"), "{m}");
    }
}

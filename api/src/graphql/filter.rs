//! `JobPostingFilter` and `JobPostingOrder`: the inputs `jobPostings`, `IngestRun.postings` and
//! `jobStats` take, their translation into the service layer's [`PostingFilter`], and
//! [`matches`], the same filter as a pure function over one row for code that sees postings
//! one at a time (subscriptions).

use async_graphql::{Enum, ID, InputObject};
use chrono::{DateTime, Utc};
use entity::job_posting;

use super::ids;
use super::types::{Source, WorkArrangement, WorkType};
use crate::error::{ApiError, ApiResult};
use crate::service::postings::{Order, OrderField, PostingFilter, Search};

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

fn contains_ci(haystack: Option<&str>, needle_lower: &str) -> bool {
    haystack.is_some_and(|h| h.to_lowercase().contains(needle_lower))
}

/// Whether `posting` passes `filter`, for code that sees postings one at a time. Same rules as
/// the database query except `search`, which here only tests that every word occurs in the
/// title or company (case-insensitive substring). An invalid filter (e.g. a malformed
/// `ingestRunId`) matches nothing; validate it with [`JobPostingFilter::to_service`] first.
pub fn matches(filter: &JobPostingFilter, posting: &job_posting::Model) -> bool {
    let Ok(f) = filter.to_service() else {
        return false;
    };
    let p = posting;
    if let Some(search) = &f.search {
        let title = p.title.to_lowercase();
        let company = p.company.as_deref().unwrap_or("").to_lowercase();
        if !search
            .terms
            .iter()
            .all(|t| title.contains(t.as_str()) || company.contains(t.as_str()))
        {
            return false;
        }
    }
    if !f.sources.is_empty() && !f.sources.contains(&p.source) {
        return false;
    }
    if !f.companies.is_empty() && !p.company.as_ref().is_some_and(|c| f.companies.contains(c)) {
        return false;
    }
    if let Some(t) = &f.title_contains
        && !p.title.to_lowercase().contains(&t.to_lowercase())
    {
        return false;
    }
    if let Some(l) = &f.location_contains {
        let l = l.to_lowercase();
        if !(contains_ci(p.location_raw.as_deref(), &l)
            || contains_ci(p.city.as_deref(), &l)
            || contains_ci(p.region.as_deref(), &l))
        {
            return false;
        }
    }
    if !f.countries.is_empty() && !p.country.as_ref().is_some_and(|c| f.countries.contains(c)) {
        return false;
    }
    if !f.work_types.is_empty() && !p.work_type.is_some_and(|w| f.work_types.contains(&w)) {
        return false;
    }
    if !f.work_arrangements.is_empty() && !f.work_arrangements.contains(&p.work_arrangement) {
        return false;
    }
    if let Some(min) = f.salary_annual_min
        && !p
            .salary_annual_max
            .or(p.salary_annual_min)
            .is_some_and(|v| v >= min)
    {
        return false;
    }
    if let Some(max) = f.salary_annual_max
        && !p
            .salary_annual_min
            .or(p.salary_annual_max)
            .is_some_and(|v| v <= max)
    {
        return false;
    }
    if let Some(c) = &f.salary_currency
        && p.salary_currency.as_ref() != Some(c)
    {
        return false;
    }
    if let Some(after) = f.posted_after
        && p.posted_at.is_none_or(|t| t < after)
    {
        return false;
    }
    if let Some(before) = f.posted_before
        && p.posted_at.is_none_or(|t| t >= before)
    {
        return false;
    }
    if let Some(after) = f.seen_after
        && p.last_seen_at < after
    {
        return false;
    }
    if let Some(open) = f.open
        && open != p.closed_at.is_none()
    {
        return false;
    }
    f.run_ids
        .iter()
        .all(|r| p.first_run_id == Some(*r) || p.last_run_id == Some(*r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn posting() -> job_posting::Model {
        let t = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        job_posting::Model {
            id: 1,
            source: entity::Source::Seek,
            external_id: "1".into(),
            url: "https://example.com/1".into(),
            apply_url: None,
            title: "Senior Rust Engineer".into(),
            company: Some("Acme".into()),
            company_external_id: None,
            location_raw: Some("Sydney NSW".into()),
            city: Some("Sydney".into()),
            region: Some("NSW".into()),
            country: Some("AU".into()),
            work_type: Some(entity::WorkType::FullTime),
            work_arrangement: entity::WorkArrangement::Hybrid,
            salary_text: None,
            salary_min: None,
            salary_max: None,
            salary_currency: Some("AUD".into()),
            salary_period: None,
            salary_annual_min: Some(150_000.0),
            salary_annual_max: Some(180_000.0),
            salary_source: None,
            description_html: None,
            description_text: Some("Tokio and PostgreSQL".into()),
            classification: None,
            posted_at: Some(t),
            expires_at: None,
            first_seen_at: t,
            last_seen_at: t,
            closed_at: None,
            content_hash: "h".into(),
            raw: None,
            first_run_id: Some(3),
            last_run_id: Some(5),
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn oversized_filters_are_refused_with_the_limit() {
        let many = JobPostingFilter {
            companies: Some((0..=MAX_FILTER_VALUES).map(|i| format!("c{i}")).collect()),
            ..Default::default()
        };
        let err = many.to_service().unwrap_err();
        assert!(err.message().contains("at most 100"), "{}", err.message());
        let long = JobPostingFilter {
            search: Some("rust ".repeat(200)),
            ..Default::default()
        };
        assert!(long.to_service().unwrap_err().message().contains("500"));
        let ok = JobPostingFilter {
            companies: Some((0..MAX_FILTER_VALUES).map(|i| format!("c{i}")).collect()),
            search: Some("rust engineer".into()),
            ..Default::default()
        };
        assert!(ok.to_service().is_ok());
    }

    #[test]
    fn an_empty_filter_matches_everything() {
        assert!(matches(&JobPostingFilter::default(), &posting()));
    }

    #[test]
    fn each_field_filters_and_fields_combine_with_and() {
        let p = posting();
        let t = |f: JobPostingFilter| matches(&f, &p);
        assert!(t(JobPostingFilter {
            search: Some("rust ACME".into()),
            ..Default::default()
        }));
        assert!(!t(JobPostingFilter {
            search: Some("tokio".into()), // description only: not tested here
            ..Default::default()
        }));
        assert!(t(JobPostingFilter {
            sources: Some(vec![Source::Indeed, Source::Seek]),
            countries: Some(vec!["au".into()]),
            work_types: Some(vec![WorkType::FullTime]),
            work_arrangements: Some(vec![WorkArrangement::Hybrid]),
            ..Default::default()
        }));
        assert!(!t(JobPostingFilter {
            sources: Some(vec![Source::Seek]),
            countries: Some(vec!["NZ".into()]),
            ..Default::default()
        }));
        assert!(t(JobPostingFilter {
            salary_annual_min: Some(170_000.0),
            salary_annual_max: Some(150_000.0),
            salary_currency: Some("aud".into()),
            ..Default::default()
        }));
        assert!(!t(JobPostingFilter {
            salary_annual_min: Some(190_000.0),
            ..Default::default()
        }));
        assert!(t(JobPostingFilter {
            title_contains: Some("RUST eng".into()),
            location_contains: Some("nsw".into()),
            open: Some(true),
            ingest_run_id: Some(ID(ids::encode("IngestRun", 5))),
            ..Default::default()
        }));
        assert!(!t(JobPostingFilter {
            ingest_run_id: Some(ID("4".into())),
            ..Default::default()
        }));
        let day = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        assert!(t(JobPostingFilter {
            posted_after: Some(day),
            seen_after: Some(day),
            ..Default::default()
        }));
        assert!(!t(JobPostingFilter {
            posted_before: Some(day),
            ..Default::default()
        }));
        assert!(!t(JobPostingFilter {
            companies: Some(vec!["acme".into()]),
            ..Default::default()
        }));
    }
}

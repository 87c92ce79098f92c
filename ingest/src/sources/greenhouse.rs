//! Greenhouse job-board API: `GET /v1/boards/{token}/jobs?content=true` returns the whole board
//! in one response (`{"jobs": [...], "meta": {"total": n}}`).
//!
//! Quirks handled here:
//! - `content` is HTML that has been entity-escaped once (`&lt;p&gt;`): unescape, then sanitise.
//! - pay ranges (`pay_input_ranges`, only present with `pay_transparency=true` or on boards that
//!   publish them) are in **cents**, and are annual unless their title says otherwise.
//! - `metadata` is a free-form list of custom fields; some boards name one "Employment Type" or
//!   "Workplace Type". It may be `null`.

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::ParseError;
use super::common::{
    describe_unexpected, deserialize_each, non_empty_owned as non_empty, url_with_path,
};
use crate::model::{
    Location, NormalizedPosting, Salary, SalaryPeriod, SearchParams, Source, WorkArrangement,
};
use crate::normalize::{self, salary};

/// The live API host.
pub const DEFAULT_BASE_URL: &str = "https://boards-api.greenhouse.io";

/// `{base}/v1/boards/{token}/jobs?content=true`, keeping any path prefix `base` has.
///
/// `token` is percent-encoded as one path segment (a `/` in it cannot escape the segment).
pub fn board_url(base: &Url, token: &str) -> Url {
    let mut url = url_with_path(base, &["v1", "boards", token, "jobs"]);
    url.set_query(Some("content=true"));
    url
}

/// Every job on a board. `token` is the board token the body was fetched for: it is the company's
/// stable id here and stands in for the company name when a job lacks `company_name`.
pub fn parse_board(body: &[u8], token: &str) -> Result<Vec<NormalizedPosting>, ParseError> {
    let doc: Value = serde_json::from_slice(body)?;
    let Some(jobs) = doc.get("jobs").and_then(Value::as_array) else {
        // Greenhouse errors look like `{"status": 404, "error": "..."}`.
        return Err(ParseError::Shape(describe_unexpected(
            &doc,
            "greenhouse",
            "greenhouse board without a `jobs` array",
        )));
    };
    deserialize_each::<Job>(jobs, "greenhouse jobs")
        .map(|item| item.map(|(job, raw)| job.into_posting(raw.clone(), token)))
        .collect()
}

#[derive(Debug, Deserialize)]
struct Job {
    id: Id,
    title: String,
    absolute_url: Option<String>,
    company_name: Option<String>,
    location: Option<Named>,
    content: Option<String>,
    first_published: Option<String>,
    updated_at: Option<String>,
    application_deadline: Option<String>,
    departments: Option<Vec<Named>>,
    offices: Option<Vec<Office>>,
    metadata: Option<Vec<Metadata>>,
    pay_input_ranges: Option<Vec<PayRange>>,
}

/// Greenhouse ids are numbers; accept strings too rather than failing a whole board.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Id {
    Number(u64),
    Text(String),
}

#[derive(Debug, Deserialize)]
struct Named {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Office {
    /// "München, Germany"; `null` for offices without an address.
    location: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: Option<String>,
    /// A string, a list of strings (multi-select), a bool (yes/no), a number or null.
    value: Value,
}

#[derive(Debug, Deserialize)]
struct PayRange {
    min_cents: Option<f64>,
    max_cents: Option<f64>,
    currency_type: Option<String>,
    title: Option<String>,
}

impl Job {
    fn into_posting(self, raw: Value, token: &str) -> NormalizedPosting {
        let external_id = match self.id {
            Id::Number(n) => n.to_string(),
            Id::Text(s) => s,
        };
        // Greenhouse gives absolute URLs; anything else (a relative or `javascript:` link) is
        // replaced by the board's own address for the job.
        let url = non_empty(self.absolute_url)
            .and_then(|u| normalize::http_url(&u, None))
            .map_or_else(
                || format!("https://boards.greenhouse.io/{token}/jobs/{external_id}"),
                String::from,
            );
        let location_name = self.location.and_then(|l| non_empty(l.name));
        let location = location_from(
            location_name.as_deref(),
            self.offices.as_deref().unwrap_or_default(),
        );

        let metadata = self.metadata.unwrap_or_default();
        let work_type = metadata
            .iter()
            .filter(|m| is_employment_type_field(m.name.as_deref()))
            .flat_map(|m| labels(&m.value))
            .find_map(|label| normalize::work_type_from_label(&label));
        let work_arrangement = metadata
            .iter()
            .find_map(arrangement_from_metadata)
            .or_else(|| location_name.as_deref().and_then(remote_or_hybrid_in))
            .unwrap_or(WorkArrangement::Unknown);

        let description_html = non_empty(self.content)
            .map(|escaped| normalize::sanitize_html(&normalize::unescape_entities(&escaped)));
        let description_text = description_html.as_deref().map(normalize::html_to_text);

        NormalizedPosting {
            source: Source::Greenhouse,
            external_id,
            url,
            apply_url: None,
            title: self.title.trim().to_owned(),
            company: non_empty(self.company_name).or_else(|| Some(token.to_owned())),
            company_external_id: Some(token.to_owned()),
            location,
            work_type,
            work_arrangement,
            salary: salary_from_ranges(self.pay_input_ranges.as_deref().unwrap_or_default()),
            description_html,
            description_text,
            classification: self
                .departments
                .unwrap_or_default()
                .into_iter()
                .find_map(|d| non_empty(d.name)),
            posted_at: [&self.first_published, &self.updated_at]
                .into_iter()
                .flatten()
                .find_map(|s| normalize::parse_datetime(s)),
            expires_at: self
                .application_deadline
                .as_deref()
                .and_then(normalize::parse_datetime),
            raw,
        }
    }
}

/// The job's `location.name`, with the country taken from its offices when they all agree (the
/// name is often just a city: "Munich").
fn location_from(name: Option<&str>, offices: &[Office]) -> Location {
    let Some(name) = name else {
        return Location::default();
    };
    let mut countries = offices
        .iter()
        .filter_map(|o| o.location.as_deref())
        .map(|l| normalize::parse_location(l, None).country);
    let office_country = match countries.next() {
        Some(Some(first)) if countries.all(|c| c.as_deref() == Some(first.as_str())) => Some(first),
        _ => None,
    };
    normalize::parse_location(name, office_country.as_deref())
}

/// The metadata field names boards use for the employment type.
fn is_employment_type_field(name: Option<&str>) -> bool {
    let name = name.unwrap_or_default().to_ascii_lowercase();
    [
        "employment type",
        "employment_type",
        "job type",
        "type of employment",
        "commitment",
    ]
    .iter()
    .any(|k| name.contains(k))
        || name.trim() == "employment"
}

/// A workplace metadata field ("Workplace Type": "Remote", "Remote": true, …) as an arrangement.
fn arrangement_from_metadata(m: &Metadata) -> Option<WorkArrangement> {
    let name = m.name.as_deref().unwrap_or_default().to_ascii_lowercase();
    let is_workplace_field = [
        "workplace",
        "work arrangement",
        "location type",
        "work model",
    ]
    .iter()
    .any(|k| name.contains(k));
    if is_workplace_field {
        return labels(&m.value).into_iter().find_map(|label| {
            match normalize::work_arrangement_from_label(&label) {
                WorkArrangement::Unknown => arrangement_in(&label),
                known => Some(known),
            }
        });
    }
    // A yes/no field such as "Remote" or "Remote eligible".
    if name.contains("remote") && m.value.as_bool() == Some(true) {
        return Some(WorkArrangement::Remote);
    }
    None
}

/// The strings in a metadata value (a string or a list of strings).
fn labels(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// An arrangement named in a free-text label.
fn arrangement_in(text: &str) -> Option<WorkArrangement> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("hybrid") {
        Some(WorkArrangement::Hybrid)
    } else if lower.contains("remote") {
        Some(WorkArrangement::Remote)
    } else if ["on-site", "onsite", "on site", "in office", "in-office"]
        .iter()
        .any(|k| lower.contains(k))
    {
        Some(WorkArrangement::OnSite)
    } else {
        None
    }
}

/// Only "Remote" / "Hybrid" are trusted from a location name: a plain city says nothing about
/// whether the job is on site.
fn remote_or_hybrid_in(location: &str) -> Option<WorkArrangement> {
    arrangement_in(location).filter(|a| *a != WorkArrangement::OnSite)
}

/// One salary over all pay ranges of the first currency (boards list one range per pay zone):
/// the lowest minimum and the highest maximum, in whole currency units.
fn salary_from_ranges(ranges: &[PayRange]) -> Salary {
    let Some(first) = ranges.first() else {
        return Salary::default();
    };
    let currency = first.currency_type.as_deref();
    let same_currency = || {
        ranges
            .iter()
            .filter(|r| r.currency_type.as_deref() == currency)
    };
    let min = same_currency()
        .filter_map(|r| r.min_cents)
        .map(|c| c / 100.0)
        .reduce(f64::min);
    let max = same_currency()
        .filter_map(|r| r.max_cents)
        .map(|c| c / 100.0)
        .reduce(f64::max);
    let period = period_from_title(first.title.as_deref().unwrap_or_default());
    salary::structured_salary(min, max, currency, Some(period), None)
}

/// Greenhouse pay ranges are annual unless their title names another period ("Hourly Range").
fn period_from_title(title: &str) -> SalaryPeriod {
    let lower = title.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |keys: &[&str]| words.iter().any(|w| keys.contains(w));
    if has(&["hour", "hourly", "hr"]) {
        SalaryPeriod::Hour
    } else if has(&["day", "daily"]) {
        SalaryPeriod::Day
    } else if has(&["week", "weekly"]) {
        SalaryPeriod::Week
    } else if has(&["month", "monthly"]) {
        SalaryPeriod::Month
    } else {
        SalaryPeriod::Year
    }
}

/// Greenhouse through the [`JobSource`](super::JobSource) interface.
pub struct Greenhouse;

static SPEC: super::SourceSpec = super::SourceSpec {
    source: Source::Greenhouse,
    name: "Greenhouse",
    description: "Every job on one company's Greenhouse board.",
    params: &[super::ParamSpec::required(
        "target",
        "The board token, e.g. the `acme` in boards.greenhouse.io/acme or jobs.greenhouse.io/acme.",
    )],
    requires_one_of: &[],
    default_base_url: Some(DEFAULT_BASE_URL),
    id_scheme: "Greenhouse's numeric job id",
    listing_what: "Greenhouse board",
    detail_what: "Greenhouse job",
    result_cap: None,
};

impl super::JobSource for Greenhouse {
    fn spec(&self) -> &'static super::SourceSpec {
        &SPEC
    }

    fn check_params(&self, params: &mut SearchParams) -> Result<(), super::ParamError> {
        super::check_board_token(
            Source::Greenhouse,
            params.target.as_deref().unwrap_or_default(),
        )
    }

    fn listing_request(&self, plan: &super::RunPlan, _page: u32) -> super::SourceRequest {
        super::SourceRequest::new(
            board_url(plan.base(), plan.target()),
            crate::fetch::RequestOptions::json(),
        )
    }

    fn parse_listing(
        &self,
        plan: &super::RunPlan,
        _page: u32,
        response: &crate::fetch::FetchedPage,
    ) -> Result<super::Listing, super::SourceError> {
        Ok(super::Listing::whole(parse_board(
            &response.body,
            plan.target(),
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SalarySource;
    use crate::sources::test_support::{assert_built_url, read_fixture};
    use chrono::{TimeZone, Utc};

    fn fixture() -> Vec<u8> {
        read_fixture("ats/greenhouse_boards_api_jobs_content_true.json")
    }

    fn parse_fixture() -> Vec<NormalizedPosting> {
        parse_board(&fixture(), "helsing").expect("the fixture parses")
    }

    #[test]
    fn a_script_or_relative_absolute_url_is_replaced_by_the_board_address() {
        let mut doc: Value = serde_json::from_slice(&fixture()).unwrap();
        doc["jobs"][0]["absolute_url"] = "javascript:alert(1)".into();
        doc["jobs"][1]["absolute_url"] = "/jobs/relative".into();
        let postings = parse_board(&serde_json::to_vec(&doc).unwrap(), "helsing").unwrap();
        for p in &postings[..2] {
            assert_eq!(
                p.url,
                format!(
                    "https://boards.greenhouse.io/helsing/jobs/{}",
                    p.external_id
                )
            );
        }
    }

    #[test]
    fn board_url_keeps_the_live_path_and_query() {
        assert_built_url(
            board_url,
            DEFAULT_BASE_URL,
            "helsing",
            "https://boards-api.greenhouse.io/v1/boards/helsing/jobs?content=true",
        );
    }

    #[test]
    fn board_url_keeps_a_test_servers_path_prefix_and_encodes_the_token() {
        assert_built_url(
            board_url,
            "http://127.0.0.1:4000/mock/greenhouse/",
            "a b/c?d",
            "http://127.0.0.1:4000/mock/greenhouse/v1/boards/a%20b%2Fc%3Fd/jobs?content=true",
        );
    }

    #[test]
    fn every_job_on_the_board_becomes_a_posting() {
        let postings = parse_fixture();
        let ids: Vec<&str> = postings.iter().map(|p| p.external_id.as_str()).collect();
        assert_eq!(ids, ["4865187101", "4911999101"]);
        assert!(postings.iter().all(|p| p.source == Source::Greenhouse));
    }

    #[test]
    fn a_job_keeps_title_url_company_and_department() {
        let p = &parse_fixture()[0];
        assert_eq!(p.title, "Accounts Payable Lead");
        assert_eq!(
            p.url,
            "https://helsing.ai/jobs/4865187101?gh_jid=4865187101"
        );
        assert_eq!(p.company.as_deref(), Some("Helsing"));
        assert_eq!(p.company_external_id.as_deref(), Some("helsing"));
        assert_eq!(p.classification.as_deref(), Some("Finance"));
        assert_eq!(p.apply_url, None);
    }

    #[test]
    fn posted_at_is_first_published_in_utc() {
        let postings = parse_fixture();
        assert_eq!(
            postings[0].posted_at,
            Some(Utc.with_ymd_and_hms(2026, 5, 13, 11, 19, 54).unwrap())
        );
        assert_eq!(
            postings[1].posted_at,
            Some(Utc.with_ymd_and_hms(2026, 6, 29, 15, 47, 48).unwrap())
        );
        assert_eq!(postings[0].expires_at, None, "application_deadline is null");
    }

    #[test]
    fn posted_at_falls_back_to_updated_at() {
        let mut doc: Value = serde_json::from_slice(&fixture()).unwrap();
        doc["jobs"][0]["first_published"] = Value::Null;
        let postings = parse_board(doc.to_string().as_bytes(), "helsing").unwrap();
        assert_eq!(
            postings[0].posted_at,
            Some(Utc.with_ymd_and_hms(2026, 6, 8, 11, 7, 6).unwrap())
        );
    }

    #[test]
    fn the_location_name_is_kept_as_the_raw_location() {
        let postings = parse_fixture();
        assert_eq!(postings[0].location.raw.as_deref(), Some("Munich"));
        assert_eq!(
            postings[1].location.raw.as_deref(),
            Some("Berlin; London; Munich; Paris")
        );
    }

    /// Depends on the normaliser's `parse_location` reading "München, Germany" as DE.
    #[test]
    fn the_country_comes_from_the_offices_when_they_agree() {
        let postings = parse_fixture();
        assert_eq!(postings[0].location.country.as_deref(), Some("DE"));
        assert_eq!(
            postings[1].location.country, None,
            "offices in DE, GB and FR do not agree"
        );
    }

    #[test]
    fn escaped_content_becomes_html_without_entities_for_tags() {
        let p = &parse_fixture()[0];
        let html = p.description_html.as_deref().unwrap();
        assert!(
            html.contains("<h2><strong>Who we are</strong></h2>"),
            "{html}"
        );
        assert!(!html.contains("&lt;"), "{html}");
        assert!(!html.to_ascii_lowercase().contains("<script"));
        assert!(
            p.description_text
                .as_deref()
                .unwrap()
                .contains("Helsing is a defence AI company.")
        );
    }

    /// Depends on the normaliser's `html_to_text` removing tags.
    #[test]
    fn description_text_has_no_tags() {
        let p = &parse_fixture()[0];
        let text = p.description_text.as_deref().unwrap();
        assert!(text.starts_with("Who we are"), "{text}");
        assert!(!text.contains('<'), "{text}");
    }

    #[test]
    fn a_board_without_pay_ranges_has_no_salary() {
        assert!(
            parse_fixture()
                .iter()
                .all(|p| p.salary == Salary::default())
        );
    }

    #[test]
    fn pay_ranges_in_cents_become_an_annual_structured_salary() {
        let mut doc: Value = serde_json::from_slice(&fixture()).unwrap();
        doc["jobs"][0]["pay_input_ranges"] = serde_json::json!([
            {"min_cents": 9_500_000, "max_cents": 11_000_000, "currency_type": "EUR",
             "title": "Munich", "blurb": null, "description": null},
            {"min_cents": 10_000_000, "max_cents": 12_500_000, "currency_type": "EUR",
             "title": "Berlin", "blurb": null, "description": null},
        ]);
        let salary = &parse_board(doc.to_string().as_bytes(), "helsing").unwrap()[0].salary;
        assert_eq!(salary.min, Some(95_000.0));
        assert_eq!(salary.max, Some(125_000.0));
        assert_eq!(salary.currency.as_deref(), Some("EUR"));
        assert_eq!(salary.period, Some(SalaryPeriod::Year));
        assert_eq!(salary.source, Some(SalarySource::Structured));
    }

    #[test]
    fn an_hourly_pay_range_title_makes_the_period_hourly() {
        assert_eq!(period_from_title("Hourly Pay Range"), SalaryPeriod::Hour);
        assert_eq!(period_from_title("Per hour (CA)"), SalaryPeriod::Hour);
        assert_eq!(period_from_title("Monthly base"), SalaryPeriod::Month);
        assert_eq!(period_from_title("US Zone 1"), SalaryPeriod::Year);
        assert_eq!(period_from_title("Holiday cover"), SalaryPeriod::Year);
    }

    #[test]
    fn workplace_metadata_sets_the_arrangement() {
        let mut doc: Value = serde_json::from_slice(&fixture()).unwrap();
        doc["jobs"][0]["metadata"] = serde_json::json!([
            {"id": 1, "name": "Workplace Type", "value": "Hybrid", "value_type": "single_select"},
        ]);
        doc["jobs"][1]["metadata"] = Value::Null;
        let postings = parse_board(doc.to_string().as_bytes(), "helsing").unwrap();
        assert_eq!(postings[0].work_arrangement, WorkArrangement::Hybrid);
        assert_eq!(postings[1].work_arrangement, WorkArrangement::Unknown);
    }

    /// Depends on the normaliser's `work_type_from_label("Full-time")`.
    #[test]
    fn employment_type_metadata_sets_the_work_type() {
        let mut doc: Value = serde_json::from_slice(&fixture()).unwrap();
        doc["jobs"][0]["metadata"] = serde_json::json!([
            {"id": 2, "name": "Employment Type", "value": "Full-time", "value_type": "single_select"},
        ]);
        let postings = parse_board(doc.to_string().as_bytes(), "helsing").unwrap();
        assert_eq!(
            postings[0].work_type,
            Some(crate::model::WorkType::FullTime)
        );
    }

    #[test]
    fn a_remote_location_name_makes_the_job_remote() {
        let mut doc: Value = serde_json::from_slice(&fixture()).unwrap();
        doc["jobs"][0]["location"]["name"] = "Remote - Europe".into();
        let postings = parse_board(doc.to_string().as_bytes(), "helsing").unwrap();
        assert_eq!(postings[0].work_arrangement, WorkArrangement::Remote);
        assert_eq!(postings[1].work_arrangement, WorkArrangement::Unknown);
    }

    #[test]
    fn the_token_stands_in_for_a_missing_company_name() {
        let mut doc: Value = serde_json::from_slice(&fixture()).unwrap();
        doc["jobs"][0]
            .as_object_mut()
            .unwrap()
            .remove("company_name");
        let postings = parse_board(doc.to_string().as_bytes(), "helsing").unwrap();
        assert_eq!(postings[0].company.as_deref(), Some("helsing"));
    }

    #[test]
    fn raw_is_the_jobs_own_json_object() {
        let doc: Value = serde_json::from_slice(&fixture()).unwrap();
        let postings = parse_fixture();
        assert_eq!(postings[1].raw, doc["jobs"][1]);
    }

    #[test]
    fn a_truncated_body_is_a_json_error_with_a_position() {
        let body = fixture();
        let err = parse_board(&body[..body.len() / 2], "helsing").unwrap_err();
        match err {
            ParseError::Json { line, column, .. } => assert!(line > 1 && column > 0),
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    #[test]
    fn a_body_without_jobs_is_a_shape_error() {
        let err = parse_board(br#"{"foo":1}"#, "helsing").unwrap_err();
        assert!(matches!(err, ParseError::Shape(_)), "{err:?}");
        let err = parse_board(br#"{"status":404,"error":"Board not found"}"#, "x").unwrap_err();
        assert!(err.to_string().contains("Board not found"), "{err}");
    }

    #[test]
    fn a_job_without_a_title_is_a_shape_error_naming_the_job() {
        let err = parse_board(br#"{"jobs":[{"id":1}]}"#, "helsing").unwrap_err();
        assert!(err.to_string().contains("jobs[0]"), "{err}");
    }

    #[test]
    fn an_empty_board_has_no_postings() {
        let postings = parse_board(br#"{"jobs":[],"meta":{"total":0}}"#, "helsing").unwrap();
        assert!(postings.is_empty());
    }
}

//! Ashby posting API: `GET /posting-api/job-board/{board}?includeCompensation=true` returns the
//! whole board (`{"apiVersion": "1", "jobs": [...]}`); compensation only comes with the flag.
//!
//! Jobs with `isListed: false` are hidden on Ashby's own board and are skipped here too.
//! Salaries come from the structured compensation components when there are any, else from the
//! summary text Ashby shows ("$211.4K – $290.6K • Offers Equity").

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::ParseError;
use super::common::{deserialize_each, non_empty_owned as non_empty, url_with_path};
use crate::model::{
    Location, NormalizedPosting, Salary, SalaryPeriod, SearchParams, Source, WorkArrangement,
    WorkType,
};
use crate::normalize::{self, salary};

/// The live API host.
pub const DEFAULT_BASE_URL: &str = "https://api.ashbyhq.com";

/// `{base}/posting-api/job-board/{board}?includeCompensation=true`, keeping any path prefix
/// `base` has. `board` is percent-encoded as one path segment.
pub fn job_board_url(base: &Url, board: &str) -> Url {
    let mut url = url_with_path(base, &["posting-api", "job-board", board]);
    url.set_query(Some("includeCompensation=true"));
    url
}

/// Every listed job of a board. `board` is the job-board name the body was fetched for; it is both
/// the company name and the company's stable id.
pub fn parse_job_board(body: &[u8], board: &str) -> Result<Vec<NormalizedPosting>, ParseError> {
    let doc: Value = serde_json::from_slice(body)?;
    let Some(jobs) = doc.get("jobs").and_then(Value::as_array) else {
        return Err(ParseError::Shape(
            "ashby job board without a `jobs` array".to_owned(),
        ));
    };
    let mut postings = Vec::with_capacity(jobs.len());
    for item in deserialize_each::<Job>(jobs, "ashby jobs") {
        let (job, raw) = item?;
        if job.is_listed != Some(false) {
            postings.push(job.into_posting(raw.clone(), board));
        }
    }
    Ok(postings)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Job {
    id: String,
    title: String,
    department: Option<String>,
    team: Option<String>,
    employment_type: Option<String>,
    location: Option<String>,
    published_at: Option<String>,
    is_listed: Option<bool>,
    is_remote: Option<bool>,
    workplace_type: Option<String>,
    address: Option<Address>,
    job_url: Option<String>,
    apply_url: Option<String>,
    description_html: Option<String>,
    description_plain: Option<String>,
    compensation: Option<Compensation>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Address {
    postal_address: Option<PostalAddress>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostalAddress {
    address_locality: Option<String>,
    address_region: Option<String>,
    /// A country name ("France") or code.
    address_country: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Compensation {
    compensation_tier_summary: Option<String>,
    scrapeable_compensation_salary_summary: Option<String>,
    compensation_tiers: Option<Vec<Tier>>,
    summary_components: Option<Vec<Component>>,
}

#[derive(Debug, Deserialize)]
struct Tier {
    components: Option<Vec<Component>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Component {
    /// "Salary", "EquityPercentage", "Bonus", "Commission", …
    compensation_type: Option<String>,
    /// "1 YEAR", "1 HOUR", …
    interval: Option<String>,
    currency_code: Option<String>,
    min_value: Option<f64>,
    max_value: Option<f64>,
}

impl Job {
    fn into_posting(self, raw: Value, board: &str) -> NormalizedPosting {
        // Ashby gives absolute URLs: a link that is not http(s) is dropped (for `jobUrl`,
        // replaced by the job's address on jobs.ashbyhq.com).
        let url = non_empty(self.job_url)
            .and_then(|u| normalize::http_url(&u, None))
            .map_or_else(
                || format!("https://jobs.ashbyhq.com/{board}/{}", self.id),
                String::from,
            );
        let description_html =
            non_empty(self.description_html).map(|h| normalize::sanitize_html(&h));
        let description_text = non_empty(self.description_plain)
            .or_else(|| description_html.as_deref().map(normalize::html_to_text));
        let work_arrangement = match arrangement(self.workplace_type.as_deref()) {
            WorkArrangement::Unknown if self.is_remote == Some(true) => WorkArrangement::Remote,
            known => known,
        };

        NormalizedPosting {
            source: Source::Ashby,
            url,
            apply_url: non_empty(self.apply_url)
                .and_then(|u| normalize::http_url(&u, None))
                .map(String::from),
            title: self.title.trim().to_owned(),
            company: Some(board.to_owned()),
            company_external_id: Some(board.to_owned()),
            location: location(
                non_empty(self.location),
                self.address.and_then(|a| a.postal_address),
            ),
            work_type: self.employment_type.as_deref().and_then(work_type),
            work_arrangement,
            salary: self.compensation.map(salary).unwrap_or_default(),
            description_html,
            description_text,
            classification: non_empty(self.department).or(non_empty(self.team)),
            posted_at: self
                .published_at
                .as_deref()
                .and_then(normalize::parse_datetime),
            expires_at: None,
            external_id: self.id,
            raw,
        }
    }
}

/// The postal address's parts when there is one, else what the normaliser makes of `location`.
fn location(raw: Option<String>, postal: Option<PostalAddress>) -> Location {
    let postal = postal.map(|p| {
        (
            non_empty(p.address_locality),
            non_empty(p.address_region),
            non_empty(p.address_country),
        )
    });
    match postal {
        Some((city, region, country))
            if city.is_some() || region.is_some() || country.is_some() =>
        {
            Location {
                raw,
                city,
                region,
                country: country
                    .as_deref()
                    .and_then(normalize::country_code)
                    .map(str::to_owned),
            }
        }
        _ => match raw {
            Some(raw) => normalize::parse_location(&raw, None),
            None => Location::default(),
        },
    }
}

/// `employmentType`: FullTime, PartTime, Intern, Contract, Temporary.
fn work_type(label: &str) -> Option<WorkType> {
    match label.trim() {
        "FullTime" => Some(WorkType::FullTime),
        "PartTime" => Some(WorkType::PartTime),
        "Intern" => Some(WorkType::Internship),
        "Contract" => Some(WorkType::Contract),
        "Temporary" => Some(WorkType::Temporary),
        other => normalize::work_type_from_label(other),
    }
}

/// `workplaceType`: OnSite, Hybrid, Remote.
fn arrangement(workplace_type: Option<&str>) -> WorkArrangement {
    match workplace_type.map(str::trim) {
        None | Some("") => WorkArrangement::Unknown,
        Some("OnSite") => WorkArrangement::OnSite,
        Some("Hybrid") => WorkArrangement::Hybrid,
        Some("Remote") => WorkArrangement::Remote,
        Some(other) => normalize::work_arrangement_from_label(other),
    }
}

/// Structured salary components when there are any (the lowest minimum and highest maximum over
/// all tiers), else the summary text.
fn salary(compensation: Compensation) -> Salary {
    let summary = non_empty(compensation.compensation_tier_summary);
    let tier_components: Vec<Component> = compensation
        .compensation_tiers
        .unwrap_or_default()
        .into_iter()
        .flat_map(|t| t.components.unwrap_or_default())
        .collect();
    let components = if tier_components.is_empty() {
        compensation.summary_components.unwrap_or_default()
    } else {
        tier_components
    };
    let salaries: Vec<&Component> = components
        .iter()
        .filter(|c| {
            c.compensation_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("salary"))
        })
        .filter(|c| c.min_value.is_some() || c.max_value.is_some())
        .collect();
    if let Some(first) = salaries.first() {
        let currency = first.currency_code.as_deref();
        let same_currency = || {
            salaries
                .iter()
                .filter(|c| c.currency_code.as_deref() == currency)
        };
        let min = same_currency().filter_map(|c| c.min_value).reduce(f64::min);
        let max = same_currency().filter_map(|c| c.max_value).reduce(f64::max);
        let period = first.interval.as_deref().and_then(period_from_interval);
        return salary::structured_salary(min, max, currency, period, summary);
    }
    match summary.or(non_empty(
        compensation.scrapeable_compensation_salary_summary,
    )) {
        Some(text) => salary::parse_salary_text(&text, None),
        None => Salary::default(),
    }
}

/// Ashby intervals are "<n> <UNIT>"; only a one-unit interval is a plain period.
fn period_from_interval(interval: &str) -> Option<SalaryPeriod> {
    let upper = interval.trim().to_ascii_uppercase();
    match upper.as_str() {
        "1 YEAR" => Some(SalaryPeriod::Year),
        "1 MONTH" => Some(SalaryPeriod::Month),
        "1 WEEK" => Some(SalaryPeriod::Week),
        "1 DAY" => Some(SalaryPeriod::Day),
        "1 HOUR" => Some(SalaryPeriod::Hour),
        "NONE" | "" => None,
        _ => salary::period_from_label(interval),
    }
}

/// Ashby through the [`JobSource`](super::JobSource) interface.
pub struct Ashby;

static SPEC: super::SourceSpec = super::SourceSpec {
    source: Source::Ashby,
    name: "Ashby",
    description: "Every job on one company's Ashby board.",
    params: &[super::ParamSpec::required(
        "target",
        "The board token, e.g. the `acme` in jobs.ashbyhq.com/acme.",
    )],
    requires_one_of: &[],
    default_base_url: Some(DEFAULT_BASE_URL),
    id_scheme: "Ashby's job UUID",
    listing_what: "Ashby job board",
    detail_what: "Ashby job",
    result_cap: None,
};

impl super::JobSource for Ashby {
    fn spec(&self) -> &'static super::SourceSpec {
        &SPEC
    }

    fn check_params(&self, params: &mut SearchParams) -> Result<(), super::ParamError> {
        super::check_board_token(Source::Ashby, params.target.as_deref().unwrap_or_default())
    }

    fn listing_request(&self, plan: &super::RunPlan, _page: u32) -> super::SourceRequest {
        super::SourceRequest::new(
            job_board_url(plan.base(), plan.target()),
            crate::fetch::RequestOptions::json(),
        )
    }

    fn parse_listing(
        &self,
        plan: &super::RunPlan,
        _page: u32,
        response: &crate::fetch::FetchedPage,
    ) -> Result<super::Listing, super::SourceError> {
        Ok(super::Listing::whole(parse_job_board(
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
        read_fixture("ats/ashby_posting_api_job_board.json")
    }

    fn fixture_doc() -> Value {
        serde_json::from_slice(&fixture()).unwrap()
    }

    fn parse_fixture() -> Vec<NormalizedPosting> {
        parse_job_board(&fixture(), "comand-ai").expect("the fixture parses")
    }

    #[test]
    fn script_and_relative_links_are_dropped_for_the_job_board_address() {
        let mut doc = fixture_doc();
        let job = &mut doc["jobs"][0];
        job["jobUrl"] = "vbscript:msgbox(1)".into();
        job["applyUrl"] = "JaVaScRiPt:alert(1)".into();
        let id = job["id"].as_str().unwrap().to_owned();
        let postings = parse_job_board(&serde_json::to_vec(&doc).unwrap(), "comand-ai").unwrap();
        let p = postings.iter().find(|p| p.external_id == id).unwrap();
        assert_eq!(p.url, format!("https://jobs.ashbyhq.com/comand-ai/{id}"));
        assert_eq!(p.apply_url, None);
    }

    /// The fixture with the first job's `compensation` replaced.
    fn with_compensation(compensation: Value) -> NormalizedPosting {
        let mut doc = fixture_doc();
        doc["jobs"][0]["compensation"] = compensation;
        parse_job_board(doc.to_string().as_bytes(), "comand-ai")
            .unwrap()
            .remove(0)
    }

    #[test]
    fn job_board_url_keeps_the_live_path_and_query() {
        assert_built_url(
            job_board_url,
            DEFAULT_BASE_URL,
            "comand-ai",
            "https://api.ashbyhq.com/posting-api/job-board/comand-ai?includeCompensation=true",
        );
    }

    #[test]
    fn job_board_url_keeps_a_test_servers_path_prefix_and_encodes_the_board() {
        assert_built_url(
            job_board_url,
            "http://127.0.0.1:8080/ashby/",
            "Acme Inc",
            "http://127.0.0.1:8080/ashby/posting-api/job-board/Acme%20Inc?includeCompensation=true",
        );
    }

    #[test]
    fn every_listed_job_keeps_its_id_title_and_urls() {
        let postings = parse_fixture();
        assert_eq!(postings.len(), 2);
        let p = &postings[0];
        assert_eq!(p.source, Source::Ashby);
        assert_eq!(p.external_id, "287c3920-1c9c-4a84-95e2-2854abb47990");
        assert_eq!(p.title, "Forward Deployed Engineer");
        assert_eq!(
            p.url,
            "https://jobs.ashbyhq.com/comand-ai/287c3920-1c9c-4a84-95e2-2854abb47990"
        );
        assert_eq!(
            p.apply_url.as_deref(),
            Some(
                "https://jobs.ashbyhq.com/comand-ai/287c3920-1c9c-4a84-95e2-2854abb47990/application"
            )
        );
        assert_eq!(postings[1].title, "Computer Vision Engineer");
    }

    #[test]
    fn an_unlisted_job_is_skipped() {
        let mut doc = fixture_doc();
        doc["jobs"][0]["isListed"] = false.into();
        let postings = parse_job_board(doc.to_string().as_bytes(), "comand-ai").unwrap();
        let ids: Vec<&str> = postings.iter().map(|p| p.external_id.as_str()).collect();
        assert_eq!(ids, ["8ff597f4-bcd8-4fd6-baff-792d602fc2bf"]);
    }

    #[test]
    fn the_board_is_the_company_and_the_department_the_classification() {
        let p = &parse_fixture()[0];
        assert_eq!(p.company.as_deref(), Some("comand-ai"));
        assert_eq!(p.company_external_id.as_deref(), Some("comand-ai"));
        assert_eq!(p.classification.as_deref(), Some("Product Development"));
    }

    #[test]
    fn employment_type_full_time_is_full_time() {
        assert_eq!(parse_fixture()[0].work_type, Some(WorkType::FullTime));
        assert_eq!(work_type("PartTime"), Some(WorkType::PartTime));
        assert_eq!(work_type("Intern"), Some(WorkType::Internship));
        assert_eq!(work_type("Contract"), Some(WorkType::Contract));
        assert_eq!(work_type("Temporary"), Some(WorkType::Temporary));
    }

    #[test]
    fn workplace_type_wins_over_is_remote() {
        let p = &parse_fixture()[0];
        assert_eq!(
            p.work_arrangement,
            WorkArrangement::Hybrid,
            "isRemote is true too"
        );
    }

    #[test]
    fn is_remote_counts_when_there_is_no_workplace_type() {
        let mut doc = fixture_doc();
        doc["jobs"][0]
            .as_object_mut()
            .unwrap()
            .remove("workplaceType");
        doc["jobs"][1]["workplaceType"] = Value::Null;
        doc["jobs"][1]["isRemote"] = false.into();
        let postings = parse_job_board(doc.to_string().as_bytes(), "comand-ai").unwrap();
        assert_eq!(postings[0].work_arrangement, WorkArrangement::Remote);
        assert_eq!(postings[1].work_arrangement, WorkArrangement::Unknown);
    }

    #[test]
    fn the_postal_address_gives_city_and_region_and_location_stays_raw() {
        let location = &parse_fixture()[0].location;
        assert_eq!(location.raw.as_deref(), Some("Paris"));
        assert_eq!(location.city.as_deref(), Some("Paris"));
        assert_eq!(location.region.as_deref(), Some("Paris"));
    }

    /// Depends on the normaliser knowing that "France" is FR.
    #[test]
    fn the_postal_address_country_name_becomes_an_iso_code() {
        assert_eq!(parse_fixture()[0].location.country.as_deref(), Some("FR"));
    }

    #[test]
    fn a_two_letter_country_is_kept_as_the_code() {
        let mut doc = fixture_doc();
        doc["jobs"][0]["address"]["postalAddress"]["addressCountry"] = "fr".into();
        let postings = parse_job_board(doc.to_string().as_bytes(), "comand-ai").unwrap();
        assert_eq!(postings[0].location.country.as_deref(), Some("FR"));
    }

    #[test]
    fn published_at_is_posted_at() {
        let expected = Utc.with_ymd_and_hms(2026, 7, 3, 12, 16, 54).unwrap()
            + chrono::Duration::milliseconds(579);
        assert_eq!(parse_fixture()[0].posted_at, Some(expected));
    }

    #[test]
    fn descriptions_come_from_the_html_and_plain_fields() {
        let p = &parse_fixture()[0];
        let html = p.description_html.as_deref().unwrap();
        assert!(
            html.contains("Comand AI\u{2019}s mission is to build next generation C2 software")
        );
        assert!(!html.to_ascii_lowercase().contains("<script"));
        let text = p.description_text.as_deref().unwrap();
        assert!(text.starts_with("Comand AI\u{2019}s mission"));
        assert!(!text.contains("<p"));
    }

    #[test]
    fn empty_compensation_is_no_salary() {
        assert!(
            parse_fixture()
                .iter()
                .all(|p| p.salary == Salary::default())
        );
    }

    #[test]
    fn salary_components_over_tiers_become_a_structured_salary_with_the_summary_as_text() {
        let p = with_compensation(serde_json::json!({
            "compensationTierSummary": "$211.4K – $290.6K • Offers Equity",
            "scrapeableCompensationSalarySummary": "$211.4K - $290.6K",
            "compensationTiers": [
                {"id": "t1", "title": "Zone A", "components": [
                    {"id": "c1", "summary": "$211.4K – $250K", "compensationType": "Salary",
                     "interval": "1 YEAR", "currencyCode": "USD",
                     "minValue": 211400, "maxValue": 250000},
                    {"id": "c2", "summary": "Offers Equity", "compensationType": "EquityPercentage",
                     "interval": "NONE", "currencyCode": null, "minValue": null, "maxValue": null}
                ]},
                {"id": "t2", "title": "Zone B", "components": [
                    {"id": "c3", "summary": "$230K – $290.6K", "compensationType": "Salary",
                     "interval": "1 YEAR", "currencyCode": "USD",
                     "minValue": 230000, "maxValue": 290600}
                ]}
            ],
            "summaryComponents": []
        }));
        let salary = &p.salary;
        assert_eq!(salary.min, Some(211_400.0));
        assert_eq!(salary.max, Some(290_600.0));
        assert_eq!(salary.currency.as_deref(), Some("USD"));
        assert_eq!(salary.period, Some(SalaryPeriod::Year));
        assert_eq!(salary.source, Some(SalarySource::Structured));
        assert_eq!(
            salary.text.as_deref(),
            Some("$211.4K – $290.6K • Offers Equity")
        );
    }

    #[test]
    fn hourly_components_are_hourly() {
        assert_eq!(period_from_interval("1 HOUR"), Some(SalaryPeriod::Hour));
        assert_eq!(period_from_interval("1 MONTH"), Some(SalaryPeriod::Month));
        assert_eq!(period_from_interval("NONE"), None);
    }

    #[test]
    fn summary_text_is_kept_when_there_are_no_components() {
        let p = with_compensation(serde_json::json!({
            "compensationTierSummary": "$211.4K – $290.6K • Offers Equity",
            "scrapeableCompensationSalarySummary": null,
            "compensationTiers": [],
            "summaryComponents": []
        }));
        assert_eq!(
            p.salary.text.as_deref(),
            Some("$211.4K – $290.6K • Offers Equity")
        );
    }

    /// Depends on the normaliser's `parse_salary_text` reading Ashby's "$211.4K – $290.6K".
    #[test]
    fn summary_text_is_parsed_when_there_are_no_components() {
        let p = with_compensation(serde_json::json!({
            "compensationTierSummary": null,
            "scrapeableCompensationSalarySummary": "$211.4K - $290.6K",
            "compensationTiers": [],
            "summaryComponents": []
        }));
        assert_eq!(p.salary.min, Some(211_400.0));
        assert_eq!(p.salary.max, Some(290_600.0));
        assert_eq!(p.salary.source, Some(SalarySource::Parsed));
    }

    #[test]
    fn raw_is_the_jobs_own_json_object() {
        assert_eq!(parse_fixture()[1].raw, fixture_doc()["jobs"][1]);
    }

    #[test]
    fn a_truncated_body_is_a_json_error_with_a_position() {
        let body = fixture();
        match parse_job_board(&body[..body.len() / 2], "comand-ai").unwrap_err() {
            ParseError::Json { line, column, .. } => assert!(line > 1 && column > 0),
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    #[test]
    fn a_body_without_jobs_is_a_shape_error() {
        let err = parse_job_board(br#"{"foo":1}"#, "comand-ai").unwrap_err();
        assert!(matches!(err, ParseError::Shape(_)), "{err:?}");
    }

    #[test]
    fn a_job_whose_title_is_not_a_string_is_a_shape_error_naming_it() {
        let err = parse_job_board(br#"{"jobs":[{"id":"x","title":7}]}"#, "b").unwrap_err();
        assert!(err.to_string().contains("jobs[0]"), "{err}");
    }
}

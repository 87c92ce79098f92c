//! Lever postings API: `GET /v0/postings/{site}?mode=json` returns every published posting of a
//! site as one JSON array.
//!
//! Lever has no company name in its API: the site name stands in for it. A posting's description
//! is split over `description` (opening + body), `lists[{text, content}]` (headed `<li>` lists)
//! and `additional`; they are put back together in that order, as Lever's own job page does.

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

/// The live API host (EU sites use `https://api.eu.lever.co`).
pub const DEFAULT_BASE_URL: &str = "https://api.lever.co";

/// `{base}/v0/postings/{site}?mode=json`, keeping any path prefix `base` has.
///
/// `site` is percent-encoded as one path segment.
pub fn postings_url(base: &Url, site: &str) -> Url {
    let mut url = url_with_path(base, &["v0", "postings", site]);
    url.set_query(Some("mode=json"));
    url
}

/// Every posting of a site. `site` is the Lever site name the body was fetched for; it is both the
/// company name and the company's stable id.
pub fn parse_postings(body: &[u8], site: &str) -> Result<Vec<NormalizedPosting>, ParseError> {
    let doc: Value = serde_json::from_slice(body)?;
    let Some(items) = doc.as_array() else {
        // An unknown site answers `{"ok": false, "error": "Document not found"}`.
        return Err(ParseError::Shape(describe_unexpected(
            &doc,
            "lever",
            "lever postings response is not an array",
        )));
    };
    deserialize_each::<Posting>(items, "lever postings")
        .map(|item| item.map(|(posting, raw)| posting.into_posting(raw.clone(), site)))
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Posting {
    id: String,
    text: String,
    hosted_url: Option<String>,
    apply_url: Option<String>,
    categories: Option<Categories>,
    /// ISO 3166-1 alpha-2.
    country: Option<String>,
    workplace_type: Option<String>,
    /// Milliseconds since the epoch.
    created_at: Option<i64>,
    description: Option<String>,
    description_plain: Option<String>,
    lists: Option<Vec<List>>,
    additional: Option<String>,
    additional_plain: Option<String>,
    salary_range: Option<SalaryRange>,
    salary_description: Option<String>,
    salary_description_plain: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Categories {
    location: Option<String>,
    all_locations: Option<Vec<String>>,
    commitment: Option<String>,
    team: Option<String>,
    department: Option<String>,
}

#[derive(Debug, Deserialize)]
struct List {
    /// The heading, plain text.
    text: Option<String>,
    /// `<li>` items, HTML.
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SalaryRange {
    currency: Option<String>,
    interval: Option<String>,
    min: Option<f64>,
    max: Option<f64>,
}

impl Posting {
    fn into_posting(self, raw: Value, site: &str) -> NormalizedPosting {
        let categories = self.categories.unwrap_or_default();
        // Lever gives absolute URLs: a link that is not http(s) is dropped (for `hostedUrl`,
        // replaced by the job's address on jobs.lever.co).
        let url = non_empty(self.hosted_url)
            .and_then(|u| normalize::http_url(&u, None))
            .map_or_else(
                || format!("https://jobs.lever.co/{site}/{}", self.id),
                String::from,
            );
        let description_html = compose_html(
            self.description.as_deref(),
            self.lists.as_deref().unwrap_or_default(),
            self.additional.as_deref(),
        )
        .map(|html| normalize::sanitize_html(&html));
        let description_text = compose_text(
            self.description_plain.as_deref(),
            self.lists.as_deref().unwrap_or_default(),
            self.additional_plain.as_deref(),
        )
        .or_else(|| description_html.as_deref().map(normalize::html_to_text));
        let salary_text = non_empty(self.salary_description_plain).or_else(|| {
            non_empty(
                self.salary_description
                    .map(|html| normalize::html_to_text(&html)),
            )
        });

        NormalizedPosting {
            source: Source::Lever,
            url,
            apply_url: non_empty(self.apply_url)
                .and_then(|u| normalize::http_url(&u, None))
                .map(String::from),
            title: self.text.trim().to_owned(),
            company: Some(site.to_owned()),
            company_external_id: Some(site.to_owned()),
            location: location(&categories, self.country.as_deref()),
            work_type: categories
                .commitment
                .as_deref()
                .and_then(normalize::work_type_from_label),
            work_arrangement: arrangement(self.workplace_type.as_deref()),
            salary: salary(self.salary_range, salary_text),
            description_html,
            description_text,
            classification: non_empty(categories.team).or(non_empty(categories.department)),
            posted_at: self
                .created_at
                .and_then(normalize::datetime_from_epoch_millis),
            expires_at: None,
            external_id: self.id,
            raw,
        }
    }
}

/// `categories.location` (or every entry of `allLocations`), with `country` as the country.
fn location(categories: &Categories, country: Option<&str>) -> Location {
    let country = country
        .map(str::trim)
        .filter(|c| c.len() == 2)
        .map(str::to_ascii_uppercase);
    let raw = categories
        .location
        .clone()
        .and_then(|l| non_empty(Some(l)))
        .or_else(|| {
            let all = categories.all_locations.as_deref().unwrap_or_default();
            non_empty(Some(all.join("; ")))
        });
    let mut location = match raw {
        Some(raw) => normalize::parse_location(&raw, country.as_deref()),
        None => Location::default(),
    };
    // Lever's country is the posting's own field: it beats anything guessed from the text.
    if country.is_some() {
        location.country = country;
    }
    location
}

/// `workplaceType`: `on-site`, `remote`, `hybrid` or `unspecified`.
fn arrangement(workplace_type: Option<&str>) -> WorkArrangement {
    match workplace_type
        .map(|w| w.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("" | "unspecified") => WorkArrangement::Unknown,
        Some("on-site" | "onsite") => WorkArrangement::OnSite,
        Some("remote") => WorkArrangement::Remote,
        Some("hybrid") => WorkArrangement::Hybrid,
        Some(other) => normalize::work_arrangement_from_label(other),
    }
}

/// `salaryRange` as a structured salary; without it, whatever `salaryDescription` says.
fn salary(range: Option<SalaryRange>, text: Option<String>) -> Salary {
    match range {
        Some(range) if range.min.is_some() || range.max.is_some() => salary::structured_salary(
            range.min,
            range.max,
            range.currency.as_deref(),
            range.interval.as_deref().and_then(period_from_interval),
            text,
        ),
        _ => match text {
            Some(text) => salary::parse_salary_text(&text, None),
            None => Salary::default(),
        },
    }
}

/// Lever's `salaryRange.interval`. `one-time` has no period.
fn period_from_interval(interval: &str) -> Option<SalaryPeriod> {
    match interval.trim() {
        "per-year-salary" => Some(SalaryPeriod::Year),
        "per-month-salary" => Some(SalaryPeriod::Month),
        "per-week-salary" => Some(SalaryPeriod::Week),
        "per-day-wage" => Some(SalaryPeriod::Day),
        "per-hour-wage" => Some(SalaryPeriod::Hour),
        "one-time" => None,
        other => salary::period_from_label(other),
    }
}

/// The description as Lever's job page shows it: description, each headed list, additional.
fn compose_html(
    description: Option<&str>,
    lists: &[List],
    additional: Option<&str>,
) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(
        description
            .filter(|d| !d.trim().is_empty())
            .map(str::to_owned),
    );
    for list in lists {
        let heading = list.text.as_deref().map(str::trim).unwrap_or_default();
        let items = list.content.as_deref().map(str::trim).unwrap_or_default();
        if heading.is_empty() && items.is_empty() {
            continue;
        }
        let mut part = String::new();
        if !heading.is_empty() {
            part.push_str(&format!("<h3>{}</h3>", escape_html(heading)));
        }
        if !items.is_empty() {
            part.push_str(&format!("<ul>{items}</ul>"));
        }
        parts.push(part);
    }
    parts.extend(
        additional
            .filter(|a| !a.trim().is_empty())
            .map(str::to_owned),
    );
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// The plain-text counterpart of [`compose_html`]. Lists have no plain version: their HTML goes
/// through the normaliser.
fn compose_text(
    description: Option<&str>,
    lists: &[List],
    additional: Option<&str>,
) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(
        description
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
    );
    for list in lists {
        let heading = list.text.as_deref().map(str::trim).unwrap_or_default();
        let items = list
            .content
            .as_deref()
            .map(normalize::html_to_text)
            .unwrap_or_default();
        let part = [heading, items.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        if !part.is_empty() {
            parts.push(part);
        }
    }
    parts.extend(
        additional
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
    );
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Lever through the [`JobSource`](super::JobSource) interface.
pub struct Lever;

static SPEC: super::SourceSpec = super::SourceSpec {
    source: Source::Lever,
    name: "Lever",
    description: "Every job on one company's Lever board.",
    params: &[super::ParamSpec::required(
        "target",
        "The board token, e.g. the `acme` in jobs.lever.co/acme.",
    )],
    requires_one_of: &[],
    default_base_url: Some(DEFAULT_BASE_URL),
    id_scheme: "Lever's posting UUID",
    listing_what: "Lever postings",
    detail_what: "Lever job",
    result_cap: None,
};

impl super::JobSource for Lever {
    fn spec(&self) -> &'static super::SourceSpec {
        &SPEC
    }

    fn check_params(&self, params: &mut SearchParams) -> Result<(), super::ParamError> {
        super::check_board_token(Source::Lever, params.target.as_deref().unwrap_or_default())
    }

    fn listing_request(&self, plan: &super::RunPlan, _page: u32) -> super::SourceRequest {
        super::SourceRequest::new(
            postings_url(plan.base(), plan.target()),
            crate::fetch::RequestOptions::json(),
        )
    }

    fn parse_listing(
        &self,
        plan: &super::RunPlan,
        _page: u32,
        response: &crate::fetch::FetchedPage,
    ) -> Result<super::Listing, super::SourceError> {
        Ok(super::Listing::whole(parse_postings(
            &response.body,
            plan.target(),
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SalarySource, WorkType};
    use crate::sources::test_support::{assert_built_url, read_fixture};
    use chrono::{TimeZone, Utc};

    fn fixture() -> Vec<u8> {
        read_fixture("ats/lever_postings_api.json")
    }

    fn parse_fixture() -> Vec<NormalizedPosting> {
        parse_postings(&fixture(), "matchgroup").expect("the fixture parses")
    }

    #[test]
    fn script_and_relative_links_are_dropped_for_the_job_board_address() {
        let mut doc: Value = serde_json::from_slice(&fixture()).unwrap();
        doc[0]["hostedUrl"] = "javascript:alert(document.cookie)".into();
        doc[0]["applyUrl"] = " data:text/html,<script>alert(1)</script>".into();
        doc[1]["applyUrl"] = "/apply/relative".into();
        let postings = parse_postings(&serde_json::to_vec(&doc).unwrap(), "matchgroup").unwrap();
        assert_eq!(
            postings[0].url,
            "https://jobs.lever.co/matchgroup/3414ba28-35f7-45d3-8e13-35c883959635"
        );
        assert_eq!(postings[0].apply_url, None);
        assert_eq!(postings[1].apply_url, None);
    }

    #[test]
    fn postings_url_keeps_the_live_path_and_query() {
        assert_built_url(
            postings_url,
            DEFAULT_BASE_URL,
            "matchgroup",
            "https://api.lever.co/v0/postings/matchgroup?mode=json",
        );
    }

    #[test]
    fn postings_url_keeps_a_test_servers_path_prefix_and_encodes_the_site() {
        assert_built_url(
            postings_url,
            "http://localhost:9999/lever",
            "a/b",
            "http://localhost:9999/lever/v0/postings/a%2Fb?mode=json",
        );
    }

    #[test]
    fn every_posting_keeps_its_id_title_and_urls() {
        let postings = parse_fixture();
        assert_eq!(postings.len(), 2);
        let p = &postings[0];
        assert_eq!(p.source, Source::Lever);
        assert_eq!(p.external_id, "3414ba28-35f7-45d3-8e13-35c883959635");
        assert_eq!(p.title, "Android Engineer III");
        assert_eq!(
            p.url,
            "https://jobs.lever.co/matchgroup/3414ba28-35f7-45d3-8e13-35c883959635"
        );
        assert_eq!(
            p.apply_url.as_deref(),
            Some("https://jobs.lever.co/matchgroup/3414ba28-35f7-45d3-8e13-35c883959635/apply")
        );
        assert_eq!(
            postings[1].title,
            "APAC Sr. Localization Program Manager (Tinder Korea)"
        );
    }

    #[test]
    fn the_site_is_the_company_and_its_id() {
        let p = &parse_fixture()[0];
        assert_eq!(p.company.as_deref(), Some("matchgroup"));
        assert_eq!(p.company_external_id.as_deref(), Some("matchgroup"));
    }

    #[test]
    fn the_team_is_the_classification() {
        let postings = parse_fixture();
        assert_eq!(postings[0].classification.as_deref(), Some("Engineering"));
        assert_eq!(postings[1].classification.as_deref(), Some("Product"));
    }

    #[test]
    fn location_keeps_the_category_text_and_the_iso_country() {
        let postings = parse_fixture();
        assert_eq!(
            postings[0].location.raw.as_deref(),
            Some("New York, New York")
        );
        assert_eq!(postings[0].location.country.as_deref(), Some("US"));
        assert_eq!(
            postings[1].location.raw.as_deref(),
            Some("Seoul, South Korea")
        );
        assert_eq!(postings[1].location.country.as_deref(), Some("KR"));
    }

    /// Depends on the normaliser's `parse_location` splitting "New York, New York".
    #[test]
    fn location_city_comes_from_the_category_text() {
        let p = &parse_fixture()[0];
        assert_eq!(p.location.city.as_deref(), Some("New York"));
    }

    #[test]
    fn workplace_type_hybrid_is_hybrid() {
        assert!(
            parse_fixture()
                .iter()
                .all(|p| p.work_arrangement == WorkArrangement::Hybrid)
        );
        assert_eq!(arrangement(Some("on-site")), WorkArrangement::OnSite);
        assert_eq!(arrangement(Some("remote")), WorkArrangement::Remote);
        assert_eq!(arrangement(Some("unspecified")), WorkArrangement::Unknown);
        assert_eq!(arrangement(None), WorkArrangement::Unknown);
    }

    /// Depends on the normaliser's `work_type_from_label("Full-time")`.
    #[test]
    fn commitment_full_time_is_full_time() {
        assert!(
            parse_fixture()
                .iter()
                .all(|p| p.work_type == Some(WorkType::FullTime))
        );
    }

    #[test]
    fn created_at_milliseconds_become_posted_at() {
        let postings = parse_fixture();
        let expected = Utc.timestamp_millis_opt(1_779_223_091_267).unwrap();
        assert_eq!(postings[0].posted_at, Some(expected));
        assert_eq!(
            postings[0].posted_at.unwrap().to_rfc3339(),
            "2026-05-19T20:38:11.267+00:00"
        );
    }

    #[test]
    fn salary_range_is_a_structured_annual_salary_with_its_description() {
        let salary = &parse_fixture()[0].salary;
        assert_eq!(salary.min, Some(150_000.0));
        assert_eq!(salary.max, Some(180_000.0));
        assert_eq!(salary.currency.as_deref(), Some("USD"));
        assert_eq!(salary.period, Some(SalaryPeriod::Year));
        assert_eq!(salary.source, Some(SalarySource::Structured));
        assert!(
            salary
                .text
                .as_deref()
                .unwrap()
                .starts_with("Factors such as scope and responsibilities")
        );
    }

    #[test]
    fn every_lever_interval_maps_to_a_period() {
        assert_eq!(
            period_from_interval("per-year-salary"),
            Some(SalaryPeriod::Year)
        );
        assert_eq!(
            period_from_interval("per-month-salary"),
            Some(SalaryPeriod::Month)
        );
        assert_eq!(
            period_from_interval("per-week-salary"),
            Some(SalaryPeriod::Week)
        );
        assert_eq!(
            period_from_interval("per-day-wage"),
            Some(SalaryPeriod::Day)
        );
        assert_eq!(
            period_from_interval("per-hour-wage"),
            Some(SalaryPeriod::Hour)
        );
        assert_eq!(period_from_interval("one-time"), None);
    }

    #[test]
    fn a_posting_without_salary_has_none() {
        assert_eq!(parse_fixture()[1].salary, Salary::default());
    }

    #[test]
    fn description_html_has_the_description_then_headed_lists_then_additional() {
        let p = &parse_fixture()[0];
        let html = p.description_html.as_deref().unwrap();
        let opening = html
            .find("Hinge is the dating app designed to be deleted")
            .unwrap();
        let heading = html.find("<h3>Responsibilities</h3><ul>").unwrap();
        let item = html.find("<strong>Kotlin Proficiency:</strong>").unwrap();
        let second = html.find("<h3>What We're Looking For</h3>").unwrap();
        let additional = html.find("401(k) Matching:").unwrap();
        assert!(opening < heading && heading < item && item < second && second < additional);
        assert!(!html.to_ascii_lowercase().contains("<script"));
    }

    #[test]
    fn list_headings_are_escaped_as_text() {
        let lists = [List {
            text: Some("Pay & <Perks>".to_owned()),
            content: Some("<li>a</li>".to_owned()),
        }];
        assert_eq!(
            compose_html(None, &lists, None).unwrap(),
            "<h3>Pay &amp; &lt;Perks&gt;</h3><ul><li>a</li></ul>"
        );
    }

    #[test]
    fn description_text_is_built_from_the_plain_fields() {
        let postings = parse_fixture();
        let text = postings[0].description_text.as_deref().unwrap();
        assert!(text.starts_with("Hinge is the dating app designed to be deleted\n\n"));
        assert!(text.contains("\n\nResponsibilities\n"));
        assert!(text.trim_end().ends_with("starting your first"));
        let text = postings[1].description_text.as_deref().unwrap();
        assert!(text.starts_with("- Legal Entity: Hyperconnect"));
        assert!(text.trim_end().ends_with("#tinder"));
    }

    /// Depends on the normaliser's `html_to_text` removing the `<li>` tags of the lists.
    #[test]
    fn description_text_has_no_tags() {
        let text = parse_fixture()[0].description_text.clone().unwrap();
        assert!(!text.contains("<li>"), "{text}");
    }

    #[test]
    fn raw_is_the_postings_own_json_object() {
        let doc: Value = serde_json::from_slice(&fixture()).unwrap();
        assert_eq!(parse_fixture()[0].raw, doc[0]);
    }

    #[test]
    fn a_truncated_body_is_a_json_error_with_a_position() {
        let body = fixture();
        match parse_postings(&body[..body.len() / 2], "matchgroup").unwrap_err() {
            ParseError::Json { line, column, .. } => assert!(line > 1 && column > 0),
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    #[test]
    fn an_object_instead_of_an_array_is_a_shape_error() {
        let err = parse_postings(br#"{"foo":1}"#, "matchgroup").unwrap_err();
        assert!(matches!(err, ParseError::Shape(_)), "{err:?}");
        let err =
            parse_postings(br#"{"ok":false,"error":"Document not found"}"#, "nope").unwrap_err();
        assert!(err.to_string().contains("Document not found"), "{err}");
    }

    #[test]
    fn a_posting_without_an_id_is_a_shape_error_naming_it() {
        let err = parse_postings(br#"[{"text":"Engineer"}]"#, "matchgroup").unwrap_err();
        assert!(err.to_string().contains("postings[0]"), "{err}");
    }
}

//! SmartRecruiters career pages through the public Posting API (no key:
//! dev.smartrecruiters.com, "Posting API").
//!
//! - Listing: `GET {base}/v1/companies/{company}/postings?offset=N&limit=100[&q=keywords]`
//!   answers `{offset, limit, totalFound, content: [{id, name, uuid, refNumber, releasedDate,
//!   location{city, region, country, remote, hybrid, fullLocation}, typeOfEmployment{label},
//!   experienceLevel, department, function, company{name, identifier}}]}`; 100 is the most a page
//!   may hold.
//! - Detail: `GET {base}/v1/companies/{company}/postings/{id}` adds `postingUrl`, `applyUrl` and
//!   the ad itself in `jobAd.sections.{companyDescription, jobDescription, qualifications,
//!   additionalInformation}` (`{title, text}` with HTML text); fetched once, for postings not
//!   stored before.
//!
//! Ids: the posting `id` (`744000151103220`) names one publication across all of SmartRecruiters
//! and is what the detail endpoint and the public page take.
//! The Posting API documents no pay field; a detail that does carry a `compensation` object with
//! numbers is read as a structured salary (see [`PostingDetail::salary`]).

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::ParseError;
use super::common::{
    apply_description_and_expiry, describe_unexpected, deserialize_each,
    non_empty_owned as non_empty, url_with_path,
};
use crate::model::{Location, NormalizedPosting, Salary, Source, WorkArrangement, WorkType};
use crate::normalize::{self, salary};

/// The live API host.
pub const DEFAULT_BASE_URL: &str = "https://api.smartrecruiters.com";

/// Where candidates see a posting (the API host serves no pages).
pub const JOBS_SITE: &str = "https://jobs.smartrecruiters.com";

/// Postings per listing request: the API's maximum `limit`.
pub const PAGE_SIZE: u32 = 100;

/// The longest company identifier accepted (real ones are short words: `Ubisoft2`, `HireVue`).
const MAX_COMPANY_LEN: usize = 100;

/// Checks the `target` parameter: a company identifier, the path segment after
/// `jobs.smartrecruiters.com/` (`Ubisoft2`). The error says what to send instead.
pub fn check_company(company: &str) -> Result<(), String> {
    let valid = !company.is_empty()
        && company.len() <= MAX_COMPANY_LEN
        && company
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        return Ok(());
    }
    let hint = Url::parse(company)
        .ok()
        .filter(|u| {
            u.host_str()
                .is_some_and(|h| h.ends_with("smartrecruiters.com"))
        })
        .and_then(|u| {
            u.path_segments()?
                .find(|s| !s.is_empty())
                .map(str::to_owned)
        })
        .map(|c| format!("; for `{company}` send `{c}`"))
        .unwrap_or_default();
    Err(format!(
        "SmartRecruiters `target` must be a company identifier, the `Ubisoft2` in \
         https://jobs.smartrecruiters.com/Ubisoft2 (letters, digits, `-`, `_`, `.`); \
         got `{company}`{hint}"
    ))
}

/// `{base}/v1/companies/{company}/postings?offset=N&limit=100[&q=keywords]`, keeping any path
/// prefix `base` has; `company` is percent-encoded as one path segment.
pub fn postings_url(base: &Url, company: &str, offset: u32, keywords: Option<&str>) -> Url {
    let mut url = url_with_path(base, &["v1", "companies", company, "postings"]);
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("offset", &offset.to_string())
            .append_pair("limit", &PAGE_SIZE.to_string());
        if let Some(q) = keywords.map(str::trim).filter(|q| !q.is_empty()) {
            query.append_pair("q", q);
        }
    }
    url
}

/// `{base}/v1/companies/{company}/postings/{id}`.
pub fn posting_url(base: &Url, company: &str, id: &str) -> Url {
    url_with_path(base, &["v1", "companies", company, "postings", id])
}

/// One page of a company's postings.
#[derive(Debug)]
pub struct PostingsPage {
    pub postings: Vec<NormalizedPosting>,
    /// Items on the page, usable or not.
    pub cards: usize,
    /// `totalFound`.
    pub total: Option<usize>,
    /// Whether postings follow this page.
    pub has_more: bool,
}

/// One listing page fetched at `offset` for `company` (the identifier asked for; a posting's own
/// `company.identifier` wins).
pub fn parse_postings(body: &[u8], company: &str, offset: u32) -> Result<PostingsPage, ParseError> {
    let doc: Value = serde_json::from_slice(body)?;
    let Some(items) = doc.get("content").and_then(Value::as_array) else {
        // Errors look like `{"code": "…", "message": "…"}` or `{"errors": [...]}`.
        let otherwise = match doc.get("message").and_then(Value::as_str) {
            Some(message) => format!("smartrecruiters answered with an error: {message}"),
            None => "smartrecruiters postings without a `content` array".to_owned(),
        };
        return Err(ParseError::Shape(describe_unexpected(
            &doc,
            "smartrecruiters",
            &otherwise,
        )));
    };
    let total = doc
        .get("totalFound")
        .and_then(Value::as_u64)
        .map(|t| usize::try_from(t).unwrap_or(usize::MAX));
    let mut postings = Vec::with_capacity(items.len());
    for item in deserialize_each::<Card>(items, "smartrecruiters content") {
        let (card, raw) = item?;
        match card.into_posting(raw, company) {
            Some(posting) => postings.push(posting),
            None => tracing::warn!("smartrecruiters posting without an id or name skipped"),
        }
    }
    let next = offset as usize + PAGE_SIZE as usize;
    let has_more = !items.is_empty()
        && match total {
            Some(total) => next < total,
            None => items.len() >= PAGE_SIZE as usize,
        };
    Ok(PostingsPage {
        postings,
        cards: items.len(),
        total,
        has_more,
    })
}

/// An id as the API writes it: a string, or a number in older answers.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(u64),
}

impl Id {
    fn into_string(self) -> String {
        match self {
            Id::Text(s) => s.trim().to_owned(),
            Id::Number(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Card {
    id: Option<Id>,
    name: Option<String>,
    released_date: Option<String>,
    company: Option<Company>,
    location: Option<PlaceFields>,
    type_of_employment: Option<Labelled>,
    department: Option<Labelled>,
    function: Option<Labelled>,
}

#[derive(Debug, Deserialize)]
struct Company {
    identifier: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlaceFields {
    city: Option<String>,
    region: Option<String>,
    /// ISO 3166-1 alpha-2, lower case (`fr`).
    country: Option<String>,
    remote: Option<bool>,
    hybrid: Option<bool>,
    full_location: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Labelled {
    id: Option<Id>,
    label: Option<String>,
}

impl Labelled {
    fn label(self) -> Option<String> {
        non_empty(self.label)
    }
}

impl Card {
    fn into_posting(self, raw: &Value, asked_for: &str) -> Option<NormalizedPosting> {
        let id = self.id.map(Id::into_string).filter(|id| !id.is_empty())?;
        let title = self
            .name
            .map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|n| !n.is_empty())?;
        let (company_id, company_name) = match self.company {
            Some(c) => (non_empty(c.identifier), non_empty(c.name)),
            None => (None, None),
        };
        let company_id = company_id.unwrap_or_else(|| asked_for.to_owned());
        let place = self.location.unwrap_or_default();
        let work_arrangement = arrangement(place.remote, place.hybrid);
        let location = location(place);
        let url = url_with_path(
            &Url::parse(JOBS_SITE).expect("a valid constant"),
            &[&company_id, &id],
        );
        Some(NormalizedPosting {
            source: Source::SmartRecruiters,
            external_id: id,
            url: url.into(),
            apply_url: None,
            title,
            classification: classification(
                self.department.and_then(Labelled::label),
                self.function.and_then(Labelled::label),
                company_name.as_deref(),
            ),
            company: company_name.or_else(|| Some(company_id.clone())),
            company_external_id: Some(company_id),
            location,
            work_type: self.type_of_employment.and_then(work_type),
            work_arrangement,
            salary: Salary::default(),
            description_html: None,
            description_text: None,
            posted_at: self
                .released_date
                .as_deref()
                .and_then(normalize::parse_datetime),
            expires_at: None,
            raw: raw.clone(),
        })
    }
}

/// The department, unless it only repeats the company's name (Ubisoft files every job under a
/// department called "Ubisoft"); then the job function ("Engineering").
fn classification(
    department: Option<String>,
    function: Option<String>,
    company: Option<&str>,
) -> Option<String> {
    let repeats_company =
        |d: &String| company.is_some_and(|c| c.trim().eq_ignore_ascii_case(d.trim()));
    department.filter(|d| !repeats_company(d)).or(function)
}

/// `location.remote` / `location.hybrid`. SmartRecruiters offers on-site, hybrid and remote as
/// two flags: both present and false is on-site; only `remote: false` (answers from before the
/// `hybrid` flag) says nothing.
fn arrangement(remote: Option<bool>, hybrid: Option<bool>) -> WorkArrangement {
    match (remote, hybrid) {
        (Some(true), _) => WorkArrangement::Remote,
        (_, Some(true)) => WorkArrangement::Hybrid,
        (Some(false), Some(false)) => WorkArrangement::OnSite,
        _ => WorkArrangement::Unknown,
    }
}

/// The place's own fields; `raw` is `fullLocation` without the empty parts SmartRecruiters
/// leaves for a missing region ("Warsaw, , Poland" → "Warsaw, Poland").
fn location(place: PlaceFields) -> Location {
    let raw = non_empty(place.full_location).map(|full| {
        full.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    });
    let country = non_empty(place.country).and_then(|c| {
        normalize::country_code(&c).map(str::to_owned).or_else(|| {
            (c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
                .then(|| c.to_ascii_uppercase())
        })
    });
    let location = Location {
        raw: raw.filter(|r| !r.is_empty()),
        city: non_empty(place.city),
        region: non_empty(place.region),
        country,
    };
    if location.city.is_none()
        && location.region.is_none()
        && location.country.is_none()
        && let Some(raw) = location.raw.as_deref()
    {
        return normalize::parse_location(raw, None);
    }
    location
}

/// `typeOfEmployment`: label "Full-time", "Part-time", "Intern", "Contract", "Temporary"; id
/// "permanent", "part-time", "intern", "contract", "temporary".
fn work_type(t: Labelled) -> Option<WorkType> {
    let id = t.id.map(Id::into_string);
    t.label
        .as_deref()
        .and_then(normalize::work_type_from_label)
        .or_else(|| id.as_deref().and_then(normalize::work_type_from_label))
}

/// What a posting's detail adds to its card.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostingDetail {
    pub id: Option<String>,
    /// The four sections in the order the job page shows them, each under its title.
    pub description_html: Option<String>,
    pub posting_url: Option<String>,
    pub apply_url: Option<String>,
    pub salary: Option<Salary>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DetailDoc {
    id: Option<Id>,
    posting_url: Option<String>,
    apply_url: Option<String>,
    job_ad: Option<JobAd>,
    compensation: Option<Compensation>,
}

#[derive(Debug, Deserialize)]
struct JobAd {
    sections: Option<Sections>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sections {
    company_description: Option<Section>,
    job_description: Option<Section>,
    qualifications: Option<Section>,
    additional_information: Option<Section>,
}

#[derive(Debug, Deserialize)]
struct Section {
    title: Option<String>,
    text: Option<String>,
}

/// Pay, when an answer carries it (not in the documented Posting schema).
#[derive(Debug, Deserialize)]
struct Compensation {
    min: Option<f64>,
    max: Option<f64>,
    currency: Option<String>,
    /// "YEAR", "MONTH", "HOUR", "per year", …
    period: Option<String>,
}

impl PostingDetail {
    /// Pay from a `compensation` object: structured when it has a number, `None` otherwise (no
    /// period is assumed: a salary without one is kept without annual figures).
    fn salary(compensation: Compensation) -> Option<Salary> {
        let period = compensation
            .period
            .as_deref()
            .and_then(salary::period_from_label);
        let s = salary::structured_salary(
            compensation.min,
            compensation.max,
            compensation.currency.as_deref(),
            period,
            None,
        );
        (s.min.is_some() || s.max.is_some()).then_some(s)
    }
}

/// HTML-escaped `text` for a heading.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A posting's detail.
pub fn parse_posting_detail(body: &[u8]) -> Result<PostingDetail, ParseError> {
    let doc: Value = serde_json::from_slice(body)?;
    if !doc.is_object() || (doc.get("jobAd").is_none() && doc.get("id").is_none()) {
        let otherwise = match doc.get("message").and_then(Value::as_str) {
            Some(message) => format!("smartrecruiters answered with an error: {message}"),
            None => "smartrecruiters posting without `id` or `jobAd`".to_owned(),
        };
        return Err(ParseError::Shape(describe_unexpected(
            &doc,
            "smartrecruiters",
            &otherwise,
        )));
    }
    let detail = DetailDoc::deserialize(&doc)
        .map_err(|e| ParseError::Shape(format!("smartrecruiters posting: {e}")))?;
    let sections = detail.job_ad.and_then(|ad| ad.sections);
    let description_html = sections.and_then(|s| {
        let html: String = [
            s.company_description,
            s.job_description,
            s.qualifications,
            s.additional_information,
        ]
        .into_iter()
        .flatten()
        .filter_map(|section| {
            let text = non_empty(section.text)?;
            Some(match non_empty(section.title) {
                Some(title) => format!("<h3>{}</h3>{text}", escape(&title)),
                None => text,
            })
        })
        .collect();
        (!html.is_empty()).then_some(html)
    });
    Ok(PostingDetail {
        id: detail.id.map(Id::into_string),
        description_html,
        posting_url: non_empty(detail.posting_url),
        apply_url: non_empty(detail.apply_url),
        salary: detail.compensation.and_then(PostingDetail::salary),
    })
}

/// Merge a detail into its card. What the card has wins (the engine carries stored details over
/// to later runs' cards the same way, so a re-listing is not a change); the public link becomes
/// the detail's `postingUrl`. A detail for another posting is ignored.
pub fn apply_detail(posting: &mut NormalizedPosting, detail: PostingDetail) {
    if detail
        .id
        .as_deref()
        .is_some_and(|id| id != posting.external_id)
    {
        tracing::warn!(
            card = %posting.external_id,
            detail = ?detail.id,
            "smartrecruiters detail is for another posting; keeping the card"
        );
        return;
    }
    apply_description_and_expiry(posting, detail.description_html.as_deref(), None);
    if let Some(url) = detail
        .posting_url
        .as_deref()
        .and_then(|u| normalize::http_url(u, None))
    {
        posting.url = url.into();
    }
    let no_salary = posting.salary.text.is_none()
        && posting.salary.min.is_none()
        && posting.salary.max.is_none();
    if no_salary && let Some(found) = detail.salary {
        posting.salary = found;
    }
}

/// SmartRecruiters through the [`JobSource`](super::JobSource) interface.
pub struct SmartRecruiters;

static SPEC: super::SourceSpec = super::SourceSpec {
    source: Source::SmartRecruiters,
    name: "SmartRecruiters",
    description: "Every posting of one company on SmartRecruiters, 100 a page.",
    params: &[
        super::ParamSpec::required(
            "target",
            "The company identifier, e.g. the `Ubisoft2` in jobs.smartrecruiters.com/Ubisoft2.",
        ),
        super::ParamSpec::optional(
            "keywords",
            "Search words (SmartRecruiters' full-text `q` over title and location).",
        ),
        super::ParamSpec::MAX_PAGES,
    ],
    requires_one_of: &[],
    default_base_url: Some(DEFAULT_BASE_URL),
    id_scheme: "SmartRecruiters' posting id (`744000151103220`), unique across all companies",
    listing_what: "SmartRecruiters postings",
    detail_what: "SmartRecruiters posting",
    result_cap: None,
};

impl super::JobSource for SmartRecruiters {
    fn spec(&self) -> &'static super::SourceSpec {
        &SPEC
    }

    fn check_params(
        &self,
        params: &mut crate::model::SearchParams,
    ) -> Result<(), super::ParamError> {
        check_company(params.target.as_deref().unwrap_or_default()).map_err(super::ParamError)
    }

    fn listing_request(&self, plan: &super::RunPlan, page: u32) -> super::SourceRequest {
        let url = postings_url(
            plan.base(),
            plan.target(),
            page.saturating_mul(PAGE_SIZE),
            plan.params.keywords.as_deref(),
        );
        super::SourceRequest::new(url, crate::fetch::RequestOptions::json())
    }

    fn parse_listing(
        &self,
        plan: &super::RunPlan,
        page: u32,
        response: &crate::fetch::FetchedPage,
    ) -> Result<super::Listing, super::SourceError> {
        let page = parse_postings(
            &response.body,
            plan.target(),
            page.saturating_mul(PAGE_SIZE),
        )?;
        Ok(super::Listing {
            postings: page.postings,
            cards: page.cards,
            has_more: page.has_more,
            total: page.total,
        })
    }

    fn detail_request(
        &self,
        plan: &super::RunPlan,
        posting: &NormalizedPosting,
    ) -> Option<super::SourceRequest> {
        Some(super::SourceRequest::new(
            posting_url(plan.base(), plan.target(), &posting.external_id),
            crate::fetch::RequestOptions::json(),
        ))
    }

    fn apply_detail(
        &self,
        _plan: &super::RunPlan,
        posting: &mut NormalizedPosting,
        response: &crate::fetch::FetchedPage,
    ) -> Result<(), super::SourceError> {
        match parse_posting_detail(&response.body) {
            Ok(detail) => apply_detail(posting, detail),
            Err(e) => tracing::warn!(
                url = %crate::fetch::redact_url(&response.url),
                error = %e,
                "SmartRecruiters posting unreadable; keeping the card"
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SalaryPeriod, SalarySource};
    use crate::sources::test_support::{posting_with_id, read_fixture, utc};

    fn page(fixture: &str, company: &str) -> PostingsPage {
        parse_postings(&read_fixture(fixture), company, 0).expect("the fixture parses")
    }

    fn hirevue() -> PostingsPage {
        page("smartrecruiters/hirevue_postings_offset0.json", "HireVue")
    }

    fn ubisoft() -> PostingsPage {
        page("smartrecruiters/ubisoft2_postings_offset0.json", "Ubisoft2")
    }

    fn ubisoft_detail() -> PostingDetail {
        parse_posting_detail(&read_fixture(
            "smartrecruiters/ubisoft2_posting_744000151103220.json",
        ))
        .unwrap()
    }

    fn hirevue_detail() -> PostingDetail {
        parse_posting_detail(&read_fixture(
            "smartrecruiters/hirevue_posting_744000138728139.json",
        ))
        .unwrap()
    }

    fn plan(company: &str, keywords: Option<&str>) -> crate::sources::RunPlan {
        use crate::sources::JobSource;
        let params = crate::sources::check_params(
            Source::SmartRecruiters,
            &crate::model::SearchParams {
                target: Some(company.to_owned()),
                keywords: keywords.map(str::to_owned),
                ..Default::default()
            },
            50,
        )
        .expect("valid parameters");
        crate::sources::RunPlan {
            base: SmartRecruiters.default_base(&params),
            params,
        }
    }

    fn fetched(body: &[u8]) -> crate::fetch::FetchedPage {
        crate::fetch::FetchedPage {
            url: Url::parse("https://api.smartrecruiters.com/v1/companies/x/postings").unwrap(),
            status: 200,
            content_type: Some("application/json".into()),
            body: body.to_vec().into(),
        }
    }

    #[test]
    fn the_source_pages_by_a_hundred_and_asks_for_each_new_postings_detail() {
        use crate::sources::JobSource;
        let plan = plan("Ubisoft2", Some("shader"));
        let request = SmartRecruiters.listing_request(&plan, 1);
        assert_eq!(
            request.url.as_str(),
            "https://api.smartrecruiters.com/v1/companies/Ubisoft2/postings?offset=100&limit=100&q=shader"
        );
        assert_eq!(request.options.kind, crate::fetch::ResourceKind::Json);
        assert_eq!(request.options.method, None);
        let listing = SmartRecruiters
            .parse_listing(
                &plan,
                0,
                &fetched(&read_fixture(
                    "smartrecruiters/ubisoft2_postings_offset0.json",
                )),
            )
            .unwrap();
        assert_eq!(
            (listing.cards, listing.total, listing.has_more),
            (3, Some(298), true)
        );
        let detail = SmartRecruiters
            .detail_request(&plan, &listing.postings[0])
            .unwrap();
        assert_eq!(
            detail.url.as_str(),
            "https://api.smartrecruiters.com/v1/companies/Ubisoft2/postings/744000151103220"
        );
        let mut card = listing.postings[0].clone();
        SmartRecruiters
            .apply_detail(&plan, &mut card, &fetched(b"<html>oops</html>"))
            .expect("an unreadable detail is not the run's failure");
        assert_eq!(card, listing.postings[0]);
    }

    #[test]
    fn runs_without_a_company_are_refused_with_what_to_send() {
        let err = crate::sources::check_params(
            Source::SmartRecruiters,
            &crate::model::SearchParams::default(),
            50,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "smartrecruiters needs `target`: the company identifier, e.g. the `Ubisoft2` in \
             jobs.smartrecruiters.com/Ubisoft2"
        );
    }

    #[test]
    fn company_identifiers_are_checked_and_urls_get_a_hint() {
        for good in [
            "Ubisoft2",
            "HireVue",
            "smartrecruiters",
            "Bosch-Group",
            "a.b_c",
        ] {
            assert_eq!(check_company(good), Ok(()), "{good}");
        }
        for bad in ["", "Ubi soft", "Ubisoft2/postings", "x?y", &"a".repeat(101)] {
            let err = check_company(bad).unwrap_err();
            assert!(err.contains("company identifier"), "{bad}: {err}");
        }
        let err =
            check_company("https://jobs.smartrecruiters.com/Ubisoft2/744000151103220").unwrap_err();
        assert!(err.ends_with("send `Ubisoft2`"), "{err}");
    }

    #[test]
    fn the_listing_url_pages_by_offset_and_searches_with_q() {
        let base = Url::parse(DEFAULT_BASE_URL).unwrap();
        assert_eq!(
            postings_url(&base, "Ubisoft2", 0, None).as_str(),
            "https://api.smartrecruiters.com/v1/companies/Ubisoft2/postings?offset=0&limit=100"
        );
        assert_eq!(
            postings_url(&base, "Ubisoft2", 200, Some("technical artist")).as_str(),
            "https://api.smartrecruiters.com/v1/companies/Ubisoft2/postings?offset=200&limit=100&q=technical+artist"
        );
        assert_eq!(
            postings_url(&base, "Ubisoft2", 0, Some("  ")).query(),
            Some("offset=0&limit=100")
        );
        let mock = Url::parse("http://127.0.0.1:9/sr/").unwrap();
        assert_eq!(
            postings_url(&mock, "a/b", 100, None).as_str(),
            "http://127.0.0.1:9/sr/v1/companies/a%2Fb/postings?offset=100&limit=100"
        );
        assert_eq!(
            posting_url(&base, "HireVue", "744000138728139").as_str(),
            "https://api.smartrecruiters.com/v1/companies/HireVue/postings/744000138728139"
        );
    }

    #[test]
    fn every_posting_keeps_its_id_title_company_and_date() {
        let page = ubisoft();
        assert_eq!((page.cards, page.total), (3, Some(298)));
        let ids: Vec<&str> = page
            .postings
            .iter()
            .map(|p| p.external_id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["744000151103220", "744000151078437", "744000151077192"]
        );
        let p = &page.postings[0];
        assert_eq!(p.source, Source::SmartRecruiters);
        assert_eq!(
            p.title, "Expert Technical Artist - Shader (F/H/NB)",
            "spaces tidied"
        );
        assert_eq!(p.company.as_deref(), Some("Ubisoft"));
        assert_eq!(p.company_external_id.as_deref(), Some("Ubisoft2"));
        assert_eq!(
            p.url,
            "https://jobs.smartrecruiters.com/Ubisoft2/744000151103220"
        );
        assert_eq!(p.apply_url, None);
        let released = utc(2026, 9, 22, 17, 49, 45) + chrono::Duration::milliseconds(760);
        assert_eq!(p.posted_at, Some(released));
        assert_eq!(p.work_type, Some(WorkType::FullTime));
        assert_eq!(p.description_html, None);
    }

    #[test]
    fn the_location_comes_from_its_fields() {
        let p = &ubisoft().postings[0];
        assert_eq!(
            p.location,
            Location {
                raw: Some("Annecy, Auvergne-Rhône-Alpes, France".into()),
                city: Some("Annecy".into()),
                region: Some("Auvergne-Rhône-Alpes".into()),
                country: Some("FR".into()),
            }
        );
        let page = hirevue();
        let warsaw = posting_with_id(&page.postings, "744000136509359");
        assert_eq!(warsaw.location.raw.as_deref(), Some("Warsaw, Poland"));
        assert_eq!(warsaw.location.region, None);
        assert_eq!(warsaw.location.country.as_deref(), Some("PL"));
    }

    #[test]
    fn remote_and_hybrid_flags_set_the_arrangement() {
        assert!(
            hirevue()
                .postings
                .iter()
                .all(|p| p.work_arrangement == WorkArrangement::Remote)
        );
        assert!(
            ubisoft()
                .postings
                .iter()
                .all(|p| p.work_arrangement == WorkArrangement::OnSite),
            "remote and hybrid both false"
        );
        assert_eq!(
            arrangement(Some(false), Some(true)),
            WorkArrangement::Hybrid
        );
        assert_eq!(arrangement(Some(false), None), WorkArrangement::Unknown);
        assert_eq!(arrangement(None, None), WorkArrangement::Unknown);
    }

    #[test]
    fn employment_types_map_from_label_or_id() {
        let page = hirevue();
        assert_eq!(
            posting_with_id(&page.postings, "744000138728139").work_type,
            Some(WorkType::PartTime)
        );
        let intern = Labelled {
            id: Some(Id::Text("intern".into())),
            label: Some("Stage".into()),
        };
        assert_eq!(work_type(intern), Some(WorkType::Internship));
    }

    #[test]
    fn a_department_named_like_the_company_gives_way_to_the_function() {
        assert_eq!(
            ubisoft().postings[1].classification.as_deref(),
            Some("Engineering")
        );
        assert_eq!(
            hirevue().postings[0].classification.as_deref(),
            Some("Data Science")
        );
    }

    #[test]
    fn pages_follow_while_postings_remain() {
        let doc = |offset: u32, items: usize, total: u64| {
            let card = serde_json::json!({"id": "1", "name": "T"});
            let body = serde_json::json!({"offset": offset, "limit": 100, "totalFound": total,
                                          "content": vec![card; items]});
            parse_postings(body.to_string().as_bytes(), "c", offset).unwrap()
        };
        assert!(ubisoft().has_more, "3 of 298");
        assert!(
            !hirevue().has_more,
            "5 postings fit on the first page of 100"
        );
        assert!(doc(100, 100, 250).has_more);
        assert!(!doc(200, 50, 250).has_more);
        assert!(!doc(300, 0, 250).has_more, "an empty page ends it");
    }

    #[test]
    fn postings_without_id_or_name_are_counted_but_not_kept() {
        let body = br#"{"totalFound":3,"content":[{"name":"No id"},{"id":"2","name":"  "},{"id":3,"name":"Numeric id"}]}"#;
        let page = parse_postings(body, "c", 0).unwrap();
        assert_eq!(page.cards, 3);
        let ids: Vec<&str> = page
            .postings
            .iter()
            .map(|p| p.external_id.as_str())
            .collect();
        assert_eq!(ids, ["3"]);
        assert_eq!(page.postings[0].company_external_id.as_deref(), Some("c"));
        assert_eq!(page.postings[0].url, "https://jobs.smartrecruiters.com/c/3");
    }

    #[test]
    fn raw_is_the_postings_own_json() {
        let doc: Value = serde_json::from_slice(&read_fixture(
            "smartrecruiters/hirevue_postings_offset0.json",
        ))
        .unwrap();
        assert_eq!(hirevue().postings[1].raw, doc["content"][1]);
    }

    #[test]
    fn broken_listings_are_errors_that_say_what_was_wrong() {
        let body = read_fixture("smartrecruiters/ubisoft2_postings_offset0.json");
        assert!(matches!(
            parse_postings(&body[..body.len() / 3], "Ubisoft2", 0).unwrap_err(),
            ParseError::Json { .. }
        ));
        let err = parse_postings(
            br#"{"code":"NOT_FOUND","message":"Company not found"}"#,
            "x",
            0,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected response shape: smartrecruiters answered with an error: Company not found"
        );
        let err = parse_postings(br#"{"totalFound":0}"#, "x", 0).unwrap_err();
        assert!(err.to_string().contains("`content`"), "{err}");
        let err = parse_postings(br#"{"content":[{"id":"1","name":["x"]}]}"#, "x", 0).unwrap_err();
        assert!(err.to_string().contains("content[0]"), "{err}");
    }

    #[test]
    fn the_detail_joins_the_four_sections_under_their_titles() {
        let d = ubisoft_detail();
        let html = d.description_html.as_deref().unwrap();
        let order: Vec<usize> = [
            "<h3>Company Description</h3><p>Ubisoft is a global leader",
            "<h3>Job Description</h3><p>YOUR DAILY ADVENTURE",
            "<h3>Qualifications</h3>",
            "<h3>Additional Information</h3><p>Role based at the Annecy Studio",
        ]
        .iter()
        .map(|s| html.find(s).unwrap_or_else(|| panic!("{s} in {html}")))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert_eq!(d.id.as_deref(), Some("744000151103220"));
        assert_eq!(
            d.posting_url.as_deref(),
            Some(
                "https://jobs.smartrecruiters.com/Ubisoft2/744000151103220-expert-technical-artist-shader-f-h-nb-"
            )
        );
        assert_eq!(d.salary, None, "no pay in the ad");
    }

    #[test]
    fn applying_the_detail_adds_a_sanitised_description_and_the_public_link() {
        let mut p = ubisoft().postings.remove(0);
        let card = p.clone();
        apply_detail(&mut p, ubisoft_detail());
        let html = p.description_html.as_deref().unwrap();
        assert!(
            html.contains("<li>Produce and maintain shaders and complex VFX</li>"),
            "{html}"
        );
        let text = p.description_text.as_deref().unwrap();
        assert!(text.contains("R&D: conduct tests"), "{text}");
        assert!(!text.contains("&amp;") && !text.contains("<li>"));
        assert_eq!(
            p.url,
            "https://jobs.smartrecruiters.com/Ubisoft2/744000151103220-expert-technical-artist-shader-f-h-nb-"
        );
        assert_eq!(
            p.apply_url, None,
            "not stored: a later run's card could not repeat it"
        );
        assert_eq!(
            (
                &p.title,
                &p.company,
                &p.location,
                p.work_type,
                p.work_arrangement
            ),
            (
                &card.title,
                &card.company,
                &card.location,
                card.work_type,
                card.work_arrangement
            )
        );
    }

    #[test]
    fn hostile_section_text_is_sanitised_and_titles_escaped() {
        let body = serde_json::json!({"id": "1", "jobAd": {"sections": {
            "jobDescription": {"title": "<img src=x onerror=alert(1)>",
                               "text": "<p onclick=\"alert(1)\">Hi</p><script>alert(1)</script>"}
        }}});
        let d = parse_posting_detail(body.to_string().as_bytes()).unwrap();
        let mut p = ubisoft().postings.remove(0);
        p.external_id = "1".into();
        apply_detail(&mut p, d);
        let html = p.description_html.unwrap();
        assert!(
            !html.contains("<script") && !html.contains("onclick") && !html.contains("<img"),
            "{html}"
        );
        assert!(html.contains("<p>Hi</p>"), "{html}");
    }

    #[test]
    fn a_detail_for_another_posting_is_ignored() {
        let mut p = hirevue().postings.remove(1);
        let card = p.clone();
        apply_detail(&mut p, hirevue_detail());
        assert_eq!(p, card);
    }

    #[test]
    fn a_compensation_object_becomes_a_structured_salary() {
        // Edited copy of a recorded detail: no recorded answer carried pay.
        let mut doc: Value = serde_json::from_slice(&read_fixture(
            "smartrecruiters/hirevue_posting_744000138728139.json",
        ))
        .unwrap();
        doc["compensation"] =
            serde_json::json!({"min": 25, "max": 32.5, "currency": "usd", "period": "HOUR"});
        let d = parse_posting_detail(doc.to_string().as_bytes()).unwrap();
        let mut p = posting_with_id(&hirevue().postings, "744000138728139").clone();
        apply_detail(&mut p, d);
        assert_eq!(p.salary.min, Some(25.0));
        assert_eq!(p.salary.max, Some(32.5));
        assert_eq!(p.salary.currency.as_deref(), Some("USD"));
        assert_eq!(p.salary.period, Some(SalaryPeriod::Hour));
        assert_eq!(p.salary.source, Some(SalarySource::Structured));
        assert_eq!(p.salary.annual_min, Some(25.0 * 2080.0));

        doc["compensation"] = serde_json::json!({});
        let d = parse_posting_detail(doc.to_string().as_bytes()).unwrap();
        assert_eq!(
            d.salary, None,
            "an empty object (as SmartRecruiters' feeds send) is no pay"
        );
    }

    #[test]
    fn broken_details_are_errors() {
        let body = read_fixture("smartrecruiters/hirevue_posting_744000138728139.json");
        assert!(matches!(
            parse_posting_detail(&body[..200]).unwrap_err(),
            ParseError::Json { .. }
        ));
        let err = parse_posting_detail(br#"{"message":"Posting not found"}"#).unwrap_err();
        assert!(err.to_string().contains("Posting not found"), "{err}");
        let err = parse_posting_detail(br#"[1,2]"#).unwrap_err();
        assert!(err.to_string().contains("`jobAd`"), "{err}");
        let err = parse_posting_detail(
            br#"{"id":"1","jobAd":{"sections":{"jobDescription":{"text":7}}}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("smartrecruiters posting"), "{err}");
    }
}

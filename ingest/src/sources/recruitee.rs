//! Recruitee careers-site API: `GET https://{company}.recruitee.com/api/offers/` returns every
//! published offer of a company in one response (`{"offers": [...]}`), no key needed.
//!
//! The host is the company's own subdomain, so the live base URL is built from the target; an
//! operator override (`JOBINTEL_RECRUITEE_BASE_URL`) is one host for every company and keeps the
//! path `/api/offers/`.
//!
//! Quirks handled here:
//! - ids are numbers; salary bounds are strings (`"5250"`, `"95.00"`) or `null`, with a period
//!   (`year`, `month`, `hour`, …) that may be `null` too.
//! - timestamps look like `2026-08-11 20:45:29 UTC`.
//! - the description is split over `description` and `requirements` (both HTML); the careers
//!   page shows them in that order.
//! - `location` can be a label such as `Remote job` while `city` / `state_name` /
//!   `country_code` hold the structured place; the structured fields win.
//! - work arrangement comes as three flags, `remote`, `hybrid` and `on_site`.

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::common::{
    describe_unexpected, deserialize_each, non_empty_owned as non_empty, url_with_path,
};
use super::{
    JobSource, Listing, ParamError, ParamSpec, ParseError, RunPlan, SourceError, SourceRequest,
    SourceSpec,
};
use crate::fetch::{FetchedPage, RequestOptions};
use crate::model::{
    Location, NormalizedPosting, Salary, SalaryPeriod, SearchParams, Source, WorkArrangement,
    WorkType,
};
use crate::normalize::{self, salary};

/// The live host, per company: `{company}` is the target.
pub const DEFAULT_BASE_URL_TEMPLATE: &str = "https://{company}.recruitee.com";

/// Whether `company` can be a Recruitee subdomain: one DNS label (ASCII letters, digits and
/// inner hyphens, at most 63 characters). Anything else could not name a `*.recruitee.com` host
/// (and must not be spliced into one).
pub fn is_company_name(company: &str) -> bool {
    !company.is_empty()
        && company.len() <= 63
        && company
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !company.starts_with('-')
        && !company.ends_with('-')
}

/// `https://{company}.recruitee.com`, or `None` when `company` is not a subdomain name
/// ([`is_company_name`]). The name is lower-cased: host names are case-insensitive.
pub fn company_base_url(company: &str) -> Option<Url> {
    if !is_company_name(company) {
        return None;
    }
    let host = DEFAULT_BASE_URL_TEMPLATE.replace("{company}", &company.to_ascii_lowercase());
    Url::parse(&host).ok()
}

/// `{base}/api/offers/` (the trailing slash is the live path's), keeping any path prefix `base`
/// has and dropping its query.
pub fn offers_url(base: &Url) -> Url {
    url_with_path(base, &["api", "offers", ""])
}

/// Every published offer of a company. `company` is the subdomain the body was fetched for: the
/// company's stable id, and its name when an offer lacks `company_name`.
pub fn parse_offers(body: &[u8], company: &str) -> Result<Vec<NormalizedPosting>, ParseError> {
    let doc: Value = serde_json::from_slice(body)?;
    let Some(offers) = doc.get("offers").and_then(Value::as_array) else {
        return Err(ParseError::Shape(describe_unexpected(
            &doc,
            "recruitee",
            "recruitee response without an `offers` array",
        )));
    };
    let mut postings = Vec::with_capacity(offers.len());
    for item in deserialize_each::<Offer>(offers, "recruitee offers") {
        let (offer, raw) = item?;
        // The public endpoint lists published offers only; anything else is not on the site.
        if offer
            .status
            .as_deref()
            .is_none_or(|s| s.trim().eq_ignore_ascii_case("published"))
        {
            postings.push(offer.into_posting(raw.clone(), company));
        }
    }
    Ok(postings)
}

#[derive(Debug, Deserialize)]
struct Offer {
    id: Id,
    title: String,
    slug: Option<String>,
    status: Option<String>,
    careers_url: Option<String>,
    careers_apply_url: Option<String>,
    company_name: Option<String>,
    department: Option<String>,
    description: Option<String>,
    requirements: Option<String>,
    location: Option<String>,
    city: Option<String>,
    state_name: Option<String>,
    state_code: Option<String>,
    country: Option<String>,
    country_code: Option<String>,
    remote: Option<bool>,
    hybrid: Option<bool>,
    on_site: Option<bool>,
    employment_type_code: Option<String>,
    salary: Option<SalaryFields>,
    published_at: Option<String>,
    created_at: Option<String>,
    close_at: Option<String>,
}

/// Offer ids are numbers; a string id is accepted rather than failing the whole board.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Id {
    Number(u64),
    Text(String),
}

#[derive(Debug, Deserialize)]
struct SalaryFields {
    min: Option<Amount>,
    max: Option<Amount>,
    currency: Option<String>,
    period: Option<String>,
}

/// A salary bound: Recruitee sends decimal strings (`"95.00"`); numbers are accepted too.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Amount {
    Number(f64),
    Text(String),
}

impl Amount {
    fn value(&self) -> Option<f64> {
        match self {
            Amount::Number(n) => Some(*n),
            Amount::Text(s) => s.trim().parse().ok(),
        }
    }
}

impl Offer {
    fn into_posting(self, raw: Value, company: &str) -> NormalizedPosting {
        let external_id = match self.id {
            Id::Number(n) => n.to_string(),
            Id::Text(s) => s.trim().to_owned(),
        };
        // Recruitee gives absolute links (the company's own careers domain or its subdomain); a
        // link that is not http(s) falls back to the offer's page on the subdomain.
        let url = non_empty(self.careers_url)
            .and_then(|u| normalize::http_url(&u, None))
            .map(String::from)
            .unwrap_or_else(|| fallback_url(company, self.slug.as_deref(), &external_id));
        let description_html =
            compose_html(self.description.as_deref(), self.requirements.as_deref())
                .map(|html| normalize::sanitize_html(&html));
        let description_text = description_html.as_deref().map(normalize::html_to_text);
        let location = location(
            non_empty(self.location),
            non_empty(self.city),
            non_empty(self.state_name).or(non_empty(self.state_code)),
            non_empty(self.country_code),
            non_empty(self.country),
        );

        NormalizedPosting {
            source: Source::Recruitee,
            external_id,
            url,
            apply_url: non_empty(self.careers_apply_url)
                .and_then(|u| normalize::http_url(&u, None))
                .map(String::from),
            title: self.title.trim().to_owned(),
            company: non_empty(self.company_name).or_else(|| Some(company.to_owned())),
            company_external_id: Some(company.to_owned()),
            location,
            work_type: self.employment_type_code.as_deref().and_then(work_type),
            work_arrangement: arrangement(self.remote, self.hybrid, self.on_site),
            salary: self.salary.map(salary_from).unwrap_or_default(),
            description_html,
            description_text,
            classification: non_empty(self.department),
            posted_at: [&self.published_at, &self.created_at]
                .into_iter()
                .flatten()
                .find_map(|s| parse_timestamp(s)),
            expires_at: self.close_at.as_deref().and_then(parse_timestamp),
            raw,
        }
    }
}

/// The offer's page on the company's subdomain: `/o/{slug}`, else the careers site itself
/// (there is no page keyed by the numeric id).
fn fallback_url(company: &str, slug: Option<&str>, external_id: &str) -> String {
    let host = company_base_url(company)
        .unwrap_or_else(|| Url::parse("https://recruitee.com").expect("a valid URL"));
    match slug.map(str::trim).filter(|s| !s.is_empty()) {
        Some(slug) => url_with_path(&host, &["o", slug]).to_string(),
        None => {
            let mut url = url_with_path(&host, &[]);
            url.set_fragment(Some(external_id));
            url.to_string()
        }
    }
}

/// The structured place when the offer has one (city, region, ISO country), else what the
/// normaliser makes of the `location` label. The label is kept as the raw location either way.
fn location(
    label: Option<String>,
    city: Option<String>,
    region: Option<String>,
    country_code: Option<String>,
    country: Option<String>,
) -> Location {
    let country = country_code
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(|c| c.to_ascii_uppercase())
        .or_else(|| {
            country
                .as_deref()
                .and_then(normalize::country_code)
                .map(str::to_owned)
        });
    if city.is_some() || region.is_some() || country.is_some() {
        let raw = label.or_else(|| {
            let parts: Vec<&str> = [city.as_deref(), region.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        });
        return Location {
            raw,
            city,
            region,
            country,
        };
    }
    match label {
        Some(label) => normalize::parse_location(&label, None),
        None => Location::default(),
    }
}

/// `employment_type_code`: `fulltime`, `fulltime_permanent`, `fulltime_fixed_term`, `parttime…`,
/// `internship`, `freelance`, `temporary`, `traineeship`, `apprenticeship`, `volunteer`, … A fixed
/// term is a contract whatever its hours; a traineeship (graduate programme) is an internship.
fn work_type(code: &str) -> Option<WorkType> {
    let code = code.trim().to_ascii_lowercase();
    if code.ends_with("fixed_term") {
        return Some(WorkType::Contract);
    }
    match code.as_str() {
        "fulltime" | "fulltime_permanent" | "full_time" => Some(WorkType::FullTime),
        "parttime" | "parttime_permanent" | "part_time" => Some(WorkType::PartTime),
        "internship" | "intern" | "traineeship" => Some(WorkType::Internship),
        "freelance" | "contract" | "contractor" => Some(WorkType::Contract),
        "temporary" | "seasonal" => Some(WorkType::Temporary),
        "apprenticeship" | "volunteer" | "other" => Some(WorkType::Other),
        other => normalize::work_type_from_label(other),
    }
}

/// The three flags. Hybrid wins over remote (part of the week is in the office), remote over
/// on-site; none set is unknown.
fn arrangement(
    remote: Option<bool>,
    hybrid: Option<bool>,
    on_site: Option<bool>,
) -> WorkArrangement {
    if hybrid == Some(true) {
        WorkArrangement::Hybrid
    } else if remote == Some(true) {
        WorkArrangement::Remote
    } else if on_site == Some(true) {
        WorkArrangement::OnSite
    } else {
        WorkArrangement::Unknown
    }
}

/// `salary {min, max, currency, period}` as a structured salary; all-null gives none.
fn salary_from(fields: SalaryFields) -> Salary {
    let period = fields.period.as_deref().and_then(period_from_label);
    salary::structured_salary(
        fields.min.as_ref().and_then(Amount::value),
        fields.max.as_ref().and_then(Amount::value),
        fields.currency.as_deref(),
        period,
        None,
    )
}

/// Recruitee periods: `year`, `month`, `week`, `day`, `hour`.
fn period_from_label(period: &str) -> Option<SalaryPeriod> {
    match period.trim().to_ascii_lowercase().as_str() {
        "year" => Some(SalaryPeriod::Year),
        "month" => Some(SalaryPeriod::Month),
        "week" => Some(SalaryPeriod::Week),
        "day" => Some(SalaryPeriod::Day),
        "hour" => Some(SalaryPeriod::Hour),
        other => salary::period_from_label(other),
    }
}

/// Recruitee's `2026-08-11 20:45:29 UTC`, or anything the shared parser reads.
fn parse_timestamp(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s.trim();
    let s = s.strip_suffix(" UTC").unwrap_or(s);
    normalize::parse_datetime(s)
}

/// `description` then `requirements`, as the careers page shows them.
fn compose_html(description: Option<&str>, requirements: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = [description, requirements]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// Recruitee through the [`JobSource`] interface: one request per run, the whole board.
pub struct Recruitee;

static SPEC: SourceSpec = SourceSpec {
    source: Source::Recruitee,
    name: "Recruitee",
    description: "Every published offer on one company's Recruitee careers site.",
    params: &[ParamSpec::required(
        "target",
        "The company's Recruitee subdomain, e.g. the `acme` in acme.recruitee.com.",
    )],
    requires_one_of: &[],
    default_base_url: Some(DEFAULT_BASE_URL_TEMPLATE),
    id_scheme: "Recruitee's numeric offer id",
    listing_what: "Recruitee offers",
    detail_what: "Recruitee offer",
    result_cap: None,
};

impl JobSource for Recruitee {
    fn spec(&self) -> &'static SourceSpec {
        &SPEC
    }

    /// The target must be a subdomain name; it is lower-cased, so `Acme` and `acme` are one
    /// company (and one set of ids).
    fn check_params(&self, params: &mut SearchParams) -> Result<(), ParamError> {
        let target = params.target.as_deref().unwrap_or_default();
        if !is_company_name(target) {
            return Err(ParamError(format!(
                "recruitee `target` must be the company's subdomain (the `acme` in \
                 acme.recruitee.com), not a URL or path: `{target}`"
            )));
        }
        params.target = Some(target.to_ascii_lowercase());
        Ok(())
    }

    fn default_base(&self, params: &SearchParams) -> Option<Url> {
        company_base_url(params.target.as_deref().unwrap_or_default())
    }

    fn listing_request(&self, plan: &RunPlan, _page: u32) -> SourceRequest {
        SourceRequest::new(offers_url(plan.base()), RequestOptions::json())
    }

    fn parse_listing(
        &self,
        plan: &RunPlan,
        _page: u32,
        response: &FetchedPage,
    ) -> Result<Listing, SourceError> {
        Ok(Listing::whole(parse_offers(&response.body, plan.target())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SalarySource;
    use crate::sources::test_support::{posting_with_id, read_fixture, utc};

    const COMPANY: &str = "aikidosecurity";

    fn fixture() -> Vec<u8> {
        read_fixture("recruitee/recruitee_api_offers_aikidosecurity_2026-08.json")
    }

    fn fixture_doc() -> Value {
        serde_json::from_slice(&fixture()).unwrap()
    }

    fn parse_fixture() -> Vec<NormalizedPosting> {
        parse_offers(&fixture(), COMPANY).expect("the fixture parses")
    }

    /// The fixture with the first offer changed by `edit`, parsed.
    fn with_first_offer(edit: impl FnOnce(&mut Value)) -> NormalizedPosting {
        let mut doc = fixture_doc();
        edit(&mut doc["offers"][0]);
        parse_offers(&serde_json::to_vec(&doc).unwrap(), COMPANY)
            .unwrap()
            .remove(0)
    }

    fn plan(target: &str) -> RunPlan {
        let params = crate::sources::check_params(
            Source::Recruitee,
            &SearchParams {
                target: Some(target.to_owned()),
                ..SearchParams::default()
            },
            50,
        )
        .expect("valid parameters");
        RunPlan {
            base: Recruitee.default_base(&params),
            params,
        }
    }

    #[test]
    fn a_run_asks_the_companys_own_host_for_json() {
        let plan = plan(" AikidoSecurity ");
        assert_eq!(plan.target(), COMPANY, "trimmed and lower-cased");
        let request = Recruitee.listing_request(&plan, 0);
        assert_eq!(
            request.url.as_str(),
            "https://aikidosecurity.recruitee.com/api/offers/"
        );
        assert_eq!(request.options.kind, crate::fetch::ResourceKind::Json);
        assert_eq!(request.options.method, None, "a GET");
    }

    #[test]
    fn a_target_that_is_not_a_subdomain_is_refused_with_what_to_send() {
        for bad in [
            "https://acme.recruitee.com",
            "acme.recruitee.com",
            "a/b",
            "a b",
        ] {
            let err = crate::sources::check_params(
                Source::Recruitee,
                &SearchParams {
                    target: Some(bad.to_owned()),
                    ..SearchParams::default()
                },
                50,
            )
            .unwrap_err();
            assert!(err.0.contains("acme.recruitee.com"), "{bad}: {err}");
        }
        let err = crate::sources::check_params(Source::Recruitee, &SearchParams::default(), 50)
            .unwrap_err();
        assert!(err.0.contains("needs `target`"), "{err}");
    }

    #[test]
    fn the_listing_is_the_whole_board() {
        let plan = plan(COMPANY);
        let response = FetchedPage {
            url: offers_url(plan.base()),
            status: 200,
            content_type: Some("application/json; charset=utf-8".to_owned()),
            body: fixture().into(),
        };
        let listing = Recruitee.parse_listing(&plan, 0, &response).unwrap();
        assert_eq!((listing.cards, listing.has_more), (3, false));
        assert_eq!(listing.postings.len(), 3);
    }

    #[test]
    fn the_live_base_is_the_companys_subdomain() {
        assert_eq!(
            company_base_url("aikidosecurity").unwrap().as_str(),
            "https://aikidosecurity.recruitee.com/"
        );
        assert_eq!(
            company_base_url("Acme-Corp").unwrap().as_str(),
            "https://acme-corp.recruitee.com/"
        );
    }

    #[test]
    fn a_target_that_is_not_one_dns_label_has_no_base() {
        for bad in [
            "",
            "evil.example.com/x?",
            "a.b",
            "a b",
            "-acme",
            "acme-",
            "acme/",
            "ac%6De",
            "acme@evil",
            &"a".repeat(64),
        ] {
            assert!(!is_company_name(bad), "{bad:?}");
            assert_eq!(company_base_url(bad), None, "{bad:?}");
        }
        assert!(is_company_name(&"a".repeat(63)));
    }

    #[test]
    fn offers_url_is_the_live_path_with_its_trailing_slash() {
        let base = company_base_url(COMPANY).unwrap();
        assert_eq!(
            offers_url(&base).as_str(),
            "https://aikidosecurity.recruitee.com/api/offers/"
        );
    }

    #[test]
    fn offers_url_keeps_an_override_hosts_path_prefix_and_drops_its_query() {
        let base = Url::parse("http://127.0.0.1:4000/mock/recruitee/?x=1").unwrap();
        assert_eq!(
            offers_url(&base).as_str(),
            "http://127.0.0.1:4000/mock/recruitee/api/offers/"
        );
        let base = Url::parse("http://127.0.0.1:4000").unwrap();
        assert_eq!(
            offers_url(&base).as_str(),
            "http://127.0.0.1:4000/api/offers/"
        );
    }

    #[test]
    fn every_offer_keeps_its_numeric_id_title_and_links() {
        let postings = parse_fixture();
        assert_eq!(
            postings
                .iter()
                .map(|p| p.external_id.as_str())
                .collect::<Vec<_>>(),
            ["2707521", "2707517", "2705729"]
        );
        let p = posting_with_id(&postings, "2705729");
        assert_eq!(p.source, Source::Recruitee);
        assert_eq!(p.title, "Office Manager Chicago");
        assert_eq!(
            p.url,
            "https://aikidosecurity.recruitee.com/o/office-manager-chicago"
        );
        assert_eq!(
            p.apply_url.as_deref(),
            Some("https://aikidosecurity.recruitee.com/o/office-manager-chicago/c/new")
        );
    }

    #[test]
    fn company_name_is_the_company_and_the_subdomain_its_id() {
        let p = &parse_fixture()[0];
        assert_eq!(p.company.as_deref(), Some("Aikido Security"));
        assert_eq!(p.company_external_id.as_deref(), Some(COMPANY));
        let p = with_first_offer(|o| o["company_name"] = Value::Null);
        assert_eq!(p.company.as_deref(), Some(COMPANY));
    }

    #[test]
    fn structured_place_beats_the_remote_label() {
        let postings = parse_fixture();
        let p = posting_with_id(&postings, "2707521");
        assert_eq!(p.location.raw.as_deref(), Some("Remote job"));
        assert_eq!(p.location.city.as_deref(), Some("Tel Aviv"));
        assert_eq!(p.location.region.as_deref(), Some("Tel Aviv"));
        assert_eq!(p.location.country.as_deref(), Some("IL"));
        let p = posting_with_id(&postings, "2705729");
        assert_eq!(
            p.location.raw.as_deref(),
            Some("Chicago, Illinois, United States")
        );
        assert_eq!(p.location.city.as_deref(), Some("Chicago"));
        assert_eq!(p.location.region.as_deref(), Some("Illinois"));
        assert_eq!(p.location.country.as_deref(), Some("US"));
    }

    #[test]
    fn without_structured_fields_the_label_is_parsed() {
        let p = with_first_offer(|o| {
            for key in [
                "city",
                "state_name",
                "state_code",
                "country_code",
                "country",
            ] {
                o[key] = Value::Null;
            }
            o["location"] = "Berlin, Germany".into();
        });
        assert_eq!(p.location.raw.as_deref(), Some("Berlin, Germany"));
        assert_eq!(p.location.country.as_deref(), Some("DE"));
        let p = with_first_offer(|o| {
            o["country_code"] = Value::Null;
            o["country"] = "Germany".into();
        });
        assert_eq!(p.location.country.as_deref(), Some("DE"), "from the name");
    }

    #[test]
    fn the_three_flags_give_the_arrangement() {
        let postings = parse_fixture();
        assert_eq!(postings[0].work_arrangement, WorkArrangement::Remote);
        assert_eq!(postings[1].work_arrangement, WorkArrangement::Remote);
        assert_eq!(postings[2].work_arrangement, WorkArrangement::OnSite);
        assert_eq!(
            arrangement(Some(true), Some(true), Some(false)),
            WorkArrangement::Hybrid
        );
        assert_eq!(
            arrangement(Some(false), Some(false), Some(false)),
            WorkArrangement::Unknown
        );
        assert_eq!(arrangement(None, None, None), WorkArrangement::Unknown);
    }

    #[test]
    fn employment_type_codes_map_to_work_types() {
        assert!(
            parse_fixture()
                .iter()
                .all(|p| p.work_type == Some(WorkType::FullTime)),
            "fulltime_permanent"
        );
        let cases = [
            ("fulltime", Some(WorkType::FullTime)),
            ("parttime_permanent", Some(WorkType::PartTime)),
            ("fulltime_fixed_term", Some(WorkType::Contract)),
            ("parttime_fixed_term", Some(WorkType::Contract)),
            ("internship", Some(WorkType::Internship)),
            ("freelance", Some(WorkType::Contract)),
            ("temporary", Some(WorkType::Temporary)),
            ("traineeship", Some(WorkType::Internship)),
            ("apprenticeship", Some(WorkType::Other)),
            ("something_new", None),
        ];
        for (code, expected) in cases {
            assert_eq!(work_type(code), expected, "{code}");
        }
    }

    #[test]
    fn a_salary_with_string_bounds_is_structured() {
        let postings = parse_fixture();
        let s = &posting_with_id(&postings, "2705729").salary;
        // The board published 75.00–95.00 USD a year: kept as published.
        assert_eq!((s.min, s.max), (Some(75.0), Some(95.0)));
        assert_eq!(s.currency.as_deref(), Some("USD"));
        assert_eq!(s.period, Some(SalaryPeriod::Year));
        assert_eq!(s.source, Some(SalarySource::Structured));
        assert_eq!(s.annual_max, Some(95.0));
    }

    #[test]
    fn an_all_null_salary_is_none() {
        assert_eq!(parse_fixture()[0].salary, Salary::default());
    }

    #[test]
    fn a_monthly_salary_is_annualised_by_twelve() {
        let p = with_first_offer(|o| {
            o["salary"] = serde_json::json!({"min": "3750", "max": "5250", "period": "month", "currency": "EUR"});
        });
        assert_eq!((p.salary.min, p.salary.max), (Some(3750.0), Some(5250.0)));
        assert_eq!(p.salary.period, Some(SalaryPeriod::Month));
        assert_eq!(p.salary.annual_min, Some(45_000.0));
        assert_eq!(p.salary.annual_max, Some(63_000.0));
    }

    #[test]
    fn published_at_in_recruitee_format_is_posted_at() {
        let postings = parse_fixture();
        assert_eq!(postings[0].posted_at, Some(utc(2026, 8, 11, 20, 45, 29)));
        let p = with_first_offer(|o| o["published_at"] = Value::Null);
        assert_eq!(
            p.posted_at,
            Some(utc(2026, 8, 11, 20, 42, 57)),
            "created_at"
        );
        let p = with_first_offer(|o| o["close_at"] = "2026-09-30 00:00:00 UTC".into());
        assert_eq!(p.expires_at, Some(utc(2026, 9, 30, 0, 0, 0)));
    }

    #[test]
    fn description_is_the_sanitised_description_then_the_requirements() {
        let p = &parse_fixture()[2];
        let html = p.description_html.as_deref().unwrap();
        let intro = html
            .find("taking on the crusty global cyber market")
            .unwrap();
        let requirement = html
            .find("Strong organizational and time management skills")
            .unwrap();
        assert!(intro < requirement, "{html}");
        assert!(!html.contains("style="), "attributes are dropped: {html}");
        let text = p.description_text.as_deref().unwrap();
        assert!(text.contains("River North office"), "{text}");
        assert!(!text.contains("<li>"));
    }

    #[test]
    fn script_in_a_description_and_script_links_are_dropped() {
        let p = with_first_offer(|o| {
            o["description"] = "<p onclick=\"alert(1)\">Hi</p><script>alert(1)</script>".into();
            o["careers_url"] = "javascript:alert(1)".into();
            o["careers_apply_url"] = "/o/relative/c/new".into();
        });
        let html = p.description_html.unwrap();
        assert!(
            !html.contains("script") && !html.contains("onclick"),
            "{html}"
        );
        assert_eq!(
            p.url,
            "https://aikidosecurity.recruitee.com/o/customer-success-engineer-tel-aviv"
        );
        assert_eq!(p.apply_url, None);
    }

    #[test]
    fn department_is_the_classification() {
        let postings = parse_fixture();
        assert_eq!(postings[0].classification.as_deref(), Some("Sales"));
        assert_eq!(postings[2].classification.as_deref(), Some("Operations"));
    }

    #[test]
    fn raw_is_the_offers_own_json() {
        assert_eq!(parse_fixture()[1].raw, fixture_doc()["offers"][1]);
    }

    #[test]
    fn unpublished_offers_are_skipped() {
        let mut doc = fixture_doc();
        doc["offers"][1]["status"] = "draft".into();
        let postings = parse_offers(&serde_json::to_vec(&doc).unwrap(), COMPANY).unwrap();
        assert_eq!(postings.len(), 2);
        assert!(postings.iter().all(|p| p.external_id != "2707517"));
    }

    #[test]
    fn a_string_id_is_kept() {
        let p = with_first_offer(|o| o["id"] = " 42 ".into());
        assert_eq!(p.external_id, "42");
    }

    #[test]
    fn a_truncated_body_is_a_json_error_with_a_position() {
        let body = fixture();
        match parse_offers(&body[..body.len() / 2], COMPANY).unwrap_err() {
            ParseError::Json { line, column, .. } => assert!(line > 1 && column > 0),
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    #[test]
    fn a_body_without_offers_is_a_shape_error() {
        let err = parse_offers(br#"[{"id": 1}]"#, COMPANY).unwrap_err();
        assert!(matches!(err, ParseError::Shape(_)), "{err:?}");
        let err = parse_offers(br#"{"error": "Not found"}"#, COMPANY).unwrap_err();
        assert!(err.to_string().contains("Not found"), "{err}");
    }

    #[test]
    fn an_offer_without_an_id_is_a_shape_error_naming_it() {
        let err = parse_offers(br#"{"offers": [{"title": "Engineer"}]}"#, COMPANY).unwrap_err();
        assert!(err.to_string().contains("recruitee offers[0]"), "{err}");
    }
}

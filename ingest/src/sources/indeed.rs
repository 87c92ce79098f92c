//! Indeed (au.indeed.com, nz.indeed.com, …): URL builders, pure parsers and challenge detection.
//!
//! - Search: the HTML page `{base}/jobs?q=…&l=…&start=N` embeds its cards in
//!   `window.mosaic.providerData["mosaic-provider-jobcards"]={...};`
//!   (`metaData.mosaicProviderJobCardsModel.results[]`), cut out with a string-aware brace
//!   matcher ([`search_url`], [`parse_search_page`]).
//! - Detail: `{base}/viewjob?jk={jobkey}` carries a schema.org `JobPosting` JSON-LD script,
//!   `#jobDescriptionText` and `window._initialData` ([`job_page_url`], [`parse_job_page`],
//!   [`apply_detail`]).
//! - Blocking: Cloudflare and Indeed serve challenge pages, sometimes with HTTP 200
//!   ([`is_challenge`]). Callers check it before parsing; the parsers also refuse such pages.
//!
//! Indeed's private GraphQL API (the mobile app's key) is deliberately not used.

use chrono::{DateTime, Utc};
use scraper::{Html, Selector};
use serde_json::Value;
use url::Url;

use super::ParseError;
use super::common::{
    apply_description_and_expiry, non_empty, unique_by_external_id, url_with_path,
};
use super::embedded_json::{self, skip_whitespace, value_after_equals};
use super::html_scan;
use crate::model::{
    Location, NormalizedPosting, Salary, SalaryPeriod, SalarySource, SearchParams, Source,
    WorkArrangement, WorkType,
};
use crate::normalize::salary::{parse_salary_text, period_from_label, structured_salary};
use crate::normalize::{
    country_code, datetime_from_epoch_millis, html_to_text, parse_datetime, parse_location,
    work_arrangement_from_label, work_type_from_label,
};

/// Indeed Australia, the default site.
pub const DEFAULT_BASE_URL: &str = "https://au.indeed.com";

const JOBCARDS_PROVIDER: &str = "mosaic-provider-jobcards";

/// The live site for an ISO country code: `au` → <https://au.indeed.com>, `us` →
/// <https://www.indeed.com>, `gb` → <https://uk.indeed.com>, others `https://{cc}.indeed.com`.
pub fn default_base_url(country: &str) -> String {
    let cc = country.trim().to_ascii_lowercase();
    match cc.as_str() {
        "" | "au" => DEFAULT_BASE_URL.to_owned(),
        "us" => "https://www.indeed.com".to_owned(),
        "gb" | "uk" => "https://uk.indeed.com".to_owned(),
        _ => format!("https://{cc}.indeed.com"),
    }
}

/// The currency a bare `$` (or an unlabelled amount) means on a country's site.
pub fn default_currency(country: &str) -> Option<&'static str> {
    let currency = match country.trim().to_ascii_lowercase().as_str() {
        "au" => "AUD",
        "nz" => "NZD",
        "us" => "USD",
        "ca" => "CAD",
        "gb" | "uk" => "GBP",
        "ie" | "de" | "fr" | "nl" | "es" | "it" | "at" | "be" => "EUR",
        "in" => "INR",
        "sg" => "SGD",
        "hk" => "HKD",
        "my" => "MYR",
        "ph" => "PHP",
        "za" => "ZAR",
        "jp" => "JPY",
        _ => return None,
    };
    Some(currency)
}

/// `{base}/jobs?q=…&l=…&start=N`: `q` always (empty when there are no keywords), `l` when a
/// location is given, `start` only past the first page.
pub fn search_url(base: &Url, params: &SearchParams, start: u32) -> Url {
    let mut url = url_with_path(base, &["jobs"]);
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("q", params.keywords.as_deref().unwrap_or("").trim());
        if let Some(location) = non_empty(params.location.as_deref()) {
            query.append_pair("l", location);
        }
        if start > 0 {
            query.append_pair("start", &start.to_string());
        }
    }
    url
}

/// `{base}/viewjob?jk={jobkey}`.
pub fn job_page_url(base: &Url, jobkey: &str) -> Url {
    let mut url = url_with_path(base, &["viewjob"]);
    url.query_pairs_mut().append_pair("jk", jobkey);
    url
}

fn text(v: &Value) -> Option<String> {
    non_empty(v.as_str()).map(str::to_owned)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().replace(',', "").parse().ok(),
        _ => None,
    }
}

/// A UTC time from epoch milliseconds (Indeed's `pubDate`).
fn from_epoch_millis(v: &Value) -> Option<DateTime<Utc>> {
    let millis = v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))?;
    datetime_from_epoch_millis(millis)
}

/// Whether `body` is a bot challenge (Cloudflare "Just a moment...", Turnstile, Indeed's hCaptcha
/// "Security Check") rather than the page asked for. Challenges come back with 200 as well as
/// 403/429/503, so the body decides. Cloudflare's passive `/cdn-cgi/challenge-platform/scripts/jsd`
/// beacon, present on every normal Indeed page, is not a challenge.
pub fn is_challenge(status: u16, body: &str) -> bool {
    const MARKERS: &[&str] = &[
        "window._cf_chl_opt",
        "cf-chl-",
        "/cdn-cgi/challenge-platform/h/",
        "INDEED_CLOUDFLARE_STATIC_PAGE",
        "hcaptcha.com",
        "class=\"h-captcha\"",
    ];
    if MARKERS.iter().any(|m| body.contains(m)) {
        return true;
    }
    // Phrases only count near the top of the page, where challenge pages put them, so that a job
    // ad quoting them further down does not trip the check.
    let head = body[..floor_char_boundary(body, 32 * 1024)].to_ascii_lowercase();
    const PHRASES: &[&str] = &[
        "<title>just a moment...</title>",
        "<title>just a moment…</title>",
        "<title>security check - indeed.com</title>",
        "<title>attention required! | cloudflare</title>",
        "verify you are human by completing",
        "verifying you are human",
    ];
    if PHRASES.iter().any(|p| head.contains(p)) {
        return true;
    }
    matches!(status, 403 | 429 | 503)
        && (head.contains("cloudflare") || head.contains("captcha") || head.contains("cf-ray"))
}

fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq)]
pub struct IndeedSearchPage {
    /// The page's postings, deduplicated by job key (first occurrence kept).
    pub postings: Vec<NormalizedPosting>,
    /// Cards on the page before deduplication.
    pub card_count: usize,
    /// Whether the page links to a next page. Best effort: Indeed sends anonymous clients to a
    /// sign-in wall from page 2 on.
    pub has_next: bool,
}

/// Offset of the value assigned to `providerData["mosaic-provider-jobcards"]` (any spacing, single
/// or double quotes).
fn jobcards_value_start(html: &str) -> Option<usize> {
    const NAME: &str = "providerData";
    let bytes = html.as_bytes();
    let mut from = 0;
    while let Some(found) = html[from..].find(NAME) {
        from += found + NAME.len();
        let mut i = skip_whitespace(bytes, from);
        if bytes.get(i) != Some(&b'[') {
            continue;
        }
        i = skip_whitespace(bytes, i + 1);
        let Some(&quote) = bytes.get(i).filter(|&&q| q == b'"' || q == b'\'') else {
            continue;
        };
        i += 1;
        if !html[i..].starts_with(JOBCARDS_PROVIDER) {
            continue;
        }
        i += JOBCARDS_PROVIDER.len();
        if bytes.get(i) != Some(&quote) {
            continue;
        }
        i = skip_whitespace(bytes, i + 1);
        if bytes.get(i) != Some(&b']') {
            continue;
        }
        if let Some(value) = value_after_equals(html, i + 1) {
            return Some(value);
        }
    }
    None
}

/// Parse a search results page. Postings link to `{base}/viewjob?jk=…`; `country` (ISO code) gives
/// the default location country and currency.
///
/// Errors: the cards' JSON is cut off or invalid → [`ParseError::Json`] (positioned in the page);
/// no job-cards data (a challenge, a sign-in wall, garbage) → [`ParseError::Shape`]. A page whose
/// card list is present but empty is a valid page with no postings.
pub fn parse_search_page(
    html: &str,
    base: &Url,
    country: &str,
) -> Result<IndeedSearchPage, ParseError> {
    let Some(start) = jobcards_value_start(html) else {
        return Err(ParseError::Shape(if is_challenge(200, html) {
            "a bot challenge page instead of Indeed job cards".into()
        } else {
            "no job cards (no mosaic-provider-jobcards data) in the Indeed page".into()
        }));
    };
    let data = embedded_json::parse_object_at(html, start)?;
    let cards = data
        .pointer("/metaData/mosaicProviderJobCardsModel/results")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ParseError::Shape(
                "no job cards: mosaic-provider-jobcards has no metaData.mosaicProviderJobCardsModel.results"
                    .into(),
            )
        })?;
    let postings = unique_by_external_id(
        cards
            .iter()
            .filter_map(|card| posting_from_card(card, base, country)),
    );
    Ok(IndeedSearchPage {
        postings,
        card_count: cards.len(),
        has_next: has_next_page(html),
    })
}

fn has_next_page(html: &str) -> bool {
    // Nesting past the cap is flattened first: html5ever's time grows with its square.
    let html =
        html_scan::limit_nesting(html, html_scan::MAX_NESTING, html_scan::MAX_OPEN_FORMATTING);
    let document = Html::parse_document(&html);
    let next =
        Selector::parse(r#"a[data-testid="pagination-page-next"], a[aria-label="Next Page"]"#)
            .expect("static selector");
    document.select(&next).next().is_some()
}

/// A posting from one job card; `None` for a card without a job key or a title.
fn posting_from_card(card: &Value, base: &Url, country: &str) -> Option<NormalizedPosting> {
    let jobkey = text(&card["jobkey"])?;
    let title = text(&card["title"]).or_else(|| text(&card["displayTitle"]))?;
    let country_code = country.trim().to_ascii_uppercase();
    let location = text(&card["formattedLocation"])
        .map(|raw| parse_location(&raw, non_empty(Some(&country_code))))
        .unwrap_or_default();
    let work_type = card["jobTypes"]
        .get(0)
        .and_then(text)
        .or_else(|| taxonomy_label(card, "job-types"))
        .and_then(|label| work_type_from_label(&label));
    Some(NormalizedPosting {
        source: Source::Indeed,
        url: job_page_url(base, &jobkey).to_string(),
        external_id: jobkey,
        apply_url: None,
        title,
        company: text(&card["company"]).or_else(|| text(&card["truncatedCompany"])),
        company_external_id: None,
        location,
        work_type,
        work_arrangement: card_arrangement(card),
        salary: card_salary(card, country),
        description_html: None,
        description_text: text(&card["snippet"]).map(|snippet| html_to_text(&snippet)),
        classification: None,
        posted_at: from_epoch_millis(&card["pubDate"]),
        expires_at: None,
        raw: card.clone(),
    })
}

/// The first attribute label of a `taxonomyAttributes` group ("job-types", "remote", …).
fn taxonomy_label(card: &Value, group: &str) -> Option<String> {
    card["taxonomyAttributes"]
        .as_array()?
        .iter()
        .find(|g| g["label"].as_str() == Some(group))
        .and_then(|g| g["attributes"].get(0))
        .and_then(|a| text(&a["label"]))
}

/// Indeed's `remoteWorkModel.type` codes (`REMOTE_HYBRID`, `REMOTE_ALWAYS`, …).
fn arrangement_from_remote_model(model: &Value) -> Option<WorkArrangement> {
    if let Some(kind) = model["type"].as_str() {
        let kind = kind.to_ascii_uppercase();
        if kind.contains("HYBRID") {
            return Some(WorkArrangement::Hybrid);
        }
        if kind.contains("REMOTE") {
            return Some(WorkArrangement::Remote);
        }
    }
    text(&model["text"])
        .map(|label| work_arrangement_from_label(&label))
        .filter(|a| *a != WorkArrangement::Unknown)
}

fn card_arrangement(card: &Value) -> WorkArrangement {
    if let Some(arrangement) = arrangement_from_remote_model(&card["remoteWorkModel"]) {
        return arrangement;
    }
    if card["remoteLocation"].as_bool() == Some(true) {
        return WorkArrangement::Remote;
    }
    taxonomy_label(card, "remote").map_or(WorkArrangement::Unknown, |label| {
        work_arrangement_from_label(&label)
    })
}

/// `extractedSalary.type` / `salaryInfoModel.salaryType` / JSON-LD `unitText` as a period.
fn period_of(label: &str) -> Option<SalaryPeriod> {
    let period = match label.trim().to_ascii_lowercase().as_str() {
        "hourly" | "hour" => SalaryPeriod::Hour,
        "daily" | "day" => SalaryPeriod::Day,
        "weekly" | "week" => SalaryPeriod::Week,
        "monthly" | "month" => SalaryPeriod::Month,
        "yearly" | "year" | "annual" | "annually" => SalaryPeriod::Year,
        _ => return period_from_label(label),
    };
    Some(period)
}

/// Structured from `extractedSalary` when present, else parsed from `salarySnippet.text`.
fn card_salary(card: &Value, country: &str) -> Salary {
    let snippet = &card["salarySnippet"];
    let text_shown = text(&snippet["text"]);
    let currency = text(&snippet["currency"]).or_else(|| default_currency(country).map(Into::into));
    let extracted = &card["extractedSalary"];
    let (min, max) = (number(&extracted["min"]), number(&extracted["max"]));
    if min.is_some() || max.is_some() {
        let period = extracted["type"].as_str().and_then(period_of);
        return structured_salary(min, max, currency.as_deref(), period, text_shown);
    }
    match text_shown {
        Some(shown) => parse_salary_text(&shown, currency.as_deref()),
        None => Salary::default(),
    }
}

/// What a `/viewjob` page adds to a search card.
#[derive(Debug, Clone, PartialEq)]
pub struct IndeedJobDetail {
    pub job_key: Option<String>,
    pub title: Option<String>,
    pub company: Option<String>,
    /// The description as Indeed serves it (not yet sanitised).
    pub description_html: Option<String>,
    pub posted_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub work_type: Option<WorkType>,
    pub work_arrangement: WorkArrangement,
    /// From JSON-LD `baseSalary` (or `_initialData.salaryInfoModel`), always structured.
    pub salary: Option<Salary>,
    /// From the JSON-LD postal address.
    pub location: Option<Location>,
    /// The JSON-LD `JobPosting`, when the page had one.
    pub raw: Option<Value>,
}

impl Default for IndeedJobDetail {
    fn default() -> Self {
        IndeedJobDetail {
            job_key: None,
            title: None,
            company: None,
            description_html: None,
            posted_at: None,
            expires_at: None,
            work_type: None,
            work_arrangement: WorkArrangement::Unknown,
            salary: None,
            location: None,
            raw: None,
        }
    }
}

/// Parse a `/viewjob` page: JSON-LD `JobPosting`, `#jobDescriptionText` and `window._initialData`
/// (the latter only fills gaps; an unreadable `_initialData` is ignored).
///
/// Errors: a page with none of the three (a challenge, a sign-in wall, garbage) →
/// [`ParseError::Shape`].
pub fn parse_job_page(html: &str) -> Result<IndeedJobDetail, ParseError> {
    // No DOM of the whole page: a ~550 KB job page is mostly scripts and styles, and building a
    // tree for them cost more than everything else here. The scripts are found by a scan and the
    // description element is parsed on its own (see `html_scan`), with the same results.
    let posting = json_ld_job_posting(html);
    // Nesting past the cap is flattened first: html5ever's time grows with its square.
    let flat =
        html_scan::limit_nesting(html, html_scan::MAX_NESTING, html_scan::MAX_OPEN_FORMATTING);
    let description_html = html_scan::inner_html_by_id(&flat, "jobDescriptionText")
        .map(|inner| inner.trim().to_owned())
        .filter(|html| !html.is_empty());
    let initial =
        embedded_json::assignment_value_start(html, "window._initialData").and_then(|start| {
            embedded_json::parse_object_paths_at(html, start, INITIAL_DATA_READ).ok()
        });
    let header = initial
        .as_ref()
        .and_then(|d| d.pointer("/jobInfoWrapperModel/jobInfoModel/jobInfoHeaderModel"));

    if posting.is_none() && description_html.is_none() && header.is_none() {
        return Err(ParseError::Shape(if is_challenge(200, html) {
            "a bot challenge page instead of an Indeed job page".into()
        } else {
            "no job posting (no JobPosting JSON-LD, #jobDescriptionText or _initialData) in the Indeed page".into()
        }));
    }

    let ld = posting.as_ref();
    let initial_ref = initial.as_ref();
    let salary_info = initial_ref.map(|d| &d["salaryInfoModel"]);
    let shown_salary = salary_info.and_then(|s| text(&s["salaryText"]));

    let salary = ld
        .and_then(|p| salary_from_json_ld(&p["baseSalary"], shown_salary.clone()))
        .or_else(|| salary_info.and_then(|s| salary_from_info_model(s, shown_salary.clone())));
    let work_type = ld
        .and_then(|p| first_text(&p["employmentType"]))
        .or_else(|| {
            initial_ref.and_then(|d| {
                text(&d["jobInfoWrapperModel"]["jobInfoModel"]["jobMetadataHeaderModel"]["jobType"])
            })
        })
        .and_then(|label| work_type_from_label(&label));
    let work_arrangement = ld
        .and_then(|p| first_text(&p["jobLocationType"]))
        .filter(|t| t.eq_ignore_ascii_case("TELECOMMUTE"))
        .map(|_| WorkArrangement::Remote)
        .or_else(|| header.and_then(|h| arrangement_from_remote_model(&h["remoteWorkModel"])))
        .unwrap_or(WorkArrangement::Unknown);

    Ok(IndeedJobDetail {
        job_key: initial_ref
            .and_then(|d| text(&d["jobKey"]))
            .or_else(|| canonical_job_key(html)),
        title: ld
            .and_then(|p| text(&p["title"]))
            .or_else(|| header.and_then(|h| text(&h["jobTitle"]))),
        company: ld
            .and_then(|p| {
                text(&p["hiringOrganization"]["name"]).or_else(|| text(&p["hiringOrganization"]))
            })
            .or_else(|| header.and_then(|h| text(&h["companyName"]))),
        description_html: description_html
            .or_else(|| ld.and_then(|p| text(&p["description"])))
            .or_else(|| {
                initial_ref.and_then(|d| {
                    text(&d["jobInfoWrapperModel"]["jobInfoModel"]["sanitizedJobDescription"])
                })
            }),
        posted_at: ld
            .and_then(|p| p["datePosted"].as_str())
            .and_then(parse_datetime),
        expires_at: ld
            .and_then(|p| p["validThrough"].as_str())
            .and_then(parse_datetime),
        work_type,
        work_arrangement,
        salary,
        location: ld.and_then(|p| location_from_json_ld(&p["jobLocation"])),
        raw: posting,
    })
}

/// What [`parse_job_page`] reads from `window._initialData`; the rest of that object (related
/// jobs, i18n strings, … often hundreds of KB) is only checked, not built. Keep in step with the
/// reads there.
const INITIAL_DATA_READ: &[&[&str]] = &[
    &["jobKey"],
    &["salaryInfoModel"],
    &["jobInfoWrapperModel", "jobInfoModel", "jobInfoHeaderModel"],
    &[
        "jobInfoWrapperModel",
        "jobInfoModel",
        "jobMetadataHeaderModel",
        "jobType",
    ],
    &[
        "jobInfoWrapperModel",
        "jobInfoModel",
        "sanitizedJobDescription",
    ],
];

/// The first `JobPosting` in the page's JSON-LD scripts (top level, arrays or `@graph`): scripts
/// whose `type` is `application/ld+json` (ASCII case-insensitively, as the CSS attribute selector
/// this replaces matched it), read strictly.
fn json_ld_job_posting(html: &str) -> Option<Value> {
    html_scan::scripts(html)
        .filter(|script| {
            script
                .attr("type")
                .is_some_and(|t| t.eq_ignore_ascii_case("application/ld+json"))
        })
        .find_map(|script| {
            let json: Value = serde_json::from_str(script.text()?.trim()).ok()?;
            find_job_posting(&json).cloned()
        })
}

fn find_job_posting(v: &Value) -> Option<&Value> {
    match v {
        Value::Array(items) => items.iter().find_map(find_job_posting),
        Value::Object(map) => {
            let is_posting = match map.get("@type") {
                Some(Value::String(t)) => t == "JobPosting",
                Some(Value::Array(types)) => types.iter().any(|t| t == "JobPosting"),
                _ => false,
            };
            if is_posting {
                Some(v)
            } else {
                map.get("@graph").and_then(find_job_posting)
            }
        }
        _ => None,
    }
}

/// A string, or the first string of an array.
fn first_text(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => items.iter().find_map(text),
        _ => text(v),
    }
}

/// JSON-LD `baseSalary`: a `MonetaryAmount` whose `value` is a `QuantitativeValue`
/// (`minValue`/`maxValue`/`value`, `unitText`) or a bare number.
fn salary_from_json_ld(base: &Value, shown: Option<String>) -> Option<Salary> {
    if !base.is_object() {
        return None;
    }
    let value = &base["value"];
    let (min, max) = if value.is_object() {
        let single = number(&value["value"]);
        (
            number(&value["minValue"]).or(single),
            number(&value["maxValue"]).or(single),
        )
    } else {
        (number(value), number(value))
    };
    if min.is_none() && max.is_none() {
        return None;
    }
    let unit = text(&value["unitText"]).or_else(|| text(&base["unitText"]));
    Some(structured_salary(
        min,
        max,
        text(&base["currency"]).as_deref(),
        unit.as_deref().and_then(period_of),
        shown,
    ))
}

/// `_initialData.salaryInfoModel{salaryMin, salaryMax, salaryCurrency, salaryType}`.
fn salary_from_info_model(info: &Value, shown: Option<String>) -> Option<Salary> {
    let (min, max) = (number(&info["salaryMin"]), number(&info["salaryMax"]));
    if min.is_none() && max.is_none() {
        return None;
    }
    Some(structured_salary(
        min,
        max,
        text(&info["salaryCurrency"]).as_deref(),
        info["salaryType"].as_str().and_then(period_of),
        shown,
    ))
}

/// A location from JSON-LD `jobLocation` (a `Place` or an array of them) and its `PostalAddress`.
fn location_from_json_ld(job_location: &Value) -> Option<Location> {
    let place = match job_location {
        Value::Array(places) => places.first()?,
        other => other,
    };
    let address = &place["address"];
    let city = text(&address["addressLocality"]);
    let region = text(&address["addressRegion"]);
    let postcode = text(&address["postalCode"]);
    let country = text(&address["addressCountry"])
        .or_else(|| text(&address["addressCountry"]["name"]))
        .and_then(|c| iso_country(&c));
    if city.is_none() && region.is_none() && country.is_none() {
        return None;
    }
    let raw: Vec<&str> = [&city, &region, &postcode]
        .into_iter()
        .filter_map(|part| part.as_deref())
        .collect();
    Some(Location {
        raw: (!raw.is_empty()).then(|| raw.join(" ")),
        city,
        region,
        country,
    })
}

/// ISO alpha-2 for an `addressCountry` code or name; an unknown two-letter code is kept as is.
fn iso_country(country: &str) -> Option<String> {
    let country = country.trim();
    country_code(country).map(str::to_owned).or_else(|| {
        (country.len() == 2 && country.chars().all(|c| c.is_ascii_alphabetic()))
            .then(|| country.to_ascii_uppercase())
    })
}

/// The `jk` of the page's canonical link: the first `<link>` whose `rel` is `canonical` (ASCII
/// case-insensitively, as `link[rel="canonical"]` matched it).
fn canonical_job_key(html: &str) -> Option<String> {
    let link = html_scan::Tags::new(html).find(|tag| {
        tag.kind == html_scan::TagKind::Start
            && tag.is("link")
            && tag
                .attr("rel")
                .is_some_and(|rel| rel.eq_ignore_ascii_case("canonical"))
    })?;
    let href = link.attr("href")?;
    let url = Url::parse(&href).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "jk")
        .map(|(_, v)| v.into_owned())
}

/// Fill `posting` (from a search card) with what its job page adds: the full description
/// (sanitised), the expiry date, a structured salary when the card had none, and any field the card
/// lacked. Fields the card had are kept.
pub fn apply_detail(posting: &mut NormalizedPosting, detail: IndeedJobDetail) {
    apply_description_and_expiry(
        posting,
        detail.description_html.as_deref(),
        detail.expires_at,
    );
    posting.posted_at = posting.posted_at.or(detail.posted_at);
    if posting.title.trim().is_empty()
        && let Some(title) = detail.title
    {
        posting.title = title;
    }
    if posting.company.is_none() {
        posting.company = detail.company;
    }
    if posting.salary.source != Some(SalarySource::Structured)
        && let Some(salary) = detail.salary
    {
        posting.salary = salary;
    }
    if posting.location.city.is_none()
        && let Some(location) = detail.location
    {
        posting.location = Location {
            raw: posting.location.raw.take().or(location.raw),
            ..location
        };
    }
    if posting.work_type.is_none() {
        posting.work_type = detail.work_type;
    }
    if posting.work_arrangement == WorkArrangement::Unknown {
        posting.work_arrangement = detail.work_arrangement;
    }
}

/// Indeed shows this many cards per search page (`start` advances by it).
const PAGE_SIZE: u32 = 10;

/// Indeed through the [`JobSource`](super::JobSource) interface.
pub struct Indeed;

static SPEC: super::SourceSpec = super::SourceSpec {
    source: Source::Indeed,
    name: "Indeed",
    description: "Job search on Indeed's country sites.",
    params: &[
        super::ParamSpec::optional("keywords", "Search words."),
        super::ParamSpec::optional("location", "Where, e.g. `Melbourne VIC`."),
        super::ParamSpec::optional(
            "country",
            "Two-letter country site, e.g. `au`, `us` (default `au`).",
        ),
        super::ParamSpec::MAX_PAGES,
    ],
    requires_one_of: &["keywords", "location"],
    default_base_url: Some(DEFAULT_BASE_URL),
    id_scheme: "Indeed's job key (`jk`)",
    listing_what: "Indeed search page",
    detail_what: "Indeed job page",
    result_cap: None,
};

/// Indeed's own challenge pages (some come back as HTTP 200 with markers the generic check in
/// the fetcher does not know) stop the run as `blocked`.
fn challenge_check(status: u16, body: &str, url: &Url) -> Result<(), super::SourceError> {
    if is_challenge(status, body) {
        return Err(super::SourceError::Blocked(format!(
            "{} answered with a bot challenge page; not retrying",
            crate::fetch::redact_url(url)
        )));
    }
    Ok(())
}

impl super::JobSource for Indeed {
    fn spec(&self) -> &'static super::SourceSpec {
        &SPEC
    }

    fn check_params(&self, params: &mut SearchParams) -> Result<(), super::ParamError> {
        if let Some(c) = params.country.as_deref()
            && (c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
        {
            return Err(super::ParamError(format!(
                "Indeed country must be a two-letter code such as `au`, got `{c}`"
            )));
        }
        Ok(())
    }

    fn default_base(&self, params: &SearchParams) -> Option<Url> {
        let country = params.country.as_deref().unwrap_or("au");
        Some(Url::parse(&default_base_url(country)).expect("built-in base URLs are valid"))
    }

    fn listing_request(&self, plan: &super::RunPlan, page: u32) -> super::SourceRequest {
        super::SourceRequest::new(
            search_url(plan.base(), &plan.params, page * PAGE_SIZE),
            crate::fetch::RequestOptions::html(),
        )
    }

    fn parse_listing(
        &self,
        plan: &super::RunPlan,
        _page: u32,
        response: &crate::fetch::FetchedPage,
    ) -> Result<super::Listing, super::SourceError> {
        let text = response.text();
        challenge_check(response.status, &text, &response.url)?;
        let parsed = parse_search_page(&text, plan.base(), plan.country_or("au"))?;
        Ok(super::Listing {
            postings: parsed.postings,
            cards: parsed.card_count,
            has_more: parsed.has_next,
            total: None,
        })
    }

    fn detail_request(
        &self,
        plan: &super::RunPlan,
        posting: &NormalizedPosting,
    ) -> Option<super::SourceRequest> {
        Some(super::SourceRequest::new(
            job_page_url(plan.base(), &posting.external_id),
            crate::fetch::RequestOptions::html(),
        ))
    }

    fn apply_detail(
        &self,
        _plan: &super::RunPlan,
        posting: &mut NormalizedPosting,
        response: &crate::fetch::FetchedPage,
    ) -> Result<(), super::SourceError> {
        let body = response.text();
        challenge_check(response.status, &body, &response.url)?;
        match parse_job_page(&body) {
            Ok(detail) => apply_detail(posting, detail),
            Err(e) => tracing::warn!(error = %e, "job page unreadable; keeping the card"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::test_support::{posting_with_id, utc};

    const SEARCH_PAGE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/indeed/indeed_search_page.html"
    ));
    const VIEWJOB_PAGE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/indeed/indeed_viewjob_page.html"
    ));
    const JUST_A_MOMENT: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/indeed/indeed_challenge_just_a_moment.html"
    ));
    const SECURITY_CHECK: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/indeed/indeed_security_check_captcha.html"
    ));

    fn base() -> Url {
        Url::parse(DEFAULT_BASE_URL).unwrap()
    }

    fn search_page() -> IndeedSearchPage {
        parse_search_page(SEARCH_PAGE, &base(), "au").unwrap()
    }

    fn posting<'a>(page: &'a IndeedSearchPage, jobkey: &str) -> &'a NormalizedPosting {
        posting_with_id(&page.postings, jobkey)
    }

    /// A page with only the job-cards script, for shape tests.
    fn page_with_cards(assignment: &str) -> String {
        format!(
            "<html><body><script>window.mosaic.providerData={{}};\n{assignment}\n</script></body></html>"
        )
    }

    // --- URL builders -------------------------------------------------------------------------

    #[test]
    fn search_url_keeps_the_live_path_and_query() {
        let params = SearchParams {
            keywords: Some("rust developer".into()),
            location: Some("Brisbane QLD".into()),
            ..SearchParams::default()
        };
        assert_eq!(
            search_url(&base(), &params, 0).as_str(),
            "https://au.indeed.com/jobs?q=rust+developer&l=Brisbane+QLD"
        );
        assert_eq!(
            search_url(&base(), &params, 10).query(),
            Some("q=rust+developer&l=Brisbane+QLD&start=10")
        );
    }

    #[test]
    fn search_url_without_keywords_or_location_sends_an_empty_q() {
        assert_eq!(
            search_url(&base(), &SearchParams::default(), 0).query(),
            Some("q=")
        );
    }

    #[test]
    fn job_page_url_is_viewjob_with_the_job_key() {
        assert_eq!(
            job_page_url(&base(), "a1b2c3d4e5f60718").as_str(),
            "https://au.indeed.com/viewjob?jk=a1b2c3d4e5f60718"
        );
    }

    #[test]
    fn urls_on_an_overridden_base_keep_its_host_and_path_prefix() {
        let mock = Url::parse("http://127.0.0.1:9000/indeed/").unwrap();
        assert_eq!(
            search_url(&mock, &SearchParams::default(), 20).as_str(),
            "http://127.0.0.1:9000/indeed/jobs?q=&start=20"
        );
        let plain = Url::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            job_page_url(&plain, "0f1e2d3c4b5a6978").as_str(),
            "http://127.0.0.1:9000/viewjob?jk=0f1e2d3c4b5a6978"
        );
    }

    #[test]
    fn base_urls_and_currencies_follow_the_country() {
        assert_eq!(default_base_url("au"), "https://au.indeed.com");
        assert_eq!(default_base_url("NZ"), "https://nz.indeed.com");
        assert_eq!(default_base_url("us"), "https://www.indeed.com");
        assert_eq!(default_base_url("gb"), "https://uk.indeed.com");
        assert_eq!(default_base_url("ca"), "https://ca.indeed.com");
        assert_eq!(default_currency("au"), Some("AUD"));
        assert_eq!(default_currency("nz"), Some("NZD"));
        assert_eq!(default_currency("zz"), None);
    }

    // --- search page --------------------------------------------------------------------------

    #[test]
    fn the_search_page_yields_one_posting_per_unique_job_key() {
        let page = search_page();
        assert_eq!(page.card_count, 5);
        let keys: Vec<&str> = page
            .postings
            .iter()
            .map(|p| p.external_id.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "a1b2c3d4e5f60718",
                "0f1e2d3c4b5a6978",
                "9a8b7c6d5e4f3a2b",
                "5e6f7a8b9c0d1e2f"
            ]
        );
    }

    #[test]
    fn a_repeated_sponsored_card_keeps_its_first_occurrence() {
        let page = search_page();
        assert_eq!(posting(&page, "a1b2c3d4e5f60718").raw["adBlob"], "ABC123");
    }

    #[test]
    fn card_fields_map_onto_the_posting() {
        let page = search_page();
        let p = posting(&page, "a1b2c3d4e5f60718");
        assert_eq!(p.source, Source::Indeed);
        assert_eq!(p.title, "Rust Developer");
        assert_eq!(p.company.as_deref(), Some("Harbour Data Co"));
        assert_eq!(p.url, "https://au.indeed.com/viewjob?jk=a1b2c3d4e5f60718");
        assert_eq!(p.posted_at, Some(utc(2026, 8, 10, 1, 30, 0)));
        assert_eq!(p.location.raw.as_deref(), Some("Brisbane QLD 4000"));
        assert_eq!(p.work_arrangement, WorkArrangement::Hybrid);
        assert!(
            p.description_text
                .as_deref()
                .unwrap()
                .contains("ingestion services in Rust")
        );
        assert_eq!(p.raw["jobkey"], "a1b2c3d4e5f60718");
    }

    #[test]
    fn an_extracted_yearly_salary_is_structured() {
        let page = search_page();
        let s = &posting(&page, "a1b2c3d4e5f60718").salary;
        assert_eq!(s.text.as_deref(), Some("$140,000 - $160,000 a year"));
        assert_eq!((s.min, s.max), (Some(140_000.0), Some(160_000.0)));
        assert_eq!(s.currency.as_deref(), Some("AUD"));
        assert_eq!(s.period, Some(SalaryPeriod::Year));
        assert_eq!(s.source, Some(SalarySource::Structured));
    }

    #[test]
    fn an_extracted_hourly_salary_is_structured_per_hour() {
        let page = search_page();
        let s = &posting(&page, "9a8b7c6d5e4f3a2b").salary;
        assert_eq!((s.min, s.max), (Some(28.0), Some(32.0)));
        assert_eq!(s.period, Some(SalaryPeriod::Hour));
        assert_eq!(s.source, Some(SalarySource::Structured));
        assert_eq!(s.text.as_deref(), Some("$28 - $32 an hour"));
    }

    #[test]
    fn braces_and_escaped_quotes_inside_card_strings_survive() {
        let page = search_page();
        let p = posting(&page, "0f1e2d3c4b5a6978");
        assert_eq!(p.title, "Platform Engineer {Kubernetes}");
        assert_eq!(p.company.as_deref(), Some("Cloud \"Nine\" Pty Ltd"));
        assert_eq!(
            p.raw["snippet"],
            "Our motto is \"ship it {safely}\" – braces like }{ and quotes like \\\" stay inside this string. {\"not\":\"json\"}"
        );
    }

    #[test]
    fn a_remote_location_card_is_remote_and_has_no_salary() {
        let page = search_page();
        let p = posting(&page, "0f1e2d3c4b5a6978");
        assert_eq!(p.work_arrangement, WorkArrangement::Remote);
        assert_eq!(p.salary, Salary::default());
    }

    #[test]
    fn an_empty_title_falls_back_to_the_display_title() {
        let page = search_page();
        assert_eq!(
            posting(&page, "9a8b7c6d5e4f3a2b").title,
            "Barista – Weekend Shifts"
        );
    }

    #[test]
    fn a_salary_without_extracted_numbers_keeps_its_text() {
        let page = search_page();
        let s = &posting(&page, "5e6f7a8b9c0d1e2f").salary;
        assert_eq!(s.text.as_deref(), Some("$75,000 – $85,000 a year"));
        assert_ne!(s.source, Some(SalarySource::Structured));
    }

    #[test]
    fn a_next_page_link_is_detected() {
        assert!(search_page().has_next);
    }

    #[test]
    fn single_quotes_and_spacing_around_the_provider_name_are_tolerated() {
        let html = page_with_cards(
            r#"window.mosaic.providerData[ 'mosaic-provider-jobcards' ] = {"metaData":{"mosaicProviderJobCardsModel":{"results":[{"jobkey":"1111222233334444","title":"Tester","company":"QA Co"}]}}};"#,
        );
        let page = parse_search_page(&html, &base(), "au").unwrap();
        assert_eq!(page.postings.len(), 1);
        assert_eq!(page.postings[0].title, "Tester");
        assert!(!page.has_next, "no pagination links on this page");
    }

    #[test]
    fn other_providers_assigned_before_the_job_cards_are_skipped() {
        let html = page_with_cards(
            r#"window.mosaic.providerData["mosaic-provider-jobcards-extra"]={"metaData":{}};
               if (window.mosaic.providerData["mosaic-provider-jobcards"] == null) {}
               window.mosaic.providerData["mosaic-provider-jobcards"]={"metaData":{"mosaicProviderJobCardsModel":{"results":[]}}};"#,
        );
        let page = parse_search_page(&html, &base(), "au").unwrap();
        assert_eq!(page.card_count, 0);
        assert!(page.postings.is_empty());
    }

    #[test]
    fn a_page_without_job_cards_is_a_shape_error() {
        let err =
            parse_search_page("<html><body><p>Hello</p></body></html>", &base(), "au").unwrap_err();
        match err {
            ParseError::Shape(message) => assert!(message.contains("no job cards"), "{message}"),
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    #[test]
    fn a_challenge_page_is_not_parsed_as_results() {
        match parse_search_page(JUST_A_MOMENT, &base(), "au").unwrap_err() {
            ParseError::Shape(message) => assert!(message.contains("challenge"), "{message}"),
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    #[test]
    fn a_viewjob_page_has_job_card_data_but_no_results() {
        assert!(matches!(
            parse_search_page(VIEWJOB_PAGE, &base(), "au"),
            Err(ParseError::Shape(_))
        ));
    }

    #[test]
    fn a_search_page_cut_inside_the_cards_is_a_json_error_with_its_position() {
        let cut = SEARCH_PAGE.find("Bean There Cafe").unwrap();
        match parse_search_page(&SEARCH_PAGE[..cut], &base(), "au").unwrap_err() {
            ParseError::Json {
                line,
                column,
                message,
            } => {
                assert!(
                    line > 10,
                    "line {line} should be in the page, not the object"
                );
                assert!(column > 0);
                assert!(message.contains("unterminated"), "{message}");
            }
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    #[test]
    fn invalid_json_in_the_cards_is_a_json_error_with_its_position() {
        let assignment = r#"window.mosaic.providerData["mosaic-provider-jobcards"]={"metaData":{"mosaicProviderJobCardsModel":{"results":[{"jobkey":x}]}}};"#;
        let html = page_with_cards(assignment);
        match parse_search_page(&html, &base(), "au").unwrap_err() {
            ParseError::Json { line, column, .. } => {
                // The assignment is on the page's second line; the error points at the `x`.
                assert_eq!(line, 2);
                assert_eq!(column, assignment.find("x}").unwrap() + 1);
            }
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    // --- viewjob page -------------------------------------------------------------------------

    #[test]
    fn the_viewjob_page_gives_the_json_ld_posting() {
        let detail = parse_job_page(VIEWJOB_PAGE).unwrap();
        assert_eq!(detail.job_key.as_deref(), Some("a1b2c3d4e5f60718"));
        assert_eq!(detail.title.as_deref(), Some("Rust Developer"));
        assert_eq!(detail.company.as_deref(), Some("Harbour Data Co"));
        assert_eq!(detail.posted_at, Some(utc(2026, 8, 10, 1, 30, 0)));
        assert_eq!(detail.expires_at, Some(utc(2026, 10, 9, 1, 30, 0)));
        assert_eq!(detail.work_arrangement, WorkArrangement::Hybrid);
        assert_eq!(detail.raw.as_ref().unwrap()["@type"], "JobPosting");
    }

    #[test]
    fn the_viewjob_base_salary_is_structured() {
        let salary = parse_job_page(VIEWJOB_PAGE).unwrap().salary.unwrap();
        assert_eq!((salary.min, salary.max), (Some(140_000.0), Some(160_000.0)));
        assert_eq!(salary.currency.as_deref(), Some("AUD"));
        assert_eq!(salary.period, Some(SalaryPeriod::Year));
        assert_eq!(salary.source, Some(SalarySource::Structured));
        assert_eq!(salary.text.as_deref(), Some("$140,000 - $160,000 a year"));
    }

    #[test]
    fn the_viewjob_address_becomes_the_location() {
        let location = parse_job_page(VIEWJOB_PAGE).unwrap().location.unwrap();
        assert_eq!(
            location,
            Location {
                raw: Some("Brisbane QLD 4000".into()),
                city: Some("Brisbane".into()),
                region: Some("QLD".into()),
                country: Some("AU".into()),
            }
        );
    }

    #[test]
    fn the_description_is_the_job_description_text_node() {
        let html = parse_job_page(VIEWJOB_PAGE)
            .unwrap()
            .description_html
            .unwrap();
        assert!(html.starts_with("<div>"), "{html}");
        assert!(
            html.contains("<li>Keep p99 latency under 50 ms</li>"),
            "{html}"
        );
        assert!(html.contains("Apply with a short note."), "{html}");
    }

    #[test]
    fn a_job_posting_inside_a_graph_is_found() {
        let html = r#"<html><head><script type="application/ld+json">{"@context":"https://schema.org","@graph":[{"@type":"WebSite"},{"@type":["JobPosting"],"title":"Graph Job","baseSalary":{"@type":"MonetaryAmount","currency":"NZD","value":{"@type":"QuantitativeValue","value":35,"unitText":"HOUR"}}}]}</script></head><body></body></html>"#;
        let detail = parse_job_page(html).unwrap();
        assert_eq!(detail.title.as_deref(), Some("Graph Job"));
        let salary = detail.salary.unwrap();
        assert_eq!((salary.min, salary.max), (Some(35.0), Some(35.0)));
        assert_eq!(salary.period, Some(SalaryPeriod::Hour));
        assert_eq!(salary.currency.as_deref(), Some("NZD"));
    }

    #[test]
    fn without_initial_data_the_job_key_comes_from_the_canonical_link() {
        let html = r#"<html><head><link rel="alternate" href="https://au.indeed.com/viewjob?jk=wrong">
            <LINK REL=Canonical href="https://au.indeed.com/viewjob?from=x&amp;jk=1234abcd"></head>
            <body><div id="jobDescriptionText"><p>Pour coffee.</p></div></body></html>"#;
        let detail = parse_job_page(html).unwrap();
        assert_eq!(detail.job_key.as_deref(), Some("1234abcd"));
        assert_eq!(
            detail.description_html.as_deref(),
            Some("<p>Pour coffee.</p>")
        );
    }

    #[test]
    fn an_address_country_given_by_name_becomes_an_iso_code() {
        let place = serde_json::json!([{"address": {"addressLocality": "Auckland", "addressCountry": {"name": "New Zealand"}}}]);
        let location = location_from_json_ld(&place).unwrap();
        assert_eq!(location.country.as_deref(), Some("NZ"));
        assert_eq!(location.raw.as_deref(), Some("Auckland"));
    }

    #[test]
    fn a_page_that_is_not_a_job_page_is_a_shape_error() {
        for html in [
            "<html><body>Nothing here</body></html>",
            "\u{0}\u{1}garbage{{",
            SECURITY_CHECK,
        ] {
            assert!(
                matches!(parse_job_page(html), Err(ParseError::Shape(_))),
                "{html}"
            );
        }
    }

    #[test]
    fn applying_the_detail_adds_the_description_and_expiry_and_keeps_the_card() {
        let mut p = posting(&search_page(), "a1b2c3d4e5f60718").clone();
        apply_detail(&mut p, parse_job_page(VIEWJOB_PAGE).unwrap());
        assert_eq!(p.title, "Rust Developer");
        assert_eq!(p.expires_at, Some(utc(2026, 10, 9, 1, 30, 0)));
        assert!(
            p.description_html
                .as_deref()
                .unwrap()
                .contains("Keep p99 latency")
        );
        assert!(
            p.description_text
                .as_deref()
                .unwrap()
                .contains("Keep p99 latency")
        );
        assert_eq!(p.location.raw.as_deref(), Some("Brisbane QLD 4000"));
        assert_eq!(p.location.city.as_deref(), Some("Brisbane"));
        assert_eq!(
            p.raw["jobkey"], "a1b2c3d4e5f60718",
            "raw stays the search card"
        );
    }

    #[test]
    fn applying_the_detail_brings_a_structured_salary_to_a_card_without_one() {
        let mut p = posting(&search_page(), "0f1e2d3c4b5a6978").clone();
        apply_detail(&mut p, parse_job_page(VIEWJOB_PAGE).unwrap());
        assert_eq!(p.salary.source, Some(SalarySource::Structured));
        assert_eq!(p.salary.min, Some(140_000.0));
        assert_eq!(
            p.work_arrangement,
            WorkArrangement::Remote,
            "the card's arrangement stays"
        );
    }

    // --- challenges ---------------------------------------------------------------------------

    #[test]
    fn a_just_a_moment_page_is_a_challenge_even_with_status_200() {
        assert!(is_challenge(200, JUST_A_MOMENT));
        assert!(is_challenge(403, JUST_A_MOMENT));
    }

    #[test]
    fn indeeds_security_check_captcha_is_a_challenge() {
        assert!(is_challenge(200, SECURITY_CHECK));
    }

    #[test]
    fn single_markers_are_enough() {
        for body in [
            "<html><script>window.INDEED_CLOUDFLARE_STATIC_PAGE = {PAGE_TYPE:\"captcha\"};</script></html>",
            "<html><div id=\"cf-chl-widget-abc\"></div></html>",
            "<script src=\"/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=1\"></script>",
            "<p>Verify you are human by completing the action below.</p>",
            "<title>Attention Required! | Cloudflare</title>",
        ] {
            assert!(is_challenge(200, body), "{body}");
        }
    }

    #[test]
    fn a_403_mentioning_cloudflare_is_a_challenge_but_a_plain_403_is_not() {
        assert!(is_challenge(
            403,
            "<html><body>Sorry, you have been blocked. Cloudflare Ray ID: 1</body></html>"
        ));
        assert!(!is_challenge(403, "<html><body>Forbidden</body></html>"));
        assert!(!is_challenge(
            200,
            "<html><body>Sorry, you have been blocked. Cloudflare Ray ID: 1</body></html>"
        ));
    }

    #[test]
    fn normal_search_and_job_pages_are_not_challenges() {
        // Both carry Cloudflare's passive `/cdn-cgi/challenge-platform/scripts/jsd/` beacon.
        assert!(SEARCH_PAGE.contains("challenge-platform/scripts/jsd"));
        assert!(!is_challenge(200, SEARCH_PAGE));
        assert!(!is_challenge(200, VIEWJOB_PAGE));
    }

    #[test]
    fn a_search_for_the_challenge_words_is_not_a_challenge() {
        let page = "<html><head><title>Just A Moment Jobs, Employment | Indeed.com</title></head>\
                    <body><p>verify you are human resources certified</p></body></html>";
        assert!(!is_challenge(200, page));
    }

    // --- assertions on the normaliser's output (stubbed until it lands) -----------------------

    #[test]
    fn normaliser_card_salary_text_is_parsed_when_nothing_was_extracted() {
        let page = search_page();
        let s = &posting(&page, "5e6f7a8b9c0d1e2f").salary;
        assert_eq!((s.min, s.max), (Some(75_000.0), Some(85_000.0)));
        assert_eq!(s.currency.as_deref(), Some("AUD"));
        assert_eq!(s.period, Some(SalaryPeriod::Year));
    }

    #[test]
    fn normaliser_card_job_types_map_to_work_types() {
        let page = search_page();
        assert_eq!(
            posting(&page, "a1b2c3d4e5f60718").work_type,
            Some(WorkType::FullTime)
        );
        assert_eq!(
            posting(&page, "0f1e2d3c4b5a6978").work_type,
            Some(WorkType::Contract)
        );
        assert_eq!(
            posting(&page, "9a8b7c6d5e4f3a2b").work_type,
            Some(WorkType::Casual)
        );
        assert_eq!(
            posting(&page, "5e6f7a8b9c0d1e2f").work_type,
            Some(WorkType::PartTime),
            "from taxonomyAttributes when jobTypes is empty"
        );
    }

    #[test]
    fn normaliser_card_location_is_split() {
        let page = search_page();
        let location = &posting(&page, "a1b2c3d4e5f60718").location;
        assert_eq!(location.city.as_deref(), Some("Brisbane"));
        assert_eq!(location.region.as_deref(), Some("QLD"));
        assert_eq!(location.country.as_deref(), Some("AU"));
    }

    #[test]
    fn normaliser_viewjob_employment_type_maps_to_a_work_type() {
        assert_eq!(
            parse_job_page(VIEWJOB_PAGE).unwrap().work_type,
            Some(WorkType::FullTime)
        );
    }

    #[test]
    fn normaliser_applied_description_is_sanitised_and_the_snippet_text_has_no_tags() {
        let page = search_page();
        assert!(
            !posting(&page, "a1b2c3d4e5f60718")
                .description_text
                .as_deref()
                .unwrap()
                .contains('<')
        );
        let mut p = posting(&page, "a1b2c3d4e5f60718").clone();
        apply_detail(&mut p, parse_job_page(VIEWJOB_PAGE).unwrap());
        assert!(!p.description_html.as_deref().unwrap().contains("onclick"));
    }
}

//! SEEK (seek.com.au, seek.co.nz): URL builders and pure parsers.
//!
//! - Listing: `GET {base}/api/jobsearch/v5/search?siteKey=AU-Main&sourcesystem=houston&…` answers
//!   JSON `{ data: [...], totalCount, … }` ([`search_url`], [`parse_search`]). Cards carry a
//!   teaser and bullet points, not the ad itself.
//! - Detail: the server-rendered job page `{base}/job/{id}` embeds the ad in
//!   `window.SEEK_REDUX_DATA = {...};` (`jobdetails.result.job`), with the `data-automation` HTML
//!   nodes as a fallback ([`job_page_url`], [`parse_job_page`], [`apply_detail`]). SEEK's
//!   `POST /graphql` `jobDetails` operation is not used here.
//!
//! Quirks handled (see `docs/sources.md` §2): promoted cards repeat (deduplicated by id within a
//! page), "Private Advertiser" is a placeholder rather than a company, `companyName` may be absent,
//! `salaryLabel` is free text, text fields may carry `ΓÇô` mojibake, and the redux state is
//! JavaScript that may contain bare `undefined`.

use chrono::{DateTime, Utc};
use scraper::{Html, Selector};
use serde_json::Value;
use url::Url;

use super::ParseError;
use super::common::{
    apply_description_and_expiry, non_empty, unique_by_external_id, url_with_path,
};
use super::embedded_json;
use super::html_scan;
use super::mojibake;
use crate::model::{Location, NormalizedPosting, Salary, SearchParams, Source, WorkArrangement};
use crate::normalize::{
    parse_datetime, parse_location, salary::parse_salary_text, work_arrangement_from_label,
    work_type_from_label,
};

/// SEEK Australia.
pub const DEFAULT_BASE_URL_AU: &str = "https://www.seek.com.au";
/// SEEK New Zealand.
pub const DEFAULT_BASE_URL_NZ: &str = "https://www.seek.co.nz";

/// What SEEK shows for an advertiser who hides their name. Not a company.
const PRIVATE_ADVERTISER: &str = "Private Advertiser";

fn is_nz(country: &str) -> bool {
    country.trim().eq_ignore_ascii_case("nz")
}

/// The live site for a country (`nz` → seek.co.nz, anything else → seek.com.au).
pub fn default_base_url(country: &str) -> &'static str {
    if is_nz(country) {
        DEFAULT_BASE_URL_NZ
    } else {
        DEFAULT_BASE_URL_AU
    }
}

/// The `siteKey` query parameter: `nz` → `NZ-Main`, anything else → `AU-Main`.
pub fn site_key(country: &str) -> &'static str {
    if is_nz(country) { "NZ-Main" } else { "AU-Main" }
}

/// The site's currency, used for a bare `$` in salary labels.
pub fn default_currency(country: &str) -> &'static str {
    if is_nz(country) { "NZD" } else { "AUD" }
}

/// ISO 3166-1 alpha-2 of the site.
fn site_country(country: &str) -> &'static str {
    if is_nz(country) { "NZ" } else { "AU" }
}

/// The `where` SEEK needs when the user gave none: omitting it shrinks results to an unrelated
/// subset (docs/sources.md §2.5).
fn whole_country_where(country: &str) -> &'static str {
    if is_nz(country) {
        "All New Zealand"
    } else {
        "All Australia"
    }
}

/// Optional v5 search filters (ids as SEEK spells them on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeekFilters {
    /// Classification id(s), comma-separated (6281 = Information & Communication Technology).
    pub classification: Option<String>,
    /// Subclassification id(s), comma-separated (6287 = Developers/Programmers).
    pub subclassification: Option<String>,
    /// Work type id(s): 242 Full time, 243 Part time, 244 Contract/Temp, 245 Casual/Vacation.
    pub worktype: Option<String>,
    /// Only ads listed in the last N days.
    pub daterange: Option<u32>,
    /// `KeywordRelevance` or `ListedDate`.
    pub sortmode: Option<String>,
}

/// `{base}/api/jobsearch/v5/search?siteKey=…&sourcesystem=houston&keywords=…&where=…&page=N&pageSize=…`.
/// `page` is 1-based. Without a location, `where` is the whole country.
pub fn search_url(
    base: &Url,
    country: &str,
    params: &SearchParams,
    page: u32,
    page_size: u32,
) -> Url {
    search_url_filtered(
        base,
        country,
        params,
        &SeekFilters::default(),
        page,
        page_size,
    )
}

/// [`search_url`] plus `classification`, `subclassification`, `worktype`, `daterange` and
/// `sortmode` when set.
pub fn search_url_filtered(
    base: &Url,
    country: &str,
    params: &SearchParams,
    filters: &SeekFilters,
    page: u32,
    page_size: u32,
) -> Url {
    let mut url = url_with_path(base, &["api", "jobsearch", "v5", "search"]);
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("siteKey", site_key(country))
            .append_pair("sourcesystem", "houston");
        if let Some(keywords) = non_empty(params.keywords.as_deref()) {
            query.append_pair("keywords", keywords);
        }
        let location =
            non_empty(params.location.as_deref()).unwrap_or(whole_country_where(country));
        query
            .append_pair("where", location)
            .append_pair("page", &page.to_string())
            .append_pair("pageSize", &page_size.to_string());
        let optional = [
            ("classification", filters.classification.clone()),
            ("subclassification", filters.subclassification.clone()),
            ("worktype", filters.worktype.clone()),
            ("daterange", filters.daterange.map(|d| d.to_string())),
            ("sortmode", filters.sortmode.clone()),
        ];
        for (name, value) in optional {
            if let Some(value) = non_empty(value.as_deref()) {
                query.append_pair(name, value);
            }
        }
    }
    url
}

/// `{base}/job/{id}`.
pub fn job_page_url(base: &Url, id: &str) -> Url {
    url_with_path(base, &["job", id])
}

/// A trimmed, mojibake-repaired, non-empty string at `v`.
fn text(v: &Value) -> Option<String> {
    let s = v.as_str()?.trim();
    if s.is_empty() {
        return None;
    }
    Some(mojibake::repair(s).into_owned())
}

/// An id that SEEK sends as a string (v5) or a number (older APIs).
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => non_empty(Some(s)).map(str::to_owned),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn is_private_advertiser(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case(PRIVATE_ADVERTISER)
}

/// One page of v5 search results.
#[derive(Debug, Clone, PartialEq)]
pub struct SeekSearchPage {
    /// The page's postings, deduplicated by id (first occurrence kept).
    pub postings: Vec<NormalizedPosting>,
    /// Cards on the page before deduplication; 0 means SEEK has nothing more for this query.
    pub card_count: usize,
    /// SEEK's `totalCount`. It varies with `pageSize` and drops to 0 past the ~550-result window:
    /// do not paginate by it.
    pub total_count: Option<u64>,
}

/// Parse a `/api/jobsearch/v5/search` response. Postings link to `{base}/job/{id}`; bare `$` in
/// salary labels is the `country` site's currency. Also accepts the search page's
/// `SEEK_REDUX_DATA.results` object (cards at `results.results.jobs`).
pub fn parse_search(body: &[u8], base: &Url, country: &str) -> Result<SeekSearchPage, ParseError> {
    let json: Value = serde_json::from_slice(body)?;
    let (cards, total) = if let Some(data) = json.get("data") {
        (data, json.get("totalCount"))
    } else if let Some(jobs) = json.pointer("/results/results/jobs") {
        (jobs, json.pointer("/results/totalCount"))
    } else {
        return Err(ParseError::Shape(
            "SEEK search response has no `data` array".into(),
        ));
    };
    let cards = cards
        .as_array()
        .ok_or_else(|| ParseError::Shape("SEEK search response's `data` is not an array".into()))?;
    let postings = unique_by_external_id(
        cards
            .iter()
            .filter_map(|card| posting_from_card(card, base, country)),
    );
    Ok(SeekSearchPage {
        postings,
        card_count: cards.len(),
        total_count: total.and_then(Value::as_u64),
    })
}

/// A posting from one v5 card; `None` for a card without an id or a title.
fn posting_from_card(card: &Value, base: &Url, country: &str) -> Option<NormalizedPosting> {
    let id = id_of(card.get("id")?)?;
    let title = text(&card["title"])?;

    let advertiser_name = text(&card["advertiser"]["description"]);
    let private = advertiser_name
        .as_deref()
        .is_some_and(is_private_advertiser);
    let company = text(&card["companyName"])
        .or(advertiser_name)
        .filter(|name| !is_private_advertiser(name));
    let company_external_id = if private {
        None
    } else {
        id_of(&card["advertiser"]["id"])
    };

    let location = card_location(card, country);
    let work_type = card["workTypes"]
        .get(0)
        .and_then(text)
        .or_else(|| text(&card["workType"]))
        .and_then(|label| work_type_from_label(&label));
    let work_arrangement = card
        .get("workArrangements")
        .and_then(arrangement_label)
        .map_or(WorkArrangement::Unknown, |label| {
            work_arrangement_from_label(&label)
        });
    let salary = text(&card["salaryLabel"])
        .or_else(|| text(&card["salary"]))
        .map_or_else(Salary::default, |label| {
            parse_salary_text(&label, Some(default_currency(country)))
        });

    Some(NormalizedPosting {
        source: Source::Seek,
        url: job_page_url(base, &id).to_string(),
        external_id: id,
        apply_url: None,
        title,
        company,
        company_external_id,
        location,
        work_type,
        work_arrangement,
        salary,
        description_html: None,
        description_text: card_summary(card),
        classification: card_classification(card),
        posted_at: card["listingDate"].as_str().and_then(parse_datetime),
        expires_at: None,
        raw: card.clone(),
    })
}

/// Teaser and bullet points: what a card says about the job until the ad itself is fetched.
fn card_summary(card: &Value) -> Option<String> {
    let teaser = text(&card["teaser"]);
    let bullets: Vec<String> = card["bulletPoints"]
        .as_array()
        .map(|points| {
            points
                .iter()
                .filter_map(text)
                .map(|b| format!("• {b}"))
                .collect()
        })
        .unwrap_or_default();
    let mut parts: Vec<String> = teaser.into_iter().collect();
    if !bullets.is_empty() {
        parts.push(bullets.join("\n"));
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// "Classification / Subclassification" from v5 `classifications[0]` (or the legacy flat fields).
fn card_classification(card: &Value) -> Option<String> {
    let (class, sub) = match card["classifications"].get(0) {
        Some(first) => (
            text(&first["classification"]["description"]),
            text(&first["subclassification"]["description"]),
        ),
        None => (
            text(&card["classification"]["description"]),
            text(&card["subClassification"]["description"]),
        ),
    };
    join_classification(class, sub)
}

fn join_classification(class: Option<String>, sub: Option<String>) -> Option<String> {
    match (class, sub) {
        (Some(class), Some(sub)) => Some(format!("{class} / {sub}")),
        (class, sub) => class.or(sub),
    }
}

fn card_location(card: &Value, country: &str) -> Location {
    let first = &card["locations"][0];
    let label = text(&first["label"]).or_else(|| text(&card["location"]));
    let code = text(&first["countryCode"])
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or_else(|| site_country(country).to_owned());
    match label {
        Some(label) => parse_location(&label, Some(&code)),
        None => Location::default(),
    }
}

/// The first work-arrangement label, whatever shape SEEK used:
/// `{data: [{label: {text}}], displayText}`, `{arrangements: [{type, label}], label}`,
/// `["Remote"]`, `[{label: "Remote"}]` or `"Remote"`.
fn arrangement_label(v: &Value) -> Option<String> {
    match v {
        Value::String(_) => text(v),
        Value::Array(items) => items.iter().find_map(arrangement_label),
        Value::Object(map) => {
            for list in ["data", "arrangements"] {
                if let Some(found) = map.get(list).and_then(arrangement_label) {
                    return Some(found);
                }
            }
            for key in ["label", "displayText", "text", "type"] {
                if let Some(found) = map.get(key).and_then(arrangement_label) {
                    return Some(found);
                }
            }
            None
        }
        _ => None,
    }
}

/// What a SEEK job page adds to a search card.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeekJobDetail {
    pub id: Option<String>,
    pub title: Option<String>,
    /// The ad's HTML as SEEK serves it (not yet sanitised).
    pub description_html: Option<String>,
    pub listed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Free-text salary as shown on the ad.
    pub salary_label: Option<String>,
    /// "Full time", "Contract/Temp", …
    pub work_type_label: Option<String>,
    /// "On-site", "Hybrid", "Remote".
    pub work_arrangement_label: Option<String>,
    pub advertiser_id: Option<String>,
    /// `None` for a private advertiser.
    pub advertiser_name: Option<String>,
    pub location_label: Option<String>,
    /// "Classification / Subclassification", as on search postings.
    pub classification: Option<String>,
    /// ISO country of the site that served the page (`appConfig.country`), when known.
    pub site_country: Option<String>,
    /// `SEEK_REDUX_DATA.jobdetails.result`; `None` when the page was read from its HTML.
    pub raw: Option<Value>,
}

/// Parse a SEEK job page: `window.SEEK_REDUX_DATA` → `jobdetails.result.job`, or the
/// `data-automation` HTML nodes when the page has no redux state for the job.
///
/// Errors: redux state present but unreadable → [`ParseError::Json`] (a truncated page is reported,
/// not half-parsed); neither redux job nor `jobAdDetails` → [`ParseError::Shape`].
pub fn parse_job_page(html: &str) -> Result<SeekJobDetail, ParseError> {
    if let Some(start) = embedded_json::assignment_value_start(html, "window.SEEK_REDUX_DATA") {
        let state = embedded_json::parse_object_at(html, start)?;
        if let Some(detail) = detail_from_redux(&state) {
            if detail.description_html.is_some() {
                return Ok(detail);
            }
            // The state has the job but not its content: take the ad from the HTML.
            let from_html = detail_from_html(html).ok();
            return Ok(SeekJobDetail {
                description_html: from_html.and_then(|d| d.description_html),
                ..detail
            });
        }
    }
    detail_from_html(html)
}

fn detail_from_redux(state: &Value) -> Option<SeekJobDetail> {
    let result = state
        .pointer("/jobdetails/result")
        .filter(|r| r.is_object())?;
    let job = result.get("job").filter(|j| j.is_object())?;
    let tracking = &job["tracking"]["classificationInfo"];
    let classification = join_classification(
        text(&tracking["classification"]),
        text(&tracking["subClassification"]),
    )
    .or_else(|| {
        job["classifications"]
            .get(0)
            .and_then(|c| text(&c["label"]))
            .map(|label| classification_from_label(&label))
    });
    let advertiser_name = text(&job["advertiser"]["name"]).filter(|n| !is_private_advertiser(n));
    Some(SeekJobDetail {
        id: id_of(&job["id"]),
        title: text(&job["title"]),
        description_html: job["content"]
            .as_str()
            .filter(|c| !c.trim().is_empty())
            .map(|c| mojibake::repair(c).into_owned()),
        listed_at: job["listedAt"]["dateTimeUtc"]
            .as_str()
            .and_then(parse_datetime),
        expires_at: job["expiresAt"]["dateTimeUtc"]
            .as_str()
            .and_then(parse_datetime),
        salary_label: text(&job["salary"]["label"]),
        work_type_label: text(&job["workTypes"]["label"]),
        work_arrangement_label: result
            .get("workArrangements")
            .and_then(arrangement_label)
            .or_else(|| job.get("workArrangements").and_then(arrangement_label)),
        advertiser_id: advertiser_name
            .as_ref()
            .and_then(|_| id_of(&job["advertiser"]["id"])),
        advertiser_name,
        location_label: text(&job["location"]["label"]),
        classification,
        site_country: text(&state["appConfig"]["country"]).map(|c| c.to_ascii_uppercase()),
        raw: Some(result.clone()),
    })
}

/// "Developers/Programmers (Information & Communication Technology)" →
/// "Information & Communication Technology / Developers/Programmers".
fn classification_from_label(label: &str) -> String {
    if let Some(open) = label.rfind(" (")
        && let Some(class) = label[open + 2..].strip_suffix(')')
    {
        return format!("{} / {}", class.trim(), label[..open].trim());
    }
    label.to_owned()
}

fn detail_from_html(html: &str) -> Result<SeekJobDetail, ParseError> {
    // Nesting past the cap is flattened first: html5ever's time grows with its square.
    let html =
        html_scan::limit_nesting(html, html_scan::MAX_NESTING, html_scan::MAX_OPEN_FORMATTING);
    let document = Html::parse_document(&html);
    let node = |automation: &str| {
        let selector = Selector::parse(&format!("[data-automation=\"{automation}\"]"))
            .expect("static selector");
        document.select(&selector).next()
    };
    let description = node("jobAdDetails").ok_or_else(|| {
        ParseError::Shape(
            "SEEK job page has neither SEEK_REDUX_DATA job details nor a jobAdDetails node".into(),
        )
    })?;
    let node_text = |automation: &str| {
        node(automation).and_then(|n| {
            let joined: Vec<&str> = n.text().collect();
            let collapsed = joined
                .concat()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            non_empty(Some(&collapsed)).map(|s| mojibake::repair(s).into_owned())
        })
    };
    // The location node reads "Brisbane QLD (Hybrid)": the place is the link, the arrangement
    // the rest.
    let link = Selector::parse("a").expect("static selector");
    let location_label = node("job-detail-location").and_then(|n| {
        n.select(&link)
            .next()
            .map(|a| a.text().collect::<String>().trim().to_owned())
            .filter(|s| !s.is_empty())
    });
    let location_label = location_label.or_else(|| node_text("job-detail-location"));
    Ok(SeekJobDetail {
        title: node_text("job-detail-title"),
        description_html: Some(description.inner_html()),
        salary_label: node_text("job-detail-salary"),
        work_type_label: node_text("job-detail-work-type"),
        advertiser_name: node_text("advertiser-name").filter(|n| !is_private_advertiser(n)),
        location_label,
        classification: node_text("job-detail-classifications")
            .map(|label| classification_from_label(&label)),
        ..SeekJobDetail::default()
    })
}

/// Fill `posting` (from a search card) with what its job page adds: the ad's sanitised HTML and
/// text, the expiry date, and any field the card lacked. Fields the card had are kept.
pub fn apply_detail(posting: &mut NormalizedPosting, detail: SeekJobDetail) {
    apply_description_and_expiry(
        posting,
        detail.description_html.as_deref(),
        detail.expires_at,
    );
    posting.posted_at = posting.posted_at.or(detail.listed_at);
    // The job page's own site country, else the card's, else SEEK's home market.
    let country = detail
        .site_country
        .clone()
        .or_else(|| posting.location.country.clone())
        .unwrap_or_else(|| "AU".to_owned());
    let country = country.as_str();
    if posting.title.trim().is_empty()
        && let Some(title) = detail.title
    {
        posting.title = title;
    }
    if posting.company.is_none() && detail.advertiser_name.is_some() {
        posting.company = detail.advertiser_name;
        posting.company_external_id = posting.company_external_id.take().or(detail.advertiser_id);
    }
    if posting.salary.text.is_none()
        && let Some(label) = detail.salary_label
    {
        posting.salary = parse_salary_text(&label, Some(default_currency(country)));
    }
    if posting.location.raw.is_none()
        && let Some(label) = detail.location_label
    {
        posting.location = parse_location(&label, Some(&country.to_ascii_uppercase()));
    }
    if posting.work_type.is_none() {
        posting.work_type = detail
            .work_type_label
            .as_deref()
            .and_then(work_type_from_label);
    }
    if posting.work_arrangement == WorkArrangement::Unknown
        && let Some(label) = detail.work_arrangement_label.as_deref()
    {
        posting.work_arrangement = work_arrangement_from_label(label);
    }
    if posting.classification.is_none() {
        posting.classification = detail.classification;
    }
}

/// Postings per SEEK search page (`pageSize`).
const SEEK_PAGE_SIZE: u32 = 32;

/// SEEK answers at most about this many results per query, however many pages are asked for.
pub const RESULT_CAP: usize = 550;

/// SEEK through the [`JobSource`](super::JobSource) interface.
pub struct Seek;

static SPEC: super::SourceSpec = super::SourceSpec {
    source: Source::Seek,
    name: "SEEK",
    description: "Job search on seek.com.au / seek.co.nz.",
    params: &[
        super::ParamSpec::optional("keywords", "Search words."),
        super::ParamSpec::optional("location", "Where, e.g. `Sydney NSW`."),
        super::ParamSpec {
            allowed_values: &["au", "nz"],
            ..super::ParamSpec::optional("country", "Which SEEK site (default `au`).")
        },
        super::ParamSpec::MAX_PAGES,
    ],
    requires_one_of: &[],
    default_base_url: Some(DEFAULT_BASE_URL_AU),
    id_scheme: "SEEK's numeric job id",
    listing_what: "SEEK search results",
    detail_what: "SEEK job page",
    result_cap: Some(RESULT_CAP),
};

impl super::JobSource for Seek {
    fn spec(&self) -> &'static super::SourceSpec {
        &SPEC
    }

    fn default_base(&self, params: &SearchParams) -> Option<Url> {
        let country = params.country.as_deref().unwrap_or("au");
        Some(Url::parse(default_base_url(country)).expect("built-in base URLs are valid"))
    }

    fn listing_request(&self, plan: &super::RunPlan, page: u32) -> super::SourceRequest {
        let url = search_url(
            plan.base(),
            plan.country_or("au"),
            &plan.params,
            page + 1,
            SEEK_PAGE_SIZE,
        );
        super::SourceRequest::new(url, crate::fetch::RequestOptions::json())
    }

    fn parse_listing(
        &self,
        plan: &super::RunPlan,
        _page: u32,
        response: &crate::fetch::FetchedPage,
    ) -> Result<super::Listing, super::SourceError> {
        let parsed = parse_search(&response.body, plan.base(), plan.country_or("au"))?;
        Ok(super::Listing {
            postings: parsed.postings,
            cards: parsed.card_count,
            has_more: true,
            total: parsed.total_count.map(|t| t as usize),
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
        match parse_job_page(&response.text()) {
            Ok(detail) => apply_detail(posting, detail),
            Err(e) => tracing::warn!(
                url = %crate::fetch::redact_url(&response.url),
                error = %e,
                "job page unreadable; keeping the search card"
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SalaryPeriod, WorkType};
    use crate::sources::test_support::{posting_with_id, utc};

    const PAGE1: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seek/seek_v5_search_page1.json"
    ));
    const PAGE2: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seek/seek_v5_search_page2.json"
    ));
    const EMPTY_PAGE: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seek/seek_v5_search_empty_page.json"
    ));
    const SSR_RESULTS: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seek/seek_nz_search_ssr_redux_results_2025-06.json"
    ));
    const JOB_PAGE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seek/seek_job_page.html"
    ));
    const JOB_PAGE_WITHOUT_REDUX: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seek/seek_job_page_without_redux.html"
    ));

    fn nz_base() -> Url {
        Url::parse(DEFAULT_BASE_URL_NZ).unwrap()
    }

    fn page1() -> SeekSearchPage {
        parse_search(PAGE1, &nz_base(), "nz").unwrap()
    }

    fn posting<'a>(page: &'a SeekSearchPage, id: &str) -> &'a NormalizedPosting {
        posting_with_id(&page.postings, id)
    }

    // --- URL builders -------------------------------------------------------------------------

    #[test]
    fn search_url_keeps_the_live_path_and_query() {
        let params = SearchParams {
            keywords: Some("rust developer".into()),
            location: Some("Sydney NSW".into()),
            ..SearchParams::default()
        };
        let url = search_url(
            &Url::parse(DEFAULT_BASE_URL_AU).unwrap(),
            "au",
            &params,
            2,
            100,
        );
        assert_eq!(
            url.as_str(),
            "https://www.seek.com.au/api/jobsearch/v5/search?siteKey=AU-Main&sourcesystem=houston\
             &keywords=rust+developer&where=Sydney+NSW&page=2&pageSize=100"
        );
    }

    #[test]
    fn search_url_without_a_location_searches_the_whole_country() {
        let params = SearchParams {
            keywords: Some("react".into()),
            ..SearchParams::default()
        };
        let url = search_url(&nz_base(), "nz", &params, 1, 22);
        assert_eq!(
            url.query(),
            Some(
                "siteKey=NZ-Main&sourcesystem=houston&keywords=react&where=All+New+Zealand&page=1&pageSize=22"
            )
        );
    }

    #[test]
    fn search_url_appends_the_filters_that_are_set() {
        let filters = SeekFilters {
            classification: Some("6281".into()),
            subclassification: Some("6287,6290".into()),
            worktype: Some("242".into()),
            daterange: Some(3),
            sortmode: Some("ListedDate".into()),
        };
        let params = SearchParams {
            location: Some("All Melbourne VIC".into()),
            ..SearchParams::default()
        };
        let base = Url::parse(DEFAULT_BASE_URL_AU).unwrap();
        let url = search_url_filtered(&base, "au", &params, &filters, 1, 100);
        assert_eq!(
            url.query(),
            Some(
                "siteKey=AU-Main&sourcesystem=houston&where=All+Melbourne+VIC&page=1&pageSize=100\
                 &classification=6281&subclassification=6287%2C6290&worktype=242&daterange=3\
                 &sortmode=ListedDate"
            )
        );
    }

    #[test]
    fn urls_on_an_overridden_base_keep_its_host_and_path_prefix() {
        let base = Url::parse("http://127.0.0.1:9000/mock/seek/").unwrap();
        let url = search_url(&base, "au", &SearchParams::default(), 1, 20);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9000/mock/seek/api/jobsearch/v5/search?siteKey=AU-Main\
             &sourcesystem=houston&where=All+Australia&page=1&pageSize=20"
        );
        let plain = Url::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            job_page_url(&plain, "81234567").as_str(),
            "http://127.0.0.1:9000/job/81234567"
        );
    }

    #[test]
    fn site_keys_currencies_and_bases_follow_the_country() {
        assert_eq!(
            (
                site_key("au"),
                default_currency("au"),
                default_base_url("au")
            ),
            ("AU-Main", "AUD", "https://www.seek.com.au")
        );
        assert_eq!(
            (
                site_key("NZ"),
                default_currency("nz"),
                default_base_url("nz")
            ),
            ("NZ-Main", "NZD", "https://www.seek.co.nz")
        );
    }

    // --- search -------------------------------------------------------------------------------

    #[test]
    fn a_v5_page_yields_one_posting_per_unique_id() {
        let page = page1();
        assert_eq!(page.card_count, 11);
        assert_eq!(page.postings.len(), 10, "84392059 repeats on page 1");
        assert_eq!(page.total_count, Some(108));
        let ids: Vec<&str> = page
            .postings
            .iter()
            .map(|p| p.external_id.as_str())
            .collect();
        assert_eq!(&ids[..4], &["84961018", "84392059", "84645467", "84582951"]);
    }

    #[test]
    fn a_repeated_promoted_card_keeps_its_first_occurrence() {
        let page = page1();
        let repeated = posting(&page, "84392059");
        assert_eq!(repeated.raw["displayType"], "promoted");
    }

    #[test]
    fn card_fields_map_onto_the_posting() {
        let page = page1();
        let p = posting(&page, "84961018");
        assert_eq!(p.source, Source::Seek);
        assert_eq!(p.title, "Team Leader Applications");
        assert_eq!(p.url, "https://www.seek.co.nz/job/84961018");
        assert_eq!(p.company.as_deref(), Some("Tertiary Education Commission"));
        assert_eq!(p.company_external_id.as_deref(), Some("18424565"));
        assert_eq!(
            p.classification.as_deref(),
            Some("Information & Communication Technology / Team Leaders")
        );
        assert_eq!(p.posted_at, Some(utc(2025, 6, 16, 23, 54, 56)));
        assert_eq!(
            p.location.raw.as_deref(),
            Some("Wellington Central, Wellington")
        );
        assert_eq!(
            p.salary.text.as_deref(),
            Some("$125,813 - $148,015 + 3% KiwiSaver")
        );
        assert_eq!(p.expires_at, None);
        assert_eq!(p.description_html, None);
        assert_eq!(p.raw["id"], "84961018");
    }

    #[test]
    fn the_provisional_description_is_the_teaser_and_bullet_points_without_mojibake() {
        let page = page1();
        let text = posting(&page, "84961018").description_text.clone().unwrap();
        assert!(
            text.starts_with("Be responsible for the leadership"),
            "{text}"
        );
        assert!(
            text.contains("\n\n• Join the Te Amorangi Mātauranga Matua Information whānau\n"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_company_name_falls_back_to_the_advertiser() {
        let page = page1();
        let p = posting(&page, "84392059");
        assert_eq!(p.company.as_deref(), Some("Thankyou Payroll"));
        assert_eq!(p.company_external_id.as_deref(), Some("44382887"));
    }

    #[test]
    fn company_name_is_preferred_over_the_advertiser_description() {
        let page = parse_search(PAGE2, &nz_base(), "nz").unwrap();
        assert_eq!(
            posting(&page, "84462492").company.as_deref(),
            Some("GBL - Part of the Salt Group")
        );
    }

    #[test]
    fn salary_label_mojibake_is_repaired() {
        let page = page1();
        assert_eq!(
            posting(&page, "84392059").salary.text.as_deref(),
            Some("$110,000 – $120,000 per year")
        );
    }

    #[test]
    fn a_private_advertiser_is_not_a_company() {
        let mut card: Value = serde_json::from_slice::<Value>(PAGE1).unwrap()["data"][2].clone();
        card["advertiser"] =
            serde_json::json!({"id": "12345", "description": "Private Advertiser"});
        card.as_object_mut().unwrap().remove("companyName");
        let body = serde_json::json!({"data": [card], "totalCount": 1}).to_string();
        let page = parse_search(body.as_bytes(), &nz_base(), "nz").unwrap();
        let p = &page.postings[0];
        assert_eq!(p.external_id, "84645467");
        assert_eq!(p.company, None);
        assert_eq!(p.company_external_id, None);
    }

    #[test]
    fn numeric_ids_and_string_work_arrangements_are_accepted() {
        let body = br#"{"data":[{"id":50195834,"title":"Data Analyst","workArrangements":["Remote"],
            "advertiser":{"id":"43321394","description":"Randstad Professionals"}}],"totalCount":1}"#;
        let page = parse_search(body, &Url::parse(DEFAULT_BASE_URL_AU).unwrap(), "au").unwrap();
        assert_eq!(page.postings[0].external_id, "50195834");
        assert_eq!(page.postings[0].url, "https://www.seek.com.au/job/50195834");
        assert_eq!(page.postings[0].location, Location::default());
    }

    #[test]
    fn work_arrangement_labels_are_read_from_every_shape_seek_uses() {
        let shapes = [
            serde_json::json!({"data": [{"id": "2", "label": {"text": "Hybrid"}}], "displayText": "Hybrid"}),
            serde_json::json!({"arrangements": [{"type": "HYBRID", "label": "Hybrid"}], "label": "Hybrid"}),
            serde_json::json!(["Hybrid"]),
            serde_json::json!([{"label": "Hybrid"}]),
            serde_json::json!({"displayText": "Hybrid"}),
            serde_json::json!("Hybrid"),
        ];
        for shape in shapes {
            assert_eq!(
                arrangement_label(&shape).as_deref(),
                Some("Hybrid"),
                "{shape}"
            );
        }
        assert_eq!(arrangement_label(&serde_json::json!({"data": []})), None);
    }

    #[test]
    fn cards_without_an_id_are_skipped() {
        let body = br#"{"data":[{"title":"No id"},{"id":"1","title":"Kept"}],"totalCount":2}"#;
        let page = parse_search(body, &nz_base(), "nz").unwrap();
        assert_eq!(page.card_count, 2);
        assert_eq!(page.postings.len(), 1);
        assert_eq!(page.postings[0].title, "Kept");
    }

    #[test]
    fn page_two_parses_on_its_own_and_keeps_cross_page_repeats_for_the_caller() {
        let page = parse_search(PAGE2, &nz_base(), "nz").unwrap();
        assert_eq!(page.card_count, 11);
        assert_eq!(page.postings.len(), 11);
        assert_eq!(page.postings[0].external_id, "84961018");
    }

    #[test]
    fn an_empty_page_past_the_result_window_has_no_postings() {
        let page = parse_search(EMPTY_PAGE, &nz_base(), "nz").unwrap();
        assert_eq!(page.card_count, 0);
        assert!(page.postings.is_empty());
        assert_eq!(page.total_count, Some(0));
    }

    #[test]
    fn the_search_page_redux_results_shape_is_accepted_too() {
        let page = parse_search(SSR_RESULTS, &nz_base(), "nz").unwrap();
        assert_eq!(page.card_count, 22);
        assert_eq!(page.postings.len(), 20);
        assert_eq!(page.total_count, Some(108));
    }

    #[test]
    fn truncated_json_is_a_json_error_with_its_position() {
        match parse_search(&PAGE1[..5000], &nz_base(), "nz").unwrap_err() {
            ParseError::Json {
                line,
                column,
                message,
            } => {
                assert!(line > 100, "line {line}");
                assert!(column > 0);
                assert!(message.contains("EOF"), "{message}");
            }
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    #[test]
    fn json_of_another_shape_is_a_shape_error() {
        for body in [&b"[1,2,3]"[..], b"{\"errors\":[]}", b"{\"data\":{}}"] {
            assert!(
                matches!(
                    parse_search(body, &nz_base(), "nz"),
                    Err(ParseError::Shape(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn an_html_page_instead_of_json_is_a_json_error() {
        let body = b"<!DOCTYPE html><title>Just a moment...</title>";
        assert!(matches!(
            parse_search(body, &nz_base(), "nz"),
            Err(ParseError::Json {
                line: 1,
                column: 1,
                ..
            })
        ));
    }

    // --- job page -----------------------------------------------------------------------------

    #[test]
    fn the_job_page_redux_state_gives_the_ad_and_its_dates() {
        let detail = parse_job_page(JOB_PAGE).unwrap();
        assert_eq!(detail.id.as_deref(), Some("81234567"));
        assert_eq!(detail.title.as_deref(), Some("Senior Rust Engineer"));
        assert_eq!(detail.listed_at, Some(utc(2026, 8, 3, 2, 15, 0)));
        assert_eq!(detail.expires_at, Some(utc(2026, 9, 2, 13, 59, 59)));
        assert_eq!(
            detail.salary_label.as_deref(),
            Some("$150,000 – $170,000 + super")
        );
        assert_eq!(detail.work_type_label.as_deref(), Some("Full time"));
        assert_eq!(detail.work_arrangement_label.as_deref(), Some("Hybrid"));
        assert_eq!(detail.advertiser_name.as_deref(), Some("Acme Analytics"));
        assert_eq!(detail.advertiser_id.as_deref(), Some("90000001"));
        assert_eq!(detail.location_label.as_deref(), Some("Brisbane QLD"));
        assert_eq!(
            detail.classification.as_deref(),
            Some("Information & Communication Technology / Developers/Programmers")
        );
        assert_eq!(detail.site_country.as_deref(), Some("AU"));
        assert!(detail.raw.is_some());
    }

    #[test]
    fn the_job_page_content_survives_braces_escaped_quotes_and_undefined() {
        let html = parse_job_page(JOB_PAGE).unwrap().description_html.unwrap();
        assert!(
            html.starts_with("<p>Acme Analytics builds the data platform that {city councils}")
        );
        assert!(html.contains(r#"Say "hello" in your cover letter. Fields left undefined"#));
    }

    #[test]
    fn a_job_page_without_redux_state_is_read_from_its_html() {
        let detail = parse_job_page(JOB_PAGE_WITHOUT_REDUX).unwrap();
        assert_eq!(detail.title.as_deref(), Some("Senior Rust Engineer"));
        assert_eq!(detail.advertiser_name.as_deref(), Some("Acme Analytics"));
        assert_eq!(detail.location_label.as_deref(), Some("Brisbane QLD"));
        assert_eq!(detail.work_type_label.as_deref(), Some("Full time"));
        assert_eq!(
            detail.salary_label.as_deref(),
            Some("$150,000 – $170,000 + super")
        );
        assert_eq!(
            detail.classification.as_deref(),
            Some("Information & Communication Technology / Developers/Programmers")
        );
        let html = detail.description_html.unwrap();
        assert!(
            html.contains("<li>Own the ingestion service, written in Rust</li>"),
            "{html}"
        );
        assert_eq!(detail.expires_at, None);
        assert_eq!(detail.raw, None);
    }

    #[test]
    fn a_job_page_truncated_inside_the_redux_state_is_a_json_error() {
        let cut = JOB_PAGE.find("\"products\"").unwrap();
        match parse_job_page(&JOB_PAGE[..cut]).unwrap_err() {
            ParseError::Json { line, message, .. } => {
                assert!(line > 20, "line {line} should point into the page");
                assert!(message.contains("unterminated"), "{message}");
            }
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    #[test]
    fn a_page_that_is_not_a_job_page_is_a_shape_error() {
        for html in [
            "<html><body><h1>Page not found</h1></body></html>",
            "garbage \u{0} {{{ not html",
            "<script>window.SEEK_REDUX_DATA = {\"jobdetails\":{\"result\":null}};</script>",
        ] {
            assert!(
                matches!(parse_job_page(html), Err(ParseError::Shape(_))),
                "{html}"
            );
        }
    }

    #[test]
    fn redux_labels_convert_to_search_style_classifications() {
        assert_eq!(
            classification_from_label(
                "Engineering - Software (Information & Communication Technology)"
            ),
            "Information & Communication Technology / Engineering - Software"
        );
        assert_eq!(classification_from_label("Other"), "Other");
    }

    #[test]
    fn applying_the_detail_adds_the_ad_and_expiry_and_keeps_search_data() {
        let mut p = posting(&page1(), "84392059").clone();
        let detail = parse_job_page(JOB_PAGE).unwrap();
        apply_detail(&mut p, detail);
        assert_eq!(p.title, "Full Stack Developer (12-Month Fixed Term)");
        assert_eq!(p.company.as_deref(), Some("Thankyou Payroll"));
        assert_eq!(
            p.salary.text.as_deref(),
            Some("$110,000 – $120,000 per year")
        );
        assert_eq!(p.posted_at, Some(utc(2025, 5, 22, 0, 17, 45)));
        assert_eq!(p.expires_at, Some(utc(2026, 9, 2, 13, 59, 59)));
        assert!(
            p.description_html
                .as_deref()
                .unwrap()
                .contains("{city councils}")
        );
        assert!(
            p.description_text
                .as_deref()
                .unwrap()
                .contains("Own the ingestion service")
        );
        assert_eq!(p.raw["id"], "84392059", "raw stays the search card");
    }

    #[test]
    fn applying_the_detail_fills_what_the_card_lacked() {
        let card = br#"{"data":[{"id":"81234567","title":"Senior Rust Engineer"}]}"#;
        let base = Url::parse(DEFAULT_BASE_URL_AU).unwrap();
        let mut p = parse_search(card, &base, "au").unwrap().postings.remove(0);
        apply_detail(&mut p, parse_job_page(JOB_PAGE).unwrap());
        assert_eq!(p.company.as_deref(), Some("Acme Analytics"));
        assert_eq!(p.company_external_id.as_deref(), Some("90000001"));
        assert_eq!(
            p.salary.text.as_deref(),
            Some("$150,000 – $170,000 + super")
        );
        assert_eq!(p.location.raw.as_deref(), Some("Brisbane QLD"));
        assert_eq!(p.posted_at, Some(utc(2026, 8, 3, 2, 15, 0)));
        assert_eq!(
            p.classification.as_deref(),
            Some("Information & Communication Technology / Developers/Programmers")
        );
    }

    // --- assertions on the normaliser's output (stubbed until it lands) -----------------------

    #[test]
    fn normaliser_card_salary_text_is_parsed_in_the_sites_currency() {
        let page = page1();
        let s = &posting(&page, "84935404").salary;
        assert_eq!(s.text.as_deref(), Some("$117,000 – $145,000 per year"));
        assert_eq!((s.min, s.max), (Some(117_000.0), Some(145_000.0)));
        assert_eq!(s.currency.as_deref(), Some("NZD"));
        assert_eq!(s.period, Some(SalaryPeriod::Year));
    }

    #[test]
    fn normaliser_card_work_type_and_arrangement_are_mapped() {
        let page = page1();
        let p = posting(&page, "84392059");
        assert_eq!(p.work_type, Some(WorkType::FullTime));
        assert_eq!(p.work_arrangement, WorkArrangement::Hybrid);
        let contract = posting(&page, "84582951");
        assert_eq!(contract.work_type, Some(WorkType::Contract));
        assert_eq!(contract.work_arrangement, WorkArrangement::Remote);
    }

    #[test]
    fn normaliser_card_location_is_split_into_city_and_country() {
        let page = page1();
        let loc = &posting(&page, "84961018").location;
        assert_eq!(loc.country.as_deref(), Some("NZ"));
        // "Wellington Central, Wellington": the suburb is dropped, the city is kept.
        assert_eq!(loc.city.as_deref(), Some("Wellington"));
    }

    #[test]
    fn normaliser_applied_detail_html_is_sanitised() {
        let mut p = posting(&page1(), "84392059").clone();
        apply_detail(&mut p, parse_job_page(JOB_PAGE).unwrap());
        let html = p.description_html.unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(!p.description_text.unwrap().contains('<'));
    }
}

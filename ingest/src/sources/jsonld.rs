//! schema.org `JobPosting` JSON-LD on any career page.
//!
//! Every `<script type="application/ld+json">` is read. A script may hold one object, an array of
//! objects, or an object whose `@graph` lists the nodes; a `JobPosting` may also sit deeper (a
//! `WebPage`'s `mainEntity`, an `ItemList`). JSON-LD in the wild is messy, so this module is
//! lenient where it costs nothing:
//! - a script that is not valid JSON is retried with trailing commas dropped and raw control
//!   characters inside strings escaped; if it still fails it is skipped and the others are used;
//! - `@type` may be a string or an array, with or without a `schema:` / URL prefix;
//! - most properties may be a string, an object with a `name`, or an array of either.
//!
//! A page without any JobPosting is not an error (it yields no postings). The one error is a page
//! whose only JobPosting sits in a script that cannot be parsed even leniently: that is a posting
//! we know we are losing.

use std::collections::HashMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

use super::ParseError;
use super::html_scan;
use crate::model::{
    Location, NormalizedPosting, Salary, SalaryPeriod, SearchParams, Source, WorkArrangement,
};
use crate::normalize::{self, salary};

/// External ids longer than this are replaced by a hash (URLs with long tracking queries).
const MAX_EXTERNAL_ID_LEN: usize = 200;

/// How deep to look for a JobPosting inside a script's JSON.
const MAX_DEPTH: usize = 16;

/// Every JobPosting in the JSON-LD of a page fetched from `page_url`.
pub fn extract_postings(html: &str, page_url: &Url) -> Result<Vec<NormalizedPosting>, ParseError> {
    let mut found = Vec::new();
    let mut lost_posting = None;
    // The scripts are found by a scan of the page rather than a DOM: a career page is mostly
    // markup, styles and script bundles that building a tree would spend milliseconds on.
    for script in html_scan::scripts(html) {
        if !is_json_ld(script.attr("type").as_deref()) {
            continue;
        }
        let text = script.text().unwrap_or_default();
        match parse_lenient(&text) {
            Ok(value) => {
                let mut nodes_by_id = HashMap::new();
                index_nodes(&value, &mut nodes_by_id, 0);
                collect_job_postings(&value, &nodes_by_id, &mut found, 0);
            }
            Err(e) if lost_posting.is_none() && text.contains("JobPosting") => {
                lost_posting = Some(e);
            }
            Err(_) => {}
        }
    }
    if found.is_empty()
        && let Some(e) = lost_posting
    {
        return Err(e);
    }
    let several = found.len() > 1;
    let mut postings: Vec<NormalizedPosting> = Vec::with_capacity(found.len());
    for (index, f) in found.into_iter().enumerate() {
        let Some(posting) = f.into_posting(page_url, several.then_some(index)) else {
            continue;
        };
        // Some pages repeat the same posting in two scripts; keep the first.
        if !postings
            .iter()
            .any(|p| p.external_id == posting.external_id)
        {
            postings.push(posting);
        }
    }
    Ok(postings)
}

/// `type="application/ld+json"`, compared case-insensitively, ignoring whitespace and parameters.
fn is_json_ld(type_attr: Option<&str>) -> bool {
    type_attr
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json"))
}

/// A script's JSON, strictly if possible, else after [`relax`]. The error is the strict one: its
/// position points into the script as written.
fn parse_lenient(script: &str) -> Result<Value, ParseError> {
    let body = strip_wrappers(script);
    match serde_json::from_str(body) {
        Ok(value) => Ok(value),
        Err(strict) => {
            let relaxed = relax(body);
            serde_json::from_str(&relaxed).map_err(|_| ParseError::from(strict))
        }
    }
}

/// Drops the `<!-- -->` and `<![CDATA[ ]]>` wrappers old pages put around script bodies.
fn strip_wrappers(script: &str) -> &str {
    let mut s = script.trim();
    for (open, close) in [
        ("<!--", "-->"),
        ("//<![CDATA[", "//]]>"),
        ("<![CDATA[", "]]>"),
    ] {
        if let Some(inner) = s.strip_prefix(open).and_then(|i| i.strip_suffix(close)) {
            s = inner.trim();
        }
    }
    s
}

/// JSON as browsers' sloppy writers produce it, made strict: trailing commas before `}` or `]`
/// are dropped and control characters inside strings are escaped.
fn relax(json: &str) -> String {
    let chars: Vec<char> = json.chars().collect();
    let mut out = String::with_capacity(json.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            match c {
                _ if escaped => {
                    escaped = false;
                    out.push(c);
                }
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => out.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            ',' => {
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if !matches!(next, Some('}' | ']')) {
                    out.push(c);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A JobPosting found in a script, with its `hiringOrganization` resolved when the posting only
/// refers to it by `@id` (common in `@graph`s).
struct Found {
    posting: Map<String, Value>,
    organization: Option<Value>,
}

/// Every node with an `@id`, so references like `"hiringOrganization": {"@id": "#org"}` resolve.
fn index_nodes<'a>(value: &'a Value, nodes: &mut HashMap<&'a str, &'a Value>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Array(items) => items.iter().for_each(|v| index_nodes(v, nodes, depth + 1)),
        Value::Object(map) => {
            if let Some(id) = map.get("@id").and_then(Value::as_str)
                && map.len() > 1
            {
                nodes.entry(id).or_insert(value);
            }
            map.values().for_each(|v| index_nodes(v, nodes, depth + 1));
        }
        _ => {}
    }
}

fn collect_job_postings(
    value: &Value,
    nodes: &HashMap<&str, &Value>,
    out: &mut Vec<Found>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Array(items) => items
            .iter()
            .for_each(|v| collect_job_postings(v, nodes, out, depth + 1)),
        Value::Object(map) if is_job_posting(map) => {
            let organization = map.get("hiringOrganization").and_then(|org| {
                let id = org.get("@id").and_then(Value::as_str)?;
                let is_bare_reference = org.get("name").is_none();
                is_bare_reference
                    .then(|| nodes.get(id).map(|&node| node.clone()))
                    .flatten()
            });
            out.push(Found {
                posting: map.clone(),
                organization,
            });
        }
        Value::Object(map) => map
            .values()
            .for_each(|v| collect_job_postings(v, nodes, out, depth + 1)),
        _ => {}
    }
}

/// `@type` is `JobPosting` or an array holding it, possibly as `schema:JobPosting` or
/// `https://schema.org/JobPosting`.
fn is_job_posting(map: &Map<String, Value>) -> bool {
    let is_it = |t: &Value| {
        t.as_str().is_some_and(|t| {
            let local = t.rsplit(['/', ':', '#']).next().unwrap_or(t);
            local.trim().eq_ignore_ascii_case("JobPosting")
        })
    };
    match map.get("@type") {
        Some(Value::Array(types)) => types.iter().any(is_it),
        Some(t) => is_it(t),
        None => false,
    }
}

impl Found {
    /// `index` is the posting's place on the page when the page has several.
    fn into_posting(self, page_url: &Url, index: Option<usize>) -> Option<NormalizedPosting> {
        let p = &self.posting;
        let title = first_text(p.get("title")).or_else(|| first_text(p.get("name")))?;
        let title = clean_text(&title);
        if title.is_empty() {
            return None;
        }
        // JSON-LD `url`s may be relative to the page; one that is not http(s) once resolved
        // (`javascript:`, `data:`) is dropped and the page's own URL stands in.
        let own_url =
            first_text(p.get("url")).and_then(|u| normalize::http_url(&u, Some(page_url)));
        let url = own_url.as_ref().unwrap_or(page_url).to_string();
        let external_id = identifier(p.get("identifier"))
            .or_else(|| own_url.as_ref().map(Url::to_string))
            .unwrap_or_else(|| match index {
                Some(i) => format!("{page_url}#{i}"),
                None => page_url.to_string(),
            });
        let organization = self.organization.as_ref().or(p.get("hiringOrganization"));
        let description_html = description(p).map(|html| normalize::sanitize_html(&html));
        let description_text = description_html.as_deref().map(normalize::html_to_text);
        let work_type = list(p.get("employmentType"))
            .filter_map(Value::as_str)
            .find_map(normalize::work_type_from_label);

        Some(NormalizedPosting {
            source: Source::Jsonld,
            external_id: shorten_id(external_id),
            url,
            apply_url: None,
            title,
            company: organization
                .and_then(|o| first_text(Some(o)))
                .map(|n| clean_text(&n)),
            company_external_id: organization.and_then(organization_id),
            location: location(p),
            work_type,
            work_arrangement: arrangement(p),
            salary: base_salary(p.get("baseSalary")),
            description_html,
            description_text,
            classification: first_text(p.get("occupationalCategory"))
                .or_else(|| first_text(p.get("industry")))
                .map(|c| clean_text(&c)),
            posted_at: first_text(p.get("datePosted")).and_then(|d| normalize::parse_datetime(&d)),
            expires_at: first_text(p.get("validThrough"))
                .and_then(|d| normalize::parse_datetime(&d)),
            raw: Value::Object(self.posting),
        })
    }
}

/// `identifier` as a PropertyValue (`{"value": …}`), a string or a number.
fn identifier(value: Option<&Value>) -> Option<String> {
    list(value).find_map(|v| match v {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => identifier(o.get("value")),
        _ => None,
    })
}

/// Ids longer than [`MAX_EXTERNAL_ID_LEN`] become the first 32 hex digits of their SHA-256.
fn shorten_id(id: String) -> String {
    if id.len() <= MAX_EXTERNAL_ID_LEN {
        return id;
    }
    let mut hex = format!("{:x}", Sha256::digest(id.as_bytes()));
    hex.truncate(32);
    hex
}

/// The organisation's own URL: `sameAs` when it is one URL, else `url`, else the first `sameAs`
/// (usually a social profile).
fn organization_id(org: &Value) -> Option<String> {
    let same_as = org.get("sameAs");
    same_as
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| first_text(org.get("url")))
        .or_else(|| first_text(same_as))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Each `jobLocation` place: the raw text lists them all, the parts come from the first place
/// that has any.
fn location(p: &Map<String, Value>) -> Location {
    let mut raws: Vec<String> = Vec::new();
    let mut parts: Option<Location> = None;
    for place in list(p.get("jobLocation")) {
        let (raw, place_parts) = place_location(place);
        if let Some(raw) = raw
            && !raws.contains(&raw)
        {
            raws.push(raw);
        }
        let has_parts = place_parts.city.is_some()
            || place_parts.region.is_some()
            || place_parts.country.is_some();
        if parts.is_none() && has_parts {
            parts = Some(place_parts);
        }
    }
    let mut location = parts.unwrap_or_default();
    location.raw = (!raws.is_empty()).then(|| raws.join("; "));
    if location.country.is_none() {
        // Remote postings name where applicants may live instead of a place.
        location.country = first_text(p.get("applicantLocationRequirements"))
            .as_deref()
            .and_then(normalize::country_code)
            .map(str::to_owned);
    }
    location
}

/// A Place (or a bare string) as its display text and its parts.
fn place_location(place: &Value) -> (Option<String>, Location) {
    let name = place.get("name").and_then(|n| first_text(Some(n)));
    match place.get("address") {
        _ if place.is_string() => {
            let raw = first_text(Some(place));
            let parts = raw
                .as_deref()
                .map(|r| normalize::parse_location(r, None))
                .unwrap_or_default();
            (raw, parts)
        }
        Some(Value::String(address)) => {
            let parts = normalize::parse_location(address, None);
            (name.or_else(|| non_empty(address)), parts)
        }
        Some(address @ Value::Object(_)) => {
            let city = first_text(address.get("addressLocality"));
            let region = first_text(address.get("addressRegion"));
            let country_text = first_text(address.get("addressCountry"));
            let composed = [&city, &region, &country_text]
                .into_iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            let parts = Location {
                raw: None,
                city,
                region,
                country: country_text
                    .as_deref()
                    .and_then(normalize::country_code)
                    .map(str::to_owned),
            };
            (name.or_else(|| non_empty(&composed)), parts)
        }
        _ => {
            let parts = name
                .as_deref()
                .map(|n| normalize::parse_location(n, None))
                .unwrap_or_default();
            (name, parts)
        }
    }
}

/// `jobLocationType: TELECOMMUTE` is the only arrangement JSON-LD can state.
fn arrangement(p: &Map<String, Value>) -> WorkArrangement {
    let telecommute = list(p.get("jobLocationType"))
        .filter_map(Value::as_str)
        .any(|t| t.trim().eq_ignore_ascii_case("TELECOMMUTE"));
    if telecommute {
        WorkArrangement::Remote
    } else {
        WorkArrangement::Unknown
    }
}

/// `baseSalary`: a MonetaryAmount whose `value` is a QuantitativeValue, a number or a string; or a
/// bare number or string.
fn base_salary(value: Option<&Value>) -> Salary {
    let Some(value) = list(value).next() else {
        return Salary::default();
    };
    let Value::Object(amount) = value else {
        return amount_salary(value, None, None);
    };
    let currency = first_text(amount.get("currency")).map(|c| c.trim().to_ascii_uppercase());
    let unit = amount.get("unitText");
    match amount.get("value") {
        Some(inner) => amount_salary(inner, currency.as_deref(), unit),
        // MonetaryAmount may carry minValue / maxValue itself.
        None => amount_salary(value, currency.as_deref(), unit),
    }
}

/// A salary value: a QuantitativeValue (`value` or `minValue`/`maxValue`, `unitText`), a number, a
/// numeric string, or display text.
fn amount_salary(value: &Value, currency: Option<&str>, outer_unit: Option<&Value>) -> Salary {
    let (min, max, unit) = match value {
        Value::Object(q) => {
            let single = number(q.get("value"));
            let min = number(q.get("minValue")).or(single);
            let max = number(q.get("maxValue")).or(single);
            (min, max, q.get("unitText").or(outer_unit))
        }
        Value::String(text) if number(Some(value)).is_none() => {
            return match non_empty(text) {
                Some(text) => salary::parse_salary_text(&text, currency),
                None => Salary::default(),
            };
        }
        _ => {
            let n = number(Some(value));
            (n, n, outer_unit)
        }
    };
    if min.is_none() && max.is_none() {
        return Salary::default();
    }
    let period = first_text(unit).and_then(|u| period_from_unit(&u));
    salary::structured_salary(min, max, currency, period, None)
}

/// A positive amount from a JSON number or a numeric string ("120,000"). Zero means "not given".
fn number(value: Option<&Value>) -> Option<f64> {
    let n = match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().replace([',', ' '], "").parse().ok(),
        _ => None,
    }?;
    (n.is_finite() && n > 0.0).then_some(n)
}

/// `unitText`: HOUR, DAY, WEEK, MONTH, YEAR.
fn period_from_unit(unit: &str) -> Option<SalaryPeriod> {
    match unit.trim().to_ascii_uppercase().as_str() {
        "HOUR" => Some(SalaryPeriod::Hour),
        "DAY" => Some(SalaryPeriod::Day),
        "WEEK" => Some(SalaryPeriod::Week),
        "MONTH" => Some(SalaryPeriod::Month),
        "YEAR" => Some(SalaryPeriod::Year),
        _ => salary::period_from_label(unit),
    }
}

/// Sections Google lets a posting split out of its description, with the heading shown for each.
const SECTIONS: &[(&str, &str)] = &[
    ("responsibilities", "Responsibilities"),
    ("qualifications", "Qualifications"),
    ("skills", "Skills"),
    ("educationRequirements", "Education"),
    ("experienceRequirements", "Experience"),
    ("jobBenefits", "Benefits"),
    ("incentiveCompensation", "Incentives"),
];

/// The description HTML followed by the separate sections it does not already contain.
fn description(p: &Map<String, Value>) -> Option<String> {
    let mut html = p
        .get("description")
        .and_then(Value::as_str)
        .map(fix_html_text)
        .unwrap_or_default();
    for (key, heading) in SECTIONS {
        let items: Vec<String> = list(p.get(*key))
            .filter_map(Value::as_str)
            .map(fix_html_text)
            .filter(|s| !s.trim().is_empty())
            .collect();
        let Some(first) = items.first() else {
            continue;
        };
        let probe: String = first.trim().chars().take(60).collect();
        if html.contains(&probe) {
            continue;
        }
        html.push_str(&format!("\n<h3>{heading}</h3>\n"));
        if items.len() == 1 {
            html.push_str(&format!("<p>{first}</p>"));
        } else {
            html.push_str("<ul>");
            for item in &items {
                html.push_str(&format!("<li>{item}</li>"));
            }
            html.push_str("</ul>");
        }
    }
    non_empty(&html)
}

/// Repairs HTML as JSON-LD writers mangle it: escaped once more (`&lt;p&gt;` with no real tag),
/// and literal `\n` left over from double JSON encoding.
fn fix_html_text(s: &str) -> String {
    let s = if !s.contains('<') && s.contains("&lt;") {
        normalize::unescape_entities(s)
    } else {
        s.to_owned()
    };
    s.replace("\\r\\n", "\n")
        .replace("\\n", "\n")
        .replace("\\t", " ")
}

/// The values of a property that may be one value or an array of them.
fn list(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    let items: &[Value] = match value {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => &[],
        Some(one) => std::slice::from_ref(one),
    };
    items.iter()
}

/// The first text of a property: a string, an object's `name`, or the first of an array of either.
fn first_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => non_empty(s),
        Value::Object(o) => first_text(o.get("name")),
        Value::Array(items) => items.iter().find_map(|v| first_text(Some(v))),
        _ => None,
    }
}

/// Text from JSON-LD: entities decoded and whitespace collapsed.
fn clean_text(s: &str) -> String {
    normalize::unescape_entities(s)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn non_empty(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// schema.org `JobPosting` JSON-LD through the [`JobSource`](super::JobSource) interface.
pub struct JsonLd;

static SPEC: super::SourceSpec = super::SourceSpec {
    source: Source::Jsonld,
    name: "JSON-LD",
    description: "schema.org `JobPosting` JSON-LD on any career page.",
    params: &[super::ParamSpec::required(
        "target",
        "The career page URL to read JobPosting JSON-LD from (http or https).",
    )],
    requires_one_of: &[],
    default_base_url: None,
    id_scheme: "the posting's `identifier` prefixed by the page's host (`host:id`), else its URL",
    listing_what: "JSON-LD JobPosting",
    detail_what: "career page",
    result_cap: None,
};

impl super::JobSource for JsonLd {
    fn spec(&self) -> &'static super::SourceSpec {
        &SPEC
    }

    fn check_params(&self, params: &mut SearchParams) -> Result<(), super::ParamError> {
        let t = params.target.as_deref().unwrap_or_default();
        match Url::parse(t) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
            _ => Err(super::ParamError(format!(
                "jsonld `target` must be an http(s) URL, got `{t}`"
            ))),
        }
    }

    fn listing_request(&self, plan: &super::RunPlan, _page: u32) -> super::SourceRequest {
        // `check_params` made sure the target parses.
        let url = Url::parse(plan.target()).expect("checked by check_params");
        super::SourceRequest::new(url, crate::fetch::RequestOptions::html())
    }

    fn parse_listing(
        &self,
        _plan: &super::RunPlan,
        _page: u32,
        response: &crate::fetch::FetchedPage,
    ) -> Result<super::Listing, super::SourceError> {
        let mut postings = extract_postings(&response.text(), &response.url)?;
        // Identifiers are only unique within a site: key them by host so two companies' "123"
        // never collide.
        let host = response.url.host_str().unwrap_or("").to_ascii_lowercase();
        for p in &mut postings {
            if !p.external_id.starts_with("http") {
                p.external_id = format!("{host}:{}", p.external_id);
            }
        }
        if postings.is_empty() {
            tracing::info!("no JobPosting JSON-LD on the page");
        }
        Ok(super::Listing::whole(postings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SalarySource, WorkType};
    use chrono::{TimeZone, Utc};

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/jsonld/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn page(url: &str) -> Url {
        Url::parse(url).unwrap()
    }

    fn extract(name: &str, url: &str) -> Vec<NormalizedPosting> {
        extract_postings(&fixture(name), &page(url)).expect("the page parses")
    }

    fn meta() -> NormalizedPosting {
        let mut postings = extract(
            "jsonld_meta_software_engineer.html",
            "https://www.metacareers.com/jobs/1234/",
        );
        assert_eq!(postings.len(), 1);
        postings.remove(0)
    }

    fn neura() -> NormalizedPosting {
        let mut postings = extract(
            "jsonld_neura_robotics_manager.html",
            "https://jobs.neura-robotics.com/offer/x",
        );
        assert_eq!(postings.len(), 1);
        postings.remove(0)
    }

    #[test]
    fn a_meta_posting_keeps_title_company_and_dates() {
        let p = meta();
        assert_eq!(p.source, Source::Jsonld);
        assert_eq!(p.title, "Software Engineer, Infrastructure");
        assert_eq!(p.company.as_deref(), Some("Meta"));
        assert_eq!(
            p.company_external_id.as_deref(),
            Some("https://www.meta.com/")
        );
        assert_eq!(
            p.posted_at,
            Some(Utc.with_ymd_and_hms(2025, 6, 10, 20, 7, 44).unwrap())
        );
        assert_eq!(
            p.expires_at,
            Some(Utc.with_ymd_and_hms(2026, 6, 8, 19, 50, 57).unwrap())
        );
    }

    #[test]
    fn without_identifier_or_url_the_page_url_is_the_id_and_the_url() {
        let p = meta();
        assert_eq!(p.external_id, "https://www.metacareers.com/jobs/1234/");
        assert_eq!(p.url, "https://www.metacareers.com/jobs/1234/");
    }

    #[test]
    fn every_place_is_in_the_raw_location_and_the_first_gives_the_parts() {
        let location = meta().location;
        let raw = location.raw.unwrap();
        assert!(
            raw.starts_with("Sunnyvale, CA; Bellevue, WA; Redmond, WA;"),
            "{raw}"
        );
        assert!(raw.ends_with("Remote, US; New York, NY"), "{raw}");
        assert_eq!(location.city.as_deref(), Some("Sunnyvale"));
        assert_eq!(location.region.as_deref(), Some("CA"));
    }

    /// Depends on the normaliser knowing that "USA" is US.
    #[test]
    fn an_array_of_country_names_gives_the_country() {
        assert_eq!(meta().location.country.as_deref(), Some("US"));
    }

    #[test]
    fn a_full_time_label_is_full_time() {
        assert_eq!(meta().work_type, Some(WorkType::FullTime), "\"Full-time\"");
        assert_eq!(meta().work_arrangement, WorkArrangement::Unknown);
    }

    #[test]
    fn responsibilities_and_qualifications_follow_the_description() {
        let html = meta().description_html.unwrap();
        let description = html.find("Meta is seeking talented engineers").unwrap();
        let responsibilities = html.find("<h3>Responsibilities</h3>").unwrap();
        let qualifications = html.find("<h3>Qualifications</h3>").unwrap();
        assert!(description < responsibilities && responsibilities < qualifications);
        assert!(html.contains("Collaborate with cross-functional teams"));
    }

    #[test]
    fn a_neura_posting_keeps_its_identifier_url_company_and_place() {
        let p = neura();
        assert_eq!(
            p.title,
            "Manager Ecosystem Integration & Certification (Human)"
        );
        assert_eq!(p.external_id, "00df0928-b013-448c-b3dd-6c6fb80eadc2");
        assert_eq!(
            p.url,
            "https://jobs.neura-robotics.com/offer/manager-ecosystem-integration-certi/00df0928-b013-448c-b3dd-6c6fb80eadc2"
        );
        assert_eq!(p.company.as_deref(), Some("Neura Robotics GmbH"));
        assert_eq!(
            p.company_external_id.as_deref(),
            Some("https://jobs.neura-robotics.com/")
        );
        assert_eq!(p.location.raw.as_deref(), Some("Metzingen, DE"));
        assert_eq!(p.location.city.as_deref(), Some("Metzingen"));
        assert_eq!(p.location.country.as_deref(), Some("DE"));
        assert_eq!(
            p.posted_at,
            Some(Utc.with_ymd_and_hms(2025, 11, 5, 23, 0, 0).unwrap())
        );
    }

    #[test]
    fn literal_backslash_n_in_a_description_becomes_a_line_break() {
        let p = neura();
        let html = p.description_html.unwrap();
        assert!(!html.contains("\\n"), "{html}");
        assert!(html.contains("<strong>Your mission &amp; challenges</strong>"));
        assert!(!p.description_text.unwrap().contains("\\n"));
    }

    #[test]
    fn incentive_compensation_items_become_a_list() {
        let html = neura().description_html.unwrap();
        assert!(html.contains("<h3>Incentives</h3>\n<ul><li>Creative Freedom and Agility:"));
    }

    #[test]
    fn raw_is_the_job_posting_object() {
        let p = neura();
        assert_eq!(p.raw["@type"], "JobPosting");
        assert_eq!(
            p.raw["identifier"]["value"],
            "00df0928-b013-448c-b3dd-6c6fb80eadc2"
        );
    }

    #[test]
    fn an_array_of_two_postings_gives_two_postings() {
        let postings = extract(
            "jsonld_array_of_two_postings.html",
            "https://careers.example.com.au/jobs?team=eng",
        );
        let titles: Vec<&str> = postings.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["Senior Rust Engineer", "Graduate Data Analyst"]);

        let first = &postings[0];
        assert_eq!(first.external_id, "RUST-0042");
        assert_eq!(first.url, "https://careers.example.com.au/jobs/rust-0042");
        assert_eq!(first.company.as_deref(), Some("Example Robotics"));
        assert_eq!(first.work_type, Some(WorkType::FullTime));
        assert_eq!(first.location.city.as_deref(), Some("Sydney"));
        assert_eq!(first.location.region.as_deref(), Some("NSW"));
        assert_eq!(first.location.country.as_deref(), Some("AU"));
        assert_eq!(first.classification.as_deref(), Some("Engineering"));
        assert_eq!(first.salary.min, Some(170_000.0));
        assert_eq!(first.salary.max, Some(190_000.0));
        assert_eq!(first.salary.currency.as_deref(), Some("AUD"));
        assert_eq!(first.salary.period, Some(SalaryPeriod::Year));
        assert_eq!(first.salary.source, Some(SalarySource::Structured));
        assert_eq!(
            first.expires_at,
            Some(Utc.with_ymd_and_hms(2026, 9, 30, 0, 0, 0).unwrap())
        );
    }

    #[test]
    fn a_posting_without_identifier_or_url_on_a_busy_page_is_keyed_by_its_index() {
        let postings = extract(
            "jsonld_array_of_two_postings.html",
            "https://careers.example.com.au/jobs?team=eng",
        );
        let second = &postings[1];
        assert_eq!(
            second.external_id,
            "https://careers.example.com.au/jobs?team=eng#1"
        );
        assert_eq!(second.url, "https://careers.example.com.au/jobs?team=eng");
        assert_eq!(
            second.company.as_deref(),
            Some("Example Robotics"),
            "a plain string"
        );
        assert_eq!(second.company_external_id, None);
        assert_eq!(
            second.work_type,
            Some(WorkType::PartTime),
            "first of an array"
        );
        assert_eq!(second.salary.min, Some(38.5));
        assert_eq!(second.salary.max, Some(38.5));
        assert_eq!(second.salary.period, Some(SalaryPeriod::Hour));
        assert_eq!(second.location.raw.as_deref(), Some("Parramatta NSW 2150"));
        assert_eq!(
            second.description_html.as_deref(),
            Some("<p>Turn sensor logs into insight.</p>"),
            "an entity-escaped description is unescaped once"
        );
        assert_eq!(
            second.posted_at,
            Some(Utc.with_ymd_and_hms(2026, 8, 1, 0, 0, 0).unwrap()),
            "a bare date is midnight UTC"
        );
    }

    #[test]
    fn a_graph_posting_is_found_and_its_organisation_reference_resolved() {
        let postings = extract(
            "jsonld_graph_organization_and_posting.html",
            "https://jobs.example.co.nz/roles/platform-engineer",
        );
        assert_eq!(postings.len(), 1, "the Organization is not a posting");
        let p = &postings[0];
        assert_eq!(p.title, "Platform Engineer");
        assert_eq!(p.external_id, "NZ-2026-17");
        assert_eq!(p.company.as_deref(), Some("Kiwi Example Ltd"));
        assert_eq!(
            p.company_external_id.as_deref(),
            Some("https://www.kiwi.example.co.nz/")
        );
        assert_eq!(p.location.city.as_deref(), Some("Wellington"));
        assert_eq!(p.location.country.as_deref(), Some("NZ"));
        assert_eq!(p.salary.currency.as_deref(), Some("NZD"));
        assert_eq!(p.salary.min, Some(125_000.0));
        assert_eq!(p.salary.max, Some(145_000.0));
        assert_eq!(p.work_type, Some(WorkType::Contract));
        assert_eq!(
            p.raw["hiringOrganization"]["@id"], "#org",
            "raw is untouched"
        );
    }

    #[test]
    fn a_type_array_with_a_prefixed_job_posting_is_a_posting() {
        let postings = extract(
            "jsonld_type_array_remote.html",
            "https://example.org/careers/42",
        );
        assert_eq!(postings.len(), 1);
        let p = &postings[0];
        assert_eq!(p.title, "Remote Support Engineer (APAC)");
        assert_eq!(p.external_id, "4242");
        assert_eq!(p.work_arrangement, WorkArrangement::Remote);
        assert_eq!(p.work_type, Some(WorkType::Contract));
        assert_eq!(
            p.url,
            "https://example.org/careers/42/remote-support-engineer"
        );
        assert_eq!(p.location.raw, None, "no jobLocation");
        assert_eq!(
            p.salary.text.as_deref(),
            Some("$95,000 – $110,000 per year")
        );
    }

    /// Depends on the normaliser's `country_code` / `parse_location` knowing "Australia".
    #[test]
    fn applicant_location_requirements_give_a_remote_postings_country() {
        let postings = extract(
            "jsonld_type_array_remote.html",
            "https://example.org/careers/42",
        );
        assert_eq!(postings[0].location.country.as_deref(), Some("AU"));
    }

    /// Depends on the normaliser's `parse_salary_text`.
    #[test]
    fn a_salary_string_is_parsed_with_the_amounts_currency() {
        let postings = extract(
            "jsonld_type_array_remote.html",
            "https://example.org/careers/42",
        );
        let salary = &postings[0].salary;
        assert_eq!(salary.min, Some(95_000.0));
        assert_eq!(salary.max, Some(110_000.0));
        assert_eq!(salary.currency.as_deref(), Some("AUD"));
        assert_eq!(salary.source, Some(SalarySource::Parsed));
    }

    /// Depends on the normaliser's `sanitize_html` removing scripts.
    #[test]
    fn a_script_inside_a_description_is_removed() {
        let postings = extract(
            "jsonld_type_array_remote.html",
            "https://example.org/careers/42",
        );
        let html = postings[0].description_html.as_deref().unwrap();
        assert!(html.contains("Help customers across APAC"), "{html}");
        assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
    }

    #[test]
    fn invalid_json_in_one_script_does_not_hide_the_others() {
        let postings = extract(
            "jsonld_invalid_next_to_valid.html",
            "https://example.com/jobs/7",
        );
        let titles: Vec<&str> = postings.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["Warehouse Team Leader"]);
        assert_eq!(postings[0].location.city.as_deref(), Some("Brisbane"));
    }

    #[test]
    fn trailing_commas_and_raw_line_breaks_are_tolerated() {
        let postings = extract(
            "jsonld_trailing_commas_raw_newlines.html",
            "https://example.com/jobs/8",
        );
        assert_eq!(postings.len(), 1);
        let p = &postings[0];
        assert_eq!(p.title, "Night Fill Assistant");
        assert_eq!(
            p.work_type,
            Some(WorkType::Other),
            "PER_DIEM, as the normaliser maps it"
        );
        let html = p.description_html.as_deref().unwrap();
        assert!(html.contains("Stack shelves.\nWork nights."), "{html}");
    }

    #[test]
    fn garbage_html_without_json_ld_has_no_postings() {
        let postings = extract("jsonld_no_jsonld_garbage.html", "https://example.com/");
        assert!(postings.is_empty());
        let postings = extract_postings("\u{0}<<>>&&<script", &page("https://example.com/"));
        assert!(postings.unwrap().is_empty());
    }

    #[test]
    fn a_page_whose_only_posting_is_truncated_is_a_json_error() {
        let html = fixture("jsonld_neura_robotics_manager.html");
        let start = html.find("{\"@context\"").unwrap();
        let end = html.find("</script>").unwrap();
        let truncated = format!(
            "{}{}{}",
            &html[..start],
            &html[start..start + (end - start) / 2],
            &html[end..]
        );
        match extract_postings(&truncated, &page("https://example.com/")).unwrap_err() {
            ParseError::Json { line, column, .. } => assert!(line >= 1 && column > 0),
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    #[test]
    fn an_unparseable_script_without_a_job_posting_is_ignored() {
        let html = r#"<script type="application/ld+json">{"@type": "Organization", </script>"#;
        let postings = extract_postings(html, &page("https://example.com/")).unwrap();
        assert!(postings.is_empty());
    }

    #[test]
    fn a_posting_without_a_title_is_skipped() {
        let html = r#"<script type="application/ld+json">
            [{"@type": "JobPosting", "title": "  "}, {"@type": "JobPosting", "title": "Chef"}]
        </script>"#;
        let postings = extract_postings(html, &page("https://example.com/menu")).unwrap();
        assert_eq!(postings.len(), 1);
        assert_eq!(postings[0].title, "Chef");
        assert_eq!(postings[0].external_id, "https://example.com/menu#1");
    }

    #[test]
    fn the_same_posting_in_two_scripts_is_kept_once() {
        let script = r#"<script type="application/ld+json">{"@type": "JobPosting", "title": "Cook", "identifier": "c-1"}</script>"#;
        let html = format!("{script}{script}");
        let postings = extract_postings(&html, &page("https://example.com/")).unwrap();
        assert_eq!(postings.len(), 1);
        assert_eq!(postings[0].external_id, "c-1");
    }

    #[test]
    fn a_job_posting_as_a_pages_main_entity_is_found() {
        let html = r#"<script type="application/ld+json">
            {"@type": "WebPage", "mainEntity": {"@type": "JobPosting", "title": "Barista",
             "hiringOrganization": "Cafe &amp; Co"}}
        </script>"#;
        let postings = extract_postings(html, &page("https://example.com/b")).unwrap();
        assert_eq!(postings[0].title, "Barista");
        assert_eq!(postings[0].company.as_deref(), Some("Cafe & Co"));
    }

    #[test]
    fn a_very_long_id_is_hashed_to_32_hex_digits() {
        let long_url = format!("https://example.com/job?{}", "utm=x&".repeat(40));
        let html = format!(
            r#"<script type="application/ld+json">{{"@type": "JobPosting", "title": "Cook", "url": "{long_url}"}}</script>"#
        );
        let postings = extract_postings(&html, &page("https://example.com/")).unwrap();
        let id = &postings[0].external_id;
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        assert_eq!(postings[0].url, long_url, "the url itself is kept whole");
    }

    #[test]
    fn a_relative_posting_url_is_resolved_against_the_page() {
        let html = r#"<script type="application/ld+json">{"@type": "JobPosting", "title": "Cook", "url": "../jobs/9?src=ld"}</script>"#;
        let postings = extract_postings(html, &page("https://example.com/careers/list")).unwrap();
        assert_eq!(postings[0].url, "https://example.com/jobs/9?src=ld");
        assert_eq!(postings[0].external_id, "https://example.com/jobs/9?src=ld");
    }

    #[test]
    fn json_ld_scripts_are_found_however_their_tags_are_written() {
        let posting = |id: &str| {
            format!(r#"{{"@type": "JobPosting", "title": "Cook", "identifier": "{id}"}}"#)
        };
        let html = format!(
            "<SCRIPT TYPE=\"application/ld+json\">{}</SCRIPT>\
             <script type='application/ld+json; charset=utf-8'>{}</Script >\
             <script data-note=\"a > b\" type=application/ld+json>{}</script>\
             <!-- <script type=\"application/ld+json\">{}</script> -->\
             <style>.x::after {{ content: '<script type=\"application/ld+json\">{}</script>' }}</style>\
             <script type=\"application/ld+json\">{}",
            posting("upper"),
            posting("charset"),
            posting("unquoted"),
            posting("in-a-comment"),
            posting("in-a-style"),
            posting("never-closed"),
        );
        let postings = extract_postings(&html, &page("https://example.com/")).unwrap();
        let ids: Vec<&str> = postings.iter().map(|p| p.external_id.as_str()).collect();
        assert_eq!(ids, ["upper", "charset", "unquoted", "never-closed"]);
    }

    #[test]
    fn json_ld_type_attributes_are_matched_loosely() {
        assert!(is_json_ld(Some("application/ld+json")));
        assert!(is_json_ld(Some("  Application/LD+JSON ")));
        assert!(is_json_ld(Some("application/ld+json; charset=utf-8")));
        assert!(!is_json_ld(Some("application/json")));
        assert!(!is_json_ld(None));
    }

    #[test]
    fn relax_only_touches_what_strict_json_forbids() {
        assert_eq!(relax("{\"a\": [1, 2,], }"), "{\"a\": [1, 2] }");
        assert_eq!(relax("{\"a\": \"x,]\\\"\ty\"}"), "{\"a\": \"x,]\\\"\\ty\"}");
        assert_eq!(relax("{\"a\": \"l1\nl2\"}"), "{\"a\": \"l1\\nl2\"}");
    }

    #[test]
    fn identifiers_come_as_property_values_strings_or_numbers() {
        let id = |v: Value| identifier(Some(&v));
        assert_eq!(
            id(serde_json::json!({"@type": "PropertyValue", "value": 17})).as_deref(),
            Some("17")
        );
        assert_eq!(id(serde_json::json!("REQ-1")).as_deref(), Some("REQ-1"));
        assert_eq!(id(serde_json::json!(99)).as_deref(), Some("99"));
        assert_eq!(id(serde_json::json!({"name": "Acme"})), None);
    }

    #[test]
    fn base_salary_shapes_are_all_read() {
        let s = |v: Value| base_salary(Some(&v));
        let bare = s(serde_json::json!(85000));
        assert_eq!(
            (bare.min, bare.max, bare.period),
            (Some(85_000.0), Some(85_000.0), None)
        );
        let numeric_string = s(serde_json::json!({"currency": "aud", "value": "120,000"}));
        assert_eq!(numeric_string.min, Some(120_000.0));
        assert_eq!(numeric_string.currency.as_deref(), Some("AUD"));
        let top_level = s(
            serde_json::json!({"@type": "MonetaryAmount", "currency": "USD",
            "minValue": 50, "maxValue": 60, "unitText": "HOUR"}),
        );
        assert_eq!((top_level.min, top_level.max), (Some(50.0), Some(60.0)));
        assert_eq!(top_level.period, Some(SalaryPeriod::Hour));
        let zero = s(serde_json::json!({"currency": "USD",
            "value": {"@type": "QuantitativeValue", "value": 0, "unitText": "YEAR"}}));
        assert_eq!(zero, Salary::default());
    }
}

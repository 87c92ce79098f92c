//! Workday career sites through their public candidate-experience ("cxs") JSON API, the one the
//! sites' own pages call. No key, no cookie.
//!
//! - Listing: `POST {base}/wday/cxs/{tenant}/{site}/jobs` with
//!   `{"limit": 20, "offset": N, "searchText": "…", "appliedFacets": {}}` answers
//!   `{"total": n, "jobPostings": [{title, externalPath, locationsText, postedOn, bulletFields}]}`.
//!   Workday refuses a `limit` above 20, so a board is read 20 postings a request.
//! - Detail: `GET {base}/wday/cxs/{tenant}/{site}{externalPath}` answers `{jobPostingInfo:
//!   {jobDescription, location, timeType, startDate, remoteType, jobReqId, externalUrl, …},
//!   hiringOrganization: {name}}`; it is fetched once, for postings not stored before.
//!
//! The live base is `https://{tenant}.wd{N}.myworkdayjobs.com` ([`Target::live_base`]); the
//! operator's base URL override replaces the host for every target and keeps these paths.
//!
//! Quirks handled here:
//! - The listing only says when a posting went up as prose ("Posted Today", "Posted 3 Days
//!   Ago", "Posted 30+ Days Ago"), turned into a date by [`parse_posted_on`]; the detail's
//!   `startDate` is exact and replaces it.
//! - `locationsText` is "2 Locations" for multi-site postings (no location on the card; the
//!   detail's primary `location` fills it) and lists the country first on some tenants
//!   ("US, CA, Santa Clara", "USA.VA.Reston"): see [`location`].
//! - `bulletFields` is not always `[requisition id]` (some tenants put a site name or a postcode
//!   first), and the path's slug follows the title when it is edited: see [`posting_id`].
//! - A later page may report `total: 0`; the count from the first page is the one to trust.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::ParseError;
use super::common::{
    apply_description_and_expiry, describe_unexpected, deserialize_each,
    non_empty_owned as non_empty, url_with_path,
};
use crate::model::{Location, NormalizedPosting, Salary, Source, WorkArrangement, WorkType};
use crate::normalize::{self, salary};

/// Postings per listing request: the most Workday answers (a larger `limit` is an HTTP 400).
pub const PAGE_SIZE: u32 = 20;

/// The live host of a target, for documentation; [`Target::live_base`] fills it in.
pub const BASE_URL_TEMPLATE: &str = "https://{tenant}.wd{N}.myworkdayjobs.com";

/// The longest `externalPath` followed (real ones are well under 300 bytes).
const MAX_EXTERNAL_PATH: usize = 1024;

/// What the `target` parameter names: a tenant, its Workday data centre and a career site, written
/// `{tenant}.wd{N}/{site}` (`nvidia.wd5/NVIDIAExternalCareerSite` for
/// `https://nvidia.wd5.myworkdayjobs.com/NVIDIAExternalCareerSite`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tenant: String,
    /// The `N` of `wdN`.
    pub data_centre: u16,
    pub site: String,
}

impl Target {
    /// Reads `{tenant}.wd{N}/{site}`; the error says what was wrong and what to send instead.
    pub fn parse(target: &str) -> Result<Target, String> {
        let t = target.trim();
        let expected = "Workday `target` must be `<tenant>.wd<N>/<site>`, as in \
                        `nvidia.wd5/NVIDIAExternalCareerSite` for the career site \
                        https://nvidia.wd5.myworkdayjobs.com/NVIDIAExternalCareerSite";
        if let Some(suggestion) = suggestion_from_url(t) {
            return Err(format!("{expected}; for `{t}` send `{suggestion}`"));
        }
        let shape_error = || format!("{expected}; got `{t}`");
        let (host, site) = t.split_once('/').ok_or_else(shape_error)?;
        let (tenant, dc) = host.rsplit_once(".wd").ok_or_else(shape_error)?;
        let valid_name = |s: &str| {
            !s.is_empty()
                && s.len() <= 100
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        let data_centre =
            (!dc.is_empty() && dc.len() <= 3 && dc.bytes().all(|b| b.is_ascii_digit()))
                .then(|| dc.parse::<u16>().ok())
                .flatten()
                .filter(|n| *n > 0);
        match data_centre {
            Some(data_centre) if valid_name(tenant) && valid_name(site) => Ok(Target {
                tenant: tenant.to_owned(),
                data_centre,
                site: site.to_owned(),
            }),
            _ => Err(shape_error()),
        }
    }

    /// `https://{tenant}.wd{N}.myworkdayjobs.com`.
    pub fn live_base(&self) -> Url {
        Url::parse(&format!(
            "https://{}.wd{}.myworkdayjobs.com",
            self.tenant, self.data_centre
        ))
        .expect("a validated tenant makes a valid host")
    }
}

/// `tenant.wdN/site` for a pasted career-site URL such as
/// `https://nvidia.wd5.myworkdayjobs.com/en-US/NVIDIAExternalCareerSite/details/…`.
fn suggestion_from_url(t: &str) -> Option<String> {
    let url = Url::parse(t)
        .ok()
        .or_else(|| Url::parse(&format!("https://{t}")).ok())?;
    let host = url.host_str()?.strip_suffix(".myworkdayjobs.com")?;
    let mut segments = url.path_segments()?.filter(|s| !s.is_empty());
    let mut site = segments.next()?;
    // An optional locale comes first: `en-US`, `fr-CA`.
    if site.len() == 5 && site.as_bytes()[2] == b'-' {
        site = segments.next()?;
    }
    Some(format!("{host}/{site}"))
}

/// `{base}/wday/cxs/{tenant}/{site}/jobs`, keeping any path prefix `base` has.
pub fn jobs_url(base: &Url, target: &Target) -> Url {
    url_with_path(base, &["wday", "cxs", &target.tenant, &target.site, "jobs"])
}

/// The listing request's JSON body for the page at `offset`.
pub fn jobs_body(offset: u32, keywords: Option<&str>) -> Value {
    json!({
        "limit": PAGE_SIZE,
        "offset": offset,
        "searchText": keywords.unwrap_or_default(),
        "appliedFacets": {},
    })
}

/// `external_path` if it is a path Workday could have sent: absolute, bounded, no query,
/// fragment, backslash, whitespace, `//` or dot segment (so it cannot climb out of the site).
fn checked_path(external_path: &str) -> Option<&str> {
    let ok = external_path.starts_with('/')
        && external_path.len() <= MAX_EXTERNAL_PATH
        && !external_path.contains("//")
        && !external_path
            .chars()
            .any(|c| matches!(c, '?' | '#' | '\\') || c.is_whitespace() || c.is_control())
        && !external_path
            .split('/')
            .any(|segment| segment == "." || segment == "..");
    ok.then_some(external_path)
}

/// `url` with `path` (as Workday wrote it, percent-escapes kept) appended to its path.
fn with_path_appended(mut url: Url, path: &str) -> Url {
    let joined = format!("{}{path}", url.path().trim_end_matches('/'));
    url.set_path(&joined);
    url
}

/// `{base}/wday/cxs/{tenant}/{site}{externalPath}`, or `None` for a path that is not one.
pub fn detail_url(base: &Url, target: &Target, external_path: &str) -> Option<Url> {
    let path = checked_path(external_path)?;
    let prefix = url_with_path(base, &["wday", "cxs", &target.tenant, &target.site]);
    Some(with_path_appended(prefix, path))
}

/// The posting's public page, `{base}/{site}{externalPath}`; on the live base that is the
/// detail's `externalUrl`.
pub fn public_url(base: &Url, target: &Target, external_path: &str) -> Option<Url> {
    let path = checked_path(external_path)?;
    Some(with_path_appended(
        url_with_path(base, &[&target.site]),
        path,
    ))
}

/// The posting's id within its tenant: the requisition id at the end of `externalPath`.
///
/// The path ends `{title slug}_{requisition id}` (`…/Custom-SOC-Intern---2027_JR2024692`),
/// sometimes with a `-N` suffix when a requisition is posted more than once
/// (`…_JR-0105489-1`). The slug follows the title when it is edited, the trailing id does not,
/// so the id is: a `bulletFields` value found right after an underscore at the end of the path
/// (plus its `-N` suffix), which keeps ids with underscores of their own (`REQ_241093`) whole;
/// else what follows the path's last underscore; else the whole last segment.
pub fn posting_id(external_path: &str, bullet_fields: &[String]) -> Option<String> {
    let last = external_path.rsplit('/').next()?.trim();
    if last.is_empty() {
        return None;
    }
    let from_bullet = bullet_fields
        .iter()
        .map(|b| b.trim())
        .filter(|b| !b.is_empty() && !b.contains(char::is_whitespace))
        .filter_map(|b| {
            let at = last.rfind(&format!("_{b}"))?;
            let id = &last[at + 1..];
            let suffix = &id[b.len()..];
            let is_repost = suffix.is_empty()
                || suffix
                    .strip_prefix('-')
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()));
            is_repost.then_some(id)
        })
        .max_by_key(|id| id.len());
    let id = from_bullet
        .or_else(|| {
            last.rsplit_once('_')
                .map(|(_, id)| id)
                .filter(|id| !id.is_empty())
        })
        .unwrap_or(last);
    Some(id.to_owned())
}

/// The stored external id: `{tenant}:{id}`, because requisition ids such as `R12345` repeat
/// across employers.
pub fn external_id(target: &Target, id: &str) -> String {
    format!("{}:{id}", target.tenant)
}

/// The listing's "Posted …" label as a date (midnight UTC) relative to `now`, the time the page
/// was fetched: "Posted Today" is today, "Posted Yesterday" yesterday, "Posted N Days Ago" N days
/// before. Workday stops counting at 30: "Posted 30+ Days Ago" is taken as exactly 30 days ago, a
/// lower bound on the posting's age (the detail's `startDate`, fetched for new postings,
/// replaces it with the exact day). Anything else is `None`.
pub fn parse_posted_on(label: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let lower = label.trim().to_ascii_lowercase();
    let rest = lower.strip_prefix("posted").unwrap_or(&lower).trim();
    let days: i64 = match rest {
        "today" => 0,
        "yesterday" => 1,
        _ => {
            let count = rest
                .strip_suffix("days ago")
                .or_else(|| rest.strip_suffix("day ago"))?
                .trim();
            let count = count.strip_suffix('+').unwrap_or(count);
            if count.is_empty() || count.len() > 4 || !count.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            count.parse().ok()?
        }
    };
    let day = now.date_naive().checked_sub_signed(Duration::days(days))?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// One page of a Workday listing.
#[derive(Debug)]
pub struct JobsPage {
    pub postings: Vec<NormalizedPosting>,
    /// Items on the page, usable or not.
    pub cards: usize,
    /// `total` when the page reports one (a later page may say 0: that is no count).
    pub total: Option<usize>,
    /// Whether the board has postings past this page.
    pub has_more: bool,
}

/// One listing page fetched at `offset`. `base` is the base URL the page came from (postings'
/// public URLs are built on it), `now` the time it was fetched (for "Posted N Days Ago").
pub fn parse_jobs(
    body: &[u8],
    base: &Url,
    target: &Target,
    offset: u32,
    now: DateTime<Utc>,
) -> Result<JobsPage, ParseError> {
    let doc: Value = serde_json::from_slice(body)?;
    let Some(items) = doc.get("jobPostings").and_then(Value::as_array) else {
        // Workday's errors: `{"errorCode": "HTTP_422", "httpStatus": 422, "message": "…"}`.
        let otherwise = match doc.get("errorCode").and_then(Value::as_str) {
            Some(code) => format!("workday answered with error {code}"),
            None => "workday jobs without a `jobPostings` array".to_owned(),
        };
        return Err(ParseError::Shape(describe_unexpected(
            &doc, "workday", &otherwise,
        )));
    };
    let total = doc
        .get("total")
        .and_then(Value::as_u64)
        .filter(|t| *t > 0)
        .map(|t| usize::try_from(t).unwrap_or(usize::MAX));
    let mut postings = Vec::with_capacity(items.len());
    for item in deserialize_each::<Card>(items, "workday jobPostings") {
        let (card, raw) = item?;
        match card.into_posting(raw, base, target, now) {
            Some(posting) => postings.push(posting),
            None => tracing::warn!("workday posting without a usable externalPath skipped"),
        }
    }
    let next = offset as usize + PAGE_SIZE as usize;
    let has_more = !items.is_empty()
        && match total {
            Some(total) => next < total,
            // No count on this page: carry on while pages come back full.
            None => offset > 0 && items.len() >= PAGE_SIZE as usize,
        };
    Ok(JobsPage {
        postings,
        cards: items.len(),
        total,
        has_more,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Card {
    title: Option<String>,
    external_path: Option<String>,
    locations_text: Option<String>,
    posted_on: Option<String>,
    #[serde(default)]
    bullet_fields: Option<Vec<String>>,
    /// Some tenants put these on the card too.
    remote_type: Option<String>,
    time_type: Option<String>,
}

impl Card {
    fn into_posting(
        self,
        raw: &Value,
        base: &Url,
        target: &Target,
        now: DateTime<Utc>,
    ) -> Option<NormalizedPosting> {
        let path = non_empty(self.external_path)?;
        let url = public_url(base, target, &path)?;
        let id = posting_id(&path, self.bullet_fields.as_deref().unwrap_or_default())?;
        Some(NormalizedPosting {
            source: Source::Workday,
            external_id: external_id(target, &id),
            url: url.into(),
            apply_url: None,
            title: self.title.map(|t| t.trim().to_owned()).unwrap_or_default(),
            // The detail's hiring organisation is the company; the tenant is its stable id.
            company: None,
            company_external_id: Some(target.tenant.clone()),
            location: non_empty(self.locations_text)
                .map(|text| location(&text, None))
                .unwrap_or_default(),
            work_type: self.time_type.as_deref().and_then(work_type),
            work_arrangement: arrangement(self.remote_type.as_deref()),
            salary: Salary::default(),
            description_html: None,
            description_text: None,
            classification: None,
            posted_at: self
                .posted_on
                .as_deref()
                .and_then(|label| parse_posted_on(label, now)),
            expires_at: None,
            raw: raw.clone(),
        })
    }
}

/// The `externalPath` a listing posting was read from (kept in its raw JSON).
pub fn external_path(posting: &NormalizedPosting) -> Option<&str> {
    posting.raw.get("externalPath").and_then(Value::as_str)
}

/// Whether `text` is a count of sites ("2 Locations") rather than a place.
fn is_location_count(text: &str) -> bool {
    let lower = text.trim().to_ascii_lowercase();
    lower
        .strip_suffix("locations")
        .or_else(|| lower.strip_suffix("location"))
        .map(str::trim)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// City / region / country from a Workday location label, with `country` (ISO code from the
/// detail's `jobRequisitionLocation`) as the fallback country.
///
/// Tenants write labels in their own order: "Santa Clara, CA" and "Pune, India", but also
/// country first ("US, CA, Santa Clara", "China, Shanghai") or dotted ("USA.VA.Reston"). A label
/// whose first part is a country is read back to front; `raw` stays the label as written.
/// "N Locations" names no place.
pub fn location(text: &str, country: Option<&str>) -> Location {
    let text = text.trim();
    if text.is_empty() || is_location_count(text) {
        return Location {
            country: country.map(str::to_ascii_uppercase),
            ..Location::default()
        };
    }
    let parts: Vec<&str> = if text.contains(',') {
        text.split(',').map(str::trim).collect()
    } else if text.contains('.') && !text.contains(char::is_whitespace) {
        text.split('.').map(str::trim).collect()
    } else {
        vec![text]
    };
    let country_first = parts.len() >= 2
        && parts.iter().all(|p| !p.is_empty())
        && normalize::country_code(parts[0]).is_some()
        && normalize::country_code(parts[parts.len() - 1]).is_none();
    let mut parsed = if country_first {
        let reordered: Vec<&str> = parts.iter().rev().copied().collect();
        normalize::parse_location(&reordered.join(", "), country)
    } else {
        normalize::parse_location(text, country)
    };
    parsed.raw = Some(text.to_owned());
    parsed
}

/// `timeType`: "Full time", "Part time", "Full Time".
fn work_type(label: &str) -> Option<WorkType> {
    normalize::work_type_from_label(label)
}

/// `remoteType`: "Onsite", "Hybrid", "Remote", "Fully Remote", and "Flex" — Workday's name for
/// its own part-office, part-home model, so hybrid.
fn arrangement(remote_type: Option<&str>) -> WorkArrangement {
    match remote_type.map(str::trim) {
        None | Some("") => WorkArrangement::Unknown,
        Some(label) if label.eq_ignore_ascii_case("flex") => WorkArrangement::Hybrid,
        Some(label) => normalize::work_arrangement_from_label(label),
    }
}

/// What a posting's detail adds to its card.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobDetail {
    pub title: Option<String>,
    pub description_html: Option<String>,
    /// `startDate`: the day the posting went up.
    pub posted_at: Option<DateTime<Utc>>,
    pub location: Option<String>,
    /// ISO code of `jobRequisitionLocation.country`.
    pub country: Option<String>,
    pub time_type: Option<String>,
    pub remote_type: Option<String>,
    pub job_req_id: Option<String>,
    pub external_url: Option<String>,
    /// `hiringOrganization.name`: the employing legal entity ("CN05 NVIDIA Shanghai WFOE").
    pub hiring_organization: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DetailDoc {
    job_posting_info: Option<Info>,
    hiring_organization: Option<Named>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    title: Option<String>,
    job_description: Option<String>,
    location: Option<String>,
    start_date: Option<String>,
    time_type: Option<String>,
    remote_type: Option<String>,
    job_req_id: Option<String>,
    external_url: Option<String>,
    job_requisition_location: Option<RequisitionLocation>,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RequisitionLocation {
    country: Option<Country>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Country {
    alpha2_code: Option<String>,
    descriptor: Option<String>,
}

/// A posting's detail (`{jobPostingInfo, hiringOrganization}`).
pub fn parse_job_detail(body: &[u8]) -> Result<JobDetail, ParseError> {
    let doc: Value = serde_json::from_slice(body)?;
    if doc
        .get("jobPostingInfo")
        .is_none_or(|info| !info.is_object())
    {
        return Err(ParseError::Shape(describe_unexpected(
            &doc,
            "workday",
            "workday job without a `jobPostingInfo` object",
        )));
    }
    let detail = DetailDoc::deserialize(&doc)
        .map_err(|e| ParseError::Shape(format!("workday jobPostingInfo: {e}")))?;
    let info = detail
        .job_posting_info
        .expect("checked to be an object above");
    let country = info.job_requisition_location.and_then(|l| l.country);
    Ok(JobDetail {
        title: non_empty(info.title),
        description_html: non_empty(info.job_description),
        posted_at: info
            .start_date
            .as_deref()
            .and_then(normalize::parse_datetime),
        location: non_empty(info.location),
        country: country.and_then(|c| {
            non_empty(c.alpha2_code)
                .filter(|code| code.len() == 2)
                .map(|code| code.to_ascii_uppercase())
                .or_else(|| {
                    c.descriptor
                        .as_deref()
                        .and_then(normalize::country_code)
                        .map(str::to_owned)
                })
        }),
        time_type: non_empty(info.time_type),
        remote_type: non_empty(info.remote_type),
        job_req_id: non_empty(info.job_req_id),
        external_url: non_empty(info.external_url),
        hiring_organization: detail.hiring_organization.and_then(|o| non_empty(o.name)),
    })
}

/// Labels that introduce a pay band in Workday descriptions (US pay-transparency text such as
/// "Primary Location Base Pay Range:  $151,500 USD - $227,300 USD").
const PAY_LABELS: &[&str] = &[
    "pay range",
    "salary range",
    "compensation range",
    "base pay",
];

/// The first pay band the description's text states after a pay label, parsed; `None` when
/// there is none or it does not read as a salary. Looks at one line after the label only.
fn salary_from_description(text: &str) -> Option<Salary> {
    let lower = text.to_ascii_lowercase();
    let at = PAY_LABELS
        .iter()
        .filter_map(|label| lower.find(label).map(|i| i + label.len()))
        .min()?;
    let rest = &text[at..];
    let rest = rest.split_once(':').map_or(rest, |(_, after)| after);
    let line: String = rest
        .trim_start()
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(120)
        .collect();
    let parsed = salary::parse_salary_text(&line, None);
    (parsed.min.is_some() || parsed.max.is_some()).then_some(parsed)
}

/// Merge a detail into its card. What the card already has wins (the engine carries stored
/// details over to later runs' cards the same way, so a re-listing is not a change), except the
/// posting date: the detail's `startDate` is exact where the card's is an estimate.
pub fn apply_detail(posting: &mut NormalizedPosting, detail: JobDetail) {
    apply_description_and_expiry(posting, detail.description_html.as_deref(), None);
    if detail.posted_at.is_some() {
        posting.posted_at = detail.posted_at;
    }
    if posting.title.trim().is_empty()
        && let Some(title) = detail.title
    {
        posting.title = title;
    }
    if posting.company.is_none() {
        posting.company = detail.hiring_organization;
    }
    let from_detail = detail
        .location
        .as_deref()
        .map(|text| location(text, detail.country.as_deref()))
        .or_else(|| {
            detail.country.as_deref().map(|code| Location {
                country: Some(code.to_owned()),
                ..Location::default()
            })
        });
    if let Some(found) = from_detail {
        let card = &mut posting.location;
        if card.raw.is_none() || (card.city.is_none() && found.city.is_some()) {
            *card = Location {
                raw: card.raw.take().or(found.raw),
                ..found
            };
        }
    }
    if posting.work_type.is_none() {
        posting.work_type = detail.time_type.as_deref().and_then(work_type);
    }
    if posting.work_arrangement == WorkArrangement::Unknown {
        posting.work_arrangement = arrangement(detail.remote_type.as_deref());
    }
    let no_salary = posting.salary.text.is_none()
        && posting.salary.min.is_none()
        && posting.salary.max.is_none();
    if no_salary
        && let Some(found) = posting
            .description_text
            .as_deref()
            .and_then(salary_from_description)
    {
        posting.salary = found;
    }
}

/// Workday through the [`JobSource`](super::JobSource) interface.
pub struct Workday;

static SPEC: super::SourceSpec = super::SourceSpec {
    source: Source::Workday,
    name: "Workday",
    description: "Every posting on one Workday career site, 20 a page.",
    params: &[
        super::ParamSpec::required(
            "target",
            "The career site as `<tenant>.wd<N>/<site>`, e.g. `nvidia.wd5/NVIDIAExternalCareerSite` \
             for https://nvidia.wd5.myworkdayjobs.com/NVIDIAExternalCareerSite.",
        ),
        super::ParamSpec::optional("keywords", "Search words (the career site's own search)."),
        super::ParamSpec::MAX_PAGES,
    ],
    requires_one_of: &[],
    default_base_url: Some(BASE_URL_TEMPLATE),
    id_scheme: "`<tenant>:<requisition id>`: the tenant and the requisition id that ends the \
                posting's path (`nvidia:JR2024692`), which survives retitling",
    listing_what: "Workday job search",
    detail_what: "Workday job",
    result_cap: None,
};

/// The run's target; `check_params` accepted it before any run was planned.
fn plan_target(plan: &super::RunPlan) -> Target {
    Target::parse(plan.target()).expect("check_params accepted the target")
}

impl super::JobSource for Workday {
    fn spec(&self) -> &'static super::SourceSpec {
        &SPEC
    }

    fn check_params(
        &self,
        params: &mut crate::model::SearchParams,
    ) -> Result<(), super::ParamError> {
        Target::parse(params.target.as_deref().unwrap_or_default())
            .map(|_| ())
            .map_err(super::ParamError)
    }

    /// `https://{tenant}.wd{N}.myworkdayjobs.com`: the host depends on the target.
    fn default_base(&self, params: &crate::model::SearchParams) -> Option<Url> {
        Target::parse(params.target.as_deref()?)
            .ok()
            .map(|t| t.live_base())
    }

    fn listing_request(&self, plan: &super::RunPlan, page: u32) -> super::SourceRequest {
        let target = plan_target(plan);
        let body = jobs_body(
            page.saturating_mul(PAGE_SIZE),
            plan.params.keywords.as_deref(),
        );
        let options = crate::fetch::RequestOptions::json()
            .with_json_body(&body)
            .expect("a JSON value serialises");
        super::SourceRequest::new(jobs_url(plan.base(), &target), options)
    }

    fn parse_listing(
        &self,
        plan: &super::RunPlan,
        page: u32,
        response: &crate::fetch::FetchedPage,
    ) -> Result<super::Listing, super::SourceError> {
        let page = parse_jobs(
            &response.body,
            plan.base(),
            &plan_target(plan),
            page.saturating_mul(PAGE_SIZE),
            Utc::now(),
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
        let url = detail_url(plan.base(), &plan_target(plan), external_path(posting)?)?;
        Some(super::SourceRequest::new(
            url,
            crate::fetch::RequestOptions::json(),
        ))
    }

    fn apply_detail(
        &self,
        _plan: &super::RunPlan,
        posting: &mut NormalizedPosting,
        response: &crate::fetch::FetchedPage,
    ) -> Result<(), super::SourceError> {
        match parse_job_detail(&response.body) {
            Ok(detail) => apply_detail(posting, detail),
            Err(e) => tracing::warn!(
                url = %crate::fetch::redact_url(&response.url),
                error = %e,
                "Workday job unreadable; keeping the card"
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

    const NVIDIA: &str = "nvidia.wd5/NVIDIAExternalCareerSite";
    const WORKDAY: &str = "workday.wd5/Workday";

    fn target(t: &str) -> Target {
        Target::parse(t).unwrap()
    }

    fn now() -> DateTime<Utc> {
        utc(2026, 9, 22, 8, 30, 0)
    }

    fn parse_page(fixture: &str, t: &str) -> JobsPage {
        let target = target(t);
        parse_jobs(
            &read_fixture(fixture),
            &target.live_base(),
            &target,
            0,
            now(),
        )
        .expect("the fixture parses")
    }

    fn nvidia_page() -> JobsPage {
        parse_page("workday/nvidia_jobs_offset0.json", NVIDIA)
    }

    fn workday_page() -> JobsPage {
        parse_page("workday/workday_jobs_offset0.json", WORKDAY)
    }

    fn nvidia_detail() -> JobDetail {
        parse_job_detail(&read_fixture("workday/nvidia_job_JR2024692.json")).unwrap()
    }

    fn workday_detail() -> JobDetail {
        parse_job_detail(&read_fixture("workday/workday_job_JR-0105486.json")).unwrap()
    }

    // ---- the JobSource --------------------------------------------------------------------

    fn plan(target: &str, keywords: Option<&str>) -> crate::sources::RunPlan {
        use crate::sources::JobSource;
        let params = crate::sources::check_params(
            Source::Workday,
            &crate::model::SearchParams {
                target: Some(format!("  {target} ")),
                keywords: keywords.map(str::to_owned),
                ..Default::default()
            },
            50,
        )
        .expect("valid parameters");
        crate::sources::RunPlan {
            base: Workday.default_base(&params),
            params,
        }
    }

    fn fetched(body: &[u8]) -> crate::fetch::FetchedPage {
        crate::fetch::FetchedPage {
            url: Url::parse("https://nvidia.wd5.myworkdayjobs.com/wday/cxs/x").unwrap(),
            status: 200,
            content_type: Some("application/json".into()),
            body: body.to_vec().into(),
        }
    }

    #[test]
    fn each_page_is_a_json_post_to_the_targets_own_host() {
        use crate::sources::JobSource;
        let plan = plan(NVIDIA, Some("cuda"));
        assert_eq!(
            plan.base().as_str(),
            "https://nvidia.wd5.myworkdayjobs.com/"
        );
        let request = Workday.listing_request(&plan, 2);
        assert_eq!(
            request.url.as_str(),
            "https://nvidia.wd5.myworkdayjobs.com/wday/cxs/nvidia/NVIDIAExternalCareerSite/jobs"
        );
        assert_eq!(request.options.kind, crate::fetch::ResourceKind::Json);
        assert_eq!(
            request.options.method.as_ref().map(|m| m.as_str()),
            Some("POST")
        );
        let body: Value = serde_json::from_slice(request.options.body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"limit": 20, "offset": 40, "searchText": "cuda", "appliedFacets": {}})
        );

        let card = nvidia_page().postings.remove(0);
        let detail = Workday.detail_request(&plan, &card).unwrap();
        assert_eq!(detail.options.method, None, "a GET");
        assert_eq!(
            detail.url.as_str(),
            "https://nvidia.wd5.myworkdayjobs.com/wday/cxs/nvidia/NVIDIAExternalCareerSite\
             /job/China-Shanghai/Custom-SOC-Intern---2027_JR2024692"
        );
        let mut pathless = card.clone();
        pathless.raw = json!({"title": "no path"});
        assert!(Workday.detail_request(&plan, &pathless).is_none());
    }

    #[test]
    fn the_source_reads_pages_and_keeps_the_card_when_a_detail_is_garbage() {
        use crate::sources::JobSource;
        let plan = plan(NVIDIA, None);
        let listing = Workday
            .parse_listing(
                &plan,
                0,
                &fetched(&read_fixture("workday/nvidia_jobs_offset0.json")),
            )
            .unwrap();
        assert_eq!(
            (listing.cards, listing.total, listing.has_more),
            (3, Some(1023), true)
        );
        let mut card = listing.postings[0].clone();
        Workday
            .apply_detail(
                &plan,
                &mut card,
                &fetched(b"<html>Service Unavailable</html>"),
            )
            .expect("an unreadable detail is not the run's failure");
        assert_eq!(card, listing.postings[0]);
        Workday
            .apply_detail(
                &plan,
                &mut card,
                &fetched(&read_fixture("workday/nvidia_job_JR2024692.json")),
            )
            .unwrap();
        assert!(card.description_html.is_some());
        let err = Workday
            .parse_listing(&plan, 0, &fetched(b"{\"total\":"))
            .unwrap_err();
        assert!(err.to_string().starts_with("invalid JSON"), "{err}");
    }

    #[test]
    fn runs_without_a_usable_target_are_refused_with_what_to_send() {
        let refused = |target: Option<&str>| {
            crate::sources::check_params(
                Source::Workday,
                &crate::model::SearchParams {
                    target: target.map(str::to_owned),
                    ..Default::default()
                },
                50,
            )
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            refused(None),
            "workday needs `target`: the career site as `<tenant>.wd<N>/<site>`, e.g. \
             `nvidia.wd5/NVIDIAExternalCareerSite` for \
             https://nvidia.wd5.myworkdayjobs.com/NVIDIAExternalCareerSite"
        );
        assert!(refused(Some("nvidia")).ends_with("got `nvidia`"));
    }

    // ---- target -------------------------------------------------------------------------

    #[test]
    fn a_target_names_tenant_data_centre_and_site() {
        let t = target(NVIDIA);
        assert_eq!(
            t,
            Target {
                tenant: "nvidia".into(),
                data_centre: 5,
                site: "NVIDIAExternalCareerSite".into()
            }
        );
        assert_eq!(
            t.live_base().as_str(),
            "https://nvidia.wd5.myworkdayjobs.com/"
        );
        assert_eq!(
            target("barclays.wd3/External_Career_Site_Barclays").data_centre,
            3
        );
        assert_eq!(
            target("salesforce.wd12/External_Career_Site").data_centre,
            12
        );
    }

    #[test]
    fn malformed_targets_are_refused_with_the_expected_shape() {
        for bad in [
            "nvidia",
            "nvidia/NVIDIAExternalCareerSite",
            "nvidia.wd/Site",
            "nvidia.wdX/Site",
            "nvidia.wd0/Site",
            "nvidia.wd5/",
            ".wd5/Site",
            "nvidia.wd5/Site/job",
            "nvidia.wd5/Site?x=1",
            "nvi dia.wd5/Site",
            "nvidia.wd1234/Site",
        ] {
            let err = Target::parse(bad).unwrap_err();
            assert!(
                err.contains("`<tenant>.wd<N>/<site>`") && err.contains(bad),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_pasted_career_site_url_gets_the_target_to_send_instead() {
        let err = Target::parse(
            "https://nvidia.wd5.myworkdayjobs.com/en-US/NVIDIAExternalCareerSite/details/x_JR1",
        )
        .unwrap_err();
        assert!(
            err.ends_with("send `nvidia.wd5/NVIDIAExternalCareerSite`"),
            "{err}"
        );
        let err = Target::parse("workday.wd5.myworkdayjobs.com/Workday").unwrap_err();
        assert!(err.ends_with("send `workday.wd5/Workday`"), "{err}");
    }

    // ---- requests -----------------------------------------------------------------------

    #[test]
    fn the_listing_is_a_post_to_the_cxs_jobs_path_with_offset_and_search_text() {
        let t = target(NVIDIA);
        assert_eq!(
            jobs_url(&t.live_base(), &t).as_str(),
            "https://nvidia.wd5.myworkdayjobs.com/wday/cxs/nvidia/NVIDIAExternalCareerSite/jobs"
        );
        let base = Url::parse("http://127.0.0.1:8080/mock/").unwrap();
        assert_eq!(
            jobs_url(&base, &t).as_str(),
            "http://127.0.0.1:8080/mock/wday/cxs/nvidia/NVIDIAExternalCareerSite/jobs"
        );
        assert_eq!(
            jobs_body(40, Some("cuda engineer")),
            json!({"limit": 20, "offset": 40, "searchText": "cuda engineer", "appliedFacets": {}})
        );
        assert_eq!(jobs_body(0, None)["searchText"], "");
    }

    #[test]
    fn the_detail_and_public_urls_follow_the_external_path_as_written() {
        let t = target(NVIDIA);
        let base = t.live_base();
        let path = "/job/China-Shanghai/Custom-SOC-Intern---2027_JR2024692";
        assert_eq!(
            detail_url(&base, &t, path).unwrap().as_str(),
            "https://nvidia.wd5.myworkdayjobs.com/wday/cxs/nvidia/NVIDIAExternalCareerSite\
             /job/China-Shanghai/Custom-SOC-Intern---2027_JR2024692"
        );
        assert_eq!(
            public_url(&base, &t, path).unwrap().as_str(),
            nvidia_detail().external_url.unwrap(),
            "the public URL is the detail's externalUrl"
        );
        // Percent-escapes Workday put in a path stay as they are.
        let escaped = "/job/Fullerton%2C-CA/Sr-Quality-Engineer_REQ-1000031428";
        assert!(
            detail_url(&base, &t, escaped)
                .unwrap()
                .as_str()
                .ends_with("/job/Fullerton%2C-CA/Sr-Quality-Engineer_REQ-1000031428")
        );
    }

    #[test]
    fn paths_that_could_leave_the_site_are_refused() {
        let t = target(NVIDIA);
        let base = t.live_base();
        for bad in [
            "job/relative",
            "/job/../../../admin",
            "/job/./x",
            "//evil.example/job",
            "/job/x?y=1",
            "/job/x#y",
            "/job/a b",
            "/job\\x",
            "",
        ] {
            assert_eq!(detail_url(&base, &t, bad), None, "{bad:?}");
            assert_eq!(public_url(&base, &t, bad), None, "{bad:?}");
        }
        let long = format!("/job/{}", "a".repeat(MAX_EXTERNAL_PATH));
        assert_eq!(detail_url(&base, &t, &long), None);
    }

    // ---- ids ----------------------------------------------------------------------------

    #[test]
    fn the_id_is_the_requisition_id_ending_the_path() {
        let bullets = |b: &[&str]| b.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            posting_id(
                "/job/China-Shanghai/Custom-SOC-Intern---2027_JR2024692",
                &bullets(&["JR2024692"])
            )
            .as_deref(),
            Some("JR2024692")
        );
        // A re-posted requisition keeps its suffix, so the two postings stay apart.
        assert_eq!(
            posting_id(
                "/job/USAVAReston/Analytics-Sr-Software-Engineer--US-Federal-_JR-0105489-1",
                &bullets(&["JR-0105489"])
            )
            .as_deref(),
            Some("JR-0105489-1")
        );
        // An id with an underscore of its own, bullets in another order (a real tenant's).
        assert_eq!(
            posting_id(
                "/job/ACM---Drugscan/Laboratory-Scientist-I_REQ_241093",
                &bullets(&["ACM - Drugscan", "19044", "REQ_241093", "Horsham"])
            )
            .as_deref(),
            Some("REQ_241093")
        );
        // Without bullets: what follows the last underscore, else the whole segment.
        assert_eq!(
            posting_id("/job/Remote/Senior-Engineer_R1", &[]).as_deref(),
            Some("R1")
        );
        assert_eq!(
            posting_id("/job/Remote/Senior-Engineer", &[]).as_deref(),
            Some("Senior-Engineer")
        );
        assert_eq!(posting_id("/job/x/", &[]), None);
    }

    #[test]
    fn the_id_survives_a_retitled_posting() {
        let before = posting_id("/job/US/Old-Title_JR1", &["JR1".into()]);
        let after = posting_id("/job/US/New-Title_JR1", &["JR1".into()]);
        assert_eq!(before, after);
    }

    // ---- posted dates -------------------------------------------------------------------

    #[test]
    fn posted_labels_become_days_before_the_fetch() {
        let day = |d| Some(utc(2026, 9, d, 0, 0, 0));
        assert_eq!(parse_posted_on("Posted Today", now()), day(22));
        assert_eq!(parse_posted_on("Posted Yesterday", now()), day(21));
        assert_eq!(parse_posted_on("Posted 6 Days Ago", now()), day(16));
        assert_eq!(parse_posted_on("Posted 1 Day Ago", now()), day(21));
        assert_eq!(parse_posted_on("  posted 2 days ago ", now()), day(20));
        assert_eq!(
            parse_posted_on("Posted 30+ Days Ago", now()),
            Some(utc(2026, 8, 23, 0, 0, 0)),
            "30+ is read as 30"
        );
        for junk in [
            "",
            "Posted",
            "Posted Recently",
            "Posted -3 Days Ago",
            "Posted 99999999999 Days Ago",
            "Posted x Days Ago",
            "2026-09-16",
        ] {
            assert_eq!(parse_posted_on(junk, now()), None, "{junk:?}");
        }
    }

    // ---- listing ------------------------------------------------------------------------

    #[test]
    fn every_card_becomes_a_posting_with_its_tenant_scoped_id_and_public_url() {
        let page = nvidia_page();
        assert_eq!(page.cards, 3);
        assert_eq!(page.total, Some(1023));
        let ids: Vec<&str> = page
            .postings
            .iter()
            .map(|p| p.external_id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["nvidia:JR2024692", "nvidia:JR2012398", "nvidia:JR2017522"]
        );
        let p = &page.postings[0];
        assert_eq!(p.source, Source::Workday);
        assert_eq!(p.title, "Custom SOC Intern - 2027");
        assert_eq!(
            p.url,
            "https://nvidia.wd5.myworkdayjobs.com/NVIDIAExternalCareerSite/job/China-Shanghai/Custom-SOC-Intern---2027_JR2024692"
        );
        assert_eq!(p.company, None, "the detail names the company");
        assert_eq!(p.company_external_id.as_deref(), Some("nvidia"));
        assert_eq!(p.posted_at, Some(utc(2026, 9, 16, 0, 0, 0)), "6 days ago");
        assert_eq!(
            page.postings[1].posted_at,
            Some(utc(2026, 8, 23, 0, 0, 0)),
            "30+ days ago"
        );
        assert_eq!(
            p.raw["externalPath"],
            "/job/China-Shanghai/Custom-SOC-Intern---2027_JR2024692"
        );
        assert_eq!(
            external_path(p),
            Some("/job/China-Shanghai/Custom-SOC-Intern---2027_JR2024692")
        );
    }

    #[test]
    fn country_first_labels_are_read_back_to_front() {
        let page = nvidia_page();
        let santa_clara = &page.postings[1].location;
        assert_eq!(santa_clara.raw.as_deref(), Some("US, CA, Santa Clara"));
        assert_eq!(santa_clara.city.as_deref(), Some("Santa Clara"));
        assert_eq!(santa_clara.region.as_deref(), Some("CA"));
        assert_eq!(santa_clara.country.as_deref(), Some("US"));
        let shanghai = &page.postings[0].location;
        assert_eq!(shanghai.raw.as_deref(), Some("China, Shanghai"));
        assert_eq!(shanghai.country.as_deref(), Some("CN"));

        let reston = &workday_page().postings[0].location;
        assert_eq!(reston.raw.as_deref(), Some("USA.VA.Reston"));
        assert_eq!(reston.city.as_deref(), Some("Reston"));
        assert_eq!(reston.region.as_deref(), Some("VA"));
        assert_eq!(reston.country.as_deref(), Some("US"));
    }

    #[test]
    fn a_count_of_locations_is_no_location() {
        assert_eq!(location("2 Locations", None), Location::default());
        assert_eq!(
            location("5 Locations", Some("us")).country.as_deref(),
            Some("US")
        );
        let plain = location("Pune, India", None);
        assert_eq!(plain.city.as_deref(), Some("Pune"));
        assert_eq!(plain.country.as_deref(), Some("IN"));
    }

    #[test]
    fn a_cards_remote_type_and_time_type_are_read_when_the_tenant_sends_them() {
        let page = workday_page();
        assert_eq!(page.postings[0].work_arrangement, WorkArrangement::OnSite);
        assert_eq!(
            posting_with_id(&page.postings, "workday:JR-0105494").work_arrangement,
            WorkArrangement::Hybrid,
            "Flex"
        );
        assert_eq!(
            page.postings[0].work_type, None,
            "not on this tenant's cards"
        );
        let mut doc: Value =
            serde_json::from_slice(&read_fixture("workday/workday_jobs_offset0.json")).unwrap();
        doc["jobPostings"][0]["timeType"] = "Part time".into();
        let t = target(WORKDAY);
        let page = parse_jobs(doc.to_string().as_bytes(), &t.live_base(), &t, 0, now()).unwrap();
        assert_eq!(page.postings[0].work_type, Some(WorkType::PartTime));
    }

    #[test]
    fn the_retitled_card_keeps_its_own_title_and_path_id() {
        let page = workday_page();
        let p = &page.postings[0];
        assert_eq!(p.external_id, "workday:JR-0105489-1");
        assert_eq!(p.title, "Sr Site Reliability Engineer (US Federal)");
        assert_eq!(page.postings.len(), 4);
    }

    #[test]
    fn pages_go_on_while_the_offset_is_below_the_total() {
        let t = target(NVIDIA);
        let base = t.live_base();
        let page = |total: Value, items: usize, offset: u32| {
            let card = json!({"title": "T", "externalPath": "/job/X/T_R1", "bulletFields": ["R1"]});
            let doc = json!({"total": total, "jobPostings": vec![card; items]});
            parse_jobs(doc.to_string().as_bytes(), &base, &t, offset, now()).unwrap()
        };
        assert!(page(json!(1023), 3, 0).has_more, "1023 postings, 20 a page");
        assert!(page(json!(41), 20, 20).has_more, "offset 40 < 41");
        assert!(!page(json!(40), 20, 20).has_more, "offset 40 = total");
        assert!(
            !page(json!(3), 3, 0).has_more,
            "the whole board on one page"
        );
        assert!(
            !page(json!(1023), 0, 60).has_more,
            "an empty page ends the board"
        );
        let uncounted = page(json!(0), 20, 20);
        assert_eq!(
            uncounted.total, None,
            "a later page's total of 0 is no count"
        );
        assert!(
            uncounted.has_more,
            "a full page without a count may have a successor"
        );
        assert!(!page(json!(0), 7, 20).has_more);
    }

    #[test]
    fn cards_without_a_usable_path_are_counted_but_not_stored() {
        let t = target(NVIDIA);
        let doc = json!({"total": 3, "jobPostings": [
            {"title": "No path"},
            {"title": "Climbs out", "externalPath": "/job/../../admin_R9"},
            {"title": "Fine", "externalPath": "/job/X/Fine_R1", "bulletFields": ["R1"]},
        ]});
        let page = parse_jobs(doc.to_string().as_bytes(), &t.live_base(), &t, 0, now()).unwrap();
        assert_eq!(page.cards, 3);
        let ids: Vec<&str> = page
            .postings
            .iter()
            .map(|p| p.external_id.as_str())
            .collect();
        assert_eq!(ids, ["nvidia:R1"]);
    }

    #[test]
    fn raw_is_the_cards_own_json() {
        let doc: Value =
            serde_json::from_slice(&read_fixture("workday/nvidia_jobs_offset0.json")).unwrap();
        assert_eq!(nvidia_page().postings[2].raw, doc["jobPostings"][2]);
    }

    #[test]
    fn broken_listings_are_errors_that_say_what_was_wrong() {
        let t = target(NVIDIA);
        let base = t.live_base();
        let body = read_fixture("workday/nvidia_jobs_offset0.json");
        match parse_jobs(&body[..body.len() / 2], &base, &t, 0, now()).unwrap_err() {
            ParseError::Json { line, column, .. } => assert!(line > 1 && column > 0),
            other => panic!("expected a JSON error, got {other:?}"),
        }
        let err = parse_jobs(
            br#"{"errorCode":"HTTP_422","errorCaseId":"FD2AB6MJHOL9G3","httpStatus":422,"message":""}"#,
            &base,
            &t,
            0,
            now(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected response shape: workday answered with error HTTP_422"
        );
        let err = parse_jobs(br#"{"total":1}"#, &base, &t, 0, now()).unwrap_err();
        assert!(err.to_string().contains("`jobPostings`"), "{err}");
        let err = parse_jobs(br#"{"jobPostings":[{"title":7}]}"#, &base, &t, 0, now()).unwrap_err();
        assert!(err.to_string().contains("jobPostings[0]"), "{err}");
    }

    // ---- detail -------------------------------------------------------------------------

    #[test]
    fn the_detail_gives_description_exact_date_company_and_requisition_country() {
        let d = nvidia_detail();
        assert_eq!(d.posted_at, Some(utc(2026, 9, 16, 0, 0, 0)));
        assert_eq!(d.country.as_deref(), Some("CN"));
        assert_eq!(d.location.as_deref(), Some("China, Shanghai"));
        assert_eq!(d.time_type.as_deref(), Some("Full time"));
        assert_eq!(d.job_req_id.as_deref(), Some("JR2024692"));
        assert_eq!(
            d.hiring_organization.as_deref(),
            Some("CN05 NVIDIA Shanghai WFOE")
        );
        assert_eq!(d.remote_type, None);
        assert!(
            d.description_html
                .unwrap()
                .starts_with("<p>NVIDIA NVLink™ Fusion")
        );
    }

    #[test]
    fn applying_a_detail_fills_what_the_card_lacks_and_dates_it_exactly() {
        let mut p = nvidia_page().postings.remove(0);
        apply_detail(&mut p, nvidia_detail());
        assert_eq!(p.company.as_deref(), Some("CN05 NVIDIA Shanghai WFOE"));
        assert_eq!(p.work_type, Some(WorkType::FullTime));
        assert_eq!(p.posted_at, Some(utc(2026, 9, 16, 0, 0, 0)));
        let html = p.description_html.as_deref().unwrap();
        assert!(html.contains("<b>What you’ll be doing:</b>"), "{html}");
        let text = p.description_text.as_deref().unwrap();
        assert!(text.contains("Basic C/C++ knowledge is a must"), "{text}");
        assert!(!text.contains('<'));
        assert_eq!(p.salary, Salary::default(), "no pay in this ad");
        assert_eq!(p.title, "Custom SOC Intern - 2027");
    }

    #[test]
    fn the_detail_locates_a_multi_site_card() {
        let mut p = nvidia_page().postings.remove(1);
        p.location = location("2 Locations", None);
        apply_detail(&mut p, nvidia_detail());
        assert_eq!(p.location.raw.as_deref(), Some("China, Shanghai"));
        assert_eq!(p.location.country.as_deref(), Some("CN"));
    }

    #[test]
    fn what_the_card_says_wins_over_the_detail() {
        let mut p = workday_page()
            .postings
            .into_iter()
            .find(|p| p.external_id == "workday:JR-0105486")
            .unwrap();
        p.work_arrangement = WorkArrangement::Remote;
        let card_location = p.location.clone();
        apply_detail(&mut p, workday_detail());
        assert_eq!(p.work_arrangement, WorkArrangement::Remote);
        assert_eq!(p.location, card_location);
        assert_eq!(p.company.as_deref(), Some("Workday Government, LLC"));
        assert_eq!(p.work_type, Some(WorkType::FullTime), "\"Full Time\"");
    }

    #[test]
    fn a_pay_band_in_the_description_becomes_a_parsed_salary() {
        let mut p = workday_page()
            .postings
            .into_iter()
            .find(|p| p.external_id == "workday:JR-0105486")
            .unwrap();
        apply_detail(&mut p, workday_detail());
        let s = &p.salary;
        assert_eq!(s.min, Some(151_500.0), "{s:?}");
        assert_eq!(s.max, Some(227_300.0));
        assert_eq!(s.currency.as_deref(), Some("USD"));
        assert_eq!(s.period, Some(SalaryPeriod::Year));
        assert_eq!(s.source, Some(SalarySource::Parsed));
        assert_eq!(s.text.as_deref(), Some("$151,500 USD - $227,300 USD"));
    }

    #[test]
    fn pay_text_is_looked_for_on_one_line_after_a_label_only() {
        assert_eq!(
            salary_from_description("We pay well. $100,000 - $120,000"),
            None
        );
        assert_eq!(salary_from_description("Pay range: competitive"), None);
        let s = salary_from_description("Hourly pay range:\n$30 - $40 per hour\nmore").unwrap();
        assert_eq!((s.min, s.max), (Some(30.0), Some(40.0)));
        assert_eq!(s.period, Some(SalaryPeriod::Hour));
    }

    #[test]
    fn broken_details_are_errors() {
        let body = read_fixture("workday/nvidia_job_JR2024692.json");
        assert!(matches!(
            parse_job_detail(&body[..100]).unwrap_err(),
            ParseError::Json { .. }
        ));
        let err = parse_job_detail(br#"{"userAuthenticated":false}"#).unwrap_err();
        assert!(err.to_string().contains("`jobPostingInfo`"), "{err}");
        let err = parse_job_detail(br#"{"jobPostingInfo":{"jobDescription":["x"]}}"#).unwrap_err();
        assert!(err.to_string().contains("jobPostingInfo"), "{err}");
    }
}

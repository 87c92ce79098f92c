//! Job sources behind one interface, [`JobSource`], and one [`registry`].
//!
//! A source says what it is ([`SourceSpec`]: its parameters and their checks, its live host, its
//! id scheme), which requests a run makes ([`JobSource::listing_request`],
//! [`JobSource::detail_request`]) and how it reads the answers ([`JobSource::parse_listing`],
//! [`JobSource::apply_detail`]). Everything else is shared and lives elsewhere: fetching,
//! politeness and SSRF checks in [`crate::fetch`], the run loop (pagination, dedupe within a run,
//! details for new postings only, one transaction per stored page) in [`crate::engine`], the
//! `sources` query, `JOBINTEL_<SOURCE>_BASE_URL` settings and CLI help in the API.
//!
//! Adding a source: its module here, its fixtures and tests, one [`Source`] variant and one line
//! in [`registry`] (an exhaustive `match`: a variant without a source does not compile). The
//! import-only variants (LinkedIn, Glassdoor, … from JobSpy CSVs) are listed there as `None`:
//! [`check_params`] refuses them, so no run or schedule can be created for one.

use url::Url;

use crate::fetch::{FetchedPage, RequestOptions};
use crate::model::{NormalizedPosting, SearchParams, Source};

pub mod ashby;
mod common;
pub mod embedded_json;
pub mod greenhouse;
pub(crate) mod html_scan;
pub mod indeed;
pub mod jsonld;
pub mod lever;
pub mod mojibake;
pub mod personio;
pub mod recruitee;
pub mod seek;
pub mod smartrecruiters;
pub mod workday;

/// The source that scrapes `source`; `None` for the import-only sources (boards whose postings
/// only arrive through `jobintel import`), which no run or schedule can use.
pub fn registry(source: Source) -> Option<&'static dyn JobSource> {
    Some(match source {
        Source::Seek => &seek::Seek,
        Source::Indeed => &indeed::Indeed,
        Source::Greenhouse => &greenhouse::Greenhouse,
        Source::Lever => &lever::Lever,
        Source::Ashby => &ashby::Ashby,
        Source::Jsonld => &jsonld::JsonLd,
        Source::Workday => &workday::Workday,
        Source::SmartRecruiters => &smartrecruiters::SmartRecruiters,
        Source::Recruitee => &recruitee::Recruitee,
        Source::Personio => &personio::Personio,
        Source::Linkedin
        | Source::Glassdoor
        | Source::Google
        | Source::ZipRecruiter
        | Source::Bayt
        | Source::Naukri
        | Source::Bdjobs => return None,
    })
}

/// Whether `source` only arrives through `jobintel import` (no scraper, never scheduled).
pub fn is_import_only(source: Source) -> bool {
    registry(source).is_none()
}

/// Every source that can be scraped, in [`Source::ALL`] order.
pub fn all() -> impl Iterator<Item = &'static dyn JobSource> {
    Source::ALL.iter().filter_map(|s| registry(*s))
}

/// One parameter a source accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    /// The name clients send: `keywords`, `location`, `target`, `country` or `maxPages`.
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
    /// The only values accepted (case-insensitive); empty when any value is.
    pub allowed_values: &'static [&'static str],
}

impl ParamSpec {
    /// An optional parameter that takes any value.
    pub const fn optional(name: &'static str, description: &'static str) -> Self {
        ParamSpec {
            name,
            description,
            required: false,
            allowed_values: &[],
        }
    }

    /// A parameter every run must give.
    pub const fn required(name: &'static str, description: &'static str) -> Self {
        ParamSpec {
            name,
            description,
            required: true,
            allowed_values: &[],
        }
    }

    /// `maxPages`, which every paged source takes.
    pub const MAX_PAGES: ParamSpec =
        ParamSpec::optional("maxPages", "Most result pages to fetch (1–50).");

    /// This parameter's value in `params`, as given.
    pub fn value(&self, params: &SearchParams) -> Option<String> {
        match self.name {
            "keywords" => params.keywords.clone(),
            "location" => params.location.clone(),
            "target" => params.target.clone(),
            "country" => params.country.clone(),
            "maxPages" => params.max_pages.map(|n| n.to_string()),
            _ => None,
        }
    }
}

/// What a source is: everything about it that is not code.
#[derive(Debug, Clone, Copy)]
pub struct SourceSpec {
    pub source: Source,
    /// Display name (`SEEK`).
    pub name: &'static str,
    /// One line for the `sources` query and CLI help.
    pub description: &'static str,
    pub params: &'static [ParamSpec],
    /// At least one of these parameters must be given (empty when there is no such rule).
    pub requires_one_of: &'static [&'static str],
    /// The live host (for documentation, and parsed by the default [`JobSource::default_base`]);
    /// a template such as `https://{company}.recruitee.com` when the host depends on the target;
    /// `None` when the `target` URL itself is fetched and there is nothing to override.
    pub default_base_url: Option<&'static str>,
    /// How external ids are formed (ids are stable across runs: they key the upsert).
    pub id_scheme: &'static str,
    /// What a listing response is called in errors ("cannot read SEEK search results from …").
    pub listing_what: &'static str,
    /// What a detail response is called in errors.
    pub detail_what: &'static str,
    /// The most results one query can return, whatever the pages asked for.
    pub result_cap: Option<usize>,
}

impl SourceSpec {
    /// The environment variable that overrides the base URL (`JOBINTEL_SEEK_BASE_URL`), for the
    /// sources that have one.
    pub fn base_url_variable(&self) -> Option<String> {
        self.default_base_url.map(|_| {
            format!(
                "JOBINTEL_{}_BASE_URL",
                self.source.as_str().to_ascii_uppercase()
            )
        })
    }

    /// The command-line flag that overrides the base URL (`--seek-base-url`).
    pub fn base_url_flag(&self) -> Option<String> {
        self.default_base_url
            .map(|_| format!("{}-base-url", self.source.as_str()))
    }
}

/// A run's validated parameters and the base URL its requests go to: the operator's override
/// (`JOBINTEL_<SOURCE>_BASE_URL`: one host for every target, the live site's paths under it)
/// or else [`JobSource::default_base`].
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub params: SearchParams,
    pub base: Option<Url>,
}

impl RunPlan {
    /// The base URL; sources that declare a `default_base_url` always have one.
    pub fn base(&self) -> &Url {
        self.base
            .as_ref()
            .expect("a source with a default base URL always has a base")
    }

    /// `params.target`, which `check_params` made sure is there for sources that need it.
    pub fn target(&self) -> &str {
        self.params.target.as_deref().unwrap_or_default()
    }

    /// `params.country`, or `default`.
    pub fn country_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.params.country.as_deref().unwrap_or(default)
    }
}

/// One request a run makes.
#[derive(Debug, Clone)]
pub struct SourceRequest {
    pub url: Url,
    pub options: RequestOptions,
}

impl SourceRequest {
    pub fn new(url: Url, options: RequestOptions) -> Self {
        SourceRequest { url, options }
    }
}

/// One listing response, read.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub postings: Vec<NormalizedPosting>,
    /// Items on the page before any were dropped; 0 ends the run.
    pub cards: usize,
    /// Whether another page may follow (false for APIs that return a whole board at once).
    pub has_more: bool,
    /// Results the source reports for the whole query, when it does.
    pub total: Option<usize>,
}

impl Listing {
    /// A whole board in one response.
    pub fn whole(postings: Vec<NormalizedPosting>) -> Self {
        Listing {
            cards: postings.len(),
            postings,
            has_more: false,
            total: None,
        }
    }
}

/// Why a response could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The site answered with a bot challenge: the run stops as `blocked`, without retrying.
    #[error("{0}")]
    Blocked(String),
}

/// Why parameters cannot start a run. The message says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

/// A job source. Implementations are stateless unit structs; [`registry`] hands out `'static`
/// references, so a run can move them onto the blocking pool to parse.
pub trait JobSource: Send + Sync + 'static {
    fn spec(&self) -> &'static SourceSpec;

    /// Checks of this source's own after the generic ones (see [`check_params`]), e.g. the
    /// shape of `target`. May normalise `params`.
    fn check_params(&self, params: &mut SearchParams) -> Result<(), ParamError> {
        let _ = params;
        Ok(())
    }

    /// The live base URL for these parameters (default: [`SourceSpec::default_base_url`]).
    fn default_base(&self, params: &SearchParams) -> Option<Url> {
        let _ = params;
        self.spec()
            .default_base_url
            .map(|u| Url::parse(u).expect("built-in base URLs are valid"))
    }

    /// The request for listing page `page` (0-based).
    fn listing_request(&self, plan: &RunPlan, page: u32) -> SourceRequest;

    /// Reads one listing response. Runs on the blocking pool.
    fn parse_listing(
        &self,
        plan: &RunPlan,
        page: u32,
        response: &FetchedPage,
    ) -> Result<Listing, SourceError>;

    /// The detail request for a posting not stored before; `None` when the listing is complete.
    fn detail_request(&self, plan: &RunPlan, posting: &NormalizedPosting) -> Option<SourceRequest> {
        let _ = (plan, posting);
        None
    }

    /// Merges a detail response into `posting`. Runs on the blocking pool. A detail that cannot
    /// be read is logged and leaves the card as it is (`Ok`); `Err(Blocked)` stops the run.
    fn apply_detail(
        &self,
        plan: &RunPlan,
        posting: &mut NormalizedPosting,
        response: &FetchedPage,
    ) -> Result<(), SourceError> {
        let _ = (plan, posting, response);
        Ok(())
    }
}

/// Checks and normalises a run's parameters for `source`: strings trimmed (empty ones dropped),
/// `country` lower-cased, `maxPages` within `1..=max_pages_limit`, the spec's required,
/// allowed-value and one-of rules, then the source's own [`JobSource::check_params`].
pub fn check_params(
    source: Source,
    params: &SearchParams,
    max_pages_limit: u32,
) -> Result<SearchParams, ParamError> {
    let imp = registry(source).ok_or_else(|| {
        ParamError(format!(
            "`{source}` is import-only: jobintel does not scrape it, its postings come from \
             `jobintel import`; choose one of: {}",
            all()
                .map(|s| s.spec().source.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let spec = imp.spec();
    let mut p = params.clone();
    for s in [
        &mut p.keywords,
        &mut p.location,
        &mut p.target,
        &mut p.country,
    ] {
        if let Some(v) = s {
            let t = v.trim();
            *s = (!t.is_empty()).then(|| t.to_owned());
        }
    }
    if let Some(c) = &mut p.country {
        *c = c.to_ascii_lowercase();
    }
    if let Some(n) = p.max_pages
        && (n == 0 || n > max_pages_limit)
    {
        return Err(ParamError(format!(
            "maxPages must be between 1 and {max_pages_limit}, got {n}"
        )));
    }
    for param in spec.params {
        let value = param.value(&p);
        match value {
            None if param.required => {
                return Err(ParamError(format!(
                    "{source} needs `{}`: {}",
                    param.name,
                    as_clause(param.description)
                )));
            }
            Some(v)
                if !param.allowed_values.is_empty()
                    && !param
                        .allowed_values
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(&v)) =>
            {
                return Err(ParamError(format!(
                    "{} {} must be {}, got `{v}`",
                    spec.name,
                    param.name,
                    one_of(param.allowed_values)
                )));
            }
            _ => {}
        }
    }
    if !spec.requires_one_of.is_empty()
        && spec.requires_one_of.iter().all(|name| {
            spec.params
                .iter()
                .any(|ps| ps.name == *name && ps.value(&p).is_none())
        })
    {
        return Err(ParamError(format!(
            "{} needs {} to search for",
            spec.name,
            one_of(spec.requires_one_of)
        )));
    }
    imp.check_params(&mut p)?;
    Ok(p)
}

/// "The board token." as "the board token", to follow a colon mid-sentence.
fn as_clause(description: &str) -> String {
    let d = description.trim_end_matches('.');
    let mut chars = d.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "`a`", "`a` or `b`", "`a`, `b` or `c`".
fn one_of(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Checks shared by sources whose `target` is a board token (`acme` in jobs.lever.co/acme).
pub(crate) fn check_board_token(source: Source, target: &str) -> Result<(), ParamError> {
    if target.contains('/') || target.contains('?') || target.contains(char::is_whitespace) {
        return Err(ParamError(format!(
            "{source} `target` must be a board token, not a URL or path: `{target}`"
        )));
    }
    Ok(())
}

/// A response that could not be understood (truncated JSON, garbage HTML, a changed shape).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("invalid JSON at line {line} column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("unexpected response shape: {0}")]
    Shape(String),
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        // serde_json's Display ends with " at line L column C"; keep only the message.
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        ParseError::Json {
            line: e.line(),
            column: e.column(),
            message,
        }
    }
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    #[test]
    fn every_source_is_registered_under_its_own_variant_with_a_coherent_spec() {
        let known = ["keywords", "location", "target", "country", "maxPages"];
        for source in Source::ALL {
            let Some(imp) = registry(*source) else {
                assert!(is_import_only(*source));
                continue;
            };
            let spec = imp.spec();
            assert_eq!(spec.source, *source, "registry line for {source}");
            assert!(!spec.name.is_empty() && !spec.description.is_empty());
            assert!(!spec.id_scheme.is_empty(), "{source} documents its ids");
            for p in spec.params {
                assert!(
                    known.contains(&p.name),
                    "{source}: unknown parameter {}",
                    p.name
                );
            }
            for name in spec.requires_one_of {
                assert!(
                    spec.params.iter().any(|p| p.name == *name),
                    "{source}: requires_one_of names {name}, which it does not take"
                );
            }
            match spec.default_base_url {
                Some(url) => {
                    let var = spec.base_url_variable().unwrap();
                    assert_eq!(
                        var,
                        format!("JOBINTEL_{}_BASE_URL", source.as_str().to_uppercase())
                    );
                    // A template (per-company hosts) must be replaced by `default_base`.
                    if !url.contains('{') {
                        Url::parse(url).unwrap_or_else(|e| panic!("{source}: {url}: {e}"));
                    }
                }
                None => assert_eq!(spec.base_url_variable(), None),
            }
        }
    }

    #[test]
    fn the_readme_source_table_lists_every_source_and_its_parameters() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"));
        for source in Source::ALL {
            let Some(imp) = registry(*source) else {
                assert!(
                    readme.contains(&format!("`{}`", source.as_str())),
                    "README does not name the import-only source {source}"
                );
                continue;
            };
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", source.as_str())))
                .unwrap_or_else(|| panic!("README has no source table row for {source}"));
            for p in imp.spec().params {
                assert!(
                    row.contains(&format!("`{}`", p.name)),
                    "{source}: {}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn generic_checks_come_from_the_spec() {
        let none = SearchParams::default();
        let err = check_params(Source::Greenhouse, &none, 50).unwrap_err().0;
        assert!(
            err.starts_with("greenhouse needs `target`: the board token"),
            "{err}"
        );
        let err = check_params(Source::Indeed, &none, 50).unwrap_err().0;
        assert_eq!(err, "Indeed needs `keywords` or `location` to search for");
        let nz = SearchParams {
            country: Some(" NZ ".into()),
            ..SearchParams::default()
        };
        assert_eq!(
            check_params(Source::Seek, &nz, 50)
                .unwrap()
                .country
                .as_deref(),
            Some("nz")
        );
        let uk = SearchParams {
            country: Some("uk".into()),
            ..SearchParams::default()
        };
        let err = check_params(Source::Seek, &uk, 50).unwrap_err().0;
        assert_eq!(err, "SEEK country must be `au` or `nz`, got `uk`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}

/// Helpers shared by the parsers' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use chrono::{DateTime, TimeZone, Utc};
    use url::Url;

    use crate::model::NormalizedPosting;

    /// The bytes of `tests/fixtures/{relative}`.
    pub(crate) fn read_fixture(relative: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{relative}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }

    /// The posting with `external_id` `id`; panics when there is none.
    pub(crate) fn posting_with_id<'a>(
        postings: &'a [NormalizedPosting],
        id: &str,
    ) -> &'a NormalizedPosting {
        postings
            .iter()
            .find(|p| p.external_id == id)
            .unwrap_or_else(|| panic!("no posting {id}"))
    }

    pub(crate) fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    /// Asserts that `build(base, name)` is `expected`.
    pub(crate) fn assert_built_url(
        build: fn(&Url, &str) -> Url,
        base: &str,
        name: &str,
        expected: &str,
    ) {
        let base = Url::parse(base).unwrap();
        assert_eq!(build(&base, name).as_str(), expected);
    }
}

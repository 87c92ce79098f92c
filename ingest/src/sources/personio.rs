//! Personio career pages: every published position of a company is one public XML document,
//! `GET https://{company}.jobs.personio.de/xml?language=en` (`language=en`: English where the
//! company wrote an English version; the feed is German by default). No key, no paging.
//!
//! ```xml
//! <workzag-jobs>
//!   <position>
//!     <id>1834171</id><subcompany>…</subcompany><office>Munich</office>
//!     <additionalOffices><office>Berlin</office></additionalOffices>
//!     <department>…</department><recruitingCategory>…</recruitingCategory><name>(title)</name>
//!     <jobDescriptions>
//!       <jobDescription><name>(heading)</name><value><![CDATA[(HTML)]]></value></jobDescription>
//!     </jobDescriptions>
//!     <employmentType>permanent|intern|trainee|freelance</employmentType>
//!     <seniority/><schedule>full-time|part-time|full-or-part-time</schedule>
//!     <yearsOfExperience/><keywords/><occupation/><occupationCategory/>
//!     <createdAt>2024-11-13T14:10:41+00:00</createdAt>
//!   </position>
//! </workzag-jobs>
//! ```
//!
//! The feed has no link per position: the job page is `https://{company}.jobs.personio.de/job/{id}`.
//! It has no salary either.
//!
//! The XML is read with quick-xml's streaming reader, which never expands entities: a document
//! with a DTD is refused outright, the five XML entities and character references are decoded,
//! any other `&name;` is read as the HTML entity of that name (or kept as written). Nesting,
//! positions per feed and text per field are capped, so a hostile feed costs at most a bounded
//! amount of work and memory beyond its own size.

use quick_xml::events::{BytesRef, Event};
use quick_xml::reader::Reader;
use reqwest::header::{ACCEPT, HeaderValue};
use serde_json::{Map, Value};
use url::Url;

use super::common::url_with_path;
use super::{
    JobSource, Listing, ParamError, ParamSpec, ParseError, RunPlan, SourceError, SourceRequest,
    SourceSpec,
};
use crate::fetch::{FetchedPage, RequestOptions};
use crate::model::{
    Location, NormalizedPosting, Salary, SearchParams, Source, WorkArrangement, WorkType,
};
use crate::normalize;

/// The live host, per company: `{company}` is the target.
pub const DEFAULT_BASE_URL_TEMPLATE: &str = "https://{company}.jobs.personio.de";

/// Deepest element nesting accepted (the feed itself is five deep; HTML written as markup inside
/// a `<value>` adds its own levels).
pub const MAX_DEPTH: usize = 64;

/// Most positions one feed may hold (large employers publish a few hundred).
pub const MAX_POSITIONS: usize = 10_000;

/// Most text kept per field; longer text is cut (descriptions are cut again, with a note, by the
/// HTML sanitiser at `normalize::DESCRIPTION_MAX_BYTES`).
pub const MAX_FIELD_BYTES: usize = 1024 * 1024;

/// Most entries kept per list in one position (description blocks, additional offices, other
/// fields); further entries are ignored.
pub const MAX_LIST_ENTRIES: usize = 64;

/// Whether `company` can be a Personio subdomain: one DNS label (ASCII letters, digits and inner
/// hyphens, at most 63 characters).
pub fn is_company_name(company: &str) -> bool {
    !company.is_empty()
        && company.len() <= 63
        && company
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !company.starts_with('-')
        && !company.ends_with('-')
}

/// `https://{company}.jobs.personio.de`, or `None` when `company` is not a subdomain name
/// ([`is_company_name`]). The name is lower-cased: host names are case-insensitive.
pub fn company_base_url(company: &str) -> Option<Url> {
    if !is_company_name(company) {
        return None;
    }
    let host = DEFAULT_BASE_URL_TEMPLATE.replace("{company}", &company.to_ascii_lowercase());
    Url::parse(&host).ok()
}

/// `{base}/xml?language=en`, keeping any path prefix `base` has.
pub fn feed_url(base: &Url) -> Url {
    let mut url = url_with_path(base, &["xml"]);
    url.set_query(Some("language=en"));
    url
}

/// The public job page of position `id`: `https://{company}.jobs.personio.de/job/{id}`, the id
/// percent-encoded as one path segment. Always the live host, whatever base the feed came from.
pub fn job_url(company: &str, id: &str) -> String {
    let host = company_base_url(company)
        .unwrap_or_else(|| Url::parse("https://jobs.personio.de").expect("a valid URL"));
    url_with_path(&host, &["job", id]).to_string()
}

/// Every position of a feed, normalised. `company` is the subdomain the feed was fetched for: the
/// company's stable id, and its name when a position has no `subcompany`.
pub fn parse_feed(body: &[u8], company: &str) -> Result<Vec<NormalizedPosting>, ParseError> {
    let positions = parse_positions(body)?;
    positions
        .into_iter()
        .enumerate()
        .map(|(i, p)| p.into_posting(i, company))
        .collect()
}

/// One `<position>` as read from the feed, before normalisation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// Text of each other child element, by name, in feed order (a child with children of its
    /// own gives `parent.child` entries). The first of a repeated name is the one used.
    pub fields: Vec<(String, String)>,
    /// `<additionalOffices><office>…`
    pub additional_offices: Vec<String>,
    /// `<jobDescriptions><jobDescription><name/><value/>…`: (heading, HTML).
    pub descriptions: Vec<(String, String)>,
}

impl Position {
    /// The trimmed text of child element `name`, `None` when absent or blank.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// Where the text being read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// A child of `<position>` (or a child of such a child: `parent.child`).
    Field,
    AdditionalOffice,
    DescriptionName,
    DescriptionValue,
}

/// The text collected for the element being read, with the depth it started at.
struct Collecting {
    sink: Sink,
    name: String,
    depth: usize,
    text: String,
}

impl Collecting {
    fn new(sink: Sink, name: String, depth: usize) -> Self {
        Collecting {
            sink,
            name,
            depth,
            text: String::new(),
        }
    }

    fn push(&mut self, s: &str) {
        let room = MAX_FIELD_BYTES.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.text.push_str(&s[..end]);
        }
    }
}

/// The reading state: the open elements (at most [`MAX_DEPTH`]), the positions read so far, the
/// one being read and the text being collected.
#[derive(Default)]
struct FeedReader {
    stack: Vec<String>,
    positions: Vec<Position>,
    current: Option<Position>,
    collecting: Option<Collecting>,
    /// A `<jobDescription>` being read: (heading, HTML).
    description: Option<(String, String)>,
    root_seen: bool,
}

impl FeedReader {
    /// An opening tag: `name`, and `tag` (what is between `<` and `>`, for HTML kept as written).
    fn open(&mut self, name: &str, tag: &str) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!(
                "personio feed nested deeper than {MAX_DEPTH} elements"
            ));
        }
        let depth = self.stack.len();
        if let Some(c) = self.collecting.as_mut() {
            if c.sink == Sink::DescriptionValue {
                // HTML written as markup inside a description value: keep it as HTML.
                c.push("<");
                c.push(tag);
                c.push(">");
            } else if c.sink == Sink::Field && c.depth == 2 && depth == 3 {
                // The first child of a field with children (`<salaryInformation><min>…`): each
                // child is kept as its own `parent.child` field.
                let child = format!("{}.{name}", c.name);
                self.collecting = Some(Collecting::new(Sink::Field, child, depth));
            }
            self.stack.push(name.to_owned());
            return Ok(());
        }
        let parent = self.stack.last().map(String::as_str);
        match (depth, parent, name) {
            (0, None, "workzag-jobs") => self.root_seen = true,
            (0, None, other) => {
                return Err(format!(
                    "not a Personio feed: the root element is <{other}>, not <workzag-jobs>"
                ));
            }
            (1, _, "position") => {
                if self.positions.len() >= MAX_POSITIONS {
                    return Err(format!(
                        "personio feed has more than {MAX_POSITIONS} positions"
                    ));
                }
                self.current = Some(Position::default());
            }
            (2, Some("position"), "jobDescriptions" | "additionalOffices") => {}
            (2, Some("position"), field) => {
                self.collecting = Some(Collecting::new(Sink::Field, field.to_owned(), depth));
            }
            (3, Some("jobDescriptions"), "jobDescription") => {
                self.description = Some((String::new(), String::new()));
            }
            (3, Some("additionalOffices"), "office") => {
                self.collecting = Some(Collecting::new(
                    Sink::AdditionalOffice,
                    String::new(),
                    depth,
                ));
            }
            // Later children of a field with children.
            (3, Some(parent), child)
                if self.current.is_some()
                    && self.stack[1] == "position"
                    && !matches!(parent, "jobDescriptions" | "additionalOffices") =>
            {
                self.collecting = Some(Collecting::new(
                    Sink::Field,
                    format!("{parent}.{child}"),
                    depth,
                ));
            }
            (4, Some("jobDescription"), part @ ("name" | "value"))
                if self.description.is_some() =>
            {
                let sink = if part == "name" {
                    Sink::DescriptionName
                } else {
                    Sink::DescriptionValue
                };
                self.collecting = Some(Collecting::new(sink, String::new(), depth));
            }
            _ => {}
        }
        self.stack.push(name.to_owned());
        Ok(())
    }

    /// A closing tag (its name was checked against the opening one by the reader).
    fn close(&mut self, name: &str) -> Result<(), String> {
        if self.stack.pop().is_none() {
            return Err("closing tag without an opening tag".to_owned());
        }
        let depth = self.stack.len();
        if let Some(c) = self.collecting.as_mut()
            && depth > c.depth
        {
            if c.sink == Sink::DescriptionValue {
                c.push("</");
                c.push(name);
                c.push(">");
            }
            return Ok(());
        }
        if let Some(c) = self.collecting.take() {
            finish(c, self.current.as_mut(), self.description.as_mut());
            return Ok(());
        }
        match (depth, name) {
            (1, "position") => self.positions.extend(self.current.take()),
            (3, "jobDescription") => {
                if let (Some(p), Some(d)) = (self.current.as_mut(), self.description.take())
                    && p.descriptions.len() < MAX_LIST_ENTRIES
                {
                    p.descriptions.push(d);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A self-closing tag `<tag/>`: kept as written inside a description value, else an
    /// opening and a closing tag.
    fn empty(&mut self, name: &str, tag: &str) -> Result<(), String> {
        if let Some(c) = self.collecting.as_mut()
            && c.sink == Sink::DescriptionValue
        {
            c.push("<");
            c.push(tag);
            c.push("/>");
            return Ok(());
        }
        self.open(name, tag)?;
        self.close(name)
    }

    fn text(&mut self, s: &str) {
        if let Some(c) = self.collecting.as_mut() {
            c.push(s);
        }
    }
}

/// The positions of a `<workzag-jobs>` feed.
///
/// Errors: XML that is not well-formed, nesting deeper than [`MAX_DEPTH`] and more than
/// [`MAX_POSITIONS`] positions (each with its line and column); a DTD; a root element other than
/// `workzag-jobs`, or none; a document that ends inside an element.
pub fn parse_positions(body: &[u8]) -> Result<Vec<Position>, ParseError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = String::from_utf8_lossy(body);
    let mut reader = Reader::from_str(&text);
    {
        let config = reader.config_mut();
        config.check_end_names = true;
        // Feeds written by hand-rolled exporters carry a bare `&` now and then: keep it as text.
        config.allow_dangling_amp = true;
    }
    let mut feed = FeedReader::default();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| xml_error(&text, reader.error_position(), &e.to_string()))?;
        let done = match event {
            Event::Start(tag) => feed.open(tag.name().as_ref(), &tag),
            Event::End(tag) => feed.close(tag.name().as_ref()),
            Event::Empty(tag) => feed.empty(tag.name().as_ref(), &tag),
            Event::Text(t) => {
                feed.text(&t.xml10_content());
                Ok(())
            }
            Event::CData(t) => {
                feed.text(&t.xml10_content());
                Ok(())
            }
            Event::GeneralRef(r) => {
                feed.text(&resolve_reference(&r));
                Ok(())
            }
            Event::DocType(_) => Err(
                "not a Personio feed: it has a DOCTYPE (DTDs and their entities are not accepted)"
                    .to_owned(),
            ),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => Ok(()),
            Event::Eof => break,
        };
        done.map_err(|message| {
            shape(format!(
                "{message} (at {})",
                line_column(&text, reader.buffer_position())
            ))
        })?;
    }
    if let Some(open) = feed.stack.last() {
        return Err(shape(format!(
            "personio feed ends inside <{open}> (truncated?) at {}",
            line_column(&text, text.len() as u64)
        )));
    }
    if !feed.root_seen {
        return Err(shape(
            "not a Personio feed: no <workzag-jobs> element".to_owned(),
        ));
    }
    Ok(feed.positions)
}

/// Stores a finished element's text where it belongs.
fn finish(
    c: Collecting,
    position: Option<&mut Position>,
    description: Option<&mut (String, String)>,
) {
    match c.sink {
        Sink::Field => {
            if let Some(p) = position
                && p.fields.len() < MAX_LIST_ENTRIES
            {
                p.fields.push((c.name, c.text));
            }
        }
        Sink::AdditionalOffice => {
            if let Some(p) = position
                && p.additional_offices.len() < MAX_LIST_ENTRIES
            {
                let office = c.text.trim();
                if !office.is_empty() {
                    p.additional_offices.push(office.to_owned());
                }
            }
        }
        Sink::DescriptionName => {
            if let Some(d) = description {
                d.0 = c.text;
            }
        }
        Sink::DescriptionValue => {
            if let Some(d) = description {
                d.1 = c.text;
            }
        }
    }
}

/// The text an entity reference stands for. Character references and the five XML entities are
/// decoded; other names are looked up as HTML entities (feeds are HTML-minded: `&ouml;`) and
/// otherwise kept as written. Nothing is ever expanded from a DTD.
fn resolve_reference(r: &BytesRef<'_>) -> String {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) => c.to_string(),
            _ => char::REPLACEMENT_CHARACTER.to_string(),
        };
    }
    match &**r {
        "amp" => "&".to_owned(),
        "lt" => "<".to_owned(),
        "gt" => ">".to_owned(),
        "quot" => "\"".to_owned(),
        "apos" => "'".to_owned(),
        name => normalize::unescape_entities(&format!("&{name};")),
    }
}

fn shape(message: String) -> ParseError {
    ParseError::Shape(message)
}

/// An XML syntax error at byte `offset` of `text`.
fn xml_error(text: &str, offset: u64, message: &str) -> ParseError {
    shape(format!(
        "invalid XML at {}: {message}",
        line_column(text, offset)
    ))
}

/// "line L column C" (both from 1, the column in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: u64) -> String {
    let mut end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    format!("line {line} column {column}")
}

impl Position {
    fn into_posting(self, index: usize, company: &str) -> Result<NormalizedPosting, ParseError> {
        let Some(id) = self.field("id").map(str::to_owned) else {
            return Err(shape(format!("personio position[{index}] has no <id>")));
        };
        let Some(title) = self.field("name").map(str::to_owned) else {
            return Err(shape(format!(
                "personio position[{index}] (id {id}) has no <name>"
            )));
        };
        let office = self.field("office").map(str::to_owned);
        let location = match office.as_deref() {
            Some(office) => normalize::parse_location(office, None),
            None => Location::default(),
        };
        let description_html =
            compose_html(&self.descriptions).map(|html| normalize::sanitize_html(&html));
        let description_text = description_html.as_deref().map(normalize::html_to_text);

        Ok(NormalizedPosting {
            source: Source::Personio,
            url: job_url(company, &id),
            apply_url: None,
            title,
            company: self
                .field("subcompany")
                .map(str::to_owned)
                .or_else(|| Some(company.to_owned())),
            company_external_id: Some(company.to_owned()),
            location,
            work_type: work_type(self.field("employmentType"), self.field("schedule")),
            work_arrangement: office
                .as_deref()
                .map_or(WorkArrangement::Unknown, arrangement_in_office),
            salary: Salary::default(),
            description_html,
            description_text,
            classification: self.field("department").map(str::to_owned),
            posted_at: self.field("createdAt").and_then(normalize::parse_datetime),
            expires_at: None,
            raw: self.raw(),
            external_id: id,
        })
    }

    /// The position as JSON, for `raw`: each field by name (the first of a repeated one), the
    /// additional offices and the description blocks.
    fn raw(&self) -> Value {
        let mut map = Map::new();
        for (name, value) in &self.fields {
            map.entry(name.clone())
                .or_insert_with(|| Value::String(value.trim().to_owned()));
        }
        map.insert(
            "additionalOffices".to_owned(),
            Value::Array(
                self.additional_offices
                    .iter()
                    .map(|o| Value::String(o.clone()))
                    .collect(),
            ),
        );
        map.insert(
            "jobDescriptions".to_owned(),
            Value::Array(
                self.descriptions
                    .iter()
                    .map(|(name, value)| {
                        serde_json::json!({"name": name.trim(), "value": value.trim()})
                    })
                    .collect(),
            ),
        );
        Value::Object(map)
    }
}

/// `employmentType` with `schedule`: `permanent` is full or part time by its schedule
/// (`full-or-part-time` counts as full time), `intern` and `trainee` (a graduate programme) an
/// internship, `freelance` a contract. Without an employment type, the schedule alone.
fn work_type(employment: Option<&str>, schedule: Option<&str>) -> Option<WorkType> {
    let from_schedule = || match schedule.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("full-time" | "full-or-part-time") => Some(WorkType::FullTime),
        Some("part-time") => Some(WorkType::PartTime),
        Some(other) => normalize::work_type_from_label(other),
        None => None,
    };
    match employment.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        Some("permanent") => from_schedule().or(Some(WorkType::FullTime)),
        Some("intern" | "internship" | "trainee" | "working_student" | "werkstudent") => {
            Some(WorkType::Internship)
        }
        Some("freelance") => Some(WorkType::Contract),
        Some(other) => normalize::work_type_from_label(other).or_else(from_schedule),
        None => from_schedule(),
    }
}

/// Offices are names such as "Munich", "Remote Italy" or "Berlin (Remote)": only remote or hybrid
/// wording says anything about the arrangement.
fn arrangement_in_office(office: &str) -> WorkArrangement {
    let lower = office.to_lowercase();
    if lower.contains("hybrid") {
        WorkArrangement::Hybrid
    } else if lower.contains("remote") || lower.contains("home office") {
        WorkArrangement::Remote
    } else {
        WorkArrangement::Unknown
    }
}

/// The description blocks as one HTML document: each block's heading (escaped, as text) then its
/// HTML, as the job page shows them.
fn compose_html(descriptions: &[(String, String)]) -> Option<String> {
    let mut parts = Vec::new();
    for (name, value) in descriptions {
        let (name, value) = (name.trim(), value.trim());
        if value.is_empty() {
            continue;
        }
        let mut part = String::new();
        if !name.is_empty() {
            part.push_str(&format!("<h3>{}</h3>", escape_html(name)));
        }
        part.push_str(value);
        parts.push(part);
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Personio through the [`JobSource`] interface: one request per run, the whole feed.
pub struct Personio;

static SPEC: SourceSpec = SourceSpec {
    source: Source::Personio,
    name: "Personio",
    description: "Every published position on one company's Personio career page (its XML feed).",
    params: &[ParamSpec::required(
        "target",
        "The company's Personio subdomain, e.g. the `acme` in acme.jobs.personio.de.",
    )],
    requires_one_of: &[],
    default_base_url: Some(DEFAULT_BASE_URL_TEMPLATE),
    id_scheme: "Personio's numeric position id",
    listing_what: "Personio feed",
    detail_what: "Personio position",
    result_cap: None,
};

/// What the feed request accepts: the feed is `text/xml`; the API kind's default would ask for
/// JSON, which Personio does not serve.
const ACCEPT_XML: &str = "application/xml, text/xml;q=0.9";

impl JobSource for Personio {
    fn spec(&self) -> &'static SourceSpec {
        &SPEC
    }

    /// The target must be a subdomain name; it is lower-cased, so `Acme` and `acme` are one
    /// company (and one set of ids).
    fn check_params(&self, params: &mut SearchParams) -> Result<(), ParamError> {
        let target = params.target.as_deref().unwrap_or_default();
        if !is_company_name(target) {
            return Err(ParamError(format!(
                "personio `target` must be the company's subdomain (the `acme` in \
                 acme.jobs.personio.de), not a URL or path: `{target}`"
            )));
        }
        params.target = Some(target.to_ascii_lowercase());
        Ok(())
    }

    fn default_base(&self, params: &SearchParams) -> Option<Url> {
        company_base_url(params.target.as_deref().unwrap_or_default())
    }

    /// A machine feed fetched once per run: the API rate (per company host), asking for XML.
    fn listing_request(&self, plan: &RunPlan, _page: u32) -> SourceRequest {
        SourceRequest::new(
            feed_url(plan.base()),
            RequestOptions::json().with_header(ACCEPT, HeaderValue::from_static(ACCEPT_XML)),
        )
    }

    fn parse_listing(
        &self,
        plan: &RunPlan,
        _page: u32,
        response: &FetchedPage,
    ) -> Result<Listing, SourceError> {
        Ok(Listing::whole(parse_feed(&response.body, plan.target())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::test_support::{posting_with_id, read_fixture, utc};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::time::{Duration, Instant};

    const COMPANY: &str = "personio";

    fn fixture() -> Vec<u8> {
        read_fixture("personio/personio_xml_feed_personio_2024-11.xml")
    }

    fn parse_fixture() -> Vec<NormalizedPosting> {
        parse_feed(&fixture(), COMPANY).expect("the fixture parses")
    }

    /// A feed holding `positions` (XML) inside the root element.
    fn feed(positions: &str) -> Vec<u8> {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<workzag-jobs>{positions}</workzag-jobs>"
        )
        .into_bytes()
    }

    fn parse_one(position: &str) -> NormalizedPosting {
        let mut postings = parse_feed(&feed(position), COMPANY).unwrap();
        assert_eq!(postings.len(), 1);
        postings.remove(0)
    }

    fn shape_error(body: &[u8]) -> String {
        match parse_positions(body) {
            Err(ParseError::Shape(message)) => message,
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    fn plan(target: &str) -> RunPlan {
        let params = crate::sources::check_params(
            Source::Personio,
            &SearchParams {
                target: Some(target.to_owned()),
                ..SearchParams::default()
            },
            50,
        )
        .expect("valid parameters");
        RunPlan {
            base: Personio.default_base(&params),
            params,
        }
    }

    #[test]
    fn a_run_asks_the_companys_own_host_for_xml_at_the_api_rate() {
        let plan = plan(" Personio ");
        assert_eq!(plan.target(), COMPANY, "trimmed and lower-cased");
        let request = Personio.listing_request(&plan, 0);
        assert_eq!(
            request.url.as_str(),
            "https://personio.jobs.personio.de/xml?language=en"
        );
        assert_eq!(request.options.kind, crate::fetch::ResourceKind::Json);
        assert_eq!(
            request.options.headers.get(ACCEPT).unwrap(),
            "application/xml, text/xml;q=0.9"
        );
        assert_eq!(request.options.method, None, "a GET");
    }

    #[test]
    fn a_target_that_is_not_a_subdomain_is_refused_with_what_to_send() {
        for bad in [
            "https://acme.jobs.personio.de/xml",
            "acme.jobs.personio.de",
            "a/b",
            "a b",
        ] {
            let err = crate::sources::check_params(
                Source::Personio,
                &SearchParams {
                    target: Some(bad.to_owned()),
                    ..SearchParams::default()
                },
                50,
            )
            .unwrap_err();
            assert!(err.0.contains("acme.jobs.personio.de"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_listing_is_the_whole_feed() {
        let plan = plan(COMPANY);
        let response = FetchedPage {
            url: feed_url(plan.base()),
            status: 200,
            content_type: Some("text/xml; charset=UTF-8".to_owned()),
            body: fixture().into(),
        };
        let listing = Personio.parse_listing(&plan, 0, &response).unwrap();
        assert_eq!((listing.cards, listing.has_more), (2, false));
    }

    #[test]
    fn the_live_base_is_the_companys_subdomain() {
        assert_eq!(
            company_base_url("Personio").unwrap().as_str(),
            "https://personio.jobs.personio.de/"
        );
        for bad in [
            "",
            "a.b",
            "evil.example.com/x?",
            "a b",
            "-x",
            "x-",
            &"a".repeat(64),
        ] {
            assert_eq!(company_base_url(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn feed_url_is_the_live_path_in_english() {
        let base = company_base_url(COMPANY).unwrap();
        assert_eq!(
            feed_url(&base).as_str(),
            "https://personio.jobs.personio.de/xml?language=en"
        );
    }

    #[test]
    fn feed_url_keeps_an_override_hosts_path_prefix() {
        let base = Url::parse("http://127.0.0.1:4000/mock/personio/?x=1").unwrap();
        assert_eq!(
            feed_url(&base).as_str(),
            "http://127.0.0.1:4000/mock/personio/xml?language=en"
        );
    }

    #[test]
    fn the_job_page_is_built_from_the_company_and_the_encoded_id() {
        assert_eq!(
            job_url(COMPANY, "1834171"),
            "https://personio.jobs.personio.de/job/1834171"
        );
        assert_eq!(
            job_url(COMPANY, "1/../x?y"),
            "https://personio.jobs.personio.de/job/1%2F..%2Fx%3Fy"
        );
    }

    #[test]
    fn every_position_keeps_its_id_title_and_job_page() {
        let postings = parse_fixture();
        assert_eq!(
            postings
                .iter()
                .map(|p| p.external_id.as_str())
                .collect::<Vec<_>>(),
            ["1834171", "4103"]
        );
        let p = posting_with_id(&postings, "1834171");
        assert_eq!(p.source, Source::Personio);
        assert_eq!(p.title, "Staff Software Engineer, Data Platform");
        assert_eq!(p.url, "https://personio.jobs.personio.de/job/1834171");
        assert_eq!(p.apply_url, None);
        assert_eq!(
            posting_with_id(&postings, "4103").title,
            "Office- und Feelgood Manager (m/w)"
        );
    }

    #[test]
    fn the_subcompany_is_the_company_else_the_subdomain() {
        let postings = parse_fixture();
        assert_eq!(postings[0].company.as_deref(), Some("Personio SE & Co. KG"));
        assert_eq!(postings[1].company.as_deref(), Some(COMPANY));
        assert!(
            postings
                .iter()
                .all(|p| p.company_external_id.as_deref() == Some(COMPANY))
        );
    }

    #[test]
    fn the_office_is_the_raw_location() {
        let postings = parse_fixture();
        assert_eq!(postings[0].location.raw.as_deref(), Some("Munich"));
        assert_eq!(postings[0].location.city.as_deref(), Some("Munich"));
        assert_eq!(
            postings[0].location.country, None,
            "the feed names no country"
        );
        let p = parse_one(
            "<position><id>1</id><name>A</name><office>Berlin, Germany</office></position>",
        );
        assert_eq!(p.location.raw.as_deref(), Some("Berlin, Germany"));
        assert_eq!(p.location.country.as_deref(), Some("DE"));
    }

    #[test]
    fn remote_or_hybrid_offices_give_the_arrangement() {
        assert_eq!(
            parse_fixture()[0].work_arrangement,
            WorkArrangement::Unknown
        );
        let cases = [
            ("Remote Italy", WorkArrangement::Remote),
            ("Berlin (Remote)", WorkArrangement::Remote),
            ("Hybrid - Hamburg", WorkArrangement::Hybrid),
            ("Munich", WorkArrangement::Unknown),
        ];
        for (office, expected) in cases {
            assert_eq!(arrangement_in_office(office), expected, "{office}");
        }
    }

    #[test]
    fn employment_type_and_schedule_give_the_work_type() {
        assert!(
            parse_fixture()
                .iter()
                .all(|p| p.work_type == Some(WorkType::FullTime)),
            "permanent, full-time"
        );
        let cases = [
            (
                Some("permanent"),
                Some("part-time"),
                Some(WorkType::PartTime),
            ),
            (
                Some("permanent"),
                Some("full-or-part-time"),
                Some(WorkType::FullTime),
            ),
            (Some("permanent"), None, Some(WorkType::FullTime)),
            (
                Some("intern"),
                Some("full-time"),
                Some(WorkType::Internship),
            ),
            (Some("freelance"), None, Some(WorkType::Contract)),
            (
                Some("trainee"),
                Some("full-time"),
                Some(WorkType::Internship),
            ),
            (
                Some("temporary"),
                Some("part-time"),
                Some(WorkType::Temporary),
            ),
            (None, Some("part-time"), Some(WorkType::PartTime)),
            (Some("something-new"), None, None),
            (None, None, None),
        ];
        for (employment, schedule, expected) in cases {
            assert_eq!(
                work_type(employment, schedule),
                expected,
                "{employment:?} {schedule:?}"
            );
        }
    }

    #[test]
    fn created_at_with_either_offset_style_is_posted_at() {
        let postings = parse_fixture();
        assert_eq!(postings[0].posted_at, Some(utc(2024, 11, 13, 14, 10, 41)));
        assert_eq!(
            postings[1].posted_at,
            Some(utc(2016, 5, 31, 10, 14, 7)),
            "+0200"
        );
    }

    #[test]
    fn the_department_is_the_classification() {
        let postings = parse_fixture();
        assert_eq!(
            postings[0].classification.as_deref(),
            Some("Product and Tech")
        );
        assert_eq!(postings[1].classification.as_deref(), Some("Management"));
    }

    #[test]
    fn description_blocks_become_headed_sanitised_html() {
        let p = &parse_fixture()[0];
        let html = p.description_html.as_deref().unwrap();
        let first = html
            .find("<h3>The Role: How you'll make an impact at Personio</h3>")
            .unwrap_or_else(|| panic!("{html}"));
        let body = html.find("This position is hybrid based").unwrap();
        let second = html
            .find("<h3>Role Responsibilities: What you'll do</h3>")
            .unwrap();
        let last = html.find("<h3>Why Personio</h3>").unwrap();
        assert!(first < body && body < second && second < last);
        let text = p.description_text.as_deref().unwrap();
        assert!(text.contains("Kafka operations"), "{text}");
        assert!(!text.contains("<li>"));
        let german = parse_fixture()[1].description_html.clone().unwrap();
        assert!(german.contains("<h3>Dein Profil</h3>"), "{german}");
        assert!(german.contains("Entwicklung &amp; Umsetzung"), "{german}");
        assert!(
            german.contains("href=\"http://www.unumotors.com\""),
            "{german}"
        );
    }

    #[test]
    fn headings_are_text_and_scripts_are_dropped() {
        let p = parse_one(
            "<position><id>1</id><name>A</name><jobDescriptions><jobDescription>\
             <name>&lt;script&gt;alert(1)&lt;/script&gt;</name>\
             <value><![CDATA[<p onclick=\"alert(2)\">Hi</p><script>alert(3)</script><a href=\"javascript:alert(4)\">x</a>]]></value>\
             </jobDescription></jobDescriptions></position>",
        );
        let html = p.description_html.unwrap();
        assert!(
            html.contains("<h3>&lt;script&gt;alert(1)&lt;/script&gt;</h3>"),
            "{html}"
        );
        assert!(
            !html.contains("<script") && !html.contains("onclick"),
            "{html}"
        );
        assert!(!html.contains("javascript:"), "{html}");
    }

    #[test]
    fn html_written_as_markup_or_escaped_inside_a_value_is_kept() {
        let p = parse_one(
            "<position><id>1</id><name>A</name><jobDescriptions>\
             <jobDescription><name>Markup</name><value><p>Build <b>it</b><br/></p></value></jobDescription>\
             <jobDescription><name>Escaped</name><value>&lt;ul&gt;&lt;li&gt;One&lt;/li&gt;&lt;/ul&gt;</value></jobDescription>\
             </jobDescriptions></position>",
        );
        let html = p.description_html.unwrap();
        assert!(html.contains("<p>Build <b>it</b><br></p>"), "{html}");
        assert!(html.contains("<ul><li>One</li></ul>"), "{html}");
    }

    #[test]
    fn entities_are_decoded_and_a_bare_ampersand_kept() {
        let p = parse_one(
            "<position><id>1</id><name>Gesch&auml;ftsf&#252;hrer &amp; M&#x00FC;ller &unknown; R&D</name></position>",
        );
        assert_eq!(p.title, "Geschäftsführer & Müller &unknown; R&D");
    }

    #[test]
    fn raw_keeps_every_field_the_offices_and_the_blocks() {
        let raw = &parse_fixture()[1].raw;
        assert_eq!(raw["id"], "4103");
        assert_eq!(raw["occupation"], "office_management");
        assert!(
            raw["keywords"]
                .as_str()
                .unwrap()
                .starts_with("office manager,")
        );
        assert_eq!(raw["jobDescriptions"].as_array().unwrap().len(), 3);
        assert_eq!(raw["jobDescriptions"][1]["name"], "Dein Profil");
        let raw = &parse_fixture()[0].raw;
        assert_eq!(raw["additionalOffices"], serde_json::json!(["Berlin"]));
        assert_eq!(raw["subcompany"], "Personio SE & Co. KG");
    }

    #[test]
    fn children_of_an_unknown_field_are_kept_by_path() {
        let p = parse_one(
            "<position><id>1</id><name>A</name><salaryInformation><min>60000</min>\
             <max>80000</max><currencyCode>EUR</currencyCode></salaryInformation></position>",
        );
        assert_eq!(p.raw["salaryInformation.min"], "60000");
        assert_eq!(p.raw["salaryInformation.currencyCode"], "EUR");
        assert_eq!(p.salary, Salary::default(), "no documented salary field");
    }

    #[test]
    fn an_empty_feed_has_no_positions() {
        let positions = parse_positions(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n<workzag-jobs>\n\n\n</workzag-jobs>",
        )
        .unwrap();
        assert!(positions.is_empty());
        assert!(parse_positions(b"<workzag-jobs/>").unwrap().is_empty());
    }

    #[test]
    fn a_truncated_feed_is_an_error_with_a_position() {
        let body = fixture();
        let message = shape_error(&body[..body.len() / 2]);
        assert!(
            message.contains("line ") && message.contains(" column "),
            "{message}"
        );
    }

    #[test]
    fn mismatched_tags_are_an_xml_error_with_a_position() {
        let message =
            shape_error(b"<workzag-jobs>\n<position><id>1</name></position></workzag-jobs>");
        assert!(
            message.starts_with("invalid XML at line 2 column"),
            "{message}"
        );
    }

    #[test]
    fn a_page_that_is_not_the_feed_is_refused() {
        let message = shape_error(b"<html><body>Page not found</body></html>");
        assert!(message.contains("<html>"), "{message}");
        let message = shape_error(b"<!DOCTYPE html><html><body>Page not found</body></html>");
        assert!(message.contains("DOCTYPE"), "{message}");
        let message = shape_error(b"Page not found");
        assert!(message.contains("no <workzag-jobs>"), "{message}");
        let message = shape_error(b"");
        assert!(message.contains("no <workzag-jobs>"), "{message}");
    }

    #[test]
    fn entity_declarations_are_refused_not_expanded() {
        let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
            <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
            <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>\
            <workzag-jobs><position><id>1</id><name>&lol3;</name></position></workzag-jobs>";
        assert!(shape_error(laughs.as_bytes()).contains("DOCTYPE"));
        let external = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\
            <workzag-jobs><position><id>1</id><name>&xxe;</name></position></workzag-jobs>";
        assert!(shape_error(external.as_bytes()).contains("DOCTYPE"));
    }

    #[test]
    fn an_undeclared_entity_is_never_expanded() {
        let p = parse_one("<position><id>1</id><name>&xxe;</name></position>");
        assert_eq!(p.title, "&xxe;");
    }

    #[test]
    fn deep_nesting_is_refused_quickly() {
        let depth = 200_000;
        let body = format!(
            "<workzag-jobs><position><id>1</id><name>A</name><x>{}{}</x></position></workzag-jobs>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        let started = Instant::now();
        let message = shape_error(body.as_bytes());
        assert!(
            message.contains(&format!("deeper than {MAX_DEPTH}")),
            "{message}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        // Nesting within the cap is fine.
        let body = format!(
            "<workzag-jobs><position><id>1</id><name>A</name><x>{}t{}</x></position></workzag-jobs>",
            "<a>".repeat(MAX_DEPTH - 4),
            "</a>".repeat(MAX_DEPTH - 4)
        );
        assert_eq!(parse_positions(body.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn more_positions_than_the_cap_is_an_error() {
        let one = "<position><id>1</id><name>A</name></position>";
        let body = feed(&one.repeat(MAX_POSITIONS + 1));
        let message = shape_error(&body);
        assert!(message.contains("more than 10000 positions"), "{message}");
        assert_eq!(parse_positions(&feed(&one.repeat(3))).unwrap().len(), 3);
    }

    #[test]
    fn long_text_is_cut_at_the_field_cap_and_lists_at_their_cap() {
        let long = "x".repeat(MAX_FIELD_BYTES + 10);
        let blocks = format!(
            "<jobDescription><name>n</name><value>{long}</value></jobDescription>{}",
            "<jobDescription><name>n</name><value>v</value></jobDescription>"
                .repeat(MAX_LIST_ENTRIES + 5)
        );
        let offices = "<office>o</office>".repeat(MAX_LIST_ENTRIES + 5);
        let body = feed(&format!(
            "<position><id>1</id><name>A</name><additionalOffices>{offices}</additionalOffices>\
             <jobDescriptions>{blocks}</jobDescriptions></position>"
        ));
        let positions = parse_positions(&body).unwrap();
        let p = &positions[0];
        assert_eq!(p.descriptions.len(), MAX_LIST_ENTRIES);
        assert_eq!(p.descriptions[0].1.len(), MAX_FIELD_BYTES);
        assert_eq!(p.descriptions[1].1, "v");
        assert_eq!(p.additional_offices.len(), MAX_LIST_ENTRIES);
        let posting = parse_feed(&body, COMPANY).unwrap().remove(0);
        assert!(normalize::is_truncated(
            posting.description_html.as_deref().unwrap()
        ));
    }

    #[test]
    fn a_position_without_an_id_or_a_name_is_an_error_naming_it() {
        let err = parse_feed(
            &feed(
                "<position><id>1</id><name>A</name></position><position><name>B</name></position>",
            ),
            COMPANY,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("personio position[1] has no <id>"),
            "{err}"
        );
        let err = parse_feed(
            &feed("<position><id>7</id><name>  </name></position>"),
            COMPANY,
        )
        .unwrap_err();
        assert!(err.to_string().contains("(id 7) has no <name>"), "{err}");
    }

    #[test]
    fn a_byte_order_mark_and_invalid_utf8_do_not_stop_the_parse() {
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend(feed("<position><id>1</id><name>Caf</name></position>"));
        let at = body.windows(4).position(|w| w == b"Caf<").unwrap() + 3;
        body.insert(at, 0xE9);
        let p = parse_feed(&body, COMPANY).unwrap().remove(0);
        assert_eq!(p.title, "Caf\u{FFFD}");
    }

    /// Seeded random mutations of the recorded feed and of hostile snippets: the parser must
    /// never panic, must answer quickly, and what it returns must stay within its caps.
    #[test]
    fn fuzzed_feeds_never_panic_and_stay_bounded() {
        const PIECES: &[&str] = &[
            "<",
            ">",
            "</",
            "/>",
            "&",
            "&amp;",
            "&#0;",
            "&#x110000;",
            "&#xD800;",
            "&lol;",
            "<![CDATA[",
            "]]>",
            "<!--",
            "-->",
            "<?xml version=\"1.0\"?>",
            "<!DOCTYPE x [<!ENTITY a \"b\">]>",
            "<position>",
            "</position>",
            "<id>",
            "</id>",
            "<name>",
            "</name>",
            "<value>",
            "</value>",
            "<jobDescriptions>",
            "<jobDescription>",
            "<additionalOffices>",
            "<office>",
            "<a b=\"c\">",
            "<a b='",
            "\"",
            "\u{0}",
            "\u{FFFF}",
            "é",
            "\r\n",
            "<workzag-jobs>",
            "</workzag-jobs>",
        ];
        let seeds: Vec<Vec<u8>> = vec![
            fixture(),
            feed(
                "<position><id>1</id><name>A</name><jobDescriptions><jobDescription><name>n</name><value><![CDATA[<p>x</p>]]></value></jobDescription></jobDescriptions></position>",
            ),
            format!("<workzag-jobs>{}", "<a>".repeat(300)).into_bytes(),
        ];
        let mut rng = StdRng::seed_from_u64(0x7e50_2026);
        for round in 0..1500 {
            let mut body = seeds[round % seeds.len()].clone();
            for _ in 0..rng.random_range(1..=8) {
                let at = rng.random_range(0..=body.len());
                match rng.random_range(0..5) {
                    0 if !body.is_empty() => {
                        let i = rng.random_range(0..body.len());
                        body[i] = rng.random();
                    }
                    1 => {
                        let piece = PIECES[rng.random_range(0..PIECES.len())];
                        body.splice(at..at, piece.bytes());
                    }
                    2 => body.truncate(at),
                    3 if !body.is_empty() => {
                        let end = (at + rng.random_range(1..200)).min(body.len());
                        body.drain(at.min(end)..end);
                    }
                    _ => {
                        let start = rng.random_range(0..=body.len());
                        let end = (start + rng.random_range(0..400)).min(body.len());
                        let copy = body[start..end].to_vec();
                        body.splice(at..at, copy);
                    }
                }
            }
            let started = Instant::now();
            let parsed = parse_positions(&body);
            let postings = parse_feed(&body, COMPANY);
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "round {round} took {:?}",
                started.elapsed()
            );
            if let Ok(positions) = parsed {
                let opened = body.windows(9).filter(|w| w == b"<position").count();
                assert!(positions.len() <= opened.max(1), "round {round}");
                for p in &positions {
                    assert!(p.fields.len() <= MAX_LIST_ENTRIES);
                    assert!(p.descriptions.len() <= MAX_LIST_ENTRIES);
                    assert!(p.additional_offices.len() <= MAX_LIST_ENTRIES);
                    assert!(p.fields.iter().all(|(_, v)| v.len() <= MAX_FIELD_BYTES));
                    assert!(
                        p.descriptions
                            .iter()
                            .all(|(n, v)| n.len() <= MAX_FIELD_BYTES && v.len() <= MAX_FIELD_BYTES)
                    );
                }
            }
            if let Ok(postings) = postings {
                for p in postings {
                    assert!(
                        !p.external_id.is_empty() && !p.title.is_empty(),
                        "round {round}"
                    );
                    assert!(p.url.starts_with("https://personio.jobs.personio.de/job/"));
                    if let Some(html) = &p.description_html {
                        assert!(
                            !html.to_ascii_lowercase().contains("<script"),
                            "round {round}"
                        );
                    }
                }
            }
        }
    }
}

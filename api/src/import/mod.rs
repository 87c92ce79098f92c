//! `jobintel import`: postings from elsewhere, stored like scraped ones.
//!
//! Layout:
//! - [`legacy`]: the old system's `job_postings` table, read from its PostgreSQL database.
//! - [`jobspy`]: a python-jobspy CSV file.
//! - [`hangfire`]: recurring jobs of Hangfire.PostgreSql become schedules;
//!   [`windows_zones`]: CLDR's Windows → IANA time zone table it uses.
//! - this module: what both share. Columns are matched to jobintel's [`Field`]s by normalised
//!   name and synonyms ([`Mapping`]); a row's values become a posting through the same
//!   normalisers the scrapers use ([`build_posting`]); batches go through the store's import
//!   upsert under one `ingest_runs` row with trigger `import` ([`Writer`]); bad rows are skipped
//!   and listed in a report file ([`Report`]), never abort the import.
//!
//! The importers read and normalise a batch while the previous one is being stored (a channel
//! of two batches between them), so memory stays at a few batches whatever the source's size.

pub mod hangfire;
pub mod jobspy;
pub mod legacy;
pub mod windows_zones;

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::{RunStatus, RunTrigger, Source, WorkArrangement, ingest_run};
use ingest::normalize::{
    html_to_text, is_truncated, parse_datetime, parse_location, salary, sanitize_html,
    work_arrangement_from_label, work_type_from_label,
};
use ingest::store::{self, ImportedPosting, NewRun, RunClaim, RunCounters};
use ingest::{NormalizedPosting, SalarySource};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde::Serialize;

/// Rows per batch: one keyset page read, one store transaction.
pub const BATCH: usize = 1000;
/// How many sample rows a dry run prints.
pub const SAMPLES: usize = 5;
/// How many bad rows a dry run prints (all of them go to the report file of a real run).
const BAD_ROWS_SHOWN: usize = 20;

/// Why an import could not run. Bad rows are not errors: they are skipped and reported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input cannot be imported as it is (missing required columns, unknown table, a bad
    /// mapping file): nothing was written; the message says what to fix.
    #[error("{0}")]
    Refused(String),
    /// The source database failed.
    #[error("reading the source database failed: {0}")]
    Source(#[source] DbErr),
    /// jobintel's own database failed.
    #[error("storing postings failed: {0}")]
    Target(#[from] DbErr),
    /// A file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The import's run was cancelled or reaped while it ran; what was stored stays.
    #[error("import run {0} was cancelled or taken over while it ran; stopped")]
    Lost(i64),
}

impl ImportError {
    fn io<'a>(
        what: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> ImportError + 'a {
        move |source| ImportError::Io {
            what,
            path: path.to_owned(),
            source,
        }
    }
}

/// The jobintel fields a source column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Source,
    ExternalId,
    Title,
    Url,
    Company,
    Location,
    SalaryText,
    SalaryMin,
    SalaryMax,
    SalaryCurrency,
    SalaryPeriod,
    Description,
    ApplyUrl,
    PostedAt,
    FirstSeenAt,
    LastSeenAt,
    ExpiresAt,
    WorkType,
    WorkArrangement,
    IsRemote,
    Classification,
}

impl Field {
    /// Every field, in matching order (earlier fields pick their columns first).
    pub const ALL: [Field; 21] = [
        Field::Source,
        Field::ExternalId,
        Field::Title,
        Field::Url,
        Field::Company,
        Field::Location,
        Field::SalaryText,
        Field::SalaryMin,
        Field::SalaryMax,
        Field::SalaryCurrency,
        Field::SalaryPeriod,
        Field::Description,
        Field::ApplyUrl,
        Field::PostedAt,
        Field::FirstSeenAt,
        Field::LastSeenAt,
        Field::ExpiresAt,
        Field::WorkType,
        Field::WorkArrangement,
        Field::IsRemote,
        Field::Classification,
    ];

    /// Without these a row is not a posting jobintel can store: the upsert key, something to
    /// show, and the http(s) link every stored posting has.
    pub const REQUIRED: [Field; 4] = [Field::Source, Field::ExternalId, Field::Title, Field::Url];

    /// The name used in mapping files and printed mappings.
    pub fn name(self) -> &'static str {
        match self {
            Field::Source => "source",
            Field::ExternalId => "external_id",
            Field::Title => "title",
            Field::Url => "url",
            Field::Company => "company",
            Field::Location => "location",
            Field::SalaryText => "salary_text",
            Field::SalaryMin => "salary_min",
            Field::SalaryMax => "salary_max",
            Field::SalaryCurrency => "salary_currency",
            Field::SalaryPeriod => "salary_period",
            Field::Description => "description",
            Field::ApplyUrl => "apply_url",
            Field::PostedAt => "posted_at",
            Field::FirstSeenAt => "first_seen_at",
            Field::LastSeenAt => "last_seen_at",
            Field::ExpiresAt => "expires_at",
            Field::WorkType => "work_type",
            Field::WorkArrangement => "work_arrangement",
            Field::IsRemote => "is_remote",
            Field::Classification => "classification",
        }
    }

    fn from_name(name: &str) -> Option<Field> {
        let key = normalise(name);
        Field::ALL.into_iter().find(|f| normalise(f.name()) == key)
    }

    /// Column names (normalised: see [`normalise`]) that mean this field, best first. The old
    /// system's EF Core names (`JobTitle`, `DatePosted`, `ScrapedAt`), common snake_case
    /// spellings and python-jobspy's columns.
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            Field::Source => &[
                "source",
                "platform",
                "site",
                "board",
                "jobboard",
                "sourcename",
                "platformname",
            ],
            Field::ExternalId => &[
                "externalid",
                "jobid",
                "sourceid",
                "platformjobid",
                "sourcejobid",
                "externaljobid",
                "jobexternalid",
                "jobkey",
                "postingid",
                "listingid",
                "remoteid",
            ],
            Field::Title => &[
                "title",
                "jobtitle",
                "position",
                "positiontitle",
                "role",
                "jobname",
            ],
            Field::Url => &[
                "url",
                "joburl",
                "link",
                "joblink",
                "postingurl",
                "sourceurl",
                "listingurl",
                "weburl",
                "href",
            ],
            Field::Company => &[
                "company",
                "companyname",
                "employer",
                "employername",
                "organisation",
                "organization",
                "hiringorganization",
                "advertiser",
            ],
            Field::Location => &[
                "location",
                "joblocation",
                "locationraw",
                "locationtext",
                "place",
            ],
            Field::SalaryText => &[
                "salarytext",
                "salary",
                "salaryrange",
                "salarydisplay",
                "salarylabel",
                "pay",
                "compensation",
                "remuneration",
                "wage",
            ],
            Field::SalaryMin => &[
                "salarymin",
                "minsalary",
                "minamount",
                "salaryfrom",
                "minimumsalary",
                "salarylow",
                "minpay",
                "payfrom",
            ],
            Field::SalaryMax => &[
                "salarymax",
                "maxsalary",
                "maxamount",
                "salaryto",
                "maximumsalary",
                "salaryhigh",
                "maxpay",
                "payto",
            ],
            Field::SalaryCurrency => &["salarycurrency", "currency", "paycurrency"],
            Field::SalaryPeriod => &[
                "salaryperiod",
                "interval",
                "payperiod",
                "salaryinterval",
                "salaryunit",
                "period",
            ],
            Field::Description => &[
                "description",
                "jobdescription",
                "descriptionhtml",
                "descriptiontext",
                "body",
                "details",
                "content",
            ],
            Field::ApplyUrl => &[
                "applyurl",
                "applicationurl",
                "joburldirect",
                "applylink",
                "externalapplyurl",
            ],
            Field::PostedAt => &[
                "postedat",
                "posted",
                "postedon",
                "posteddate",
                "dateposted",
                "published",
                "publishedat",
                "publishedon",
                "publisheddate",
                "datepublished",
                "listedat",
                "listeddate",
                "listingdate",
                "postdate",
            ],
            Field::FirstSeenAt => &[
                "firstseenat",
                "firstseen",
                "scrapedat",
                "scraped",
                "scrapeddate",
                "datescraped",
                "createdat",
                "created",
                "createdon",
                "createddate",
                "datecreated",
                "dateadded",
                "addedat",
                "insertedat",
                "discoveredat",
                "collectedat",
            ],
            Field::LastSeenAt => &[
                "lastseenat",
                "lastseen",
                "lastscrapedat",
                "lastscraped",
                "updatedat",
                "updated",
                "updatedon",
                "lastupdated",
                "dateupdated",
                "modifiedat",
                "modified",
                "lastmodified",
                "lastcheckedat",
            ],
            Field::ExpiresAt => &[
                "expiresat",
                "expires",
                "expirydate",
                "expirationdate",
                "closingdate",
                "validthrough",
                "deadline",
            ],
            Field::WorkType => &[
                "worktype",
                "jobtype",
                "employmenttype",
                "contracttype",
                "employment",
                "commitment",
            ],
            Field::WorkArrangement => &[
                "workarrangement",
                "workmode",
                "workplacetype",
                "workplace",
                "arrangement",
                "remotetype",
                "workfromhometype",
            ],
            Field::IsRemote => &["isremote", "remote", "remoteok"],
            Field::Classification => &[
                "classification",
                "category",
                "jobcategory",
                "industry",
                "sector",
                "companyindustry",
                "jobfunction",
                "department",
            ],
        }
    }
}

/// A column name as compared: lower-case letters and digits only (`"JobTitle"`, `job_title`
/// and `Job Title` are all `jobtitle`).
pub fn normalise(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A mapping file (`--map FILE`), TOML:
///
/// ```toml
/// # source column = jobintel field; "-" leaves a column out
/// JobTitle = "title"
/// Platform = "source"
/// InternalNotes = "-"
///
/// # source values that are not jobintel source names
/// [platforms]
/// "SEEK AU" = "seek"
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapFile {
    /// Source column (as spelled in the source) → field; `None` leaves the column unmapped.
    pub columns: Vec<(String, Option<Field>)>,
    /// Source value (normalised) → jobintel source.
    pub platforms: HashMap<String, Source>,
}

impl MapFile {
    pub fn read(path: &Path) -> Result<MapFile, ImportError> {
        let text = std::fs::read_to_string(path)
            .map_err(ImportError::io("cannot read mapping file", path))?;
        MapFile::parse(&text)
            .map_err(|e| ImportError::Refused(format!("mapping file {}: {e}", path.display())))
    }

    pub fn parse(text: &str) -> Result<MapFile, String> {
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("not TOML: {e}"))?;
        let mut out = MapFile::default();
        for (key, item) in doc.iter() {
            if key == "platforms" {
                let table = item
                    .as_table_like()
                    .ok_or("`platforms` must be a table of value = \"source\"")?;
                for (value, source) in table.iter() {
                    let name = source
                        .as_str()
                        .ok_or_else(|| format!("platforms.{value}: expected a source name"))?;
                    let source = name
                        .parse::<Source>()
                        .map_err(|e| format!("platforms.{value}: {e}"))?;
                    out.platforms.insert(normalise(value), source);
                }
                continue;
            }
            let target = item
                .as_str()
                .ok_or_else(|| format!("`{key}`: expected a field name in quotes"))?;
            let field = if target.trim() == "-" {
                None
            } else {
                Some(Field::from_name(target).ok_or_else(|| {
                    format!(
                        "`{key}` = \"{target}\": unknown field (expected \"-\" or one of: {})",
                        Field::ALL.map(Field::name).join(", ")
                    )
                })?)
            };
            out.columns.push((key.to_owned(), field));
        }
        Ok(out)
    }
}

/// Which source column fills which field, and what was left unmapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// Field → index of its column.
    pub fields: BTreeMap<Field, usize>,
    /// Every source column, in order.
    pub columns: Vec<String>,
}

impl Mapping {
    /// Match `columns` to fields: the mapping file's lines first, then each field in
    /// [`Field::ALL`] order takes the first free column whose normalised name is one of its
    /// synonyms (never one listed in `exclude`, e.g. the primary key). Refused when a
    /// required field has no column or a mapping file line names no column.
    pub fn resolve(
        columns: &[String],
        map: &MapFile,
        exclude: &[&str],
    ) -> Result<Mapping, ImportError> {
        let mut fields = BTreeMap::new();
        let mut taken = vec![false; columns.len()];
        for (name, _) in &map.columns {
            let found = columns
                .iter()
                .position(|c| c == name)
                .or_else(|| columns.iter().position(|c| normalise(c) == normalise(name)));
            let Some(i) = found else {
                return Err(ImportError::Refused(format!(
                    "the mapping file names column `{name}`, which the source does not have \
                     (its columns: {})",
                    columns.join(", ")
                )));
            };
            taken[i] = true;
        }
        for (name, field) in &map.columns {
            if let Some(field) = field {
                let i = columns
                    .iter()
                    .position(|c| c == name)
                    .or_else(|| columns.iter().position(|c| normalise(c) == normalise(name)))
                    .unwrap_or_default();
                fields.insert(*field, i);
            }
        }
        for (i, c) in columns.iter().enumerate() {
            if exclude.contains(&c.as_str()) {
                taken[i] = true;
            }
        }
        for field in Field::ALL {
            if fields.contains_key(&field) {
                continue;
            }
            for synonym in field.synonyms() {
                if let Some(i) =
                    (0..columns.len()).find(|i| !taken[*i] && normalise(&columns[*i]) == *synonym)
                {
                    fields.insert(field, i);
                    taken[i] = true;
                    break;
                }
            }
        }
        let missing: Vec<&str> = Field::REQUIRED
            .iter()
            .filter(|f| !fields.contains_key(f))
            .map(|f| f.name())
            .collect();
        if !missing.is_empty() {
            return Err(ImportError::Refused(format!(
                "cannot import: no column for the required field(s) {} (source, external_id, \
                 title and url are required). The source's columns are: {}. Name the column of \
                 each in a mapping file (--map FILE), e.g. `MyColumn = \"{}\"`",
                missing.join(", "),
                columns.join(", "),
                missing[0]
            )));
        }
        Ok(Mapping {
            fields,
            columns: columns.to_vec(),
        })
    }

    /// Columns no field takes, in order.
    pub fn unmapped(&self) -> Vec<&str> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.fields.values().any(|c| c == i))
            .map(|(_, c)| c.as_str())
            .collect()
    }

    /// `column → field` lines and the unmapped columns, for a dry run.
    pub fn describe(&self) -> String {
        let mut out = String::from("mapping (source column → jobintel field):\n");
        for (field, i) in &self.fields {
            out.push_str(&format!("  {:<24} → {}\n", self.columns[*i], field.name()));
        }
        let unmapped = self.unmapped();
        if unmapped.is_empty() {
            out.push_str("unmapped columns: none\n");
        } else {
            out.push_str(&format!(
                "unmapped columns (kept in each posting's raw JSON): {}\n",
                unmapped.join(", ")
            ));
        }
        out
    }
}

/// The jobintel source a source value names: a source name in any case and spelling
/// (`LinkedIn`, `zip_recruiter`, `ZipRecruiter`), or the mapping file's `[platforms]`.
pub fn source_from_label(label: &str, aliases: &HashMap<String, Source>) -> Option<Source> {
    let key = normalise(label);
    if key.is_empty() {
        return None;
    }
    aliases.get(&key).copied().or_else(|| {
        Source::ALL
            .iter()
            .copied()
            .find(|s| normalise(s.as_str()) == key)
    })
}

/// A row's values by field (trimmed; empty cells are `None`), to turn into a posting.
#[derive(Debug, Default)]
pub struct Values<'a> {
    values: HashMap<Field, &'a str>,
}

impl<'a> Values<'a> {
    /// The mapped cells of `row` (one cell per source column).
    pub fn of(mapping: &Mapping, row: &'a [Option<String>]) -> Self {
        let mut values = HashMap::new();
        for (field, i) in &mapping.fields {
            if let Some(v) = row.get(*i).and_then(|v| v.as_deref()).map(str::trim)
                && !v.is_empty()
            {
                values.insert(*field, v);
            }
        }
        Values { values }
    }

    pub fn get(&self, field: Field) -> Option<&'a str> {
        self.values.get(&field).copied()
    }

    pub fn set(&mut self, field: Field, value: &'a str) {
        self.values.insert(field, value);
    }

    fn required(&self, field: Field) -> Result<&'a str, String> {
        self.get(field)
            .ok_or_else(|| format!("no {} (empty `{}`)", field.name(), field.name()))
    }

    fn date(&self, field: Field) -> Result<Option<DateTime<Utc>>, String> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => parse_datetime(v)
                .map(Some)
                .ok_or_else(|| format!("unparseable {} `{}`", field.name(), shorten(v))),
        }
    }

    fn number(&self, field: Field) -> Result<Option<f64>, String> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .replace([',', '$', ' '], "")
                .parse::<f64>()
                .map(Some)
                .map_err(|_| format!("{} `{}` is not a number", field.name(), shorten(v))),
        }
    }
}

fn shorten(v: &str) -> String {
    let mut s: String = v.chars().take(60).collect();
    if s.len() < v.len() {
        s.push('…');
    }
    s
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "t" | "1" | "yes" | "y"
    )
}

/// What [`build_posting`] needs besides the row.
pub struct BuildContext<'a> {
    /// The mapping file's `[platforms]`.
    pub platforms: &'a HashMap<String, Source>,
    /// First/last seen when the row carries neither (nor a posted date).
    pub default_seen: DateTime<Utc>,
    /// Whether the salary numbers came from the source's fields (`structured`) or were
    /// parsed from its description (JobSpy's `salary_source = description`).
    pub salary_source: Option<SalarySource>,
    /// The row as JSON, kept as the posting's `raw`.
    pub raw: serde_json::Value,
}

/// A row's values as a posting, through the scrapers' normalisers (salary parsing and
/// annualisation, location, work type and arrangement, sanitised HTML description). `Err`
/// says why the row is bad (a missing required value, an unknown source, an unparseable date
/// or number, a link that is not http(s)).
pub fn build_posting(v: &Values<'_>, cx: BuildContext<'_>) -> Result<ImportedPosting, String> {
    let label = v.required(Field::Source)?;
    let source = source_from_label(label, cx.platforms)
        .ok_or_else(|| format!("unknown platform `{}`", shorten(label)))?;
    let external_id = v.required(Field::ExternalId)?.to_owned();
    let title = v.required(Field::Title)?.to_owned();
    let url = v.required(Field::Url)?;
    if !ingest::normalize::is_http_url(url) {
        return Err(format!("url `{}` is not an http(s) link", shorten(url)));
    }
    let apply_url = v
        .get(Field::ApplyUrl)
        .filter(|u| ingest::normalize::is_http_url(u))
        .map(str::to_owned);
    let posted_at = v.date(Field::PostedAt)?;
    let first = v.date(Field::FirstSeenAt)?;
    let last = v.date(Field::LastSeenAt)?;
    let expires_at = v.date(Field::ExpiresAt)?;
    let first_seen_at = first.or(posted_at).or(last).unwrap_or(cx.default_seen);
    let last_seen_at = last.or(first).unwrap_or(first_seen_at).max(first_seen_at);

    let location = v
        .get(Field::Location)
        .map(|l| parse_location(l, None))
        .unwrap_or_default();
    // A bare `$` in salary text is the posting's country's dollar, as the scrapers read it
    // with their site's currency.
    let currency = v
        .get(Field::SalaryCurrency)
        .or_else(|| location.country.as_deref().and_then(country_currency));
    let text = v.get(Field::SalaryText);
    let (min, max) = (v.number(Field::SalaryMin)?, v.number(Field::SalaryMax)?);
    let parsed_text = text.map(|t| salary::parse_salary_text(t, currency));
    let period = v
        .get(Field::SalaryPeriod)
        .and_then(salary::period_from_label)
        .or_else(|| parsed_text.as_ref().and_then(|s| s.period));
    let mut salary = if min.is_some() || max.is_some() {
        salary::structured_salary(min, max, currency, period, text.map(str::to_owned))
    } else {
        parsed_text.unwrap_or_default()
    };
    if salary.min.is_some() && cx.salary_source == Some(SalarySource::Parsed) {
        salary.source = Some(SalarySource::Parsed);
    }

    let work_type = v.get(Field::WorkType).and_then(|label| {
        label
            .split([',', '/', ';'])
            .find_map(work_type_from_label)
            .or_else(|| work_type_from_label(label))
    });
    let mut work_arrangement = v
        .get(Field::WorkArrangement)
        .map(work_arrangement_from_label)
        .unwrap_or(WorkArrangement::Unknown);
    if work_arrangement == WorkArrangement::Unknown && v.get(Field::IsRemote).is_some_and(truthy) {
        work_arrangement = WorkArrangement::Remote;
    }
    let (description_html, description_text) = match v.get(Field::Description) {
        Some(d) => {
            let html = sanitize_html(d);
            let text = html_to_text(&html);
            (Some(html), Some(text))
        }
        None => (None, None),
    };
    let posting = NormalizedPosting {
        source,
        external_id,
        url: url.to_owned(),
        apply_url,
        title,
        company: v.get(Field::Company).map(str::to_owned),
        company_external_id: None,
        location,
        work_type,
        work_arrangement,
        salary,
        description_html,
        description_text,
        classification: v.get(Field::Classification).map(str::to_owned),
        posted_at,
        expires_at,
        raw: cx.raw,
    };
    Ok(ImportedPosting {
        posting,
        first_seen_at,
        last_seen_at,
    })
}

/// The currency of a country's job ads, for the countries whose sites jobintel reads.
fn country_currency(country: &str) -> Option<&'static str> {
    Some(match country {
        "AU" => "AUD",
        "NZ" => "NZD",
        "US" => "USD",
        "CA" => "CAD",
        "GB" => "GBP",
        "IE" | "DE" | "FR" | "NL" | "ES" | "IT" | "AT" | "BE" | "FI" | "PT" => "EUR",
        "SG" => "SGD",
        "IN" => "INR",
        _ => return None,
    })
}

/// A row that was skipped, by its key in the source (primary key, or CSV line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRow {
    pub key: String,
    pub reason: String,
}

/// One batch from a reader: the rows that became postings and the ones that did not.
#[derive(Debug, Default)]
pub struct Batch {
    pub postings: Vec<ImportedPosting>,
    pub bad: Vec<BadRow>,
}

/// The report file: one CSV line (`key,reason`) per bad row, written as they come (never held
/// in memory), so a table with a million bad rows still imports.
pub struct Report {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl Report {
    pub fn create(path: &Path) -> Result<Report, ImportError> {
        let file =
            std::fs::File::create(path).map_err(ImportError::io("cannot create report", path))?;
        let mut report = Report {
            path: path.to_owned(),
            out: std::io::BufWriter::new(file),
        };
        report.line("key", "reason")?;
        Ok(report)
    }

    fn line(&mut self, key: &str, reason: &str) -> Result<(), ImportError> {
        writeln!(self.out, "{},{}", csv_cell(key), csv_cell(reason))
            .map_err(ImportError::io("cannot write report", &self.path))
    }

    fn finish(mut self) -> Result<PathBuf, ImportError> {
        self.out
            .flush()
            .map_err(ImportError::io("cannot write report", &self.path))?;
        Ok(self.path)
    }
}

/// A CSV cell, quoted when it needs to be.
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The default report path: `jobintel-import-<kind>-<UTC time>.csv` in the working directory.
pub fn default_report_path(kind: &str) -> PathBuf {
    PathBuf::from(format!(
        "jobintel-import-{kind}-{}.csv",
        Utc::now().format("%Y%m%dT%H%M%SZ")
    ))
}

/// Where progress goes: a `\r` line on stderr when it is a terminal, nothing otherwise.
pub struct Progress {
    tty: bool,
    last: Option<Instant>,
}

impl Progress {
    /// Progress on stderr if it is a terminal.
    pub fn terminal() -> Self {
        use std::io::IsTerminal;
        Progress {
            tty: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    /// No progress output (tests, library callers).
    pub fn silent() -> Self {
        Progress {
            tty: false,
            last: None,
        }
    }

    fn update(&mut self, s: &Summary, total: Option<u64>) {
        if !self.tty
            || self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(Instant::now());
        let of = total.map(|t| format!("/{t}")).unwrap_or_default();
        eprint!(
            "\r\x1b[2Kimport: read {}{of} · new {} · updated {} · unchanged {} · bad {}",
            s.read, s.new, s.updated, s.unchanged, s.bad
        );
    }

    fn done(&self) {
        if self.tty && self.last.is_some() {
            eprintln!();
        }
    }
}

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// The `ingest_runs` row (none for a dry run, or when nothing could be imported).
    pub run_id: Option<i64>,
    pub dry_run: bool,
    /// Rows read from the source.
    pub read: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Rows skipped (listed in the report).
    pub bad: u64,
    pub descriptions_truncated: u64,
    /// Imported postings per source.
    pub sources: BTreeMap<String, u64>,
    /// The report file (not written by a dry run).
    pub report: Option<PathBuf>,
    /// A dry run's first bad rows.
    pub bad_rows: Vec<BadRow>,
    /// A dry run's first postings, as they would be stored.
    pub samples: Vec<Sample>,
    /// Which columns filled which fields (printed by a dry run).
    pub mapping: String,
    pub seconds: f64,
}

impl Summary {
    /// The closing line the CLI prints.
    pub fn line(&self) -> String {
        let what = if self.dry_run {
            "dry run (nothing written)".to_owned()
        } else {
            match self.run_id {
                Some(id) => format!("import run {id}"),
                None => "import (nothing to store, no run recorded)".to_owned(),
            }
        };
        let report = match &self.report {
            Some(p) => format!("; bad rows listed in {}", p.display()),
            None => String::new(),
        };
        if self.dry_run {
            return format!(
                "{what}: read {} rows in {:.1}s — {} would be imported, bad {}",
                self.read,
                self.seconds,
                self.read - self.bad,
                self.bad
            );
        }
        format!(
            "{what}: read {} rows in {:.1}s — new {}, updated {}, unchanged {}, bad {}{report}",
            self.read, self.seconds, self.new, self.updated, self.unchanged, self.bad
        )
    }
}

/// A posting as it would be stored, for a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub source: String,
    pub external_id: String,
    pub title: String,
    pub company: Option<String>,
    pub url: String,
    pub location: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub work_type: Option<String>,
    pub work_arrangement: String,
    pub salary: Option<String>,
    pub posted_at: Option<DateTime<Utc>>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub description_text: Option<String>,
}

impl From<&ImportedPosting> for Sample {
    fn from(ip: &ImportedPosting) -> Self {
        let p = &ip.posting;
        let s = &p.salary;
        let salary = match (s.min, s.max) {
            (None, None) => s.text.clone(),
            (min, max) => Some(format!(
                "{}–{} {} per {} (annual {}–{})",
                opt(min),
                opt(max),
                s.currency.as_deref().unwrap_or("?"),
                s.period.map(|p| p.as_str()).unwrap_or("?"),
                opt(s.annual_min),
                opt(s.annual_max)
            )),
        };
        Sample {
            source: p.source.to_string(),
            external_id: p.external_id.clone(),
            title: p.title.clone(),
            company: p.company.clone(),
            url: p.url.clone(),
            location: p.location.raw.clone(),
            city: p.location.city.clone(),
            region: p.location.region.clone(),
            country: p.location.country.clone(),
            work_type: p.work_type.map(|w| w.to_string()),
            work_arrangement: p.work_arrangement.to_string(),
            salary,
            posted_at: p.posted_at,
            first_seen_at: ip.first_seen_at,
            last_seen_at: ip.last_seen_at,
            description_text: p
                .description_text
                .as_deref()
                .map(|t| shorten(&t.replace('\n', " "))),
        }
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "?".into())
}

/// What the writer records on the run row besides the counters.
pub struct RunInfo {
    /// The run's `params`: what was imported from where (never a password).
    pub params: serde_json::Value,
}

/// The consuming end of an import: stores batches under one run (or, for a dry run, keeps
/// samples), writes the report, counts, shows progress.
pub struct Writer<'a> {
    target: Option<&'a DatabaseConnection>,
    info: RunInfo,
    report: Option<Report>,
    progress: Progress,
    total: Option<u64>,
    claim: Option<RunClaim>,
    summary: Summary,
    counters: RunCounters,
    started: Instant,
}

impl<'a> Writer<'a> {
    /// `target`: jobintel's database, or `None` for a dry run (which writes nothing at all,
    /// not even the report).
    pub fn new(
        target: Option<&'a DatabaseConnection>,
        info: RunInfo,
        report: Option<&Path>,
        progress: Progress,
    ) -> Result<Self, ImportError> {
        let report = match (target, report) {
            (Some(_), Some(path)) => Some(Report::create(path)?),
            _ => None,
        };
        Ok(Writer {
            target,
            info,
            report,
            progress,
            total: None,
            claim: None,
            summary: Summary {
                dry_run: target.is_none(),
                ..Summary::default()
            },
            counters: RunCounters::default(),
            started: Instant::now(),
        })
    }

    /// The number of rows the source has, when known, for the progress line.
    pub fn set_total(&mut self, total: u64) {
        self.total = Some(total);
    }

    /// Store (or sample) one batch.
    pub async fn write(&mut self, batch: Batch) -> Result<(), ImportError> {
        self.summary.read += (batch.postings.len() + batch.bad.len()) as u64;
        self.summary.bad += batch.bad.len() as u64;
        for bad in batch.bad {
            match &mut self.report {
                Some(report) => report.line(&bad.key, &bad.reason)?,
                None if self.summary.bad_rows.len() < BAD_ROWS_SHOWN => {
                    self.summary.bad_rows.push(bad)
                }
                None => {}
            }
        }
        for p in &batch.postings {
            *self
                .summary
                .sources
                .entry(p.posting.source.to_string())
                .or_default() += 1;
            if p.posting
                .description_html
                .as_deref()
                .is_some_and(is_truncated)
            {
                self.summary.descriptions_truncated += 1;
            }
        }
        let Some(target) = self.target else {
            let room = SAMPLES.saturating_sub(self.summary.samples.len());
            self.summary
                .samples
                .extend(batch.postings.iter().take(room).map(Sample::from));
            self.progress.update(&self.summary, self.total);
            return Ok(());
        };
        if !batch.postings.is_empty() {
            let claim = match &self.claim {
                Some(claim) => claim.clone(),
                None => {
                    let claim =
                        start_run(target, batch.postings[0].posting.source, &self.info).await?;
                    self.summary.run_id = Some(claim.run_id);
                    self.claim = Some(claim.clone());
                    claim
                }
            };
            let outcome = store::upsert_imported(target, &claim, &batch.postings).await;
            // Servers sharing a PostgreSQL database drop cached answers (see `crate::bus`);
            // announced even after a failure, which may have written part of the batch.
            crate::bus::announce(target, "import").await;
            let outcome = outcome?.ok_or(ImportError::Lost(claim.run_id))?;
            self.summary.new += outcome.new.len() as u64;
            self.summary.updated += outcome.updated.len() as u64;
            self.summary.unchanged += outcome.unchanged as u64;
            // `build_posting` refuses non-http(s) links, so nothing is refused here.
            self.counters.pages_fetched += 1;
            self.sync_counters();
            if !store::save_progress(target, &claim, &self.counters).await? {
                return Err(ImportError::Lost(claim.run_id));
            }
        }
        self.progress.update(&self.summary, self.total);
        Ok(())
    }

    fn sync_counters(&mut self) {
        let n = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
        let s = &self.summary;
        self.counters.jobs_found = n(s.read - s.bad);
        self.counters.jobs_new = n(s.new);
        self.counters.jobs_updated = n(s.updated);
        self.counters.jobs_unchanged = n(s.unchanged);
        self.counters.descriptions_truncated = n(s.descriptions_truncated);
    }

    /// Close the run (`succeeded`, or `failed` with `error`) and the report; the summary.
    pub async fn finish(mut self, error: Option<&ImportError>) -> Result<Summary, ImportError> {
        self.progress.done();
        self.summary.seconds = self.started.elapsed().as_secs_f64();
        if let Some(report) = self.report.take() {
            let path = report.finish()?;
            self.summary.report = Some(std::path::absolute(&path).unwrap_or(path));
        }
        if let (Some(target), Some(claim)) = (self.target, self.claim.clone()) {
            self.sync_counters();
            // The run's source is the one most of its postings have (the column holds one).
            let main_source = self
                .summary
                .sources
                .iter()
                .max_by_key(|(_, n)| **n)
                .and_then(|(s, _)| s.parse::<Source>().ok());
            let mut params = self.info.params.clone();
            if let Some(obj) = params.as_object_mut() {
                obj.insert("sources".into(), serde_json::json!(self.summary.sources));
                obj.insert("badRows".into(), serde_json::json!(self.summary.bad));
                if let Some(path) = &self.summary.report {
                    obj.insert(
                        "report".into(),
                        serde_json::json!(path.display().to_string()),
                    );
                }
            }
            let mut update = ingest_run::Entity::update_many()
                .col_expr(ingest_run::Column::Params, Expr::value(params));
            if let Some(source) = main_source {
                update = update.col_expr(ingest_run::Column::Source, Expr::value(source.as_str()));
            }
            update
                .filter(ingest_run::Column::Id.eq(claim.run_id))
                .exec(target)
                .await?;
            let (status, message) = match error {
                None => (RunStatus::Succeeded, None),
                Some(e) => (RunStatus::Failed, Some(e.to_string())),
            };
            store::finish_run(target, &claim, status, &self.counters, message.as_deref()).await?;
        }
        Ok(self.summary)
    }
}

/// The import's run row, inserted already `running` under this process's name: never
/// `queued`, where a server's worker could claim it. Each stored batch renews its heartbeat, so
/// a server's reaper leaves it alone while the import goes on.
async fn start_run(
    target: &DatabaseConnection,
    source: Source,
    info: &RunInfo,
) -> Result<RunClaim, ImportError> {
    use sea_orm::ActiveModelTrait as _;
    use sea_orm::ActiveValue::Set;
    let now = Utc::now();
    let mut row = NewRun {
        source,
        params: info.params.clone(),
        trigger: RunTrigger::Import,
        schedule_id: None,
        scheduled_for: None,
        attempt: 1,
        run_after: None,
        status: RunStatus::Running,
        error: None,
    }
    .into_active_model(now);
    row.started_at = Set(Some(now));
    row.heartbeat_at = Set(Some(now));
    row.lease_owner = Set(Some(crate::config::instance_name()));
    let run = row.insert(target).await?;
    Ok(RunClaim::of(&run))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn pascal_case_and_snake_case_columns_match_the_same_fields() {
        let pascal = cols(&[
            "Id",
            "Platform",
            "JobId",
            "JobTitle",
            "CompanyName",
            "Location",
            "JobUrl",
            "DatePosted",
            "ScrapedAt",
            "UpdatedAt",
            "SalaryMin",
        ]);
        let snake = cols(&[
            "id",
            "platform",
            "job_id",
            "job_title",
            "company_name",
            "location",
            "job_url",
            "date_posted",
            "scraped_at",
            "updated_at",
            "salary_min",
        ]);
        let a = Mapping::resolve(&pascal, &MapFile::default(), &["Id"]).unwrap();
        let b = Mapping::resolve(&snake, &MapFile::default(), &["id"]).unwrap();
        assert_eq!(a.fields, b.fields);
        assert_eq!(a.fields[&Field::Title], 3);
        assert_eq!(a.fields[&Field::FirstSeenAt], 8);
        assert_eq!(a.unmapped(), vec!["Id"]);
    }

    #[test]
    fn missing_required_columns_are_named_in_the_refusal() {
        let err = Mapping::resolve(&cols(&["Id", "Name", "Link"]), &MapFile::default(), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("source, external_id, title"), "{err}");
        assert!(err.contains("Id, Name, Link"), "{err}");
    }

    #[test]
    fn a_mapping_file_overrides_and_completes_the_match() {
        let map = MapFile::parse(
            "Name = \"title\"\nRef = \"external_id\"\nTitle = \"-\"\n[platforms]\n\"SEEK AU\" = \"seek\"\n",
        )
        .unwrap();
        let m =
            Mapping::resolve(&cols(&["Ref", "Name", "Title", "Site", "Link"]), &map, &[]).unwrap();
        assert_eq!(m.fields[&Field::Title], 1);
        assert_eq!(m.fields[&Field::ExternalId], 0);
        assert_eq!(m.unmapped(), vec!["Title"]);
        assert_eq!(
            source_from_label("seek au", &map.platforms),
            Some(Source::Seek)
        );
        assert!(
            MapFile::parse("X = \"salary\"")
                .unwrap_err()
                .contains("unknown field")
        );
    }

    #[test]
    fn source_labels_match_in_any_spelling() {
        let none = HashMap::new();
        assert_eq!(source_from_label("LinkedIn", &none), Some(Source::Linkedin));
        assert_eq!(
            source_from_label("ZipRecruiter", &none),
            Some(Source::ZipRecruiter)
        );
        assert_eq!(
            source_from_label("zip_recruiter", &none),
            Some(Source::ZipRecruiter)
        );
        assert_eq!(source_from_label("monster", &none), None);
    }
}

//! Exporting postings for spreadsheets, notebooks and JobSpy users: CSV or JSON Lines, streamed
//! from the database in keyset batches, so memory stays flat whatever the row count.
//!
//! Which postings: a [`PostingFilter`], the same one `jobPostings` runs (its SQL form,
//! [`super::filter`]), among those that exist when the export starts (ids up to the highest
//! then). In what order: by id, which is also the keyset; a posting updated during the export
//! comes out as it is when its batch is read.
//!
//! Columns: first python-jobspy's, with its names and in its order (`jobspy/util.py`,
//! `desired_order`), so a notebook written for a JobSpy CSV opens this one unchanged; the
//! columns JobSpy has and jobintel does not know stay empty. Then jobintel's own columns. JSON
//! Lines carries the same keys with typed values (numbers, booleans, `null`).
//!
//! CSV cells that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, tab
//! or carriage return) get a leading `'` (OWASP's advice against CSV injection): posting text
//! comes from job boards, and a title such as `=HYPERLINK(…)` must stay text.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use entity::job_posting::{self, Column};
use entity::{SalaryPeriod, SalarySource, WorkArrangement, WorkType};
use futures_util::Stream;
use sea_orm::{ConnectionTrait, DatabaseConnection, Iterable, Statement};

use super::filter::{PostingFilter, SearchPlan, Substrings, push_from_where_with};
use super::postings::{Columns, model_from_row, push_columns};
use super::sql::Sql;
use crate::error::{ApiError, ApiResult};

/// Postings read per query: a few hundred kilobytes of text at most, whatever the export's size.
pub const BATCH: u64 = 500;

/// What an export is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            other => Err(format!("unknown format `{other}` (csv or jsonl)")),
        }
    }
}

impl Format {
    /// The HTTP `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Jsonl => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

/// python-jobspy's columns, in its order.
pub const JOBSPY_COLUMNS: [&str; 34] = [
    "id",
    "site",
    "job_url",
    "job_url_direct",
    "title",
    "company",
    "location",
    "date_posted",
    "job_type",
    "salary_source",
    "interval",
    "min_amount",
    "max_amount",
    "currency",
    "is_remote",
    "job_level",
    "job_function",
    "listing_type",
    "emails",
    "description",
    "company_industry",
    "company_url",
    "company_logo",
    "company_url_direct",
    "company_addresses",
    "company_num_employees",
    "company_revenue",
    "company_description",
    "skills",
    "experience_range",
    "company_rating",
    "company_reviews_count",
    "vacancy_count",
    "work_from_home_type",
];

/// jobintel's own columns, after JobSpy's.
pub const OWN_COLUMNS: [&str; 18] = [
    "jobintel_id",
    "external_id",
    "work_type",
    "work_arrangement",
    "city",
    "region",
    "country",
    "salary_text",
    "salary_period",
    "salary_annual_min",
    "salary_annual_max",
    "classification",
    "company_external_id",
    "posted_at",
    "expires_at",
    "first_seen_at",
    "last_seen_at",
    "closed_at",
];

/// Every column, in order.
pub fn columns() -> impl Iterator<Item = &'static str> {
    JOBSPY_COLUMNS.iter().chain(OWN_COLUMNS.iter()).copied()
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Text(Option<String>),
    Num(Option<f64>),
    Int(i64),
    Bool(Option<bool>),
}

fn time(t: Option<DateTime<Utc>>) -> Cell {
    Cell::Text(t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)))
}

/// JobSpy's `job_type` values (its `JobType` enum); casual work has none and is `other`.
fn jobspy_job_type(w: WorkType) -> &'static str {
    match w {
        WorkType::FullTime => "fulltime",
        WorkType::PartTime => "parttime",
        WorkType::Contract => "contract",
        WorkType::Internship => "internship",
        WorkType::Temporary => "temporary",
        WorkType::Casual | WorkType::Other => "other",
    }
}

/// JobSpy's `interval` values.
fn jobspy_interval(p: SalaryPeriod) -> &'static str {
    match p {
        SalaryPeriod::Hour => "hourly",
        SalaryPeriod::Day => "daily",
        SalaryPeriod::Week => "weekly",
        SalaryPeriod::Month => "monthly",
        SalaryPeriod::Year => "yearly",
    }
}

/// JobSpy's `salary_source` values.
fn jobspy_salary_source(s: SalarySource) -> &'static str {
    match s {
        SalarySource::Structured => "direct_data",
        SalarySource::Parsed => "description",
    }
}

/// The location as written, or city, region and country joined as JobSpy writes them.
fn location(p: &job_posting::Model) -> Option<String> {
    if let Some(raw) = p.location_raw.as_ref().filter(|s| !s.trim().is_empty()) {
        return Some(raw.clone());
    }
    let parts: Vec<&str> = [&p.city, &p.region, &p.country]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A posting's cells, in [`columns`] order.
fn cells(p: &job_posting::Model) -> Vec<Cell> {
    let text = |v: &Option<String>| Cell::Text(v.clone());
    let none = || Cell::Text(None);
    let mut row = vec![
        // JobSpy ids are `<site prefix>-<the site's id>`; the source's name is the prefix here.
        Cell::Text(Some(format!("{}-{}", p.source.as_str(), p.external_id))),
        Cell::Text(Some(p.source.as_str().to_owned())),
        Cell::Text(Some(p.url.clone())),
        text(&p.apply_url),
        Cell::Text(Some(p.title.clone())),
        text(&p.company),
        Cell::Text(location(p)),
        Cell::Text(p.posted_at.map(|t| t.date_naive().to_string())),
        Cell::Text(p.work_type.map(|w| jobspy_job_type(w).to_owned())),
        Cell::Text(p.salary_source.map(|s| jobspy_salary_source(s).to_owned())),
        Cell::Text(p.salary_period.map(|s| jobspy_interval(s).to_owned())),
        Cell::Num(p.salary_min),
        Cell::Num(p.salary_max),
        text(&p.salary_currency),
        Cell::Bool(match p.work_arrangement {
            WorkArrangement::Remote => Some(true),
            WorkArrangement::OnSite | WorkArrangement::Hybrid => Some(false),
            WorkArrangement::Unknown => None,
        }),
        none(), // job_level
        none(), // job_function
        none(), // listing_type
        none(), // emails
        Cell::Text(
            p.description_text
                .clone()
                .or_else(|| p.description_html.clone()),
        ),
    ];
    // company_industry … work_from_home_type: nothing jobintel scrapes.
    row.extend((row.len()..JOBSPY_COLUMNS.len()).map(|_| none()));
    row.extend([
        Cell::Int(p.id),
        Cell::Text(Some(p.external_id.clone())),
        Cell::Text(p.work_type.map(|w| w.as_str().to_owned())),
        Cell::Text(Some(p.work_arrangement.as_str().to_owned())),
        text(&p.city),
        text(&p.region),
        text(&p.country),
        text(&p.salary_text),
        Cell::Text(p.salary_period.map(|s| s.as_str().to_owned())),
        Cell::Num(p.salary_annual_min),
        Cell::Num(p.salary_annual_max),
        text(&p.classification),
        text(&p.company_external_id),
        time(p.posted_at),
        time(p.expires_at),
        time(Some(p.first_seen_at)),
        time(Some(p.last_seen_at)),
        time(p.closed_at),
    ]);
    debug_assert_eq!(row.len(), JOBSPY_COLUMNS.len() + OWN_COLUMNS.len());
    row
}

/// Whether a spreadsheet would read `text` as a formula.
fn looks_like_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// One CSV field (RFC 4180 quoting), guarded against formula injection.
fn push_csv_text(out: &mut String, text: &str) {
    let guard = looks_like_formula(text);
    if guard || text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        if guard {
            out.push('\'');
        }
        for c in text.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// The CSV header line.
pub fn csv_header() -> String {
    let mut line = columns().collect::<Vec<_>>().join(",");
    line.push('\n');
    line
}

fn push_csv_row(out: &mut String, cells: &[Cell]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match cell {
            Cell::Text(Some(t)) => push_csv_text(out, t),
            Cell::Num(Some(n)) => {
                let _ = write!(out, "{n}");
            }
            Cell::Int(n) => {
                let _ = write!(out, "{n}");
            }
            // pandas writes booleans as True / False.
            Cell::Bool(Some(b)) => out.push_str(if *b { "True" } else { "False" }),
            Cell::Text(None) | Cell::Num(None) | Cell::Bool(None) => {}
        }
    }
    out.push('\n');
}

fn push_json_row(out: &mut String, cells: &[Cell]) -> ApiResult<()> {
    let mut map = serde_json::Map::with_capacity(cells.len());
    for (name, cell) in columns().zip(cells) {
        let value = match cell {
            Cell::Text(t) => t.clone().map_or(serde_json::Value::Null, Into::into),
            Cell::Num(n) => n
                .and_then(serde_json::Number::from_f64)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Cell::Int(n) => (*n).into(),
            Cell::Bool(b) => b.map_or(serde_json::Value::Null, Into::into),
        };
        map.insert(name.to_owned(), value);
    }
    let line = serde_json::to_string(&map).map_err(|e| ApiError::Internal(e.into()))?;
    out.push_str(&line);
    out.push('\n');
    Ok(())
}

/// Rows of one posting each, in `format`.
pub fn render(format: Format, postings: &[job_posting::Model]) -> ApiResult<String> {
    let mut out = String::with_capacity(postings.len() * 2048);
    for p in postings {
        let cells = cells(p);
        match format {
            Format::Csv => push_csv_row(&mut out, &cells),
            Format::Jsonl => push_json_row(&mut out, &cells)?,
        }
    }
    Ok(out)
}

/// Every column but `raw` (the source's JSON: large, and not part of the export).
fn export_columns() -> Columns {
    Column::iter()
        .filter(|c| !matches!(c, Column::Raw))
        .fold(Columns::id_only(), Columns::with)
}

/// Ids one query looks at. A batch is "rows with an id in `(after, after + ID_WINDOW]`, at most
/// [`BATCH`]" rather than only "the next [`BATCH`] after `after`": with a full-text search on
/// PostgreSQL the matches come from the search index in its own order, and without an upper
/// bound every batch sorted all the matches left (a 100,000-posting export of a common word
/// took 93 s, each batch re-reading everything after it; with the window each batch reads
/// at most this many index entries).
pub const ID_WINDOW: i64 = 5_000;

/// The postings matching `filter` with an id in `(after, until]`, by id, at most `limit`.
pub async fn batch(
    db: &impl ConnectionTrait,
    filter: &PostingFilter,
    after: i64,
    until: i64,
    limit: u64,
) -> ApiResult<Vec<job_posting::Model>> {
    let columns = export_columns();
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT ");
    push_columns(&mut sql, columns);
    // SQLite: probe the full-text index for each row of the window, instead of listing every
    // match of the whole table for each batch (a 100,000-posting export of a common word:
    // 58 s that way). Substring filters likewise: LIKE on the window's rows, not every
    // trigram match of the whole table for each batch.
    push_from_where_with(&mut sql, filter, SearchPlan::ProbeEachRow, Substrings::SCAN);
    sql.push(" AND p.id > ")
        .bind(after)
        .push(" AND p.id <= ")
        .bind(until);
    if sql.is_pg() && filter.search.is_some() {
        // The same bounds on the search side of the join (`push_from_where` aliases it `s`),
        // so PostgreSQL reads only this window of the index.
        sql.push(" AND s.posting_id > ")
            .bind(after)
            .push(" AND s.posting_id <= ")
            .bind(until);
    }
    sql.push(" ORDER BY p.id LIMIT ").int(limit as i64);
    let rows = db.query_all_raw(sql.statement()).await?;
    rows.iter()
        .map(|r| model_from_row(r, columns).map_err(ApiError::from))
        .collect()
}

/// The highest posting id now: the export covers the postings that exist when it starts.
async fn max_id(db: &impl ConnectionTrait) -> ApiResult<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT MAX(id) AS m FROM job_postings",
        ))
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<Option<i64>>("", "m")?.unwrap_or(0),
        None => 0,
    })
}

/// Where a stream is.
struct Cursor {
    db: DatabaseConnection,
    filter: PostingFilter,
    format: Format,
    /// The last id covered; `None` before the first batch (and the CSV header).
    after: Option<i64>,
    /// The highest id to export (read when the export starts).
    last: i64,
}

/// The export as text chunks: the CSV header, then one chunk per batch of at most [`BATCH`]
/// postings. Only one batch is in memory at a time, and the next is read only when the
/// consumer asks (an HTTP client that reads slowly holds no more than that).
pub fn stream(
    db: DatabaseConnection,
    filter: PostingFilter,
    format: Format,
) -> impl Stream<Item = ApiResult<String>> + Send + 'static {
    let start = Cursor {
        db,
        filter,
        format,
        after: None,
        last: 0,
    };
    futures_util::stream::try_unfold(start, next_chunk)
}

async fn next_chunk(mut c: Cursor) -> ApiResult<Option<(String, Cursor)>> {
    let Some(mut after) = c.after else {
        c.last = max_id(&c.db).await?;
        c.after = Some(0);
        let header = match c.format {
            Format::Csv => csv_header(),
            Format::Jsonl => String::new(),
        };
        return Ok(Some((header, c)));
    };
    // Windows with no match are skipped here rather than sent as empty chunks.
    while after < c.last {
        let until = after.saturating_add(ID_WINDOW).min(c.last);
        let rows = batch(&c.db, &c.filter, after, until, BATCH).await?;
        after = match rows.last() {
            // A full batch may leave rows in the window: go on from the last one.
            Some(last) if rows.len() as u64 == BATCH => last.id,
            _ => until,
        };
        if !rows.is_empty() {
            c.after = Some(after);
            let chunk = render(c.format, &rows)?;
            return Ok(Some((chunk, c)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_of(text: &str) -> String {
        let mut s = String::new();
        push_csv_text(&mut s, text);
        s
    }

    #[test]
    fn formula_like_cells_are_prefixed_with_a_quote_and_quoted() {
        assert_eq!(csv_of("=1+2"), "\"'=1+2\"");
        assert_eq!(csv_of("+61 2 9999"), "\"'+61 2 9999\"");
        assert_eq!(csv_of("-5"), "\"'-5\"");
        assert_eq!(csv_of("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_of("\tx"), "\"'\tx\"");
        assert_eq!(csv_of("\rx"), "\"'\rx\"");
        assert_eq!(csv_of("a=b"), "a=b");
    }

    #[test]
    fn commas_quotes_and_newlines_are_quoted_as_rfc_4180_says() {
        assert_eq!(csv_of("Acme, Inc."), "\"Acme, Inc.\"");
        assert_eq!(csv_of("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_of("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_of("plain"), "plain");
    }

    #[test]
    fn the_header_is_jobspys_columns_then_ours() {
        let header = csv_header();
        assert!(header.starts_with(
            "id,site,job_url,job_url_direct,title,company,location,date_posted,job_type,\
             salary_source,interval,min_amount,max_amount,currency,is_remote,job_level,\
             job_function,listing_type,emails,description,company_industry,company_url,\
             company_logo,company_url_direct,company_addresses,company_num_employees,\
             company_revenue,company_description,"
        ));
        assert!(header.trim_end().ends_with(",last_seen_at,closed_at"));
        assert!("JSONL".parse::<Format>().is_ok());
        assert!("xlsx".parse::<Format>().is_err());
    }
}

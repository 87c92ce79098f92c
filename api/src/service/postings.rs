//! Reading job postings: filters, keyset-paginated pages in every supported order, counts.
//!
//! Queries are SQL text assembled here (with bound values, never interpolated input) rather
//! than through the query builder, because the parts that matter for speed are
//! backend-specific and must match the migrations character for character:
//!
//! - the sort key of the default order is `COALESCE(p.posted_at, <far past>)`, exactly the
//!   expression the `idx_job_postings_*posted_key` indexes were built on;
//! - full-text search is `job_posting_search_current.document @@ plainto_tsquery(..)` on
//!   PostgreSQL (the index, plus postings still queued for indexing: see
//!   `migration/src/m20261130_000006_search_queue.rs`) and an FTS5 `MATCH` on SQLite (see
//!   `migration/src/m20261127_000002_search.rs`).
//!
//! Pagination is keyset over `(sort key, id)`: a cursor holds the last row's sort key and id, and
//! the next page is "rows after that pair". Inserting or deleting rows elsewhere never shifts a
//! page, so clients see no skips or repeats while ingests write. Missing values (a posting without
//! a date or salary) are replaced by a sentinel that sorts them last in both directions.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use entity::job_posting::{self, Column};
use entity::{Source, WorkArrangement, WorkType};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, FromQueryResult, IdenStatic, Iterable, QueryResult,
    Statement, Value,
};

use crate::error::{ApiError, ApiResult};

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;

/// Most words a full-text search may have.
const MAX_SEARCH_TERMS: usize = 16;

/// A full-text query: the words of the client's text, lower-cased, without punctuation. All
/// words must match (in any of title, company and description).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub terms: Vec<String>,
}

impl Search {
    /// `None` when the text has no words (only spaces or punctuation).
    pub fn parse(text: &str) -> Option<Search> {
        let terms: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(MAX_SEARCH_TERMS)
            .map(|w| w.chars().take(64).collect::<String>().to_lowercase())
            .collect();
        (!terms.is_empty()).then_some(Search { terms })
    }

    /// For `plainto_tsquery`: the words separated by spaces.
    fn plain(&self) -> String {
        self.terms.join(" ")
    }

    /// An FTS5 query: every word quoted (so nothing the client sends is FTS5 syntax), all
    /// required; restricted to one column when `column` is given.
    fn fts5(&self, column: Option<&str>) -> String {
        let words = self
            .terms
            .iter()
            .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" ");
        match column {
            Some(c) => format!("{c} : ({words})"),
            None => words,
        }
    }
}

/// What to select postings by; every part is optional and the parts are AND-combined. Empty
/// lists mean "no constraint".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostingFilter {
    pub search: Option<Search>,
    pub sources: Vec<Source>,
    /// Exact company names.
    pub companies: Vec<String>,
    /// Case-insensitive substring of the title.
    pub title_contains: Option<String>,
    /// Case-insensitive substring of the raw location, city or region.
    pub location_contains: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub countries: Vec<String>,
    pub work_types: Vec<WorkType>,
    pub work_arrangements: Vec<WorkArrangement>,
    /// The posting's annual range reaches at least this (annual max, or min when there is no max).
    pub salary_annual_min: Option<f64>,
    /// The posting's annual range starts at most at this (annual min, or max when there is no min).
    pub salary_annual_max: Option<f64>,
    /// ISO 4217, upper case.
    pub salary_currency: Option<String>,
    /// `posted_at >= this`.
    pub posted_after: Option<DateTime<Utc>>,
    /// `posted_at < this`.
    pub posted_before: Option<DateTime<Utc>>,
    /// `last_seen_at >= this`.
    pub seen_after: Option<DateTime<Utc>>,
    /// `Some(true)`: not closed; `Some(false)`: closed.
    pub open: Option<bool>,
    /// First or last seen by each of these runs.
    pub run_ids: Vec<i64>,
}

/// What postings can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderField {
    PostedAt,
    FirstSeenAt,
    LastSeenAt,
    SalaryAnnualMax,
    SalaryAnnualMin,
    Title,
    /// Only with a search.
    Relevance,
}

impl OrderField {
    /// Short tag stored in cursors, so a cursor is only accepted with the order it came from.
    fn tag(self) -> &'static str {
        match self {
            OrderField::PostedAt => "p",
            OrderField::FirstSeenAt => "f",
            OrderField::LastSeenAt => "l",
            OrderField::SalaryAnnualMax => "sx",
            OrderField::SalaryAnnualMin => "sn",
            OrderField::Title => "t",
            OrderField::Relevance => "r",
        }
    }

    fn kind(self) -> KeyKind {
        match self {
            OrderField::PostedAt | OrderField::FirstSeenAt | OrderField::LastSeenAt => {
                KeyKind::Time
            }
            OrderField::SalaryAnnualMax | OrderField::SalaryAnnualMin | OrderField::Relevance => {
                KeyKind::Num
            }
            OrderField::Title => KeyKind::Text,
        }
    }
}

/// An order: a field and a direction; ties are broken by id in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub field: OrderField,
    pub descending: bool,
}

impl Default for Order {
    /// Newest posting first.
    fn default() -> Self {
        Order {
            field: OrderField::PostedAt,
            descending: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Time,
    Num,
    Text,
}

/// A row's sort key, as the database returned it.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    /// A timestamp: RFC 3339 with microseconds on PostgreSQL, the stored text on SQLite (bound
    /// back unchanged so comparisons are exact).
    Time(String),
    Num(f64),
    Text(String),
}

/// A keyset position: the sort key and id of one row under one order.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub order: Order,
    pub value: SortValue,
    pub id: i64,
}

impl Position {
    /// Opaque to clients; `v1|<field>|<a|d>|<id>|<kind><value>`, base64url.
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        let value = match &self.value {
            SortValue::Time(s) => format!("t{s}"),
            SortValue::Num(n) => format!("n{n}"),
            SortValue::Text(s) => format!("s{s}"),
        };
        let dir = if self.order.descending { "d" } else { "a" };
        let text = format!("v1|{}|{dir}|{}|{value}", self.order.field.tag(), self.id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    /// Decode a cursor, checking it was made under `order`.
    pub fn decode(cursor: &str, order: Order) -> ApiResult<Position> {
        use base64::Engine as _;
        let invalid = || ApiError::bad_input(format!("`{cursor}` is not a valid cursor"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor.trim())
            .map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let mut parts = text.splitn(5, '|');
        let (Some("v1"), Some(field), Some(dir), Some(id), Some(value)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(invalid());
        };
        let descending = match dir {
            "d" => true,
            "a" => false,
            _ => return Err(invalid()),
        };
        if field != order.field.tag() || descending != order.descending {
            return Err(ApiError::bad_input(
                "this cursor belongs to a different `orderBy`: paginate with the order it came from",
            ));
        }
        let id: i64 = id.parse().map_err(|_| invalid())?;
        let value = match (order.field.kind(), value.split_at_checked(1)) {
            (KeyKind::Time, Some(("t", v))) => SortValue::Time(v.to_owned()),
            (KeyKind::Num, Some(("n", v))) => {
                SortValue::Num(v.parse::<f64>().map_err(|_| invalid())?)
            }
            (KeyKind::Text, Some(("s", v))) => SortValue::Text(v.to_owned()),
            _ => return Err(invalid()),
        };
        Ok(Position { order, value, id })
    }
}

/// Which columns of `job_postings` a query reads (a bit per [`job_posting::Column`], in
/// declaration order). A list that shows titles and salaries does not read descriptions or raw
/// JSON (kilobytes per row; on PostgreSQL, TOASTed) nor the dozen other columns nobody asked
/// for: fewer values to copy out of the driver and decode. `id` is always read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns(u64);

impl Columns {
    pub const ALL: Columns = Columns(u64::MAX);

    /// Only `id`.
    pub fn id_only() -> Columns {
        Columns(0).with(Column::Id)
    }

    fn bit(c: Column) -> u64 {
        1u64 << (c as u32)
    }

    #[must_use]
    pub fn with(self, c: Column) -> Columns {
        Columns(self.0 | Self::bit(c))
    }

    #[must_use]
    pub fn union(self, other: Columns) -> Columns {
        Columns(self.0 | other.0)
    }

    pub fn has(self, c: Column) -> bool {
        self.0 & Self::bit(c) != 0
    }
}

/// One page request.
#[derive(Debug, Clone)]
pub struct PageRequest<'a> {
    pub filter: &'a PostingFilter,
    pub order: Order,
    /// Start after (or, with `backward`, before) this row.
    pub cursor: Option<Position>,
    /// Walk towards the start of the order (`last`/`before`).
    pub backward: bool,
    pub limit: u64,
    pub columns: Columns,
}

/// Rows of one page, in the order's direction, with their keyset positions.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<(job_posting::Model, Position)>,
    /// More rows exist beyond the page in the direction walked.
    pub has_more: bool,
}

/// SQL text with bound values, numbered `$n` on PostgreSQL and `?` on SQLite.
pub(crate) struct Sql {
    pub backend: DbBackend,
    pub text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DbBackend) -> Self {
        Sql {
            backend,
            text: String::with_capacity(512),
            values: Vec::new(),
        }
    }

    pub fn is_pg(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    pub fn bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.values.push(v.into());
        if self.is_pg() {
            let _ = write!(self.text, "${}", self.values.len());
        } else {
            self.text.push('?');
        }
        self
    }

    /// `(?, ?, …)`.
    pub fn bind_list<V: Into<Value>>(&mut self, items: impl IntoIterator<Item = V>) -> &mut Self {
        self.text.push('(');
        for (i, v) in items.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(v);
        }
        self.text.push(')');
        self
    }

    /// An integer written into the SQL text. For LIMIT and OFFSET: SQLite (3.47+) reads a bound
    /// LIMIT while planning and then marks the prepared statement stale on every new binding, so
    /// a bound LIMIT is re-parsed and re-planned on every execution.
    pub fn int(&mut self, n: i64) -> &mut Self {
        let _ = write!(self.text, "{n}");
        self
    }

    /// Values of a closed vocabulary (stored enum strings: lower-case letters and `_`), written
    /// into the SQL text: with SQLite's STAT4, a bound value compared with an indexed column makes
    /// the statement re-plan on every execution once the database has been ANALYZEd.
    pub fn vocabulary_list<'v>(&mut self, items: impl IntoIterator<Item = &'v str>) -> &mut Self {
        self.text.push('(');
        for (i, v) in items.into_iter().enumerate() {
            debug_assert!(v.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            if i > 0 {
                self.text.push_str(", ");
            }
            self.text.push('\'');
            self.text
                .extend(v.chars().filter(|c| c.is_ascii_lowercase() || *c == '_'));
            self.text.push('\'');
        }
        self.text.push(')');
        self
    }

    pub fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// `%text%` for LIKE with `\` as the escape character.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// SQLite: the rowids of FTS5 rows matching `query`.
const FTS_ROWIDS: &str = "SELECT rowid FROM job_postings_fts WHERE job_postings_fts MATCH ";

/// Matches at or above which a SQLite search counts as "common" (see [`SearchPlan`]).
const COMMON_MATCHES: i64 = 2_000;

/// How a full-text search is combined with the rest of a query. (Which index drives it is
/// PostgreSQL's planner's choice, from the tsvector statistics; SQLite needs to be told.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SearchPlan {
    /// SQLite: `p.id IN (FTS matches)`: SQLite starts from the matches and looks each row up.
    /// Right for rare words; for a word in most rows it reads and sorts nearly the whole table.
    /// PostgreSQL: through `job_posting_search_current`, exact whatever is still queued for
    /// indexing (migration 000006).
    FromMatches,
    /// PostgreSQL, no posting queued for indexing matches the search (by its new text or its
    /// stale entry): `job_posting_search` itself gives the same answer as the view then. The planner can walk postings in order and probe the index row by row
    /// ("newest 20 matching a common word": 0.5 ms, against ~200 ms through the view).
    IndexOnly,
    /// Walk the rows in the requested order (on its index) and probe FTS5 for each one
    /// (`MATCH … AND rowid = p.id`) until the page is full: a common word fills a page after
    /// a few dozen probes.
    ProbeEachRow,
}

/// ` FROM job_postings p [JOIN job_posting_search_current s] WHERE …` for `filter`.
pub(crate) fn push_from_where(sql: &mut Sql, filter: &PostingFilter) {
    push_from_where_with(sql, filter, SearchPlan::FromMatches)
}

fn push_from_where_with(sql: &mut Sql, filter: &PostingFilter, plan: SearchPlan) {
    sql.push(" FROM job_postings p");
    if sql.is_pg() && filter.search.is_some() {
        sql.push(if plan == SearchPlan::IndexOnly {
            " JOIN job_posting_search s ON s.posting_id = p.id"
        } else {
            " JOIN job_posting_search_current s ON s.posting_id = p.id"
        });
    }
    sql.push(" WHERE 1 = 1");
    if let Some(search) = &filter.search {
        if sql.is_pg() {
            sql.push(" AND s.document @@ plainto_tsquery('english', ")
                .bind(search.plain())
                .push(")");
        } else if plan == SearchPlan::ProbeEachRow {
            // A scalar subquery, so SQLite can't turn it back into a join driven by the matches.
            sql.push(
                " AND (SELECT COUNT(*) FROM job_postings_fts \
                 WHERE job_postings_fts MATCH ",
            )
            .bind(search.fts5(None))
            .push(" AND job_postings_fts.rowid = p.id) > 0");
        } else {
            sql.push(" AND p.id IN (")
                .push(FTS_ROWIDS)
                .bind(search.fts5(None))
                .push(")");
        }
    }
    if !filter.sources.is_empty() {
        sql.push(" AND p.source IN ")
            .vocabulary_list(filter.sources.iter().map(|s| s.as_str()));
    }
    if !filter.companies.is_empty() {
        sql.push(" AND p.company IN ")
            .bind_list(filter.companies.iter().cloned());
    }
    let like = if sql.is_pg() { "ILIKE" } else { "LIKE" };
    if let Some(t) = &filter.title_contains {
        sql.push(&format!(" AND p.title {like} "))
            .bind(like_pattern(t))
            .push(" ESCAPE '\\'");
    }
    if let Some(l) = &filter.location_contains {
        let pattern = like_pattern(l);
        sql.push(" AND (");
        for (i, col) in ["p.location_raw", "p.city", "p.region"].iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push(&format!("{col} {like} "))
                .bind(pattern.clone())
                .push(" ESCAPE '\\'");
        }
        sql.push(")");
    }
    if !filter.countries.is_empty() {
        sql.push(" AND p.country IN ")
            .bind_list(filter.countries.iter().cloned());
    }
    if !filter.work_types.is_empty() {
        sql.push(" AND p.work_type IN ")
            .vocabulary_list(filter.work_types.iter().map(|s| s.as_str()));
    }
    if !filter.work_arrangements.is_empty() {
        sql.push(" AND p.work_arrangement IN ")
            .vocabulary_list(filter.work_arrangements.iter().map(|s| s.as_str()));
    }
    if let Some(min) = filter.salary_annual_min {
        sql.push(" AND COALESCE(p.salary_annual_max, p.salary_annual_min) >= ")
            .bind(min);
    }
    if let Some(max) = filter.salary_annual_max {
        sql.push(" AND COALESCE(p.salary_annual_min, p.salary_annual_max) <= ")
            .bind(max);
    }
    if let Some(c) = &filter.salary_currency {
        sql.push(" AND p.salary_currency = ").bind(c.clone());
    }
    if let Some(t) = filter.posted_after {
        sql.push(" AND p.posted_at >= ").bind(t);
    }
    if let Some(t) = filter.posted_before {
        sql.push(" AND p.posted_at < ").bind(t);
    }
    if let Some(t) = filter.seen_after {
        sql.push(" AND p.last_seen_at >= ").bind(t);
    }
    match filter.open {
        Some(true) => {
            sql.push(" AND p.closed_at IS NULL");
        }
        Some(false) => {
            sql.push(" AND p.closed_at IS NOT NULL");
        }
        None => {}
    }
    for run in &filter.run_ids {
        sql.push(" AND (p.first_run_id = ")
            .bind(*run)
            .push(" OR p.last_run_id = ")
            .bind(*run)
            .push(")");
    }
}

/// Sentinels that sort missing values last: the far past/low number when descending, the far
/// future/high number when ascending. The `POSTED_AT DESC` one must match the migration's
/// expression indexes exactly.
fn push_sort_key(sql: &mut Sql, order: Order, filter: &PostingFilter) -> ApiResult<()> {
    let pg = sql.is_pg();
    let time_sentinel = match (pg, order.descending) {
        (true, true) => "TIMESTAMPTZ '0001-01-01 00:00:00+00'",
        (true, false) => "TIMESTAMPTZ '9999-12-31 23:59:59+00'",
        (false, true) => "'0001-01-01T00:00:00+00:00'",
        (false, false) => "'9999-12-31T23:59:59+00:00'",
    };
    let num_sentinel = match (pg, order.descending) {
        (true, true) => "CAST(-1 AS DOUBLE PRECISION)",
        (true, false) => "CAST(1e18 AS DOUBLE PRECISION)",
        (false, true) => "-1.0",
        (false, false) => "1e18",
    };
    match order.field {
        OrderField::PostedAt => {
            sql.push(&format!("COALESCE(p.posted_at, {time_sentinel})"));
        }
        OrderField::FirstSeenAt => {
            sql.push("p.first_seen_at");
        }
        OrderField::LastSeenAt => {
            sql.push("p.last_seen_at");
        }
        OrderField::SalaryAnnualMax => {
            sql.push(&format!("COALESCE(p.salary_annual_max, {num_sentinel})"));
        }
        OrderField::SalaryAnnualMin => {
            sql.push(&format!("COALESCE(p.salary_annual_min, {num_sentinel})"));
        }
        OrderField::Title => {
            sql.push("p.title");
        }
        OrderField::Relevance => {
            let Some(search) = &filter.search else {
                return Err(ApiError::bad_input(
                    "`orderBy: {field: RELEVANCE}` needs `filter.search`",
                ));
            };
            if pg {
                // ts_rank depends only on the row and the query (not on other rows), so the
                // order is stable while rows are added: keyset pagination stays exact.
                sql.push("CAST(ts_rank(s.document, plainto_tsquery('english', ")
                    .bind(search.plain())
                    .push(")) AS DOUBLE PRECISION)");
            } else {
                // FTS5's bm25 depends on corpus statistics that change with every insert, which
                // would reshuffle pages mid-pagination. A per-row score instead: title matches,
                // then company matches, then description-only matches.
                sql.push("CAST((p.id IN (")
                    .push(FTS_ROWIDS)
                    .bind(search.fts5(Some("title")))
                    .push(")) * 4 + (p.id IN (")
                    .push(FTS_ROWIDS)
                    .bind(search.fts5(Some("company")))
                    .push(")) * 2 + 1 AS REAL)");
            }
        }
    }
    Ok(())
}

/// `p.col, …` for the columns `columns` asks for.
fn push_columns(sql: &mut Sql, columns: Columns) {
    let mut first = true;
    for c in Column::iter().filter(|c| columns.has(*c) || matches!(c, Column::Id)) {
        if !first {
            sql.push(", ");
        }
        first = false;
        sql.push("p.").push(c.as_str());
    }
}

/// A `Model` from a row holding the columns `columns` asks for; the others get neutral values
/// (empty, `None`, the epoch) that no resolver reads, since the columns were chosen from the
/// fields the client selected.
fn model_from_row(row: &QueryResult, columns: Columns) -> Result<job_posting::Model, DbErr> {
    if columns == Columns::ALL {
        return job_posting::Model::from_query_result(row, "");
    }
    fn get<T: sea_orm::TryGetable + Default>(
        row: &QueryResult,
        columns: Columns,
        c: Column,
    ) -> Result<T, DbErr> {
        if columns.has(c) {
            row.try_get("", c.as_str())
        } else {
            Ok(T::default())
        }
    }
    let time = |c: Column| -> Result<DateTime<Utc>, DbErr> {
        if columns.has(c) {
            row.try_get("", c.as_str())
        } else {
            Ok(DateTime::<Utc>::UNIX_EPOCH)
        }
    };
    let (r, k) = (row, columns);
    Ok(job_posting::Model {
        id: r.try_get("", "id")?,
        source: if k.has(Column::Source) {
            r.try_get("", "source")?
        } else {
            Source::Seek
        },
        external_id: get(r, k, Column::ExternalId)?,
        url: get(r, k, Column::Url)?,
        apply_url: get(r, k, Column::ApplyUrl)?,
        title: get(r, k, Column::Title)?,
        company: get(r, k, Column::Company)?,
        company_external_id: get(r, k, Column::CompanyExternalId)?,
        location_raw: get(r, k, Column::LocationRaw)?,
        city: get(r, k, Column::City)?,
        region: get(r, k, Column::Region)?,
        country: get(r, k, Column::Country)?,
        work_type: if k.has(Column::WorkType) {
            r.try_get("", "work_type")?
        } else {
            None
        },
        work_arrangement: if k.has(Column::WorkArrangement) {
            r.try_get("", "work_arrangement")?
        } else {
            WorkArrangement::Unknown
        },
        salary_text: get(r, k, Column::SalaryText)?,
        salary_min: get(r, k, Column::SalaryMin)?,
        salary_max: get(r, k, Column::SalaryMax)?,
        salary_currency: get(r, k, Column::SalaryCurrency)?,
        salary_period: if k.has(Column::SalaryPeriod) {
            r.try_get("", "salary_period")?
        } else {
            None
        },
        salary_annual_min: get(r, k, Column::SalaryAnnualMin)?,
        salary_annual_max: get(r, k, Column::SalaryAnnualMax)?,
        salary_source: if k.has(Column::SalarySource) {
            r.try_get("", "salary_source")?
        } else {
            None
        },
        description_html: get(r, k, Column::DescriptionHtml)?,
        description_text: get(r, k, Column::DescriptionText)?,
        classification: get(r, k, Column::Classification)?,
        posted_at: get(r, k, Column::PostedAt)?,
        expires_at: get(r, k, Column::ExpiresAt)?,
        first_seen_at: time(Column::FirstSeenAt)?,
        last_seen_at: time(Column::LastSeenAt)?,
        closed_at: get(r, k, Column::ClosedAt)?,
        content_hash: get(r, k, Column::ContentHash)?,
        raw: get(r, k, Column::Raw)?,
        first_run_id: get(r, k, Column::FirstRunId)?,
        last_run_id: get(r, k, Column::LastRunId)?,
        created_at: time(Column::CreatedAt)?,
        updated_at: time(Column::UpdatedAt)?,
    })
}

fn bind_sort_value(sql: &mut Sql, value: &SortValue) -> ApiResult<()> {
    match value {
        SortValue::Time(s) if sql.is_pg() => {
            let t = DateTime::parse_from_rfc3339(s)
                .map_err(|_| ApiError::bad_input("invalid cursor"))?
                .with_timezone(&Utc);
            sql.bind(t);
        }
        SortValue::Time(s) | SortValue::Text(s) => {
            sql.bind(s.clone());
        }
        SortValue::Num(n) => {
            sql.bind(*n);
        }
    }
    Ok(())
}

fn read_sort_value(row: &QueryResult, backend: DbBackend, order: Order) -> ApiResult<SortValue> {
    Ok(match order.field.kind() {
        KeyKind::Time if backend == DbBackend::Postgres => {
            let t: DateTime<Utc> = row.try_get("", "sort_key")?;
            SortValue::Time(t.to_rfc3339_opts(SecondsFormat::Micros, true))
        }
        KeyKind::Time => SortValue::Time(row.try_get("", "sort_key")?),
        KeyKind::Num => SortValue::Num(row.try_get("", "sort_key")?),
        KeyKind::Text => SortValue::Text(row.try_get("", "sort_key")?),
    })
}

/// One page of postings matching `req.filter` in `req.order`, starting after `req.cursor`.
pub async fn page(db: &impl ConnectionTrait, req: PageRequest<'_>) -> ApiResult<Page> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    // Walking backward is walking forward in the reversed order.
    let descending = req.order.descending != req.backward;
    let (cmp, dir) = if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };

    sql.push("SELECT ");
    push_columns(&mut sql, req.columns);
    sql.push(", ");
    push_sort_key(&mut sql, req.order, req.filter)?;
    sql.push(" AS sort_key");
    let plan = search_plan(db, req.filter, req.order).await?;
    push_from_where_with(&mut sql, req.filter, plan);
    if let Some(pos) = &req.cursor {
        sql.push(" AND (");
        push_sort_key(&mut sql, req.order, req.filter)?;
        sql.push(&format!(", p.id) {cmp} ("));
        bind_sort_value(&mut sql, &pos.value)?;
        sql.push(", ").bind(pos.id).push(")");
    }
    sql.push(&format!(" ORDER BY sort_key {dir}, p.id {dir} LIMIT "))
        .int((req.limit + 1) as i64);

    let rows = db.query_all_raw(sql.statement()).await?;
    let has_more = rows.len() as u64 > req.limit;
    let mut out = Vec::with_capacity(rows.len().min(req.limit as usize));
    for row in rows.iter().take(req.limit as usize) {
        let model = model_from_row(row, req.columns)?;
        let value = read_sort_value(row, backend, req.order)?;
        let id = model.id;
        out.push((
            model,
            Position {
                order: req.order,
                value,
                id,
            },
        ));
    }
    if req.backward {
        out.reverse();
    }
    Ok(Page {
        rows: out,
        has_more,
    })
}

/// PostgreSQL: whether a posting waiting to be indexed could change the answer.
/// SQLite: whether the search is common enough to probe row by row in the requested order
/// (one cheap statement: counts matches up to [`COMMON_MATCHES`]).
async fn search_plan(
    db: &impl ConnectionTrait,
    filter: &PostingFilter,
    order: Order,
) -> ApiResult<SearchPlan> {
    let Some(search) = &filter.search else {
        return Ok(SearchPlan::FromMatches);
    };
    if db.get_database_backend() == DbBackend::Postgres {
        // Does any posting waiting to be indexed match the search, by its new text or by the
        // entry it still has in the index? If not, the index alone gives the exact answer: at
        // once when nothing is queued (a probe of the queue's primary key), and otherwise at
        // the cost of the queued postings' documents (100 queued: ~6 ms, against ~380 ms for a
        // common word through the view). A posting queued after these probes is one the page
        // may miss, exactly as if the request had come a moment earlier.
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT EXISTS (SELECT 1 FROM job_posting_search_queue \
                 ORDER BY posting_id LIMIT 1) AS queued",
            ))
            .await?;
        let queued: bool = match row {
            Some(r) => r.try_get("", "queued")?,
            None => false,
        };
        if !queued {
            // The common case, kept to the cheapest statement (planning the probe below on
            // every search cost ~30 % of scenario (c)'s throughput).
            return Ok(SearchPlan::IndexOnly);
        }
        let mut sql = Sql::new(DbBackend::Postgres);
        sql.push(
            "SELECT EXISTS (SELECT 1 FROM job_posting_search_queue q \
             JOIN job_postings p ON p.id = q.posting_id \
             LEFT JOIN job_posting_search s ON s.posting_id = q.posting_id \
             WHERE s.document @@ plainto_tsquery('english', ",
        )
        .bind(search.plain())
        .push(
            ") OR job_posting_search_document(p.title, p.company, \
             COALESCE(p.description_text, p.description_html)) @@ plainto_tsquery('english', ",
        )
        .bind(search.plain())
        .push(")) AS queued_match");
        let queued_match: bool = match db.query_one_raw(sql.statement()).await? {
            Some(r) => r.try_get("", "queued_match")?,
            None => false,
        };
        return Ok(if queued_match {
            SearchPlan::FromMatches
        } else {
            SearchPlan::IndexOnly
        });
    }
    // Relevance needs every match's score anyway.
    if order.field == OrderField::Relevance {
        return Ok(SearchPlan::FromMatches);
    }
    let query = search.fts5(None);
    if let Some(plan) = plans::get(&query) {
        return Ok(plan);
    }
    let mut sql = Sql::new(DbBackend::Sqlite);
    sql.push("SELECT COUNT(*) AS n FROM (")
        .push(FTS_ROWIDS)
        .bind(query.clone())
        .push(" LIMIT ")
        .int(COMMON_MATCHES)
        .push(")");
    let n: i64 = match db.query_one_raw(sql.statement()).await? {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    };
    let plan = if n >= COMMON_MATCHES {
        SearchPlan::ProbeEachRow
    } else {
        SearchPlan::FromMatches
    };
    plans::put(query, plan);
    Ok(plan)
}

/// Recently chosen SQLite search plans, so a popular search is counted once a minute rather
/// than on every page (counting up to 2,000 matches costs more than the page itself). Only the
/// speed of a query depends on this, never its result.
mod plans {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    use super::SearchPlan;

    const TTL: Duration = Duration::from_secs(60);
    const MAX_ENTRIES: usize = 1024;

    type Plans = Mutex<HashMap<String, (Instant, SearchPlan)>>;

    fn plans() -> &'static Plans {
        static PLANS: OnceLock<Plans> = OnceLock::new();
        PLANS.get_or_init(Default::default)
    }

    pub(super) fn get(query: &str) -> Option<SearchPlan> {
        let map = plans().lock().unwrap_or_else(|p| p.into_inner());
        map.get(query)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, plan)| *plan)
    }

    pub(super) fn put(query: String, plan: SearchPlan) {
        let mut map = plans().lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(query, (Instant::now(), plan));
    }
}

/// How many postings match `filter`.
pub async fn count(db: &impl ConnectionTrait, filter: &PostingFilter) -> ApiResult<u64> {
    let mut sql = Sql::new(db.get_database_backend());
    let search_only = filter.search.is_some()
        && *filter
            == (PostingFilter {
                search: filter.search.clone(),
                ..PostingFilter::default()
            });
    match (&filter.search, search_only, sql.is_pg()) {
        // Only a search: count the index entries, without touching the postings (every entry
        // has its posting: triggers and a cascading foreign key keep them in step).
        (Some(search), true, true) => {
            sql.push(
                "SELECT COUNT(*) AS n FROM job_posting_search_current s \
                 WHERE s.document @@ plainto_tsquery('english', ",
            )
            .bind(search.plain())
            .push(")");
        }
        (Some(search), true, false) => {
            sql.push("SELECT COUNT(*) AS n FROM (")
                .push(FTS_ROWIDS)
                .bind(search.fts5(None))
                .push(")");
        }
        _ => {
            sql.push("SELECT COUNT(*) AS n");
            push_from_where(&mut sql, filter);
        }
    }
    let row = db.query_one_raw(sql.statement()).await?;
    let n: i64 = match row {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    };
    Ok(n.max(0) as u64)
}

/// One posting by id, with the wide columns `columns` asks for.
pub async fn get_with(
    db: &impl ConnectionTrait,
    id: i64,
    columns: Columns,
) -> ApiResult<Option<job_posting::Model>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT ");
    push_columns(&mut sql, columns);
    sql.push(" FROM job_postings p WHERE p.id = ").bind(id);
    match db.query_one_raw(sql.statement()).await? {
        Some(row) => Ok(Some(model_from_row(&row, columns)?)),
        None => Ok(None),
    }
}

/// One posting by id, every column.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> ApiResult<Option<job_posting::Model>> {
    get_with(db, id, Columns::ALL).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_becomes_quoted_words_that_cannot_inject_fts_syntax() {
        let s = Search::parse(r#"Rust "engineer" OR NEAR(x) -senior*"#).unwrap();
        assert_eq!(s.terms, ["rust", "engineer", "or", "near", "x", "senior"]);
        assert_eq!(
            s.fts5(Some("title")),
            r#"title : ("rust" "engineer" "or" "near" "x" "senior")"#
        );
        assert!(Search::parse("  !! -- ").is_none());
    }

    #[test]
    fn cursors_round_trip_and_are_tied_to_their_order() {
        let order = Order {
            field: OrderField::SalaryAnnualMax,
            descending: false,
        };
        let pos = Position {
            order,
            value: SortValue::Num(123456.789),
            id: 42,
        };
        assert_eq!(Position::decode(&pos.encode(), order).unwrap(), pos);
        let title = Position {
            order: Order {
                field: OrderField::Title,
                descending: true,
            },
            value: SortValue::Text("a|b|c".into()),
            id: 7,
        };
        assert_eq!(
            Position::decode(&title.encode(), title.order).unwrap(),
            title
        );
        let err = Position::decode(&pos.encode(), Order::default()).unwrap_err();
        assert!(err.message().contains("different `orderBy`"));
        assert!(Position::decode("nope", order).is_err());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}

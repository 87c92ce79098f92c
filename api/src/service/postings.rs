//! Reading job postings: keyset-paginated pages in every supported order, counts, one by id.
//! What they select by is [`super::filter`].
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

use chrono::{DateTime, SecondsFormat, Utc};
use entity::job_posting::{self, Column};
use entity::{Source, WorkArrangement};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, FromQueryResult, IdenStatic, Iterable, QueryResult,
    Statement,
};

use super::filter::{
    FTS_ROWIDS, PostingFilter, Search, SearchPlan, Substrings, TRGM_ROWIDS, push_from_where,
    push_from_where_with, push_tsquery, trigram_queries,
};
use super::sql::Sql;
use crate::error::{ApiError, ApiResult};

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;

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
        use std::fmt::Write as _;
        // `v1|<field>|<a|d>|<id>|<t|n|s><value>`, in one buffer: every edge of a page has
        // a cursor, and formatting each part apart was three allocations per edge.
        let mut text = String::with_capacity(48);
        text.push_str("v1|");
        text.push_str(self.order.field.tag());
        text.push_str(if self.order.descending { "|d|" } else { "|a|" });
        let _ = write!(text, "{}|", self.id);
        match &self.value {
            SortValue::Time(s) => {
                text.push('t');
                text.push_str(s);
            }
            SortValue::Num(n) => {
                let _ = write!(text, "n{n}");
            }
            SortValue::Text(s) => {
                text.push('s');
                text.push_str(s);
            }
        }
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
                sql.push("CAST(ts_rank(s.document, ");
                push_tsquery(&mut *sql, search);
                sql.push(") AS DOUBLE PRECISION)");
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
pub(crate) fn push_columns(sql: &mut Sql, columns: Columns) {
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
pub(crate) fn model_from_row(
    row: &QueryResult,
    columns: Columns,
) -> Result<job_posting::Model, DbErr> {
    if columns == Columns::ALL {
        return job_posting::Model::from_query_result(row, "");
    }
    // By position, not by name: `push_columns` lists the selected columns first, in
    // declaration order (= bit order), so a column's position is the number of selected
    // columns before it. A lookup by name hashed the name once per value (~4 % of the CPU of
    // a page of 20, issue #16).
    let at = |c: Column| -> usize {
        let before = columns.with(Column::Id).0 & (Columns::bit(c) - 1);
        let i = before.count_ones() as usize;
        debug_assert_eq!(
            row.column_names().get(i).map(String::as_str),
            Some(c.as_str()),
            "model_from_row: column {} is not at position {i}",
            c.as_str()
        );
        i
    };
    fn get<T: sea_orm::TryGetable + Default>(
        row: &QueryResult,
        columns: Columns,
        c: Column,
        at: impl Fn(Column) -> usize,
    ) -> Result<T, DbErr> {
        if columns.has(c) {
            row.try_get_by_index(at(c))
        } else {
            Ok(T::default())
        }
    }
    let time = |c: Column| -> Result<DateTime<Utc>, DbErr> {
        if columns.has(c) {
            row.try_get_by_index(at(c))
        } else {
            Ok(DateTime::<Utc>::UNIX_EPOCH)
        }
    };
    let (r, k) = (row, columns);
    Ok(job_posting::Model {
        id: r.try_get_by_index(at(Column::Id))?,
        source: if k.has(Column::Source) {
            r.try_get_by_index(at(Column::Source))?
        } else {
            Source::Seek
        },
        external_id: get(r, k, Column::ExternalId, at)?,
        url: get(r, k, Column::Url, at)?,
        apply_url: get(r, k, Column::ApplyUrl, at)?,
        title: get(r, k, Column::Title, at)?,
        company: get(r, k, Column::Company, at)?,
        company_external_id: get(r, k, Column::CompanyExternalId, at)?,
        location_raw: get(r, k, Column::LocationRaw, at)?,
        city: get(r, k, Column::City, at)?,
        region: get(r, k, Column::Region, at)?,
        country: get(r, k, Column::Country, at)?,
        work_type: if k.has(Column::WorkType) {
            r.try_get_by_index(at(Column::WorkType))?
        } else {
            None
        },
        work_arrangement: if k.has(Column::WorkArrangement) {
            r.try_get_by_index(at(Column::WorkArrangement))?
        } else {
            WorkArrangement::Unknown
        },
        salary_text: get(r, k, Column::SalaryText, at)?,
        salary_min: get(r, k, Column::SalaryMin, at)?,
        salary_max: get(r, k, Column::SalaryMax, at)?,
        salary_currency: get(r, k, Column::SalaryCurrency, at)?,
        salary_period: if k.has(Column::SalaryPeriod) {
            r.try_get_by_index(at(Column::SalaryPeriod))?
        } else {
            None
        },
        salary_annual_min: get(r, k, Column::SalaryAnnualMin, at)?,
        salary_annual_max: get(r, k, Column::SalaryAnnualMax, at)?,
        salary_source: if k.has(Column::SalarySource) {
            r.try_get_by_index(at(Column::SalarySource))?
        } else {
            None
        },
        description_html: get(r, k, Column::DescriptionHtml, at)?,
        description_text: get(r, k, Column::DescriptionText, at)?,
        classification: get(r, k, Column::Classification, at)?,
        posted_at: get(r, k, Column::PostedAt, at)?,
        expires_at: get(r, k, Column::ExpiresAt, at)?,
        first_seen_at: time(Column::FirstSeenAt)?,
        last_seen_at: time(Column::LastSeenAt)?,
        closed_at: get(r, k, Column::ClosedAt, at)?,
        content_hash: get(r, k, Column::ContentHash, at)?,
        raw: get(r, k, Column::Raw, at)?,
        first_run_id: get(r, k, Column::FirstRunId, at)?,
        last_run_id: get(r, k, Column::LastRunId, at)?,
        created_at: time(Column::CreatedAt)?,
        updated_at: time(Column::UpdatedAt)?,
        company_key: get(r, k, Column::CompanyKey, at)?,
        title_key: get(r, k, Column::TitleKey, at)?,
        simhash: get(r, k, Column::Simhash, at)?,
        cluster_id: get(r, k, Column::ClusterId, at)?,
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

/// The statement [`page`] runs for `req` (plans chosen, parameters bound).
async fn page_sql(db: &impl ConnectionTrait, req: &PageRequest<'_>) -> ApiResult<Sql> {
    let mut sql = Sql::new(db.get_database_backend());
    let plan = search_plan(db, req.filter, req.order).await?;
    let substrings = substrings_plan(db, req.filter).await?;
    push_page(&mut sql, req, plan, substrings)?;
    Ok(sql)
}

/// Walking backward is walking forward in the reversed order: the comparison and direction.
fn direction(req: &PageRequest<'_>) -> (&'static str, &'static str) {
    if req.order.descending != req.backward {
        ("<", "DESC")
    } else {
        (">", "ASC")
    }
}

/// The page statement for `req` with the plans chosen.
fn push_page(
    sql: &mut Sql,
    req: &PageRequest<'_>,
    plan: SearchPlan,
    substrings: Substrings,
) -> ApiResult<()> {
    let (cmp, dir) = direction(req);
    sql.push("SELECT ");
    push_columns(sql, req.columns);
    sql.push(", ");
    push_sort_key(sql, req.order, req.filter)?;
    sql.push(" AS sort_key");
    push_from_where_with(sql, req.filter, plan, substrings);
    if let Some(pos) = &req.cursor {
        sql.push(" AND (");
        push_sort_key(sql, req.order, req.filter)?;
        sql.push(&format!(", p.id) {cmp} ("));
        bind_sort_value(sql, &pos.value)?;
        sql.push(", ").bind(pos.id).push(")");
    }
    sql.push(&format!(" ORDER BY sort_key {dir}, p.id {dir} LIMIT "))
        .int((req.limit + 1) as i64);
    Ok(())
}

/// PostgreSQL, with a search: the page from the full-text index alone, in the same statement
/// as the probe of the indexing queue (`queued`, on every row; one row of NULLs when the page
/// is empty or the queue is not). Two statements were two round trips (and two pooled
/// connections) per search; the probe only decides whether the index alone is exact, which it
/// is whenever nothing waits to be indexed. `None` when something does: the caller then plans
/// as before ([`search_plan`]).
async fn pg_search_page(
    db: &impl ConnectionTrait,
    req: &PageRequest<'_>,
) -> ApiResult<Option<Vec<QueryResult>>> {
    let (_, dir) = direction(req);
    let mut sql = Sql::new(DbBackend::Postgres);
    sql.push(
        // The page's columns first, where `model_from_row` reads them by position.
        "SELECT pg.*, q.queued FROM (SELECT EXISTS (SELECT 1 FROM job_posting_search_queue \
         ORDER BY posting_id LIMIT 1) AS queued) q LEFT JOIN LATERAL (",
    );
    push_page(&mut sql, req, SearchPlan::IndexOnly, Substrings::INDEX)?;
    sql.push(&format!(
        ") pg ON NOT q.queued ORDER BY pg.sort_key {dir}, pg.id {dir}"
    ));
    let mut rows = db.query_all_raw(sql.statement()).await?;
    let queued = match rows.first() {
        Some(r) => r.try_get::<bool>("", "queued")?,
        None => false,
    };
    if queued {
        return Ok(None);
    }
    // The one row of NULLs an empty page leaves.
    rows.retain(|r| matches!(r.try_get::<Option<i64>>("", "id"), Ok(Some(_))));
    Ok(Some(rows))
}

/// The database's plan for the statement [`page`] would run (`EXPLAIN` on PostgreSQL, the
/// details of `EXPLAIN QUERY PLAN` on SQLite), one line per node: to check which indexes a
/// filter uses, in tests and when a filter is slow.
pub async fn explain_page(db: &impl ConnectionTrait, req: PageRequest<'_>) -> ApiResult<String> {
    explain(db, page_sql(db, &req).await?).await
}

/// Like [`explain_page`], for the statement [`count`] would run.
pub async fn explain_count(db: &impl ConnectionTrait, filter: &PostingFilter) -> ApiResult<String> {
    explain(db, count_sql(db.get_database_backend(), filter)).await
}

async fn explain(db: &impl ConnectionTrait, sql: Sql) -> ApiResult<String> {
    let pg = sql.is_pg();
    let mut statement = sql.statement();
    statement.sql = if pg {
        format!("EXPLAIN {}", statement.sql)
    } else {
        format!("EXPLAIN QUERY PLAN {}", statement.sql)
    };
    let column = if pg { "QUERY PLAN" } else { "detail" };
    let mut lines = Vec::new();
    for row in db.query_all_raw(statement).await? {
        lines.push(row.try_get::<String>("", column)?);
    }
    Ok(lines.join("\n"))
}

/// One page of postings matching `req.filter` in `req.order`, starting after `req.cursor`.
pub async fn page(db: &impl ConnectionTrait, req: PageRequest<'_>) -> ApiResult<Page> {
    let backend = db.get_database_backend();
    let piggyback = if backend == DbBackend::Postgres && req.filter.search.is_some() {
        pg_search_page(db, &req).await?
    } else {
        None
    };
    let rows = match (piggyback, &req.filter.search) {
        (Some(rows), _) => rows,
        // The piggybacked probe found postings waiting to be indexed: plan for them without
        // probing the queue again.
        (None, Some(search)) if backend == DbBackend::Postgres => {
            let plan = pg_plan_while_queued(db, search).await?;
            let mut sql = Sql::new(backend);
            push_page(&mut sql, &req, plan, Substrings::INDEX)?;
            db.query_all_raw(sql.statement()).await?
        }
        (None, _) => {
            let sql = page_sql(db, &req).await?;
            db.query_all_raw(sql.statement()).await?
        }
    };
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

/// Matches at or above which a SQLite search counts as "common" (see [`SearchPlan`]).
const COMMON_MATCHES: i64 = 2_000;

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
        return pg_plan_while_queued(db, search).await;
    }
    // Relevance needs every match's score anyway.
    if order.field == OrderField::Relevance {
        return Ok(SearchPlan::FromMatches);
    }
    Ok(if is_common(db, FTS_ROWIDS, search.fts5(None)).await? {
        SearchPlan::ProbeEachRow
    } else {
        SearchPlan::FromMatches
    })
}

/// PostgreSQL, with postings waiting to be indexed: whether one of them matches `search`, by
/// its new text or by the entry it still has in the index (then the page reads the view),
/// or not (the index alone is exact).
async fn pg_plan_while_queued(db: &impl ConnectionTrait, search: &Search) -> ApiResult<SearchPlan> {
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
    Ok(if queued_match {
        SearchPlan::FromMatches
    } else {
        SearchPlan::IndexOnly
    })
}

/// SQLite: start `titleContains` / `locationContains` from the trigram index unless the text is
/// common (the same rule and threshold as a search: see [`SearchPlan`]); the index has no
/// order, so for a common word it would list and sort thousands of rows that walking the
/// requested order skips after a page. PostgreSQL decides this in its planner.
async fn substrings_plan(
    db: &impl ConnectionTrait,
    filter: &PostingFilter,
) -> ApiResult<Substrings> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(Substrings::INDEX);
    }
    let (title, location) = trigram_queries(filter);
    let mut plan = Substrings::SCAN;
    if let Some(q) = title {
        plan.title_index = !is_common(db, TRGM_ROWIDS, q).await?;
    }
    if let Some(q) = location {
        plan.location_index = !is_common(db, TRGM_ROWIDS, q).await?;
    }
    Ok(plan)
}

/// SQLite: whether `rowids` (an FTS5 `… MATCH ` prefix) finds at least [`COMMON_MATCHES`] rows
/// for `query` (one cheap statement, remembered for a minute).
async fn is_common(db: &impl ConnectionTrait, rowids: &str, query: String) -> ApiResult<bool> {
    // The two tables' queries never collide: a trigram query always names its columns.
    if let Some(common) = plans::get(&query) {
        return Ok(common);
    }
    let mut sql = Sql::new(DbBackend::Sqlite);
    sql.push("SELECT COUNT(*) AS n FROM (")
        .push(rowids)
        .bind(query.clone())
        .push(" LIMIT ")
        .int(COMMON_MATCHES)
        .push(")");
    let n: i64 = match db.query_one_raw(sql.statement()).await? {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    };
    let common = n >= COMMON_MATCHES;
    plans::put(query, common);
    Ok(common)
}

/// Recently counted SQLite searches and substrings (whether each is common), so a popular one
/// is counted once a minute rather than on every page (counting up to 2,000 matches costs more
/// than the page itself). Only the speed of a query depends on this, never its result.
mod plans {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    const TTL: Duration = Duration::from_secs(60);
    const MAX_ENTRIES: usize = 1024;

    type Plans = Mutex<HashMap<String, (Instant, bool)>>;

    fn plans() -> &'static Plans {
        static PLANS: OnceLock<Plans> = OnceLock::new();
        PLANS.get_or_init(Default::default)
    }

    pub(super) fn get(query: &str) -> Option<bool> {
        let map = plans().lock().unwrap_or_else(|p| p.into_inner());
        map.get(query)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, common)| *common)
    }

    pub(super) fn put(query: String, common: bool) {
        let mut map = plans().lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(query, (Instant::now(), common));
    }
}

/// The statement [`count`] runs.
fn count_sql(backend: DbBackend, filter: &PostingFilter) -> Sql {
    let mut sql = Sql::new(backend);
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
                 WHERE s.document @@ ",
            );
            push_tsquery(&mut sql, search);
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
    sql
}

/// How many postings match `filter`.
pub async fn count(db: &impl ConnectionTrait, filter: &PostingFilter) -> ApiResult<u64> {
    let sql = count_sql(db.get_database_backend(), filter);
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
}

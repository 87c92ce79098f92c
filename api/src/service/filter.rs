//! The posting filter, in one place: what `jobPostings`, `IngestRun.postings`, `jobStats` and
//! the posting subscriptions select by ([`PostingFilter`]), in both of its forms side by side —
//! the SQL condition every query runs (`push_from_where`) and the same rule over one row in
//! memory ([`matches()`]), for subscriptions, which see postings one at a time. A rule changed in
//! one must change in the other: `api/tests/posting_filter.rs` runs random filters over random
//! postings through both, on SQLite and PostgreSQL, and requires the same postings.
//!
//! One difference is by design: `search` is full text in SQL (title, company and description;
//! stemmed, so `engineers` finds `engineer`; PostgreSQL drops stop words) but in memory only
//! tests that every word occurs in the title or the company (a case-insensitive substring):
//! subscriptions do not consult the index per event. The two agree on words that appear in
//! titles and companies as they are written.

use chrono::{DateTime, Utc};
use entity::job_posting;
use entity::{Source, WorkArrangement, WorkType};

use super::sql::Sql;

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
    pub(crate) fn plain(&self) -> String {
        self.terms.join(" ")
    }

    /// An FTS5 query: every word quoted (so nothing the client sends is FTS5 syntax), all
    /// required; restricted to one column when `column` is given.
    pub(crate) fn fts5(&self, column: Option<&str>) -> String {
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
    /// One posting per cluster (the same job on several boards): its first-stored member,
    /// whose `cluster_id` is NULL (see `ingest::store::cluster`).
    pub distinct: bool,
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
pub(crate) const FTS_ROWIDS: &str =
    "SELECT rowid FROM job_postings_fts WHERE job_postings_fts MATCH ";

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

/// SQLite: the rowids of trigram-index rows matching `query` (migration 000016).
pub(crate) const TRGM_ROWIDS: &str =
    "SELECT rowid FROM job_postings_trgm WHERE job_postings_trgm MATCH ";

/// The trigram-indexed columns `locationContains` looks in, as an FTS5 column set.
const LOCATION_COLUMNS: &str = "{location_raw city region}";

/// SQLite: an FTS5 query for `job_postings_trgm` that finds every row whose `columns` contain
/// `text` (and a few more: the trigram tokenizer folds case for all of Unicode, LIKE only for
/// ASCII), as one quoted phrase, so nothing the client sends is FTS5 syntax and `%`/`_` are
/// plain characters there as they are (escaped) in the LIKE. `None` when the index cannot
/// answer: fewer than three characters make no trigram (the phrase would match nothing), and
/// FTS5 would cut its query at a NUL.
pub(crate) fn trigram_query(columns: &str, text: &str) -> Option<String> {
    if text.chars().count() < 3 || text.contains('\0') {
        return None;
    }
    Some(format!("{columns} : \"{}\"", text.replace('"', "\"\"")))
}

/// SQLite: the trigram queries `filter`'s substring parts would use, for a caller that decides
/// per part whether to use the index ([`Substrings`]).
pub(crate) fn trigram_queries(filter: &PostingFilter) -> (Option<String>, Option<String>) {
    (
        filter
            .title_contains
            .as_deref()
            .and_then(|t| trigram_query("title", t)),
        filter
            .location_contains
            .as_deref()
            .and_then(|l| trigram_query(LOCATION_COLUMNS, l)),
    )
}

/// SQLite: which of `titleContains` / `locationContains` start from the trigram index (the
/// rows that contain the text, then LIKE on each) rather than LIKE over every row considered.
/// Only speed depends on it, never the answer. PostgreSQL's planner makes this choice itself
/// (its ILIKE estimates come from column statistics), so there this changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Substrings {
    pub title_index: bool,
    pub location_index: bool,
}

impl Substrings {
    /// From the index whenever it can: right for counts and aggregates, which read every match
    /// anyway, and for rare text.
    pub const INDEX: Substrings = Substrings {
        title_index: true,
        location_index: true,
    };
    /// LIKE on each row: for "newest 20 containing a common word", where walking postings in
    /// order fills the page after a few dozen rows but the index lists thousands to sort.
    pub const SCAN: Substrings = Substrings {
        title_index: false,
        location_index: false,
    };
}

/// A LIKE pattern: bound on SQLite; written into the text on PostgreSQL, which plans an ILIKE
/// by its pattern (see [`Sql::pg_text_literal`]), unless it holds a NUL (which PostgreSQL
/// refuses either way; bound, it fails as it always has).
fn push_pattern(sql: &mut Sql, pattern: &str) {
    if sql.is_pg() && !pattern.contains('\0') {
        sql.pg_text_literal(pattern);
    } else {
        sql.bind(pattern.to_owned());
    }
}

/// SQLite: ` AND p.id IN (<rows of the trigram index matching query>)`.
fn push_trigram_candidates(sql: &mut Sql, query: String) {
    sql.push(" AND p.id IN (")
        .push(TRGM_ROWIDS)
        .bind(query)
        .push(")");
}

/// PostgreSQL: `plainto_tsquery('english', '<the words>')`, the words written into the text
/// rather than bound. Bound, every execution was planned afresh: PostgreSQL keeps choosing a
/// custom plan when the generic one (made without the words) looks dearer, and planning a
/// search costs ~0.25 ms, twice its execution for a common word. Written in, the statement
/// has no parameter to plan for: planned once per connection and word, then reused
/// (`EXPLAIN EXECUTE`: planning 0.257 → 0.003 ms). The words are letters and digits only
/// ([`Search::parse`]), escaped as any literal would be.
pub(crate) fn push_tsquery(sql: &mut Sql, search: &Search) {
    sql.push("plainto_tsquery('english', ")
        .pg_text_literal(&search.plain())
        .push(")");
}

/// ` FROM job_postings p [JOIN job_posting_search_current s] WHERE …` for `filter`.
pub(crate) fn push_from_where(sql: &mut Sql, filter: &PostingFilter) {
    push_from_where_with(sql, filter, SearchPlan::FromMatches, Substrings::INDEX)
}

pub(crate) fn push_from_where_with(
    sql: &mut Sql,
    filter: &PostingFilter,
    plan: SearchPlan,
    substrings: Substrings,
) {
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
            sql.push(" AND s.document @@ ");
            push_tsquery(sql, search);
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
    // PostgreSQL: the ILIKE alone; its trigram GIN indexes (if pg_trgm could be installed)
    // serve it as written. SQLite: the trigram index narrows the rows to candidates first when
    // it can, and the LIKE, unchanged, decides: the same answers with or without the index.
    let like = if sql.is_pg() { "ILIKE" } else { "LIKE" };
    let (title_trgm, location_trgm) = if sql.is_pg() {
        (None, None)
    } else {
        trigram_queries(filter)
    };
    if let Some(t) = &filter.title_contains {
        if let Some(q) = title_trgm.filter(|_| substrings.title_index) {
            push_trigram_candidates(sql, q);
        }
        sql.push(&format!(" AND p.title {like} "));
        push_pattern(sql, &like_pattern(t));
        sql.push(" ESCAPE '\\'");
    }
    if let Some(l) = &filter.location_contains {
        if let Some(q) = location_trgm.filter(|_| substrings.location_index) {
            push_trigram_candidates(sql, q);
        }
        let pattern = like_pattern(l);
        sql.push(" AND (");
        for (i, col) in ["p.location_raw", "p.city", "p.region"].iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push(&format!("{col} {like} "));
            push_pattern(sql, &pattern);
            sql.push(" ESCAPE '\\'");
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
    if filter.distinct {
        sql.push(" AND p.cluster_id IS NULL");
    }
    for run in &filter.run_ids {
        sql.push(" AND (p.first_run_id = ")
            .bind(*run)
            .push(" OR p.last_run_id = ")
            .bind(*run)
            .push(")");
    }
}

fn contains_ci(haystack: Option<&str>, needle_lower: &str) -> bool {
    haystack.is_some_and(|h| h.to_lowercase().contains(needle_lower))
}

/// Whether `posting` passes `filter`: the rule of `push_from_where` over one row, for code that
/// sees postings one at a time. Same rules as the database query except `search` (see the
/// module's documentation).
pub fn matches(filter: &PostingFilter, posting: &job_posting::Model) -> bool {
    let (f, p) = (filter, posting);
    if let Some(search) = &f.search {
        let title = p.title.to_lowercase();
        let company = p.company.as_deref().unwrap_or("").to_lowercase();
        if !search
            .terms
            .iter()
            .all(|t| title.contains(t.as_str()) || company.contains(t.as_str()))
        {
            return false;
        }
    }
    if !f.sources.is_empty() && !f.sources.contains(&p.source) {
        return false;
    }
    if !f.companies.is_empty() && !p.company.as_ref().is_some_and(|c| f.companies.contains(c)) {
        return false;
    }
    if let Some(t) = &f.title_contains
        && !p.title.to_lowercase().contains(&t.to_lowercase())
    {
        return false;
    }
    if let Some(l) = &f.location_contains {
        let l = l.to_lowercase();
        if !(contains_ci(p.location_raw.as_deref(), &l)
            || contains_ci(p.city.as_deref(), &l)
            || contains_ci(p.region.as_deref(), &l))
        {
            return false;
        }
    }
    if !f.countries.is_empty() && !p.country.as_ref().is_some_and(|c| f.countries.contains(c)) {
        return false;
    }
    if !f.work_types.is_empty() && !p.work_type.is_some_and(|w| f.work_types.contains(&w)) {
        return false;
    }
    if !f.work_arrangements.is_empty() && !f.work_arrangements.contains(&p.work_arrangement) {
        return false;
    }
    if let Some(min) = f.salary_annual_min
        && !p
            .salary_annual_max
            .or(p.salary_annual_min)
            .is_some_and(|v| v >= min)
    {
        return false;
    }
    if let Some(max) = f.salary_annual_max
        && !p
            .salary_annual_min
            .or(p.salary_annual_max)
            .is_some_and(|v| v <= max)
    {
        return false;
    }
    if let Some(c) = &f.salary_currency
        && p.salary_currency.as_ref() != Some(c)
    {
        return false;
    }
    if let Some(after) = f.posted_after
        && p.posted_at.is_none_or(|t| t < after)
    {
        return false;
    }
    if let Some(before) = f.posted_before
        && p.posted_at.is_none_or(|t| t >= before)
    {
        return false;
    }
    if let Some(after) = f.seen_after
        && p.last_seen_at < after
    {
        return false;
    }
    if let Some(open) = f.open
        && open != p.closed_at.is_none()
    {
        return false;
    }
    if f.distinct && p.cluster_id.is_some() {
        return false;
    }
    f.run_ids
        .iter()
        .all(|r| p.first_run_id == Some(*r) || p.last_run_id == Some(*r))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

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
    fn trigram_queries_quote_the_text_and_need_three_characters() {
        assert_eq!(
            trigram_query("title", r#"5"0%_x"#).as_deref(),
            Some(r#"title : "5""0%_x""#)
        );
        assert_eq!(
            trigram_query(LOCATION_COLUMNS, "Zü").as_deref(),
            None,
            "two characters (three bytes) make no trigram"
        );
        assert_eq!(
            trigram_query(LOCATION_COLUMNS, "Zür").as_deref(),
            Some(r#"{location_raw city region} : "Zür""#)
        );
        assert_eq!(trigram_query("title", "ab\0cd"), None);
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    fn posting() -> job_posting::Model {
        let t = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        job_posting::Model {
            id: 1,
            source: Source::Seek,
            external_id: "1".into(),
            url: "https://example.com/1".into(),
            apply_url: None,
            title: "Senior Rust Engineer".into(),
            company: Some("Acme".into()),
            company_external_id: None,
            location_raw: Some("Sydney NSW".into()),
            city: Some("Sydney".into()),
            region: Some("NSW".into()),
            country: Some("AU".into()),
            work_type: Some(WorkType::FullTime),
            work_arrangement: WorkArrangement::Hybrid,
            salary_text: None,
            salary_min: None,
            salary_max: None,
            salary_currency: Some("AUD".into()),
            salary_period: None,
            salary_annual_min: Some(150_000.0),
            salary_annual_max: Some(180_000.0),
            salary_source: None,
            description_html: None,
            description_text: Some("Tokio and PostgreSQL".into()),
            classification: None,
            posted_at: Some(t),
            expires_at: None,
            first_seen_at: t,
            last_seen_at: t,
            closed_at: None,
            content_hash: "h".into(),
            raw: None,
            first_run_id: Some(3),
            last_run_id: Some(5),
            created_at: t,
            updated_at: t,
            company_key: Some("acme".into()),
            title_key: Some("engineer rust senior".into()),
            simhash: None,
            cluster_id: None,
        }
    }

    #[test]
    fn an_empty_filter_matches_everything() {
        assert!(matches(&PostingFilter::default(), &posting()));
    }

    #[test]
    fn each_field_filters_and_fields_combine_with_and() {
        let p = posting();
        let t = |f: PostingFilter| matches(&f, &p);
        let search = |s: &str| Search::parse(s);
        assert!(t(PostingFilter {
            search: search("rust ACME"),
            ..Default::default()
        }));
        assert!(!t(PostingFilter {
            search: search("tokio"), // description only: not tested here
            ..Default::default()
        }));
        assert!(t(PostingFilter {
            sources: vec![Source::Indeed, Source::Seek],
            countries: vec!["AU".into()],
            work_types: vec![WorkType::FullTime],
            work_arrangements: vec![WorkArrangement::Hybrid],
            ..Default::default()
        }));
        assert!(!t(PostingFilter {
            sources: vec![Source::Seek],
            countries: vec!["NZ".into()],
            ..Default::default()
        }));
        assert!(t(PostingFilter {
            salary_annual_min: Some(170_000.0),
            salary_annual_max: Some(150_000.0),
            salary_currency: Some("AUD".into()),
            ..Default::default()
        }));
        assert!(!t(PostingFilter {
            salary_annual_min: Some(190_000.0),
            ..Default::default()
        }));
        assert!(t(PostingFilter {
            title_contains: Some("RUST eng".into()),
            location_contains: Some("nsw".into()),
            open: Some(true),
            run_ids: vec![5],
            ..Default::default()
        }));
        assert!(!t(PostingFilter {
            run_ids: vec![4],
            ..Default::default()
        }));
        // `distinct`: only a cluster's first-stored posting (the one without a `cluster_id`).
        let distinct = PostingFilter {
            distinct: true,
            ..Default::default()
        };
        assert!(t(distinct.clone()));
        let mut joined = posting();
        joined.cluster_id = Some(7);
        assert!(!matches(&distinct, &joined));
        let day = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        assert!(t(PostingFilter {
            posted_after: Some(day),
            seen_after: Some(day),
            ..Default::default()
        }));
        assert!(!t(PostingFilter {
            posted_before: Some(day),
            ..Default::default()
        }));
        assert!(!t(PostingFilter {
            companies: vec!["acme".into()],
            ..Default::default()
        }));
    }
}

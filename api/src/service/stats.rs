//! Aggregates over postings for `jobStats`: every figure comes from SQL aggregates over the rows
//! a [`PostingFilter`] selects, never from a loop over rows in Rust. With no filter they are
//! answered from the covering indexes of `m20261127_000002_search`, over one source from those
//! of `m20261207_000013_stats_by_source` (same expression texts as here: keep them in step).
//! Results are reused per filter and data generation by [`super::aggregates`].

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend};

use super::filter::{PostingFilter, push_from_where};
use super::sql::Sql;
use crate::error::ApiResult;

/// Totals and counts per value of each low-cardinality column. Each list is largest first,
/// NULL (unknown) keys included.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facets {
    pub total: u64,
    /// Not closed.
    pub open: u64,
    pub by_source: Vec<(Option<String>, u64)>,
    pub by_work_type: Vec<(Option<String>, u64)>,
    pub by_work_arrangement: Vec<(Option<String>, u64)>,
    pub by_country: Vec<(Option<String>, u64)>,
}

/// Postings per city/region/country.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationCount {
    pub city: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub count: u64,
}

/// Annual salary statistics for one currency, over each posting's annual midpoint
/// (`(annual min + annual max) / 2`, or the one that is known).
#[derive(Debug, Clone, PartialEq)]
pub struct SalaryStats {
    pub currency: String,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub average: f64,
    /// Percentiles with linear interpolation (PostgreSQL's `percentile_cont`).
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
}

/// The annual midpoint of a posting's salary, NULL when it has none. The index
/// `idx_job_postings_salary_mid` is built on this exact expression.
const MIDPOINT: &str = "((COALESCE(p.salary_annual_min, p.salary_annual_max) \
     + COALESCE(p.salary_annual_max, p.salary_annual_min)) / 2.0)";

fn to_u64(n: i64) -> u64 {
    n.max(0) as u64
}

/// Totals and the per-source / work type / arrangement / country counts in ONE statement:
/// `GROUP BY source, work_type, work_arrangement, country` (the `idx_job_postings_facets` order,
/// so SQLite aggregates while scanning the index) yields at most a few thousand groups, whose
/// counts are then added up per column — summing aggregates, not reading rows.
pub async fn facets(db: &impl ConnectionTrait, filter: &PostingFilter) -> ApiResult<Facets> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "SELECT p.source AS s, p.work_type AS w, p.work_arrangement AS a, p.country AS c, \
         COUNT(*) AS n, COUNT(CASE WHEN p.closed_at IS NULL THEN 1 END) AS o",
    );
    push_from_where(&mut sql, filter);
    sql.push(" GROUP BY p.source, p.work_type, p.work_arrangement, p.country");
    let mut out = Facets::default();
    let mut maps: [HashMap<Option<String>, u64>; 4] = Default::default();
    for r in db.query_all_raw(sql.statement()).await? {
        let n = to_u64(r.try_get("", "n")?);
        out.total += n;
        out.open += to_u64(r.try_get("", "o")?);
        for (map, col) in maps.iter_mut().zip(["s", "w", "a", "c"]) {
            *map.entry(r.try_get::<Option<String>>("", col)?)
                .or_insert(0) += n;
        }
    }
    let [s, w, a, c] = maps.map(|m| {
        let mut v: Vec<(Option<String>, u64)> = m.into_iter().collect();
        v.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        v
    });
    out.by_source = s;
    out.by_work_type = w;
    out.by_work_arrangement = a;
    out.by_country = c;
    Ok(out)
}

/// The `limit` companies with the most postings.
pub async fn top_companies(
    db: &impl ConnectionTrait,
    filter: &PostingFilter,
    limit: u64,
) -> ApiResult<Vec<(String, u64)>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT p.company AS k, COUNT(*) AS n");
    push_from_where(&mut sql, filter);
    sql.push(" AND p.company IS NOT NULL GROUP BY p.company ORDER BY n DESC, k LIMIT ")
        .int(limit as i64);
    db.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "k")?, to_u64(r.try_get("", "n")?))))
        .collect()
}

/// The `limit` locations (city, region, country) with the most postings.
pub async fn top_locations(
    db: &impl ConnectionTrait,
    filter: &PostingFilter,
    limit: u64,
) -> ApiResult<Vec<LocationCount>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT p.city AS city, p.region AS region, p.country AS country, COUNT(*) AS n");
    push_from_where(&mut sql, filter);
    sql.push(
        " AND (p.city IS NOT NULL OR p.region IS NOT NULL) \
         GROUP BY p.city, p.region, p.country ORDER BY n DESC, city, region, country LIMIT ",
    )
    .int(limit as i64);
    db.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|r| {
            Ok(LocationCount {
                city: r.try_get("", "city")?,
                region: r.try_get("", "region")?,
                country: r.try_get("", "country")?,
                count: to_u64(r.try_get("", "n")?),
            })
        })
        .collect()
}

/// Salary statistics per currency, the most common currency first.
pub async fn salary(
    db: &impl ConnectionTrait,
    filter: &PostingFilter,
) -> ApiResult<Vec<SalaryStats>> {
    let backend = db.get_database_backend();
    let has_salary = format!(" AND p.salary_currency IS NOT NULL AND {MIDPOINT} IS NOT NULL");
    let pg = backend == DbBackend::Postgres;
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT p.salary_currency AS currency, COUNT(*) AS n, MIN({MIDPOINT}) AS mn, \
         MAX({MIDPOINT}) AS mx, AVG({MIDPOINT}) AS av"
    ));
    if pg {
        sql.push(&format!(
            ", percentile_cont(0.25) WITHIN GROUP (ORDER BY {MIDPOINT}) AS p25, \
             percentile_cont(0.5) WITHIN GROUP (ORDER BY {MIDPOINT}) AS p50, \
             percentile_cont(0.75) WITHIN GROUP (ORDER BY {MIDPOINT}) AS p75"
        ));
    }
    push_from_where(&mut sql, filter);
    sql.push(&has_salary);
    sql.push(" GROUP BY p.salary_currency ORDER BY n DESC, currency");
    let mut stats = Vec::new();
    for r in db.query_all_raw(sql.statement()).await? {
        let pct =
            |name: &str| -> ApiResult<f64> { Ok(if pg { r.try_get("", name)? } else { f64::NAN }) };
        stats.push(SalaryStats {
            currency: r.try_get("", "currency")?,
            count: to_u64(r.try_get("", "n")?),
            min: r.try_get("", "mn")?,
            max: r.try_get("", "mx")?,
            average: r.try_get("", "av")?,
            p25: pct("p25")?,
            p50: pct("p50")?,
            p75: pct("p75")?,
        });
    }
    if pg {
        return Ok(stats);
    }

    // SQLite has no percentile_cont. The values at the percentile positions are read from the
    // `(currency, midpoint)` index with `ORDER BY midpoint LIMIT 1 OFFSET k` (no sort, and no
    // row reads when unfiltered), all in one compound statement, then interpolated like
    // percentile_cont: value at p·(n−1), between its two neighbours.
    let mut wanted: Vec<(usize, u64)> = Vec::new();
    for (i, s) in stats.iter().enumerate() {
        for p in [0.25, 0.5, 0.75] {
            let lo = (p * s.count.saturating_sub(1) as f64).floor() as u64;
            wanted.push((i, lo));
            if lo + 1 < s.count {
                wanted.push((i, lo + 1));
            }
        }
    }
    wanted.sort_unstable();
    wanted.dedup();
    let mut values: HashMap<(usize, u64), f64> = HashMap::new();
    // SQLite allows 500 terms in a compound SELECT.
    for chunk in wanted.chunks(100) {
        let mut sql = Sql::new(backend);
        for (j, (i, offset)) in chunk.iter().enumerate() {
            if j > 0 {
                sql.push(" UNION ALL ");
            }
            sql.push("SELECT ")
                .bind(*i as i64)
                .push(" AS i, ")
                .bind(*offset as i64)
                .push(&format!(" AS k, (SELECT {MIDPOINT}"));
            push_from_where(&mut sql, filter);
            sql.push(&has_salary);
            sql.push(" AND p.salary_currency = ")
                .bind(stats[*i].currency.clone())
                .push(&format!(" ORDER BY {MIDPOINT} LIMIT 1 OFFSET "))
                .int(*offset as i64)
                .push(") AS v");
        }
        for r in db.query_all_raw(sql.statement()).await? {
            let (i, k): (i64, i64) = (r.try_get("", "i")?, r.try_get("", "k")?);
            if let Some(v) = r.try_get::<Option<f64>>("", "v")? {
                values.insert((i as usize, k as u64), v);
            }
        }
    }
    for (i, s) in stats.iter_mut().enumerate() {
        let n = s.count;
        let at = |p: f64| {
            let pos = p * n.saturating_sub(1) as f64;
            let lo = pos.floor();
            let v_lo = values.get(&(i, lo as u64)).copied().unwrap_or(f64::NAN);
            let v_hi = values.get(&(i, lo as u64 + 1)).copied().unwrap_or(v_lo);
            v_lo + (pos - lo) * (v_hi - v_lo)
        };
        s.p25 = at(0.25);
        s.p50 = at(0.5);
        s.p75 = at(0.75);
    }
    Ok(stats)
}

/// Postings per UTC day from `from` to `to` inclusive, by posting date (first-seen date when the
/// source gave none). Days without postings are included with 0.
pub async fn per_day(
    db: &impl ConnectionTrait,
    filter: &PostingFilter,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<Vec<(NaiveDate, u64)>> {
    let backend = db.get_database_backend();
    let pg = backend == DbBackend::Postgres;
    // SQLite stores timestamps as RFC 3339 text in UTC: the day is the first ten characters.
    let day_expr = if pg {
        "CAST(COALESCE(p.posted_at, p.first_seen_at) AT TIME ZONE 'UTC' AS DATE)"
    } else {
        "substr(COALESCE(p.posted_at, p.first_seen_at), 1, 10)"
    };
    let start: DateTime<Utc> = from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let end: DateTime<Utc> = to
        .checked_add_days(Days::new(1))
        .unwrap_or(to)
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let mut sql = Sql::new(backend);
    sql.push(&format!("SELECT {day_expr} AS d, COUNT(*) AS n"));
    push_from_where(&mut sql, filter);
    if pg {
        sql.push(" AND COALESCE(p.posted_at, p.first_seen_at) >= ")
            .bind(start)
            .push(" AND COALESCE(p.posted_at, p.first_seen_at) < ")
            .bind(end);
    } else {
        // On the day expression itself, so the range is read from `idx_job_postings_day`;
        // the dates are written into the SQL (digits and `-` only) so that SQLite does not
        // re-plan the statement for every new binding.
        sql.push(&format!(
            " AND {day_expr} >= '{}' AND {day_expr} <= '{}'",
            from.format("%Y-%m-%d"),
            to.format("%Y-%m-%d")
        ));
    }
    sql.push(&format!(" GROUP BY {day_expr}"));
    let mut counts = HashMap::new();
    for r in db.query_all_raw(sql.statement()).await? {
        let day = if pg {
            Some(r.try_get::<NaiveDate>("", "d")?)
        } else {
            NaiveDate::parse_from_str(&r.try_get::<String>("", "d")?, "%Y-%m-%d").ok()
        };
        if let Some(day) = day {
            *counts.entry(day).or_insert(0) += to_u64(r.try_get("", "n")?);
        }
    }
    Ok(from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|d| (d, counts.get(&d).copied().unwrap_or(0)))
        .collect())
}

/// How long one point of a time series covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    /// ISO weeks, starting on Monday.
    Week,
    Month,
}

/// What a time series measures per bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Postings first seen in the bucket.
    NewPostings,
    /// Postings open at the end of the bucket: first seen before it ended and not closed by
    /// then.
    OpenPostings,
    /// The median annual salary midpoint of the postings first seen in the bucket.
    MedianAnnualSalary,
}

/// What splits a time series into several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    None,
    Source,
    Country,
    WorkArrangement,
}

/// One series: its group key (`None` for `GroupBy::None` and for postings without a value) and
/// a value per bucket start, every bucket from the first to the last listed.
pub type Series = (Option<String>, Vec<(NaiveDate, Option<f64>)>);

impl Bucket {
    /// The start of the bucket holding `day`.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        use chrono::Datelike;
        match self {
            Bucket::Day => day,
            Bucket::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Bucket::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The start of the next bucket after the one starting at `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Bucket::Day => start + Days::new(1),
            Bucket::Week => start + Days::new(7),
            Bucket::Month => start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(start),
        }
    }

    /// The bucket starts covering `from` to `to` inclusive.
    pub fn starts(self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut b = self.start(from);
        while b <= to {
            out.push(b);
            b = self.next(b);
        }
        out
    }

    /// PostgreSQL: the bucket start (a date) of timestamp `col`. Only the median groups by
    /// bucket in SQL (`percentile_cont` needs it); counts group by day and fold here.
    fn pg_sql(self, col: &str) -> String {
        let unit = match self {
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
        };
        format!("CAST(date_trunc('{unit}', {col} AT TIME ZONE 'UTC') AS DATE)")
    }
}

impl GroupBy {
    fn sql(self) -> &'static str {
        match self {
            GroupBy::None => "NULL",
            GroupBy::Source => "p.source",
            GroupBy::Country => "p.country",
            GroupBy::WorkArrangement => "p.work_arrangement",
        }
    }

    /// The key as the API shows it: GraphQL's enum names for sources and arrangements.
    fn key(self, raw: Option<String>) -> Option<String> {
        match self {
            GroupBy::Source | GroupBy::WorkArrangement => raw.map(|s| s.to_ascii_uppercase()),
            _ => raw,
        }
    }
}

/// A bucket start as the database returns it.
fn bucket_of(r: &sea_orm::QueryResult, pg: bool, col: &str) -> ApiResult<Option<NaiveDate>> {
    Ok(if pg {
        r.try_get::<Option<NaiveDate>>("", col)?
    } else {
        r.try_get::<Option<String>>("", col)?
            .and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
    })
}

/// `jobStats.timeSeries`: `metric` per `bucket` from `from` to `to` (inclusive, whole buckets),
/// one series per `group` value, largest total first. One statement per call, a range scan of
/// `idx_job_postings_trends` (or, for the median, `idx_job_postings_salary_mid`): counts per
/// day in SQL, folded into weeks and months here (a date function per row cost more than the
/// scan); the median on SQLite from the midpoints read in index order.
pub async fn time_series(
    db: &impl ConnectionTrait,
    filter: &PostingFilter,
    bucket: Bucket,
    metric: Metric,
    group: GroupBy,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<Vec<Series>> {
    let backend = db.get_database_backend();
    let pg = backend == DbBackend::Postgres;
    let starts = bucket.starts(from, to);
    let (Some(&first), Some(&last)) = (starts.first(), starts.last()) else {
        return Ok(Vec::new());
    };
    let end = bucket.next(last);
    let g = group.sql();
    // Bounds written into the SQL (digits and `-` only) and compared with the column itself,
    // so the range is an index scan: a UTC midnight on PostgreSQL, `YYYY-MM-DD` text on SQLite
    // (RFC 3339 text in UTC sorts like the instant it names).
    let lit = |d: NaiveDate| {
        if pg {
            format!("TIMESTAMPTZ '{} 00:00:00+00'", d.format("%Y-%m-%d"))
        } else {
            format!("'{}'", d.format("%Y-%m-%d"))
        }
    };
    let day = |col: &str| {
        if pg {
            format!("CAST({col} AT TIME ZONE 'UTC' AS DATE)")
        } else {
            format!("substr({col}, 1, 10)")
        }
    };
    let (f, e) = (lit(first), lit(end));
    let seen_day = day("p.first_seen_at");
    let mut values: HashMap<Option<String>, HashMap<NaiveDate, f64>> = HashMap::new();
    let mut sql = Sql::new(backend);
    match metric {
        Metric::NewPostings => {
            sql.push(&format!("SELECT {seen_day} AS d, {g} AS g, COUNT(*) AS n"));
            push_from_where(&mut sql, filter);
            sql.push(&format!(
                " AND p.first_seen_at >= {f} AND p.first_seen_at < {e} GROUP BY 1, 2"
            ));
            for r in db.query_all_raw(sql.statement()).await? {
                if let Some(d) = bucket_of(&r, pg, "d")? {
                    let n: i64 = r.try_get("", "n")?;
                    *values
                        .entry(group.key(r.try_get("", "g")?))
                        .or_default()
                        .entry(bucket.start(d))
                        .or_default() += n as f64;
                }
            }
        }
        Metric::OpenPostings => {
            // One pass: each posting first seen before the range ends counts from the day it
            // opened (`od`, NULL: before the range) until the day it closed (`cd`, NULL: still
            // open at the end; a day before the range: closed before it); the open count is
            // then a running sum over the buckets.
            let closed_day = day("p.closed_at");
            sql.push(&format!(
                "SELECT {g} AS g, \
                   CASE WHEN p.first_seen_at < {f} THEN NULL ELSE {seen_day} END AS od, \
                   CASE WHEN p.closed_at IS NULL OR p.closed_at >= {e} THEN NULL \
                        WHEN p.closed_at < {f} THEN {before} ELSE {closed_day} END AS cd, \
                   COUNT(*) AS n",
                before = if pg {
                    "DATE '0001-01-01'"
                } else {
                    "'0001-01-01'"
                },
            ));
            push_from_where(&mut sql, filter);
            sql.push(&format!(" AND p.first_seen_at < {e} GROUP BY 1, 2, 3"));
            let mut delta: HashMap<Option<String>, HashMap<NaiveDate, i64>> = HashMap::new();
            let mut base: HashMap<Option<String>, i64> = HashMap::new();
            for r in db.query_all_raw(sql.statement()).await? {
                let key = group.key(r.try_get("", "g")?);
                let n: i64 = r.try_get("", "n")?;
                match bucket_of(&r, pg, "od")? {
                    Some(d) => {
                        *delta
                            .entry(key.clone())
                            .or_default()
                            .entry(bucket.start(d))
                            .or_default() += n
                    }
                    None => *base.entry(key.clone()).or_default() += n,
                }
                match bucket_of(&r, pg, "cd")? {
                    Some(d) if d < first => *base.entry(key).or_default() -= n,
                    Some(d) => {
                        *delta
                            .entry(key)
                            .or_default()
                            .entry(bucket.start(d))
                            .or_default() -= n
                    }
                    None => {}
                }
            }
            let keys: std::collections::HashSet<Option<String>> =
                delta.keys().chain(base.keys()).cloned().collect();
            for key in keys {
                let mut open = base.get(&key).copied().unwrap_or(0);
                let d = delta.remove(&key).unwrap_or_default();
                let series = values.entry(key).or_default();
                for &b in &starts {
                    open += d.get(&b).copied().unwrap_or(0);
                    series.insert(b, open as f64);
                }
            }
        }
        Metric::MedianAnnualSalary => {
            let range = format!(
                " AND {MIDPOINT} IS NOT NULL AND p.first_seen_at >= {f} AND p.first_seen_at < {e}"
            );
            if pg {
                let b = bucket.pg_sql("p.first_seen_at");
                sql.push(&format!(
                    "SELECT {b} AS b, {g} AS g, \
                     percentile_cont(0.5) WITHIN GROUP (ORDER BY {MIDPOINT}) AS v"
                ));
                push_from_where(&mut sql, filter);
                sql.push(&range);
                sql.push(" GROUP BY 1, 2");
                for r in db.query_all_raw(sql.statement()).await? {
                    if let Some(b) = bucket_of(&r, pg, "b")? {
                        let v: f64 = r.try_get("", "v")?;
                        values
                            .entry(group.key(r.try_get("", "g")?))
                            .or_default()
                            .insert(b, v);
                    }
                }
            } else {
                // In midpoint order: the `(currency, midpoint, …)` index gives it without a
                // sort, so each bucket's list arrives sorted.
                sql.push(&format!(
                    "SELECT {seen_day} AS d, {g} AS g, {MIDPOINT} AS v"
                ));
                push_from_where(&mut sql, filter);
                sql.push(&range);
                sql.push(&format!(" ORDER BY {MIDPOINT}"));
                let mut runs: HashMap<(Option<String>, NaiveDate), Vec<f64>> = HashMap::new();
                for r in db.query_all_raw(sql.statement()).await? {
                    if let Some(d) = bucket_of(&r, pg, "d")? {
                        runs.entry((group.key(r.try_get("", "g")?), bucket.start(d)))
                            .or_default()
                            .push(r.try_get("", "v")?);
                    }
                }
                for ((key, b), v) in runs {
                    // The median like percentile_cont(0.5).
                    let n = v.len();
                    let m = if n % 2 == 1 {
                        v[n / 2]
                    } else {
                        (v[n / 2 - 1] + v[n / 2]) / 2.0
                    };
                    values.entry(key).or_default().insert(b, m);
                }
            }
        }
    }
    if group == GroupBy::None {
        // One series even when nothing matched: zeros (or no medians) for every bucket.
        values.entry(None).or_default();
    }
    let zero = metric != Metric::MedianAnnualSalary;
    let mut out: Vec<(f64, Series)> = values
        .into_iter()
        .map(|(key, per)| {
            let total: f64 = per.values().sum();
            let points = starts
                .iter()
                .map(|b| (*b, per.get(b).copied().or(zero.then_some(0.0))))
                .collect();
            (total, (key, points))
        })
        .collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.0.cmp(&b.1.0)));
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

//! `jobStats`: aggregates over the postings a filter selects. Each field is its own SQL aggregate,
//! run only when selected (sibling fields run concurrently on the pool), through the aggregate
//! cache ([`crate::service::aggregates`]): a filter seen before under the same data generation
//! costs no scan.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{Days, NaiveDate, Utc};
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::ApiContext;
use super::types::{Source, WorkArrangement, WorkType};
use crate::error::ApiError;
use crate::service::filter::PostingFilter;
use crate::service::stats::{self, Facets};

/// Most rows `topCompanies` / `topLocations` return.
const MAX_TOP: i32 = 100;
/// Longest range `postingsPerDay` covers.
const MAX_DAYS: u64 = 366;

/// Aggregates over the postings matching a filter.
pub struct JobStats {
    filter: PostingFilter,
    /// Totals and per-column counts come from one statement, run once for all the fields
    /// that show them.
    facets: OnceCell<Arc<Facets>>,
}

impl JobStats {
    pub fn new(filter: PostingFilter) -> Self {
        JobStats {
            filter,
            facets: OnceCell::new(),
        }
    }

    async fn facets(&self, ctx: &Context<'_>) -> Result<&Facets> {
        let api = ctx.data_unchecked::<ApiContext>();
        Ok(self
            .facets
            .get_or_try_init(|| api.aggregates.facets(&api.db, &self.filter))
            .await?)
    }
}

/// Postings per source.
#[derive(SimpleObject, Debug, Clone)]
pub struct SourceCount {
    /// The source.
    pub source: Source,
    /// Postings from it.
    pub count: u64,
}

/// Postings per employment type.
#[derive(SimpleObject, Debug, Clone)]
pub struct WorkTypeCount {
    /// The employment type; `null` for postings that don't say.
    pub work_type: Option<WorkType>,
    /// Postings of that type.
    pub count: u64,
}

/// Postings per work arrangement.
#[derive(SimpleObject, Debug, Clone)]
pub struct WorkArrangementCount {
    /// The arrangement.
    pub work_arrangement: WorkArrangement,
    /// Postings with it.
    pub count: u64,
}

/// Postings per country.
#[derive(SimpleObject, Debug, Clone)]
pub struct CountryCount {
    /// ISO 3166-1 alpha-2 code; `null` for postings whose country is unknown.
    pub country: Option<String>,
    /// Postings in it.
    pub count: u64,
}

/// Postings per company.
#[derive(SimpleObject, Debug, Clone)]
pub struct CompanyCount {
    /// The company name, exactly as stored (usable in `JobPostingFilter.companies`).
    pub company: String,
    /// Postings from it.
    pub count: u64,
}

/// Postings per location.
#[derive(SimpleObject, Debug, Clone)]
pub struct LocationCount {
    /// City, if known.
    pub city: Option<String>,
    /// State or region, if known.
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code, if known.
    pub country: Option<String>,
    /// Postings there.
    pub count: u64,
}

/// Annual salary statistics for one currency, over each posting's annual midpoint (the mean of
/// its annual min and max, or whichever of the two is known). Postings without an annual
/// salary or currency are not counted.
#[derive(SimpleObject, Debug, Clone)]
pub struct SalaryStats {
    /// ISO 4217 currency code.
    pub currency: String,
    /// Postings with an annual salary in this currency.
    pub count: u64,
    /// Lowest midpoint.
    pub min: f64,
    /// Highest midpoint.
    pub max: f64,
    /// Mean midpoint.
    pub average: f64,
    /// 25th percentile (linear interpolation, like PostgreSQL's `percentile_cont`).
    pub p25: f64,
    /// Median.
    pub median: f64,
    /// 75th percentile.
    pub p75: f64,
}

/// How long one point of a time series covers (UTC).
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TimeSeriesBucket {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
}

/// What a time series measures per bucket.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TimeSeriesMetric {
    /// Postings first seen (by jobintel, or by the system they were imported from) in the
    /// bucket.
    NewPostings,
    /// Postings open at the end of the bucket: first seen by then and not closed by then.
    OpenPostings,
    /// Median annual salary (each posting's annual midpoint) of the postings first seen in the
    /// bucket; `null` for a bucket without one. Needs `filter.salaryCurrency`: a median across
    /// currencies means nothing.
    MedianAnnualSalary,
}

/// What splits a time series into several.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TimeSeriesGroupBy {
    /// One series.
    None,
    /// One series per source (`key`: the `Source` value).
    Source,
    /// One series per country (`key`: ISO code, `null` when unknown).
    Country,
    /// One series per work arrangement (`key`: the `WorkArrangement` value).
    WorkArrangement,
}

/// One point of a time series.
#[derive(SimpleObject, Debug, Clone)]
pub struct TimeSeriesPoint {
    /// The first day of the bucket (UTC).
    pub start: NaiveDate,
    /// The metric's value (`null`: no median for this bucket).
    pub value: Option<f64>,
}

/// One series: every bucket of the range, in order.
#[derive(SimpleObject, Debug, Clone)]
pub struct TimeSeries {
    /// The group's value (`null` without grouping, or for postings without that value).
    pub key: Option<String>,
    /// One point per bucket, zeros included.
    pub points: Vec<TimeSeriesPoint>,
}

/// Most buckets one `timeSeries` covers.
const MAX_BUCKETS: usize = 400;

/// Postings on one day.
#[derive(SimpleObject, Debug, Clone)]
pub struct DayCount {
    /// The UTC day.
    pub date: NaiveDate,
    /// Postings posted that day (first seen that day when the source gave no date).
    pub count: u64,
}

fn parse_keys<T: std::str::FromStr>(rows: &[(Option<String>, u64)]) -> Vec<(Option<T>, u64)> {
    rows.iter()
        .filter_map(|(k, n)| match k {
            None => Some((None, *n)),
            // A value this build doesn't know (written by a newer version): left out.
            Some(k) => k.parse::<T>().ok().map(|v| (Some(v), *n)),
        })
        .collect()
}

fn top_limit(limit: i32) -> Result<u64, ApiError> {
    if (1..=MAX_TOP).contains(&limit) {
        Ok(limit as u64)
    } else {
        Err(ApiError::bad_input(format!(
            "`limit` must be between 1 and {MAX_TOP}, got {limit}"
        )))
    }
}

/// Aggregates over the postings matching a filter; each field is computed only when selected.
#[Object]
impl JobStats {
    /// Postings matching the filter.
    async fn total(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(self.facets(ctx).await?.total)
    }

    /// Of those, postings still advertised (`closedAt` is null).
    async fn open(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(self.facets(ctx).await?.open)
    }

    /// Postings per source, most first.
    async fn by_source(&self, ctx: &Context<'_>) -> Result<Vec<SourceCount>> {
        let rows = parse_keys::<entity::Source>(&self.facets(ctx).await?.by_source);
        Ok(rows
            .into_iter()
            .filter_map(|(s, count)| s.map(|s| SourceCount { source: s, count }))
            .collect())
    }

    /// Postings per employment type, most first.
    async fn by_work_type(&self, ctx: &Context<'_>) -> Result<Vec<WorkTypeCount>> {
        let rows = parse_keys::<entity::WorkType>(&self.facets(ctx).await?.by_work_type);
        Ok(rows
            .into_iter()
            .map(|(w, count)| WorkTypeCount {
                work_type: w.map(Into::into),
                count,
            })
            .collect())
    }

    /// Postings per work arrangement, most first.
    async fn by_work_arrangement(&self, ctx: &Context<'_>) -> Result<Vec<WorkArrangementCount>> {
        let rows =
            parse_keys::<entity::WorkArrangement>(&self.facets(ctx).await?.by_work_arrangement);
        Ok(rows
            .into_iter()
            .filter_map(|(w, count)| {
                w.map(|w| WorkArrangementCount {
                    work_arrangement: w.into(),
                    count,
                })
            })
            .collect())
    }

    /// Postings per country, most first.
    async fn by_country(&self, ctx: &Context<'_>) -> Result<Vec<CountryCount>> {
        Ok(self
            .facets(ctx)
            .await?
            .by_country
            .iter()
            .map(|(country, count)| CountryCount {
                country: country.clone(),
                count: *count,
            })
            .collect())
    }

    /// The companies with the most postings.
    async fn top_companies(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10, desc = "How many, 1–100.")] limit: i32,
    ) -> Result<Vec<CompanyCount>> {
        let api = ctx.data_unchecked::<ApiContext>();
        let rows = api
            .aggregates
            .top_companies(&api.db, &self.filter, top_limit(limit)?)
            .await?;
        Ok(rows
            .iter()
            .map(|(company, count)| CompanyCount {
                company: company.clone(),
                count: *count,
            })
            .collect())
    }

    /// The locations (city, region, country) with the most postings.
    async fn top_locations(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10, desc = "How many, 1–100.")] limit: i32,
    ) -> Result<Vec<LocationCount>> {
        let api = ctx.data_unchecked::<ApiContext>();
        let rows = api
            .aggregates
            .top_locations(&api.db, &self.filter, top_limit(limit)?)
            .await?;
        Ok(rows
            .iter()
            .map(|l| LocationCount {
                city: l.city.clone(),
                region: l.region.clone(),
                country: l.country.clone(),
                count: l.count,
            })
            .collect())
    }

    /// Annual salary statistics per currency, the most common currency first.
    async fn salary(&self, ctx: &Context<'_>) -> Result<Vec<SalaryStats>> {
        let api = ctx.data_unchecked::<ApiContext>();
        Ok(api
            .aggregates
            .salary(&api.db, &self.filter)
            .await?
            .iter()
            .map(|s| SalaryStats {
                currency: s.currency.clone(),
                count: s.count,
                min: s.min,
                max: s.max,
                average: s.average,
                p25: s.p25,
                median: s.p50,
                p75: s.p75,
            })
            .collect())
    }

    /// Postings per UTC day, by posting date (first-seen date when the source gave none), from
    /// `from` to `to` inclusive; days without postings are listed with 0.
    async fn postings_per_day(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First day (default: 29 days before `to`).")] from: Option<NaiveDate>,
        #[graphql(desc = "Last day (default: today, UTC). At most 366 days after `from`.")]
        to: Option<NaiveDate>,
    ) -> Result<Vec<DayCount>> {
        let api = ctx.data_unchecked::<ApiContext>();
        let to = to.unwrap_or_else(|| Utc::now().date_naive());
        let from = from.unwrap_or_else(|| to.checked_sub_days(Days::new(29)).unwrap_or(to));
        if from > to {
            return Err(ApiError::bad_input("`from` must not be after `to`").into());
        }
        if (to - from).num_days() as u64 >= MAX_DAYS {
            return Err(ApiError::bad_input(format!(
                "`postingsPerDay` covers at most {MAX_DAYS} days"
            ))
            .into());
        }
        Ok(api
            .aggregates
            .per_day(&api.db, &self.filter, from, to)
            .await?
            .iter()
            .map(|&(date, count)| DayCount { date, count })
            .collect())
    }

    /// A metric per day, week or month for trend charts, optionally one series per source,
    /// country or work arrangement (largest first). Every bucket from `from` to `to` is listed,
    /// whole buckets (a week from its Monday, a month from its first day).
    async fn time_series(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "TimeSeriesBucket::Day")] bucket: TimeSeriesBucket,
        #[graphql(default_with = "TimeSeriesMetric::NewPostings")] metric: TimeSeriesMetric,
        #[graphql(default_with = "TimeSeriesGroupBy::None")] group_by: TimeSeriesGroupBy,
        #[graphql(desc = "First day (default: 90 days, 26 weeks or 12 months before `to`).")]
        from: Option<NaiveDate>,
        #[graphql(desc = "Last day (default: today, UTC). At most 400 buckets.")] to: Option<
            NaiveDate,
        >,
    ) -> Result<Vec<TimeSeries>> {
        let api = ctx.data_unchecked::<ApiContext>();
        let bucket = match bucket {
            TimeSeriesBucket::Day => stats::Bucket::Day,
            TimeSeriesBucket::Week => stats::Bucket::Week,
            TimeSeriesBucket::Month => stats::Bucket::Month,
        };
        let to = to.unwrap_or_else(|| Utc::now().date_naive());
        let from = from.unwrap_or_else(|| {
            let back = match bucket {
                stats::Bucket::Day => to.checked_sub_days(Days::new(89)),
                stats::Bucket::Week => to.checked_sub_days(Days::new(7 * 25)),
                stats::Bucket::Month => to.checked_sub_months(chrono::Months::new(11)),
            };
            back.unwrap_or(to)
        });
        if from > to {
            return Err(ApiError::bad_input("`from` must not be after `to`").into());
        }
        // Counted before anything is built: a century of days must not allocate first.
        let span_days = (to - from).num_days() as usize;
        let buckets = match bucket {
            stats::Bucket::Day => span_days + 1,
            stats::Bucket::Week => span_days / 7 + 2,
            stats::Bucket::Month => span_days / 28 + 2,
        };
        if buckets > MAX_BUCKETS + 2 || bucket.starts(from, to).len() > MAX_BUCKETS {
            return Err(ApiError::bad_input(format!(
                "`timeSeries` covers at most {MAX_BUCKETS} buckets"
            ))
            .into());
        }
        let metric = match metric {
            TimeSeriesMetric::NewPostings => stats::Metric::NewPostings,
            TimeSeriesMetric::OpenPostings => stats::Metric::OpenPostings,
            TimeSeriesMetric::MedianAnnualSalary => {
                if self.filter.salary_currency.is_none() {
                    return Err(ApiError::bad_input(
                        "`MEDIAN_ANNUAL_SALARY` needs `filter.salaryCurrency` (a median across \
                         currencies means nothing)",
                    )
                    .into());
                }
                stats::Metric::MedianAnnualSalary
            }
        };
        let group = match group_by {
            TimeSeriesGroupBy::None => stats::GroupBy::None,
            TimeSeriesGroupBy::Source => stats::GroupBy::Source,
            TimeSeriesGroupBy::Country => stats::GroupBy::Country,
            TimeSeriesGroupBy::WorkArrangement => stats::GroupBy::WorkArrangement,
        };
        Ok(api
            .aggregates
            .time_series(&api.db, &self.filter, bucket, metric, group, from, to)
            .await?
            .iter()
            .map(|(key, points)| TimeSeries {
                key: key.clone(),
                points: points
                    .iter()
                    .map(|&(start, value)| TimeSeriesPoint { start, value })
                    .collect(),
            })
            .collect())
    }
}

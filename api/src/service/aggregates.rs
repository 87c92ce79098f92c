//! A small exact cache of aggregates over postings — `totalCount` and the parts of `jobStats` —
//! per filter and data [`Generation`], so a client paging through one filter counts it once,
//! and `jobStats` answers for a filter seen before cost no scan, even when the whole response
//! misses the response cache (other fields, other variables, a WebSocket, a batch).
//!
//! Exactness: the response cache's rule ([`ingest::generation`]), per aggregate. A lookup
//! snapshots the generation first; it is answered only by a value computed under that same
//! generation, and stores its own value only if no write was in flight when it began and the
//! generation has not moved when it ends. So an aggregate is never older than a write committed
//! on this instance before the read began (other instances: the notification's delay, as for
//! the response cache).
//!
//! Single flight: identical aggregates asked together under one generation run one
//! statement and share its answer (`AggregateCache::single_flight`).
//!
//! Memory: `JOBINTEL_AGGREGATE_CACHE_BYTES` (0: off) bounds the values' estimated heap bytes
//! plus each key and [`ENTRY_OVERHEAD`]; least recently used first out. A value is a few
//! hundred bytes to a few KiB (a `jobStats` of one filter: ~3 KiB in all), so the default
//! 1 MiB holds the aggregates of a few hundred filters.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::mem::size_of;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use ingest::generation::{Generation, Snapshot};
use sea_orm::ConnectionTrait;
use tokio::sync::OnceCell;

use super::filter::PostingFilter;
use super::postings;
use super::stats::{self, Bucket, Facets, GroupBy, LocationCount, Metric, SalaryStats, Series};
use crate::error::ApiResult;
use crate::generation_lru::{CacheStats, GenerationLru};

/// Bytes counted per entry besides its key and value: the LRU's node, hash slot and `Arc`.
pub const ENTRY_OVERHEAD: usize = 128;

/// One cached aggregate.
#[derive(Debug, Clone)]
enum Value {
    Count(u64),
    Facets(Arc<Facets>),
    Companies(Arc<Vec<(String, u64)>>),
    Locations(Arc<Vec<LocationCount>>),
    Salary(Arc<Vec<SalaryStats>>),
    PerDay(Arc<Vec<(NaiveDate, u64)>>),
    Series(Arc<Vec<Series>>),
}

fn opt_str(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::capacity)
}

impl Value {
    /// Heap bytes held, estimated from lengths (what the budget counts).
    fn bytes(&self) -> usize {
        match self {
            Value::Count(_) => 0,
            Value::Facets(f) => {
                [
                    &f.by_source,
                    &f.by_work_type,
                    &f.by_work_arrangement,
                    &f.by_country,
                ]
                .iter()
                .map(|l| {
                    l.capacity() * size_of::<(Option<String>, u64)>()
                        + l.iter().map(|(k, _)| opt_str(k)).sum::<usize>()
                })
                .sum::<usize>()
                    + size_of::<Facets>()
            }
            Value::Companies(v) => {
                v.capacity() * size_of::<(String, u64)>()
                    + v.iter().map(|(k, _)| k.capacity()).sum::<usize>()
            }
            Value::Locations(v) => {
                v.capacity() * size_of::<LocationCount>()
                    + v.iter()
                        .map(|l| opt_str(&l.city) + opt_str(&l.region) + opt_str(&l.country))
                        .sum::<usize>()
            }
            Value::Salary(v) => {
                v.capacity() * size_of::<SalaryStats>()
                    + v.iter().map(|s| s.currency.capacity()).sum::<usize>()
            }
            Value::PerDay(v) => v.capacity() * size_of::<(NaiveDate, u64)>(),
            Value::Series(v) => {
                v.capacity() * size_of::<Series>()
                    + v.iter()
                        .map(|(k, p)| {
                            opt_str(k) + p.capacity() * size_of::<(NaiveDate, Option<f64>)>()
                        })
                        .sum::<usize>()
            }
        }
    }
}

/// Aggregates by (what, filter), within a byte budget ([`GenerationLru`]); see the module docs.
pub struct AggregateCache {
    lru: GenerationLru<String, Value>,
    /// Computations under way (single flight).
    flights: Flights,
}

/// Computations under way, by key and the generation they began under.
type Flights = Mutex<HashMap<(String, u64), Arc<OnceCell<Value>>>>;

/// A read's place in a flight; leaving (done, failed or cancelled) removes the flight once
/// nobody else waits on it or it has its value, so the map holds only reads under way.
struct Boarding<'a> {
    flights: &'a Flights,
    key: (String, u64),
    cell: Arc<OnceCell<Value>>,
}

impl Drop for Boarding<'_> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        let ours = flights
            .get(&self.key)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cell));
        // The map's reference and ours: nobody else is waiting.
        if ours && (self.cell.initialized() || Arc::strong_count(&self.cell) <= 2) {
            flights.remove(&self.key);
        }
    }
}

/// `what` and the filter as one key. The filter's `Debug` form names every field and value, so
/// two filters share a key only when they are equal (a filter written in another order is
/// merely another key).
fn key(what: std::fmt::Arguments<'_>, filter: &PostingFilter) -> String {
    let mut k = String::with_capacity(160);
    let _ = write!(k, "{what}|{filter:?}");
    k
}

/// A flight of `key` gave another kind of value than its key names (a bug, never input).
fn mixed_kinds(key: &str) -> crate::error::ApiError {
    crate::error::ApiError::Internal(anyhow::anyhow!(
        "aggregate cache: a flight of `{key}` gave another kind of value"
    ))
}

/// The content of a [`Value`] of one variant (`None` for another).
macro_rules! unwrap_as {
    ($value:expr, $variant:ident) => {
        match $value {
            Value::$variant(v) => Some(v),
            _ => None,
        }
    };
}

impl AggregateCache {
    /// A cache of at most `max_bytes` (0: off) checked against `generation`.
    pub fn new(generation: Generation, max_bytes: usize) -> Self {
        AggregateCache {
            lru: GenerationLru::new(generation, max_bytes),
            flights: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.lru.enabled()
    }

    /// The value stored under `key` for the generation `at` (an older one is dropped); every
    /// lookup counts as a hit or a miss.
    fn get(&self, key: &str, at: Snapshot) -> Option<Value> {
        let found = self.lru.get(key, at);
        if found.is_none() {
            self.lru.record_miss();
        }
        found
    }

    /// Store a value computed by a read that began at `at`, if it may be.
    fn put(&self, key: String, at: Snapshot, value: Value) -> bool {
        let cost = key.capacity() + value.bytes() + ENTRY_OVERHEAD;
        self.lru.put(key, at, value, cost)
    }

    /// The cached value of `key`, or `compute`'s (stored if it may be).
    async fn cached<T: Clone>(
        &self,
        key: String,
        wrap: fn(T) -> Value,
        unwrap: fn(Value) -> Option<T>,
        compute: impl Future<Output = ApiResult<T>>,
    ) -> ApiResult<T> {
        if !self.enabled() {
            return compute.await;
        }
        let at = self.lru.snapshot();
        if let Some(v) = self.get(&key, at).and_then(unwrap) {
            return Ok(v);
        }
        let v = self
            .single_flight(&key, at, async { compute.await.map(wrap) })
            .await?;
        // A key names its kind ("count|…", "facets|…"), so the flight's value is this kind.
        let out = unwrap(v.clone()).ok_or_else(|| mixed_kinds(&key))?;
        self.put(key, at, v);
        Ok(out)
    }

    /// `compute`'s value, or that of the same key's computation already under way in the same
    /// generation: after a write, a dashboard's clients all miss together, and each running
    /// the same scan (tens of ms of CPU for a `jobStats` on SQLite) multiplied the load by the
    /// number of clients. Exact as the cache is: a computation begun under the same generation
    /// reflects every write committed before this read began. Its error goes to its own
    /// caller; a waiting read then computes for itself.
    async fn single_flight(
        &self,
        key: &str,
        at: Snapshot,
        compute: impl Future<Output = ApiResult<Value>>,
    ) -> ApiResult<Value> {
        let boarding = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            let key = (key.to_owned(), at.generation);
            let cell = flights.entry(key.clone()).or_default().clone();
            Boarding {
                flights: &self.flights,
                key,
                cell,
            }
        };
        Ok(boarding.cell.get_or_try_init(|| compute).await?.clone())
    }

    /// [`postings::count`].
    pub async fn count(&self, db: &impl ConnectionTrait, filter: &PostingFilter) -> ApiResult<u64> {
        let k = key(format_args!("count"), filter);
        self.cached(
            k,
            Value::Count,
            |v| unwrap_as!(v, Count),
            postings::count(db, filter),
        )
        .await
    }

    /// [`stats::facets`]. Its total is also the filter's count (`totalCount`).
    pub async fn facets(
        &self,
        db: &impl ConnectionTrait,
        filter: &PostingFilter,
    ) -> ApiResult<Arc<Facets>> {
        if !self.enabled() {
            return Ok(Arc::new(stats::facets(db, filter).await?));
        }
        let at = self.lru.snapshot();
        let k = key(format_args!("facets"), filter);
        if let Some(Value::Facets(f)) = self.get(&k, at) {
            return Ok(f);
        }
        let computed = self
            .single_flight(&k, at, async {
                Ok(Value::Facets(Arc::new(stats::facets(db, filter).await?)))
            })
            .await?;
        let Value::Facets(f) = computed else {
            return Err(mixed_kinds(&k));
        };
        if self.put(k, at, Value::Facets(f.clone())) {
            self.put(
                key(format_args!("count"), filter),
                at,
                Value::Count(f.total),
            );
        }
        Ok(f)
    }

    /// [`stats::top_companies`].
    pub async fn top_companies(
        &self,
        db: &impl ConnectionTrait,
        filter: &PostingFilter,
        limit: u64,
    ) -> ApiResult<Arc<Vec<(String, u64)>>> {
        let k = key(format_args!("companies {limit}"), filter);
        self.cached(k, Value::Companies, |v| unwrap_as!(v, Companies), async {
            Ok(Arc::new(stats::top_companies(db, filter, limit).await?))
        })
        .await
    }

    /// [`stats::top_locations`].
    pub async fn top_locations(
        &self,
        db: &impl ConnectionTrait,
        filter: &PostingFilter,
        limit: u64,
    ) -> ApiResult<Arc<Vec<LocationCount>>> {
        let k = key(format_args!("locations {limit}"), filter);
        self.cached(k, Value::Locations, |v| unwrap_as!(v, Locations), async {
            Ok(Arc::new(stats::top_locations(db, filter, limit).await?))
        })
        .await
    }

    /// [`stats::salary`].
    pub async fn salary(
        &self,
        db: &impl ConnectionTrait,
        filter: &PostingFilter,
    ) -> ApiResult<Arc<Vec<SalaryStats>>> {
        let k = key(format_args!("salary"), filter);
        self.cached(k, Value::Salary, |v| unwrap_as!(v, Salary), async {
            Ok(Arc::new(stats::salary(db, filter).await?))
        })
        .await
    }

    /// [`stats::per_day`].
    pub async fn per_day(
        &self,
        db: &impl ConnectionTrait,
        filter: &PostingFilter,
        from: NaiveDate,
        to: NaiveDate,
    ) -> ApiResult<Arc<Vec<(NaiveDate, u64)>>> {
        let k = key(format_args!("per_day {from} {to}"), filter);
        self.cached(k, Value::PerDay, |v| unwrap_as!(v, PerDay), async {
            Ok(Arc::new(stats::per_day(db, filter, from, to).await?))
        })
        .await
    }

    /// [`stats::time_series`].
    #[allow(clippy::too_many_arguments)]
    pub async fn time_series(
        &self,
        db: &impl ConnectionTrait,
        filter: &PostingFilter,
        bucket: Bucket,
        metric: Metric,
        group: GroupBy,
        from: NaiveDate,
        to: NaiveDate,
    ) -> ApiResult<Arc<Vec<Series>>> {
        let k = key(
            format_args!("series {bucket:?} {metric:?} {group:?} {from} {to}"),
            filter,
        );
        self.cached(k, Value::Series, |v| unwrap_as!(v, Series), async {
            Ok(Arc::new(
                stats::time_series(db, filter, bucket, metric, group, from, to).await?,
            ))
        })
        .await
    }

    /// Counters and size, for `/metrics`.
    pub fn stats(&self) -> CacheStats {
        self.lru.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(company: &str) -> PostingFilter {
        PostingFilter {
            companies: vec![company.to_owned()],
            ..PostingFilter::default()
        }
    }

    /// A computation whose caller went away (a cancelled request) leaves the read waiting on
    /// it to compute for itself, an error goes to its own caller only, and the flights are
    /// gone once nobody is in them.
    #[tokio::test]
    async fn a_flight_survives_its_first_reader_leaving_or_failing() {
        use futures_util::FutureExt;
        let cache = AggregateCache::new(Generation::new(), 1 << 20);
        let at = cache.lru.snapshot();
        let mut first = Box::pin(cache.single_flight("count|x", at, std::future::pending()));
        assert!((&mut first).now_or_never().is_none());
        let mut second =
            Box::pin(cache.single_flight("count|x", at, async { Ok(Value::Count(7)) }));
        assert!(
            (&mut second).now_or_never().is_none(),
            "waits for the first, under way"
        );
        drop(first);
        assert!(matches!(second.await, Ok(Value::Count(7))));

        let failed = cache
            .single_flight("count|y", at, async {
                Err(crate::error::ApiError::bad_input("boom"))
            })
            .await;
        assert!(failed.is_err());
        let after = cache
            .single_flight("count|y", at, async { Ok(Value::Count(3)) })
            .await;
        assert!(matches!(after, Ok(Value::Count(3))));
        assert!(cache.flights.lock().unwrap().is_empty());
    }

    #[test]
    fn a_value_is_served_only_under_the_generation_it_was_computed_under() {
        let g = Generation::new();
        let c = AggregateCache::new(g.clone(), 1 << 20);
        let k = key(format_args!("count"), &filter("Acme"));
        let at = g.snapshot();
        assert!(c.put(k.clone(), at, Value::Count(3)));
        assert!(matches!(c.get(&k, g.snapshot()), Some(Value::Count(3))));
        drop(g.write());
        assert!(c.get(&k, g.snapshot()).is_none(), "a write ended since");
        assert_eq!(
            c.stats().entries,
            0,
            "the stale entry is dropped when looked up"
        );
    }

    #[test]
    fn a_read_overlapping_a_write_stores_nothing() {
        let g = Generation::new();
        let c = AggregateCache::new(g.clone(), 1 << 20);
        let k = key(format_args!("count"), &filter("Acme"));
        let w = g.write();
        assert!(
            !c.put(k.clone(), g.snapshot(), Value::Count(1)),
            "began mid-write"
        );
        drop(w);
        let at = g.snapshot();
        drop(g.write());
        assert!(
            !c.put(k, at, Value::Count(1)),
            "a write ended before it finished"
        );
        assert_eq!(c.stats().entries, 0);
    }

    #[test]
    fn the_budget_holds_and_the_least_recently_used_go_first() {
        let g = Generation::new();
        let one = key(format_args!("count"), &filter("A")).capacity() + ENTRY_OVERHEAD;
        let c = AggregateCache::new(g.clone(), 3 * one);
        for name in ["A", "B", "C"] {
            assert!(c.put(
                key(format_args!("count"), &filter(name)),
                g.snapshot(),
                Value::Count(1)
            ));
        }
        assert!(
            c.get(&key(format_args!("count"), &filter("A")), g.snapshot())
                .is_some()
        );
        assert!(c.put(
            key(format_args!("count"), &filter("D")),
            g.snapshot(),
            Value::Count(1)
        ));
        let s = c.stats();
        assert!(s.bytes <= s.max_bytes, "{s:?}");
        assert_eq!((s.entries, s.evictions), (3, 1));
        assert!(
            c.get(&key(format_args!("count"), &filter("B")), g.snapshot())
                .is_none(),
            "B was the least recently used"
        );
        assert!(
            c.get(&key(format_args!("count"), &filter("A")), g.snapshot())
                .is_some()
        );
        // Larger than the whole budget: not kept.
        let big = PostingFilter {
            companies: vec!["x".repeat(4 * one)],
            ..PostingFilter::default()
        };
        assert!(!c.put(
            key(format_args!("count"), &big),
            g.snapshot(),
            Value::Count(1)
        ));
        let off = AggregateCache::new(g.clone(), 0);
        assert!(!off.enabled());
    }

    #[test]
    fn keys_tell_filters_and_parameters_apart() {
        assert_ne!(
            key(format_args!("count"), &filter("A")),
            key(format_args!("count"), &filter("B"))
        );
        assert_ne!(
            key(format_args!("companies 10"), &filter("A")),
            key(format_args!("companies 100"), &filter("A"))
        );
        assert_eq!(
            key(format_args!("count"), &filter("A")),
            key(format_args!("count"), &filter("A"))
        );
    }
}

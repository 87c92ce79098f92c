//! Prometheus metrics in the text exposition format, without a metrics crate: a few counters
//! behind a mutex are all we need, and the scrape renders them together with gauges read from
//! the database pool and the run table at scrape time (no background polling).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Process-wide counters. Cheap to update from request paths.
#[derive(Default)]
pub struct Metrics {
    /// By route template, then method and status: a request finds its counter by `&str`,
    /// without allocating a key.
    http: Mutex<BTreeMap<String, ByMethodStatus>>,
    graphql: Mutex<BTreeMap<GraphqlKey, u64>>,
}

/// One route's counters, by method and status.
type ByMethodStatus = BTreeMap<(&'static str, u16), HttpStats>;

#[derive(Default, Clone, Copy)]
struct HttpStats {
    count: u64,
    seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GraphqlKey {
    operation: &'static str,
    outcome: &'static str,
}

/// The `method` label: a fixed set, because a client can send any token as a method and
/// each new label value would be a series kept forever.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("other")
}

impl Metrics {
    /// `route` must be a route template (or `unmatched`), never a raw path; `method` is mapped
    /// by [`method_label`].
    pub fn record_http(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let mut map = self.http.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(route) {
            map.insert(route.to_owned(), BTreeMap::new());
        }
        let Some(by_route) = map.get_mut(route) else {
            return;
        };
        let s = by_route.entry((method_label(method), status)).or_default();
        s.count += 1;
        s.seconds += elapsed.as_secs_f64();
    }

    /// `operation` is query, mutation or subscription; `ok` whether the response had no errors.
    pub fn record_graphql(&self, operation: &'static str, ok: bool) {
        let mut map = self.graphql.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(GraphqlKey {
            operation,
            outcome: if ok { "ok" } else { "error" },
        })
        .or_default() += 1;
    }

    /// Render counters plus the gauges passed in.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP jobintel_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE jobintel_http_requests_total counter\n");
        // Each series' labels, rendered once for both metrics (and the lock held only to copy).
        let http: Vec<(String, HttpStats)> = {
            let map = self.http.lock().unwrap_or_else(|p| p.into_inner());
            map.iter()
                .flat_map(|(route, by)| {
                    let route = escape(route);
                    by.iter().map(move |(&(method, status), s)| {
                        let labels =
                            format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
                        (labels, *s)
                    })
                })
                .collect()
        };
        for (labels, s) in &http {
            let _ = writeln!(out, "jobintel_http_requests_total{{{labels}}} {}", s.count);
        }
        out.push_str("# HELP jobintel_http_request_duration_seconds_sum Total time spent answering HTTP requests.\n");
        out.push_str("# TYPE jobintel_http_request_duration_seconds_sum counter\n");
        for (labels, s) in &http {
            let _ = writeln!(
                out,
                "jobintel_http_request_duration_seconds_sum{{{labels}}} {:.6}",
                s.seconds
            );
        }
        out.push_str(
            "# HELP jobintel_graphql_operations_total GraphQL operations by type and outcome.\n",
        );
        out.push_str("# TYPE jobintel_graphql_operations_total counter\n");
        for (k, n) in self
            .graphql
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "jobintel_graphql_operations_total{{operation=\"{}\",outcome=\"{}\"}} {n}",
                k.operation, k.outcome
            );
        }
        out.push_str("# HELP jobintel_db_pool_connections Database pool connections by state.\n");
        out.push_str("# TYPE jobintel_db_pool_connections gauge\n");
        let _ = writeln!(
            out,
            "jobintel_db_pool_connections{{state=\"idle\"}} {}",
            gauges.pool_idle
        );
        let _ = writeln!(
            out,
            "jobintel_db_pool_connections{{state=\"in_use\"}} {}",
            gauges.pool_size.saturating_sub(gauges.pool_idle)
        );
        let _ = writeln!(out, "jobintel_db_pool_connections_max {}", gauges.pool_max);
        out.push_str("# HELP jobintel_ingest_runs Ingest runs stored, by status.\n");
        out.push_str("# TYPE jobintel_ingest_runs gauge\n");
        for (status, n) in &gauges.runs_by_status {
            let _ = writeln!(out, "jobintel_ingest_runs{{status=\"{status}\"}} {n}");
        }
        out.push_str(
            "# HELP jobintel_database_up Whether the last scrape could query the database.\n",
        );
        out.push_str("# TYPE jobintel_database_up gauge\n");
        let _ = writeln!(out, "jobintel_database_up {}", u8::from(gauges.database_up));
        for (cache, c, what, setting) in [
            (
                "response_cache",
                &gauges.response_cache,
                "answers",
                "JOBINTEL_RESPONSE_CACHE_BYTES",
            ),
            (
                "aggregate_cache",
                &gauges.aggregate_cache,
                "aggregates (counts, jobStats parts)",
                "JOBINTEL_AGGREGATE_CACHE_BYTES",
            ),
        ] {
            let name = cache.replace('_', " ");
            for (counter, help, value) in [
                ("hits", format!("Lookups answered from the {name}."), c.hits),
                (
                    "misses",
                    format!(
                        "Lookups the {name} could not answer (computed, then stored if no write overlapped)."
                    ),
                    c.misses,
                ),
                (
                    "evictions",
                    format!("Entries dropped from the {name} to stay within its bytes."),
                    c.evictions,
                ),
            ] {
                let _ = writeln!(out, "# HELP jobintel_{cache}_{counter}_total {help}");
                let _ = writeln!(out, "# TYPE jobintel_{cache}_{counter}_total counter");
                let _ = writeln!(out, "jobintel_{cache}_{counter}_total {value}");
            }
            let _ = writeln!(
                out,
                "# HELP jobintel_{cache}_bytes Bytes held by the {name} ({what} plus bookkeeping)."
            );
            let _ = writeln!(out, "# TYPE jobintel_{cache}_bytes gauge");
            let _ = writeln!(out, "jobintel_{cache}_bytes {}", c.bytes);
            let _ = writeln!(
                out,
                "# HELP jobintel_{cache}_max_bytes The {name}'s limit ({setting}; 0: off)."
            );
            let _ = writeln!(out, "# TYPE jobintel_{cache}_max_bytes gauge");
            let _ = writeln!(out, "jobintel_{cache}_max_bytes {}", c.max_bytes);
            let _ = writeln!(
                out,
                "# HELP jobintel_{cache}_entries Entries held by the {name}."
            );
            let _ = writeln!(out, "# TYPE jobintel_{cache}_entries gauge");
            let _ = writeln!(out, "jobintel_{cache}_entries {}", c.entries);
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            out.push_str(
                "# HELP jobintel_runtime_workers Threads that run requests (JOBINTEL_WORKER_THREADS).\n",
            );
            out.push_str("# TYPE jobintel_runtime_workers gauge\n");
            let _ = writeln!(
                out,
                "jobintel_runtime_workers {}",
                rt.metrics().num_workers()
            );
        }
        out.push_str("# HELP jobintel_process_resident_memory_bytes Resident set size.\n");
        out.push_str("# TYPE jobintel_process_resident_memory_bytes gauge\n");
        if let Some(rss) = resident_memory_bytes() {
            let _ = writeln!(out, "jobintel_process_resident_memory_bytes {rss}");
        }
        out
    }
}

/// Values read at scrape time.
#[derive(Debug, Default)]
pub struct Gauges {
    pub pool_size: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
    pub runs_by_status: Vec<(String, i64)>,
    pub database_up: bool,
    /// The response cache's counters and size.
    pub response_cache: crate::generation_lru::CacheStats,
    /// The aggregate cache's counters and size.
    pub aggregate_cache: crate::generation_lru::CacheStats,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// RSS from /proc (Linux); `None` elsewhere.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_counters_use_prometheus_text_format() {
        let m = Metrics::default();
        m.record_http("/graphql", "POST", 200, Duration::from_millis(5));
        m.record_http("/graphql", "POST", 200, Duration::from_millis(5));
        m.record_graphql("query", true);
        let text = m.render(&Gauges {
            runs_by_status: vec![("succeeded".into(), 3)],
            database_up: true,
            ..Gauges::default()
        });
        assert!(text.contains(
            "jobintel_http_requests_total{route=\"/graphql\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(
            text.contains(
                "jobintel_graphql_operations_total{operation=\"query\",outcome=\"ok\"} 1"
            )
        );
        assert!(text.contains("jobintel_ingest_runs{status=\"succeeded\"} 3"));
        assert!(text.contains("jobintel_database_up 1"));
        assert!(text.contains("jobintel_response_cache_hits_total 0"));
        assert!(text.contains("jobintel_response_cache_evictions_total 0"));
        assert!(text.contains("jobintel_aggregate_cache_hits_total 0"));
        assert!(text.contains("jobintel_aggregate_cache_max_bytes 0"));
    }

    #[test]
    fn junk_methods_share_one_label() {
        let m = Metrics::default();
        for method in ["BREW", "PROPFIND", "get", "X-1", "POST"] {
            m.record_http("unmatched", method, 405, Duration::ZERO);
        }
        let text = m.render(&Gauges::default());
        assert!(text.contains(
            "jobintel_http_requests_total{route=\"unmatched\",method=\"other\",status=\"405\"} 4"
        ));
        assert!(text.contains("method=\"POST\""));
        assert!(
            !text.contains("BREW") && !text.contains("PROPFIND"),
            "{text}"
        );
    }
}

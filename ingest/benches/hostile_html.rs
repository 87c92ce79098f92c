//! Parse time of hostile HTML (issue #11): pages built to make html5ever slow, through the
//! parsers the engine runs on them.
//!
//! ```sh
//! cargo bench -p ingest --bench hostile_html
//! ```
//!
//! html5ever looks through its stack of open elements for most start tags, so a page of
//! elements nested N deep costs O(N²): a 1.5 MB page of nested `<div>`s pinned a runtime worker
//! for seconds. The parsers flatten nesting past a cap and truncate descriptions over a size cap
//! before html5ever sees them; this prints the time each parser takes on such pages (median of
//! three runs, each page parsed whole once per run).
//!
//! Run without `--bench` (`cargo test -p ingest --benches`) it parses each page once at a small
//! size and checks the results, so the generators are tested without the wait.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ingest::normalize::{html_to_text, sanitize_html};
use ingest::sources::{indeed, jsonld, seek};
use url::Url;

/// `<div>` nested `depth` deep around one word, inside a page skeleton.
fn nested_divs(depth: usize) -> String {
    let mut page = String::with_capacity(depth * 11 + 200);
    page.push_str("<!DOCTYPE html><html><head><title>Careers</title></head><body>");
    page.push_str(&"<div>".repeat(depth));
    page.push_str("deep");
    page.push_str(&"</div>".repeat(depth));
    page.push_str("</body></html>");
    page
}

/// The depth at which [`nested_divs`] is `bytes` long.
fn depth_for(bytes: usize) -> usize {
    bytes / 11
}

/// `formatting` distinct unclosed `<b>`s (html5ever reopens every one of them at each new
/// block), then `blocks` paragraphs.
fn reopened_formatting(formatting: usize, blocks: usize) -> String {
    let mut page = String::from("<!DOCTYPE html><html><body>");
    for i in 0..formatting {
        page.push_str(&format!("<b id=b{i}>"));
    }
    for _ in 0..blocks {
        page.push_str("<p>x</p>");
    }
    page.push_str("</body></html>");
    page
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time(name: &str, bytes: usize, runs: usize, mut f: impl FnMut() -> usize) {
    let mut times = Vec::with_capacity(runs);
    let mut out = 0;
    for _ in 0..runs {
        let start = Instant::now();
        out = black_box(f());
        times.push(start.elapsed());
    }
    println!(
        "{name:<58} {:>8.1} KiB {:>10.1} ms  (output {out} bytes)",
        bytes as f64 / 1024.0,
        median(times).as_secs_f64() * 1000.0
    );
}

fn cases(bytes: usize, runs: usize) {
    let page = nested_divs(depth_for(bytes));
    let url = Url::parse("https://careers.example.com/jobs/1").unwrap();
    let n = page.len();
    time(
        "nested <div>: sanitize_html + html_to_text",
        n,
        runs,
        || html_to_text(&sanitize_html(&page)).len(),
    );
    time("nested <div>: seek::parse_job_page", n, runs, || {
        seek::parse_job_page(&page).map_or(0, |d| format!("{d:?}").len())
    });
    time("nested <div>: indeed::parse_job_page", n, runs, || {
        indeed::parse_job_page(&page).map_or(0, |d| format!("{d:?}").len())
    });
    time("nested <div>: jsonld::extract_postings", n, runs, || {
        jsonld::extract_postings(&page, &url).map_or(0, |p| p.len())
    });
    let page = reopened_formatting(100, bytes / 8);
    let n = page.len();
    time(
        "100 open <b> + <p>s: sanitize_html + html_to_text",
        n,
        runs,
        || html_to_text(&sanitize_html(&page)).len(),
    );
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    if !bench {
        let page = nested_divs(depth_for(16 * 1024));
        let text = html_to_text(&sanitize_html(&page));
        assert!(text.contains("deep"), "{text}");
        assert!(seek::parse_job_page(&page).is_err(), "no job on the page");
        return;
    }
    println!(
        "hostile HTML parse times — {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for bytes in [64 * 1024, 256 * 1024, 1536 * 1024] {
        cases(bytes, if bytes > 512 * 1024 { 1 } else { 3 });
    }
}

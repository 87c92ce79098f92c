//! Soak test: minutes of mixed normal and hostile traffic at the release binary.
//!
//! ```sh
//! cargo build --release -p jobintel-api -p bench
//! target/release/soak                       # SQLite, 30 s baseline + 300 s under attack
//! target/release/soak --database postgres://postgres@127.0.0.1:5432/jobintel_bench
//! ```
//!
//! Seeds the benchmark's 100,000 postings (`bench --seed-only`, reused while fresh), starts
//! `jobintel serve` with a token, then:
//! - **normal** traffic the whole time: an authenticated client at `--normal-rps` (lists,
//!   one posting, search, stats) and an anonymous one from 127.0.0.2 at 2 req/s; their
//!   latency is reported for the baseline (before any attack) and during the attack;
//! - **hostile** traffic after the baseline, each kind from its own loopback address
//!   (127.0.0.10 and up): fragment cycles and exponential fan-out, deep nesting, oversized
//!   bodies, over-budget batches, cross-site `text/plain` mutations, DNS-rebinding `Host`s,
//!   junk methods, an anonymous flood, idle WebSockets that never send `connection_init`,
//!   deeply nested variables, forwarded anonymous mutations, slow-drip headers.
//!
//! The server's RSS is sampled every second; if the process exits the soak stops and fails.
//! The report gives normal p50/p99 before and during, peak RSS, restarts, and every hostile
//! kind's answers by status and `extensions.code`. Exit code 1 if the server died or a normal
//! authenticated request failed.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bench::rss_mb;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "soak-test-token-0123456789abcdef";

#[derive(Parser, Debug)]
#[command(about = "Mixed normal and hostile traffic at the release binary")]
struct Args {
    /// `sqlite` (a file under target/bench) or a PostgreSQL URL naming the database.
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Seconds of hostile traffic (normal traffic continues throughout).
    #[arg(long, default_value_t = 300)]
    seconds: u64,
    /// Seconds of normal traffic alone first.
    #[arg(long, default_value_t = 30)]
    baseline: u64,
    /// Authenticated normal requests per second.
    #[arg(long, default_value_t = 40)]
    normal_rps: u32,
    /// The server binary.
    #[arg(long, default_value = "target/release/jobintel")]
    server: PathBuf,
    /// The benchmark binary that seeds the database.
    #[arg(long, default_value = "target/release/bench")]
    bench: PathBuf,
}

/// What one kind of traffic got back.
#[derive(Default)]
struct Tally {
    answers: BTreeMap<String, u64>,
    latencies_ms: Vec<f64>,
    transport_errors: u64,
}

type Shared = Arc<Mutex<BTreeMap<String, Tally>>>;

fn record(tallies: &Shared, kind: &str, answer: String, ms: f64) {
    let mut t = tallies.lock().unwrap();
    let e = t.entry(kind.to_owned()).or_default();
    *e.answers.entry(answer).or_default() += 1;
    e.latencies_ms.push(ms);
}

fn record_transport_error(tallies: &Shared, kind: &str) {
    let mut t = tallies.lock().unwrap();
    t.entry(kind.to_owned()).or_default().transport_errors += 1;
}

/// `status code` of an answer: the HTTP status and the first error's `extensions.code`.
fn answer_of(status: u16, body: &str) -> String {
    let code = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let first = if v.is_array() { v[0].clone() } else { v };
        if first["errors"].is_null() {
            Some("ok".to_owned())
        } else {
            first["errors"][0]["extensions"]["code"]
                .as_str()
                .map(str::to_owned)
        }
    });
    format!("{status} {}", code.unwrap_or_else(|| "-".into()))
}

fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(4)
        .build()
        .expect("client")
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    for bin in [&args.server, &args.bench] {
        if !bin.exists() {
            bail!(
                "{} not found: build first with `cargo build --release -p jobintel-api -p bench`",
                bin.display()
            );
        }
    }
    println!("seeding (bench --seed-only, reused while fresh)…");
    let status = Command::new(&args.bench)
        .args(["--database", &args.database, "--seed-only"])
        .status()
        .context("while running bench --seed-only")?;
    if !status.success() {
        bail!("seeding failed: {status}");
    }
    let url = if args.database == "sqlite" {
        "sqlite://target/bench/jobintel_bench.db?mode=rwc".to_owned()
    } else {
        args.database.clone()
    };
    let (addr, mut child) = start_server(&args.server, &url).await?;
    let pid = child.id();
    println!(
        "server pid {pid} on {addr}; baseline {} s, then {} s of hostile traffic",
        args.baseline, args.seconds
    );

    let normal_before: Shared = Default::default();
    let normal_during: Shared = Default::default();
    let hostile: Shared = Default::default();
    let stop = tokio_util_like::Flag::default();
    let attack = tokio_util_like::Flag::default();

    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(normal_traffic(
        addr,
        args.normal_rps,
        normal_before.clone(),
        normal_during.clone(),
        attack.clone(),
        stop.clone(),
    )));
    for (i, kind) in HOSTILE.iter().enumerate() {
        let ip = Ipv4Addr::new(127, 0, 0, 10 + i as u8);
        tasks.push(tokio::spawn(hostile_traffic(
            kind,
            ip,
            addr,
            hostile.clone(),
            attack.clone(),
            stop.clone(),
        )));
    }

    let started = Instant::now();
    let total = Duration::from_secs(args.baseline + args.seconds);
    let mut peak_rss = 0.0f64;
    let mut rss_before = 0.0f64;
    let mut died = None;
    while started.elapsed() < total {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(status) = child.try_wait()? {
            died = Some(status);
            break;
        }
        if let Some((hwm, rss)) = rss_mb(pid) {
            peak_rss = peak_rss.max(hwm);
            if !attack.get() {
                rss_before = rss;
            }
        }
        if !attack.get() && started.elapsed() >= Duration::from_secs(args.baseline) {
            println!("attack starts");
            attack.set();
        }
    }
    stop.set();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(90), t).await;
    }
    let rss_end = rss_mb(pid).map(|(_, r)| r).unwrap_or(0.0);
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .ok()
        .map(|r| r.text());
    let metrics = match metrics {
        Some(f) => f.await.unwrap_or_default(),
        None => String::new(),
    };
    let _ = child.kill();
    let _ = child.wait();

    println!();
    println!("## Normal traffic");
    println!("| phase | kind | requests | answers | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    let mut normal_failed = 0;
    for (phase, tallies) in [("before", &normal_before), ("during", &normal_during)] {
        for (kind, t) in tallies.lock().unwrap().iter_mut() {
            let (p50, p99, max) = percentiles(&mut t.latencies_ms);
            let n: u64 = t.answers.values().sum();
            if kind.starts_with("authenticated") {
                normal_failed += t.transport_errors
                    + t.answers
                        .iter()
                        .filter(|(a, _)| !a.ends_with(" ok"))
                        .map(|(_, n)| n)
                        .sum::<u64>();
            }
            println!(
                "| {phase} | {kind} | {n} | {} | {p50:.1} | {p99:.1} | {max:.1} |",
                answers_text(t)
            );
        }
    }
    println!();
    println!("## Hostile traffic (answers by HTTP status and extensions.code)");
    println!("| kind | requests | answers | max ms |");
    println!("|---|---|---|---|");
    for (kind, t) in hostile.lock().unwrap().iter_mut() {
        let (_, _, max) = percentiles(&mut t.latencies_ms);
        let n: u64 = t.answers.values().sum::<u64>() + t.transport_errors;
        println!("| {kind} | {n} | {} | {max:.0} |", answers_text(t));
    }
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("jobintel_http_requests_total{"))
        .count();
    println!();
    println!(
        "server RSS: {rss_before:.1} MB before the attack, peak (VmHWM) {peak_rss:.1} MB, \
         {rss_end:.1} MB at the end"
    );
    println!("/metrics HTTP request series after the soak: {series}");
    match died {
        Some(status) => {
            println!("restarts: the server EXITED ({status})");
            bail!("the server died during the soak");
        }
        None => println!("restarts: 0 (pid {pid} served throughout)"),
    }
    if normal_failed > 0 {
        bail!("{normal_failed} authenticated normal requests failed");
    }
    Ok(())
}

fn answers_text(t: &Tally) -> String {
    let mut parts: Vec<String> = t.answers.iter().map(|(a, n)| format!("{a}: {n}")).collect();
    if t.transport_errors > 0 {
        parts.push(format!("no answer: {}", t.transport_errors));
    }
    parts.join(", ")
}

/// p50, p99 and max of `v` (sorted in place); zeros without samples.
fn percentiles(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| testkit::percentile(v, p).unwrap_or(0.0);
    (at(0.5), at(0.99), at(1.0))
}

/// A tiny stop/start flag (no tokio-util in this crate).
mod tokio_util_like {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Clone, Default)]
    pub struct Flag(Arc<AtomicBool>);

    impl Flag {
        pub fn set(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
        pub fn get(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }
}
use tokio_util_like::Flag;

async fn start_server(bin: &PathBuf, url: &str) -> anyhow::Result<(SocketAddr, Child)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let mut child = Command::new(bin)
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("JOBINTEL_BIND", addr.to_string())
        .env("JOBINTEL_API_TOKEN", TOKEN)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("while starting {}", bin.display()))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("http://{addr}/health")).await
            && r.status().is_success()
        {
            return Ok((addr, child));
        }
        if let Some(status) = child.try_wait()? {
            bail!("the server exited during start-up: {status}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("the server did not answer /health within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const NORMAL_QUERIES: &[&str] = &[
    r#"{"query":"{ jobPostings(first: 20, filter: {sources: [SEEK]}) { nodes { id title company city postedAt salary { annualMin annualMax currency } } pageInfo { hasNextPage endCursor } } }"}"#,
    r#"{"query":"{ jobPostings(first: 20, filter: {search: \"engineer\"}) { totalCount nodes { id title company } } }"}"#,
    r#"{"query":"{ jobStats { total open bySource { source count } } }"}"#,
    r#"{"query":"{ ingestRuns(first: 10) { nodes { id status source } } }"}"#,
];

async fn normal_traffic(
    addr: SocketAddr,
    rps: u32,
    before: Shared,
    during: Shared,
    attack: Flag,
    stop: Flag,
) {
    let authed = client_from(Ipv4Addr::new(127, 0, 0, 1));
    let anon = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let url = format!("http://{addr}/graphql");
    let mut rng = StdRng::seed_from_u64(1);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rps.max(1))));
    let mut n = 0u64;
    let mut inflight = tokio::task::JoinSet::new();
    while !stop.get() {
        tick.tick().await;
        n += 1;
        let anonymous = n.is_multiple_of(u64::from(rps.max(2) / 2).max(1));
        let body = if rng.random_bool(0.25) {
            let id: u32 = rng.random_range(1..100_000);
            format!(r#"{{"query":"{{ jobPosting(id: \"{id}\") {{ id title company url }} }}"}}"#)
        } else {
            NORMAL_QUERIES[rng.random_range(0..NORMAL_QUERIES.len())].to_owned()
        };
        let (client, kind) = if anonymous {
            (anon.clone(), "anonymous 127.0.0.2")
        } else {
            (authed.clone(), "authenticated")
        };
        let tallies = if attack.get() {
            during.clone()
        } else {
            before.clone()
        };
        let url = url.clone();
        inflight.spawn(async move {
            let started = Instant::now();
            let mut req = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body);
            if !anonymous {
                req = req.bearer_auth(TOKEN);
            }
            match req.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    let ms = started.elapsed().as_secs_f64() * 1e3;
                    record(&tallies, kind, answer_of(status, &text), ms);
                }
                Err(_) => record_transport_error(&tallies, kind),
            }
        });
        while inflight.len() > 256 {
            inflight.join_next().await;
        }
    }
    while inflight.join_next().await.is_some() {}
}

const HOSTILE: &[&str] = &[
    "fragment cycle (POST, GET)",
    "fragment fan-out 2^25..2^60",
    "nesting 60,000 deep",
    "body over 256 KiB",
    "batch over budget",
    "text/plain mutation (cross-site)",
    "Host: rebinding.example",
    "junk HTTP methods",
    "anonymous flood",
    "idle WebSockets, no connection_init",
    "variables nested 10,000 deep",
    "anonymous mutation via proxy",
    "slow-drip headers",
    "deep/costly valid queries",
];

fn doubling(n: usize) -> String {
    let mut q = String::from("query { ...F0 }");
    for i in 0..n {
        q.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    q.push_str(&format!(
        " fragment F{n} on Query {{ health {{ status }} }}"
    ));
    q
}

async fn hostile_traffic(
    kind: &'static str,
    ip: Ipv4Addr,
    addr: SocketAddr,
    tallies: Shared,
    attack: Flag,
    stop: Flag,
) {
    while !attack.get() {
        if stop.get() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let client = client_from(ip);
    let url = format!("http://{addr}/graphql");
    let mut rng = StdRng::seed_from_u64(u64::from(u32::from(ip)));
    let mut round = 0u64;
    while !stop.get() {
        round += 1;
        let started = Instant::now();
        let req = match kind {
            "fragment cycle (POST, GET)" => {
                let q = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
                if round.is_multiple_of(2) {
                    client.post(&url).json(&json!({ "query": q }))
                } else {
                    let mut u = url::Url::parse(&url).expect("url");
                    u.query_pairs_mut().append_pair("query", q);
                    client.get(u)
                }
            }
            "fragment fan-out 2^25..2^60" => client
                .post(&url)
                .json(&json!({ "query": doubling(rng.random_range(25..=60)) })),
            "nesting 60,000 deep" => {
                let n = 60_000;
                let q = format!("{{{}{}}}", "a{".repeat(n), "}".repeat(n));
                client.post(&url).json(&json!({ "query": q }))
            }
            "body over 256 KiB" => client
                .post(&url)
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"query":"{{ health {{ status }} }}","x":"{}"}}"#,
                    "x".repeat(300 * 1024)
                )),
            "batch over budget" => {
                let one = "{ jobPostings(first: 100) { nodes { id descriptionHtml \
                           descriptionText raw title company } } }";
                let batch: Vec<Value> = (0..10).map(|_| json!({ "query": one })).collect();
                client.post(&url).json(&batch)
            }
            "text/plain mutation (cross-site)" => client
                .post(&url)
                .header("content-type", "text/plain")
                .header("origin", "https://evil.example")
                .body(r#"{"query":"mutation { deleteSchedule(id: \"1\") }"}"#),
            "Host: rebinding.example" => client
                .post(&url)
                .header("host", "rebinding.example")
                .json(&json!({ "query": "{ health { status } }" })),
            "junk HTTP methods" => {
                let m = format!("JUNK{}", rng.random_range(0..1_000_000));
                client.request(reqwest::Method::from_bytes(m.as_bytes()).unwrap(), &url)
            }
            "anonymous flood" => client
                .post(&url)
                .json(&json!({ "query": "{ health { status } }" })),
            "idle WebSockets, no connection_init" => {
                idle_websockets(ip, addr, &tallies, kind, &stop).await;
                continue;
            }
            "variables nested 10,000 deep" => client
                .post(&url)
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"query":"query($x: Int) {{ health {{ status }} }}","variables":{{"x":{}1{}}}}}"#,
                    "[".repeat(10_000),
                    "]".repeat(10_000)
                )),
            "anonymous mutation via proxy" => client
                .post(&url)
                .header("x-forwarded-for", "203.0.113.7")
                .json(&json!({ "query": "mutation { pauseSchedule(id: \"1\") { id } }" })),
            "slow-drip headers" => {
                slow_drip(ip, addr, &tallies, kind, &stop).await;
                continue;
            }
            _ => {
                let q = match round % 3 {
                    0 => "{ __schema { types { name fields { name type { name ofType { name } } } } } }",
                    1 => "{ jobPostings(first: 100) { nodes { id title firstRun { id } lastRun { id } } } }",
                    _ => "{ jobStats { total bySource { source count } topCompanies(limit: 100) { company count } postingsPerDay { date count } } }",
                };
                client.post(&url).json(&json!({ "query": q }))
            }
        };
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let text = r.text().await.unwrap_or_default();
                record(
                    &tallies,
                    kind,
                    answer_of(status, &text),
                    started.elapsed().as_secs_f64() * 1e3,
                );
                // A flood goes as fast as it is answered; the rest pace themselves. A
                // well-behaved client would honour Retry-After; an attacker does not.
                if kind != "anonymous flood" {
                    let _ = retry;
                    tokio::time::sleep(Duration::from_millis(rng.random_range(20..120))).await;
                }
            }
            Err(_) => {
                record_transport_error(&tallies, kind);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Open up to 300 WebSocket upgrades from one address that never send `connection_init`, and
/// record how each ends: refused at the upgrade, closed by the server (with its close code),
/// or still open when the soak stops.
async fn idle_websockets(
    ip: Ipv4Addr,
    addr: SocketAddr,
    tallies: &Shared,
    kind: &str,
    stop: &Flag,
) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..300u32 {
        if stop.get() {
            break;
        }
        let tallies = tallies.clone();
        let kind = kind.to_owned();
        let stop = stop.clone();
        set.spawn(async move {
            let started = Instant::now();
            let answer = match idle_websocket(ip, addr, i, &stop).await {
                Ok(a) => a,
                Err(e) => format!("error: {e}"),
            };
            record(
                &tallies,
                &kind,
                answer,
                started.elapsed().as_secs_f64() * 1e3,
            );
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while set.join_next().await.is_some() {}
}

async fn idle_websocket(
    ip: Ipv4Addr,
    addr: SocketAddr,
    i: u32,
    stop: &Flag,
) -> anyhow::Result<String> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
    let mut stream = socket.connect(addr).await?;
    let req = format!(
        "GET /graphql HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ{i:02}==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await?;
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    let status = head.split_whitespace().nth(1).unwrap_or("?").to_owned();
    if status != "101" {
        return Ok(format!("{status} refused at upgrade"));
    }
    // Wait for the server's close frame (opcode 8) or the end of the connection.
    loop {
        if stop.get() {
            return Ok("101 still open at the end".into());
        }
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Ok(Ok(0)) => return Ok("101 then closed without a frame".into()),
            Ok(Ok(n)) => {
                if n >= 4 && buf[0] & 0x0f == 8 {
                    let code = u16::from_be_bytes([buf[2], buf[3]]);
                    return Ok(format!("101 then closed {code}"));
                }
            }
            Ok(Err(e)) => return Ok(format!("101 then reset ({e})")),
            Err(_) => {}
        }
    }
}

/// One header line every 5 s: how long does the server keep such a connection?
async fn slow_drip(ip: Ipv4Addr, addr: SocketAddr, tallies: &Shared, kind: &str, stop: &Flag) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (tallies, kind, stop) = (tallies.clone(), kind.to_owned(), stop.clone());
        set.spawn(async move {
            let started = Instant::now();
            let answer = async {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
                let mut stream = socket.connect(addr).await?;
                stream
                    .write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
                    .await?;
                let mut n = 0;
                while !stop.get() {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    n += 1;
                    if stream
                        .write_all(format!("X-Drip-{n}: a\r\n").as_bytes())
                        .await
                        .is_err()
                    {
                        return anyhow::Ok("closed by the server".to_owned());
                    }
                    let mut buf = [0u8; 512];
                    if let Ok(Ok(k)) =
                        tokio::time::timeout(Duration::from_millis(10), stream.read(&mut buf)).await
                    {
                        if k == 0 {
                            return Ok("closed by the server".to_owned());
                        }
                        let head = String::from_utf8_lossy(&buf[..k]).to_string();
                        return Ok(format!(
                            "answered {}",
                            head.split_whitespace().nth(1).unwrap_or("(closed)")
                        ));
                    }
                }
                Ok("still open at the end".to_owned())
            }
            .await
            .unwrap_or_else(|e| format!("error: {e}"));
            record(
                &tallies,
                &kind,
                answer,
                started.elapsed().as_secs_f64() * 1e3,
            );
        });
    }
    while set.join_next().await.is_some() {}
}

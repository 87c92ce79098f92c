//! The console's runs page with 100,000 runs (issue #14: "answers in under 100 ms per page").
//!
//! 1. Seeds N runs (default 100,000) — varied status, source, trigger and schedule, queued
//!    over the last 30 days in id order, as the queue writes them — into SQLite or PostgreSQL,
//!    unless the database already holds exactly that seed; then `ANALYZE`s it (PostgreSQL:
//!    `VACUUM ANALYZE`, as autovacuum would).
//! 2. Starts `jobintel serve` on it with the scheduler off (no worker may claim the seeded
//!    queued runs), on a free port.
//! 3. Sends each request of the runs page one at a time over one keep-alive connection and
//!    reports the median and p90 latency (after a warm-up): the first page unfiltered, page 50
//!    through cursors, status tabs, source + status, one schedule's runs, and the
//!    `ingestRunStats` counts the tabs show (unfiltered and per filter), plus the overview's
//!    week of hourly counts.
//!
//! ```sh
//! cargo build --release -p jobintel-api -p bench
//! target/release/runs_page --database sqlite
//! target/release/runs_page --database postgres://postgres@127.0.0.1:5432/jobintel_runs_bench
//! ```

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{TimeDelta, Utc};
use clap::Parser;
use entity::{RunStatus, RunTrigger, Source, ingest_run, schedule};
use migration::{Migrator, MigratorTrait};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, NotSet,
    PaginatorTrait, TransactionTrait,
};
use serde_json::{Value, json};

/// Seed runs, start the server on them, and time the console's runs-page requests.
#[derive(Debug, Parser)]
#[command(name = "runs_page")]
struct Args {
    /// `sqlite` (target/bench/jobintel_runs_bench.db), a `sqlite://…` URL, or a
    /// `postgres://…` URL (the database is created if missing).
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Runs to seed.
    #[arg(long, default_value_t = 100_000)]
    runs: usize,
    /// Schedules the scheduled runs belong to.
    #[arg(long, default_value_t = 50)]
    schedules: usize,
    /// Timed requests per query (after 5 warm-up requests).
    #[arg(long, default_value_t = 50)]
    samples: usize,
    /// The server binary.
    #[arg(long, default_value = "target/release/jobintel")]
    server: PathBuf,
    /// Re-seed even if the database already holds the seed.
    #[arg(long)]
    reseed: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // One client thread: the server keeps the other core.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let url = bench::database_url(&args.database, "jobintel_runs_bench.db").await?;
    let db = bench::connect(&url).await?;
    Migrator::up(&db, None).await.context("while migrating")?;
    seed_if_needed(&db, &args).await?;
    let schedule_id: i64 = schedule::Entity::find()
        .one(&db)
        .await?
        .context("the seed has schedules")?
        .id;
    db.close().await?;

    let (base, mut server) = start_server(&args.server, &url).await?;
    let result = measure(&base, schedule_id, args.samples).await;
    let _ = server.kill();
    let _ = server.wait();
    let rows = result?;
    println!(
        "\nruns page, {} runs, {} ({} samples each, one request at a time)\n",
        args.runs,
        bench::redact(&url),
        args.samples
    );
    println!("| request | median ms | p90 ms | rows |");
    println!("|---|---|---|---|");
    for (label, p50, p90, rows) in rows {
        println!("| {label} | {p50:.1} | {p90:.1} | {rows} |");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Seed

const SOURCES: [(Source, u32); 6] = [
    (Source::Seek, 30),
    (Source::Indeed, 20),
    (Source::Greenhouse, 20),
    (Source::Lever, 15),
    (Source::Ashby, 10),
    (Source::Jsonld, 5),
];

/// Per mille; what a long-lived installation accumulates: mostly successes.
const STATUSES: [(RunStatus, u32); 8] = [
    (RunStatus::Succeeded, 775),
    (RunStatus::Failed, 80),
    (RunStatus::Blocked, 30),
    (RunStatus::Cancelled, 20),
    (RunStatus::Interrupted, 20),
    (RunStatus::Skipped, 55),
    (RunStatus::Queued, 15),
    (RunStatus::Running, 5),
];

const TRIGGERS: [(RunTrigger, u32); 5] = [
    (RunTrigger::Schedule, 70),
    (RunTrigger::Manual, 20),
    (RunTrigger::Cli, 5),
    (RunTrigger::Retry, 3),
    (RunTrigger::Import, 2),
];

fn pick<T: Copy>(rng: &mut StdRng, weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut r = rng.random_range(0..total);
    for (v, w) in weighted {
        if r < *w {
            return *v;
        }
        r -= w;
    }
    weighted[0].0
}

async fn seed_if_needed(db: &DatabaseConnection, args: &Args) -> anyhow::Result<()> {
    let have = ingest_run::Entity::find().count(db).await?;
    let schedules = schedule::Entity::find().count(db).await?;
    if !args.reseed && have == args.runs as u64 && schedules == args.schedules as u64 {
        println!("reusing the seed: {have} runs, {schedules} schedules");
        return Ok(());
    }
    let backend = db.get_database_backend();
    println!(
        "seeding {} runs and {} schedules",
        args.runs, args.schedules
    );
    let started = Instant::now();
    db.execute_unprepared("DELETE FROM ingest_runs").await?;
    db.execute_unprepared("DELETE FROM schedules").await?;
    let now = Utc::now();
    let txn = db.begin().await?;
    let mut schedule_ids = Vec::new();
    for i in 0..args.schedules.max(1) {
        let s = schedule::ActiveModel {
            id: NotSet,
            name: Set(format!("bench-{i}")),
            source: Set(Source::Lever),
            params: Set(json!({"target": format!("board-{i}")})),
            cron: Set(format!("{} * * * *", i % 60)),
            timezone: Set("UTC".into()),
            enabled: Set(false),
            jitter_seconds: Set(0),
            overlap_policy: Set(entity::OverlapPolicy::Skip),
            misfire_policy: Set(entity::MisfirePolicy::FireOnce),
            max_attempts: Set(3),
            retry_backoff_seconds: Set(60),
            next_fire_at: Set(None),
            last_fire_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        schedule_ids.push(schedule::Entity::insert(s).exec(&txn).await?.last_insert_id);
    }
    let mut rng = StdRng::seed_from_u64(14);
    let span = TimeDelta::days(30);
    let step_ms = span.num_milliseconds() / args.runs.max(1) as i64;
    let batch = 500;
    let mut i = 0;
    while i < args.runs {
        let end = (i + batch).min(args.runs);
        let models: Vec<ingest_run::ActiveModel> = (i..end)
            .map(|n| {
                let queued = now - span + TimeDelta::milliseconds(step_ms * n as i64);
                let status = pick(&mut rng, &STATUSES);
                let trigger = pick(&mut rng, &TRIGGERS);
                let schedule_id = (trigger == RunTrigger::Schedule)
                    .then(|| schedule_ids[rng.random_range(0..schedule_ids.len())]);
                let source = if schedule_id.is_some() {
                    Source::Lever
                } else {
                    pick(&mut rng, &SOURCES)
                };
                let started = (status != RunStatus::Queued && status != RunStatus::Skipped)
                    .then(|| queued + TimeDelta::seconds(1));
                let finished = status
                    .is_terminal()
                    .then(|| queued + TimeDelta::seconds(rng.random_range(5..600)));
                let found = rng.random_range(0..200);
                ingest_run::ActiveModel {
                    id: NotSet,
                    source: Set(source),
                    params: Set(json!({"target": format!("board-{}", n % 300), "max_pages": 3})),
                    trigger: Set(trigger),
                    schedule_id: Set(schedule_id),
                    scheduled_for: Set(None),
                    status: Set(status),
                    attempt: Set(1),
                    queued_at: Set(queued),
                    run_after: Set(queued),
                    started_at: Set(started),
                    finished_at: Set(finished),
                    heartbeat_at: Set(started),
                    lease_owner: Set(started.map(|_| "bench:1".to_owned())),
                    lease_expires_at: Set(None),
                    pages_fetched: Set(3),
                    requests: Set(5),
                    http_errors: Set(0),
                    jobs_found: Set(found),
                    jobs_new: Set(found / 4),
                    jobs_updated: Set(found / 10),
                    jobs_unchanged: Set(found - found / 4 - found / 10),
                    descriptions_truncated: Set(0),
                    error: Set(matches!(status, RunStatus::Failed | RunStatus::Blocked)
                        .then(|| "HTTP 503 from the board after 3 retries".to_owned())),
                }
            })
            .collect();
        ingest_run::Entity::insert_many(models)
            .exec_without_returning(&txn)
            .await?;
        i = end;
    }
    txn.commit().await?;
    match backend {
        DbBackend::Postgres => db.execute_unprepared("VACUUM ANALYZE ingest_runs").await?,
        _ => db.execute_unprepared("ANALYZE").await?,
    };
    println!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Server and measurement

async fn start_server(server: &PathBuf, url: &str) -> anyhow::Result<(String, Child)> {
    if !server.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p jobintel-api`",
            server.display()
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let bind = format!("127.0.0.1:{port}");
    let child = Command::new(server)
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("JOBINTEL_BIND", &bind)
        // No worker may claim the seeded queued runs, no reaper interrupt the running ones.
        .env("JOBINTEL_SCHEDULER", "false")
        .env("JOBINTEL_RATE_LIMIT", "off")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("while starting {}", server.display()))?;
    let base = format!("http://{bind}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            return Ok((base, child));
        }
        if Instant::now() > deadline {
            bail!("the server did not become healthy within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the runs table shows of each run.
const PAGE: &str = "query($f: IngestRunFilter, $after: String) { ingestRuns(filter: $f, first: 20, after: $after) { \
    edges { cursor node { id databaseId source status trigger scheduleId attempt queuedAt startedAt finishedAt \
    pagesFetched jobsFound jobsNew jobsUpdated error } } pageInfo { hasNextPage endCursor } } }";
/// What the status tabs show.
const COUNTS: &str =
    "query($f: IngestRunFilter) { ingestRunStats(filter: $f) { total byStatus { status count } } }";
/// The overview's week of runs per hour.
const HOURLY: &str = "query($from: DateTime, $to: DateTime) { ingestRunStats(from: $from, to: $to) { \
    total byStatus { status count } perHour { hour succeeded failed blocked cancelled interrupted other } } }";

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    let v: Value = client.post(url).json(body).send().await?.json().await?;
    if !v["errors"].is_null() {
        bail!("request failed: {v}");
    }
    Ok(v)
}

/// Median and p90 in ms of `samples` runs of `body`, and the rows of its answer.
async fn time(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    samples: usize,
) -> anyhow::Result<(f64, f64, usize)> {
    let mut rows = 0;
    for _ in 0..5 {
        let v = post(client, url, body).await?;
        rows = count_rows(&v);
    }
    let mut ms = Vec::with_capacity(samples);
    for _ in 0..samples.max(1) {
        let t = Instant::now();
        post(client, url, body).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok((
        testkit::percentile(&ms, 0.5).unwrap_or(f64::NAN),
        testkit::percentile(&ms, 0.9).unwrap_or(f64::NAN),
        rows,
    ))
}

fn count_rows(v: &Value) -> usize {
    let d = &v["data"];
    if let Some(e) = d["ingestRuns"]["edges"].as_array() {
        return e.len();
    }
    d["ingestRunStats"]["perHour"]
        .as_array()
        .map_or(8, |h| h.len())
}

async fn measure(
    base: &str,
    schedule_id: i64,
    samples: usize,
) -> anyhow::Result<Vec<(String, f64, f64, usize)>> {
    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let url = format!("{base}/graphql");
    let page = |filter: Value, after: Option<&str>| json!({"query": PAGE, "variables": {"f": filter, "after": after}});
    // The cursor of page 49's last row: page 50 continues after it.
    let mut after: Option<String> = None;
    for _ in 0..49 {
        let v = post(&client, &url, &page(Value::Null, after.as_deref())).await?;
        after = v["data"]["ingestRuns"]["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    let sched = json!({"scheduleId": schedule_id.to_string()});
    let now = Utc::now();
    let week = json!({
        "query": HOURLY,
        "variables": {"from": (now - TimeDelta::days(7)).to_rfc3339(), "to": now.to_rfc3339()},
    });
    let cases: Vec<(String, Value)> = vec![
        ("first page, unfiltered".into(), page(Value::Null, None)),
        (
            "page 50 (after page 49's cursor), unfiltered".into(),
            page(Value::Null, after.as_deref()),
        ),
        (
            "first page, status FAILED".into(),
            page(json!({"statuses": ["FAILED"]}), None),
        ),
        (
            "first page, status RUNNING (rare)".into(),
            page(json!({"statuses": ["RUNNING"]}), None),
        ),
        (
            "first page, source SEEK + status SUCCEEDED".into(),
            page(
                json!({"sources": ["SEEK"], "statuses": ["SUCCEEDED"]}),
                None,
            ),
        ),
        (
            "first page, source INDEED + status BLOCKED".into(),
            page(
                json!({"sources": ["INDEED"], "statuses": ["BLOCKED"]}),
                None,
            ),
        ),
        (
            "first page, trigger RETRY".into(),
            page(json!({"triggers": ["RETRY"]}), None),
        ),
        ("first page, one schedule".into(), page(sched.clone(), None)),
        (
            "ingestRunStats byStatus, unfiltered".into(),
            json!({"query": COUNTS}),
        ),
        (
            "ingestRunStats byStatus, source SEEK".into(),
            json!({"query": COUNTS, "variables": {"f": {"sources": ["SEEK"]}}}),
        ),
        (
            "ingestRunStats byStatus, trigger SCHEDULE".into(),
            json!({"query": COUNTS, "variables": {"f": {"triggers": ["SCHEDULE"]}}}),
        ),
        (
            "ingestRunStats byStatus, one schedule".into(),
            json!({"query": COUNTS, "variables": {"f": sched}}),
        ),
        ("ingestRunStats last 7 days + perHour".into(), week),
    ];
    let mut out = Vec::new();
    for (label, body) in cases {
        let (p50, p90, rows) = time(&client, &url, &body, samples).await?;
        println!("{label}: median {p50:.1} ms, p90 {p90:.1} ms ({rows} rows)");
        out.push((label, p50, p90, rows));
    }
    Ok(out)
}

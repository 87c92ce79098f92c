//! Load benchmark for jobintel's read API. One command does everything:
//!
//! 1. seeds N realistic postings (varied titles, companies, locations, salaries, sources and
//!    dates; 1–3 KB descriptions) into SQLite or PostgreSQL with multi-row INSERTs, unless the
//!    database already holds exactly that seed;
//! 2. starts `target/release/jobintel serve` against it on a free port;
//! 3. drives concurrent GraphQL requests over keep-alive connections for each scenario and
//!    reports requests/s, p50/p99 latency, errors (a response with `errors` counts) and the
//!    server's peak RSS (`VmHWM` from `/proc/<pid>/status`);
//! 4. repeats the whole measurement `--runs` times and prints the median of each figure.
//!
//! Each scenario runs twice (`--cache-modes`): **cached**, the same request again and again
//! (after the first, the response cache answers it), and **uncached**, a random source / id /
//! search word / filter per request plus a random unused variable (`_nocache`), so every
//! request misses the response cache and runs the query: the cost of the cache's miss path is
//! included. The server's response-cache counters from `/metrics` are printed at the end.
//! On PostgreSQL, with `pgbench` on PATH, the table also gives the database's own limit for
//! (a)–(c): pgbench running the SQL jobintel sends (`bench/pgbench/`) at the same concurrency,
//! and the uncached row's share of it (`--no-pgbench` to skip).
//!
//! Scenarios: (a) newest 20 of one source, (b) one posting by id, (c) full-text search for a
//! common word, newest 20, (d) `jobStats` over everything, (t) `jobStats.timeSeries` (one of:
//! new postings per day by source over 90 days, open postings per week over 26 weeks, median
//! AUD salary per month by country).
//!
//! ```sh
//! cargo build --release -p jobintel-api -p bench
//! target/release/bench --database sqlite
//! target/release/bench --database postgres://postgres@127.0.0.1:5432/jobintel_bench
//! ```

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bench::rss_mb;
use chrono::{DateTime, Utc};
use clap::Parser;
use entity::{SalaryPeriod, SalarySource, Source, WorkArrangement, WorkType, job_posting};
use migration::{Migrator, MigratorTrait};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    PaginatorTrait, QuerySelect, TransactionTrait,
};
use serde_json::{Value, json};

/// Seed a database, start the server on it, and measure the read API.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// `sqlite` (a file under target/bench/), a `sqlite://…` URL, or a `postgres://…` URL (the
    /// database is created if missing).
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Postings to seed.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Concurrent keep-alive connections for scenarios a–c.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Concurrent connections for scenario d (`jobStats`); 1 measures time per request.
    #[arg(long, default_value_t = 1)]
    stats_connections: usize,
    /// Measured seconds per scenario (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Measurement rounds; the median of each figure is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Scenarios to run, e.g. `a,c`; `x` posts the body given with `--body`.
    #[arg(long, default_value = "a,b,c,d,t")]
    scenarios: String,
    /// A GraphQL request body (JSON) for scenario `x`, to measure variants of a query.
    #[arg(long)]
    body: Option<PathBuf>,
    /// Which of `cached` (one request repeated: the response cache answers) and `uncached`
    /// (every request different: the cache misses) to run for each scenario.
    #[arg(long, default_value = "cached,uncached")]
    cache_modes: String,
    /// The server binary.
    #[arg(long, default_value = "target/release/jobintel")]
    server: PathBuf,
    /// `JOBINTEL_DB_POOL_SIZE` for the server.
    #[arg(long)]
    pool_size: Option<u32>,
    /// Re-seed even if the database already holds the seed.
    #[arg(long)]
    reseed: bool,
    /// Only seed; don't start the server.
    #[arg(long)]
    seed_only: bool,
    /// SQLite: merge the full-text index into one segment (FTS5 `optimize`) even when not
    /// re-seeding. Seeding always ends with it, as it ends with VACUUM ANALYZE on PostgreSQL.
    #[arg(long)]
    fts_optimize: bool,
    /// SQLite: skip the FTS5 `optimize` after seeding (measures a fragmented index, as left by
    /// a bulk load).
    #[arg(long)]
    no_fts_optimize: bool,
    /// Measure a server that is already running at this base URL (`http://127.0.0.1:8000`)
    /// instead of starting one; RSS is read from `--server-pid` if given.
    #[arg(long)]
    url: Option<String>,
    /// PID of an already running server (with `--url`), for RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Do not run pgbench for the limit column (PostgreSQL only; skipped anyway when pgbench
    /// is not on PATH).
    #[arg(long)]
    no_pgbench: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    NewestOfSource,
    ById,
    Search,
    Stats,
    TimeSeries,
    Custom,
}

/// Whether a scenario repeats one request (the response cache answers it) or varies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Cached,
    Uncached,
}

impl Mode {
    fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s.trim() {
            "cached" => Mode::Cached,
            "uncached" => Mode::Uncached,
            other => bail!("unknown cache mode `{other}` (cached or uncached)"),
        })
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Cached => "cached",
            Mode::Uncached => "uncached",
        }
    }
}

/// Words of the seeded titles, for uncached searches.
const SEARCH_WORDS: [&str; 8] = [
    "engineer",
    "manager",
    "analyst",
    "nurse",
    "developer",
    "designer",
    "teacher",
    "sales",
];

impl Scenario {
    fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s.trim() {
            "a" => Scenario::NewestOfSource,
            "b" => Scenario::ById,
            "c" => Scenario::Search,
            "d" => Scenario::Stats,
            "t" => Scenario::TimeSeries,
            "x" => Scenario::Custom,
            other => bail!("unknown scenario `{other}` (a, b, c, d, t or x)"),
        })
    }

    fn label(self) -> &'static str {
        match self {
            Scenario::NewestOfSource => "(a) newest 20 of one source",
            Scenario::ById => "(b) one posting by id",
            Scenario::Search => "(c) search a word, newest 20",
            Scenario::Stats => "(d) jobStats",
            Scenario::TimeSeries => "(t) jobStats.timeSeries",
            Scenario::Custom => "(x) --body",
        }
    }
}

const LIST_QUERY: &str = "query($s: [Source!]) { jobPostings(first: 20, filter: {sources: $s}) { \
    edges { cursor node { id title company city country workType workArrangement \
    salary { annualMin annualMax currency } postedAt } } pageInfo { hasNextPage endCursor } } }";
const BY_ID_QUERY: &str = "query($id: ID!) { jobPosting(id: $id) { id title company url \
    locationRaw workType workArrangement salary { text min max currency period } \
    descriptionHtml postedAt firstSeenAt isOpen } }";
const SEARCH_QUERY: &str = "query($q: String) { jobPostings(first: 20, filter: {search: $q}) { \
    edges { cursor node { id title company city postedAt } } pageInfo { hasNextPage endCursor } } }";
const STATS_QUERY: &str = "query($f: JobPostingFilter) { jobStats(filter: $f) { total open bySource { source count } \
    byWorkType { workType count } byWorkArrangement { workArrangement count } \
    byCountry { country count } topCompanies(limit: 10) { company count } \
    topLocations(limit: 10) { city region country count } \
    salary { currency count min max average p25 median p75 } \
    postingsPerDay { date count } } }";

/// Scenario (t): trend charts, one of these per request.
const TIME_SERIES_QUERIES: [&str; 3] = [
    "query { jobStats { timeSeries(metric: NEW_POSTINGS, groupBy: SOURCE) { key points { start value } } } }",
    "query { jobStats { timeSeries(bucket: WEEK, metric: OPEN_POSTINGS) { key points { start value } } } }",
    "query { jobStats(filter: {salaryCurrency: \"AUD\"}) { timeSeries(bucket: MONTH, \
     metric: MEDIAN_ANNUAL_SALARY, groupBy: COUNTRY) { key points { start value } } } }",
];

/// The body of scenario `x` (`--body`).
static CUSTOM_BODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

const SOURCES: [&str; 6] = ["SEEK", "INDEED", "GREENHOUSE", "LEVER", "ASHBY", "JSONLD"];

/// One scenario's figures from one round.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    requests: u64,
    errors: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    peak_rss_mb: f64,
    /// Server CPU time (user + system) per request: comparable across loaded and idle machines.
    cpu_us_per_req: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The client gets one thread so it cannot take both cores from the server.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let scenarios = args
        .scenarios
        .split(',')
        .map(Scenario::parse)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let modes = args
        .cache_modes
        .split(',')
        .map(Mode::parse)
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Each scenario in each mode, side by side.
    let scenarios: Vec<(Scenario, Mode)> = scenarios
        .into_iter()
        .flat_map(|s| modes.iter().map(move |m| (s, *m)))
        .collect();
    if let Some(path) = &args.body {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("while reading {}", path.display()))?;
        let _ = CUSTOM_BODY.set(text);
    }
    let url = bench::database_url(&args.database, "jobintel_bench.db").await?;
    let db = bench::connect(&url).await?;
    Migrator::up(&db, None).await.context("while migrating")?;
    let seeded = seed_if_needed(&db, args.rows, args.reseed).await?;
    let optimize = args.fts_optimize || (seeded && !args.no_fts_optimize);
    if optimize && db.get_database_backend() == DbBackend::Sqlite {
        let t = Instant::now();
        db.execute_unprepared("INSERT INTO job_postings_fts(job_postings_fts) VALUES('optimize')")
            .await?;
        println!("FTS5 optimize: {:.1} s", t.elapsed().as_secs_f64());
    }
    if args.seed_only {
        return Ok(());
    }
    let max_id: i64 = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT MAX(id) AS m FROM job_postings",
        ))
        .await?
        .and_then(|r| r.try_get::<i64>("", "m").ok())
        .unwrap_or(1);
    db.close().await?;

    let (base, mut server) = match &args.url {
        Some(u) => (u.trim_end_matches('/').to_owned(), None),
        None => {
            let (base, child) = start_server(&args, &url).await?;
            (base, Some(child))
        }
    };
    let pid = server.as_ref().map(|c| c.id()).or(args.server_pid);
    let result = measure_all(&args, &scenarios, &base, pid, max_id).await;
    let cache_metrics = cache_metrics(&base).await;
    if let Some(child) = server.as_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let rounds = result?;
    let limits = pgbench_limits(&args, &url, &scenarios);
    report(&args, &url, &scenarios, &rounds, &limits);
    println!("\nresponse and aggregate caches (/metrics at the end):\n{cache_metrics}");
    Ok(())
}

/// The server's `jobintel_response_cache_*` and `jobintel_aggregate_cache_*` lines (the second
/// answers the uncached (d)'s six source filters after their first request; run the server
/// with `JOBINTEL_AGGREGATE_CACHE_BYTES=0` to measure the statements themselves).
async fn cache_metrics(base: &str) -> String {
    match reqwest::get(format!("{base}/metrics")).await {
        Ok(r) => r
            .text()
            .await
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.starts_with("jobintel_response_cache_")
                    || l.starts_with("jobintel_aggregate_cache_")
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("(cannot read /metrics: {e})"),
    }
}

// ---------------------------------------------------------------------------------------------
// Database

/// Whether it seeded.
async fn seed_if_needed(
    db: &DatabaseConnection,
    rows: usize,
    reseed: bool,
) -> anyhow::Result<bool> {
    let have = job_posting::Entity::find().count(db).await? as usize;
    // The server's housekeeping closes postings not seen for 14 days and deletes runs older
    // than 30: a seed made days ago would be rewritten under the benchmark. Re-seed then.
    let newest: Option<DateTime<Utc>> = job_posting::Entity::find()
        .select_only()
        .column_as(job_posting::Column::LastSeenAt.max(), "m")
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(db)
        .await?
        .flatten();
    let fresh = newest.is_some_and(|t| Utc::now() - t < chrono::Duration::days(2));
    if have == rows && fresh && !reseed {
        println!("database already holds {have} postings: not re-seeding (--reseed to force)");
        return Ok(false);
    }
    let now = Utc::now();
    let backend = db.get_database_backend();
    let started = Instant::now();
    if backend == DbBackend::Postgres {
        db.execute_unprepared("TRUNCATE job_postings, ingest_runs RESTART IDENTITY CASCADE")
            .await?;
    } else {
        db.execute_unprepared("DELETE FROM job_postings").await?;
        db.execute_unprepared("DELETE FROM ingest_runs").await?;
    }
    // Runs the postings point at (firstRun / lastRun).
    let runs = 50;
    for i in 0..runs {
        let queued = now - chrono::Duration::hours(runs - i);
        db.execute(
            &sea_orm::sea_query::Query::insert()
                .into_table(entity::ingest_run::Entity)
                .columns([
                    entity::ingest_run::Column::Source,
                    entity::ingest_run::Column::Params,
                    entity::ingest_run::Column::Trigger,
                    entity::ingest_run::Column::Status,
                    entity::ingest_run::Column::Attempt,
                    entity::ingest_run::Column::QueuedAt,
                    entity::ingest_run::Column::RunAfter,
                    entity::ingest_run::Column::StartedAt,
                    entity::ingest_run::Column::FinishedAt,
                ])
                .values_panic([
                    SOURCES[i as usize % 6].to_ascii_lowercase().into(),
                    json!({ "keywords": "engineer" }).into(),
                    "schedule".into(),
                    "succeeded".into(),
                    1.into(),
                    queued.into(),
                    queued.into(),
                    queued.into(),
                    (queued + chrono::Duration::minutes(3)).into(),
                ])
                .to_owned(),
        )
        .await?;
    }

    // Two writers use both cores on PostgreSQL (its indexes, and the full-text indexing below,
    // are CPU-bound). SQLite has one writer.
    let writers = if backend == DbBackend::Postgres { 2 } else { 1 };
    let per_writer = rows.div_ceil(writers);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        let range = (w * per_writer)..((w + 1) * per_writer).min(rows);
        tasks.push(tokio::spawn(async move {
            let txn = db.begin().await?;
            let batch = 400;
            let mut i = range.start;
            while i < range.end {
                let end = (i + batch).min(range.end);
                let models: Vec<job_posting::ActiveModel> =
                    (i..end).map(|n| posting(n, rows, runs, now)).collect();
                job_posting::Entity::insert_many(models)
                    .exec_without_returning(&txn)
                    .await?;
                i = end;
            }
            txn.commit().await?;
            Ok::<_, sea_orm::DbErr>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let inserted = started.elapsed();
    if backend == DbBackend::Postgres {
        db.execute_unprepared(
            "SELECT setval(pg_get_serial_sequence('job_postings', 'id'), \
             (SELECT MAX(id) FROM job_postings))",
        )
        .await?;
        // The inserts only queued the postings for full-text indexing (migration 000006); index
        // them all now, on both cores, as the server's background indexer would.
        let mut indexers = Vec::new();
        for _ in 0..2 {
            let db = db.clone();
            indexers.push(tokio::spawn(async move {
                ingest::search_index::refresh_all(&db).await
            }));
        }
        for t in indexers {
            t.await??;
        }
        db.execute_unprepared("VACUUM ANALYZE job_postings").await?;
        db.execute_unprepared("VACUUM ANALYZE job_posting_search")
            .await?;
        db.execute_unprepared("VACUUM ANALYZE job_posting_search_queue")
            .await?;
        db.execute_unprepared("VACUUM ANALYZE ingest_runs").await?;
    } else {
        db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await?;
    }
    println!(
        "seeded {rows} postings in {:.1} s (+{:.1} s {})",
        inserted.as_secs_f64(),
        (started.elapsed() - inserted).as_secs_f64(),
        if backend == DbBackend::Postgres {
            "VACUUM ANALYZE"
        } else {
            "WAL checkpoint"
        }
    );
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Realistic postings

const SENIORITY: &[&str] = &[
    "",
    "",
    "",
    "Senior ",
    "Senior ",
    "Junior ",
    "Lead ",
    "Principal ",
    "Graduate ",
    "Staff ",
];
/// (role, base annual salary in AUD, category)
const ROLES: &[(&str, f64, &str)] = &[
    (
        "Software Engineer",
        140_000.0,
        "Information & Communication Technology",
    ),
    (
        "Backend Engineer",
        145_000.0,
        "Information & Communication Technology",
    ),
    (
        "Frontend Developer",
        125_000.0,
        "Information & Communication Technology",
    ),
    (
        "DevOps Engineer",
        150_000.0,
        "Information & Communication Technology",
    ),
    (
        "Data Engineer",
        150_000.0,
        "Information & Communication Technology",
    ),
    (
        "Data Analyst",
        105_000.0,
        "Information & Communication Technology",
    ),
    (
        "Data Scientist",
        150_000.0,
        "Information & Communication Technology",
    ),
    (
        "Site Reliability Engineer",
        160_000.0,
        "Information & Communication Technology",
    ),
    (
        "Product Manager",
        155_000.0,
        "Information & Communication Technology",
    ),
    ("Project Manager", 135_000.0, "Construction"),
    ("Civil Engineer", 120_000.0, "Engineering"),
    ("Mechanical Engineer", 115_000.0, "Engineering"),
    ("Electrical Engineer", 120_000.0, "Engineering"),
    ("Registered Nurse", 95_000.0, "Healthcare & Medical"),
    ("Physiotherapist", 95_000.0, "Healthcare & Medical"),
    ("Accountant", 95_000.0, "Accounting"),
    (
        "Financial Analyst",
        110_000.0,
        "Banking & Financial Services",
    ),
    ("Business Analyst", 125_000.0, "Consulting & Strategy"),
    ("Sales Executive", 90_000.0, "Sales"),
    ("Account Manager", 100_000.0, "Sales"),
    (
        "Customer Service Officer",
        65_000.0,
        "Call Centre & Customer Service",
    ),
    (
        "Marketing Coordinator",
        80_000.0,
        "Marketing & Communications",
    ),
    ("Graphic Designer", 80_000.0, "Design & Architecture"),
    ("HR Advisor", 95_000.0, "Human Resources & Recruitment"),
    ("Teacher", 90_000.0, "Education & Training"),
    ("Electrician", 95_000.0, "Trades & Services"),
    ("Chef", 70_000.0, "Hospitality & Tourism"),
    (
        "Warehouse Operator",
        60_000.0,
        "Manufacturing, Transport & Logistics",
    ),
    (
        "Truck Driver",
        70_000.0,
        "Manufacturing, Transport & Logistics",
    ),
    (
        "Administration Officer",
        65_000.0,
        "Administration & Office Support",
    ),
];
const COMPANY_A: &[&str] = &[
    "Acme",
    "Blue",
    "Northern",
    "Southern",
    "Harbour",
    "Summit",
    "Pioneer",
    "Atlas",
    "Coastal",
    "Vertex",
    "Granite",
    "Silver",
    "Redgum",
    "Wattle",
    "Kestrel",
    "Nimbus",
    "Orbit",
    "Quantum",
    "Evergreen",
    "Ironbark",
    "Lighthouse",
    "Meridian",
    "Horizon",
    "Sterling",
    "Crimson",
];
const COMPANY_B: &[&str] = &[
    "Solutions",
    "Health",
    "Group",
    "Labs",
    "Logistics",
    "Energy",
    "Financial",
    "Software",
    "Partners",
    "Consulting",
    "Retail",
    "Education",
    "Systems",
    "Foods",
    "Mining",
    "Digital",
    "Analytics",
    "Insurance",
    "Construction",
    "Networks",
];
/// (city, region, country, currency, weight)
const PLACES: &[(&str, &str, &str, &str, u32)] = &[
    ("Sydney", "NSW", "AU", "AUD", 20),
    ("Melbourne", "VIC", "AU", "AUD", 18),
    ("Brisbane", "QLD", "AU", "AUD", 9),
    ("Perth", "WA", "AU", "AUD", 6),
    ("Adelaide", "SA", "AU", "AUD", 4),
    ("Canberra", "ACT", "AU", "AUD", 3),
    ("Hobart", "TAS", "AU", "AUD", 1),
    ("Auckland", "Auckland", "NZ", "NZD", 5),
    ("Wellington", "Wellington", "NZ", "NZD", 2),
    ("Christchurch", "Canterbury", "NZ", "NZD", 1),
    ("London", "England", "GB", "GBP", 6),
    ("Manchester", "England", "GB", "GBP", 2),
    ("New York", "NY", "US", "USD", 5),
    ("San Francisco", "CA", "US", "USD", 4),
    ("Austin", "TX", "US", "USD", 2),
    ("Seattle", "WA", "US", "USD", 2),
    ("Toronto", "ON", "CA", "CAD", 2),
    ("Berlin", "Berlin", "DE", "EUR", 2),
    ("Singapore", "Singapore", "SG", "SGD", 2),
];
const SENTENCES: &[&str] = &[
    "We are looking for a motivated professional to join our growing team.",
    "You will work closely with stakeholders across the business to deliver outcomes that matter.",
    "This is a fantastic opportunity to develop your career with an industry leader.",
    "The successful candidate will have strong communication skills and attention to detail.",
    "You will be responsible for planning, delivering and reporting on your work.",
    "Our culture values collaboration, curiosity and continuous improvement.",
    "We offer flexible working arrangements, generous leave and ongoing training.",
    "Experience in a similar role is highly regarded but not essential.",
    "You will mentor junior team members and contribute to our engineering practices.",
    "Our customers rely on us every day, and you will help us exceed their expectations.",
    "The role involves problem solving in a fast-paced and dynamic environment.",
    "You will use modern tools and take ownership of your projects from start to finish.",
    "We are committed to diversity and inclusion and encourage all applicants.",
    "A current driver's licence and the right to work in this country are required.",
    "Salary packaging, an employee assistance program and wellbeing days are available.",
    "You will join a supportive team that celebrates wins and learns from setbacks.",
    "Hands-on experience with data, reporting and process improvement is a plus.",
    "We value people who are proactive, organised and keen to learn new skills.",
    "Our head office is close to public transport with parking available on site.",
    "Please apply with your resume and a short cover letter outlining your experience.",
];
const SKILLS: &[&str] = &[
    "Rust",
    "Python",
    "TypeScript",
    "React",
    "PostgreSQL",
    "Kubernetes",
    "AWS",
    "Azure",
    "Excel",
    "SAP",
    "Salesforce",
    "stakeholder management",
    "budgeting",
    "customer service",
    "forklift licence",
    "first aid",
    "project delivery",
    "data visualisation",
    "SQL",
    "Terraform",
];

fn weighted<'a, T>(rng: &mut StdRng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[0].0
}

/// Posting number `n` of the seed (deterministic).
fn posting(n: usize, rows: usize, runs: i64, now: DateTime<Utc>) -> job_posting::ActiveModel {
    let mut rng = StdRng::seed_from_u64(n as u64 ^ 0x6a0b_1e7e);
    let source = *weighted(
        &mut rng,
        &[
            (Source::Seek, 35),
            (Source::Indeed, 30),
            (Source::Greenhouse, 12),
            (Source::Lever, 10),
            (Source::Ashby, 8),
            (Source::Jsonld, 5),
        ],
    );
    let (role, base_salary, category) = *ROLES.choose(&mut rng).unwrap();
    let seniority = *SENIORITY.choose(&mut rng).unwrap();
    let title = format!("{seniority}{role}");
    // A few large employers, a long tail of small ones.
    let company_idx = (rng.random::<f64>().powi(3) * (COMPANY_A.len() * COMPANY_B.len()) as f64)
        as usize
        % (COMPANY_A.len() * COMPANY_B.len());
    let company = format!(
        "{} {}",
        COMPANY_A[company_idx % COMPANY_A.len()],
        COMPANY_B[company_idx / COMPANY_A.len()]
    );
    type Place = (&'static str, &'static str, &'static str, &'static str);
    let places: Vec<(Place, u32)> = PLACES
        .iter()
        .map(|(c, r, k, cur, w)| ((*c, *r, *k, *cur), *w))
        .collect();
    let (city, region, country, currency) = *weighted(&mut rng, &places);
    let work_type = *weighted(
        &mut rng,
        &[
            (Some(WorkType::FullTime), 60),
            (Some(WorkType::Contract), 15),
            (Some(WorkType::PartTime), 8),
            (Some(WorkType::Casual), 6),
            (Some(WorkType::Temporary), 3),
            (Some(WorkType::Internship), 2),
            (None, 6),
        ],
    );
    let arrangement = *weighted(
        &mut rng,
        &[
            (WorkArrangement::OnSite, 45),
            (WorkArrangement::Hybrid, 30),
            (WorkArrangement::Remote, 12),
            (WorkArrangement::Unknown, 13),
        ],
    );
    let multiplier = match seniority {
        "Senior " => 1.25,
        "Lead " | "Staff " => 1.4,
        "Principal " => 1.6,
        "Junior " => 0.75,
        "Graduate " => 0.65,
        _ => 1.0,
    };
    let fx = match currency {
        "USD" => 0.72,
        "GBP" => 0.52,
        "EUR" => 0.6,
        "NZD" => 1.08,
        "CAD" => 0.95,
        "SGD" => 0.9,
        _ => 1.0,
    };
    let has_salary = rng.random_bool(0.6);
    let hourly = matches!(work_type, Some(WorkType::Casual)) || rng.random_bool(0.08);
    let mid = base_salary * multiplier * fx * rng.random_range(0.85..1.15);
    let (annual_min, annual_max) = if rng.random_bool(0.15) {
        (mid.round(), mid.round())
    } else {
        (
            (mid * 0.9 / 1000.0).round() * 1000.0,
            (mid * 1.1 / 1000.0).round() * 1000.0,
        )
    };
    let hours = if matches!(currency, "AUD" | "NZD") {
        7.6 * 5.0 * 52.0
    } else {
        40.0 * 52.0
    };
    let (shown_min, shown_max, period, text) = if hourly {
        let (a, b) = (
            (annual_min / hours * 100.0).round() / 100.0,
            (annual_max / hours * 100.0).round() / 100.0,
        );
        (
            a,
            b,
            SalaryPeriod::Hour,
            format!("${a:.2} – ${b:.2} per hour"),
        )
    } else {
        (
            annual_min,
            annual_max,
            SalaryPeriod::Year,
            format!(
                "${}k – ${}k + super",
                annual_min / 1000.0,
                annual_max / 1000.0
            ),
        )
    };

    // 1–3 KB of text: sentences in paragraphs, a skills list.
    let target = rng.random_range(1_000..3_000);
    let mut text_desc = format!("{company} is hiring a {title} in {city}. ");
    let mut html = format!("<p><strong>{company}</strong> is hiring a {title} in {city}.</p><p>");
    while text_desc.len() < target {
        let s = SENTENCES.choose(&mut rng).unwrap();
        text_desc.push_str(s);
        text_desc.push(' ');
        html.push_str(s);
        html.push(' ');
        if rng.random_bool(0.2) {
            text_desc.push('\n');
            html.push_str("</p><p>");
        }
    }
    html.push_str("</p><ul>");
    text_desc.push_str("\nSkills: ");
    for _ in 0..rng.random_range(3..7) {
        let s = SKILLS.choose(&mut rng).unwrap();
        text_desc.push_str(s);
        text_desc.push_str(", ");
        html.push_str(&format!("<li>{s}</li>"));
    }
    html.push_str("</ul>");

    // Dates: the last 120 days, more postings recently. Ids follow first-seen time, as they do
    // when postings are ingested over time (posting n+1 was first seen after posting n). The
    // source's posting date is up to two days earlier; 4% have none. Open postings were seen
    // in the last 13 days; closed ones stopped being seen 14+ days before they were closed
    // (what the server's housekeeping does), so it leaves them alone.
    let minutes = |d: i64| chrono::Duration::minutes(d);
    let u = 1.0 - (n as f64 + 0.5) / rows.max(1) as f64;
    let first_seen = now - minutes((u.powf(1.6) * 120.0 * 24.0 * 60.0) as i64);
    let posted = first_seen - minutes(rng.random_range(5..2_880));
    let close_by = now - chrono::Duration::days(15);
    let (last_seen, closed) = if first_seen < close_by && rng.random_bool(0.3) {
        let span = (close_by - first_seen).num_minutes().max(1);
        let last = first_seen + minutes(rng.random_range(0..span));
        (last, Some(last + chrono::Duration::days(14)))
    } else {
        let from = first_seen.max(now - chrono::Duration::days(13));
        let span = (now - from).num_minutes().max(1);
        (from + minutes(rng.random_range(0..span)), None)
    };
    let run_first = 1 + (n as i64 % runs);
    let external_id = format!("{}-{n}", source.as_str());
    job_posting::ActiveModel {
        // Explicit, so that two writers still give ids in first-seen order.
        id: Set(n as i64 + 1),
        source: Set(source),
        external_id: Set(external_id.clone()),
        url: Set(format!(
            "https://jobs.example.com/{}/{external_id}",
            source.as_str()
        )),
        apply_url: Set(rng
            .random_bool(0.3)
            .then(|| format!("https://apply.example.com/{n}"))),
        title: Set(title.clone()),
        company: Set(Some(company.clone())),
        company_external_id: Set(Some(format!("c{company_idx}"))),
        location_raw: Set(Some(format!("{city} {region}"))),
        city: Set(Some(city.to_owned())),
        region: Set(Some(region.to_owned())),
        country: Set(Some(country.to_owned())),
        work_type: Set(work_type),
        work_arrangement: Set(arrangement),
        salary_text: Set(has_salary.then(|| text.clone())),
        salary_min: Set(has_salary.then_some(shown_min)),
        salary_max: Set(has_salary.then_some(shown_max)),
        salary_currency: Set(has_salary.then(|| currency.to_owned())),
        salary_period: Set(has_salary.then_some(period)),
        salary_annual_min: Set(has_salary.then_some(annual_min)),
        salary_annual_max: Set(has_salary.then_some(annual_max)),
        salary_source: Set(has_salary.then_some(SalarySource::Parsed)),
        description_html: Set(Some(html)),
        description_text: Set(Some(text_desc)),
        classification: Set(Some(category.to_owned())),
        posted_at: Set(rng.random_bool(0.96).then_some(posted)),
        expires_at: Set(Some(posted + chrono::Duration::days(30))),
        first_seen_at: Set(first_seen),
        last_seen_at: Set(last_seen),
        closed_at: Set(closed),
        content_hash: Set(format!("{:016x}", rng.random::<u64>())),
        raw: Set(Some(json!({
            "id": external_id,
            "title": title,
            "advertiser": { "name": company },
            "location": format!("{city} {region}"),
            "salary": if has_salary { Value::String(text) } else { Value::Null },
            "classification": category,
        }))),
        first_run_id: Set(Some(run_first)),
        last_run_id: Set(Some(1 + ((n as i64 + 7) % runs))),
        created_at: Set(first_seen),
        updated_at: Set(last_seen),
        // The cluster columns (migration 000012) stay NULL: each posting its own cluster.
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Server

async fn start_server(args: &Args, url: &str) -> anyhow::Result<(String, Child)> {
    if !args.server.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p jobintel-api`",
            args.server.display()
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(&args.server);
    cmd.arg("serve")
        .env("DATABASE_URL", url)
        .env("JOBINTEL_BIND", &bind)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(n) = args.pool_size {
        cmd.env("JOBINTEL_DB_POOL_SIZE", n.to_string());
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("while starting {}", args.server.display()))?;
    let base = format!("http://{bind}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            break;
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
    Ok((base, child))
}

/// User + system CPU time of `pid` so far, in microseconds.
fn cpu_us(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 1e6 / 100.0)
}

// ---------------------------------------------------------------------------------------------
// Load

fn body(scenario: Scenario, mode: Mode, rng: &mut StdRng, max_id: i64) -> String {
    if scenario == Scenario::Custom {
        return CUSTOM_BODY.get().cloned().unwrap_or_default();
    }
    let cached = mode == Mode::Cached;
    let mut pick = |n: usize| if cached { 0 } else { rng.random_range(0..n) };
    let mut v = match scenario {
        Scenario::NewestOfSource => json!({
            "query": LIST_QUERY,
            "variables": { "s": [SOURCES[pick(SOURCES.len())]] },
        }),
        Scenario::ById => json!({
            "query": BY_ID_QUERY,
            "variables": { "id": (pick(max_id as usize) as i64 + 1).to_string() },
        }),
        Scenario::Search => json!({
            "query": SEARCH_QUERY,
            "variables": { "q": SEARCH_WORDS[pick(SEARCH_WORDS.len())] },
        }),
        Scenario::Stats => {
            // Cached: over everything; uncached: over one random source.
            let filter = if cached {
                json!({})
            } else {
                json!({ "sources": [SOURCES[pick(SOURCES.len())]] })
            };
            json!({ "query": STATS_QUERY, "variables": { "f": filter } })
        }
        Scenario::TimeSeries => json!({
            "query": TIME_SERIES_QUERIES[pick(TIME_SERIES_QUERIES.len())],
            "variables": {},
        }),
        Scenario::Custom => Value::Null,
    };
    if !cached {
        // Unused by the query (GraphQL ignores it), but part of the cache key: a miss.
        v["variables"]["_nocache"] = json!(rng.random::<u64>());
    }
    v.to_string()
}

fn is_error(status: reqwest::StatusCode, body: &[u8]) -> bool {
    !status.is_success() || body.windows(9).any(|w| w == b"\"errors\":")
}

/// Drive `scenario` with `connections` workers for `seconds`; latencies in microseconds.
async fn drive(
    base: &str,
    scenario: Scenario,
    mode: Mode,
    connections: usize,
    seconds: Duration,
    max_id: i64,
) -> anyhow::Result<(Vec<u32>, u64, Duration)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .build()?;
    let url: Arc<str> = format!("{base}/graphql").into();
    let started = Instant::now();
    let deadline = started + seconds;
    let mut tasks = Vec::new();
    for w in 0..connections {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(w as u64 * 7919 + scenario as u64);
            let mut latencies = Vec::with_capacity(16_384);
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let b = body(scenario, mode, &mut rng, max_id);
                let t0 = Instant::now();
                let resp = client
                    .post(&*url)
                    .header("content-type", "application/json")
                    .body(b)
                    .send()
                    .await;
                let failed = match resp {
                    Ok(r) => {
                        let status = r.status();
                        match r.bytes().await {
                            Ok(bytes) => is_error(status, &bytes),
                            Err(_) => true,
                        }
                    }
                    Err(_) => true,
                };
                latencies.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                errors += u64::from(failed);
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    Ok((all, errors, started.elapsed()))
}

/// Milliseconds at quantile `p` of latencies in µs (0 without samples).
fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    testkit::percentile(sorted_us, p).map_or(0.0, |us| f64::from(us) / 1000.0)
}

async fn measure_all(
    args: &Args,
    scenarios: &[(Scenario, Mode)],
    base: &str,
    pid: Option<u32>,
    max_id: i64,
) -> anyhow::Result<Vec<Vec<Figures>>> {
    // Each request once, to fail fast on a broken query.
    let client = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(1);
    for (s, mode) in scenarios {
        let resp = client
            .post(format!("{base}/graphql"))
            .header("content-type", "application/json")
            .body(body(*s, *mode, &mut rng, max_id))
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if is_error(status, text.as_bytes()) {
            bail!("{} failed: {status} {text}", s.label());
        }
    }

    let mut rounds = Vec::new();
    for round in 1..=args.runs {
        let mut figures = Vec::new();
        for (s, mode) in scenarios {
            let conns = if matches!(*s, Scenario::Stats | Scenario::TimeSeries) {
                args.stats_connections
            } else {
                args.connections
            };
            drive(base, *s, *mode, conns, Duration::from_secs(2), max_id).await?; // warm-up
            let cpu_before = pid.and_then(cpu_us);
            let (mut lat, errors, elapsed) = drive(
                base,
                *s,
                *mode,
                conns,
                Duration::from_secs(args.seconds),
                max_id,
            )
            .await?;
            let cpu = match (cpu_before, pid.and_then(cpu_us)) {
                (Some(a), Some(b)) if !lat.is_empty() => (b - a) / lat.len() as f64,
                _ => f64::NAN,
            };
            lat.sort_unstable();
            let f = Figures {
                requests: lat.len() as u64,
                errors,
                rps: lat.len() as f64 / elapsed.as_secs_f64(),
                p50_ms: percentile_ms(&lat, 0.50),
                p99_ms: percentile_ms(&lat, 0.99),
                peak_rss_mb: pid.and_then(rss_mb).map(|(hwm, _)| hwm).unwrap_or(f64::NAN),
                cpu_us_per_req: cpu,
            };
            println!(
                "round {round} {:<30} {:<8} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {:>4}  peak RSS {:>5.1} MB  server CPU {:>6.0} µs/req  ({} requests, {conns} conns)",
                s.label(),
                mode.label(),
                f.rps,
                f.p50_ms,
                f.p99_ms,
                f.errors,
                f.peak_rss_mb,
                f.cpu_us_per_req,
                f.requests
            );
            figures.push(f);
        }
        rounds.push(figures);
    }
    Ok(rounds)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// What PostgreSQL alone does with each scenario's SQL (`bench/pgbench/`: the statements
/// jobintel sends for the cached request of (a)–(c), captured with `log_statement = all`): pgbench
/// with prepared statements at the same concurrency for as long, after the server has stopped.
/// PostgreSQL only; nothing when pgbench is missing (`scripts/pgbench-limit.sh` does the same
/// with repeated runs and the peer comparison's extra scenarios).
fn pgbench_limits(args: &Args, url: &str, scenarios: &[(Scenario, Mode)]) -> Vec<(Scenario, f64)> {
    if args.no_pgbench || !url.starts_with("postgres") {
        return Vec::new();
    }
    let sql = |s: Scenario| match s {
        Scenario::NewestOfSource => Some("a_newest_by_source"),
        Scenario::ById => Some("b_by_id"),
        Scenario::Search => Some("c_search_engineer"),
        _ => None,
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut limits: Vec<(Scenario, f64)> = Vec::new();
    let mut tried: Vec<Scenario> = Vec::new();
    for &(s, _) in scenarios {
        let Some(name) = sql(s) else { continue };
        // Once per scenario (it is listed once per cache mode), even when it failed.
        if tried.contains(&s) {
            continue;
        }
        tried.push(s);
        let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("pgbench/{name}.sql"));
        let run = Command::new("pgbench")
            // Like the server on a loopback URL without `sslmode`: no TLS to this machine.
            .env(
                "PGSSLMODE",
                std::env::var("PGSSLMODE").unwrap_or_else(|_| "disable".into()),
            )
            .args(["-n", "-M", "prepared", "-c"])
            .arg(args.connections.to_string())
            .arg("-j")
            .arg(args.connections.min(cpus).to_string())
            .arg("-T")
            .arg(args.seconds.to_string())
            .arg("-f")
            .arg(&file)
            .arg(url)
            .output();
        let out = match run {
            Ok(out) if out.status.success() => out,
            Ok(out) => {
                eprintln!(
                    "pgbench {name}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                continue;
            }
            Err(e) => {
                eprintln!("pgbench not run ({e}): no limit column");
                return limits;
            }
        };
        let tps = String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            l.trim()
                .strip_prefix("tps = ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        });
        if let Some(tps) = tps {
            limits.push((s, tps));
        }
    }
    limits
}

fn report(
    args: &Args,
    url: &str,
    scenarios: &[(Scenario, Mode)],
    rounds: &[Vec<Figures>],
    limits: &[(Scenario, f64)],
) {
    println!();
    println!(
        "median of {} runs, {} postings, {} ({}s per scenario)",
        rounds.len(),
        args.rows,
        bench::redact(url),
        args.seconds
    );
    println!(
        "| scenario | cache | conns | req/s | p50 ms | p99 ms | errors | peak RSS MB | server CPU µs/req | pgbench limit tps | of the limit |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (i, (s, mode)) in scenarios.iter().enumerate() {
        let col = |f: fn(&Figures) -> f64| median(rounds.iter().map(|r| f(&r[i])).collect());
        let conns = if matches!(*s, Scenario::Stats | Scenario::TimeSeries) {
            args.stats_connections
        } else {
            args.connections
        };
        let rps = col(|f| f.rps);
        let (limit, share) = match limits.iter().find(|(l, _)| l == s) {
            // The uncached row is the one that runs the statement.
            Some((_, tps)) if *mode == Mode::Uncached => {
                (format!("{tps:.0}"), format!("{:.0} %", rps / tps * 100.0))
            }
            Some((_, tps)) => (format!("{tps:.0}"), "—".to_owned()),
            None => ("—".to_owned(), "—".to_owned()),
        };
        println!(
            "| {} | {} | {conns} | {:.0} | {:.2} | {:.2} | {:.0} | {:.1} | {:.0} | {limit} | {share} |",
            s.label(),
            mode.label(),
            rps,
            col(|f| f.p50_ms),
            col(|f| f.p99_ms),
            col(|f| f.errors as f64),
            col(|f| f.peak_rss_mb),
            col(|f| f.cpu_us_per_req),
        );
    }
}

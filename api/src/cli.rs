//! What each subcommand does. Errors carry the exit code the process should end with:
//! 2 for bad configuration (so scripts can tell "fix your settings" from "try again"), 1 for
//! everything else.

use std::process::ExitCode;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::{
    Cli, Command, Config, ExportArgs, HangfireArgs, ImportCommand, ImportJobspyArgs,
    ImportLegacyArgs, IngestArgs,
};
use crate::db;
use crate::error::ApiError;
use crate::graphql;
use crate::server;
use crate::state::{AppState, ServerSettings};

/// A failure with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad configuration: exit code 2.
    #[error("{0}")]
    Config(String),
    /// Anything else: exit code 1.
    #[error(transparent)]
    Runtime(#[from] anyhow::Error),
}

/// The service layer's errors at this edge: bad input is a configuration error (exit 2, with
/// the message that says what to pass), anything else a runtime error (exit 1).
impl From<ApiError> for CliError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::BadUserInput(m) => CliError::Config(format!("error: {m}")),
            ApiError::DatabaseUnavailable(e) => {
                CliError::Runtime(anyhow::Error::new(e).context("the database did not answer"))
            }
            ApiError::Internal(e) => CliError::Runtime(e),
            other => CliError::Runtime(anyhow::anyhow!(other.message())),
        }
    }
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Config(_) => ExitCode::from(2),
            CliError::Runtime(_) => ExitCode::from(1),
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config).await,
        Command::Migrate => migrate(cli.config).await,
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Healthcheck => healthcheck(cli.config.bind).await,
        Command::Ingest(args) => ingest_once(cli.config, args).await,
        Command::Import(args) => match args.command {
            ImportCommand::Legacy(a) => import(cli.config, PostingsImport::Legacy(a)).await,
            ImportCommand::Jobspy(a) => import(cli.config, PostingsImport::Jobspy(a)).await,
            ImportCommand::Hangfire(args) => import_hangfire(cli.config, args).await,
        },
        Command::Export(args) => export(cli.config, args).await,
    }
}

/// The import service's errors at this edge: a refused input is a configuration error
/// (exit 2, nothing was written), anything else a runtime error (exit 1).
impl From<crate::import::ImportError> for CliError {
    fn from(e: crate::import::ImportError) -> Self {
        match e {
            crate::import::ImportError::Refused(m) => CliError::Config(format!("error: {m}")),
            other => CliError::Runtime(anyhow::Error::new(other)),
        }
    }
}

/// The Hangfire importer's errors at this edge: bad options exit 2, the rest 1.
impl From<crate::import::hangfire::HangfireError> for CliError {
    fn from(e: crate::import::hangfire::HangfireError) -> Self {
        use crate::import::hangfire::HangfireError;
        match e {
            HangfireError::BadInput(m) => CliError::Config(format!("error: {m}")),
            HangfireError::Target(e) => e.into(),
            source @ HangfireError::Source { .. } => CliError::Runtime(source.into()),
        }
    }
}

/// The imports that bring postings (`jobintel import legacy|jobspy`).
enum PostingsImport {
    Legacy(ImportLegacyArgs),
    Jobspy(ImportJobspyArgs),
}

/// `jobintel import …`: a dry run prints the mapping and samples without touching (or
/// creating) jobintel's database; a real run migrates it, imports, and prints a summary.
async fn import(config: Config, what: PostingsImport) -> Result<(), CliError> {
    use crate::import::{Progress, jobspy, legacy};

    let dry_run = match &what {
        PostingsImport::Legacy(a) => a.dry_run,
        PostingsImport::Jobspy(a) => a.dry_run,
    };
    let conn = if dry_run {
        None
    } else {
        let conn = open_database(&config, "cannot import").await?;
        Some(conn)
    };
    let result = match what {
        PostingsImport::Legacy(a) => {
            let opts = legacy::LegacyOptions {
                from: a.from,
                table: a.table,
                map: a.map,
                dry_run: a.dry_run,
                report: a.report,
            };
            legacy::import(conn.as_ref(), &opts, Progress::terminal()).await
        }
        PostingsImport::Jobspy(a) => {
            let opts = jobspy::JobspyOptions {
                file: a.file,
                dry_run: a.dry_run,
                report: a.report,
            };
            jobspy::import(conn.as_ref(), &opts, Progress::terminal()).await
        }
    };
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            if let Some(conn) = conn {
                conn.close().await.ok();
            }
            return Err(e.into());
        }
    };
    if summary.dry_run {
        print!("{}", summary.mapping);
        println!("sample rows as they would be stored:");
        for s in &summary.samples {
            println!("  {}", serde_json::to_string(s).unwrap_or_default());
        }
        if !summary.bad_rows.is_empty() {
            println!(
                "rows that would be skipped (first {}):",
                summary.bad_rows.len()
            );
            for b in &summary.bad_rows {
                println!("  {}: {}", b.key, b.reason);
            }
        }
    }
    println!("{}", summary.line());
    if let Some(conn) = conn {
        // PostgreSQL: index what was imported before exiting, as `jobintel ingest` does, so a
        // server started later does not spend its first minutes on it (searches are exact
        // either way). Timed apart from the import.
        if summary.new + summary.updated > 0 {
            let started = std::time::Instant::now();
            let n = ingest::search_index::refresh_all(&conn)
                .await
                .context("while indexing the imported postings for full-text search")?;
            if n > 0 {
                println!(
                    "full-text search: indexed {n} postings in {:.1}s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        conn.close().await.ok();
    }
    Ok(())
}

/// `jobintel import hangfire`: read the recurring jobs, print the table of schedules (with
/// their next fires in a dry run) and the jobs left out with the reason; write through the
/// schedules service unless `--dry-run`. A dry run does not migrate the target database: it
/// only reads which schedules already exist.
async fn import_hangfire(config: Config, args: HangfireArgs) -> Result<(), CliError> {
    use crate::import::hangfire::{self, JobMap, Options};
    use crate::scheduling::clock::Clock;
    use crate::service::wake::Wakeups;

    if args.from.kind() != crate::config::DbKind::Postgres {
        return Err(CliError::Config(
            "error: --from must be the PostgreSQL database Hangfire.PostgreSql uses \
             (postgres://user:password@host/db)"
                .into(),
        ));
    }
    let map = args.map.as_deref().map(JobMap::load).transpose()?;
    let conn = db::connect_with_retry(
        &config.database_url,
        config.db_pool_size,
        config.db_connect_timeout,
    )
    .await
    .context("cannot import")?;
    if !args.dry_run {
        db::migrate(&conn, &config.database_url)
            .await
            .context("cannot import")?;
    }
    let engine = config.ingest.engine_config();
    let now = Clock::Database
        .now(&conn)
        .await
        .map_err(crate::error::ApiError::from)?;
    let options = Options {
        from: args.from.expose().to_owned(),
        schema: args.schema,
        map,
        dry_run: args.dry_run,
        paused: args.paused,
    };
    let report = hangfire::import(&conn, &options, &engine, now, &Wakeups::default()).await;
    conn.close().await.ok();
    print!("{}", hangfire::render(&report?));
    Ok(())
}

/// `jobintel export`: the same stream `GET /export/postings.*` sends, to a file or stdout.
async fn export(config: Config, args: ExportArgs) -> Result<(), CliError> {
    use std::io::Write as _;

    use futures_util::StreamExt as _;

    use crate::graphql::filter::JobPostingFilter;
    use crate::service::export;

    // Refuse a bad filter before touching the database.
    let filter = match &args.filter {
        Some(text) => JobPostingFilter::from_json(text)?,
        None => Default::default(),
    };
    let conn = open_database(&config, "cannot export").await?;
    // Plain blocking writes: this one-shot command has nothing else to run meanwhile.
    let sink: Box<dyn std::io::Write> = match &args.out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, sink);
    let started = std::time::Instant::now();
    let mut chunks = std::pin::pin!(export::stream(conn.clone(), filter, args.format));
    let mut bytes = 0usize;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        bytes += chunk.len();
        out.write_all(chunk.as_bytes())
            .context("while writing the export")?;
    }
    out.flush().context("while writing the export")?;
    conn.close().await.ok();
    tracing::info!(
        bytes,
        seconds = started.elapsed().as_secs_f64(),
        "export written"
    );
    Ok(())
}

/// A minimal HTTP/1.0 GET of `/health`: no TLS, no client library, a 5 s budget.
async fn healthcheck(bind: std::net::SocketAddr) -> Result<(), CliError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut addr = bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut buf = Vec::with_capacity(1024);
        stream.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(std::time::Duration::from_secs(5), check)
        .await
        .map_err(|_| anyhow::anyhow!("no answer from http://{addr}/health within 5 s"))?
        .with_context(|| format!("cannot reach http://{addr}/health"))?;
    let head = String::from_utf8_lossy(&buf[..buf.len().min(64)]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap_or("?");
    if status == "200" {
        println!("healthy");
        Ok(())
    } else {
        Err(anyhow::anyhow!("http://{addr}/health answered {status}").into())
    }
}

async fn serve(config: Config) -> Result<(), CliError> {
    // Mutations start scrapes and edit schedules: never open them to the network unguarded.
    if !config.bind.ip().is_loopback() && config.api_token().is_none() {
        return Err(CliError::Config(format!(
            "refusing to listen on {} without an API token: mutations would be open to anyone \
             who can reach it. Set JOBINTEL_API_TOKEN (e.g. JOBINTEL_API_TOKEN=$(openssl rand \
             -hex 32)) or listen on 127.0.0.1 (JOBINTEL_BIND)",
            config.bind
        )));
    }
    // Bind first: a port in use is a configuration error worth reporting before any wait.
    let listener = TcpListener::bind(config.bind).await.map_err(|e| {
        CliError::Config(format!(
            "cannot listen on {} (JOBINTEL_BIND / --bind): {e}",
            config.bind
        ))
    })?;
    tracing::info!(database = %config.database_url, "connecting to the database");
    let conn = open_database(&config, "cannot start").await?;
    let state = AppState::new(conn.clone(), ServerSettings::from_config(&config))
        .context("cannot build the HTTP client")?;
    // The scheduler stops firing and claiming as soon as the shutdown signal cancels
    // `state.shutdown`; `stop` then gives in-flight runs the grace period.
    let instance_id = state.api.instance_id.clone();
    let scheduler = config.scheduler.enabled.then(|| {
        crate::scheduler::Scheduler::start_with(
            state.api.runs.clone(),
            config.scheduler.clone(),
            instance_id.clone(),
            &state.shutdown,
        )
    });
    // This process's row in `instances` (the console's Instances page), under the same name
    // its workers use as lease owner, so a run's `leaseOwner` points at a row.
    let load = scheduler.as_ref().map(|s| s.load());
    let presence = crate::presence::Presence::start(
        crate::presence::Beat {
            db: conn.clone(),
            clock: state.api.runs.clock().clone(),
            info: crate::service::instances::InstanceInfo::this_process(
                instance_id,
                load.as_ref().map_or(0, |l| l.total()),
            ),
            load,
        },
        crate::service::instances::HEARTBEAT_EVERY,
    )
    .await;
    let served = server::run(listener, state, server::shutdown_signal()).await;
    if let Some(scheduler) = scheduler {
        scheduler.stop(config.shutdown_grace).await;
    }
    presence.stop().await;
    served.context("while serving HTTP")?;
    conn.close()
        .await
        .context("while closing the database pool")?;
    tracing::info!("stopped");
    Ok(())
}

/// Connect to the configured database (retrying for `JOBINTEL_DB_CONNECT_TIMEOUT`) and apply
/// pending migrations: how every command that writes starts.
async fn open_database(
    config: &Config,
    what: &'static str,
) -> Result<sea_orm::DatabaseConnection, CliError> {
    let conn = db::connect_with_retry(
        &config.database_url,
        config.db_pool_size,
        config.db_connect_timeout,
    )
    .await
    .context(what)?;
    db::migrate(&conn, &config.database_url)
        .await
        .context(what)?;
    Ok(conn)
}

async fn migrate(config: Config) -> Result<(), CliError> {
    open_database(&config, "cannot migrate").await?;
    tracing::info!(database = %config.database_url, "migrations applied");
    Ok(())
}

/// `jobintel ingest`: one run against the configured database, a progress line on a terminal
/// (plain log lines otherwise), a summary on stdout, exit 1 unless the run succeeded. Starting,
/// executing and cancelling (Ctrl-C) go through the same service as `startIngest` and
/// `cancelIngestRun`; only the run is claimed here instead of by a worker pool.
async fn ingest_once(config: Config, args: IngestArgs) -> Result<(), CliError> {
    use std::io::IsTerminal;

    use entity::{RunStatus, RunTrigger};
    use ingest::engine::Engine;
    use ingest::events::{EventBus, IngestEvent};

    use crate::scheduling::clock::Clock;
    use crate::service::runs::{self, Runs, StartRun};
    use crate::service::wake::Wakeups;

    let engine_config = config.ingest.engine_config();
    let start = StartRun {
        source: args.source,
        params: ingest::SearchParams {
            keywords: args.keywords,
            location: args.location,
            target: args.target,
            max_pages: args.max_pages,
            country: args.country,
        },
        trigger: RunTrigger::Cli,
    };
    // Refuse bad parameters before touching (or creating) the database.
    runs::validate(start.source, &start.params, &engine_config)?;
    let conn = open_database(&config, "cannot ingest").await?;
    let fetcher = ingest::fetch::Fetcher::new(config.ingest.fetch_config())
        .context("cannot build the HTTP client")?;
    let bus = EventBus::default();
    let engine = Engine::new(conn.clone(), fetcher, bus.clone(), engine_config)
        .with_page_hook(std::sync::Arc::new(crate::service::webhooks::OutboxHook));
    // Servers sharing a PostgreSQL database drop cached answers as this run's pages land.
    let origin = format!("cli-ingest:{}", crate::config::instance_name());
    let announcing = tokio_util::sync::CancellationToken::new();
    crate::bus::announce_writes(
        conn.clone(),
        engine.generation.clone(),
        origin.clone(),
        announcing.clone(),
    );
    let runs = Runs::new(conn.clone(), engine, Wakeups::default(), Clock::Database);

    let run = runs
        .start_here(start, &crate::config::instance_name())
        .await?;

    let stop = tokio_util::sync::CancellationToken::new();
    let canceller = runs.clone();
    let run_id = run.id;
    tokio::spawn(async move {
        crate::server::shutdown_signal().await;
        eprintln!("\ncancelling: finishing the page in flight");
        if canceller.cancel(run_id).await.is_err() {
            // The database did not take the cancel: stop the run here all the same.
            canceller.registry().cancel(run_id);
        }
    });

    let tty = std::io::stderr().is_terminal();
    let mut events = bus.subscribe();
    let source = args.source;
    let progress = tokio::spawn(async move {
        while let Ok(ev) = events.recv().await {
            match ev {
                IngestEvent::PageStored { page, counters, .. } if tty => {
                    eprint!(
                        "\r\x1b[2K[{source}] page {page} · found {} · new {} · updated {} · unchanged {}",
                        counters.jobs_found,
                        counters.jobs_new,
                        counters.jobs_updated,
                        counters.jobs_unchanged
                    );
                }
                IngestEvent::RunFinished { .. } => {
                    if tty {
                        eprintln!();
                    }
                    break;
                }
                _ => {}
            }
        }
    });

    // PostgreSQL indexes the stored postings' full text in the background (searches are exact
    // meanwhile); what is left when the run ends is indexed before exiting.
    let indexing_done = tokio_util::sync::CancellationToken::new();
    let indexer = tokio::spawn(ingest::search_index::run(
        conn.clone(),
        bus.clone(),
        ingest::search_index::POLL,
        indexing_done.clone(),
    ));

    let started = std::time::Instant::now();
    let report = runs
        .execute(&run, &stop)
        .await
        .context("cannot record the run's result")?;
    let _ = progress.await;
    indexing_done.cancel();
    let _ = indexer.await;
    // The last page's announcement may still be queued when the process exits.
    announcing.cancel();
    crate::bus::announce(&conn, &origin).await;
    let c = report.counters;
    println!(
        "run {} {}: {} in {:.1}s — pages {}, requests {}, http errors {}, found {}, new {}, updated {}, unchanged {}",
        report.run.id,
        report.run.source,
        report.status,
        started.elapsed().as_secs_f64(),
        c.pages_fetched,
        c.requests,
        c.http_errors,
        c.jobs_found,
        c.jobs_new,
        c.jobs_updated,
        c.jobs_unchanged
    );
    conn.close().await.ok();
    match report.status {
        RunStatus::Succeeded => Ok(()),
        status => Err(anyhow::anyhow!(
            "run {} {status}: {}",
            report.run.id,
            report.error.unwrap_or_default()
        )
        .into()),
    }
}

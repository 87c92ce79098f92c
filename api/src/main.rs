//! The `jobintel` binary: parse configuration, set up logging, hand over to [`jobintel::cli`].

use std::process::ExitCode;

use clap::error::ErrorKind;
use jobintel::config::{Cli, dotenv_path};

/// mimalloc instead of glibc's malloc: a GraphQL response is built from thousands of small
/// allocations (values, names, futures), and glibc's malloc/free and arena locks took about a
/// quarter of the server's CPU on the read benchmark (`perf record` on scenario a).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// SQLite is C and allocates with glibc's malloc, from the pool's worker threads; glibc gives
/// each thread its own arena, which keeps what it freed. After `jobStats`-sized queries that
/// was ~6 MB per pooled connection (read benchmark scenario d: peak RSS 54 MB, 39 MB with one
/// arena). Rust code allocates with mimalloc and is not affected.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn use_one_malloc_arena() {
    // SAFETY: `mallopt` only tunes glibc's allocator; it is called first thing in `main`,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn use_one_malloc_arena() {}

fn main() -> ExitCode {
    use_one_malloc_arena();
    if let Err(e) = dotenvy::from_path(dotenv_path())
        && !e.not_found()
    {
        eprintln!("error: cannot read .env: {e}");
        return ExitCode::from(2);
    }
    let cli = match Cli::from_env() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line that names the option; clap's usage footer adds nothing for a script.
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("invalid configuration");
            eprintln!("{first}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = jobintel::telemetry::init(cli.config.log_format, &cli.config.log_filter) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    jobintel::install_crypto_provider();

    // The server uses every core. The one-shot commands do one thing at a time (an ingest
    // waits on its polite rate limits, not on CPU): one thread, and one allocator heap fewer
    // (`jobintel ingest` peak RSS, ingest benchmark `-- rss`: see the README).
    let mut builder = match cli.command {
        None | Some(jobintel::config::Command::Serve) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = cli.config.worker_threads {
                b.worker_threads(n.into());
            }
            b
        }
        Some(_) => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(jobintel::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            e.exit_code()
        }
    }
}

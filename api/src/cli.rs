//! What each subcommand does. Errors carry the exit code the process should end with:
//! 2 for bad configuration (so scripts can tell "fix your settings" from "try again"), 1 for
//! everything else.

use std::process::ExitCode;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::{Cli, Command, Config};
use crate::db;
use crate::graphql;
use crate::server::{self, AppState};

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
    }
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
    // Bind first: a port in use is a configuration error worth reporting before any wait.
    let listener = TcpListener::bind(config.bind).await.map_err(|e| {
        CliError::Config(format!(
            "cannot listen on {} (JOBINTEL_BIND / --bind): {e}",
            config.bind
        ))
    })?;
    tracing::info!(database = %config.database_url, "connecting to the database");
    let conn = db::connect_with_retry(
        &config.database_url,
        config.db_pool_size,
        config.db_connect_timeout,
    )
    .await
    .context("cannot start")?;
    db::migrate(&conn, &config.database_url)
        .await
        .context("cannot start")?;
    let state = AppState::new(conn.clone(), config.db_pool_size, config.max_body_bytes);
    server::run(listener, state, server::shutdown_signal())
        .await
        .context("while serving HTTP")?;
    conn.close()
        .await
        .context("while closing the database pool")?;
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(config: Config) -> Result<(), CliError> {
    let conn = db::connect_with_retry(
        &config.database_url,
        config.db_pool_size,
        config.db_connect_timeout,
    )
    .await
    .context("cannot migrate")?;
    db::migrate(&conn, &config.database_url)
        .await
        .context("cannot migrate")?;
    tracing::info!(database = %config.database_url, "migrations applied");
    Ok(())
}

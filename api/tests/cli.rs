//! The real `jobintel` binary: CLI contract, configuration errors, start-up and shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

mod process;
use process::KillOnDrop;

const BIN: &str = env!("CARGO_BIN_EXE_jobintel");

/// A command with a clean environment, so the developer's own settings can't leak in.
fn jobintel() -> Command {
    let mut c = Command::new(BIN);
    for var in [
        "DATABASE_URL",
        "JOBINTEL_BIND",
        "JOBINTEL_API_TOKEN",
        "JOBINTEL_LOG_FORMAT",
        "RUST_LOG",
    ] {
        c.env_remove(var);
    }
    // Run where no `.env` exists.
    c.current_dir(std::env::temp_dir());
    c
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_prints_the_crate_version() {
    let (code, stdout, _) = output(jobintel().arg("--version"));
    assert_eq!(code, 0);
    assert_eq!(
        stdout.trim(),
        format!("jobintel {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn committed_schema_graphql_matches_the_generated_sdl() {
    let (code, sdl, stderr) = output(jobintel().arg("schema"));
    assert_eq!(code, 0, "{stderr}");
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql"))
            .unwrap_or_default();
    assert!(
        committed == sdl,
        "schema.graphql is out of date: run `cargo run -q -- schema > schema.graphql`"
    );
}

#[test]
fn bad_configuration_gives_one_line_naming_the_option_and_exit_code_2() {
    let cases: [(&str, &str, &str); 5] = [
        ("DATABASE_URL", "mysql://localhost/jobs", "DATABASE_URL"),
        ("DATABASE_URL", "::::", "DATABASE_URL"),
        ("JOBINTEL_LOG_FORMAT", "xml", "JOBINTEL_LOG_FORMAT"),
        ("JOBINTEL_BIND", "not-an-address", "JOBINTEL_BIND"),
        ("JOBINTEL_WORKER_THREADS", "0", "JOBINTEL_WORKER_THREADS"),
    ];
    for (var, value, named) in cases {
        let (code, _, stderr) = output(jobintel().env(var, value).arg("serve"));
        assert_eq!(code, 2, "{var}={value}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{var}={value}: {stderr}");
        assert!(stderr.contains(named), "{var}={value}: {stderr}");
    }
}

#[test]
fn a_port_in_use_is_a_configuration_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempdir("port");
    let (code, _, stderr) = output(
        jobintel()
            .env("JOBINTEL_BIND", addr.to_string())
            .env("DATABASE_URL", sqlite_url(&dir)),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("JOBINTEL_BIND") && stderr.contains(&addr.to_string()),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_database_is_retried_then_reported() {
    let started = Instant::now();
    let (code, _, stderr) = output(
        jobintel()
            .env(
                "DATABASE_URL",
                "postgres://jobintel:s3cret@127.0.0.1:1/jobs",
            )
            .env("JOBINTEL_DB_CONNECT_TIMEOUT", "2s")
            .env("JOBINTEL_BIND", "127.0.0.1:0"),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "gave up too early"
    );
    assert!(stderr.contains("retrying"), "{stderr}");
    assert!(stderr.contains("unreachable after"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "password leaked: {stderr}");
    assert!(stderr.contains("***:***@127.0.0.1:1"), "{stderr}");
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, _, stderr) = output(
        jobintel()
            .arg("healthcheck")
            .env("JOBINTEL_BIND", free.to_string()),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
}

#[test]
fn migrate_applies_the_schema_and_is_idempotent() {
    let dir = tempdir("migrate");
    for _ in 0..2 {
        let (code, _, stderr) = output(
            jobintel()
                .arg("migrate")
                .env("DATABASE_URL", sqlite_url(&dir)),
        );
        assert_eq!(code, 0, "{stderr}");
        assert!(stderr.contains("migrations applied"), "{stderr}");
    }
}

/// Start `serve`, wait for the listening line, return the child and its address. The child
/// is killed when dropped, so a failing assertion does not leave a server running.
fn spawn_serve(database_url: &str) -> (KillOnDrop, String) {
    let (child, addr, _, _) = spawn_serve_with(&[("DATABASE_URL", database_url)]);
    (child, addr)
}

/// `serve` with `env` set; also its stderr lines up to "listening" and the receiver of the
/// ones that follow.
fn spawn_serve_with(env: &[(&str, &str)]) -> (KillOnDrop, String, Vec<String>, Receiver<String>) {
    let mut cmd = jobintel();
    for (k, v) in env {
        cmd.env(k, v);
    }
    for var in [
        "DB_HOST",
        "DB_PORT",
        "DB_NAME",
        "DB_USER",
        "DB_PASSWORD",
        "DB_SSLMODE",
    ] {
        if !env.iter().any(|(k, _)| *k == var) {
            cmd.env_remove(var);
        }
    }
    let mut child = KillOnDrop(
        cmd.arg("serve")
            .env("JOBINTEL_BIND", "127.0.0.1:0")
            .env("JOBINTEL_LOG_FORMAT", "json")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            seen.push(line);
            if v["message"] == "listening" {
                return (child, v["addr"].as_str().unwrap().to_owned(), seen, rx);
            }
        }
    }
    drop(child);
    panic!("server did not start within 30 s");
}

#[tokio::test]
async fn serve_answers_health_and_exits_cleanly_on_sigterm() {
    jobintel::install_crypto_provider();
    for db in testkit::databases("serve").await {
        let (mut child, addr) = spawn_serve(&db.url);
        let resp = reqwest::get(format!("http://{addr}/health")).await.unwrap();
        assert_eq!(resp.status(), 200, "{:?}", db.backend);
        // The container HEALTHCHECK command agrees.
        let (code, stdout, stderr) =
            output(jobintel().arg("healthcheck").env("JOBINTEL_BIND", &addr));
        assert_eq!((code, stdout.trim()), (0, "healthy"), "{stderr}");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let exit = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(exit.code(), Some(0), "{:?}", db.backend);
    }
}

/// `JOBINTEL_WORKER_THREADS` sets the threads that run requests; `/metrics` says how many.
#[tokio::test]
async fn serve_runs_on_the_worker_threads_it_is_given() {
    jobintel::install_crypto_provider();
    let dir = tempdir("workers");
    let url = sqlite_url(&dir);
    // `jobintel_runtime_workers` of the server at `addr`.
    let workers = |addr: String| async move {
        let metrics = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("jobintel_runtime_workers "))
            .map(str::to_owned)
    };
    let (one, addr, _, _) = spawn_serve_with(&[
        ("DATABASE_URL", url.as_str()),
        ("JOBINTEL_WORKER_THREADS", "1"),
    ]);
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .json(&serde_json::json!({"query": "{ jobPostings(first: 1) { totalCount } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["jobPostings"]["totalCount"], 0, "{answer}");
    assert_eq!(workers(addr).await.as_deref(), Some("1"));
    drop(one);
    let (_default, addr, _, _) = spawn_serve_with(&[("DATABASE_URL", url.as_str())]);
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        workers(addr).await,
        Some(cpus.to_string()),
        "one per CPU by default"
    );
}

#[tokio::test]
async fn postgres_with_sslmode_require_connects_over_tls() {
    jobintel::install_crypto_provider();
    let Some(db) = testkit::postgres_only("tls").await else {
        return;
    };
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}sslmode=require", db.url);
    let (mut child, addr) = spawn_serve(&url);
    let body: serde_json::Value = reqwest::get(format!("http://{addr}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["database"], "connected");
    let _ = child.kill();
    let _ = child.wait();

    // Prove the session really is encrypted, not silently downgraded.
    assert!(encrypted(&url).await);
}

/// Whether jobintel's connection to `url` is encrypted (`pg_stat_ssl` of its session).
async fn encrypted(url: &str) -> bool {
    use sea_orm::ConnectionTrait;
    let url: jobintel::config::DatabaseUrl = url.parse().unwrap();
    let conn = jobintel::db::connect_with_retry(&url, 1, Duration::from_secs(10))
        .await
        .unwrap();
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<bool>("", "ssl").unwrap()
}

/// A loopback URL that names no `sslmode` reaches the server in the clear (TLS there protects
/// nothing and costs every statement), one that names a mode gets it: the server here offers
/// TLS, as the test above proves.
#[tokio::test]
async fn a_loopback_url_without_sslmode_skips_tls_and_an_explicit_mode_is_kept() {
    jobintel::install_crypto_provider();
    let Some(db) = testkit::postgres_only("loopback tls").await else {
        return;
    };
    assert!(
        db.url.contains("127.0.0.1") || db.url.contains("localhost"),
        "TEST_DATABASE_URL is not a loopback URL: {}",
        db.url
    );
    let sep = if db.url.contains('?') { '&' } else { '?' };
    assert!(!encrypted(&db.url).await);
    assert!(encrypted(&format!("{}{sep}sslmode=prefer", db.url)).await);
    assert!(encrypted(&format!("{}{sep}sslmode=require", db.url)).await);
}

/// The old system's `.env` (`DB_HOST`, `DB_PORT`, `DB_NAME`, `DB_USER`, `DB_PASSWORD`) without
/// `DATABASE_URL`: the server reaches PostgreSQL through them, both health probes say so, and
/// the password appears in no log line.
#[tokio::test]
async fn the_old_db_settings_reach_postgres_and_the_password_is_never_logged() {
    jobintel::install_crypto_provider();
    let Some(db) = testkit::postgres_only("db_vars").await else {
        return;
    };
    let url = url::Url::parse(&db.url).unwrap();
    let port = url.port().unwrap_or(5432).to_string();
    let name = url.path().trim_start_matches('/').to_owned();
    // Trust authentication ignores it; it must still never be printed.
    let password = "Sup3r-s3cret-pw";
    let (mut child, addr, mut logged, rest) = spawn_serve_with(&[
        ("DB_HOST", url.host_str().unwrap()),
        ("DB_PORT", &port),
        ("DB_NAME", &name),
        ("DB_USER", url.username()),
        ("DB_PASSWORD", password),
        ("DB_SSLMODE", "disable"),
        ("RUST_LOG", "debug"),
    ]);
    let health: serde_json::Value = reqwest::get(format!("http://{addr}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["database"], "connected");
    let legacy = reqwest::get(format!("http://{addr}/api/health"))
        .await
        .unwrap();
    assert_eq!(legacy.status(), 200);
    let legacy: serde_json::Value = legacy.json().await.unwrap();
    assert_eq!(
        (&legacy["status"], &legacy["jobCount"]),
        (&"healthy".into(), &0.into())
    );
    let _ = child.kill();
    let _ = child.wait();
    logged.extend(rest.try_iter());
    assert!(logged.len() > 1, "{logged:?}");
    for line in logged {
        assert!(!line.contains(password), "password in a log line: {line}");
    }
}

fn tempdir(label: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "jobintel-cli-{label}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("j.db").display())
}

/// A local stand-in for boards-api.greenhouse.io serving the recorded board.
async fn greenhouse_stub(body: &'static str, status: u16) -> String {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\n" }))
        .route(
            "/v1/boards/{token}/jobs",
            get(move || async move {
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body,
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

const GREENHOUSE_BOARD: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ingest/tests/fixtures/ats/greenhouse_boards_api_jobs_content_true.json"
));

fn ingest_cmd(base: &str, db_url: &str) -> Command {
    let mut c = jobintel();
    c.env("DATABASE_URL", db_url)
        .env("JOBINTEL_GREENHOUSE_BASE_URL", base)
        .env("JOBINTEL_ALLOW_PRIVATE_NETWORK", "true")
        .env("JOBINTEL_DB_CONNECT_TIMEOUT", "5s");
    c
}

#[tokio::test]
async fn ingest_runs_one_source_prints_a_summary_and_dedupes_on_rerun() {
    let base = greenhouse_stub(GREENHOUSE_BOARD, 200).await;
    for db in testkit::databases("cli_ingest").await {
        let mut cmd = ingest_cmd(&base, &db.url);
        cmd.args(["ingest", "greenhouse", "--target", "acme"]);
        let (code, stdout, stderr) = tokio::task::spawn_blocking(move || output(&mut cmd))
            .await
            .unwrap();
        assert_eq!(code, 0, "{:?}: {stdout} {stderr}", db.backend);
        assert!(stdout.contains("greenhouse: succeeded"), "{stdout}");
        assert!(
            stdout.contains("found 2, new 2, updated 0, unchanged 0"),
            "{stdout}"
        );
        // Not a terminal: progress comes as plain log lines.
        assert!(stderr.contains("page stored"), "{stderr}");
        // PostgreSQL: the postings' full text was indexed before the command exited.
        assert_eq!(
            ingest::search_index::queued(&db.conn).await.unwrap(),
            0,
            "{:?}",
            db.backend
        );
        if db.db_backend() == sea_orm::DbBackend::Postgres {
            let indexed = testkit::count(&db.conn, "SELECT COUNT(*) FROM job_posting_search").await;
            assert_eq!(indexed, 2);
        }

        let mut again = ingest_cmd(&base, &db.url);
        again.args(["ingest", "greenhouse", "--target", "acme"]);
        let (code, stdout, _) = tokio::task::spawn_blocking(move || output(&mut again))
            .await
            .unwrap();
        assert_eq!(code, 0);
        assert!(
            stdout.contains("found 2, new 0, updated 0, unchanged 2"),
            "{stdout}"
        );
    }
}

#[tokio::test]
async fn ingest_exits_non_zero_with_the_reason_when_the_run_fails() {
    let base = greenhouse_stub(&GREENHOUSE_BOARD[..GREENHOUSE_BOARD.len() / 2], 200).await;
    let db = testkit::sqlite("cli_ingest_fail").await;
    let mut cmd = ingest_cmd(&base, &db.url);
    cmd.args(["ingest", "greenhouse", "--target", "acme"]);
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || output(&mut cmd))
        .await
        .unwrap();
    assert_eq!(code, 1, "{stdout} {stderr}");
    assert!(stdout.contains("greenhouse: failed"), "{stdout}");
    assert!(stderr.contains("invalid JSON at line"), "{stderr}");
}

#[test]
fn ingest_rejects_unknown_sources_and_missing_parameters_with_exit_code_2() {
    let (code, _, stderr) = output(jobintel().args(["ingest", "monster"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown Source `monster`"), "{stderr}");
    assert!(stderr.contains("seek, indeed, greenhouse"), "{stderr}");

    let (code, _, stderr) = output(jobintel().args(["ingest", "lever"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("needs `target`"), "{stderr}");
}

/// PostgreSQL drops every connection of a running server (a restart, a failover): requests
/// that meet a dropped connection get a coded error, never a hang or a crash, and the pool
/// replaces those connections so that answers resume at once. (Connections in steady use
/// are not pinged before each statement: see `api/src/db.rs`.)
#[tokio::test]
async fn serve_keeps_answering_when_postgres_drops_its_connections() {
    jobintel::install_crypto_provider();
    let Some(db) = testkit::postgres_only("dropped").await else {
        return;
    };
    // Stopped even when an assertion below fails (a leaked server keeps its database open).
    let (_server, addr, _, _) = spawn_serve_with(&[
        ("DATABASE_URL", db.url.as_str()),
        // Every answer from the database, none from the response cache.
        ("JOBINTEL_RESPONSE_CACHE_BYTES", "0"),
        ("JOBINTEL_DB_POOL_SIZE", "4"),
    ]);
    let client = reqwest::Client::new();
    let ask = || async {
        client
            .post(format!("http://{addr}/graphql"))
            .json(&serde_json::json!({"query": "{ jobPostings(first: 1) { edges { node { id } } } }"}))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    // Warm the pool: several connections open.
    let warm: Vec<_> = (0..8).map(|_| ask()).collect();
    for v in futures_util::future::join_all(warm).await {
        assert!(v["errors"].is_null(), "{v}");
    }
    use sea_orm::ConnectionTrait;
    db.conn
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
        .unwrap();
    let mut failed = 0;
    let mut answers = Vec::new();
    for _ in 0..20 {
        let v = ask().await;
        if v["errors"].is_null() {
            answers.push(v);
        } else {
            assert_eq!(
                v["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
                "{v}"
            );
            failed += 1;
        }
    }
    assert!(
        failed <= 4,
        "at most one failure per pooled connection: {failed}"
    );
    assert_eq!(answers.len(), 20 - failed);
    // The last requests all answered: the pool has replaced its connections.
    let last = ask().await;
    assert!(last["errors"].is_null(), "{last}");
}

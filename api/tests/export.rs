//! Exporting postings: `jobintel export` (the real binary) and `GET /export/postings.csv` /
//! `.jsonl`, on SQLite and PostgreSQL — JobSpy's columns in JobSpy's order, CSV injection
//! guarded, the GraphQL filter, protected reads, bad filters, and many rows in batches.

mod support;

use std::process::Command;

use chrono::{DateTime, Utc};
use entity::{SalaryPeriod, SalarySource, Source, WorkArrangement, WorkType, job_posting};
use jobintel::config::Secret;
use jobintel::graphql::auth::AuthPolicy;
use jobintel::service::export::{JOBSPY_COLUMNS, OWN_COLUMNS};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, NotSet};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn posting(n: usize, source: Source, title: &str) -> job_posting::ActiveModel {
    job_posting::ActiveModel {
        id: NotSet,
        source: Set(source),
        external_id: Set(format!("ext-{n}")),
        url: Set(format!("https://example.com/jobs/{n}")),
        apply_url: Set(Some(format!("https://example.com/apply/{n}"))),
        title: Set(title.to_owned()),
        company: Set(Some("Acme, Inc.".into())),
        company_external_id: Set(None),
        location_raw: Set(Some("Sydney NSW".into())),
        city: Set(Some("Sydney".into())),
        region: Set(Some("NSW".into())),
        country: Set(Some("AU".into())),
        work_type: Set(Some(WorkType::FullTime)),
        work_arrangement: Set(WorkArrangement::Remote),
        salary_text: Set(Some("$150k - $180k".into())),
        salary_min: Set(Some(150_000.0)),
        salary_max: Set(Some(180_000.0)),
        salary_currency: Set(Some("AUD".into())),
        salary_period: Set(Some(SalaryPeriod::Year)),
        salary_annual_min: Set(Some(150_000.0)),
        salary_annual_max: Set(Some(180_000.0)),
        salary_source: Set(Some(SalarySource::Structured)),
        description_html: Set(Some("<p>Build \"things\"</p>".into())),
        description_text: Set(Some("Build \"things\",\nwith Rust".into())),
        classification: Set(None),
        posted_at: Set(Some(t("2026-11-20T03:00:00Z"))),
        expires_at: Set(None),
        first_seen_at: Set(t("2026-11-20T04:00:00Z")),
        last_seen_at: Set(t("2026-12-01T04:00:00Z")),
        closed_at: Set(None),
        content_hash: Set(format!("h{n}")),
        raw: Set(Some(serde_json::json!({"n": n}))),
        first_run_id: Set(None),
        last_run_id: Set(None),
        created_at: Set(t("2026-11-20T04:00:00Z")),
        updated_at: Set(t("2026-12-01T04:00:00Z")),
        ..Default::default()
    }
}

/// Three postings: a formula-looking title, an Indeed one, a plain one.
async fn seed_three(db: &DatabaseConnection) {
    let rows = vec![
        posting(1, Source::Greenhouse, "=HYPERLINK(\"http://evil.example\")"),
        posting(2, Source::Indeed, "Rust Engineer"),
        posting(3, Source::Greenhouse, "Data Engineer"),
    ];
    job_posting::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await
        .unwrap();
}

async fn seed_many(db: &DatabaseConnection, n: usize) {
    let rows: Vec<_> = (0..n)
        .map(|i| posting(1000 + i, Source::Greenhouse, &format!("Engineer {i}")))
        .collect();
    for chunk in rows.chunks(200) {
        job_posting::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .unwrap();
    }
}

fn expected_header() -> String {
    JOBSPY_COLUMNS
        .iter()
        .chain(OWN_COLUMNS.iter())
        .copied()
        .collect::<Vec<_>>()
        .join(",")
}

/// Parse CSV (RFC 4180: quoted fields may hold commas, quotes and newlines) into rows.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap()
}

/// `url?filter=<url-encoded filter>`.
fn with_filter(url: String, filter: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("filter", filter)
        .finish();
    format!("{url}?{query}")
}

fn export_cmd(db_url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jobintel"));
    c.env_remove("JOBINTEL_API_TOKEN")
        .env_remove("RUST_LOG")
        .env("DATABASE_URL", db_url)
        .env("JOBINTEL_DB_CONNECT_TIMEOUT", "5s")
        .current_dir(std::env::temp_dir())
        .arg("export")
        .args(args);
    c
}

#[tokio::test]
async fn the_cli_writes_jobspy_columns_in_order_with_formulas_escaped() {
    for db in testkit::databases("export_cli").await {
        seed_three(&db.conn).await;
        let out_file = std::env::temp_dir().join(format!(
            "jobintel-export-{}-{:?}.csv",
            std::process::id(),
            db.backend
        ));
        let (url, path) = (db.url.clone(), out_file.clone());
        let out = tokio::task::spawn_blocking(move || {
            export_cmd(&url, &["--format", "csv", "--out"])
                .arg(&path)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&out_file).unwrap();
        let _ = std::fs::remove_file(&out_file);
        assert_eq!(text.lines().next().unwrap(), expected_header());
        let rows = parse_csv(&text);
        assert_eq!(rows.len(), 4, "{:?}: {text}", db.backend);
        let header = &rows[0];
        assert!(rows.iter().all(|r| r.len() == header.len()));
        let first = &rows[1];
        assert_eq!(first[column(header, "id")], "greenhouse-ext-1");
        assert_eq!(first[column(header, "site")], "greenhouse");
        assert_eq!(
            first[column(header, "title")],
            "'=HYPERLINK(\"http://evil.example\")",
            "a formula must stay text"
        );
        assert_eq!(first[column(header, "company")], "Acme, Inc.");
        assert_eq!(
            first[column(header, "description")],
            "Build \"things\",\nwith Rust"
        );
        assert_eq!(first[column(header, "date_posted")], "2026-11-20");
        assert_eq!(first[column(header, "job_type")], "fulltime");
        assert_eq!(first[column(header, "interval")], "yearly");
        assert_eq!(first[column(header, "salary_source")], "direct_data");
        assert_eq!(first[column(header, "min_amount")], "150000");
        assert_eq!(first[column(header, "is_remote")], "True");
        assert_eq!(
            first[column(header, "job_url_direct")],
            "https://example.com/apply/1"
        );
        assert_eq!(
            first[column(header, "first_seen_at")],
            "2026-11-20T04:00:00Z"
        );

        // A filter: only Indeed, as JSONL on stdout.
        let url = db.url.clone();
        let out = tokio::task::spawn_blocking(move || {
            export_cmd(
                &url,
                &[
                    "--format",
                    "jsonl",
                    "--filter",
                    r#"{"sources": ["INDEED"]}"#,
                ],
            )
            .output()
            .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{stdout}");
        assert_eq!(lines[0]["site"], "indeed");
        assert_eq!(lines[0]["title"], "Rust Engineer");
        assert_eq!(lines[0]["is_remote"], true);
        assert_eq!(lines[0]["max_amount"], 180000.0);
        assert_eq!(lines[0]["job_level"], serde_json::Value::Null);
    }
}

#[test]
fn a_bad_filter_is_a_configuration_error_naming_the_field() {
    let out = export_cmd(
        "sqlite::memory:",
        &["--format", "csv", "--filter", r#"{"titleContain": "rust"}"#],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no field `titleContain`"), "{stderr}");
}

#[tokio::test]
async fn http_exports_stream_every_row_in_batches_with_the_filter() {
    let n = 1_234; // more than two batches of 500
    for db in testkit::databases("export_http").await {
        seed_many(&db.conn, n).await;
        seed_three(&db.conn).await;
        let server = support::start_with(&db.conn, support::test_settings()).await;

        let resp = reqwest::get(server.url("/export/postings.csv"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
        assert!(
            resp.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("postings.csv")
        );
        let text = resp.text().await.unwrap();
        let rows = parse_csv(&text);
        assert_eq!(rows.len(), n + 3 + 1, "{:?}", db.backend);
        assert_eq!(rows[0].join(","), expected_header());
        // By id, each exactly once.
        let ids: Vec<i64> = rows[1..]
            .iter()
            .map(|r| r[column(&rows[0], "jobintel_id")].parse().unwrap())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));

        // A full-text search, whose matches each batch reads by window of ids. PostgreSQL:
        // indexed first, as the server's background indexer does within moments of an ingest
        // (postings still queued are matched by computing their document in every query).
        ingest::search_index::refresh_all(&db.conn).await.unwrap();
        let resp = reqwest::get(with_filter(
            server.url("/export/postings.jsonl"),
            r#"{"search": "engineer"}"#,
        ))
        .await
        .unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.unwrap();
        assert_eq!(body.lines().count(), n + 2, "{:?}", db.backend);

        let filter = r#"{"sources":["INDEED"],"titleContains":"rust"}"#;
        let resp = reqwest::get(with_filter(server.url("/export/postings.jsonl"), filter))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
        let body = resp.text().await.unwrap();
        assert_eq!(body.lines().count(), 1, "{body}");
        let row: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
        assert_eq!(row["title"], "Rust Engineer");

        let resp = reqwest::get(with_filter(
            server.url("/export/postings.csv"),
            r#"{"sources": ["MONSTER"]}"#,
        ))
        .await
        .unwrap();
        assert_eq!(resp.status(), 400);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("MONSTER"), "{message}");
        server.stop().await;
    }
}

#[tokio::test]
async fn protected_reads_need_the_token_for_exports_too() {
    let db = testkit::sqlite("export_auth").await;
    seed_three(&db.conn).await;
    let mut settings = support::test_settings();
    settings.auth = AuthPolicy {
        token: Some(Secret::new("s3cret")),
        protect_reads: true,
        loopback_only: true,
    };
    let server = support::start_with(&db.conn, settings).await;
    for path in ["/export/postings.csv", "/export/postings.jsonl"] {
        let resp = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        let resp = reqwest::Client::new()
            .get(server.url(path))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        let resp = reqwest::Client::new()
            .get(server.url(path))
            .bearer_auth("s3cret")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert!(resp.text().await.unwrap().contains("Rust Engineer"));
    }
    server.stop().await;
}

#[tokio::test]
async fn an_anonymous_address_runs_one_export_at_a_time() {
    let db = testkit::sqlite("export_one_at_a_time").await;
    seed_three(&db.conn).await;
    // A token is set, so this machine without it is an anonymous client like any other.
    let mut settings = support::test_settings();
    settings.auth = AuthPolicy {
        token: Some(Secret::new("s3cret")),
        protect_reads: false,
        loopback_only: true,
    };
    let server = support::start_with(&db.conn, settings).await;
    let me: std::net::IpAddr = "127.0.0.1".parse().unwrap();

    // An export from this address is running (its slot is taken).
    let running = server.state.export_slots.try_acquire(me, 1).unwrap();
    let resp = reqwest::get(server.url("/export/postings.csv"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "EXPORT_IN_PROGRESS"
    );
    // The token holder is not limited.
    let resp = reqwest::Client::new()
        .get(server.url("/export/postings.csv"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    drop(running);

    // Once it is over, the next one runs, and a finished export frees its place.
    for _ in 0..2 {
        let resp = reqwest::get(server.url("/export/postings.jsonl"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap().lines().count(), 3);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while server.state.export_slots.open(me) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was never freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.stop().await;
}

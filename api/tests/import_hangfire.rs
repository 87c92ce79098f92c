//! `jobintel import hangfire` end to end: a Hangfire.PostgreSql database built here (the tables
//! as its install scripts leave them), its recurring jobs imported into jobintel databases on
//! SQLite and PostgreSQL, through the importer's function and through the real binary.
//!
//! The Hangfire side needs PostgreSQL: without `TEST_DATABASE_URL` these tests return early
//! (`.ci/run` always sets it).

use std::process::Command;

use chrono::{DateTime, Utc};
use entity::{Source, schedule};
use ingest::engine::EngineConfig;
use jobintel::import::hangfire::{self, Action, JobMap, Options};
use jobintel::service::wake::Wakeups;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Statement};

/// Hangfire.PostgreSql's `schema`, `hash` and `set` tables as its install scripts (v3 to v23)
/// leave them: created with SERIAL ids and VARCHAR keys in v3, `updatecount` added, ids widened
/// to BIGINT, keys to TEXT, `expireat` to `timestamp with time zone`, and the indexes on
/// `expireat` and `(key, score)`.
const HANGFIRE_DDL: &str = r#"
CREATE SCHEMA "hangfire";
CREATE TABLE "hangfire"."schema" ("version" INT NOT NULL, PRIMARY KEY ("version"));
INSERT INTO "hangfire"."schema" ("version") VALUES (23);
CREATE TABLE "hangfire"."hash" (
    "id"          BIGSERIAL NOT NULL,
    "key"         TEXT NOT NULL,
    "field"       TEXT NOT NULL,
    "value"       TEXT NULL,
    "expireat"    TIMESTAMP WITH TIME ZONE NULL,
    "updatecount" INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY ("id"),
    UNIQUE ("key", "field")
);
CREATE INDEX ix_hangfire_hash_expireat ON "hangfire"."hash" ("expireat");
CREATE TABLE "hangfire"."set" (
    "id"          BIGSERIAL NOT NULL,
    "key"         TEXT NOT NULL,
    "score"       FLOAT8 NOT NULL,
    "value"       TEXT NOT NULL,
    "expireat"    TIMESTAMP WITH TIME ZONE NULL,
    "updatecount" INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY ("id"),
    UNIQUE ("key", "value")
);
CREATE INDEX ix_hangfire_set_expireat ON "hangfire"."set" ("expireat");
CREATE INDEX ix_hangfire_set_key_score ON "hangfire"."set" ("key", "score");
"#;

/// Invocation data as Hangfire before 1.7 wrote it: the arrays are JSON-encoded strings.
fn legacy_job(type_name: &str, method: &str, args: &[&str]) -> String {
    let encoded: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    serde_json::json!({
        "Type": type_name,
        "Method": method,
        "ParameterTypes": serde_json::to_string(&vec!["System.String"; args.len()]).unwrap(),
        "Arguments": serde_json::to_string(&encoded).unwrap(),
    })
    .to_string()
}

/// Invocation data as Hangfire 1.7+ writes it (`t`, `m`, `p`, `a`).
fn compact_job(type_name: &str, method: &str, args: &[&str]) -> String {
    serde_json::json!({
        "t": type_name,
        "m": method,
        "p": vec!["System.String"; args.len()],
        "a": args,
    })
    .to_string()
}

const SCRAPE: &str = "OldApi.Jobs.ScrapeJob, OldApi";

/// The recurring jobs of the old system: both time-zone styles, a job the mapping file maps,
/// and three that cannot be imported (bad cron, unknown source, unmappable time zone).
fn jobs() -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let common = |cron: &str, tz: Option<&str>, job: String| {
        let mut f = vec![
            ("Cron", cron.to_owned()),
            ("Job", job),
            ("Queue", "default".to_owned()),
            ("CreatedAt", "2025-01-01T00:00:00.0000000Z".to_owned()),
            ("NextExecution", "2026-12-07T19:00:00.0000000Z".to_owned()),
            ("LastExecution", "2026-12-06T19:00:00.0000000Z".to_owned()),
            ("V", "2".to_owned()),
        ];
        if let Some(tz) = tz {
            f.push(("TimeZoneId", tz.to_owned()));
        }
        f
    };
    vec![
        (
            "seek-rust-sydney",
            common(
                "0 6 * * 1-5",
                Some("AUS Eastern Standard Time"),
                legacy_job(
                    SCRAPE,
                    "Run",
                    &["\"seek\"", "\"rust developer\"", "\"Sydney NSW\""],
                ),
            ),
        ),
        (
            "indeed-data-london",
            common(
                "30 7 * * *",
                Some("Europe/London"),
                compact_job(
                    SCRAPE,
                    "Run",
                    &["\"indeed\"", "\"data engineer\"", "\"London\""],
                ),
            ),
        ),
        (
            "acme-board",
            common(
                "0 */4 * * *",
                Some("UTC"),
                compact_job("OldApi.Jobs.BoardSync, OldApi", "Sync", &["\"acme\"", "3"]),
            ),
        ),
        (
            "bad-cron",
            common(
                "0 25 * * *",
                None,
                compact_job(SCRAPE, "Run", &["\"seek\"", "\"golang\""]),
            ),
        ),
        (
            "unknown-source",
            common(
                "0 6 * * *",
                None,
                compact_job(SCRAPE, "Run", &["\"monster\"", "\"rust\""]),
            ),
        ),
        (
            "mars-office",
            common(
                "0 6 * * *",
                Some("Mars Standard Time"),
                compact_job(SCRAPE, "Run", &["\"seek\"", "\"rust\""]),
            ),
        ),
    ]
}

const MAP: &str = r#"
[[job]]
type = "OldApi.Jobs.BoardSync"
method = "Sync"
source = "greenhouse"
target = { arg = 0 }
max_pages = { arg = 1 }
"#;

/// A PostgreSQL database holding a Hangfire schema with [`jobs`]; `None` without the
/// PostgreSQL suite.
async fn hangfire_source() -> Option<testkit::TestDb> {
    testkit::postgres_admin_url()?;
    let db = testkit::postgres("hangfire_src").await;
    db.conn.execute_unprepared(HANGFIRE_DDL).await.unwrap();
    for (score, (id, fields)) in jobs().into_iter().enumerate() {
        db.conn
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"INSERT INTO "hangfire"."set" ("key", "score", "value") VALUES ('recurring-jobs', $1, $2)"#,
                [(score as f64).into(), id.into()],
            ))
            .await
            .unwrap();
        for (field, value) in fields {
            db.conn
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    r#"INSERT INTO "hangfire"."hash" ("key", "field", "value") VALUES ($1, $2, $3)"#,
                    [format!("recurring-job:{id}").into(), field.into(), value.into()],
                ))
                .await
                .unwrap();
        }
    }
    // A hash without a set entry (a job Hangfire removed): not a recurring job any more.
    db.conn
        .execute_unprepared(
            r#"INSERT INTO "hangfire"."hash" ("key", "field", "value")
               VALUES ('recurring-job:removed', 'Cron', '* * * * *')"#,
        )
        .await
        .unwrap();
    Some(db)
}

/// Everything in the Hangfire tables, to show the import wrote nothing there.
async fn hangfire_contents(db: &testkit::TestDb) -> String {
    let row = db
        .conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            r#"SELECT (SELECT string_agg(concat_ws('|', id, key, field, value, updatecount), ',' ORDER BY id) FROM "hangfire"."hash")
                   || '#' || (SELECT string_agg(concat_ws('|', id, key, score, value, updatecount), ',' ORDER BY id) FROM "hangfire"."set") AS all"#,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "all").unwrap()
}

fn options(from: &str, dry_run: bool, paused: bool) -> Options {
    Options {
        from: from.to_owned(),
        schema: "hangfire".into(),
        map: Some(JobMap::parse(MAP).unwrap()),
        dry_run,
        paused,
    }
}

fn now() -> DateTime<Utc> {
    "2026-12-06T12:00:00Z".parse().unwrap()
}

async fn schedules(db: &impl ConnectionTrait) -> Vec<schedule::Model> {
    let mut all = schedule::Entity::find().all(db).await.unwrap();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

fn by_name<'a>(all: &'a [schedule::Model], name: &str) -> &'a schedule::Model {
    all.iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no schedule `{name}`"))
}

#[tokio::test]
async fn recurring_jobs_become_schedules_and_a_second_import_changes_nothing() {
    let Some(source) = hangfire_source().await else {
        return;
    };
    let before = hangfire_contents(&source).await;
    let engine = EngineConfig::default();
    for target in testkit::databases("hangfire_import").await {
        let backend = target.backend;
        let report = hangfire::import(
            &target.conn,
            &options(&source.url, false, false),
            &engine,
            now(),
            &Wakeups::default(),
        )
        .await
        .unwrap();
        assert_eq!(report.count(Action::Create), 3, "{backend:?}");
        let mut skipped: Vec<(String, String)> = report
            .plan
            .skipped
            .iter()
            .map(|s| (s.id.clone(), s.reason.clone()))
            .collect();
        skipped.sort();
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert_eq!(skipped[0].0, "bad-cron");
        assert!(
            skipped[0]
                .1
                .contains("invalid cron expression `0 25 * * *`"),
            "{}",
            skipped[0].1
        );
        assert_eq!(skipped[1].0, "mars-office");
        assert!(
            skipped[1].1.contains("time zone `Mars Standard Time`"),
            "{}",
            skipped[1].1
        );
        assert_eq!(skipped[2].0, "unknown-source");
        assert!(
            skipped[2].1.contains("no argument names a source"),
            "{}",
            skipped[2].1
        );

        let all = schedules(&target.conn).await;
        assert_eq!(all.len(), 3, "{backend:?}");
        let seek = by_name(&all, "seek-rust-sydney");
        assert_eq!(seek.source, Source::Seek);
        assert_eq!(seek.cron, "0 6 * * 1-5");
        assert_eq!(seek.timezone, "Australia/Sydney");
        assert_eq!(
            seek.params,
            serde_json::json!({"keywords": "rust developer", "location": "Sydney NSW"})
        );
        assert!(seek.enabled);
        // Monday 7 December 2026, 06:00 in Sydney (UTC+11).
        assert_eq!(
            seek.next_fire_at.unwrap().to_rfc3339(),
            "2026-12-06T19:00:00+00:00"
        );
        let indeed = by_name(&all, "indeed-data-london");
        assert_eq!(indeed.source, Source::Indeed);
        assert_eq!(indeed.timezone, "Europe/London");
        assert_eq!(indeed.params["keywords"], "data engineer");
        assert_eq!(indeed.params["location"], "London");
        let board = by_name(&all, "acme-board");
        assert_eq!(board.source, Source::Greenhouse);
        assert_eq!(board.timezone, "UTC");
        assert_eq!(
            board.params,
            serde_json::json!({"target": "acme", "max_pages": 3})
        );
        // Same defaults as createSchedule.
        assert_eq!(
            (
                board.jitter_seconds,
                board.max_attempts,
                board.retry_backoff_seconds
            ),
            (0, 3, 60)
        );

        // Again: nothing to create or update, no row touched.
        let again = hangfire::import(
            &target.conn,
            &options(&source.url, false, false),
            &engine,
            now() + chrono::Duration::hours(1),
            &Wakeups::default(),
        )
        .await
        .unwrap();
        assert_eq!(again.count(Action::Unchanged), 3, "{backend:?}");
        assert_eq!(again.count(Action::Create) + again.count(Action::Update), 0);
        assert_eq!(schedules(&target.conn).await, all, "{backend:?}");
    }
    assert_eq!(
        hangfire_contents(&source).await,
        before,
        "the Hangfire database was written"
    );
}

#[tokio::test]
async fn a_changed_job_is_updated_by_name_and_paused_imports_create_disabled_schedules() {
    let Some(source) = hangfire_source().await else {
        return;
    };
    let engine = EngineConfig::default();
    for target in testkit::databases("hangfire_update").await {
        hangfire::import(
            &target.conn,
            &options(&source.url, false, true),
            &engine,
            now(),
            &Wakeups::default(),
        )
        .await
        .unwrap();
        let all = schedules(&target.conn).await;
        assert!(all.iter().all(|s| !s.enabled && s.next_fire_at.is_none()));
        assert_eq!(all.len(), 3);

        source
            .conn
            .execute_unprepared(
                r#"UPDATE "hangfire"."hash" SET value = '0 8 * * 1-5'
                   WHERE key = 'recurring-job:seek-rust-sydney' AND field = 'Cron'"#,
            )
            .await
            .unwrap();
        let report = hangfire::import(
            &target.conn,
            &options(&source.url, false, false),
            &engine,
            now(),
            &Wakeups::default(),
        )
        .await
        .unwrap();
        assert_eq!(report.count(Action::Update), 1);
        assert_eq!(report.count(Action::Unchanged), 2);
        let all = schedules(&target.conn).await;
        assert_eq!(all.len(), 3, "updated by name, not duplicated");
        let seek = by_name(&all, "seek-rust-sydney");
        assert_eq!(seek.cron, "0 8 * * 1-5");
        assert!(!seek.enabled, "an update keeps the schedule paused");
        source
            .conn
            .execute_unprepared(
                r#"UPDATE "hangfire"."hash" SET value = '0 6 * * 1-5'
                   WHERE key = 'recurring-job:seek-rust-sydney' AND field = 'Cron'"#,
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_dry_run_lists_the_schedules_with_their_next_fires_and_writes_nothing() {
    let Some(source) = hangfire_source().await else {
        return;
    };
    for target in testkit::databases("hangfire_dry").await {
        let report = hangfire::import(
            &target.conn,
            &options(&source.url, true, false),
            &EngineConfig::default(),
            now(),
            &Wakeups::default(),
        )
        .await
        .unwrap();
        assert!(schedules(&target.conn).await.is_empty(), "a dry run wrote");
        assert_eq!(report.count(Action::Create), 3);
        for p in &report.plan.planned {
            assert_eq!(p.next_fires.len(), 3, "{}", p.name);
        }
        let text = hangfire::render(&report);
        assert!(text.contains("NEXT FIRES (UTC)"), "{text}");
        assert!(
            text.contains("Australia/Sydney (from AUS Eastern Standard Time)"),
            "{text}"
        );
        assert!(
            text.contains("2026-12-06 19:00, 2026-12-07 19:00, 2026-12-08 19:00"),
            "{text}"
        );
        assert!(text.contains("3 job(s) not imported"), "{text}");
        assert!(text.contains("dry run, nothing written"), "{text}");
    }
}

#[tokio::test]
async fn a_schema_without_hangfire_tables_is_a_clear_error() {
    let Some(source) = hangfire_source().await else {
        return;
    };
    let target = testkit::sqlite("hangfire_schema").await;
    let mut opts = options(&source.url, true, false);
    opts.schema = "hf".into();
    let err = hangfire::import(
        &target.conn,
        &opts,
        &EngineConfig::default(),
        now(),
        &Wakeups::default(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("schema `hf` has no Hangfire tables"),
        "{err}"
    );
}

fn jobintel(db_url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jobintel"));
    for var in ["JOBINTEL_BIND", "JOBINTEL_API_TOKEN", "RUST_LOG"] {
        c.env_remove(var);
    }
    c.env("DATABASE_URL", db_url)
        .env("JOBINTEL_DB_CONNECT_TIMEOUT", "5s")
        .current_dir(std::env::temp_dir());
    c
}

#[tokio::test]
async fn the_cli_prints_the_plan_then_imports_paused() {
    let Some(source) = hangfire_source().await else {
        return;
    };
    let map = std::env::temp_dir().join(format!("hangfire-map-{}.toml", std::process::id()));
    std::fs::write(&map, MAP).unwrap();
    for target in testkit::databases("hangfire_cli").await {
        let (url, from, map_arg) = (target.url.clone(), source.url.clone(), map.clone());
        let out = tokio::task::spawn_blocking(move || {
            jobintel(&url)
                .args(["import", "hangfire", "--from", &from, "--dry-run", "--map"])
                .arg(&map_arg)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("seek-rust-sydney"), "{stdout}");
        assert!(stdout.contains("NEXT FIRES (UTC)"), "{stdout}");
        assert!(
            stdout.contains("unknown-source: no argument names a source"),
            "{stdout}"
        );
        assert!(schedules(&target.conn).await.is_empty());

        let (url, from, map_arg) = (target.url.clone(), source.url.clone(), map.clone());
        let out = tokio::task::spawn_blocking(move || {
            jobintel(&url)
                .args(["import", "hangfire", "--paused", "--from", &from, "--map"])
                .arg(&map_arg)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("created 3 (new ones paused)"), "{stdout}");
        let all = schedules(&target.conn).await;
        assert_eq!(all.len(), 3, "{:?}", target.backend);
        assert!(all.iter().all(|s| !s.enabled));
    }
    let _ = std::fs::remove_file(&map);

    // Bad options are configuration errors (exit 2) that say what to fix.
    let target = testkit::sqlite("hangfire_cli_bad").await;
    let out = jobintel(&target.url)
        .args(["import", "hangfire", "--from", "sqlite://x.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from must be the PostgreSQL"));
    let out = jobintel(&target.url)
        .args([
            "import",
            "hangfire",
            "--from",
            &source.url,
            "--map",
            "/nonexistent.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read --map"));
}

/// A re-imported job that no longer gives max pages leaves its schedule without one: the
/// schedules service can unset it (`SchedulePatch::clear_max_pages`), as the importer asks.
#[tokio::test]
async fn an_update_can_clear_max_pages() {
    use jobintel::service::schedules::{self, ScheduleDef, SchedulePatch};
    let engine = EngineConfig::default();
    for db in testkit::databases("schedule_clear_max_pages").await {
        let def = ScheduleDef {
            name: "lever-acme".into(),
            source: Source::Lever,
            params: ingest::SearchParams {
                target: Some("acme".into()),
                max_pages: Some(3),
                ..Default::default()
            },
            cron: "0 6 * * *".into(),
            timezone: "UTC".into(),
            enabled: true,
            jitter_seconds: 0,
            overlap_policy: entity::OverlapPolicy::Skip,
            misfire_policy: entity::MisfirePolicy::FireOnce,
            max_attempts: 3,
            retry_backoff_seconds: 60,
        };
        let wake = Wakeups::default();
        let created = schedules::create(&db.conn, def, &engine, now(), &wake)
            .await
            .unwrap();
        assert_eq!(created.params["max_pages"], 3, "{}", created.params);
        let patch = SchedulePatch {
            clear_max_pages: true,
            ..SchedulePatch::default()
        };
        let updated = schedules::update(&db.conn, created.id, patch, &engine, now(), &wake)
            .await
            .unwrap();
        assert!(
            updated.params.get("max_pages").is_none_or(|v| v.is_null()),
            "{}",
            updated.params
        );
        assert_eq!(updated.params["target"], "acme", "the rest kept");
    }
}

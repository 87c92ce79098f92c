//! `jobintel import jobspy` end to end on SQLite and PostgreSQL, from a python-jobspy CSV
//! (`tests/fixtures/jobspy_sample.csv`: Indeed, LinkedIn, Glassdoor, Google and ZipRecruiter
//! rows, a multi-line Markdown description, a URL with a comma, two bad rows).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, TimeZone, Utc};
use entity::{
    RunStatus, RunTrigger, SalaryPeriod, SalarySource, Source, WorkArrangement, WorkType,
    ingest_run, job_posting,
};
use jobintel::import::jobspy::{self, JobspyOptions};
use jobintel::import::{Progress, Summary};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

const BIN: &str = env!("CARGO_BIN_EXE_jobintel");
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/jobspy_sample.csv"
);

/// When the fixture copy was "written by JobSpy": the postings' first and last seen.
fn written_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 5, 6, 30, 0).unwrap()
}

/// The fixture (plus `extra` lines) in a fresh directory, with its modification time set.
fn csv_copy(label: &str, extra: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "jobintel-jobspy-{label}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jobs.csv");
    let mut text = std::fs::read_to_string(FIXTURE).unwrap();
    text.push_str(extra);
    std::fs::write(&path, text).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(written_at().into()).unwrap();
    (dir, path)
}

fn options(path: &Path, report: &Path) -> JobspyOptions {
    JobspyOptions {
        file: path.to_owned(),
        dry_run: false,
        report: Some(report.to_owned()),
    }
}

async fn posting(db: &DatabaseConnection, source: Source, id: &str) -> job_posting::Model {
    job_posting::Entity::find()
        .filter(job_posting::Column::Source.eq(source))
        .filter(job_posting::Column::ExternalId.eq(id))
        .one(db)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{source}/{id} not stored"))
}

async fn all(db: &DatabaseConnection) -> Vec<job_posting::Model> {
    job_posting::Entity::find()
        .order_by_asc(job_posting::Column::Id)
        .all(db)
        .await
        .unwrap()
}

fn report_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

fn check_counts(s: &Summary, new: u64, bad: u64) {
    assert_eq!(
        (s.read, s.new, s.updated, s.bad),
        (new + bad, new, 0, bad),
        "{s:?}"
    );
}

#[tokio::test]
async fn a_jobspy_csv_is_imported_under_each_site_and_twice_changes_nothing() {
    jobintel::install_crypto_provider();
    // One row whose description is over the 1 MiB cell cap: skipped, not stored.
    let huge = format!(
        "li-1,linkedin,https://www.linkedin.com/jobs/view/1,,Huge,Big Co,\"Perth, WA, Australia\",2026-03-01,fulltime,,,,,,False,,,,,{},,,,,,,,\n",
        "x".repeat(jobspy::MAX_CELL_BYTES + 1)
    );
    for db in testkit::databases("jobspy").await {
        let what = format!("{:?}", db.backend);
        let conn = &db.conn;
        let (dir, path) = csv_copy("import", &huge);
        let report = dir.join("bad.csv");
        let summary = jobspy::import(Some(conn), &options(&path, &report), Progress::silent())
            .await
            .unwrap();
        check_counts(&summary, 9, 3);
        let bad = report_lines(&report);
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(
            bad[0].starts_with("mo-1 (line 16),unknown platform `monster`"),
            "{bad:?}"
        );
        assert!(
            bad[1].contains("(line 17),unparseable posted_at `yesterday`"),
            "{bad:?}"
        );
        assert!(bad[2].contains("`description` is 1048577 bytes"), "{bad:?}");

        // Indeed's id without JobSpy's `in-`, as jobintel's own Indeed source stores it.
        let acme = posting(conn, Source::Indeed, "5f2a9c81d3e4b607").await;
        assert_eq!(acme.title, "Senior Rust Engineer");
        assert_eq!(
            (
                acme.salary_min,
                acme.salary_max,
                acme.salary_currency.as_deref()
            ),
            (Some(150_000.0), Some(190_000.0), Some("USD")),
            "{what}"
        );
        assert_eq!(acme.salary_period, Some(SalaryPeriod::Year));
        assert_eq!(acme.salary_source, Some(SalarySource::Structured));
        assert_eq!(
            (
                acme.city.as_deref(),
                acme.region.as_deref(),
                acme.country.as_deref()
            ),
            (Some("San Francisco"), Some("CA"), Some("US"))
        );
        assert_eq!(
            acme.apply_url.as_deref(),
            Some("https://careers.acme.example/jobs/1234")
        );
        assert_eq!(acme.classification.as_deref(), Some("Software Development"));
        assert!(
            acme.description_text
                .as_deref()
                .unwrap()
                .contains("We build"),
            "{:?}",
            acme.description_text
        );
        assert_eq!(
            acme.posted_at,
            Some(Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap())
        );
        assert_eq!(
            (acme.first_seen_at, acme.last_seen_at),
            (written_at(), written_at())
        );
        let raw = acme.raw.clone().unwrap();
        assert_eq!(raw["emails"], "hiring@acme.example");
        assert!(raw.get("description").is_none());

        let globex = posting(conn, Source::Indeed, "0b77e21f9a5c3d10").await;
        assert_eq!(globex.work_type, Some(WorkType::PartTime));
        assert_eq!(globex.salary_annual_min, Some(18.5 * 2080.0));
        assert_eq!(globex.salary_source, Some(SalarySource::Parsed));

        let li = posting(conn, Source::Linkedin, "li-3987654321").await;
        assert_eq!(li.work_arrangement, WorkArrangement::Remote);
        assert_eq!(li.country.as_deref(), Some("NZ"));
        let html = li.description_html.clone().unwrap();
        assert!(
            html.contains("<b>Kubernetes</b>") && !html.contains("script"),
            "{html}"
        );

        let hooli = posting(conn, Source::Linkedin, "li-3987650000").await;
        assert_eq!(hooli.salary_annual_max, Some(60_000.0));
        assert_eq!(hooli.work_type, Some(WorkType::Contract));

        posting(conn, Source::Glassdoor, "gd-1009876543").await;
        posting(conn, Source::Google, "go-Ck8xYjRkNzA5").await;
        let zr = posting(conn, Source::ZipRecruiter, "zr-a1b2c3d4").await;
        assert!(zr.url.contains("New-York,NY"), "{}", zr.url);
        let intern = posting(conn, Source::ZipRecruiter, "zr-e5f6a7b8").await;
        assert_eq!(intern.work_type, Some(WorkType::Internship));

        let runs = ingest_run::Entity::find().all(conn).await.unwrap();
        assert_eq!(runs.len(), 1, "{what}");
        assert_eq!(runs[0].trigger, RunTrigger::Import);
        assert_eq!(runs[0].status, RunStatus::Succeeded);
        assert_eq!(runs[0].jobs_new, 9);
        assert_eq!(runs[0].params["import"], "jobspy");

        // Import-only sources are searchable like any other.
        let srv = support::start_with(conn, support::test_settings()).await;
        let v = srv
            .gql("{ jobPostings(filter: {sources: [LINKEDIN, ZIP_RECRUITER, GOOGLE]}) { totalCount } }")
            .await;
        assert_eq!(v["data"]["jobPostings"]["totalCount"], 5, "{v}");
        srv.stop().await;

        // The same file again changes nothing.
        let before = all(conn).await;
        let again = jobspy::import(Some(conn), &options(&path, &report), Progress::silent())
            .await
            .unwrap();
        assert_eq!(
            (again.new, again.updated, again.unchanged),
            (0, 0, 9),
            "{what}"
        );
        assert_eq!(all(conn).await, before, "{what}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn the_cli_previews_without_writing_then_imports() {
    for db in testkit::databases("jobspy_cli").await {
        let (dir, path) = csv_copy("cli", "");
        let run = |args: &[&str]| {
            let out = Command::new(BIN)
                .args(["import", "jobspy"])
                .arg(&path)
                .args(args)
                .env("DATABASE_URL", &db.url)
                .env_remove("RUST_LOG")
                .current_dir(&dir)
                .output()
                .unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, stdout, stderr) = run(&["--dry-run"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains("site") && stdout.contains("→ source"),
            "{stdout}"
        );
        assert!(stdout.contains("Senior Rust Engineer"), "{stdout}");
        assert!(stdout.contains("unknown platform `monster`"), "{stdout}");
        assert!(all(&db.conn).await.is_empty());

        let report = dir.join("bad.csv");
        let (code, stdout, stderr) = run(&["--report", report.to_str().unwrap()]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains("new 9") && stdout.contains("bad 2"),
            "{stdout}"
        );
        assert_eq!(report_lines(&report).len(), 2);
        assert_eq!(all(&db.conn).await.len(), 9);

        let (code, _, stderr) = run_missing(&db.url, &dir);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("cannot open"), "{stderr}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn run_missing(url: &str, dir: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(["import", "jobspy", "no-such-file.csv"])
        .env("DATABASE_URL", url)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

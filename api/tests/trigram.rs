//! `titleContains` and `locationContains` through migration 000016's trigram indexes give
//! exactly the answers of the plain LIKE (SQLite) / ILIKE (PostgreSQL) they replace: rare and
//! common words, texts of one or two characters (too short for a trigram), `%`, `_` and `\`
//! as literal characters, non-ASCII text and its case (SQLite's LIKE folds ASCII only), and
//! locations found in any of the raw location, city and region; also after postings change or
//! go; quotes and backslashes in the text (PostgreSQL gets the pattern as a literal). The
//! reference is the old query, written out here, with the pattern bound. Also: the indexes are used, and on
//! PostgreSQL the migrations succeed without them when `pg_trgm` cannot be created.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use entity::{Source, WorkArrangement, job_posting};
use jobintel::service::filter::PostingFilter;
use jobintel::service::postings::{self, Columns, Order, PageRequest};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    EntityTrait, NotSet, Statement, TransactionTrait,
};
use testkit::{Backend, TestDb};

/// Enough postings with "Engineer" that SQLite's pages walk the posting order instead of the
/// index (`postings::COMMON_MATCHES` is 2,000), so both of its plans are compared.
const COMMON: usize = 2_100;

/// (title, location_raw, city, region)
type Row = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

const ROWS: &[Row] = &[
    ("Zymurgist", Some("Sydney NSW"), Some("Sydney"), Some("NSW")),
    (
        "50% Off Sales Lead",
        Some("Zürich"),
        Some("Zürich"),
        Some("ZH"),
    ),
    ("node_js Developer", Some("ZÜRICH"), None, None),
    ("nodeXjs Developer", None, Some("Wellington"), None),
    ("C++ Engineer", None, None, Some("Otago")),
    ("back\\end dev", Some("Remote"), None, None),
    ("Ingénieur Zürich", None, None, None),
    (
        "ZÜRICH Analyst",
        Some("zürich Oerlikon"),
        Some("zürich"),
        None,
    ),
    (
        "Straße Planner",
        Some("Straße 5, Köln"),
        Some("Köln"),
        Some("NRW"),
    ),
    (
        "He said \"hi\" engineer",
        Some("Melbourne VIC"),
        Some("Melbourne"),
        Some("VIC"),
    ),
    ("ab", Some("ab"), Some("a"), Some("b")),
    (
        "O'Neill's Pub \\' Manager",
        Some("Coeur d'Alene ID"),
        Some("Coeur d'Alene"),
        Some("ID"),
    ),
];

const TITLE_TEXTS: &[&str] = &[
    "zymurg",
    "ZYMURGIST",
    "engineer",
    "ENGINEER",
    "Senior Rust",
    "e",
    "ng",
    "ab",
    "",
    "%",
    "_",
    "50%",
    "0% o",
    "node_js",
    "e_j",
    "\\",
    "k\\e",
    "C++",
    "Zür",
    "zür",
    "ZÜR",
    "zürich",
    "ürich",
    "ZÜRICH",
    "Zü",
    "ingénieur",
    "INGÉNIEUR",
    "straße",
    "STRASSE",
    "\"hi\"",
    "said \"",
    "'s pub",
    "'",
    "\\'",
    "''",
    "no such words",
];

const LOCATION_TEXTS: &[&str] = &[
    "syd",
    "nsw",
    "SYDNEY NSW",
    "zür",
    "Zürich",
    "ZÜRICH",
    "zürich oer",
    "wellington",
    "otago",
    "zh",
    "z",
    "mote",
    "köln",
    "KÖLN",
    "aße 5",
    "ab",
    "%",
    "_",
    "d'al",
    "'",
    "nowhere at all",
];

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

fn posting(n: usize, (title, raw, city, region): Row) -> job_posting::ActiveModel {
    let seen = base() + TimeDelta::minutes(n as i64);
    job_posting::ActiveModel {
        id: NotSet,
        source: Set(Source::Seek),
        external_id: Set(format!("trgm-{n}")),
        url: Set(format!("https://example.com/jobs/{n}")),
        title: Set(title.to_owned()),
        company: Set(Some("Acme".into())),
        location_raw: Set(raw.map(str::to_owned)),
        city: Set(city.map(str::to_owned)),
        region: Set(region.map(str::to_owned)),
        work_arrangement: Set(WorkArrangement::Unknown),
        // Some without a date, which sort last.
        posted_at: Set((!n.is_multiple_of(7)).then_some(seen)),
        first_seen_at: Set(seen),
        last_seen_at: Set(seen),
        content_hash: Set(format!("h{n}")),
        created_at: Set(seen),
        updated_at: Set(seen),
        ..Default::default()
    }
}

async fn seed(conn: &DatabaseConnection) {
    let mut all: Vec<job_posting::ActiveModel> = ROWS
        .iter()
        .enumerate()
        .map(|(n, r)| posting(n, *r))
        .collect();
    for n in 0..COMMON {
        let city = ["Sydney", "Auckland", "Zürich"][n % 3];
        all.push(posting(
            ROWS.len() + n,
            ("Senior Rust Engineer", Some(city), Some(city), None),
        ));
    }
    for chunk in all.chunks(200) {
        job_posting::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(conn)
            .await
            .unwrap();
    }
}

/// `%text%` with `\` escaping, as the filter has always built it.
fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The filter as it was before the trigram indexes: plain LIKE / ILIKE over the columns.
async fn reference(conn: &DatabaseConnection, columns: &[&str], text: &str) -> BTreeSet<i64> {
    let backend = conn.get_database_backend();
    let (like, params): (&str, Vec<String>) = match backend {
        DbBackend::Postgres => (
            "ILIKE",
            (1..=columns.len()).map(|i| format!("${i}")).collect(),
        ),
        _ => ("LIKE", columns.iter().map(|_| "?".to_owned()).collect()),
    };
    let condition = columns
        .iter()
        .zip(&params)
        .map(|(c, p)| format!("{c} {like} {p} ESCAPE '\\'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = format!("SELECT id FROM job_postings WHERE {condition}");
    let values: Vec<sea_orm::Value> = columns.iter().map(|_| like_pattern(text).into()).collect();
    conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<i64>("", "id").unwrap())
        .collect()
}

/// Every posting the service's pages select (newest first, 500 a page), and its count.
async fn by_service(conn: &DatabaseConnection, f: &PostingFilter) -> (BTreeSet<i64>, u64) {
    let mut ids = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = postings::page(
            conn,
            PageRequest {
                filter: f,
                order: Order::default(),
                cursor: cursor.take(),
                backward: false,
                limit: 500,
                columns: Columns::id_only(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{f:?}: {}", e.message()));
        for (m, _) in &page.rows {
            assert!(ids.insert(m.id), "{f:?}: posting {} on two pages", m.id);
        }
        if !page.has_more {
            break;
        }
        cursor = page.rows.last().map(|(_, pos)| pos.clone());
    }
    let n = postings::count(conn, f).await.unwrap();
    (ids, n)
}

fn title(text: &str) -> PostingFilter {
    PostingFilter {
        title_contains: Some(text.to_owned()),
        ..Default::default()
    }
}

fn location(text: &str) -> PostingFilter {
    PostingFilter {
        location_contains: Some(text.to_owned()),
        ..Default::default()
    }
}

const LOCATION_COLUMNS: &[&str] = &["location_raw", "city", "region"];

/// Every text of both lists, through the service and through the reference.
async fn compare_all(db: &TestDb, when: &str) {
    let conn = &db.conn;
    for text in TITLE_TEXTS.iter().chain(["brewer", "zymurg"].iter()) {
        let want = reference(conn, &["title"], text).await;
        let (got, n) = by_service(conn, &title(text)).await;
        assert_eq!(got, want, "{:?} {when}: titleContains {text:?}", db.backend);
        assert_eq!(
            n,
            want.len() as u64,
            "{:?} {when}: count of {text:?}",
            db.backend
        );
    }
    for text in LOCATION_TEXTS.iter().chain(["dunedin"].iter()) {
        let want = reference(conn, LOCATION_COLUMNS, text).await;
        let (got, n) = by_service(conn, &location(text)).await;
        assert_eq!(
            got, want,
            "{:?} {when}: locationContains {text:?}",
            db.backend
        );
        assert_eq!(
            n,
            want.len() as u64,
            "{:?} {when}: count of {text:?}",
            db.backend
        );
    }
    // Both at once, and with another condition.
    let f = PostingFilter {
        title_contains: Some("engineer".into()),
        location_contains: Some("zür".into()),
        companies: vec!["Acme".into()],
        ..Default::default()
    };
    let want: BTreeSet<i64> = reference(conn, &["title"], "engineer")
        .await
        .intersection(&reference(conn, LOCATION_COLUMNS, "zür").await)
        .copied()
        .collect();
    assert_eq!(
        by_service(conn, &f).await.0,
        want,
        "{:?} {when}: both",
        db.backend
    );
}

#[tokio::test]
async fn substring_filters_answer_as_plain_like_did_and_follow_changes() {
    for db in testkit::databases("trigram").await {
        let conn = &db.conn;
        seed(conn).await;
        // The texts are meant to match something: a reference that matches nothing would make
        // the comparisons vacuous.
        assert_eq!(reference(conn, &["title"], "zymurg").await.len(), 1);
        assert_eq!(reference(conn, &["title"], "0% o").await.len(), 1);
        assert_eq!(reference(conn, &["title"], "e_j").await.len(), 1);
        assert!(reference(conn, &["title"], "engineer").await.len() > COMMON);
        assert_eq!(
            reference(conn, LOCATION_COLUMNS, "wellington").await.len(),
            1
        );
        assert_eq!(reference(conn, LOCATION_COLUMNS, "otago").await.len(), 1);
        if db.backend == Backend::Sqlite {
            // LIKE folds ASCII only, and the index folds all of Unicode: the LIKE must decide.
            assert_ne!(
                reference(conn, &["title"], "zürich").await,
                reference(conn, &["title"], "ZÜRICH").await
            );
        }
        compare_all(&db, "as stored").await;

        // Change the indexed columns of some postings, others' not, and delete one.
        let find = |t: &'static str| async move {
            job_posting::Entity::find()
                .all(conn)
                .await
                .unwrap()
                .into_iter()
                .find(|p| p.title == t)
                .unwrap()
        };
        let mut p: job_posting::ActiveModel = find("Zymurgist").await.into();
        p.title = Set("Head Brewer".into());
        p.update(conn).await.unwrap();
        let mut p: job_posting::ActiveModel = find("C++ Engineer").await.into();
        p.region = Set(None);
        p.city = Set(Some("Dunedin".into()));
        p.update(conn).await.unwrap();
        let mut p: job_posting::ActiveModel = find("ZÜRICH Analyst").await.into();
        p.salary_text = Set(Some("a lot".into()));
        p.update(conn).await.unwrap();
        let gone = find("node_js Developer").await;
        job_posting::Entity::delete_by_id(gone.id)
            .exec(conn)
            .await
            .unwrap();
        assert!(reference(conn, &["title"], "zymurg").await.is_empty());
        assert_eq!(reference(conn, &["title"], "brewer").await.len(), 1);
        compare_all(&db, "after updates and a delete").await;
    }
}

fn page_of(filter: &PostingFilter) -> PageRequest<'_> {
    PageRequest {
        filter,
        order: Order::default(),
        cursor: None,
        backward: false,
        limit: 20,
        columns: Columns::id_only(),
    }
}

#[tokio::test]
async fn the_trigram_indexes_serve_the_filters() {
    for db in testkit::databases("trigram_plan").await {
        let conn = &db.conn;
        seed(conn).await;
        match db.backend {
            Backend::Sqlite => {
                for f in [title("zymurg"), location("wellington")] {
                    let count = postings::explain_count(conn, &f).await.unwrap();
                    assert!(count.contains("job_postings_trgm"), "{f:?}: {count}");
                    let page = postings::explain_page(conn, page_of(&f)).await.unwrap();
                    assert!(page.contains("job_postings_trgm"), "{f:?}: {page}");
                }
                // Too short for a trigram: the LIKE alone.
                let f = title("ng");
                let plan = postings::explain_count(conn, &f).await.unwrap();
                assert!(!plan.contains("job_postings_trgm"), "{plan}");
                // Common: the newest 20 walk the posting order; the count uses the index.
                let f = title("engineer");
                let page = postings::explain_page(conn, page_of(&f)).await.unwrap();
                assert!(!page.contains("job_postings_trgm"), "{page}");
                assert!(page.contains("idx_job_postings_posted_key"), "{page}");
                let count = postings::explain_count(conn, &f).await.unwrap();
                assert!(count.contains("job_postings_trgm"), "{count}");
            }
            Backend::Postgres => {
                // A table this small is read whole unless sequential scans are ruled out.
                let txn = conn.begin().await.unwrap();
                txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                    .await
                    .unwrap();
                let plan = postings::explain_count(&txn, &title("zymurg"))
                    .await
                    .unwrap();
                assert!(plan.contains("idx_job_postings_title_trgm"), "{plan}");
                let plan = postings::explain_count(&txn, &location("wellington"))
                    .await
                    .unwrap();
                for index in [
                    "idx_job_postings_location_raw_trgm",
                    "idx_job_postings_city_trgm",
                    "idx_job_postings_region_trgm",
                ] {
                    assert!(plan.contains(index), "{plan}");
                }
                txn.rollback().await.unwrap();
            }
        }
    }
}

/// How many trigram indexes the database has.
const TRGM_INDEXES: &str = "SELECT COUNT(*) FROM pg_indexes WHERE indexname LIKE '%trgm%'";

/// A fresh PostgreSQL database and a login role with no privileges yet (`None` without
/// `TEST_DATABASE_URL`): the administrator's connection to the database sets the scene, the
/// test runs as the role through `url`, and [`RoleDb::finish`] drops both, even when the test
/// failed.
struct RoleDb {
    admin: DatabaseConnection,
    /// The administrator, connected to the new database.
    db_admin: DatabaseConnection,
    role: String,
    name: String,
    /// The new database as the role.
    url: url::Url,
}

impl RoleDb {
    async fn new(label: &str) -> Option<RoleDb> {
        let admin_url = testkit::postgres_admin_url()?;
        let admin = Database::connect(admin_url.as_str()).await.unwrap();
        let suffix = format!("{}_{:08x}", std::process::id(), rand::random::<u32>());
        let role = format!("jobintel_test_{label}_{suffix}");
        let name = role.clone();
        for sql in [
            format!("CREATE ROLE \"{role}\" LOGIN"),
            format!("CREATE DATABASE \"{name}\""),
        ] {
            admin.execute_unprepared(&sql).await.unwrap();
        }
        let db_url = testkit::with_database(&admin_url, &name);
        let db_admin = Database::connect(db_url.as_str()).await.unwrap();
        let mut url = url::Url::parse(&db_url).unwrap();
        url.set_username(&role).unwrap();
        url.set_password(None).unwrap();
        Some(RoleDb {
            admin,
            db_admin,
            role,
            name,
            url,
        })
    }

    /// Drop the database and the role, then fail as the test did.
    async fn finish(self, outcome: Result<(), tokio::task::JoinError>) {
        let _ = self.db_admin.close().await;
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            format!("DROP ROLE IF EXISTS \"{}\"", self.role),
        ] {
            self.admin.execute_unprepared(&sql).await.unwrap();
        }
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// PostgreSQL: a role that may not create extensions (no CREATE on the database, as on many
/// hosted services) still migrates; the filters then run on plain ILIKE, with the same answers.
/// Once an administrator installs `pg_trgm`, the next start-up creates the indexes.
#[tokio::test]
async fn postgres_migrates_without_pg_trgm_when_it_may_not_create_it() {
    let Some(scene) = RoleDb::new("noext").await else {
        return;
    };
    // Tables in `public`, as the application's own role would have; but no CREATE on the
    // database, which a trusted extension needs.
    scene
        .db_admin
        .execute_unprepared(&format!("GRANT ALL ON SCHEMA public TO \"{}\"", scene.role))
        .await
        .unwrap();
    let url = scene.url.clone();
    let installer = scene.db_admin.clone();
    let result = async move {
        let conn = Database::connect(url.as_str()).await.unwrap();
        Migrator::up(&conn, None).await.unwrap();
        let trgm_objects = testkit::count(
            &conn,
            "SELECT (SELECT COUNT(*) FROM pg_extension WHERE extname = 'pg_trgm') \
                 + (SELECT COUNT(*) FROM pg_indexes WHERE indexname LIKE '%trgm%') AS n",
        )
        .await;
        assert_eq!(trgm_objects, 0);
        seed(&conn).await;
        for text in ["zymurg", "engineer", "ZÜRICH", "e_j", "ng"] {
            let want = reference(&conn, &["title"], text).await;
            assert_eq!(
                by_service(&conn, &title(text)).await,
                (want.clone(), want.len() as u64)
            );
        }
        for text in ["wellington", "zür"] {
            let want = reference(&conn, LOCATION_COLUMNS, text).await;
            assert_eq!(
                by_service(&conn, &location(text)).await,
                (want.clone(), want.len() as u64)
            );
        }

        // The administrator installs the extension; the application restarts (migrations
        // and start-up checks under the lock, as `serve` runs them).
        installer
            .execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            .await
            .unwrap();
        jobintel::db::migrate_exclusively(&conn).await.unwrap();
        let indexes = testkit::count(&conn, TRGM_INDEXES).await;
        assert_eq!(indexes, 4, "the four trigram indexes, made at the restart");
        for text in ["zymurg", "engineer", "ZÜRICH", "e_j", "ng"] {
            let want = reference(&conn, &["title"], text).await;
            assert_eq!(
                by_service(&conn, &title(text)).await,
                (want.clone(), want.len() as u64)
            );
        }
        // A second start-up with every index there changes nothing.
        jobintel::db::migrate_exclusively(&conn).await.unwrap();
        conn.close().await.unwrap();
    };
    scene.finish(tokio::spawn(result).await).await;
}

/// PostgreSQL: a start-up that cannot make the missing trigram indexes (here the application's
/// role does not own `job_postings`) says so and starts anyway: the indexes only make
/// substring filters faster.
#[tokio::test]
async fn a_start_up_that_may_not_make_the_trigram_indexes_still_starts() {
    let Some(scene) = RoleDb::new("notowner").await else {
        return;
    };
    // An administrator migrated (and owns the tables), then dropped one trigram index.
    jobintel::db::migrate_exclusively(&scene.db_admin)
        .await
        .unwrap();
    let role = &scene.role;
    for sql in [
        "DROP INDEX idx_job_postings_title_trgm".to_owned(),
        format!("GRANT CREATE, USAGE ON SCHEMA public TO \"{role}\""),
        format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO \"{role}\""),
        format!("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO \"{role}\""),
    ] {
        scene.db_admin.execute_unprepared(&sql).await.unwrap();
    }
    let url = scene.url.clone();
    let result = async move {
        let conn = Database::connect(url.as_str()).await.unwrap();
        jobintel::db::migrate_exclusively(&conn)
            .await
            .expect("starts without the index it may not make");
        let indexes = testkit::count(&conn, TRGM_INDEXES).await;
        assert_eq!(indexes, 3, "the three left, the dropped one not remade");
        seed(&conn).await;
        let want = reference(&conn, &["title"], "engineer").await;
        assert_eq!(
            by_service(&conn, &title("engineer")).await,
            (want.clone(), want.len() as u64)
        );
        conn.close().await.unwrap();
    };
    scene.finish(tokio::spawn(result).await).await;
}

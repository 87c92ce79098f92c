//! Migrations create the same schema on SQLite and PostgreSQL, match the entities, and are
//! idempotent.

use std::collections::BTreeSet;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DbBackend, Iterable, Statement};
use testkit::TestDb;

async fn columns(db: &TestDb, table: &str) -> BTreeSet<String> {
    let sql = match db.db_backend() {
        DbBackend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}')"),
        _ => format!(
            "SELECT column_name AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
    };
    db.conn
        .query_all_raw(Statement::from_string(db.db_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect()
}

async fn indexes(db: &TestDb, table: &str) -> BTreeSet<String> {
    let sql = match db.db_backend() {
        DbBackend::Sqlite => format!(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}' \
             AND name NOT LIKE 'sqlite_autoindex%'"
        ),
        _ => format!(
            "SELECT indexname AS name FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename = '{table}' \
             AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'"
        ),
    };
    db.conn
        .query_all_raw(Statement::from_string(db.db_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect()
}

fn entity_columns<E: sea_orm::EntityTrait>(_: E) -> BTreeSet<String> {
    E::Column::iter()
        .map(|c| sea_orm::IdenStatic::as_str(&c).to_owned())
        .collect()
}

#[tokio::test]
async fn every_table_has_exactly_the_entity_columns_on_both_backends() {
    for db in testkit::databases("columns").await {
        assert_eq!(
            columns(&db, "job_postings").await,
            entity_columns(entity::job_posting::Entity),
            "{:?}",
            db.backend
        );
        assert_eq!(
            columns(&db, "ingest_runs").await,
            entity_columns(entity::ingest_run::Entity),
            "{:?}",
            db.backend
        );
        assert_eq!(
            columns(&db, "schedules").await,
            entity_columns(entity::schedule::Entity),
            "{:?}",
            db.backend
        );
        assert_eq!(
            columns(&db, "posting_history").await,
            entity_columns(entity::posting_history::Entity),
            "{:?}",
            db.backend
        );
        assert_eq!(
            columns(&db, "instances").await,
            entity_columns(entity::instance::Entity),
            "{:?}",
            db.backend
        );
    }
}

#[tokio::test]
async fn the_indexes_the_api_and_scheduler_rely_on_exist_on_both_backends() {
    let expected_postings: BTreeSet<String> = [
        "uq_job_postings_source_external_id",
        "idx_job_postings_posted",
        "idx_job_postings_source_posted",
        "idx_job_postings_company",
        "idx_job_postings_last_seen",
        "idx_job_postings_trends",
        "idx_job_postings_first_run",
        "idx_job_postings_last_run",
        "idx_job_postings_open",
        // jobStats over one source, index-only (000013).
        "idx_job_postings_source_company",
        "idx_job_postings_source_location",
        "idx_job_postings_source_salary",
        "idx_job_postings_source_day",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let expected_runs: BTreeSet<String> = [
        "uq_ingest_runs_schedule_fire",
        "idx_ingest_runs_claim",
        "idx_ingest_runs_queued",
        "idx_ingest_runs_source_status_id",
        "idx_ingest_runs_status_id",
        "idx_ingest_runs_trigger_status_id",
        "idx_ingest_runs_queued_status",
        "idx_ingest_runs_status_queued",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for db in testkit::databases("indexes").await {
        let postings = indexes(&db, "job_postings").await;
        assert!(
            postings.is_superset(&expected_postings),
            "{:?}: {postings:?}",
            db.backend
        );
        let runs = indexes(&db, "ingest_runs").await;
        assert!(
            runs.is_superset(&expected_runs),
            "{:?}: {runs:?}",
            db.backend
        );
        assert!(
            indexes(&db, "instances")
                .await
                .contains("idx_instances_heartbeat"),
            "{:?}",
            db.backend
        );
        assert!(
            indexes(&db, "schedules")
                .await
                .contains("idx_schedules_due"),
            "{:?}",
            db.backend
        );
        // Trend charts read a covering index on both.
        assert!(postings.contains("idx_job_postings_trends"), "{postings:?}");
    }
}

#[tokio::test]
async fn running_the_migrations_again_is_a_no_op() {
    for db in testkit::databases("rerun").await {
        let before = columns(&db, "job_postings").await;
        Migrator::up(&db.conn, None).await.unwrap();
        Migrator::up(&db.conn, None).await.unwrap();
        assert!(
            Migrator::get_pending_migrations(&db.conn)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(columns(&db, "job_postings").await, before);
        let applied = testkit::count(&db.conn, "SELECT COUNT(*) FROM seaql_migrations").await;
        assert_eq!(applied as usize, Migrator::migrations().len());
    }
}

#[tokio::test]
async fn one_posting_per_source_and_external_id() {
    for db in testkit::databases("unique").await {
        let insert = "INSERT INTO job_postings (source, external_id, url, title, work_arrangement, \
             first_seen_at, last_seen_at, content_hash, created_at, updated_at) VALUES \
             ('seek', '1', 'u', 't', 'unknown', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'h', \
             '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')";
        db.conn.execute_unprepared(insert).await.unwrap();
        let dup = db.conn.execute_unprepared(insert).await;
        assert!(dup.is_err(), "{:?}: duplicate accepted", db.backend);
    }
}

/// Ids of the postings whose full-text entry matches `word`, through each backend's index.
///
/// PostgreSQL indexes after the write (migration 000006): the answer is checked three ways —
/// through the view searches read while the change may still be queued, then, after the queue
/// is drained, through the view again and through the stored index alone.
async fn fts_matches(db: &TestDb, word: &str) -> Vec<i64> {
    let ids = |sql: String| async move {
        db.conn
            .query_all_raw(Statement::from_string(db.db_backend(), sql))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<i64>("", "id").unwrap())
            .collect::<Vec<i64>>()
    };
    match db.db_backend() {
        DbBackend::Sqlite => {
            ids(format!(
                "SELECT rowid AS id FROM job_postings_fts WHERE job_postings_fts MATCH '{word}' \
                 ORDER BY rowid"
            ))
            .await
        }
        _ => {
            let query = |table: &str| {
                format!(
                    "SELECT posting_id AS id FROM {table} \
                     WHERE document @@ plainto_tsquery('english', '{word}') ORDER BY posting_id"
                )
            };
            let before = ids(query("job_posting_search_current")).await;
            ingest::search_index::refresh_all(&db.conn).await.unwrap();
            assert_eq!(ingest::search_index::queued(&db.conn).await.unwrap(), 0);
            let after = ids(query("job_posting_search_current")).await;
            let stored = ids(query("job_posting_search")).await;
            assert_eq!(
                before, after,
                "`{word}`: the view changed when the queue was drained"
            );
            assert_eq!(
                stored, after,
                "`{word}`: the stored index differs from the view"
            );
            after
        }
    }
}

#[tokio::test]
async fn full_text_follows_updates_of_the_indexed_text_and_the_last_migration_goes_down_and_up() {
    for db in testkit::databases("fts_updates").await {
        let insert = "INSERT INTO job_postings (source, external_id, url, title, company, \
             description_text, description_html, work_arrangement, first_seen_at, last_seen_at, \
             content_hash, created_at, updated_at) VALUES \
             ('seek', '1', 'u', 'Chef', 'Bistro', 'Cooking pasta', NULL, 'unknown', \
             '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'h', '2026-01-01T00:00:00Z', \
             '2026-01-01T00:00:00Z')";
        db.conn.execute_unprepared(insert).await.unwrap();
        let chef = fts_matches(&db, "chef").await;
        assert_eq!(chef.len(), 1, "{:?}", db.backend);

        // The last three migrations (000004–000006) down and up again on a database with data:
        // the index stays as it was.
        let last = Migrator::migrations().len() as u32;
        Migrator::down(&db.conn, Some(3)).await.unwrap();
        if db.db_backend() == DbBackend::Postgres {
            // No queue nor view before 000006: the stored index alone.
            let stored = db
                .conn
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT posting_id AS id FROM job_posting_search \
                     WHERE document @@ plainto_tsquery('english', 'chef') ORDER BY posting_id",
                ))
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<i64>("", "id").unwrap())
                .collect::<Vec<i64>>();
            assert_eq!(stored, chef);
        } else {
            assert_eq!(fts_matches(&db, "chef").await, chef, "{:?}", db.backend);
        }
        Migrator::up(&db.conn, None).await.unwrap();
        let applied = Migrator::get_applied_migrations(&db.conn).await.unwrap();
        assert_eq!(applied.len() as u32, last, "{:?}", db.backend);

        let update = |set: &str| format!("UPDATE job_postings SET {set} WHERE id = {}", chef[0]);
        // Not indexed: the entry stays.
        db.conn
            .execute_unprepared(&update("salary_text = 'More'"))
            .await
            .unwrap();
        assert_eq!(fts_matches(&db, "chef").await, chef, "{:?}", db.backend);
        // The same text written again: still found.
        db.conn
            .execute_unprepared(&update(
                "title = 'Chef', description_text = 'Cooking pasta'",
            ))
            .await
            .unwrap();
        assert_eq!(fts_matches(&db, "chef").await, chef, "{:?}", db.backend);
        // Each indexed column, changed.
        db.conn
            .execute_unprepared(&update("title = 'Cook'"))
            .await
            .unwrap();
        assert!(
            fts_matches(&db, "chef").await.is_empty(),
            "{:?}",
            db.backend
        );
        assert_eq!(fts_matches(&db, "cook").await, chef, "{:?}", db.backend);
        db.conn
            .execute_unprepared(&update("company = 'Trattoria'"))
            .await
            .unwrap();
        assert_eq!(
            fts_matches(&db, "trattoria").await,
            chef,
            "{:?}",
            db.backend
        );
        db.conn
            .execute_unprepared(&update("description_text = 'Baking bread'"))
            .await
            .unwrap();
        assert!(
            fts_matches(&db, "pasta").await.is_empty(),
            "{:?}",
            db.backend
        );
        assert_eq!(fts_matches(&db, "bread").await, chef, "{:?}", db.backend);
        // The HTML description counts only while there is no text one.
        db.conn
            .execute_unprepared(&update("description_html = '<p>Grilling fish</p>'"))
            .await
            .unwrap();
        assert!(
            fts_matches(&db, "fish").await.is_empty(),
            "{:?}",
            db.backend
        );
        db.conn
            .execute_unprepared(&update("description_text = NULL"))
            .await
            .unwrap();
        assert_eq!(fts_matches(&db, "fish").await, chef, "{:?}", db.backend);
        assert!(
            fts_matches(&db, "bread").await.is_empty(),
            "{:?}",
            db.backend
        );
    }
}

/// SQLite's per-day index is on the day expression `jobStats.postingsPerDay` groups by
/// (migration 000005), so with real data a date range is an index search. (Which plan SQLite
/// picks depends on the table's size and statistics, so the schema is what is checked here;
/// the per-day counts themselves are checked in read_api.rs.)
#[tokio::test]
async fn sqlite_day_index_is_on_the_day_expression_the_stats_query_uses() {
    let db = testkit::sqlite("day_index").await;
    let index_sql = db
        .conn
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE name = 'idx_job_postings_day'",
        ))
        .await
        .unwrap()
        .map(|r| r.try_get::<String>("", "sql").unwrap())
        .unwrap_or_default();
    assert!(
        index_sql.contains("(substr(COALESCE(posted_at, first_seen_at), 1, 10))"),
        "{index_sql}"
    );
    // The service's expression, with the `p.` alias, is the index's.
    let service = include_str!("../src/service/stats.rs");
    assert!(
        service.contains("\"substr(COALESCE(p.posted_at, p.first_seen_at), 1, 10)\""),
        "service/stats.rs no longer groups by the indexed day expression"
    );
}

/// PostgreSQL compresses the wide columns with lz4 where the server supports it (000006).
#[tokio::test]
async fn postgres_compresses_descriptions_with_lz4_where_available() {
    let Some(db) = testkit::postgres_only("lz4").await else {
        return; // SQLite does not compress.
    };
    let lz4 = db
        .conn
        .execute_unprepared("CREATE TEMP TABLE lz4_probe (x TEXT COMPRESSION lz4)")
        .await
        .is_ok();
    let rows = db
        .conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT attname::text AS name, attcompression::text AS method FROM pg_attribute \
             WHERE attrelid = 'job_postings'::regclass \
             AND attname IN ('description_html', 'description_text', 'raw') ORDER BY attname",
        ))
        .await
        .unwrap();
    let methods: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "name").unwrap(),
                r.try_get("", "method").unwrap(),
            )
        })
        .collect();
    let expected = if lz4 { "l" } else { "" };
    assert_eq!(
        methods,
        ["description_html", "description_text", "raw"]
            .map(|c| (c.to_owned(), expected.to_owned()))
            .to_vec()
    );
}

/// A database with nothing in it (not even `seaql_migrations`), removed when dropped.
struct EmptyDb {
    url: String,
    drop_sql: Option<(String, String)>,
    dir: Option<std::path::PathBuf>,
}

impl EmptyDb {
    fn sqlite() -> EmptyDb {
        let dir = std::env::temp_dir().join(format!(
            "jobintel_concurrent_migrate_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        EmptyDb {
            url: format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
            drop_sql: None,
            dir: Some(dir),
        }
    }

    async fn postgres(admin_url: &str) -> EmptyDb {
        let name = format!(
            "jobintel_concurrent_migrate_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let admin = sea_orm::Database::connect(admin_url).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        admin.close().await.unwrap();
        EmptyDb {
            url: testkit::with_database(admin_url, &name),
            drop_sql: Some((
                admin_url.to_owned(),
                format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            )),
            dir: None,
        }
    }
}

impl Drop for EmptyDb {
    /// Also when the test failed. A thread with its own runtime, as in `testkit`: drop runs
    /// inside the test's runtime, which cannot be blocked on.
    fn drop(&mut self) {
        if let Some((admin_url, sql)) = self.drop_sql.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    if let Ok(admin) = sea_orm::Database::connect(admin_url.as_str()).await {
                        let _ = admin.execute_unprepared(&sql).await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Instances started together on one empty database each run the migrations: all of them
/// succeed, every migration is applied once, and the schema is the one the entities describe.
/// (Each "instance" has its own connection pool, as separate processes would.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_migrating_one_empty_database_at_once_all_succeed() {
    const INSTANCES: usize = 4;
    let mut targets = vec![EmptyDb::sqlite()];
    if let Some(admin) = testkit::postgres_admin_url() {
        targets.push(EmptyDb::postgres(&admin).await);
    }
    for target in targets {
        let url: jobintel::config::DatabaseUrl = target.url.parse().unwrap();
        let mut pools = Vec::new();
        for _ in 0..INSTANCES {
            pools.push(
                sea_orm::Database::connect(jobintel::db::connect_options(&url, 5))
                    .await
                    .unwrap(),
            );
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(INSTANCES));
        let tasks: Vec<_> = pools
            .iter()
            .map(|pool| {
                let (pool, url, barrier) = (pool.clone(), url.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    jobintel::db::migrate(&pool, &url).await
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            if let Err(e) = task.await.unwrap() {
                panic!("{}: instance {i} failed to migrate: {e}", target.url);
            }
        }

        let db = &pools[0];
        let backend = db.get_database_backend();
        let versions: Vec<String> = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT version FROM seaql_migrations ORDER BY version",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "version").unwrap())
            .collect();
        let expected: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        assert_eq!(
            versions, expected,
            "{backend:?}: each migration recorded once"
        );
        let columns_sql = match backend {
            DbBackend::Sqlite => "SELECT name FROM pragma_table_info('ingest_runs')".to_owned(),
            _ => "SELECT column_name AS name FROM information_schema.columns \
                  WHERE table_schema = current_schema() AND table_name = 'ingest_runs'"
                .to_owned(),
        };
        let columns: BTreeSet<String> = db
            .query_all_raw(Statement::from_string(backend, columns_sql))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "name").unwrap())
            .collect();
        assert_eq!(
            columns,
            entity_columns(entity::ingest_run::Entity),
            "{backend:?}"
        );
        assert!(
            Migrator::get_pending_migrations(db)
                .await
                .unwrap()
                .is_empty()
        );
        for pool in pools {
            pool.close().await.unwrap();
        }
        drop(target);
    }
}

//! Why `testkit` migrates through a connection of its own (see `connect` in `src/lib.rs`).
//!
//! A SQLite connection reads the schema once and re-checks it only when a statement runs. A
//! statement prepared on a connection whose copy predates another connection's `ALTER TABLE` is
//! compiled against the old schema; sqlx-sqlite records its columns then, and SQLite recompiles
//! it against the new schema on its first step. With `*` the recompiled statement has more
//! columns than sqlx recorded: sqlx's worker thread panics building the row (`row.rs:43`) and
//! the caller gets no rows. With named columns, compiling against the old schema fails, which
//! makes SQLite reload the schema and compile again: the row comes back right.

use sea_orm::sqlx::sqlite::{SqliteConnection, SqliteRow};
use sea_orm::sqlx::{AssertSqlSafe, Connection, Executor, Row};

/// `query` on a connection that loaded the schema of `t (x)` before another connection added
/// `y`: its rows, or the error.
async fn on_a_stale_connection(query: &str) -> Result<Vec<SqliteRow>, String> {
    let dir = std::env::temp_dir().join(format!(
        "jobintel_stale_schema_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    let mut migrator = SqliteConnection::connect(&url).await.expect("connect");
    let mut stale = SqliteConnection::connect(&url).await.expect("connect");
    migrator
        .execute("CREATE TABLE t (x INTEGER NOT NULL)")
        .await
        .expect("create");
    migrator
        .execute("INSERT INTO t VALUES (1)")
        .await
        .expect("insert");
    stale
        .fetch_all("SELECT x FROM t")
        .await
        .expect("first read");
    migrator
        .execute("ALTER TABLE t ADD COLUMN y INTEGER NOT NULL DEFAULT 7")
        .await
        .expect("alter");
    let rows = stale
        .fetch_all(AssertSqlSafe(query.to_owned()))
        .await
        .map_err(|e| e.to_string());
    drop((migrator, stale));
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

/// `(x, y)` of the one row, if that is what came back.
fn one_row(rows: &Result<Vec<SqliteRow>, String>) -> Option<(i64, i64)> {
    match rows {
        Ok(rows) if rows.len() == 1 && rows[0].columns().len() == 2 => {
            Some((rows[0].try_get("x").ok()?, rows[0].try_get("y").ok()?))
        }
        _ => None,
    }
}

#[tokio::test]
async fn named_columns_are_read_right_on_a_connection_with_a_stale_schema() {
    for query in ["SELECT x, y FROM t", "UPDATE t SET x = x RETURNING x, y"] {
        let rows = on_a_stale_connection(query).await;
        assert_eq!(
            one_row(&rows),
            Some((1, 7)),
            "{query}: {:?}",
            rows.map(|r| r.len())
        );
    }
}

/// Pins the upstream behaviour `testkit` works around. If this fails, sqlx-sqlite now re-reads a
/// statement's columns after SQLite recompiled it: the separate migration connection in
/// `connect` is no longer needed (and neither are named columns for that reason).
#[tokio::test]
async fn star_queries_lose_their_row_on_a_connection_with_a_stale_schema() {
    for query in ["SELECT * FROM t", "UPDATE t SET x = x RETURNING *"] {
        let rows = on_a_stale_connection(query).await;
        assert_eq!(
            one_row(&rows),
            None,
            "{query}: sqlx-sqlite handles a recompiled statement's new columns now"
        );
    }
}

/// Every connection of the pool a test gets sees the migrated schema: all five held at once,
/// each reads every column of `ingest_runs` (which migrations altered after creating it) with
/// `*`.
#[tokio::test]
async fn every_connection_of_a_test_pool_reads_star_queries_right() {
    let db = testkit::sqlite("stale_schema_pool").await;
    let pool = db.conn.get_sqlite_connection_pool();
    let columns = pool
        .fetch_all("SELECT name FROM pragma_table_info('ingest_runs')")
        .await
        .expect("table info")
        .len();
    assert!(columns > 20, "{columns} columns");
    let mut held = Vec::new();
    let mut widths = Vec::new();
    for _ in 0..5 {
        let mut conn = pool.acquire().await.expect("acquire");
        let rows = (&mut *conn)
            .fetch_all("SELECT r.* FROM (SELECT 1) LEFT JOIN ingest_runs AS r ON 1")
            .await
            .expect("read");
        widths.push(rows.first().map(|r| r.columns().len()));
        held.push(conn);
    }
    assert_eq!(
        widths,
        vec![Some(columns); 5],
        "columns read with * per connection"
    );
}

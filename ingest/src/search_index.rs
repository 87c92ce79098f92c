//! Full-text indexing after the write, on PostgreSQL.
//!
//! Storing a page only queues its new and re-worded postings for indexing (migration 000006);
//! `job_posting_search_refresh` in the database computes their `tsvector`s. Searches are exact
//! either way (they compute a queued posting's document on the spot), so this task exists for
//! speed: it keeps the queue near empty, off the path of the page's transaction, on whichever
//! core is free. SQLite's FTS5 indexes as it writes and needs none of this.
//!
//! [`run`] refreshes as soon as a page is stored (the engine's `PageStored` event) and every
//! `poll` for rows queued by other instances or by hand. Several instances may run it at once:
//! the database function takes queued rows with `SKIP LOCKED`.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

use crate::events::{EventBus, IngestEvent};

/// Postings indexed per call: ~0.15 s of database CPU, so one call never holds a connection
/// (or the rows it took) for long.
pub const BATCH: u32 = 500;

/// How often [`run`] looks for rows nobody announced.
pub const POLL: Duration = Duration::from_secs(5);

/// Index up to `max_rows` queued postings; how many were indexed. Always 0 on SQLite.
pub async fn refresh(db: &impl ConnectionTrait, max_rows: u32) -> Result<u64, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(0);
    }
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT job_posting_search_refresh($1) AS n",
        [i32::try_from(max_rows).unwrap_or(i32::MAX).into()],
    );
    let n: i32 = match db.query_one_raw(stmt).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Index everything queued (except rows another instance is indexing right now); how many.
pub async fn refresh_all(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let mut total = 0;
    loop {
        let n = refresh(db, BATCH).await?;
        total += n;
        if n < u64::from(BATCH) {
            return Ok(total);
        }
    }
}

/// How many postings wait to be indexed (0 on SQLite).
pub async fn queued(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(0);
    }
    let stmt = Statement::from_string(
        DbBackend::Postgres,
        "SELECT COUNT(*) AS n FROM job_posting_search_queue",
    );
    let n: i64 = match db.query_one_raw(stmt).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Keep the queue drained until `stop`, then drain it once more. Returns at once on SQLite.
/// Failures (the database away, a posting deleted mid-refresh) are logged and retried at the
/// next wake-up: the queued rows stay queued, and searches stay exact meanwhile.
pub async fn run(db: DatabaseConnection, bus: EventBus, poll: Duration, stop: CancellationToken) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let mut events = bus.subscribe();
    loop {
        drain(&db).await;
        // Wait for a stored page or the poll (other events, one per posting, are not a reason).
        let deadline = tokio::time::Instant::now() + poll;
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    drain(&db).await;
                    return;
                }
                _ = tokio::time::sleep_until(deadline) => break,
                ev = events.recv() => match ev {
                    Ok(IngestEvent::PageStored { .. }) | Err(RecvError::Lagged(_)) => break,
                    Ok(_) => {}
                    Err(RecvError::Closed) => {
                        stop.cancelled().await;
                        drain(&db).await;
                        return;
                    }
                },
            }
        }
        // Pages stored while the last refresh ran are covered by the next one: one refresh
        // for all of them.
        while matches!(events.try_recv(), Ok(_) | Err(TryRecvError::Lagged(_))) {}
    }
}

async fn drain(db: &DatabaseConnection) {
    let started = std::time::Instant::now();
    match refresh_all(db).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(
            postings = n,
            ms = started.elapsed().as_millis() as u64,
            "full-text index refreshed"
        ),
        Err(e) => tracing::warn!(error = %e, "full-text index refresh failed; will retry"),
    }
}

#[cfg(test)]
mod tests {
    use entity::{RunTrigger, Source};
    use sea_orm::TransactionTrait;

    use super::*;
    use crate::model::SearchParams;
    use crate::store::tests::posting;
    use crate::store::{self, NewRun, RunCounters};

    async fn store_page(db: &DatabaseConnection, title: &str) -> i64 {
        let run = store::create_run(
            db,
            NewRun::manual(Source::Greenhouse, SearchParams::default(), RunTrigger::Cli),
        )
        .await
        .unwrap();
        let page: Vec<_> = (0..30).map(|n| posting(n, title)).collect();
        store::upsert_page(db, run.id, &page).await.unwrap();
        run.id
    }

    async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }

    /// Matches of `word` through the view searches read, and through the stored index alone.
    async fn matches(db: &DatabaseConnection, word: &str) -> (i64, i64) {
        let q = |table: &str| {
            format!(
                "SELECT COUNT(*) AS n FROM {table} \
                 WHERE document @@ plainto_tsquery('english', '{word}')"
            )
        };
        (
            count(db, &q("job_posting_search_current")).await,
            count(db, &q("job_posting_search")).await,
        )
    }

    async fn wait_until_drained(db: &DatabaseConnection) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while queued(db).await.unwrap() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the indexer did not drain the queue"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn page_stored(run_id: i64) -> IngestEvent {
        IngestEvent::PageStored {
            run_id,
            source: Source::Greenhouse,
            page: 1,
            counters: RunCounters::default(),
            stored_at: chrono::Utc::now(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stored_pages_are_indexed_in_the_background_and_searches_are_exact_meanwhile() {
        for db in testkit::databases("search_index").await {
            let conn = db.conn.clone();
            if db.db_backend() != DbBackend::Postgres {
                // FTS5 indexes as it writes: nothing is ever queued, the task ends at once.
                store_page(&conn, "Chef").await;
                assert_eq!(refresh(&conn, BATCH).await.unwrap(), 0);
                assert_eq!(queued(&conn).await.unwrap(), 0);
                let task = run(
                    conn.clone(),
                    EventBus::default(),
                    POLL,
                    CancellationToken::new(),
                );
                tokio::time::timeout(Duration::from_secs(1), task)
                    .await
                    .expect("returns at once on SQLite");
                continue;
            }
            let bus = EventBus::default();
            let stop = CancellationToken::new();
            // A poll far away: only the stored-page event can wake it.
            let task = tokio::spawn(run(
                conn.clone(),
                bus.clone(),
                Duration::from_secs(3600),
                stop.clone(),
            ));
            tokio::time::sleep(Duration::from_millis(100)).await;

            let run_id = store_page(&conn, "Chef").await;
            assert_eq!(queued(&conn).await.unwrap(), 30);
            // Queued, not indexed yet: searches find every posting all the same.
            assert_eq!(matches(&conn, "chef").await, (30, 0));
            bus.publish(page_stored(run_id));
            wait_until_drained(&conn).await;
            assert_eq!(matches(&conn, "chef").await, (30, 30));

            // Re-worded postings: the old words stop matching at once, the new ones match.
            let run_id = store_page(&conn, "Cook").await;
            assert_eq!(queued(&conn).await.unwrap(), 30);
            assert_eq!(matches(&conn, "chef").await, (0, 30));
            assert_eq!(matches(&conn, "cook").await, (30, 0));
            bus.publish(page_stored(run_id));
            wait_until_drained(&conn).await;
            assert_eq!(matches(&conn, "chef").await, (0, 0));
            assert_eq!(matches(&conn, "cook").await, (30, 30));

            // Unchanged postings queue nothing.
            store_page(&conn, "Cook").await;
            assert_eq!(queued(&conn).await.unwrap(), 0);

            stop.cancel();
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("stops when told")
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_refresh_takes_at_most_its_batch_and_skips_rows_a_writer_holds() {
        let Some(db) = testkit::postgres_only("search_refresh").await else {
            return; // The SQLite half of this module is tested above.
        };
        let conn = db.conn.clone();
        store_page(&conn, "Chef").await;
        assert_eq!(refresh(&conn, 10).await.unwrap(), 10);
        assert_eq!(queued(&conn).await.unwrap(), 20);
        assert_eq!(refresh_all(&conn).await.unwrap(), 20);
        assert_eq!(matches(&conn, "chef").await, (30, 30));

        // A posting re-worded and queued; then a writer re-words it again and has not committed:
        // the writer holds its queue row, so a refresh (whose snapshot cannot see the newest
        // title) leaves it queued rather than indexing a title about to be replaced and
        // forgetting the change.
        let reword = |title: &str| {
            format!(
                "UPDATE job_postings SET title = '{title}', description_text = '{title} number 7' \
                 WHERE external_id = 'race-7'"
            )
        };
        conn.execute_unprepared(&reword("Baker")).await.unwrap();
        assert_eq!(queued(&conn).await.unwrap(), 1);
        let writer = conn.begin().await.unwrap();
        writer.execute_unprepared(&reword("Butcher")).await.unwrap();
        assert_eq!(refresh_all(&conn).await.unwrap(), 0);
        assert_eq!(matches(&conn, "baker").await, (1, 0));
        writer.commit().await.unwrap();
        assert_eq!(matches(&conn, "baker").await, (0, 0));
        assert_eq!(matches(&conn, "butcher").await, (1, 0));
        assert_eq!(refresh_all(&conn).await.unwrap(), 1);
        assert_eq!(matches(&conn, "butcher").await, (1, 1));
        assert_eq!(matches(&conn, "chef").await, (29, 29));
    }
}

//! Database migrations for jobintel, applied at start-up and by `jobintel migrate`.
//!
//! Every migration must produce the same logical schema on SQLite and PostgreSQL, and
//! re-running the migrator is a no-op (sea-orm-migration records applied migrations in
//! `seaql_migrations`). Add new migrations; never edit one that has shipped.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;
mod m20261127_000002_search;
mod m20261127_000003_scheduler;
mod m20261130_000004_faster_upsert;
mod m20261130_000005_sqlite_day_index;
mod m20261130_000006_search_queue;
mod m20261206_000007_descriptions_truncated;
mod m20261206_000008_console;
mod m20261206_000009_posting_history;
mod m20261206_000010_trends;
mod m20261206_000011_saved_searches;
mod m20261206_000012_clusters;
mod m20261207_000013_stats_by_source;
mod m20261207_000014_cluster_covering;
mod m20261207_000016_trigram;
mod m20261207_000017_simhash_distance;
mod m20261207_000018_cluster_hash;

pub struct Migrator;

/// PostgreSQL: create the trigram indexes of migration 000016 if any is missing and `pg_trgm`
/// can be had now (installed since, or CREATE granted since): that migration skips them when
/// it cannot, and a migration never runs twice. A no-op when all four exist, and on SQLite
/// (whose trigram table 000016 always creates). Run at start-up after the migrations, under
/// the same lock, in a savepoint: an error (say, a role that does not own `job_postings`)
/// leaves the caller's transaction usable, and is the caller's to log — the indexes only make
/// substring filters faster.
pub async fn ensure_trigram_indexes<C>(db: &C) -> Result<(), DbErr>
where
    C: sea_orm_migration::sea_orm::ConnectionTrait + sea_orm_migration::sea_orm::TransactionTrait,
{
    use sea_orm_migration::sea_orm::{DbBackend, Statement, TransactionSession};
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let present = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM pg_indexes WHERE schemaname = current_schema() \
             AND indexname IN ('idx_job_postings_title_trgm', 'idx_job_postings_location_raw_trgm', \
             'idx_job_postings_city_trgm', 'idx_job_postings_region_trgm')",
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    if present < 4 {
        let savepoint = db.begin().await?;
        match savepoint
            .execute_unprepared(m20261207_000016_trigram::POSTGRES_UP)
            .await
        {
            Ok(_) => savepoint.commit().await?,
            Err(e) => {
                savepoint.rollback().await?;
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Run each statement in order.
pub(crate) async fn run_all(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

/// Run `statements` on SQLite; other backends have nothing to do.
pub(crate) async fn sqlite_only(
    manager: &SchemaManager<'_>,
    statements: &[&str],
) -> Result<(), DbErr> {
    only_on(
        manager,
        sea_orm_migration::sea_orm::DbBackend::Sqlite,
        statements,
    )
    .await
}

/// Run `statements` on PostgreSQL; other backends have nothing to do.
pub(crate) async fn postgres_only(
    manager: &SchemaManager<'_>,
    statements: &[&str],
) -> Result<(), DbErr> {
    only_on(
        manager,
        sea_orm_migration::sea_orm::DbBackend::Postgres,
        statements,
    )
    .await
}

async fn only_on(
    manager: &SchemaManager<'_>,
    backend: sea_orm_migration::sea_orm::DbBackend,
    statements: &[&str],
) -> Result<(), DbErr> {
    if manager.get_database_backend() == backend {
        run_all(manager, statements).await
    } else {
        Ok(())
    }
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_tables::Migration),
            Box::new(m20261127_000002_search::Migration),
            Box::new(m20261127_000003_scheduler::Migration),
            Box::new(m20261130_000004_faster_upsert::Migration),
            Box::new(m20261130_000005_sqlite_day_index::Migration),
            Box::new(m20261130_000006_search_queue::Migration),
            Box::new(m20261206_000007_descriptions_truncated::Migration),
            Box::new(m20261206_000008_console::Migration),
            Box::new(m20261206_000009_posting_history::Migration),
            Box::new(m20261206_000010_trends::Migration),
            Box::new(m20261206_000011_saved_searches::Migration),
            Box::new(m20261206_000012_clusters::Migration),
            Box::new(m20261207_000013_stats_by_source::Migration),
            Box::new(m20261207_000014_cluster_covering::Migration),
            Box::new(m20261207_000016_trigram::Migration),
            Box::new(m20261207_000017_simhash_distance::Migration),
            Box::new(m20261207_000018_cluster_hash::Migration),
        ]
    }
}

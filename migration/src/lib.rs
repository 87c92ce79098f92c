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

pub struct Migrator;

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
    match manager.get_database_backend() {
        sea_orm_migration::sea_orm::DbBackend::Sqlite => run_all(manager, statements).await,
        _ => Ok(()),
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
        ]
    }
}

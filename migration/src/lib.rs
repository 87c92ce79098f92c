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

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_tables::Migration),
            Box::new(m20261127_000002_search::Migration),
            Box::new(m20261127_000003_scheduler::Migration),
            Box::new(m20261130_000004_faster_upsert::Migration),
            Box::new(m20261130_000005_sqlite_day_index::Migration),
        ]
    }
}

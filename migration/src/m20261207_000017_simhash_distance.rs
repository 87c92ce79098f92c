//! PostgreSQL: `simhash_distance(a, b)`, the bits in which two SimHashes differ (issue #15,
//! ingest overhead).
//!
//! The cluster candidate lookup (`ingest::store::cluster::candidates`) compares each stored
//! candidate's SimHash with the new posting's in the server and returns only the near ones:
//! sending every candidate row (hundreds per page) to be compared in Rust cost more than the
//! lookup. `bit_count` exists from PostgreSQL 14 on; older servers count the '1's of the bit
//! string (slower, same answer). Both bodies are one immutable SQL expression, which the
//! planner inlines into the query. SQLite compares in Rust and needs nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        CREATE OR REPLACE FUNCTION simhash_distance(a BIGINT, b BIGINT) RETURNS BIGINT
            LANGUAGE SQL IMMUTABLE PARALLEL SAFE
            AS 'SELECT bit_count(CAST(a # b AS BIT(64)))';
    ELSE
        CREATE OR REPLACE FUNCTION simhash_distance(a BIGINT, b BIGINT) RETURNS BIGINT
            LANGUAGE SQL IMMUTABLE PARALLEL SAFE
            AS 'SELECT CAST(length(replace(CAST(CAST(a # b AS BIT(64)) AS TEXT), ''0'', '''')) AS BIGINT)';
    END IF;
END
$$
"#;

const DOWN: &str = "DROP FUNCTION IF EXISTS simhash_distance(BIGINT, BIGINT)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared(UP).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared(DOWN).await?;
        }
        Ok(())
    }
}

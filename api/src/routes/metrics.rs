//! `GET /metrics`: Prometheus text format.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

use crate::metrics::Gauges;
use crate::state::AppState;

pub async fn get(State(state): State<AppState>) -> impl IntoResponse {
    let mut gauges = pool_gauges(&state.db);
    gauges.pool_max = state.pool_max;
    gauges.response_cache = state.schema.response_cache().stats();
    gauges.aggregate_cache = state.api.aggregates.stats();
    match tokio::time::timeout(Duration::from_secs(3), runs_by_status(&state.db)).await {
        Ok(Ok(rows)) => {
            gauges.runs_by_status = rows;
            gauges.database_up = true;
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: counting runs failed"),
        Err(_) => tracing::warn!("metrics: database did not answer within 3 s"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&gauges),
    )
}

fn pool_gauges(db: &DatabaseConnection) -> Gauges {
    let (size, idle) = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (p.size(), p.num_idle() as u32)
        }
        DatabaseBackend::Sqlite => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), p.num_idle() as u32)
        }
        _ => (0, 0),
    };
    Gauges {
        pool_size: size,
        pool_idle: idle,
        ..Gauges::default()
    }
}

async fn runs_by_status(db: &DatabaseConnection) -> Result<Vec<(String, i64)>, sea_orm::DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT status, COUNT(*) AS n FROM ingest_runs GROUP BY status ORDER BY status",
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String>("", "status")?,
                r.try_get::<i64>("", "n")?,
            ))
        })
        .collect()
}

//! `GET /health`: 200 with a JSON report, or 503 when the database is unreachable.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::service::health;
use crate::state::AppState;

pub async fn get(State(state): State<AppState>) -> impl IntoResponse {
    let report = health::check(&state.db).await;
    let status = if report.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

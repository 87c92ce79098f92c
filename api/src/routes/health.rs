//! `GET /health`: 200 with a JSON report, or 503 when the database is unreachable; `GET
//! /api/health`: the same check in the old .NET API's shape.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::service::health::{self, LegacyHealthReport};
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

pub async fn get_legacy(State(state): State<AppState>) -> impl IntoResponse {
    let report = health::check(&state.db).await;
    let status = if report.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(LegacyHealthReport::from(&report)))
}

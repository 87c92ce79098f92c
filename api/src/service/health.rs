//! What `/health` and the GraphQL `health` query report.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{Source, job_posting};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use serde::Serialize;

/// A health report. Field names are the `/health` JSON contract.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// `ok`, or `unavailable` when the database does not answer.
    pub status: &'static str,
    pub version: &'static str,
    pub timestamp: DateTime<Utc>,
    /// `connected` or `unreachable`.
    pub database: &'static str,
    /// Postings stored; `null` when the database is unreachable.
    pub job_count: Option<u64>,
    /// The sources this build can ingest.
    pub sources: Vec<&'static str>,
    /// `sources` again, under the name the old system's health report gave them.
    pub platforms: Vec<&'static str>,
}

impl HealthReport {
    pub fn is_healthy(&self) -> bool {
        self.database == "connected"
    }
}

/// Check the database with a short timeout so a hung database can't hang the health check.
pub async fn check(db: &DatabaseConnection) -> HealthReport {
    let count = tokio::time::timeout(
        Duration::from_secs(3),
        job_posting::Entity::find().count(db),
    )
    .await;
    let job_count = match count {
        Ok(Ok(n)) => Some(n),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: database query failed");
            None
        }
        Err(_) => {
            tracing::warn!("health check: database did not answer within 3 s");
            None
        }
    };
    HealthReport {
        status: if job_count.is_some() {
            "ok"
        } else {
            "unavailable"
        },
        version: env!("CARGO_PKG_VERSION"),
        timestamp: Utc::now(),
        database: if job_count.is_some() {
            "connected"
        } else {
            "unreachable"
        },
        job_count,
        sources: scraped_sources(),
        platforms: scraped_sources(),
    }
}

/// The sources runs and schedules can use (not the import-only ones).
fn scraped_sources() -> Vec<&'static str> {
    Source::ALL
        .iter()
        .filter(|s| !ingest::sources::is_import_only(**s))
        .map(|s| s.as_str())
        .collect()
}

/// `GET /api/health` as the old .NET API answered it, for probes and monitors that still
/// call it: `healthy`/`unhealthy`, `connected`/`disconnected`. Field names are that contract.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyHealthReport {
    pub status: &'static str,
    pub timestamp: DateTime<Utc>,
    pub database: &'static str,
    pub job_count: Option<u64>,
}

impl From<&HealthReport> for LegacyHealthReport {
    fn from(r: &HealthReport) -> Self {
        let healthy = r.is_healthy();
        LegacyHealthReport {
            status: if healthy { "healthy" } else { "unhealthy" },
            timestamp: r.timestamp,
            database: if healthy { "connected" } else { "disconnected" },
            job_count: r.job_count,
        }
    }
}

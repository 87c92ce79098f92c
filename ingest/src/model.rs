//! Domain types shared by sources, the normaliser, the run engine and the API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use entity::{SalaryPeriod, SalarySource, Source, WorkArrangement, WorkType};

/// What a run asks a source for. Stored as `ingest_runs.params` (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchParams {
    /// Search words (SEEK, Indeed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keywords: Option<String>,
    /// Where (SEEK `where`, Indeed `l`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The board token / site / career page URL (Greenhouse, Lever, Ashby, JSON-LD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Upper bound on result pages fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pages: Option<u32>,
    /// ISO country code for country-specific sites (`au`, `nz`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A salary as normalised from structured fields or parsed from text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Salary {
    /// The text as shown by the source (kept even when nothing could be parsed from it).
    pub text: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// ISO 4217.
    pub currency: Option<String>,
    pub period: Option<SalaryPeriod>,
    pub source: Option<SalarySource>,
    pub annual_min: Option<f64>,
    pub annual_max: Option<f64>,
}

impl Salary {
    /// Only the raw text, nothing parsed.
    pub fn text_only(text: impl Into<String>) -> Self {
        Salary {
            text: Some(text.into()),
            ..Salary::default()
        }
    }
}

/// City / region / country derived from a raw location string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub raw: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
}

/// One posting as a source returns it, normalised and ready to upsert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizedPosting {
    pub source: Source,
    pub external_id: String,
    pub url: String,
    pub apply_url: Option<String>,
    pub title: String,
    pub company: Option<String>,
    pub company_external_id: Option<String>,
    pub location: Location,
    pub work_type: Option<WorkType>,
    pub work_arrangement: WorkArrangement,
    pub salary: Salary,
    /// Sanitised HTML.
    pub description_html: Option<String>,
    pub description_text: Option<String>,
    pub classification: Option<String>,
    pub posted_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The source's JSON for this posting.
    pub raw: serde_json::Value,
}

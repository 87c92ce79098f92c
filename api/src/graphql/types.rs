//! GraphQL object and enum types. Enums mirror the stored vocabularies in `entity`.

use async_graphql::{ComplexObject, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::job_posting;

use super::ids;
use crate::service::health::HealthReport;

/// Where a posting came from.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::Source")]
pub enum Source {
    /// SEEK (Australia and New Zealand).
    Seek,
    /// Indeed.
    Indeed,
    /// A Greenhouse job board.
    Greenhouse,
    /// A Lever job board.
    Lever,
    /// An Ashby job board.
    Ashby,
    /// schema.org `JobPosting` JSON-LD on any career page.
    Jsonld,
}

/// Employment type.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::WorkType")]
pub enum WorkType {
    FullTime,
    PartTime,
    Contract,
    Casual,
    Internship,
    Temporary,
    Other,
}

/// Where the work happens.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::WorkArrangement")]
pub enum WorkArrangement {
    OnSite,
    Hybrid,
    Remote,
    Unknown,
}

/// The period a salary figure is quoted per.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::SalaryPeriod")]
pub enum SalaryPeriod {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// Where salary numbers came from.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::SalarySource")]
pub enum SalarySource {
    /// The source's structured salary fields.
    Structured,
    /// Parsed from the salary text.
    Parsed,
}

/// A salary as advertised, with numbers normalised where they could be derived.
#[derive(SimpleObject, Debug, Clone)]
pub struct Salary {
    /// The text as the source showed it.
    pub text: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// ISO 4217 currency code.
    pub currency: Option<String>,
    pub period: Option<SalaryPeriod>,
    /// `min` as a yearly amount (hours basis: 7.6 h × 5 × 52 for AUD/NZD, 40 h × 52 otherwise).
    pub annual_min: Option<f64>,
    /// `max` as a yearly amount.
    pub annual_max: Option<f64>,
    pub source: Option<SalarySource>,
}

/// Service health, as reported by `GET /health`.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Health {
    /// `ok`, or `unavailable` when the database does not answer.
    pub status: String,
    /// jobintel's version.
    pub version: String,
    pub timestamp: DateTime<Utc>,
    /// `connected` or `unreachable`.
    pub database: String,
    /// Postings stored (`null` when the database is unreachable).
    pub job_count: Option<u64>,
}

#[ComplexObject]
impl Health {
    /// The sources this build can ingest.
    async fn sources(&self) -> Vec<Source> {
        entity::Source::ALL.iter().map(|s| (*s).into()).collect()
    }
}

impl From<HealthReport> for Health {
    fn from(r: HealthReport) -> Self {
        Health {
            status: r.status.to_owned(),
            version: r.version.to_owned(),
            timestamp: r.timestamp,
            database: r.database.to_owned(),
            job_count: r.job_count,
        }
    }
}

/// One job posting, as last seen at its source.
pub struct JobPosting(pub job_posting::Model);

#[Object]
impl JobPosting {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        ID(ids::encode("JobPosting", self.0.id))
    }
    /// The numeric database id (stable; useful in logs and URLs).
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn source(&self) -> Source {
        self.0.source.into()
    }
    /// The source's own id for this posting.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }
    /// The posting's page at the source.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// Where to apply, when it differs from `url`.
    async fn apply_url(&self) -> Option<&str> {
        self.0.apply_url.as_deref()
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn company(&self) -> Option<&str> {
        self.0.company.as_deref()
    }
    /// The source's id for the company (advertiser id, board token, …).
    async fn company_external_id(&self) -> Option<&str> {
        self.0.company_external_id.as_deref()
    }
    /// The location as the source wrote it.
    async fn location_raw(&self) -> Option<&str> {
        self.0.location_raw.as_deref()
    }
    async fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }
    /// State or region.
    async fn region(&self) -> Option<&str> {
        self.0.region.as_deref()
    }
    /// ISO 3166-1 alpha-2 country code.
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }
    async fn work_type(&self) -> Option<WorkType> {
        self.0.work_type.map(Into::into)
    }
    async fn work_arrangement(&self) -> WorkArrangement {
        self.0.work_arrangement.into()
    }
    /// The advertised salary; `null` when the source gave none.
    async fn salary(&self) -> Option<Salary> {
        let m = &self.0;
        if m.salary_text.is_none() && m.salary_min.is_none() && m.salary_max.is_none() {
            return None;
        }
        Some(Salary {
            text: m.salary_text.clone(),
            min: m.salary_min,
            max: m.salary_max,
            currency: m.salary_currency.clone(),
            period: m.salary_period.map(Into::into),
            annual_min: m.salary_annual_min,
            annual_max: m.salary_annual_max,
            source: m.salary_source.map(Into::into),
        })
    }
    /// Sanitised HTML description.
    async fn description_html(&self) -> Option<&str> {
        self.0.description_html.as_deref()
    }
    /// Plain-text description.
    async fn description_text(&self) -> Option<&str> {
        self.0.description_text.as_deref()
    }
    /// The source's category (SEEK classification, ATS department).
    async fn classification(&self) -> Option<&str> {
        self.0.classification.as_deref()
    }
    /// When the source says it was posted.
    async fn posted_at(&self) -> Option<DateTime<Utc>> {
        self.0.posted_at
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    /// When jobintel first saw it.
    async fn first_seen_at(&self) -> DateTime<Utc> {
        self.0.first_seen_at
    }
    /// When jobintel last saw it at its source.
    async fn last_seen_at(&self) -> DateTime<Utc> {
        self.0.last_seen_at
    }
    /// When jobintel decided it is no longer advertised.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }
    /// Whether it is still advertised (`closedAt` is null).
    async fn is_open(&self) -> bool {
        self.0.closed_at.is_none()
    }
    /// Hash over the fields that matter; changes when the posting's content changes.
    async fn content_hash(&self) -> &str {
        &self.0.content_hash
    }
    /// The source's JSON for this posting, as fetched.
    async fn raw(&self) -> Option<&serde_json::Value> {
        self.0.raw.as_ref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

//! GraphQL object and enum types. Enums mirror the stored vocabularies in `entity`.
//!
//! Also here: the `JobPosting` object (with its runs loaded through [`super::loaders`]), the
//! postings connection, and `SourceInfo` (what each source accepts, for building forms).

use async_graphql::connection::PageInfo;
use async_graphql::{ComplexObject, Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::job_posting;

use super::ids;
use super::loaders::Loaders;
use super::plain::{EdgesOut, NodesOut, PostingOut};
use super::runs::IngestRun;
use crate::service::filter::PostingFilter;
use crate::service::health::HealthReport;

/// Where a posting came from (defined once, with the entity; see `ingest::sources::registry`).
pub use entity::Source;

/// Employment type.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::WorkType")]
pub enum WorkType {
    /// Permanent full-time.
    FullTime,
    /// Permanent part-time.
    PartTime,
    /// Fixed-term contract.
    Contract,
    /// Casual (paid by the hour, no guaranteed hours).
    Casual,
    /// Internship or graduate placement.
    Internship,
    /// Temporary role.
    Temporary,
    /// Anything the source names differently.
    Other,
}

/// Where the work happens.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::WorkArrangement")]
pub enum WorkArrangement {
    /// At the employer's site.
    OnSite,
    /// Partly remote.
    Hybrid,
    /// Fully remote.
    Remote,
    /// The source does not say.
    Unknown,
}

/// The period a salary figure is quoted per.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::SalaryPeriod")]
pub enum SalaryPeriod {
    /// Per hour.
    Hour,
    /// Per day.
    Day,
    /// Per week.
    Week,
    /// Per month.
    Month,
    /// Per year.
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
// `serial`: plain values resolve faster one after another than through a FuturesUnordered.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(serial)]
pub struct Salary {
    /// The text as the source showed it.
    pub text: Option<String>,
    /// Lower figure, per `period`.
    pub min: Option<f64>,
    /// Upper figure, per `period`.
    pub max: Option<f64>,
    /// ISO 4217 currency code.
    pub currency: Option<String>,
    /// What `min` and `max` are quoted per.
    pub period: Option<SalaryPeriod>,
    /// `min` as a yearly amount (hours basis: 7.6 h × 5 × 52 for AUD/NZD, 40 h × 52 otherwise).
    pub annual_min: Option<f64>,
    /// `max` as a yearly amount.
    pub annual_max: Option<f64>,
    /// Whether the numbers came from structured fields or were parsed from the text.
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
    /// When this report was made.
    pub timestamp: DateTime<Utc>,
    /// `connected` or `unreachable`.
    pub database: String,
    /// Postings stored (`null` when the database is unreachable).
    pub job_count: Option<u64>,
}

#[ComplexObject]
impl Health {
    /// Every source a posting can have: the ones this build scrapes (see `Query.sources`) and
    /// the import-only ones (`jobintel import`).
    async fn sources(&self) -> Vec<Source> {
        entity::Source::ALL.to_vec()
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

/// One job posting, as last seen at its source.
// `serial`: nearly every field is a plain value, and resolving ~15 fields per posting through a
// FuturesUnordered cost ~5 % of the CPU of a page. The runs (firstRun/lastRun) still batch: the
// connection primes the DataLoader with every run of the page before any posting resolves.
// The database-backed fields below await their work behind `Box::pin`: async-graphql
// resolves each selected field through one `resolve_field` future, as large as the largest
// field's, moved into place for every field of every posting. Unboxed, the history, cluster
// and run loaders made every `title` a large copy: that copy was 2.4 % of the CPU of an
// uncached page of 20 (perf, the peer benchmark's "newest 20"), 0.7 % boxed.
#[Object(serial)]
impl JobPosting {
    /// Opaque global ID.
    pub async fn id(&self) -> ID {
        ID(ids::encode("JobPosting", self.0.id))
    }
    /// The numeric database id (stable; useful in logs and URLs).
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    /// Where it came from.
    async fn source(&self) -> Source {
        self.0.source
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
    /// The job title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The employer, as the source names it.
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
    /// City, when the location could be parsed.
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
    /// Employment type, when the source says.
    async fn work_type(&self) -> Option<WorkType> {
        self.0.work_type.map(Into::into)
    }
    /// On-site, hybrid or remote.
    async fn work_arrangement(&self) -> WorkArrangement {
        self.0.work_arrangement.into()
    }
    /// The advertised salary; `null` when the source gave none.
    async fn salary(&self) -> Option<Salary> {
        self.salary_value()
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
    /// When the source says the ad closes.
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
    /// When the row was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the row last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The ingest run that first found it (`null` once that run has been deleted).
    async fn first_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        Box::pin(load_run(ctx, self.0.first_run_id)).await
    }
    /// The ingest run that last saw it at its source.
    async fn last_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        Box::pin(load_run(ctx, self.0.last_run_id)).await
    }
    /// How it changed, newest first: tracked fields that changed (title, company, location,
    /// salary, work type and arrangement, description), closing and reopening, each with the
    /// run that saw it. In `jobPostingUpdated`, `history(first: 1)` is the change just stored.
    /// Kept JOBINTEL_HISTORY_RETENTION_DAYS, at most JOBINTEL_HISTORY_PER_POSTING entries.
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge of the previous page.")] after: Option<String>,
    ) -> Result<super::history::PostingChangeConnection> {
        Box::pin(super::history::page(ctx, self.0.id, first, after)).await
    }
    /// The same job on other boards: this posting's cluster (size 1 when it is alone). A page of
    /// postings loads every cluster it needs in one query.
    async fn cluster(&self, ctx: &Context<'_>) -> Result<super::clusters::PostingCluster> {
        Box::pin(super::clusters::load(ctx, self.0.id, self.0.cluster_id)).await
    }
}

impl JobPosting {
    /// `salary`: `None` when the source gave none.
    pub(crate) fn salary_value(&self) -> Option<Salary> {
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
}

async fn load_run(ctx: &Context<'_>, id: Option<i64>) -> Result<Option<IngestRun>> {
    let Some(id) = id else {
        return Ok(None);
    };
    let loaders = ctx.data::<Loaders>()?;
    Ok(loaders.runs.load_one(id).await?.map(IngestRun))
}

/// A page of job postings (a Relay connection).
pub struct JobPostingConnection {
    pub edges: Vec<JobPostingEdge>,
    pub page_info: PageInfo,
    /// What `totalCount` counts.
    pub filter: PostingFilter,
}

/// A page of job postings (a Relay connection).
#[Object]
impl JobPostingConnection {
    /// The postings of this page with their cursors.
    async fn edges(&self) -> EdgesOut<'_> {
        EdgesOut(&self.edges)
    }
    /// The postings of this page (the edges' nodes, without cursors).
    async fn nodes(&self) -> NodesOut<'_> {
        NodesOut(&self.edges)
    }
    /// Cursors of the first and last edge, and whether more pages exist.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
    /// How many postings match the filter in all (counted only when this field is selected).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        let api = ctx.data_unchecked::<super::ApiContext>();
        Ok(Box::pin(api.aggregates.count(&api.db, &self.filter)).await?)
    }
}

/// One posting in a connection, with the cursor to paginate from it.
pub struct JobPostingEdge {
    pub cursor: String,
    pub node: JobPosting,
}

/// One posting in a connection, with the cursor to paginate from it.
#[Object(serial)]
impl JobPostingEdge {
    /// Opaque cursor: pass it as `after` (or `before`) to continue from this posting.
    async fn cursor(&self) -> &str {
        &self.cursor
    }
    /// The posting.
    async fn node(&self) -> PostingOut<&JobPosting> {
        PostingOut(&self.node)
    }
}

/// A parameter a source accepts when starting an ingest run.
#[derive(SimpleObject, Debug, Clone)]
pub struct SourceParam {
    /// Name in `params` (`keywords`, `location`, `target`, `maxPages`, `country`).
    pub name: String,
    /// What it means for this source.
    pub description: String,
    /// Whether a run is refused without it.
    pub required: bool,
    /// The only accepted values, when the set is closed.
    pub allowed_values: Option<Vec<String>>,
}

/// A source jobintel can ingest from, and what a run on it needs (to build forms).
#[derive(SimpleObject, Debug, Clone)]
pub struct SourceInfo {
    /// The value to pass as `source`.
    pub source: Source,
    /// Human-readable name.
    pub name: String,
    /// What it ingests.
    pub description: String,
    /// Every parameter it accepts.
    pub params: Vec<SourceParam>,
    /// At least one of these parameters must be given (empty when there is no such rule).
    pub requires_one_of: Vec<String>,
    /// Where it is fetched from unless the operator overrides it; `null` when the `target` URL
    /// is fetched directly.
    pub default_base_url: Option<String>,
    /// The environment variable that overrides the base URL.
    pub base_url_variable: Option<String>,
    /// How a posting's `externalId` is formed on this source (stable across runs).
    pub id_scheme: String,
}

impl SourceInfo {
    /// Every registered source, as `ingest::sources::registry` describes it.
    pub fn all() -> Vec<SourceInfo> {
        ingest::sources::all()
            .map(|imp| {
                let spec = imp.spec();
                SourceInfo {
                    source: spec.source,
                    name: spec.name.to_owned(),
                    description: spec.description.to_owned(),
                    params: spec
                        .params
                        .iter()
                        .map(|p| SourceParam {
                            name: p.name.to_owned(),
                            description: p.description.to_owned(),
                            required: p.required,
                            allowed_values: (!p.allowed_values.is_empty()).then(|| {
                                p.allowed_values.iter().map(|v| (*v).to_owned()).collect()
                            }),
                        })
                        .collect(),
                    requires_one_of: spec
                        .requires_one_of
                        .iter()
                        .map(|n| (*n).to_owned())
                        .collect(),
                    default_base_url: spec.default_base_url.map(str::to_owned),
                    base_url_variable: spec.base_url_variable(),
                    id_scheme: spec.id_scheme.to_owned(),
                }
            })
            .collect()
    }
}

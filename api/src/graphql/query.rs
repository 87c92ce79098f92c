//! Query root for postings: `jobPostings` (search, filter, order, paginate), `jobPosting`,
//! `node`, `jobStats` and `sources`. Resolvers are thin: validate arguments, call the service
//! layer, wrap results.

use std::collections::HashSet;

use async_graphql::connection::PageInfo;
use async_graphql::{Context, ID, Lookahead, Object, Result};

use super::auth::require_reader;
use super::filter::{JobPostingFilter, JobPostingOrder};
use super::limits::PageArgs;
use super::loaders::Loaders;
use super::node::{self, Node};
use super::plain::PostingOut;
use super::stats::JobStats;
use super::types::{Health, JobPosting, JobPostingConnection, JobPostingEdge, SourceInfo};
use super::{ApiContext, ids};
use crate::service::{self, postings::Columns, postings::PageRequest, postings::Position};

#[derive(Default)]
pub struct PostingQuery;

/// The columns a selection of `JobPosting` fields needs (the rest are not read). A field this
/// table doesn't know (added later, or another type's in a `node` fragment) reads everything.
pub fn wanted_columns(posting: &Lookahead<'_>) -> Columns {
    use entity::job_posting::Column as C;
    let mut cols = Columns::id_only();
    for field in posting.selection_fields() {
        for f in field.selection_set() {
            let add: &[C] = match f.name() {
                "id" | "databaseId" | "__typename" => &[],
                "source" => &[C::Source],
                "externalId" => &[C::ExternalId],
                "url" => &[C::Url],
                "applyUrl" => &[C::ApplyUrl],
                "title" => &[C::Title],
                "company" => &[C::Company],
                "companyExternalId" => &[C::CompanyExternalId],
                "locationRaw" => &[C::LocationRaw],
                "city" => &[C::City],
                "region" => &[C::Region],
                "country" => &[C::Country],
                "workType" => &[C::WorkType],
                "workArrangement" => &[C::WorkArrangement],
                "salary" => &[
                    C::SalaryText,
                    C::SalaryMin,
                    C::SalaryMax,
                    C::SalaryCurrency,
                    C::SalaryPeriod,
                    C::SalaryAnnualMin,
                    C::SalaryAnnualMax,
                    C::SalarySource,
                ],
                "descriptionHtml" => &[C::DescriptionHtml],
                "descriptionText" => &[C::DescriptionText],
                "classification" => &[C::Classification],
                "postedAt" => &[C::PostedAt],
                "expiresAt" => &[C::ExpiresAt],
                "firstSeenAt" => &[C::FirstSeenAt],
                "lastSeenAt" => &[C::LastSeenAt],
                "closedAt" | "isOpen" => &[C::ClosedAt],
                "contentHash" => &[C::ContentHash],
                "raw" => &[C::Raw],
                "createdAt" => &[C::CreatedAt],
                "updatedAt" => &[C::UpdatedAt],
                "firstRun" => &[C::FirstRunId],
                "lastRun" => &[C::LastRunId],
                "cluster" => &[C::ClusterId],
                _ => return Columns::ALL,
            };
            for c in add {
                cols = cols.with(*c);
            }
        }
    }
    cols
}

/// A page of postings for a connection field (`jobPostings`, `IngestRun.postings`);
/// `run_id` restricts it to one run's postings.
pub async fn posting_connection(
    ctx: &Context<'_>,
    filter: Option<JobPostingFilter>,
    order_by: Option<JobPostingOrder>,
    args: PageArgs,
    run_id: Option<i64>,
) -> Result<JobPostingConnection> {
    require_reader(ctx)?;
    let api = ctx.data_unchecked::<ApiContext>();
    let (limit, backward, cursor) = args.resolve()?;
    let mut filter = filter.unwrap_or_default().to_service()?;
    filter.run_ids.extend(run_id);
    let order = JobPostingOrder::to_service(order_by);
    let cursor = cursor.map(|c| Position::decode(c, order)).transpose()?;
    let look = ctx.look_ahead();
    let columns = wanted_columns(&look.field("edges").field("node"))
        .union(wanted_columns(&look.field("nodes")));

    // A request for `totalCount` alone (a badge, a tab's count) needs no page: the page query
    // would cost as much as the count again.
    let wants_page = look.field("edges").exists()
        || look.field("nodes").exists()
        || look.field("pageInfo").exists();
    let page = if limit == 0 || !wants_page {
        service::postings::Page {
            rows: Vec::new(),
            has_more: false,
        }
    } else {
        service::postings::page(
            &api.reader,
            PageRequest {
                filter: &filter,
                order,
                cursor: cursor.clone(),
                backward,
                limit,
                columns,
            },
        )
        .await?
    };
    // Load every run the page refers to in one statement, before the fields ask one by one.
    let wants_runs = [look.field("edges").field("node"), look.field("nodes")]
        .iter()
        .any(|n| n.field("firstRun").exists() || n.field("lastRun").exists());
    if wants_runs && let Ok(loaders) = ctx.data::<Loaders>() {
        let ids: HashSet<i64> = page
            .rows
            .iter()
            .flat_map(|(m, _)| [m.first_run_id, m.last_run_id])
            .flatten()
            .collect();
        loaders.runs.load_many(ids).await?;
    }
    // The same for each posting's first history page.
    let ids: Vec<i64> = page.rows.iter().map(|(m, _)| m.id).collect();
    for node in [look.field("edges").field("node"), look.field("nodes")] {
        super::history::prime(ctx, &node, &ids).await?;
    }
    let edges: Vec<JobPostingEdge> = page
        .rows
        .into_iter()
        .map(|(m, pos)| JobPostingEdge {
            cursor: pos.encode(),
            node: JobPosting(m),
        })
        .collect();
    // Relay: the side we walked from reports whether a cursor was given (a row exists there);
    // the side we walked towards reports whether more rows were found.
    let (has_previous_page, has_next_page) = if backward {
        (page.has_more, cursor.is_some())
    } else {
        (cursor.is_some(), page.has_more)
    };
    Ok(JobPostingConnection {
        page_info: PageInfo {
            has_previous_page,
            has_next_page,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        },
        edges,
        filter,
    })
}

#[Object]
impl PostingQuery {
    /// Service health: database reachability and how many postings are stored.
    async fn health(&self, ctx: &Context<'_>) -> Health {
        let api = ctx.data_unchecked::<ApiContext>();
        service::health::check(&api.db).await.into()
    }

    /// Any object by its global ID (Relay): a `JobPosting`, an `IngestRun` or a `Schedule`.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        require_reader(ctx)?;
        Ok(node::load(ctx, &id).await?)
    }

    /// One posting by its ID (a bare database id works too).
    async fn job_posting(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<PostingOut<JobPosting>>> {
        require_reader(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let id = ids::decode("JobPosting", &id)?;
        let columns = wanted_columns(&ctx.look_ahead());
        Ok(service::postings::get_with(&api.reader, id, columns)
            .await?
            .map(|m| PostingOut(JobPosting(m))))
    }

    /// Postings matching `filter`, in `orderBy` order (default: newest posting first), as a
    /// Relay connection. Keyset-paginated with opaque cursors: pages never skip or repeat
    /// postings while ingests add rows. Page forward with `first`/`after`, backward with
    /// `last`/`before`; pages hold at most 100.
    #[allow(clippy::too_many_arguments)]
    async fn job_postings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which postings (all when omitted).")] filter: Option<JobPostingFilter>,
        #[graphql(desc = "Sort order (default: `{field: POSTED_AT, direction: DESC}`).")]
        order_by: Option<JobPostingOrder>,
        #[graphql(desc = "Page size from the start, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, at most 100.")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first edge of the next page.")] before: Option<String>,
    ) -> Result<JobPostingConnection> {
        posting_connection(
            ctx,
            filter,
            order_by,
            PageArgs {
                first,
                after,
                last,
                before,
            },
            None,
        )
        .await
    }

    /// Aggregates over the postings matching `filter` (all when omitted): totals, counts by
    /// source / work type / arrangement / country, top companies and locations, salary
    /// statistics per currency and postings per day.
    async fn job_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which postings to aggregate.")] filter: Option<JobPostingFilter>,
    ) -> Result<JobStats> {
        require_reader(ctx)?;
        Ok(JobStats::new(filter.unwrap_or_default().to_service()?))
    }

    /// The sources jobintel can ingest from, with the parameters each accepts (for building
    /// forms).
    async fn sources(&self) -> Vec<SourceInfo> {
        SourceInfo::all()
    }
}

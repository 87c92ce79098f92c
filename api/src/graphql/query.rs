//! Query root. Resolvers are thin: validate arguments, call the service layer, wrap results.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Object, Result};

use super::auth::require_reader;
use super::ids;
use super::types::{Health, JobPosting};
use super::{ApiContext, cursor_for_id, id_from_cursor};
use crate::error::ApiError;
use crate::service::{self, postings::MAX_PAGE_SIZE};

#[derive(Default)]
pub struct PostingQuery;

/// Extra fields on the postings connection, computed only when selected.
pub struct PostingConnectionFields;

#[Object]
impl PostingConnectionFields {
    /// Number of postings matching (counted only when this field is selected).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        let api = ctx.data_unchecked::<ApiContext>();
        Ok(service::postings::count_all(&api.db).await?)
    }
}

#[Object]
impl PostingQuery {
    /// Service health: database reachability and how many postings are stored.
    async fn health(&self, ctx: &Context<'_>) -> Health {
        let api = ctx.data_unchecked::<ApiContext>();
        service::health::check(&api.db).await.into()
    }

    /// One posting by its ID.
    async fn job_posting(&self, ctx: &Context<'_>, id: ID) -> Result<Option<JobPosting>> {
        require_reader(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let id = ids::decode("JobPosting", &id)?;
        Ok(service::postings::get(&api.db, id).await?.map(JobPosting))
    }

    /// Postings, most recently ingested first (a Relay connection; `first` ≤ 100).
    async fn job_postings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge of the previous page.")] after: Option<String>,
    ) -> Result<Connection<String, JobPosting, PostingConnectionFields>> {
        require_reader(ctx)?;
        let api = ctx.data_unchecked::<ApiContext>();
        let first = match first {
            None => 20,
            Some(n) if (0..=MAX_PAGE_SIZE as i32).contains(&n) => n as u64,
            Some(n) => {
                return Err(ApiError::bad_input(format!(
                    "`first` must be between 0 and {MAX_PAGE_SIZE}, got {n}"
                ))
                .into());
            }
        };
        let before_id = after.as_deref().map(id_from_cursor).transpose()?;
        let mut rows = service::postings::page_by_id_desc(&api.db, before_id, first).await?;
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let mut conn =
            Connection::with_additional_fields(after.is_some(), has_next, PostingConnectionFields);
        conn.edges.extend(
            rows.into_iter()
                .map(|m| Edge::new(cursor_for_id(m.id), JobPosting(m))),
        );
        Ok(conn)
    }
}

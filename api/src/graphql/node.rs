//! The Relay `Node` interface: any object with a global ID can be fetched back with `node(id)`.

use async_graphql::{Context, ID, Interface};

use super::ApiContext;
use super::ids;
use super::query::wanted_columns;
use super::runs::IngestRun;
use super::schedules::Schedule;
use super::types::JobPosting;
use crate::error::ApiResult;
use crate::service;

/// An object with an opaque global ID, fetchable with `Query.node(id:)`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque global ID."))]
// Built once per `node` query and returned at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Node {
    JobPosting(JobPosting),
    IngestRun(IngestRun),
    Schedule(Schedule),
}

/// The object `gid` names, if it exists. An ID of an unknown type is a user error.
pub async fn load(ctx: &Context<'_>, gid: &ID) -> ApiResult<Option<Node>> {
    let api = ctx.data_unchecked::<ApiContext>();
    let (kind, id) = ids::decode_any(gid)?;
    match kind.as_str() {
        "JobPosting" => {
            Ok(
                service::postings::get_with(&api.db, id, wanted_columns(&ctx.look_ahead()))
                    .await?
                    .map(|m| Node::JobPosting(JobPosting(m))),
            )
        }
        "IngestRun" => Ok(service::runs::get(&api.db, id)
            .await?
            .map(|m| Node::IngestRun(IngestRun(m)))),
        "Schedule" => Ok(service::schedules::get(&api.db, id)
            .await?
            .map(|m| Node::Schedule(Schedule::new(m)))),
        other => Err(crate::error::ApiError::bad_input(format!(
            "`{gid}` is a {other} ID; `node` resolves JobPosting, IngestRun and Schedule IDs",
            gid = gid.as_str()
        ))),
    }
}

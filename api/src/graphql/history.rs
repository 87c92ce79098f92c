//! `JobPosting.history`: what changed in a posting, newest first.

use async_graphql::connection::{
    Connection, ConnectionNameType, Edge, EdgeNameType, EmptyFields, EnableNodesField,
};
use async_graphql::{Context, Enum, ID, Lookahead, Object, OutputType, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::posting_history;

use super::loaders::Loaders;
use super::runs::IngestRun;
use super::schedules::MAX_PAGE;
use super::{ApiContext, cursor_for_id, id_from_cursor};
use crate::error::ApiError;
use crate::service;

/// What a history entry records.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::PostingChangeKind")]
pub enum PostingChangeKind {
    /// Tracked fields changed (see `changes`).
    Changed,
    /// Closed: not seen at its source for the close-after period (JOBINTEL_CLOSE_AFTER_DAYS).
    Closed,
    /// Seen again after it was closed.
    Reopened,
}

/// One tracked field's old and new value.
#[derive(SimpleObject)]
pub struct FieldChange {
    /// `title`, `company`, `location`, `salaryMin`, `salaryMax`, `salaryCurrency`,
    /// `salaryPeriod`, `workType`, `workArrangement` or `descriptionHash` (the first 16 hex
    /// digits of the description text's SHA-256: the text itself is the posting's).
    pub field: String,
    /// The value before (`null` when there was none). Enum values as GraphQL spells them.
    pub from: serde_json::Value,
    /// The value after.
    pub to: serde_json::Value,
}

/// One change of a posting.
pub struct PostingChange(pub posting_history::Model);

#[Object]
impl PostingChange {
    /// The entry's id (grows with time).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> PostingChangeKind {
        self.0.kind.into()
    }
    /// When the change was stored.
    async fn at(&self) -> DateTime<Utc> {
        self.0.changed_at
    }
    /// The numeric id of the run that saw it (none for a closing).
    async fn run_id(&self) -> Option<i64> {
        self.0.run_id
    }
    /// The run that saw it (`null` once housekeeping deleted that run).
    async fn run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        let Some(id) = self.0.run_id else {
            return Ok(None);
        };
        Ok(ctx
            .data::<Loaders>()?
            .runs
            .load_one(id)
            .await?
            .map(IngestRun))
    }
    /// The tracked fields that changed (empty for `CLOSED` / `REOPENED`).
    async fn changes(&self) -> Vec<FieldChange> {
        self.0
            .changes
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|c| FieldChange {
                        field: c["field"].as_str().unwrap_or_default().to_owned(),
                        from: c["from"].clone(),
                        to: c["to"].clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub struct PostingChangeConnectionName;

impl ConnectionNameType for PostingChangeConnectionName {
    fn type_name<T: OutputType>() -> String {
        "PostingChangeConnection".into()
    }
}

pub struct PostingChangeEdgeName;

impl EdgeNameType for PostingChangeEdgeName {
    fn type_name<T: OutputType>() -> String {
        "PostingChangeEdge".into()
    }
}

/// A page of a posting's history, newest first.
pub type PostingChangeConnection = Connection<
    String,
    PostingChange,
    EmptyFields,
    EmptyFields,
    PostingChangeConnectionName,
    PostingChangeEdgeName,
    EnableNodesField,
>;

/// `posting_id`'s history page: `first` (default 20, at most 100) entries older than `after`.
pub async fn page(
    ctx: &Context<'_>,
    posting_id: i64,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PostingChangeConnection> {
    let api = ctx.data_unchecked::<ApiContext>();
    let first = match first {
        None => 20,
        Some(n) if (0..=MAX_PAGE).contains(&n) => n as u64,
        Some(n) => {
            return Err(ApiError::bad_input(format!(
                "`first` must be between 0 and {MAX_PAGE}, got {n}"
            ))
            .into());
        }
    };
    let before_id = after.as_deref().map(id_from_cursor).transpose()?;
    let mut rows = match (before_id, ctx.data::<Loaders>()) {
        // The first page: batched with the other postings' (and primed by the connection).
        (None, Ok(loaders)) => loaders
            .history
            .load_one((posting_id, first + 1))
            .await?
            .unwrap_or_default(),
        _ => service::history::page(&api.db, posting_id, before_id, first).await?,
    };
    let has_next = rows.len() as u64 > first;
    rows.truncate(first as usize);
    let mut conn = PostingChangeConnection::new(after.is_some(), has_next);
    conn.edges.extend(
        rows.into_iter()
            .map(|m| Edge::new(cursor_for_id(m.id), PostingChange(m))),
    );
    Ok(conn)
}

/// Load the first history page of every posting in `ids` in one statement, for each
/// `history` selected under `posting` (a connection's node) without `after`: the fields then
/// find theirs in the loader's cache, so a page of postings costs one history query whatever
/// the timing of the executor (the loader's batching window alone is a race on a busy
/// machine). A `first` out of range is left to the field, which reports it.
pub async fn prime(ctx: &Context<'_>, posting: &Lookahead<'_>, ids: &[i64]) -> Result<()> {
    let Ok(loaders) = ctx.data::<Loaders>() else {
        return Ok(());
    };
    let mut limits = Vec::new();
    for field in posting.field("history").selection_fields() {
        let args = field.arguments()?;
        let arg = |name: &str| {
            args.iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, v)| v)
        };
        if arg("after").is_some_and(|v| *v != async_graphql::Value::Null) {
            continue;
        }
        let first = match arg("first") {
            None | Some(async_graphql::Value::Null) => Some(20),
            Some(async_graphql::Value::Number(n)) => n.as_i64(),
            Some(_) => None,
        };
        if let Some(first) = first.filter(|n| (0..=i64::from(MAX_PAGE)).contains(n)) {
            limits.push(first as u64 + 1);
        }
    }
    limits.sort_unstable();
    limits.dedup();
    for limit in limits {
        loaders
            .history
            .load_many(ids.iter().map(|id| (*id, limit)))
            .await?;
    }
    Ok(())
}

//! `posting_history`: one row per change of a posting (see the migration for the why).

use sea_orm::entity::prelude::*;

use crate::enums::PostingChangeKind;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "posting_history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub posting_id: i64,
    /// The run that stored the change (none for housekeeping's `closed`).
    pub run_id: Option<i64>,
    pub kind: PostingChangeKind,
    /// `[{"field": "title", "from": …, "to": …}, …]` for `changed`; `[]` otherwise.
    pub changes: Json,
    pub changed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::job_posting::Entity",
        from = "Column::PostingId",
        to = "super::job_posting::Column::Id",
        on_delete = "Cascade"
    )]
    Posting,
}

impl ActiveModelBehavior for ActiveModel {}

//! What changed in a posting: the entries of `posting_history`, written in the page's own
//! transaction (a change is never stored without its entry, nor the other way round).
//!
//! Only the fields people follow are tracked — title, company, location, salary (min, max,
//! currency, period), work type and arrangement, and the description (as a hash: the text is
//! in the posting, and a history of 10 KB descriptions would outweigh the postings). A content
//! change elsewhere (a new apply link, raw JSON) updates the posting without an entry.

use chrono::{DateTime, Utc};
use entity::{
    PostingChangeKind, SalaryPeriod, WorkArrangement, WorkType, job_posting, posting_history,
};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use super::IN_CHUNK;

/// A history entry about to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub posting_id: i64,
    pub kind: PostingChangeKind,
    /// `[{"field", "from", "to"}]` (empty unless `Changed`).
    pub changes: Vec<Json>,
}

/// The tracked fields of a stored posting (or of the content about to be stored).
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub(crate) struct Tracked {
    pub id: i64,
    pub title: String,
    pub company: Option<String>,
    pub location_raw: Option<String>,
    pub salary_min: Option<f64>,
    pub salary_max: Option<f64>,
    pub salary_currency: Option<String>,
    pub salary_period: Option<SalaryPeriod>,
    pub work_type: Option<WorkType>,
    pub work_arrangement: WorkArrangement,
    pub description_text: Option<String>,
}

impl Tracked {
    /// The tracked fields of the content `m` (as [`super::content`] builds it) for posting `id`.
    pub fn of_content(id: i64, m: &job_posting::ActiveModel) -> Tracked {
        Tracked {
            id,
            title: m.title.clone().unwrap(),
            company: m.company.clone().unwrap(),
            location_raw: m.location_raw.clone().unwrap(),
            salary_min: m.salary_min.clone().unwrap(),
            salary_max: m.salary_max.clone().unwrap(),
            salary_currency: m.salary_currency.clone().unwrap(),
            salary_period: m.salary_period.clone().unwrap(),
            work_type: m.work_type.clone().unwrap(),
            work_arrangement: m.work_arrangement.clone().unwrap(),
            description_text: m.description_text.clone().unwrap(),
        }
    }
}

/// The stored tracked fields of postings `ids`.
pub(crate) async fn stored(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, Tracked>, DbErr> {
    use job_posting::Column as C;
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let rows = job_posting::Entity::find()
            .select_only()
            .columns([
                C::Id,
                C::Title,
                C::Company,
                C::LocationRaw,
                C::SalaryMin,
                C::SalaryMax,
                C::SalaryCurrency,
                C::SalaryPeriod,
                C::WorkType,
                C::WorkArrangement,
                C::DescriptionText,
            ])
            .filter(C::Id.is_in(chunk.iter().copied()))
            .into_model::<Tracked>()
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|t| (t.id, t)));
    }
    Ok(out)
}

/// A short, stable hash of a description (the first 16 hex digits of its SHA-256).
pub fn description_hash(text: Option<&str>) -> Option<String> {
    text.map(|t| {
        let digest = Sha256::digest(t.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    })
}

/// The tracked fields that differ between `old` and `new`, as `{"field", "from", "to"}` with
/// GraphQL's names for fields and enum values.
pub(crate) fn diff(old: &Tracked, new: &Tracked) -> Vec<Json> {
    let mut out = Vec::new();
    let mut field = |name: &str, from: Json, to: Json| {
        if from != to {
            out.push(json!({ "field": name, "from": from, "to": to }));
        }
    };
    fn variant(v: Option<&str>) -> Json {
        v.map_or(Json::Null, |s| Json::String(s.to_ascii_uppercase()))
    }
    field("title", json!(old.title), json!(new.title));
    field("company", json!(old.company), json!(new.company));
    field("location", json!(old.location_raw), json!(new.location_raw));
    field("salaryMin", json!(old.salary_min), json!(new.salary_min));
    field("salaryMax", json!(old.salary_max), json!(new.salary_max));
    field(
        "salaryCurrency",
        json!(old.salary_currency),
        json!(new.salary_currency),
    );
    field(
        "salaryPeriod",
        variant(old.salary_period.map(|p| p.as_str())),
        variant(new.salary_period.map(|p| p.as_str())),
    );
    field(
        "workType",
        variant(old.work_type.map(|p| p.as_str())),
        variant(new.work_type.map(|p| p.as_str())),
    );
    field(
        "workArrangement",
        variant(Some(old.work_arrangement.as_str())),
        variant(Some(new.work_arrangement.as_str())),
    );
    field(
        "descriptionHash",
        json!(description_hash(old.description_text.as_deref())),
        json!(description_hash(new.description_text.as_deref())),
    );
    out
}

/// Write `entries` (in order: ids grow in that order, so newest-first reads see them reversed).
pub async fn insert(
    db: &impl ConnectionTrait,
    entries: Vec<Entry>,
    run_id: Option<i64>,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    // 6 columns a row: far below either database's bind-parameter limit.
    const CHUNK: usize = 500;
    let mut entries = entries.into_iter().peekable();
    while entries.peek().is_some() {
        let models: Vec<posting_history::ActiveModel> = entries
            .by_ref()
            .take(CHUNK)
            .map(|e| posting_history::ActiveModel {
                posting_id: Set(e.posting_id),
                run_id: Set(run_id),
                kind: Set(e.kind),
                changes: Set(Json::Array(e.changes)),
                changed_at: Set(at),
                ..Default::default()
            })
            .collect();
        posting_history::Entity::insert_many(models)
            .exec(db)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked() -> Tracked {
        Tracked {
            id: 1,
            title: "Engineer".into(),
            company: Some("Acme".into()),
            location_raw: Some("Sydney NSW".into()),
            salary_min: Some(100_000.0),
            salary_max: None,
            salary_currency: Some("AUD".into()),
            salary_period: Some(SalaryPeriod::Year),
            work_type: Some(WorkType::FullTime),
            work_arrangement: WorkArrangement::Hybrid,
            description_text: Some("Build things.".into()),
        }
    }

    #[test]
    fn only_the_fields_that_differ_are_listed_with_graphql_names() {
        let old = tracked();
        assert!(diff(&old, &old).is_empty());
        let mut new = tracked();
        new.salary_max = Some(120_000.0);
        new.work_type = Some(WorkType::Contract);
        new.description_text = Some("Build better things.".into());
        let d = diff(&old, &new);
        let fields: Vec<&str> = d.iter().map(|c| c["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["salaryMax", "workType", "descriptionHash"]);
        assert_eq!(d[0]["from"], Json::Null);
        assert_eq!(d[0]["to"], json!(120_000.0));
        assert_eq!(d[1]["from"], json!("FULL_TIME"));
        assert_eq!(d[1]["to"], json!("CONTRACT"));
        assert_eq!(
            d[2]["from"],
            json!(description_hash(Some("Build things.")).unwrap())
        );
        assert_eq!(d[2]["from"].as_str().unwrap().len(), 16);
    }
}

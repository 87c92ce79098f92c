//! Storing postings that come from another system (`jobintel import`): the same cleaning
//! (`make_storable`), content hash, batched INSERT and one transaction per batch as a scraped
//! page, but the other system's first/last-seen times are kept instead of "now", and an import
//! never makes a stored posting look newer than it is:
//!
//! - a new posting is inserted with its own first and last seen;
//! - a known posting with the same content only has its seen window widened to cover the
//!   import's (earliest first seen, latest last seen);
//! - a known posting with other content takes the imported content only if the import saw it
//!   at least as recently as the store did: a posting jobintel has scraped since keeps its newer
//!   content (its window still widens).
//!
//! Importing the same rows again therefore changes nothing: every posting is unchanged, and
//! the windows already cover the imported times.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, SubsecRound, Utc};
use entity::{Source, job_posting};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, QuerySelect, Statement,
};

use super::{
    CONTENT_COLUMNS, IN_CHUNK, PageOutcome, RunClaim, Seen, begin_page, cluster, content,
    insert_clustered, pg_array, stored_external_id, update_rows,
};

/// What an imported change writes beside the content: the other system's seen window (its
/// `closed_at` stays as it is).
const IMPORT_SIGHTING_COLUMNS: [job_posting::Column; 4] = [
    job_posting::Column::FirstSeenAt,
    job_posting::Column::LastSeenAt,
    job_posting::Column::LastRunId,
    job_posting::Column::UpdatedAt,
];
use crate::model::NormalizedPosting;
use crate::normalize::{content_hash, make_storable, needs_cleaning};

/// A posting from another system, with the times that system first and last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedPosting {
    pub posting: NormalizedPosting,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

impl ImportedPosting {
    /// The seen window, ordered, at the microsecond precision PostgreSQL keeps: a time with
    /// nanoseconds would never compare equal to its stored copy, and every re-import would
    /// "widen" the window again.
    fn seen(&self) -> Seen {
        let (a, b) = (
            self.first_seen_at.trunc_subsecs(6),
            self.last_seen_at.trunc_subsecs(6),
        );
        Seen {
            first: a.min(b),
            last: a.max(b),
        }
    }
}

/// What a stored posting is compared on: `(id, content_hash, first_seen_at, last_seen_at)`.
type Stored = (i64, String, DateTime<Utc>, DateTime<Utc>);

/// The SQLite lookup's row: id, external id, content hash, first and last seen.
type LookupRow = (i64, String, String, DateTime<Utc>, DateTime<Utc>);

/// What to do with one imported posting that is already stored.
enum Decision {
    /// New content, seen at least as recently as the stored one: store it and the window.
    Update(Seen),
    /// Same (or older) content; the window grows.
    Widen(Seen),
    /// Nothing to change.
    Keep,
}

fn decide(stored: &Stored, hash: &str, seen: Seen) -> Decision {
    let (_, stored_hash, first, last) = stored;
    let merged = Seen {
        first: (*first).min(seen.first),
        last: (*last).max(seen.last),
    };
    if stored_hash != hash && seen.last >= *last {
        Decision::Update(merged)
    } else if merged.first != *first || merged.last != *last {
        Decision::Widen(merged)
    } else {
        Decision::Keep
    }
}

/// Sort a stored posting into `changed`, `widened` or just `unchanged` (see [`decide`]).
fn classify<'a>(
    stored: &Stored,
    (p, hash, seen): (&'a NormalizedPosting, &'a str, Seen),
    changed: &mut Vec<(i64, &'a NormalizedPosting, &'a str, Seen)>,
    widened: &mut Vec<(i64, Seen)>,
    unchanged: &mut usize,
) {
    match decide(stored, hash, seen) {
        Decision::Update(merged) => changed.push((stored.0, p, hash, merged)),
        Decision::Widen(merged) => {
            widened.push((stored.0, merged));
            *unchanged += 1;
        }
        Decision::Keep => *unchanged += 1,
    }
}

/// Store one batch of imported postings in one transaction under `claim` (the import's run;
/// `None` when the run is no longer ours, and nothing was stored), with the rules of this
/// module. Postings repeated within the batch count once: their windows are merged and the
/// copy seen last gives the content. In the outcome, `unchanged` counts known postings whose
/// content was kept (their window may have grown).
pub async fn upsert_imported(
    db: &DatabaseConnection,
    claim: &RunClaim,
    postings: &[ImportedPosting],
) -> Result<Option<PageOutcome>, DbErr> {
    let mut outcome = PageOutcome::default();
    let run_id = claim.run_id;
    let now = Utc::now();
    let mut storable: Vec<(Cow<'_, NormalizedPosting>, Seen)> = Vec::with_capacity(postings.len());
    for ip in postings {
        if !needs_cleaning(&ip.posting) {
            storable.push((Cow::Borrowed(&ip.posting), ip.seen()));
            continue;
        }
        let mut clean = ip.posting.clone();
        match make_storable(&mut clean) {
            Ok(()) => storable.push((Cow::Owned(clean), ip.seen())),
            Err(e) => {
                tracing::warn!(run_id, error = %e, "imported posting not stored");
                outcome.refused += 1;
            }
        }
    }
    // Dedupe by the id as stored: (index of the copy whose content wins, merged window).
    let mut by_key: HashMap<(Source, String), (usize, Seen)> = HashMap::new();
    let mut order: Vec<(Source, String)> = Vec::new();
    for (i, (p, seen)) in storable.iter().enumerate() {
        let key = (p.source, stored_external_id(&p.external_id));
        match by_key.entry(key) {
            Entry::Vacant(e) => {
                order.push(e.key().clone());
                e.insert((i, *seen));
            }
            Entry::Occupied(mut e) => {
                let (winner, window) = e.get_mut();
                if seen.last >= window.last {
                    *winner = i;
                }
                *window = Seen {
                    first: window.first.min(seen.first),
                    last: window.last.max(seen.last),
                };
            }
        }
    }
    let mut sources: Vec<Source> = order.iter().map(|(s, _)| *s).collect();
    sources.sort_by_key(|s| s.as_str());
    sources.dedup();

    let Some(txn) = begin_page(db, Some(claim), now).await? else {
        return Ok(None);
    };
    for source in sources {
        // (the id as stored, the posting, its content hash, its window)
        let page: Vec<(&str, &NormalizedPosting, String, Seen)> = order
            .iter()
            .filter(|(s, _)| *s == source)
            .map(|k| {
                let (i, seen) = by_key[k];
                let p = &*storable[i].0;
                (k.1.as_str(), p, content_hash(p), seen)
            })
            .collect();
        let ids: Vec<String> = page.iter().map(|(id, ..)| (*id).to_owned()).collect();
        let existing = stored_rows(&txn, source, &ids).await?;

        let mut fresh = Vec::new();
        let mut changed: Vec<(i64, &NormalizedPosting, &str, Seen)> = Vec::new();
        let mut widened: Vec<(i64, Seen)> = Vec::new();
        let mut unchanged = 0;
        for (external_id, p, hash, seen) in &page {
            match existing.get(*external_id) {
                None => fresh.push((*external_id, *p, hash.as_str(), *seen)),
                Some(stored) => classify(
                    stored,
                    (*p, hash.as_str(), *seen),
                    &mut changed,
                    &mut widened,
                    &mut unchanged,
                ),
            }
        }
        // Imported postings join clusters like scraped ones: the old system's SEEK and Indeed
        // copies of one job are the duplicates operators moving in most want grouped.
        let keys: Vec<cluster::Keys> = fresh
            .iter()
            .map(|(_, p, _, seen)| cluster::Keys::of(p, seen.first))
            .collect();
        let candidates = cluster::candidates(&txn, &keys).await?;
        let inserted = insert_clustered(&txn, &fresh, &keys, &candidates, run_id, now).await?;
        // Rows a concurrent writer inserted between our lookup and INSERT were skipped by ON
        // CONFLICT: look them up again and treat them like rows that were there before.
        let conflicted: Vec<_> = fresh
            .iter()
            .filter(|(id, ..)| !inserted.contains_key(*id))
            .collect();
        outcome.new.extend(inserted.values().copied());
        if !conflicted.is_empty() {
            let ids: Vec<String> = conflicted.iter().map(|(id, ..)| (*id).to_owned()).collect();
            let after = stored_rows(&txn, source, &ids).await?;
            for (external_id, p, hash, seen) in conflicted {
                if let Some(stored) = after.get(*external_id) {
                    classify(
                        stored,
                        (*p, *hash, *seen),
                        &mut changed,
                        &mut widened,
                        &mut unchanged,
                    );
                }
            }
        }
        outcome.unchanged += unchanged;
        let rows = changed.iter().map(|(id, p, hash, seen)| {
            let mut m = content(p, hash);
            m.first_seen_at = Set(seen.first);
            m.last_seen_at = Set(seen.last);
            m.last_run_id = Set(Some(run_id));
            m.updated_at = Set(now);
            (*id, m)
        });
        let columns = [CONTENT_COLUMNS.as_slice(), &IMPORT_SIGHTING_COLUMNS].concat();
        update_rows(&txn, rows.collect(), &columns).await?;
        outcome.updated.extend(changed.iter().map(|(id, ..)| *id));
        widened.sort_by_key(|(id, _)| *id);
        for (id, seen) in widened {
            job_posting::Entity::update_many()
                .col_expr(job_posting::Column::FirstSeenAt, Expr::value(seen.first))
                .col_expr(job_posting::Column::LastSeenAt, Expr::value(seen.last))
                .filter(job_posting::Column::Id.eq(id))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(Some(outcome))
}

/// [`Stored`] rows of `source` among `ids` (ids as stored), by external id: the lookup of
/// `existing_rows` with the seen window.
async fn stored_rows(
    db: &impl ConnectionTrait,
    source: Source,
    ids: &[String],
) -> Result<HashMap<String, Stored>, DbErr> {
    let mut out = HashMap::new();
    let backend = db.get_database_backend();
    for chunk in ids.chunks(IN_CHUNK) {
        if backend == DbBackend::Postgres {
            // The LATERAL probe of `existing_rows` (one index probe per id, one statement text).
            let sql = "SELECT p.id, p.external_id, p.content_hash, p.first_seen_at, p.last_seen_at \
                       FROM unnest(CAST($2 AS TEXT[])) AS k (external_id) \
                       CROSS JOIN LATERAL (SELECT id, external_id, content_hash, first_seen_at, \
                       last_seen_at FROM job_postings \
                       WHERE source = $1 AND external_id = k.external_id LIMIT 1) AS p";
            let stmt = Statement::from_sql_and_values(
                backend,
                sql,
                [
                    source.as_str().into(),
                    pg_array(chunk.iter().map(String::as_str)).into(),
                ],
            );
            for r in db.query_all_raw(stmt).await? {
                out.insert(
                    r.try_get("", "external_id")?,
                    (
                        r.try_get("", "id")?,
                        r.try_get("", "content_hash")?,
                        r.try_get("", "first_seen_at")?,
                        r.try_get("", "last_seen_at")?,
                    ),
                );
            }
        } else {
            let rows: Vec<LookupRow> = job_posting::Entity::find()
                .select_only()
                .column(job_posting::Column::Id)
                .column(job_posting::Column::ExternalId)
                .column(job_posting::Column::ContentHash)
                .column(job_posting::Column::FirstSeenAt)
                .column(job_posting::Column::LastSeenAt)
                .filter(job_posting::Column::Source.eq(source))
                .filter(job_posting::Column::ExternalId.is_in(chunk.iter().cloned()))
                .into_tuple()
                .all(db)
                .await?;
            out.extend(
                rows.into_iter()
                    .map(|(id, ext, hash, first, last)| (ext, (id, hash, first, last))),
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use entity::RunTrigger;

    use super::*;
    use crate::model::SearchParams;
    use crate::store::tests::posting;
    use crate::store::{NewRun, RunCounters, create_run, finish_run, mark_running, upsert_page};
    use entity::RunStatus;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0).unwrap()
    }

    fn imported(n: usize, title: &str, first: u32, last: u32) -> ImportedPosting {
        ImportedPosting {
            posting: posting(n, title),
            first_seen_at: day(first),
            last_seen_at: day(last),
        }
    }

    async fn stored(db: &DatabaseConnection, n: usize) -> job_posting::Model {
        job_posting::Entity::find()
            .filter(job_posting::Column::ExternalId.eq(format!("race-{n}")))
            .one(db)
            .await
            .unwrap()
            .unwrap()
    }

    /// Imported postings cluster like scraped ones: the SEEK and Indeed copies of one job in
    /// one batch share a cluster, and a later import's copy joins a scraped posting's.
    #[tokio::test]
    async fn imported_copies_of_one_job_share_a_cluster() {
        const TEXT: &str = "Join our platform team to design, build and operate the data \
            pipelines that move billions of events a day, own batch and streaming jobs, and \
            mentor two junior engineers in our Sydney office.";
        let copy = |source: Source, id: &str, company: &str| ImportedPosting {
            posting: NormalizedPosting {
                source,
                external_id: id.into(),
                company: Some(company.into()),
                title: "Data Engineer".into(),
                description_text: Some(TEXT.into()),
                description_html: Some(format!("<p>{TEXT}</p>")),
                ..posting(0, "Data Engineer")
            },
            first_seen_at: day(3),
            last_seen_at: day(9),
        };
        for db in testkit::databases("store_import_clusters").await {
            let what = format!("{:?}", db.backend);
            let conn = &db.conn;
            let run = create_run(
                conn,
                NewRun::manual(Source::Seek, SearchParams::default(), RunTrigger::Import),
            )
            .await
            .unwrap();
            let claim = RunClaim::of(&mark_running(conn, run.id, "importer").await.unwrap());
            let batch = [
                copy(Source::Seek, "s1", "Acme Pty Ltd"),
                copy(Source::Indeed, "i1", "ACME"),
                copy(Source::Seek, "s2", "Other Co"),
            ];
            upsert_imported(conn, &claim, &batch)
                .await
                .unwrap()
                .unwrap();
            let by_ext = |ext: &'static str| async move {
                job_posting::Entity::find()
                    .filter(job_posting::Column::ExternalId.eq(ext))
                    .one(conn)
                    .await
                    .unwrap()
                    .unwrap()
            };
            let (s1, i1, s2) = (by_ext("s1").await, by_ext("i1").await, by_ext("s2").await);
            let root = |m: &job_posting::Model| m.cluster_id.unwrap_or(m.id);
            assert_eq!(root(&s1), root(&i1), "{what}: one job, two boards");
            assert_ne!(root(&s2), root(&s1), "{what}: another company");

            // A later import of a third copy joins the stored cluster.
            upsert_imported(conn, &claim, &[copy(Source::Lever, "l1", "Acme Inc.")])
                .await
                .unwrap()
                .unwrap();
            assert_eq!(root(&by_ext("l1").await), root(&s1), "{what}");
        }
    }

    /// The rules of this module, one after the other on both databases.
    #[tokio::test]
    async fn imports_keep_their_times_only_widen_windows_and_never_overwrite_newer_content() {
        for db in testkit::databases("store_import").await {
            let what = format!("{:?}", db.backend);
            let conn = &db.conn;
            let new = NewRun::manual(
                Source::Greenhouse,
                SearchParams::default(),
                RunTrigger::Import,
            );
            let run = create_run(conn, new).await.unwrap();
            let claim = RunClaim::of(&mark_running(conn, run.id, "importer").await.unwrap());
            let import = |batch: Vec<ImportedPosting>| {
                let claim = claim.clone();
                async move {
                    upsert_imported(conn, &claim, &batch)
                        .await
                        .unwrap()
                        .expect("the claim holds")
                }
            };
            let counts = |o: &PageOutcome| (o.new.len(), o.updated.len(), o.unchanged);

            // New postings keep the other system's times.
            let first = vec![imported(1, "Cook", 10, 15), imported(2, "Chef", 11, 12)];
            assert_eq!(counts(&import(first.clone()).await), (2, 0, 0), "{what}");
            let cook = stored(conn, 1).await;
            assert_eq!((cook.first_seen_at, cook.last_seen_at), (day(10), day(15)));
            assert_eq!(cook.first_run_id, Some(run.id));

            // The same batch again changes nothing at all.
            assert_eq!(counts(&import(first).await), (0, 0, 2), "{what}");
            assert_eq!(stored(conn, 1).await, cook, "{what}");

            // Other content seen longer ago: the content stays, the window widens.
            let older = import(vec![imported(1, "Baker", 5, 14)]).await;
            assert_eq!(counts(&older), (0, 0, 1), "{what}");
            let kept = stored(conn, 1).await;
            assert_eq!(kept.title, "Cook");
            assert_eq!((kept.first_seen_at, kept.last_seen_at), (day(5), day(15)));

            // Other content seen more recently: it replaces the stored one.
            let newer = import(vec![imported(1, "Baker", 12, 20)]).await;
            assert_eq!(counts(&newer), (0, 1, 0), "{what}");
            let baker = stored(conn, 1).await;
            assert_eq!(baker.title, "Baker");
            assert_eq!((baker.first_seen_at, baker.last_seen_at), (day(5), day(20)));

            // jobintel scraped it since (now): an import of older content leaves it be.
            let scrape = create_run(
                conn,
                NewRun::manual(Source::Greenhouse, SearchParams::default(), RunTrigger::Cli),
            )
            .await
            .unwrap();
            upsert_page(conn, scrape.id, &[posting(2, "Sous chef")])
                .await
                .unwrap();
            let late = import(vec![imported(2, "Chef", 11, 12)]).await;
            assert_eq!(counts(&late), (0, 0, 1), "{what}");
            assert_eq!(stored(conn, 2).await.title, "Sous chef", "{what}");

            // A run that is no longer running stores nothing.
            finish_run(
                conn,
                &claim,
                RunStatus::Succeeded,
                &RunCounters::default(),
                None,
            )
            .await
            .unwrap();
            let lost = upsert_imported(conn, &claim, &[imported(3, "Waiter", 1, 2)])
                .await
                .unwrap();
            assert_eq!(lost, None, "{what}");
        }
    }
}

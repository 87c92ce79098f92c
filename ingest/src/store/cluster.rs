//! Cluster maintenance: which stored postings are the same job on several boards.
//!
//! Runs inside the page's transaction ([`super::upsert_page_hooked`]), for the page's new and
//! changed postings only (an unchanged sighting costs nothing):
//! 1. one indexed lookup of the candidates of every new or changed posting — stored postings
//!    with the same `(company_key, title_key)` ([`candidates`], at most
//!    [`CANDIDATES_PER_KEY`] newest per key, so a hostile flood of one title stays bounded) —
//!    reading only their SimHash, then the other keys of the few whose SimHash is close;
//! 2. in memory, a posting joins the cluster of its closest candidate that [`similar`] accepts
//!    (compatible location and date, SimHash within `SIMHASH_MAX_DISTANCE`);
//! 3. a changed posting that is no longer similar to any other member of its cluster leaves it
//!    (a split) and may join another; if it was the cluster's root the others are re-rooted on
//!    their lowest id.
//!
//! A new posting's cluster is written by its own INSERT; a changed one's by its batched
//! UPDATE. Extra statements only for in-page joins, splits and re-roots.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use entity::job_posting;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

use super::{IN_CHUNK, ids_in, pg_array, sqlite_json_rows};
use crate::model::NormalizedPosting;
use crate::normalize::cluster_keys::{
    SIMHASH_MAX_DISTANCE, company_key, hamming, simhash, title_key,
};

/// Newest stored postings read per `(company_key, title_key)`.
pub const CANDIDATES_PER_KEY: usize = 50;
/// Postings whose dates (posted, or first seen) are further apart are different openings.
pub const MAX_DAYS_APART: i64 = 60;
/// Rows keyed per statement by [`backfill`] (four values each).
const BACKFILL_CHUNK: usize = 100;
/// Members of one cluster read when a changed posting's place in it is checked.
const MEMBERS_MAX: usize = 500;
/// `(company_key, title_key)` pairs looked up per candidate statement.
const KEYS_PER_LOOKUP: usize = 100;

/// Off only in benchmarks: the ingest benchmark's `INGEST_BENCH_CLUSTERS=off` (or `ab`)
/// measures the same binary without cluster maintenance, which is how clustering's cost per
/// page is sized.
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether upserts maintain clusters (always, outside the ingest benchmark).
pub fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Turn cluster maintenance off (or on again) for the whole process: while off, new and
/// changed postings get no keys and join nothing. For the ingest benchmark's A/B only;
/// nothing else may call it.
#[doc(hidden)]
pub fn set_enabled_for_benchmark(on: bool) {
    ENABLED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Off only in benchmarks: `INGEST_BENCH_CLUSTER_LOOKUP=off` keeps keys computed and stored
/// (and indexed) but reads no candidates, so nothing joins: an A/B against clustering off
/// then sizes what computing and storing the keys cost on their own, the rest of a page's
/// added cost being the lookup.
static LOOKUP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Skip (or read again) the candidates lookup for the whole process. For the ingest
/// benchmark's cost breakdown only; nothing else may call it.
#[doc(hidden)]
pub fn set_lookup_for_benchmark(on: bool) {
    LOOKUP.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// What clustering compares of a posting, new or stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Keys {
    pub company_key: Option<String>,
    pub title_key: String,
    pub simhash: Option<u64>,
    /// Lower-case words of the city.
    pub city: Option<String>,
    pub country: Option<String>,
    /// Posted, or else first seen.
    pub date: DateTime<Utc>,
}

impl Keys {
    /// The keys of `p`, first seen `seen` (used when it has no posting date).
    pub fn of(p: &NormalizedPosting, seen: DateTime<Utc>) -> Keys {
        let company_key = company_key(p.company.as_deref());
        Keys {
            // A posting of an unknown company is never clustered: its description's SimHash
            // would only cost time.
            simhash: company_key
                .is_some()
                .then(|| simhash(p.description_text.as_deref()))
                .flatten(),
            company_key,
            title_key: title_key(&p.title),
            city: p.location.city.as_deref().map(city_key),
            country: p
                .location
                .country
                .as_deref()
                .filter(|c| c.len() == 2)
                .map(str::to_ascii_uppercase),
            date: p.posted_at.unwrap_or(seen),
        }
    }

    /// No keys: what a posting gets while clustering is off ([`set_enabled_for_benchmark`]).
    fn none(date: DateTime<Utc>) -> Keys {
        Keys {
            company_key: None,
            title_key: String::new(),
            simhash: None,
            city: None,
            country: None,
            date,
        }
    }

    /// [`Keys::of`], or no keys while clustering is off.
    pub fn of_if_enabled(p: &NormalizedPosting, seen: DateTime<Utc>) -> Keys {
        if enabled() {
            Keys::of(p, seen)
        } else {
            Keys::none(seen)
        }
    }

    /// Whether this posting can be clustered at all (a known company and a long enough
    /// description).
    pub fn clusterable(&self) -> bool {
        self.company_key.is_some() && self.simhash.is_some()
    }

    /// The simhash as stored (`BIGINT`: the same 64 bits).
    pub fn stored_simhash(&self) -> Option<i64> {
        self.simhash.map(|h| h as i64)
    }
}

fn city_key(city: &str) -> String {
    city.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Cities are compatible when either is unknown or the words of one are all in the other
/// ("Sydney" and "Sydney CBD"; not "Sydney" and "Melbourne").
fn cities_compatible(a: Option<&str>, b: Option<&str>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return true;
    };
    let wa: HashSet<&str> = a.split(' ').collect();
    let wb: HashSet<&str> = b.split(' ').collect();
    wa.is_subset(&wb) || wb.is_subset(&wa)
}

/// The SimHash distance of `a` and `b` when they are the same job, `None` when not: the same
/// known company and title keys, compatible countries and cities, dates at most
/// [`MAX_DAYS_APART`] apart, and descriptions within `SIMHASH_MAX_DISTANCE` bits.
pub fn similar(a: &Keys, b: &Keys) -> Option<u32> {
    if a.company_key.is_none() || a.company_key != b.company_key || a.title_key != b.title_key {
        return None;
    }
    if let (Some(x), Some(y)) = (&a.country, &b.country)
        && x != y
    {
        return None;
    }
    if !cities_compatible(a.city.as_deref(), b.city.as_deref()) {
        return None;
    }
    if (a.date - b.date).abs() > Duration::days(MAX_DAYS_APART) {
        return None;
    }
    let d = hamming(a.simhash?, b.simhash?);
    (d <= SIMHASH_MAX_DISTANCE).then_some(d)
}

/// A stored posting as clustering sees it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: i64,
    pub cluster_id: Option<i64>,
    pub keys: Keys,
}

impl Stored {
    /// The id of its cluster.
    pub fn root(&self) -> i64 {
        self.cluster_id.unwrap_or(self.id)
    }
}

const STORED_COLUMNS: &str =
    "id, cluster_id, company_key, title_key, simhash, city, country, posted_at, first_seen_at";

fn stored_from_row(r: &sea_orm::QueryResult) -> Result<Stored, DbErr> {
    let posted: Option<DateTime<Utc>> = r.try_get("", "posted_at")?;
    let first: DateTime<Utc> = r.try_get("", "first_seen_at")?;
    let simhash: Option<i64> = r.try_get("", "simhash")?;
    Ok(Stored {
        id: r.try_get("", "id")?,
        cluster_id: r.try_get("", "cluster_id")?,
        keys: Keys {
            company_key: r.try_get("", "company_key")?,
            title_key: r
                .try_get::<Option<String>>("", "title_key")?
                .unwrap_or_default(),
            simhash: simhash.map(|h| h as u64),
            city: r
                .try_get::<Option<String>>("", "city")?
                .as_deref()
                .map(city_key),
            country: r.try_get("", "country")?,
            date: posted.unwrap_or(first),
        },
    })
}

/// Stored postings sharing `(company_key, title_key)` with any of `keys` (the newest
/// [`CANDIDATES_PER_KEY`] per key) whose description is close enough to one of those keys'
/// to be the same job.
///
/// Two steps, because nearly every candidate fails on its SimHash: the first finds the ids of
/// the candidates within [`SIMHASH_MAX_DISTANCE`] bits, reading only `(id, simhash)` of each
/// (from the index alone on SQLite: `idx_job_postings_cluster_match`), the second the other
/// columns of those few. Reading every column of every candidate was most of clustering's
/// cost per page.
pub async fn candidates<'a>(
    db: &impl ConnectionTrait,
    keys: impl IntoIterator<Item = &'a Keys>,
) -> Result<Vec<Stored>, DbErr> {
    if !LOOKUP.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(Vec::new());
    }
    // Each (company_key, title_key) once, with the SimHashes of the page's postings under it.
    let mut wanted: HashMap<(&str, &str), Vec<u64>> = HashMap::new();
    for k in keys {
        if let (Some(c), Some(h)) = (k.company_key.as_deref(), k.simhash) {
            wanted.entry((c, k.title_key.as_str())).or_default().push(h);
        }
    }
    let mut pairs: Vec<((&str, &str), Vec<u64>)> = wanted.into_iter().collect();
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if db.get_database_backend() == DbBackend::Postgres {
        let mut near: Vec<Stored> = Vec::new();
        for chunk in pairs.chunks(KEYS_PER_LOOKUP) {
            near.extend(near_postgres(db, chunk).await?);
        }
        // A row has one pair of keys, so chunks cannot repeat it; stay exact regardless.
        near.sort_unstable_by_key(|s| s.id);
        near.dedup_by_key(|s| s.id);
        return Ok(near);
    }
    let mut near: Vec<i64> = Vec::new();
    for chunk in pairs.chunks(KEYS_PER_LOOKUP) {
        near.extend(near_ids_sqlite(db, chunk).await?);
    }
    near.sort_unstable();
    near.dedup();
    by_ids(db, &near).await
}

/// Both steps on PostgreSQL, in one statement whose text serves any number of keys: one probe
/// of `idx_job_postings_cluster_hash` per (key, SimHash) of the page (the index holds a 64-bit
/// hash of the two keys, [`PG_KEYS_HASH`], so the keys themselves are compared on the few rows
/// it finds); the server takes the SimHash distance (`simhash_distance`, migration 000017) and
/// reads the other columns of the near candidates only. Sending every candidate's row
/// (hundreds per page) to be compared here cost more than finding them, and a second
/// statement for the near ones' columns cost a round trip.
async fn near_postgres(
    db: &impl ConnectionTrait,
    keys: &[((&str, &str), Vec<u64>)],
) -> Result<Vec<Stored>, DbErr> {
    let flat: Vec<(&str, &str, String)> = keys
        .iter()
        .flat_map(|((c, t), hashes)| hashes.iter().map(|h| (*c, *t, (*h as i64).to_string())))
        .collect();
    let sql = format!(
        "SELECT {STORED_COLUMNS} FROM job_postings WHERE id IN (SELECT c.id \
         FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS BIGINT[])) AS k (ck, tk, h) \
         CROSS JOIN LATERAL (SELECT id, simhash FROM job_postings \
         WHERE {PG_KEYS_HASH} = hashtextextended(k.ck || '|' || k.tk, 0) \
         AND company_key = k.ck AND title_key = k.tk \
         ORDER BY id DESC LIMIT {CANDIDATES_PER_KEY}) AS c \
         WHERE simhash_distance(c.simhash, k.h) <= {SIMHASH_MAX_DISTANCE})"
    );
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [
            pg_array(flat.iter().map(|f| f.0)).into(),
            pg_array(flat.iter().map(|f| f.1)).into(),
            pg_array(flat.iter().map(|f| f.2.as_str())).into(),
        ],
    );
    db.query_all_raw(stmt)
        .await?
        .iter()
        .map(stored_from_row)
        .collect()
}

/// The expression `idx_job_postings_cluster_hash` (PostgreSQL, migration 000018) indexes:
/// the keys are lower-case words and spaces, so `|` cannot be part of either.
pub const PG_KEYS_HASH: &str = "hashtextextended(company_key || '|' || title_key, 0)";

/// Step one on SQLite. The statement's text depends only on the padded number of keys (a few
/// sizes, each built once per process: [`sqlite_lookup_sql`]), so each connection prepares
/// it once: preparing a 100-way UNION ALL afresh for every page cost more than running it.
/// Padding keys are NULLs, which match nothing. The candidates (hundreds per page) come back
/// as one JSON value ([`sqlite_json_rows`]). The SimHashes are compared here.
async fn near_ids_sqlite(
    db: &impl ConnectionTrait,
    keys: &[((&str, &str), Vec<u64>)],
) -> Result<Vec<i64>, DbErr> {
    let slots = padded_slots(keys.len());
    let none = || Value::String(None);
    let values: Vec<Value> = keys
        .iter()
        .flat_map(|((c, t), _)| [(*c).into(), (*t).into()])
        .chain((keys.len()..slots).flat_map(|_| [none(), none()]))
        .collect();
    let stmt = Statement::from_sql_and_values(DbBackend::Sqlite, sqlite_lookup_sql(slots), values);
    let found: Vec<(i64, i64, i64)> = sqlite_json_rows(db, stmt).await?;
    let mut near = Vec::new();
    for (n, id, stored) in found {
        let close = keys.get(n as usize).is_some_and(|(_, hashes)| {
            hashes
                .iter()
                .any(|h| hamming(*h, stored as u64) <= SIMHASH_MAX_DISTANCE)
        });
        if close {
            near.push(id);
        }
    }
    Ok(near)
}

/// The SQLite lookup of `slots` keys (a power of two up to 64, or [`KEYS_PER_LOOKUP`]), built once per
/// process: formatting the text of a 100-way UNION ALL for every page cost more than the
/// driver takes to find the prepared statement in its cache.
fn sqlite_lookup_sql(slots: usize) -> &'static str {
    static SQL: [std::sync::OnceLock<String>; 8] = [const { std::sync::OnceLock::new() }; 8];
    // 1, 2, 4, … 64 by their power of two; the full chunk last.
    let slot = if slots == KEYS_PER_LOOKUP {
        7
    } else {
        (slots.trailing_zeros() as usize).min(6)
    };
    SQL[slot].get_or_init(|| {
        let union = (0..slots)
            .map(|n| {
                format!(
                    "SELECT {n} AS n, id, simhash FROM (SELECT id, simhash FROM job_postings \
                     WHERE company_key = ? AND title_key = ? ORDER BY id DESC \
                     LIMIT {CANDIDATES_PER_KEY})"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        format!(
            "SELECT json_group_array(json_array(n, id, simhash)) \
             FROM ({union}) WHERE simhash IS NOT NULL"
        )
    })
}

/// The stored postings `ids`, as clustering sees them.
async fn by_ids(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<Stored>, DbErr> {
    let backend = db.get_database_backend();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let (cond, values) = ids_in(backend, "id", chunk, 1);
        let sql = format!("SELECT {STORED_COLUMNS} FROM job_postings WHERE {cond}");
        for r in db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?
        {
            out.push(stored_from_row(&r)?);
        }
    }
    Ok(out)
}

/// Key slots of the SQLite candidate statement for `n` keys: the next power of two, at most
/// [`KEYS_PER_LOOKUP`] (the chunk size).
fn padded_slots(n: usize) -> usize {
    n.next_power_of_two().min(KEYS_PER_LOOKUP)
}

/// The stored rows of `ids` and every member of their clusters (roots included; at most
/// [`MEMBERS_MAX`] besides `ids` themselves), in one statement: each row of `ids` says its
/// cluster (`cluster_id`, read here rather than with the page's existing rows: on SQLite it
/// sits after the descriptions, and reading it for every unchanged posting cost 13–17 % of
/// an unchanged page), and the subqueries find the roots from them.
async fn with_members(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<Stored>, DbErr> {
    let mut out = Vec::new();
    let backend = db.get_database_backend();
    for chunk in ids.chunks(IN_CHUNK) {
        // Three parts, each through an index (primary key; primary key; the partial cluster
        // index), with the same ids: one array parameter on PostgreSQL, bound three times on
        // SQLite (its `?`s are positional).
        let (ids, values) = ids_in(backend, "id", chunk, 1);
        let values = if backend == DbBackend::Postgres {
            values
        } else {
            [values.as_slice(); 3].concat()
        };
        let sql = format!(
            "SELECT {STORED_COLUMNS} FROM job_postings WHERE {ids} \
             UNION SELECT {STORED_COLUMNS} FROM job_postings WHERE id IN \
             (SELECT COALESCE(cluster_id, id) FROM job_postings WHERE {ids}) \
             UNION SELECT {STORED_COLUMNS} FROM (SELECT {STORED_COLUMNS} FROM job_postings \
             WHERE cluster_id IS NOT NULL AND cluster_id IN \
             (SELECT COALESCE(cluster_id, id) FROM job_postings WHERE {ids}) \
             LIMIT {MEMBERS_MAX}) AS m"
        );
        for r in db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?
        {
            out.push(stored_from_row(&r)?);
        }
    }
    Ok(out)
}

/// The closest of `candidates` that is the same job as `keys`, skipping `skip`.
fn best<'a>(
    keys: &Keys,
    candidates: impl IntoIterator<Item = &'a Stored>,
    skip: impl Fn(&Stored) -> bool,
) -> Option<&'a Stored> {
    candidates
        .into_iter()
        .filter(|c| !skip(c))
        .filter_map(|c| similar(keys, &c.keys).map(|d| (d, c)))
        // Closest first; on a tie the oldest (the lowest id).
        .min_by_key(|(d, c)| (*d, c.id))
        .map(|(_, c)| c)
}

/// Where each new posting of a page goes: `joins[i]` is the cluster (root id) the `i`-th new
/// posting joins, or `Joins::Fresh(j)` when it joins the cluster the `j`-th new posting of the
/// same page starts (its id is known only after the INSERT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    Alone,
    Stored(i64),
    Fresh(usize),
}

/// Decide the clusters of a page's new postings against the `stored` candidates and each
/// other (in page order).
pub fn plan_fresh(fresh: &[&Keys], stored: &[Stored]) -> Vec<Join> {
    let mut out: Vec<Join> = Vec::with_capacity(fresh.len());
    // Earlier postings of the page by (company_key, title_key), the only ones `similar` can
    // accept: comparing each posting with every earlier one grew with the square of the page.
    let mut earlier: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, k) in fresh.iter().enumerate() {
        let Some(company) = k.company_key.as_deref().filter(|_| k.clusterable()) else {
            out.push(Join::Alone);
            continue;
        };
        let db_best = best(k, stored, |_| false).map(|c| {
            (
                similar(k, &c.keys).unwrap_or(u32::MAX),
                Join::Stored(c.root()),
            )
        });
        let same_keys = earlier.entry((company, k.title_key.as_str())).or_default();
        let page_best = same_keys
            .iter()
            .filter_map(|&j| similar(k, fresh[j]).map(|d| (d, j)))
            .min()
            .map(|(d, j)| {
                // Join what the earlier one joined, or the cluster it starts.
                let join = match out[j] {
                    Join::Alone => Join::Fresh(j),
                    other => other,
                };
                (d, join)
            });
        same_keys.push(i);
        out.push(match (db_best, page_best) {
            (Some(a), Some(b)) => {
                if a.0 <= b.0 {
                    a.1
                } else {
                    b.1
                }
            }
            (Some(a), None) => a.1,
            (None, Some(b)) => b.1,
            (None, None) => Join::Alone,
        });
    }
    out
}

/// Rewrites of other rows' `cluster_id` a page's changed postings cause.
#[derive(Debug, Default)]
struct Rewrites {
    /// `(row id, new cluster_id)`.
    rows: Vec<(i64, Option<i64>)>,
}

/// Decide the cluster of each changed posting `(id, new keys)`; returns each one's new
/// `cluster_id`, having rewritten the other rows a split or re-root moves. A posting whose row
/// is gone (deleted meanwhile) is left out.
pub async fn maintain_changed(
    db: &impl ConnectionTrait,
    changed: &[(i64, &Keys)],
    stored: &[Stored],
) -> Result<HashMap<i64, Option<i64>>, DbErr> {
    let mut out = HashMap::with_capacity(changed.len());
    // Off only in the ingest benchmark: the changed postings keep their clusters.
    if changed.is_empty() || !enabled() {
        return Ok(out);
    }
    let ids: Vec<i64> = changed.iter().map(|(id, _)| *id).collect();
    let all_members = with_members(db, &ids).await?;
    let stored_cluster: HashMap<i64, Option<i64>> =
        all_members.iter().map(|m| (m.id, m.cluster_id)).collect();
    let mut rewrites = Rewrites::default();
    for (id, keys) in changed {
        let Some(cluster) = stored_cluster.get(id) else {
            continue;
        };
        let root = cluster.unwrap_or(*id);
        let others: Vec<&Stored> = all_members
            .iter()
            .filter(|m| m.root() == root && m.id != *id)
            .collect();
        let stays = others.iter().any(|m| similar(keys, &m.keys).is_some());
        if stays {
            out.insert(*id, *cluster);
            continue;
        }
        // It leaves (or was alone). A root leaving hands the cluster to its lowest member.
        if *id == root
            && let Some(new_root) = others.iter().map(|m| m.id).min()
        {
            for m in &others {
                rewrites
                    .rows
                    .push((m.id, (m.id != new_root).then_some(new_root)));
            }
        }
        let old_member = |c: &Stored| c.root() == root || c.id == *id;
        let joined = best(keys, stored, old_member).map(|c| c.root());
        match joined {
            // Joining a cluster founded after this posting: this posting becomes its root
            // (the representative is always the first-stored member).
            Some(r) if r > *id => {
                for m in stored.iter().filter(|m| m.root() == r) {
                    rewrites.rows.push((m.id, Some(*id)));
                }
                let later = cluster_members_ids(db, r).await?;
                for m in later {
                    rewrites.rows.push((m, Some(*id)));
                }
                out.insert(*id, None);
            }
            Some(r) => {
                out.insert(*id, Some(r));
            }
            None => {
                out.insert(*id, None);
            }
        }
    }
    rewrite(db, rewrites).await?;
    Ok(out)
}

/// Ids of every row in cluster `root` (root included).
async fn cluster_members_ids(db: &impl ConnectionTrait, root: i64) -> Result<Vec<i64>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT id FROM job_postings WHERE id = {root} UNION \
         SELECT id FROM job_postings WHERE cluster_id = {root} LIMIT {MEMBERS_MAX}"
    );
    let mut out = Vec::new();
    for r in db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?
    {
        out.push(r.try_get("", "id")?);
    }
    Ok(out)
}

/// Write the rewritten `cluster_id`s (rare: splits and re-roots), grouped by value.
async fn rewrite(db: &impl ConnectionTrait, rw: Rewrites) -> Result<(), DbErr> {
    let mut by_value: HashMap<Option<i64>, Vec<i64>> = HashMap::new();
    let mut seen = HashSet::new();
    // The last decision about a row wins.
    for (id, v) in rw.rows.into_iter().rev() {
        if seen.insert(id) {
            by_value.entry(v).or_default().push(id);
        }
    }
    for (value, ids) in by_value {
        set_cluster(db, &ids, value).await?;
    }
    Ok(())
}

/// `UPDATE job_postings SET cluster_id = value WHERE id IN ids`.
pub async fn set_cluster(
    db: &impl ConnectionTrait,
    ids: &[i64],
    value: Option<i64>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    for chunk in ids.chunks(IN_CHUNK) {
        let (cond, ids) = ids_in(backend, "id", chunk, 2);
        let param = if backend == DbBackend::Postgres {
            "$1"
        } else {
            "?"
        };
        let values: Vec<Value> = std::iter::once(value.into()).chain(ids).collect();
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            format!("UPDATE job_postings SET cluster_id = {param} WHERE {cond}"),
            values,
        ))
        .await?;
    }
    Ok(())
}

/// Fill the keys of up to `limit` rows stored before clusters existed (`title_key` NULL), of
/// ids above `after`, without clustering them: from then on new postings find them as
/// candidates. Returns how many rows it filled and the last id it filled; housekeeping calls
/// it in short transactions until it fills fewer than `limit`. `idx_job_postings_unkeyed`
/// (partial: only rows without keys) makes finding them free once there are none.
pub async fn backfill(
    db: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> Result<(u64, i64), DbErr> {
    use job_posting::Column as C;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let rows: Vec<(i64, String, Option<String>, Option<String>)> = job_posting::Entity::find()
        .select_only()
        .columns([C::Id, C::Title, C::Company, C::DescriptionText])
        .filter(C::TitleKey.is_null())
        .filter(C::Id.gt(after))
        .order_by_asc(C::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    let n = rows.len() as u64;
    let last = rows.last().map_or(after, |r| r.0);
    let keyed: Vec<(i64, Option<String>, String, Option<i64>)> = rows
        .into_iter()
        .map(|(id, title, company, text)| {
            let company = company_key(company.as_deref());
            // As `Keys::of`: no SimHash for a posting that can never be clustered.
            let hash = company
                .is_some()
                .then(|| simhash(text.as_deref()))
                .flatten();
            (id, company, title_key(&title), hash.map(|h| h as i64))
        })
        .collect();
    // One UPDATE … FROM (VALUES …) per BACKFILL_CHUNK rows: a statement per row made keying
    // 100,000 imported postings cost a minute of CPU.
    let backend = db.get_database_backend();
    for chunk in keyed.chunks(BACKFILL_CHUNK) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 4);
        let rows = chunk
            .iter()
            .enumerate()
            .map(|(i, (id, ck, tk, h))| {
                values.extend([
                    (*id).into(),
                    ck.clone().into(),
                    tk.clone().into(),
                    (*h).into(),
                ]);
                if backend == DbBackend::Postgres {
                    let b = 4 * i;
                    // The first row's casts type the VALUES columns (NULLs included).
                    if i == 0 {
                        "($1::BIGINT, $2::TEXT, $3::TEXT, $4::BIGINT)".to_owned()
                    } else {
                        format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4)
                    }
                } else {
                    "(?, ?, ?, ?)".to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = if backend == DbBackend::Postgres {
            format!(
                "UPDATE job_postings AS p SET company_key = v.ck, title_key = v.tk, simhash = v.h \
                 FROM (VALUES {rows}) AS v (id, ck, tk, h) WHERE p.id = v.id"
            )
        } else {
            format!(
                "UPDATE job_postings SET company_key = v.column2, title_key = v.column3, \
                 simhash = v.column4 FROM (VALUES {rows}) AS v WHERE job_postings.id = v.column1"
            )
        };
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok((n, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(company: &str, title: &str, hash: u64) -> Keys {
        Keys {
            company_key: company_key(Some(company)),
            title_key: title_key(title),
            simhash: Some(hash),
            city: Some("sydney".into()),
            country: Some("AU".into()),
            date: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn same_job_needs_company_title_place_date_and_description() {
        let a = keys("Acme Pty Ltd", "Engineer", 0);
        assert_eq!(similar(&a, &keys("ACME", "engineer", 0b111)), Some(3));
        assert_eq!(similar(&a, &keys("Other", "Engineer", 0)), None);
        assert_eq!(similar(&a, &keys("Acme", "Designer", 0)), None);
        assert_eq!(similar(&a, &keys("Acme", "Engineer", u64::MAX)), None);
        let mut far = keys("Acme", "Engineer", 0);
        far.date += Duration::days(MAX_DAYS_APART + 1);
        assert_eq!(similar(&a, &far), None);
        let mut elsewhere = keys("Acme", "Engineer", 0);
        elsewhere.city = Some("melbourne".into());
        assert_eq!(similar(&a, &elsewhere), None);
        elsewhere.city = Some("sydney cbd".into());
        assert_eq!(similar(&a, &elsewhere), Some(0));
        let mut unknown = keys("Private Advertiser", "Engineer", 0);
        assert_eq!(similar(&unknown, &unknown.clone()), None);
        unknown.company_key = None;
        assert!(!unknown.clusterable());
    }

    #[test]
    fn a_page_joins_stored_clusters_and_its_own_earlier_postings() {
        let stored = vec![Stored {
            id: 7,
            cluster_id: Some(3),
            keys: keys("Acme", "Engineer", 0),
        }];
        let a = keys("Acme", "Engineer", 1);
        let b = keys("Beta", "Engineer", 0);
        let c = keys("Beta", "Engineer", 2);
        let d = keys("Beta", "Engineer", 3);
        let plan = plan_fresh(&[&a, &b, &c, &d], &stored);
        assert_eq!(
            plan,
            [Join::Stored(3), Join::Alone, Join::Fresh(1), Join::Fresh(1)]
        );
    }
}

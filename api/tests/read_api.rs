//! The GraphQL read API (issue #4): filters, orders, keyset pagination under concurrent inserts,
//! full-text search, `jobStats`, `node`, runs, DataLoader statement counts and the protection
//! limits. Every database test runs on SQLite and, with `TEST_DATABASE_URL`, on PostgreSQL.
//!
//! Resolvers are exercised through `schema.execute` (fast, no sockets); what lives in the HTTP
//! layer (batch and body limits, persisted queries over GET) through the real router on port 0.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_graphql::InputType;
use chrono::{DateTime, TimeZone, Utc};
use entity::{Source, WorkArrangement, WorkType, job_posting};
use ingest::store::{NewRun, create_run};
use jobintel::graphql::filter::JobPostingFilter;
use jobintel::server;
use jobintel::service::filter::matches;
use jobintel::state::{AppState, ServerSettings};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, NotSet,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Seeding

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A posting to insert; everything not set has a neutral default.
#[derive(Clone)]
struct Seed {
    source: Source,
    title: String,
    company: Option<String>,
    description: Option<String>,
    location: Option<(&'static str, &'static str, &'static str)>,
    work_type: Option<WorkType>,
    arrangement: WorkArrangement,
    salary: Option<(Option<f64>, Option<f64>, &'static str)>,
    posted_at: Option<DateTime<Utc>>,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    closed: bool,
    first_run: Option<i64>,
    last_run: Option<i64>,
}

fn seed(title: &str) -> Seed {
    Seed {
        source: Source::Greenhouse,
        title: title.to_owned(),
        company: None,
        description: None,
        location: None,
        work_type: None,
        arrangement: WorkArrangement::Unknown,
        salary: None,
        posted_at: None,
        first_seen_at: t("2026-11-01T00:00:00Z"),
        last_seen_at: t("2026-11-15T00:00:00Z"),
        closed: false,
        first_run: None,
        last_run: None,
    }
}

static EXTERNAL: AtomicUsize = AtomicUsize::new(0);

fn active(s: &Seed) -> job_posting::ActiveModel {
    let n = EXTERNAL.fetch_add(1, Ordering::Relaxed);
    let (city, region, country) = match s.location {
        Some((c, r, k)) => (Some(c.to_owned()), Some(r.to_owned()), Some(k.to_owned())),
        None => (None, None, None),
    };
    let (annual_min, annual_max, currency) = match s.salary {
        Some((a, b, c)) => (a, b, Some(c.to_owned())),
        None => (None, None, None),
    };
    job_posting::ActiveModel {
        id: NotSet,
        source: Set(s.source),
        external_id: Set(format!("ext-{n}")),
        url: Set(format!("https://example.com/jobs/{n}")),
        apply_url: Set(None),
        title: Set(s.title.clone()),
        company: Set(s.company.clone()),
        company_external_id: Set(None),
        location_raw: Set(s.location.map(|(c, r, _)| format!("{c} {r}"))),
        city: Set(city),
        region: Set(region),
        country: Set(country),
        work_type: Set(s.work_type),
        work_arrangement: Set(s.arrangement),
        salary_text: Set(None),
        salary_min: Set(annual_min),
        salary_max: Set(annual_max),
        salary_currency: Set(currency),
        salary_period: Set(s.salary.map(|_| entity::SalaryPeriod::Year)),
        salary_annual_min: Set(annual_min),
        salary_annual_max: Set(annual_max),
        salary_source: Set(None),
        description_html: Set(s.description.as_ref().map(|d| format!("<p>{d}</p>"))),
        description_text: Set(s.description.clone()),
        classification: Set(None),
        posted_at: Set(s.posted_at),
        expires_at: Set(None),
        first_seen_at: Set(s.first_seen_at),
        last_seen_at: Set(s.last_seen_at),
        closed_at: Set(s.closed.then(|| t("2026-11-16T00:00:00Z"))),
        content_hash: Set(format!("h{n}")),
        raw: Set(Some(json!({ "n": n }))),
        first_run_id: Set(s.first_run),
        last_run_id: Set(s.last_run),
        created_at: Set(s.first_seen_at),
        updated_at: Set(s.last_seen_at),
        ..Default::default()
    }
}

/// Insert one at a time (so ids follow `seeds` order); returns the ids.
async fn insert(db: &DatabaseConnection, seeds: &[Seed]) -> Vec<i64> {
    let mut ids = Vec::new();
    for s in seeds {
        ids.push(active(s).insert(db).await.unwrap().id);
    }
    ids
}

/// Insert many rows in multi-row statements (ids not returned).
async fn insert_bulk(db: &DatabaseConnection, seeds: &[Seed]) {
    for chunk in seeds.chunks(200) {
        job_posting::Entity::insert_many(chunk.iter().map(active))
            .exec_without_returning(db)
            .await
            .unwrap();
    }
}

async fn run(db: &DatabaseConnection, source: Source) -> i64 {
    create_run(
        db,
        NewRun::manual(source, Default::default(), entity::RunTrigger::Manual),
    )
    .await
    .unwrap()
    .id
}

// ---------------------------------------------------------------------------------------------
// Executing

fn state(db: DatabaseConnection) -> AppState {
    AppState::new(db, ServerSettings::default()).unwrap()
}

async fn gql(state: &AppState, query: &str, vars: Value) -> Value {
    let req =
        async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(vars));
    serde_json::to_value(state.schema.execute(req).await).unwrap()
}

/// `data`, failing the test on any error.
async fn data(state: &AppState, query: &str, vars: Value) -> Value {
    let v = gql(state, query, vars).await;
    assert!(v.get("errors").is_none(), "{query}\n{v:#}");
    v["data"].clone()
}

fn code(v: &Value) -> &str {
    v["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

const PAGE: &str = "query($filter: JobPostingFilter, $orderBy: JobPostingOrder, $first: Int, \
    $after: String, $last: Int, $before: String) { jobPostings(filter: $filter, orderBy: $orderBy, \
    first: $first, after: $after, last: $last, before: $before) { totalCount \
    edges { cursor node { databaseId title } } \
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

fn ids_of(conn: &Value) -> Vec<i64> {
    conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["databaseId"].as_i64().unwrap())
        .collect()
}

/// Every id matching, walking forward with `first: page`.
async fn walk_forward(state: &AppState, filter: Value, order: Value, page: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let d = data(
            state,
            PAGE,
            json!({ "filter": filter, "orderBy": order, "first": page, "after": after }),
        )
        .await;
        let conn = &d["jobPostings"];
        out.extend(ids_of(conn));
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return out;
        }
        after = conn["pageInfo"]["endCursor"].clone();
        assert!(out.len() < 100_000, "pagination does not end");
    }
}

/// Every id matching, walking backward from the end with `last: page`; returned in order.
async fn walk_backward(state: &AppState, filter: Value, order: Value, page: i64) -> Vec<i64> {
    let mut pages: Vec<Vec<i64>> = Vec::new();
    let mut before = Value::Null;
    loop {
        let d = data(
            state,
            PAGE,
            json!({ "filter": filter, "orderBy": order, "last": page, "before": before }),
        )
        .await;
        let conn = &d["jobPostings"];
        pages.push(ids_of(conn));
        if !conn["pageInfo"]["hasPreviousPage"].as_bool().unwrap() {
            break;
        }
        before = conn["pageInfo"]["startCursor"].clone();
        assert!(pages.len() < 100_000, "pagination does not end");
    }
    pages.into_iter().rev().flatten().collect()
}

// ---------------------------------------------------------------------------------------------
// Filters

/// Six postings with known attributes (returned with their ids: index i ↔ posting i+1).
async fn filter_fixture(db: &DatabaseConnection) -> (Vec<i64>, i64, i64) {
    let r1 = run(db, Source::Seek).await;
    let r2 = run(db, Source::Ashby).await;
    let seeds = vec![
        Seed {
            source: Source::Seek,
            company: Some("Acme".into()),
            description: Some("Build services with Tokio and PostgreSQL.".into()),
            location: Some(("Sydney", "NSW", "AU")),
            work_type: Some(WorkType::FullTime),
            arrangement: WorkArrangement::Hybrid,
            salary: Some((Some(150_000.0), Some(180_000.0), "AUD")),
            posted_at: Some(t("2026-11-10T09:00:00Z")),
            last_seen_at: t("2026-11-20T00:00:00Z"),
            first_run: Some(r1),
            last_run: Some(r1),
            ..seed("Senior Rust Engineer")
        },
        Seed {
            source: Source::Indeed,
            company: Some("Globex".into()),
            description: Some("A contract role.".into()),
            location: Some(("Melbourne", "VIC", "AU")),
            work_type: Some(WorkType::Contract),
            arrangement: WorkArrangement::Remote,
            salary: Some((Some(120_000.0), Some(140_000.0), "AUD")),
            posted_at: Some(t("2026-11-05T00:00:00Z")),
            last_seen_at: t("2026-11-20T00:00:00Z"),
            ..seed("Rust Developer")
        },
        Seed {
            source: Source::Greenhouse,
            company: Some("Initech".into()),
            description: Some("Dashboards and SQL.".into()),
            location: Some(("Auckland", "AUK", "NZ")),
            work_type: Some(WorkType::FullTime),
            arrangement: WorkArrangement::OnSite,
            salary: Some((Some(90_000.0), Some(100_000.0), "NZD")),
            posted_at: Some(t("2026-11-01T12:00:00Z")),
            closed: true,
            ..seed("Data Analyst")
        },
        Seed {
            source: Source::Lever,
            company: Some("Acme".into()),
            description: Some("React and TypeScript, with some Rust.".into()),
            location: Some(("Sydney", "NSW", "AU")),
            work_type: Some(WorkType::PartTime),
            arrangement: WorkArrangement::Hybrid,
            first_seen_at: t("2026-11-03T08:00:00Z"),
            ..seed("Frontend Engineer")
        },
        Seed {
            source: Source::Ashby,
            company: Some("Umbrella".into()),
            description: Some("Kubernetes and Terraform.".into()),
            location: Some(("London", "England", "GB")),
            work_type: Some(WorkType::FullTime),
            arrangement: WorkArrangement::Remote,
            salary: Some((Some(70_000.0), Some(90_000.0), "GBP")),
            posted_at: Some(t("2026-10-20T00:00:00Z")),
            first_run: Some(r1),
            last_run: Some(r2),
            ..seed("Platform Engineer")
        },
        Seed {
            source: Source::Jsonld,
            company: Some("Cafe Co".into()),
            description: Some("Coffee, early mornings.".into()),
            location: Some(("Sydney", "NSW", "AU")),
            work_type: Some(WorkType::Casual),
            arrangement: WorkArrangement::OnSite,
            salary: Some((Some(60_000.0), None, "AUD")),
            posted_at: Some(t("2026-11-12T00:00:00Z")),
            ..seed("Barista")
        },
    ];
    (insert(db, &seeds).await, r1, r2)
}

#[tokio::test]
async fn filters_select_exactly_the_matching_postings_alone_and_combined() {
    for db in testkit::databases("filters").await {
        let (ids, r1, r2) = filter_fixture(&db.conn).await;
        let st = state(db.conn.clone());
        let run_gid = |id: i64| jobintel::graphql::ids::encode("IngestRun", id);
        // (filter, expected postings by fixture number)
        let cases: Vec<(Value, Vec<usize>)> = vec![
            (json!({}), vec![1, 2, 3, 4, 5, 6]),
            (json!({ "sources": ["SEEK", "INDEED"] }), vec![1, 2]),
            (json!({ "sources": [] }), vec![1, 2, 3, 4, 5, 6]),
            (json!({ "companies": ["Acme"] }), vec![1, 4]),
            (json!({ "titleContains": "ENGINEER" }), vec![1, 4, 5]),
            (json!({ "titleContains": "%" }), vec![]),
            (json!({ "locationContains": "sydney" }), vec![1, 4, 6]),
            (json!({ "locationContains": "nsw" }), vec![1, 4, 6]),
            (json!({ "countries": ["nz"] }), vec![3]),
            (json!({ "workTypes": ["FULL_TIME"] }), vec![1, 3, 5]),
            (
                json!({ "workArrangements": ["REMOTE", "ON_SITE"] }),
                vec![2, 3, 5, 6],
            ),
            (json!({ "salaryAnnualMin": 130000 }), vec![1, 2]),
            (json!({ "salaryAnnualMax": 95000 }), vec![3, 5, 6]),
            (
                json!({ "salaryAnnualMin": 100000, "salaryAnnualMax": 125000 }),
                vec![2, 3],
            ),
            (json!({ "salaryCurrency": "aud" }), vec![1, 2, 6]),
            (
                json!({ "postedAfter": "2026-11-05T00:00:00Z" }),
                vec![1, 2, 6],
            ),
            (
                json!({ "postedBefore": "2026-11-05T00:00:00Z" }),
                vec![3, 5],
            ),
            (json!({ "seenAfter": "2026-11-18T00:00:00Z" }), vec![1, 2]),
            (json!({ "open": false }), vec![3]),
            (json!({ "open": true }), vec![1, 2, 4, 5, 6]),
            (json!({ "ingestRunId": run_gid(r1) }), vec![1, 5]),
            (json!({ "ingestRunId": run_gid(r2) }), vec![5]),
            (json!({ "search": "rust" }), vec![1, 2, 4]),
            (json!({ "search": "  " }), vec![1, 2, 3, 4, 5, 6]),
            (json!({ "search": "kubernetes terraform" }), vec![5]),
            (json!({ "search": "engineers" }), vec![1, 4, 5]),
            (
                json!({ "sources": ["SEEK", "INDEED", "LEVER"], "titleContains": "engineer", "open": true }),
                vec![1, 4],
            ),
            (
                json!({ "search": "rust", "workArrangements": ["HYBRID"] }),
                vec![1, 4],
            ),
            (
                json!({ "countries": ["AU"], "salaryCurrency": "AUD", "salaryAnnualMin": 100000, "postedAfter": "2026-11-06T00:00:00Z" }),
                vec![1],
            ),
        ];
        let models = job_posting::Entity::find().all(&db.conn).await.unwrap();
        // PostgreSQL: first with the postings still queued for full-text indexing (searches
        // read the view that computes their documents), then indexed (searches read the index).
        for indexed in [false, true] {
            if indexed {
                ingest::search_index::refresh_all(&db.conn).await.unwrap();
            } else if db.db_backend() == DbBackend::Postgres {
                assert_eq!(ingest::search_index::queued(&db.conn).await.unwrap(), 6);
            }
            for (filter, expected) in &cases {
                let want: BTreeSet<i64> = expected.iter().map(|n| ids[n - 1]).collect();
                let got = walk_forward(&st, filter.clone(), Value::Null, 100).await;
                let got_set: BTreeSet<i64> = got.iter().copied().collect();
                assert_eq!(got_set, want, "{:?} {filter}", db.backend);
                assert_eq!(got.len(), got_set.len(), "{filter}");
                let count = data(&st, PAGE, json!({ "filter": filter, "first": 1 })).await;
                assert_eq!(
                    count["jobPostings"]["totalCount"].as_u64().unwrap() as usize,
                    want.len(),
                    "{filter}"
                );
                // The row-level `matches` (used by subscriptions) agrees with the database, except
                // for searches that match only descriptions (it sees title and company only).
                let parsed = JobPostingFilter::parse(Some(
                    async_graphql::Value::from_json(filter.clone()).unwrap(),
                ))
                .unwrap()
                .to_service()
                .unwrap();
                let by_matches: BTreeSet<i64> = models
                    .iter()
                    .filter(|m| matches(&parsed, m))
                    .map(|m| m.id)
                    .collect();
                if filter.get("search").is_none() {
                    assert_eq!(by_matches, want, "matches() disagrees on {filter}");
                } else {
                    assert!(by_matches.is_subset(&want), "matches() on {filter}");
                }
            }
        }

        // Bad values are the client's error, with a code.
        for bad in [
            json!({ "countries": ["Australia"] }),
            json!({ "salaryCurrency": "dollars" }),
            json!({ "ingestRunId": "!!" }),
        ] {
            let v = gql(&st, PAGE, json!({ "filter": bad })).await;
            assert_eq!(code(&v), "BAD_USER_INPUT", "{bad} {v}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Orders

#[derive(Clone, Copy, Debug)]
enum Key {
    Posted,
    FirstSeen,
    LastSeen,
    SalMax,
    SalMin,
    Title,
}

#[tokio::test]
async fn every_order_sorts_both_ways_with_missing_values_last_and_id_tie_breaks() {
    for db in testkit::databases("orders").await {
        let day = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
        let mut seeds = Vec::new();
        for i in 0..17u32 {
            seeds.push(Seed {
                // Ties on every key, and missing values, on purpose.
                title: ["Zed", "alpha", "Beta", "beta", "Alpha"][i as usize % 5].to_owned(),
                posted_at: (i % 4 != 0).then(|| day(1 + i % 6, 0)),
                first_seen_at: day(1 + i % 3, 1),
                last_seen_at: day(10 + i % 5, i % 2),
                salary: match i % 3 {
                    0 => None,
                    1 => Some((
                        Some(50_000.0 + f64::from(i % 4) * 10_000.0),
                        Some(90_000.0),
                        "AUD",
                    )),
                    _ => Some((None, Some(60_000.0 + f64::from(i % 5) * 5_000.0), "AUD")),
                },
                ..seed("x")
            });
        }
        insert(&db.conn, &seeds).await;
        let models = job_posting::Entity::find().all(&db.conn).await.unwrap();
        let st = state(db.conn.clone());

        for (field, key) in [
            ("POSTED_AT", Key::Posted),
            ("FIRST_SEEN_AT", Key::FirstSeen),
            ("LAST_SEEN_AT", Key::LastSeen),
            ("SALARY_ANNUAL_MAX", Key::SalMax),
            ("SALARY_ANNUAL_MIN", Key::SalMin),
            ("TITLE", Key::Title),
        ] {
            for desc in [true, false] {
                let mut expected: Vec<&job_posting::Model> = models.iter().collect();
                expected.sort_by(|a, b| {
                    use std::cmp::Ordering as O;
                    // Missing values last in both directions.
                    let by_key = |x: &job_posting::Model, y: &job_posting::Model| -> O {
                        let (kx, ky): (Option<String>, Option<String>) = match key {
                            Key::Posted => (
                                x.posted_at.map(|t| t.to_rfc3339()),
                                y.posted_at.map(|t| t.to_rfc3339()),
                            ),
                            Key::FirstSeen => (
                                Some(x.first_seen_at.to_rfc3339()),
                                Some(y.first_seen_at.to_rfc3339()),
                            ),
                            Key::LastSeen => (
                                Some(x.last_seen_at.to_rfc3339()),
                                Some(y.last_seen_at.to_rfc3339()),
                            ),
                            Key::SalMax => (
                                x.salary_annual_max.map(|v| format!("{v:012.0}")),
                                y.salary_annual_max.map(|v| format!("{v:012.0}")),
                            ),
                            Key::SalMin => (
                                x.salary_annual_min.map(|v| format!("{v:012.0}")),
                                y.salary_annual_min.map(|v| format!("{v:012.0}")),
                            ),
                            Key::Title => (Some(x.title.clone()), Some(y.title.clone())),
                        };
                        match (kx, ky) {
                            (None, None) => O::Equal,
                            (None, Some(_)) => O::Greater,
                            (Some(_), None) => O::Less,
                            (Some(a), Some(b)) => {
                                if desc {
                                    b.cmp(&a)
                                } else {
                                    a.cmp(&b)
                                }
                            }
                        }
                    };
                    by_key(a, b).then_with(|| {
                        if desc {
                            b.id.cmp(&a.id)
                        } else {
                            a.id.cmp(&b.id)
                        }
                    })
                });
                let expected: Vec<i64> = expected.iter().map(|m| m.id).collect();
                let order =
                    json!({ "field": field, "direction": if desc { "DESC" } else { "ASC" } });
                let fwd = walk_forward(&st, Value::Null, order.clone(), 4).await;
                assert_eq!(fwd, expected, "{:?} forward {order}", db.backend);
                let back = walk_backward(&st, Value::Null, order.clone(), 4).await;
                assert_eq!(back, expected, "{:?} backward {order}", db.backend);
            }
        }

        // The default is POSTED_AT DESC; a cursor only works with the order it came from.
        let default = walk_forward(&st, Value::Null, Value::Null, 5).await;
        let explicit = walk_forward(&st, Value::Null, json!({ "field": "POSTED_AT" }), 5).await;
        assert_eq!(default, explicit);
        let first = data(&st, PAGE, json!({ "first": 2 })).await;
        let cursor = first["jobPostings"]["pageInfo"]["endCursor"].clone();
        let v = gql(
            &st,
            PAGE,
            json!({ "first": 2, "after": cursor, "orderBy": { "field": "TITLE" } }),
        )
        .await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
        let v = gql(&st, PAGE, json!({ "orderBy": { "field": "RELEVANCE" } })).await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("search")
        );
        let v = gql(&st, PAGE, json!({ "first": 2, "before": cursor })).await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
        let v = gql(&st, PAGE, json!({ "first": 2, "last": 2 })).await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
        let v = gql(&st, PAGE, json!({ "after": "bm9wZQ" })).await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
    }
}

// ---------------------------------------------------------------------------------------------
// Pagination under concurrent inserts

#[tokio::test]
async fn pages_never_skip_or_repeat_while_rows_are_inserted_concurrently() {
    for db in testkit::databases("concurrent").await {
        let day = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 10, d, h, 0, 0).unwrap();
        let initial: Vec<Seed> = (0..60u32)
            .map(|i| Seed {
                posted_at: (i % 7 != 0).then(|| day(1 + (i * 7) % 28, i % 3)),
                first_seen_at: day(1 + i % 5, 0),
                ..seed(&format!("Initial {i}"))
            })
            .collect();
        insert(&db.conn, &initial).await;
        let before: HashSet<i64> = job_posting::Entity::find()
            .all(&db.conn)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();

        let st = state(db.conn.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let inserted = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (conn, stop, inserted) = (db.conn.clone(), stop.clone(), inserted.clone());
            tokio::spawn(async move {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    // Newer, older and undated postings: some land before the reader's
                    // position, some after.
                    let s = Seed {
                        posted_at: (!i.is_multiple_of(5)).then(|| day(1 + (i * 11) % 28, 5)),
                        first_seen_at: day(1 + i % 9, 3),
                        ..seed(&format!("Concurrent {i}"))
                    };
                    active(&s).insert(&conn).await.unwrap();
                    inserted.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };

        // Walk again until the writer has inserted meanwhile: pages served with a cached
        // `totalCount` can finish a walk before the writer's first few rows.
        let started = tokio::time::Instant::now();
        loop {
            for order in [
                Value::Null,
                json!({ "field": "FIRST_SEEN_AT", "direction": "ASC" }),
                json!({ "field": "TITLE", "direction": "DESC" }),
            ] {
                for backward in [false, true] {
                    let seen = if backward {
                        walk_backward(&st, Value::Null, order.clone(), 7).await
                    } else {
                        walk_forward(&st, Value::Null, order.clone(), 7).await
                    };
                    let unique: HashSet<i64> = seen.iter().copied().collect();
                    assert_eq!(
                        unique.len(),
                        seen.len(),
                        "{:?} {order} repeated a row",
                        db.backend
                    );
                    assert!(
                        before.is_subset(&unique),
                        "{:?} {order} backward={backward} skipped {:?}",
                        db.backend,
                        before.difference(&unique).collect::<Vec<_>>()
                    );
                }
            }
            if inserted.load(Ordering::Relaxed) > 5 || started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.await.unwrap();
        assert!(
            inserted.load(Ordering::Relaxed) > 5,
            "the writer ran concurrently"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Full-text search

#[tokio::test]
async fn search_ranks_title_matches_above_company_and_description_matches_and_stays_in_sync() {
    for db in testkit::databases("search").await {
        let ids = insert(
            &db.conn,
            &[
                Seed {
                    description: Some("We run kubernetes clusters daily.".into()),
                    posted_at: Some(t("2026-11-09T00:00:00Z")),
                    ..seed("Site Reliability Engineer")
                },
                Seed {
                    description: Some("Ops work.".into()),
                    posted_at: Some(t("2026-11-01T00:00:00Z")),
                    ..seed("Kubernetes Administrator")
                },
                Seed {
                    company: Some("Kubernetes Labs".into()),
                    description: Some("Lead a team.".into()),
                    posted_at: Some(t("2026-11-05T00:00:00Z")),
                    ..seed("Platform Lead")
                },
                Seed {
                    description: Some("Nothing relevant here.".into()),
                    ..seed("Accountant")
                },
            ],
        )
        .await;
        let st = state(db.conn.clone());
        let relevance = json!({ "field": "RELEVANCE", "direction": "DESC" });
        // PostgreSQL: queued for indexing first, indexed the second time.
        for indexed in [false, true] {
            if indexed {
                ingest::search_index::refresh_all(&db.conn).await.unwrap();
            }
            let filter = json!({ "search": "Kubernetes" });
            let ranked = walk_forward(&st, filter.clone(), relevance.clone(), 10).await;
            assert_eq!(ranked, vec![ids[1], ids[2], ids[0]], "{:?}", db.backend);
            // One row per page: the same order, nothing repeated.
            assert_eq!(
                walk_forward(&st, filter.clone(), relevance.clone(), 1).await,
                ranked
            );
            assert_eq!(
                walk_backward(&st, filter.clone(), relevance.clone(), 1).await,
                ranked
            );
            // Newest first by default, stemmed (administrators ~ administrator), every word needed.
            assert_eq!(
                walk_forward(&st, filter, Value::Null, 10).await,
                vec![ids[0], ids[2], ids[1]]
            );
            assert_eq!(
                walk_forward(&st, json!({ "search": "administrators" }), Value::Null, 10).await,
                vec![ids[1]]
            );
            assert_eq!(
                walk_forward(
                    &st,
                    json!({ "search": "kubernetes accountant" }),
                    Value::Null,
                    10
                )
                .await,
                Vec::<i64>::new()
            );
            // FTS syntax in the input is just words.
            let v = data(
                &st,
                PAGE,
                json!({ "filter": { "search": "\"kubernetes\" OR NEAR(* -" } }),
            )
            .await;
            assert_eq!(v["jobPostings"]["totalCount"], 0, "{v}");
        }

        // The index follows updates and deletes made by any writer, without application code
        // (on PostgreSQL: at once through the queue, then in the index itself).
        db.conn
            .execute_unprepared(&format!(
                "UPDATE job_postings SET title = 'Zebra Keeper' WHERE id = {}",
                ids[3]
            ))
            .await
            .unwrap();
        for indexed in [false, true] {
            if indexed {
                ingest::search_index::refresh_all(&db.conn).await.unwrap();
            }
            assert_eq!(
                walk_forward(&st, json!({ "search": "zebra" }), Value::Null, 10).await,
                vec![ids[3]]
            );
            assert!(
                walk_forward(&st, json!({ "search": "accountant" }), Value::Null, 10)
                    .await
                    .is_empty()
            );
            // A search the queued posting cannot affect (PostgreSQL reads the index alone then).
            assert_eq!(
                walk_forward(&st, json!({ "search": "kubernetes" }), Value::Null, 10).await,
                vec![ids[0], ids[2], ids[1]]
            );
        }
        db.conn
            .execute_unprepared(&format!("DELETE FROM job_postings WHERE id = {}", ids[3]))
            .await
            .unwrap();
        assert!(
            walk_forward(&st, json!({ "search": "zebra" }), Value::Null, 10)
                .await
                .is_empty()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Stats

/// `jobStats.timeSeries`: new and open postings and the median salary per day, week and
/// month, one series per group, every bucket listed — against hand-counted seeds.
#[tokio::test]
async fn time_series_equal_hand_computed_values() {
    for db in testkit::databases("time_series").await {
        let at = |d: &str| t(&format!("{d}T09:30:00Z"));
        let mut seeds = Vec::new();
        // Greenhouse: two on Monday 2 Nov (one closed on the 16th), Seek: Wed 4 Nov and
        // Mon 10 Nov, Lever: 20 Oct (before the ranges, closed on the 16th).
        for (source, seen, closed, salary) in [
            (Source::Greenhouse, "2026-11-02", false, Some(100_000.0)),
            (Source::Greenhouse, "2026-11-02", true, Some(120_000.0)),
            (Source::Seek, "2026-11-04", false, None),
            (Source::Seek, "2026-11-10", false, None),
            (Source::Lever, "2026-10-20", true, Some(200_000.0)),
        ] {
            let mut s = seed("Engineer");
            s.source = source;
            s.first_seen_at = at(seen);
            s.closed = closed;
            s.salary = salary.map(|v| (Some(v), Some(v), "AUD"));
            seeds.push(s);
        }
        insert(&db.conn, &seeds).await;
        let st = state(db.conn.clone());
        let what = format!("{:?}", db.backend);
        let series = |v: &Value| -> Vec<(Value, Vec<Value>)> {
            v["jobStats"]["timeSeries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["key"].clone(),
                        s["points"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|p| p["value"].clone())
                            .collect(),
                    )
                })
                .collect()
        };
        let q = "query($f: JobPostingFilter, $b: TimeSeriesBucket!, $m: TimeSeriesMetric!, \
                 $g: TimeSeriesGroupBy!, $from: NaiveDate, $to: NaiveDate) { jobStats(filter: $f) { \
                 timeSeries(bucket: $b, metric: $m, groupBy: $g, from: $from, to: $to) { key points { start value } } } }";

        let v = data(&st, q, json!({"b": "DAY", "m": "NEW_POSTINGS", "g": "NONE", "from": "2026-11-01", "to": "2026-11-05"})).await;
        assert_eq!(
            series(&v),
            [(
                Value::Null,
                vec![json!(0.0), json!(2.0), json!(0.0), json!(1.0), json!(0.0)]
            )],
            "{what} {v}"
        );
        assert_eq!(
            v["jobStats"]["timeSeries"][0]["points"][1]["start"],
            "2026-11-02"
        );

        // Weeks start on Monday: 4 Nov is in the week of 2 Nov; one series per source.
        let v = data(&st, q, json!({"b": "WEEK", "m": "NEW_POSTINGS", "g": "SOURCE", "from": "2026-11-04", "to": "2026-11-15"})).await;
        assert_eq!(
            series(&v),
            [
                (json!("GREENHOUSE"), vec![json!(2.0), json!(0.0)]),
                (json!("SEEK"), vec![json!(1.0), json!(1.0)]),
            ],
            "{what} {v}"
        );
        assert_eq!(
            v["jobStats"]["timeSeries"][0]["points"][0]["start"], "2026-11-02",
            "{what}"
        );

        // Open at the end of each day: all five until the two closings on the 16th.
        let v = data(&st, q, json!({"b": "DAY", "m": "OPEN_POSTINGS", "g": "NONE", "from": "2026-11-14", "to": "2026-11-17"})).await;
        assert_eq!(
            series(&v),
            [(
                Value::Null,
                vec![json!(5.0), json!(5.0), json!(3.0), json!(3.0)]
            )],
            "{what} {v}"
        );
        // And before the Seek posting of the 10th was first seen.
        let v = data(&st, q, json!({"b": "DAY", "m": "OPEN_POSTINGS", "g": "SOURCE", "from": "2026-11-09", "to": "2026-11-10"})).await;
        let seek = series(&v).into_iter().find(|(k, _)| k == "SEEK").unwrap();
        assert_eq!(seek.1, [json!(1.0), json!(2.0)], "{what} {v}");

        // The median of November's AUD salaries (100k and 120k), per month; October's alone.
        let v = data(&st, q, json!({"f": {"salaryCurrency": "AUD"}, "b": "MONTH", "m": "MEDIAN_ANNUAL_SALARY", "g": "NONE", "from": "2026-10-01", "to": "2026-12-31"})).await;
        assert_eq!(
            series(&v),
            [(
                Value::Null,
                vec![json!(200_000.0), json!(110_000.0), Value::Null]
            )],
            "{what} {v}"
        );

        // A median across currencies is refused, as is a range of too many buckets.
        let v = gql(
            &st,
            q,
            json!({"b": "DAY", "m": "MEDIAN_ANNUAL_SALARY", "g": "NONE"}),
        )
        .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        assert!(v.to_string().contains("salaryCurrency"), "{v}");
        let v = gql(&st, q, json!({"b": "DAY", "m": "NEW_POSTINGS", "g": "NONE", "from": "2020-01-01", "to": "2026-01-01"})).await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    }
}

#[tokio::test]
async fn job_stats_equal_hand_computed_values() {
    for db in testkit::databases("stats").await {
        filter_fixture(&db.conn).await;
        let st = state(db.conn.clone());
        let q = "query($f: JobPostingFilter) { jobStats(filter: $f) { total open \
            bySource { source count } byWorkType { workType count } \
            byWorkArrangement { workArrangement count } byCountry { country count } \
            topCompanies(limit: 2) { company count } topLocations(limit: 2) { city region country count } \
            salary { currency count min max average p25 median p75 } \
            postingsPerDay(from: \"2026-11-01\", to: \"2026-11-05\") { date count } } }";
        let s = data(&st, q, json!({})).await["jobStats"].clone();
        assert_eq!(s["total"], 6, "{:?} {s:#}", db.backend);
        assert_eq!(s["open"], 5);
        assert_eq!(s["bySource"].as_array().unwrap().len(), 6);
        assert!(
            s["bySource"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["count"] == 1)
        );
        assert_eq!(
            s["byWorkType"],
            json!([
                { "workType": "FULL_TIME", "count": 3 },
                { "workType": "CASUAL", "count": 1 },
                { "workType": "CONTRACT", "count": 1 },
                { "workType": "PART_TIME", "count": 1 },
            ])
        );
        assert_eq!(
            s["byWorkArrangement"],
            json!([
                { "workArrangement": "HYBRID", "count": 2 },
                { "workArrangement": "ON_SITE", "count": 2 },
                { "workArrangement": "REMOTE", "count": 2 },
            ])
        );
        assert_eq!(
            s["byCountry"],
            json!([
                { "country": "AU", "count": 4 },
                { "country": "GB", "count": 1 },
                { "country": "NZ", "count": 1 },
            ])
        );
        assert_eq!(
            s["topCompanies"],
            json!([{ "company": "Acme", "count": 2 }, { "company": "Cafe Co", "count": 1 }])
        );
        assert_eq!(
            s["topLocations"],
            json!([
                { "city": "Sydney", "region": "NSW", "country": "AU", "count": 3 },
                { "city": "Auckland", "region": "AUK", "country": "NZ", "count": 1 },
            ])
        );
        // AUD midpoints: 165,000 (150–180k), 130,000 (120–140k), 60,000 (min only).
        let aud = &s["salary"][0];
        assert_eq!(aud["currency"], "AUD");
        assert_eq!(aud["count"], 3);
        let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-6;
        assert!(close(&aud["min"], 60_000.0), "{aud}");
        assert!(close(&aud["max"], 165_000.0), "{aud}");
        assert!(close(&aud["average"], 355_000.0 / 3.0), "{aud}");
        assert!(close(&aud["p25"], 95_000.0), "{aud}"); // between 60k and 130k
        assert!(close(&aud["median"], 130_000.0), "{aud}");
        assert!(close(&aud["p75"], 147_500.0), "{aud}"); // between 130k and 165k
        let others: Vec<(&str, f64)> = s["salary"].as_array().unwrap()[1..]
            .iter()
            .map(|r| {
                (
                    r["currency"].as_str().unwrap(),
                    r["median"].as_f64().unwrap(),
                )
            })
            .collect();
        assert_eq!(others, vec![("GBP", 80_000.0), ("NZD", 95_000.0)]);
        // Posted 11-01 (Analyst), 11-05 (Developer); the Frontend Engineer has no posting
        // date and was first seen 11-03.
        assert_eq!(
            s["postingsPerDay"],
            json!([
                { "date": "2026-11-01", "count": 1 },
                { "date": "2026-11-02", "count": 0 },
                { "date": "2026-11-03", "count": 1 },
                { "date": "2026-11-04", "count": 0 },
                { "date": "2026-11-05", "count": 1 },
            ])
        );

        // With a filter, every figure covers only the matching postings.
        let f = data(
            &st,
            "query($f: JobPostingFilter) { jobStats(filter: $f) { total open bySource { source count } salary { currency count } } }",
            json!({ "f": { "countries": ["AU"], "search": "rust" } }),
        )
        .await["jobStats"]
            .clone();
        assert_eq!(f["total"], 3, "{f}");
        assert_eq!(f["open"], 3);
        assert_eq!(f["salary"], json!([{ "currency": "AUD", "count": 2 }]));

        let v = gql(
            &st,
            "{ jobStats { topCompanies(limit: 0) { company } } }",
            json!({}),
        )
        .await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
        let v = gql(
            &st,
            "{ jobStats { postingsPerDay(from: \"2020-01-01\", to: \"2026-01-01\") { count } } }",
            json!({}),
        )
        .await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
    }
}

// ---------------------------------------------------------------------------------------------
// Node, runs, sources

#[tokio::test]
async fn node_job_posting_and_ingest_run_resolve_global_ids() {
    for db in testkit::databases("node").await {
        let (ids, r1, _) = filter_fixture(&db.conn).await;
        let st = state(db.conn.clone());
        let posting = jobintel::graphql::ids::encode("JobPosting", ids[0]);
        let run_gid = jobintel::graphql::ids::encode("IngestRun", r1);
        let q = "query($id: ID!) { node(id: $id) { __typename id \
            ... on JobPosting { title descriptionText firstRun { id source } } \
            ... on IngestRun { databaseId postings(first: 5) { totalCount nodes { title } } } } }";
        let d = data(&st, q, json!({ "id": posting })).await;
        assert_eq!(d["node"]["__typename"], "JobPosting");
        assert_eq!(d["node"]["id"], posting.as_str());
        assert_eq!(d["node"]["title"], "Senior Rust Engineer");
        assert_eq!(
            d["node"]["descriptionText"],
            "Build services with Tokio and PostgreSQL."
        );
        assert_eq!(d["node"]["firstRun"]["id"], run_gid.as_str());
        let d = data(&st, q, json!({ "id": run_gid })).await;
        assert_eq!(d["node"]["__typename"], "IngestRun");
        assert_eq!(d["node"]["databaseId"], r1);
        assert_eq!(d["node"]["postings"]["totalCount"], 2);
        let titles: BTreeSet<&str> = d["node"]["postings"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles,
            BTreeSet::from(["Senior Rust Engineer", "Platform Engineer"])
        );

        let missing = jobintel::graphql::ids::encode("JobPosting", 999_999);
        assert!(data(&st, q, json!({ "id": missing })).await["node"].is_null());
        for bad in ["!!", "42", &jobintel::graphql::ids::encode("Nope", 1)] {
            let v = gql(&st, q, json!({ "id": bad })).await;
            assert_eq!(code(&v), "BAD_USER_INPUT", "{bad}");
        }
        let d = data(
            &st,
            "query($id: ID!) { jobPosting(id: $id) { title lastRun { databaseId } } ingestRun(id: $id) { id } }",
            json!({ "id": ids[4].to_string() }),
        )
        .await;
        assert_eq!(d["jobPosting"]["title"], "Platform Engineer");
        assert!(d["jobPosting"]["lastRun"]["databaseId"].is_i64());
    }
}

/// Every plain field of a posting, of its salary and of an edge: the selection
/// `jobintel::graphql::plain` answers without async-graphql's per-field resolvers.
const PLAIN_POSTING: &[&str] = &[
    "__typename",
    "id",
    "databaseId",
    "source",
    "externalId",
    "url",
    "applyUrl",
    "title",
    "company",
    "companyExternalId",
    "locationRaw",
    "city",
    "region",
    "country",
    "workType",
    "workArrangement",
    "salary",
    "descriptionHtml",
    "descriptionText",
    "classification",
    "postedAt",
    "expiresAt",
    "firstSeenAt",
    "lastSeenAt",
    "closedAt",
    "isOpen",
    "contentHash",
    "createdAt",
    "updatedAt",
];
const PLAIN_SALARY: &[&str] = &[
    "__typename",
    "text",
    "min",
    "max",
    "currency",
    "period",
    "annualMin",
    "annualMax",
    "source",
];

/// The plain selection; with `general`, each field asked twice, which sends it through the
/// derived resolvers (they merge the two; `@include`/`@skip` would not: async-graphql removes
/// them before executing, and fragments on the object's own type take the plain path too).
fn plain_selection(general: bool) -> String {
    let wrap = |f: String| if general { format!("{f} {f}") } else { f };
    PLAIN_POSTING
        .iter()
        .map(|f| match *f {
            "salary" => wrap(format!(
                "salary {{ {} }}",
                PLAIN_SALARY
                    .iter()
                    .map(|s| wrap((*s).to_owned()))
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            f => wrap(f.to_owned()),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Serialised as sent (key order included).
async fn wire(state: &AppState, query: &str, vars: Value) -> String {
    let req =
        async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(vars));
    serde_json::to_string(&state.schema.execute(req).await).unwrap()
}

#[tokio::test]
async fn the_plain_field_path_answers_exactly_what_the_resolvers_do() {
    for db in testkit::databases("plain fields").await {
        let (ids, _, _) = filter_fixture(&db.conn).await;
        // The columns the fixture leaves empty, set on one posting; another keeps them empty.
        let mut full: job_posting::ActiveModel = job_posting::Entity::find_by_id(ids[0])
            .one(&db.conn)
            .await
            .unwrap()
            .unwrap()
            .into();
        full.apply_url = Set(Some("https://example.com/apply/\"\u{e9}".into()));
        full.company_external_id = Set(Some("adv-1".into()));
        full.salary_text = Set(Some("$150k – $180k + super".into()));
        full.salary_source = Set(Some(entity::SalarySource::Parsed));
        full.classification = Set(Some("Information & Communication Technology".into()));
        full.expires_at = Set(Some(t("2026-12-31T23:59:59.123456Z")));
        full.update(&db.conn).await.unwrap();

        let st = state(db.conn.clone());
        let (fast, slow) = (plain_selection(false), plain_selection(true));
        let page = |sel: &str, general_edge: bool| {
            let edge = if general_edge {
                "__typename __typename cursor cursor"
            } else {
                "__typename cursor"
            };
            format!(
                "{{ jobPostings(first: 50, orderBy: {{field: FIRST_SEEN_AT, direction: ASC}}) {{ \
                 edges {{ {edge} node {{ {sel} }} }} nodes {{ {sel} }} }} }}"
            )
        };
        let fast_page = wire(&st, &page(&fast, false), json!({})).await;
        let slow_page = wire(&st, &page(&slow, true), json!({})).await;
        assert!(!fast_page.contains("\"errors\""), "{fast_page}");
        assert!(fast_page.contains("adv-1") && fast_page.contains("\"PARSED\""));
        assert!(
            fast_page.contains("\"salary\":null"),
            "a posting without a salary"
        );
        assert_eq!(fast_page, slow_page, "{:?}", db.backend);
        // The edge falls back while its node does not, and the other way round.
        let mixed = wire(&st, &page(&fast, true), json!({})).await;
        assert_eq!(mixed, fast_page);
        let mixed = wire(&st, &page(&slow, false), json!({})).await;
        assert_eq!(mixed, fast_page);
        // The same fields through fragments, as Apollo clients send them: a spread, nested
        // spreads and inline fragments on the objects' own types (the plain path).
        let salary_inline = PLAIN_POSTING
            .iter()
            .map(|f| match *f {
                "salary" => format!(
                    "salary {{ ... on Salary {{ {} }} }}",
                    PLAIN_SALARY.join(" ")
                ),
                f => f.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ");
        let fragments = format!(
            "fragment P on JobPosting {{ ... on JobPosting {{ ...Q }} }} \
             fragment Q on JobPosting {{ {salary_inline} }}"
        );
        let spread = format!(
            "{{ jobPostings(first: 50, orderBy: {{field: FIRST_SEEN_AT, direction: ASC}}) {{ \
             edges {{ ... on JobPostingEdge {{ __typename cursor }} node {{ ...P }} }} \
             nodes {{ ...P }} }} }} {fragments}"
        );
        let spread_page = wire(&st, &spread, json!({})).await;
        assert_eq!(spread_page, fast_page, "{:?}", db.backend);

        for id in [ids[0], ids[3]] {
            let one = |sel: &str| format!("query($id: ID!) {{ jobPosting(id: $id) {{ {sel} }} }}");
            let vars = json!({ "id": id.to_string() });
            let fast_one = wire(&st, &one(&fast), vars.clone()).await;
            assert!(fast_one.contains("\"databaseId\""), "{fast_one}");
            assert_eq!(fast_one, wire(&st, &one(&slow), vars).await);
        }
        // Aliases keep their names and order; a repeated key (here with a fragment) and the
        // fields that are not plain go the general way and still answer.
        let q = "query($id: ID!) { jobPosting(id: $id) { b: title a: id title \
                 ... on JobPosting { company } raw firstRun { databaseId } } }";
        let d = wire(&st, q, json!({ "id": ids[0].to_string() })).await;
        assert!(
            d.starts_with(r#"{"data":{"jobPosting":{"b":"Senior Rust Engineer","a":""#),
            "{d}"
        );
        assert!(d.contains(r#""company":"Acme","raw":{"n":"#), "{d}");
        let q = "query($id: ID!) { jobPosting(id: $id) { title title salary { min min } } }";
        let d = data(&st, q, json!({ "id": ids[0].to_string() })).await;
        assert_eq!(d["jobPosting"]["salary"]["min"], 150_000.0);
    }
}

#[tokio::test]
async fn node_resolves_schedule_ids() {
    use jobintel::service::schedules::{self, ScheduleDef};
    for db in testkit::databases("node_schedule").await {
        let def = ScheduleDef {
            name: "seek-rust".into(),
            source: Source::Seek,
            params: ingest::SearchParams {
                keywords: Some("rust".into()),
                ..Default::default()
            },
            cron: "0 7 * * 1-5".into(),
            timezone: "Australia/Sydney".into(),
            enabled: true,
            jitter_seconds: 0,
            overlap_policy: entity::OverlapPolicy::Skip,
            misfire_policy: entity::MisfirePolicy::FireOnce,
            max_attempts: 3,
            retry_backoff_seconds: 60,
        };
        let created = schedules::create(
            &db.conn,
            def,
            &Default::default(),
            Utc::now(),
            &Default::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}", e.message()));
        let st = state(db.conn.clone());
        // The ID `schedules` hands out is the one `node` takes back.
        let listed = data(&st, "{ schedules { nodes { id } } }", json!({})).await;
        let gid = listed["schedules"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(gid, jobintel::graphql::ids::encode("Schedule", created.id));
        let q = "query($id: ID!) { node(id: $id) { __typename id \
            ... on Schedule { databaseId name source cron timeZone enabled } } }";
        let d = data(&st, q, json!({ "id": gid })).await;
        assert_eq!(
            d["node"],
            json!({
                "__typename": "Schedule",
                "id": gid,
                "databaseId": created.id,
                "name": "seek-rust",
                "source": "SEEK",
                "cron": "0 7 * * 1-5",
                "timeZone": "Australia/Sydney",
                "enabled": true,
            }),
            "{:?}",
            db.backend
        );
        // Through the interface alone, as a Relay client refetches.
        let d = data(
            &st,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": gid }),
        )
        .await;
        assert_eq!(d["node"]["id"], gid.as_str());
        let missing = jobintel::graphql::ids::encode("Schedule", created.id + 1000);
        assert!(data(&st, q, json!({ "id": missing })).await["node"].is_null());
    }
}

#[tokio::test]
async fn ingest_runs_are_listed_newest_first_filtered_and_paginated() {
    for db in testkit::databases("runs").await {
        let mut runs = Vec::new();
        for s in [
            Source::Seek,
            Source::Indeed,
            Source::Seek,
            Source::Lever,
            Source::Seek,
        ] {
            runs.push(run(&db.conn, s).await);
        }
        db.conn
            .execute_unprepared(&format!(
                "UPDATE ingest_runs SET status = 'failed' WHERE id IN ({}, {})",
                runs[0], runs[3]
            ))
            .await
            .unwrap();
        let st = state(db.conn.clone());
        let q = "query($f: IngestRunFilter, $first: Int, $after: String) { \
            ingestRuns(filter: $f, first: $first, after: $after) { \
            edges { cursor node { databaseId status source } } pageInfo { hasNextPage endCursor } } }";
        let all = data(&st, q, json!({})).await;
        let got: Vec<i64> = all["ingestRuns"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["databaseId"].as_i64().unwrap())
            .collect();
        assert_eq!(got, runs.iter().rev().copied().collect::<Vec<_>>());

        let mut after = Value::Null;
        let mut paged = Vec::new();
        loop {
            let d = data(
                &st,
                q,
                json!({ "first": 2, "after": after, "f": { "sources": ["SEEK"] } }),
            )
            .await;
            for e in d["ingestRuns"]["edges"].as_array().unwrap() {
                paged.push(e["node"]["databaseId"].as_i64().unwrap());
            }
            if !d["ingestRuns"]["pageInfo"]["hasNextPage"]
                .as_bool()
                .unwrap()
            {
                break;
            }
            after = d["ingestRuns"]["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(paged, vec![runs[4], runs[2], runs[0]]);

        let failed = data(
            &st,
            q,
            json!({ "f": { "statuses": ["FAILED"], "triggers": ["MANUAL"] } }),
        )
        .await;
        let got: Vec<i64> = failed["ingestRuns"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["databaseId"].as_i64().unwrap())
            .collect();
        assert_eq!(got, vec![runs[3], runs[0]]);
        let none = data(&st, q, json!({ "f": { "scheduleId": "12345" } })).await;
        assert!(none["ingestRuns"]["edges"].as_array().unwrap().is_empty());
        let v = gql(&st, q, json!({ "first": 101 })).await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn sources_describe_the_parameters_each_accepts() {
    let db = testkit::sqlite("sources").await;
    let st = state(db.conn.clone());
    let d = data(
        &st,
        "{ sources { source name description requiresOneOf defaultBaseUrl baseUrlVariable \
           params { name description required allowedValues } } }",
        json!({}),
    )
    .await;
    let sources = d["sources"].as_array().unwrap();
    // Only the sources that can be scraped: the import-only ones take no parameters.
    assert_eq!(sources.len(), ingest::sources::all().count());
    assert!(sources.iter().all(|s| s["source"] != "LINKEDIN"));
    let by = |s: &str| sources.iter().find(|x| x["source"] == s).unwrap();
    assert_eq!(
        by("INDEED")["requiresOneOf"],
        json!(["keywords", "location"])
    );
    assert_eq!(by("SEEK")["defaultBaseUrl"], "https://www.seek.com.au");
    let seek_country = by("SEEK")["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "country")
        .unwrap()
        .clone();
    assert_eq!(seek_country["allowedValues"], json!(["au", "nz"]));
    let gh = &by("GREENHOUSE")["params"][0];
    assert_eq!(
        (gh["name"].as_str(), gh["required"].as_bool()),
        (Some("target"), Some(true))
    );
    assert!(by("JSONLD")["defaultBaseUrl"].is_null());
}

// ---------------------------------------------------------------------------------------------
// Statement counts: DataLoader and column pruning

/// A connection whose statements touching our tables are recorded.
fn counting(db: &DatabaseConnection) -> (DatabaseConnection, Arc<std::sync::Mutex<Vec<String>>>) {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut conn = db.clone();
    let sink = log.clone();
    conn.set_metric_callback(move |info| {
        let sql = info.statement.sql.clone();
        if sql.contains("job_postings")
            || sql.contains("ingest_runs")
            || sql.contains("posting_history")
        {
            sink.lock().unwrap().push(sql);
        }
    });
    (conn, log)
}

/// A state whose every statement reaches sea-orm's metric callback: the read path's kept
/// PostgreSQL connections ([`jobintel::db::Reader`]) run theirs through sqlx directly.
fn counted_state(db: DatabaseConnection) -> AppState {
    let settings = ServerSettings {
        keep_read_connections: false,
        ..ServerSettings::default()
    };
    AppState::new(db, settings).unwrap()
}

/// The PostgreSQL server process that answers `reader`'s next statement.
async fn backend_pid(reader: &jobintel::db::Reader) -> i32 {
    let row = reader
        .query_one_raw(sea_orm::Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_backend_pid() AS pid",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i32>("", "pid").unwrap()
}

#[tokio::test]
async fn the_read_path_keeps_a_connection_only_after_a_statement_that_ran_to_the_end() {
    let Some(db) = testkit::postgres_only("kept connections").await else {
        return;
    };
    let reader = jobintel::db::Reader::new(db.conn.clone(), 2);
    let sql = |s: &str| sea_orm::Statement::from_string(DbBackend::Postgres, s);
    let pid = |r: jobintel::db::Reader| async move { backend_pid(&r).await };
    // One statement after another: the same connection, kept in between.
    let first = pid(reader.clone()).await;
    assert_eq!(reader.kept(), 1);
    assert_eq!(pid(reader.clone()).await, first);
    // A failed statement's connection goes back to the pool, not to the kept ones.
    let err = reader
        .query_all_raw(sql("SELECT no_such_column FROM job_postings"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no_such_column"), "{err}");
    assert_eq!(reader.kept(), 0);
    // So does one whose request gave up half-way, and the next statement is answered whole.
    // (Back in the pool once the sleep is over: the pool's test waits for the statement's end.)
    let slow = reader.query_all_raw(sql("SELECT pg_sleep(2) AS slept"));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), slow)
            .await
            .is_err()
    );
    assert_eq!(reader.kept(), 0);
    let rows = reader
        .query_all_raw(sql("SELECT generate_series(1, 4) AS n"))
        .await
        .unwrap();
    let ns: Vec<i32> = rows.iter().map(|r| r.try_get("", "n").unwrap()).collect();
    assert_eq!(ns, [1, 2, 3, 4]);
    assert_eq!(reader.kept(), 1);
    // A kept connection the server ended fails its next statement as a lost connection (as a
    // pooled one in steady use does), is not kept, and the one after works.
    let kept = pid(reader.clone()).await;
    db.conn
        .execute_unprepared(&format!("SELECT pg_terminate_backend({kept})"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let lost = reader
        .query_one_raw(sql("SELECT 1 AS one"))
        .await
        .unwrap_err();
    let api: jobintel::error::ApiError = lost.into();
    assert_eq!(api.code(), "SERVICE_UNAVAILABLE");
    assert_ne!(pid(reader.clone()).await, kept);
    // Never more than asked.
    let many = futures_util::future::join_all((0..5).map(|_| pid(reader.clone()))).await;
    assert_eq!(many.len(), 5);
    assert!((1..=2).contains(&reader.kept()));
    // At shutdown every kept connection goes back, and none is kept after: closing the pool
    // waits for all of them.
    let stop = tokio_util::sync::CancellationToken::new();
    reader.watch(stop.clone());
    stop.cancel();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while reader.kept() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "still kept after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pid(reader.clone()).await;
    assert_eq!(reader.kept(), 0);
    tokio::time::timeout(Duration::from_secs(10), db.conn.close_by_ref())
        .await
        .expect("the pool closes: no connection is held back")
        .unwrap();
}

#[tokio::test]
async fn a_connection_the_read_path_keeps_is_still_replaced_past_the_pools_lifetime() {
    let Some(db) = testkit::postgres_only("kept lifetime").await else {
        return;
    };
    // A pool whose connections may live 300 ms: under steady reads, the read path must still
    // hand its kept connection back often enough for the pool to replace it.
    let mut opts = sea_orm::ConnectOptions::new(db.url.clone());
    opts.max_connections(2)
        .min_connections(0)
        .max_lifetime(Duration::from_millis(300))
        .sqlx_logging(false);
    let pool = sea_orm::Database::connect(opts).await.unwrap();
    let backends = |reader: jobintel::db::Reader, run_for: Duration| async move {
        let mut pids = std::collections::BTreeSet::new();
        let until = std::time::Instant::now() + run_for;
        while std::time::Instant::now() < until {
            pids.insert(backend_pid(&reader).await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        pids
    };
    // Kept for at most 100 ms each: the pool replaces them once they are 300 ms old.
    let rotating =
        jobintel::db::Reader::new(pool.clone(), 1).keeping_each_at_most(Duration::from_millis(100));
    let seen = backends(rotating, Duration::from_millis(1500)).await;
    assert!(
        seen.len() >= 2,
        "one backend served 1.5 s of reads on 300 ms connections: {seen:?}"
    );
    // Kept for the default minute, the same reads never go back to the pool: one backend
    // throughout, past the pool's lifetime (what the rotation is for).
    let keeping = jobintel::db::Reader::new(pool.clone(), 1);
    let seen = backends(keeping, Duration::from_millis(800)).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
}

#[tokio::test]
async fn a_page_of_postings_with_their_runs_costs_a_constant_number_of_statements() {
    for db in testkit::databases("loader").await {
        let mut runs = Vec::new();
        for s in [Source::Seek, Source::Indeed, Source::Lever, Source::Ashby] {
            runs.push(run(&db.conn, s).await);
        }
        let seeds: Vec<Seed> = (0..150)
            .map(|i| Seed {
                first_run: Some(runs[i % 4]),
                last_run: Some(runs[(i + 1) % 4]),
                posted_at: Some(
                    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
                        + chrono::Duration::minutes(i as i64),
                ),
                ..seed(&format!("Job {i}"))
            })
            .collect();
        insert_bulk(&db.conn, &seeds).await;
        let (conn, log) = counting(&db.conn);
        let st = counted_state(conn);
        let q = "query($n: Int) { jobPostings(first: $n) { edges { node { title \
            firstRun { id source status jobsNew } lastRun { id source } } } } }";
        let mut counts = Vec::new();
        for n in [10, 100] {
            log.lock().unwrap().clear();
            let d = data(&st, q, json!({ "n": n })).await;
            let edges = d["jobPostings"]["edges"].as_array().unwrap();
            assert_eq!(edges.len(), n as usize);
            assert!(
                edges
                    .iter()
                    .all(|e| e["node"]["firstRun"]["source"].is_string())
            );
            let statements = log.lock().unwrap().clone();
            counts.push(statements.len());
            // One page query, then every run of the page in one batched `IN (…)` query.
            assert_eq!(
                statements.len(),
                2,
                "{:?} n={n}: {statements:#?}",
                db.backend
            );
        }
        assert_eq!(counts[0], counts[1]);
    }
}

/// `history` on a page of postings is one batched statement (primed by the connection, so
/// the count does not depend on the executor's timing), and each posting gets exactly its
/// own newest entries; a page after a cursor still reads that posting alone.
#[tokio::test]
async fn a_page_of_postings_with_their_history_costs_one_history_statement() {
    for db in testkit::databases("history_loader").await {
        let seeds: Vec<Seed> = (0..30)
            .map(|i| Seed {
                posted_at: Some(
                    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
                        + chrono::Duration::minutes(i),
                ),
                ..seed(&format!("Job {i}"))
            })
            .collect();
        insert_bulk(&db.conn, &seeds).await;
        let postings = job_posting::Entity::find().all(&db.conn).await.unwrap();
        // Posting k gets k % 4 entries, interleaved with the others' so ids do not follow
        // postings.
        let mut expected: std::collections::HashMap<i64, Vec<i64>> = Default::default();
        for round in 0..3 {
            for (k, p) in postings.iter().enumerate() {
                if round >= k % 4 {
                    continue;
                }
                let entry = entity::posting_history::ActiveModel {
                    id: NotSet,
                    posting_id: Set(p.id),
                    run_id: Set(None),
                    kind: Set(entity::PostingChangeKind::Changed),
                    changes: Set(
                        json!([{"field": "title", "from": "a", "to": format!("b{round}")}]),
                    ),
                    changed_at: Set(Utc
                        .with_ymd_and_hms(2026, 11, 2, round as u32, 0, 0)
                        .unwrap()),
                }
                .insert(&db.conn)
                .await
                .unwrap();
                expected.entry(p.id).or_default().insert(0, entry.id);
            }
        }
        let (conn, log) = counting(&db.conn);
        let st = counted_state(conn);
        for q in [
            "{ jobPostings(first: 30) { nodes { databaseId \
             history(first: 2) { nodes { id kind } pageInfo { hasNextPage endCursor } } } } }",
            "query($n: Int) { jobPostings(first: 30) { edges { node { databaseId \
             history(first: $n) { nodes { id kind } pageInfo { hasNextPage endCursor } } } } } }",
        ] {
            log.lock().unwrap().clear();
            let d = data(&st, q, json!({ "n": 2 })).await;
            let statements = log.lock().unwrap().clone();
            assert_eq!(
                statements.len(),
                2,
                "{:?}: the page, then every posting's history at once: {statements:#?}",
                db.backend
            );
            let list = &d["jobPostings"];
            let nodes: Vec<&Value> = match list["nodes"].as_array() {
                Some(n) => n.iter().collect(),
                None => list["edges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| &e["node"])
                    .collect(),
            };
            assert_eq!(nodes.len(), 30);
            for n in nodes {
                let id = n["databaseId"].as_i64().unwrap();
                let all = expected.get(&id).cloned().unwrap_or_default();
                let got: Vec<i64> = n["history"]["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h["id"].as_str().unwrap().parse().unwrap())
                    .collect();
                assert_eq!(got, all.iter().take(2).copied().collect::<Vec<_>>(), "{id}");
                assert_eq!(n["history"]["pageInfo"]["hasNextPage"], all.len() > 2);
            }
        }
        // The next page of the posting with three entries: its oldest one.
        let (id, all) = expected.iter().find(|(_, v)| v.len() == 3).unwrap();
        let q = "query($id: ID!, $after: String) { jobPosting(id: $id) { \
            history(first: 2, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }";
        let first = data(&st, q, json!({ "id": id.to_string() })).await;
        let cursor = first["jobPosting"]["history"]["pageInfo"]["endCursor"].clone();
        let next = data(&st, q, json!({ "id": id.to_string(), "after": cursor })).await;
        assert_eq!(
            next["jobPosting"]["history"]["nodes"],
            json!([{ "id": all[2].to_string() }])
        );
        assert_eq!(
            next["jobPosting"]["history"]["pageInfo"]["hasNextPage"],
            false
        );
    }
}

/// Identical aggregates asked at once (a dashboard's clients after a write) run one query and
/// share its answer; a read after a write committed computes afresh.
#[tokio::test]
async fn concurrent_identical_aggregates_run_one_query() {
    use jobintel::service::aggregates::AggregateCache;
    use jobintel::service::filter::PostingFilter;
    for db in testkit::databases("aggregate_flight").await {
        filter_fixture(&db.conn).await;
        let expected = job_posting::Entity::find()
            .all(&db.conn)
            .await
            .unwrap()
            .len() as u64;
        let (conn, log) = counting(&db.conn);
        let generation = ingest::generation::Generation::new();
        let cache = AggregateCache::new(generation.clone(), 1 << 20);
        let filter = PostingFilter::default();

        let counts =
            futures_util::future::join_all((0..8).map(|_| cache.count(&conn, &filter))).await;
        assert!(
            counts.iter().all(|c| *c.as_ref().unwrap() == expected),
            "{counts:?}"
        );
        assert_eq!(
            log.lock().unwrap().len(),
            1,
            "{:?}: one count for eight",
            db.backend
        );

        // A write commits: the next reads compute again (once), not from the old flight.
        generation.bump();
        log.lock().unwrap().clear();
        let counts =
            futures_util::future::join_all((0..4).map(|_| cache.count(&conn, &filter))).await;
        assert!(counts.iter().all(|c| *c.as_ref().unwrap() == expected));
        assert_eq!(log.lock().unwrap().len(), 1);
    }
}

/// `totalCount` alone runs the count and nothing else; with a page it runs both.
#[tokio::test]
async fn total_count_alone_does_not_read_a_page() {
    for db in testkit::databases("count_only").await {
        filter_fixture(&db.conn).await;
        let (conn, log) = counting(&db.conn);
        let st = counted_state(conn);
        let all = data(&st, "{ jobPostings { totalCount } }", json!({})).await;
        let statements = log.lock().unwrap().clone();
        assert_eq!(statements.len(), 1, "{:?}: {statements:#?}", db.backend);
        assert!(
            statements[0].to_uppercase().contains("COUNT("),
            "{statements:#?}"
        );
        log.lock().unwrap().clear();
        let with_page = data(
            &st,
            "{ jobPostings(first: 2) { totalCount pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
        assert_eq!(
            with_page["jobPostings"]["totalCount"],
            all["jobPostings"]["totalCount"]
        );
        assert_eq!(with_page["jobPostings"]["pageInfo"]["hasNextPage"], true);
        // The same filter under the same data generation: the count is the aggregate cache's,
        // only the page is read.
        let statements = log.lock().unwrap().clone();
        assert_eq!(statements.len(), 1, "{:?}: {statements:#?}", db.backend);
        assert!(!statements[0].to_uppercase().contains("COUNT("));
        // Another filter: counted and paged.
        log.lock().unwrap().clear();
        data(
            &st,
            "{ jobPostings(first: 2, filter: {open: true}) { totalCount pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
        assert_eq!(log.lock().unwrap().len(), 2, "{:?}", db.backend);
    }
}

#[tokio::test]
async fn list_queries_read_only_the_columns_of_the_selected_fields() {
    for db in testkit::databases("columns").await {
        filter_fixture(&db.conn).await;
        let (conn, log) = counting(&db.conn);
        let st = counted_state(conn);
        let lean = data(
            &st,
            "{ jobPostings(first: 3) { nodes { title descriptionText } } }",
            json!({}),
        )
        .await;
        let sql = log.lock().unwrap().join("\n");
        assert!(
            !sql.contains("description_html") && !sql.contains("raw"),
            "{sql}"
        );
        assert!(
            !sql.contains("p.url") && !sql.contains("p.content_hash"),
            "{sql}"
        );
        assert!(
            sql.contains("p.description_text") && sql.contains("p.title"),
            "{sql}"
        );
        assert!(lean["jobPostings"]["nodes"][0]["descriptionText"].is_string());
        log.lock().unwrap().clear();
        let full = data(
            &st,
            "{ jobPostings(first: 1, filter: { companies: [\"Globex\"] }) { edges { node { descriptionHtml raw } } } }",
            json!({}),
        )
        .await;
        assert_eq!(
            full["jobPostings"]["edges"][0]["node"]["descriptionHtml"],
            "<p>A contract role.</p>"
        );
        assert!(full["jobPostings"]["edges"][0]["node"]["raw"].is_object());
        let sql = log.lock().unwrap().join("\n");
        assert!(
            sql.contains("p.description_html") && sql.contains("p.raw"),
            "{sql}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Protection limits and persisted queries, over HTTP

struct Server {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(state: AppState) -> Server {
    jobintel::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, state, async move {
        let _ = rx.await;
    }));
    Server { addr, stop, task }
}

impl Server {
    fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    async fn post(&self, body: &Value) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(self.url())
            .json(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

#[tokio::test]
async fn each_protection_limit_rejects_with_its_code() {
    let db = testkit::sqlite("limits").await;
    let srv = start(
        AppState::new(
            db.conn.clone(),
            ServerSettings {
                max_body_bytes: 32 * 1024,
                ..ServerSettings::default()
            },
        )
        .unwrap(),
    )
    .await;
    let q = |query: &str| json!({ "query": query });

    // Depth: 11 levels.
    let (_, v) = srv
        .post(&q("{ jobPostings { edges { node { firstRun { postings { edges { node { lastRun { postings { nodes { id } } } } } } } } } } }"))
        .await;
    assert_eq!(code(&v), "QUERY_TOO_DEEP", "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("10"));

    // Complexity: a page of 100 under a page of 100.
    let (_, v) = srv
        .post(&q("{ jobPostings(first: 100) { edges { node { firstRun { postings(first: 100) { edges { node { id title } } } } } } } }"))
        .await;
    assert_eq!(code(&v), "QUERY_TOO_COMPLEX", "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("20000"),
        "{v}"
    );
    // The same shape with small pages is fine.
    let (_, v) = srv
        .post(&q("{ jobPostings(first: 10) { edges { node { firstRun { postings(first: 10) { edges { node { id title } } } } } } } }"))
        .await;
    assert!(v.get("errors").is_none(), "{v}");

    // Aliases.
    let many = (0..31)
        .map(|i| format!("a{i}: health {{ status }}"))
        .collect::<Vec<_>>()
        .join(" ");
    let (_, v) = srv.post(&q(&format!("{{ {many} }}"))).await;
    assert_eq!(code(&v), "TOO_MANY_ALIASES", "{v}");

    // Page size.
    for arg in ["first", "last"] {
        let (_, v) = srv
            .post(&q(&format!(
                "{{ jobPostings({arg}: 101) {{ nodes {{ id }} }} }}"
            )))
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        assert!(
            v["errors"][0]["message"].as_str().unwrap().contains("100"),
            "{v}"
        );
    }

    // Batches.
    let batch: Vec<Value> = (0..11).map(|_| q("{ health { status } }")).collect();
    let (status, v) = srv.post(&Value::Array(batch)).await;
    assert_eq!((status, code(&v)), (400, "BATCH_TOO_LARGE"), "{v}");
    let batch: Vec<Value> = (0..10).map(|_| q("{ health { status } }")).collect();
    let (status, v) = srv.post(&Value::Array(batch)).await;
    assert_eq!(status, 200);
    assert_eq!(v.as_array().unwrap().len(), 10);

    // Body size.
    let (status, v) = srv
        .post(&q(&format!(
            "{{ health {{ status }} }} # {}",
            "x".repeat(40 * 1024)
        )))
        .await;
    assert_eq!((status, code(&v)), (413, "PAYLOAD_TOO_LARGE"), "{v}");

    // Parse and validation errors carry a code too.
    let (_, v) = srv.post(&q("{ health {")).await;
    assert_eq!(code(&v), "GRAPHQL_PARSE_FAILED", "{v}");
    let (_, v) = srv.post(&q("{ nope }")).await;
    assert_eq!(code(&v), "GRAPHQL_VALIDATION_FAILED", "{v}");

    // GraphiQL's introspection query (13 levels deep) is not affected by the depth limit.
    let (_, v) = srv
        .post(&q("{ __schema { types { name fields { name args { name type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } } } } }"))
        .await;
    assert!(v.get("errors").is_none(), "{v}");
    srv.stop().await;
}

#[tokio::test]
async fn automatic_persisted_queries_follow_the_apollo_protocol() {
    // sha256("query { health { status } }") and sha256("mutation { __typename }").
    const HEALTH: &str = "query { health { status } }";
    const HEALTH_HASH: &str = "5697f71d1f0d10e52fa515ced15490447d75cb697c864718687a1d67c012968d";
    const MUTATION: &str = "mutation { __typename }";
    const MUTATION_HASH: &str = "22c9efff0269bd71ee0875759c0ae2b966100d019474f3e91a2b73d3dada7f8f";
    let db = testkit::sqlite("apq").await;
    let srv = start(state(db.conn.clone())).await;
    let ext = |hash: &str| json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });

    // Unknown hash: the client must send the text.
    let (_, v) = srv.post(&json!({ "extensions": ext(HEALTH_HASH) })).await;
    assert_eq!(code(&v), "PERSISTED_QUERY_NOT_FOUND", "{v}");
    assert_eq!(v["errors"][0]["message"], "PersistedQueryNotFound");
    // Text + hash registers it; a wrong hash is refused.
    let (_, v) = srv
        .post(&json!({ "query": HEALTH, "extensions": ext(MUTATION_HASH) }))
        .await;
    assert_eq!(code(&v), "BAD_REQUEST", "{v}");
    let (_, v) = srv
        .post(&json!({ "query": HEALTH, "extensions": ext(HEALTH_HASH) }))
        .await;
    assert_eq!(v["data"]["health"]["status"], "ok", "{v}");
    // Then the hash alone works, over POST and GET.
    let (_, v) = srv.post(&json!({ "extensions": ext(HEALTH_HASH) })).await;
    assert_eq!(v["data"]["health"]["status"], "ok", "{v}");
    let get = |hash: &str| {
        let url =
            reqwest::Url::parse_with_params(&srv.url(), &[("extensions", ext(hash).to_string())])
                .unwrap();
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let v = get(HEALTH_HASH).await;
    assert_eq!(v["data"]["health"]["status"], "ok", "{v}");

    // A persisted mutation cannot be triggered with a GET (cross-site safe).
    let (_, v) = srv
        .post(&json!({ "query": MUTATION, "extensions": ext(MUTATION_HASH) }))
        .await;
    assert!(v.get("errors").is_none(), "{v}");
    let v = get(MUTATION_HASH).await;
    assert_eq!(code(&v), "METHOD_NOT_ALLOWED", "{v}");
    assert!(v.get("data").is_none_or(|d| d.is_null()), "{v}");

    // Oversized documents are not cached.
    let big = format!(
        "query {{ health {{ status }} }} # {}",
        "x".repeat(17 * 1024)
    );
    let (_, v) = srv
        .post(&json!({ "query": big, "extensions": ext(HEALTH_HASH) }))
        .await;
    assert_eq!(code(&v), "PERSISTED_QUERY_TOO_LARGE", "{v}");
    srv.stop().await;
}

#[tokio::test]
async fn a_search_for_a_common_word_pages_like_a_rare_one() {
    // Past 2,000 matches SQLite walks the order's index and probes FTS5 per row instead of
    // starting from the matches: the results must be the same.
    for db in testkit::databases("common_word").await {
        let seeds: Vec<Seed> = (0..2_300)
            .map(|i| Seed {
                posted_at: (i % 9 != 0).then(|| {
                    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
                        + chrono::Duration::minutes((i * 37 % 5_000) as i64)
                }),
                source: if i % 3 == 0 {
                    Source::Seek
                } else {
                    Source::Indeed
                },
                ..seed(if i % 10 == 0 {
                    "Accountant"
                } else {
                    "Software Engineer"
                })
            })
            .collect();
        insert_bulk(&db.conn, &seeds).await;
        let models = job_posting::Entity::find().all(&db.conn).await.unwrap();
        let st = state(db.conn.clone());
        let mut expected: Vec<&job_posting::Model> = models
            .iter()
            .filter(|m| m.title.contains("Engineer") && m.source == Source::Seek)
            .collect();
        expected.sort_by(|a, b| {
            let key =
                |m: &job_posting::Model| m.posted_at.map(|t| t.timestamp()).unwrap_or(i64::MIN);
            key(b).cmp(&key(a)).then(b.id.cmp(&a.id))
        });
        let expected: Vec<i64> = expected.iter().map(|m| m.id).collect();
        let filter = json!({ "search": "engineers", "sources": ["SEEK"] });
        assert_eq!(
            walk_forward(&st, filter.clone(), Value::Null, 100).await,
            expected
        );
        assert_eq!(
            walk_backward(&st, filter.clone(), Value::Null, 100).await,
            expected
        );
        let count = data(
            &st,
            PAGE,
            json!({ "filter": { "search": "engineer" }, "first": 1 }),
        )
        .await;
        assert_eq!(
            count["jobPostings"]["totalCount"], 2_070,
            "{:?}",
            db.backend
        );
    }
}

#[tokio::test]
async fn each_posting_field_alone_reads_what_it_needs() {
    // Column pruning must never change an answer: every field of JobPosting, asked alone, equals
    // the same field asked together with all the others.
    let db = testkit::sqlite("each_field").await;
    let (ids, _, _) = filter_fixture(&db.conn).await;
    let st = state(db.conn.clone());
    let fields = data(
        &st,
        "{ __type(name: \"JobPosting\") { fields { name } } }",
        json!({}),
    )
    .await["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let select = |f: &str| match f {
        "salary" => "salary { text min max currency period annualMin annualMax source }".to_owned(),
        "firstRun" | "lastRun" => format!("{f} {{ id }}"),
        "history" => "history(first: 2) { nodes { kind changes { field } } }".to_owned(),
        "cluster" => "cluster { id size postings { id source url } }".to_owned(),
        other => other.to_owned(),
    };
    let all = fields
        .iter()
        .map(|f| select(f))
        .collect::<Vec<_>>()
        .join(" ");
    for id in [ids[0], ids[3]] {
        let vars = json!({ "id": id.to_string() });
        let full = data(
            &st,
            &format!("query($id: ID!) {{ jobPosting(id: $id) {{ {all} }} }}"),
            vars.clone(),
        )
        .await;
        let listed = data(
            &st,
            &format!("query {{ jobPostings(first: 100) {{ nodes {{ {all} }} }} }}"),
            json!({}),
        )
        .await;
        let in_list = listed["jobPostings"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["databaseId"] == id)
            .unwrap()
            .clone();
        assert_eq!(in_list, full["jobPosting"]);
        for f in &fields {
            let one = data(
                &st,
                &format!(
                    "query($id: ID!) {{ jobPosting(id: $id) {{ {} }} }}",
                    select(f)
                ),
                vars.clone(),
            )
            .await;
            assert_eq!(one["jobPosting"][f], full["jobPosting"][f], "field {f}");
            let page = data(
                &st,
                &format!(
                    "{{ jobPostings(first: 100) {{ edges {{ node {{ databaseId {} }} }} }} }}",
                    select(f)
                ),
                json!({}),
            )
            .await;
            let node = page["jobPostings"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["node"]["databaseId"] == id)
                .unwrap()["node"]
                .clone();
            assert_eq!(node[f], full["jobPosting"][f], "field {f} in a page");
        }
    }
}

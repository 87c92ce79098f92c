//! Posting clusters through the API (issue #15), on SQLite and PostgreSQL
//! (`TEST_DATABASE_URL`): `JobPosting.cluster`, `JobPostingFilter.distinct` (with keyset
//! paging), `jobStats(filter: {distinct: true})` and `jobPostingAdded(newClustersOnly: true)`
//! against a real ingest.

mod support;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use entity::{RunTrigger, Source};
use ingest::NormalizedPosting;
use ingest::store::{self, NewRun};
use jobintel::state::ServerSettings;
use serde_json::{Value, json};
use support::*;

const DATA_JOB: &str = "Join our platform team to design, build and operate the data pipelines \
    that move billions of events a day. You will own batch and streaming jobs in Spark and \
    Flink, model data in our warehouse, and mentor two junior engineers. We offer hybrid work \
    from our Sydney office, a learning budget and a generous parental leave policy.";
const OTHER_JOB: &str = "You will lead the migration of our reporting stack to a lakehouse, \
    talk to finance and marketing every week about their dashboards, write dbt models, and \
    keep costs in check across three cloud accounts. On-call one week in six; we pay for \
    conferences and certifications, and the team meets in person every Thursday.";

fn job(source: Source, id: &str, company: &str, title: &str, text: &str) -> NormalizedPosting {
    NormalizedPosting {
        source,
        external_id: id.into(),
        url: format!("https://{}.example.com/{id}", source.as_str()),
        apply_url: None,
        title: title.into(),
        company: Some(company.into()),
        company_external_id: None,
        location: ingest::model::Location {
            raw: Some("Sydney NSW".into()),
            city: Some("Sydney".into()),
            region: Some("NSW".into()),
            country: Some("AU".into()),
        },
        work_type: None,
        work_arrangement: entity::WorkArrangement::Unknown,
        salary: Default::default(),
        description_html: Some(format!("<p>{text}</p>")),
        description_text: Some(text.into()),
        classification: None,
        posted_at: Some(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()),
        expires_at: None,
        raw: json!({}),
    }
}

async fn store_page(db: &sea_orm::DatabaseConnection, source: Source, page: &[NormalizedPosting]) {
    let run = store::create_run(
        db,
        NewRun::manual(source, Default::default(), RunTrigger::Cli),
    )
    .await
    .unwrap();
    store::upsert_page(db, run.id, page).await.unwrap();
}

const CLUSTERS: &str = r#"query($f: JobPostingFilter, $after: String) {
  jobPostings(filter: $f, first: 1, after: $after, orderBy: {field: FIRST_SEEN_AT, direction: ASC}) {
    totalCount
    nodes { id source title cluster { id size postings { id source url } } }
    pageInfo { hasNextPage endCursor }
  }
  jobStats(filter: $f) { total }
}"#;

/// Every page of `CLUSTERS` for filter `f`: (nodes, totalCount, jobStats.total).
async fn all_pages(srv: &Server, f: Value) -> (Vec<Value>, u64, u64) {
    let mut nodes = Vec::new();
    let mut after = Value::Null;
    loop {
        let v = srv
            .gql_with(CLUSTERS, json!({"f": f, "after": after}), None)
            .await;
        assert!(v["errors"].is_null(), "{v}");
        let page = &v["data"]["jobPostings"];
        nodes.extend(page["nodes"].as_array().unwrap().iter().cloned());
        if page["pageInfo"]["hasNextPage"] != true {
            return (
                nodes,
                page["totalCount"].as_u64().unwrap(),
                v["data"]["jobStats"]["total"].as_u64().unwrap(),
            );
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test]
async fn cluster_field_distinct_filter_and_job_stats_count_jobs_not_rows() {
    for db in testkit::databases("api_clusters").await {
        // One job on three boards, another job at the same company, one elsewhere.
        store_page(
            &db.conn,
            Source::Seek,
            &[job(
                Source::Seek,
                "s1",
                "Acme Pty Ltd",
                "Data Engineer",
                DATA_JOB,
            )],
        )
        .await;
        store_page(
            &db.conn,
            Source::Indeed,
            &[
                job(Source::Indeed, "i1", "ACME", "Data Engineer", DATA_JOB),
                job(Source::Indeed, "i2", "Acme", "Analytics Lead", OTHER_JOB),
            ],
        )
        .await;
        store_page(
            &db.conn,
            Source::Lever,
            &[
                job(
                    Source::Lever,
                    "l1",
                    "Acme Inc.",
                    "Data Engineer (m/w/d)",
                    DATA_JOB,
                ),
                job(Source::Lever, "l2", "Globex", "Data Engineer", DATA_JOB),
            ],
        )
        .await;
        let srv = start_with(&db.conn, test_settings()).await;

        let (rows, total, stats) = all_pages(&srv, json!({})).await;
        assert_eq!((rows.len(), total, stats), (5, 5, 5), "{:?}", db.backend);
        let (jobs, total, stats) = all_pages(&srv, json!({"distinct": true})).await;
        assert_eq!((jobs.len(), total, stats), (3, 3, 3), "{jobs:?}");

        // The first-stored posting represents its cluster, the others one field away.
        let seek = &jobs[0];
        assert_eq!(seek["source"], "SEEK", "{jobs:?}");
        let cluster = &seek["cluster"];
        assert_eq!(cluster["size"], 3, "{cluster}");
        let members: Vec<&str> = cluster["postings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["source"].as_str().unwrap())
            .collect();
        assert_eq!(members, ["SEEK", "INDEED", "LEVER"]);
        assert_eq!(cluster["postings"][0]["id"], seek["id"]);
        assert_eq!(
            cluster["postings"][2]["url"],
            "https://lever.example.com/l1"
        );
        // Every member reports the same cluster; a posting alone is a cluster of one.
        for node in &rows {
            let size = node["cluster"]["size"].as_i64().unwrap();
            if node["title"] == "Analytics Lead" || node["source"] == "LEVER" && size == 1 {
                assert_eq!(size, 1, "{node}");
            } else if size == 3 {
                assert_eq!(node["cluster"]["id"], cluster["id"], "{node}");
            }
        }
        let sizes: Vec<i64> = rows
            .iter()
            .map(|n| n["cluster"]["size"].as_i64().unwrap())
            .collect();
        assert_eq!(sizes.iter().filter(|s| **s == 3).count(), 3, "{sizes:?}");
        // `cluster.postings` is bounded by its limit.
        let v = srv
            .gql(r#"{ jobPostings(filter: {distinct: true, sources: [SEEK]}) { nodes { cluster { size postings(limit: 1) { source } } } } }"#)
            .await;
        let c = &v["data"]["jobPostings"]["nodes"][0]["cluster"];
        assert_eq!(c["size"], 3, "{v}");
        assert_eq!(c["postings"].as_array().unwrap().len(), 1, "{v}");
        srv.stop().await;
    }
}

fn settings_for(base: &url::Url) -> ServerSettings {
    let mut s = test_settings();
    s.engine
        .base_urls
        .insert(entity::Source::Greenhouse, base.clone());
    s
}

const ADDED: &str = "subscription($only: Boolean) { jobPostingAdded(newClustersOnly: $only) { title source cluster { size } } }";

async fn subscribe_vars(ws: &mut Ws, id: &str, query: &str, variables: Value) {
    futures_util::SinkExt::send(
        ws,
        tokio_tungstenite::tungstenite::Message::text(
            json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}})
                .to_string(),
        ),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn job_posting_added_can_announce_new_clusters_only() {
    let base = greenhouse_stub(GREENHOUSE_BOARD.to_owned()).await;
    // The board's accounts job, already stored from SEEK: the Greenhouse copy joins its cluster.
    let board =
        ingest::sources::greenhouse::parse_board(GREENHOUSE_BOARD.as_bytes(), "acme").unwrap();
    let accounts = board
        .iter()
        .find(|p| p.title == "Accounts Payable Lead")
        .expect("fixture posting");
    let mut on_seek = accounts.clone();
    on_seek.source = Source::Seek;
    on_seek.external_id = "90000001".into();
    on_seek.url = "https://www.seek.com.au/job/90000001".into();
    for db in testkit::databases("api_clusters_sub").await {
        store_page(&db.conn, Source::Seek, std::slice::from_ref(&on_seek)).await;
        let srv = start_with(&db.conn, settings_for(&base)).await;
        let mut new_jobs = srv.ws("graphql-transport-ws", json!({})).await;
        subscribe_vars(&mut new_jobs, "n", ADDED, json!({"only": true})).await;
        let mut every = srv.ws("graphql-transport-ws", json!({})).await;
        subscribe_vars(&mut every, "e", ADDED, json!({})).await;
        tokio::time::sleep(Duration::from_millis(100)).await;

        let run = queue_greenhouse_run(&srv.state).await;
        let report = execute(&srv.state, run).await.unwrap();
        assert_eq!(report.counters.jobs_new, 2, "{:?}", report.counters);

        let mut all = Vec::new();
        for _ in 0..2 {
            let v = next_json(&mut every).await;
            all.push(v["payload"]["data"]["jobPostingAdded"]["title"].clone());
        }
        assert!(all.contains(&json!("Accounts Payable Lead")), "{all:?}");
        let v = next_json(&mut new_jobs).await;
        let added = &v["payload"]["data"]["jobPostingAdded"];
        assert_eq!(
            added["title"], "AI Research Engineer -  3D Computer Vision",
            "{v}"
        );
        assert_eq!(added["cluster"]["size"], 1, "{v}");
        assert!(
            next_json_within(&mut new_jobs, Duration::from_millis(300))
                .await
                .is_none(),
            "the accounts job was already known from SEEK"
        );
        srv.stop().await;
    }
}

/// Rows stored before clusters existed have no keys; housekeeping fills them (in batches, by
/// id), after which a new posting of the same job joins the old row's cluster. Rows of an
/// unknown company get a title key but no SimHash (they never cluster).
#[tokio::test]
async fn housekeeping_gives_old_rows_keys_that_new_postings_then_match() {
    use jobintel::scheduler::housekeeping;
    use sea_orm::{ConnectionTrait, Statement};
    for db in testkit::databases("api_cluster_keys").await {
        let mut old: Vec<NormalizedPosting> = (0..3)
            .map(|i| {
                job(
                    Source::Seek,
                    &format!("old{i}"),
                    "Acme Pty Ltd",
                    &format!("Data Engineer {i}"),
                    DATA_JOB,
                )
            })
            .collect();
        old[0].title = "Data Engineer".into();
        old.push(job(
            Source::Seek,
            "anon",
            "Private Advertiser",
            "Data Engineer",
            DATA_JOB,
        ));
        store_page(&db.conn, Source::Seek, &old).await;
        // As a database migrated from before clusters holds them.
        db.conn
            .execute_raw(Statement::from_string(
                db.conn.get_database_backend(),
                "UPDATE job_postings SET company_key = NULL, title_key = NULL, simhash = NULL, \
                 cluster_id = NULL",
            ))
            .await
            .unwrap();

        let (filled, batches) = housekeeping::fill_cluster_keys(&db.conn).await.unwrap();
        assert_eq!((filled, batches), (4, 1), "{:?}", db.backend);
        let rows = db
            .conn
            .query_all_raw(Statement::from_string(
                db.conn.get_database_backend(),
                "SELECT external_id, company_key, title_key, simhash FROM job_postings \
                 ORDER BY external_id",
            ))
            .await
            .unwrap();
        let keys: Vec<(String, Option<String>, Option<String>, bool)> = rows
            .iter()
            .map(|r| {
                (
                    r.try_get("", "external_id").unwrap(),
                    r.try_get("", "company_key").unwrap(),
                    r.try_get("", "title_key").unwrap(),
                    r.try_get::<Option<i64>>("", "simhash").unwrap().is_some(),
                )
            })
            .collect();
        assert_eq!(
            keys[0],
            ("anon".into(), None, Some("data engineer".into()), false),
            "{:?}",
            db.backend
        );
        assert_eq!(
            keys[1],
            (
                "old0".into(),
                Some("acme".into()),
                Some("data engineer".into()),
                true
            ),
            "{:?}",
            db.backend
        );
        // Nothing left: the next pass fills nothing.
        assert_eq!(
            housekeeping::fill_cluster_keys(&db.conn).await.unwrap(),
            (0, 1),
            "{:?}",
            db.backend
        );

        // The same job on another board now joins the old SEEK row.
        store_page(
            &db.conn,
            Source::Indeed,
            &[job(
                Source::Indeed,
                "new",
                "ACME",
                "Data Engineer",
                DATA_JOB,
            )],
        )
        .await;
        let srv = start_with(&db.conn, test_settings()).await;
        let v = srv
            .gql(
                r#"{ jobPostings(filter: {sources: [INDEED]}) { nodes { cluster { size postings { source url } } } } }"#,
            )
            .await;
        assert!(v["errors"].is_null(), "{v}");
        let cluster = &v["data"]["jobPostings"]["nodes"][0]["cluster"];
        assert_eq!(cluster["size"], 2, "{:?}: {v}", db.backend);
        let urls: Vec<&str> = cluster["postings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["url"].as_str().unwrap())
            .collect();
        assert!(urls.contains(&"https://seek.example.com/old0"), "{urls:?}");
        srv.stop().await;
    }
}

//! Saved searches over HTTP against the real router on 127.0.0.1:0, on SQLite and (with
//! TEST_DATABASE_URL) PostgreSQL: create/read/update/pause/resume/delete, the writer token,
//! and every validation error (URL scheme, private address, secret, events, filter).

mod support;

use jobintel::config::Secret;
use jobintel::graphql::auth::AuthPolicy;
use serde_json::{Value, json};

const TOKEN: &str = "writer-token-for-tests";

fn code(v: &Value) -> &str {
    v["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

fn message(v: &Value) -> &str {
    v["errors"][0]["message"].as_str().unwrap_or("")
}

const CREATE: &str =
    "mutation($input: CreateSavedSearchInput!) { createSavedSearch(input: $input) {
    id name filter webhookUrl events digest enabled pausedReason hasSecret createdAt updatedAt } }";

fn input(url: &str) -> Value {
    json!({
        "name": "rust in sydney",
        "filter": {"titleContains": "rust", "sources": ["SEEK"]},
        "webhookUrl": url,
        "secret": "0123456789abcdef-secret",
        "events": ["NEW", "CLOSED"],
    })
}

async fn server(db: &testkit::TestDb, allow_private: bool) -> support::Server {
    let mut settings = support::test_settings();
    settings.fetch.allow_private_network = allow_private;
    settings.auth = AuthPolicy {
        token: Some(Secret::new(TOKEN)),
        protect_reads: false,
        loopback_only: false,
    };
    support::start_with(&db.conn, settings).await
}

#[tokio::test]
async fn saved_searches_are_created_read_updated_paused_and_deleted() {
    for db in testkit::databases("saved_crud").await {
        let s = server(&db, true).await;
        let hook = "http://127.0.0.1:9/hook";

        // Mutations need the writer token, like every mutation.
        let anon = s
            .gql_with(CREATE, json!({"input": input(hook)}), None)
            .await;
        assert_eq!(code(&anon), "UNAUTHENTICATED", "{anon}");

        let created = s
            .gql_with(CREATE, json!({"input": input(hook)}), Some(TOKEN))
            .await;
        let ss = &created["data"]["createSavedSearch"];
        assert_eq!(ss["name"], "rust in sydney", "{created}");
        assert_eq!(
            ss["filter"],
            json!({"titleContains": "rust", "sources": ["SEEK"]})
        );
        assert_eq!(ss["events"], json!(["NEW", "CLOSED"]));
        assert_eq!(ss["digest"], "IMMEDIATE");
        assert_eq!(ss["enabled"], true);
        assert_eq!(ss["hasSecret"], true);
        assert!(!created.to_string().contains("0123456789abcdef-secret"));
        let id = ss["id"].as_str().unwrap().to_owned();

        let update = s
            .gql_with(
                "mutation($id: ID!) { updateSavedSearch(id: $id, input: {name: \"renamed\", \
                 digest: HOURLY, events: [UPDATED], filter: {countries: [\"AU\"]}}) \
                 { name digest events filter } }",
                json!({"id": id}),
                Some(TOKEN),
            )
            .await;
        assert_eq!(
            update["data"]["updateSavedSearch"],
            json!({"name": "renamed", "digest": "HOURLY", "events": ["UPDATED"],
                   "filter": {"countries": ["AU"]}}),
            "{update}"
        );

        let paused = s
            .gql_with(
                "mutation($id: ID!) { pauseSavedSearch(id: $id) { enabled pausedReason } }",
                json!({"id": id}),
                Some(TOKEN),
            )
            .await;
        assert_eq!(paused["data"]["pauseSavedSearch"]["enabled"], false);
        assert!(
            paused["data"]["pauseSavedSearch"]["pausedReason"]
                .as_str()
                .is_some()
        );
        let resumed = s
            .gql_with(
                "mutation($id: ID!) { resumeSavedSearch(id: $id) { enabled pausedReason } }",
                json!({"id": id}),
                Some(TOKEN),
            )
            .await;
        assert_eq!(
            resumed["data"]["resumeSavedSearch"],
            json!({"enabled": true, "pausedReason": null})
        );

        let list = s
            .gql("{ savedSearches(first: 10) { edges { node { id name postings(first: 5) { edges { node { id } } } deliveries(first: 5) { edges { node { deliveryId } } } } } } }")
            .await;
        let edges = list["data"]["savedSearches"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 1, "{list}");
        assert_eq!(edges[0]["node"]["id"], id.as_str());
        let one = s
            .gql_with(
                "query($id: ID!) { savedSearch(id: $id) { name } }",
                json!({"id": id}),
                None,
            )
            .await;
        assert_eq!(one["data"]["savedSearch"]["name"], "renamed", "{one}");

        let deleted = s
            .gql_with(
                "mutation($id: ID!) { deleteSavedSearch(id: $id) }",
                json!({"id": id}),
                Some(TOKEN),
            )
            .await;
        assert_eq!(
            deleted["data"]["deleteSavedSearch"],
            id.as_str(),
            "{deleted}"
        );
        let gone = s
            .gql_with(
                "query($id: ID!) { savedSearch(id: $id) { name } }",
                json!({"id": id}),
                None,
            )
            .await;
        assert_eq!(gone["data"]["savedSearch"], Value::Null);
        let again = s
            .gql_with(
                "mutation($id: ID!) { deleteSavedSearch(id: $id) }",
                json!({"id": id}),
                Some(TOKEN),
            )
            .await;
        assert_eq!(code(&again), "NOT_FOUND", "{again}");
        s.stop().await;
    }
}

#[tokio::test]
async fn bad_saved_searches_are_refused_with_what_to_fix() {
    for db in testkit::databases("saved_invalid").await {
        // Without JOBINTEL_ALLOW_PRIVATE_NETWORK, as in production.
        let s = server(&db, false).await;
        let cases: Vec<(Value, &str)> = vec![
            (input("ftp://example.com/hook"), "http or https"),
            (
                input("http://127.0.0.1:8080/hook"),
                "JOBINTEL_ALLOW_PRIVATE_NETWORK",
            ),
            (input("http://10.0.0.5/hook"), "not a public address"),
            (input("http://localhost:8080/hook"), "not a public address"),
            (
                {
                    let mut i = input("http://93.184.216.34/hook");
                    i["secret"] = json!("short");
                    i
                },
                "at least 16",
            ),
            (
                {
                    let mut i = input("http://93.184.216.34/hook");
                    i["events"] = json!([]);
                    i
                },
                "at least one",
            ),
            (
                {
                    let mut i = input("http://93.184.216.34/hook");
                    i["filter"] = json!({"countries": ["Australia"]});
                    i
                },
                "",
            ),
        ];
        for (case, want) in cases {
            let res = s
                .gql_with(CREATE, json!({"input": case}), Some(TOKEN))
                .await;
            assert_eq!(code(&res), "BAD_USER_INPUT", "{case} → {res}");
            assert!(message(&res).contains(want), "{case} → {res}");
        }
        // A public literal address passes the guard (nothing is sent at creation).
        let ok = s
            .gql_with(
                CREATE,
                json!({"input": input("http://93.184.216.34/hook")}),
                Some(TOKEN),
            )
            .await;
        assert!(ok["errors"].is_null(), "{ok}");
        // Updates are checked the same way.
        let id = ok["data"]["createSavedSearch"]["id"].as_str().unwrap();
        let upd = s
            .gql_with(
                "mutation($id: ID!) { updateSavedSearch(id: $id, input: {webhookUrl: \"http://192.168.1.1/\"}) { id } }",
                json!({"id": id}),
                Some(TOKEN),
            )
            .await;
        assert_eq!(code(&upd), "BAD_USER_INPUT", "{upd}");
        s.stop().await;
    }
}

async fn create(
    s: &support::Server,
    name: &str,
    filter: Value,
    events: Value,
    digest: &str,
) -> String {
    let res = s
        .gql_with(
            CREATE,
            json!({"input": {
                "name": name,
                "filter": filter,
                "webhookUrl": "http://127.0.0.1:9/hook",
                "secret": "0123456789abcdef-secret",
                "events": events,
                "digest": digest,
            }}),
            Some(TOKEN),
        )
        .await;
    res["data"]["createSavedSearch"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{res}"))
        .to_owned()
}

async fn deliveries(s: &support::Server, id: &str) -> Vec<Value> {
    let res = s
        .gql_with(
            "query($id: ID!) { savedSearch(id: $id) { deliveries(first: 50) { edges { node {
                deliveryId event status attempts payload } } } } }",
            json!({"id": id}),
            None,
        )
        .await;
    res["data"]["savedSearch"]["deliveries"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{res}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

#[tokio::test]
async fn a_stored_page_writes_deliveries_for_matching_searches_only() {
    let base = support::greenhouse_stub(support::GREENHOUSE_BOARD.to_owned()).await;
    for db in testkit::databases("saved_outbox").await {
        let mut settings = support::test_settings();
        settings
            .engine
            .base_urls
            .insert(entity::Source::Greenhouse, base.clone());
        settings.auth = AuthPolicy {
            token: Some(Secret::new(TOKEN)),
            protect_reads: false,
            loopback_only: false,
        };
        let s = support::start_with(&db.conn, settings).await;
        let engineers = create(
            &s,
            "engineers",
            json!({"titleContains": "engineer"}),
            json!(["NEW"]),
            "IMMEDIATE",
        )
        .await;
        let nurses = create(
            &s,
            "nurses",
            json!({"titleContains": "nurse"}),
            json!(["NEW"]),
            "IMMEDIATE",
        )
        .await;
        let closed_only = create(
            &s,
            "closed only",
            json!({"titleContains": "engineer"}),
            json!(["CLOSED"]),
            "IMMEDIATE",
        )
        .await;
        let other_source = create(
            &s,
            "seek",
            json!({"sources": ["SEEK"]}),
            json!(["NEW"]),
            "IMMEDIATE",
        )
        .await;
        let digest = create(
            &s,
            "everything hourly",
            json!({}),
            json!(["NEW", "UPDATED"]),
            "HOURLY",
        )
        .await;

        let run = support::queue_greenhouse_run(&s.state).await;
        let report = support::execute(&s.state, run).await.unwrap();
        assert_eq!(report.counters.jobs_new, 2, "{report:?}");

        let got = deliveries(&s, &engineers).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0]["event"], "NEW");
        assert_eq!(got[0]["status"], "PENDING");
        assert_eq!(got[0]["attempts"], 0);
        assert_eq!(got[0]["payload"]["event"], "NEW");
        assert_eq!(got[0]["payload"]["deliveryId"], got[0]["deliveryId"]);
        assert!(
            got[0]["payload"]["posting"]["title"]
                .as_str()
                .unwrap()
                .contains("Engineer"),
            "{got:?}"
        );
        for none in [&nurses, &closed_only, &other_source] {
            assert!(deliveries(&s, none).await.is_empty(), "{none}");
        }
        let queued = deliveries(&s, &digest).await;
        assert_eq!(queued.len(), 2, "{queued:?}");
        assert!(queued.iter().all(|d| d["status"] == "QUEUED"), "{queued:?}");

        // Housekeeping closes both postings: CLOSED goes, in the closing batch's transaction,
        // to the search subscribed to it whose filter matches.
        use sea_orm::ConnectionTrait as _;
        let long_ago = chrono::Utc::now() - chrono::TimeDelta::days(400);
        db.conn
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                db.conn.get_database_backend(),
                match db.conn.get_database_backend() {
                    sea_orm::DbBackend::Postgres => "UPDATE job_postings SET last_seen_at = $1",
                    _ => "UPDATE job_postings SET last_seen_at = ?",
                },
                [long_ago.into()],
            ))
            .await
            .unwrap();
        let (closed, _) = jobintel::scheduler::housekeeping::close_stale_postings(
            &db.conn,
            chrono::Utc::now(),
            jobintel::scheduler::housekeeping::Retention::default(),
        )
        .await
        .unwrap();
        assert_eq!(closed, 2);
        let got = deliveries(&s, &closed_only).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0]["event"], "CLOSED");
        assert!(
            got[0]["payload"]["posting"]["closedAt"].is_string(),
            "{got:?}"
        );
        assert_eq!(deliveries(&s, &engineers).await.len(), 1);
        s.stop().await;
    }
}

/// Every stored page is matched against every enabled search in its transaction: their number
/// is capped, and the refusal says what to do.
#[tokio::test]
async fn saved_searches_are_capped_per_server() {
    use jobintel::service::saved_searches::MAX_SAVED_SEARCHES;
    use sea_orm::EntityTrait;
    use sea_orm::Set;
    for db in testkit::databases("saved_cap").await {
        let s = server(&db, true).await;
        let now = chrono::Utc::now();
        let rows: Vec<_> = (1..MAX_SAVED_SEARCHES)
            .map(|i| entity::saved_search::ActiveModel {
                name: Set(format!("search {i}")),
                filter: Set(json!({})),
                webhook_url: Set("http://127.0.0.1:9/hook".into()),
                secret: Set("0123456789abcdef-secret".into()),
                events: Set(json!(["NEW"])),
                digest: Set(entity::DigestMode::Immediate),
                enabled: Set(true),
                paused_reason: Set(None),
                last_digest_at: Set(Some(now)),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
            .collect();
        for chunk in rows.chunks(100) {
            entity::saved_search::Entity::insert_many(chunk.to_vec())
                .exec(&db.conn)
                .await
                .unwrap();
        }
        // The last one allowed…
        let last = s
            .gql_with(
                CREATE,
                json!({"input": input("http://127.0.0.1:9/hook")}),
                Some(TOKEN),
            )
            .await;
        assert!(last["errors"].is_null(), "{last}");
        // …and the next is refused, saying why and what to do.
        let over = s
            .gql_with(
                CREATE,
                json!({"input": input("http://127.0.0.1:9/hook")}),
                Some(TOKEN),
            )
            .await;
        assert_eq!(code(&over), "BAD_USER_INPUT", "{over}");
        assert!(
            message(&over).contains(&format!("at most {MAX_SAVED_SEARCHES}"))
                && message(&over).contains("delete one first"),
            "{over}"
        );
        let count = entity::saved_search::Entity::find()
            .all(&db.conn)
            .await
            .unwrap()
            .len() as u64;
        assert_eq!(count, MAX_SAVED_SEARCHES);
        s.stop().await;
    }
}

//! End-to-end over HTTP and WebSocket against the real router on 127.0.0.1:0.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jobintel::state::{AppState, ServerSettings};
use sea_orm::{ConnectOptions, Database};
use serde_json::{Value, json};
use support::{next_json, start};
use tokio_tungstenite::tungstenite::Message;

fn state_for(db: &testkit::TestDb) -> AppState {
    AppState::new(
        db.conn.clone(),
        ServerSettings {
            max_body_bytes: 64 * 1024,
            ..ServerSettings::default()
        },
    )
    .unwrap()
}

async fn insert_posting(db: &testkit::TestDb, external_id: &str, title: &str) {
    use sea_orm::ConnectionTrait;
    db.conn
        .execute_unprepared(&format!(
            "INSERT INTO job_postings (source, external_id, url, title, company, work_arrangement, \
             salary_text, salary_min, salary_max, salary_currency, salary_period, \
             first_seen_at, last_seen_at, content_hash, created_at, updated_at) VALUES \
             ('greenhouse', '{external_id}', 'https://example.com/{external_id}', '{title}', 'Acme', \
             'remote', '$120k – $140k', 120000, 140000, 'AUD', 'year', \
             '2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z', 'h{external_id}', \
             '2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z')"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn health_reports_the_database_and_job_count() {
    for db in testkit::databases("health").await {
        insert_posting(&db, "1", "Rust Engineer").await;
        let srv = start(state_for(&db)).await;
        let resp = reqwest::get(srv.url("/health")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["database"], "connected");
        assert_eq!(body["jobCount"], 1);
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
        // The sources runs can use; import-only ones (LinkedIn from a JobSpy CSV…) are not.
        assert_eq!(
            body["sources"].as_array().unwrap().len(),
            ingest::sources::all().count()
        );
        assert!(!body["sources"].to_string().contains("linkedin"));
        assert_eq!(body["platforms"], body["sources"], "the old name for them");

        // The old .NET API's probe, unchanged for monitors that call it.
        let resp = reqwest::Client::new()
            .get(srv.url("/api/health"))
            .header("host", "probe.internal:8000")
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            200,
            "exempt from the Host check like /health"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "healthy");
        assert_eq!(body["database"], "connected");
        assert_eq!(body["jobCount"], 1);
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["database", "jobCount", "status", "timestamp"]);
        srv.stop().await;
    }
}

#[tokio::test]
async fn health_is_503_when_the_database_is_unreachable() {
    // A lazily connected pool to a port nothing listens on: the server starts, the database
    // does not answer.
    let mut opts = ConnectOptions::new("postgres://nobody@127.0.0.1:1/none");
    opts.connect_lazy(true)
        .acquire_timeout(Duration::from_millis(500))
        .sqlx_logging(false);
    let conn = Database::connect(opts).await.unwrap();
    let srv = start(
        AppState::new(
            conn,
            ServerSettings {
                pool_max: 1,
                ..ServerSettings::default()
            },
        )
        .unwrap(),
    )
    .await;
    let resp = reqwest::get(srv.url("/health")).await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["database"], "unreachable");
    assert_eq!(body["status"], "unavailable");
    assert!(body["jobCount"].is_null());

    let resp = reqwest::get(srv.url("/api/health")).await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["database"], "disconnected");
    assert!(body["jobCount"].is_null());

    // GraphQL keeps answering, with a coded error instead of driver details.
    let v = srv
        .gql("{ jobPostings(first: 1) { edges { node { id } } } }")
        .await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{v}"
    );
    assert!(!v.to_string().contains("127.0.0.1:1"), "{v}");
    srv.stop().await;
}

#[tokio::test]
async fn postings_flow_from_the_database_to_a_graphql_client() {
    for db in testkit::databases("postings").await {
        for i in 1..=3 {
            insert_posting(&db, &i.to_string(), &format!("Engineer {i}")).await;
        }
        let srv = start(state_for(&db)).await;
        let v = srv
            .gql("{ jobPostings(first: 2) { totalCount edges { cursor node { id title company workArrangement salary { min max currency period } } } pageInfo { hasNextPage endCursor } } }")
            .await;
        let conn = &v["data"]["jobPostings"];
        assert_eq!(conn["totalCount"], 3, "{v}");
        let edges = conn["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 2);
        assert_eq!(edges[0]["node"]["title"], "Engineer 3");
        assert_eq!(edges[0]["node"]["workArrangement"], "REMOTE");
        assert_eq!(edges[0]["node"]["salary"]["max"], 140000.0);
        assert_eq!(edges[0]["node"]["salary"]["period"], "YEAR");
        assert_eq!(conn["pageInfo"]["hasNextPage"], true);

        let after = conn["pageInfo"]["endCursor"].as_str().unwrap();
        let v2 = srv
            .gql(&format!(
                "{{ jobPostings(first: 2, after: \"{after}\") {{ edges {{ node {{ title }} }} pageInfo {{ hasNextPage }} }} }}"
            ))
            .await;
        let edges2 = v2["data"]["jobPostings"]["edges"].as_array().unwrap();
        assert_eq!(edges2.len(), 1);
        assert_eq!(edges2[0]["node"]["title"], "Engineer 1");
        assert_eq!(v2["data"]["jobPostings"]["pageInfo"]["hasNextPage"], false);

        let id = edges[0]["node"]["id"].as_str().unwrap();
        let one = srv
            .gql(&format!(
                "{{ jobPosting(id: \"{id}\") {{ title externalId source }} }}"
            ))
            .await;
        assert_eq!(one["data"]["jobPosting"]["title"], "Engineer 3");
        assert_eq!(one["data"]["jobPosting"]["source"], "GREENHOUSE");

        let missing = srv.gql("{ jobPosting(id: \"999999\") { title } }").await;
        assert!(missing["data"]["jobPosting"].is_null());
        srv.stop().await;
    }
}

#[tokio::test]
async fn get_requests_run_queries_but_not_mutations() {
    let db = testkit::sqlite("get").await;
    let srv = start(state_for(&db)).await;
    let v: Value =
        reqwest::get(srv.url("/graphql?query=%7B%20health%20%7B%20database%20%7D%20%7D"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(v["data"]["health"]["database"], "connected");
    let resp = reqwest::get(srv.url("/graphql?query=mutation%20%7B%20x%20%7D"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["errors"][0]["extensions"]["code"], "METHOD_NOT_ALLOWED");
    srv.stop().await;
}

#[tokio::test]
async fn bad_requests_get_precise_graphql_errors_and_the_server_keeps_serving() {
    let db = testkit::sqlite("bad").await;
    let srv = start(state_for(&db)).await;
    let client = reqwest::Client::new();

    let resp = client
        .post(srv.url("/graphql"))
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 1")
    );

    let v = srv
        .gql("{ jobPostings(first: 500) { edges { cursor } } }")
        .await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("100"));

    let v = srv.gql("{ nope }").await;
    assert!(
        v["errors"][0]["message"].as_str().unwrap().contains("nope"),
        "{v}"
    );

    let v = srv.gql("{ jobPosting(id: \"!!\") { id } }").await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    let big = "x".repeat(100 * 1024);
    let resp = client
        .post(srv.url("/graphql"))
        .header("content-type", "application/json")
        .body(json!({ "query": format!("{{ health {{ status }} }} # {big}") }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);

    let v = srv.gql("{ health { status } }").await;
    assert_eq!(v["data"]["health"]["status"], "ok");
    srv.stop().await;
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary_without_any_cdn() {
    let db = testkit::sqlite("graphiql").await;
    let srv = start(state_for(&db)).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = client.get(srv.url("/")).send().await.unwrap();
    assert!(root.status().is_redirection());
    assert_eq!(root.headers()["location"], "/graphiql");

    let page = client
        .get(srv.url("/graphiql"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/graphiql/assets/graphiql.min.js"));
    assert!(!page.contains("unpkg") && !page.contains("cdn") && !page.contains("esm.sh"));
    for (asset, marker) in [
        ("graphiql.min.js", "GraphiQL"),
        ("graphiql.min.css", ".graphiql-container"),
        ("react.production.min.js", "React"),
        ("react-dom.production.min.js", "react"),
    ] {
        let resp = client
            .get(srv.url(&format!("/graphiql/assets/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{asset}");
        let body = resp.text().await.unwrap();
        assert!(body.len() > 5_000 && body.contains(marker), "{asset}");
    }
    let missing = client
        .get(srv.url("/graphiql/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    srv.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_operations_pool_and_runs() {
    for db in testkit::databases("metrics").await {
        let srv = start(state_for(&db)).await;
        srv.gql("{ health { status } }").await;
        srv.gql("{ nope }").await;
        let text = reqwest::get(srv.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains(
                r#"jobintel_http_requests_total{route="/graphql",method="POST",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"jobintel_graphql_operations_total{operation="query",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"outcome="error"} 1"#), "{text}");
        assert!(text.contains("jobintel_db_pool_connections_max 5"));
        assert!(text.contains("jobintel_database_up 1"));
        assert!(text.contains("# TYPE jobintel_ingest_runs gauge"));
        srv.stop().await;
    }
}

#[tokio::test]
async fn websocket_speaks_both_protocols_and_shutdown_closes_with_going_away() {
    let db = testkit::sqlite("ws").await;
    let srv = start(state_for(&db)).await;

    // graphql-transport-ws (the `graphql-ws` library)
    let mut ws = srv.ws_raw("graphql-transport-ws").await.unwrap();
    ws.send(Message::text(r#"{"type":"connection_init"}"#))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    ws.send(Message::text(
        r#"{"id":"1","type":"subscribe","payload":{"query":"{ health { database } }"}}"#,
    ))
    .await
    .unwrap();
    let v = next_json(&mut ws).await;
    assert_eq!(v["type"], "next");
    assert_eq!(v["payload"]["data"]["health"]["database"], "connected");
    assert_eq!(next_json(&mut ws).await["type"], "complete");

    // legacy graphql-ws (subscriptions-transport-ws)
    let mut legacy = srv.ws_raw("graphql-ws").await.unwrap();
    legacy
        .send(Message::text(r#"{"type":"connection_init"}"#))
        .await
        .unwrap();
    assert_eq!(next_json(&mut legacy).await["type"], "connection_ack");
    legacy
        .send(Message::text(
            r#"{"id":"1","type":"start","payload":{"query":"{ health { status } }"}}"#,
        ))
        .await
        .unwrap();
    let v = next_json(&mut legacy).await;
    assert_eq!(v["type"], "data");
    assert_eq!(v["payload"]["data"]["health"]["status"], "ok");

    srv.stop().await;
    // The open connection is told the server is going away.
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Close(frame) = msg {
                return frame;
            }
        }
        None
    })
    .await
    .expect("close frame within 5 s")
    .expect("a close frame");
    assert_eq!(u16::from(close.code), 1001);
}

#[tokio::test]
async fn cors_is_off_by_default_and_allows_only_configured_origins() {
    let db = testkit::sqlite("cors").await;
    let preflight = |srv: &support::Server, origin: &'static str| {
        let url = srv.url("/graphql");
        async move {
            reqwest::Client::new()
                .request(reqwest::Method::OPTIONS, url)
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "content-type,authorization",
                )
                .send()
                .await
                .unwrap()
        }
    };
    let closed = start(state_for(&db)).await;
    let resp = preflight(&closed, "https://app.example").await;
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    closed.stop().await;

    let open = support::start_with(
        &db.conn,
        ServerSettings {
            cors_origins: vec!["https://app.example".into()],
            ..ServerSettings::default()
        },
    )
    .await;
    let resp = preflight(&open, "https://app.example").await;
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let allowed = resp.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    let other = preflight(&open, "https://evil.example").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    open.stop().await;
}

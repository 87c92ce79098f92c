//! Hostile GraphQL documents against the real router on 127.0.0.1:0, on SQLite and (with
//! `TEST_DATABASE_URL`) PostgreSQL: each is refused with its code, quickly, and the server
//! keeps answering ordinary requests.

mod support;

use std::time::{Duration, Instant};

use jobintel::state::AppState;
use serde_json::{Value, json};
use support::{start, test_settings};

fn code(v: &Value) -> String {
    v["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn post(server: &support::Server, body: Value) -> (Duration, Value) {
    let started = Instant::now();
    let v = reqwest::Client::new()
        .post(server.url("/graphql"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    (started.elapsed(), v)
}

/// The code of the first error in a graphql-transport-ws `error` or `next` message.
fn ws_error_code(msg: &Value) -> String {
    let errors = if msg["type"] == "error" {
        &msg["payload"]
    } else {
        &msg["payload"]["errors"]
    };
    errors[0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `GET /graphql?query=…`, the query percent-encoded.
fn get_url(server: &support::Server, query: &str) -> String {
    let mut url = url::Url::parse(&server.url("/graphql")).unwrap();
    url.query_pairs_mut().append_pair("query", query);
    url.to_string()
}

async fn still_serving(server: &support::Server) {
    let v = server.gql("{ health { status } }").await;
    assert_eq!(v["data"]["health"]["status"], "ok", "{v}");
}

/// 25 fragments, each spreading the next one twice: 2^25 selections once expanded, from a
/// 1 KB request (22 s of CPU before the fix).
fn doubling_fragments(n: usize) -> String {
    let mut q = String::from("query { ...F0 }");
    for i in 0..n {
        q.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    q.push_str(&format!(
        " fragment F{n} on Query {{ health {{ status }} }}"
    ));
    q
}

/// Far above what a refused document costs (under a millisecond) and far below what the attacks
/// cost before they were refused (22 s of CPU): a bound that tells the two apart on a loaded CI
/// machine, not a speed target (those live in the benchmarks).
const BOUND: Duration = Duration::from_secs(5);

#[tokio::test]
async fn fragment_cycles_and_fan_out_are_refused_quickly_and_the_server_keeps_serving() {
    for db in testkit::databases("hostile_fragments").await {
        let server = start(AppState::new(db.conn.clone(), test_settings()).unwrap()).await;

        // The cycle that overflowed the stack and aborted the process, over POST and GET.
        let cycle = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        let (_, v) = post(&server, json!({ "query": cycle })).await;
        assert_eq!(code(&v), "GRAPHQL_VALIDATION_FAILED", "{v}");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("within itself"),
            "{v}"
        );
        let resp = reqwest::get(get_url(&server, cycle)).await.unwrap();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(code(&v), "GRAPHQL_VALIDATION_FAILED", "{v}");
        still_serving(&server).await;

        // Exponential fan-out: refused in milliseconds, not seconds.
        for n in [25, 60] {
            let (took, v) = post(&server, json!({ "query": doubling_fragments(n) })).await;
            assert_eq!(code(&v), "QUERY_TOO_COMPLEX", "{v}");
            assert!(took < BOUND, "took {took:?}");
        }
        still_serving(&server).await;

        // 8 in parallel do not stall an ordinary request.
        let hostile = doubling_fragments(40);
        let attacks: Vec<_> = (0..8)
            .map(|_| {
                let body = json!({ "query": hostile });
                let url = server.url("/graphql");
                tokio::spawn(async move {
                    reqwest::Client::new()
                        .post(url)
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .json::<Value>()
                        .await
                        .unwrap()
                })
            })
            .collect();
        let started = Instant::now();
        still_serving(&server).await;
        assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
        for a in attacks {
            assert_eq!(code(&a.await.unwrap()), "QUERY_TOO_COMPLEX");
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn deep_nesting_is_refused_before_parsing_over_post_and_get() {
    for db in testkit::databases("hostile_nesting").await {
        let server = start(AppState::new(db.conn.clone(), test_settings()).unwrap()).await;
        // 60,000 levels: the parser would recurse once per bracket and overflow the stack.
        let n = 60_000;
        let deep = format!("{{{}{}}}", "a{".repeat(n), "}".repeat(n));
        let (took, v) = post(&server, json!({ "query": deep })).await;
        assert_eq!(code(&v), "QUERY_TOO_DEEP", "{v}");
        assert!(took < BOUND, "took {took:?}");
        // The same in an argument's value, and over GET.
        let list = format!(
            "{{ jobPostings(first: {}1{}) {{ totalCount }} }}",
            "[".repeat(5_000),
            "]".repeat(5_000)
        );
        let v: Value = reqwest::get(get_url(&server, &list))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(code(&v), "QUERY_TOO_DEEP", "{v}");
        // Deeply nested variables are refused by the JSON reader (serde's limit of 128).
        // (Built as text: a `serde_json::Value` that deep would overflow this test's stack
        // when dropped.)
        let vars = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let body = format!(
            r#"{{"query":"query($x: Int) {{ health {{ status }} }}","variables":{{"x":{vars}}}}}"#
        );
        let resp = reqwest::Client::new()
            .post(server.url("/graphql"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error(), "{}", resp.status());
        still_serving(&server).await;
        server.stop().await;
    }
}

#[tokio::test]
async fn one_budget_covers_a_whole_batch_and_each_websocket_message() {
    for db in testkit::databases("hostile_budget").await {
        let server = start(AppState::new(db.conn.clone(), test_settings()).unwrap()).await;
        // Each costs 1 + 100 × (1 + 10 + 1 + 1 + 1 + 10 + 1) = 2,501: alone it passes.
        let one = "{ jobPostings(first: 100) { nodes { id descriptionHtml title company url \
                   descriptionText source } } }";
        let (_, v) = post(&server, json!({ "query": one })).await;
        assert!(v["errors"].is_null(), "{v}");
        // Ten of them in one batch share the budget of 20,000: none runs.
        let batch: Vec<Value> = (0..10).map(|_| json!({ "query": one })).collect();
        let (_, v) = post(&server, Value::Array(batch)).await;
        let answers = v.as_array().expect("a batch answer");
        assert_eq!(answers.len(), 10);
        for a in answers {
            assert_eq!(code(a), "QUERY_TOO_COMPLEX", "{a}");
            assert!(a["data"].is_null(), "{a}");
        }
        // Seven fit (17,507).
        let batch: Vec<Value> = (0..7).map(|_| json!({ "query": one })).collect();
        let (_, v) = post(&server, Value::Array(batch)).await;
        for a in v.as_array().unwrap() {
            assert!(a["errors"].is_null(), "{a}");
        }

        // A subscription whose selection is over budget is refused on the socket.
        let mut ws = server.ws("graphql-transport-ws", json!({})).await;
        let heavy = "subscription { jobPostingAdded { lastRun { postings(first: 100) { \
                     nodes { firstRun { postings(first: 100) { nodes { id } } } } } } } }";
        support::subscribe(&mut ws, "graphql-transport-ws", "1", heavy).await;
        let msg = support::next_json(&mut ws).await;
        assert_eq!(msg["id"], "1", "{msg}");
        assert_eq!(ws_error_code(&msg), "QUERY_TOO_COMPLEX", "{msg}");
        // And so is a query sent over the socket.
        let query =
            "{ ingestRuns(first: 100) { nodes { postings(first: 100) { nodes { raw } } } } }";
        support::subscribe(&mut ws, "graphql-transport-ws", "2", query).await;
        let mut msg = support::next_json(&mut ws).await;
        while msg["id"] == "1" && msg["type"] == "complete" {
            msg = support::next_json(&mut ws).await;
        }
        assert_eq!(msg["id"], "2", "{msg}");
        assert_eq!(ws_error_code(&msg), "QUERY_TOO_COMPLEX", "{msg}");
        server.stop().await;
    }
}

#[tokio::test]
async fn a_request_that_runs_past_the_timeout_ends_with_timeout() {
    use sea_orm::TransactionTrait;
    for db in testkit::databases("hostile_timeout").await {
        // A pool of one connection, held by an open transaction: the request's query waits
        // for a connection far longer than the timeout allows.
        let mut opts = sea_orm::ConnectOptions::new(db.url.clone());
        opts.max_connections(1)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(20))
            .sqlx_logging(false);
        let conn = sea_orm::Database::connect(opts).await.unwrap();
        let mut settings = test_settings();
        settings.request_timeout = Duration::from_millis(300);
        let server = start(AppState::new(conn.clone(), settings).unwrap()).await;
        let held = conn.begin().await.unwrap();
        let started = Instant::now();
        let v = server
            .gql("{ jobStats { total bySource { source count } } }")
            .await;
        assert_eq!(code(&v), "TIMEOUT", "{v}");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("JOBINTEL_REQUEST_TIMEOUT"),
            "{v}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        // Once the connection is free again, the same request answers.
        held.rollback().await.unwrap();
        let v = server.gql("{ jobStats { total } }").await;
        assert_eq!(v["data"]["jobStats"]["total"], 0, "{v}");
        server.stop().await;
    }
}

#[tokio::test]
async fn oversized_filters_are_refused_not_sent_to_the_database() {
    for db in testkit::databases("hostile_filters").await {
        let server = start(AppState::new(db.conn.clone(), test_settings()).unwrap()).await;
        // 30,000 companies would be 30,000 bound parameters (SQLite refuses over 32,766),
        // and fit in a 256 KiB body.
        let companies: Vec<String> = (0..30_000).map(|i| format!("{i}")).collect();
        let (_, v) = post(
            &server,
            json!({
                "query": "query($f: JobPostingFilter) { jobPostings(filter: $f) { totalCount } }",
                "variables": { "f": { "companies": companies } }
            }),
        )
        .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        let statuses: Vec<&str> = (0..5_000).map(|_| "FAILED").collect();
        let (_, v) = post(
            &server,
            json!({
                "query": "query($s: [RunStatus!]) { ingestRuns(filter: {statuses: $s}) { nodes { id } } }",
                "variables": { "s": statuses }
            }),
        )
        .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        let (_, v) = post(
            &server,
            json!({ "query": format!("{{ jobStats(filter: {{search: \"{}\"}}) {{ total }} }}", "word ".repeat(1_000)) }),
        )
        .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        // A NUL in a schedule's name was INTERNAL on PostgreSQL (found by fuzz_documents).
        for (query, variables) in [
            (
                r#"mutation { createSchedule(input: {name: "a\u0000b", source: GREENHOUSE, target: "acme", cron: "0 * * * *"}) { id } }"#,
                json!({}),
            ),
            (
                "mutation($n: String!) { createSchedule(input: {name: $n, source: GREENHOUSE, target: \"acme\", cron: \"0 * * * *\"}) { id } }",
                json!({ "n": "a\u{0}b" }),
            ),
        ] {
            let (_, v) = post(&server, json!({ "query": query, "variables": variables })).await;
            assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        }
        still_serving(&server).await;
        server.stop().await;
    }
}

/// A client dripping one header line at a time (slowloris) is cut off once its request head
/// has taken longer than the header-read timeout; ordinary requests are unaffected.
#[tokio::test]
async fn slow_drip_headers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = testkit::sqlite("hostile_slow_drip").await;
    let mut settings = test_settings();
    settings.header_read_timeout = Duration::from_secs(1);
    let server = start(AppState::new(db.conn.clone(), settings).unwrap()).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(format!("GET /health HTTP/1.1\r\nHost: {}\r\n", server.addr).as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    for n in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if stream
            .write_all(format!("X-Drip-{n}: a\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(5), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    assert!(closed, "the dripping connection was never closed");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    still_serving(&server).await;
    server.stop().await;
}

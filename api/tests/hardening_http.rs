//! Issue #11, HTTP side: hostile input never takes the service down. End-to-end against the
//! real router on 127.0.0.1:0: media types and GraphQL-over-HTTP status codes, cross-site and
//! DNS-rebinding defences, who may write without a token, the rate limit, WebSocket limits,
//! metric labels, GraphiQL's headers, and the trimmed token.
//!
//! Every client here connects from 127.0.0.1. A request with `X-Forwarded-For` stands for a
//! client behind a local proxy: not local (may not write without a token, is rate-limited) and
//! keyed by the forwarded address.

mod support;

use std::time::Duration;

use clap::Parser as _;
use futures_util::{SinkExt, StreamExt};
use jobintel::config::{Cli, RateLimit, Secret};
use jobintel::graphql::auth::AuthPolicy;
use jobintel::state::{AppState, ServerSettings};
use serde_json::{Value, json};
use sha2::Digest as _;
use support::{Server, next_json, start, start_with};
use tokio_tungstenite::tungstenite::Message;

const GQL_RESPONSE: &str = "application/graphql-response+json";
const CREATE_SCHEDULE: &str = r#"mutation { createSchedule(input: {name: "x", source: LEVER, target: "acme", cron: "0 * * * *"}) { id } }"#;

async fn server(db: &testkit::TestDb) -> Server {
    start(AppState::new(db.conn.clone(), ServerSettings::default()).unwrap()).await
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// POST `body` with these headers; returns status, headers and the JSON body.
async fn post(
    srv: &Server,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client().post(srv.url("/graphql")).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

/// POST a JSON body asking for `application/graphql-response+json`.
async fn post_gr(srv: &Server, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
    post(
        srv,
        &[
            ("content-type", "application/json"),
            ("accept", GQL_RESPONSE),
        ],
        body.to_string(),
    )
    .await
}

async fn get(
    srv: &Server,
    query: &str,
    accept: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client().get(srv.url(&format!("/graphql?{query}")));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap())
}

fn code(v: &Value) -> &str {
    v["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

fn content_type(h: &reqwest::header::HeaderMap) -> &str {
    h.get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn schedule_count(srv: &Server) -> usize {
    let v = srv.gql("{ schedules { edges { node { id } } } }").await;
    v["data"]["schedules"]["edges"].as_array().unwrap().len()
}

// ---------------------------------------------------------------------------------------------
// Media types in

#[tokio::test]
async fn posts_that_are_not_json_or_graphql_are_415_and_run_nothing() {
    for db in testkit::databases("h_415").await {
        let srv = server(&db).await;
        let body = json!({ "query": CREATE_SCHEDULE }).to_string();
        for ct in [
            Some("text/plain"),
            Some("text/plain;charset=UTF-8"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/json; charset=latin1"),
            None,
        ] {
            let headers: Vec<(&str, &str)> = ct.map(|c| ("content-type", c)).into_iter().collect();
            let (status, h, v) = post(&srv, &headers, body.clone()).await;
            assert_eq!(status, 415, "{ct:?}: {v}");
            assert_eq!(code(&v), "UNSUPPORTED_MEDIA_TYPE", "{ct:?}");
            assert!(content_type(&h).starts_with("application/json"), "{ct:?}");
        }
        assert_eq!(schedule_count(&srv).await, 0, "no refused mutation ran");
        srv.stop().await;
    }
}

#[tokio::test]
async fn json_bodies_with_a_charset_and_graphql_text_bodies_are_accepted() {
    let db = testkit::sqlite("h_ct_ok").await;
    let srv = server(&db).await;
    let query = json!({ "query": "{ health { status } }" }).to_string();
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=\"UTF-8\"",
        "application/graphql-response+json",
    ] {
        let (status, _, v) = post(&srv, &[("content-type", ct)], query.clone()).await;
        assert_eq!(status, 200, "{ct}");
        assert_eq!(v["data"]["health"]["status"], "ok", "{ct}: {v}");
    }
    let (status, _, v) = post(
        &srv,
        &[("content-type", "application/graphql; charset=utf-8")],
        "{ health { status } }",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["data"]["health"]["status"], "ok", "{v}");
    srv.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Media types out and status codes

#[tokio::test]
async fn a_graphql_response_json_client_gets_that_content_type_and_200_with_data() {
    let db = testkit::sqlite("h_gr_ok").await;
    let srv = server(&db).await;
    let (status, h, v) = post_gr(&srv, json!({ "query": "{ health { status } }" })).await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type(&h),
        "application/graphql-response+json; charset=utf-8"
    );
    assert_eq!(v["data"]["health"]["status"], "ok");
    srv.stop().await;
}

#[tokio::test]
async fn a_legacy_client_gets_application_json_and_200_even_for_request_errors() {
    let db = testkit::sqlite("h_legacy").await;
    let srv = server(&db).await;
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = accept {
            headers.push(("accept", a));
        }
        for (query, want) in [
            ("{ health { status ", "GRAPHQL_PARSE_FAILED"),
            ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        ] {
            let (status, h, v) = post(&srv, &headers, json!({ "query": query }).to_string()).await;
            assert_eq!(status, 200, "{accept:?} {query}: {v}");
            assert_eq!(
                content_type(&h),
                "application/json; charset=utf-8",
                "{accept:?}"
            );
            assert_eq!(code(&v), want, "{v}");
        }
    }
    srv.stop().await;
}

#[tokio::test]
async fn a_parse_error_is_400_without_data_for_graphql_response_json() {
    let db = testkit::sqlite("h_parse").await;
    let srv = server(&db).await;
    let (status, h, v) = post_gr(&srv, json!({ "query": "{ health { status " })).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(code(&v), "GRAPHQL_PARSE_FAILED");
    assert!(content_type(&h).starts_with(GQL_RESPONSE));
    assert!(
        v.get("data").is_none(),
        "a request error has no data entry: {v}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_validation_error_is_422_without_data_for_graphql_response_json() {
    let db = testkit::sqlite("h_valid").await;
    let srv = server(&db).await;
    let (status, h, v) = post_gr(&srv, json!({ "query": "{ nope }" })).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(code(&v), "GRAPHQL_VALIDATION_FAILED");
    assert!(content_type(&h).starts_with(GQL_RESPONSE));
    assert!(v.get("data").is_none(), "{v}");
    srv.stop().await;
}

#[tokio::test]
async fn a_variable_coercion_error_is_422_for_graphql_response_json() {
    let db = testkit::sqlite("h_coerce").await;
    let srv = server(&db).await;
    let (status, _, v) = post_gr(
        &srv,
        json!({
            "query": "query ($n: Int!) { jobPostings(first: $n) { totalCount } }",
            "variables": { "n": "five" }
        }),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert!(v.get("data").is_none(), "{v}");
    assert!(!v["errors"].as_array().unwrap().is_empty());
    srv.stop().await;
}

/// An operation that has passed validation once runs under async-graphql's fast mode after
/// that, its variables checked against their declared types (`graphql::variables`): every
/// answer must be the one the same request got before the operation was ever validated.
#[tokio::test]
async fn an_operation_seen_before_answers_every_request_as_the_first_time() {
    for db in testkit::databases("h_seen").await {
        let srv = server(&db).await;
        let q = "query Q($id: ID!, $n: Int) { jobPosting(id: $id) { id } \
                 jobPostings(first: $n) { totalCount } }";
        let d = r#"query D($id: ID = "1") { jobPosting(id: $id) { id } }"#;
        let good = [
            json!({"query": q, "operationName": "Q", "variables": {"id": "1", "n": 2}}),
            json!({"query": d, "operationName": "D", "variables": {}}),
        ];
        // (request, status): request errors are 422 without `data`; an Int out of range
        // passes validation (async-graphql's Int check takes any integer) and is a field error.
        let bad = [
            (
                json!({"query": q, "operationName": "Q", "variables": {"id": {"a": 1}}}),
                422,
            ),
            (
                json!({"query": q, "operationName": "Q", "variables": {"n": 2}}),
                422,
            ),
            (
                json!({"query": q, "operationName": "Q", "variables": {"id": "1", "n": "two"}}),
                422,
            ),
            (
                json!({"query": q, "operationName": "Q", "variables": {"id": null}}),
                422,
            ),
            (
                json!({"query": q, "operationName": "Q", "variables": {"id": "1", "n": 3_000_000_000i64}}),
                200,
            ),
            // Explicit null for a nullable variable with a default, in a non-null position.
            (
                json!({"query": d, "operationName": "D", "variables": {"id": null}}),
                422,
            ),
        ];
        let mut before = Vec::new();
        for (body, expected) in &bad {
            let (status, _, v) = post_gr(&srv, body.clone()).await;
            assert_eq!(status, *expected, "{body}: {v}");
            assert!(!v["errors"].as_array().unwrap().is_empty(), "{body}: {v}");
            assert_eq!(v.get("data").is_none(), status == 422, "{body}: {v}");
            before.push((status, v));
        }
        let mut first = Vec::new();
        for body in &good {
            let (status, _, v) = post_gr(&srv, body.clone()).await;
            assert_eq!(status, 200, "{body}: {v}");
            assert!(v.get("errors").is_none(), "{body}: {v}");
            first.push(v);
        }
        for ((body, _), expected) in bad.iter().zip(&before) {
            let (status, _, v) = post_gr(&srv, body.clone()).await;
            assert_eq!(&(status, v), expected, "{body}");
        }
        for (body, expected) in good.iter().zip(&first) {
            let (status, _, v) = post_gr(&srv, body.clone()).await;
            assert_eq!((status, &v), (200, expected), "{body}");
        }
        srv.stop().await;
    }
}

#[tokio::test]
async fn field_errors_with_a_data_entry_stay_200_for_graphql_response_json() {
    let db = testkit::sqlite("h_field").await;
    let srv = server(&db).await;
    // A resolver error (here: writing from behind a proxy) is a field error, not a request
    // error: the response has `data` (null), and the status stays 2xx.
    let (status, _, v) = post(
        &srv,
        &[
            ("content-type", "application/json"),
            ("accept", GQL_RESPONSE),
            ("x-forwarded-for", "203.0.113.7"),
        ],
        json!({ "query": CREATE_SCHEDULE }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(code(&v), "UNAUTHENTICATED");
    assert!(v.get("data").is_some(), "{v}");
    srv.stop().await;
}

#[tokio::test]
async fn an_accept_header_with_neither_json_type_is_406() {
    let db = testkit::sqlite("h_406").await;
    let srv = server(&db).await;
    for accept in ["text/html", "application/xml", "application/json;q=0"] {
        let (status, _, v) = post(
            &srv,
            &[("content-type", "application/json"), ("accept", accept)],
            json!({ "query": "{ health { status } }" }).to_string(),
        )
        .await;
        assert_eq!(status, 406, "{accept}");
        assert_eq!(code(&v), "NOT_ACCEPTABLE");
        let (status, _, _) = get(&srv, "query=%7B__typename%7D", Some(accept)).await;
        assert_eq!(status, 406, "GET {accept}");
    }
    srv.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Request parameters

#[tokio::test]
async fn a_missing_or_non_string_query_is_400() {
    let db = testkit::sqlite("h_query").await;
    let srv = server(&db).await;
    for body in [
        json!({}),
        json!({ "query": null }),
        json!({ "query": 1 }),
        json!({ "query": ["{ health { status } }"] }),
        json!({ "query": { "text": "{ health { status } }" } }),
        json!("{ health { status } }"),
    ] {
        for accept in [GQL_RESPONSE, "application/json"] {
            let (status, _, v) = post(
                &srv,
                &[("content-type", "application/json"), ("accept", accept)],
                body.to_string(),
            )
            .await;
            assert_eq!(status, 400, "{body} ({accept}): {v}");
            assert_eq!(code(&v), "BAD_REQUEST");
        }
    }
    let (status, _, v) = post(&srv, &[("content-type", "application/json")], "").await;
    assert_eq!((status, code(&v)), (400, "BAD_REQUEST"), "empty body");
    srv.stop().await;
}

#[tokio::test]
async fn variables_that_are_not_an_object_are_400_and_null_is_none() {
    let db = testkit::sqlite("h_vars").await;
    let srv = server(&db).await;
    for variables in [json!("{}"), json!(1), json!([1]), json!(true)] {
        let (status, _, v) = post_gr(
            &srv,
            json!({ "query": "{ health { status } }", "variables": variables }),
        )
        .await;
        assert_eq!(status, 400, "{variables}");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("variables")
        );
    }
    let (status, _, v) = post_gr(
        &srv,
        json!({ "query": "{ health { status } }", "variables": null }),
    )
    .await;
    assert_eq!(
        (status, &v["data"]["health"]["status"]),
        (200, &json!("ok"))
    );
    srv.stop().await;
}

#[tokio::test]
async fn extensions_that_are_not_an_object_are_400_and_null_is_none() {
    let db = testkit::sqlite("h_ext").await;
    let srv = server(&db).await;
    for extensions in [json!("x"), json!(2), json!([])] {
        let (status, _, v) = post_gr(
            &srv,
            json!({ "query": "{ health { status } }", "extensions": extensions }),
        )
        .await;
        assert_eq!(status, 400, "{extensions}: {v}");
        assert_eq!(code(&v), "BAD_REQUEST");
    }
    let (status, _, _) = post_gr(
        &srv,
        json!({ "query": "{ health { status } }", "extensions": null }),
    )
    .await;
    assert_eq!(status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn an_operation_name_that_is_not_a_string_is_400_and_null_is_none() {
    let db = testkit::sqlite("h_opname").await;
    let srv = server(&db).await;
    for name in [json!(1), json!(["A"]), json!({ "name": "A" }), json!(false)] {
        let (status, _, v) = post_gr(
            &srv,
            json!({ "query": "query A { health { status } }", "operationName": name }),
        )
        .await;
        assert_eq!(status, 400, "{name}: {v}");
    }
    for name in [json!(null), json!("A")] {
        let (status, _, v) = post_gr(
            &srv,
            json!({ "query": "query A { health { status } }", "operationName": name }),
        )
        .await;
        assert_eq!(status, 200, "{name}: {v}");
    }
    // Unknown properties are ignored, as the specification requires.
    let (status, _, _) = post_gr(
        &srv,
        json!({ "query": "{ health { status } }", "futureField": 1 }),
    )
    .await;
    assert_eq!(status, 200);
    srv.stop().await;
}

// ---------------------------------------------------------------------------------------------
// GET

#[tokio::test]
async fn get_reads_parameters_from_the_url_and_checks_them_like_post() {
    let db = testkit::sqlite("h_get").await;
    let srv = server(&db).await;
    let q = "query Page($n: Int!) { jobPostings(first: $n) { totalCount } }";
    let (status, h, v) = get(
        &srv,
        &format!(
            "query={}&variables={}&operationName=Page&extensions=",
            enc(q),
            enc(r#"{"n":1}"#)
        ),
        Some(GQL_RESPONSE),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(content_type(&h).starts_with(GQL_RESPONSE));
    assert_eq!(v["data"]["jobPostings"]["totalCount"], 0);

    for (params, what) in [
        (String::new(), "no query"),
        ("query=".to_owned(), "empty query"),
        (
            format!("query={}&variables=%5B1%5D", enc(q)),
            "array variables",
        ),
        (
            format!("query={}&variables=nope", enc(q)),
            "variables not JSON",
        ),
        (
            format!("query={}&extensions=%22x%22", enc("{ health { status } }")),
            "string extensions",
        ),
    ] {
        let (status, _, v) = get(&srv, &params, Some(GQL_RESPONSE)).await;
        assert_eq!(status, 400, "{what}: {v}");
        assert_eq!(code(&v), "BAD_REQUEST", "{what}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn mutations_over_get_are_405_with_allow_post_whatever_the_client_accepts() {
    let db = testkit::sqlite("h_get_mut").await;
    let srv = server(&db).await;
    for accept in [None, Some(GQL_RESPONSE)] {
        let (status, h, v) = get(&srv, &format!("query={}", enc(CREATE_SCHEDULE)), accept).await;
        assert_eq!(status, 405, "{accept:?}: {v}");
        assert_eq!(h["allow"], "POST");
        assert_eq!(code(&v), "METHOD_NOT_ALLOWED");
    }
    // A persisted mutation, sent over GET by hash only, is refused the same way.
    let mutation = "mutation { __typename }";
    let hash = format!("{:x}", sha2::Sha256::digest(mutation.as_bytes()));
    let pq = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let (status, _, _) = post_gr(&srv, json!({ "query": mutation, "extensions": pq })).await;
    assert_eq!(status, 200, "registered over POST");
    let (status, h, v) = get(&srv, &format!("extensions={}", enc(&pq.to_string())), None).await;
    assert_eq!(status, 405, "{v}");
    assert_eq!(h["allow"], "POST");
    assert_eq!(code(&v), "METHOD_NOT_ALLOWED");
    assert_eq!(schedule_count(&srv).await, 0);
    srv.stop().await;
}

#[tokio::test]
async fn get_with_a_persisted_query_hash_runs_the_query() {
    let db = testkit::sqlite("h_get_pq").await;
    let srv = server(&db).await;
    let query = "{ health { status } }";
    let hash = format!("{:x}", sha2::Sha256::digest(query.as_bytes()));
    let pq = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } }).to_string();
    // Unknown hash first: Apollo's protocol error, a request error (400 here).
    let (status, _, v) = get(
        &srv,
        &format!("extensions={}", enc(&pq)),
        Some(GQL_RESPONSE),
    )
    .await;
    assert_eq!(
        (status, code(&v)),
        (400, "PERSISTED_QUERY_NOT_FOUND"),
        "{v}"
    );
    let (status, _, _) = get(
        &srv,
        &format!("query={}&extensions={}", enc(query), enc(&pq)),
        Some(GQL_RESPONSE),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, v) = get(
        &srv,
        &format!("extensions={}", enc(&pq)),
        Some(GQL_RESPONSE),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["health"]["status"], "ok");
    srv.stop().await;
}

#[tokio::test]
async fn batches_keep_working_and_stay_bounded() {
    let db = testkit::sqlite("h_batch").await;
    let srv = server(&db).await;
    let (status, h, v) = post_gr(
        &srv,
        json!([
            { "query": "{ health { status } }" },
            { "query": "{ nope }" },
        ]),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(content_type(&h).starts_with(GQL_RESPONSE));
    assert_eq!(v[0]["data"]["health"]["status"], "ok");
    assert_eq!(
        v[1]["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    let (status, _, v) = post_gr(&srv, json!([{ "query": 1 }])).await;
    assert_eq!((status, code(&v)), (400, "BAD_REQUEST"));
    let many: Vec<Value> = (0..11)
        .map(|_| json!({ "query": "{ health { status } }" }))
        .collect();
    let (status, _, v) = post_gr(&srv, json!(many)).await;
    assert_eq!((status, code(&v)), (400, "BATCH_TOO_LARGE"));
    srv.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Cross-site: Host and Origin

async fn get_with_host(srv: &Server, path: &str, host: &str) -> (u16, Value) {
    // reqwest derives Host from the URL; send the request by hand to choose it.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_loopback_server_refuses_other_host_names_against_dns_rebinding() {
    let db = testkit::sqlite("h_host").await;
    let srv = server(&db).await;
    let path = "/graphql?query=%7B__typename%7D";
    let port = srv.addr.port();
    for host in ["evil.example", &format!("evil.example:{port}"), "192.0.2.1"] {
        let (status, v) = get_with_host(&srv, path, host).await;
        assert_eq!(status, 403, "{host}");
        assert_eq!(code(&v), "HOST_NOT_ALLOWED", "{host}");
        let (status, _) = get_with_host(&srv, "/metrics", host).await;
        assert_eq!(status, 403, "/metrics for {host}");
    }
    for host in [
        format!("127.0.0.1:{port}"),
        "localhost:1234".to_owned(),
        "localhost".to_owned(),
        format!("[::1]:{port}"),
    ] {
        let (status, v) = get_with_host(&srv, path, &host).await;
        assert_eq!(status, 200, "{host}: {v}");
    }
    // Probes reach /health whatever name they use.
    let (status, _) = get_with_host(&srv, "/health", "10.0.0.7:8000").await;
    assert_eq!(status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn allowed_hosts_lets_a_loopback_server_answer_to_more_names() {
    let db = testkit::sqlite("h_allowed").await;
    let srv = start_with(
        &db.conn,
        ServerSettings {
            allowed_hosts: vec!["jobs.internal".into(), "proxy.example:8443".into()],
            ..ServerSettings::default()
        },
    )
    .await;
    let path = "/graphql?query=%7B__typename%7D";
    assert_eq!(get_with_host(&srv, path, "jobs.internal:80").await.0, 200);
    assert_eq!(get_with_host(&srv, path, "proxy.example:8443").await.0, 200);
    assert_eq!(get_with_host(&srv, path, "proxy.example:9000").await.0, 403);
    assert_eq!(get_with_host(&srv, path, "evil.example").await.0, 403);
    srv.stop().await;
}

#[tokio::test]
async fn websocket_upgrades_from_foreign_origins_are_refused() {
    let db = testkit::sqlite("h_origin").await;
    let srv = server(&db).await;
    let own = format!("http://{}", srv.addr);
    let refused = srv
        .ws_raw_with(
            "graphql-transport-ws",
            &[("origin", "https://evil.example")],
        )
        .await
        .unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = refused else {
        panic!("expected an HTTP refusal, got {refused:?}");
    };
    assert_eq!(resp.status(), 403);
    let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
    assert_eq!(code(&body), "ORIGIN_NOT_ALLOWED");
    // Same origin, and no Origin at all (a non-browser client), are fine.
    for headers in [vec![("origin", own.as_str())], vec![]] {
        let mut ws = srv
            .ws_raw_with("graphql-transport-ws", &headers)
            .await
            .unwrap();
        ws.send(Message::text(r#"{"type":"connection_init"}"#))
            .await
            .unwrap();
        assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    }
    srv.stop().await;

    let open = start_with(
        &db.conn,
        ServerSettings {
            cors_origins: vec!["https://app.example".into()],
            ..ServerSettings::default()
        },
    )
    .await;
    assert!(
        open.ws_raw_with("graphql-ws", &[("origin", "https://app.example")])
            .await
            .is_ok()
    );
    assert!(
        open.ws_raw_with("graphql-ws", &[("origin", "https://evil.example")])
            .await
            .is_err()
    );
    open.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Who may write without a token

#[tokio::test]
async fn without_a_token_only_direct_loopback_callers_may_write() {
    for db in testkit::databases("h_peer").await {
        let srv = server(&db).await;
        for (name, value) in [
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=203.0.113.7;proto=https"),
            ("x-real-ip", "203.0.113.7"),
        ] {
            let (status, _, v) = post(
                &srv,
                &[("content-type", "application/json"), (name, value)],
                json!({ "query": CREATE_SCHEDULE }).to_string(),
            )
            .await;
            assert_eq!(status, 200);
            assert_eq!(code(&v), "UNAUTHENTICATED", "{name}: {v}");
            assert!(
                v["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("this machine")
            );
        }
        // Over a WebSocket whose upgrade came through a proxy too.
        let mut ws = srv
            .ws_raw_with(
                "graphql-transport-ws",
                &[("x-forwarded-for", "203.0.113.7")],
            )
            .await
            .unwrap();
        ws.send(Message::text(r#"{"type":"connection_init"}"#))
            .await
            .unwrap();
        assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
        ws.send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": CREATE_SCHEDULE}})
                .to_string(),
        ))
        .await
        .unwrap();
        let v = next_json(&mut ws).await;
        assert_eq!(
            v["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{v}"
        );
        assert_eq!(schedule_count(&srv).await, 0);

        // Straight from this machine (another loopback address counts too): allowed.
        let local = reqwest::Client::builder()
            .local_address(Some("127.0.0.2".parse().unwrap()))
            .build()
            .unwrap();
        let v: Value = local
            .post(srv.url("/graphql"))
            .json(&json!({ "query": CREATE_SCHEDULE }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["errors"].is_null(), "{v}");
        assert_eq!(schedule_count(&srv).await, 1);
        srv.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limit

fn limited(rate_limit: RateLimit, token: Option<&str>) -> ServerSettings {
    ServerSettings {
        rate_limit,
        auth: AuthPolicy {
            token: token.map(Secret::new),
            protect_reads: false,
            loopback_only: true,
        },
        ..ServerSettings::default()
    }
}

/// Two requests at once, then one every 10 s: the third in a row is refused.
const TWO_THEN_SLOW: RateLimit = RateLimit {
    requests: 1,
    per: Duration::from_secs(10),
    burst: 2,
};

async fn health_from(
    srv: &Server,
    forwarded_for: Option<&str>,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = client()
        .post(srv.url("/graphql"))
        .json(&json!({ "query": "{ health { status } }" }));
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn anonymous_clients_are_rate_limited_per_address_with_retry_after() {
    let db = testkit::sqlite("h_rate").await;
    let srv = start_with(&db.conn, limited(TWO_THEN_SLOW, None)).await;
    let a = Some("203.0.113.7");
    assert_eq!(health_from(&srv, a, None).await.status(), 200);
    assert_eq!(health_from(&srv, a, None).await.status(), 200);
    let refused = health_from(&srv, a, None).await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    let v: Value = refused.json().await.unwrap();
    assert_eq!(code(&v), "RATE_LIMITED");
    // GET and WebSocket upgrades count against the same bucket.
    let get = client()
        .get(srv.url("/graphql?query=%7B__typename%7D"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 429);
    let ws = srv
        .ws_raw_with(
            "graphql-transport-ws",
            &[("x-forwarded-for", "203.0.113.7")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&ws, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 429),
        "{ws:?}"
    );
    // Another address has its own bucket; this machine itself is not limited.
    assert_eq!(
        health_from(&srv, Some("203.0.113.8"), None).await.status(),
        200
    );
    for _ in 0..5 {
        assert_eq!(health_from(&srv, None, None).await.status(), 200);
    }
    // /health and /metrics are not limited.
    for path in ["/health", "/metrics"] {
        let resp = client()
            .get(srv.url(path))
            .header("x-forwarded-for", "203.0.113.7")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn requests_with_the_api_token_are_not_rate_limited() {
    let db = testkit::sqlite("h_rate_token").await;
    let srv = start_with(&db.conn, limited(TWO_THEN_SLOW, Some("s3cret"))).await;
    let a = Some("203.0.113.7");
    for _ in 0..5 {
        assert_eq!(health_from(&srv, a, Some("s3cret")).await.status(), 200);
    }
    // With a token configured, a caller without it is anonymous even on this machine.
    for _ in 0..2 {
        assert_eq!(health_from(&srv, None, Some("wrong")).await.status(), 200);
    }
    assert_eq!(health_from(&srv, None, None).await.status(), 429);
    srv.stop().await;
}

// ---------------------------------------------------------------------------------------------
// WebSockets

async fn close_code(ws: &mut support::Ws, within: Duration) -> Option<u16> {
    tokio::time::timeout(within, async {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Close(frame) = msg {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test]
async fn a_socket_without_connection_init_is_closed_with_4408_and_frees_its_slot() {
    let db = testkit::sqlite("h_ws_init").await;
    let srv = start_with(
        &db.conn,
        ServerSettings {
            ws_init_timeout: Duration::from_millis(300),
            ws_max_connections: 1,
            ..ServerSettings::default()
        },
    )
    .await;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut idle = srv.ws_raw(protocol).await.unwrap();
        assert_eq!(
            close_code(&mut idle, Duration::from_secs(5)).await,
            Some(4408),
            "{protocol}"
        );
        drop(idle);
        // The only slot is free again (the server lets go of it once the socket is gone).
        let mut ws = None;
        for _ in 0..50 {
            if let Ok(w) = srv.ws_raw(protocol).await {
                ws = Some(w);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut ws = ws.expect("the slot is freed");
        ws.send(Message::text(r#"{"type":"connection_init"}"#))
            .await
            .unwrap();
        assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
        // Initialised in time: not closed afterwards.
        assert_eq!(close_code(&mut ws, Duration::from_millis(600)).await, None);
        drop(ws);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    srv.stop().await;
}

#[tokio::test]
async fn anonymous_sockets_per_address_are_capped_but_token_holders_are_not() {
    let db = testkit::sqlite("h_ws_addr").await;
    let srv = start_with(
        &db.conn,
        ServerSettings {
            ws_max_per_address: 2,
            ..limited(RateLimit::OFF, Some("s3cret"))
        },
    )
    .await;
    let from = [("x-forwarded-for", "203.0.113.7")];
    let first = srv.ws_raw_with("graphql-ws", &from).await.unwrap();
    let _second = srv.ws_raw_with("graphql-ws", &from).await.unwrap();
    let third = srv.ws_raw_with("graphql-ws", &from).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = third else {
        panic!("expected an HTTP refusal, got {third:?}");
    };
    assert_eq!(resp.status(), 429);
    let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
    assert_eq!(code(&body), "LIMIT_EXCEEDED");
    // Another address is counted apart; the token in the upgrade's header is not counted.
    assert!(
        srv.ws_raw_with("graphql-ws", &[("x-forwarded-for", "203.0.113.8")])
            .await
            .is_ok()
    );
    let with_token = [
        ("x-forwarded-for", "203.0.113.7"),
        ("authorization", "Bearer s3cret"),
    ];
    for _ in 0..3 {
        assert!(srv.ws_raw_with("graphql-ws", &with_token).await.is_ok());
    }
    // Closing one frees its place.
    drop(first);
    let mut reopened = None;
    for _ in 0..50 {
        if let Ok(ws) = srv.ws_raw_with("graphql-ws", &from).await {
            reopened = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        reopened.is_some(),
        "the place is freed once the socket closes"
    );
    srv.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Metrics, headers, GraphiQL, token

#[tokio::test]
async fn junk_http_methods_do_not_add_metric_series() {
    let db = testkit::sqlite("h_methods").await;
    let srv = server(&db).await;
    for method in ["BREW", "PROPFIND", "XYZZY", "FOO-1"] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        for path in ["/graphql", "/no-such-page"] {
            client()
                .request(m.clone(), srv.url(path))
                .send()
                .await
                .unwrap();
        }
    }
    let text = reqwest::get(srv.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for junk in ["BREW", "PROPFIND", "XYZZY", "FOO-1", "no-such-page"] {
        assert!(!text.contains(junk), "{junk} in\n{text}");
    }
    assert!(
        text.contains(
            r#"jobintel_http_requests_total{route="/graphql",method="other",status="405"} 4"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",method="other""#),
        "{text}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn graphiql_forbids_inline_scripts_and_framing_and_keeps_the_token_per_tab() {
    let db = testkit::sqlite("h_graphiql").await;
    let srv = server(&db).await;
    let resp = reqwest::get(srv.url("/graphiql")).await.unwrap();
    let h = resp.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap().to_owned();
    for directive in [
        "script-src 'self'",
        "frame-ancestors 'none'",
        "default-src 'none'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-eval"));
    assert!(
        !csp.split(';')
            .any(|d| d.contains("script-src") && d.contains("unsafe-inline"))
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let page = resp.text().await.unwrap();
    // Every script is a file from this server; no inline code, no inline style element.
    assert_eq!(
        page.matches("<script").count(),
        page.matches("<script src=\"/graphiql/assets/").count()
    );
    assert!(!page.contains("<style"), "{page}");
    let init = client()
        .get(srv.url("/graphiql/assets/init.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    assert!(
        init.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let init = init.text().await.unwrap();
    assert!(init.contains("sessionStorage.getItem('jobintel.token')"));
    // Local storage is only read to move an old token out of it.
    assert!(!init.contains("localStorage.setItem"));
    assert!(init.contains("localStorage.removeItem('jobintel.token')"));
    assert!(init.contains("shouldPersistHeaders: false"));
    srv.stop().await;
}

#[tokio::test]
async fn every_response_says_nosniff() {
    let db = testkit::sqlite("h_nosniff").await;
    let srv = server(&db).await;
    for path in [
        "/health",
        "/metrics",
        "/graphql?query=%7B__typename%7D",
        "/nope",
        "/graphiql/assets/graphiql.min.css",
    ] {
        let resp = reqwest::get(srv.url(path)).await.unwrap();
        assert_eq!(
            resp.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
    let (_, h, _) = post(&srv, &[("content-type", "text/plain")], "x").await;
    assert_eq!(h["x-content-type-options"], "nosniff");
    srv.stop().await;
}

#[tokio::test]
async fn a_configured_token_with_a_trailing_newline_still_matches() {
    let db = testkit::sqlite("h_trim").await;
    let config = Cli::try_parse_from(["jobintel", "--api-token", "s3cret\n"])
        .unwrap()
        .config;
    let srv = start_with(&db.conn, ServerSettings::from_config(&config)).await;
    let v = srv
        .gql_with(CREATE_SCHEDULE, json!({}), Some("s3cret"))
        .await;
    assert!(v["errors"].is_null(), "{v}");
    let v = srv
        .gql_with(CREATE_SCHEDULE, json!({}), Some("s3cre"))
        .await;
    assert_eq!(code(&v), "UNAUTHENTICATED");
    srv.stop().await;

    // Blank after trimming: no token, so a loopback server takes mutations from this machine.
    let blank = Cli::try_parse_from(["jobintel", "--api-token", " \n"])
        .unwrap()
        .config;
    let srv = start_with(&db.conn, ServerSettings::from_config(&blank)).await;
    let v = srv.gql(&CREATE_SCHEDULE.replace("\"x\"", "\"y\"")).await;
    assert!(v["errors"].is_null(), "{v}");
    srv.stop().await;
}

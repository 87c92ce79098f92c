//! Webhook delivery from the outbox on SQLite and (with TEST_DATABASE_URL) PostgreSQL, against
//! a local receiver on 127.0.0.1: signatures (checked with an HMAC computed here, not the
//! server's), retries with the same delivery id, a worker killed between claim and
//! acknowledgement, digests, giving up (the search is paused, with the reason) and the
//! private-network guard at delivery time.

mod process;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use jobintel::config::Secret;
use jobintel::graphql::auth::AuthPolicy;
use jobintel::service::webhooks::{self, DeliveryConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TOKEN: &str = "writer-token-for-tests";
const SECRET: &str = "a-secret-of-at-least-16";

/// What the receiver saw: (headers, body) per request.
type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A webhook receiver answering each request with the next status of `script` (200 once it
/// runs out; 0 = never answer, as a receiver that hangs).
async fn receiver(script: Vec<u16>) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let script = Arc::new(Mutex::new(script.into_iter()));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let seen = seen.clone();
            move |headers: HeaderMap, body: axum::body::Bytes| async move {
                seen.lock().unwrap().push((headers, body.to_vec()));
                let code = script.lock().unwrap().next().unwrap_or(200);
                if code == 0 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                StatusCode::from_u16(code).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), seen)
}

/// HMAC-SHA256 written out here, independently of the server's.
fn expected_signature(secret: &str, body: &[u8]) -> String {
    let mut key = [0u8; 64];
    key[..secret.len()].copy_from_slice(secret.as_bytes());
    let inner_key: Vec<u8> = key.iter().map(|b| b ^ 0x36).collect();
    let outer_key: Vec<u8> = key.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::digest([inner_key.as_slice(), body].concat());
    let outer = Sha256::digest([outer_key.as_slice(), &inner[..]].concat());
    format!(
        "sha256={}",
        outer.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn cfg() -> DeliveryConfig {
    DeliveryConfig {
        retry_base: Duration::from_millis(30),
        allow_private_network: true,
        ..DeliveryConfig::default()
    }
}

fn client() -> reqwest::Client {
    jobintel::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A server with one saved search (`filter`, `digest`) calling `url`, after a Greenhouse run
/// stored the fixture's two postings. Returns the server and the search's ID.
async fn setup(
    db: &testkit::TestDb,
    base: &url::Url,
    url: &str,
    filter: Value,
    digest: &str,
) -> (support::Server, String) {
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
    let res = s
        .gql_with(
            "mutation($input: CreateSavedSearchInput!) { createSavedSearch(input: $input) { id } }",
            json!({"input": {"name": "hook", "filter": filter, "webhookUrl": url,
                              "secret": SECRET, "events": ["NEW"], "digest": digest}}),
            Some(TOKEN),
        )
        .await;
    let id = res["data"]["createSavedSearch"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{res}"))
        .to_owned();
    let run = support::queue_greenhouse_run(&s.state).await;
    support::execute(&s.state, run).await.unwrap();
    (s, id)
}

async fn search(s: &support::Server, id: &str) -> Value {
    let res = s
        .gql_with(
            "query($id: ID!) { savedSearch(id: $id) { enabled pausedReason deliveries(first: 50) {
                edges { node { deliveryId event status attempts lastStatus lastError } } } } }",
            json!({"id": id}),
            None,
        )
        .await;
    res["data"]["savedSearch"].clone()
}

fn deliveries(v: &Value) -> Vec<Value> {
    v["deliveries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Run worker steps until `done` or 10 s.
async fn steps_until(s: &support::Server, cfg: &DeliveryConfig, mut done: impl FnMut() -> bool) {
    let client = client();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        webhooks::deliver_once(&s.state.db, &client, cfg, Utc::now())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn failures_are_retried_with_the_same_delivery_id_and_a_verifiable_signature() {
    let base = support::greenhouse_stub(support::GREENHOUSE_BOARD.to_owned()).await;
    for db in testkit::databases("hook_retry").await {
        let (url, seen) = receiver(vec![500, 503, 200]).await;
        let (s, id) = setup(
            &db,
            &base,
            &url,
            json!({"titleContains": "engineer"}),
            "IMMEDIATE",
        )
        .await;
        steps_until(&s, &cfg(), || seen.lock().unwrap().len() >= 3).await;

        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        let ids: Vec<&str> = seen
            .iter()
            .map(|(h, _)| h["x-jobintel-delivery"].to_str().unwrap())
            .collect();
        assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
        for (headers, body) in &seen {
            assert_eq!(headers["x-jobintel-event"], "NEW");
            assert_eq!(
                headers["x-jobintel-signature"].to_str().unwrap(),
                expected_signature(SECRET, body)
            );
            let payload: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(payload["deliveryId"], ids[0]);
            assert!(
                payload["posting"]["title"]
                    .as_str()
                    .unwrap()
                    .contains("Engineer")
            );
        }
        let got = search(&s, &id).await;
        let d = deliveries(&got);
        assert_eq!(d.len(), 1, "{got}");
        assert_eq!(d[0]["deliveryId"], ids[0]);
        assert_eq!(d[0]["status"], "DELIVERED");
        assert_eq!(d[0]["attempts"], 3);
        assert_eq!(d[0]["lastStatus"], 200);
        s.stop().await;
    }
}

#[tokio::test]
async fn a_worker_killed_after_claiming_loses_nothing_and_the_row_is_redelivered_with_its_id() {
    let base = support::greenhouse_stub(support::GREENHOUSE_BOARD.to_owned()).await;
    for db in testkit::databases("hook_restart").await {
        let (url, seen) = receiver(vec![]).await;
        let (s, id) = setup(
            &db,
            &base,
            &url,
            json!({"titleContains": "engineer"}),
            "IMMEDIATE",
        )
        .await;
        // The "killed" worker: claims the row (leased, attempt counted) and never answers.
        let lease = Duration::from_millis(300);
        let claimed = webhooks::claim(&s.state.db, Utc::now(), lease, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let mut cfg = cfg();
        cfg.lease = lease;
        // While the lease holds, another worker leaves the row alone.
        let n = webhooks::deliver_once(&s.state.db, &client(), &cfg, Utc::now())
            .await
            .unwrap();
        assert_eq!(n, 0);
        assert!(seen.lock().unwrap().is_empty());
        tokio::time::sleep(lease + Duration::from_millis(50)).await;
        steps_until(&s, &cfg, || !seen.lock().unwrap().is_empty()).await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            seen[0].0["x-jobintel-delivery"].to_str().unwrap(),
            claimed[0].delivery_id
        );
        let d = deliveries(&search(&s, &id).await);
        assert_eq!(d[0]["status"], "DELIVERED");
        assert_eq!(d[0]["attempts"], 2);
        s.stop().await;
    }
}

#[tokio::test]
async fn a_digest_bundles_the_periods_events_into_one_post() {
    let base = support::greenhouse_stub(support::GREENHOUSE_BOARD.to_owned()).await;
    for db in testkit::databases("hook_digest").await {
        let (url, seen) = receiver(vec![]).await;
        let (s, id) = setup(&db, &base, &url, json!({}), "HOURLY").await;
        let client = client();
        // Within the hour: nothing is sent.
        webhooks::deliver_once(&s.state.db, &client, &cfg(), Utc::now())
            .await
            .unwrap();
        assert!(seen.lock().unwrap().is_empty());
        // An hour later: one POST with both events.
        let later = Utc::now() + chrono::TimeDelta::minutes(61);
        webhooks::deliver_once(&s.state.db, &client, &cfg(), later)
            .await
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0["x-jobintel-event"], "DIGEST");
        let body: Value = serde_json::from_slice(&seen[0].1).unwrap();
        assert_eq!(body["events"].as_array().unwrap().len(), 2, "{body}");
        assert_eq!(
            seen[0].0["x-jobintel-signature"].to_str().unwrap(),
            expected_signature(SECRET, &seen[0].1)
        );
        let d = deliveries(&search(&s, &id).await);
        let statuses: Vec<&str> = d.iter().map(|x| x["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["DELIVERED", "BUNDLED", "BUNDLED"], "{d:?}");
        s.stop().await;
    }
}

#[tokio::test]
async fn a_hook_failing_past_the_max_age_is_paused_with_the_reason() {
    let base = support::greenhouse_stub(support::GREENHOUSE_BOARD.to_owned()).await;
    for db in testkit::databases("hook_giveup").await {
        let (url, seen) = receiver(vec![500; 10]).await;
        let (s, id) = setup(
            &db,
            &base,
            &url,
            json!({"titleContains": "engineer"}),
            "IMMEDIATE",
        )
        .await;
        let mut cfg = cfg();
        cfg.max_age = Duration::from_millis(100);
        tokio::time::sleep(Duration::from_millis(150)).await;
        webhooks::deliver_once(&s.state.db, &client(), &cfg, Utc::now())
            .await
            .unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1);
        let got = search(&s, &id).await;
        assert_eq!(got["enabled"], false, "{got}");
        let reason = got["pausedReason"].as_str().unwrap();
        assert!(reason.contains("500"), "{reason}");
        let d = deliveries(&got);
        assert_eq!(d[0]["status"], "FAILED");
        assert_eq!(d[0]["lastStatus"], 500);
        s.stop().await;
    }
}

#[tokio::test]
async fn a_private_webhook_is_refused_at_delivery_time_without_the_setting() {
    let base = support::greenhouse_stub(support::GREENHOUSE_BOARD.to_owned()).await;
    for db in testkit::databases("hook_private").await {
        let (url, seen) = receiver(vec![]).await;
        let (s, id) = setup(
            &db,
            &base,
            &url,
            json!({"titleContains": "engineer"}),
            "IMMEDIATE",
        )
        .await;
        let mut cfg = cfg();
        cfg.allow_private_network = false;
        webhooks::deliver_once(&s.state.db, &client(), &cfg, Utc::now())
            .await
            .unwrap();
        assert!(seen.lock().unwrap().is_empty());
        let d = deliveries(&search(&s, &id).await);
        assert_eq!(d[0]["status"], "PENDING");
        let err = d[0]["lastError"].as_str().unwrap();
        assert!(err.contains("JOBINTEL_ALLOW_PRIVATE_NETWORK"), "{err}");
        s.stop().await;
    }
}

/// Delivery latency from the page's commit (`PageStored.stored_at`) to the receiver, with 100
/// saved searches matching both postings of the page (200 deliveries) and the worker loop as
/// the scheduler starts it (default poll and batch). Prints p50/p99:
/// `cargo test -p jobintel-api --test webhook_delivery latency -- --nocapture`.
#[tokio::test]
async fn delivery_latency_with_100_saved_searches() {
    let base = support::greenhouse_stub(support::GREENHOUSE_BOARD.to_owned()).await;
    for db in testkit::databases("hook_latency").await {
        let received: Arc<Mutex<Vec<chrono::DateTime<Utc>>>> = Arc::default();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post({
                let received = received.clone();
                move || async move {
                    received.lock().unwrap().push(Utc::now());
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

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
        for i in 0..100 {
            let res = s
                .gql_with(
                    "mutation($input: CreateSavedSearchInput!) { createSavedSearch(input: $input) { id } }",
                    json!({"input": {"name": format!("s{i}"), "webhookUrl": url,
                                      "secret": SECRET, "events": ["NEW"]}}),
                    Some(TOKEN),
                )
                .await;
            assert!(res["errors"].is_null(), "{res}");
        }
        let stop = tokio_util::sync::CancellationToken::new();
        let worker = tokio::spawn(webhooks::run_worker(
            s.state.db.clone(),
            DeliveryConfig {
                allow_private_network: true,
                ..DeliveryConfig::default()
            },
            stop.clone(),
        ));
        let mut events = s.state.api.runs.engine().bus.subscribe();
        let run = support::queue_greenhouse_run(&s.state).await;
        support::execute(&s.state, run).await.unwrap();
        let mut stored_at = None;
        while let Ok(e) = events.try_recv() {
            if let ingest::events::IngestEvent::PageStored { stored_at: at, .. } = e {
                stored_at = Some(at);
            }
        }
        let stored_at = stored_at.expect("a PageStored event");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while received.lock().unwrap().len() < 200 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not all delivered in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
        worker.await.unwrap();
        let mut ms: Vec<i64> = received
            .lock()
            .unwrap()
            .iter()
            .map(|t| (*t - stored_at).num_milliseconds())
            .collect();
        ms.sort_unstable();
        println!(
            "delivery latency ({:?}, 100 saved searches, {} deliveries): p50 {} ms, p99 {} ms, max {} ms",
            db.db_backend(),
            ms.len(),
            testkit::percentile(&ms, 0.50).unwrap(),
            testkit::percentile(&ms, 0.99).unwrap(),
            ms.last().unwrap()
        );
        s.stop().await;
    }
}

/// The real binary, SIGKILLed while its POST is in flight, then started again on the same
/// database: the delivery arrives, with the same delivery id and a valid signature, and is
/// recorded as delivered. Nothing in this process touches the outbox: only the two servers.
#[tokio::test]
async fn kill_9_mid_delivery_then_restart_delivers_with_the_same_id() {
    let board = support::greenhouse_stub(support::GREENHOUSE_BOARD.to_owned()).await;
    for db in testkit::databases("hook_kill9").await {
        // The first POST hangs (the process dies while waiting); later ones get 200.
        let (hook, seen) = receiver(vec![0]).await;
        // Both servers on the test's database (a SQLite file or a PostgreSQL database of its own).
        let spawn = || {
            process::Serve::new("kill9")
                .database(&db.url)
                .env("JOBINTEL_API_TOKEN", TOKEN)
                .env("JOBINTEL_GREENHOUSE_BASE_URL", board.as_str())
                .env("JOBINTEL_ALLOW_PRIVATE_NETWORK", "true")
                .env("JOBINTEL_WEBHOOK_RETRY_BASE", "100ms")
                .env("JOBINTEL_WEBHOOK_LEASE", "1s")
                .start()
        };
        let http = client();
        let gql = |base: String, query: &'static str, variables: Value| {
            let http = http.clone();
            async move {
                http.post(format!("{base}/graphql"))
                    .bearer_auth(TOKEN)
                    .json(&json!({"query": query, "variables": variables}))
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .ok()?
                    .json::<Value>()
                    .await
                    .ok()
            }
        };

        let mut first = spawn().await;
        let base = first.base.clone();
        let created = gql(
            base.clone(),
            "mutation($input: CreateSavedSearchInput!) { createSavedSearch(input: $input) { id } }",
            json!({"input": {"name": "kill", "filter": {"titleContains": "engineer"},
                             "webhookUrl": hook, "secret": SECRET, "events": ["NEW"],
                             "digest": "IMMEDIATE"}}),
        )
        .await
        .expect("createSavedSearch");
        let search_id = created["data"]["createSavedSearch"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"))
            .to_owned();
        let started = gql(
            base.clone(),
            "mutation { startIngest(input: {source: GREENHOUSE, target: \"acme\"}) { id } }",
            json!({}),
        )
        .await
        .expect("startIngest");
        assert!(started["errors"].is_null(), "{started}");

        // Wait for the POST to arrive (and hang), then kill -9 the server.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while seen.lock().unwrap().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no delivery attempt"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        first.kill_9();
        let first_id = seen.lock().unwrap()[0].0["x-jobintel-delivery"]
            .to_str()
            .unwrap()
            .to_owned();

        // The killed process left the row pending and leased, its attempt counted.
        let pending = webhook_delivery_row(&db.conn).await;
        assert_eq!(pending.delivery_id, first_id);
        assert_eq!(pending.status, entity::DeliveryStatus::Pending);
        assert_eq!(pending.attempts, 1);

        let second = spawn().await;
        let base = second.base.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        let status = loop {
            let v = gql(
                base.clone(),
                "query($id: ID!) { savedSearch(id: $id) { deliveries(first: 5) {
                    edges { node { deliveryId status attempts lastStatus } } } } }",
                json!({"id": search_id}),
            )
            .await
            .expect("savedSearch");
            let d = &v["data"]["savedSearch"]["deliveries"]["edges"][0]["node"];
            if d["status"] == "DELIVERED" {
                break d.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not redelivered after the restart: {v}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        drop(second);

        assert_eq!(status["deliveryId"], first_id.as_str());
        assert_eq!(status["attempts"], 2);
        assert_eq!(status["lastStatus"], 200);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "exactly one redelivery");
        for (headers, body) in &seen {
            assert_eq!(headers["x-jobintel-delivery"].to_str().unwrap(), first_id);
            assert_eq!(
                headers["x-jobintel-signature"].to_str().unwrap(),
                expected_signature(SECRET, body)
            );
        }
        assert_eq!(seen[0].1, seen[1].1, "the same body both times");
    }
}

/// The one outbox row, read straight from the database.
async fn webhook_delivery_row(db: &sea_orm::DatabaseConnection) -> entity::webhook_delivery::Model {
    use sea_orm::EntityTrait;
    let rows = entity::webhook_delivery::Entity::find()
        .all(db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.into_iter().next().unwrap()
}

//! Subscriptions end to end: real WebSocket clients in both protocols, a real ingest against a
//! local fixture server, two instances on PostgreSQL, limits, slow consumers and auth.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use jobintel::state::ServerSettings;
use serde_json::{Value, json};
use support::*;

fn settings_for(base: &url::Url) -> ServerSettings {
    let mut s = test_settings();
    s.engine
        .base_urls
        .insert(entity::Source::Greenhouse, base.clone());
    s
}

fn run_gid(id: i64) -> String {
    jobintel::graphql::ids::encode("IngestRun", id)
}

const RUN_EVENTS: &str = "subscription($id: ID) { ingestRunEvents(runId: $id) { kind runId source page jobsFound jobsNew jobsUpdated jobsUnchanged status error } }";

/// Collect `next`/`data` payloads for subscription `id` until it completes.
async fn collect_until_complete(ws: &mut Ws, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let v = next_json(ws).await;
        match v["type"].as_str() {
            Some("next" | "data") if v["id"] == id => out.push(v["payload"].clone()),
            Some("complete") if v["id"] == id => return out,
            Some("error") => panic!("subscription error: {v}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn run_events_arrive_in_order_through_finished_in_both_protocols() {
    let base = greenhouse_stub(GREENHOUSE_BOARD.to_owned()).await;
    for db in testkit::databases("sub_runs").await {
        let srv = start_with(&db.conn, settings_for(&base)).await;
        for protocol in ["graphql-transport-ws", "graphql-ws"] {
            let run = queue_greenhouse_run(&srv.state).await;
            let mut ws = srv.ws(protocol, json!({})).await;
            let ty = if protocol == "graphql-ws" {
                "start"
            } else {
                "subscribe"
            };
            futures_util::SinkExt::send(
                &mut ws,
                tokio_tungstenite::tungstenite::Message::text(
                    json!({"id": "r", "type": ty, "payload": {"query": RUN_EVENTS, "variables": {"id": run_gid(run.id)}}})
                        .to_string(),
                ),
            )
            .await
            .unwrap();
            // Give the server a moment to register the subscription before the run starts.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let report = execute(&srv.state, run).await.unwrap();
            assert_eq!(report.status, entity::RunStatus::Succeeded);
            let events = collect_until_complete(&mut ws, "r").await;
            let kinds: Vec<&str> = events
                .iter()
                .map(|e| e["data"]["ingestRunEvents"]["kind"].as_str().unwrap())
                .collect();
            assert_eq!(
                kinds,
                ["STARTED", "PAGE_STORED", "FINISHED"],
                "{protocol} {db:?}",
                db = db.backend
            );
            let page = &events[1]["data"]["ingestRunEvents"];
            assert_eq!(page["page"], 1);
            assert_eq!(page["jobsFound"], 2);
            let fin = &events[2]["data"]["ingestRunEvents"];
            assert_eq!(fin["status"], "SUCCEEDED");
            assert_eq!(fin["source"], "GREENHOUSE");
            assert!(fin["error"].is_null());
        }
        srv.stop().await;
    }
}

#[tokio::test]
async fn subscribing_to_a_finished_run_gives_its_final_event_and_completes() {
    let base = greenhouse_stub(GREENHOUSE_BOARD[..200].to_owned()).await;
    for db in testkit::databases("sub_finished").await {
        let srv = start_with(&db.conn, settings_for(&base)).await;
        let run = queue_greenhouse_run(&srv.state).await;
        let id = run.id;
        let report = execute(&srv.state, run).await.unwrap();
        assert_eq!(report.status, entity::RunStatus::Failed);

        let mut ws = srv.ws("graphql-transport-ws", json!({})).await;
        futures_util::SinkExt::send(
            &mut ws,
            tokio_tungstenite::tungstenite::Message::text(
                json!({"id": "f", "type": "subscribe", "payload": {"query": RUN_EVENTS, "variables": {"id": run_gid(id)}}})
                    .to_string(),
            ),
        )
        .await
        .unwrap();
        let events = collect_until_complete(&mut ws, "f").await;
        assert_eq!(events.len(), 1);
        let fin = &events[0]["data"]["ingestRunEvents"];
        assert_eq!(fin["kind"], "FINISHED");
        assert_eq!(fin["status"], "FAILED");
        assert!(
            fin["error"].as_str().unwrap().contains("invalid JSON"),
            "{fin}"
        );
        srv.stop().await;
    }
}

#[tokio::test]
async fn source_filters_select_runs_and_unknown_runs_are_not_found() {
    let base = greenhouse_stub(GREENHOUSE_BOARD.to_owned()).await;
    let db = testkit::sqlite("sub_sources").await;
    let srv = start_with(&db.conn, settings_for(&base)).await;
    let mut lever_only = srv.ws("graphql-transport-ws", json!({})).await;
    subscribe(
        &mut lever_only,
        "graphql-transport-ws",
        "l",
        "subscription { ingestRunEvents(sources: [LEVER]) { kind } }",
    )
    .await;
    let mut gh_only = srv.ws("graphql-transport-ws", json!({})).await;
    subscribe(
        &mut gh_only,
        "graphql-transport-ws",
        "g",
        "subscription { ingestRunEvents(sources: [GREENHOUSE]) { kind source } }",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let run = queue_greenhouse_run(&srv.state).await;
    execute(&srv.state, run).await.unwrap();
    let first = next_json(&mut gh_only).await;
    assert_eq!(
        first["payload"]["data"]["ingestRunEvents"]["source"],
        "GREENHOUSE"
    );
    assert!(
        next_json_within(&mut lever_only, Duration::from_millis(300))
            .await
            .is_none(),
        "a LEVER-only subscriber saw a Greenhouse run"
    );

    let mut ws = srv.ws("graphql-transport-ws", json!({})).await;
    subscribe(
        &mut ws,
        "graphql-transport-ws",
        "x",
        &format!(
            "subscription {{ ingestRunEvents(runId: \"{}\") {{ kind }} }}",
            run_gid(999_999)
        ),
    )
    .await;
    let v = next_json(&mut ws).await;
    let text = v.to_string();
    assert!(
        text.contains("NOT_FOUND") || text.contains("no ingest run"),
        "{v}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn runs_on_one_instance_reach_subscribers_on_another_through_postgres() {
    let Some(_) = testkit::postgres_admin_url() else {
        // Cross-instance delivery is PostgreSQL-only (LISTEN/NOTIFY); `.ci/run` enables it.
        return;
    };
    let base = greenhouse_stub(GREENHOUSE_BOARD.to_owned()).await;
    let db = testkit::postgres("sub_two").await;
    let mut sa = settings_for(&base);
    sa.listen_url = Some(db.url.clone());
    let mut sb = settings_for(&base);
    sb.listen_url = Some(db.url.clone());
    // Separate pools, as two processes would have.
    let conn_b = sea_orm::Database::connect(db.url.as_str()).await.unwrap();
    let a = start_with(&db.conn, sa).await;
    let b = start_with(&conn_b, sb).await;
    let run = queue_greenhouse_run(&a.state).await;
    let mut ws = b.ws("graphql-transport-ws", json!({})).await;
    futures_util::SinkExt::send(
        &mut ws,
        tokio_tungstenite::tungstenite::Message::text(
            json!({"id": "r", "type": "subscribe", "payload": {"query": RUN_EVENTS, "variables": {"id": run_gid(run.id)}}})
                .to_string(),
        ),
    )
    .await
    .unwrap();
    // The LISTEN connection of B must be up before A publishes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    execute(&a.state, run).await.unwrap();
    let events = collect_until_complete(&mut ws, "r").await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["ingestRunEvents"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["STARTED", "PAGE_STORED", "FINISHED"]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_told_and_closed() {
    let db = testkit::sqlite("sub_slow").await;
    let mut s = test_settings();
    s.fanout_capacity = 8;
    let srv = start_with(&db.conn, s).await;
    let schema = srv.state.schema.clone();
    let mut stream = schema.execute_stream(async_graphql::Request::new(
        "subscription { ingestRunEvents { kind } }",
    ));
    // First poll runs the resolver (which subscribes); nothing is there yet.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), stream.next())
            .await
            .is_err()
    );
    for i in 0..100 {
        srv.state
            .api
            .runs
            .engine()
            .bus
            .publish(ingest::events::IngestEvent::RunStarted {
                run_id: i,
                source: entity::Source::Seek,
            });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut saw_error = None;
    while let Ok(Some(resp)) = tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
        if !resp.errors.is_empty() {
            saw_error = Some(resp.errors[0].clone());
        }
    }
    let err = saw_error.expect("the slow subscriber is told");
    assert!(err.message.contains("fell"), "{}", err.message);
    let code = err.extensions.unwrap().get("code").cloned().unwrap();
    assert_eq!(code, async_graphql::Value::from("SLOW_CONSUMER"));
    srv.stop().await;
}

#[tokio::test]
async fn connection_and_per_connection_subscription_limits_refuse_with_clear_errors() {
    let db = testkit::sqlite("sub_limits").await;
    let mut s = test_settings();
    s.ws_max_connections = 2;
    s.ws_max_subscriptions = 1;
    let srv = start_with(&db.conn, s).await;
    let mut one = srv.ws("graphql-transport-ws", json!({})).await;
    let _two = srv.ws("graphql-transport-ws", json!({})).await;
    match srv.ws_raw("graphql-transport-ws").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 503);
            let body = String::from_utf8(resp.body().clone().unwrap_or_default()).unwrap();
            assert!(body.contains("JOBINTEL_WS_MAX_CONNECTIONS"), "{body}");
        }
        other => panic!(
            "third connection should be refused, got {:?}",
            other.map(|_| ())
        ),
    }

    subscribe(
        &mut one,
        "graphql-transport-ws",
        "a",
        "subscription { ingestRunEvents { kind } }",
    )
    .await;
    subscribe(
        &mut one,
        "graphql-transport-ws",
        "b",
        "subscription { ingestRunEvents { kind } }",
    )
    .await;
    let v = next_json(&mut one).await;
    assert_eq!(v["id"], "b", "{v}");
    let text = v.to_string();
    assert!(
        text.contains("LIMIT_EXCEEDED") && text.contains("JOBINTEL_WS_MAX_SUBSCRIPTIONS"),
        "{v}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn protected_reads_need_the_token_in_connection_init() {
    let db = testkit::sqlite("sub_auth").await;
    let mut s = test_settings();
    s.auth.token = Some(jobintel::config::Secret::new("s3cret"));
    s.auth.protect_reads = true;
    let srv = start_with(&db.conn, s).await;

    let mut anon = srv.ws("graphql-transport-ws", json!({})).await;
    subscribe(
        &mut anon,
        "graphql-transport-ws",
        "a",
        "subscription { ingestRunEvents { kind } }",
    )
    .await;
    let v = next_json(&mut anon).await;
    assert!(v.to_string().contains("UNAUTHENTICATED"), "{v}");

    let mut authed = srv
        .ws(
            "graphql-transport-ws",
            json!({"Authorization": "Bearer s3cret"}),
        )
        .await;
    subscribe(
        &mut authed,
        "graphql-transport-ws",
        "a",
        "subscription { ingestRunEvents { kind } }",
    )
    .await;
    assert!(
        next_json_within(&mut authed, Duration::from_millis(300))
            .await
            .is_none(),
        "an authenticated subscription waits for events instead of failing"
    );
    let mut legacy = srv.ws("graphql-ws", json!({"token": "s3cret"})).await;
    subscribe(
        &mut legacy,
        "graphql-ws",
        "a",
        "subscription { ingestRunEvents { kind } }",
    )
    .await;
    assert!(
        next_json_within(&mut legacy, Duration::from_millis(300))
            .await
            .is_none()
    );
    srv.stop().await;
}

const ADDED: &str =
    "subscription($f: JobPostingFilter) { jobPostingAdded(filter: $f) { title company source } }";
const UPDATED: &str = "subscription($f: JobPostingFilter) { jobPostingUpdated(filter: $f) { title salary { min max currency } history(first: 1) { nodes { kind changes { field from to } run { databaseId } } } } }";

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
async fn posting_subscriptions_deliver_matching_new_and_changed_postings() {
    let body = std::sync::Arc::new(std::sync::Mutex::new(GREENHOUSE_BOARD.to_owned()));
    let base = greenhouse_stub_shared(body.clone()).await;
    for db in testkit::databases("sub_postings").await {
        *body.lock().unwrap() = GREENHOUSE_BOARD.to_owned();
        let srv = start_with(&db.conn, settings_for(&base)).await;
        let mut researcher = srv.ws("graphql-transport-ws", json!({})).await;
        subscribe_vars(
            &mut researcher,
            "a",
            ADDED,
            json!({"f": {"titleContains": "research", "sources": ["GREENHOUSE"]}}),
        )
        .await;
        let mut nobody = srv.ws("graphql-transport-ws", json!({})).await;
        subscribe_vars(&mut nobody, "n", ADDED, json!({"f": {"sources": ["SEEK"]}})).await;
        let mut everything = srv.ws("graphql-transport-ws", json!({})).await;
        subscribe_vars(&mut everything, "e", ADDED, json!({})).await;
        let mut changes = srv.ws("graphql-transport-ws", json!({})).await;
        subscribe_vars(
            &mut changes,
            "u",
            UPDATED,
            json!({"f": {"search": "accounts"}}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;

        let run = queue_greenhouse_run(&srv.state).await;
        execute(&srv.state, run).await.unwrap();
        let v = next_json(&mut researcher).await;
        assert_eq!(
            v["payload"]["data"]["jobPostingAdded"]["title"],
            "AI Research Engineer -  3D Computer Vision",
            "{v}"
        );
        let mut all = Vec::new();
        for _ in 0..2 {
            let v = next_json(&mut everything).await;
            all.push(
                v["payload"]["data"]["jobPostingAdded"]["title"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        all.sort();
        assert_eq!(
            all,
            [
                "AI Research Engineer -  3D Computer Vision",
                "Accounts Payable Lead"
            ]
        );
        assert!(
            next_json_within(&mut researcher, Duration::from_millis(200))
                .await
                .is_none()
        );
        assert!(
            next_json_within(&mut nobody, Duration::from_millis(200))
                .await
                .is_none()
        );

        // Same board, one posting's title changed: an update, not an addition.
        *body.lock().unwrap() =
            GREENHOUSE_BOARD.replace("Accounts Payable Lead", "Accounts Payable Lead (Senior)");
        let run = queue_greenhouse_run(&srv.state).await;
        let report = execute(&srv.state, run).await.unwrap();
        assert_eq!(report.counters.jobs_updated, 1, "{:?}", report.counters);
        let v = next_json(&mut changes).await;
        assert_eq!(
            v["payload"]["data"]["jobPostingUpdated"]["title"], "Accounts Payable Lead (Senior)",
            "{v}"
        );
        // What changed comes with it: the newest history entry is this run's change.
        let change = &v["payload"]["data"]["jobPostingUpdated"]["history"]["nodes"][0];
        assert_eq!(change["kind"], "CHANGED", "{v}");
        assert_eq!(change["run"]["databaseId"], report.run.id, "{v}");
        assert_eq!(
            change["changes"][0],
            json!({"field": "title", "from": "Accounts Payable Lead", "to": "Accounts Payable Lead (Senior)"}),
            "{v}"
        );
        // The history reads the same through a query, newest first, paged.
        let h = srv
            .gql(
                r#"{ jobPostings(filter: {search: "accounts"}) { nodes { history(first: 1) {
                       nodes { kind changes { field } } pageInfo { hasNextPage endCursor } } } } }"#,
            )
            .await;
        let history = &h["data"]["jobPostings"]["nodes"][0]["history"];
        assert_eq!(history["nodes"][0]["kind"], "CHANGED", "{h}");
        assert_eq!(history["pageInfo"]["hasNextPage"], false, "{h}");
        assert!(
            next_json_within(&mut everything, Duration::from_millis(200))
                .await
                .is_none(),
            "an update is not an addition"
        );

        // Changed again: the same subscription's next event carries the new change, not the
        // one its first event loaded (a subscription's loaders keep nothing between events).
        *body.lock().unwrap() =
            GREENHOUSE_BOARD.replace("Accounts Payable Lead", "Accounts Payable Lead (Acting)");
        let run = queue_greenhouse_run(&srv.state).await;
        let report = execute(&srv.state, run).await.unwrap();
        assert_eq!(report.counters.jobs_updated, 1, "{:?}", report.counters);
        let v = next_json(&mut changes).await;
        let change = &v["payload"]["data"]["jobPostingUpdated"]["history"]["nodes"][0];
        assert_eq!(change["run"]["databaseId"], report.run.id, "{v}");
        assert_eq!(
            change["changes"][0]["to"], "Accounts Payable Lead (Acting)",
            "{v}"
        );
        srv.stop().await;
    }
}

#[tokio::test]
async fn a_malformed_posting_filter_is_rejected_up_front() {
    let db = testkit::sqlite("sub_badfilter").await;
    let srv = start_with(&db.conn, test_settings()).await;
    let mut ws = srv.ws("graphql-transport-ws", json!({})).await;
    subscribe_vars(&mut ws, "b", ADDED, json!({"f": {"ingestRunId": "%%%"}})).await;
    let v = next_json(&mut ws).await;
    assert!(v.to_string().contains("BAD_USER_INPUT"), "{v}");
    srv.stop().await;
}

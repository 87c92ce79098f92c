//! Subscription benchmark against the real release binary:
//! 1. idle cost: RSS of the server before and after N WebSocket clients each hold an idle
//!    subscription (target: 1,000 connections under 30 MB extra);
//! 2. delivery latency: M subscribers to `ingestRunEvents`; an ingest of a large local board
//!    stores pages; for every PAGE_STORED event each subscriber receives, latency = receive
//!    time − the event's `at` (when the page's transaction committed). Target: p99 < 100 ms
//!    for 500 subscribers.
//!
//! ```sh
//! cargo build --release -p jobintel-api
//! cargo bench -p jobintel-api --bench subscriptions            # 1000 idle, 500 subscribers
//! cargo bench -p jobintel-api --bench subscriptions -- 2000 200  # other sizes
//! ```

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|n| n.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

async fn connect(addr: &str) -> Ws {
    let mut req = format!("ws://{addr}/graphql")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    ws.send(Message::text(r#"{"type":"connection_init"}"#))
        .await
        .unwrap();
    loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await
            && t.contains("connection_ack")
        {
            return ws;
        }
    }
}

async fn subscribe(ws: &mut Ws, query: &str) {
    ws.send(Message::text(
        json!({"id": "1", "type": "subscribe", "payload": {"query": query}}).to_string(),
    ))
    .await
    .unwrap();
}

/// A Greenhouse board of `n` jobs, served locally.
async fn board_stub(n: usize) -> String {
    use axum::routing::get;
    let jobs: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": 5_000_000 + i, "title": format!("Engineer {i}"), "updated_at": "2026-11-01T00:00:00Z",
                "first_published": "2026-11-01T00:00:00Z", "location": {"name": "Sydney"},
                "absolute_url": format!("https://example.com/jobs/{i}"), "company_name": "Acme",
                "content": "&lt;p&gt;Build things.&lt;/p&gt;", "departments": [], "offices": [], "metadata": []
            })
        })
        .collect();
    let body = json!({"jobs": jobs, "meta": {"total": n}}).to_string();
    let app = axum::Router::new()
        .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\n" }))
        .route(
            "/v1/boards/{token}/jobs",
            get(move || {
                let body = body.clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::main]
async fn main() {
    jobintel::install_crypto_provider();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let idle: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let subscribers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500);
    let bin = std::env::var("JOBINTEL_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/jobintel").to_owned()
    });
    assert!(
        std::path::Path::new(&bin).exists(),
        "{bin} not found: cargo build --release -p jobintel-api"
    );
    let board = board_stub(1000).await;
    let dir = std::env::temp_dir().join(format!("jobintel-ws-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = std::process::Command::new(&bin)
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/b.db?mode=rwc", dir.display()),
        )
        .env("JOBINTEL_BIND", &addr)
        .env("JOBINTEL_GREENHOUSE_BASE_URL", &board)
        .env("JOBINTEL_ALLOW_PRIVATE_NETWORK", "true")
        .env("JOBINTEL_JSON_RATE", "100")
        .env("JOBINTEL_WS_MAX_CONNECTIONS", "20000")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = server.id();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 1. Idle connections.
    let mut warm = connect(&addr).await;
    subscribe(
        &mut warm,
        "subscription { ingestRunEvents(sources: [SEEK]) { kind } }",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kb(pid);
    let mut conns = Vec::with_capacity(idle);
    for _ in 0..idle {
        let mut ws = connect(&addr).await;
        subscribe(
            &mut ws,
            "subscription { ingestRunEvents(sources: [SEEK]) { kind } }",
        )
        .await;
        conns.push(ws);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kb(pid);
    println!(
        "idle: {idle} subscribed connections: server RSS {:.1} MB -> {:.1} MB, +{:.1} MB ({:.1} KB per connection)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / 1024.0,
        after.saturating_sub(before) as f64 / idle.max(1) as f64
    );
    drop(conns);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 2. Delivery latency to many subscribers.
    let mut subs = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let mut ws = connect(&addr).await;
        subscribe(
            &mut ws,
            "subscription { ingestRunEvents(sources: [GREENHOUSE]) { kind at } }",
        )
        .await;
        subs.push(ws);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let readers: Vec<_> = subs
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let Ok(Some(Ok(msg))) =
                        tokio::time::timeout(Duration::from_secs(30), ws.next()).await
                    else {
                        break;
                    };
                    let now = chrono::Utc::now();
                    let Message::Text(t) = msg else { continue };
                    let v: Value = serde_json::from_str(&t).unwrap_or_default();
                    let ev = &v["payload"]["data"]["ingestRunEvents"];
                    match ev["kind"].as_str() {
                        Some("PAGE_STORED") => {
                            let at: chrono::DateTime<chrono::Utc> =
                                ev["at"].as_str().unwrap().parse().unwrap();
                            lat.push((now - at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
                        }
                        Some("FINISHED") => break,
                        _ => {}
                    }
                }
                lat
            })
        })
        .collect();
    let started = client
        .post(format!("http://{addr}/graphql"))
        .json(&json!({"query": "mutation { startIngest(input: {source: GREENHOUSE, target: \"acme\"}) { id } }"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(started["errors"].is_null(), "startIngest failed: {started}");
    let mut all = Vec::new();
    for r in readers {
        all.extend(r.await.unwrap());
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "latency: {subscribers} subscribers, {} PAGE_STORED deliveries: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (from commit to client)",
        all.len(),
        testkit::percentile(&all, 0.5).unwrap_or(f64::NAN),
        testkit::percentile(&all, 0.99).unwrap_or(f64::NAN),
        all.last().copied().unwrap_or(f64::NAN)
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

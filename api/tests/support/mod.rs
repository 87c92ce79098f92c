//! Shared helpers for the API's end-to-end tests: a server on 127.0.0.1:0, a GraphQL client,
//! WebSocket clients for both subscription protocols, and a local stand-in for a job board.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jobintel::server;
use jobintel::state::{AppState, ServerSettings};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Settings for tests: the fetcher may reach 127.0.0.1 and runs fast.
pub fn test_settings() -> ServerSettings {
    let mut s = ServerSettings::default();
    s.fetch.allow_private_network = true;
    s.fetch.html_rate_per_sec = 100.0;
    s.fetch.json_rate_per_sec = 100.0;
    s.fetch.backoff_base = Duration::from_millis(10);
    s
}

pub async fn start(state: AppState) -> Server {
    jobintel::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, state.clone(), async move {
        let _ = rx.await;
    }));
    Server {
        addr,
        state,
        stop,
        task,
    }
}

pub async fn start_with(db: &sea_orm::DatabaseConnection, settings: ServerSettings) -> Server {
    jobintel::install_crypto_provider();
    start(AppState::new(db.clone(), settings).unwrap()).await
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn gql(&self, query: &str) -> Value {
        self.gql_with(query, json!({}), None).await
    }

    pub async fn gql_with(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut req = reqwest::Client::new()
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops within 10 s")
            .unwrap()
            .unwrap();
    }

    /// Open a WebSocket speaking `protocol` and complete the handshake with `init_payload`.
    pub async fn ws(&self, protocol: &str, init_payload: Value) -> Ws {
        let mut ws = self.ws_raw(protocol).await.expect("WebSocket upgrade");
        ws.send(Message::text(
            json!({"type": "connection_init", "payload": init_payload}).to_string(),
        ))
        .await
        .unwrap();
        let ack = next_json(&mut ws).await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }

    pub async fn ws_raw(
        &self,
        protocol: &str,
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        self.ws_raw_with(protocol, &[]).await
    }

    /// Like [`Server::ws_raw`], with extra headers on the upgrade request (`Origin`,
    /// `Authorization`, `X-Forwarded-For`, …).
    pub async fn ws_raw_with(
        &self,
        protocol: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let mut req = format!("ws://{}/graphql", self.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(protocol).unwrap(),
        );
        for (name, value) in headers {
            req.headers_mut()
                .insert(*name, HeaderValue::from_str(value).unwrap());
        }
        tokio_tungstenite::connect_async(req)
            .await
            .map(|(ws, _)| ws)
    }
}

/// Send a subscription (`subscribe` in graphql-transport-ws, `start` in legacy graphql-ws).
pub async fn subscribe(ws: &mut Ws, protocol: &str, id: &str, query: &str) {
    let ty = if protocol == "graphql-ws" {
        "start"
    } else {
        "subscribe"
    };
    ws.send(Message::text(
        json!({"id": id, "type": ty, "payload": {"query": query}}).to_string(),
    ))
    .await
    .unwrap();
}

/// The next protocol message, skipping keep-alives.
pub async fn next_json(ws: &mut Ws) -> Value {
    next_json_within(ws, Duration::from_secs(10))
        .await
        .expect("a message within 10 s")
}

pub async fn next_json_within(ws: &mut Ws, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match msg.ok()? {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if matches!(v["type"].as_str(), Some("ka" | "ping" | "pong")) {
                    continue;
                }
                return Some(v);
            }
            Message::Close(frame) => {
                return Some(json!({"type": "__close", "code": frame.map(|f| u16::from(f.code))}));
            }
            _ => continue,
        }
    }
}

/// A local stand-in for boards-api.greenhouse.io serving `body` for every board.
pub async fn greenhouse_stub(body: String) -> url::Url {
    greenhouse_stub_shared(std::sync::Arc::new(std::sync::Mutex::new(body))).await
}

/// Like [`greenhouse_stub`], serving whatever `body` holds at request time (tests change it
/// between runs).
pub async fn greenhouse_stub_shared(body: std::sync::Arc<std::sync::Mutex<String>>) -> url::Url {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\n" }))
        .route(
            "/v1/boards/{token}/jobs",
            get(move || {
                let body = body.lock().unwrap().clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    url::Url::parse(&format!("http://{addr}")).unwrap()
}

pub const GREENHOUSE_BOARD: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ingest/tests/fixtures/ats/greenhouse_boards_api_jobs_content_true.json"
));

/// Queue a Greenhouse run for board `acme` (not started).
pub async fn queue_greenhouse_run(state: &AppState) -> entity::ingest_run::Model {
    use ingest::store::{self, NewRun};
    let params = ingest::SearchParams {
        target: Some("acme".into()),
        ..Default::default()
    };
    store::create_run(
        &state.db,
        NewRun::manual(
            entity::Source::Greenhouse,
            params,
            entity::RunTrigger::Manual,
        ),
    )
    .await
    .unwrap()
}

/// Execute a queued run through the server's own runs service, in the background (registered,
/// so `cancelIngestRun` stops it at once).
pub fn execute(
    state: &AppState,
    run: entity::ingest_run::Model,
) -> tokio::task::JoinHandle<ingest::engine::RunReport> {
    let runs = state.api.runs.clone();
    tokio::spawn(async move {
        ingest::store::mark_running(runs.db(), run.id, "test")
            .await
            .unwrap();
        let cancel = tokio_util::sync::CancellationToken::new();
        runs.execute(&run, &cancel).await.unwrap()
    })
}

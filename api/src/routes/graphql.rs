//! `/graphql`: POST (JSON, batches), GET (`?query=…`, queries only) and the WebSocket upgrade
//! for subscriptions (graphql-transport-ws and the legacy graphql-ws protocol).

use std::time::Duration;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols};
use async_graphql::parser::types::OperationType;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{FromRequest, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;

use crate::graphql::auth::Caller;
use crate::graphql::subscription::SubscriptionBudget;
use crate::server::AppState;

/// How often the server pings idle WebSocket clients (both protocols) so proxies keep the
/// connection open and dead peers are noticed.
const WS_PING_INTERVAL: Duration = Duration::from_secs(20);
/// How long one send to a client may block before the client counts as not reading.
const WS_SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// A request the GraphQL layer could not even parse: answered in GraphQL's error shape.
pub struct GraphqlHttpError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl GraphqlHttpError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        GraphqlHttpError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for GraphqlHttpError {
    fn into_response(self) -> Response {
        let body = json!({
            "errors": [{ "message": self.message, "extensions": { "code": self.code } }]
        });
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<async_graphql::ParseRequestError> for GraphqlHttpError {
    fn from(err: async_graphql::ParseRequestError) -> Self {
        use async_graphql::ParseRequestError as E;
        match err {
            E::PayloadTooLarge => GraphqlHttpError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "request body too large",
            ),
            E::InvalidRequest(e) => GraphqlHttpError::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("invalid GraphQL request: {e}"),
            ),
            other => GraphqlHttpError::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("invalid GraphQL request: {other}"),
            ),
        }
    }
}

/// POST: JSON (`{"query": …}` or a batch array) or `application/graphql` text. The body is read
/// through axum's `Bytes` extractor so the configured body limit applies (async-graphql-axum's
/// own extractor streams the body past it).
pub async fn post(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return GraphqlHttpError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "request body larger than the {} byte limit (JOBINTEL_MAX_BODY_BYTES)",
                    state.max_body_bytes
                ),
            )
            .into_response();
        }
        Err(e) => {
            return GraphqlHttpError::new(e.status(), "BAD_REQUEST", e.body_text()).into_response();
        }
    };
    let is_graphql_text = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/graphql"));
    let batch = if is_graphql_text {
        match std::str::from_utf8(&body) {
            Ok(q) => async_graphql::BatchRequest::Single(async_graphql::Request::new(q)),
            Err(_) => {
                return GraphqlHttpError::new(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "request body is not UTF-8",
                )
                .into_response();
            }
        }
    } else {
        // `BatchRequest` is an untagged enum: serde would buffer the whole body into a
        // generic tree and try both shapes. The first byte tells which one it is.
        let batch = match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => serde_json::from_slice(&body).map(async_graphql::BatchRequest::Batch),
            _ => serde_json::from_slice(&body).map(async_graphql::BatchRequest::Single),
        };
        match batch {
            Ok(b) => b,
            Err(e) => {
                return GraphqlHttpError::new(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    format!("invalid GraphQL request: {e}"),
                )
                .into_response();
            }
        }
    };
    if let async_graphql::BatchRequest::Batch(ops) = &batch
        && ops.len() > crate::graphql::limits::MAX_BATCH
    {
        return GraphqlHttpError::new(
            StatusCode::BAD_REQUEST,
            "BATCH_TOO_LARGE",
            format!(
                "a batch may hold at most {} operations, got {}",
                crate::graphql::limits::MAX_BATCH,
                ops.len()
            ),
        )
        .into_response();
    }
    let caller = caller_from(&headers);
    let batch = batch.data(caller);
    async_graphql_axum::GraphQLResponse::from(state.schema.execute_batch(batch).await)
        .into_response()
}

/// GET serves both `?query=` requests and WebSocket upgrades on the same path.
pub async fn get(State(state): State<AppState>, req: Request) -> Response {
    let wants_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if wants_upgrade {
        let (mut parts, _) = req.into_parts();
        let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
            Ok(p) => p,
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    "unsupported WebSocket subprotocol: use graphql-transport-ws or graphql-ws",
                )
                    .into_response();
            }
        };
        let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(u) => u,
            Err(e) => return e.into_response(),
        };
        let caller = caller_from(&parts.headers);
        let keepalive = parts
            .headers
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(',')
                    .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
            })
            .unwrap_or(WebSocketProtocols::GraphQLWS);
        let Ok(slot) = state.ws_slots.clone().try_acquire_owned() else {
            return GraphqlHttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "LIMIT_EXCEEDED",
                format!(
                    "too many WebSocket connections (limit {}, JOBINTEL_WS_MAX_CONNECTIONS); retry later",
                    state.ws_max_connections
                ),
            )
            .into_response();
        };
        return upgrade
            // tungstenite's defaults (128 KiB read and write buffers per connection) would make
            // 1,000 idle subscribers cost ~150 MB; protocol messages are small.
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0)
            .max_write_buffer_size(1024 * 1024)
            .max_message_size(state.max_body_bytes)
            .max_frame_size(state.max_body_bytes)
            .protocols(ALL_WEBSOCKET_PROTOCOLS)
            .on_upgrade(move |socket| async move {
                serve_websocket(socket, state, protocol, keepalive, caller).await;
                drop(slot);
            });
    }

    let caller = caller_from(req.headers());
    let gql = match GraphQLRequest::<GraphqlHttpError>::from_request(req, &()).await {
        Ok(r) => r.into_inner(),
        Err(e) => return e.into_response(),
    };
    // GET must be safe to repeat and can be triggered cross-site: queries only.
    // Text nested too deep would overflow the parser's stack: the executor answers it.
    let parsed = crate::graphql::document::check_text(&gql.query)
        .ok()
        .and_then(|()| async_graphql::parser::parse_query(&gql.query).ok());
    if let Some(doc) = parsed {
        let is_query = doc
            .operations
            .iter()
            .all(|(_, op)| op.node.ty == OperationType::Query);
        if !is_query {
            return GraphqlHttpError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "only queries may be sent with GET; send mutations with POST",
            )
            .into_response();
        }
    }
    // A persisted-query hash carries no text to check above: the executor re-checks the
    // operation type once the document is known.
    let gql = gql.data(caller);
    async_graphql_axum::GraphQLResponse::from(state.schema.execute_read_only(gql).await)
        .into_response()
}

fn caller_from(headers: &axum::http::HeaderMap) -> Caller {
    Caller::from_authorization(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )
}

/// The token a WebSocket client sends in `connection_init`: `{"Authorization": "Bearer …"}`
/// (as GraphiQL and most clients send headers) or `{"token": "…"}`.
fn caller_from_init(payload: &serde_json::Value) -> Caller {
    let auth = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .and_then(|v| v.as_str());
    if auth.is_some() {
        return Caller::from_authorization(auth);
    }
    Caller {
        bearer: payload
            .get("token")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    }
}

/// Serve one WebSocket connection until the client leaves or the server shuts down; on
/// shutdown the client gets a close frame with code 1001 (going away).
async fn serve_websocket(
    socket: WebSocket,
    state: AppState,
    protocol: GraphQLProtocol,
    keepalive: WebSocketProtocols,
    caller: Caller,
) {
    let (mut ws_sink, ws_stream) = socket.split();
    // Bounded: a client that stops reading applies backpressure to its own connection only.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(64);
    let shutdown = state.shutdown.clone();

    let writer = async move {
        let mut ping = tokio::time::interval(WS_PING_INTERVAL);
        ping.tick().await;
        loop {
            tokio::select! {
                // Shutdown first: when it fires, the GraphQL side also ends (its input stops),
                // and the client must still get the going-away frame.
                biased;
                _ = shutdown.cancelled() => break,
                msg = rx.recv() => match msg {
                    // A client whose socket stays full this long is not reading: close it
                    // rather than hold its messages.
                    Some(m) => match tokio::time::timeout(WS_SEND_TIMEOUT, ws_sink.send(m)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break,
                        Err(_) => {
                            tracing::warn!("closing a WebSocket client that stopped reading");
                            break;
                        }
                    },
                    None => break,
                },
                _ = ping.tick() => {
                    // A WebSocket ping for proxies and browsers, and the protocol's own
                    // keep-alive for clients that time out without one.
                    let ka = match keepalive {
                        WebSocketProtocols::GraphQLWS => r#"{"type":"ping"}"#,
                        WebSocketProtocols::SubscriptionsTransportWS => r#"{"type":"ka"}"#,
                    };
                    if ws_sink.send(Message::Ping(Default::default())).await.is_err()
                        || ws_sink.send(Message::Text(ka.into())).await.is_err()
                    {
                        break;
                    }
                }
            }
        }
        if shutdown.is_cancelled() {
            let _ = ws_sink
                .send(Message::Close(Some(CloseFrame {
                    code: 1001,
                    reason: "server shutting down".into(),
                })))
                .await;
        }
        let _ = ws_sink.close().await;
    };

    let sink = futures_util::sink::unfold(tx, |tx, msg: Message| async move {
        tx.send(msg)
            .await
            .map_err(|_| axum::Error::new("websocket writer closed"))?;
        Ok::<_, axum::Error>(tx)
    });
    let input = ws_stream.take_until(state.shutdown.clone().cancelled_owned());
    let upgrade_caller = caller.clone();
    let budget = SubscriptionBudget {
        active: Default::default(),
        limit: state.ws_max_subscriptions,
    };
    let graphql = GraphQLWebSocket::new_with_pair(sink, input, state.schema.clone(), protocol)
        .on_connection_init(move |payload| async move {
            // A token in connection_init wins over one on the upgrade request's headers.
            let from_init = caller_from_init(&payload);
            let mut data = async_graphql::Data::default();
            data.insert(budget);
            data.insert(if from_init.bearer.is_some() {
                from_init
            } else {
                upgrade_caller
            });
            Ok(data)
        })
        .serve();
    tokio::join!(writer, graphql);
}

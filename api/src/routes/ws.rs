//! WebSocket upgrades on `/graphql` for subscriptions (graphql-transport-ws and the legacy
//! graphql-ws protocol), and what keeps idle or hostile sockets from crowding out real
//! subscribers.
//!
//! | refusal | status / close code | code |
//! |---|---|---|
//! | `Origin` neither this server nor in `JOBINTEL_CORS_ORIGINS` | 403 | `ORIGIN_NOT_ALLOWED` |
//! | over `JOBINTEL_WS_MAX_PER_ADDRESS` anonymous sockets from one address | 429 | `LIMIT_EXCEEDED` |
//! | over `JOBINTEL_WS_MAX_CONNECTIONS` sockets in all | 503 | `LIMIT_EXCEEDED` |
//! | no `connection_init` within [`WS_INIT_TIMEOUT`](crate::state::WS_INIT_TIMEOUT) | close 4408 | — |

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{FromRequestParts, Request, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio_util::sync::CancellationToken;

use super::graphql::GraphqlHttpError;
use super::guard::{client_key, peer_of};
use crate::graphql::auth::Caller;
use crate::graphql::subscription::SubscriptionBudget;
use crate::state::AppState;

/// How often the server pings idle WebSocket clients (both protocols) so proxies keep the
/// connection open and dead peers are noticed.
const WS_PING_INTERVAL: Duration = Duration::from_secs(20);
/// How long one send to a client may block before the client counts as not reading.
const WS_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The close code graphql-ws uses when `connection_init` does not come in time.
const CLOSE_INIT_TIMEOUT: u16 = 4408;

/// Whether a browser page from `Origin` may open a socket: WebSockets are not subject to CORS,
/// so without this any site could subscribe through a visitor's browser. No `Origin` (a
/// non-browser client) is allowed.
fn origin_allowed(headers: &HeaderMap, cors_origins: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/');
    if cors_origins
        .iter()
        .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    // Same origin: the page's host and port are the ones the request was sent to.
    let (Ok(url), Some(host)) = (
        url::Url::parse(origin),
        headers.get(header::HOST).and_then(|h| h.to_str().ok()),
    ) else {
        return false;
    };
    let (Some(origin_host), Some(origin_port)) = (url.host_str(), url.port_or_known_default())
    else {
        return false;
    };
    let origin_host = origin_host.trim_start_matches('[').trim_end_matches(']');
    let host = host.trim();
    let (host_name, host_port) = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => (name, port.parse::<u16>().ok()),
        _ => (host, None),
    };
    let host_name = host_name.trim_start_matches('[').trim_end_matches(']');
    host_name.eq_ignore_ascii_case(origin_host) && host_port.unwrap_or(origin_port) == origin_port
}

/// Upgrade a GET on `/graphql` to a GraphQL WebSocket, after the origin and connection limits.
pub async fn upgrade(state: AppState, req: Request) -> Response {
    if !origin_allowed(req.headers(), &state.cors_origins) {
        return GraphqlHttpError::new(
            StatusCode::FORBIDDEN,
            "ORIGIN_NOT_ALLOWED",
            "WebSocket connections from this page's origin are not allowed \
             (JOBINTEL_CORS_ORIGINS)",
        )
        .into_response();
    }
    let peer = peer_of(&req);
    let (mut parts, _) = req.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(p) => p,
        Err(_) => {
            return GraphqlHttpError::bad_request(
                "unsupported WebSocket subprotocol: use graphql-transport-ws or graphql-ws",
            )
            .into_response();
        }
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let caller = Caller::from_request(&parts.headers, peer);
    let keepalive = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
        })
        .unwrap_or(WebSocketProtocols::GraphQLWS);
    // Anonymous sockets count per address first, so one address cannot take every global slot.
    let address_slot = match client_key(&caller, &parts.headers) {
        Some(key)
            if state.ws_max_per_address > 0 && !state.api.auth.is_exempt_from_limits(&caller) =>
        {
            match state
                .ws_per_address
                .try_acquire(key, state.ws_max_per_address)
            {
                Some(slot) => Some(slot),
                None => {
                    return GraphqlHttpError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "LIMIT_EXCEEDED",
                        format!(
                            "too many WebSocket connections from this address (limit {}, \
                             JOBINTEL_WS_MAX_PER_ADDRESS); close some or send the API token",
                            state.ws_max_per_address
                        ),
                    )
                    .into_response();
                }
            }
        }
        _ => None,
    };
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
    upgrade
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
            drop(address_slot);
        })
}

/// The token a WebSocket client sends in `connection_init`: `{"Authorization": "Bearer …"}`
/// (as GraphiQL and most clients send headers) or `{"token": "…"}`.
fn bearer_from_init(payload: &serde_json::Value) -> Option<String> {
    let auth = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .and_then(|v| v.as_str());
    if auth.is_some() {
        return Caller::from_authorization(auth).bearer;
    }
    payload
        .get("token")
        .and_then(|v| v.as_str())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// Serve one WebSocket connection until the client leaves or the server shuts down; on
/// shutdown the client gets a close frame with code 1001 (going away), and a client that sends
/// no `connection_init` in time one with 4408.
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
    // Ends this connection (both directions) on shutdown or when the server closes it.
    let stop = state.shutdown.child_token();
    let close_with: Arc<OnceLock<(u16, &'static str)>> = Arc::default();

    let writer = {
        let stop = stop.clone();
        let close_with = close_with.clone();
        async move {
            let mut ping = tokio::time::interval(WS_PING_INTERVAL);
            ping.tick().await;
            loop {
                tokio::select! {
                    // Stop first: when it fires, the GraphQL side also ends (its input stops),
                    // and the client must still get the close frame.
                    biased;
                    _ = stop.cancelled() => break,
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
            let frame = if let Some((code, reason)) = close_with.get() {
                Some((*code, *reason))
            } else if shutdown.is_cancelled() {
                Some((1001, "server shutting down"))
            } else {
                None
            };
            if let Some((code, reason)) = frame {
                let _ = ws_sink
                    .send(Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })))
                    .await;
            }
            let _ = ws_sink.close().await;
        }
    };

    let sink = futures_util::sink::unfold(tx, |tx, msg: Message| async move {
        tx.send(msg)
            .await
            .map_err(|_| axum::Error::new("websocket writer closed"))?;
        Ok::<_, axum::Error>(tx)
    });
    let input = ws_stream.take_until(stop.clone().cancelled_owned());
    let budget = SubscriptionBudget {
        active: Default::default(),
        limit: state.ws_max_subscriptions,
    };
    let initialised = CancellationToken::new();
    let graphql_done = CancellationToken::new();
    let graphql = {
        let initialised = initialised.clone();
        let graphql_done = graphql_done.clone();
        let upgrade_caller = caller;
        let serve = GraphQLWebSocket::new_with_pair(sink, input, state.schema.clone(), protocol)
            .on_connection_init(move |payload| async move {
                initialised.cancel();
                // A token in connection_init wins over one on the upgrade request's headers;
                // where the connection comes from is the upgrade's either way.
                let mut caller = upgrade_caller;
                if let Some(bearer) = bearer_from_init(&payload) {
                    caller.bearer = Some(bearer);
                }
                let mut data = async_graphql::Data::default();
                data.insert(budget);
                data.insert(caller);
                Ok(data)
            })
            .serve();
        async move {
            serve.await;
            graphql_done.cancel();
        }
    };
    // graphql-ws closes a socket that has not sent `connection_init` in time with 4408; the
    // legacy protocol has no such rule, but an idle socket costs the same there.
    let init_timeout = state.ws_init_timeout;
    let watchdog = async move {
        tokio::select! {
            _ = initialised.cancelled() => {}
            _ = graphql_done.cancelled() => {}
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(init_timeout) => {
                let _ = close_with.set((CLOSE_INIT_TIMEOUT, "Connection initialisation timeout"));
                stop.cancel();
            }
        }
    };
    tokio::join!(writer, graphql, watchdog);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(host: &str, origin: Option<&str>, cors: &[&str]) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            headers.insert(header::ORIGIN, o.parse().unwrap());
        }
        let cors: Vec<String> = cors.iter().map(|s| s.to_string()).collect();
        origin_allowed(&headers, &cors)
    }

    #[test]
    fn websocket_origins_must_be_this_server_or_configured() {
        assert!(origin("127.0.0.1:8000", None, &[]));
        assert!(origin("127.0.0.1:8000", Some("http://127.0.0.1:8000"), &[]));
        assert!(origin("Localhost:8000", Some("http://localhost:8000"), &[]));
        assert!(origin("jobs.example", Some("https://jobs.example"), &[]));
        assert!(origin("[::1]:8000", Some("http://[::1]:8000"), &[]));
        assert!(!origin(
            "127.0.0.1:8000",
            Some("http://127.0.0.1:9000"),
            &[]
        ));
        assert!(!origin("127.0.0.1:8000", Some("https://evil.example"), &[]));
        assert!(!origin("127.0.0.1:8000", Some("null"), &[]));
        assert!(origin(
            "127.0.0.1:8000",
            Some("https://app.example"),
            &["https://app.example/"]
        ));
        assert!(origin(
            "127.0.0.1:8000",
            Some("https://evil.example"),
            &["*"]
        ));
    }
}

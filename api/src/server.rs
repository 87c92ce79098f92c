//! The HTTP server: the router and `run(listener, state, shutdown)`; the state it serves is
//! [`crate::state::AppState`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{Redirect, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::routes;
use crate::routes::guard::{self, HostPolicy};
use crate::state::AppState;

/// The application. `bind` is the address the listener is bound to: while it is loopback, the
/// `Host` header is checked (DNS rebinding; `/health` and `/api/health` are exempt for
/// probes). `/graphql` and `/export/*` are rate-limited; the health routes, `/metrics`,
/// GraphiQL and the console are not (they are cheap or static; the console's own requests go
/// through `/graphql` and are limited there).
pub fn router(state: AppState, bind: SocketAddr) -> Router {
    let cors = cors_layer(&state.cors_origins);
    let edge = Edge {
        hosts: Arc::new(HostPolicy::new(bind, &state.allowed_hosts)),
        state: state.clone(),
    };
    let app = Router::new()
        .route("/", get(|| async { Redirect::temporary("/graphiql") }))
        .route(
            "/graphql",
            get(routes::graphql::get).post(routes::graphql::post),
        )
        .route("/export/postings.csv", get(routes::export::csv))
        .route("/export/postings.jsonl", get(routes::export::jsonl))
        .route("/graphiql", get(routes::graphiql::page))
        .route("/graphiql/assets/{name}", get(routes::graphiql::asset))
        .route("/console", get(routes::console::page))
        .route("/console/", get(routes::console::page))
        .route("/console/assets/{*path}", get(routes::console::asset))
        .route("/metrics", get(routes::metrics::get))
        .route("/health", get(routes::health::get))
        .route("/api/health", get(routes::health::get_legacy))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: see /console or /graphiql",
            )
        })
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(middleware::from_fn_with_state(edge, in_front));
    let app = match cors {
        Some(cors) => app.layer(cors),
        None => app,
    };
    app.with_state(state)
}

/// CORS for browser frontends on other origins. Bearer tokens travel in a header, never in
/// cookies, so credentials are not allowed.
fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// What [`in_front`] needs: cheap to clone (axum clones it per request).
#[derive(Clone)]
struct Edge {
    state: AppState,
    hosts: Arc<HostPolicy>,
}

/// Everything in front of the routes, as one layer: every axum layer clones the route's
/// service and boxes a future per request (five of them were ~3 % of the CPU of a lookup by
/// id). In order: the `Host` check (DNS rebinding; not for the health routes, which probes
/// call by any name), the rate limit of `/graphql` and `/export/*`, then the route; every
/// response, refusals included, is counted by its route template (not the raw path, which
/// would explode label cardinality) and status, and carries the security headers.
async fn in_front(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // `MatchedPath` is an `Arc<str>` inside: a clone, not a copy of the text.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let template = route.as_ref().map_or("unmatched", |p| p.as_str());
    let method = crate::metrics::method_label(req.method().as_str());
    let refused = if matches!(template, "/health" | "/api/health") {
        None
    } else {
        guard::refuse_host(&edge.hosts, &req).or_else(|| {
            let limited = template == "/graphql" || template.starts_with("/export/");
            limited
                .then(|| guard::refuse_over_rate(&edge.state, &req))
                .flatten()
        })
    };
    let mut resp = match refused {
        Some(resp) => resp,
        None => next.run(req).await,
    };
    edge.state
        .metrics
        .record_http(template, method, resp.status().as_u16(), started.elapsed());
    guard::security_headers(&mut resp);
    resp
}

/// Serve until `shutdown` resolves, then stop accepting, let in-flight requests finish and
/// close WebSockets with a going-away frame.
///
/// The accept loop is ours rather than `axum::serve` for one reason: hyper's header-read
/// timeout needs a timer, which `axum::serve` does not configure
/// ([`HEADER_READ_TIMEOUT`](crate::state::HEADER_READ_TIMEOUT)).
/// Everything else is what `axum::serve` does: HTTP/1.1 with upgrades (WebSockets), the peer
/// address as `ConnectInfo`, graceful shutdown that waits for every connection.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower_service::Service as _;

    let token = state.shutdown.clone();
    let header_read_timeout = state.header_read_timeout;
    let bind = listener.local_addr()?;
    let app = router(state, bind);
    tracing::info!(addr = %bind, "listening");
    let mut shutdown = std::pin::pin!(shutdown);
    // Each connection holds a receiver; shutdown waits until all are dropped.
    let (closed_tx, closed_rx) = tokio::sync::watch::channel(());
    let stopping = CancellationToken::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            // The peer address decides who may write without a token and keys the
            // per-address limits.
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut app = app.clone();
            async move { app.call(req.map(axum::body::Body::new)).await }
        });
        let stopping = stopping.clone();
        let closed_rx = closed_rx.clone();
        // `repoll`: the connection's own wake-ups (hyper's body channel, async-graphql's
        // field set) poll it again at once instead of waking a second worker.
        tokio::spawn(crate::repoll::repoll(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, "connection ended");
                    }
                }
                () = stopping.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(closed_rx);
        }));
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    token.cancel();
    stopping.cancel();
    drop(closed_rx);
    closed_tx.closed().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

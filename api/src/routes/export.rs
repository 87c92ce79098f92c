//! `GET /export/postings.csv` and `GET /export/postings.jsonl`: the postings matching
//! `?filter=<JobPostingFilter as JSON>` (all without it), streamed in keyset batches
//! ([`crate::service::export`]), exactly what `jobintel export` writes.
//!
//! Guarded like the GraphQL API: reads need the token when `JOBINTEL_PROTECT_READS` is set
//! (401), the per-address rate limit applies (the router), and one client address runs one
//! export at a time (429): an export holds a database connection for each of its batches, and
//! a few clients starting hundreds would starve the API. Callers trusted to write (the token,
//! or this machine on a token-less loopback server) are not limited, as for `/graphql`.
//!
//! | refusal | status | code |
//! |---|---|---|
//! | reads protected, no or wrong token | 401 | `UNAUTHENTICATED` |
//! | bad `filter` | 400 | `BAD_USER_INPUT` |
//! | an export from this address is running | 429 | `EXPORT_IN_PROGRESS` |

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;

use super::graphql::GraphqlHttpError;
use super::guard::{client_key, peer_of};
use crate::error::ApiError;
use crate::graphql::auth::Caller;
use crate::graphql::filter::JobPostingFilter;
use crate::service::export::{self, Format};
use crate::state::AppState;

/// Exports one client address may run at once.
pub const EXPORTS_PER_ADDRESS: usize = 1;

pub async fn csv(State(state): State<AppState>, req: Request) -> Response {
    export(state, req, Format::Csv).await
}

pub async fn jsonl(State(state): State<AppState>, req: Request) -> Response {
    export(state, req, Format::Jsonl).await
}

fn refuse(e: ApiError) -> Response {
    let status = match &e {
        ApiError::BadUserInput(_) => StatusCode::BAD_REQUEST,
        ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut resp = GraphqlHttpError::new(status, e.code(), e.message()).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// `filter` from the query string (URL-decoded); `None` when absent or blank.
fn filter_param(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "filter")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.trim().is_empty())
}

async fn export(state: AppState, req: Request, format: Format) -> Response {
    let caller = Caller::from_request(req.headers(), peer_of(&req));
    if let Err(e) = state.api.auth.check_reader(&caller) {
        return refuse(e);
    }
    let filter = match filter_param(req.uri().query()) {
        Some(text) => match JobPostingFilter::from_json(&text) {
            Ok(f) => f,
            Err(e) => return refuse(e),
        },
        None => Default::default(),
    };
    let slot = if state.api.auth.is_exempt_from_limits(&caller) {
        None
    } else if let Some(key) = client_key(&caller, req.headers()) {
        match state.export_slots.try_acquire(key, EXPORTS_PER_ADDRESS) {
            Some(slot) => Some(slot),
            None => {
                return GraphqlHttpError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "EXPORT_IN_PROGRESS",
                    "an export from this address is still running: wait for it to finish",
                )
                .into_response();
            }
        }
    } else {
        None
    };
    let chunks = export::stream(state.db.clone(), filter, format).map(move |chunk| {
        // The slot is freed when the body is dropped: finished, failed or the client gone.
        let _held = &slot;
        chunk.map(Bytes::from).map_err(|e| {
            // Headers are sent: all that is left is to cut the body short, which the client
            // sees as an incomplete transfer.
            tracing::error!(error = ?e, "export failed part-way");
            std::io::Error::other(e.message())
        })
    });
    let disposition = format!("attachment; filename=\"postings.{}\"", format.extension());
    let mut resp = Response::new(Body::from_stream(chunks));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

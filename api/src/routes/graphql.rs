//! `/graphql` over HTTP, following the GraphQL-over-HTTP specification (working draft): POST
//! (JSON, batches, or `application/graphql` text), GET (`?query=…`, queries only), and the
//! WebSocket upgrade ([`super::ws`]).
//!
//! Media types. Request bodies must be `application/json`, `application/graphql-response+json`
//! or `application/graphql` (UTF-8): anything else is 415, so a cross-site form or `text/plain`
//! `fetch` cannot send an operation without a CORS preflight. The response type follows
//! `Accept`:
//!
//! - `application/graphql-response+json` — the status says what happened: a request error
//!   (nothing executed: parse, validation, variable coercion or a limit; the body has no
//!   `data`) is 4xx (400 for unparseable documents and malformed requests, 422 for documents
//!   that do not validate, 405 for mutations over GET);
//! - `application/json`, `*/*` or no `Accept` (legacy clients) — 200 for every GraphQL
//!   response, errors in the body, as before the specification existed;
//! - neither — 406.
//!
//! Requests that are not well-formed GraphQL-over-HTTP requests (bad JSON; `query` missing or
//! not a string; `variables` or `extensions` not an object; `operationName` not a string) are
//! 400 whatever `Accept` says. Batches (a JSON array) are our extension: 200, each entry its
//! own response.

use async_graphql::{BatchRequest, BatchResponse, ServerError, Variables};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest as _, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::guard::peer_of;
use crate::graphql::auth::Caller;
use crate::graphql::executor::HttpAnswer;
use crate::state::AppState;

/// `application/graphql-response+json`.
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// The media type of a GraphQL response, chosen from the request's `Accept` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ResponseMedia {
    /// `application/graphql-response+json`: HTTP status codes describe request errors.
    GraphqlResponseJson,
    /// `application/json`: the legacy contract, 200 for every GraphQL response.
    #[default]
    Json,
}

impl ResponseMedia {
    fn content_type(self) -> HeaderValue {
        match self {
            ResponseMedia::GraphqlResponseJson => {
                HeaderValue::from_static("application/graphql-response+json; charset=utf-8")
            }
            ResponseMedia::Json => HeaderValue::from_static("application/json; charset=utf-8"),
        }
    }

    /// The best supported type `Accept` allows, by quality then by the order listed; `None`
    /// when it allows neither (406). No header, or a wildcard alone, means `application/json`,
    /// which every client written before the specification understands.
    pub fn negotiate(headers: &HeaderMap) -> Option<ResponseMedia> {
        let mut accepts = headers.get_all(header::ACCEPT).iter().peekable();
        if accepts.peek().is_none() {
            return Some(ResponseMedia::Json);
        }
        // (quality, specificity: 2 exact, 1 `application/*`, 0 `*/*`, position) per type.
        let mut best: [Option<(f32, u8, usize)>; 2] = [None, None];
        let ranges = accepts
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for (pos, range) in ranges.enumerate() {
            let mut params = range.split(';');
            let essence = params.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = params
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(1.0, |(_, v)| v.trim().parse::<f32>().unwrap_or(0.0));
            // Which of ours (0: graphql-response+json, 1: json) the range names, and how
            // specifically.
            let matches: &[(usize, u8)] = match essence.as_str() {
                GRAPHQL_RESPONSE_JSON => &[(0, 2)],
                "application/json" => &[(1, 2)],
                "application/*" => &[(0, 1), (1, 1)],
                "*/*" => &[(0, 0), (1, 0)],
                _ => continue,
            };
            for &(i, specificity) in matches {
                // The most specific range that names a type decides its quality.
                if best[i].is_none_or(|(_, s, _)| specificity > s) {
                    best[i] = Some((q, specificity, pos));
                }
            }
        }
        let score = |b: Option<(f32, u8, usize)>| b.filter(|(q, _, _)| *q > 0.0);
        match (score(best[0]), score(best[1])) {
            (None, None) => None,
            (Some(_), None) => Some(ResponseMedia::GraphqlResponseJson),
            (None, Some(_)) => Some(ResponseMedia::Json),
            (Some((qg, sg, pg)), Some((qj, sj, pj))) => {
                let graphql_first = if qg != qj {
                    qg > qj
                } else if sg != sj {
                    // `application/graphql-response+json, */*`: the named type wins.
                    sg > sj
                } else {
                    // Named alike: the one listed first; a bare wildcard: legacy JSON.
                    sg == 2 && pg < pj
                };
                Some(if graphql_first {
                    ResponseMedia::GraphqlResponseJson
                } else {
                    ResponseMedia::Json
                })
            }
        }
    }
}

/// A request refused before any GraphQL ran, answered in GraphQL's error shape.
pub struct GraphqlHttpError {
    status: StatusCode,
    code: &'static str,
    message: String,
    media: ResponseMedia,
}

impl GraphqlHttpError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        GraphqlHttpError {
            status,
            code,
            message: message.into(),
            media: ResponseMedia::Json,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        GraphqlHttpError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// Answer in the media type the client asked for (once known).
    fn media(mut self, media: ResponseMedia) -> Self {
        self.media = media;
        self
    }
}

impl IntoResponse for GraphqlHttpError {
    fn into_response(self) -> Response {
        let body = json!({
            "errors": [{ "message": self.message, "extensions": { "code": self.code } }]
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, self.media.content_type());
        resp
    }
}

fn not_acceptable() -> GraphqlHttpError {
    GraphqlHttpError::new(
        StatusCode::NOT_ACCEPTABLE,
        "NOT_ACCEPTABLE",
        "responses are application/graphql-response+json or application/json: accept one",
    )
}

/// What a POST body holds, from its `Content-Type`.
enum BodyKind {
    Json,
    GraphqlText,
}

fn body_kind(headers: &HeaderMap) -> Result<BodyKind, GraphqlHttpError> {
    let unsupported = |message: &str| {
        GraphqlHttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!(
                "{message}: send Content-Type: application/json (or application/graphql) in UTF-8"
            ),
        )
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported("the request has no Content-Type"));
    };
    let value = value
        .to_str()
        .map_err(|_| unsupported("unreadable Content-Type"))?;
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    for param in parts {
        let Some((name, charset)) = param.split_once('=') else {
            continue;
        };
        let charset = charset.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset")
            && !charset.eq_ignore_ascii_case("utf-8")
            && !charset.eq_ignore_ascii_case("utf8")
        {
            return Err(unsupported(&format!(
                "charset `{charset}` is not supported"
            )));
        }
    }
    match essence.as_str() {
        "application/json" | GRAPHQL_RESPONSE_JSON => Ok(BodyKind::Json),
        "application/graphql" => Ok(BodyKind::GraphqlText),
        _ => Err(unsupported(&format!(
            "Content-Type `{essence}` is not supported"
        ))),
    }
}

/// One operation of a JSON body, each parameter kept as JSON until its type is checked, so a
/// wrong one gets a message naming it. Unknown properties are ignored, as the spec requires.
#[derive(serde::Deserialize)]
struct WireRequest {
    #[serde(default)]
    query: Value,
    #[serde(default, rename = "operationName")]
    operation_name: Value,
    #[serde(default)]
    variables: Value,
    #[serde(default)]
    extensions: Value,
}

impl WireRequest {
    fn into_request(self) -> Result<async_graphql::Request, GraphqlHttpError> {
        let extensions = match self.extensions {
            Value::Null => serde_json::Map::new(),
            Value::Object(map) => map,
            _ => {
                return Err(GraphqlHttpError::bad_request(
                    "`extensions` must be an object",
                ));
            }
        };
        let query = match self.query {
            Value::String(q) => q,
            // Automatic persisted queries send only the hash once the server knows the text.
            Value::Null if extensions.contains_key("persistedQuery") => String::new(),
            Value::Null => {
                return Err(GraphqlHttpError::bad_request(
                    "`query` is missing: send the GraphQL document as a string",
                ));
            }
            _ => return Err(GraphqlHttpError::bad_request("`query` must be a string")),
        };
        let mut request = async_graphql::Request::new(query);
        match self.operation_name {
            Value::Null => {}
            Value::String(name) => request = request.operation_name(name),
            _ => {
                return Err(GraphqlHttpError::bad_request(
                    "`operationName` must be a string",
                ));
            }
        }
        match self.variables {
            Value::Null => {}
            v @ Value::Object(_) => request = request.variables(Variables::from_json(v)),
            _ => {
                return Err(GraphqlHttpError::bad_request(
                    "`variables` must be an object",
                ));
            }
        }
        for (name, value) in extensions {
            let value = async_graphql::Value::from_json(value)
                .map_err(|e| GraphqlHttpError::bad_request(format!("`extensions`: {e}")))?;
            request.extensions.0.insert(name, value);
        }
        Ok(request)
    }
}

/// A JSON body: one request object, or a batch (array) of them.
fn parse_json_body(body: &[u8]) -> Result<BatchRequest, GraphqlHttpError> {
    let invalid = |e: serde_json::Error| {
        GraphqlHttpError::bad_request(format!("invalid GraphQL request: {e}"))
    };
    // The first byte tells which shape it is: no generic buffering to try both.
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            let ops: Vec<WireRequest> = serde_json::from_slice(body).map_err(invalid)?;
            if ops.is_empty() {
                return Err(GraphqlHttpError::bad_request("the batch is empty"));
            }
            if ops.len() > crate::graphql::limits::MAX_BATCH {
                return Err(GraphqlHttpError::new(
                    StatusCode::BAD_REQUEST,
                    "BATCH_TOO_LARGE",
                    format!(
                        "a batch may hold at most {} operations, got {}",
                        crate::graphql::limits::MAX_BATCH,
                        ops.len()
                    ),
                ));
            }
            let ops = ops
                .into_iter()
                .map(WireRequest::into_request)
                .collect::<Result<_, _>>()?;
            Ok(BatchRequest::Batch(ops))
        }
        Some(b'{') => {
            let op: WireRequest = serde_json::from_slice(body).map_err(invalid)?;
            Ok(BatchRequest::Single(op.into_request()?))
        }
        Some(_) => Err(GraphqlHttpError::bad_request(
            "invalid GraphQL request: the body must be a JSON object (or an array of them)",
        )),
        None => Err(GraphqlHttpError::bad_request(
            "the request body is empty: send {\"query\": …}",
        )),
    }
}

/// POST. The body is read through axum's `Bytes` extractor so the configured body limit applies
/// (async-graphql-axum's own extractor streams the body past it).
pub async fn post(State(state): State<AppState>, req: Request) -> Response {
    let Some(media) = ResponseMedia::negotiate(req.headers()) else {
        return not_acceptable().into_response();
    };
    let caller = Caller::from_request(req.headers(), peer_of(&req));
    match read_post(&state, req).await {
        Ok(BatchRequest::Single(request)) => answer(
            media,
            state.schema.execute_http(request.data(caller), false).await,
        ),
        Ok(batch) => respond(media, state.schema.execute_batch(batch.data(caller)).await),
        Err(e) => e.media(media).into_response(),
    }
}

async fn read_post(state: &AppState, req: Request) -> Result<BatchRequest, GraphqlHttpError> {
    let kind = body_kind(req.headers())?;
    let body: Result<Bytes, BytesRejection> = Bytes::from_request(req, &()).await;
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(GraphqlHttpError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "request body larger than the {} byte limit (JOBINTEL_MAX_BODY_BYTES)",
                    state.max_body_bytes
                ),
            ));
        }
        Err(e) => {
            return Err(GraphqlHttpError::new(
                e.status(),
                "BAD_REQUEST",
                e.body_text(),
            ));
        }
    };
    match kind {
        BodyKind::GraphqlText => match std::str::from_utf8(&body) {
            Ok(q) => Ok(BatchRequest::Single(async_graphql::Request::new(q))),
            Err(_) => Err(GraphqlHttpError::bad_request("request body is not UTF-8")),
        },
        BodyKind::Json => parse_json_body(&body),
    }
}

/// GET: `?query=…&operationName=…&variables={json}&extensions={json}` (empty = absent), queries
/// only, or a WebSocket upgrade on the same path.
pub async fn get(State(state): State<AppState>, req: Request) -> Response {
    let wants_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if wants_upgrade {
        return super::ws::upgrade(state, req).await;
    }
    let Some(media) = ResponseMedia::negotiate(req.headers()) else {
        return not_acceptable().into_response();
    };
    let request = match parse_get(req.uri().query().unwrap_or("")) {
        Ok(r) => r,
        Err(e) => return e.media(media).into_response(),
    };
    // GET must be safe to repeat and can be triggered cross-site: queries only. The executor
    // refuses any other operation (text or persisted hash) with METHOD_NOT_ALLOWED once the
    // document is parsed — through its parse cache and size checks — answered as 405 below.
    let caller = Caller::from_request(req.headers(), peer_of(&req));
    answer(
        media,
        state.schema.execute_http(request.data(caller), true).await,
    )
}

/// The HTTP response for one operation: a successful answer the executor already serialised
/// (perhaps from the response cache) is sent as is.
fn answer(media: ResponseMedia, answer: HttpAnswer) -> Response {
    match answer {
        HttpAnswer::Body(body) => {
            let mut resp = (StatusCode::OK, body).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, media.content_type());
            resp
        }
        HttpAnswer::Response(response) => respond(media, BatchResponse::Single(response)),
    }
}

fn parse_get(query: &str) -> Result<async_graphql::Request, GraphqlHttpError> {
    let mut params: [Option<String>; 4] = Default::default();
    const NAMES: [&str; 4] = ["query", "operationName", "variables", "extensions"];
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if let Some(i) = NAMES.iter().position(|n| *n == name) {
            params[i].get_or_insert_with(|| value.into_owned());
        }
    }
    let [query, operation_name, variables, extensions] =
        params.map(|p| p.filter(|v| !v.is_empty()));
    let json = |name: &str, text: Option<String>| match text {
        None => Ok(Value::Null),
        Some(t) => serde_json::from_str::<Value>(&t)
            .map_err(|e| GraphqlHttpError::bad_request(format!("`{name}` is not valid JSON: {e}"))),
    };
    WireRequest {
        query: query.map_or(Value::Null, Value::String),
        operation_name: operation_name.map_or(Value::Null, Value::String),
        variables: json("variables", variables)?,
        extensions: json("extensions", extensions)?,
    }
    .into_request()
}

/// A request error: nothing was executed (parse, validation, variable coercion, a limit), so
/// there is no data, and no error has a path into it.
fn is_request_error(response: &async_graphql::Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty())
}

fn code_of(err: &ServerError) -> Option<String> {
    match err.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The status of a request error under `application/graphql-response+json`.
fn request_error_status(code: Option<&str>) -> StatusCode {
    match code.unwrap_or("") {
        "METHOD_NOT_ALLOWED" => StatusCode::METHOD_NOT_ALLOWED,
        "GRAPHQL_PARSE_FAILED"
        | "BAD_REQUEST"
        | "PERSISTED_QUERY_NOT_FOUND"
        | "PERSISTED_QUERY_TOO_LARGE" => StatusCode::BAD_REQUEST,
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "INTERNAL" => StatusCode::INTERNAL_SERVER_ERROR,
        "SERVICE_UNAVAILABLE" | "TIMEOUT" => StatusCode::SERVICE_UNAVAILABLE,
        // Validation, variable coercion and the server's own validation rules (depth,
        // aliases, complexity, cost).
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// Response bodies start at the size of a page of postings (~7 KB for 20): from serde_json's
/// default the buffer doubled, copying, six times. The buffer is the response body and lives
/// only until it is written (answers kept by the response cache are serialised in the
/// executor, at their size).
const BODY_CAPACITY: usize = 8 * 1024;

/// The HTTP response for what the executor returned.
fn respond(media: ResponseMedia, batch: BatchResponse) -> Response {
    let mut status = StatusCode::OK;
    let mut extra = HeaderMap::new();
    if batch.is_ok()
        && let Some(cache_control) = batch.cache_control().value()
        && let Ok(value) = HeaderValue::from_str(&cache_control)
    {
        extra.insert(header::CACHE_CONTROL, value);
    }
    extra.extend(batch.http_headers());
    let body = match batch {
        BatchResponse::Single(response) if is_request_error(&response) => {
            let code = response.errors.first().and_then(code_of);
            let code_status = request_error_status(code.as_deref());
            // Mutations over GET are refused with 405 whatever the client accepts: the
            // specification's one MUST for request errors.
            if code_status == StatusCode::METHOD_NOT_ALLOWED {
                extra.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            if media == ResponseMedia::GraphqlResponseJson
                || code_status == StatusCode::METHOD_NOT_ALLOWED
            {
                status = code_status;
            }
            if media == ResponseMedia::GraphqlResponseJson {
                // A request error has no `data` entry at all.
                let mut body = json!({ "errors": response.errors });
                if !response.extensions.is_empty() {
                    body["extensions"] = json!(response.extensions);
                }
                // A request error: a few hundred bytes, no pre-sized buffer.
                serde_json::to_vec(&body)
            } else {
                crate::graphql::json::response(&response, BODY_CAPACITY)
            }
        }
        other => crate::graphql::json::batch(&other, BODY_CAPACITY),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a GraphQL response");
            return GraphqlHttpError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            )
            .into_response();
        }
    };
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.extend(extra);
    headers.insert(header::CONTENT_TYPE, media.content_type());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: Option<&str>) -> Option<ResponseMedia> {
        let mut headers = HeaderMap::new();
        if let Some(v) = value {
            headers.insert(header::ACCEPT, v.parse().unwrap());
        }
        ResponseMedia::negotiate(&headers)
    }

    #[test]
    fn accept_picks_the_best_supported_media_type() {
        use ResponseMedia::{GraphqlResponseJson as G, Json as J};
        assert_eq!(accept(None), Some(J));
        assert_eq!(accept(Some("*/*")), Some(J));
        assert_eq!(accept(Some("application/*")), Some(J));
        assert_eq!(accept(Some("application/json")), Some(J));
        assert_eq!(accept(Some("application/graphql-response+json")), Some(G));
        assert_eq!(
            accept(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(G)
        );
        assert_eq!(
            accept(Some("application/json, application/graphql-response+json")),
            Some(J)
        );
        assert_eq!(
            accept(Some(
                "application/json;q=0.5, application/graphql-response+json"
            )),
            Some(G)
        );
        assert_eq!(
            accept(Some("application/graphql-response+json, */*;q=0.1")),
            Some(G)
        );
        assert_eq!(
            accept(Some("text/html,application/xhtml+xml,*/*;q=0.8")),
            Some(J)
        );
        assert_eq!(accept(Some("*/*, application/json;q=0")), Some(G));
        assert_eq!(accept(Some("text/html")), None);
        assert_eq!(accept(Some("application/json;q=0")), None);
    }

    #[test]
    fn request_errors_have_no_data_and_no_path() {
        let parse = async_graphql::Response::from_errors(vec![ServerError::new("x", None)]);
        assert!(is_request_error(&parse));
        let mut field = ServerError::new("denied", None);
        field.path = vec![async_graphql::PathSegment::Field("startIngest".into())];
        assert!(!is_request_error(&async_graphql::Response::from_errors(
            vec![field]
        )));
        assert!(!is_request_error(&async_graphql::Response::new(
            async_graphql::Value::Null
        )));
    }

    #[test]
    fn content_types_are_checked_by_essence_and_charset() {
        let kind = |ct: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            body_kind(&headers).map(|k| matches!(k, BodyKind::Json))
        };
        assert_eq!(kind("application/json").ok(), Some(true));
        assert_eq!(kind("Application/JSON; charset=UTF-8").ok(), Some(true));
        assert_eq!(kind("application/graphql-response+json").ok(), Some(true));
        assert_eq!(kind("application/graphql").ok(), Some(false));
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin1",
            "application/jsonx",
        ] {
            assert!(kind(bad).is_err(), "{bad}");
        }
        assert!(body_kind(&HeaderMap::new()).is_err());
    }
}

//! Everything around one GraphQL operation, for every transport (POST, GET, batches and
//! WebSocket operations): the parse cache and automatic persisted queries, the document checks
//! (bracket nesting before parsing; then fragment cycles, depth, aliases and cost, each
//! fragment measured once — see [`super::document`]) that run before async-graphql walks the
//! document, one cost budget per request (a whole batch, or one WebSocket message), the
//! request timeout, per-request DataLoaders, error codes for request-level failures, and the
//! operation counters of `/metrics`, and the exact response cache for single HTTP queries
//! ([`super::response_cache`]: a hit is answered with stored bytes before any of the above).
//!
//! This is a wrapper around the schema rather than async-graphql extensions on purpose: with any
//! extension registered, async-graphql resolves EVERY field through its extension chain (a
//! registry lookup plus one boxed future per extension per field). A page of 20 postings
//! resolves ~300 fields, and the two extensions this replaced cost about a fifth of the
//! server's CPU per request (`target/release/bench`, scenario a). Nothing here needs to see
//! individual fields.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_graphql::parser::types::{ExecutableDocument, OperationDefinition, OperationType};
use async_graphql::{
    BatchRequest, BatchResponse, Data, Request, Response, ServerError, ValidationMode,
};
use axum::body::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};

use super::auth::Caller;
use super::document::{self, CostModel};
use super::documents::DocumentCache;
use super::limits::{
    self, DOCUMENT_CACHE_BYTES, MAX_COMPLEXITY, MAX_PERSISTED_QUERY_BYTES, PERSISTED_QUERY_CACHE,
    coded, has_code,
};
use super::loaders::Loaders;
use super::response_cache::{self, CachePolicy, ResponseCache};
use super::variables::InputTypes;
use super::{ApiContext, AppSchema};
use crate::metrics::Metrics;

/// The schema plus what runs around each operation; cheap to clone.
#[derive(Clone)]
pub struct GraphqlExecutor {
    inner: Arc<Inner>,
}

/// The executable schema and the cost of each of its fields, built on first use: a server
/// that has not been asked anything yet does not hold them (building them is most of what
/// `jobintel serve` would otherwise touch at start-up: idle RSS, `scripts/idle-rss.sh`).
struct Built {
    /// Every operation the first time (async-graphql's strict validation rules).
    schema: AppSchema,
    /// The same schema under `ValidationMode::Fast`, for an operation that has passed the
    /// strict rules before (same text, same operation name) and whose variable values are
    /// valid for their declared types ([`super::variables`]: why that is exact). The strict
    /// rules were a tenth of the CPU of a lookup by id.
    fast: AppSchema,
    /// The schema's input types, to check variable values.
    inputs: InputTypes,
    /// What each field costs, read from the schema's SDL.
    costs: CostModel,
    /// Which documents the response cache may hold, read from the same SDL.
    policy: CachePolicy,
}

struct Inner {
    db: DatabaseConnection,
    /// Parsed documents by the SHA-256 (hex) of their text: persisted queries and the parse
    /// cache for every query text seen.
    documents: DocumentCache,
    metrics: Arc<Metrics>,
    /// The resolvers' context, for the schema built on first use.
    ctx: ApiContext,
    built: OnceLock<Built>,
    /// `JOBINTEL_REQUEST_TIMEOUT`.
    request_timeout: Duration,
    /// Whole answers of single HTTP queries (`JOBINTEL_RESPONSE_CACHE_BYTES`).
    cache: Arc<ResponseCache>,
}

/// The answer to one HTTP operation.
pub enum HttpAnswer {
    /// A successful answer, already serialised (from the response cache, or just stored in it).
    Body(Bytes),
    /// Anything else, for the transport to serialise.
    Response(Response),
}

/// An operation ready to run: its document attached and checked.
struct Prepared {
    request: Request,
    kind: &'static str,
    cost: usize,
    /// Run under `ValidationMode::Fast`: this operation has passed the strict rules before.
    fast: bool,
    /// Where to record that this operation passed the strict rules, if it does (the
    /// document's key in the parse cache, and the operation name).
    validation: Option<(String, Option<String>)>,
    /// The response cache may hold its answer ([`CachePolicy::allows`]).
    cacheable: bool,
}

/// `extensions.persistedQuery` of Apollo's protocol.
#[derive(serde::Deserialize)]
struct PersistedQuery {
    version: i32,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

fn sha256_hex(text: &str) -> String {
    // By hand rather than `write!` per byte: this runs for every request (~1 % of a lookup by
    // id went to formatting).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for b in Sha256::digest(text.as_bytes()) {
        hex.push(HEX[usize::from(b >> 4)] as char);
        hex.push(HEX[usize::from(b & 0xf)] as char);
    }
    hex
}

/// The operation the request will run: the one named `name`, or the first.
fn operation<'a>(
    doc: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    let op = match name {
        Some(name) => doc
            .operations
            .iter()
            .find(|(n, _)| n.is_some_and(|n| n.as_str() == name)),
        None => doc.operations.iter().next(),
    };
    op.map(|(_, op)| &op.node)
}

/// `query`, `mutation` or `subscription`: what the request will run (for metrics).
fn operation_kind(op: Option<&OperationDefinition>) -> &'static str {
    match op.map(|op| op.ty) {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "unknown",
    }
}

/// Give request-level errors from async-graphql's validation their codes. Resolver errors
/// already carry one (see `crate::error`); an error without a code and without a path can only
/// come from validating the document against the schema and the variables.
fn code_errors(mut response: Response) -> Response {
    for err in &mut response.errors {
        if has_code(err) {
            continue;
        }
        if err.path.is_empty() {
            limits::set_code(err, "GRAPHQL_VALIDATION_FAILED");
        } else if is_input_coercion(&err.message) {
            // An argument async-graphql could not read at resolve time (a malformed DateTime
            // inside an input object, `null` for an `ID!` list item): the caller's input.
            limits::set_code(err, "BAD_USER_INPUT");
        } else {
            // Our resolvers code every error they raise (`crate::error`); anything else is ours.
            limits::set_code(err, "INTERNAL");
        }
    }
    response
}

/// async-graphql's messages for input values it could not coerce.
fn is_input_coercion(message: &str) -> bool {
    message.starts_with("Failed to parse")
        || message.starts_with("Expected input type")
        || message.starts_with("Invalid value")
        || message.contains("(occurred while parsing")
}

impl GraphqlExecutor {
    pub fn new(
        ctx: ApiContext,
        db: DatabaseConnection,
        metrics: Arc<Metrics>,
        request_timeout: Duration,
        cache: Arc<ResponseCache>,
    ) -> Self {
        GraphqlExecutor {
            inner: Arc::new(Inner {
                db,
                documents: DocumentCache::new(PERSISTED_QUERY_CACHE, DOCUMENT_CACHE_BYTES),
                metrics,
                ctx,
                built: OnceLock::new(),
                request_timeout,
                cache,
            }),
        }
    }

    /// The response cache (for `/metrics` and tests).
    pub fn response_cache(&self) -> &Arc<ResponseCache> {
        &self.inner.cache
    }

    /// The schema, built by the first caller (the others wait for it: a few milliseconds).
    fn built(&self) -> &Built {
        self.inner.built.get_or_init(|| {
            let schema = super::executable_schema(self.inner.ctx.clone(), ValidationMode::Strict);
            let fast = super::executable_schema(self.inner.ctx.clone(), ValidationMode::Fast);
            let sdl = schema.sdl();
            let costs = CostModel::from_sdl(&sdl);
            let policy = CachePolicy::from_sdl(&sdl);
            Built {
                schema,
                fast,
                inputs: InputTypes::new(),
                costs,
                policy,
            }
        })
    }

    /// Run one operation that arrived over POST or in a batch.
    pub async fn execute(&self, request: impl Into<Request>) -> Response {
        self.run(request.into(), false).await
    }

    /// Run one operation that arrived over GET: queries only.
    pub async fn execute_read_only(&self, request: Request) -> Response {
        self.run(request, true).await
    }

    /// Run one operation that arrived alone over HTTP (`read_only`: over GET), answering from
    /// the response cache when it holds an exact answer, and storing the answer when it may.
    pub async fn execute_http(&self, request: Request, read_only: bool) -> HttpAnswer {
        let cache = &self.inner.cache;
        // Automatic persisted queries and other extensions go the uncached way: the key is
        // the text.
        if !cache.enabled() || request.query.is_empty() || !request.extensions.is_empty() {
            return HttpAnswer::Response(self.run(request, read_only).await);
        }
        let may_read = request
            .data
            .get(&std::any::TypeId::of::<Caller>())
            .and_then(|c| c.downcast_ref::<Caller>())
            .is_some_and(|caller| self.inner.ctx.auth.check_reader(caller).is_ok());
        let day = chrono::Datelike::num_days_from_ce(&chrono::Utc::now().date_naive());
        let key = response_cache::key(
            &request.query,
            request.operation_name.as_deref(),
            &request.variables,
            may_read,
            day,
        );
        // The read begins here: nothing below may answer with data older than this.
        let at = cache.snapshot();
        if let Some(body) = cache.get(&key, at) {
            self.inner.metrics.record_graphql("query", true);
            return HttpAnswer::Body(body);
        }
        let deadline = tokio::time::Instant::now() + self.inner.request_timeout;
        let prepared = self.prepare(request, read_only).await;
        let cacheable = prepared.as_ref().is_ok_and(|p| p.cacheable);
        if cacheable {
            cache.record_miss();
        }
        let response = self.run_prepared(prepared, deadline).await;
        let storable = cacheable
            && response.errors.is_empty()
            && response.extensions.is_empty()
            && response.http_headers.is_empty()
            && response.cache_control.value().is_none();
        if !storable {
            return HttpAnswer::Response(response);
        }
        match super::json::response(&response, 0) {
            Ok(body) => {
                let body = Bytes::from(body);
                cache.put(key, at, body.clone());
                HttpAnswer::Body(body)
            }
            Err(_) => HttpAnswer::Response(response),
        }
    }

    /// Run a batch; its operations run concurrently, answers in order. The batch shares one
    /// cost budget: if the operations together cost more than [`MAX_COMPLEXITY`], none runs.
    pub async fn execute_batch(&self, batch: BatchRequest) -> BatchResponse {
        let rs = match batch {
            BatchRequest::Single(r) => return BatchResponse::Single(self.execute(r).await),
            BatchRequest::Batch(rs) => rs,
        };
        let mut prepared = Vec::with_capacity(rs.len());
        let mut total = 0usize;
        for r in rs {
            let p = self.prepare(r, false).await;
            if let Ok(p) = &p {
                total = total.saturating_add(p.cost);
            }
            prepared.push(p);
        }
        if total > MAX_COMPLEXITY {
            let err = document::too_complex_cost(total);
            return BatchResponse::Batch(
                prepared
                    .into_iter()
                    .map(|_| {
                        self.inner.metrics.record_graphql("unknown", false);
                        Response::from_errors(vec![err.clone()])
                    })
                    .collect(),
            );
        }
        let deadline = tokio::time::Instant::now() + self.inner.request_timeout;
        BatchResponse::Batch(
            futures_util::future::join_all(
                prepared.into_iter().map(|p| self.run_prepared(p, deadline)),
            )
            .await,
        )
    }

    /// Run a subscription (or any operation sent over a WebSocket).
    pub fn execute_stream(&self, request: impl Into<Request>) -> BoxStream<'static, Response> {
        self.stream(request.into(), None)
    }

    async fn run(&self, request: Request, read_only: bool) -> Response {
        let deadline = tokio::time::Instant::now() + self.inner.request_timeout;
        let prepared = self.prepare(request, read_only).await;
        self.run_prepared(prepared, deadline).await
    }

    /// Execute a prepared operation, or answer its preparation error; past `deadline` the
    /// execution is dropped (its database queries with it) and the answer is `TIMEOUT`.
    async fn run_prepared(
        &self,
        prepared: Result<Prepared, ServerError>,
        deadline: tokio::time::Instant,
    ) -> Response {
        let Prepared {
            request,
            kind,
            fast,
            validation,
            ..
        } = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                self.inner.metrics.record_graphql("unknown", false);
                return Response::from_errors(vec![err]);
            }
        };
        let built = self.built();
        let schema = if fast { &built.fast } else { &built.schema };
        let response = match tokio::time::timeout_at(deadline, schema.execute(request)).await {
            Ok(response) => {
                // No error at all: the strict rules passed (a field error would do no
                // harm, but errors are not told apart here).
                if response.errors.is_empty()
                    && let Some((key, operation)) = validation
                {
                    self.inner
                        .documents
                        .mark_validated(&key, operation.as_deref());
                }
                code_errors(response)
            }
            Err(_) => Response::from_errors(vec![coded(
                "TIMEOUT",
                format!(
                    "the request ran longer than {:?} (JOBINTEL_REQUEST_TIMEOUT) and was \
                         stopped",
                    self.inner.request_timeout
                ),
            )]),
        };
        self.inner.metrics.record_graphql(kind, response.is_ok());
        response
    }

    fn stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let this = self.clone();
        stream::once(async move {
            match this.prepare(request, false).await {
                Ok(Prepared { request, kind, .. }) => {
                    this.inner.metrics.record_graphql(kind, true);
                    this.built()
                        .schema
                        .execute_stream_with_session_data(request, session_data.unwrap_or_default())
                        .map(code_errors)
                        .boxed()
                }
                Err(err) => {
                    this.inner.metrics.record_graphql("unknown", false);
                    stream::once(async move { Response::from_errors(vec![err]) }).boxed()
                }
            }
        })
        .flatten()
        .boxed()
    }

    /// Attach the parsed document (from the cache when possible), measure it against the
    /// limits (nothing else walks it before this), and give the request its DataLoaders.
    async fn prepare(
        &self,
        mut request: Request,
        read_only: bool,
    ) -> Result<Prepared, ServerError> {
        let (doc, key, validated) = self.document(&mut request).await?;
        let analysis = document::analyse(
            &self.built().costs,
            &doc,
            &request.variables,
            request.operation_name.as_deref(),
            read_only,
        )?;
        document::refuse_nul(&doc, &request.variables)?;
        let op = operation(&doc, request.operation_name.as_deref());
        let kind = operation_kind(op);
        // Variable values against their declared types, for every operation (async-graphql's
        // own error for an unknown operation name comes later).
        let strict_only = match op {
            Some(op) => {
                self.built()
                    .inputs
                    .check(op, &request.variables)?
                    .strict_only
            }
            None => true,
        };
        let fast = validated && !strict_only;
        let validation = key
            .filter(|_| !fast && !strict_only)
            .map(|key| (key, request.operation_name.clone()));
        let cacheable = kind == "query"
            && self.inner.cache.enabled()
            && self
                .built()
                .policy
                .allows(&doc, request.operation_name.as_deref());
        request.set_parsed_query(doc);
        // Fresh per operation: the loaders cache runs whose counters change while they run.
        request.data.insert(Loaders::for_operation(
            self.inner.db.clone(),
            kind == "subscription",
        ));
        Ok(Prepared {
            request,
            kind,
            cost: analysis.cost,
            fast,
            validation,
            cacheable,
        })
    }

    /// Apollo automatic persisted queries, and the parse cache for every query text. With the
    /// document: its key in the parse cache (`None` when it is not held there), and whether
    /// the requested operation has passed the strict validation rules before.
    async fn document(
        &self,
        request: &mut Request,
    ) -> Result<(ExecutableDocument, Option<String>, bool), ServerError> {
        let persisted = match request.extensions.remove("persistedQuery") {
            Some(value) => {
                let pq: PersistedQuery = async_graphql::from_value(value)
                    .map_err(|_| coded("BAD_REQUEST", "invalid `extensions.persistedQuery`"))?;
                if pq.version != 1 {
                    return Err(coded(
                        "BAD_REQUEST",
                        format!(
                            "persisted query version {} is not supported (only 1)",
                            pq.version
                        ),
                    ));
                }
                Some(pq.sha256_hash.to_ascii_lowercase())
            }
            None => None,
        };
        let parse = |query: &str| {
            // The text's bracket nesting first: the parser recurses once per bracket.
            document::check_text(query)?;
            async_graphql::parser::parse_query(query)
                .map_err(|e| limits::with_code(e.into(), "GRAPHQL_PARSE_FAILED"))
        };
        if request.query.is_empty() {
            let Some(hash) = persisted else {
                // async-graphql's own message for an empty document, with a code.
                return parse("").map(|doc| (doc, None, false));
            };
            let operation = request.operation_name.as_deref();
            return match self.inner.documents.get(&hash, operation) {
                Some((doc, validated)) => Ok((doc, Some(hash), validated)),
                // Apollo clients look for this exact message, then resend with the text.
                None => Err(coded("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")),
            };
        }
        if request.query.len() > MAX_PERSISTED_QUERY_BYTES {
            if persisted.is_some() {
                return Err(coded(
                    "PERSISTED_QUERY_TOO_LARGE",
                    format!(
                        "persisted queries may be at most {MAX_PERSISTED_QUERY_BYTES} bytes; send \
                         this one without `extensions.persistedQuery`"
                    ),
                ));
            }
            return parse(&request.query).map(|doc| (doc, None, false)); // not cached
        }
        let hash = sha256_hex(&request.query);
        if persisted.as_ref().is_some_and(|h| *h != hash) {
            return Err(coded("BAD_REQUEST", "provided sha does not match query"));
        }
        let operation = request.operation_name.as_deref();
        if let Some((doc, validated)) = self.inner.documents.get(&hash, operation) {
            return Ok((doc, Some(hash), validated));
        }
        let doc = parse(&request.query)?;
        self.inner
            .documents
            .insert(hash.clone(), doc.clone(), request.query.len());
        Ok((doc, Some(hash), false))
    }
}

/// For `GraphQLWebSocket`: each operation on a connection goes through the same pipeline.
impl async_graphql::Executor for GraphqlExecutor {
    async fn execute(&self, request: Request) -> Response {
        self.run(request, false).await
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        self.stream(request, session_data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_kind_follows_the_operation_name() {
        let doc = async_graphql::parser::parse_query(
            "query A { a } mutation B { b } subscription C { c }",
        )
        .unwrap();
        assert_eq!(operation_kind(operation(&doc, Some("B"))), "mutation");
        assert_eq!(operation_kind(operation(&doc, Some("C"))), "subscription");
        assert_eq!(operation_kind(operation(&doc, Some("Z"))), "unknown");
        let single = async_graphql::parser::parse_query("{ a }").unwrap();
        assert_eq!(operation_kind(operation(&single, None)), "query");
    }

    #[test]
    fn validation_errors_get_codes_and_resolver_errors_keep_theirs() {
        let mut resolver = coded("NOT_FOUND", "no such posting");
        resolver.path = vec![async_graphql::PathSegment::Field("jobPosting".into())];
        let mut coercion = ServerError::new(
            "Failed to parse \"DateTime\": input contains invalid characters (occurred while \
             parsing \"JobPostingFilter\")",
            None,
        );
        coercion.path = vec![async_graphql::PathSegment::Field("jobPostings".into())];
        let mut unknown = ServerError::new("something else broke", None);
        unknown.path = vec![async_graphql::PathSegment::Field("jobStats".into())];
        let response = Response::from_errors(vec![
            ServerError::new("Unknown field \"nope\" on type \"Query\".", None),
            resolver,
            coercion,
            unknown,
        ]);
        let codes: Vec<String> = code_errors(response)
            .errors
            .iter()
            .map(|e| {
                e.extensions
                    .as_ref()
                    .unwrap()
                    .get("code")
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            codes,
            [
                "\"GRAPHQL_VALIDATION_FAILED\"",
                "\"NOT_FOUND\"",
                "\"BAD_USER_INPUT\"",
                "\"INTERNAL\""
            ]
        );
    }
}

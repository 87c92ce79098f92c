//! The read API's protective limits. They are applied around each operation by
//! [`super::executor::GraphqlExecutor`]; the document walks that enforce the depth, alias and
//! cost limits live in [`super::document`], which measures each fragment once.
//!
//! Protecting the server: every rejection is a GraphQL error whose `extensions.code` says which
//! limit was hit, and whose message gives the limit:
//!
//! | limit | code |
//! |---|---|
//! | request body (`JOBINTEL_MAX_BODY_BYTES`, in the HTTP layer) | `PAYLOAD_TOO_LARGE` |
//! | operations in one batch ([`MAX_BATCH`], in the HTTP layer) | `BATCH_TOO_LARGE` |
//! | field nesting ([`MAX_DEPTH`]; introspection is exempt) | `QUERY_TOO_DEEP` |
//! | bracket nesting in the text ([`MAX_NESTING`], before parsing) | `QUERY_TOO_DEEP` |
//! | aliases in one operation, fragments counted where spread ([`MAX_ALIASES`]) | `TOO_MANY_ALIASES` |
//! | cost ([`MAX_COMPLEXITY`]) of one operation, a whole batch, or one WebSocket message: every list field multiplies what is under it by its page size, large texts cost more | `QUERY_TOO_COMPLEX` |
//! | selections once fragments are expanded ([`MAX_DOCUMENT_SELECTIONS`]) | `QUERY_TOO_COMPLEX` |
//! | fragment cycles (refused before any walk) | `GRAPHQL_VALIDATION_FAILED` |
//! | run time (`JOBINTEL_REQUEST_TIMEOUT`) | `TIMEOUT` |
//! | page size (`first`/`last` ≤ 100) | `BAD_USER_INPUT` |
//! | persisted query text ([`MAX_PERSISTED_QUERY_BYTES`]) | `PERSISTED_QUERY_TOO_LARGE` |
//!
//! Automatic persisted queries follow Apollo's protocol (`extensions.persistedQuery.sha256Hash`,
//! `PersistedQueryNotFound`), on async-graphql's LRU storage. The same cache also keeps the
//! parsed document of every query text it has seen, so a client repeating a query (the usual
//! case) skips parsing. Other request-level errors get a code too (`GRAPHQL_PARSE_FAILED`,
//! `GRAPHQL_VALIDATION_FAILED`), and mutations that arrive over GET as a persisted-query hash are
//! refused (`METHOD_NOT_ALLOWED`).

use async_graphql::{ErrorExtensionValues, ServerError};

use crate::error::{ApiError, ApiResult};
use crate::service::postings::MAX_PAGE_SIZE;

/// Deepest field nesting allowed (`{ a { b } }` is 2). Introspection (`__schema`, `__type`) is
/// exempt: GraphiQL's introspection query is 13 deep.
pub const MAX_DEPTH: usize = 10;
/// Highest cost allowed for one request (a whole batch, or one WebSocket message): each field
/// costs 1 (large texts [`super::document::LARGE_TEXT_COST`]), and a list field costs its page
/// size times what is selected under it. A page of 100 postings with every field and both runs
/// costs about 10,000; a connection nested in a connection of 100 costs far more.
pub const MAX_COMPLEXITY: usize = 20_000;
/// Most aliases in one operation, a fragment's counted each time it is spread.
pub const MAX_ALIASES: usize = 30;
/// Deepest bracket nesting (`{`, `[`, `(`) in a document's text. The parser recurses once per
/// bracket before its own checks run; 64 is also its own limit for selection sets.
pub const MAX_NESTING: usize = 64;
/// Most selections (fields, spreads, inline fragments) in a whole document once every
/// fragment spread is expanded: what async-graphql's validation walks.
pub const MAX_DOCUMENT_SELECTIONS: usize = 20_000;
/// Most operations in one batched request.
pub const MAX_BATCH: usize = 10;
/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Longest query text the document cache stores (persisted or not).
pub const MAX_PERSISTED_QUERY_BYTES: usize = 16 * 1024;
/// Parsed documents the cache holds (least recently used dropped first)...
pub const PERSISTED_QUERY_CACHE: usize = 256;
/// ...and their estimated memory ([`super::documents`]): 4 MiB is 128 KiB of query text, a
/// few hundred frontend queries.
pub const DOCUMENT_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// The Relay pagination arguments of one connection field.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// Page size and direction: `(limit, backward)`. `first`/`after` walk forward, `last`/`before`
/// backward; mixing the two directions is refused.
pub fn page_size(first: Option<i32>, last: Option<i32>) -> ApiResult<(u64, bool)> {
    let check = |name: &str, n: i32| {
        if (0..=MAX_PAGE_SIZE as i32).contains(&n) {
            Ok(n as u64)
        } else {
            Err(ApiError::bad_input(format!(
                "`{name}` must be between 0 and {MAX_PAGE_SIZE}, got {n}"
            )))
        }
    };
    match (first, last) {
        (Some(_), Some(_)) => Err(ApiError::bad_input(
            "pass `first` (with `after`) or `last` (with `before`), not both",
        )),
        (Some(n), None) => Ok((check("first", n)?, false)),
        (None, Some(n)) => Ok((check("last", n)?, true)),
        (None, None) => Ok((DEFAULT_PAGE_SIZE, false)),
    }
}

impl PageArgs {
    /// `(limit, backward, cursor)`, validated.
    pub fn resolve(&self) -> ApiResult<(u64, bool, Option<&str>)> {
        let backward_hint = self.last.is_some() || (self.first.is_none() && self.before.is_some());
        let (limit, _) = page_size(self.first, self.last)?;
        if backward_hint {
            if self.after.is_some() {
                return Err(ApiError::bad_input(
                    "`after` goes with `first`; paginate backward with `last` and `before`",
                ));
            }
            Ok((limit, true, self.before.as_deref()))
        } else {
            if self.before.is_some() {
                return Err(ApiError::bad_input(
                    "`before` goes with `last`; paginate forward with `first` and `after`",
                ));
            }
            Ok((limit, false, self.after.as_deref()))
        }
    }
}

/// A request-level error with a code.
pub(crate) fn coded(code: &str, message: impl Into<String>) -> ServerError {
    let mut err = ServerError::new(message, None);
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", code);
    err.extensions = Some(ext);
    err
}

pub(crate) fn has_code(err: &ServerError) -> bool {
    err.extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
}

/// `err` with `code`, unless it has one already.
pub(crate) fn with_code(mut err: ServerError, code: &str) -> ServerError {
    set_code(&mut err, code);
    err
}

/// Give `err` a code unless it has one already.
pub(crate) fn set_code(err: &mut ServerError, code: &str) {
    if !has_code(err) {
        err.extensions
            .get_or_insert_with(ErrorExtensionValues::default)
            .set("code", code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_say_the_limit() {
        assert_eq!(page_size(None, None).unwrap(), (20, false));
        assert_eq!(page_size(None, Some(5)).unwrap(), (5, true));
        let err = page_size(Some(101), None).unwrap_err();
        assert!(err.message().contains("100"), "{}", err.message());
        assert!(page_size(Some(1), Some(1)).is_err());
    }
}

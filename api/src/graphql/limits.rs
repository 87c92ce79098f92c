//! The read API's protective limits. They are applied around each operation by
//! [`super::executor::GraphqlExecutor`] (complexity by async-graphql's own `limit_complexity`).
//!
//! Protecting the server: every rejection is a GraphQL error whose `extensions.code` says which
//! limit was hit, and whose message gives the limit:
//!
//! | limit | code |
//! |---|---|
//! | request body (`JOBINTEL_MAX_BODY_BYTES`, in the HTTP layer) | `PAYLOAD_TOO_LARGE` |
//! | operations in one batch ([`MAX_BATCH`], in the HTTP layer) | `BATCH_TOO_LARGE` |
//! | field nesting ([`MAX_DEPTH`]; introspection is exempt) | `QUERY_TOO_DEEP` |
//! | aliases in one document ([`MAX_ALIASES`]) | `TOO_MANY_ALIASES` |
//! | complexity ([`MAX_COMPLEXITY`]; a connection multiplies what is under it by its page size) | `QUERY_TOO_COMPLEX` |
//! | page size (`first`/`last` ≤ 100) | `BAD_USER_INPUT` |
//! | persisted query text ([`MAX_PERSISTED_QUERY_BYTES`]) | `PERSISTED_QUERY_TOO_LARGE` |
//!
//! Automatic persisted queries follow Apollo's protocol (`extensions.persistedQuery.sha256Hash`,
//! `PersistedQueryNotFound`), on async-graphql's LRU storage. The same cache also keeps the
//! parsed document of every query text it has seen, so a client repeating a query (the usual
//! case) skips parsing. Other request-level errors get a code too (`GRAPHQL_PARSE_FAILED`,
//! `GRAPHQL_VALIDATION_FAILED`), and mutations that arrive over GET as a persisted-query hash are
//! refused (`METHOD_NOT_ALLOWED`).

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult};

use crate::error::{ApiError, ApiResult};
use crate::service::postings::MAX_PAGE_SIZE;

/// Deepest field nesting allowed (`{ a { b } }` is 2). Introspection (`__schema`, `__type`) is
/// exempt: GraphiQL's introspection query is 13 deep.
pub const MAX_DEPTH: usize = 10;
/// Highest query complexity allowed: each field costs 1, and a connection field costs its page
/// size times what is selected under it. A page of 100 postings with every field and both runs
/// costs about 10,000; a connection nested in a connection of 100 costs far more.
pub const MAX_COMPLEXITY: usize = 20_000;
/// Most aliases in one document.
pub const MAX_ALIASES: usize = 30;
/// Most operations in one batched request.
pub const MAX_BATCH: usize = 10;
/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Longest query text the document cache stores (persisted or not).
pub const MAX_PERSISTED_QUERY_BYTES: usize = 16 * 1024;
/// Parsed documents the cache holds (least recently used dropped first): at most
/// 256 × 16 KiB of query text.
pub const PERSISTED_QUERY_CACHE: usize = 256;

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

/// Complexity of a connection field: its page size times what is selected under it.
pub fn connection_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let n = first
        .or(last)
        .map(|n| n.clamp(1, MAX_PAGE_SIZE as i32) as usize)
        .unwrap_or(DEFAULT_PAGE_SIZE as usize);
    1 + n.saturating_mul(child_complexity)
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

/// How deep `set` nests, counting from `depth`; stops counting past `cap` (so fragment cycles,
/// which validation rejects later, cannot recurse forever).
fn depth_of(doc: &ExecutableDocument, set: &SelectionSet, depth: usize, cap: usize) -> usize {
    if depth > cap {
        return depth;
    }
    let mut max = depth;
    for item in &set.items {
        let d = match &item.node {
            Selection::Field(f) => {
                let name = f.node.name.node.as_str();
                if depth == 0 && (name == "__schema" || name == "__type") {
                    continue;
                }
                depth_of(doc, &f.node.selection_set.node, depth + 1, cap)
            }
            Selection::InlineFragment(frag) => {
                depth_of(doc, &frag.node.selection_set.node, depth, cap)
            }
            Selection::FragmentSpread(spread) => {
                match doc.fragments.get(&spread.node.fragment_name.node) {
                    Some(frag) => depth_of(doc, &frag.node.selection_set.node, depth, cap),
                    None => depth,
                }
            }
        };
        max = max.max(d);
    }
    max
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => {
                usize::from(f.node.alias.is_some()) + count_aliases(&f.node.selection_set.node)
            }
            Selection::InlineFragment(frag) => count_aliases(&frag.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Check a parsed document against the depth and alias limits (and GET's queries-only rule).
pub(crate) fn check_document(doc: &ExecutableDocument, read_only: bool) -> ServerResult<()> {
    let mut aliases = doc
        .fragments
        .values()
        .map(|f| count_aliases(&f.node.selection_set.node))
        .sum::<usize>();
    for (_, op) in doc.operations.iter() {
        if read_only && op.node.ty != OperationType::Query {
            return Err(coded(
                "METHOD_NOT_ALLOWED",
                "only queries may be sent with GET; send mutations with POST",
            ));
        }
        let depth = depth_of(doc, &op.node.selection_set.node, 0, MAX_DEPTH + 1);
        if depth > MAX_DEPTH {
            return Err(coded(
                "QUERY_TOO_DEEP",
                format!("query nested more than {MAX_DEPTH} levels deep (limit {MAX_DEPTH})"),
            ));
        }
        aliases += count_aliases(&op.node.selection_set.node);
    }
    if aliases > MAX_ALIASES {
        return Err(coded(
            "TOO_MANY_ALIASES",
            format!("query uses {aliases} aliases; the limit is {MAX_ALIASES}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(q: &str) -> ServerResult<()> {
        check_document(&async_graphql::parser::parse_query(q).unwrap(), false)
    }

    fn code(r: ServerResult<()>) -> String {
        r.unwrap_err()
            .extensions
            .unwrap()
            .get("code")
            .unwrap()
            .to_string()
    }

    #[test]
    fn depth_counts_through_fragments_but_not_introspection() {
        assert!(check("{ a { b { c } } }").is_ok());
        let deep = "{ a { a { a { a { a { a { a { a { a { a { a } } } } } } } } } } }";
        assert_eq!(code(check(deep)), "\"QUERY_TOO_DEEP\"");
        let via_fragment = "query { a { ...F } } fragment F on T { a { a { a { a { a { a { a { a { a { a } } } } } } } } } }";
        assert_eq!(code(check(via_fragment)), "\"QUERY_TOO_DEEP\"");
        let introspection = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }";
        assert!(check(introspection).is_ok());
    }

    #[test]
    fn aliases_are_counted_across_the_document() {
        let q = format!(
            "{{ {} }}",
            (0..31)
                .map(|i| format!("a{i}: health {{ status }}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert_eq!(code(check(&q)), "\"TOO_MANY_ALIASES\"");
    }

    #[test]
    fn page_sizes_say_the_limit() {
        assert_eq!(page_size(None, None).unwrap(), (20, false));
        assert_eq!(page_size(None, Some(5)).unwrap(), (5, true));
        let err = page_size(Some(101), None).unwrap_err();
        assert!(err.message().contains("100"), "{}", err.message());
        assert!(page_size(Some(1), Some(1)).is_err());
        assert_eq!(connection_cost(Some(100), None, 3), 301);
    }
}

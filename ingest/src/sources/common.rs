//! Helpers shared by the source parsers.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::ParseError;
use crate::model::NormalizedPosting;
use crate::normalize::{html_to_text, sanitize_html};

/// `base` with `segments` appended to its path (so a base with a path prefix keeps it) and no
/// query or fragment. Each segment is percent-encoded as one path segment.
pub(crate) fn url_with_path(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// `s` trimmed, or `None` when it is blank.
pub(crate) fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// [`non_empty`] for an owned string.
pub(crate) fn non_empty_owned(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// `postings` without repeated external ids (the first occurrence is kept).
pub(crate) fn unique_by_external_id(
    postings: impl IntoIterator<Item = NormalizedPosting>,
) -> Vec<NormalizedPosting> {
    let mut seen = HashSet::new();
    postings
        .into_iter()
        .filter(|p| seen.insert(p.external_id.clone()))
        .collect()
}

/// What every job page adds to a search card's posting: the sanitised description (HTML and
/// text) and the expiry date, each when the page has one.
pub(crate) fn apply_description_and_expiry(
    posting: &mut NormalizedPosting,
    description_html: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) {
    if let Some(html) = description_html {
        let clean = sanitize_html(html);
        posting.description_text = Some(html_to_text(&clean));
        posting.description_html = Some(clean);
    }
    if expires_at.is_some() {
        posting.expires_at = expires_at;
    }
}

/// Each of `items` deserialised as `T`, with its raw JSON. An item that does not fit is a shape
/// error naming it `{what}[i]`.
pub(crate) fn deserialize_each<'a, T: Deserialize<'a>>(
    items: &'a [Value],
    what: &'a str,
) -> impl Iterator<Item = Result<(T, &'a Value), ParseError>> + 'a {
    items.iter().enumerate().map(move |(i, raw)| {
        T::deserialize(raw)
            .map(|item| (item, raw))
            .map_err(|e| ParseError::Shape(format!("{what}[{i}]: {e}")))
    })
}

/// What to say about a body of the wrong shape: the `error` an API answered with
/// (`{"error": "..."}`), else `otherwise`.
pub(crate) fn describe_unexpected(doc: &Value, source: &str, otherwise: &str) -> String {
    match doc.get("error").and_then(Value::as_str) {
        Some(error) => format!("{source} answered with an error: {error}"),
        None => otherwise.to_owned(),
    }
}

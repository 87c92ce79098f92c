//! Sources (to be written).

pub mod ashby;
mod common;
pub mod embedded_json;
pub mod greenhouse;
pub(crate) mod html_scan;
pub mod indeed;
pub mod jsonld;
pub mod lever;
pub mod mojibake;
pub mod seek;

/// A response that could not be understood (truncated JSON, garbage HTML, a changed shape).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("invalid JSON at line {line} column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("unexpected response shape: {0}")]
    Shape(String),
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        // serde_json's Display ends with " at line L column C"; keep only the message.
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        ParseError::Json {
            line: e.line(),
            column: e.column(),
            message,
        }
    }
}

/// Helpers shared by the parsers' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use chrono::{DateTime, TimeZone, Utc};
    use url::Url;

    use crate::model::NormalizedPosting;

    /// The bytes of `tests/fixtures/{relative}`.
    pub(crate) fn read_fixture(relative: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{relative}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }

    /// The posting with `external_id` `id`; panics when there is none.
    pub(crate) fn posting_with_id<'a>(
        postings: &'a [NormalizedPosting],
        id: &str,
    ) -> &'a NormalizedPosting {
        postings
            .iter()
            .find(|p| p.external_id == id)
            .unwrap_or_else(|| panic!("no posting {id}"))
    }

    pub(crate) fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    /// Asserts that `build(base, name)` is `expected`.
    pub(crate) fn assert_built_url(
        build: fn(&Url, &str) -> Url,
        base: &str,
        name: &str,
        expected: &str,
    ) {
        let base = Url::parse(base).unwrap();
        assert_eq!(build(&base, name).as_str(), expected);
    }
}

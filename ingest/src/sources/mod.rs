//! Sources (to be written).

pub mod ashby;
pub mod embedded_json;
pub mod greenhouse;
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

//! GraphQL responses as JSON bytes, written by hand for the usual answer (data, no errors, no
//! extensions), byte for byte what serde_json writes.
//!
//! Through serde, a page of 20 postings (~7 KB) was ~950 calls into `Vec::extend_from_slice`
//! (every quote, colon and string fragment its own write) and a fifth of jobintel's user-space
//! instructions for the request (callgrind). Here each string is scanned for what JSON must
//! escape and copied in runs. Anything unusual — errors, extensions, bytes, numbers — still
//! goes through serde_json, so its exact output is kept.

use async_graphql::{BatchResponse, Response, Value};

/// `response` as JSON, in a buffer of at least `capacity` bytes.
pub fn response(response: &Response, capacity: usize) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(capacity);
    write_response(&mut out, response)?;
    Ok(out)
}

/// `batch` as JSON (a single response, or an array of them), as serde_json writes it.
pub fn batch(batch: &BatchResponse, capacity: usize) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(capacity);
    match batch {
        BatchResponse::Single(r) => write_response(&mut out, r)?,
        BatchResponse::Batch(rs) => {
            out.push(b'[');
            for (i, r) in rs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_response(&mut out, r)?;
            }
            out.push(b']');
        }
    }
    Ok(out)
}

fn write_response(out: &mut Vec<u8>, response: &Response) -> serde_json::Result<()> {
    if !response.errors.is_empty() || !response.extensions.is_empty() {
        return serde_json::to_writer(out, response);
    }
    out.extend_from_slice(b"{\"data\":");
    write_value(out, &response.data)?;
    out.push(b'}');
    Ok(())
}

/// Recursion follows the response's shape, which is the document's: its depth is bounded by
/// the document limits checked before anything runs (`super::document`).
fn write_value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(s) => write_str(out, s),
        Value::Enum(name) => write_str(out, name.as_str()),
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (i, (name, field)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, name.as_str());
                out.push(b':');
                write_value(out, field)?;
            }
            out.push(b'}');
        }
        // Number formatting (integers, floats' shortest form) and bytes: serde_json's own.
        Value::Number(_) | Value::Binary(_) => serde_json::to_writer(&mut *out, value)?,
    }
    Ok(())
}

/// A JSON string: `"`, `\` and control characters escaped as serde_json escapes them (the
/// short forms `\b \t \n \f \r`, else `\u00xx`), everything else copied as it is, in runs.
/// Eight bytes at a time while none needs escaping: descriptions are long and rarely do.
fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(word) = bytes.get(i..i + 8)
            && !any_needs_escape(u64::from_le_bytes(word.try_into().unwrap_or_default()))
        {
            i += 8;
            continue;
        }
        let b = bytes[i];
        i += 1;
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i - 1]);
        start = i;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any of the eight bytes of `word` is below 0x20, `"` or `\` (the classic
/// "has a zero byte" test, `(x - 0x01…) & !x & 0x80…`, which is exact about whether there is
/// one; bytes of 0x80 and above never match).
fn any_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let quote = zero_in(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_in(word ^ (ONES * u64::from(b'\\')));
    below_space | quote | backslash != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::indexmap::IndexMap;
    use async_graphql::{Name, ServerError};

    fn object(fields: Vec<(&str, Value)>) -> Value {
        Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (Name::new(k), v))
                .collect::<IndexMap<_, _>>(),
        )
    }

    fn every_kind() -> Value {
        let all_bytes: String = (0u8..0x80).map(char::from).collect();
        object(vec![
            ("null", Value::Null),
            ("yes", Value::Boolean(true)),
            ("no", Value::Boolean(false)),
            ("ascii", Value::String(all_bytes.clone())),
            (
                "unicode",
                Value::String("Zürich – 東京 \u{2028}\u{7f} 🦀".into()),
            ),
            ("empty", Value::String(String::new())),
            ("enum", Value::Enum(Name::new("FULL_TIME"))),
            ("int", Value::from(-42)),
            ("big", Value::from(u64::MAX)),
            ("float", Value::from(85000.5)),
            ("tiny", Value::from(1e-7)),
            ("whole", Value::from(120000.0)),
            ("bytes", Value::Binary(vec![0, 1, 255].into())),
            ("list", Value::List(vec![Value::Null, Value::from(1)])),
            ("emptyList", Value::List(vec![])),
            ("emptyObject", object(vec![])),
            (all_bytes.as_str(), object(vec![("\"key\"", Value::Null)])),
            (
                "nested",
                Value::List(vec![object(vec![(
                    "a",
                    Value::List(vec![Value::String("x\ny".into())]),
                )])]),
            ),
        ])
    }

    #[test]
    fn strings_are_escaped_wherever_the_byte_falls_in_a_word() {
        let base = "abcdefghijklmnopqrstuvwxyzé–漢";
        for special in ["\"", "\\", "\n", "\u{1}", "\u{1f}", "\u{7f}", "\u{80}", " "] {
            for at in 0..=base.chars().count() {
                let text: String = base
                    .chars()
                    .take(at)
                    .chain(special.chars())
                    .chain(base.chars().skip(at))
                    .collect();
                let mut out = Vec::new();
                write_str(&mut out, &text);
                assert_eq!(out, serde_json::to_vec(&text).unwrap(), "{text:?}");
            }
        }
    }

    #[test]
    fn answers_are_written_byte_for_byte_as_serde_json_writes_them() {
        let ok = Response::new(every_kind());
        assert_eq!(
            String::from_utf8(response(&ok, 0).unwrap()).unwrap(),
            serde_json::to_string(&ok).unwrap()
        );
        let mut with_errors = Response::new(every_kind());
        with_errors
            .errors
            .push(ServerError::new("boom \"x\"", None));
        let mut with_extensions = Response::new(Value::Null);
        with_extensions
            .extensions
            .insert("cost".into(), Value::from(3));
        for r in [&with_errors, &with_extensions] {
            assert_eq!(
                response(r, 0).unwrap(),
                serde_json::to_vec(r).unwrap(),
                "errors and extensions go through serde_json"
            );
        }
        let many = BatchResponse::Batch(vec![
            Response::new(every_kind()),
            with_errors,
            Response::new(Value::Null),
        ]);
        assert_eq!(batch(&many, 0).unwrap(), serde_json::to_vec(&many).unwrap());
        let one = BatchResponse::Single(ok);
        assert_eq!(batch(&one, 0).unwrap(), serde_json::to_vec(&one).unwrap());
    }
}

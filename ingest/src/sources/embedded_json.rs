//! JSON objects embedded in HTML pages as JavaScript assignments
//! (`window.SEEK_REDUX_DATA = {...};`, `window.mosaic.providerData["…"]={...};`).
//!
//! Such an object cannot be cut out with a regex: its strings contain braces, escaped quotes and
//! whole HTML documents. [`object_at`] walks the text with a string-aware brace matcher instead,
//! and [`undefined_to_null`] turns the JavaScript-only `undefined` token some sites emit into JSON
//! `null` without touching the same word inside strings.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::ParseError;

/// 1-based line and column (in characters) of byte offset `at` in `text`.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = floor_char_boundary(text, at.min(text.len()));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The balanced `{…}` object that starts at byte offset `start` of `text` (leading whitespace is
/// skipped). Braces inside `"…"` and `'…'` strings, and escaped quotes inside those strings, do not
/// count.
///
/// Errors: no `{` at `start` → [`ParseError::Shape`]; input ending before the object closes →
/// [`ParseError::Json`] positioned at the end of the input.
pub fn object_at(text: &str, start: usize) -> Result<&str, ParseError> {
    let bytes = text.as_bytes();
    let mut i = start;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    if bytes.get(i) != Some(&b'{') {
        return Err(ParseError::Shape(format!(
            "expected a JSON object at line {} column {}",
            line_col(text, i).0,
            line_col(text, i).1
        )));
    }
    let open = i;
    let mut depth = 0usize;
    let mut in_string: Option<u8> = None;
    let mut escaped = false;
    while i < bytes.len() {
        let b = bytes[i];
        match in_string {
            Some(quote) => {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == quote {
                    in_string = None;
                }
            }
            None => match b {
                b'"' | b'\'' => in_string = Some(b),
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(&text[open..=i]);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    let (line, column) = line_col(text, text.len());
    let (open_line, open_column) = line_col(text, open);
    Err(ParseError::Json {
        line,
        column,
        message: format!(
            "unterminated object (opened at line {open_line} column {open_column}{})",
            if in_string.is_some() {
                ", input ends inside a string"
            } else {
                ""
            }
        ),
    })
}

/// Byte offset just after `lhs = ` for the first assignment to `lhs` in `text` (spacing around `=`
/// is free; `==`/`===` comparisons are skipped). The offset points at whatever follows the `=` and
/// its spaces.
pub fn assignment_value_start(text: &str, lhs: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(lhs) {
        let after = from + found + lhs.len();
        if let Some(value) = value_after_equals(text, after) {
            return Some(value);
        }
        from = after;
    }
    None
}

/// If `text[at..]` is optional whitespace, a single `=` and optional whitespace, the offset after it.
pub fn value_after_equals(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = skip_whitespace(bytes, at);
    if bytes.get(i) != Some(&b'=') || bytes.get(i + 1) == Some(&b'=') {
        return None;
    }
    i += 1;
    Some(skip_whitespace(bytes, i))
}

pub(crate) fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// `js` with every bare `undefined` token outside strings replaced by `null` (borrowed unchanged
/// when there is none).
pub fn undefined_to_null(js: &str) -> Cow<'_, str> {
    const TOKEN: &[u8] = b"undefined";
    if !js.contains("undefined") {
        return Cow::Borrowed(js);
    }
    let bytes = js.as_bytes();
    let mut out = String::with_capacity(js.len());
    let mut copied = 0;
    let mut in_string: Option<u8> = None;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(quote) = in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == quote {
                in_string = None;
            }
            i += 1;
            continue;
        }
        if b == b'"' || b == b'\'' {
            in_string = Some(b);
            i += 1;
            continue;
        }
        let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$';
        if bytes[i..].starts_with(TOKEN)
            && (i == 0 || !is_ident(bytes[i - 1]))
            && bytes.get(i + TOKEN.len()).is_none_or(|&c| !is_ident(c))
        {
            out.push_str(&js[copied..i]);
            out.push_str("null");
            i += TOKEN.len();
            copied = i;
            continue;
        }
        i += 1;
    }
    if copied == 0 {
        return Cow::Borrowed(js);
    }
    out.push_str(&js[copied..]);
    Cow::Owned(out)
}

/// Parse the object that starts at `start` in `page` (after `undefined` → `null`); JSON errors are
/// reported at their position in `page`, not in the extracted object.
pub fn parse_object_at(page: &str, start: usize) -> Result<Value, ParseError> {
    let object = object_at(page, start)?;
    let json = undefined_to_null(object);
    serde_json::from_str(&json).map_err(|e| error_in_page(page, object, e))
}

/// [`parse_object_at`] for when only a few values of a large object are read: the result holds
/// just the values at `paths` (each a list of object keys from the top, not array indexes). The
/// rest of the object is still checked, so the same input is an error, but it is skipped instead
/// of being built into a [`Value`]: for a state object of a few hundred KB that is most of the cost.
///
/// Reading a listed path (with `value[..]` or `pointer`) gives what reading it from
/// [`parse_object_at`]'s value would: a key present with something other than an object on the
/// way to a listed value is kept as `null`, so that the path reads as missing in both, and a
/// repeated key keeps its last value, as `serde_json` does. Anything not on a listed path is absent.
pub fn parse_object_paths_at(
    page: &str,
    start: usize,
    paths: &[&[&str]],
) -> Result<Value, ParseError> {
    let object = object_at(page, start)?;
    let json = undefined_to_null(object);
    let mut deserializer = serde_json::Deserializer::from_str(&json);
    Pick {
        paths: paths.to_vec(),
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value))
    .map_err(|e| error_in_page(page, object, e))
}

/// `e`, raised while parsing `object` (a slice of `page`), positioned in `page`.
fn error_in_page(page: &str, object: &str, e: serde_json::Error) -> ParseError {
    let offset = object.as_ptr() as usize - page.as_ptr() as usize;
    let mut err = ParseError::from(e);
    // Positions inside the parsed text map to `page` exactly unless `undefined` was shortened to
    // `null`, in which case they are off by a few columns at most: still the right neighbourhood.
    if let ParseError::Json { line, column, .. } = &mut err {
        let (object_line, object_column) = line_col(page, offset);
        if *line == 1 {
            *column += object_column - 1;
        }
        *line += object_line - 1;
    }
    err
}

/// Deserialises a JSON value keeping only the values at `paths` (relative to it); see
/// [`parse_object_paths_at`]. Anything other than an object becomes `null`.
struct Pick<'p> {
    paths: Vec<&'p [&'p str]>,
}

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            let rests: Vec<&[&str]> = self
                .paths
                .iter()
                .filter_map(|path| path.split_first())
                .filter(|(first, _)| **first == key)
                .map(|(_, rest)| rest)
                .collect();
            if rests.is_empty() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = if rests.iter().any(|rest| rest.is_empty()) {
                map.next_value::<Value>()?
            } else {
                map.next_value_seed(Pick { paths: rests })?
            };
            out.insert(key.into_owned(), value);
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// An object key, borrowed from the input unless it had escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_objects_and_arrays_are_matched_to_their_own_closing_brace() {
        let text = r#"x = {"a":{"b":[1,{"c":2}]},"d":3}; y = {"e":4};"#;
        assert_eq!(
            object_at(text, 4).unwrap(),
            r#"{"a":{"b":[1,{"c":2}]},"d":3}"#
        );
    }

    #[test]
    fn braces_inside_strings_do_not_count() {
        let text = r#"{"tpl":"}{ {{ ] [","n":1} trailing }"#;
        assert_eq!(object_at(text, 0).unwrap(), r#"{"tpl":"}{ {{ ] [","n":1}"#);
    }

    #[test]
    fn escaped_quotes_do_not_end_a_string() {
        let text = r#"{"say":"he said \"}\" and left\\","ok":true}; rest"#;
        assert_eq!(
            object_at(text, 0).unwrap(),
            r#"{"say":"he said \"}\" and left\\","ok":true}"#
        );
    }

    #[test]
    fn single_quoted_javascript_strings_are_strings_too() {
        let text = r#"{a:'it}s', b:"it's"}"#;
        assert_eq!(object_at(text, 0).unwrap(), text);
    }

    #[test]
    fn leading_whitespace_before_the_object_is_skipped() {
        assert_eq!(object_at("=  \n {}", 1).unwrap(), "{}");
    }

    #[test]
    fn an_unterminated_object_is_a_json_error_at_the_end_of_input() {
        let err = object_at("{\"a\":{\"b\":1}", 0).unwrap_err();
        match err {
            ParseError::Json {
                line,
                column,
                message,
            } => {
                assert_eq!((line, column), (1, 13));
                assert!(message.contains("unterminated"), "{message}");
            }
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    #[test]
    fn an_object_cut_inside_a_string_says_so() {
        let err = object_at(r#"{"a":"never closed"#, 0).unwrap_err();
        assert!(err.to_string().contains("inside a string"), "{err}");
    }

    #[test]
    fn something_other_than_an_object_is_a_shape_error() {
        assert!(matches!(object_at("  [1,2]", 0), Err(ParseError::Shape(_))));
        assert!(matches!(object_at("", 0), Err(ParseError::Shape(_))));
    }

    #[test]
    fn bare_undefined_becomes_null_but_not_inside_strings_or_identifiers() {
        let js = r#"{"a":undefined,"b":"undefined","c":[undefined],"d":undefinedValue,'e':'x undefined'}"#;
        assert_eq!(
            undefined_to_null(js),
            r#"{"a":null,"b":"undefined","c":[null],"d":undefinedValue,'e':'x undefined'}"#
        );
    }

    #[test]
    fn text_without_bare_undefined_is_borrowed_unchanged() {
        assert!(matches!(
            undefined_to_null(r#"{"a":"undefined"}"#),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn assignments_are_found_with_any_spacing_but_comparisons_are_not() {
        let text = "if (window.X === 1) {} window.X   =\n {\"a\":1}";
        let start = assignment_value_start(text, "window.X").unwrap();
        assert_eq!(object_at(text, start).unwrap(), "{\"a\":1}");
    }

    #[test]
    fn json_errors_are_positioned_in_the_page() {
        let page = "<script>\n  window.X = {\"a\": tru};\n</script>";
        let start = assignment_value_start(page, "window.X").unwrap();
        match parse_object_at(page, start).unwrap_err() {
            ParseError::Json { line, column, .. } => {
                assert_eq!(line, 2);
                assert!(column > 20, "column {column} should be past the assignment");
            }
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    /// Reads `paths` from both parses of `page` and checks they agree.
    fn assert_picked_like_full(page: &str, paths: &[&[&str]]) {
        let start = assignment_value_start(page, "window.X").unwrap();
        let full = parse_object_at(page, start).unwrap();
        let picked = parse_object_paths_at(page, start, paths).unwrap();
        for path in paths {
            let pointer: String = path.iter().map(|k| format!("/{k}")).collect();
            assert_eq!(
                picked.pointer(&pointer),
                full.pointer(&pointer),
                "{pointer} in {page}"
            );
            let index = |v: &Value| path.iter().fold(v.clone(), |v, k| v[*k].clone());
            assert_eq!(index(&picked), index(&full), "{pointer} in {page}");
        }
    }

    #[test]
    fn picked_paths_read_like_the_full_value() {
        let paths: &[&[&str]] = &[&["a"], &["b", "c", "d"], &["b", "e"], &["z", "y"]];
        for page in [
            r#"window.X = {"a": 1, "b": {"c": {"d": [1, {"x": 2}], "no": 3}, "e": null}, "big": [1, 2, {"d": 4}]};"#,
            r#"window.X = {"a": {"nested": true}, "b": "not an object", "z": [{"y": 1}]};"#,
            r#"window.X = {"b": {"c": 5}, "z": {"y": undefined}};"#,
            r#"window.X = {"a": 1, "a": 2, "b": {"c": {"d": 1}}, "b": {"e": 3}};"#,
            r#"window.X = {"a": 1, "b": {"c": {"d": 1}}, "b": 7};"#,
            r#"window.X = {"\u0061": "escaped key", "b": {"c\u0000": 1, "e": "x"}};"#,
            r#"window.X = {};"#,
        ] {
            assert_picked_like_full(page, paths);
        }
    }

    #[test]
    fn unlisted_values_are_left_out() {
        let page =
            r#"window.X = {"keep": {"k": 1}, "drop": {"k": 2}, "deep": {"keep": 3, "drop": 4}}"#;
        let start = assignment_value_start(page, "window.X").unwrap();
        let picked = parse_object_paths_at(page, start, &[&["keep"], &["deep", "keep"]]).unwrap();
        assert_eq!(
            picked,
            serde_json::json!({"keep": {"k": 1}, "deep": {"keep": 3}})
        );
    }

    #[test]
    fn invalid_json_outside_the_paths_is_still_an_error_at_the_same_place() {
        let page = "<script>\n  window.X = {\"a\": 1, \"skipped\": [1, tru]};\n</script>";
        let start = assignment_value_start(page, "window.X").unwrap();
        let full = parse_object_at(page, start).unwrap_err();
        let picked = parse_object_paths_at(page, start, &[&["a"]]).unwrap_err();
        assert_eq!(picked.to_string(), full.to_string());
    }

    #[test]
    fn line_col_counts_characters_not_bytes() {
        assert_eq!(line_col("ab\nΓÇôx", 9), (2, 4));
    }
}

//! The last check on a posting before it is stored: what no database column may hold.
//!
//! - NUL (`U+0000`): PostgreSQL refuses it in `text` and inside `jsonb` strings and keys, which
//!   fails the whole page's transaction, and fails it again on every retry since the page is the
//!   same. SQLite would store it. It is removed everywhere (every text field, and every string
//!   and key of `raw`) on both databases, so a posting reads the same whichever one stores it.
//! - `url` / `apply_url` must be absolute `http(s)` (see [`super::links`]): an `apply_url` that
//!   is not is dropped; a posting whose own `url` is not cannot be shown and is refused.
//!
//! Sources already build safe URLs; this runs again at the store so no caller can skip it.

use serde_json::Value;

use super::links::is_http_url;
use crate::model::NormalizedPosting;

/// Why a posting cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("posting {external_id:?} has no http(s) URL")]
pub struct Unstorable {
    pub external_id: String,
}

/// Whether [`make_storable`] would change anything (so callers can avoid copying clean
/// postings).
pub fn needs_cleaning(p: &NormalizedPosting) -> bool {
    text_fields(p).any(|s| s.contains('\0'))
        || json_has_nul(&p.raw)
        || !is_http_url(&p.url)
        || p.apply_url.as_deref().is_some_and(|u| !is_http_url(u))
}

/// Strip NULs from every text field and from `raw`, drop a non-http(s) `apply_url`, and refuse
/// a posting whose `url` is not http(s).
pub fn make_storable(p: &mut NormalizedPosting) -> Result<(), Unstorable> {
    for_each_text_field(p, strip_nul);
    strip_nul_json(&mut p.raw);
    if p.apply_url.as_deref().is_some_and(|u| !is_http_url(u)) {
        p.apply_url = None;
    }
    if !is_http_url(&p.url) {
        return Err(Unstorable {
            external_id: p.external_id.clone(),
        });
    }
    Ok(())
}

/// Remove every NUL from `s` (in place, without reallocating when there is none).
pub fn strip_nul(s: &mut String) {
    if s.contains('\0') {
        s.retain(|c| c != '\0');
    }
}

fn text_fields(p: &NormalizedPosting) -> impl Iterator<Item = &str> {
    let l = &p.location;
    [
        Some(&p.external_id),
        Some(&p.url),
        p.apply_url.as_ref(),
        Some(&p.title),
        p.company.as_ref(),
        p.company_external_id.as_ref(),
        l.raw.as_ref(),
        l.city.as_ref(),
        l.region.as_ref(),
        l.country.as_ref(),
        p.salary.text.as_ref(),
        p.salary.currency.as_ref(),
        p.description_html.as_ref(),
        p.description_text.as_ref(),
        p.classification.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(String::as_str)
}

fn for_each_text_field(p: &mut NormalizedPosting, mut f: impl FnMut(&mut String)) {
    f(&mut p.external_id);
    f(&mut p.url);
    f(&mut p.title);
    let l = &mut p.location;
    for s in [
        &mut p.apply_url,
        &mut p.company,
        &mut p.company_external_id,
        &mut l.raw,
        &mut l.city,
        &mut l.region,
        &mut l.country,
        &mut p.salary.text,
        &mut p.salary.currency,
        &mut p.description_html,
        &mut p.description_text,
        &mut p.classification,
    ]
    .into_iter()
    .flatten()
    {
        f(s);
    }
}

/// Whether any string or key in `value` holds a NUL. Walks with an explicit stack: `raw` can
/// be built by code as well as parsed, so its depth is not bounded by serde_json's limit.
fn json_has_nul(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s.contains('\0') => return true,
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    false
}

/// Remove NULs from every string and key in `value` (iteratively, as [`json_has_nul`]). Keys
/// that become equal once cleaned keep the value of the last one.
pub fn strip_nul_json(value: &mut Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => strip_nul(s),
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    let entries = std::mem::take(map);
                    for (mut k, v) in entries {
                        strip_nul(&mut k);
                        map.insert(k, v);
                    }
                }
                stack.extend(map.values_mut());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{Source, WorkArrangement};

    fn posting() -> NormalizedPosting {
        NormalizedPosting {
            source: Source::Jsonld,
            external_id: "careers.example.com:1".into(),
            url: "https://careers.example.com/jobs/1".into(),
            apply_url: Some("https://careers.example.com/apply/1".into()),
            title: "Cook".into(),
            company: Some("Example".into()),
            company_external_id: None,
            location: Default::default(),
            work_type: None,
            work_arrangement: WorkArrangement::Unknown,
            salary: Default::default(),
            description_html: Some("<p>Cook</p>".into()),
            description_text: Some("Cook".into()),
            classification: None,
            posted_at: None,
            expires_at: None,
            raw: json!({"title": "Cook"}),
        }
    }

    #[test]
    fn a_clean_posting_needs_nothing_and_is_left_as_it_is() {
        let mut p = posting();
        assert!(!needs_cleaning(&p));
        make_storable(&mut p).unwrap();
        assert_eq!(p, posting());
    }

    #[test]
    fn nuls_are_removed_from_every_text_field() {
        let mut p = posting();
        p.external_id = "careers.example.com:\u{0}1".into();
        p.title = "Co\u{0}ok".into();
        p.company = Some("\u{0}Example".into());
        p.location.raw = Some("Sydney\u{0}".into());
        p.location.city = Some("Syd\u{0}ney".into());
        p.salary.text = Some("$1\u{0}00k".into());
        p.description_html = Some("<p>Co\u{0}ok</p>".into());
        p.description_text = Some("Co\u{0}ok".into());
        p.classification = Some("Hospitality\u{0}".into());
        assert!(needs_cleaning(&p));
        make_storable(&mut p).unwrap();
        assert!(!needs_cleaning(&p));
        assert_eq!(p.external_id, "careers.example.com:1");
        assert_eq!(p.title, "Cook");
        assert_eq!(p.company.as_deref(), Some("Example"));
        assert_eq!(p.location.city.as_deref(), Some("Sydney"));
        assert_eq!(p.salary.text.as_deref(), Some("$100k"));
        assert_eq!(p.description_html.as_deref(), Some("<p>Cook</p>"));
        assert_eq!(p.classification.as_deref(), Some("Hospitality"));
    }

    #[test]
    fn nuls_are_removed_from_raw_strings_and_keys_at_any_depth() {
        let mut p = posting();
        p.raw = json!({
            "ti\u{0}tle": "Co\u{0}ok",
            "list": ["a\u{0}", {"deep": [[["\u{0}x"]]]}],
            "n": 1,
        });
        assert!(needs_cleaning(&p));
        make_storable(&mut p).unwrap();
        assert_eq!(
            p.raw,
            json!({"title": "Cook", "list": ["a", {"deep": [[["x"]]]}], "n": 1})
        );
    }

    #[test]
    fn deeply_nested_raw_is_cleaned_without_recursion() {
        let mut raw = json!("\u{0}");
        for _ in 0..100_000 {
            raw = Value::Array(vec![raw]);
        }
        assert!(json_has_nul(&raw));
        strip_nul_json(&mut raw);
        assert!(!json_has_nul(&raw));
        // Dropping a deep Value recurses in serde_json; unwrap it level by level instead.
        while let Value::Array(mut items) = raw {
            raw = items.pop().unwrap_or(Value::Null);
        }
        assert_eq!(raw, json!(""));
    }

    #[test]
    fn a_script_apply_url_is_dropped_and_a_script_url_refuses_the_posting() {
        let mut p = posting();
        p.apply_url = Some("javascript:alert(1)".into());
        assert!(needs_cleaning(&p));
        make_storable(&mut p).unwrap();
        assert_eq!(p.apply_url, None);

        let mut p = posting();
        p.url = "data:text/html,<script>alert(1)</script>".into();
        assert_eq!(
            make_storable(&mut p),
            Err(Unstorable {
                external_id: "careers.example.com:1".into()
            })
        );
    }
}

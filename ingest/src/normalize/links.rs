//! Links taken from scraped content (`url`, `applyUrl`), kept only when a browser following them
//! goes to a web page.
//!
//! Frontends put these values in `href`, so a `javascript:`, `data:` or `vbscript:` link stored
//! from a hostile page would run in our users' browsers. The check is done on the URL as the
//! WHATWG parser reads it (the same parsing browsers apply), not on the text: leading control
//! characters and spaces, tabs and newlines inside the scheme (`java\tscript:`), and mixed case
//! are all normalised away before the scheme is compared.

use url::Url;

/// `raw` as an absolute `http`/`https` URL with a host, or `None`.
///
/// With a `base` (the page the link was found on, for sources whose links are relative to it,
/// such as JSON-LD on a career page), relative references are resolved against it; without
/// one, a relative reference is dropped. Every other scheme is dropped, whatever the base.
pub fn http_url(raw: &str, base: Option<&Url>) -> Option<Url> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let url = match base {
        Some(base) => base.join(raw).ok()?,
        None => Url::parse(raw).ok()?,
    };
    is_web_url(&url).then_some(url)
}

/// Whether `s` is, as written, an absolute `http`/`https` URL with a host (what may be stored
/// in `url` / `apply_url`).
pub fn is_http_url(s: &str) -> bool {
    Url::parse(s).is_ok_and(|u| is_web_url(&u))
}

fn is_web_url(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_http_and_https_urls_are_kept_as_parsed() {
        assert_eq!(
            http_url(" https://jobs.example.com/a?b=1 ", None).map(String::from),
            Some("https://jobs.example.com/a?b=1".to_owned())
        );
        assert_eq!(
            http_url("HTTP://Example.COM", None).map(String::from),
            Some("http://example.com/".to_owned())
        );
    }

    #[test]
    fn script_and_data_schemes_are_dropped_however_they_are_spelled() {
        let base = Url::parse("https://careers.example.com/jobs/").unwrap();
        for hostile in [
            "javascript:alert(1)",
            "JavaScript:alert(document.cookie)",
            " \u{1}javascript:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            "vbscript:msgbox(1)",
            "file:///etc/passwd",
            "ftp://example.com/x",
            "mailto:jobs@example.com",
            "https://",
            "",
            "   ",
        ] {
            assert_eq!(
                http_url(hostile, Some(&base)),
                None,
                "{hostile:?} with a base"
            );
            assert_eq!(http_url(hostile, None), None, "{hostile:?}");
            assert!(!is_http_url(hostile), "{hostile:?}");
        }
    }

    #[test]
    fn relative_links_resolve_against_the_page_only_when_there_is_one() {
        let base = Url::parse("https://careers.example.com/jobs/list?page=2").unwrap();
        assert_eq!(
            http_url("/jobs/123", Some(&base)).map(String::from),
            Some("https://careers.example.com/jobs/123".to_owned())
        );
        assert_eq!(
            http_url("123", Some(&base)).map(String::from),
            Some("https://careers.example.com/jobs/123".to_owned())
        );
        assert_eq!(
            http_url("//other.example.org/x", Some(&base)).map(String::from),
            Some("https://other.example.org/x".to_owned())
        );
        assert_eq!(http_url("/jobs/123", None), None);
        assert_eq!(http_url("jobs/123", None), None);
    }
}

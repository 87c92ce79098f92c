//! Recognising bot challenges (Cloudflare and the like), which may arrive with any status,
//! including 200.

use reqwest::header::HeaderMap;

/// Titles of challenge interstitials (matched inside `<title>` only: the words can appear in
/// any job ad).
const TITLE_MARKERS: &[&str] = &["Just a moment...", "Just a moment\u{2026}"];

/// How much of a page is searched: challenge pages are small and put their markers early.
const SEARCH_PREFIX: usize = 64 * 1024;

/// Body markers of challenge pages, with the reason reported for each.
const BODY_MARKERS: &[(&str, &str)] = &[
    (
        "INDEED_CLOUDFLARE_STATIC_PAGE",
        "Indeed Cloudflare static page",
    ),
    ("cf-chl", "Cloudflare challenge markup (cf-chl)"),
    ("_cf_chl_opt", "Cloudflare challenge script (_cf_chl_opt)"),
];

/// Cloudflare's challenge-platform scripts. Ordinary pages behind Cloudflare load
/// `/cdn-cgi/challenge-platform/scripts/jsd/main.js` (bot *detection*, injected into normal
/// pages such as Indeed job pages), so only other challenge-platform paths count.
const CHALLENGE_PLATFORM: &str = "challenge-platform";
const DETECTION_SCRIPT_SUFFIX: &str = "/scripts/jsd/";

/// Whether the response only checks headers and status: `cf-mitigated: challenge` on a 403,
/// 429 or 503. Returns the reason.
pub(crate) fn challenge_in_headers(status: u16, headers: &HeaderMap) -> Option<String> {
    let mitigated = headers.get("cf-mitigated")?.to_str().ok()?;
    (matches!(status, 403 | 429 | 503) && mitigated.trim().eq_ignore_ascii_case("challenge"))
        .then(|| format!("HTTP {status} with cf-mitigated: challenge"))
}

/// Whether the body is (or contains) a challenge page. Returns the reason.
pub(crate) fn challenge_in_body(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(SEARCH_PREFIX)];
    let text = String::from_utf8_lossy(head);
    // JSON APIs never serve challenge pages as JSON; their content (job titles, descriptions)
    // may contain any marker text.
    let first = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .next();
    if matches!(first, Some('{' | '[')) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    if let Some(start) = lower.find("<title")
        && let Some(end) = lower[start..].find("</title>")
    {
        let title = &text[start..start + end];
        if TITLE_MARKERS.iter().any(|m| title.contains(m)) {
            return Some("\"Just a moment...\" interstitial".to_owned());
        }
    }
    if let Some((_, reason)) = BODY_MARKERS
        .iter()
        .find(|(marker, _)| text.contains(marker))
    {
        return Some((*reason).to_owned());
    }
    let challenge_platform = text
        .match_indices(CHALLENGE_PLATFORM)
        .any(|(at, _)| !text[at + CHALLENGE_PLATFORM.len()..].starts_with(DETECTION_SCRIPT_SUFFIX));
    challenge_platform.then(|| "Cloudflare challenge-platform page".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn cloudflare_interstitial_served_with_200_is_a_challenge() {
        let page = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>";
        assert!(challenge_in_body(page).is_some());
    }

    #[test]
    fn marker_words_inside_json_or_an_ad_are_not_a_challenge() {
        let board = br#"{"jobs":[{"title":"Barista (Just a moment... coffee bar)"}]}"#;
        assert_eq!(challenge_in_body(board), None);
        let ad = b"<html><head><title>Barista</title></head><body>Just a moment... of calm</body></html>";
        assert_eq!(challenge_in_body(ad), None);
    }

    #[test]
    fn indeed_static_challenge_page_is_a_challenge() {
        let page = b"<html><body><!-- INDEED_CLOUDFLARE_STATIC_PAGE --></body></html>";
        assert!(challenge_in_body(page).unwrap().contains("Indeed"));
    }

    #[test]
    fn challenge_markup_and_orchestration_scripts_are_challenges() {
        assert!(challenge_in_body(br#"<div id="cf-chl-widget-abc"></div>"#).is_some());
        assert!(challenge_in_body(b"window._cf_chl_opt={cvId:'3'}").is_some());
        assert!(
            challenge_in_body(b"<script src=\"/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=1\"></script>").is_some()
        );
    }

    #[test]
    fn the_bot_detection_script_on_ordinary_cloudflare_pages_is_not_a_challenge() {
        // As injected at the end of real, successful Indeed job pages.
        let page = br#"<div id="jobDescriptionText">Rust engineer</div><script>(function(){var a=document.createElement('script');a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js';})();</script>"#;
        assert_eq!(challenge_in_body(page), None);
    }

    #[test]
    fn ordinary_pages_and_json_are_not_challenges() {
        assert_eq!(challenge_in_body(b"{\"jobs\":[]}"), None);
        assert_eq!(challenge_in_body(b"<h1>Senior Rust Engineer</h1>"), None);
    }

    #[test]
    fn cf_mitigated_challenge_header_on_403_429_or_503_is_a_challenge() {
        let mut headers = HeaderMap::new();
        headers.insert("cf-mitigated", HeaderValue::from_static("challenge"));
        for status in [403, 429, 503] {
            assert!(challenge_in_headers(status, &headers).is_some(), "{status}");
        }
        assert_eq!(challenge_in_headers(404, &headers), None);
        assert_eq!(challenge_in_headers(403, &HeaderMap::new()), None);
    }
}

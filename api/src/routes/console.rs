//! `GET /console`: the operations console, a single page built only on the public GraphQL
//! API. Its files live in `api/console/` (ES modules, no build step; third-party code in
//! `api/console/vendor/` with licences and versions) and are compiled into the binary, so the
//! console works offline.
//!
//! Caching: every response carries a strong `ETag` (a hash of the file, computed once) and
//! `Cache-Control: no-cache`, so a browser revalidates each file and gets a bodiless `304`
//! while it is unchanged. Each file is gzipped once, when first asked for, and sent so to
//! browsers that accept it (`Vary: Accept-Encoding`; the gzipped representation has its own ETag): 220 KB
//! become ~80 KB on the wire, as a proxy in front would otherwise have to do. Content-hashed file names with immutable caching would save those
//! round trips, but ES modules import each other by name: hashing names would need a build
//! step to rewrite the imports, which is what the console is meant to do without.
//!
//! Every response carries a Content-Security-Policy with no `'unsafe-inline'` anywhere: the
//! page has no inline script or style, and the one thing that would need an inline script
//! (an import map) is avoided by importing by relative path.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Scripts, styles, images, fonts and connections only from this server (the subscription
/// socket is same-origin `ws:`/`wss:`, covered by `connect-src 'self'`; `data:` images so
/// styles may inline small icons); never framed; no `<base>`, no form submissions (forms are
/// handled by script). Descriptions of postings are sanitised HTML rendered in the page:
/// even if one carried a script or inline handler, this policy would not run it.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; font-src 'self'; connect-src 'self'; \
                       frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Lists the files under `api/console/`, compiling each in. `api/tests/console_assets.rs`
/// walks the directory and fails on any file missing here.
macro_rules! console_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../console/", $path)) as &[u8])),*]
    };
}

/// Every file of the console, by its path under `api/console/` (and under `/console/assets/`).
pub const FILES: &[(&str, &[u8])] = console_files![
    "index.html",
    "app.js",
    "style.css",
    "icon.svg",
    "lib/chart.js",
    "lib/gql.js",
    "lib/html.js",
    "lib/ui.js",
    "pages/instances.js",
    "pages/overview.js",
    "pages/postings.js",
    "pages/run.js",
    "pages/runs.js",
    "pages/schedules.js",
    "vendor/README.md",
    "vendor/graphql-ws/LICENSE.md",
    "vendor/graphql-ws/client.js",
    "vendor/graphql-ws/common-CGW11Fyb.js",
    "vendor/htm/LICENSE",
    "vendor/htm/htm.mjs",
    "vendor/preact/LICENSE",
    "vendor/preact/hooks.mjs",
    "vendor/preact/preact.mjs",
    "vendor/uplot/LICENSE",
    "vendor/uplot/uPlot.iife.min.js",
    "vendor/uplot/uPlot.min.css",
];

struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: HeaderValue,
    /// The file gzipped and its ETag (`None` when gzip would not be smaller), made on the
    /// first request that accepts gzip, so start-up and the first page do not wait for all.
    gzip: OnceLock<Option<(Bytes, HeaderValue)>>,
}

impl Asset {
    fn gzipped(&self) -> Option<&(Bytes, HeaderValue)> {
        self.gzip
            .get_or_init(|| {
                let gz = gzip(self.body);
                let etag = self.etag.to_str().expect("ascii").trim_end_matches('"');
                let etag = HeaderValue::from_str(&format!("{etag}-gz\"")).expect("ascii");
                (gz.len() < self.body.len()).then(|| (Bytes::from(gz), etag))
            })
            .as_ref()
    }
}

/// The files with their types and ETags. Derived once from bytes compiled into the binary:
/// constant data, not state, so two servers in one process share it harmlessly.
static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|&(path, body)| {
            let digest = Sha256::digest(body);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            let asset = Asset {
                body,
                content_type: content_type(path),
                etag: HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header"),
                gzip: OnceLock::new(),
            };
            (path, asset)
        })
        .collect()
});

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(body).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// Whether `Accept-Encoding` allows gzip (`gzip` or `*` without `q=0`).
fn accepts_gzip(req: &HeaderMap) -> bool {
    req.get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// The `Content-Type` for a console file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('/')
        .map_or(path, |(_, name)| name)
        .rsplit_once('.')
        .map(|(_, ext)| ext);
    match ext {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("md") => "text/markdown; charset=utf-8",
        // LICENSE and other plain files.
        _ => "text/plain; charset=utf-8",
    }
}

/// `GET /console` and `/console/`: the page.
pub async fn page(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /console/assets/{*path}`: one file.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn serve(path: &str, req: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.get(path) else {
        let mut resp =
            (StatusCode::NOT_FOUND, "no such console file: see /console").into_response();
        protect(resp.headers_mut());
        return resp;
    };
    let gzip = if accepts_gzip(req) {
        asset.gzipped()
    } else {
        None
    };
    let etag = gzip.map_or(&asset.etag, |(_, tag)| tag);
    let mut resp = if matches(req, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut resp = match gzip {
            Some((body, _)) => {
                let mut resp = body.clone().into_response(); // a reference count, not a copy
                resp.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                resp
            }
            None => asset.body.into_response(),
        };
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        resp
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // Revalidate every time: a new binary serves new files under the same names.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    protect(h);
    resp
}

/// Whether `If-None-Match` names this ETag (or `*`). Weak comparison, as RFC 9110 asks for
/// `If-None-Match`: `W/"x"` matches `"x"`.
fn matches(req: &HeaderMap, etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    req.get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag)
}

/// The console's security headers.
fn protect(h: &mut HeaderMap) {
    page_headers(h, CSP);
}

/// The headers of a page served to browsers (the console, GraphiQL): its Content-Security-
/// Policy, never framed (`X-Frame-Options` for browsers that predate `frame-ancestors`), no
/// referrer, and `nosniff` (the router adds it to every response too, so these are safe
/// wherever they are mounted).
pub fn page_headers(h: &mut HeaderMap, csp: &'static str) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_star() {
        let etag = HeaderValue::from_static("\"abc\"");
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_static(v));
            h
        };
        assert!(matches(&with("\"abc\""), &etag));
        assert!(matches(&with("W/\"abc\""), &etag));
        assert!(matches(&with("\"x\", \"abc\""), &etag));
        assert!(matches(&with("*"), &etag));
        assert!(!matches(&with("\"abcd\""), &etag));
        assert!(!matches(&HeaderMap::new(), &etag));
    }

    #[test]
    fn gzip_is_sent_only_where_accepted() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(v));
            h
        };
        assert!(accepts_gzip(&with("gzip, deflate, br, zstd")));
        assert!(accepts_gzip(&with("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&with("*")));
        assert!(!accepts_gzip(&with("gzip;q=0, br")));
        assert!(!accepts_gzip(&with("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("vendor/preact/hooks.mjs"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("vendor/htm/LICENSE"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type("icon.svg"), "image/svg+xml");
    }
}

//! The console's files as the real router serves them: every file under `api/console/` (the
//! directory is walked, so a file added there but not to `routes::console::FILES` fails),
//! content types, gzip where accepted, ETag revalidation, the security headers, that modules
//! import only served files by relative path (no import map, which the CSP would block), and
//! the size budget.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use jobintel::state::ServerSettings;
use reqwest::StatusCode;
use support::start_with;

/// Total console assets, gzipped (the issue's budget).
const GZIP_BUDGET: usize = 300 * 1024;

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("console")
}

/// Every file under `dir`, as `/`-separated paths relative to it, sorted.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap();
                let parts: Vec<_> = rel
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    out
}

fn expected_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

fn gzipped_len(bytes: &[u8]) -> usize {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap().len()
}

fn assert_console_headers(resp: &reqwest::Response, what: &str) {
    let h = resp.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: {directive} missing: {csp}"
        );
    }
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["cache-control"], "no-cache", "{what}");
}

/// The module specifiers a JavaScript module imports: `import … from "x"`, `export … from
/// "x"` and `import "x"`, at the start of a statement (so `from 'ws'` inside an error
/// message does not count).
fn imports(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in source.match_indices(['i', 'e']) {
        let rest = &source[i..];
        if !(rest.starts_with("import") || rest.starts_with("export")) {
            continue;
        }
        let before = source[..i].trim_end_matches([' ', '\t']);
        if !(before.is_empty() || before.ends_with('\n') || before.ends_with(';')) {
            continue;
        }
        let statement = &rest[..rest.find(';').unwrap_or(rest.len())];
        let after_kw = statement[6..].trim_start();
        let spec_at = if after_kw.starts_with(['"', '\'']) {
            Some(statement.len() - after_kw.len())
        } else {
            statement
                .rfind("from")
                .map(|f| f + 4 + (statement[f + 4..].len() - statement[f + 4..].trim_start().len()))
        };
        let Some(at) = spec_at else { continue };
        let quoted = &statement[at..];
        let Some(q) = quoted.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if let Some(end) = quoted[1..].find(q) {
            out.push(quoted[1..1 + end].to_owned());
        }
    }
    out
}

/// `spec` relative to the module at `from` (both under `api/console/`), or None if it leaves
/// the directory or is not relative.
fn resolve(from: &str, spec: &str) -> Option<String> {
    if !(spec.starts_with("./") || spec.starts_with("../")) {
        return None;
    }
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for seg in spec.split('/') {
        match seg {
            "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

#[test]
fn the_import_scanner_finds_statements_only() {
    let src = "import{a as b}from\"./x.mjs\";var s=\"import it from 'ws'\";\n\
               import {\n  c,\n} from '../lib/ui.js';\nexport { d } from './d.js';\n\
               export default function(){}\nimport './side.js';\n  throw new Error(\"`import W from 'ws'`\");";
    assert_eq!(
        imports(src),
        ["./x.mjs", "../lib/ui.js", "./d.js", "./side.js"]
    );
    assert_eq!(
        resolve("pages/run.js", "../lib/ui.js").as_deref(),
        Some("lib/ui.js")
    );
    assert_eq!(resolve("app.js", "preact"), None);
    assert_eq!(resolve("app.js", "../../Cargo.toml"), None);
}

#[tokio::test]
async fn every_console_file_is_served_with_its_type_etag_and_headers() {
    let db = testkit::sqlite("console_assets").await;
    let srv = start_with(&db.conn, ServerSettings::default()).await;
    // No automatic decompression: the test sees what goes over the wire.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();
    let dir = console_dir();
    let files = walk(&dir);
    assert!(files.len() > 10, "{files:?}");

    let (mut raw, mut gz, mut wire) = (0usize, 0usize, 0usize);
    for path in &files {
        let on_disk = std::fs::read(dir.join(path)).unwrap();
        let url = srv.url(&format!("/console/assets/{path}"));

        // What a browser gets: gzip when it is smaller, with its own ETag.
        let zipped = client
            .get(&url)
            .header("accept-encoding", "gzip, deflate, br")
            .send()
            .await
            .unwrap();
        assert_eq!(zipped.status(), StatusCode::OK, "{path}");
        assert_eq!(zipped.headers()["vary"], "accept-encoding", "{path}");
        assert_console_headers(&zipped, path);
        let zipped_etag = zipped.headers()["etag"].to_str().unwrap().to_owned();
        let gzipped = zipped.headers().get("content-encoding").is_some();
        let zipped_body = zipped.bytes().await.unwrap();
        wire += zipped_body.len();
        if gzipped {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(zipped_body.as_ref())
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, on_disk, "{path}: gzipped body");
            let again = client
                .get(&url)
                .header("accept-encoding", "gzip")
                .header("if-none-match", zipped_etag.as_str())
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path} gzipped");
        } else {
            assert_eq!(zipped_body.as_ref(), on_disk.as_slice(), "{path}");
        }

        // Without gzip: the file as it is.
        let resp = client
            .get(&url)
            .header("accept-encoding", "identity")
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "{path} is not served: add it to FILES in api/src/routes/console.rs"
        );
        assert_eq!(
            resp.headers()["content-type"],
            expected_type(path),
            "{path}"
        );
        assert_console_headers(&resp, path);
        let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
            "{path}: a strong ETag, got {etag}"
        );
        assert!(resp.headers().get("content-encoding").is_none(), "{path}");
        assert!(
            !gzipped || etag != zipped_etag,
            "{path}: each representation has its own ETag"
        );
        let body = resp.bytes().await.unwrap();
        assert_eq!(
            body.as_ref(),
            on_disk.as_slice(),
            "{path}: stale copy (rebuild)"
        );

        // Revalidation: the same ETag (also weak, or in a list) is a bodiless 304.
        for inm in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"nope\", {etag}"),
        ] {
            let again = client
                .get(&url)
                .header("if-none-match", inm.as_str())
                .send()
                .await
                .unwrap();
            assert_eq!(
                again.status(),
                StatusCode::NOT_MODIFIED,
                "{path} with {inm}"
            );
            assert_eq!(again.headers()["etag"], etag.as_str(), "{path}");
            assert_console_headers(&again, path);
            assert!(again.bytes().await.unwrap().is_empty(), "{path}");
        }
        let changed = client
            .get(&url)
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), StatusCode::OK, "{path}");

        // Modules import only served files, by relative path.
        let is_module =
            (path.ends_with(".js") || path.ends_with(".mjs")) && !path.contains(".iife.");
        if is_module {
            let text = String::from_utf8(on_disk.clone()).unwrap();
            for spec in imports(&text) {
                let target = resolve(path, &spec).unwrap_or_else(|| {
                    panic!(
                        "{path} imports {spec:?}: only relative paths resolve without an import map"
                    )
                });
                assert!(
                    files.contains(&target),
                    "{path} imports {spec:?}, not a console file"
                );
            }
        }
        raw += on_disk.len();
        gz += gzipped_len(&on_disk);
    }
    println!(
        "console: {} files, {raw} bytes, {gz} bytes gzipped (each file on its own), {wire} bytes \
         served to a browser",
        files.len()
    );
    assert!(
        gz < GZIP_BUDGET,
        "console assets are {gz} bytes gzipped, over the {GZIP_BUDGET} budget"
    );

    // The page itself, at both addresses.
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    for route in ["/console", "/console/"] {
        let resp = client.get(srv.url(route)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{route}");
        assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
        assert_console_headers(&resp, route);
        assert_eq!(resp.text().await.unwrap(), index, "{route}");
    }

    // No inline script or style for the CSP to block; every local reference is served.
    let lower = index.to_ascii_lowercase();
    for (i, _) in lower.match_indices("<script") {
        let tag = &lower[i..i + lower[i..].find('>').unwrap()];
        assert!(tag.contains(" src="), "inline script in index.html: {tag}");
    }
    assert!(
        !lower.contains("<style") && !lower.contains(" style="),
        "inline style in index.html"
    );
    for attr in ["src=\"", "href=\""] {
        for (i, _) in index.match_indices(attr) {
            let value = &index[i + attr.len()..];
            let value = &value[..value.find('"').unwrap()];
            if let Some(path) = value.strip_prefix("/console/assets/") {
                assert!(
                    files.iter().any(|f| f == path),
                    "index.html refers to {value}, not served"
                );
            }
        }
    }

    // Every module is preloaded by the page (a missing one only costs a round trip per import
    // level, but it would cost it silently).
    for path in files.iter().filter(|p| {
        (p.ends_with(".js") || p.ends_with(".mjs")) && !p.contains(".iife.") && *p != "app.js"
    }) {
        assert!(
            index.contains(&format!(
                "<link rel=\"modulepreload\" href=\"/console/assets/{path}\">"
            )),
            "index.html should preload {path}"
        );
    }

    for missing in [
        "/console/assets/nope.js",
        "/console/assets/../Cargo.toml",
        "/console/assets/%2e%2e/Cargo.toml",
        "/console/assets/vendor",
    ] {
        let resp = client.get(srv.url(missing)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{missing}");
    }
    srv.stop().await;
}

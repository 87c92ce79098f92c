//! `GET /graphiql`: a GraphiQL playground that works with no internet access. GraphiQL 4 and
//! React 18 (UMD builds) are compiled into the binary; licences in `api/assets/graphiql/`. Our
//! own set-up script is `api/assets/graphiql/init.js`, served like the others so the page needs
//! no inline script.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>jobintel · GraphiQL</title>
  <link rel="stylesheet" href="/graphiql/assets/graphiql.min.css">
  <link rel="stylesheet" href="/graphiql/assets/page.css">
</head>
<body>
  <div id="graphiql">Loading…</div>
  <script src="/graphiql/assets/react.production.min.js"></script>
  <script src="/graphiql/assets/react-dom.production.min.js"></script>
  <script src="/graphiql/assets/graphiql.min.js"></script>
  <script src="/graphiql/assets/init.js"></script>
</body>
</html>
"#;

/// The page's policy: scripts only from this server (none inline, no `eval`), so an injection
/// into the page cannot run; never framed (clickjacking). Styles may be inline because
/// GraphiQL adds a `<style>` element at run time; fonts and icons are `data:` URLs in its CSS.
/// `connect-src 'self'` covers the same-host `ws:`/`wss:` subscription socket.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub async fn page() -> Response {
    let mut resp = Html(PAGE).into_response();
    super::console::page_headers(resp.headers_mut(), CSP);
    resp
}

pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match name.as_str() {
        "graphiql.min.js" => (
            include_bytes!("../../assets/graphiql/graphiql.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "graphiql.min.css" => (
            include_bytes!("../../assets/graphiql/graphiql.min.css"),
            "text/css; charset=utf-8",
        ),
        "react.production.min.js" => (
            include_bytes!("../../assets/graphiql/react.production.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "init.js" => (
            include_bytes!("../../assets/graphiql/init.js"),
            "text/javascript; charset=utf-8",
        ),
        "page.css" => (
            b"html, body, #graphiql { height: 100%; margin: 0; }\n",
            "text/css; charset=utf-8",
        ),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("static"),
    );
    // The files are versioned by the binary; a day of caching is safe and saves 1.5 MB reloads.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    resp
}

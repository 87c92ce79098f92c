//! `GET /graphiql`: a GraphiQL playground that works with no internet access. GraphiQL 4 and
//! React 18 (UMD builds) are compiled into the binary; licences in `api/assets/graphiql/`.

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
  <style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
  <div id="graphiql">Loading…</div>
  <script src="/graphiql/assets/react.production.min.js"></script>
  <script src="/graphiql/assets/react-dom.production.min.js"></script>
  <script src="/graphiql/assets/graphiql.min.js"></script>
  <script>
    const http = new URL('/graphql', window.location.href).toString();
    const ws = http.replace(/^http/, 'ws');
    // A saved token (localStorage "jobintel.token") is sent as a bearer token and in
    // connection_init, so mutations and protected reads work from the playground.
    const token = window.localStorage.getItem('jobintel.token');
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    const fetcher = GraphiQL.createFetcher({
      url: http,
      subscriptionUrl: ws,
      headers,
      wsConnectionParams: token ? { Authorization: 'Bearer ' + token, token } : {},
    });
    const defaultQuery = `# jobintel GraphQL playground. Ctrl-Enter runs a query.
{
  health { status database jobCount version }
  jobPostings(first: 5) {
    edges { node { title company city salary { text } postedAt url } }
    pageInfo { hasNextPage endCursor }
  }
}
`;
    ReactDOM.createRoot(document.getElementById('graphiql')).render(
      React.createElement(GraphiQL, { fetcher, defaultQuery, defaultEditorToolsVisibility: true })
    );
  </script>
</body>
</html>
"#;

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
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

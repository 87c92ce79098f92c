#!/usr/bin/env bash
# Proves the GraphiQL playground works with no internet access and can run subscriptions:
# headless Chromium (Debian package `chromium`) loads /graphiql from a release build and a
# page that uses GraphiQL's own bundled fetcher (graphql-ws) to run a subscription.
#
#   cargo build --release -p jobintel-api && scripts/graphiql-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${JOBINTEL_BIN:-target/release/jobintel}
CHROME=$(command -v chromium || command -v chromium-browser || true)
[[ -x $BIN ]] || { echo "build first: cargo build --release -p jobintel-api" >&2; exit 2; }
[[ -n $CHROME ]] || { echo "needs Chromium: apt-get install -y chromium" >&2; exit 2; }

tmp=$(mktemp -d)
cleanup() { kill "${web:-}" "${srv:-}" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WEB=$(free_port); API=$(free_port)

# A career page with two JobPostings, served locally; one ingest run of it.
cp ingest/tests/fixtures/jsonld/jsonld_array_of_two_postings.html "$tmp/careers.html"
(cd "$tmp" && exec python3 -m http.server "$WEB" --bind 127.0.0.1 >"$tmp/web.log" 2>&1) & web=$!
export DATABASE_URL="sqlite://$tmp/j.db?mode=rwc" JOBINTEL_ALLOW_PRIVATE_NETWORK=true
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$WEB/careers.html" >/dev/null && break; sleep 0.1; done
"$BIN" ingest jsonld --target "http://127.0.0.1:$WEB/careers.html"
# The subscription page below is served from another origin (the web port): WebSocket
# upgrades from a foreign Origin are refused unless it is listed.
JOBINTEL_BIND=127.0.0.1:$API JOBINTEL_CORS_ORIGINS=http://127.0.0.1:$WEB \
  "$BIN" serve >"$tmp/serve.log" 2>&1 & srv=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$API/health" >/dev/null && break; sleep 0.1; done

# 1. The playground renders from the binary alone (no CDN): GraphiQL's container appears.
dom=$("$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --no-first-run --user-data-dir="$tmp/chrome1" \
  --virtual-time-budget=8000 --dump-dom "http://127.0.0.1:$API/graphiql" 2>/dev/null)
grep -q 'graphiql-container' <<<"$dom" || { echo "FAIL: GraphiQL did not render" >&2; exit 1; }
echo "ok: /graphiql rendered offline"

# 2. GraphiQL's fetcher runs a subscription over WebSocket (graphql-transport-ws).
run_id=$(printf 'IngestRun:1' | base64 | tr '+/' '-_' | tr -d '=')
cat >"$tmp/sub.html" <<HTML
<!doctype html><html><body><pre id="out">waiting</pre>
<script src="http://127.0.0.1:$API/graphiql/assets/react.production.min.js"></script>
<script src="http://127.0.0.1:$API/graphiql/assets/react-dom.production.min.js"></script>
<script src="http://127.0.0.1:$API/graphiql/assets/graphiql.min.js"></script>
<script>
(async () => {
  const out = document.getElementById('out');
  try {
    const fetcher = GraphiQL.createFetcher({
      url: 'http://127.0.0.1:$API/graphql', subscriptionUrl: 'ws://127.0.0.1:$API/graphql' });
    // GraphiQL hands its fetcher the parsed document; a subscription operation in it is what
    // routes the request over the WebSocket.
    const documentAST = { kind: 'Document', definitions: [
      { kind: 'OperationDefinition', operation: 'subscription', variableDefinitions: [], directives: [] } ] };
    const result = await fetcher({
      query: 'subscription { ingestRunEvents(runId: "$run_id") { kind status jobsNew } }',
      operationName: null }, { documentAST });
    const lines = [];
    for await (const r of result) lines.push(JSON.stringify(r));
    out.textContent = 'RESULT ' + lines.join(' ');
  } catch (e) { out.textContent = 'ERROR ' + e; }
  // Report back to the local web server (its access log is read below).
  fetch('/report?' + encodeURIComponent(out.textContent)).catch(() => {});
})();
</script></body></html>
HTML
"$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --no-first-run --user-data-dir="$tmp/chrome2" \
  "http://127.0.0.1:$WEB/sub.html" >/dev/null 2>&1 & chrome=$!
for _ in $(seq 1 150); do grep -q 'GET /report' "$tmp/web.log" && break; sleep 0.1; done
kill "$chrome" 2>/dev/null || true
report=$(grep -o 'GET /report?[^ ]*' "$tmp/web.log" | head -1 | python3 -c 'import sys,urllib.parse; print(urllib.parse.unquote(sys.stdin.read().strip()))')
echo "$report"
grep -q '"kind":"FINISHED"' <<<"$report" || { echo "FAIL: no subscription result" >&2; exit 1; }
echo "ok: GraphiQL's fetcher ran a subscription and got the run's FINISHED event"

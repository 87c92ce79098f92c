#!/usr/bin/env bash
# CPU per request of a running jobintel and of its PostgreSQL backends, for one GraphQL payload
# under wrk (issue #16: the before/after table in README "side by side with PostGraphile").
#
#   scripts/read-cpu.sh PORT BODY.json [CONNS=2] [SECONDS=5]
#   # two binaries serving the same database on 8000 and 8001, alternating, three rounds:
#   for r in 1 2 3; do for p in 8000 8001; do scripts/read-cpu.sh $p ../shared/peer/queries/samedb_jobintel/b_by_id.json; done; done
#
# Prints req/s, p50, and the server's and the backends' CPU time (user + system, /proc) per
# request. DB_NAME (default jobintel_bench) picks the backends counted: every backend of that
# database, so run one load at a time.
set -euo pipefail
PORT=$1 BODY=$2 CONNS=${3:-2} SECS=${4:-5} DB_NAME=${DB_NAME:-jobintel_bench}
PID=$(ss -ltnp | grep ":$PORT " | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
[[ -n "$PID" ]] || { echo "nothing listens on port $PORT" >&2; exit 2; }
LUA=$(mktemp --suffix=.lua); trap 'rm -f "$LUA"' EXIT
cat >"$LUA" <<'LUA'
local f = io.open(os.getenv("BODY"), "r"); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body; wrk.headers["Content-Type"] = "application/json"
LUA
tick=$(getconf CLK_TCK)
cpu_of() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
backends() { local s=0 p; for p in $(pgrep -f "postgres: .* $DB_NAME " || true); do s=$((s + $(cpu_of "$p"))); done; echo $s; }
URL="http://127.0.0.1:$PORT/graphql"
BODY=$BODY wrk -t2 -c"$CONNS" -d2 -s "$LUA" "$URL" >/dev/null   # warm-up
j0=$(cpu_of "$PID"); p0=$(backends)
out=$(BODY=$BODY wrk -t2 -c"$CONNS" -d"$SECS" --latency -s "$LUA" "$URL")
j1=$(cpu_of "$PID"); p1=$(backends)
n=$(awk '/requests in/{print $1}' <<<"$out")
echo "port $PORT $(basename "$BODY") conns=$CONNS req/s=$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
  "p50=$(awk '/ 50%/{print $2}' <<<"$out") server_us=$(( (j1-j0)*1000000/tick/n ))" \
  "postgres_us=$(( (p1-p0)*1000000/tick/n ))"

#!/usr/bin/env bash
# Idle memory of `jobintel serve` right after start-up, measured from outside: start the release
# binary on a fresh database, wait until /health answers, let it settle, then read
# /proc/<pid>/smaps_rollup. Repeated RUNS times; prints each run and the medians of RSS, PSS,
# anonymous memory and the file-backed rest (mostly the binary's code the start-up touched).
#
#   cargo build --release -p jobintel-api
#   scripts/idle-rss.sh                              # SQLite in a temporary directory
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/jobintel_idle scripts/idle-rss.sh
#
# Settings: RUNS (default 5), SETTLE seconds after /health (default 2), BIN (default
# target/release/jobintel). Target (issue #12): RSS under 20 MB on SQLite.
# Needs: Linux /proc, curl, python3.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/jobintel}
RUNS=${RUNS:-5}
SETTLE=${SETTLE:-2}
[ -x "$BIN" ] || { echo "no $BIN: run cargo build --release -p jobintel-api" >&2; exit 2; }

WORK=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

printf 'binary: %s (%s bytes)\n' "$BIN" "$(stat -c %s "$BIN")"
printf '%-4s %9s %9s %9s %9s\n' run rss_kb pss_kb anon_kb file_kb
for run in $(seq 1 "$RUNS"); do
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    url=${DATABASE_URL:-sqlite://$WORK/idle-$run.db?mode=rwc}
    DATABASE_URL="$url" JOBINTEL_BIND="127.0.0.1:$PORT" RUST_LOG=warn \
        "$BIN" serve >"$WORK/server-$run.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 200); do
        curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
        sleep 0.05
    done
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { cat "$WORK/server-$run.log" >&2; exit 1; }
    sleep "$SETTLE"
    awk -v run="$run" '
        /^Rss:/ {rss=$2} /^Pss:/ {pss=$2} /^Anonymous:/ {anon=$2}
        END {printf "%-4s %9d %9d %9d %9d\n", run, rss, pss, anon, rss-anon}
    ' "/proc/$PID/smaps_rollup" | tee -a "$WORK/results"
    kill -TERM "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
done
python3 - "$WORK/results" <<'EOF'
import statistics, sys
rows = [list(map(int, l.split()[1:])) for l in open(sys.argv[1])]
med = [statistics.median(c) / 1024 for c in zip(*rows)]
print("median MB: RSS %.1f  PSS %.1f  anon %.1f  file %.1f" % tuple(med))
EOF

#!/usr/bin/env bash
# Time and peak memory of `jobintel export` over the read benchmark's seed (100,000 postings
# with 1–3 KB descriptions): the export streams in keyset batches, so its peak RSS must not
# grow with the row count.
#
#   cargo build --release -p jobintel-api -p bench
#   target/release/bench --seed-only                 # SQLite: target/bench/jobintel_bench.db
#   scripts/export-rss.sh                            # CSV from that file
#   FORMAT=jsonl scripts/export-rss.sh
#   target/release/bench --seed-only --database postgres://postgres@127.0.0.1:5432/jobintel_bench
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/jobintel_bench scripts/export-rss.sh
#
# Settings: FORMAT (csv or jsonl), FILTER (a JobPostingFilter as JSON), BIN (default
# target/release/jobintel), DATABASE_URL. Needs: GNU time (/usr/bin/time), python3.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/jobintel}
FORMAT=${FORMAT:-csv}
DATABASE_URL=${DATABASE_URL:-sqlite://target/bench/jobintel_bench.db?mode=rwc}
[ -x "$BIN" ] || { echo "no $BIN: run cargo build --release -p jobintel-api" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ARGS=(export --format "$FORMAT" --out "$WORK/out.$FORMAT")
[ -n "${FILTER:-}" ] && ARGS+=(--filter "$FILTER")

DATABASE_URL="$DATABASE_URL" RUST_LOG=warn /usr/bin/time -f '%M %e' -o "$WORK/time" \
    "$BIN" "${ARGS[@]}"
read -r PEAK_KB SECONDS_TAKEN <"$WORK/time"
ROWS=$(python3 - "$WORK/out.$FORMAT" "$FORMAT" <<'PY'
import csv, sys
path, fmt = sys.argv[1], sys.argv[2]
with open(path, newline="", encoding="utf-8") as f:
    if fmt == "csv":
        print(sum(1 for _ in csv.reader(f)) - 1)
    else:
        print(sum(1 for _ in f))
PY
)
BYTES=$(stat -c %s "$WORK/out.$FORMAT")
echo "export $FORMAT: $ROWS rows, $((BYTES / 1024 / 1024)) MiB in ${SECONDS_TAKEN} s, peak RSS $((PEAK_KB / 1024)) MB"

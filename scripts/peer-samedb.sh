#!/usr/bin/env bash
# jobintel vs PostGraphile 5 on the same PostgreSQL database (issue #16): runs the shared harness
# ../shared/peer/samedb.sh with the two files it expects next to it and does not ship,
# bench/peer/graphile.config.mjs (Amber + connection-filter) and bench/peer/dump_sdl.mjs.
#
#   scripts/peer-samedb.sh                      # from anywhere; all arguments go to samedb.sh
#   JOBINTEL_RESPONSE_CACHE_BYTES=0 SELF_BENCH=0 CONNS="2 32" DURATION=10 scripts/peer-samedb.sh
#
# Env as samedb.sh (DB_URL, JOBINTEL_DIR = this checkout by default, CONNS, DURATION, WARMUP,
# SELF_BENCH, JI_POOL, PGL_PORT, JI_PORT) plus PEER_WORK (default /tmp/jobintel-peer), the
# writable folder the harness runs in (node, npm packages, results/ stay there).
# Needs target/release/jobintel and target/release/bench (cargo build --release -p jobintel-api -p bench).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HARNESS="${PEER_HARNESS:-$ROOT/../shared/peer}"
[[ -f "$HARNESS/samedb.sh" ]] || HARNESS=/work/shared/peer
[[ -f "$HARNESS/samedb.sh" ]] || { echo "samedb.sh not found (set PEER_HARNESS)" >&2; exit 2; }
P="${PEER_WORK:-/tmp/jobintel-peer}"
mkdir -p "$P"; P="$(cd "$P" && pwd)"   # absolute, as samedb.sh computes it: it then runs in place
cp -rf "$HARNESS"/. "$P"/; chmod -R u+w "$P"
cp -f "$ROOT"/bench/peer/*.mjs "$P"/
mkdir -p "$P/sdl"                       # samedb.sh writes sdl/postgraphile_samedb.graphql there
export PEER_WORK="$P" JOBINTEL_DIR="${JOBINTEL_DIR:-$ROOT}"
cd "$JOBINTEL_DIR"
exec bash "$P/samedb.sh" "$@"

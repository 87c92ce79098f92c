#!/usr/bin/env bash
# What PostgreSQL alone can do on this machine for each read scenario of the peer comparison
# (../shared/peer/samedb.sh): the exact SQL jobintel sends for each payload (bench/pgbench/*.sql,
# captured with log_statement = all), run by pgbench with prepared statements at the same
# concurrency. jobintel's requests/s divided by this is the fraction of the database's limit
# it reaches (README "read API", "The limit").
#
#   scripts/pgbench-limit.sh      # DB_URL=postgres://postgres@127.0.0.1:5432/jobintel_bench
#                                 # CONNS="2 32" DURATION=10 RUNS=3
# The database must hold the read benchmark's seed (`target/release/bench --database
# $DB_URL --seed-only`). Prints one markdown row per scenario: the median tps of RUNS runs.
set -euo pipefail
cd "$(dirname "$0")/.."
DB_URL="${DB_URL:-postgres://postgres@127.0.0.1:5432/jobintel_bench}"
CONNS="${CONNS:-2 32}" DURATION="${DURATION:-10}" RUNS="${RUNS:-3}"
command -v pgbench >/dev/null || { echo "pgbench not found (Debian: postgresql-client)" >&2; exit 2; }
psql "$DB_URL" -Atc 'select 1 from job_postings limit 1' >/dev/null \
  || { echo "no seeded job_postings at $DB_URL: run target/release/bench --database \$DB_URL --seed-only" >&2; exit 2; }

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2}'; }

header="| scenario |"; rule="|---|"
for c in $CONNS; do header="$header tps @$c |"; rule="$rule---|"; done
echo "$header"; echo "$rule"
for f in bench/pgbench/*.sql; do
  row="| $(basename "$f" .sql) |"
  for c in $CONNS; do
    j=$(( c < $(nproc) ? c : $(nproc) ))
    tps=$(for _ in $(seq 1 "$RUNS"); do
      pgbench -n -M prepared -c "$c" -j "$j" -T "$DURATION" -f "$f" "$DB_URL" 2>/dev/null \
        | awk '/^tps = / {printf "%.0f\n", $3}'
    done | median)
    row="$row $tps |"
  done
  echo "$row"
done

#!/usr/bin/env bash
# Idle cost of the embedded scheduler: start the release binary, create N enabled schedules
# (half hourly, half daily, none due during the measurement) through GraphQL, let it settle,
# then sample /proc/<pid>/stat (utime + stime) and /proc/<pid>/status (VmRSS, VmHWM) for
# DURATION seconds.
#
#   cargo build --release -p jobintel-api
#   scripts/scheduler-idle.sh                      # SQLite in a temporary directory
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/jobintel_idle scripts/scheduler-idle.sh
#
# Settings: N (default 10000), DURATION (default 60), BIN (default target/release/jobintel).
# Needs: Linux /proc, curl, python3. Targets: CPU < 1 % of one core, RSS < 40 MB.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/jobintel}
N=${N:-10000}
DURATION=${DURATION:-60}
TOKEN="idle-$RANDOM$RANDOM"
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATABASE_URL=${DATABASE_URL:-sqlite://$WORK/idle.db?mode=rwc}

[ -x "$BIN" ] || { echo "no $BIN: run cargo build --release -p jobintel-api" >&2; exit 2; }

cleanup() {
    [ -n "${PID:-}" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

DATABASE_URL="$DATABASE_URL" JOBINTEL_BIND="127.0.0.1:$PORT" JOBINTEL_API_TOKEN="$TOKEN" \
    RUST_LOG=warn "$BIN" serve >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

echo "seeding $N schedules through createSchedule (database: ${DATABASE_URL%%\?*})"
started=$(date +%s.%N)
URL="http://127.0.0.1:$PORT/graphql" TOKEN="$TOKEN" N="$N" python3 - <<'EOF'
import json, os, time, urllib.request
url, token, n = os.environ["URL"], os.environ["TOKEN"], int(os.environ["N"])
now = time.gmtime()
# Nothing due while we measure: hourly ones at the minute half an hour away, daily ones at the
# hour twelve hours away.
hourly_minute = (now.tm_min + 30) % 60
daily_hour = (now.tm_hour + 12) % 24
def create(i):
    cron = f"{hourly_minute} * * * *" if i % 2 else f"{i % 60} {daily_hour} * * *"
    return (f'c{i}: createSchedule(input: {{name: "idle-{i}", source: LEVER, '
            f'target: "board-{i}", cron: "{cron}", timeZone: "UTC"}}) {{ id }}')
ALIASES, BATCH = 30, 10  # the API's alias and batch limits
i = created = 0
while i < n:
    ops = []
    for _ in range(BATCH):
        if i >= n:
            break
        fields = [create(j) for j in range(i, min(i + ALIASES, n))]
        i += len(fields)
        ops.append({"query": "mutation { " + " ".join(fields) + " }"})
    req = urllib.request.Request(url, data=json.dumps(ops).encode(), headers={
        "content-type": "application/json", "authorization": f"Bearer {token}"})
    for resp in json.load(urllib.request.urlopen(req)):
        if resp.get("errors"):
            raise SystemExit(f"createSchedule failed: {resp['errors'][0]}")
        created += sum(1 for v in resp["data"].values() if v and v.get("id"))
if created != n:
    raise SystemExit(f"created {created} schedules, expected {n}")
print(f"created {created} schedules")
EOF
echo "seeded in $(python3 -c "print(round($(date +%s.%N) - $started, 1))") s; settling for 5 s"
sleep 5
[ -n "${HOLD:-}" ] && { echo "pid $PID"; sleep "$HOLD"; }

HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$PID/status"; }
t0=$(ticks); s0=$(date +%s.%N)
rss_max=0
for _ in $(seq 1 "$DURATION"); do
    sleep 1
    r=$(kb VmRSS); [ "$r" -gt "$rss_max" ] && rss_max=$r
done
t1=$(ticks); s1=$(date +%s.%N)
rss=$(kb VmRSS); hwm=$(kb VmHWM)
# The same split as scripts/idle-rss.sh: file-backed pages are the binary's code, shared and
# reclaimable; anonymous memory is what the process holds.
awk '/^Rss:/ {rss=$2} /^Pss:/ {pss=$2} /^Anonymous:/ {anon=$2}
     END {printf "  at the end: RSS %.1f MB, PSS %.1f MB, anonymous %.1f MB, file-backed %.1f MB\n",
          rss/1024, pss/1024, anon/1024, (rss-anon)/1024}' "/proc/$PID/smaps_rollup"
python3 - "$t0" "$t1" "$s0" "$s1" "$HZ" "$rss" "$rss_max" "$hwm" "$N" <<'EOF'
import sys
t0, t1, s0, s1, hz, rss, rss_max, hwm, n = map(float, sys.argv[1:])
cpu = (t1 - t0) / hz / (s1 - s0) * 100
print(f"{int(n)} enabled schedules, idle {s1 - s0:.0f} s:")
print(f"  CPU  {cpu:.3f} % of one core ({int(t1 - t0)} ticks of 1/{int(hz)} s)")
print(f"  RSS  {rss / 1024:.1f} MB at the end, {rss_max / 1024:.1f} MB max while idle "
      f"(peak incl. seeding: {hwm / 1024:.1f} MB)")
ok = cpu < 1.0 and rss_max / 1024 < 40
print("  PASS" if ok else "  FAIL (targets: CPU < 1 %, RSS < 40 MB)")
sys.exit(0 if ok else 1)
EOF

#!/usr/bin/env bash
# Staff-queue benchmark: seeds a private cluster with N applications (default 1,000,000), then times
# first pages for each filter, a deep walk through the cursor, and prints EXPLAIN ANALYZE plans.
# Usage: scripts/queue-bench.sh [applications] [accounts]
set -euo pipefail
cd "$(dirname "$0")/.."
APPS=${1:-1000000}
ACCOUNTS=${2:-50000}
WORK=${BENCH_DIR:-/tmp/mynorfolk-queue-bench}
export APP_ENV=development APP_LOG__FILTER=warn
export APP_DATABASE__EMBEDDED_DATA_DIR="$WORK/postgres" APP_EMAIL__OUTBOX_DIR="$WORK/emails"
export PORT=${PORT:-8099}
BIN=target/release/mynorfolk
mkdir -p "$WORK"

cargo build --release --quiet --bin mynorfolk
if [ ! -f "$WORK/seeded-$APPS" ]; then
  "$BIN" seed --accounts "$ACCOUNTS" --applications "$APPS"
  printf 'bench officer passphrase\n' | "$BIN" staff create --name "Bench Officer" --email bench.officer@example.invalid --role staff
  touch "$WORK/seeded-$APPS"
fi

"$BIN" serve > "$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER; wait $SERVER 2>/dev/null' EXIT
until grep -q "listening on" "$WORK/serve.log"; do sleep 0.2; done
PGPORT=$(grep -o 'port [0-9]*' "$WORK/serve.log" | head -1 | cut -d' ' -f2)
BASE="http://127.0.0.1:$PORT"
TOKEN=$(curl -s "$BASE/api/v1/sessions" -H 'content-type: application/json' \
  -d '{"email":"bench.officer@example.invalid","password":"bench officer passphrase"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
OFFICER=$(psql -qtA -h 127.0.0.1 -p "$PGPORT" -U postgres mynorfolk -c "SELECT id FROM accounts WHERE email = 'seed-1@example.invalid'")
echo "applications: $(psql -qtA -h 127.0.0.1 -p "$PGPORT" -U postgres mynorfolk -c 'SELECT count(*) FROM applications')"

time_query() { # label, query string; prints p50/p99 over 50 requests
  local label=$1 query=$2
  for _ in $(seq 50); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "authorization: Bearer $TOKEN" "$BASE/api/v1/admin/applications?$query"
  done | sort -n | awk -v l="$label" '{a[NR]=$1} END {printf "%-40s p50 %.1f ms  p99 %.1f ms\n", l, a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000}'
}
time_query "first page, no filter" "limit=20"
time_query "status=under_review" "status=under_review&limit=20"
time_query "service=vehicle-crossing" "service=vehicle-crossing&limit=20"
time_query "assigned_to=<officer>" "assigned_to=$OFFICER&limit=20"
time_query "submitted in one week" "submitted_from=$(date -u -d '-30 days' +%F)&submitted_to=$(date -u -d '-23 days' +%F)&limit=20"
time_query "q=reference prefix" "q=SKP-2026-00001&limit=20"
time_query "status+service" "status=approved&service=skip-permit&limit=100"

# Deep pagination: 200 pages of 100 by cursor; server time per page as curl measures it.
CURSOR=""
for _ in $(seq 200); do
  curl -s -o "$WORK/page.json" -w '%{time_total}\n' -H "authorization: Bearer $TOKEN" \
    "$BASE/api/v1/admin/applications?limit=100${CURSOR:+&cursor=$CURSOR}" >> "$WORK/pages.txt"
  CURSOR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["next_cursor"] or "")' "$WORK/page.json")
done
sort -n "$WORK/pages.txt" | awk '{a[NR]=$1} END {printf "200 pages of 100 by cursor: p50 %.1f ms  p99 %.1f ms\n", a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000}'
rm -f "$WORK/pages.txt"

explain() {
  echo "--- $1"
  psql -qtA -h 127.0.0.1 -p "$PGPORT" -U postgres mynorfolk -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $2"
}
explain "status filter, first page" "SELECT * FROM applications WHERE status = 'under_review' ORDER BY submitted_at DESC, id DESC LIMIT 21"
explain "status filter, page after a cursor" "SELECT * FROM applications WHERE status = 'under_review' AND (submitted_at, id) < (now() - interval '100 days', '00000000-0000-0000-0000-000000000000') ORDER BY submitted_at DESC, id DESC LIMIT 21"
explain "assigned_to filter" "SELECT * FROM applications WHERE assigned_to = '$OFFICER' ORDER BY submitted_at DESC, id DESC LIMIT 21"
explain "reference prefix" "SELECT * FROM applications WHERE reference LIKE 'SKP-2026-00001%' ORDER BY submitted_at DESC, id DESC LIMIT 21"

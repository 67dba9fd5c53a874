#!/usr/bin/env bash
# The scale stage of scripts/perf.sh: a private cluster seeded with 1,000,000 accounts and
# 10,000,000 applications (once; later runs reuse it and report the first seeding's time), then
#   staff queue first page and a 200-page cursor walk   p95 < 10 ms
#   export of an account with 10 applications            p95 < 50 ms
#   an erasure (the staff decision that carries it out)  < 250 ms
#   a retention sweep, and the database size
# with EXPLAIN ANALYZE of the queries that decide them. Prints figures; asserts nothing.
# Usage: scripts/perf-scale.sh   (PERF_SCALE_ACCOUNTS, PERF_SCALE_APPLICATIONS, PERF_SCALE_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS=${PERF_SCALE_ACCOUNTS:-1000000}
APPS=${PERF_SCALE_APPLICATIONS:-10000000}
WORK=${PERF_SCALE_DIR:-/tmp/mynorfolk-scale}
PORT=${PERF_SCALE_PORT:-8098}
BASE="http://127.0.0.1:$PORT"
BIN=target/release/mynorfolk
mkdir -p "$WORK" && chmod 755 "$WORK"
export APP_ENV=development APP_LOG__FILTER=warn PORT
export APP_DATABASE__EMBEDDED_DATA_DIR="$WORK/postgres" APP_EMAIL__OUTBOX_DIR="$WORK/emails"
export APP_LIMITS__SIGN_IN_PER_MINUTE=100000000 APP_LIMITS__SIGN_UP_PER_MINUTE=100000000

cargo build --release --quiet --bin mynorfolk
if [ ! -f "$WORK/seeded-seconds" ]; then
  start=$(date +%s)
  "$BIN" seed --accounts "$ACCOUNTS" --applications "$APPS" > "$WORK/seed.log" 2>&1
  echo $(( $(date +%s) - start )) > "$WORK/seeded-seconds"
fi
if [ ! -f "$WORK/officer" ]; then
  printf 'scale officer passphrase\n' | "$BIN" staff create --name "Scale Officer" \
    --email scale.officer@example.invalid --role admin > /dev/null
  touch "$WORK/officer"
fi

. scripts/perf-lib.sh
serve_private "$WORK"
PSQL=(psql -qtAX -h 127.0.0.1 -p "$PGPORT" -U postgres mynorfolk)
token() { # email password
  curl -sf "$BASE/api/v1/sessions" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
OFFICER=$(token scale.officer@example.invalid 'scale officer passphrase')

# p95 and max of N timed requests, in ms: times METHOD URL TOKEN N [BODY]
times() {
  local method=$1 url=$2 bearer=$3 n=$4 body=${5:-}
  for _ in $(seq "$n"); do
    curl -s -o /dev/null -w '%{time_total}\n' -X "$method" -H "authorization: Bearer $bearer" \
      ${body:+-H 'content-type: application/json' -d "$body"} "$url"
  done | sort -n | awk '{a[NR]=$1*1000} END {printf "%.1f %.1f\n", a[int(NR*0.95)], a[NR]}'
}

read -r QUEUE_P95 QUEUE_MAX < <(times GET "$BASE/api/v1/admin/applications?limit=20" "$OFFICER" 100)
: > "$WORK/pages.txt"
CURSOR=""
for _ in $(seq 200); do
  curl -s -o "$WORK/page.json" -w '%{time_total}\n' -H "authorization: Bearer $OFFICER" \
    "$BASE/api/v1/admin/applications?limit=100${CURSOR:+&cursor=$CURSOR}" >> "$WORK/pages.txt"
  CURSOR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["next_cursor"] or "")' "$WORK/page.json")
done
read -r WALK_P95 WALK_MAX < <(sort -n "$WORK/pages.txt" | awk '{a[NR]=$1*1000} END {printf "%.1f %.1f\n", a[int(NR*0.95)], a[NR]}')

# A resident with 10 applications, through the API; then their export, then their erasure.
rm -rf "$WORK/resident" && mkdir -p "$WORK/resident"
python3 scripts/perf_residents.py "$BASE" "$WORK/emails" "$WORK/resident" 1 10
RESIDENT=$(head -1 "$WORK/resident/tokens.txt")
read -r EXPORT_P95 EXPORT_MAX < <(times GET "$BASE/api/v1/me/export" "$RESIDENT" 100)
REQUEST=$(curl -sf "$BASE/api/v1/me/data-requests" -H "authorization: Bearer $RESIDENT" \
  -H 'content-type: application/json' -d '{"type":"erasure"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
ERASURE_MS=$(curl -s -o "$WORK/erasure.json" -w '%{time_total}' -H "authorization: Bearer $OFFICER" \
  -H 'content-type: application/json' -d '{"decision":"complete"}' \
  "$BASE/api/v1/admin/data-requests/$REQUEST/decisions" | awk '{printf "%.1f", $1*1000}')
ERASED=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("status"))' "$WORK/erasure.json")

# The sweep, by the same binary against the running cluster.
SWEEP_START=$(date +%s%N)
DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/mynorfolk" "$BIN" retention run > "$WORK/sweep.log" 2>&1
SWEEP_MS=$(( ($(date +%s%N) - SWEEP_START) / 1000000 ))
SIZE=$("${PSQL[@]}" -c "SELECT pg_size_pretty(pg_database_size('mynorfolk'))")
COUNTS=$("${PSQL[@]}" -c "SELECT (SELECT count(*) FROM accounts) || ' accounts, ' || (SELECT count(*) FROM applications) || ' applications'")

verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v < t) ? "pass" : "FAIL"}'; }
echo
echo "mynorfolk scale, $(date -u '+%Y-%m-%d %H:%M') UTC, $(hostname), $(nproc) cores: $COUNTS, $SIZE"
echo "seeding (first run)                      $(cat "$WORK/seeded-seconds") s"
printf '%-40s p95 %6.1f ms (max %.1f)   < 10 ms    %s\n' "staff queue, first page of 20" "$QUEUE_P95" "$QUEUE_MAX" "$(verdict "$QUEUE_P95" 10)"
printf '%-40s p95 %6.1f ms (max %.1f)   < 10 ms    %s\n' "cursor walk, 200 pages of 100" "$WALK_P95" "$WALK_MAX" "$(verdict "$WALK_P95" 10)"
printf '%-40s p95 %6.1f ms (max %.1f)   < 50 ms    %s\n' "export, 10 applications" "$EXPORT_P95" "$EXPORT_MAX" "$(verdict "$EXPORT_P95" 50)"
printf '%-40s     %6.1f ms (%s)        < 250 ms   %s\n' "erasure" "$ERASURE_MS" "$ERASED" "$(verdict "$ERASURE_MS" 250)"
printf '%-40s     %6d ms   %s\n' "retention sweep" "$SWEEP_MS" "$(grep -o 'retention sweep done.*' "$WORK/sweep.log" | head -1)"

ACCOUNT=$("${PSQL[@]}" -c "SELECT id FROM accounts WHERE email = 'seed-500000@example.invalid'")
explain() {
  echo "--- $1"
  "${PSQL[@]}" -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $2"
}
explain "queue, first page" "SELECT id, reference, service_code, status, submitted_at FROM applications ORDER BY submitted_at DESC, id DESC LIMIT 21"
explain "queue, a page deep in the walk" "SELECT id, reference, service_code, status, submitted_at FROM applications WHERE (submitted_at, id) < (now() - interval '5 days', '00000000-0000-0000-0000-000000000000') ORDER BY submitted_at DESC, id DESC LIMIT 101"
explain "export: one account's applications" "SELECT * FROM applications WHERE account_id = '$ACCOUNT' ORDER BY submitted_at DESC, id DESC"
explain "export: their events" "SELECT e.* FROM application_events e JOIN applications a ON a.id = e.application_id WHERE a.account_id = '$ACCOUNT'"
explain "erasure: their audit rows" "SELECT count(*) FROM audit_events WHERE subject_id = '$ACCOUNT'"
explain "retention: unverified accounts" "SELECT id FROM accounts WHERE email_verified_at IS NULL AND created_at < now() - interval '7 days' LIMIT 1000"
explain "retention: finished cases to anonymise (a batch)" "SELECT id FROM applications WHERE status IN ('closed', 'withdrawn', 'rejected') AND account_id IS NOT NULL AND coalesce(closed_at, decided_at, updated_at) < now() - interval '6 years' LIMIT 1000"

#!/usr/bin/env bash
# Contract check: runs two outside judges against the OpenAPI document the server actually serves.
#   - Schemathesis (fuzzes every operation and checks the responses against the document), once as
#     a verified resident and once as an admin;
#   - Spectral (lints the document with spectral:oas and the OWASP API Security ruleset, .spectral.yaml);
# then looks for ERROR lines in the server's log. Exits non-zero if any of them failed.
#
# Usage: scripts/contract-check.sh
#   CONTRACT_BIN=path       use this binary, no build (else `cargo build --release`)
#   CONTRACT_PROFILE=dev    build and use the debug binary instead of the release one
#   CONTRACT_SEED=1         Schemathesis seed
#   CONTRACT_BUDGET=60      seconds of Schemathesis per identity
#   CONTRACT_REPORT_DIR=... where the raw outputs are kept (default target/contract-report)
# Tools are installed once into target/contract-tools/ (a Python venv and an npm prefix).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SEED=${CONTRACT_SEED:-1}
BUDGET=${CONTRACT_BUDGET:-60}
TOOLS=$ROOT/target/contract-tools
REPORT=${CONTRACT_REPORT_DIR:-$ROOT/target/contract-report}
SCHEMATHESIS_SPEC='schemathesis>=4,<5'
SPECTRAL_SPECS=('@stoplight/spectral-cli@^6' '@stoplight/spectral-owasp-ruleset@^2')

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'contract-check: %s\n' "$*" >&2; exit 2; }

# --- 1. The binary ------------------------------------------------------------------------------
if [ -n "${CONTRACT_BIN:-}" ]; then
  BIN=$CONTRACT_BIN
elif [ "${CONTRACT_PROFILE:-release}" = dev ]; then
  log "cargo build --bin mynorfolk"
  cargo build --bin mynorfolk
  BIN=${CARGO_TARGET_DIR:-target}/debug/mynorfolk
else
  log "cargo build --release --bin mynorfolk"
  cargo build --release --bin mynorfolk
  BIN=${CARGO_TARGET_DIR:-target}/release/mynorfolk
fi
[ -x "$BIN" ] || die "no executable at $BIN"
BIN=$(realpath "$BIN")

# --- 2. The tools, cached between runs ------------------------------------------------------------
mkdir -p "$TOOLS"
if ! "$TOOLS/venv/bin/python" -c 'import schemathesis, sys; sys.exit(schemathesis.__version__.split(".")[0] != "4")' 2>/dev/null; then
  log "installing $SCHEMATHESIS_SPEC into $TOOLS/venv"
  rm -rf "$TOOLS/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "$SCHEMATHESIS_SPEC"
fi
SPECTRAL=$TOOLS/npm/node_modules/.bin/spectral
if [ ! -x "$SPECTRAL" ] || [ ! -d "$TOOLS/npm/node_modules/@stoplight/spectral-owasp-ruleset" ]; then
  log "installing ${SPECTRAL_SPECS[*]} into $TOOLS/npm"
  npm install --prefix "$TOOLS/npm" --no-audit --no-fund --loglevel=error "${SPECTRAL_SPECS[@]}"
fi
SCHEMATHESIS=$TOOLS/venv/bin/schemathesis

# --- 3. A private server --------------------------------------------------------------------------
tmp=$(mktemp -d)
mkdir -p "$REPORT"
REPORT=$(realpath "$REPORT")
SERVER=""
CLUSTER_DIR=""
cleanup() {
  local status=$?
  if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  # As root the cluster may live outside $tmp (in the postgres user's home, see
  # src/db/embedded_postgres.rs): the start-up line names it; else derive it the way the server does.
  if [ -z "$CLUSTER_DIR" ] && [ "$(id -u)" = 0 ]; then
    local home hash
    home=$(getent passwd postgres | cut -d: -f6 || true)
    hash=$(printf '%s' "$(realpath "$tmp")/postgres" | sha256sum | cut -c1-16)
    [ -n "$home" ] && CLUSTER_DIR=$home/mynorfolk-$hash
  fi
  case "$CLUSTER_DIR" in
    "$tmp"/* | "") ;;
    */mynorfolk-*) rm -rf "$CLUSTER_DIR" "$CLUSTER_DIR.log" ;; # the cluster's log sits beside it
  esac
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export APP_ENV=development
export APP_LOG__FORMAT=json
export APP_DATABASE__EMBEDDED_DATA_DIR=$tmp/postgres
export APP_EMAIL__OUTBOX_DIR=$tmp/emails
export PORT=0
export APP_LIMITS__SIGN_UP_PER_MINUTE=100000
export APP_LIMITS__SIGN_IN_PER_MINUTE=100000
export APP_LIMITS__PASSWORD_RESET_PER_MINUTE=100000
# The fuzzer learns our two addresses from responses and signs in with them and wrong passwords:
# without this, the per-address back-off would lock out the hook's own re-authentication.
export APP_LIMITS__FAILED_SIGN_INS_BEFORE_BACKOFF=100000
export APP_AUTH__ACCESS_TOKEN_TTL_SECS=3600
unset DATABASE_URL SMTP_URL

password() { printf 'contract-%s' "$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"; }
ADMIN_EMAIL=admin@contract.test
ADMIN_PASSWORD=$(password)
RESIDENT_EMAIL=resident@contract.test
RESIDENT_PASSWORD=$(password)

# The admin first: the command starts its own cluster on the same data folder (and runs the
# migrations), which must not run beside the server's.
log "creating the admin account"
printf '%s\n' "$ADMIN_PASSWORD" |
  "$BIN" staff create --name "Contract Admin" --email "$ADMIN_EMAIL" --role admin \
    >"$tmp/staff.out" 2>"$tmp/staff.log" || { cat "$tmp/staff.out" "$tmp/staff.log" >&2; die "staff create failed"; }

log "starting $BIN"
"$BIN" serve >"$tmp/server.out" 2>"$tmp/server.log" &
SERVER=$!
for _ in $(seq 600); do
  grep -q 'listening on' "$tmp/server.out" && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$tmp/server.out" "$tmp/server.log" >&2; die "the server did not start"; }
  sleep 0.2
done
line=$(grep -m1 'listening on' "$tmp/server.out") || die "no start-up line after 120 s"
printf '%s\n' "$line" >&2
base=$(printf '%s' "$line" | grep -o 'http://[0-9.]*:[0-9]*')
CLUSTER_DIR=$(printf '%s' "$line" | sed -n 's/.*data in \(.*\) (port [0-9]*).*/\1/p')

json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
sign_in() { # email password -> access token
  curl -fsS "$base/api/v1/sessions" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | json_field access_token
}

# --- 4. A verified resident, and both tokens ------------------------------------------------------
log "signing up and verifying $RESIDENT_EMAIL"
status=$(curl -sS -o "$tmp/sign-up.json" -w '%{http_code}' "$base/api/v1/accounts" \
  -H 'content-type: application/json' \
  -d "{\"name\":\"Contract Resident\",\"email\":\"$RESIDENT_EMAIL\",\"password\":\"$RESIDENT_PASSWORD\",\"accept_terms\":true}")
[ "$status" = 202 ] || { cat "$tmp/sign-up.json" >&2; die "sign-up answered $status, not 202"; }
# The email worker writes the .eml within a poll interval; the token is the `token` parameter of
# the link <frontend_url>/verify-email?token=… (src/accounts.rs, templates/verify_email.txt).
token=""
for _ in $(seq 150); do
  token=$(python3 - "$tmp/emails" "$RESIDENT_EMAIL" <<'PY'
import email, email.policy, pathlib, re, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.eml")):
    try:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if sys.argv[2] not in str(message["To"] or ""):
            continue
        body = message.get_body(preferencelist=("plain",)).get_content()
    except Exception:
        continue  # still being written
    found = re.search(r"/verify-email\?token=([A-Za-z0-9_-]+)", body)
    if found:
        print(found.group(1))
        break
PY
)
  [ -n "$token" ] && break
  sleep 0.2
done
[ -n "$token" ] || die "no verification email for $RESIDENT_EMAIL in $tmp/emails"
curl -fsS -o /dev/null "$base/api/v1/accounts/verify" -H 'content-type: application/json' \
  -d "{\"token\":\"$token\"}" || die "verifying the resident failed"
RESIDENT_TOKEN=$(sign_in "$RESIDENT_EMAIL" "$RESIDENT_PASSWORD") || die "the resident cannot sign in"
ADMIN_TOKEN=$(sign_in "$ADMIN_EMAIL" "$ADMIN_PASSWORD") || die "the admin cannot sign in"

# --- 5. Schemathesis --------------------------------------------------------------------------------
# Authentication comes from scripts/contract_hooks.py rather than a fixed `-H Authorization`: the
# fuzzer calls DELETE /api/v1/sessions/current and DELETE /api/v1/me/sessions/{id} too, which end its
# own session; the hook signs in again on a 401 and replays the request, so those operations stay
# under test instead of being excluded.
fuzz() { # who email password token [extra schemathesis options] -> exit status of schemathesis
  local who=$1 email=$2 password=$3 token=$4
  shift 4
  log "schemathesis as $who (seed $SEED, $BUDGET s)"
  mkdir -p "$REPORT/schemathesis-$who" "$tmp/schemathesis-$who"
  set +e
  # Run from a scratch folder: Schemathesis keeps a cache of past failures in ./.schemathesis/,
  # which must not land in the repository (nor replay one identity's failures as the other).
  (cd "$tmp/schemathesis-$who" && CONTRACT_BASE=$base CONTRACT_EMAIL=$email CONTRACT_PASSWORD=$password CONTRACT_TOKEN=$token \
    SCHEMATHESIS_HOOKS=$ROOT/scripts/contract_hooks.py \
    "$SCHEMATHESIS" --config-file "$ROOT/scripts/schemathesis.toml" run "$base/openapi.json" \
    --checks all --seed "$SEED" --max-time "$BUDGET" \
    --generation-database none --no-color \
    --report junit,ndjson --report-dir "$REPORT/schemathesis-$who" "$@" \
    >"$REPORT/schemathesis-$who.txt" 2>&1)
  local status=$?
  set -e
  return $status
}
summary_line() { # the closing line of a schemathesis run
  grep -E '^=+ .* =+$' "$1" | tail -1 | sed -E 's/^=+ (.*) =+$/\1/' || true
}
st_status() { [ "$1" = 0 ] && echo passed || echo "FAILED (exit $1)"; }

fuzz resident "$RESIDENT_EMAIL" "$RESIDENT_PASSWORD" "$RESIDENT_TOKEN" && resident_rc=0 || resident_rc=$?
resident_summary=$(summary_line "$REPORT/schemathesis-resident.txt")
log "resident: $resident_summary"
# As admin, the stateful phase files an erasure request for its own account (POST
# /api/v1/me/data-requests) and then completes it from the staff queue: the admin is erased and the
# rest of the run is 401s. The resident run covers that operation; the admin decides the resident's.
fuzz admin "$ADMIN_EMAIL" "$ADMIN_PASSWORD" "$ADMIN_TOKEN" --exclude-operation-id create_data_request \
  && admin_rc=0 || admin_rc=$?
admin_summary=$(summary_line "$REPORT/schemathesis-admin.txt")
log "admin: $admin_summary"

# --- 6. Spectral -------------------------------------------------------------------------------------
log "spectral"
curl -fsS "$base/openapi.json" -o "$tmp/openapi.json"
cp "$tmp/openapi.json" "$REPORT/openapi.json"
# Spectral resolves `extends: [<npm package>]` from the ruleset's own folder, so the ruleset is
# read from beside the cached node_modules.
cp .spectral.yaml "$TOOLS/npm/.spectral.yaml"
set +e
"$SPECTRAL" lint "$tmp/openapi.json" --ruleset "$TOOLS/npm/.spectral.yaml" --fail-severity error \
  -f json -f text --output.json "$REPORT/spectral.json" --output.text "$REPORT/spectral.txt" \
  >/dev/null 2>"$REPORT/spectral.err"
spectral_rc=$?
set -e
if [ -s "$REPORT/spectral.json" ]; then
  read -r spectral_errors spectral_warnings < <(python3 - "$REPORT/spectral.json" <<'PY'
import collections, json, sys
results = json.load(open(sys.argv[1]))
names = {0: "error", 1: "warning", 2: "info", 3: "hint"}
counts = collections.Counter((r["severity"], r["code"]) for r in results)
for (severity, code), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1])):
    print(f"  {names[severity]:7} {n:4}  {code}", file=sys.stderr)
print(sum(1 for r in results if r["severity"] == 0), sum(1 for r in results if r["severity"] == 1))
PY
)
else
  cat "$REPORT/spectral.err" >&2
  spectral_errors="?" spectral_warnings="?"
fi
spectral_failed=0
[ "$spectral_rc" = 0 ] || spectral_failed=1

# --- 7. The server's own complaints ----------------------------------------------------------------
kill -TERM "$SERVER" 2>/dev/null || true
wait "$SERVER" 2>/dev/null || true
SERVER=""
cp "$tmp/server.log" "$tmp/server.out" "$REPORT/"
server_errors=$(grep -c '"level":"ERROR"' "$tmp/server.log" || true)
if [ "$server_errors" != 0 ]; then
  # One short line each (a captured backtrace can run to hundreds of kilobytes); the full lines
  # stay in $REPORT/server.log.
  log "server ERROR lines (in full in $REPORT/server.log):"
  python3 - "$tmp/server.log" >&2 <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if '"level":"ERROR"' not in line:
        continue
    e = json.loads(line)
    span = e.get("span") or {}
    where = " ".join(str(span[k]) for k in ("method", "route", "status") if k in span)
    error = str(e.get("error", "")).split("\n")[0]
    text = f"  {e.get('timestamp', '')} {e.get('target', '')}: {e.get('message', '')}"
    print(text + (f": {error}" if error else "") + (f" [{where}]" if where else ""))
PY
fi

# --- 8. Verdict ---------------------------------------------------------------------------------------
failed=0
[ "$resident_rc" = 0 ] || failed=1
[ "$admin_rc" = 0 ] || failed=1
[ "$spectral_failed" = 0 ] || failed=1
[ "$server_errors" = 0 ] || failed=1
cat <<EOF

===== contract check =====
schemathesis, resident: $(st_status "$resident_rc") — $resident_summary
schemathesis, admin:    $(st_status "$admin_rc") — $admin_summary
spectral:               $([ "$spectral_failed" = 0 ] && echo passed || echo "FAILED (exit $spectral_rc)") — $spectral_errors errors, $spectral_warnings warnings
server ERROR lines:     $server_errors
raw outputs:            $REPORT
verdict:                $([ "$failed" = 0 ] && echo PASS || echo FAIL)
EOF
exit "$failed"

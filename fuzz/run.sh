#!/usr/bin/env bash
# Fuzzes the REST API against its own OpenAPI document with Schemathesis:
# starts the given Countersign binary on a fresh embedded database, creates an
# admin, an agent, a manager and a helpdesk integration acting for an agent,
# and runs every check as each of them for FUZZ_SECONDS (default 45) apiece.
# Fails on any failure. Usage: fuzz/run.sh [path/to/countersign]
#
# Needs `schemathesis` on PATH (.ci/run installs the pinned version in a venv)
# and a local PostgreSQL installation (as for `cargo run`).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/countersign}
SECONDS_EACH=${FUZZ_SECONDS:-45}
PORT=${FUZZ_PORT:-18399}
URL="http://127.0.0.1:$PORT"
command -v schemathesis >/dev/null || { echo "fuzz: schemathesis is not on PATH" >&2; exit 2; }

WORK=$(mktemp -d /tmp/countersign-fuzz.XXXXXX)
chmod 755 "$WORK"
export COUNTERSIGN_DATABASE__URL= DATABASE_URL= COUNTERSIGN_DATABASE__DATA_DIR="$WORK/data"
export COUNTERSIGN_SECRETS__KEY_FILE="$WORK/secrets.key"
export COUNTERSIGN_SERVER__ADDR="127.0.0.1:$PORT" RUST_LOG=warn
"$BIN" >"$WORK/service.log" 2>&1 &
SERVICE=$!
cleanup() {
    kill "$SERVICE" 2>/dev/null && wait "$SERVICE" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 150); do
    curl -sf "$URL/readyz" >/dev/null && break
    kill -0 "$SERVICE" 2>/dev/null || { cat "$WORK/service.log"; exit 1; }
    sleep 0.2
done

# The identities, created through the API as an admin would.
ADMIN=$("$BIN" bootstrap-admin --email fuzz-admin@example.com --name "Fuzz Admin" 2>>"$WORK/service.log")
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
api() { curl -sf -H "Authorization: Bearer $ADMIN" -H "Content-Type: application/json" "$@"; }
person() { # name role external_id → token
    local id
    id=$(api "$URL/v1/employees" -d "{\"name\":\"$1\",\"email\":\"$1@example.com\",\"role\":\"$2\",\"external_id\":\"$3\"}" | json '["id"]')
    api "$URL/v1/employees/$id/tokens" -d '{}' | json '["token"]'
}
AGENT=$(person fuzz-agent agent fz-agent)
person fuzz-peer agent fz-peer >/dev/null
MANAGER=$(person fuzz-manager manager fz-manager)
INTEGRATION=$(api "$URL/v1/integrations" -d '{"name":"fuzz helpdesk","kind":"generic"}' | json '["token"]')

failed=0
fuzz() { # label, token, then extra arguments
    local label=$1
    export FUZZ_TOKEN=$2
    shift 2
    echo "== schemathesis as $label ($SECONDS_EACH s)"
    if schemathesis --config-file fuzz/schemathesis.toml run "$URL/openapi.json" --checks all \
        --max-time "$SECONDS_EACH" "$@" >"$WORK/$label.txt" 2>&1; then
        grep -E "API Links|generated" "$WORK/$label.txt"
    else
        failed=1
        cat "$WORK/$label.txt"
    fi
}
fuzz admin "$ADMIN"
fuzz agent "$AGENT"
fuzz manager "$MANAGER"
fuzz integration "$INTEGRATION" -H "Countersign-On-Behalf-Of: fz-agent"
if grep -qE "panicked|internal error" "$WORK/service.log"; then
    echo "fuzz: the service logged a panic or an internal error:" >&2
    grep -E "panicked|internal error" "$WORK/service.log" | head -20 >&2
    failed=1
fi
exit $failed

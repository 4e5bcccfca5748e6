#!/usr/bin/env bash
# Times each review report over HTTP against the release service on a seeded
# database, and the exceptions export's peak memory. Prints figures; asserts
# nothing. Usage (loopback only, a database of its own):
#   createdb countersign_seed
#   DATABASE_URL=postgres://…/countersign_seed cargo run --release -- seed --proposals 1000000
#   DATABASE_URL=postgres://…/countersign_seed bench/reports.sh [binary] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/countersign}
RUNS=${2:-5}
: "${DATABASE_URL:?set DATABASE_URL to the seeded database}"
[ -x "$BIN" ] || cargo build --release
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
export COUNTERSIGN_SERVER__ADDR="127.0.0.1:$PORT" COUNTERSIGN_SECRETS__KEY=${COUNTERSIGN_SECRETS__KEY:-$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')}
export RUST_LOG=${RUST_LOG:-warn}

# The figures of settled days and months, as the rollup worker keeps them
# (the first time: a year of days; later: only what changed).
"$BIN" store-report-figures
ADMIN=$("$BIN" bootstrap-admin --email bench-admin@seed.example --name "Bench Admin")
"$BIN" > /tmp/countersign-reports-bench.log 2>&1 &
SERVICE=$!
trap 'kill $SERVICE 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "$BASE/readyz" >/dev/null && break; sleep 0.1; done
MANAGER_ID=$(curl -fsS "$BASE/v1/employees" -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' \
    -d "{\"name\":\"Bench Manager\",\"email\":\"bench-manager-$PORT@seed.example\",\"role\":\"manager\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
TOKEN=$(curl -fsS "$BASE/v1/employees/$MANAGER_ID/tokens" -H "authorization: Bearer $ADMIN" \
    -H 'content-type: application/json' -d '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

PROPOSALS=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM proposals")
YEAR="from=$(date -u -d '-366 days' +%Y-%m-%dT%H:%M:%SZ)&to=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "proposals in the database: $PROPOSALS; $RUNS runs each, after one warm-up; seconds"
printf '%-58s %8s %8s %8s %8s\n' report min median max rows
time_it() { # label path accept
    local times=() rows
    curl -fsS -o /dev/null "$BASE$2" -H "authorization: Bearer $TOKEN" -H "accept: $3"
    for _ in $(seq "$RUNS"); do
        times+=("$(curl -fsS -o /tmp/countersign-report.out -w '%{time_total}' "$BASE$2" \
            -H "authorization: Bearer $TOKEN" -H "accept: $3")")
    done
    if [ "$3" = application/json ]; then
        rows=$(python3 -c 'import json; d=json.load(open("/tmp/countersign-report.out")); print(len(d.get("groups", d.get("items", d.get("by_hour", [])))))')
    else
        rows=$(($(wc -l < /tmp/countersign-report.out) - 1))
    fi
    printf '%s\n' "${times[@]}" | sort -n | awk -v label="$1" -v rows="$rows" \
        '{t[NR]=$1} END {printf "%-58s %8.3f %8.3f %8.3f %8s\n", label, t[1], t[int((NR+1)/2)], t[NR], rows}'
}
for group in category policy_ref team proposer cosigner; do
    time_it "summary group_by=$group (last 30 days)" "/v1/reports/summary?group_by=$group" application/json
    time_it "summary group_by=$group (the whole year)" "/v1/reports/summary?group_by=$group&$YEAR" application/json
done
time_it "summary.csv group_by=category (the whole year)" "/v1/reports/summary.csv?$YEAR" text/csv
for report in policy-candidates cosign-pairs waiting; do
    time_it "$report (last 30 days)" "/v1/reports/$report" application/json
    time_it "$report (the whole year)" "/v1/reports/$report?$YEAR" application/json
done

rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVICE/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$SERVICE/status"; }
BEFORE=$(rss)
START=$(date +%s.%N)
BYTES=$(curl -fsS "$BASE/v1/reports/exceptions.csv?$YEAR" -H "authorization: Bearer $TOKEN" | wc -c)
END=$(date +%s.%N)
echo "exceptions.csv (the whole year): $BYTES bytes in $(python3 -c "print(round($END - $START, 2))") s;" \
     "service RSS $((BEFORE / 1024)) MB before, peak $(( $(hwm) / 1024 )) MB (VmHWM, whole run)"

#!/usr/bin/env bash
# Call filters benchmark (docs/BENCHMARKS.md "Issue 12: call filters"): how fast the real
# daemon answers GET /v1/calls with each filter of the calls page over a tenant of many calls.
#
#   bench/query/run.sh            (BENCH_CALLS=1000000 bench/query/run.sh for a quick run)
#
# Phases, all on 127.0.0.1:
#   1. build a Release callhook in $BENCH_BUILD_DIR (or take $BENCH_BIN), a fresh database in a
#      temp dir under it, tenant "bench" (country 972) and an API key, made by the binary itself
#      so the schema, indexes and triggers are its own;
#   2. fill BENCH_CALLS calls of that tenant straight into the file with bench/query/fill.c
#      (one prepared INSERT, one transaction per 100,000 rows; the indexes of calls and the text
#      index built in bulk after it, as the migrations do);
#   3. start `callhook serve` on the file and ask each filter BENCH_N times, one request at a
#      time (bench/query/query.mjs), after one warm-up request: p50/p99 per filter;
#   4. stop the daemon, remove the temp dir (BENCH_KEEP=1 keeps it).
# Prints a table, writes it to bench/results/query-<time>.md and puts it into the
# "Issue 12: call filters" section of docs/BENCHMARKS.md (BENCH_UPDATE_DOCS=0 to skip).
#
# Environment (defaults):
#   BENCH_CALLS=10000000 BENCH_N=200 BENCH_BUILD_DIR=build-bench BENCH_BIN= (a built callhook)
#   BENCH_UPDATE_DOCS=1 BENCH_KEEP=0 BENCH_LABEL= (a note for the table's heading)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/bench/query

CALLS=${BENCH_CALLS:-10000000}
N=${BENCH_N:-200}
BUILD_DIR=${BENCH_BUILD_DIR:-build-bench}
BIN=${BENCH_BIN:-}
UPDATE_DOCS=${BENCH_UPDATE_DOCS:-1}
KEEP=${BENCH_KEEP:-0}
LABEL=${BENCH_LABEL:-}
TARGET_P99_MS=20

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
missing=()
for t in cc cmake node curl; do command -v "$t" >/dev/null || missing+=("$t"); done
[ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]} (scripts/deps.sh test installs them)"

make_run_dir bench-query

if [ -z "$BIN" ]; then
    say "bench: building callhook (Release) in $BUILD_DIR/rel"
    if ! { cmake -S . -B "$BUILD_DIR/rel" -DCMAKE_BUILD_TYPE=Release &&
        cmake --build "$BUILD_DIR/rel" -j2 --target callhook; } >"$TMP/build.log" 2>&1; then
        tail -n 30 "$TMP/build.log" >&2
        die "build failed"
    fi
    BIN=$ROOT/$BUILD_DIR/rel/callhook
fi
cc -O2 -Wall -Wextra -I"$ROOT/src" -o "$TMP/fill" "$HERE/fill.c" -lsqlite3 || die "cannot build fill.c"

DB=$TMP/db.sqlite
"$BIN" tenant add bench --features none --country 972 --db "$DB" --json >"$TMP/tenant.json" ||
    die "tenant add failed"
"$BIN" apikey add bench --db "$DB" --json >"$TMP/apikey.json" || die "apikey add failed"
TENANT_ID=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).id)' "$TMP/tenant.json")
API_KEY=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).api_key)' "$TMP/apikey.json")

say "bench: filling $CALLS calls into $DB"
fill_start=$(date +%s)
"$TMP/fill" "$DB" "$TENANT_ID" "$CALLS" 1 >"$TMP/vars.sh" || die "fill failed"
fill_s=$(($(date +%s) - fill_start))
# shellcheck disable=SC1091
. "$TMP/vars.sh"
# the first open of the database by the binary brings the text index up to date with the
# calls written behind its back (issue 12: calls_fts_dirty), as after `callhook import`
index_start=$(date +%s)
"$BIN" tenant list --db "$DB" --json >/dev/null || die "callhook cannot open the database"
index_s=$(($(date +%s) - index_start))
db_mb=$(($(stat -c %s "$DB") / 1048576))
say "bench: filled in ${fill_s} s, then opened in ${index_s} s, database ${db_mb} MiB"

CH_PORT=$(pick_port)
"$BIN" serve --db "$DB" --listen "127.0.0.1:$CH_PORT" --log-level warn >"$TMP/callhook.log" 2>&1 &
CH_PID=$!
ready=0
for _ in $(seq 600); do
    kill -0 "$CH_PID" 2>/dev/null || break
    if curl -fsS -o /dev/null "http://127.0.0.1:$CH_PORT/readyz" 2>/dev/null; then ready=1; break; fi
    sleep 0.1
done
[ "$ready" = 1 ] || { tail -n 20 "$TMP/callhook.log" >&2; die "callhook did not become ready"; }

enc() { node -e 'console.log(encodeURIComponent(process.argv[1]))' "$1"; }
# a day in the middle of the two years the calls span (fill.c)
DAY=$((1733000000 - 365 * 86400))
FILTERS=(
    "newest page|limit=50"
    "number, busy (E.164)|number=$(enc "$BUSY_E164")"
    "number, busy (as the PBX wrote it)|number=$(enc "$BUSY_RAW")"
    "number, few calls|number=$(enc "$QUIET_E164")"
    "number, no calls|number=$(enc "$NONE_NUMBER")"
    "company number (most calls)|number=$(enc "$COMPANY")"
    "extension|extension=$EXTENSION"
    "extension, no calls|extension=9999"
    "text, common (invoice)|q=invoice"
    "text, Hebrew (הזמנה)|q=$(enc 'הזמנה')"
    "text, uncommon (walrus)|q=walrus"
    "text, rare (zebrafish)|q=zebrafish"
    "text, no match|q=xylophone"
    "provider|provider=twilio"
    "provider, rare|provider=bolna"
    "delivery failed|delivery=failed"
    "direction + disposition|direction=outbound&disposition=busy"
    "direction + disposition, rare|direction=internal&disposition=canceled"
    "time range (one day)|since=$DAY&until=$((DAY + 86400))"
    "number + text|number=$(enc "$BUSY_E164")&q=invoice"
)
say "bench: asking each of ${#FILTERS[@]} filters $N times"
node "$HERE/query.mjs" "$CH_PORT" "$API_KEY" "$N" "${FILTERS[@]}" >"$TMP/results.jsonl" ||
    die "queries failed"
stop_pid "$CH_PID" TERM
CH_PID=""

# ---- the table -----------------------------------------------------------------------------
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
when=$(date -u +%Y-%m-%dT%H:%MZ)
table=$(node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const target = Number(process.argv[2]);
console.log("| filter | query | calls on the page | p50 ms | p99 ms | p99 within " + target + " ms |");
console.log("|---|---|---:|---:|---:|---|");
for (const r of lines)
  console.log(`| ${r.name} | \`${decodeURIComponent(r.query)}\` | ${r.calls} | ${r.p50_ms} | ${r.p99_ms} | ${r.p99_ms <= target ? "yes" : "**no**"} |`);
' "$TMP/results.jsonl" "$TARGET_P99_MS")
heading="$when, commit $commit${LABEL:+, $LABEL}: $CALLS calls of one tenant, database ${db_mb} MiB (filled in ${fill_s} s, text index ${index_s} s), $N requests per filter, one at a time"
report="#### $heading

$table"
printf '%s\n' "$report"
mkdir -p "$ROOT/bench/results"
printf '%s\n' "$report" >"$ROOT/bench/results/query-$(date -u +%Y%m%dT%H%M%SZ).md"

if [ "$UPDATE_DOCS" = 1 ]; then
    # appended at the end of the section "## Issue 12: call filters" (made when missing)
    node -e '
const fs = require("fs");
const [file, report] = [process.argv[1], process.argv[2]];
let doc = fs.readFileSync(file, "utf8");
const head = "## Issue 12: call filters (`bench/query`)";
if (!doc.includes(head)) doc = doc.replace(/\n*$/, "\n\n" + head + "\n\nRuns of bench/query/run.sh, newest last.\n");
const start = doc.indexOf(head);
const next = doc.indexOf("\n## ", start + head.length);
const at = next < 0 ? doc.length : next;
doc = doc.slice(0, at).replace(/\n*$/, "\n\n") + report + "\n" + (next < 0 ? "" : "\n" + doc.slice(at + 1));
fs.writeFileSync(file, doc);
' "$ROOT/docs/BENCHMARKS.md" "$report"
    say "bench: docs/BENCHMARKS.md updated"
fi

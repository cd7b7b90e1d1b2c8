#!/usr/bin/env bash
# The non-audio stages' throughput through the real daemon (docs/BENCHMARKS.md, "Issue 11"):
# builds a Release callhook, then bench/pipeline/stages.mjs posts BENCH_CALLS ended calls with
# a provider transcript to a tenant with enrichment on and a BENCH_DICT-entry dictionary, and
# times the summary, fields and sentiment stages until every call's call.completed exists.
#
#   bench/pipeline/stages.sh                       (2000 calls: well under a minute here)
#   BENCH_CALLS=5000 CALLHOOK_ENRICH_THREADS=4 bench/pipeline/stages.sh
#
# Environment (defaults): BENCH_CALLS=2000 BENCH_DICT=200 BENCH_CONCURRENCY=16 (posts in
# flight) BENCH_TIMEOUT=600 (s; the run gives up after it) BENCH_BUILD_DIR=build BENCH_KEEP=0;
# CALLHOOK_ENRICH_* are passed to `callhook serve`. Everything on 127.0.0.1; the daemon and the
# webhook receiver are stopped by the script, the temp dir (beside the build) removed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD_DIR=${BENCH_BUILD_DIR:-build}
KEEP=${BENCH_KEEP:-0}
for t in node sqlite3 cmake; do
    command -v "$t" >/dev/null || { echo "bench: missing $t (scripts/deps.sh test installs it)" >&2; exit 1; }
done
echo "bench: building callhook (Release) in $BUILD_DIR" >&2
if ! { cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release && cmake --build "$BUILD_DIR" -j2 --target callhook; } >"/tmp/stages-build.$$.log" 2>&1; then
    tail -n 40 "/tmp/stages-build.$$.log" >&2
    exit 1
fi
rm -f "/tmp/stages-build.$$.log"
TMP=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/$BUILD_DIR}/stages-bench.XXXXXX")
[ "$KEEP" = 1 ] && trap 'echo "bench: kept $TMP" >&2' EXIT || trap 'rm -rf "$TMP"' EXIT
timeout $((${BENCH_TIMEOUT:-600} + 60)) node bench/pipeline/stages.mjs "$ROOT/$BUILD_DIR/callhook" "$TMP"

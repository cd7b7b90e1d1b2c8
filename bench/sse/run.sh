#!/usr/bin/env bash
# Live-updates benchmark (docs/BENCHMARKS.md "Issue 12: live updates"): BENCH_STREAMS concurrent
# GET /v1/stream clients on 127.0.0.1 while calls are ingested at BENCH_RATE calls/s; the time
# from each POST's acknowledgement to its event reaching every stream of its tenant (p50/p99),
# the daemon's RSS before, during and after, and the streams dropped.
#
#   bench/sse/run.sh
#
# Phases, each bounded in time:
#   1. a Release build, a fresh database in a temp dir, BENCH_TENANTS tenants each with a generic
#      source and an API key; callhook started with room for the streams (server.max_streams,
#      max_conns_per_addr: every client is 127.0.0.1) and the process's open-file limit raised;
#   2. bench/sse/sse.mjs clients: BENCH_STREAMS streams spread evenly over the tenants (a plain
#      node:http SSE reader, no library); RSS with the streams open and idle;
#   3. bench/sse/sse.mjs load: an open-loop loader, one new call every 1/BENCH_RATE s for
#      BENCH_DURATION s, tenants in turn; RSS sampled every second;
#   4. BENCH_DRAIN s for the last events, then the clients stop; RSS after; /metrics;
#   5. the report: per call, (last stream's arrival − POST acknowledgement), clamped at 0 (the
#      event is published before the writer answers, so it can arrive first: counted apart), and
#      (last arrival − send). Every time is the wall clock of the same machine.
# Prints a summary, writes bench/results/sse-<time>.md and appends a row to docs/BENCHMARKS.md
# (BENCH_UPDATE_DOCS=0 to skip).
#
# Environment (defaults):
#   BENCH_STREAMS=1000 BENCH_TENANTS=100 BENCH_RATE=1000 BENCH_DURATION=20 BENCH_DRAIN=5
#   BENCH_BUILD_DIR=build-release BENCH_UPDATE_DOCS=1 BENCH_KEEP=0 (1: keep the temp dir)
#   CALLHOOK_* are passed through to `callhook serve` (docs/cli.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/bench/sse

STREAMS=${BENCH_STREAMS:-1000}
TENANTS=${BENCH_TENANTS:-100}
RATE=${BENCH_RATE:-1000}
DURATION=${BENCH_DURATION:-20}
DRAIN=${BENCH_DRAIN:-5}
BUILD_DIR=${BENCH_BUILD_DIR:-build-release}
UPDATE_DOCS=${BENCH_UPDATE_DOCS:-1}
KEEP=${BENCH_KEEP:-0}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
CL_PID="" LD_PID=""
for t in node cmake curl timeout; do command -v "$t" >/dev/null || die "missing $t (scripts/deps.sh test)"; done
[ "$TENANTS" -ge 1 ] && [ "$STREAMS" -ge "$TENANTS" ] || die "BENCH_STREAMS must be at least BENCH_TENANTS"

# every stream is a socket on both ends (the clients and the daemon): a 1,024 soft limit is
# not enough for 1,000 streams
want_fd=$((STREAMS + 2048))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fd" ]; then
    ulimit -n "$want_fd" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((STREAMS + 256)) ] ||
    die "the open-file limit is $(ulimit -n) (hard $(ulimit -Hn)): too low for $STREAMS streams"

make_run_dir sse-tmp
bench_cleanup() {
    stop_pid "$LD_PID" TERM
    stop_pid "$CL_PID" KILL
    cleanup
}
trap bench_cleanup EXIT

# ---- 1. build, tenants, server --------------------------------------------------------------
say "bench: building callhook (Release) in $BUILD_DIR"
if ! { cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release && cmake --build "$BUILD_DIR" -j2 --target callhook; } >"$TMP/build.log" 2>&1; then
    tail -n 40 "$TMP/build.log" >&2
    die "build failed"
fi
BIN=$ROOT/$BUILD_DIR/callhook
DB=$TMP/bench.db
say "bench: $TENANTS tenants"
: >"$TMP/keys"
for i in $(seq "$TENANTS"); do
    slug=t$i
    token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    "$BIN" tenant add "$slug" --features none --db "$DB" --json >/dev/null || die "tenant add failed"
    "$BIN" source add "$slug" generic --token "$token" --db "$DB" --json >/dev/null || die "source add failed"
    key=$("$BIN" apikey add "$slug" --db "$DB" --json | sed -n 's/.*"api_key": *"\([^"]*\)".*/\1/p')
    [ -n "$key" ] || die "no API key for $slug"
    echo "$slug $key $token" >>"$TMP/keys"
done

CH_PORT=$(pick_port)
CALLHOOK_SERVER_MAX_STREAMS=${CALLHOOK_SERVER_MAX_STREAMS:-$((STREAMS + 100))} \
CALLHOOK_MAX_CONNS_PER_ADDR=${CALLHOOK_MAX_CONNS_PER_ADDR:-$((STREAMS + 1000))} \
    "$BIN" serve --db "$DB" --listen "127.0.0.1:$CH_PORT" --log-level warn >"$TMP/callhook.log" 2>&1 &
CH_PID=$!
for _ in $(seq 150); do
    curl -fsS "http://127.0.0.1:$CH_PORT/readyz" >/dev/null 2>&1 && break
    kill -0 "$CH_PID" 2>/dev/null || { cat "$TMP/callhook.log" >&2; die "callhook exited"; }
    sleep 0.1
done
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$CH_PID/status"; }
metric() { curl -fsS "http://127.0.0.1:$CH_PORT/metrics" | sed -n "s/^$1 //p"; }
RSS_BEFORE=$(rss_kb)
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)

# ---- 2. streams -----------------------------------------------------------------------------
say "bench: opening $STREAMS streams"
node "$HERE/sse.mjs" clients "$CH_PORT" "$TMP/keys" "$STREAMS" "$TMP/clients.json" >"$TMP/clients.log" 2>&1 &
CL_PID=$!
for _ in $(seq 600); do
    grep -q '^READY' "$TMP/clients.log" && break
    kill -0 "$CL_PID" 2>/dev/null || { cat "$TMP/clients.log" >&2; die "the clients exited"; }
    sleep 0.1
done
grep -q '^READY' "$TMP/clients.log" || die "the streams did not all open in 60 s ($(metric callhook_stream_open) open)"
sleep 1
RSS_IDLE=$(rss_kb)
OPEN=$(metric callhook_stream_open)
say "bench: $OPEN streams open; RSS $RSS_BEFORE kB before, $RSS_IDLE kB with the streams idle"

# ---- 3. load --------------------------------------------------------------------------------
say "bench: $RATE calls/s for $DURATION s"
CPU0=$(awk '{ print $14 + $15 }' "/proc/$CH_PID/stat")
node "$HERE/sse.mjs" load "$CH_PORT" "$TMP/keys" "$RATE" "$DURATION" "$TMP/load.json" >"$TMP/load.log" 2>&1 &
LD_PID=$!
RSS_MAX=0
for _ in $(seq $((DURATION + 40))); do
    kill -0 "$LD_PID" 2>/dev/null || break
    r=$(rss_kb)
    [ "$r" -gt "$RSS_MAX" ] && RSS_MAX=$r
    sleep 1
done
# the machine's load (1-minute average) at the end of the load phase, this run included: on a
# 2-CPU machine shared with other work, above 3 or so means callhook waited for a CPU
LOAD_END=$(cut -d' ' -f1 /proc/loadavg)
wait "$LD_PID" || { cat "$TMP/load.log" >&2; die "the loader failed"; }
LD_PID=""
CPU1=$(awk '{ print $14 + $15 }' "/proc/$CH_PID/stat")
sleep "$DRAIN"
RSS_DRAINED=$(rss_kb)
DROPPED=$(metric callhook_stream_dropped_slow_total)
EVENTS=$(metric callhook_stream_events_total)
BUILT=$(metric callhook_stream_events_built_total)
# the daemon's own share: commit → event queued on the streams (callhook_stream_lag_seconds),
# as the upper bound of the bucket that holds the p50 / p99
lag_q() {
    curl -fsS "http://127.0.0.1:$CH_PORT/metrics" | awk -v q="$1" '
        /^callhook_stream_lag_seconds_bucket/ { match($0, /le="[^"]*"/); le[n] = substr($0, RSTART + 4, RLENGTH - 5); c[n++] = $2 }
        END { for (i = 0; i < n; i++) if (c[i] >= q * c[n - 1]) { print (le[i] == "+Inf" ? "+Inf" : "<= " le[i] * 1000 " ms"); exit } }'
}
LAG_P50=$(lag_q 0.5)
LAG_P99=$(lag_q 0.99)
kill -TERM "$CL_PID"
wait "$CL_PID" 2>/dev/null || true
CL_PID=""
for _ in $(seq 100); do [ "$(metric callhook_stream_open)" = 0 ] && break; sleep 0.2; done
sleep 1
RSS_AFTER=$(rss_kb)

# ---- 5. report ------------------------------------------------------------------------------
node "$HERE/sse.mjs" report "$TMP/load.json" "$TMP/clients.json" "$STREAMS" "$TENANTS" >"$TMP/report.txt" || die "report failed"
LINE=$(grep '^BENCH ' "$TMP/report.txt")
kv() { printf '%s\n' "$LINE" | sed -n "s/.*\b$1=\([^ ]*\).*/\1/p"; }
CPU_PCT=$(calc "\"%.0f\", ($CPU1 - $CPU0) * 100 / $(getconf CLK_TCK) / $DURATION")
mb() { calc "\"%.0f\", $1 / 1024"; }
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
say ""
say "$LINE"
say "streams $OPEN over $TENANTS tenants ($((STREAMS / TENANTS)) per tenant); ingest $(kv achieved_rate)/s of $RATE/s asked"
say "ack → all streams of the tenant: p50 $(kv ack_p50_ms) ms, p99 $(kv ack_p99_ms) ms, max $(kv ack_max_ms) ms ($(kv before_ack) events reached all before the ack)"
say "send → all streams: p50 $(kv send_p50_ms) ms, p99 $(kv send_p99_ms) ms; complete $(kv complete), partial $(kv partial), missing $(kv missing)"
say "in the daemon, commit → queued on the streams: p50 $LAG_P50, p99 $LAG_P99"
say "events queued $EVENTS (built $BUILT), streams dropped as slow $DROPPED, client reconnects $(kv reconnects)"
say "RSS: $(mb "$RSS_BEFORE") MB before, $(mb "$RSS_IDLE") MB with $OPEN idle streams, max $(mb "$RSS_MAX") MB during, $(mb "$RSS_DRAINED") MB drained, $(mb "$RSS_AFTER") MB after the streams closed; callhook CPU ${CPU_PCT}% of one core; load average $LOAD_BEFORE before, $LOAD_END at the end ($(nproc) CPUs)"

mkdir -p "$ROOT/bench/results"
RES=$ROOT/bench/results/sse-$(date -u +%Y%m%dT%H%M%SZ).md
{
    echo "# bench/sse $(date -u +%FT%TZ) at $COMMIT"
    echo
    echo "$LINE"
    echo
    echo "streams=$OPEN tenants=$TENANTS rate=$RATE duration=$DURATION rss_kb before=$RSS_BEFORE idle=$RSS_IDLE max=$RSS_MAX drained=$RSS_DRAINED after=$RSS_AFTER dropped=$DROPPED events=$EVENTS built=$BUILT cpu_pct=$CPU_PCT lag_p50=\"$LAG_P50\" lag_p99=\"$LAG_P99\" load_before=$LOAD_BEFORE load_end=$LOAD_END cpus=$(nproc)"
} >"$RES"
say "bench: wrote $RES"

if [ "$UPDATE_DOCS" = 1 ]; then
    DOC=$ROOT/docs/BENCHMARKS.md
    HDR='## Issue 12: live updates'
    if ! grep -q "^$HDR" "$DOC"; then
        {
            echo
            echo "$HDR"
            echo
            echo "bench/sse/run.sh: streams of GET /v1/stream on 127.0.0.1 spread over tenants, calls ingested at a fixed rate (tenants in turn); latency from a POST's acknowledgement to its event reaching every stream of its tenant (0 when it arrived first), RSS of the daemon. Release build, 2 CPUs shared with the clients and the loader."
            echo
            echo "| date | commit | streams | tenants | rate asked / achieved | ack→all p50 | p99 | max | in the daemon p50 / p99 | complete / partial / missing | dropped | RSS before / idle / max / after (MB) | callhook CPU | load before / end |"
            echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        } >>"$DOC"
    fi
    # the new row goes right after the table's last row
    row="| $(date -u +%F) | $COMMIT | $OPEN | $TENANTS | $RATE / $(kv achieved_rate) | $(kv ack_p50_ms) ms | $(kv ack_p99_ms) ms | $(kv ack_max_ms) ms | $LAG_P50 / $LAG_P99 | $(kv complete) / $(kv partial) / $(kv missing) | $DROPPED | $(mb "$RSS_BEFORE") / $(mb "$RSS_IDLE") / $(mb "$RSS_MAX") / $(mb "$RSS_AFTER") | ${CPU_PCT}% | $LOAD_BEFORE / $LOAD_END |"
    awk -v hdr="$HDR" -v row="$row" '
        { lines[NR] = $0 }
        $0 == hdr { in_s = 1 }
        in_s && /^\|/ { last = NR }
        in_s && /^## / && $0 != hdr { in_s = 0 }
        END { for (i = 1; i <= NR; i++) { print lines[i]; if (i == last) print row } }
    ' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
    say "bench: added a row to docs/BENCHMARKS.md"
fi

#!/usr/bin/env bash
# Delivery benchmark (docs/BENCHMARKS.md): outbound webhooks from callhook to nginx on loopback.
#
#   bench/deliver/run.sh
#
# Phases, all on 127.0.0.1 and each bounded in time:
#   1. build a Release callhook; a fresh database on disk; tenant "bench" with a generic source
#      and one endpoint (events call.completed) pointing at a private nginx that answers 204 and
#      logs "<webhook-id> <arrival time>" for every POST;
#   2. throughput: a backlog of BENCH_BACKLOG signed deliveries (each its own call, cloned with
#      SQL from a real call.completed message) is waiting when callhook starts; deliveries/s =
#      the backlog / (last arrival - first arrival) at nginx;
#   3. latency: bench/ingest/loadgen sends BENCH_RATE ended calls/s for BENCH_RATE_DURATION s;
#      each causes one call.completed delivery. Latency = arrival at nginx - the message's
#      created_at, which the writer stamps inside the transaction, before the commit's fsync and
#      so before the ingest acknowledgement: the numbers are an upper bound of ack → delivery;
#   4. stop both servers; check every delivery succeeded exactly as often as nginx saw it.
# Prints a summary, writes bench/results/deliver-<time>.md and appends a row to the results
# table of docs/BENCHMARKS.md (BENCH_UPDATE_DOCS=0 to skip).
#
# Also: wrk posting the same size to the same nginx, as the reference of plain HTTP here.
# Environment (defaults):
#   BENCH_BACKLOG=200000 BENCH_RATE=1000 BENCH_RATE_DURATION=10 BENCH_RATE_CONNECTIONS=32
#   BENCH_BUILD_DIR=build BENCH_TMPDIR=$BENCH_BUILD_DIR BENCH_UPDATE_DOCS=1 BENCH_KEEP=0
#   CALLHOOK_DELIVERY_CONCURRENCY etc. are passed through to `callhook serve` (docs/cli.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

BACKLOG=${BENCH_BACKLOG:-200000}
RATE=${BENCH_RATE:-1000}
RATE_DURATION=${BENCH_RATE_DURATION:-10}
RATE_CONNS=${BENCH_RATE_CONNECTIONS:-32}
BUILD_DIR=${BENCH_BUILD_DIR:-build}
UPDATE_DOCS=${BENCH_UPDATE_DOCS:-1}
KEEP=${BENCH_KEEP:-0}
TARGET_RATE=20000
TARGET_P50_MS=5

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

require_tools sqlite3 cc cmake timeout curl
make_run_dir bench-deliver

wait_for() { # seconds command...: polls every 0.1 s
    local n=$(($1 * 10)) _
    shift
    for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
    return 1
}
q() { sqlite3 -cmd '.timeout 10000' "$DB" "$1"; }

# ---- 1. build, database, servers -------------------------------------------------------------
say "bench: building callhook (Release) in $BUILD_DIR"
if ! { cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release && cmake --build "$BUILD_DIR" -j2; } >"$TMP/build.log" 2>&1; then
    tail -n 40 "$TMP/build.log" >&2
    die "build failed"
fi
BIN=$ROOT/$BUILD_DIR/callhook
cc -O2 -Wall -o "$TMP/loadgen" "$ROOT/bench/ingest/loadgen.c" || die "cannot compile loadgen.c"
DB=$TMP/bench.db
FSTYPE=$(stat -f -c %T "$TMP" 2>/dev/null || echo unknown)
case "$FSTYPE" in tmpfs | ramfs) say "bench: WARNING: $TMP is on $FSTYPE: fsync costs nothing there" ;; esac

NGX_PORT=$(pick_port)
mkdir -p "$TMP/nginx/logs"
cat >"$TMP/nginx/nginx.conf" <<EOF
# private nginx for bench/deliver: the webhook receiver; logs who arrived when
daemon off;
worker_processes auto;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    log_format arrival '\$http_webhook_id \$msec \$status';
    access_log $TMP/nginx/logs/arrivals.log arrival buffer=256k flush=1s;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_buffer_size 64k;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$NGX_PORT;
        location / { return 204; }
    }
}
EOF
"$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" >"$TMP/nginx/stdout.log" 2>&1 &
NGX_PID=$!
wait_for 15 curl -fs -o /dev/null -X POST "http://127.0.0.1:$NGX_PORT/" || die "nginx did not start"

TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
"$BIN" tenant add bench --features none --db "$DB" --json >/dev/null # no enrichment: call.completed at once
"$BIN" source add bench generic --token "$TOKEN" --db "$DB" --json >/dev/null
"$BIN" endpoint add bench "http://127.0.0.1:$NGX_PORT/hook" --events call.completed --db "$DB" --json >"$TMP/endpoint.json"
CH_PORT=$(pick_port)
export CALLHOOK_DELIVERY_ALLOW_PRIVATE=127.0.0.0/8
start_callhook() {
    "$BIN" serve --db "$DB" --listen "127.0.0.1:$CH_PORT" --log-level warn >>"$TMP/callhook.log" 2>&1 &
    CH_PID=$!
    wait_for 20 curl -fs -o /dev/null "http://127.0.0.1:$CH_PORT/readyz" || { tail -n 20 "$TMP/callhook.log" >&2; die "callhook did not start"; }
}
nginx_ticks() { # CPU the nginx workers used so far, in clock ticks
    local t=0 p
    for p in $(pgrep -P "$NGX_PID"); do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
    echo "$t"
}
arrivals() { # lines nginx has logged (it flushes every second)
    wc -l <"$TMP/nginx/logs/arrivals.log" 2>/dev/null || echo 0
}
succeeded() { q "SELECT count(*) FROM deliveries WHERE state='succeeded'"; }
delivered_at_least() { [ "$(succeeded)" -ge "$1" ]; }
# polled while callhook works: one lookup in the partial index of pending deliveries. Counting
# the succeeded ones scans the table (~40 ms at 200,000 rows), and ten of those a second took a
# fifth of this 2-CPU machine from the run being measured
none_pending() { [ "$(q "SELECT EXISTS(SELECT 1 FROM deliveries WHERE state='pending')")" = 0 ]; }

# one real call gives the template message the backlog is cloned from
start_callhook
curl -fsS -o /dev/null "http://127.0.0.1:$CH_PORT/hooks/bench/generic" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{"call_id":"template","event_id":"t1","direction":"inbound","status":"ended","disposition":"answered","from":"+14155550100","to":"+14155550199","started_at":"2026-12-01T10:00:00Z","answered_at":"2026-12-01T10:00:05Z","ended_at":"2026-12-01T10:03:12Z","recording_url":"https://rec.example.com/r/1.mp3","summary":"Asked about the May invoice; agent resent it by email.","metadata":{"queue":"support","agent":"a-17"}}' ||
    die "probe POST failed"
wait_for 10 delivered_at_least 1 || die "the template call's webhook was not delivered: $(q "SELECT last_error FROM deliveries")"
stop_pid "$CH_PID" TERM; CH_PID=""

# ---- 2. throughput: a backlog --------------------------------------------------------------
say "bench: writing a backlog of $BACKLOG deliveries"
q "BEGIN;
   WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $BACKLOG),
        t AS (SELECT tenant_id, id, payload FROM messages WHERE type='call.completed' LIMIT 1)
   INSERT INTO messages(tenant_id, id, type, call_id, created_at, payload)
   SELECT t.tenant_id, printf('msg_backlog%013d', n.i), 'call.completed', printf('c_backlog%011d', n.i),
          CAST(strftime('%s','now') AS INTEGER) * 1000, replace(t.payload, t.id, printf('msg_backlog%013d', n.i))
   FROM n, t;
   INSERT INTO deliveries(tenant_id, endpoint_id, message_id, call_id, next_attempt_at, created_at, updated_at)
   SELECT tenant_id, 1, id, call_id, 0, created_at, created_at FROM messages WHERE id LIKE 'msg_backlog%';
   COMMIT;"
[ "$(q "SELECT count(*) FROM deliveries WHERE state='pending'")" = "$BACKLOG" ] || die "backlog not written"
PAYLOAD_BYTES=$(q "SELECT length(payload) FROM messages WHERE id='msg_backlog0000000000001'")
: >"$TMP/nginx/logs/arrivals.log"
kill -USR1 "$NGX_PID" # reopen the log
sleep 0.5
say "bench: starting callhook with the backlog waiting"
start_callhook
wait_for $((BACKLOG / 2000 + 60)) none_pending && delivered_at_least $((BACKLOG + 1)) ||
    die "the backlog was not delivered in time: $(succeeded) of $((BACKLOG + 1))"
# CPU the daemon used for the drain (all threads; its start-up is a few ms of it): steadier than
# the rate on a shared machine, and what a change to the dispatcher should move
CH_TICKS=$(awk '{ print $14 + $15 }' "/proc/$CH_PID/stat")
NGX_TICKS=$(nginx_ticks)
sleep 1.5 # nginx flushes its log every second
read -r first last n_arr < <(awk '$1 ~ /^msg_backlog/ { t = $2 + 0; if (!f || t < f) f = t; if (t > l) l = t; n++ }
    END { printf "%.3f %.3f %d\n", f, l, n }' "$TMP/nginx/logs/arrivals.log")
DRAIN_S=$(calc "\"%.3f\", $last - $first")
DPS=$(calc "\"%.0f\", ($n_arr - 1) / ($DRAIN_S > 0 ? $DRAIN_S : 1)")
CPU_US=$(calc "\"%.0f\", $CH_TICKS * 1000000 / $(getconf CLK_TCK) / $n_arr")
NGX_US=$(calc "\"%.0f\", $NGX_TICKS * 1000000 / $(getconf CLK_TCK) / $n_arr")
say "bench: throughput: $n_arr deliveries in ${DRAIN_S}s = $DPS deliveries/s; callhook CPU ${CPU_US} µs per delivery, nginx ${NGX_US} µs"

# the same nginx fed by wrk (one thread, 64 connections) with a body of the same size and the
# same headers: what plain HTTP from one sender thread reaches here, without signing, storing
# or the attempt log — the reference for the number above
CEIL_RPS=""
if command -v wrk >/dev/null; then
    cat >"$TMP/post.lua" <<EOF
wrk.method = "POST"
wrk.body = string.rep("x", $PAYLOAD_BYTES)
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = "wrk_reference"
wrk.headers["webhook-timestamp"] = "1764547200"
wrk.headers["webhook-signature"] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
EOF
    t0=$(nginx_ticks)
    timeout 30 wrk -t1 -c64 -d5s -s "$TMP/post.lua" "http://127.0.0.1:$NGX_PORT/hook" >"$TMP/wrk.txt" 2>&1 || true
    t1=$(nginx_ticks)
    CEIL_RPS=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$TMP/wrk.txt" | awk '{ printf "%.0f", $1 }')
    CEIL_NGX_US=$(calc "\"%.0f\", ($t1 - $t0) * 1000000 / $(getconf CLK_TCK) / (${CEIL_RPS:-0} * 5 + 1)")
    say "bench: reference: wrk -t1 -c64 to the same nginx: ${CEIL_RPS:-?} requests/s, nginx ${CEIL_NGX_US} µs per request"
fi

# ---- 3. latency at a fixed rate ------------------------------------------------------------
say "bench: latency: $RATE ended calls/s for ${RATE_DURATION}s, each one call.completed webhook"
LAT_START_MS=$(($(date +%s%3N)))
timeout $((RATE_DURATION + 60)) "$TMP/loadgen" --port "$CH_PORT" --path /hooks/bench/generic --token "$TOKEN" \
    --rate "$RATE" --duration "$RATE_DURATION" --warmup 1 --connections "$RATE_CONNS" --prefix lat \
    >"$TMP/loadgen.txt" 2>"$TMP/loadgen.err" || true
grep -q '^LOADGEN ' "$TMP/loadgen.txt" || { cat "$TMP/loadgen.err" >&2; die "loadgen printed no summary"; }
INGEST_OK=$(sed -n 's/^LOADGEN .*\bok=\([0-9]*\).*/\1/p' "$TMP/loadgen.txt")
want=$((BACKLOG + 1 + INGEST_OK))
wait_for 60 none_pending && delivered_at_least "$want" || die "latency phase: $(succeeded) of $want delivered"
sleep 1.5
awk '$1 ~ /^msg_/ && $1 !~ /^msg_backlog/ { print $1 "," $2 "," $3 }' "$TMP/nginx/logs/arrivals.log" >"$TMP/arrivals.csv"
LAT=$(sqlite3 -cmd '.timeout 10000' "$DB" ".mode csv" "CREATE TEMP TABLE a(id TEXT, t REAL, status INT);" ".import $TMP/arrivals.csv a" \
    "CREATE TEMP TABLE l AS SELECT CAST(round(a.t * 1000) AS INTEGER) - m.created_at AS ms FROM a JOIN messages m ON m.id = a.id WHERE m.created_at >= $LAT_START_MS ORDER BY 1;" \
    ".mode list" ".separator ' '" \
    "SELECT count(*), (SELECT ms FROM l LIMIT 1 OFFSET (SELECT count(*) * 50 / 100 FROM l)),
            (SELECT ms FROM l LIMIT 1 OFFSET (SELECT count(*) * 90 / 100 FROM l)),
            (SELECT ms FROM l LIMIT 1 OFFSET (SELECT count(*) * 99 / 100 FROM l)),
            (SELECT max(ms) FROM l) FROM l;")
read -r LAT_N LAT_P50 LAT_P90 LAT_P99 LAT_MAX <<<"$LAT"
say "bench: latency: $LAT_N webhooks, p50 ${LAT_P50} ms, p90 ${LAT_P90} ms, p99 ${LAT_P99} ms, max ${LAT_MAX} ms"

# ---- 4. stop, accounting --------------------------------------------------------------------
stop_pid "$CH_PID" TERM; CH_PID=""
stop_pid "$NGX_PID" QUIT; NGX_PID=""
not_ok=$(q "SELECT count(*) FROM deliveries WHERE state<>'succeeded'")
dup=$(awk '$1 ~ /^msg_/ { c[$1]++ } END { n = 0; for (k in c) if (c[k] > 1) n++; print n }' "$TMP/nginx/logs/arrivals.log")
seen=$(awk '$1 ~ /^msg_/ { c[$1]++ } END { n = 0; for (k in c) n++; print n }' "$TMP/nginx/logs/arrivals.log")
total=$(q "SELECT count(*) FROM deliveries")
check="ok"
[ "$not_ok" = 0 ] || check="FAIL: $not_ok deliveries not succeeded"
[ "$seen" -ge $((total - 1)) ] || check="FAIL: nginx saw $seen distinct webhook-ids of $total deliveries"

rate_pass=$( [ "$DPS" -ge $TARGET_RATE ] && echo PASS || echo FAIL)
p50_pass=$( [ "${LAT_P50:-999}" -le $TARGET_P50_MS ] && echo PASS || echo FAIL)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
machine="$(nproc) CPUs, ${cpu_model:-$(uname -m)}, Linux $(uname -r), $FSTYPE"
when=$(date -u '+%Y-%m-%d %H:%M UTC')
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- src CMakeLists.txt 2>/dev/null)" ] || rev="$rev+dirty"
summary=$(
cat <<EOF
## callhook delivery benchmark — $when

machine: $machine; callhook $rev; receiver: nginx on 127.0.0.1 answering 204

throughput: a backlog of $BACKLOG signed call.completed deliveries (${PAYLOAD_BYTES}-byte payloads, one call each) drained in ${DRAIN_S} s = **$DPS deliveries/s** (target >= $TARGET_RATE: $rate_pass), callhook CPU ${CPU_US} µs per delivery; reference, wrk -t1 -c64 posting the same size to the same nginx: ${CEIL_RPS:-n/a} requests/s

latency at $RATE ended calls/s for ${RATE_DURATION} s ($INGEST_OK acknowledged, one call.completed webhook each; message created → arrival at nginx): p50 **${LAT_P50} ms**, p90 ${LAT_P90} ms, p99 ${LAT_P99} ms, max ${LAT_MAX} ms over $LAT_N webhooks (target p50 <= $TARGET_P50_MS ms: $p50_pass)

accounting: $total deliveries, $seen distinct webhook-ids at nginx, $dup seen more than once, $check
EOF
)
printf '\n%s\n\n' "$summary"
mkdir -p "$ROOT/bench/results"
out=$ROOT/bench/results/deliver-$(date -u +%Y%m%d-%H%M%S).md
{ printf '%s\n\n```\n' "$summary"; cat "$TMP/loadgen.txt"; printf '```\n'; } >"$out"
say "bench: full output in ${out#"$ROOT"/}"
if [ "$UPDATE_DOCS" = 1 ] && grep -q '<!-- deliver-results:end -->' "$ROOT/docs/BENCHMARKS.md" 2>/dev/null; then
    row="| $when | $machine | $rev | $BACKLOG | $DPS | $CPU_US µs | ${CEIL_RPS:-n/a} | $RATE/s | ${LAT_P50} / ${LAT_P90} / ${LAT_P99} / ${LAT_MAX} ms | $check |"
    awk -v row="$row" '/<!-- deliver-results:end -->/ { print row } { print }' "$ROOT/docs/BENCHMARKS.md" >"$TMP/bm.md" &&
        cat "$TMP/bm.md" >"$ROOT/docs/BENCHMARKS.md"
    say "bench: appended a row to docs/BENCHMARKS.md"
fi
[ "$check" = ok ] || die "$check"

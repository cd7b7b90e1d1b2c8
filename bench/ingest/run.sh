#!/usr/bin/env bash
# Ingest benchmark (docs/BENCHMARKS.md): callhook's durable ingest against nginx answering a
# static 202, on the same machine, in the same run, with the same load generator and requests.
#
#   bench/ingest/run.sh            (or: make bench)
#
# Phases, all on 127.0.0.1 and each bounded in time:
#   1. build a Release callhook, a fresh database in a temp dir, tenant "bench" with a generic
#      source and a random bearer token; start callhook and a private nginx;
#   2. warm-up: wrk for BENCH_WARMUP seconds against each server;
#   3. max rate: wrk, BENCH_THREADS threads x BENCH_CONNECTIONS connections, BENCH_DURATION s,
#      against nginx, then callhook: requests/s, ratio, callhook's (closed-loop) p50/p99;
#   4. fixed rate: bench/ingest/loadgen.c (open loop, latency from the *scheduled* send time)
#      at BENCH_RATE requests/s for BENCH_RATE_DURATION s against callhook (and nginx, as the
#      floor of what the machine and the load generator can measure);
#   5. stop both servers, then count the rows of `events` with the sqlite3 CLI and compare them
#      with the 2xx answers the load generators saw (durability sanity check).
# During callhook's max-rate run, an API client creates and removes a (disabled) webhook
# endpoint every BENCH_API_INTERVAL seconds: the latency of POST /v1/endpoints and DELETE under
# full ingest load (an API write is a writer operation and must not wait on a database lock).
# Prints a summary, writes bench/results/ingest-<time>.md and appends one row to the results
# table of docs/BENCHMARKS.md (BENCH_UPDATE_DOCS=0 to skip).
#
# Environment (defaults):
#   BENCH_DURATION=10 BENCH_WARMUP=5 BENCH_THREADS=2 BENCH_CONNECTIONS=64
#   BENCH_RATE=5000 BENCH_RATE_DURATION=10 BENCH_RATE_WARMUP=2 BENCH_RATE_CONNECTIONS=64
#   BENCH_BUILD_DIR=build BENCH_UPDATE_DOCS=1 BENCH_KEEP=0 (1: keep the temp dir)
#   BENCH_NGINX_RATE=1 (0: skip the fixed-rate run against nginx) BENCH_API_INTERVAL=0.05
#   CALLHOOK_THREADS etc. are passed through to `callhook serve` (docs/cli.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/bench/ingest

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-5}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
RATE=${BENCH_RATE:-5000}
RATE_DURATION=${BENCH_RATE_DURATION:-10}
RATE_WARMUP=${BENCH_RATE_WARMUP:-2}
RATE_CONNS=${BENCH_RATE_CONNECTIONS:-64}
BUILD_DIR=${BENCH_BUILD_DIR:-build}
UPDATE_DOCS=${BENCH_UPDATE_DOCS:-1}
KEEP=${BENCH_KEEP:-0}
NGINX_RATE=${BENCH_NGINX_RATE:-1}
API_INTERVAL=${BENCH_API_INTERVAL:-0.05}
TARGET_RATIO=0.50
TARGET_P99_US=5000
HOOK_PATH=/hooks/bench/generic

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# ---- tools ---------------------------------------------------------------------------------
require_tools wrk sqlite3 cc cmake timeout curl

# ---- temp dir, cleanup ---------------------------------------------------------------------
make_run_dir bench-tmp

# ---- helpers -------------------------------------------------------------------------------
# http_status PORT METHOD PATH [BODY] [HEADER]: prints "STATUS BODY" of one request (5 s max).
http_status() {
    local port=$1 method=$2 path=$3 body=${4:-} header=${5:-} fd resp status
    { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || { echo "000 (cannot connect)"; return 0; }
    {
        printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n' "$method" "$path"
        [ -z "$header" ] || printf '%s\r\n' "$header"
        printf 'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' "${#body}" "$body"
    } >&"$fd"
    resp=$(timeout 5 cat <&"$fd" | tr -d '\r') || true
    exec {fd}>&-
    status=${resp#HTTP/1.? }
    status=${status%% *}
    printf '%s %s\n' "${status:-000}" "$(printf '%s\n' "$resp" | sed '1,/^$/d')"
}
wait_ready() { # port path name pid
    local _
    for _ in $(seq 150); do
        kill -0 "$4" 2>/dev/null || return 1
        case "$(http_status "$1" GET "$2")" in 200*) return 0 ;; esac
        sleep 0.1
    done
    return 1
}
kv() { # kv KEY FILE: the value of KEY=... on the BENCH/LOADGEN line of FILE
    sed -n "s/^\(BENCH\|LOADGEN\) .*\b$1=\([^ ]*\).*/\2/p" "$2" | tail -n1
}
cpu_ticks() { # summed utime+stime of the given pids (all threads)
    local t=0 p f
    for p in "$@"; do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }
        set -- $f
        t=$((t + ${12} + ${13}))
    done
    echo "$t"
}
server_pids() { # pid and its children (nginx workers)
    echo "$1"
    ps -o pid= --ppid "$1" 2>/dev/null || true
}
ms() { calc "\"%.2f\", $1 / 1000"; }
TCK=$(getconf CLK_TCK)

busy_pct() { # % of all CPUs busy over one second (the machine should be idle before we start)
    local a b
    a=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6 }' /proc/stat)
    set -- $a $b
    calc "\"%.0f\", ($3 - $1) * 100 / (($3 - $1) + ($4 - $2) + 0.0001)"
}

# ---- 1. build, database, servers -------------------------------------------------------------
say "bench: building callhook (Release) in $BUILD_DIR"
if ! { cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release && cmake --build "$BUILD_DIR" -j2; } >"$TMP/build.log" 2>&1; then
    tail -n 40 "$TMP/build.log" >&2
    die "build failed"
fi
BIN=$ROOT/$BUILD_DIR/callhook
[ -x "$BIN" ] || die "no binary at $BIN"
cc -O2 -Wall -o "$TMP/loadgen" "$HERE/loadgen.c" || die "cannot compile loadgen.c"

DB=$TMP/bench.db
FSTYPE=$(stat -f -c %T "$TMP" 2>/dev/null || echo unknown)
case "$FSTYPE" in tmpfs | ramfs) say "bench: WARNING: $TMP is on $FSTYPE, fsync costs nothing there; set BENCH_TMPDIR to a directory on disk" ;; esac
# what one small synchronous write costs on this disk (context for the group-commit numbers)
FSYNC_MS=$(dd if=/dev/zero of="$TMP/fsync-probe" bs=4k count=200 oflag=dsync 2>&1 |
    sed -n 's/.* copied, \([0-9.]*\) s.*/\1/p' | awk '{ printf "%.2f", $1 * 1000 / 200 }')
rm -f "$TMP/fsync-probe"
TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
"$BIN" tenant add bench --features none --db "$DB" --json >"$TMP/tenant.json" || die "tenant add failed"
"$BIN" source add bench generic --token "$TOKEN" --db "$DB" --json >"$TMP/source.json" || die "source add failed"
"$BIN" apikey add bench --db "$DB" --json >"$TMP/apikey.json" || die "apikey add failed"
API_KEY=$(sed -n 's/.*"api_key": *"\([^"]*\)".*/\1/p' "$TMP/apikey.json")
[ -n "$API_KEY" ] || die "no API key in $TMP/apikey.json"

CH_PORT=$(pick_port)
"$BIN" serve --db "$DB" --listen "127.0.0.1:$CH_PORT" --log-level warn >"$TMP/callhook.log" 2>&1 &
CH_PID=$!
wait_ready "$CH_PORT" /readyz callhook "$CH_PID" || { tail -n 20 "$TMP/callhook.log" >&2; die "callhook did not become ready on port $CH_PORT"; }

NGX_PORT=$(pick_port)
while [ "$NGX_PORT" = "$CH_PORT" ]; do NGX_PORT=$(pick_port); done
mkdir -p "$TMP/nginx/logs"
cat >"$TMP/nginx/nginx.conf" <<EOF
# private nginx for bench/ingest: a static answer, nothing written anywhere
daemon off;
worker_processes auto;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$NGX_PORT;
        default_type application/json;
        location / {
            if (\$request_method = POST) { return 202 '{"status":"stored"}'; }
            return 200 '{"status":"ready"}';
        }
    }
}
EOF
"$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" >"$TMP/nginx/stdout.log" 2>&1 &
NGX_PID=$!
wait_ready "$NGX_PORT" /readyz nginx "$NGX_PID" || { cat "$TMP/nginx/stdout.log" "$TMP/nginx/logs/error.log" >&2 2>/dev/null; die "nginx did not start on port $NGX_PORT"; }

# one request by hand, so a broken setup fails with a readable message instead of a wrk summary
probe=$(http_status "$CH_PORT" POST "$HOOK_PATH" '{"call_id":"probe-1","event_id":"probe-1-e","type":"call.ringing"}' "Authorization: Bearer $TOKEN")
case "$probe" in 2*'"stored"'*) ;; *) tail -n 20 "$TMP/callhook.log" >&2; die "probe POST to callhook answered: $probe" ;; esac
probe=$(http_status "$NGX_PORT" POST "$HOOK_PATH" '{}' "Authorization: Bearer $TOKEN")
case "$probe" in 202*) ;; *) die "probe POST to nginx answered: $probe" ;; esac

say "bench: callhook pid $CH_PID on :$CH_PORT, nginx pid $NGX_PID on :$NGX_PORT, temp dir $TMP"
BUSY=$(busy_pct)
[ "$BUSY" -le 10 ] || say "bench: WARNING: the machine is already ${BUSY}% busy before the run; the numbers will be low and noisy"

# ---- 2./3. wrk -----------------------------------------------------------------------------
# run_wrk NAME PORT SECONDS PREFIX: output in $TMP/wrk-NAME.txt, server CPU% in $TMP/cpu-NAME
run_wrk() {
    local name=$1 port=$2 secs=$3 prefix=$4 pid before after
    pid=$([ "$port" = "$CH_PORT" ] && echo "$CH_PID" || echo "$NGX_PID")
    # shellcheck disable=SC2046 # one pid per word
    before=$(cpu_ticks $(server_pids "$pid"))
    timeout $((secs + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --timeout 5s --latency \
        -s "$HERE/post.lua" "http://127.0.0.1:$port$HOOK_PATH" -- "$TOKEN" "$prefix" \
        >"$TMP/wrk-$name.txt" 2>&1 || { cat "$TMP/wrk-$name.txt" >&2; die "wrk ($name) failed"; }
    # shellcheck disable=SC2046
    after=$(cpu_ticks $(server_pids "$pid"))
    calc '"%.0f", ('"$after"' - '"$before"') * 100 / '"$TCK"' / '"$secs" >"$TMP/cpu-$name"
    grep -q '^BENCH ' "$TMP/wrk-$name.txt" || { cat "$TMP/wrk-$name.txt" >&2; die "wrk ($name) printed no summary"; }
    say "bench: $name: $(kv rps "$TMP/wrk-$name.txt") req/s, $(kv ok "$TMP/wrk-$name.txt") ok, $(kv status_errors "$TMP/wrk-$name.txt") status errors, server CPU $(cat "$TMP/cpu-$name")%"
}
# group-commit counters from callhook's /metrics: "requests commits" (cumulative)
batch_counters() {
    http_status "$CH_PORT" GET /metrics | awk '
        $1 == "callhook_batch_requests_sum" { s = $2 } $1 == "callhook_batch_requests_count" { c = $2 }
        END { printf "%d %d\n", s, c }'
}
batch_note() { # before-counters after-counters seconds: "N commits/s, M requests per commit"
    set -- $1 $2 "$3"
    [ "$4" -gt "$2" ] || { echo "no commits seen in /metrics"; return; }
    calc "\"%.0f commits/s, %.1f requests per commit\", ($4 - $2) / $5, ($3 - $1) / ($4 - $2)"
}
say "bench: warm-up ${WARMUP}s each"
run_wrk warm-nginx "$NGX_PORT" "$WARMUP" warm
run_wrk warm-callhook "$CH_PORT" "$WARMUP" warm
say "bench: max rate, wrk -t$THREADS -c$CONNS -d${DURATION}s"
run_wrk nginx "$NGX_PORT" "$DURATION" max
b0=$(batch_counters)
# api_probe SECONDS: creates a disabled endpoint and removes it, every API_INTERVAL s, until
# SECONDS have passed; one "post|delete STATUS SECONDS" line per request in $TMP/api.txt
api_probe() {
    local end=$((SECONDS + $1)) out id
    while [ $SECONDS -lt $end ]; do
        out=$(curl -s -m 30 -o "$TMP/api-body" -w '%{http_code} %{time_total}' -X POST \
            -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
            -d '{"url":"https://example.com/bench-probe","enabled":false}' \
            "http://127.0.0.1:$CH_PORT/v1/endpoints") || out="000 30"
        echo "post $out" >>"$TMP/api.txt"
        id=$(sed -n 's/.*"id": *\([0-9]*\).*/\1/p' "$TMP/api-body" 2>/dev/null | head -n1)
        if [ -n "$id" ]; then
            out=$(curl -s -m 30 -o /dev/null -w '%{http_code} %{time_total}' -X DELETE \
                -H "Authorization: Bearer $API_KEY" "http://127.0.0.1:$CH_PORT/v1/endpoints/$id") ||
                out="000 30"
            echo "delete $out" >>"$TMP/api.txt"
        fi
        sleep "$API_INTERVAL"
    done
}
: >"$TMP/api.txt"
api_probe "$DURATION" &
API_PID=$!
# thread_cpu PID: "name ticks" per thread name (utime+stime, summed over threads of one name)
thread_cpu() {
    local t rest
    for t in /proc/"$1"/task/*; do
        read -r rest <"$t/stat" 2>/dev/null || continue
        rest=${rest##*) }
        # shellcheck disable=SC2086
        set -- $rest
        printf '%s %s\n' "$(cat "$t/comm" 2>/dev/null)" "$((${12} + ${13}))"
    done | awk '{ a[$1] += $2 } END { for (k in a) print k, a[k] }' | sort
}
thread_cpu "$CH_PID" >"$TMP/threads-before"
run_wrk callhook "$CH_PORT" "$DURATION" max
thread_cpu "$CH_PID" >"$TMP/threads-after"
wait "$API_PID" || true
# CPU per acknowledged event by thread name (MHD-worker: libmicrohttpd's pool, the HTTP side;
# ch-writer: the store's writer; docs/internals/threads.md)
TICK_US=$((1000000 / $(getconf CLK_TCK)))
THREAD_CPU=$(join "$TMP/threads-before" "$TMP/threads-after" | awk -v n="$(kv ok "$TMP/wrk-callhook.txt")" -v us="$TICK_US" '
    { d = ($3 - $2) * us; t[$1] += d; all += d }
    END { if (n <= 0) exit
          printf "%.0f µs of CPU per event:", all / n
          for (k in t) if (t[k] > 0) printf " %s %.0f", k, t[k] / n
          print "" }')
say "bench: $THREAD_CPU"
# api_stats post|delete: "n=N non2xx=K p50 …, p99 …, max … ms"
api_stats() {
    local bad
    bad=$(awk -v op="$1" '$1 == op && $2 !~ /^2/' "$TMP/api.txt" | wc -l)
    awk -v op="$1" '$1 == op { print $3 * 1000 }' "$TMP/api.txt" | sort -n | awk -v bad="$bad" '
        { v[NR] = $1 }
        END {
            if (!NR) { print "n=0"; exit }
            i50 = int(NR * 0.50 + 0.5); i99 = int(NR * 0.99 + 0.5)
            if (i50 < 1) i50 = 1
            if (i99 < 1) i99 = 1
            printf "n=%d non2xx=%d p50 %.1f ms, p99 %.1f ms, max %.1f ms", NR, bad, v[i50], v[i99], v[NR]
        }'
}
API_POST=$(api_stats post)
API_DELETE=$(api_stats delete)
say "bench: API writes during the max-rate run: POST /v1/endpoints $API_POST; DELETE $API_DELETE"
BATCH_MAX=$(batch_note "$b0" "$(batch_counters)" "$DURATION")
say "bench: callhook group commit at max rate: $BATCH_MAX"

# ---- 4. fixed rate --------------------------------------------------------------------------
run_loadgen() { # NAME PORT PREFIX
    local name=$1 port=$2 prefix=$3
    timeout $((RATE_WARMUP + RATE_DURATION + 40)) "$TMP/loadgen" --port "$port" --path "$HOOK_PATH" \
        --token "$TOKEN" --rate "$RATE" --duration "$RATE_DURATION" --warmup "$RATE_WARMUP" \
        --connections "$RATE_CONNS" --prefix "$prefix" >"$TMP/rate-$name.txt" 2>"$TMP/rate-$name.err" || true
    cat "$TMP/rate-$name.err" >&2
    grep -q '^LOADGEN ' "$TMP/rate-$name.txt" || die "loadgen ($name) printed no summary"
}
say "bench: fixed rate ${RATE}/s for ${RATE_DURATION}s (+${RATE_WARMUP}s warm-up), $RATE_CONNS connections"
b0=$(batch_counters)
run_loadgen callhook "$CH_PORT" rate
BATCH_RATE=$(batch_note "$b0" "$(batch_counters)" "$(calc "\"%s\", $RATE_DURATION + $RATE_WARMUP")")
say "bench: callhook group commit at ${RATE}/s: $BATCH_RATE"
[ "$NGINX_RATE" = 1 ] && run_loadgen nginx "$NGX_PORT" rate

# ---- 5. stop, durability check ---------------------------------------------------------------
stop_pid "$CH_PID" TERM; CH_PID=""
stop_pid "$NGX_PID" QUIT; NGX_PID=""

rows_total=$(sqlite3 "$DB" 'SELECT count(*) FROM events;')
# rows per phase, by the call_id prefix each phase uses
phase_rows() {
    sqlite3 "$DB" "SELECT count(*) FROM events e JOIN calls c ON c.tenant_id = e.tenant_id AND c.id = e.call_id WHERE c.external_id LIKE '$1-%';" 2>/dev/null ||
        sqlite3 "$DB" "SELECT count(*) FROM events WHERE CAST(raw AS TEXT) LIKE '%\"call_id\":%\"$1-%';"
}
rows_warm=$(phase_rows warm)
rows_max=$(phase_rows max)
rows_rate=$(phase_rows rate)
rows_probe=$(phase_rows probe)

check_fail=0
check_lines=()
check_wrk() { # label rows wrkfile: ok <= rows <= issued (in-flight answers at wrk's stop are unseen)
    local label=$1 rows=$2 f=$3 ok issued v
    ok=$(kv ok "$f"); issued=$(kv issued "$f")
    if [ "$(kv status_errors "$f")" != 0 ]; then v="FAIL: $(kv status_errors "$f") error answers"; check_fail=1
    elif [ "$rows" -lt "$ok" ]; then v="FAIL: $((ok - rows)) acknowledged events missing"; check_fail=1
    elif [ "$rows" -gt "$issued" ]; then v="FAIL: more rows than requests"; check_fail=1
    elif [ "$rows" -eq "$ok" ]; then v="ok (equal)"
    else v="ok ($((rows - ok)) in flight when wrk stopped, stored, answer not read)"; fi
    check_lines+=("$(printf '%-22s %12s %14s %14s   %s' "$label" "$ok" "$rows" "$issued" "$v")")
}
check_wrk "wrk warm-up" "$rows_warm" "$TMP/wrk-warm-callhook.txt"
check_wrk "wrk max rate" "$rows_max" "$TMP/wrk-callhook.txt"
rate_ok=$(kv ok "$TMP/rate-callhook.txt"); rate_stored=$(kv stored "$TMP/rate-callhook.txt")
rate_sched=$(kv scheduled "$TMP/rate-callhook.txt"); rate_unanswered=$(kv unanswered "$TMP/rate-callhook.txt")
if [ "$rate_ok" -ne "$rate_stored" ]; then v="FAIL: $((rate_ok - rate_stored)) 2xx answers were not \"stored\""; check_fail=1
elif [ "$rows_rate" -eq "$rate_ok" ]; then v="ok (equal)"
elif [ "$rows_rate" -lt "$rate_ok" ]; then v="FAIL: $((rate_ok - rows_rate)) acknowledged events missing"; check_fail=1
elif [ "$rows_rate" -le "$((rate_ok + rate_unanswered + $(kv errors "$TMP/rate-callhook.txt")))" ]; then v="ok ($((rows_rate - rate_ok)) stored, answer not received in time)"
else v="FAIL: more rows than requests"; check_fail=1; fi
check_lines+=("$(printf '%-22s %12s %14s %14s   %s' "loadgen fixed rate" "$rate_ok" "$rows_rate" "$rate_sched" "$v")")
sum_ok=$(( $(kv ok "$TMP/wrk-warm-callhook.txt") + $(kv ok "$TMP/wrk-callhook.txt") + rate_ok + 1 ))
sum_rows=$((rows_warm + rows_max + rows_rate + rows_probe))
if [ "$sum_rows" -ne "$rows_total" ]; then v="FAIL: $((rows_total - sum_rows)) rows of no phase"; check_fail=1; else v="all rows accounted for"; fi
check_lines+=("$(printf '%-22s %12s %14s %14s   %s' "total (+1 probe)" "$sum_ok" "$rows_total" "" "$v")")

# ---- summary ---------------------------------------------------------------------------------
N=$TMP/wrk-nginx.txt C=$TMP/wrk-callhook.txt R=$TMP/rate-callhook.txt RN=$TMP/rate-nginx.txt
ratio=$(calc "\"%.2f\", $(kv rps "$C") / $(kv rps "$N")")
ratio_pass=$(calc "\"%s\", (($ratio >= $TARGET_RATIO) ? \"PASS\" : \"FAIL\")")
p99_pass=$( [ "$(kv p99_us "$R")" -le "$TARGET_P99_US" ] && [ "$(kv non2xx "$R")" = 0 ] && [ "$(kv errors "$R")" = 0 ] && echo PASS || echo FAIL)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
[ -n "$cpu_model" ] || cpu_model=$(uname -m)
machine="$(nproc) CPUs, $cpu_model, Linux $(uname -r), $FSTYPE (4k O_DSYNC write ${FSYNC_MS:-?} ms)"
when=$(date -u '+%Y-%m-%d %H:%M UTC')
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- src CMakeLists.txt 2>/dev/null)" ] || rev="$rev+dirty"
fmt_int() { printf '%d' "${1%.*}"; }

summary=$(
cat <<EOF
## callhook ingest benchmark — $when

machine: $machine; callhook $rev; CPU busy before the run: ${BUSY}%
load: wrk -t$THREADS -c$CONNS, ${DURATION}s after ${WARMUP}s warm-up; one distinct ~640-byte generic event per request

| server | requests/s | p50 | p99 | server CPU |
|---|---:|---:|---:|---:|
| nginx, static 202 | $(fmt_int "$(kv rps "$N")") | $(ms "$(kv p50_us "$N")") ms | $(ms "$(kv p99_us "$N")") ms | $(cat "$TMP/cpu-nginx")% |
| callhook, durable ingest | $(fmt_int "$(kv rps "$C")") | $(ms "$(kv p50_us "$C")") ms | $(ms "$(kv p99_us "$C")") ms | $(cat "$TMP/cpu-callhook")% |

callhook / nginx = **$ratio** (target >= $TARGET_RATIO: $ratio_pass); callhook group commit: $BATCH_MAX

callhook's threads during the max-rate run: $THREAD_CPU

API writes during callhook's max-rate run (one client, a disabled endpoint created and removed every ${API_INTERVAL}s): POST /v1/endpoints $API_POST; DELETE /v1/endpoints/{id} $API_DELETE

fixed rate ${RATE}/s for ${RATE_DURATION}s on $RATE_CONNS connections (latency from the scheduled send time):

| server | achieved/s | p50 | p90 | p99 | p99.9 | max | 2xx | errors |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
| callhook | $(fmt_int "$(kv rps "$R")") | $(ms "$(kv p50_us "$R")") ms | $(ms "$(kv p90_us "$R")") ms | $(ms "$(kv p99_us "$R")") ms | $(ms "$(kv p999_us "$R")") ms | $(ms "$(kv max_us "$R")") ms | $(kv ok "$R") | $(( $(kv non2xx "$R") + $(kv errors "$R") + $(kv unanswered "$R") )) |
$( [ -f "$RN" ] && echo "| nginx | $(fmt_int "$(kv rps "$RN")") | $(ms "$(kv p50_us "$RN")") ms | $(ms "$(kv p90_us "$RN")") ms | $(ms "$(kv p99_us "$RN")") ms | $(ms "$(kv p999_us "$RN")") ms | $(ms "$(kv max_us "$RN")") ms | $(kv ok "$RN") | $(( $(kv non2xx "$RN") + $(kv errors "$RN") + $(kv unanswered "$RN") )) |")

callhook p99 at ${RATE}/s = $(ms "$(kv p99_us "$R")") ms (target <= $(ms $TARGET_P99_US) ms: $p99_pass); service time (from the actual send) p50 $(ms "$(kv svc_p50_us "$R")") ms, p99 $(ms "$(kv svc_p99_us "$R")") ms; most requests waiting for a free connection: $(kv max_backlog "$R"); group commit: $BATCH_RATE

durability check (after shutdown: rows in \`events\` vs 2xx answers seen by the load generator):
\`\`\`
$(printf '%-22s %12s %14s %14s   %s' phase "2xx answers" "rows (sqlite)" "requests sent" verdict)
$(printf '%s\n' "${check_lines[@]}")
\`\`\`
EOF
)
printf '\n%s\n\n' "$summary"

mkdir -p "$ROOT/bench/results"
out=$ROOT/bench/results/ingest-$(date -u +%Y%m%d-%H%M%S).md
{
    printf '%s\n\n' "$summary"
    for f in wrk-nginx wrk-callhook rate-callhook rate-nginx; do
        [ -f "$TMP/$f.txt" ] || continue
        printf '### %s\n```\n' "$f"; cat "$TMP/$f.txt"; [ -f "$TMP/$f.err" ] && cat "$TMP/$f.err"; printf '```\n\n'
    done
} >"$out"
say "bench: full output in ${out#"$ROOT"/}"

if [ "$UPDATE_DOCS" = 1 ] && grep -q '<!-- ingest-results:end -->' "$ROOT/docs/BENCHMARKS.md" 2>/dev/null; then
    rate_cell="$(ms "$(kv p50_us "$R")") / $(ms "$(kv p99_us "$R")") / $(ms "$(kv p999_us "$R")") ms"
    [ -f "$RN" ] && rate_cell="$rate_cell (nginx $(ms "$(kv p50_us "$RN")") / $(ms "$(kv p99_us "$RN")") / $(ms "$(kv p999_us "$RN")"))"
    row="| $when | $machine; ${BUSY}% busy at start | $rev | -t$THREADS -c$CONNS ${DURATION}s | $(fmt_int "$(kv rps "$N")") | $(fmt_int "$(kv rps "$C")") | $ratio | $(ms "$(kv p50_us "$C")") / $(ms "$(kv p99_us "$C")") ms | $rate_cell | $( [ $check_fail = 0 ] && echo ok || echo FAIL) |"
    awk -v row="$row" '/<!-- ingest-results:end -->/ { print row } { print }' "$ROOT/docs/BENCHMARKS.md" >"$TMP/bm.md" &&
        cat "$TMP/bm.md" >"$ROOT/docs/BENCHMARKS.md"
    say "bench: appended a row to docs/BENCHMARKS.md"
fi

[ $check_fail = 0 ] || die "durability check FAILED"

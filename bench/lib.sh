# Shared by bench/ingest/run.sh and bench/deliver/run.sh (sourced): messages, the tools and
# the run directory, stopping the servers a run started, free loopback ports. The caller sets
# ROOT, BUILD_DIR and KEEP.
say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }
calc() { awk "BEGIN { printf $1 }"; }

require_tools() { # tool...: sets NGINX; dies naming whatever is missing (nginx included)
    NGINX=$(command -v nginx || true)
    [ -n "$NGINX" ] || { [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx; }
    local missing=() t
    for t in "$@"; do command -v "$t" >/dev/null || missing+=("$t"); done
    [ -n "$NGINX" ] || missing+=(nginx)
    [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]} (scripts/deps.sh test installs them)"
}

# name: TMP = a fresh directory for this run, next to the build (on a real disk: on tmpfs, as
# /tmp often is, fsync is free and nothing durable would be measured), removed on exit with
# the servers stopped
make_run_dir() {
    mkdir -p "$ROOT/$BUILD_DIR"
    TMP=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/$BUILD_DIR}/$1.XXXXXX")
    CH_PID="" NGX_PID=""
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

stop_pid() { # pid signal: signal, wait up to 20 s, then SIGKILL
    local pid=$1 sig=$2 _
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -"$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { say "bench: pid $pid did not stop, killing it"; kill -KILL "$pid" 2>/dev/null || true; }
    wait "$pid" 2>/dev/null || true
}
# on exit: both servers stopped, the temp dir removed unless KEEP=1
cleanup() {
    stop_pid "$CH_PID" TERM
    stop_pid "$NGX_PID" QUIT
    if [ "$KEEP" = 1 ]; then say "bench: kept $TMP"; else rm -rf "$TMP"; fi
}

port_free() { ! { (exec 3<>"/dev/tcp/127.0.0.1/$1"); } 2>/dev/null; }
pick_port() {
    local p _
    for _ in $(seq 50); do
        # below Linux's ephemeral range (32768-60999): the dispatcher's own connections to
        # nginx must not take the port callhook is restarted on
        p=$((20000 + RANDOM % 12000))
        port_free "$p" && { echo "$p"; return; }
    done
    die "no free port found"
}

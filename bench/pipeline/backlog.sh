#!/usr/bin/env bash
# Ingest while a transcription backlog drains (docs/BENCHMARKS.md, "Issue 11"): builds a Release
# callhook, synthesises one ~BENCH_AUDIO_WORDS-word recording with espeak-ng (16 kHz PCM WAV,
# about 45 s), and bench/pipeline/backlog.mjs runs bench/ingest's max-rate load (wrk and
# bench/ingest/post.lua) against one daemon BENCH_ROUNDS times quiet (A) and BENCH_ROUNDS times
# while BENCH_BACKLOG_CALLS calls with that recording are being transcribed by pocketsphinx
# (B), interleaved A B A B, and prints every run and the B/A ratio.
#
#   bench/pipeline/backlog.sh                       (about three minutes with the defaults)
#   BENCH_ROUNDS=3 BENCH_BACKLOG_CALLS=6 bench/pipeline/backlog.sh
#
# Environment (defaults): BENCH_ROUNDS=2 BENCH_BACKLOG_CALLS=4 BENCH_DURATION=10 BENCH_WARMUP=5
# BENCH_THREADS=2 BENCH_CONNECTIONS=64 (as bench/ingest) BENCH_AUDIO_WORDS=140
# BENCH_DRAIN_TIMEOUT=300 BENCH_BUILD_DIR=build BENCH_KEEP=0; BENCH_BACKLOG_KIND=text: the backlog is
# calls with a provider transcript (the text stages) instead; BENCH_LOAD_CMD: a command run in
# each A and B instead of wrk (e.g. bench/deliver/run.sh); BENCH_RENICE=N: the enrichment
# threads at nice N (an experiment). CALLHOOK_ENRICH_* are passed to
# `callhook serve` (enrich.cpu_threads, default 1, is what keeps a core for ingest). Everything
# on 127.0.0.1; the daemon and the recording server are stopped by the script.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD_DIR=${BENCH_BUILD_DIR:-build}
KEEP=${BENCH_KEEP:-0}
WORDS=${BENCH_AUDIO_WORDS:-140}
for t in node wrk espeak-ng sox cmake; do
    command -v "$t" >/dev/null || { echo "bench: missing $t (scripts/deps.sh test installs it)" >&2; exit 1; }
done
echo "bench: building callhook (Release) in $BUILD_DIR" >&2
if ! { cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release && cmake --build "$BUILD_DIR" -j2 --target callhook; } >"/tmp/backlog-build.$$.log" 2>&1; then
    tail -n 40 "/tmp/backlog-build.$$.log" >&2
    exit 1
fi
rm -f "/tmp/backlog-build.$$.log"
TMP=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/$BUILD_DIR}/backlog-bench.XXXXXX")
[ "$KEEP" = 1 ] && trap 'echo "bench: kept $TMP" >&2' EXIT || trap 'rm -rf "$TMP"' EXIT

# a caller and an agent, in sentences of our own, repeated up to WORDS words
LINES=(
    "hello I am calling because the heating in my apartment stopped working last night"
    "thank you for calling can I have your name and your address please"
    "my name is Dana Levi and I live on the main street in Boston near the old library"
    "we can send a technician tomorrow morning between eight and eleven"
    "that is fine but please ask him to call me before he comes"
    "of course the visit costs eighty dollars and the repair is quoted on site"
)
text="" n=0 i=0
while [ "$n" -lt "$WORDS" ]; do
    text="$text ${LINES[$((i % ${#LINES[@]}))]}."
    n=$(wc -w <<<"$text")
    i=$((i + 1))
done
espeak-ng -v en-us -s 140 -w "$TMP/raw.wav" "$text"
sox -R "$TMP/raw.wav" -r 16000 -b 16 -e signed-integer -c 1 "$TMP/rec16.wav"
BENCH_AUDIO_SECONDS=$(soxi -D "$TMP/rec16.wav") timeout $((${BENCH_DRAIN_TIMEOUT:-300} * 6 + 600)) node bench/pipeline/backlog.mjs "$ROOT/$BUILD_DIR/callhook" "$TMP" "$TMP/rec16.wav"

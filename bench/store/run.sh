#!/usr/bin/env bash
# The store alone (docs/BENCHMARKS.md, "The writer on its own"): builds bench/store/store_bench.c
# against the Release build's libchcore.a and runs it on a fresh database on the build's disk.
#   bench/store/run.sh [EVENTS] [INFLIGHT]     defaults: 100000 64
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BENCH_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target chcore >/dev/null
TMP=$(mktemp -d "$PWD/$BUILD/store-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
cc -O2 -std=gnu17 -Wall -Wextra -Werror -Isrc -o "$TMP/store_bench" bench/store/store_bench.c \
    "$BUILD/libchcore.a" $(pkg-config --cflags --libs libmicrohttpd jansson sqlite3 libcrypto libsodium inih) -lphonenumber -lstdc++ -lpthread -lm
timeout 300 "$TMP/store_bench" --db "$TMP/bench.db" --events "${1:-100000}" --inflight "${2:-64}"

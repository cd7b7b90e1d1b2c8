#!/usr/bin/env bash
# Every C file is formatted as the pinned .clang-format says (clang-format 14, Debian 12).
# `make format` fixes what this reports.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=()
while IFS= read -r f; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(find src tests/unit fuzz bench -name '*.c' -o -name '*.h' -o -name '*.cc' | sort)
if [ ${#bad[@]} -gt 0 ]; then
    echo "format: not formatted per .clang-format (run make format): ${bad[*]}"
    exit 1
fi
echo "format: ok"

#!/usr/bin/env bash
# The dependency rule (docs/internals/architecture.md): the folders of src/ form layers, and a
# folder may use only the layers below it. Checked twice:
#   1. includes: no file includes a header of a folder above its own;
#   2. symbols (with a build dir): no object of a folder refers to a function or variable that
#      only a folder above it defines — a call upwards through a declaration that lives in a
#      lower header (the http → api cycle this rule was written against) is caught here.
#
#   scripts/check-layers.sh [BUILD_DIR]      (make test runs it on build-test)
set -euo pipefail
cd "$(dirname "$0")/.."

# Lowest first. "config" is src/app/config.*: settings every layer above delivery may read.
LAYERS=(util core providers store delivery enrich config ingest http api app cli main)

unit_of() { # path under src/ → unit name
    case "$1" in
    src/app/config.*) echo config ;;
    src/main.c) echo main ;;
    src/*/*) local d=${1#src/}; echo "${d%%/*}" ;;
    *) echo "?" ;;
    esac
}

rank_of() {
    local i
    for i in "${!LAYERS[@]}"; do [ "${LAYERS[$i]}" = "$1" ] && { echo "$i"; return; }; done
    echo -1
}

bad=0
while IFS= read -r f; do
    u=$(unit_of "$f")
    ru=$(rank_of "$u")
    if [ "$ru" -lt 0 ]; then
        echo "layers: $f is in no layer (add its folder to LAYERS in $0 and to architecture.md)"
        bad=1
        continue
    fi
    while IFS= read -r inc; do
        [ -n "$inc" ] || continue
        v=$(unit_of "src/$inc")
        rv=$(rank_of "$v")
        [ "$rv" -ge 0 ] || continue
        if [ "$rv" -gt "$ru" ]; then
            echo "layers: $f ($u) includes $inc ($v, a layer above)"
            bad=1
        fi
    done < <(sed -n 's/^#include "\([a-z_]*\/[^"]*\)".*/\1/p' "$f")
done < <(find src -name '*.c' -o -name '*.cc' -o -name '*.h' | sort)

# A store backend stays behind the backend table (docs/internals/store-backend.md): only the
# files of src/store/<backend>/ include that backend's headers or its client library's.
while IFS= read -r f; do
    dir=${f%/*}
    while IFS= read -r inc; do
        case "$inc" in
        sqlite3.h | libpq-fe.h) [ "$dir" = src/store/sqlite ] && [ "$inc" = sqlite3.h ] && continue ;;
        store/*/*) [ "$dir" = "src/${inc%/*}" ] && continue ;;
        *) continue ;;
        esac
        echo "layers: $f includes $inc: only its store backend's folder may (the backend table)"
        bad=1
    done < <(sed -n 's/^#include [<"]\([^>"]*\)[>"].*/\1/p' "$f")
done < <(find src -name '*.c' -o -name '*.cc' -o -name '*.h' | sort)

build=${1:-}
if [ -n "$build" ] && [ -d "$build/CMakeFiles/chcore.dir/src" ]; then
    objdir="$build/CMakeFiles/chcore.dir"
    objects() { # the objects of today's sources (a build dir may hold stale ones of moved files)
        local f
        while IFS= read -r f; do
            [ -f "$objdir/$f.o" ] && echo "$objdir/$f.o"
        done < <(find src -name '*.c' -o -name '*.cc' | grep -v '^src/main.c$')
    }
    defs=$(mktemp)
    trap 'rm -f "$defs"' EXIT
    # symbol → unit that defines it
    while IFS= read -r o; do
        src=${o#"$objdir"/}
        src=${src%.o}
        u=$(unit_of "$src")
        nm --defined-only -g "$o" 2>/dev/null | awk -v u="$u" 'NF >= 3 && $2 ~ /[TDBR]/ {print $3, u}'
    done < <(objects) | sort -u >"$defs"
    uses=$(mktemp)
    trap 'rm -f "$defs" "$uses"' EXIT
    # symbol → unit and file that use it
    while IFS= read -r o; do
        src=${o#"$objdir"/}
        src=${src%.o}
        u=$(unit_of "$src")
        nm --undefined-only "$o" 2>/dev/null | awk -v u="$u" -v f="$src" '$NF ~ /^ch_/ {print $NF, u, f}'
    done < <(objects) | sort >"$uses"
    while read -r sym u f v; do
        if [ "$(rank_of "$v")" -gt "$(rank_of "$u")" ]; then
            echo "layers: $f ($u) uses $sym, defined in $v (a layer above)"
            bad=1
        fi
    done < <(join "$uses" "$defs")
fi

if [ "$bad" -ne 0 ]; then
    echo "layers: the dependency rule is broken (docs/internals/architecture.md)"
    exit 1
fi
echo "layers: ok (${LAYERS[*]})"

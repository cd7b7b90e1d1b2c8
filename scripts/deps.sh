#!/usr/bin/env bash
# Installs what callhook needs from Debian's packages (and npm for tests). Idempotent: a package
# already installed is not touched, so a second run costs one dpkg query.
#   scripts/deps.sh run    build + run dependencies
#   scripts/deps.sh test   also test, fuzz and benchmark dependencies, and `npm ci`
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}

pkgs=(build-essential cmake pkg-config tzdata ca-certificates
      libmicrohttpd-dev libjansson-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev
      libsodium-dev libinih-dev libphonenumber-dev sqlite3
      libpocketsphinx-dev pocketsphinx-en-us libsndfile1-dev libmpg123-dev libsamplerate0-dev
      libicu-dev)
if [ "$mode" = test ]; then
    pkgs+=(libcmocka-dev clang clang-format libclang-rt-14-dev nodejs npm wrk nginx-light nghttp2-client
           espeak-ng sox libsox-fmt-mp3 sctk
           chromium  # the dashboard's browser tests (tests/browser/, driven by npm playwright-core)
           firefox-esr) # the same in Firefox (tests/browser/dashboard-firefox.test.mjs, npm puppeteer-core)
fi

missing=()
for p in "${pkgs[@]}"; do
    # nodejs/npm may come from outside Debian (as on the CI image): a working binary is enough.
    case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$mode" = test ]; then
    # npm ci only when the lock file changed since the last install.
    stamp=node_modules/.callhook-lock
    if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
        npm ci --no-audit --no-fund --loglevel=error
        mkdir -p node_modules
        cp package-lock.json "$stamp"
    fi
fi

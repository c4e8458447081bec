#!/usr/bin/env bash
# Render an HTML report in a real headless browser (Debian's `chromium`), for
# tests/report.rs. Installs chromium first when it is missing (as root, with apt-get).
#
#   tests/report_browser.sh HTML OUT_PREFIX
#
# writes OUT_PREFIX.png  a 1280-pixel-wide screenshot of the page,
#        OUT_PREFIX.dom  the DOM after the page's script ran (--dump-dom),
#        OUT_PREFIX.log  the browser's log: console messages are lines with ":CONSOLE".
# Exit status: 0 when both runs of chromium finished; the caller judges the output.
set -euo pipefail

html=$(realpath "$1")
out=$2

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "chromium is not installed; install it with: apt-get install -y chromium" >&2
        exit 2
    fi
    # One install at a time, whichever test gets here first.
    exec 9>/tmp/tokenaudit-chromium-install.lock
    flock 9
    if ! command -v chromium >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq chromium >/dev/null
    fi
    flock -u 9
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
       --disable-component-update --disable-sync --no-first-run --hide-scrollbars
       --user-data-dir="$profile" --enable-logging=stderr --v=0)

: >"$out.log"
timeout 120 chromium "${flags[@]}" --window-size=1280,4000 \
    --screenshot="$out.png" "file://$html" >/dev/null 2>>"$out.log"
timeout 120 chromium "${flags[@]}" --dump-dom "file://$html" >"$out.dom" 2>>"$out.log"

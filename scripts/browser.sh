#!/usr/bin/env bash
# Installs what the dashboard's browser tests (tests/browser/, run by tests/it/dashboard_ui.rs)
# need: Debian's Chromium (and Node.js with npm when `node` is missing) via apt, and npm's
# `playwright-core` (no browser download: it drives Debian's Chromium) into the user's cache
# with `npm install --prefix`. Idempotent: a second run only checks, offline.
#
#   scripts/browser.sh                 prints `NODE_PATH=DIR` and `CHROMIUM=PATH`
#   scripts/browser.sh SCRIPT ARGS...  runs `node SCRIPT ARGS...` with both in its environment
set -euo pipefail

# The newest playwright-core that runs on Debian 12's own Node.js 18 (1.62 on need Node 20).
PLAYWRIGHT_VERSION=1.61.1
DIR="${XDG_CACHE_HOME:-$HOME/.cache}/qorovul/playwright-core-$PLAYWRIGHT_VERSION"

LOG_TAG=browser
. "$(dirname "$0")/common.sh"


chromium_path() { command -v chromium || command -v chromium-browser || true; }

install_debian_packages() {
  local missing=()
  [ -n "$(chromium_path)" ] || missing+=(chromium)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  [ ${#missing[@]} -eq 0 ] && { log "chromium, node, npm: present"; return; }
  log "Debian packages to install: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  retry $sudo apt-get update -q >&2
  retry $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || { retry $sudo apt-get update -q >&2 && retry $sudo apt-get install -y -q --fix-missing --no-install-recommends "${missing[@]}" >&2; }
}

# The check is a require by this node, so a cache left half-done or by another version is redone.
installed() {
  NODE_PATH="$DIR/node_modules" node -e \
    "process.exit(require('playwright-core/package.json').version === '$PLAYWRIGHT_VERSION' && require('playwright-core').chromium ? 0 : 1)" \
    2>/dev/null
}

# Into a fresh DIR.partial each try, moved into place only once complete.
npm_install() {
  rm -rf "$DIR.partial"; mkdir -p "$DIR.partial"
  npm install --prefix "$DIR.partial" --no-save --no-package-lock --no-audit --no-fund \
    --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION" >&2
}

install_debian_packages
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
(( NODE_MAJOR >= 18 )) || { log "playwright-core $PLAYWRIGHT_VERSION needs Node.js 18 or newer; $(command -v node) is $(node --version)"; exit 1; }

if installed; then
  log "playwright-core $PLAYWRIGHT_VERSION: cached at $DIR"
else
  log "playwright-core $PLAYWRIGHT_VERSION: installing from npm into $DIR"
  retry npm_install
  rm -rf "$DIR"; mv "$DIR.partial" "$DIR"
  installed || { log "installed, but node cannot load playwright-core $PLAYWRIGHT_VERSION from $DIR"; exit 1; }
  log "playwright-core $PLAYWRIGHT_VERSION: installed at $DIR"
fi

CHROMIUM="$(chromium_path)"
[ -n "$CHROMIUM" ] || { log "no chromium on PATH after installing it"; exit 1; }

if [ $# -eq 0 ]; then
  printf 'NODE_PATH=%s\n' "$DIR/node_modules"
  printf 'CHROMIUM=%s\n' "$CHROMIUM"
else
  NODE_PATH="$DIR/node_modules${NODE_PATH:+:$NODE_PATH}" CHROMIUM="$CHROMIUM" exec node "$@"
fi

#!/usr/bin/env bash
# Installs the Python zenoh binding (PyPI `eclipse-zenoh`, the same version as the Rust
# zenoh qorovul uses) for docs/examples/subscribe.py, into the user's cache with
# `pip install --target` (no venv, nothing system-wide). Idempotent: a second run only checks.
#
#   scripts/python-zenoh.sh                 prints `PYTHONPATH=DIR`: run python3 with it
#   scripts/python-zenoh.sh SCRIPT ARGS...  runs `python3 SCRIPT ARGS...` with it
set -euo pipefail

ZENOH_VERSION=1.10.2
DIR="${XDG_CACHE_HOME:-$HOME/.cache}/qorovul/python-zenoh-$ZENOH_VERSION"

LOG_TAG=python-zenoh
. "$(dirname "$0")/common.sh"


# The check is an import by this python3, so a cache left by another interpreter is redone.
installed() {
  PYTHONPATH="$DIR" python3 -c "import zenoh, importlib.metadata as m; assert m.version('eclipse-zenoh') == '$ZENOH_VERSION'" 2>/dev/null
}

# Into a fresh DIR.partial each try, moved into place only once complete.
pip_install() {
  rm -rf "$DIR.partial"
  python3 -m pip install --quiet --disable-pip-version-check --no-input --root-user-action=ignore \
    --only-binary=:all: --target "$DIR.partial" "eclipse-zenoh==$ZENOH_VERSION"
}

if installed; then
  log "eclipse-zenoh $ZENOH_VERSION: cached at $DIR"
else
  log "eclipse-zenoh $ZENOH_VERSION: installing from PyPI into $DIR"
  retry pip_install
  rm -rf "$DIR"; mv "$DIR.partial" "$DIR"
  installed || { log "installed, but python3 cannot import zenoh $ZENOH_VERSION from $DIR"; exit 1; }
  log "eclipse-zenoh $ZENOH_VERSION: installed at $DIR"
fi

if [ $# -eq 0 ]; then
  printf 'PYTHONPATH=%s\n' "$DIR"
else
  PYTHONPATH="$DIR${PYTHONPATH:+:$PYTHONPATH}" exec python3 "$@"
fi

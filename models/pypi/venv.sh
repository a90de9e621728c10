#!/usr/bin/env bash
# A pinned virtualenv in ${XDG_CACHE_HOME:-$HOME/.cache}/qorovul/tools/NAME, created once
# (retried: PyPI can fail once) with `pip install PIP_ARGS...`; prints its path. The scripts
# of models/ name their venvs by tool and version, so a version change makes a new one.
#   VENV="$(bash models/pypi/venv.sh onnx-1.17.0 --only-binary=:all: onnx==1.17.0 ...)"
set -euo pipefail
NAME="${1:?usage: venv.sh NAME PIP_ARGS...}"
shift
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/qorovul/tools/$NAME"
log() { printf '[venv %s] %s\n' "$NAME" "$*" >&2; }

if [[ ! -f "$VENV/.qorovul-complete" ]]; then
    log "creating virtualenv $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" >&2 || { log "python3 -m venv failed: install python3-venv"; exit 1; }
    for try in 1 2 3; do
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2 && break
        [[ $try == 3 ]] && { log "pip install failed"; exit 1; }
        sleep $((try * 5))
    done
    touch "$VENV/.qorovul-complete"
fi
echo "$VENV"

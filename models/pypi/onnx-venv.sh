#!/usr/bin/env bash
# The virtualenv light conversions run in (centerface, e5): onnx, numpy and protobuf pinned,
# so the converted files are byte-deterministic and match the manifest's sha256. Created
# once in ${XDG_CACHE_HOME:-$HOME/.cache}/qorovul/tools/onnx-1.17.0; prints its path.
#   VENV="$(bash models/pypi/onnx-venv.sh)"
set -euo pipefail
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/qorovul/tools/onnx-1.17.0"
log() { printf '[onnx-venv] %s\n' "$*" >&2; }

if [[ ! -f "$VENV/.qorovul-complete" ]]; then
    log "creating virtualenv $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" >&2 || { log "python3 -m venv failed: install python3-venv"; exit 1; }
    for try in 1 2 3; do
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
            onnx==1.17.0 numpy==1.26.4 protobuf==7.36.2 >&2 && break
        [[ $try == 3 ]] && { log "pip install failed"; exit 1; }
        sleep $((try * 5))
    done
    touch "$VENV/.qorovul-complete"
fi
echo "$VENV"

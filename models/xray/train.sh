#!/usr/bin/env bash
# Reproducer of the committed xray-threats.onnx: makes the domain-randomised training scans
# (synth.py --config wide), trains on CPU (JAX), exports ONNX and evaluates it (EVAL.md): on
# the independent generator (another scanner; the run is logged in INDEPENDENT-RUNS.md), on
# the training generator's held-out configuration, and on validation scans of the training
# distribution, from which the operating point is chosen. About 1.5 h on 2 cores (data 15 min, training 35 min).
# Training is not byte-reproducible (thread scheduling changes float sums): a re-run gives a
# model of the same quality, not the same sha256; check EVAL.md before committing one.
#   bash models/xray/train.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/qorovul"
# Keyed by the recipe: the generator, the training script and this file.
RECIPE="$(cat "$HERE/synth.py" "$HERE/wide.py" "$HERE/train.py" "$HERE/xray_common.py" "$0" | sha256sum | cut -c1-16)"
WORK="${XRAY_WORK:-$CACHE/xray-train-$RECIPE}"
log() { printf '[xray/train.sh] %s\n' "$*" >&2; }

VENV="$(bash "$HERE/../pypi/venv.sh" xray-train-jax-0.10.2 --only-binary=:all: \
    jax==0.10.2 jaxlib==0.10.2 optax==0.2.8 numpy==2.4.6 onnx==1.17.0 onnxruntime==1.22.1 protobuf==7.36.2)"
PY="$VENV/bin/python"
SYNTH="$HERE/synth.py"
mkdir -p "$WORK"
# Training: 6000 scans of the wide config, seed 21 (two processes). Validation (the operating
# point): 300 of seed 22. Held out: 400 of the heldout config, seed 11. Independent: 450 bags
# of independent/bags.py, seed 1.
if [[ ! -f "$WORK/.data-complete" ]]; then
    rm -rf "$WORK/train" "$WORK/val" "$WORK/heldout" "$WORK/independent"
    "$PY" "$SYNTH" --kind baggage --config wide --seed 21 --start 0 --count 3000 --out "$WORK/train" &
    "$PY" "$SYNTH" --kind baggage --config wide --seed 21 --start 3000 --count 3000 --out "$WORK/train" &
    wait
    "$PY" "$SYNTH" --kind baggage --config wide --seed 22 --count 300 --out "$WORK/val" &
    "$PY" "$SYNTH" --kind baggage --config heldout --seed 11 --count 400 --out "$WORK/heldout" &
    wait
    "$PY" "$HERE/independent/bags.py" --seed 1 --start 0 --count 225 --out "$WORK/independent" &
    "$PY" "$HERE/independent/bags.py" --seed 1 --start 225 --count 225 --out "$WORK/independent" &
    wait
    touch "$WORK/.data-complete"
fi
[[ -f "$WORK/weights.npz" ]] || "$PY" "$HERE/train.py" --data "$WORK/train" --out "$WORK/weights.npz" --epochs 10 \
    --zoom-min 0.75
"$PY" "$HERE/export.py" --weights "$WORK/weights.npz" --out "$HERE/xray-threats.onnx" --check "$WORK/val"
"$PY" "$HERE/evaluate.py" --model "$HERE/xray-threats.onnx" --target-fa 0.1 --op-data "$WORK/val" \
    --data "$WORK/independent" --name "independent generator: independent/bags.py --seed 1 --count 450 (another scanner)" \
    --data "$WORK/heldout" --name "training generator, held-out configuration: synth.py --config heldout --seed 11, scans 0-399" \
    --data "$WORK/val" --name "training distribution: synth.py --config wide --seed 22, scans 0-299 (upper bound)" \
    --log "$HERE/INDEPENDENT-RUNS.md" --out "$HERE/EVAL.md"
sha256sum "$HERE/xray-threats.onnx"

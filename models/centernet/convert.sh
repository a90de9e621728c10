#!/usr/bin/env bash
# One-off reproducer: COCO CenterNet (MobileNetV3) from @vladmandic/human@3.3.6 (npm, tfjs
# graph model) -> models/centernet/centernet.onnx, via tf2onnx 1.16.1 on tensorflow-cpu 2.15.1.
#
# Needs: python3 (3.11), npm, network access to the PyPI and npm registries only.
# Uses a throw-away virtualenv and a tarball cache under ${XDG_CACHE_HOME:-$HOME/.cache}/qorovul/.
# Run from anywhere:  bash models/centernet/convert.sh
#
# Note: tf2onnx's graph optimiser iterates over sets of Python objects, so two conversions
# give functionally identical graphs whose node/initialiser naming and order can differ,
# hence different bytes and sha256. The committed centernet.onnx and the sha256 in CARD.md
# are the reference; a re-run is checked by behaviour (evaluate_vtest.py), not by bytes.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/qorovul"
VENV="$CACHE/tools/tf2onnx-1.16.1-tf2.15.1"
NPM_CACHE="$CACHE/npm"
PKG_SPEC="@vladmandic/human@3.3.6"
TGZ="$NPM_CACHE/vladmandic-human-3.3.6.tgz"
OPSET=13
OUT="$HERE/centernet.onnx"

# sha256 of the files as shipped in the npm package (checked, conversion refuses on mismatch)
JSON_SHA256="bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05"
BIN_SHA256="1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef"

log() { printf '[convert.sh] %s\n' "$*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/qorovul-centernet.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------- 1. virtualenv
if [[ ! -f "$VENV/.qorovul-complete" ]]; then
    log "creating virtualenv $VENV (tensorflow-cpu install takes a few minutes)"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    # Full pinned set, as resolved for tensorflow-cpu==2.15.1 + tf2onnx==1.16.1 on CPython 3.11 x86_64.
    cat > "$WORK/constraints.txt" <<'EOF'
absl-py==2.5.1
astunparse==1.6.3
certifi==2026.10.18
cffi==2.1.1
charset-normalizer==3.5.2
cryptography==50.0.2
flatbuffers==25.12.19
gast==0.7.0
google-auth==2.62.2
google-auth-oauthlib==1.5.0
google-pasta==0.2.0
grpcio==1.85.1
h5py==3.16.0
idna==3.20
keras==2.15.0
libclang==18.1.1
Markdown==3.11.3
MarkupSafe==3.0.4
ml-dtypes==0.3.2
numpy==1.26.4
oauthlib==4.0.1
onnx==1.17.0
opt_einsum==3.4.0
packaging==26.3
protobuf==3.20.3
pyasn1==0.6.5
pyasn1_modules==0.4.2
pycparser==3.12
requests==2.34.2
requests-oauthlib==2.0.0
six==1.17.0
tensorboard==2.15.2
tensorboard-data-server==0.7.2
tensorflow-cpu==2.15.1
tensorflow-estimator==2.15.0
tensorflow-io-gcs-filesystem==0.37.1
termcolor==3.3.0
tf2onnx==1.16.1
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
wrapt==1.14.2
EOF
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        -c "$WORK/constraints.txt" tensorflow-cpu==2.15.1 tf2onnx==1.16.1
    "$VENV/bin/python" -c 'import tensorflow, tf2onnx, onnx' 2>/dev/null
    touch "$VENV/.qorovul-complete"
else
    log "reusing virtualenv $VENV"
fi

# ---------------------------------------------------------------- 2. npm package
mkdir -p "$NPM_CACHE"
if [[ ! -f "$TGZ" ]]; then
    log "npm pack $PKG_SPEC"
    (cd "$WORK" && npm pack --silent "$PKG_SPEC" >/dev/null)
    mv "$WORK/vladmandic-human-3.3.6.tgz" "$TGZ"
else
    log "reusing $TGZ"
fi
log "tgz sha256: $(sha256sum "$TGZ" | cut -d' ' -f1)"

tar -xzf "$TGZ" -C "$WORK" package/models/centernet.json package/models/centernet.bin package/LICENSE
MODELS="$WORK/package/models"
got_json="$(sha256sum "$MODELS/centernet.json" | cut -d' ' -f1)"
got_bin="$(sha256sum "$MODELS/centernet.bin" | cut -d' ' -f1)"
echo "centernet.json sha256 $got_json"
echo "centernet.bin  sha256 $got_bin"
if [[ "$got_json" != "$JSON_SHA256" || "$got_bin" != "$BIN_SHA256" ]]; then
    log "ERROR: source files differ from the ones this reproducer was written for"
    exit 1
fi

# ---------------------------------------------------------------- 3. patch + convert
# the patched JSON must sit beside centernet.bin (the weights manifest names it relatively)
python3 "$HERE/patch_tfjs_graph.py" "$MODELS/centernet.json" "$MODELS/centernet.patched.json"

log "tf2onnx --tfjs (opset $OPSET)"
PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2 "$VENV/bin/python" -m tf2onnx.convert \
    --tfjs "$MODELS/centernet.patched.json" \
    --opset "$OPSET" \
    --output "$WORK/centernet.onnx" > "$WORK/tf2onnx.log" 2>&1 || {
        cat "$WORK/tf2onnx.log" >&2; log "ERROR: tf2onnx failed"; exit 1; }
grep -E "Model (inputs|outputs)|Successfully" "$WORK/tf2onnx.log" >&2 || true

# ---------------------------------------------------------------- 4. check + install
"$VENV/bin/python" - "$WORK/centernet.onnx" <<'EOF'
import sys, onnx
m = onnx.load(sys.argv[1])
# tf2onnx writes the (random) temp path of the input JSON into doc_string; replace it
m.doc_string = "converted from @vladmandic/human@3.3.6 models/centernet.json (patched) by tf2onnx 1.16.1"
onnx.checker.check_model(m, full_check=True)
onnx.save(m, sys.argv[1])
def desc(v):
    t = v.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
    return f"{v.name} {onnx.TensorProto.DataType.Name(t.elem_type)} {dims}"
print("opset", [(o.domain or "ai.onnx", o.version) for o in m.opset_import])
for v in m.graph.input:  print("input ", desc(v))
for v in m.graph.output: print("output", desc(v))
EOF

mv "$WORK/centernet.onnx" "$OUT"
echo "wrote $OUT ($(stat -c %s "$OUT") bytes)"
echo "centernet.onnx sha256 $(sha256sum "$OUT" | cut -d' ' -f1)"

#!/usr/bin/env bash
# Light conversion for `ppocr_rec` (run by `qorovul models fetch` with $QV_MODEL_OUT set):
# PP-OCRv4 text recognition as shipped in rapidocr_onnxruntime==1.4.4 (PyPI), used
# unchanged; its character list is in the model's metadata (key `character`).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${QV_MODEL_OUT:?set by qorovul models fetch: where to write the model}"
bash "$HERE/../pypi/extract.sh" rapidocr_onnxruntime==1.4.4 \
  rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx \
  48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b \
  "$QV_MODEL_OUT"

#!/usr/bin/env bash
# Light conversion for `ppocr_det` (run by `qorovul models fetch` with $QV_MODEL_OUT set):
# PP-OCRv4 text detection as shipped in rapidocr_onnxruntime==1.4.4 (PyPI), used unchanged.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${QV_MODEL_OUT:?set by qorovul models fetch: where to write the model}"
bash "$HERE/../pypi/extract.sh" rapidocr_onnxruntime==1.4.4 \
  rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx \
  d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9 \
  "$QV_MODEL_OUT"

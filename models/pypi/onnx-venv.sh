#!/usr/bin/env bash
# The virtualenv light conversions and the X-ray generator run in (centerface, e5,
# models/xray/synth.py): onnx, numpy and protobuf pinned, so converted files are
# byte-deterministic and match the manifest's sha256. Prints its path.
#   VENV="$(bash models/pypi/onnx-venv.sh)"
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/venv.sh" onnx-1.17.0 --only-binary=:all: \
    onnx==1.17.0 numpy==1.26.4 protobuf==7.36.2

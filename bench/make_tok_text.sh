#!/usr/bin/env bash
# Build the tokenizer benchmark text: the license texts under /usr/share/common-licenses and the
# tokenizer test cases of ../shared/vocab (ASCII prose, code-ish text, emoji, CJK, odd
# whitespace), repeated until BYTES (default 10 MiB) and cut at a line end. Deterministic.
#   bench/make_tok_text.sh OUT [BYTES]
set -euo pipefail
out=$1
bytes=${2:-10485760}
here=$(cd "$(dirname "$0")" && pwd)
shared=${HYPURA_FIXTURES:-$here/../../shared}
[ -d "$shared" ] || shared=$here/../shared
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# the license files in name order (symlinks resolved, each file once)
for f in $(find /usr/share/common-licenses -maxdepth 1 -type f | sort); do cat "$f"; done >"$tmp"
# the test cases, without their separators
for f in "$shared"/vocab/*.inp; do
  [ -f "$f" ] && grep -v '^__ggml_vocab_test__$' "$f" >>"$tmp"
done
[ -s "$tmp" ] || { echo "no input text found" >&2; exit 1; }
: >"$out"
while [ "$(stat -c %s "$out")" -lt "$bytes" ]; do cat "$tmp" >>"$out"; done
# cut to BYTES, then back to the last newline so no character is split
head -c "$bytes" "$out" >"$tmp"
python3 - "$tmp" "$out" <<'PY'
import sys
data = open(sys.argv[1], 'rb').read()
data = data[:data.rfind(b'\n') + 1]
open(sys.argv[2], 'wb').write(data)
PY

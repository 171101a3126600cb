#!/usr/bin/env bash
# The size rules of the source tree, checked: no file under src/ over 1,000 lines except
# generated tables (unicode_data.c, from scripts/gen_unicode.py), and no function in src/
# or tools/ over 150 lines (a function is counted from its opening brace in column 0 to
# its closing one). Run from the repository root (the Makefile's test wrapper does).
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0
for f in $(git ls-files 'src/*.c' 'src/*.h' 'src/*.cu' 2>/dev/null || find src -name '*.[ch]'); do
  case $f in src/tokenizer/unicode_data.c) continue;; esac
  n=$(wc -l < "$f")
  if [ "$n" -gt 1000 ]; then echo "   FAIL $f: $n lines (at most 1000)"; fail=$((fail + 1)); fi
done
[ $fail = 0 ] && { echo "   ok   no file under src/ over 1000 lines"; pass=$((pass + 1)); }
long=$(awk 'FNR == 1 { sig = ""; open = 0 }
  /^[A-Za-z_].*\(/ { sig = $0; at = FNR }
  /^\{/ { if (sig != "") open = FNR }
  /^\}/ { if (open && FNR - open - 1 > 150)
            printf "%s:%d: %d lines: %s\n", FILENAME, at, FNR - open - 1, substr(sig, 1, 70)
          open = 0; sig = "" }' $(git ls-files 'src/*.c' 'tools/*.c' 2>/dev/null || find src tools -name '*.c'))
if [ -n "$long" ]; then
  echo "$long" | sed 's/^/   FAIL function over 150 lines: /'; fail=$((fail + 1))
else
  echo "   ok   no function in src/ or tools/ over 150 lines"; pass=$((pass + 1))
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]

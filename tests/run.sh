#!/usr/bin/env bash
# Run every test program in DIR (or only those named), print each one's result and a
# closing "N passed, N failed" summed over all of them. Exit status 77 from a program
# means it skipped itself (it says why). A program running longer than TEST_TIMEOUT seconds
# (default 600) is stopped and counted as failed: a hang must not stall CI.
set -u
dir=$1; shift
only=("$@")
pass=0; fail=0; skipped=0; failed_progs=()
for t in "$dir"/test_*; do
  [ -x "$t" ] || continue
  case "$t" in *.d) continue;; esac
  name=$(basename "$t")
  if [ ${#only[@]} -gt 0 ] && [ "${only[0]}" != "" ]; then
    keep=0; for o in "${only[@]}"; do [ "$o" = "$name" ] && keep=1; done
    [ $keep = 1 ] || continue
  fi
  echo "== $name"
  out=$(timeout -k 10 "${TEST_TIMEOUT:-600}" "$t" 2>&1); rc=$?
  [ $rc = 124 ] && out="$out
timed out after ${TEST_TIMEOUT:-600} s (TEST_TIMEOUT)"
  echo "$out" | sed 's/^/   /'
  line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
  p=0; f=0
  if [ -n "$line" ]; then p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}; fi
  if [ $rc = 77 ]; then skipped=$((skipped + 1))
  elif [ $rc != 0 ] && [ "$f" = 0 ]; then f=1; fi   # crashed or exited early
  pass=$((pass + p)); fail=$((fail + f))
  [ "$f" != 0 ] && failed_progs+=("$name")
done
[ $skipped -gt 0 ] && echo "$skipped test programs skipped (reasons above)"
[ ${#failed_progs[@]} -gt 0 ] && echo "failing: ${failed_progs[*]}"
echo "$pass passed, $fail failed"
[ $fail = 0 ]

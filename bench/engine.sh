#!/usr/bin/env bash
# Engine speed, side by side with llama.cpp on this machine (issue 2's benchmark):
# synth llama3-1b models (Q4_K_M and Q8_0 by default), 2 threads, all weights in RAM,
# decode = 128 generated tokens (llama-bench -n 128 -p 0), prompt = 512 tokens
# (llama-bench -p 512 -n 0). The two engines alternate, rep by rep, so drift on a shared
# machine hits both alike; medians and ratios are printed and written as JSON.
#   bench/engine.sh [-r REPS] [-t THREADS] [--types "Q4_K_M Q8_0"] [--out DIR]
# Needs the peer built by ../shared/peer/setup.sh (PEER=~/.cache/hypura-peer).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=5 THREADS=2 TYPES="Q4_K_M Q8_0" OUT=bench/out
while [ $# -gt 0 ]; do
  case $1 in
    -r) REPS=$2; shift 2;; -t) THREADS=$2; shift 2;;
    --types) TYPES=$2; shift 2;; --out) OUT=$2; shift 2;;
    *) echo "usage: bench/engine.sh [-r REPS] [-t THREADS] [--types LIST] [--out DIR]" >&2; exit 2;;
  esac
done
PEER=${PEER:-$HOME/.cache/hypura-peer}
LB=$PEER/llama.cpp/build/bin/llama-bench
[ -x "$LB" ] || { echo "llama-bench not found at $LB: run ../shared/peer/setup.sh" >&2; exit 1; }
make -s -j"$(nproc)" >/dev/null
H=build/hypura
MODELS=${MODELS:-/var/tmp/hypura-bench}
mkdir -p "$OUT" "$MODELS"
export HYPURA_FIXTURES=${HYPURA_FIXTURES:-../shared}
med() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(statistics.median(v))' "$@"; }
lb() { # llama-bench tokens/s for one configuration
  "$LB" -m "$1" -t "$THREADS" $2 -r 1 -o jsonl 2>/dev/null | python3 -c 'import sys,json; print([json.loads(l)["avg_ts"] for l in sys.stdin if l.strip()][-1])'
}
hy() { # hypura tokens/s: $2 = prompt|decode
  local j; j=$(mktemp)
  if [ "$2" = prompt ]; then "$H" bench "$1" -p 512 -n 0 -r 1 --warm -t "$THREADS" --json "$j" >/dev/null 2>&1
  else "$H" bench "$1" -p 0 -n 128 -r 1 --warm -t "$THREADS" --json "$j" >/dev/null 2>&1; fi
  python3 -c 'import sys,json; r=json.load(open(sys.argv[1]))["runs"][0]; print(r["prompt_tps"] if sys.argv[2]=="prompt" else r["decode_tps"])' "$j" "$2"
  rm -f "$j"
}
result=$OUT/engine.json
echo "{" > "$result"; first=1
printf '%-8s %-7s %12s %12s %8s\n' type test hypura llama.cpp ratio
for T in $TYPES; do
  M=$MODELS/llama3-1b-$T.gguf
  [ -f "$M" ] || "$H" synth llama3-1b --type "$T" -o "$M" --quiet
  for test in decode prompt; do
    hs=(); ls=()
    for ((r = 0; r < REPS; r++)); do
      if [ $test = decode ]; then ls+=("$(lb "$M" "-n 128 -p 0")"); else ls+=("$(lb "$M" "-p 512 -n 0")"); fi
      hs+=("$(hy "$M" $test)")
    done
    hm=$(med "${hs[@]}"); lm=$(med "${ls[@]}")
    ratio=$(python3 -c "print(round($hm/$lm, 3))")
    printf '%-8s %-7s %12.2f %12.2f %8.2fx\n' "$T" $test "$hm" "$lm" "$ratio"
    [ $first = 1 ] || echo "," >> "$result"; first=0
    printf '"%s_%s": {"hypura_tps": %s, "llama_cpp_tps": %s, "ratio": %s, "hypura_all": [%s], "llama_cpp_all": [%s]}' \
      "$T" $test "$hm" "$lm" "$ratio" "$(IFS=,; echo "${hs[*]}")" "$(IFS=,; echo "${ls[*]}")" >> "$result"
  done
done
echo "}" >> "$result"
echo "threads $THREADS, $REPS reps each, medians; JSON: $result"

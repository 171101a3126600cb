#!/usr/bin/env bash
# Decode on a busy machine (the thread-pool issue's benchmark): the synth llama3-1b model
# (Q4_K_M by default, made the way bench/engine.sh makes it), THREADS compute threads,
# each engine timed idle and while `yes > /dev/null` holds one core. Conditions and
# engines alternate within every rep (idle then loaded; which engine goes first flips
# each rep), so drift on a shared machine hits all four cells alike; medians are taken.
# Prints each engine's loaded/idle ratio and hypura's ratio over llama.cpp's; the bar is
# hypura's ratio >= 0.40 and >= llama.cpp's.
#   bench/loaded.sh [-r REPS] [-t THREADS] [-n TOKENS] [--type TYPE] [--model FILE]
#                   [--pin CPU] [--out DIR]
#   --model FILE  any GGUF instead of the synth model (e.g. the tiny stories260K fixture)
#   --pin CPU     pin the `yes` to that CPU (default: let the scheduler place it)
# Needs the peer built by ../shared/peer/setup.sh (PEER=~/.cache/hypura-peer). Other
# processes already running count as part of "idle": the load average at the start and
# end goes into the JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=3 THREADS=2 TOKENS=64 TYPE=Q4_K_M MODEL= PIN= OUT=bench/out
while [ $# -gt 0 ]; do
  case $1 in
    -r) REPS=$2; shift 2;; -t) THREADS=$2; shift 2;; -n) TOKENS=$2; shift 2;;
    --type) TYPE=$2; shift 2;; --model) MODEL=$2; shift 2;;
    --pin) PIN=$2; shift 2;; --out) OUT=$2; shift 2;;
    *) echo "usage: bench/loaded.sh [-r REPS] [-t THREADS] [-n TOKENS] [--type TYPE] [--model FILE] [--pin CPU] [--out DIR]" >&2
       exit 2;;
  esac
done
PEER=${PEER:-$HOME/.cache/hypura-peer}
LB=$PEER/llama.cpp/build/bin/llama-bench
[ -x "$LB" ] || { echo "llama-bench not found at $LB: run ../shared/peer/setup.sh" >&2; exit 1; }
make -s -j2 >/dev/null
H=build/hypura
MODELS=${MODELS:-/var/tmp/hypura-bench}
mkdir -p "$OUT" "$MODELS"
export HYPURA_FIXTURES=${HYPURA_FIXTURES:-../shared}
if [ -z "$MODEL" ]; then
  MODEL=$MODELS/llama3-1b-$TYPE.gguf
  [ -f "$MODEL" ] || "$H" synth llama3-1b --type "$TYPE" -o "$MODEL" --quiet
fi

LOAD_PID=
load_start() {
  if [ -n "$PIN" ]; then taskset -c "$PIN" yes > /dev/null & else yes > /dev/null & fi
  LOAD_PID=$!
  sleep 0.3   # let the scheduler settle it onto a core
}
load_stop() {
  [ -z "$LOAD_PID" ] && return
  kill "$LOAD_PID" 2>/dev/null || true
  wait "$LOAD_PID" 2>/dev/null || true
  LOAD_PID=
}
trap load_stop EXIT

med() { python3 -c 'import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
lb() { # llama-bench decode tokens/s
  "$LB" -m "$MODEL" -t "$THREADS" -n "$TOKENS" -p 0 -r 1 -o jsonl 2>/dev/null |
    python3 -c 'import sys,json; print([json.loads(l)["avg_ts"] for l in sys.stdin if l.strip()][-1])'
}
hy() { # hypura decode tokens/s
  local j; j=$(mktemp)
  "$H" bench "$MODEL" -p 0 -n "$TOKENS" -r 1 --warm -t "$THREADS" --json "$j" >/dev/null 2>&1
  python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["runs"][0]["decode_tps"])' "$j"
  rm -f "$j"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
h_idle=() h_load=() l_idle=() l_load=()
for ((r = 0; r < REPS; r++)); do
  for cond in idle loaded; do
    [ $cond = loaded ] && load_start
    if ((r % 2 == 0)); then h=$(hy); l=$(lb); else l=$(lb); h=$(hy); fi
    [ $cond = loaded ] && load_stop
    if [ $cond = idle ]; then h_idle+=("$h"); l_idle+=("$l"); else h_load+=("$h"); l_load+=("$l"); fi
    printf 'rep %d %-6s hypura %10.2f  llama.cpp %10.2f tok/s\n' $((r + 1)) $cond "$h" "$l"
  done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

hi=$(med "${h_idle[@]}") hl=$(med "${h_load[@]}") li=$(med "${l_idle[@]}") ll=$(med "${l_load[@]}")
read -r hr lr share pass < <(python3 -c "
hr, lr = $hl / $hi, $ll / $li
print(round(hr, 3), round(lr, 3), round(hr / lr, 3), 'PASS' if hr >= 0.40 and hr >= lr else 'FAIL')")
printf '%-10s %12s %12s %12s\n' engine 'idle tok/s' 'loaded tok/s' loaded/idle
printf '%-10s %12.2f %12.2f %12.3f\n' hypura "$hi" "$hl" "$hr"
printf '%-10s %12.2f %12.2f %12.3f\n' llama.cpp "$li" "$ll" "$lr"
printf 'hypura/llama.cpp: idle %.3fx, loaded %.3fx; ratio share %.3f; bar (hypura >= 0.40 and >= llama.cpp): %s\n' \
  "$(python3 -c "print($hi / $li)")" "$(python3 -c "print($hl / $ll)")" "$share" "$pass"
result=$OUT/loaded.json
csv() { local IFS=,; echo "$*"; }
cat > "$result" <<EOF
{"model": "$(basename "$MODEL")", "threads": $THREADS, "tokens": $TOKENS, "reps": $REPS, "pin": "${PIN:-none}",
 "loadavg_start": "$load0", "loadavg_end": "$load1",
 "hypura": {"idle_tps": $hi, "loaded_tps": $hl, "ratio": $hr, "idle_all": [$(csv "${h_idle[@]}")], "loaded_all": [$(csv "${h_load[@]}")]},
 "llama_cpp": {"idle_tps": $li, "loaded_tps": $ll, "ratio": $lr, "idle_all": [$(csv "${l_idle[@]}")], "loaded_all": [$(csv "${l_load[@]}")]},
 "share": $share, "bar": "$pass"}
EOF
echo "threads $THREADS, $TOKENS tokens, $REPS reps, medians; load average $load0 -> $load1; JSON: $result"

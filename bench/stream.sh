#!/usr/bin/env bash
# Models larger than their memory budget (issue 5's benchmark), cold, each engine in a
# fresh memory cgroup of budget + 512 MiB that also caps the page cache:
#   hypura          the plan (direct I/O, streamed FFN chunks)
#   hypura-mmap     the same engine on plain mmap (the naive baseline)
#   llama.cpp       llama-completion --no-repack (plain mmap: its best configuration here)
#   llama.cpp-def   llama-completion with its defaults (repacks weights into anonymous
#                   memory: expected to be OOM-killed in the cgroup; reported as such)
# Cases: llama3-8b Q4_K_M at --ram-budget 2G, llama3-70b cut to 12 layers at 3G.
# The hardware profile is measured afresh first, so the prediction and the disk ceiling
# (profiled bandwidth / bytes that must be streamed per token) describe the disk as it is.
# Engines alternate rep by rep; medians are reported. The disk of a shared virtual machine
# changes speed from minute to minute, so each rep also reads the model cold for 3 s at
# the streaming point (hypura iobench) and hypura's streaming rate (bytes read per token
# x tok/s) is reported against that same-run figure too.
#   bench/stream.sh [-r REPS] [-n TOKENS] [--case 8b|70b|all] [--out DIR]
# Needs root (cgroups) and the peer built by ../shared/peer/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=3 NTOK=16 CASE=all OUT=bench/out
while [ $# -gt 0 ]; do
  case $1 in
    -r) REPS=$2; shift 2;; -n) NTOK=$2; shift 2;;
    --case) CASE=$2; shift 2;; --out) OUT=$2; shift 2;;
    *) echo "usage: bench/stream.sh [-r REPS] [-n TOKENS] [--case 8b|70b|all] [--out DIR]" >&2; exit 2;;
  esac
done
PEER=${PEER:-$HOME/.cache/hypura-peer}
LC=$PEER/llama.cpp/build/bin/llama-completion
[ -x "$LC" ] || { echo "llama-completion not found at $LC: run ../shared/peer/setup.sh" >&2; exit 1; }
make -s -j"$(nproc)" >/dev/null
H=$PWD/build/hypura
CG=$PWD/bench/cgroup-run.sh
MODELS=${MODELS:-/var/tmp/hypura-bench}
mkdir -p "$OUT" "$MODELS"
export HYPURA_FIXTURES=${HYPURA_FIXTURES:-../shared}
GIB=1073741824

# drop the model from the page cache: every run starts cold
evict() { python3 -c 'import os,sys; fd=os.open(sys.argv[1],os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)' "$1"; }

# one llama-completion run: prints "tok/s status"
llama_run() { # model limit extra-args...
  local m=$1 lim=$2; shift 2
  local log; log=$(mktemp)
  set +e
  "$CG" "$lim" "$LC" -m "$m" -p "Once upon a time" -n "$NTOK" -t 2 --temp 0 -no-cnv -c 256 \
    --ignore-eos --no-warmup "$@" >"$log" 2>&1
  local rc=$?
  set -e
  local tps; tps=$(grep -E "common_perf_print: +eval time" "$log" | sed -E 's/.*, +([0-9.]+) tokens per second.*/\1/' | tail -1 || true)
  local kills; kills=$(grep -oE "oom_kills [0-9]+" "$log" | awk '{print $2}' | tail -1 || true)
  local peak; peak=$(grep -oE "peak [0-9]+" "$log" | awk '{print $2}' | tail -1 || true)
  echo "${tps:-0} $rc ${kills:-0} 0 0 0 0 0 0 ${peak:-0}"
  rm -f "$log"
}

# one hypura bench run: prints the JSON fields we need
hy_run() { # model limit budget engine
  local j; j=$(mktemp)
  set +e
  "$CG" "$2" "$H" bench "$1" --ram-budget "$3" -p 0 -n "$NTOK" -r 1 --cold --engine "$4" -t 2 --json "$j" >/dev/null 2>"$j.err"
  local rc=$?
  set -e
  local kills; kills=$(grep -oE "oom_kills [0-9]+" "$j.err" | awk '{print $2}' | tail -1 || true)
  local peak; peak=$(grep -oE "peak [0-9]+" "$j.err" | awk '{print $2}' | tail -1 || true)
  if [ $rc = 0 ]; then
    python3 - "$j" "$rc" "${kills:-0}" "${peak:-0}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); r = d["runs"][0]
print(r["decode_tps"], sys.argv[2], sys.argv[3], r["disk_bytes_per_token"], r["stall_s_per_token"],
      d["predicted"]["decode_tps"], d["disk_ceiling"]["tps"], d["disk_ceiling"]["must_stream_bytes_per_token"],
      d["disk_ceiling"]["disk_bytes_per_s"], sys.argv[4])
PY
  else
    echo "0 $rc ${kills:-0} 0 0 0 0 0 0 ${peak:-0}"
  fi
  rm -f "$j" "$j.err"
}

# a cold sequential read of the model at the streaming point: prints it like a run row,
# bytes per second in the first field
disk_now() { # model block depth
  "$H" iobench "$1" --path io_uring --block "$2" --depth "$3" --random-block none --seconds 3 --json 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["rows"][0]; print(r["bytes"] / r["seconds"] if r["status"] == 0 else 0, r["status"], "0 0 0 0 0 0 0 0")'
}

run_case() { # name preset layers budget limit
  local name=$1 preset=$2 layers=$3 budget=$4 limit=$5
  local M=$MODELS/$name-Q4_K_M.gguf
  if [ ! -f "$M" ]; then
    if [ "$layers" = 0 ]; then "$H" synth "$preset" --type Q4_K_M -o "$M" --quiet
    else "$H" synth "$preset" --type Q4_K_M --layers "$layers" -o "$M" --quiet; fi
  fi
  echo "== $name ($(du -h "$M" | cut -f1)), --ram-budget $budget, cgroup $((limit / 1048576)) MiB, $NTOK tokens, $REPS reps, cold"
  "$H" profile --force --dir "$(dirname "$M")" --sample "$M" >/dev/null 2>&1
  local pt; pt=$("$H" profile --dir "$(dirname "$M")" --json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["disk_block"], d["disk_depth"])')
  local rows=()
  for ((r = 1; r <= REPS; r++)); do
    evict "$M"; rows+=("hypura $(hy_run "$M" "$limit" "$budget" hypura)")
    evict "$M"; rows+=("hypura-mmap $(hy_run "$M" "$limit" "$budget" mmap)")
    evict "$M"; rows+=("llama.cpp $(llama_run "$M" "$limit" --no-repack)")
    if [ "$r" = 1 ]; then evict "$M"; rows+=("llama.cpp-default $(llama_run "$M" "$limit")"); fi
    evict "$M"; rows+=("disk-now $(disk_now "$M" $pt)")
    echo "  rep $r done"
  done
  local rf; rf=$(mktemp)
  printf '%s\n' "${rows[@]}" > "$rf"
  python3 - "$name" "$budget" "$limit" "$OUT/stream-$name.json" "$rf" <<'PY'
import json, statistics, sys
name, budget, limit, out, rows = sys.argv[1:6]
runs = {}
for line in open(rows):
    f = line.split()
    runs.setdefault(f[0], []).append([float(x) for x in f[1:]])
def med(eng, i):
    v = [r[i] for r in runs.get(eng, []) if r[1] == 0]
    return statistics.median(v) if v else 0.0
res = {"case": name, "ram_budget": budget, "cgroup_limit": int(limit), "engines": {}}
disk_now = [r[0] for r in runs.pop("disk-now", []) if r[1] == 0]
for eng, rs in runs.items():
    e = {"decode_tps_median": med(eng, 0), "decode_tps_all": [r[0] for r in rs],
         "exit_status": [int(r[1]) for r in rs], "oom_kills": [int(r[2]) for r in rs],
         "cgroup_peak_bytes": [int(r[9]) for r in rs]}
    if eng.startswith("hypura"):
        e.update(disk_bytes_per_token=med(eng, 3), stall_s_per_token=med(eng, 4),
                 predicted_decode_tps=med(eng, 5))
    res["engines"][eng] = e
h = res["engines"].get("hypura", {})
hv = h.get("decode_tps_median", 0)
hs = [r for r in runs.get("hypura", []) if r[1] == 0]
ceiling = statistics.median([r[6] for r in hs]) if hs else 0
lv = res["engines"].get("llama.cpp", {}).get("decode_tps_median", 0)
res["ceiling_tps"] = ceiling
res["ceiling_share"] = hv / ceiling if ceiling else 0
res["vs_llama_cpp_no_repack"] = hv / lv if lv else 0
pred = h.get("predicted_decode_tps", 0)
res["predicted_vs_measured"] = pred / hv if hv else 0
prof_bw = statistics.median([r[8] for r in hs]) if hs else 0
stream_bw = statistics.median([r[0] * r[3] for r in hs]) if hs else 0
now_bw = statistics.median(disk_now) if disk_now else 0
res["disk"] = {"profiled_bytes_per_s": prof_bw, "same_run_bytes_per_s": now_bw,
               "same_run_all": disk_now, "hypura_stream_bytes_per_s": stream_bw}
json.dump(res, open(out, "w"), indent=2)
print(f"  {'engine':<18} {'decode tok/s':>12} {'MB read/tok':>12} {'cgroup peak MiB':>16} {'status':>14}")
for eng, e in res["engines"].items():
    st = ",".join(str(s) for s in e["exit_status"])
    k = sum(e["oom_kills"])
    mb = e.get("disk_bytes_per_token", 0) / 1e6
    pk = max(e["cgroup_peak_bytes"]) / 1048576
    print(f"  {eng:<18} {e['decode_tps_median']:>12.3f} {mb:>12.1f} {pk:>16.0f} {('exit ' + st + (' OOM-killed' if k else '')):>14}")
print(f"  disk ceiling {ceiling:.3f} tok/s: hypura reaches {100 * res['ceiling_share']:.0f}%; "
      f"{res['vs_llama_cpp_no_repack']:.2f}x llama.cpp --no-repack; predicted {pred:.3f} tok/s "
      f"({100 * (pred / hv - 1) if hv else 0:+.0f}% vs measured)")
if now_bw:
    print(f"  disk: profiled {prof_bw / 1e9:.2f} GB/s, read cold in this run {now_bw / 1e9:.2f} GB/s "
          f"(reps {', '.join(f'{b / 1e9:.2f}' for b in disk_now)}); hypura streamed at {stream_bw / 1e9:.2f} GB/s "
          f"= {100 * stream_bw / now_bw:.0f}% of the same-run read")
PY
  rm -f "$rf"
}

case $CASE in
  8b|all) run_case llama3-8b llama3-8b 0 2G $((2560 * 1048576));;
esac
case $CASE in
  70b|all) run_case llama3-70b-L12 llama3-70b 12 3G $((3584 * 1048576));;
esac

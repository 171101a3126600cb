#!/usr/bin/env bash
# Are the logits of every fixture bit-identical between two builds of hypura?
#   scripts/logits-identical.sh [REV]      (REV default: HEAD; compared with the work tree)
# Builds REV in a temporary worktree, then runs `hypura logits` on every fixture model
# that both builds load, in several placements (resident; one token per pass; FFN and
# whole layers streamed under a small budget; the mmap baseline), and compares the
# output files byte for byte. For refactors that must not change a single logit.
set -euo pipefail
rev=${1:-HEAD}
top=$(git rev-parse --show-toplevel)
fx=${HYPURA_FIXTURES:-$top/../shared}/fixtures
[ -d "$fx" ] || { echo "no fixtures at $fx"; exit 77; }
tmp=$(mktemp -d)
trap 'git -C "$top" worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$top" worktree add -q --detach "$tmp/old" "$rev"
make -C "$tmp/old" -s -j"$(nproc)" build/hypura >/dev/null
make -C "$top" -s -j"$(nproc)" build/hypura >/dev/null
old=$tmp/old/build/hypura new=$top/build/hypura
configs=("" "--batch 1" "--plan-mode ffn-stream --ram-budget 40M" "--plan-mode layer-stream --ram-budget 40M" "--mmap")
same=0 diff=0 skipped=0
for json in "$fx"/synth/*.ref.json "$fx"/real/*.once.json; do
  model=${json%.*.json}.gguf
  ids=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(map(str, d["prompt_ids"] + d["greedy_ids"][:-1])))' "$json")
  for c in "${configs[@]}"; do
    # shellcheck disable=SC2086
    if ! "$old" logits "$model" --ids "$ids" -o "$tmp/a.f32" --no-measure -t 2 $c 2>/dev/null; then
      skipped=$((skipped + 1)); continue
    fi
    # shellcheck disable=SC2086
    if "$new" logits "$model" --ids "$ids" -o "$tmp/b.f32" --no-measure -t 2 $c 2>"$tmp/err" &&
       cmp -s "$tmp/a.f32" "$tmp/b.f32"; then
      same=$((same + 1))
    else
      diff=$((diff + 1)); echo "DIFFERENT: $(basename "$model") $c $(head -c 200 "$tmp/err")"
    fi
  done
done
echo "logits identical: $same, different: $diff, not loadable by $rev: $skipped"
[ "$diff" = 0 ]

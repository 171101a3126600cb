#!/usr/bin/env bash
# make demo: a model larger than the RAM budget, planned, streamed, measured.
# Writes a random-weight llama3-8b-shaped model cut to 8 layers (about 1.7 GiB) and runs it
# under a 1 GiB RAM budget: hypura plans which tensors stay in RAM and which stream from
# disk, generates text (random weights: the words are noise, the speed is the point), and
# measures decode speed against the disk ceiling.
set -euo pipefail
H=${1:-build/hypura}
DIR=${HYPURA_DEMO_DIR:-/var/tmp/hypura-demo}
BUDGET=${HYPURA_DEMO_BUDGET:-1G}
M=$DIR/demo-llama3-8b-L8-Q4_K_M.gguf
mkdir -p "$DIR"
export HYPURA_FIXTURES=${HYPURA_FIXTURES:-../shared}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ ! -f "$M" ]; then
  say "writing a random-weight model (llama3-8b shape, 8 layers, Q4_K_M) to $M"
  "$H" synth llama3-8b --layers 8 --type Q4_K_M -o "$M"
fi
say "the model: $(du -h "$M" | cut -f1) on disk, RAM budget $BUDGET"
"$H" inspect "$M" | head -8

say "the plan (what stays in RAM, what streams from disk; hardware measured on first use)"
"$H" inspect --plan "$M" --ram-budget "$BUDGET" --ctx-size 64 --batch 8

say "generating 24 tokens under the budget (text streams as it is generated)"
"$H" run "$M" -p "Once upon a time" -n 24 --temp 0 --ignore-eos --ram-budget "$BUDGET"

say "measured decode speed, cold (page cache dropped), against the disk ceiling"
"$H" bench "$M" --ram-budget "$BUDGET" -p 0 -n 16 -r 1 --cold

cat <<MSG

The plan keeps attention, norms and as many FFN layers resident as the budget allows and
streams the rest through direct I/O (no page cache growth), a few chunks ahead of compute.
The disk ceiling is the profiled disk bandwidth over the bytes that must come from disk
per token at this budget. Next: bench/engine.sh and bench/stream.sh compare against
llama.cpp (see README.md).
MSG

#!/usr/bin/env bash
# Tokenizer throughput: build the 10 MiB benchmark text, tokenize it with each vocabulary of
# ../shared/vocab (one thread, REPS runs, median MB/s), and, when llama.cpp's llama-tokenize
# is at hand ($PEER, default ~/.cache/hypura-peer), check that the ids are the same as its.
#   bench/tokenize.sh [TOKBENCH]      (make bench-tok builds TOKBENCH and runs this)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tokbench=${1:-$here/../build/bench/tokbench}
reps=${REPS:-5}
shared=${HYPURA_FIXTURES:-$here/../../shared}
[ -d "$shared/vocab" ] || { echo "no $shared/vocab: set HYPURA_FIXTURES" >&2; exit 1; }
text=${TOK_TEXT:-${TMPDIR:-/tmp}/hypura-tokbench.txt}
[ -s "$text" ] || bash "$here/make_tok_text.sh" "$text"
peer_tok=${PEER:-$HOME/.cache/hypura-peer}/llama.cpp/build/bin/llama-tokenize
for v in llama-bpe qwen2 gpt-2 llama-spm; do
  m=$shared/vocab/ggml-vocab-$v.gguf
  [ -f "$m" ] || continue
  "$tokbench" --reps "$reps" --no-bos "$m" "$text" | tail -1
  if [ -x "$peer_tok" ]; then
    a=$(mktemp); b=$(mktemp)
    "$tokbench" --ids --no-bos "$m" "$text" >"$a"
    "$peer_tok" -m "$m" -f "$text" --no-escape --no-bos --no-parse-special --ids --log-disable 2>/dev/null | tail -1 >"$b"
    if cmp -s "$a" "$b"; then echo "  ids identical to llama-tokenize"; else echo "  ids DIFFER from llama-tokenize"; fi
    rm -f "$a" "$b"
  fi
done

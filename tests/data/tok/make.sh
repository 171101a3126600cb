#!/usr/bin/env bash
# Make the pre-tokenizer test data: a 6 KB stress text of mixed Unicode (stress.txt) and, for
# each pre-tokenizer name below, the ids llama.cpp's llama-tokenize gives for it with the gpt-2
# vocabulary of ../shared/vocab relabelled to that pre-tokenizer (PRE.ids). test_tokenizer
# relabels the same vocabulary in memory and compares.
#   tests/data/tok/make.sh     (from the repository root, after make)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../../..
shared=${HYPURA_FIXTURES:-$root/../shared}
peer=${PEER:-$HOME/.cache/hypura-peer}/llama.cpp/build/bin/llama-tokenize
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -std=c11 -D_GNU_SOURCE -I"$root/include" -I"$root/src" -o "$tmp/mkpre" "$here/mkpre.c" \
   "$root/build/libhypura.a" -lm -lcjson -luring -pthread
/usr/bin/python3 - "$here/stress.txt" <<'PY'
import random, sys
random.seed(5)
pool = list(" \t\n\r\n  ''sStTmMdDlLrReEvV0123456789.,;:!?()[]{}<>+-=*/_$^~|`@#%&\"\\") + [chr(c) for c in [
    0xa0, 0x85, 0x2028, 0x3000, 0x1680, 0x200b, 0xe9, 0x301, 0x300, 0x4e2d, 0x6587, 0x3042, 0x30a2,
    0xac00, 0x627, 0x5d0, 0x1f600, 0x1f44d, 0x200d, 0xfe0f, 0x2581, 0xb2, 0xbd, 0x2160, 0x660, 0x966,
    0xff10, 0xff01, 0x3001, 0x3002, 0x2019, 0x201c, 0x2014, 0xa7, 0xb6, 0x20ac, 0x2211, 0x221e,
    0x2500, 0xfffd, 0x10348, 0x1d400, 0xe000, 0xad, 0x61c]]
out = []
for i in range(3000):
    r = random.random()
    if r < 0.5:
        out.append(random.choice('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'))
    else:
        out.append(random.choice(pool))
words = ["I'LL", "don't", "We'Re", "it's", "1234567", "3.14159", "42", "  ", "\n\n", " \n ",
         "\t\t", "hello", "World", "x+y=z", "a--b", "...", "!!!", "$100", "(c)", "caf\u00e9",
         "na\u0308ive", "\u4e2d\u6587", "\u0661\u0662\u0663", "\uff11\uff12", "`code`",
         "<|endoftext|>", "\u00bd", "\u2160\u2161", "     ", "\r\n"]
for i in range(800):
    out.append(random.choice(words))
    out.append(random.choice([" ", "", "\n", "  "]))
open(sys.argv[1], 'w', encoding='utf-8').write(''.join(out))
PY
for pre in default gpt-2 llama3 qwen2 qwen35 starcoder falcon; do
  "$tmp/mkpre" "$shared/vocab/ggml-vocab-gpt-2.gguf" "$tmp/v.gguf" "$pre"
  "$peer" -m "$tmp/v.gguf" -f "$here/stress.txt" --no-escape --no-bos --no-parse-special --ids \
     --log-disable 2>/dev/null | tail -1 >"$here/$pre.ids"
done

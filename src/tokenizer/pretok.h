/* Pre-tokenizers of byte-level BPE: split text into the words that BPE merges run inside.
 *
 * Each pre-tokenizer is what a regular expression from a model's tokenizer.json does (or a
 * sequence of them, each splitting the pieces of the previous), written as a hand-made matcher
 * over Unicode classes instead of a regex engine, following llama.cpp's own matchers (and the
 * effect of its std::regex fallbacks) so that the splits are the same.
 *
 * Not owned here: which name selects which splitter (pretok_from_name is the table), BPE. */
#ifndef HY_TOKENIZER_PRETOK_H
#define HY_TOKENIZER_PRETOK_H

#include <stddef.h>
#include <stdint.h>

enum pretok_kind {
    PRETOK_DEFAULT,     /* no or "default" pre-tokenizer: punctuation runs, gpt-2, digit runs, triples */
    PRETOK_GPT2,        /* 's|'t|...| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    PRETOK_LLAMA3,      /* Llama 3: case-insensitive contractions, \p{N}{1,3}, newline runs */
    PRETOK_QWEN2,       /* Llama 3's rules with single digits */
    PRETOK_QWEN35,      /* Qwen2's with combining marks joining letter runs */
    PRETOK_STARCODER,   /* single digits isolated, then gpt-2 */
    PRETOK_FALCON,      /* punctuation runs, gpt-2, ASCII digit triples */
};

/* The pre-tokenizer llama.cpp uses for tokenizer.ggml.pre = name (NULL or "" = default), and
 * whether that name also sets ignore_merges (a whole word found in the vocabulary is taken as
 * it is). Returns 0, or -EINVAL for a name not supported here. */
int pretok_from_name(const char *name, enum pretok_kind *kind, int *ignore_merges);

/* A growable array of word end offsets. */
struct pretok_words {
    uint32_t *end;   /* (n) byte offset just past each word, relative to the text; ascending */
    size_t n, cap;
};
void pretok_words_free(struct pretok_words *w);

/* Split text[0..len) into words, replacing w's contents. The text must hold no malformed
 * UTF-8 (per utf8_decode: the caller substitutes U+FFFD first, as llama.cpp does); len must
 * fit in 32 bits. Returns 0 or -ENOMEM. */
int pretok_split(enum pretok_kind kind, const uint8_t *text, size_t len, struct pretok_words *w);

#endif

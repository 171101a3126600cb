/* Tokenizers: text <-> token ids exactly as llama.cpp computes them.
 *
 * A tokenizer is built once from a GGUF's tokenizer.ggml.* metadata and is immutable
 * afterwards: any number of threads may encode and decode with it at once (every call keeps
 * its scratch state to itself). Two models are supported:
 *   - "llama": SentencePiece-style BPE over scores, byte fallback <0xNN>, spaces as U+2581,
 *     the leading space of add_space_prefix;
 *   - "gpt2": byte-level BPE over merge ranks, with the pre-tokenizer (word splitting rules)
 *     named by tokenizer.ggml.pre (see pretok.h for the names understood).
 * Special tokens (CONTROL and UNKNOWN tokens; USER_DEFINED ones always) are recognised in the
 * text before the model runs, as llama.cpp's partition does.
 *
 * Not owned here: chat templates (chat.h), the model loader that calls tokenizer_load, the
 * public API wrappers (hy_tokenize and friends). */
#ifndef HY_TOKENIZER_H
#define HY_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gguf;
struct tokenizer;

/* Token attributes (bit flags; llama.cpp's llama_token_attr values). */
enum {
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_LSTRIP = 1 << 7,
    TOK_ATTR_RSTRIP = 1 << 8,
};

enum tok_model { TOK_MODEL_SPM, TOK_MODEL_BPE };

/* Build a tokenizer from the metadata of g (which may be freed afterwards: everything needed
 * is copied). Returns 0, -EINVAL for missing, malformed or unsupported metadata (the reason
 * is recorded with set_error), -ENOMEM. */
int tokenizer_load(struct tokenizer **out, const struct gguf *g);
void tokenizer_free(struct tokenizer *t);

/* Tokenize len bytes of text. add_special: BOS/EOS as the metadata asks (add_bos_token,
 * add_eos_token). parse_special: CONTROL/UNKNOWN token text in the input becomes that token
 * (USER_DEFINED token text always does, as in llama.cpp). Returns the number of tokens, which
 * may exceed n_max (then only the first n_max were written), or a negative status. */
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, bool add_special,
                     bool parse_special, int32_t *out, int n_max);

/* A byte range of the input. */
struct tok_range {
    size_t off, len;
};

struct tok_encode_params {
    bool add_special;
    bool parse_special;
    /* Ranges of the text that are plain text whatever parse_special says: no special token
     * is recognised overlapping them (chat message content inside a rendered template).
     * Sorted by offset, not overlapping; NULL when n_plain is 0. */
    const struct tok_range *plain;
    int n_plain;
    /* The plain algorithm, as llama.cpp runs it: no cutting of the text, no cache. Slow; the
     * tests compare the fast path with it. */
    bool reference;
};
struct tok_encode_params tok_encode_default_params(void);
int tokenizer_encode_ex(const struct tokenizer *t, const char *text, size_t len,
                        const struct tok_encode_params *p, int32_t *out, int n_max);

/* The bytes of token id's piece. CONTROL and UNKNOWN tokens render as their text only when
 * render_special (else as nothing). Copies min(length, cap) bytes to buf (no NUL) and returns
 * the length, or -EINVAL for an id out of range. */
int tokenizer_piece(const struct tokenizer *t, int32_t id, bool render_special, char *buf,
                    int cap);

/* Text of ids, as llama_detokenize without its space clean-up: remove_special drops a leading
 * BOS and trailing EOS the tokenizer would add; the leading space that add_space_prefix
 * inserted is removed from the first piece (unless a BOS was dropped, as llama.cpp does).
 * Returns the length (which may exceed cap; min(length, cap) bytes written) or -EINVAL. */
int tokenizer_detokenize(const struct tokenizer *t, const int32_t *ids, int n,
                         bool remove_special, bool render_special, char *buf, int cap);

/* ---- vocabulary facts ---- */
enum tok_model tokenizer_model(const struct tokenizer *t);
const char *tokenizer_pre_name(const struct tokenizer *t);   /* "" for SPM */
int32_t tokenizer_n_vocab(const struct tokenizer *t);
/* Special ids, -1 when the vocabulary has none. */
int32_t tokenizer_bos(const struct tokenizer *t);
int32_t tokenizer_eos(const struct tokenizer *t);
int32_t tokenizer_eot(const struct tokenizer *t);
int32_t tokenizer_eom(const struct tokenizer *t);
int32_t tokenizer_pad(const struct tokenizer *t);
int32_t tokenizer_unk(const struct tokenizer *t);
bool tokenizer_add_bos(const struct tokenizer *t);
bool tokenizer_add_eos(const struct tokenizer *t);
/* Does id end generation? (eos, eot, eom and every end-of-turn token llama.cpp lists by text,
 * e.g. <|im_end|>, <|eot_id|>, <end_of_turn>, <|endoftext|>.) */
bool tokenizer_is_eog(const struct tokenizer *t, int32_t id);
/* The end-of-generation ids, ascending; returns the count (may exceed cap). */
int tokenizer_eog_ids(const struct tokenizer *t, int32_t *ids, int cap);
/* Raw text of a token as stored in the vocabulary (NUL-terminated), or NULL. */
const char *tokenizer_token_text(const struct tokenizer *t, int32_t id, size_t *len);
uint32_t tokenizer_token_attr(const struct tokenizer *t, int32_t id);   /* 0 if out of range */
/* The token whose text is exactly text[0..len), or -1. */
int32_t tokenizer_find(const struct tokenizer *t, const char *text, size_t len);
/* tokenizer.chat_template, or NULL when the file has none. */
const char *tokenizer_chat_template(const struct tokenizer *t);

/* ---- streaming detokenizer ----
 * Push ids one at a time (as they are generated); each push hands back only whole UTF-8
 * characters, holding the bytes of a character split across tokens until it completes. A
 * sequence that can never complete is passed through as it is, not held forever. */
struct detok;
int detok_new(struct detok **out, const struct tokenizer *t, bool render_special);
void detok_free(struct detok *d);
/* Sets text and len to the bytes ready to emit (valid until the next call on d). 0 or
 * -EINVAL. */
int detok_push(struct detok *d, int32_t id, const char **text, size_t *len);
/* The held bytes of an incomplete character (end of generation); clears them. */
void detok_flush(struct detok *d, const char **text, size_t *len);
void detok_reset(struct detok *d);

#endif

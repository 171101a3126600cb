/* Chat templates: recognise a model's template family from its tokenizer.chat_template text
 * and render a conversation the way that family expects.
 *
 * This is not a Jinja engine. Like llama.cpp's llama_chat_apply_template, it recognises the
 * common families by marker strings in the template text (in llama.cpp's order, so a template
 * lands in the same family) and renders each family with fixed code. The rendering records
 * which bytes are message content, so that chat_tokenize can parse special tokens in the
 * template's own text but never in what a user wrote.
 *
 * Not owned here: where the template text comes from (the model's metadata, via
 * tokenizer_chat_template), the conversation loop and the KV cache (the CLI and session). */
#ifndef HY_TOKENIZER_CHAT_H
#define HY_TOKENIZER_CHAT_H

#include "tokenizer/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chat_msg {
    const char *role;      /* "system", "user", "assistant" (others pass through where the
                              family writes roles out) */
    const char *content;
};

/* Families that can be rendered: their number, and name by index (0 .. count-1). */
int chat_family_count(void);
const char *chat_family_name(int family);
/* The family with this exact name, or -1. */
int chat_family_find(const char *name);

/* Recognise the family of a Jinja template text. Returns 0 and *family, -ENOENT when no
 * family matches, -ENOTSUP when the text belongs to a family llama.cpp knows but that is not
 * rendered here (set_error names it). */
int chat_detect(const char *tmpl, int *family);

/* What a model or a user asks for: tmpl is a family name (--chat-template NAME) or a template
 * text; NULL means the model has none: ChatML, with a one-line warning (as llama.cpp does).
 * An unrecognised template is -EINVAL with an error that lists the known names. */
int chat_select(const char *tmpl, int *family);

struct chat_rendered {
    char *text;                  /* NUL-terminated */
    size_t len;
    struct tok_range *content;   /* (n_content) where message content lies in text, in order */
    int n_content;
};

/* Render n messages; add_generation_prompt ends with the opening of an assistant turn.
 * Returns 0 or a negative status (out is then empty). Free with chat_rendered_free. */
int chat_render(int family, const struct chat_msg *msgs, size_t n, bool add_generation_prompt,
                struct chat_rendered *out);
void chat_rendered_free(struct chat_rendered *r);

/* Render and tokenize in one step: special tokens are parsed in the template's text but not in
 * message content. add_special: BOS/EOS as the vocabulary asks. Returns the number of tokens
 * (may exceed n_max; then only n_max written) or a negative status. */
int chat_tokenize(const struct tokenizer *t, int family, const struct chat_msg *msgs, size_t n,
                  bool add_generation_prompt, bool add_special, int32_t *out, int n_max);

#endif

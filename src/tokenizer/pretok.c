/* Pre-tokenizers as hand-written matchers. See pretok.h.
 *
 * Positions are byte offsets into the text; a "character" is one code point. Every matcher
 * works inside one segment [ini, end) and never looks past it: a regex applied to a piece
 * cannot see the neighbouring pieces either. Looking at a position at or past end gives
 * "no character" (flags 0), which is how the (?!\S) look-ahead and the optional leading
 * space behave at a segment's end in llama.cpp's matchers. */
#include "tokenizer/pretok.h"
#include "tokenizer/unicode.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NO_CPT UINT32_MAX

struct seg {
    const uint8_t *t;
    size_t end;
    struct pretok_words *out;
    size_t prev;   /* end of the last word emitted */
    int err;
};

void pretok_words_free(struct pretok_words *w)
{
    free(w->end);
    memset(w, 0, sizeof *w);
}

static int words_push(struct pretok_words *w, size_t end)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        uint32_t *p = realloc(w->end, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        w->end = p;
        w->cap = cap;
    }
    w->end[w->n++] = (uint32_t)end;
    return 0;
}

/* Close the current word at end (nothing when it would be empty). */
static void emit(struct seg *s, size_t end)
{
    if (end > s->prev) {
        if (words_push(s->out, end))
            s->err = -ENOMEM;
        s->prev = end;
    }
}

/* The code point at p (NO_CPT at or past the end) and the offset of the next one. */
static inline uint32_t cpt_at(const struct seg *s, size_t p, size_t *next)
{
    if (p >= s->end) {
        *next = p;
        return NO_CPT;
    }
    uint8_t c = s->t[p];
    if (c < 0x80) {
        *next = p + 1;
        return c;
    }
    size_t n;
    uint32_t cpt = utf8_decode(s->t + p, s->end - p, &n);
    *next = p + n;
    return cpt;
}

static inline uint16_t flags_of(uint32_t cpt)
{
    return cpt == NO_CPT ? 0 : ucd_flags(cpt);
}

static inline uint16_t flags_at(const struct seg *s, size_t p)
{
    size_t next;
    return flags_of(cpt_at(s, p, &next));
}

static inline size_t next_pos(const struct seg *s, size_t p)
{
    size_t next;
    cpt_at(s, p, &next);
    return next;
}

static inline uint32_t lower_ascii_fast(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    return c == NO_CPT ? c : ucd_tolower(c);
}

/* 's 't 'm 'd 're 've 'll at p (p holds '\''): the end of the match, or 0. */
static size_t match_contraction(const struct seg *s, size_t p, bool fold_case)
{
    size_t p1, p2, p3;
    cpt_at(s, p, &p1);
    if (p1 >= s->end)
        return 0;
    uint32_t c1 = cpt_at(s, p1, &p2);
    if (fold_case)
        c1 = lower_ascii_fast(c1);
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
        return p2;
    if (p2 >= s->end)
        return 0;
    uint32_t c2 = cpt_at(s, p2, &p3);
    if (fold_case)
        c2 = lower_ascii_fast(c2);
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
        return p3;
    return 0;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void split_gpt2(struct seg *s, size_t pos)
{
    const uint16_t WLN = UCD_WHITESPACE | UCD_LETTER | UCD_NUMBER;
    while (pos < s->end && !s->err) {
        size_t p1;
        uint32_t c = cpt_at(s, pos, &p1);
        uint16_t f = flags_of(c);
        if (c == '\'') {
            size_t e = match_contraction(s, pos, false);
            if (e) {
                emit(s, e);
                pos = e;
                continue;
            }
        }
        uint16_t f2 = c == ' ' ? flags_at(s, p1) : f;
        uint16_t cls = f2 & UCD_LETTER ? UCD_LETTER : f2 & UCD_NUMBER ? UCD_NUMBER : 0;
        if (cls) {   /* ' ?\p{L}+' or ' ?\p{N}+' */
            if (c == ' ')
                pos = p1;
            while (flags_at(s, pos) & cls)
                pos = next_pos(s, pos);
            emit(s, pos);
            continue;
        }
        if (f2 && !(f2 & WLN)) {   /* ' ?[^\s\p{L}\p{N}]+' */
            if (c == ' ')
                pos = p1;
            for (;;) {
                uint16_t g = flags_at(s, pos);
                if (!g || (g & WLN))
                    break;
                pos = next_pos(s, pos);
            }
            emit(s, pos);
            continue;
        }
        /* whitespace run: \s+(?!\S) leaves its last character to the next word */
        size_t q = pos, last_start = pos, nws = 0;
        while (flags_at(s, q) & UCD_WHITESPACE) {
            last_start = q;
            q = next_pos(s, q);
            nws++;
        }
        if (nws > 1 && q < s->end) {
            emit(s, last_start);
            pos = last_start;
            continue;
        }
        if (nws > 0) {
            emit(s, q);
            pos = q;
            continue;
        }
        emit(s, p1);
        pos = p1;
    }
}

/* Llama 3 family:
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+
 * word: the class of "letters" (L, or L|M for Qwen 3.5); digits: group size (3, or 1). */
static void split_llama3(struct seg *s, size_t pos, uint16_t word, int digits)
{
    const uint16_t WWN = UCD_WHITESPACE | word | UCD_NUMBER;
    while (pos < s->end && !s->err) {
        size_t p1;
        uint32_t c = cpt_at(s, pos, &p1);
        uint16_t f = flags_of(c);
        if (c == '\'') {
            size_t e = match_contraction(s, pos, true);
            if (e) {
                emit(s, e);
                pos = e;
                continue;
            }
        }
        /* [^\r\n\p{L}\p{N}]?\p{L}+ : one character of anything but CR, LF, digits, then letters */
        if (!(c == '\r' || c == '\n' || (f & UCD_NUMBER)) && ((f & word) || (flags_at(s, p1) & word))) {
            pos = p1;
            while (flags_at(s, pos) & word)
                pos = next_pos(s, pos);
            emit(s, pos);
            continue;
        }
        if (f & UCD_NUMBER) {   /* \p{N}{1,digits} */
            int k = 0;
            while (flags_at(s, pos) & UCD_NUMBER) {
                pos = next_pos(s, pos);
                if (++k == digits) {
                    emit(s, pos);
                    k = 0;
                }
            }
            emit(s, pos);
            continue;
        }
        /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
        uint16_t f2 = c == ' ' ? flags_at(s, p1) : f;
        if (!(f2 & WWN)) {
            if (c == ' ')
                pos = p1;
            for (;;) {
                uint16_t g = flags_at(s, pos);
                if (!g || (g & WWN))
                    break;
                pos = next_pos(s, pos);
            }
            while (pos < s->end && (s->t[pos] == '\r' || s->t[pos] == '\n'))
                pos++;
            emit(s, pos);
            continue;
        }
        /* whitespace: \s*[\r\n]+ up to the last CR/LF of the run, else \s+(?!\S), \s+ */
        size_t q = pos, last_start = pos, last_rn = 0, nws = 0;
        while (flags_at(s, q) & UCD_WHITESPACE) {
            last_start = q;
            uint8_t b = s->t[q];
            q = next_pos(s, q);
            if (b == '\r' || b == '\n')
                last_rn = q;
            nws++;
        }
        if (last_rn) {
            emit(s, last_rn);
            pos = last_rn;
            continue;
        }
        if (nws > 1 && q < s->end) {
            emit(s, last_start);
            pos = last_start;
            continue;
        }
        if (nws > 0) {
            emit(s, q);
            pos = q;
            continue;
        }
        emit(s, p1);
        pos = p1;
    }
}

/* ---- the simple splitters llama.cpp runs through std::regex (on its "collapsed" text) ----
 * A regex split keeps every match as a piece and the text between matches as pieces too. */

/* [\p{P}\$\+<=>\^~\|]+ (falcon adds the backquote). ASCII: the class lists the characters;
 * others: the punctuation class, unless also whitespace (none are). */
static bool is_punct_run_char(uint32_t c, uint16_t f, bool backquote)
{
    if (c < 0x80) {
        if (c == '`')
            return backquote;
        return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
               (c >= 0x7b && c <= 0x7e);
    }
    return !(f & UCD_WHITESPACE) && (f & UCD_CLASS_MASK) == UCD_PUNCT;
}

static bool is_number_char(uint32_t c, uint16_t f)
{
    if (c < 0x80)
        return c >= '0' && c <= '9';
    return !(f & UCD_WHITESPACE) && (f & UCD_CLASS_MASK) == UCD_NUMBER;
}

enum simple_rule { RULE_PUNCT_RUNS, RULE_PUNCT_RUNS_BQ, RULE_DIGIT_RUNS, RULE_DIGIT_EACH, RULE_ASCII_TRIPLES };

static void split_simple(struct seg *s, size_t pos, enum simple_rule rule)
{
    while (pos < s->end && !s->err) {
        size_t next;
        uint32_t c = cpt_at(s, pos, &next);
        uint16_t f = flags_of(c);
        size_t mend = 0;   /* end of a match starting at pos, 0 if none */
        switch (rule) {
        case RULE_PUNCT_RUNS:
        case RULE_PUNCT_RUNS_BQ: {
            bool bq = rule == RULE_PUNCT_RUNS_BQ;
            if (is_punct_run_char(c, f, bq)) {
                mend = next;
                for (;;) {
                    size_t n2;
                    uint32_t c2 = cpt_at(s, mend, &n2);
                    if (c2 == NO_CPT || !is_punct_run_char(c2, flags_of(c2), bq))
                        break;
                    mend = n2;
                }
            }
            break;
        }
        case RULE_DIGIT_RUNS:
            if (is_number_char(c, f)) {
                mend = next;
                for (;;) {
                    size_t n2;
                    uint32_t c2 = cpt_at(s, mend, &n2);
                    if (c2 == NO_CPT || !is_number_char(c2, flags_of(c2)))
                        break;
                    mend = n2;
                }
            }
            break;
        case RULE_DIGIT_EACH:
            if (is_number_char(c, f))
                mend = next;
            break;
        case RULE_ASCII_TRIPLES:
            if (pos + 3 <= s->end && s->t[pos] >= '0' && s->t[pos] <= '9' && s->t[pos + 1] >= '0' &&
                s->t[pos + 1] <= '9' && s->t[pos + 2] >= '0' && s->t[pos + 2] <= '9')
                mend = pos + 3;
            break;
        }
        if (mend) {
            emit(s, pos);    /* the text before the match */
            emit(s, mend);
            pos = mend;
        } else {
            pos = next;
        }
    }
    emit(s, s->end);
}

/* ---- pipelines ---- */

enum step { STEP_GPT2, STEP_LLAMA3, STEP_QWEN2, STEP_QWEN35, STEP_SIMPLE };

struct stage {
    enum step step;
    enum simple_rule rule;
};

static void run_stage(const struct stage *st, const uint8_t *t, size_t ini, size_t end,
                      struct pretok_words *out, int *err)
{
    struct seg s = {.t = t, .end = end, .out = out, .prev = ini, .err = 0};
    switch (st->step) {
    case STEP_GPT2: split_gpt2(&s, ini); break;
    case STEP_LLAMA3: split_llama3(&s, ini, UCD_LETTER, 3); break;
    case STEP_QWEN2: split_llama3(&s, ini, UCD_LETTER, 1); break;
    case STEP_QWEN35: split_llama3(&s, ini, UCD_LETTER | UCD_MARK, 1); break;
    case STEP_SIMPLE: split_simple(&s, ini, st->rule); break;
    }
    if (s.err)
        *err = s.err;
}

int pretok_split(enum pretok_kind kind, const uint8_t *text, size_t len, struct pretok_words *w)
{
    static const struct stage k_default[] = {{STEP_SIMPLE, RULE_PUNCT_RUNS}, {STEP_GPT2, 0},
                                             {STEP_SIMPLE, RULE_DIGIT_RUNS},
                                             {STEP_SIMPLE, RULE_ASCII_TRIPLES}};
    static const struct stage k_gpt2[] = {{STEP_GPT2, 0}};
    static const struct stage k_llama3[] = {{STEP_LLAMA3, 0}};
    static const struct stage k_qwen2[] = {{STEP_QWEN2, 0}};
    static const struct stage k_qwen35[] = {{STEP_QWEN35, 0}};
    static const struct stage k_starcoder[] = {{STEP_SIMPLE, RULE_DIGIT_EACH}, {STEP_GPT2, 0}};
    static const struct stage k_falcon[] = {{STEP_SIMPLE, RULE_PUNCT_RUNS_BQ}, {STEP_GPT2, 0},
                                            {STEP_SIMPLE, RULE_ASCII_TRIPLES}};
    const struct stage *stages;
    size_t n_stages;
#define USE(a) (stages = (a), n_stages = sizeof(a) / sizeof((a)[0]))
    switch (kind) {
    case PRETOK_DEFAULT: USE(k_default); break;
    case PRETOK_GPT2: USE(k_gpt2); break;
    case PRETOK_LLAMA3: USE(k_llama3); break;
    case PRETOK_QWEN2: USE(k_qwen2); break;
    case PRETOK_QWEN35: USE(k_qwen35); break;
    case PRETOK_STARCODER: USE(k_starcoder); break;
    case PRETOK_FALCON: USE(k_falcon); break;
    default: return -EINVAL;
    }
#undef USE
    w->n = 0;
    if (len == 0)
        return 0;
    int err = 0;
    if (n_stages == 1) {
        run_stage(&stages[0], text, 0, len, w, &err);
        return err;
    }
    /* Each stage splits the pieces of the one before. */
    struct pretok_words cur = {0};
    if (words_push(&cur, len))
        return -ENOMEM;
    for (size_t k = 0; k < n_stages && !err; k++) {
        w->n = 0;
        size_t ini = 0;
        for (size_t i = 0; i < cur.n && !err; i++) {
            run_stage(&stages[k], text, ini, cur.end[i], w, &err);
            ini = cur.end[i];
        }
        if (k + 1 < n_stages) {
            struct pretok_words tmp = cur;
            cur = *w;
            *w = tmp;
        }
    }
    pretok_words_free(&cur);
    return err;
}

int pretok_from_name(const char *name, enum pretok_kind *kind, int *ignore_merges)
{
    static const struct {
        const char *name;
        enum pretok_kind kind;
        int ignore_merges;
    } k_names[] = {
        {"default", PRETOK_DEFAULT, 0},
        /* LLAMA3 and the names llama.cpp gives the same regex (dbrx, smaug, chatglm) */
        {"llama3", PRETOK_LLAMA3, 1}, {"llama-v3", PRETOK_LLAMA3, 1}, {"llama-bpe", PRETOK_LLAMA3, 1},
        {"falcon3", PRETOK_LLAMA3, 1}, {"falcon-h1", PRETOK_LLAMA3, 1}, {"pixtral", PRETOK_LLAMA3, 1},
        {"midm-2.0", PRETOK_LLAMA3, 1}, {"lfm2", PRETOK_LLAMA3, 1}, {"jina-v5-nano", PRETOK_LLAMA3, 1},
        {"dbrx", PRETOK_LLAMA3, 0}, {"smaug-bpe", PRETOK_LLAMA3, 0}, {"chatglm-bpe", PRETOK_LLAMA3, 0},
        {"glm4", PRETOK_LLAMA3, 0},
        /* QWEN2 and its regex twins */
        {"qwen2", PRETOK_QWEN2, 0}, {"deepseek-r1-qwen", PRETOK_QWEN2, 0}, {"kormo", PRETOK_QWEN2, 0},
        {"f2llmv2", PRETOK_QWEN2, 0}, {"megrez", PRETOK_QWEN2, 0}, {"stablelm2", PRETOK_QWEN2, 0},
        {"hunyuan", PRETOK_QWEN2, 0}, {"solar-open", PRETOK_QWEN2, 0}, {"grok-2", PRETOK_QWEN2, 0},
        {"qwen35", PRETOK_QWEN35, 0},
        /* GPT2 */
        {"gpt-2", PRETOK_GPT2, 0}, {"phi-2", PRETOK_GPT2, 0}, {"jina-es", PRETOK_GPT2, 0},
        {"jina-de", PRETOK_GPT2, 0}, {"gigachat", PRETOK_GPT2, 0}, {"jina-v2-es", PRETOK_GPT2, 0},
        {"jina-v2-de", PRETOK_GPT2, 0}, {"a.x-4.0", PRETOK_GPT2, 0}, {"mellum", PRETOK_GPT2, 0},
        {"modern-bert", PRETOK_GPT2, 0}, {"mpt", PRETOK_GPT2, 0}, {"olmo", PRETOK_GPT2, 0},
        {"jais", PRETOK_GPT2, 0}, {"trillion", PRETOK_GPT2, 0}, {"granite-docling", PRETOK_GPT2, 0},
        {"exaone4", PRETOK_GPT2, 0},
        /* STARCODER: digits one by one, then gpt-2 */
        {"starcoder", PRETOK_STARCODER, 0}, {"refact", PRETOK_STARCODER, 0},
        {"command-r", PRETOK_STARCODER, 0}, {"smollm", PRETOK_STARCODER, 0},
        {"codeshell", PRETOK_STARCODER, 0}, {"exaone", PRETOK_STARCODER, 0},
        {"minerva-7b", PRETOK_STARCODER, 0}, {"mellum2", PRETOK_STARCODER, 0},
        {"falcon", PRETOK_FALCON, 0},
    };
    *ignore_merges = 0;
    if (!name || !*name) {
        *kind = PRETOK_DEFAULT;
        return 0;
    }
    for (size_t i = 0; i < sizeof k_names / sizeof k_names[0]; i++)
        if (!strcmp(name, k_names[i].name)) {
            *kind = k_names[i].kind;
            *ignore_merges = k_names[i].ignore_merges;
            return 0;
        }
    return -EINVAL;
}

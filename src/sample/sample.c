/* Samplers, in llama.cpp's order: repeat penalty, top-k, top-p, min-p, temperature, then
 * a seeded draw (or the argmax when the temperature is 0). top-p and min-p see the
 * probabilities before temperature, as llama.cpp's default chain does. */
#include "hypura.h"
#include "util/log.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cand {
    int id;
    float logit;
    float p;
};

struct hy_sampler {
    struct hy_sampler_params p;
    int n_vocab;
    struct cand *c;        /* (n_vocab) */
    hy_token *recent;      /* (repeat_last_n) ring of accepted tokens */
    int n_recent, head;
    uint64_t s[4];         /* xoshiro256** state */
};

struct hy_sampler_params hy_sampler_default_params(void)
{
    struct hy_sampler_params p = {.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                                  .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0};
    return p;
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t *s)
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

void hy_sampler_reset(hy_sampler *sm)
{
    uint64_t x = sm->p.seed;
    for (int i = 0; i < 4; i++)
        sm->s[i] = splitmix(&x);
    sm->n_recent = sm->head = 0;
}

int hy_sampler_new(const struct hy_sampler_params *p, int n_vocab, hy_sampler **out)
{
    *out = NULL;
    if (n_vocab <= 0) {
        set_error("empty vocabulary");
        return -EINVAL;
    }
    hy_sampler *sm = calloc(1, sizeof *sm);
    if (!sm) {
        set_error("out of memory");
        return -ENOMEM;
    }
    sm->p = p ? *p : hy_sampler_default_params();
    if (sm->p.repeat_last_n < 0)
        sm->p.repeat_last_n = 0;
    sm->n_vocab = n_vocab;
    sm->c = malloc(sizeof *sm->c * (size_t)n_vocab);
    sm->recent = malloc(sizeof *sm->recent * (size_t)(sm->p.repeat_last_n + 1));
    if (!sm->c || !sm->recent) {
        hy_sampler_free(sm);
        set_error("out of memory");
        return -ENOMEM;
    }
    hy_sampler_reset(sm);
    *out = sm;
    return 0;
}

void hy_sampler_free(hy_sampler *sm)
{
    if (!sm)
        return;
    free(sm->c);
    free(sm->recent);
    free(sm);
}

void hy_sampler_accept(hy_sampler *sm, hy_token t)
{
    if (sm->p.repeat_last_n == 0)
        return;
    sm->recent[sm->head] = t;
    sm->head = (sm->head + 1) % sm->p.repeat_last_n;
    if (sm->n_recent < sm->p.repeat_last_n)
        sm->n_recent++;
}

static int cmp_desc(const void *a, const void *b)
{
    float x = ((const struct cand *)a)->logit, y = ((const struct cand *)b)->logit;
    if (x != y)
        return x > y ? -1 : 1;
    return ((const struct cand *)a)->id - ((const struct cand *)b)->id;
}

/* Move the k largest to the front, sorted (quickselect, then sort the k). */
static void top_k(struct cand *c, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = c[(lo + hi) / 2].logit;
        int i = lo, j = hi;
        while (i <= j) {
            while (c[i].logit > pivot)
                i++;
            while (c[j].logit < pivot)
                j--;
            if (i <= j) {
                struct cand t = c[i];
                c[i++] = c[j];
                c[j--] = t;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            break;
    }
    qsort(c, (size_t)k, sizeof *c, cmp_desc);
}

static void softmax(struct cand *c, int n, float temp)
{
    float mx = c[0].logit;
    for (int i = 1; i < n; i++)
        mx = c[i].logit > mx ? c[i].logit : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        c[i].p = expf((c[i].logit - mx) / temp);
        sum += c[i].p;
    }
    for (int i = 0; i < n; i++)
        c[i].p = (float)(c[i].p / sum);
}

hy_token hy_sampler_sample(hy_sampler *sm, const float *logits)
{
    const struct hy_sampler_params *p = &sm->p;
    struct cand *c = sm->c;
    int n = sm->n_vocab;
    for (int i = 0; i < n; i++)
        c[i] = (struct cand){.id = i, .logit = logits[i]};
    if (p->repeat_penalty != 1.0f && sm->n_recent) {
        /* each distinct recent token penalised once */
        for (int r = 0; r < sm->n_recent; r++) {
            hy_token t = sm->recent[r];
            bool seen = false;
            for (int q = 0; q < r; q++)
                seen |= sm->recent[q] == t;
            if (seen || t < 0 || t >= n)
                continue;
            float l = c[t].logit;
            c[t].logit = l <= 0 ? l * p->repeat_penalty : l / p->repeat_penalty;
        }
    }
    if (p->temp <= 0) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (c[i].logit > c[best].logit)
                best = i;
        return c[best].id;
    }
    int k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    top_k(c, n, k);
    n = k;
    softmax(c, n, 1.0f);
    if (p->top_p < 1.0f) {
        float cum = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += c[i].p;
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0) {
        float lim = c[0].p * p->min_p;
        int keep = 1;
        while (keep < n && c[keep].p >= lim)
            keep++;
        n = keep;
    }
    softmax(c, n, p->temp);
    double r = (double)(next_u64(sm->s) >> 11) * (1.0 / 9007199254740992.0);
    double cum = 0;
    for (int i = 0; i < n; i++) {
        cum += c[i].p;
        if (r < cum)
            return c[i].id;
    }
    return c[n - 1].id;
}

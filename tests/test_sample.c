/* Samplers: greedy is the argmax; a seed makes a draw repeatable; top-k, top-p and min-p
 * only ever return tokens inside their sets; temperature sharpens and flattens; the
 * repeat penalty pushes recent tokens down; the draw follows the distribution. */
#include "hypura.h"
#include "test.h"

#include <string.h>

#define NV 50

static void logits_fill(float *l)
{
    for (int i = 0; i < NV; i++)
        l[i] = (float)(i % 7) - 0.01f * (float)i; /* maxima at 6, 13, 20 ...: 6 is the top */
}

static hy_sampler *make(struct hy_sampler_params p)
{
    hy_sampler *s = NULL;
    CHECK(hy_sampler_new(&p, NV, &s) == 0);
    return s;
}

static void test_greedy(void)
{
    float l[NV];
    logits_fill(l);
    struct hy_sampler_params p = hy_sampler_default_params();
    p.temp = 0;
    hy_sampler *s = make(p);
    CHECK_EQ(hy_sampler_sample(s, l), 6);
    l[42] = 100;
    CHECK_EQ(hy_sampler_sample(s, l), 42);
    hy_sampler_free(s);
    hy_sampler_free(NULL);
    CHECK(hy_sampler_new(&p, 0, &s) < 0);
}

static void test_seed_repeatable(void)
{
    float l[NV];
    logits_fill(l);
    struct hy_sampler_params p = hy_sampler_default_params();
    p.temp = 1.5f;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.seed = 1234;
    hy_sampler *a = make(p), *b = make(p);
    int same = 0, distinct[NV] = {0};
    for (int i = 0; i < 200; i++) {
        hy_token x = hy_sampler_sample(a, l), y = hy_sampler_sample(b, l);
        same += x == y;
        distinct[x] = 1;
    }
    CHECK_EQ(same, 200);
    int n_distinct = 0;
    for (int i = 0; i < NV; i++)
        n_distinct += distinct[i];
    CHECK(n_distinct > 5); /* it is not greedy */
    hy_sampler_reset(a);
    hy_sampler_free(b);
    b = make(p);
    CHECK_EQ(hy_sampler_sample(a, l), hy_sampler_sample(b, l));
    hy_sampler_free(a);
    hy_sampler_free(b);
}

static void test_truncation(void)
{
    float l[NV];
    logits_fill(l);
    struct hy_sampler_params p = hy_sampler_default_params();
    p.temp = 5; /* flat: anything allowed would show up */
    p.top_p = 1;
    p.min_p = 0;
    p.top_k = 3;
    hy_sampler *s = make(p);
    for (int i = 0; i < 300; i++) {
        hy_token t = hy_sampler_sample(s, l);
        CHECKF(t == 6 || t == 13 || t == 20, "top-k 3 gave %d", t);
    }
    hy_sampler_free(s);
    /* top-p: probabilities at temperature 1 (before temperature): a dominant token alone
     * covers p = 0.5 */
    float m[NV];
    for (int i = 0; i < NV; i++)
        m[i] = 0;
    m[7] = 10;
    p.top_k = 0;
    p.top_p = 0.5f;
    s = make(p);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(hy_sampler_sample(s, m), 7);
    hy_sampler_free(s);
    /* min-p: only tokens with p >= min_p * p_max */
    m[8] = 10 - logf(4); /* p[8] = p[7] / 4 */
    p.top_p = 1;
    p.min_p = 0.2f;
    s = make(p);
    int seen8 = 0;
    for (int i = 0; i < 300; i++) {
        hy_token t = hy_sampler_sample(s, m);
        CHECKF(t == 7 || t == 8, "min-p gave %d", t);
        seen8 += t == 8;
    }
    CHECK(seen8 > 0);
    hy_sampler_free(s);
}

/* With no truncation the draw follows softmax(logits / T). */
static void test_distribution(void)
{
    float l[NV];
    for (int i = 0; i < NV; i++)
        l[i] = -30;
    l[1] = 0;
    l[2] = logf(3); /* p(2) = 3 p(1) at T = 1 */
    struct hy_sampler_params p = hy_sampler_default_params();
    p.temp = 1;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.seed = 7;
    hy_sampler *s = make(p);
    int c1 = 0, c2 = 0, n = 20000;
    for (int i = 0; i < n; i++) {
        hy_token t = hy_sampler_sample(s, l);
        c1 += t == 1;
        c2 += t == 2;
    }
    CHECK(c1 + c2 >= n - 5);
    double ratio = (double)c2 / c1;
    CHECKF(ratio > 2.7 && ratio < 3.3, "p(2)/p(1) = %.3f, want 3", ratio);
    hy_sampler_free(s);
    /* a low temperature sharpens: at T = 0.25 the ratio is 3^4 = 81 */
    p.temp = 0.25f;
    s = make(p);
    c1 = c2 = 0;
    for (int i = 0; i < n; i++) {
        hy_token t = hy_sampler_sample(s, l);
        c1 += t == 1;
        c2 += t == 2;
    }
    CHECKF(c2 > 60 * c1 && c1 > 0, "T=0.25: %d vs %d", c2, c1);
    hy_sampler_free(s);
}

static void test_repeat_penalty(void)
{
    float l[NV];
    for (int i = 0; i < NV; i++)
        l[i] = 0;
    l[3] = 2.0f;
    l[4] = 1.5f;
    struct hy_sampler_params p = hy_sampler_default_params();
    p.temp = 0;
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 4;
    hy_sampler *s = make(p);
    CHECK_EQ(hy_sampler_sample(s, l), 3);
    hy_sampler_accept(s, 3); /* 2.0 / 1.5 = 1.33 < 1.5 */
    CHECK_EQ(hy_sampler_sample(s, l), 4);
    /* out of the window again after 4 other tokens */
    for (int i = 0; i < 4; i++)
        hy_sampler_accept(s, 10 + i);
    CHECK_EQ(hy_sampler_sample(s, l), 3);
    /* negative logits are multiplied: pushed further down */
    float m[NV];
    for (int i = 0; i < NV; i++)
        m[i] = -5;
    m[0] = -1.0f;
    m[1] = -1.2f;
    hy_sampler_accept(s, 0); /* -1.0 * 1.5 = -1.5 < -1.2 */
    CHECK_EQ(hy_sampler_sample(s, m), 1);
    hy_sampler_free(s);
}

int main(void)
{
    RUN(test_greedy);
    RUN(test_seed_repeatable);
    RUN(test_truncation);
    RUN(test_distribution);
    RUN(test_repeat_penalty);
    return test_finish();
}

/*
 * tests/test_sample.c — the RL sampler (engine/sample.h): greedy, temperature, top-k,
 * top-p, min-p, repetition penalty, allowed sets, seeds, kept sets and log-probs checked
 * against distributions computed by hand in the test.
 */
#include <math.h>
#include "engine/sample.h"
#include "tests/testlib.h"

static ef_engine_sampler *mk(int n)
{
    ef_ctx *ctx = ef_ctx_new();
    ef_engine_sampler *s = NULL;
    if (ef_engine_sampler_new(ctx, n, &s) < 0)
        s = NULL;
    ef_ctx_free(ctx);
    return s;
}

/* logits 0..7: log of weights 8,7,...,1 */
static void weights_logits(float *l, int n)
{
    for (int i = 0; i < n; i++)
        l[i] = (float)log((double)(n - i));
}

static void test_greedy(void)
{
    ef_engine_sampler *s = mk(8);
    float l[8] = {0, 3, 1, 3, -1, 2, 0, 0};
    ef_sample_params p = EF_SAMPLE_PARAMS_INIT;
    p.greedy = 1;
    ef_rng r;
    ef_rng_seed(&r, 1);
    ef_sample_result out;
    EF_CHECK(ef_engine_sampler_sample(s, l, &p, NULL, -1, NULL, 0, &r, &out) == 0);
    EF_CHECK_EQ_INT(out.token, 1); /* lowest id on ties */
    EF_CHECK_EQ_INT(out.n_kept, 1);
    EF_CHECK(out.logprob == 0.0);
    p.greedy = 0;
    p.temperature = 0;
    EF_CHECK(ef_engine_sampler_sample(s, l, &p, NULL, -1, NULL, 0, &r, &out) == 0);
    EF_CHECK_EQ_INT(out.token, 1);
    /* allowed set */
    int32_t allowed[] = {5, 6};
    EF_CHECK(ef_engine_sampler_sample(s, l, &p, allowed, 2, NULL, 0, &r, &out) == 0);
    EF_CHECK_EQ_INT(out.token, 5);
    /* repetition penalty pushes 1 and 3 below 5 (3/2 < 2) */
    p.repetition_penalty = 2.0;
    int32_t hist[] = {1, 3, 3};
    EF_CHECK(ef_engine_sampler_sample(s, l, &p, NULL, -1, hist, 3, &r, &out) == 0);
    EF_CHECK_EQ_INT(out.token, 5);
    ef_engine_sampler_free(s);
}

/* Frequencies over many draws follow the truncated, renormalized weights; log-probs are
 * exactly those of the kept distribution. */
static void check_dist(const ef_sample_params *p, const double *expect, int n, int n_kept_expect)
{
    ef_engine_sampler *s = mk(n);
    float l[16];
    weights_logits(l, n);
    ef_rng r;
    ef_rng_seed(&r, 42);
    int counts[16] = {0};
    const int N = 40000;
    for (int k = 0; k < N; k++) {
        ef_sample_result out;
        EF_CHECK(ef_engine_sampler_sample(s, l, p, NULL, -1, NULL, 0, &r, &out) == 0);
        counts[out.token]++;
        if (k == 0)
            EF_CHECK_EQ_INT(out.n_kept, n_kept_expect);
        if (fabs(out.logprob - log(expect[out.token])) > 1e-6)
            EF_FAULT_("token %d logprob %.9f expected %.9f", out.token, out.logprob,
                      log(expect[out.token]));
    }
    for (int i = 0; i < n; i++) {
        double f = (double)counts[i] / N;
        if (fabs(f - expect[i]) > 0.012)
            EF_FAULT_("token %d frequency %.4f expected %.4f", i, f, expect[i]);
    }
    ef_engine_sampler_free(s);
}

static void test_distributions(void)
{
    ef_sample_params p = EF_SAMPLE_PARAMS_INIT;
    double e[8];
    /* plain: weights 8..1 over 36 */
    for (int i = 0; i < 8; i++)
        e[i] = (8.0 - i) / 36.0;
    check_dist(&p, e, 8, 0);
    /* top-k 3: 8,7,6 over 21 */
    p.top_k = 3;
    for (int i = 0; i < 8; i++)
        e[i] = i < 3 ? (8.0 - i) / 21.0 : 0;
    check_dist(&p, e, 8, 3);
    /* top-p 0.5: 8/36 + 7/36 + 6/36 = 0.583 >= 0.5 -> 3 kept */
    p.top_k = 0;
    p.top_p = 0.5;
    check_dist(&p, e, 8, 3);
    /* min-p 0.6: keep p >= 0.6 * 8/36, i.e. weights >= 4.8: 8,7,6,5 over 26 */
    p.top_p = 1;
    p.min_p = 0.6;
    for (int i = 0; i < 8; i++)
        e[i] = i < 4 ? (8.0 - i) / 26.0 : 0;
    check_dist(&p, e, 8, 4);
    /* temperature 0.5 squares the weights: 64, 49, ... over 204 */
    p.min_p = 0;
    p.temperature = 0.5;
    for (int i = 0; i < 8; i++)
        e[i] = (8.0 - i) * (8.0 - i) / 204.0;
    check_dist(&p, e, 8, 0);
}

static void test_seed_repeats(void)
{
    ef_engine_sampler *s = mk(16);
    float l[16];
    weights_logits(l, 16);
    ef_sample_params p = EF_SAMPLE_PARAMS_INIT;
    p.top_p = 0.9;
    int32_t a[64], b[64];
    for (int run = 0; run < 2; run++) {
        ef_rng r;
        ef_rng_seed(&r, 7);
        for (int k = 0; k < 64; k++) {
            ef_sample_result out;
            EF_CHECK(ef_engine_sampler_sample(s, l, &p, NULL, -1, NULL, 0, &r, &out) == 0);
            (run ? b : a)[k] = out.token;
        }
    }
    EF_CHECK(memcmp(a, b, sizeof a) == 0);
    ef_engine_sampler_free(s);
}

static void test_bad(void)
{
    ef_ctx *ctx = ef_ctx_new();
    ef_sample_params p = EF_SAMPLE_PARAMS_INIT;
    p.top_p = 0;
    EF_CHECK(ef_engine_sample_params_check(ctx, &p) == EF_EINVAL);
    p.top_p = 1;
    p.min_p = 1.5;
    EF_CHECK(ef_engine_sample_params_check(ctx, &p) == EF_EINVAL);
    p.min_p = 0;
    p.top_k = -1;
    EF_CHECK(ef_engine_sample_params_check(ctx, &p) == EF_EINVAL);
    ef_engine_sampler *s = mk(4);
    float l[4] = {-INFINITY, -INFINITY, NAN, -INFINITY};
    ef_sample_params q = EF_SAMPLE_PARAMS_INIT;
    ef_rng r;
    ef_rng_seed(&r, 1);
    ef_sample_result out;
    EF_CHECK(ef_engine_sampler_sample(s, l, &q, NULL, -1, NULL, 0, &r, &out) == EF_EINVAL);
    int32_t none[1] = {0};
    EF_CHECK(ef_engine_sampler_sample(s, l, &q, none, 0, NULL, 0, &r, &out) == EF_EINVAL);
    ef_engine_sampler_free(s);
    ef_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    EF_RUN(test_greedy);
    EF_RUN(test_distributions);
    EF_RUN(test_seed_repeats);
    EF_RUN(test_bad);
    return EF_TEST_END();
}

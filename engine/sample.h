/*
 * engine/sample.h — the full sampler for RL rollouts: greedy, temperature, top-k, top-p,
 * min-p and repetition penalty, restricted (optionally) to a set of allowed tokens, with
 * the exact per-token data a trainer needs.
 *
 * Overview
 *   ef_engine_sampler holds scratch for one vocabulary (one per thread or sequence).
 *   ef_engine_sampler_sample() takes a row of logits and returns the chosen id, its
 *   log-probability under the distribution it was actually drawn from (after penalty,
 *   temperature, truncation and the allowed set; 0 for greedy), and the kept set: the ids
 *   that distribution gives non-zero mass, most likely first. When nothing truncates the
 *   distribution (no top-k/top-p/min-p cut, no allowed set) the kept set is reported as
 *   empty, meaning "the whole vocabulary", so that the store does not hold a vocabulary's
 *   worth of ids per token.
 *
 *   Order of the steps (as Hugging Face's logits processors and vLLM apply them):
 *   repetition penalty on the raw logits (CTRL: a positive logit is divided by the penalty,
 *   a negative one multiplied) for every id in `history`; restriction to `allowed`;
 *   greedy stops here (argmax, lowest id on ties); temperature; top-k; top-p (the smallest
 *   prefix of the sorted distribution whose mass reaches p); min-p (ids whose probability
 *   is below min_p x the largest); then one ef_rng_double() draw over the renormalized kept
 *   mass. The draw count per token is fixed (one), so a seed reproduces a stream exactly.
 *
 * Example
 *   ef_engine_sampler *s;
 *   ef_engine_sampler_new(ctx, cfg->vocab_size, &s);
 *   ef_sample_params p = EF_SAMPLE_PARAMS_INIT;
 *   p.temperature = 0.7; p.top_p = 0.95;
 *   ef_rng rng; ef_rng_seed(&rng, 1234);
 *   ef_sample_result r;
 *   ef_engine_sampler_sample(s, logits, &p, NULL, -1, hist, n_hist, &rng, &r);
 *   printf("%d %.4f kept %d\n", r.token, r.logprob, r.n_kept);
 *   ef_engine_sampler_free(s);
 */
#ifndef EF_ENGINE_SAMPLE_H
#define EF_ENGINE_SAMPLE_H

#include <stddef.h>
#include <stdint.h>
#include "common/ef.h"
#include "common/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EF_SAMPLE_PARAMS_VERSION 1
typedef struct {
    int version;
    int greedy;                /* 1: argmax (also when temperature <= 0) */
    double temperature;        /* default 1 */
    int top_k;                 /* 0: off */
    double top_p;              /* (0, 1]; 1: off */
    double min_p;              /* [0, 1); 0: off */
    double repetition_penalty; /* >= 1 penalizes ids already in history; 1: off */
} ef_sample_params;
#define EF_SAMPLE_PARAMS_INIT                                                                      \
    {                                                                                              \
        EF_SAMPLE_PARAMS_VERSION, 0, 1.0, 0, 1.0, 0.0, 1.0                                         \
    }

/* EF_EINVAL naming the field when a value is out of range. */
int ef_engine_sample_params_check(ef_ctx *ctx, const ef_sample_params *p);

typedef struct ef_engine_sampler ef_engine_sampler;

int ef_engine_sampler_new(ef_ctx *ctx, int n_vocab, ef_engine_sampler **out);
void ef_engine_sampler_free(ef_engine_sampler *s);

typedef struct {
    int32_t token;
    double logprob;      /* under the distribution drawn from */
    const int32_t *kept; /* borrowed from the sampler until its next call */
    int n_kept;          /* 0: the whole vocabulary */
} ef_sample_result;

/* Samples one token from logits[n_vocab]. allowed: the ids that may be chosen (n_allowed
 * of them; NULL / -1: all). history: ids for the repetition penalty (may be NULL).
 * EF_EINVAL when allowed is empty or every allowed logit is -inf/NaN. */
int ef_engine_sampler_sample(ef_engine_sampler *s, const float *logits, const ef_sample_params *p,
                             const int32_t *allowed, int n_allowed, const int32_t *history,
                             size_t n_history, ef_rng *rng, ef_sample_result *out);

#ifdef __cplusplus
}
#endif
#endif /* EF_ENGINE_SAMPLE_H */

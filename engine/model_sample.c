/*
 * engine/model_sample.c — choosing the next token from logits: argmax, or temperature
 * plus nucleus (top-p) sampling driven by the seeded ef_rng, returning the token's
 * log-probability under the distribution it was drawn from.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine/engine.h"

int32_t ef_engine_argmax(const float *logits, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best])
            best = i;
    return best;
}

typedef struct {
    float p;
    int32_t id;
} prob_id;

size_t ef_engine_sample_scratch_bytes(int n)
{
    return (size_t)n * sizeof(prob_id);
}

static int cmp_desc(const void *a, const void *b)
{
    const prob_id *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int32_t ef_engine_sample(const float *logits, int n, const ef_engine_sampling *sp, ef_rng *rng,
                         void *scratch, double *logprob)
{
    return ef_engine_sample_kept(logits, n, sp, rng, scratch, logprob, NULL, NULL);
}

int32_t ef_engine_sample_kept(const float *logits, int n, const ef_engine_sampling *sp,
                              ef_rng *rng, void *scratch, double *logprob, int32_t *kept_ids,
                              int *n_kept)
{
    prob_id *pr = scratch;
    if (sp->greedy || !(sp->temperature > 0)) {
        int32_t best = ef_engine_argmax(logits, n);
        if (logprob)
            *logprob = 0.0;
        if (kept_ids && n_kept) {
            kept_ids[0] = best;
            *n_kept = 1;
        }
        return best;
    }
    double inv_t = 1.0 / sp->temperature, mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++)
        mx = fmax(mx, logits[i] * inv_t);
    for (int i = 0; i < n; i++) {
        pr[i].p = (float)exp(logits[i] * inv_t - mx);
        pr[i].id = i;
        sum += pr[i].p;
    }
    for (int i = 0; i < n; i++)
        pr[i].p = (float)(pr[i].p / sum);
    int kept = n;
    double top_p = sp->top_p > 0 && sp->top_p < 1 ? sp->top_p : 1.0, mass = 0;
    if (top_p < 1) {
        qsort(pr, (size_t)n, sizeof *pr, cmp_desc);
        for (kept = 0; kept < n;) {
            mass += pr[kept++].p;
            if (mass >= top_p)
                break;
        }
    } else {
        mass = 1.0;
    }
    double u = ef_rng_double(rng) * mass, acc = 0;
    int pick = kept - 1;
    for (int i = 0; i < kept; i++) {
        acc += pr[i].p;
        if (u < acc) {
            pick = i;
            break;
        }
    }
    if (logprob)
        *logprob = log(pr[pick].p / mass);
    if (kept_ids && n_kept) {
        for (int i = 0; i < kept; i++)
            kept_ids[i] = pr[i].id;
        *n_kept = kept;
    }
    return pr[pick].id;
}

/*
 * engine/sample.c — the RL sampler (engine/sample.h): repetition penalty, an optional
 * allowed set (constrained decoding), greedy, temperature, top-k, top-p and min-p, one
 * seeded draw per token, and the kept set and log-probability of the distribution drawn
 * from. Candidates are (value, id) pairs; sorting is by value descending, id ascending,
 * so ties resolve the same way everywhere. top-k selects with a quickselect before
 * sorting only the k survivors.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine/sample.h"
#include "engine/engine.h"

typedef struct {
    double v;
    int32_t id;
} cand;

struct ef_engine_sampler {
    int n_vocab;
    cand *c;         /* n_vocab */
    int32_t *kept;   /* n_vocab */
    uint32_t *stamp; /* n_vocab: history marks */
    uint32_t gen;
};

int ef_engine_sample_params_check(ef_ctx *ctx, const ef_sample_params *p)
{
    if (!(p->temperature >= 0) || p->temperature > 100)
        return ef_errorf(ctx, EF_EINVAL, "sampling: temperature %g outside [0, 100]",
                         p->temperature);
    if (p->top_k < 0)
        return ef_errorf(ctx, EF_EINVAL, "sampling: top_k %d is negative", p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return ef_errorf(ctx, EF_EINVAL, "sampling: top_p %g outside (0, 1]", p->top_p);
    if (!(p->min_p >= 0 && p->min_p < 1))
        return ef_errorf(ctx, EF_EINVAL, "sampling: min_p %g outside [0, 1)", p->min_p);
    if (!(p->repetition_penalty > 0) || p->repetition_penalty > 100)
        return ef_errorf(ctx, EF_EINVAL, "sampling: repetition_penalty %g outside (0, 100]",
                         p->repetition_penalty);
    return 0;
}

int ef_engine_sampler_new(ef_ctx *ctx, int n_vocab, ef_engine_sampler **out)
{
    if (n_vocab <= 0)
        return ef_errorf(ctx, EF_EINVAL, "sampler: vocabulary size %d", n_vocab);
    ef_engine_sampler *s = ef_calloc(1, sizeof(*s));
    if (s) {
        s->n_vocab = n_vocab;
        s->c = ef_malloc((size_t)n_vocab * sizeof(*s->c));
        s->kept = ef_malloc((size_t)n_vocab * sizeof(*s->kept));
        s->stamp = ef_calloc((size_t)n_vocab, sizeof(*s->stamp));
    }
    if (!s || !s->c || !s->kept || !s->stamp) {
        ef_engine_sampler_free(s);
        return ef_errorf(ctx, EF_ENOMEM, "sampler: out of memory (vocabulary %d)", n_vocab);
    }
    *out = s;
    return 0;
}

void ef_engine_sampler_free(ef_engine_sampler *s)
{
    if (!s)
        return;
    ef_free(s->c);
    ef_free(s->kept);
    ef_free(s->stamp);
    ef_free(s);
}

/* a before b in the sorted order */
static int before(const cand *a, const cand *b)
{
    return a->v > b->v || (a->v == b->v && a->id < b->id);
}

static int cmp_cand(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static void swap_cand(cand *a, cand *b)
{
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Moves the k first (in sorted order) of c[0..n) to the front, unordered. */
static void select_top(cand *c, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (before(&c[hi], &c[lo]))
            swap_cand(&c[hi], &c[lo]);
        if (before(&c[mid], &c[lo]))
            swap_cand(&c[mid], &c[lo]);
        if (before(&c[hi], &c[mid]))
            swap_cand(&c[hi], &c[mid]);
        cand pivot = c[mid];
        int i = lo, j = hi;
        while (i <= j) {
            while (before(&c[i], &pivot))
                i++;
            while (before(&pivot, &c[j]))
                j--;
            if (i <= j)
                swap_cand(&c[i++], &c[j--]);
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            return;
    }
}

int ef_engine_sampler_sample(ef_engine_sampler *s, const float *logits, const ef_sample_params *p,
                             const int32_t *allowed, int n_allowed, const int32_t *history,
                             size_t n_history, ef_rng *rng, ef_sample_result *out)
{
    int n = allowed ? n_allowed : s->n_vocab;
    if (n <= 0)
        return EF_EINVAL;
    /* repetition penalty marks */
    int penalize = p->repetition_penalty > 0 && p->repetition_penalty != 1.0 && history;
    if (penalize) {
        if (++s->gen == 0) {
            memset(s->stamp, 0, (size_t)s->n_vocab * sizeof(*s->stamp));
            s->gen = 1;
        }
        for (size_t i = 0; i < n_history; i++)
            if (history[i] >= 0 && history[i] < s->n_vocab)
                s->stamp[history[i]] = s->gen;
    }
    /* The plain path (temperature and top-p only, no allowed set, no penalty) is the
     * engine's own sampler (ef_engine_sample_kept), so that a stream sampled here equals
     * one from ef_engine_generate for the same seed. */
    if (!allowed && !penalize && p->top_k == 0 && !(p->min_p > 0) && p->temperature > 0 &&
        !p->greedy) {
        ef_engine_sampling es = {0, p->temperature, p->top_p};
        int n_kept = 0, finite = 0;
        for (int i = 0; i < s->n_vocab && !finite; i++)
            finite = isfinite(logits[i]);
        if (!finite)
            return EF_EINVAL;
        out->token = ef_engine_sample_kept(logits, s->n_vocab, &es, rng, s->c, &out->logprob,
                                           s->kept, &n_kept);
        out->kept = s->kept;
        out->n_kept = n_kept >= s->n_vocab ? 0 : n_kept;
        return 0;
    }
    cand *c = s->c;
    int m = 0;
    for (int i = 0; i < n; i++) {
        int32_t id = allowed ? allowed[i] : i;
        if (id < 0 || id >= s->n_vocab)
            return EF_EINVAL;
        double v = logits[id];
        if (isnan(v) || v == -INFINITY)
            continue;
        if (penalize && s->stamp[id] == s->gen)
            v = v > 0 ? v / p->repetition_penalty : v * p->repetition_penalty;
        c[m].v = v;
        c[m].id = id;
        m++;
    }
    if (m == 0)
        return EF_EINVAL;
    if (p->greedy || !(p->temperature > 0)) {
        int best = 0;
        for (int i = 1; i < m; i++)
            if (before(&c[i], &c[best]))
                best = i;
        s->kept[0] = c[best].id;
        out->token = c[best].id;
        out->logprob = 0.0;
        out->kept = s->kept;
        out->n_kept = 1;
        return 0;
    }
    double inv_t = 1.0 / p->temperature;
    for (int i = 0; i < m; i++)
        c[i].v *= inv_t;
    int truncated = allowed != NULL;
    if (p->top_k > 0 && p->top_k < m) {
        select_top(c, m, p->top_k);
        m = p->top_k;
        truncated = 1;
    }
    int need_sort = (p->top_p > 0 && p->top_p < 1) || p->min_p > 0 || truncated;
    if (need_sort)
        qsort(c, (size_t)m, sizeof(*c), cmp_cand);
    /* softmax in place over the m candidates (v becomes a probability) */
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < m; i++)
        mx = fmax(mx, c[i].v);
    for (int i = 0; i < m; i++) {
        c[i].v = exp(c[i].v - mx);
        sum += c[i].v;
    }
    for (int i = 0; i < m; i++)
        c[i].v /= sum;
    int kept = m;
    if (p->top_p > 0 && p->top_p < 1) {
        double mass = 0;
        for (kept = 0; kept < m;) {
            mass += c[kept++].v;
            if (mass >= p->top_p)
                break;
        }
        truncated |= kept < m;
    }
    if (p->min_p > 0) {
        double floor_p = p->min_p * c[0].v;
        int k = 1;
        while (k < kept && c[k].v >= floor_p)
            k++;
        truncated |= k < kept;
        kept = k;
    }
    double mass = 0;
    for (int i = 0; i < kept; i++)
        mass += c[i].v;
    double u = ef_rng_double(rng) * mass, acc = 0;
    int pick = kept - 1;
    for (int i = 0; i < kept; i++) {
        acc += c[i].v;
        if (u < acc) {
            pick = i;
            break;
        }
    }
    out->token = c[pick].id;
    out->logprob = log(c[pick].v / mass);
    out->kept = s->kept;
    if (truncated) {
        for (int i = 0; i < kept; i++)
            s->kept[i] = c[i].id;
        out->n_kept = kept;
    } else {
        out->n_kept = 0;
    }
    return 0;
}

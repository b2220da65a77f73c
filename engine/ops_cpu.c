/*
 * engine/ops_cpu.c — the optimized CPU backend: the heavy ops (linear, indexer scores,
 * top-k, latent attention, fp8 quantization, Hadamard) split across the thread pool
 * (common/pool.h) with per-thread scratch, dot products unrolled into independent
 * accumulators so the compiler vectorizes them, and top-k by selection instead of a full
 * sort. The light ops (norms, RoPE, SiLU) call the reference. Same signatures as
 * ops_ref.c; tests/test_engine.c compares the two op by op.
 */
#include <math.h>
#include <string.h>
#include "engine/engine_int.h"

#define LIN_ROWS 16 /* weight rows dequantized per work item */

static inline float dot(const float *a, const float *b, int n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int u = 0; u < 8; u++)
            acc[u] += a[k + u] * b[k + u];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; k < n; k++)
        s += a[k] * b[k];
    return s;
}

/* Below this many multiply-adds a job runs on the calling thread: waking the pool costs
 * more than it saves. */
#define POOL_MIN_WORK 32768.0

static void run_sized(const ef_engine_exec *ex, size_t n, double work, ef_pool_for_fn fn,
                      void *ud)
{
    if (ex->pool && n > 1 && work >= POOL_MIN_WORK)
        ef_pool_for(ex->pool, n, fn, ud);
    else
        for (size_t i = 0; i < n; i++)
            fn(ud, i, 0);
}

static void run(const ef_engine_exec *ex, size_t n, ef_pool_for_fn fn, void *ud)
{
    run_sized(ex, n, POOL_MIN_WORK, fn, ud);
}

/* ---- linear ------------------------------------------------------------------------- */

typedef struct {
    const ef_engine_exec *ex;
    float *y;
    const float *x;
    int m;
    const ef_weight *w;
} lin_job;

static void lin_item(void *ud, size_t item, int tid)
{
    lin_job *j = ud;
    const ef_weight *w = j->w;
    int r0 = (int)item * LIN_ROWS, r1 = EF_MIN(r0 + LIN_ROWS, w->rows);
    float *rows = j->ex->scratch + (size_t)tid * j->ex->scratch_floats;
    for (int r = r0; r < r1; r++)
        ef_engine__weight_row(w, r, rows + (size_t)(r - r0) * w->cols);
    for (int i = 0; i < j->m; i++) {
        const float *xi = j->x + (size_t)i * w->cols;
        float *yi = j->y + (size_t)i * w->rows;
        for (int r = r0; r < r1; r++)
            yi[r] = dot(xi, rows + (size_t)(r - r0) * w->cols, w->cols);
    }
}

static void cpu_linear(const ef_engine_exec *ex, float *y, const float *x, int m,
                       const ef_weight *w)
{
    lin_job j = {ex, y, x, m, w};
    run_sized(ex, (size_t)(w->rows + LIN_ROWS - 1) / LIN_ROWS, (double)m * w->rows * w->cols,
              lin_item, &j);
}

/* ---- light ops: the reference --------------------------------------------------------- */

static void cpu_rmsnorm(const ef_engine_exec *ex, float *y, const float *x, const float *g, int m,
                        int dim, float eps)
{
    ef_engine__ops_ref.rmsnorm(ex, y, x, g, m, dim, eps);
}

static void cpu_layernorm(const ef_engine_exec *ex, float *y, const float *x, const float *g,
                          const float *b, int m, int dim, float eps)
{
    ef_engine__ops_ref.layernorm(ex, y, x, g, b, m, dim, eps);
}

static void cpu_rope(const ef_engine_exec *ex, float *x, int m, int n_heads, int row_stride,
                     int head_stride, int rope_dim, const int32_t *pos, const float *cos_tab,
                     const float *sin_tab, int interleaved)
{
    ef_engine__ops_ref.rope(ex, x, m, n_heads, row_stride, head_stride, rope_dim, pos, cos_tab,
                            sin_tab, interleaved);
}

static void cpu_silu_mul(const ef_engine_exec *ex, float *y, const float *g, const float *u,
                         int m, int n)
{
    ef_engine__ops_ref.silu_mul(ex, y, g, u, m, n);
}

/* ---- Hadamard and quantization: rows across threads ---------------------------------- */

typedef struct {
    float *x;
    int dim;
} had_job;

static void had_item(void *ud, size_t i, int tid)
{
    (void)tid;
    had_job *j = ud;
    float *v = j->x + i * (size_t)j->dim;
    int dim = j->dim;
    for (int len = 1; len < dim; len <<= 1)
        for (int s = 0; s < dim; s += 2 * len)
            for (int k = s; k < s + len; k++) {
                float a = v[k], b = v[k + len];
                v[k] = a + b;
                v[k + len] = a - b;
            }
    float scale = 1.0f / sqrtf((float)dim);
    for (int k = 0; k < dim; k++)
        v[k] *= scale;
}

static void cpu_hadamard(const ef_engine_exec *ex, float *x, int n, int dim)
{
    had_job j = {x, dim};
    if (n < 64) {
        for (int i = 0; i < n; i++)
            had_item(&j, (size_t)i, 0);
        return;
    }
    run(ex, (size_t)n, had_item, &j);
}

typedef struct {
    uint8_t *q;
    float *scales;
    const float *x;
    int dim, block, ue8m0;
} quant_job;

static void quant_item(void *ud, size_t i, int tid)
{
    (void)tid;
    quant_job *j = ud;
    int nb = j->dim / j->block;
    for (int b = 0; b < nb; b++)
        ef_engine__quant_block(j->q + i * j->dim + (size_t)b * j->block, j->scales + i * nb + b,
                               j->x + i * j->dim + (size_t)b * j->block, j->block, j->ue8m0);
}

static void cpu_quant_fp8(const ef_engine_exec *ex, uint8_t *q, float *scales, const float *x,
                          int n, int dim, int block, int ue8m0)
{
    quant_job j = {q, scales, x, dim, block, ue8m0};
    if (n < 64) {
        for (int i = 0; i < n; i++)
            quant_item(&j, (size_t)i, 0);
        return;
    }
    run(ex, (size_t)n, quant_item, &j);
}

/* ---- indexer scores: (query, block of keys) across threads ---------------------------- */

#define IDX_KEYS 256

typedef struct {
    const ef_engine_exec *ex;
    float *s;
    const uint8_t *q8;
    const float *w;
    const uint8_t *k8;
    const float *kscale;
    int n_k, n_heads, dim, n_kb;
    const int32_t *n_valid;
} idx_job;

static void idx_item(void *ud, size_t item, int tid)
{
    idx_job *j = ud;
    int i = (int)(item / (size_t)j->n_kb), kb = (int)(item % (size_t)j->n_kb);
    int j0 = kb * IDX_KEYS, j1 = EF_MIN(j0 + IDX_KEYS, j->n_k);
    const float *t = ef_engine__fp8e4m3_table();
    /* scratch: the query's heads decoded (H x D), then one decoded key (D) */
    float *qi = j->ex->scratch + (size_t)tid * j->ex->scratch_floats;
    float *kf = qi + (size_t)j->n_heads * j->dim;
    float *srow = j->s + (size_t)i * j->n_k;
    const uint8_t *q8 = j->q8 + (size_t)i * j->n_heads * j->dim;
    for (int e = 0; e < j->n_heads * j->dim; e++)
        qi[e] = t[q8[e]];
    const float *wi = j->w + (size_t)i * j->n_heads;
    int nv = j->n_valid[i];
    for (int key = j0; key < j1; key++) {
        if (key >= nv) {
            srow[key] = -INFINITY;
            continue;
        }
        const uint8_t *kr = j->k8 + (size_t)key * j->dim;
        for (int d = 0; d < j->dim; d++)
            kf[d] = t[kr[d]];
        float acc = 0;
        for (int h = 0; h < j->n_heads; h++)
            acc += fmaxf(dot(qi + (size_t)h * j->dim, kf, j->dim), 0.0f) * wi[h];
        srow[key] = acc * j->kscale[key];
    }
}

static void cpu_index_scores(const ef_engine_exec *ex, float *s, const uint8_t *q8,
                             const float *w, const uint8_t *k8, const float *kscale, int n_q,
                             int n_k, int n_heads, int dim, const int32_t *n_valid)
{
    idx_job j = {ex, s, q8, w, k8, kscale, n_k, n_heads, dim, (n_k + IDX_KEYS - 1) / IDX_KEYS,
                 n_valid};
    run_sized(ex, (size_t)n_q * j.n_kb, (double)n_q * n_k * n_heads * dim, idx_item, &j);
}

/* ---- top-k: selection per query -------------------------------------------------------- */

typedef struct {
    const ef_engine_exec *ex;
    int32_t *idx;
    const float *s;
    int n_k, k;
    const int32_t *n_valid;
} topk_job;

/* The k-th largest of v[0..n) (1-based k <= n); v is reordered. */
static float kth_largest(float *v, int n, int k)
{
    int lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        int a = lo, b = hi;
        while (a <= b) {
            while (v[a] > pivot)
                a++;
            while (v[b] < pivot)
                b--;
            if (a <= b) {
                float tmp = v[a];
                v[a] = v[b];
                v[b] = tmp;
                a++, b--;
            }
        }
        if (want <= b)
            hi = b;
        else if (want >= a)
            lo = a;
        else
            break;
    }
    return v[want];
}

static void topk_item(void *ud, size_t i, int tid)
{
    topk_job *j = ud;
    const float *row = j->s + i * (size_t)j->n_k;
    int32_t *out = j->idx + i * (size_t)j->k;
    int nv = EF_MIN(j->n_valid[i], j->n_k), n_out = 0;
    if (nv <= j->k) {
        for (int s = 0; s < nv; s++)
            out[n_out++] = s;
    } else {
        float *tmp = j->ex->scratch + (size_t)tid * j->ex->scratch_floats;
        memcpy(tmp, row, sizeof(float) * (size_t)nv);
        float th = kth_largest(tmp, nv, j->k);
        int n_above = 0;
        for (int s = 0; s < nv; s++)
            n_above += row[s] > th;
        int ties = j->k - n_above;
        for (int s = 0; s < nv && n_out < j->k; s++) {
            if (row[s] > th)
                out[n_out++] = s;
            else if (row[s] == th && ties > 0) {
                out[n_out++] = s;
                ties--;
            }
        }
    }
    for (; n_out < j->k; n_out++)
        out[n_out] = -1;
}

static void cpu_topk(const ef_engine_exec *ex, int32_t *idx, const float *s, int n_q, int n_k,
                     int k, const int32_t *n_valid)
{
    topk_job j = {ex, idx, s, n_k, k, n_valid};
    run(ex, (size_t)n_q, topk_item, &j);
}

/* ---- latent attention: (query, block of heads) across threads -------------------------
 * The heads of a query share its keys (MQA over the latent), so a work item takes
 * ATTN_HB heads and walks the selected keys once, reading each latent row one time for
 * all of them: memory traffic per query drops by the block size. */

#define ATTN_HB 16

typedef struct {
    const ef_engine_exec *ex;
    float *o;
    const float *q_lat, *q_pe, *kv, *pe;
    const int32_t *idx;
    int k, n_heads, n_hb, c, r;
    float scale;
} attn_job;

static void attn_item(void *ud, size_t item, int tid)
{
    attn_job *j = ud;
    int c = j->c, r = j->r, k = j->k;
    size_t i = item / (size_t)j->n_hb;
    int h0 = (int)(item % (size_t)j->n_hb) * ATTN_HB, nh = EF_MIN(ATTN_HB, j->n_heads - h0);
    const int32_t *sel = j->idx + i * (size_t)k;
    float *p = j->ex->scratch + (size_t)tid * j->ex->scratch_floats; /* [nh x k] */
    float mx[ATTN_HB], sum[ATTN_HB];
    size_t q0 = i * (size_t)j->n_heads + (size_t)h0;
    for (int h = 0; h < nh; h++)
        mx[h] = -INFINITY, sum[h] = 0;
    for (int t = 0; t < k; t++) {
        int32_t s = sel[t];
        if (s < 0) {
            for (int h = 0; h < nh; h++)
                p[(size_t)h * k + t] = -INFINITY;
            continue;
        }
        const float *kr = j->kv + (size_t)s * c, *pr = j->pe + (size_t)s * r;
        for (int h = 0; h < nh; h++) {
            float v = (dot(j->q_lat + (q0 + h) * c, kr, c) + dot(j->q_pe + (q0 + h) * r, pr, r)) *
                      j->scale;
            p[(size_t)h * k + t] = v;
            mx[h] = fmaxf(mx[h], v);
        }
    }
    for (int h = 0; h < nh; h++) {
        float *ph = p + (size_t)h * k;
        for (int t = 0; t < k; t++) {
            ph[t] = ph[t] == -INFINITY ? 0.0f : expf(ph[t] - mx[h]);
            sum[h] += ph[t];
        }
        memset(j->o + (q0 + h) * c, 0, sizeof(float) * (size_t)c);
    }
    for (int t = 0; t < k; t++) {
        int32_t s = sel[t];
        if (s < 0)
            continue;
        const float *kr = j->kv + (size_t)s * c;
        for (int h = 0; h < nh; h++) {
            if (mx[h] == -INFINITY)
                continue;
            float wt = p[(size_t)h * k + t] / sum[h];
            float *oh = j->o + (q0 + h) * c;
            for (int d = 0; d < c; d++)
                oh[d] += wt * kr[d];
        }
    }
}

static void cpu_attn_latent(const ef_engine_exec *ex, float *o, const float *q_lat,
                            const float *q_pe, const float *kv, const float *pe,
                            const int32_t *idx, int k, int n_q, int n_heads, int c, int r,
                            float scale)
{
    int n_hb = (n_heads + ATTN_HB - 1) / ATTN_HB;
    attn_job j = {ex, o, q_lat, q_pe, kv, pe, idx, k, n_heads, n_hb, c, r, scale};
    run_sized(ex, (size_t)n_q * n_hb, (double)n_q * n_heads * k * (2 * c + r), attn_item, &j);
}

const ef_engine_ops ef_engine__ops_cpu = {
    "cpu",         cpu_linear,       cpu_rmsnorm, cpu_layernorm,   cpu_rope,     cpu_hadamard,
    cpu_quant_fp8, cpu_index_scores, cpu_topk,    cpu_attn_latent, cpu_silu_mul,
};

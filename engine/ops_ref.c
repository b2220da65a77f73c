/*
 * engine/ops_ref.c — the reference backend: every op as plain loops, one thread, written
 * to be read against DeepSeek's inference/model.py and kernel.py. It defines correctness:
 * the optimized backend (ops_cpu.c) and the CUDA kernels are tested against it op by op.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine/engine_int.h"

static void ref_linear(const ef_engine_exec *ex, float *y, const float *x, int m,
                       const ef_weight *w)
{
    float *row = ex->scratch;
    for (int r = 0; r < w->rows; r++) {
        ef_engine__weight_row(w, r, row);
        for (int i = 0; i < m; i++) {
            const float *xi = x + (size_t)i * w->cols;
            float acc = 0;
            for (int k = 0; k < w->cols; k++)
                acc += xi[k] * row[k];
            y[(size_t)i * w->rows + r] = acc;
        }
    }
}

static void ref_rmsnorm(const ef_engine_exec *ex, float *y, const float *x, const float *g, int m,
                        int dim, float eps)
{
    (void)ex;
    for (int i = 0; i < m; i++) {
        const float *xi = x + (size_t)i * dim;
        float ss = 0;
        for (int k = 0; k < dim; k++)
            ss += xi[k] * xi[k];
        float inv = 1.0f / sqrtf(ss / (float)dim + eps);
        for (int k = 0; k < dim; k++)
            y[(size_t)i * dim + k] = g[k] * (xi[k] * inv);
    }
}

static void ref_layernorm(const ef_engine_exec *ex, float *y, const float *x, const float *g,
                          const float *b, int m, int dim, float eps)
{
    (void)ex;
    for (int i = 0; i < m; i++) {
        const float *xi = x + (size_t)i * dim;
        float mean = 0, var = 0;
        for (int k = 0; k < dim; k++)
            mean += xi[k];
        mean /= (float)dim;
        for (int k = 0; k < dim; k++)
            var += (xi[k] - mean) * (xi[k] - mean);
        var /= (float)dim;
        float inv = 1.0f / sqrtf(var + eps);
        for (int k = 0; k < dim; k++)
            y[(size_t)i * dim + k] = (xi[k] - mean) * inv * g[k] + b[k];
    }
}

static void ref_rope(const ef_engine_exec *ex, float *x, int m, int n_heads, int row_stride,
                     int head_stride, int rope_dim, const int32_t *pos, const float *cos_tab,
                     const float *sin_tab, int interleaved)
{
    (void)ex;
    int half = rope_dim / 2;
    for (int i = 0; i < m; i++) {
        const float *cs = cos_tab + (size_t)pos[i] * half, *sn = sin_tab + (size_t)pos[i] * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)i * row_stride + (size_t)h * head_stride;
            for (int j = 0; j < half; j++) {
                int a = interleaved ? 2 * j : j, b = interleaved ? 2 * j + 1 : j + half;
                float re = v[a], im = v[b];
                v[a] = re * cs[j] - im * sn[j];
                v[b] = re * sn[j] + im * cs[j];
            }
        }
    }
}

static void ref_hadamard(const ef_engine_exec *ex, float *x, int n, int dim)
{
    (void)ex;
    float scale = 1.0f / sqrtf((float)dim);
    for (int i = 0; i < n; i++) {
        float *v = x + (size_t)i * dim;
        for (int len = 1; len < dim; len <<= 1)
            for (int s = 0; s < dim; s += 2 * len)
                for (int j = s; j < s + len; j++) {
                    float a = v[j], b = v[j + len];
                    v[j] = a + b;
                    v[j + len] = a - b;
                }
        for (int k = 0; k < dim; k++)
            v[k] *= scale;
    }
}

/* Shared by both backends (the quantizer must be bit-identical everywhere). */
static void quant_one(uint8_t *q, float *scale, const float *x, int block, int ue8m0)
{
    float amax = 0;
    for (int k = 0; k < block; k++)
        amax = fmaxf(amax, fabsf(x[k]));
    amax = fmaxf(amax, 1e-4f);
    float s = amax * (1.0f / 448.0f);
    if (ue8m0) {
        /* round up to a power of two from the bits, exactly as DeepSeek's kernel does
         * (fast_log2_ceil): the exponent, plus one when any mantissa bit is set */
        uint32_t bits;
        memcpy(&bits, &s, 4);
        int e = (int)((bits >> 23) & 0xff) - 127 + ((bits & 0x7fffff) != 0);
        s = ldexpf(1.0f, e);
    }
    for (int k = 0; k < block; k++) {
        float v = x[k] / s;
        v = fminf(fmaxf(v, -448.0f), 448.0f);
        q[k] = ef_engine__f32_to_fp8e4m3(v);
    }
    *scale = s;
}

static void ref_quant_fp8(const ef_engine_exec *ex, uint8_t *q, float *scales, const float *x,
                          int n, int dim, int block, int ue8m0)
{
    (void)ex;
    int nb = dim / block;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < nb; b++)
            quant_one(q + (size_t)i * dim + (size_t)b * block, scales + (size_t)i * nb + b,
                      x + (size_t)i * dim + (size_t)b * block, block, ue8m0);
}

static void ref_index_scores(const ef_engine_exec *ex, float *s, const uint8_t *q8,
                             const float *w, const uint8_t *k8, const float *kscale, int n_q,
                             int n_k, int n_heads, int dim, const int32_t *n_valid)
{
    (void)ex;
    const float *t = ef_engine__fp8e4m3_table();
    for (int i = 0; i < n_q; i++)
        for (int j = 0; j < n_k; j++) {
            if (j >= n_valid[i]) {
                s[(size_t)i * n_k + j] = -INFINITY;
                continue;
            }
            float acc = 0;
            for (int h = 0; h < n_heads; h++) {
                const uint8_t *qh = q8 + ((size_t)i * n_heads + h) * dim;
                const uint8_t *kj = k8 + (size_t)j * dim;
                float dot = 0;
                for (int d = 0; d < dim; d++)
                    dot += t[qh[d]] * t[kj[d]];
                acc += fmaxf(dot, 0.0f) * w[(size_t)i * n_heads + h];
            }
            s[(size_t)i * n_k + j] = acc * kscale[j];
        }
}

typedef struct {
    float v;
    int32_t i;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static void ref_topk(const ef_engine_exec *ex, int32_t *idx, const float *s, int n_q, int n_k,
                     int k, const int32_t *n_valid)
{
    scored *tmp = (scored *)ex->scratch; /* the model reserves 2 floats per key */
    for (int i = 0; i < n_q; i++) {
        int nv = EF_MIN(n_valid[i], n_k);
        for (int j = 0; j < nv; j++)
            tmp[j] = (scored){s[(size_t)i * n_k + j], j};
        qsort(tmp, (size_t)nv, sizeof *tmp, cmp_scored);
        for (int j = 0; j < k; j++)
            idx[(size_t)i * k + j] = (j < nv) ? tmp[j].i : -1;
    }
}

static void ref_attn_latent(const ef_engine_exec *ex, float *o, const float *q_lat,
                            const float *q_pe, const float *kv, const float *pe,
                            const int32_t *idx, int k, int n_q, int n_heads, int c, int r,
                            float scale)
{
    float *p = ex->scratch; /* k floats, reserved by the model */
    for (int i = 0; i < n_q; i++)
        for (int h = 0; h < n_heads; h++) {
            const float *ql = q_lat + ((size_t)i * n_heads + h) * c;
            const float *qp = q_pe + ((size_t)i * n_heads + h) * r;
            float *oh = o + ((size_t)i * n_heads + h) * c;
            memset(oh, 0, sizeof(float) * (size_t)c);
            float mx = -INFINITY;
            for (int j = 0; j < k ; j++) {
                int32_t s = idx[(size_t)i * k + j];
                if (s < 0) {
                    p[j] = -INFINITY;
                    continue;
                }
                float dot = 0;
                for (int d = 0; d < c; d++)
                    dot += ql[d] * kv[(size_t)s * c + d];
                for (int d = 0; d < r; d++)
                    dot += qp[d] * pe[(size_t)s * r + d];
                p[j] = dot * scale;
                mx = fmaxf(mx, p[j]);
            }
            if (mx == -INFINITY)
                continue;
            float sum = 0;
            for (int j = 0; j < k; j++)
                sum += (p[j] = p[j] == -INFINITY ? 0.0f : expf(p[j] - mx));
            for (int j = 0; j < k; j++) {
                int32_t s = idx[(size_t)i * k + j];
                if (s < 0)
                    continue;
                float wj = p[j] / sum;
                for (int d = 0; d < c; d++)
                    oh[d] += wj * kv[(size_t)s * c + d];
            }
        }
}

static void ref_silu_mul(const ef_engine_exec *ex, float *y, const float *g, const float *u,
                         int m, int n)
{
    (void)ex;
    for (size_t i = 0; i < (size_t)m * n; i++)
        y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void ef_engine__quant_block(uint8_t *q, float *scale, const float *x, int block, int ue8m0)
{
    quant_one(q, scale, x, block, ue8m0);
}

const ef_engine_ops ef_engine__ops_ref = {
    "ref",        ref_linear,       ref_rmsnorm, ref_layernorm,   ref_rope,     ref_hadamard,
    ref_quant_fp8, ref_index_scores, ref_topk,    ref_attn_latent, ref_silu_mul,
};

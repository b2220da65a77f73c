/*
 * engine/ops_num.c — number formats and the pieces every backend shares: bf16/fp16/fp8
 * conversions (fp8-e4m3 encode is round-to-nearest-even with saturation, as PyTorch's
 * float8_e4m3fn cast after DeepSeek's clamp to +-448), reading one row of a weight in any
 * stored dtype (fp8 rows are scaled by their 128x128 block's weight_scale_inv), MoE
 * routing of one token, YaRN RoPE tables, and the execution context (thread pool and
 * per-thread scratch).
 */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include "engine/engine_int.h"

#define PI_D 3.14159265358979323846

float ef_engine__bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ef_engine__f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

float ef_engine__f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float f;
    if (exp == 0) {
        f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    uint32_t u;
    if (exp == 31)
        u = sign | 0x7f800000u | (man << 13);
    else
        u = sign | ((exp + 112) << 23) | (man << 13);
    memcpy(&f, &u, 4);
    return f;
}

static float fp8e4m3_decode(uint8_t v)
{
    int sign = v >> 7, exp = (v >> 3) & 0xf, man = v & 7;
    float f;
    if (exp == 15 && man == 7)
        return NAN;
    if (exp == 0)
        f = ldexpf((float)man, -9);
    else
        f = ldexpf(1.0f + (float)man / 8.0f, exp - 7);
    return sign ? -f : f;
}

static float e4m3_table[256];
static pthread_once_t e4m3_once = PTHREAD_ONCE_INIT;

static void e4m3_init(void)
{
    for (int i = 0; i < 256; i++)
        e4m3_table[i] = fp8e4m3_decode((uint8_t)i);
}

const float *ef_engine__fp8e4m3_table(void)
{
    pthread_once(&e4m3_once, e4m3_init);
    return e4m3_table;
}

float ef_engine__fp8e4m3_to_f32(uint8_t v)
{
    return ef_engine__fp8e4m3_table()[v];
}

uint8_t ef_engine__f32_to_fp8e4m3(float f)
{
    if (isnan(f))
        return 0x7f;
    uint8_t sign = signbit(f) ? 0x80 : 0;
    float a = fabsf(f);
    if (a >= 448.0f)
        return sign | 0x7e;
    /* Magnitudes are 0x00..0x7e in increasing order: binary search the neighbours. */
    const float *t = ef_engine__fp8e4m3_table();
    int lo = 0, hi = 0x7e;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (t[mid] <= a)
            lo = mid;
        else
            hi = mid;
    }
    float dl = a - t[lo], dh = t[hi] - a;
    int code;
    if (dl < dh)
        code = lo;
    else if (dh < dl)
        code = hi;
    else
        code = (lo & 1) ? hi : lo; /* tie: even mantissa */
    return sign | (uint8_t)code;
}

float ef_engine__fp8e5m2_to_f32(uint8_t v)
{
    return ef_engine__f16_to_f32((uint16_t)((uint16_t)v << 8));
}

void ef_engine__weight_row(const ef_weight *w, int r, float *out)
{
    size_t off = (size_t)r * (size_t)w->cols;
    int n = w->cols;
    switch (w->dtype) {
    case EF_DT_F32:
        memcpy(out, (const uint8_t *)w->data + 4 * off, sizeof(float) * (size_t)n);
        break;
    case EF_DT_BF16: {
        /* memcpy: a file's data need not be aligned */
        const uint8_t *p = (const uint8_t *)w->data + 2 * off;
        for (int i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint32_t u = (uint32_t)h << 16;
            memcpy(&out[i], &u, 4);
        }
        break;
    }
    case EF_DT_F16: {
        const uint8_t *p = (const uint8_t *)w->data + 2 * off;
        for (int i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = ef_engine__f16_to_f32(h);
        }
        break;
    }
    case EF_DT_F8_E4M3: {
        const uint8_t *p = (const uint8_t *)w->data + off;
        const float *t = ef_engine__fp8e4m3_table();
        const float *srow = w->scale_inv ? w->scale_inv + (size_t)(r / w->block_rows) *
                                                              (size_t)w->scale_cols
                                         : NULL;
        for (int i = 0; i < n; i++)
            out[i] = t[p[i]] * (srow ? srow[i / w->block_cols] : 1.0f);
        break;
    }
    case EF_DT_F8_E5M2: {
        const uint8_t *p = (const uint8_t *)w->data + off;
        for (int i = 0; i < n; i++)
            out[i] = ef_engine__fp8e5m2_to_f32(p[i]);
        break;
    }
    default:
        memset(out, 0, sizeof(float) * (size_t)n);
    }
}

/* ---- MoE routing -------------------------------------------------------------------- */

void ef_engine__moe_route(const ef_engine_config *c, const float *logits, const float *bias,
                          float *scratch, int32_t *experts, float *weights)
{
    int n = c->n_routed_experts, per_group = n / c->n_group, k = c->n_experts_per_tok;
    float *orig = scratch, *sel = scratch + n;
    if (c->scoring_sigmoid) {
        for (int e = 0; e < n; e++)
            orig[e] = 1.0f / (1.0f + expf(-logits[e]));
    } else {
        float mx = -INFINITY, sum = 0;
        for (int e = 0; e < n; e++)
            mx = fmaxf(mx, logits[e]);
        for (int e = 0; e < n; e++)
            sum += (orig[e] = expf(logits[e] - mx));
        for (int e = 0; e < n; e++)
            orig[e] /= sum;
    }
    for (int e = 0; e < n; e++)
        sel[e] = orig[e] + (bias ? bias[e] : 0.0f);
    if (c->n_group > 1) {
        /* Group score: sum of the top two (with a bias) or the max; keep topk_group groups. */
        float gscore[256]; /* n_group <= 256 (config.c) */
        int keep[256];
        for (int g = 0; g < c->n_group; g++) {
            float a = -INFINITY, b = -INFINITY;
            for (int e = g * per_group; e < (g + 1) * per_group; e++) {
                if (sel[e] > a)
                    b = a, a = sel[e];
                else if (sel[e] > b)
                    b = sel[e];
            }
            gscore[g] = bias ? (per_group > 1 ? a + b : a) : a;
            keep[g] = 0;
        }
        for (int t = 0; t < c->topk_group; t++) {
            int best = -1;
            for (int g = 0; g < c->n_group; g++)
                if (!keep[g] && (best < 0 || gscore[g] > gscore[best]))
                    best = g;
            keep[best] = 1;
        }
        for (int g = 0; g < c->n_group; g++)
            if (!keep[g])
                for (int e = g * per_group; e < (g + 1) * per_group; e++)
                    sel[e] = -INFINITY;
    }
    float sum = 0;
    for (int t = 0; t < k; t++) {
        int best = -1;
        for (int e = 0; e < n; e++)
            if (sel[e] != -INFINITY || best < 0) {
                int taken = 0;
                for (int u = 0; u < t && !taken; u++)
                    taken = experts[u] == e;
                if (!taken && (best < 0 || sel[e] > sel[best]))
                    best = e;
            }
        experts[t] = best;
        weights[t] = orig[best];
        sum += orig[best];
    }
    for (int t = 0; t < k; t++) {
        if (c->norm_topk_prob && c->scoring_sigmoid)
            weights[t] /= sum;
        weights[t] *= (float)c->routed_scaling_factor;
    }
}

/* ---- RoPE --------------------------------------------------------------------------- */

int ef_engine__rope_tables(const ef_engine_config *c, int n_pos, float **cos_out,
                           float **sin_out)
{
    int half = c->qk_rope_head_dim / 2, dim = c->qk_rope_head_dim;
    float *cs = ef_malloc(sizeof(float) * (size_t)n_pos * (size_t)half);
    float *sn = ef_malloc(sizeof(float) * (size_t)n_pos * (size_t)half);
    float freqs[512];
    if (!cs || !sn || half > 512) {
        ef_free(cs);
        ef_free(sn);
        return EF_ENOMEM;
    }
    double base = c->rope_theta;
    for (int i = 0; i < half; i++)
        freqs[i] = (float)(1.0 / pow(base, (double)(2 * i) / dim));
    if (c->rope_yarn) {
        /* YaRN: blend interpolated (freq / factor) and original frequencies with a linear
         * ramp between the correction dims of beta_fast and beta_slow rotations. */
        double orig = c->rope_original_max_position;
        double lo_d = dim * log(orig / (c->beta_fast * 2 * PI_D)) / (2 * log(base));
        double hi_d = dim * log(orig / (c->beta_slow * 2 * PI_D)) / (2 * log(base));
        double lo = fmax(floor(lo_d), 0), hi = fmin(ceil(hi_d), dim - 1);
        if (lo == hi)
            hi += 0.001;
        for (int i = 0; i < half; i++) {
            float ramp = (float)(((float)i - lo) / (hi - lo));
            ramp = fminf(fmaxf(ramp, 0.0f), 1.0f);
            float smooth = 1.0f - ramp;
            freqs[i] = freqs[i] / (float)c->rope_factor * (1 - smooth) + freqs[i] * smooth;
        }
    }
    for (int p = 0; p < n_pos; p++)
        for (int i = 0; i < half; i++) {
            float a = (float)p * freqs[i];
            cs[(size_t)p * half + i] = cosf(a) * c->rope_attn_factor;
            sn[(size_t)p * half + i] = sinf(a) * c->rope_attn_factor;
        }
    *cos_out = cs;
    *sin_out = sn;
    return 0;
}

/* ---- execution context ---------------------------------------------------------------- */

int ef_engine__exec_init(ef_engine_exec *ex, int n_threads, size_t scratch_floats)
{
    memset(ex, 0, sizeof *ex);
    if (n_threads <= 0)
        n_threads = ef_ncpu();
    if (n_threads > 1 && ef_pool_new(&ex->pool, n_threads) < 0)
        return EF_ENOMEM;
    ex->n_threads = ex->pool ? ef_pool_size(ex->pool) : 1;
    ex->scratch_floats = scratch_floats;
    ex->scratch = ef_malloc(sizeof(float) * scratch_floats * (size_t)ex->n_threads);
    if (!ex->scratch) {
        ef_pool_free(ex->pool);
        ex->pool = NULL;
        return EF_ENOMEM;
    }
    return 0;
}

void ef_engine__exec_clear(ef_engine_exec *ex)
{
    ef_pool_free(ex->pool);
    ef_free(ex->scratch);
    memset(ex, 0, sizeof *ex);
}

int ef_engine__exec_reserve(ef_engine_exec *ex, size_t n)
{
    if (n <= ex->scratch_floats)
        return 0;
    float *p = ef_malloc(sizeof(float) * n * (size_t)ex->n_threads);
    if (!p)
        return EF_ENOMEM;
    ef_free(ex->scratch);
    ex->scratch = p;
    ex->scratch_floats = n;
    return 0;
}

/*
 * engine/model_forward.c — the forward pass, step by step as DeepSeek's inference/model.py
 * runs it: embedding; per layer RMSNorm, MLA attention with DeepSeek Sparse Attention,
 * residual, RMSNorm, dense MLP or MoE, residual; final RMSNorm and the LM head.
 *
 * One code path serves prefill and decode: the n fed tokens sit at absolute positions
 * [pos, pos + n) and attend causally to every cached key, so a prefill may start anywhere
 * (chunked prompts) and decode is the case n = 1. Attention runs in the absorbed (MQA)
 * form over the cached latents: q_nope is absorbed through kv_b's key half into the
 * kv_lora_rank latent, scores are q_lat . kv + q_pe . pe, and the weighted latent sum is
 * expanded through kv_b's value half. EF_ENGINE_ATTN_DENSE_MHA instead expands keys and
 * values per head (the reference's prefill form); tests check both agree.
 *
 * The indexer: q from the normed q latent (wq_b), k from the hidden state (wk, LayerNorm
 * k_norm), RoPE (non-interleaved) on the first qk_rope_head_dim dims, Hadamard rotation,
 * fp8-e4m3 quantization with one scale per index head (blocks of min(128, dim)); weights
 * = weights_proj(x) . n_heads^-0.5 . q_scale . dim^-0.5; scores
 * I[t,s] = k_scale[s] . sum_h w[t,h] . ReLU(q8[t,h] . k8[s]); the top index_topk keys
 * among s <= t are kept (all of them when fewer exist; unused slots are -1).
 */
#include <math.h>
#include <string.h>
#include "engine/engine_int.h"

#define IDX_QBLOCK 64 /* queries scored at once (bounds the score buffer) */

typedef struct {
    float *x, *h, *tmp;
    float *qa, *qr, *q, *kva, *kvn, *q_lat, *q_pe, *o_lat, *ov;
    uint8_t *kv8;
    float *kvs;
    float *iq, *iqs, *ik, *wts, *scores;
    uint8_t *iq8;
    int32_t *idx, *n_valid, *pos;
    int n_tok; /* tokens in this call */
    float *g, *u, *a, *glog, *rw, *xg, *yg;
    int32_t *re, *order, *count;
    float *kvfull, *p; /* MHA mode */
    float *xq;         /* activations after the fp8 round trip (fp8 linears) */
    uint8_t *xq8;
} fbuf;

typedef struct {
    char *base;
    size_t off;
} arena;

static void *take(arena *a, size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = a->base ? a->base + a->off : NULL;
    a->off += bytes;
    return p;
}

static size_t plan(fbuf *b, char *base, const ef_engine_config *c, int n, int end, int ksel,
                   int mha)
{
    arena a = {base, 0};
    size_t N = (size_t)n, D = c->hidden_size, H = c->n_heads, C = c->kv_lora_rank,
           R = c->qk_rope_head_dim, IH = c->index_n_heads, ID = c->index_head_dim;
    size_t inter = (size_t)EF_MAX(c->intermediate_size,
                                  c->moe_intermediate_size * EF_MAX(1, c->n_shared_experts));
    size_t E = c->n_routed_experts, K = c->n_experts_per_tok;
    b->x = take(&a, 4 * N * D);
    b->h = take(&a, 4 * N * D);
    b->tmp = take(&a, 4 * N * D);
    b->qa = take(&a, 4 * N * c->q_lora_rank);
    b->qr = take(&a, 4 * N * c->q_lora_rank);
    b->q = take(&a, 4 * N * H * c->qk_head_dim);
    b->kva = take(&a, 4 * N * (C + R));
    b->kvn = take(&a, 4 * N * C);
    b->kv8 = take(&a, N * C);
    b->kvs = take(&a, 4 * N * C);
    b->q_lat = take(&a, 4 * N * H * C);
    b->q_pe = take(&a, 4 * N * H * R);
    b->o_lat = take(&a, 4 * N * H * C);
    b->ov = take(&a, 4 * N * H * c->v_head_dim);
    b->iq = take(&a, 4 * N * IH * ID);
    b->iq8 = take(&a, N * IH * ID);
    b->iqs = take(&a, 4 * N * IH);
    b->ik = take(&a, 4 * N * ID);
    b->wts = take(&a, 4 * N * IH);
    b->scores = take(&a, 4 * (size_t)EF_MIN(n, IDX_QBLOCK) * end);
    b->idx = take(&a, 4 * (size_t)EF_MIN(n, IDX_QBLOCK) * ksel);
    b->n_valid = take(&a, 4 * N);
    b->pos = take(&a, 4 * N);
    b->g = take(&a, 4 * N * inter);
    b->u = take(&a, 4 * N * inter);
    b->a = take(&a, 4 * N * inter);
    b->glog = take(&a, 4 * N * E);
    b->rw = take(&a, 4 * N * K);
    b->re = take(&a, 4 * N * K);
    b->order = take(&a, 4 * N * K);
    b->count = take(&a, 4 * (E + 1));
    b->xg = take(&a, 4 * N * D);
    b->yg = take(&a, 4 * N * D);
    size_t maxk = (size_t)EF_MAX(EF_MAX(D, (size_t)c->q_lora_rank), EF_MAX(inter, H * c->v_head_dim));
    maxk = EF_MAX(maxk, C);
    b->xq = take(&a, 4 * N * maxk);
    b->xq8 = take(&a, maxk);
    if (mha) {
        b->kvfull = take(&a, 4 * (size_t)end * H * (c->qk_nope_head_dim + c->v_head_dim));
        b->p = take(&a, 4 * (size_t)end);
    }
    return a.off;
}

/* y = x . w^T. An fp8 weight sees its input through a blockwise fp8 round trip first
 * (blocks of 128 along the input, the last one shorter), as DeepSeek's fp8_gemm
 * quantizes activations (act_quant); simulate_act_fp8 = 0 skips it. */
static void lin(ef_engine_model *m, fbuf *b, float *y, const float *x, int n, const ef_weight *w)
{
    if (w->dtype == EF_DT_F8_E4M3 && m->opts.simulate_act_fp8) {
        const float *t = ef_engine__fp8e4m3_table();
        int K = w->cols;
        for (int i = 0; i < n; i++)
            for (int b0 = 0; b0 < K; b0 += 128) {
                int len = EF_MIN(128, K - b0);
                float s;
                const float *src = x + (size_t)i * K + b0;
                float *dst = b->xq + (size_t)i * K + b0;
                ef_engine__quant_block(b->xq8, &s, src, len, m->cfg.scale_ue8m0);
                for (int k = 0; k < len; k++)
                    dst[k] = t[b->xq8[k]] * s;
            }
        x = b->xq;
    }
    m->ops->linear(&m->ex, y, x, n, w);
}

/* ---- absorption through kv_b (per token and head, across the pool) ------------------- */

typedef struct {
    const ef_engine_config *c;
    const float *wf; /* kv_b [H*(nope+v) x C] */
    const float *q;  /* absorb_q: q [n x H x qk_head_dim] */
    float *q_lat;
    const float *o_lat; /* absorb_out */
    float *ov;
} absorb_job;

static void absorb_q_item(void *ud, size_t item, int tid)
{
    (void)tid;
    absorb_job *j = ud;
    const ef_engine_config *c = j->c;
    int H = c->n_heads, C = c->kv_lora_rank, nope = c->qk_nope_head_dim;
    size_t h = item % (size_t)H;
    const float *qn = j->q + item * c->qk_head_dim;
    float *ql = j->q_lat + item * C;
    memset(ql, 0, sizeof(float) * (size_t)C);
    const float *w = j->wf + h * (size_t)(nope + c->v_head_dim) * C;
    for (int d = 0; d < nope; d++) {
        float qd = qn[d];
        const float *wr = w + (size_t)d * C;
        for (int k = 0; k < C; k++)
            ql[k] += qd * wr[k];
    }
}

static void absorb_out_item(void *ud, size_t item, int tid)
{
    (void)tid;
    absorb_job *j = ud;
    const ef_engine_config *c = j->c;
    int H = c->n_heads, C = c->kv_lora_rank, nope = c->qk_nope_head_dim, V = c->v_head_dim;
    size_t h = item % (size_t)H;
    const float *ol = j->o_lat + item * C;
    const float *w = j->wf + (h * (size_t)(nope + V) + nope) * C;
    for (int e = 0; e < V; e++) {
        const float *wr = w + (size_t)e * C;
        float acc = 0;
        for (int k = 0; k < C; k++)
            acc += ol[k] * wr[k];
        j->ov[item * V + e] = acc;
    }
}

static void pool_run(ef_engine_model *m, size_t n, ef_pool_for_fn fn, void *ud)
{
    const ef_engine_config *c = &m->cfg;
    double work = (double)n * c->kv_lora_rank * EF_MAX(c->qk_nope_head_dim, c->v_head_dim);
    if (m->ex.pool && m->ops != &ef_engine__ops_ref && n > 1 && work >= 32768.0)
        ef_pool_for(m->ex.pool, n, fn, ud);
    else
        for (size_t i = 0; i < n; i++)
            fn(ud, i, 0);
}

/* ---- attention ---------------------------------------------------------------------- */

/* The indexer's per-token work for tokens [p0, p0+n) of layer l: q (quantized) and the
 * per-head weights for scoring, and the keys into the cache. */
static void indexer_prepare(ef_engine_model *m, ef_engine_seq *s, int l, fbuf *b, int n)
{
    const ef_engine_config *c = &m->cfg;
    const ef_engine_ops *ops = m->ops;
    const ef_engine_exec *ex = &m->ex;
    const ef_layer_w *lw = &m->layers[l];
    int IH = c->index_n_heads, ID = c->index_head_dim, R = c->qk_rope_head_dim;
    int p0 = s->pos, end = p0 + n;
    size_t base = (size_t)l * s->n_ctx;
    lin(m, b, b->iq, b->qr, n, &lw->idx_wq_b);
    ops->rope(ex, b->iq, n, IH, IH * ID, ID, R, b->pos, m->rope_cos, m->rope_sin, 0);
    lin(m, b, b->ik, b->h, n, &lw->idx_wk);
    ops->layernorm(ex, b->ik, b->ik, lw->idx_k_norm_w, lw->idx_k_norm_b, n, ID, 1e-6f);
    ops->rope(ex, b->ik, n, 1, ID, ID, R, b->pos, m->rope_cos, m->rope_sin, 0);
    ops->hadamard(ex, b->iq, n * IH, ID);
    ops->hadamard(ex, b->ik, n, ID);
    ops->quant_fp8(ex, b->iq8, b->iqs, b->iq, n * IH, ID, c->index_quant_block, c->scale_ue8m0);
    ops->quant_fp8(ex, s->ik + (base + p0) * ID, s->ik_scale + base + p0, b->ik, n, ID,
                   c->index_quant_block, c->scale_ue8m0);
    if (end > c->index_topk) {
        lin(m, b, b->wts, b->h, n, &lw->idx_wproj);
        float hs = 1.0f / sqrtf((float)IH), ds = 1.0f / sqrtf((float)ID);
        for (int e = 0; e < n * IH; e++)
            b->wts[e] = b->wts[e] * hs * b->iqs[e] * ds;
    }
}

/* The keys queries [q0, q0 + nq) attend to, into b->idx ([nq x ksel], -1 = unused): the
 * indexer's top-k in DSA mode, every earlier key otherwise. */
static void select_keys(ef_engine_model *m, ef_engine_seq *s, int l, fbuf *b, int q0, int nq,
                        int ksel)
{
    const ef_engine_config *c = &m->cfg;
    int IH = c->index_n_heads, ID = c->index_head_dim, end = s->pos + b->n_tok;
    size_t base = (size_t)l * s->n_ctx;
    if (m->opts.attn_mode != EF_ENGINE_ATTN_DSA || end <= c->index_topk) {
        /* Dense, or every earlier key fits in top-k: the causal set; no scoring needed. */
        for (int i = 0; i < nq; i++)
            for (int t = 0; t < ksel; t++)
                b->idx[(size_t)i * ksel + t] = t < b->n_valid[q0 + i] ? t : -1;
        return;
    }
    m->ops->index_scores(&m->ex, b->scores, b->iq8 + (size_t)q0 * IH * ID,
                         b->wts + (size_t)q0 * IH, s->ik + base * ID, s->ik_scale + base, nq,
                         end, IH, ID, b->n_valid + q0);
    m->ops->topk(&m->ex, b->idx, b->scores, nq, end, ksel, b->n_valid + q0);
}

/* Expanded (MHA) attention over every earlier key: the test path. */
static void attn_mha(ef_engine_model *m, ef_engine_seq *s, int l, fbuf *b, int n)
{
    const ef_engine_config *c = &m->cfg;
    const ef_layer_w *lw = &m->layers[l];
    int H = c->n_heads, C = c->kv_lora_rank, R = c->qk_rope_head_dim;
    int nope = c->qk_nope_head_dim, V = c->v_head_dim, end = s->pos + n;
    size_t base = (size_t)l * s->n_ctx;
    ef_weight wf = {lw->wkv_b_f32, EF_DT_F32, H * (nope + V), C, NULL, 1, 1, 1, "kv_b"};
    m->ops->linear(&m->ex, b->kvfull, s->kv + base * C, end, &wf);
    for (int i = 0; i < n; i++)
        for (int h = 0; h < H; h++) {
            const float *qh = b->q + ((size_t)i * H + h) * c->qk_head_dim;
            float mx = -INFINITY, sum = 0;
            int nv = b->n_valid[i];
            for (int t = 0; t < nv; t++) {
                const float *kn = b->kvfull + ((size_t)t * H + h) * (nope + V);
                const float *kp = s->pe + (base + t) * R;
                float dot = 0;
                for (int d = 0; d < nope; d++)
                    dot += qh[d] * kn[d];
                for (int d = 0; d < R; d++)
                    dot += qh[nope + d] * kp[d];
                b->p[t] = dot * c->softmax_scale;
                mx = fmaxf(mx, b->p[t]);
            }
            for (int t = 0; t < nv; t++)
                sum += (b->p[t] = expf(b->p[t] - mx));
            float *o = b->ov + ((size_t)i * H + h) * V;
            memset(o, 0, sizeof(float) * (size_t)V);
            for (int t = 0; t < nv; t++) {
                const float *vv = b->kvfull + ((size_t)t * H + h) * (nope + V) + nope;
                for (int e = 0; e < V; e++)
                    o[e] += b->p[t] / sum * vv[e];
            }
        }
}

static void attention(ef_engine_model *m, ef_engine_seq *s, int l, fbuf *b, int n, int ksel)
{
    const ef_engine_config *c = &m->cfg;
    const ef_engine_ops *ops = m->ops;
    const ef_engine_exec *ex = &m->ex;
    const ef_layer_w *lw = &m->layers[l];
    int H = c->n_heads, C = c->kv_lora_rank, R = c->qk_rope_head_dim, QK = c->qk_head_dim;
    int nope = c->qk_nope_head_dim, p0 = s->pos;
    size_t base = (size_t)l * s->n_ctx;

    lin(m, b, b->qa, b->h, n, &lw->wq_a);
    ops->rmsnorm(ex, b->qr, b->qa, lw->q_norm, n, c->q_lora_rank, (float)c->rms_norm_eps);
    lin(m, b, b->q, b->qr, n, &lw->wq_b);
    ops->rope(ex, b->q + nope, n, H, H * QK, QK, R, b->pos, m->rope_cos, m->rope_sin, 1);
    lin(m, b, b->kva, b->h, n, &lw->wkv_a);
    for (int i = 0; i < n; i++)
        memcpy(b->kvn + (size_t)i * C, b->kva + (size_t)i * (C + R), sizeof(float) * (size_t)C);
    ops->rmsnorm(ex, b->kvn, b->kvn, lw->kv_norm, n, C, (float)c->rms_norm_eps);
    ops->rope(ex, b->kva + C, n, 1, C + R, C + R, R, b->pos, m->rope_cos, m->rope_sin, 1);
    float *kv_dst = s->kv + (base + p0) * C;
    if (m->opts.simulate_kv_fp8) {
        /* The reference keeps an fp8 kv cache: quantize and dequantize the latent. */
        const float *t = ef_engine__fp8e4m3_table();
        int blk = c->kv_quant_block, nb = C / blk;
        ops->quant_fp8(ex, b->kv8, b->kvs, b->kvn, n, C, blk, c->scale_ue8m0);
        for (int i = 0; i < n; i++)
            for (int d = 0; d < C; d++)
                kv_dst[(size_t)i * C + d] =
                    t[b->kv8[(size_t)i * C + d]] * b->kvs[(size_t)i * nb + d / blk];
    } else {
        memcpy(kv_dst, b->kvn, sizeof(float) * (size_t)n * C);
    }
    for (int i = 0; i < n; i++)
        memcpy(s->pe + (base + p0 + i) * R, b->kva + (size_t)i * (C + R) + C,
               sizeof(float) * (size_t)R);

    if (m->opts.attn_mode == EF_ENGINE_ATTN_DSA)
        indexer_prepare(m, s, l, b, n);
    if (m->opts.attn_mode == EF_ENGINE_ATTN_DENSE_MHA) {
        attn_mha(m, s, l, b, n);
    } else {
        absorb_job aj = {c, lw->wkv_b_f32, b->q, b->q_lat, b->o_lat, b->ov};
        pool_run(m, (size_t)n * H, absorb_q_item, &aj);
        for (size_t e = 0; e < (size_t)n * H; e++)
            memcpy(b->q_pe + e * R, b->q + e * QK + nope, sizeof(float) * (size_t)R);
        /* queries in blocks: the score and selection buffers stay block-sized */
        for (int q0 = 0; q0 < n; q0 += IDX_QBLOCK) {
            int nq = EF_MIN(IDX_QBLOCK, n - q0);
            size_t qo = (size_t)q0 * H;
            select_keys(m, s, l, b, q0, nq, ksel);
            ops->attn_latent(ex, b->o_lat + qo * C, b->q_lat + qo * C, b->q_pe + qo * R,
                             s->kv + base * C, s->pe + base * R, b->idx, ksel, nq, H, C, R,
                             c->softmax_scale);
        }
        pool_run(m, (size_t)n * H, absorb_out_item, &aj);
    }
    lin(m, b, b->tmp, b->ov, n, &lw->wo);
}

/* ---- feed-forward ----------------------------------------------------------------------- */

static void mlp(ef_engine_model *m, const ef_mlp_w *w, float *y, const float *x, int n, fbuf *b)
{
    const ef_engine_ops *ops = m->ops;
    int inter = w->w1.rows;
    lin(m, b, b->g, x, n, &w->w1);
    lin(m, b, b->u, x, n, &w->w3);
    ops->silu_mul(&m->ex, b->a, b->g, b->u, n, inter);
    lin(m, b, y, b->a, n, &w->w2);
}

static void moe(ef_engine_model *m, int l, fbuf *b, int n, int32_t *routes)
{
    const ef_engine_config *c = &m->cfg;
    const ef_layer_w *lw = &m->layers[l];
    int D = c->hidden_size, E = c->n_routed_experts, K = c->n_experts_per_tok;
    lin(m, b, b->glog, b->h, n, &lw->gate);
    memset(b->count, 0, sizeof(int32_t) * (size_t)(E + 1));
    for (int i = 0; i < n; i++) {
        ef_engine__moe_route(c, b->glog + (size_t)i * E, lw->gate_bias, m->ex.scratch,
                             b->re + (size_t)i * K, b->rw + (size_t)i * K);
        for (int t = 0; t < K; t++)
            b->count[b->re[(size_t)i * K + t] + 1]++;
        if (routes)
            memcpy(routes + ((size_t)i * c->n_layers + l) * K, b->re + (size_t)i * K,
                   sizeof(int32_t) * (size_t)K);
    }
    for (int e = 0; e < E; e++)
        b->count[e + 1] += b->count[e];
    /* order: (token, slot) pairs grouped by expert; count[e] is where expert e starts */
    for (int i = 0; i < n * K; i++)
        b->order[b->count[b->re[i]]++] = i;
    for (int e = E; e > 0; e--)
        b->count[e] = b->count[e - 1];
    b->count[0] = 0;
    memset(b->tmp, 0, sizeof(float) * (size_t)n * D);
    for (int e = 0; e < E; e++) {
        int lo = b->count[e], hi = b->count[e + 1], cnt = hi - lo;
        if (!cnt)
            continue;
        for (int r = 0; r < cnt; r++)
            memcpy(b->xg + (size_t)r * D, b->h + (size_t)(b->order[lo + r] / K) * D,
                   sizeof(float) * (size_t)D);
        mlp(m, &lw->experts[e], b->yg, b->xg, cnt, b);
        for (int r = 0; r < cnt; r++) {
            int pair = b->order[lo + r];
            float wgt = b->rw[pair];
            float *dst = b->tmp + (size_t)(pair / K) * D;
            for (int d = 0; d < D; d++)
                dst[d] += b->yg[(size_t)r * D + d] * wgt;
        }
    }
    if (lw->has_shared) {
        mlp(m, &lw->mlp, b->yg, b->h, n, b);
        for (size_t e = 0; e < (size_t)n * D; e++)
            b->tmp[e] += b->yg[e];
    }
}

/* ---- the whole forward ------------------------------------------------------------------- */

int ef_engine_forward(ef_ctx *ctx, ef_engine_seq *s, const int32_t *tokens, int n_tokens,
                      ef_engine_forward_out *out)
{
    ef_engine_model *m = s->m;
    const ef_engine_config *c = &m->cfg;
    const ef_engine_ops *ops = m->ops;
    int n = n_tokens, D = c->hidden_size, p0 = s->pos;
    if (n < 1)
        return ef_errorf(ctx, EF_EINVAL, "forward: no tokens");
    if (n > s->n_ctx - p0)
        return ef_errorf(ctx, EF_ELIMIT,
                         "forward: %d tokens at position %d overflow the %d-token context", n,
                         p0, s->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return ef_errorf(ctx, EF_EINVAL, "forward: token %d at index %d is outside the "
                             "vocabulary (%d)", tokens[i], i, c->vocab_size);
    int end = p0 + n;
    int ksel = m->opts.attn_mode == EF_ENGINE_ATTN_DSA ? EF_MIN(c->index_topk, end) : end;
    int mha = m->opts.attn_mode == EF_ENGINE_ATTN_DENSE_MHA;
    fbuf b;
    size_t bytes = plan(&b, NULL, c, n, end, ksel, mha);
    char *mem = ef_malloc(bytes);
    if (!mem)
        return ef_errorf(ctx, EF_ENOMEM, "forward: out of memory (%zu bytes of activations)",
                         bytes);
    plan(&b, mem, c, n, end, ksel, mha);
    b.n_tok = n;
    for (int i = 0; i < n; i++) {
        b.pos[i] = p0 + i;
        b.n_valid[i] = p0 + i + 1;
        ef_engine__weight_row(&m->embed, tokens[i], b.x + (size_t)i * D);
    }
    for (int l = 0; l < c->n_layers; l++) {
        const ef_layer_w *lw = &m->layers[l];
        ops->rmsnorm(&m->ex, b.h, b.x, lw->attn_norm, n, D, (float)c->rms_norm_eps);
        attention(m, s, l, &b, n, ksel);
        for (size_t e = 0; e < (size_t)n * D; e++)
            b.x[e] += b.tmp[e];
        ops->rmsnorm(&m->ex, b.h, b.x, lw->ffn_norm, n, D, (float)c->rms_norm_eps);
        if (lw->is_moe) {
            moe(m, l, &b, n, out ? out->routes : NULL);
        } else {
            mlp(m, &lw->mlp, b.tmp, b.h, n, &b);
            if (out && out->routes)
                for (int i = 0; i < n; i++)
                    for (int t = 0; t < c->n_experts_per_tok; t++)
                        out->routes[((size_t)i * c->n_layers + l) * c->n_experts_per_tok + t] =
                            -1;
        }
        for (size_t e = 0; e < (size_t)n * D; e++)
            b.x[e] += b.tmp[e];
    }
    s->pos = end;
    if (out && out->logits) {
        int first = out->all_positions ? 0 : n - 1, rows = n - first;
        ops->rmsnorm(&m->ex, b.h, b.x + (size_t)first * D, m->final_norm, rows, D,
                     (float)c->rms_norm_eps);
        lin(m, &b, out->logits, b.h, rows, &m->lm_head);
    }
    ef_free(mem);
    return 0;
}

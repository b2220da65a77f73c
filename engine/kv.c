/*
 * engine/kv.c — per-sequence caches, sized from the config and the requested context:
 * the MLA latent (kv_lora_rank floats, after the fp8 round trip) and roped key part
 * (qk_rope_head_dim floats) per token and layer, and the lightning indexer's keys
 * (index_head_dim fp8 bytes + one fp32 scale per token and layer). Creating a sequence
 * also grows the model's RoPE tables and per-thread scratch to the new context.
 */
#include <string.h>
#include "common/rng.h"
#include "engine/engine_int.h"

static int grow_model(ef_ctx *ctx, ef_engine_model *m, int n_ctx)
{
    const ef_engine_config *c = &m->cfg;
    if (n_ctx > m->rope_n) {
        float *cs, *sn;
        if (ef_engine__rope_tables(c, n_ctx, &cs, &sn) < 0)
            return ef_errorf(ctx, EF_ENOMEM, "out of memory (rope tables for %d positions)",
                             n_ctx);
        ef_free(m->rope_cos);
        ef_free(m->rope_sin);
        m->rope_cos = cs, m->rope_sin = sn, m->rope_n = n_ctx;
    }
    /* top-k keeps 2 floats per key (ref) / 1 (cpu); attention one float per kept key and
     * head of a block (16 heads in the cpu backend) */
    if (ef_engine__exec_reserve(&m->ex, (size_t)16 * n_ctx + 64) < 0)
        return ef_errorf(ctx, EF_ENOMEM, "out of memory (scratch for %d positions)", n_ctx);
    return 0;
}

int ef_engine_seq_new(ef_ctx *ctx, ef_engine_model *m, int n_ctx, ef_engine_seq **out)
{
    const ef_engine_config *c = &m->cfg;
    if (n_ctx < 1 || n_ctx > (1 << 24))
        return ef_errorf(ctx, EF_EINVAL, "context length %d must be in [1, 16777216]", n_ctx);
    int rc = grow_model(ctx, m, n_ctx);
    if (rc < 0)
        return rc;
    ef_engine_seq *s = ef_calloc(1, sizeof *s);
    if (!s)
        return ef_errorf(ctx, EF_ENOMEM, "out of memory");
    size_t tok = (size_t)c->n_layers * (size_t)n_ctx;
    s->m = m;
    s->n_ctx = n_ctx;
    s->kv = ef_calloc(tok * c->kv_lora_rank, sizeof(float));
    s->pe = ef_calloc(tok * c->qk_rope_head_dim, sizeof(float));
    s->ik = ef_calloc(tok * c->index_head_dim, 1);
    s->ik_scale = ef_calloc(tok, sizeof(float));
    s->cache_bytes = tok * (sizeof(float) * (c->kv_lora_rank + c->qk_rope_head_dim + 1) +
                            c->index_head_dim);
    if (!s->kv || !s->pe || !s->ik || !s->ik_scale) {
        size_t want = s->cache_bytes;
        ef_engine_seq_free(s);
        return ef_errorf(ctx, EF_ENOMEM, "out of memory: caches for %d tokens need %zu bytes",
                         n_ctx, want);
    }
    *out = s;
    return 0;
}

void ef_engine_seq_free(ef_engine_seq *s)
{
    if (!s)
        return;
    ef_free(s->kv);
    ef_free(s->pe);
    ef_free(s->ik);
    ef_free(s->ik_scale);
    ef_free(s);
}

int ef_engine_seq_pos(const ef_engine_seq *s)
{
    return s->pos;
}

int ef_engine_seq_capacity(const ef_engine_seq *s)
{
    return s->n_ctx;
}

size_t ef_engine_seq_cache_bytes(const ef_engine_seq *s)
{
    return s->cache_bytes;
}

int ef_engine_seq_truncate(ef_ctx *ctx, ef_engine_seq *s, int pos)
{
    if (pos < 0 || pos > s->pos)
        return ef_errorf(ctx, EF_EINVAL, "truncate to %d: the sequence holds %d tokens", pos,
                         s->pos);
    s->pos = pos;
    return 0;
}

/* For benchmarks: pretend n tokens were fed, with random cache contents (keys whose
 * indexer scores are spread out, so top-k selection does real work). */
int ef_engine_seq_fill_random(ef_ctx *ctx, ef_engine_seq *s, int n, uint64_t seed)
{
    const ef_engine_config *c = &s->m->cfg;
    if (n < 0 || n > s->n_ctx)
        return ef_errorf(ctx, EF_EINVAL, "fill %d tokens: capacity %d", n, s->n_ctx);
    ef_rng r;
    ef_rng_seed(&r, seed);
    for (int l = 0; l < c->n_layers; l++) {
        size_t base = (size_t)l * s->n_ctx;
        for (size_t t = 0; t < (size_t)n; t++) {
            float *kv = s->kv + (base + t) * c->kv_lora_rank;
            float *pe = s->pe + (base + t) * c->qk_rope_head_dim;
            uint8_t *ik = s->ik + (base + t) * c->index_head_dim;
            for (int d = 0; d < c->kv_lora_rank; d++)
                kv[d] = (float)ef_rng_normal(&r);
            for (int d = 0; d < c->qk_rope_head_dim; d++)
                pe[d] = (float)ef_rng_normal(&r);
            for (int d = 0; d < c->index_head_dim; d++)
                ik[d] = ef_engine__f32_to_fp8e4m3((float)ef_rng_normal(&r) * 100.0f);
            s->ik_scale[base + t] = 0.01f;
        }
    }
    s->pos = n;
    return 0;
}

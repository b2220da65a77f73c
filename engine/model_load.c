/*
 * engine/model_load.c — builds an ef_engine_model from a folder: config, the safetensors
 * set, every tensor the config implies looked up by its Hugging Face name and checked for
 * dtype and shape (fp8 weights with their weight_scale_inv block scales), small vectors
 * (norms, biases) converted to fp32 on the heap, kv_b dequantized once for the absorbed
 * attention, and the backend chosen. Tensors of MTP layers (num_nextn_predict_layers) are
 * ignored; other unused tensors are reported as a warning.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "engine/engine_int.h"

typedef struct {
    ef_ctx *ctx;
    ef_engine_model *m;
    unsigned char *used; /* per by_name entry */
} loader;

static int used_mark(loader *L, const ef_st_tensor *t)
{
    int lo = 0, hi = L->m->st.n_tensors - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(L->m->st.by_name[mid]->name, t->name);
        if (c == 0) {
            L->used[mid] = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static const char *file_of(loader *L, const ef_st_tensor *t)
{
    return L->m->st.files[t->file_index].path;
}

static int find(loader *L, const char *name, const ef_st_tensor **out)
{
    const ef_st_tensor *t = ef_engine__st_find(&L->m->st, name);
    if (!t)
        return ef_errorf(L->ctx, EF_ENOTFOUND, "%s: tensor '%s' is missing from the checkpoint",
                         L->m->dir, name);
    used_mark(L, t);
    *out = t;
    return 0;
}

static int check_shape(loader *L, const ef_st_tensor *t, int nd, int64_t a, int64_t b)
{
    if (t->n_dims != nd || t->shape[0] != a || (nd == 2 && t->shape[1] != b)) {
        char got[96] = "", want[64];
        size_t off = 0;
        for (int d = 0; d < t->n_dims && off < sizeof got - 24; d++)
            off += (size_t)snprintf(got + off, sizeof got - off, "%s%lld", d ? ", " : "",
                                    (long long)t->shape[d]);
        if (nd == 2)
            snprintf(want, sizeof want, "%lld, %lld", (long long)a, (long long)b);
        else
            snprintf(want, sizeof want, "%lld", (long long)a);
        return ef_errorf(L->ctx, EF_EINVAL, "%s: tensor '%s' has shape [%s], config needs [%s]",
                         file_of(L, t), t->name, got, want);
    }
    return 0;
}

/* A 1-D vector of n converted to fp32 on the heap. */
static int load_vec(loader *L, const char *name, int n, float **out)
{
    const ef_st_tensor *t = NULL;
    int rc;
    if ((rc = find(L, name, &t)) < 0 || (rc = check_shape(L, t, 1, n, 0)) < 0)
        return rc;
    ef_weight w = {t->data, t->dtype, 1, n, NULL, 1, 1, 1, t->name};
    if (t->dtype != EF_DT_F32 && t->dtype != EF_DT_BF16 && t->dtype != EF_DT_F16)
        return ef_errorf(L->ctx, EF_EINVAL, "%s: tensor '%s' has dtype %s (need F32, BF16, F16)",
                         file_of(L, t), name, ef_engine__dtype_name(t->dtype));
    float *v = ef_malloc(sizeof(float) * (size_t)n);
    if (!v)
        return ef_errorf(L->ctx, EF_ENOMEM, "out of memory loading '%s'", name);
    ef_engine__weight_row(&w, 0, v);
    L->m->heap_bytes += sizeof(float) * (size_t)n;
    *out = v;
    return 0;
}

static int load_mat(loader *L, const char *name, int rows, int cols, ef_weight *out)
{
    const ef_st_tensor *t = NULL;
    int rc;
    if ((rc = find(L, name, &t)) < 0 || (rc = check_shape(L, t, 2, rows, cols)) < 0)
        return rc;
    ef_weight w = {t->data, t->dtype, rows, cols, NULL, 1, 1, 1, t->name};
    switch (t->dtype) {
    case EF_DT_F32:
    case EF_DT_BF16:
    case EF_DT_F16:
        break;
    case EF_DT_F8_E4M3: {
        /* name is "<prefix>.weight"; its scales are "<prefix>.weight_scale_inv". */
        char sname[512];
        snprintf(sname, sizeof sname, "%s_scale_inv", name);
        const ef_st_tensor *s = ef_engine__st_find(&L->m->st, sname);
        if (!s)
            return ef_errorf(L->ctx, EF_EINVAL, "%s: fp8 tensor '%s' has no '%s'", file_of(L, t),
                             name, sname);
        used_mark(L, s);
        int br = L->m->cfg.weight_block[0], bc = L->m->cfg.weight_block[1];
        int sr = (rows + br - 1) / br, sc = (cols + bc - 1) / bc;
        if ((rc = check_shape(L, s, 2, sr, sc)) < 0)
            return rc;
        if (s->dtype != EF_DT_F32 && s->dtype != EF_DT_BF16)
            return ef_errorf(L->ctx, EF_EINVAL, "%s: tensor '%s' has dtype %s (need F32)",
                             file_of(L, s), sname, ef_engine__dtype_name(s->dtype));
        float *sv = ef_malloc(sizeof(float) * (size_t)sr * sc);
        if (!sv)
            return ef_errorf(L->ctx, EF_ENOMEM, "out of memory loading '%s'", sname);
        ef_weight sw = {s->data, s->dtype, sr, sc, NULL, 1, 1, 1, s->name};
        for (int r = 0; r < sr; r++)
            ef_engine__weight_row(&sw, r, sv + (size_t)r * sc);
        for (int e = 0; e < sr * sc; e++)
            if (!isfinite(sv[e])) {
                ef_free(sv);
                return ef_errorf(L->ctx, EF_EINVAL, "%s: tensor '%s' holds a non-finite scale",
                                 file_of(L, s), sname);
            }
        L->m->heap_bytes += sizeof(float) * (size_t)sr * sc;
        w.scale_inv = sv;
        w.block_rows = br, w.block_cols = bc, w.scale_cols = sc;
        break;
    }
    default:
        return ef_errorf(L->ctx, EF_EINVAL,
                         "%s: tensor '%s' has dtype %s (need F32, BF16, F16 or F8_E4M3)",
                         file_of(L, t), name, ef_engine__dtype_name(t->dtype));
    }
    *out = w;
    return 0;
}

static void weight_free(ef_weight *w)
{
    ef_free((void *)w->scale_inv);
    w->scale_inv = NULL;
}

static int load_mlp(loader *L, const char *prefix, int inter, ef_mlp_w *out)
{
    char n[512];
    int D = L->m->cfg.hidden_size, rc;
    snprintf(n, sizeof n, "%s.gate_proj.weight", prefix);
    if ((rc = load_mat(L, n, inter, D, &out->w1)) < 0)
        return rc;
    snprintf(n, sizeof n, "%s.down_proj.weight", prefix);
    if ((rc = load_mat(L, n, D, inter, &out->w2)) < 0)
        return rc;
    snprintf(n, sizeof n, "%s.up_proj.weight", prefix);
    return load_mat(L, n, inter, D, &out->w3);
}

static void mlp_free(ef_mlp_w *w)
{
    weight_free(&w->w1);
    weight_free(&w->w2);
    weight_free(&w->w3);
}

static int load_layer(loader *L, int l, ef_layer_w *lw)
{
    const ef_engine_config *c = &L->m->cfg;
    int D = c->hidden_size, H = c->n_heads, C = c->kv_lora_rank, R = c->qk_rope_head_dim;
    char p[128], n[512];
    int rc;
    snprintf(p, sizeof p, "model.layers.%d", l);
#define NAME(fmt) (snprintf(n, sizeof n, "%s." fmt, p), n)
    if ((rc = load_vec(L, NAME("input_layernorm.weight"), D, &lw->attn_norm)) < 0 ||
        (rc = load_vec(L, NAME("post_attention_layernorm.weight"), D, &lw->ffn_norm)) < 0 ||
        (rc = load_mat(L, NAME("self_attn.q_a_proj.weight"), c->q_lora_rank, D, &lw->wq_a)) <
            0 ||
        (rc = load_vec(L, NAME("self_attn.q_a_layernorm.weight"), c->q_lora_rank, &lw->q_norm)) <
            0 ||
        (rc = load_mat(L, NAME("self_attn.q_b_proj.weight"), H * c->qk_head_dim, c->q_lora_rank,
                       &lw->wq_b)) < 0 ||
        (rc = load_mat(L, NAME("self_attn.kv_a_proj_with_mqa.weight"), C + R, D, &lw->wkv_a)) <
            0 ||
        (rc = load_vec(L, NAME("self_attn.kv_a_layernorm.weight"), C, &lw->kv_norm)) < 0 ||
        (rc = load_mat(L, NAME("self_attn.kv_b_proj.weight"),
                       H * (c->qk_nope_head_dim + c->v_head_dim), C, &lw->wkv_b)) < 0 ||
        (rc = load_mat(L, NAME("self_attn.o_proj.weight"), D, H * c->v_head_dim, &lw->wo)) < 0 ||
        (rc = load_mat(L, NAME("self_attn.indexer.wq_b.weight"),
                       c->index_n_heads * c->index_head_dim, c->q_lora_rank, &lw->idx_wq_b)) <
            0 ||
        (rc = load_mat(L, NAME("self_attn.indexer.wk.weight"), c->index_head_dim, D,
                       &lw->idx_wk)) < 0 ||
        (rc = load_vec(L, NAME("self_attn.indexer.k_norm.weight"), c->index_head_dim,
                       &lw->idx_k_norm_w)) < 0 ||
        (rc = load_vec(L, NAME("self_attn.indexer.k_norm.bias"), c->index_head_dim,
                       &lw->idx_k_norm_b)) < 0 ||
        (rc = load_mat(L, NAME("self_attn.indexer.weights_proj.weight"), c->index_n_heads, D,
                       &lw->idx_wproj)) < 0)
        return rc;
    /* kv_b dequantized to fp32 once: the absorbed form reads it per head. */
    int kvb_rows = lw->wkv_b.rows;
    lw->wkv_b_f32 = ef_malloc(sizeof(float) * (size_t)kvb_rows * C);
    if (!lw->wkv_b_f32)
        return ef_errorf(L->ctx, EF_ENOMEM, "out of memory");
    for (int r = 0; r < kvb_rows; r++)
        ef_engine__weight_row(&lw->wkv_b, r, lw->wkv_b_f32 + (size_t)r * C);
    L->m->heap_bytes += sizeof(float) * (size_t)kvb_rows * C;

    lw->is_moe = ef_engine_config_layer_is_moe(c, l);
    if (!lw->is_moe) {
        snprintf(n, sizeof n, "%s.mlp", p);
        return load_mlp(L, n, c->intermediate_size, &lw->mlp);
    }
    if ((rc = load_mat(L, NAME("mlp.gate.weight"), c->n_routed_experts, D, &lw->gate)) < 0)
        return rc;
    snprintf(n, sizeof n, "%s.mlp.gate.e_score_correction_bias", p);
    if (ef_engine__st_find(&L->m->st, n)) {
        if ((rc = load_vec(L, n, c->n_routed_experts, &lw->gate_bias)) < 0)
            return rc;
    }
    lw->experts = ef_calloc((size_t)c->n_routed_experts, sizeof *lw->experts);
    if (!lw->experts)
        return ef_errorf(L->ctx, EF_ENOMEM, "out of memory");
    for (int e = 0; e < c->n_routed_experts; e++) {
        snprintf(n, sizeof n, "%s.mlp.experts.%d", p, e);
        if ((rc = load_mlp(L, n, c->moe_intermediate_size, &lw->experts[e])) < 0)
            return rc;
    }
    if (c->n_shared_experts > 0) {
        lw->has_shared = 1;
        snprintf(n, sizeof n, "%s.mlp.shared_experts", p);
        return load_mlp(L, n, c->moe_intermediate_size * c->n_shared_experts, &lw->mlp);
    }
#undef NAME
    return 0;
}

static void layer_free(const ef_engine_config *c, ef_layer_w *lw)
{
    ef_free(lw->attn_norm);
    ef_free(lw->ffn_norm);
    ef_free(lw->q_norm);
    ef_free(lw->kv_norm);
    ef_free(lw->wkv_b_f32);
    ef_free(lw->idx_k_norm_w);
    ef_free(lw->idx_k_norm_b);
    ef_free(lw->gate_bias);
    weight_free(&lw->wq_a);
    weight_free(&lw->wq_b);
    weight_free(&lw->wkv_a);
    weight_free(&lw->wkv_b);
    weight_free(&lw->wo);
    weight_free(&lw->idx_wq_b);
    weight_free(&lw->idx_wk);
    weight_free(&lw->idx_wproj);
    weight_free(&lw->gate);
    mlp_free(&lw->mlp);
    if (lw->experts)
        for (int e = 0; e < c->n_routed_experts; e++)
            mlp_free(&lw->experts[e]);
    ef_free(lw->experts);
}

void ef_engine_model_free(ef_engine_model *m)
{
    if (!m)
        return;
    if (m->layers)
        for (int l = 0; l < m->cfg.n_layers; l++)
            layer_free(&m->cfg, &m->layers[l]);
    ef_free(m->layers);
    weight_free(&m->embed);
    if (m->lm_head.scale_inv != m->embed.scale_inv)
        weight_free(&m->lm_head);
    ef_free(m->final_norm);
    ef_free(m->rope_cos);
    ef_free(m->rope_sin);
    ef_engine__exec_clear(&m->ex);
    ef_engine__st_set_clear(&m->st);
    ef_free(m->dir);
    ef_free(m);
}

/* Largest input width of any weight: the linear scratch holds LIN_ROWS rows of it. */
static int max_cols(const ef_engine_config *c)
{
    int v = c->hidden_size;
    v = EF_MAX(v, c->q_lora_rank);
    v = EF_MAX(v, c->kv_lora_rank);
    v = EF_MAX(v, c->n_heads * c->v_head_dim);
    v = EF_MAX(v, c->intermediate_size);
    v = EF_MAX(v, c->moe_intermediate_size * EF_MAX(1, c->n_shared_experts));
    return v;
}

int ef_engine_model_load(ef_ctx *ctx, const char *dir, const ef_engine_options *opts,
                         ef_engine_model **out)
{
    ef_engine_options o = EF_ENGINE_OPTIONS_INIT;
    loader L = {ctx, NULL, NULL};
    int rc;
    if (opts) {
        if (opts->version != EF_ENGINE_OPTIONS_VERSION)
            return ef_errorf(ctx, EF_EINVAL, "ef_engine_options.version %d, expected %d",
                             opts->version, EF_ENGINE_OPTIONS_VERSION);
        o = *opts;
    }
    ef_engine_model *m = ef_calloc(1, sizeof *m);
    if (!m)
        return ef_errorf(ctx, EF_ENOMEM, "out of memory");
    L.m = m;
    m->opts = o;
    if (!(m->dir = ef_strdup(dir))) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (!o.backend || strcmp(o.backend, "cpu") == 0)
        m->ops = &ef_engine__ops_cpu;
    else if (strcmp(o.backend, "ref") == 0)
        m->ops = &ef_engine__ops_ref;
    else {
        rc = ef_errorf(ctx, EF_EINVAL, "unknown engine backend '%s' (cpu, ref)", o.backend);
        goto cleanup;
    }
    if ((rc = ef_engine_config_load(ctx, dir, &m->cfg)) < 0)
        goto cleanup;
    if (o.index_topk > 0)
        m->cfg.index_topk = o.index_topk;
    if ((rc = ef_engine__st_set_open(ctx, dir, &m->st)) < 0)
        goto cleanup;
    L.used = ef_calloc((size_t)(m->st.n_tensors ? m->st.n_tensors : 1), 1);
    if (!L.used) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    const ef_engine_config *c = &m->cfg;
    if ((rc = load_mat(&L, "model.embed_tokens.weight", c->vocab_size, c->hidden_size,
                       &m->embed)) < 0 ||
        (rc = load_vec(&L, "model.norm.weight", c->hidden_size, &m->final_norm)) < 0)
        goto cleanup;
    if (c->tie_word_embeddings && !ef_engine__st_find(&m->st, "lm_head.weight"))
        m->lm_head = m->embed;
    else if ((rc = load_mat(&L, "lm_head.weight", c->vocab_size, c->hidden_size, &m->lm_head)) <
             0)
        goto cleanup;
    m->layers = ef_calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (int l = 0; l < c->n_layers; l++)
        if ((rc = load_layer(&L, l, &m->layers[l])) < 0)
            goto cleanup;
    int unused = 0;
    for (int i = 0; i < m->st.n_tensors; i++) {
        int layer = -1;
        if (L.used[i])
            continue;
        if (sscanf(m->st.by_name[i]->name, "model.layers.%d.", &layer) == 1 &&
            layer >= c->n_layers && layer < c->n_layers + c->num_nextn_predict_layers)
            continue; /* MTP layer */
        if (unused++ < 3)
            EF_LOG_W(ctx, "%s: tensor '%s' is not used by the model", dir,
                     m->st.by_name[i]->name);
    }
    if (unused > 3)
        EF_LOG_W(ctx, "%s: %d tensors in all are not used", dir, unused);
    size_t scratch = (size_t)16 * max_cols(c);
    scratch = EF_MAX(scratch, (size_t)c->index_n_heads * c->index_head_dim + c->index_head_dim);
    scratch = EF_MAX(scratch, (size_t)2 * c->n_routed_experts + 16);
    if ((rc = ef_engine__exec_init(&m->ex, m->ops == &ef_engine__ops_ref ? 1 : o.n_threads,
                                   scratch)) < 0) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory (thread pool)");
        goto cleanup;
    }
    *out = m;
    m = NULL;
    rc = 0;
cleanup:
    ef_free(L.used);
    ef_engine_model_free(m);
    return rc;
}

const ef_engine_config *ef_engine_model_config(const ef_engine_model *m)
{
    return &m->cfg;
}

void ef_engine_model_set_attn_mode(ef_engine_model *m, ef_engine_attn_mode mode)
{
    m->opts.attn_mode = mode;
}

const char *ef_engine_model_backend(const ef_engine_model *m)
{
    return m->ops->name;
}

void ef_engine_model_memory(const ef_engine_model *m, size_t *mapped_bytes, size_t *heap_bytes)
{
    size_t mapped = 0;
    for (int i = 0; i < m->st.n_files; i++)
        mapped += m->st.files[i].map_bytes;
    if (mapped_bytes)
        *mapped_bytes = mapped;
    if (heap_bytes)
        *heap_bytes = m->heap_bytes;
}

int ef_engine_available(void)
{
    return 1;
}

const char *ef_engine_missing(void)
{
    return "";
}

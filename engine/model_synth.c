/*
 * engine/model_synth.c — writes a random deepseek_v32 checkpoint (config.json and one
 * model.safetensors) of any shape: the long-context benchmark needs the real attention
 * shapes without 671B parameters, and tests need checkpoints to break. Weights are
 * normal(0, 1/sqrt(fan_in)) from a seeded ef_rng, stored as bf16, or as fp8-e4m3 with
 * 128x128 weight_scale_inv blocks when asked.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "common/json.h"
#include "engine/engine_int.h"

typedef struct {
    char name[160];
    int rows, cols; /* cols 0: a vector of rows */
    int kind;       /* 0 linear, 1 norm (1 + small), 2 small (bias), 3 embedding */
    int fp8;        /* stored as fp8 + a "<name>_scale_inv" tensor follows */
    int is_scale;
} synth_tensor;

typedef struct {
    synth_tensor *v;
    int n, cap;
} tlist;

static int add(tlist *l, const char *name, int rows, int cols, int kind, int fp8)
{
    if (l->n + 2 > l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        synth_tensor *nv = ef_realloc(l->v, sizeof *nv * (size_t)cap);
        if (!nv)
            return EF_ENOMEM;
        l->v = nv, l->cap = cap;
    }
    synth_tensor *t = &l->v[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rows = rows, t->cols = cols, t->kind = kind, t->fp8 = fp8 && cols > 0 && kind == 0;
    if (t->fp8) {
        synth_tensor *s = &l->v[l->n++];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s_scale_inv", name);
        s->rows = (rows + 127) / 128, s->cols = (cols + 127) / 128, s->is_scale = 1;
    }
    return 0;
}

static int build_list(const ef_engine_synth *p, tlist *l)
{
    int D = p->hidden_size, H = p->n_heads, C = p->kv_lora_rank, R = p->qk_rope_head_dim;
    int rc = 0, f8 = p->fp8;
    char n[160];
#define T(rows, cols, kind, q, ...)                                                              \
    do {                                                                                         \
        snprintf(n, sizeof n, __VA_ARGS__);                                                      \
        if ((rc = add(l, n, rows, cols, kind, q)) < 0)                                           \
            return rc;                                                                           \
    } while (0)
    T(p->vocab_size, D, 3, 0, "model.embed_tokens.weight");
    T(D, 0, 1, 0, "model.norm.weight");
    T(p->vocab_size, D, 0, 0, "lm_head.weight");
    for (int i = 0; i < p->n_layers; i++) {
        T(D, 0, 1, 0, "model.layers.%d.input_layernorm.weight", i);
        T(D, 0, 1, 0, "model.layers.%d.post_attention_layernorm.weight", i);
        T(p->q_lora_rank, D, 0, f8, "model.layers.%d.self_attn.q_a_proj.weight", i);
        T(p->q_lora_rank, 0, 1, 0, "model.layers.%d.self_attn.q_a_layernorm.weight", i);
        T(H * (p->qk_nope_head_dim + R), p->q_lora_rank, 0, f8,
          "model.layers.%d.self_attn.q_b_proj.weight", i);
        T(C + R, D, 0, f8, "model.layers.%d.self_attn.kv_a_proj_with_mqa.weight", i);
        T(C, 0, 1, 0, "model.layers.%d.self_attn.kv_a_layernorm.weight", i);
        T(H * (p->qk_nope_head_dim + p->v_head_dim), C, 0, f8,
          "model.layers.%d.self_attn.kv_b_proj.weight", i);
        T(D, H * p->v_head_dim, 0, f8, "model.layers.%d.self_attn.o_proj.weight", i);
        T(p->index_n_heads * p->index_head_dim, p->q_lora_rank, 0, f8,
          "model.layers.%d.self_attn.indexer.wq_b.weight", i);
        T(p->index_head_dim, D, 0, f8, "model.layers.%d.self_attn.indexer.wk.weight", i);
        T(p->index_head_dim, 0, 1, 0, "model.layers.%d.self_attn.indexer.k_norm.weight", i);
        T(p->index_head_dim, 0, 2, 0, "model.layers.%d.self_attn.indexer.k_norm.bias", i);
        T(p->index_n_heads, D, 0, 0, "model.layers.%d.self_attn.indexer.weights_proj.weight", i);
        if (i < p->first_k_dense_replace) {
            T(p->intermediate_size, D, 0, f8, "model.layers.%d.mlp.gate_proj.weight", i);
            T(p->intermediate_size, D, 0, f8, "model.layers.%d.mlp.up_proj.weight", i);
            T(D, p->intermediate_size, 0, f8, "model.layers.%d.mlp.down_proj.weight", i);
            continue;
        }
        T(p->n_routed_experts, D, 0, 0, "model.layers.%d.mlp.gate.weight", i);
        T(p->n_routed_experts, 0, 2, 0, "model.layers.%d.mlp.gate.e_score_correction_bias", i);
        int MI = p->moe_intermediate_size, S = MI * p->n_shared_experts;
        for (int e = 0; e < p->n_routed_experts; e++) {
            T(MI, D, 0, f8, "model.layers.%d.mlp.experts.%d.gate_proj.weight", i, e);
            T(MI, D, 0, f8, "model.layers.%d.mlp.experts.%d.up_proj.weight", i, e);
            T(D, MI, 0, f8, "model.layers.%d.mlp.experts.%d.down_proj.weight", i, e);
        }
        if (S > 0) {
            T(S, D, 0, f8, "model.layers.%d.mlp.shared_experts.gate_proj.weight", i);
            T(S, D, 0, f8, "model.layers.%d.mlp.shared_experts.up_proj.weight", i);
            T(D, S, 0, f8, "model.layers.%d.mlp.shared_experts.down_proj.weight", i);
        }
    }
#undef T
    return 0;
}

static size_t tensor_bytes(const synth_tensor *t)
{
    size_t n = (size_t)t->rows * (size_t)(t->cols ? t->cols : 1);
    return t->is_scale ? 4 * n : t->fp8 ? n : 2 * n;
}

static cJSON *config_json(const ef_engine_synth *p)
{
    cJSON *c = cJSON_CreateObject();
    if (!c)
        return NULL;
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    if (arch)
        cJSON_AddItemToArray(arch, cJSON_CreateString("DeepseekV32ForCausalLM"));
    cJSON_AddStringToObject(c, "model_type", "deepseek_v32");
#define NUM(k, v) cJSON_AddNumberToObject(c, k, (double)(v))
    NUM("vocab_size", p->vocab_size);
    NUM("hidden_size", p->hidden_size);
    NUM("intermediate_size", p->intermediate_size);
    NUM("moe_intermediate_size", p->moe_intermediate_size);
    NUM("num_hidden_layers", p->n_layers);
    NUM("first_k_dense_replace", p->first_k_dense_replace);
    NUM("num_attention_heads", p->n_heads);
    NUM("num_key_value_heads", p->n_heads);
    NUM("q_lora_rank", p->q_lora_rank);
    NUM("kv_lora_rank", p->kv_lora_rank);
    NUM("qk_nope_head_dim", p->qk_nope_head_dim);
    NUM("qk_rope_head_dim", p->qk_rope_head_dim);
    NUM("v_head_dim", p->v_head_dim);
    NUM("n_routed_experts", p->n_routed_experts);
    NUM("num_experts_per_tok", p->n_experts_per_tok);
    NUM("n_group", p->n_group);
    NUM("topk_group", p->topk_group);
    NUM("n_shared_experts", p->n_shared_experts);
    NUM("routed_scaling_factor", 2.5);
    NUM("index_n_heads", p->index_n_heads);
    NUM("index_head_dim", p->index_head_dim);
    NUM("index_topk", p->index_topk);
    NUM("max_position_embeddings", p->max_position_embeddings);
    NUM("rms_norm_eps", 1e-6);
    NUM("rope_theta", 10000);
    NUM("bos_token_id", 0);
    NUM("eos_token_id", 1);
#undef NUM
    cJSON_AddStringToObject(c, "scoring_func", "sigmoid");
    cJSON_AddStringToObject(c, "topk_method", "noaux_tc");
    cJSON_AddBoolToObject(c, "norm_topk_prob", 1);
    cJSON *rs = cJSON_AddObjectToObject(c, "rope_scaling");
    if (rs) {
        cJSON_AddStringToObject(rs, "type", "yarn");
        cJSON_AddNumberToObject(rs, "factor", 40);
        cJSON_AddNumberToObject(rs, "original_max_position_embeddings", 4096);
        cJSON_AddNumberToObject(rs, "beta_fast", 32);
        cJSON_AddNumberToObject(rs, "beta_slow", 1);
        cJSON_AddNumberToObject(rs, "mscale", 1.0);
        cJSON_AddNumberToObject(rs, "mscale_all_dim", 1.0);
    }
    if (p->fp8) {
        cJSON *q = cJSON_AddObjectToObject(c, "quantization_config");
        if (q) {
            cJSON_AddStringToObject(q, "quant_method", "fp8");
            cJSON_AddStringToObject(q, "fmt", "e4m3");
            cJSON_AddStringToObject(q, "activation_scheme", "dynamic");
            cJSON *bs = cJSON_AddArrayToObject(q, "weight_block_size");
            if (bs) {
                cJSON_AddItemToArray(bs, cJSON_CreateNumber(128));
                cJSON_AddItemToArray(bs, cJSON_CreateNumber(128));
            }
        }
    }
    return c;
}

/* Fills one tensor's bytes (a linear and its scale are generated together). */
static int write_tensor(FILE *fp, const synth_tensor *t, ef_rng *r, float *row, uint8_t *bytes,
                        float *scales)
{
    int cols = t->cols ? t->cols : t->rows, rows = t->cols ? t->rows : 1;
    float std = t->kind == 3 ? 1.0f : 1.0f / sqrtf((float)cols);
    if (t->is_scale)
        return fwrite(scales, 4, (size_t)t->rows * t->cols, fp) == (size_t)t->rows * t->cols
                   ? 0
                   : EF_EIO;
    int sc = (cols + 127) / 128;
    for (int i = 0; i < rows; i++) {
        for (int k = 0; k < cols; k++) {
            float v = (float)ef_rng_normal(r);
            row[k] = t->kind == 1 ? 1.0f + 0.1f * v : t->kind == 2 ? 0.05f * v : v * std;
        }
        if (t->fp8) {
            /* per-block scale from the expected amax (~4.5 std), fixed per block row */
            for (int b = 0; b < sc; b++)
                scales[(size_t)(i / 128) * sc + b] = 4.5f * std / 448.0f;
            for (int k = 0; k < cols; k++)
                bytes[k] = ef_engine__f32_to_fp8e4m3(row[k] / scales[(size_t)(i / 128) * sc +
                                                                      k / 128]);
            if (fwrite(bytes, 1, (size_t)cols, fp) != (size_t)cols)
                return EF_EIO;
        } else {
            uint16_t *h = (uint16_t *)bytes;
            for (int k = 0; k < cols; k++)
                h[k] = ef_engine__f32_to_bf16(row[k]);
            if (fwrite(bytes, 2, (size_t)cols, fp) != (size_t)cols)
                return EF_EIO;
        }
    }
    return 0;
}

int ef_engine_synth_write(ef_ctx *ctx, const char *dir, const ef_engine_synth *p)
{
    tlist l = {NULL, 0, 0};
    cJSON *hdr = NULL, *cfg = NULL;
    char *htext = NULL, *ctext = NULL, *path = NULL;
    float *row = NULL, *scales = NULL;
    uint8_t *bytes = NULL;
    FILE *fp = NULL;
    int rc;
    if (p->version != EF_ENGINE_SYNTH_VERSION)
        return ef_errorf(ctx, EF_EINVAL, "ef_engine_synth.version %d, expected %d", p->version,
                         EF_ENGINE_SYNTH_VERSION);
    if ((rc = build_list(p, &l)) < 0 || !(hdr = cJSON_CreateObject()) ||
        !(cfg = config_json(p))) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    size_t off = 0, max_cols = 0, max_scales = 0;
    for (int i = 0; i < l.n; i++) {
        const synth_tensor *t = &l.v[i];
        cJSON *e = cJSON_AddObjectToObject(hdr, t->name);
        cJSON *shape = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *offs = e ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        if (!offs) {
            rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
            goto cleanup;
        }
        cJSON_AddStringToObject(e, "dtype", t->is_scale ? "F32" : t->fp8 ? "F8_E4M3" : "BF16");
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(t->rows));
        if (t->cols)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber(t->cols));
        size_t nb = tensor_bytes(t);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + nb)));
        off += nb;
        max_cols = EF_MAX(max_cols, (size_t)(t->cols ? t->cols : t->rows));
        if (t->is_scale)
            max_scales = EF_MAX(max_scales, (size_t)t->rows * t->cols);
    }
    if (!(htext = ef_json_print(hdr)) || !(ctext = cJSON_Print(cfg)) ||
        !(row = ef_malloc(sizeof(float) * max_cols)) || !(bytes = ef_malloc(2 * max_cols)) ||
        !(scales = ef_calloc(max_scales + 1, sizeof(float))) ||
        !(path = ef_asprintf("%s/config.json", dir))) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = ef_file_write(ctx, path, ctext, strlen(ctext))) < 0)
        goto cleanup;
    ef_free(path);
    if (!(path = ef_asprintf("%s/model.safetensors", dir))) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (!(fp = fopen(path, "wb"))) {
        rc = ef_errorf(ctx, EF_EIO, "%s: cannot create", path);
        goto cleanup;
    }
    uint64_t hl = strlen(htext);
    /* pad the header with spaces so the data starts 8-byte aligned, as safetensors does */
    char *padded = ef_malloc(hl + 8);
    if (!padded) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    memcpy(padded, htext, hl);
    while ((8 + hl) % 8)
        padded[hl++] = ' ';
    ef_free(htext);
    htext = padded;
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(hl >> (8 * i));
    if (fwrite(le, 1, 8, fp) != 8 || fwrite(htext, 1, hl, fp) != hl) {
        rc = ef_errorf(ctx, EF_EIO, "%s: write failed", path);
        goto cleanup;
    }
    ef_rng r;
    ef_rng_seed(&r, p->seed);
    for (int i = 0; i < l.n; i++)
        if ((rc = write_tensor(fp, &l.v[i], &r, row, bytes, scales)) < 0) {
            rc = ef_errorf(ctx, EF_EIO, "%s: write failed at tensor '%s'", path, l.v[i].name);
            goto cleanup;
        }
    if (fclose(fp) != 0) {
        fp = NULL;
        rc = ef_errorf(ctx, EF_EIO, "%s: write failed", path);
        goto cleanup;
    }
    fp = NULL;
    rc = 0;
cleanup:
    if (fp)
        fclose(fp);
    ef_free(path);
    ef_free(row);
    ef_free(bytes);
    ef_free(scales);
    ef_free(htext);
    cJSON_free(ctext);
    cJSON_Delete(hdr);
    cJSON_Delete(cfg);
    ef_free(l.v);
    return rc;
}

/*
 * engine/config.c — config.json for model_type "deepseek_v32": every key DeepSeek's
 * reference and the Hugging Face config use, with defaults for the optional ones.
 * Unknown keys are warned about (a newer config may carry keys this engine ignores);
 * missing required keys and values outside what the forward supports are errors that
 * name the file and the key. Derived values (quantization blocks, softmax scale with the
 * YaRN mscale) are computed here once.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "common/json.h"
#include "engine/engine_int.h"

static const char *const known_keys[] = {
    "architectures", "attention_bias", "attention_dropout", "auto_map", "bos_token_id",
    "eos_token_id", "ep_size", "first_k_dense_replace", "hidden_act", "hidden_size",
    "index_head_dim", "index_n_heads", "index_topk", "initializer_range", "intermediate_size",
    "kv_lora_rank", "max_position_embeddings", "model_type", "moe_intermediate_size",
    "moe_layer_freq", "n_group", "n_routed_experts", "n_shared_experts", "norm_topk_prob",
    "num_attention_heads", "num_experts_per_tok", "num_hidden_layers", "num_key_value_heads",
    "num_nextn_predict_layers", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
    "quantization_config", "rms_norm_eps", "rope_scaling", "rope_theta",
    "routed_scaling_factor", "scoring_func", "tie_word_embeddings", "topk_group", "topk_method",
    "torch_dtype", "dtype", "transformers_version", "use_cache", "v_head_dim", "vocab_size",
    "pad_token_id", "pretraining_tp", "rope_interleave", "aux_loss_alpha", "seq_aux",
    "_name_or_path", "head_dim", "output_router_logits",
};

static int is_known(const char *k)
{
    for (size_t i = 0; i < EF_ARRAY_LEN(known_keys); i++)
        if (strcmp(known_keys[i], k) == 0)
            return 1;
    return 0;
}

/* A required positive (or >= min) integer key. */
static int req_int(ef_ctx *ctx, const cJSON *doc, const char *what, const char *key, int min,
                   int *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, key);
    if (!it || cJSON_IsNull(it))
        return ef_errorf(ctx, EF_EINVAL, "%s: missing required key '%s'", what, key);
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble))
        return ef_errorf(ctx, EF_EINVAL, "%s: key '%s' must be an integer, got %s", what, key,
                         ef_json_type_name(it));
    if (it->valuedouble < min || it->valuedouble > 1e9)
        return ef_errorf(ctx, EF_EINVAL, "%s: key '%s' = %.0f is out of range (>= %d)", what,
                         key, it->valuedouble, min);
    *out = (int)it->valuedouble;
    return 0;
}

static int opt_int(ef_ctx *ctx, const cJSON *doc, const char *what, const char *key, int def,
                   int min, int *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, key);
    if (!it || cJSON_IsNull(it)) {
        *out = def;
        return 0;
    }
    return req_int(ctx, doc, what, key, min, out);
}

static int opt_num(ef_ctx *ctx, const cJSON *doc, const char *what, const char *key, double def,
                   double *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, key);
    if (!it || cJSON_IsNull(it)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return ef_errorf(ctx, EF_EINVAL, "%s: key '%s' must be a finite number, got %s", what,
                         key, ef_json_type_name(it));
    *out = it->valuedouble;
    return 0;
}

static int opt_bool(ef_ctx *ctx, const cJSON *doc, const char *what, const char *key, int def,
                    int *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, key);
    if (!it || cJSON_IsNull(it)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(it))
        return ef_errorf(ctx, EF_EINVAL, "%s: key '%s' must be true or false, got %s", what, key,
                         ef_json_type_name(it));
    *out = cJSON_IsTrue(it);
    return 0;
}

static int opt_str(ef_ctx *ctx, const cJSON *doc, const char *what, const char *key,
                   const char *def, const char **out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, key);
    if (!it || cJSON_IsNull(it)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsString(it))
        return ef_errorf(ctx, EF_EINVAL, "%s: key '%s' must be a string, got %s", what, key,
                         ef_json_type_name(it));
    *out = it->valuestring;
    return 0;
}

static double yarn_mscale(double factor, double m)
{
    return factor <= 1 ? 1.0 : 0.1 * m * log(factor) + 1.0;
}

static int parse_rope(ef_ctx *ctx, const cJSON *doc, const char *what, ef_engine_config *c)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(doc, "rope_scaling");
    c->rope_factor = 1, c->beta_fast = 32, c->beta_slow = 1, c->mscale = 1, c->mscale_all_dim = 0;
    c->rope_original_max_position = c->max_position_embeddings;
    if (!rs || cJSON_IsNull(rs))
        return 0;
    if (!cJSON_IsObject(rs))
        return ef_errorf(ctx, EF_EINVAL, "%s: key 'rope_scaling' must be an object or null",
                         what);
    char sub[256];
    snprintf(sub, sizeof sub, "%s: rope_scaling", what);
    const char *type = NULL;
    int rc = opt_str(ctx, rs, sub, "type", NULL, &type);
    if (rc == 0 && !type)
        rc = opt_str(ctx, rs, sub, "rope_type", "default", &type);
    if (rc < 0)
        return rc;
    for (const cJSON *it = rs->child; it; it = it->next) {
        static const char *const ok[] = {"type", "rope_type", "factor", "beta_fast", "beta_slow",
                                         "mscale", "mscale_all_dim",
                                         "original_max_position_embeddings"};
        int found = 0;
        for (size_t i = 0; i < EF_ARRAY_LEN(ok); i++)
            found |= strcmp(ok[i], it->string) == 0;
        if (!found)
            EF_LOG_W(ctx, "%s: unknown key '%s' ignored", sub, it->string);
    }
    if (strcmp(type, "default") == 0)
        return 0;
    if (strcmp(type, "yarn") != 0)
        return ef_errorf(ctx, EF_EINVAL, "%s: rope_scaling.type '%s' is not supported (yarn)",
                         what, type);
    c->rope_yarn = 1;
    if ((rc = opt_num(ctx, rs, sub, "factor", 1, &c->rope_factor)) < 0 ||
        (rc = opt_num(ctx, rs, sub, "beta_fast", 32, &c->beta_fast)) < 0 ||
        (rc = opt_num(ctx, rs, sub, "beta_slow", 1, &c->beta_slow)) < 0 ||
        (rc = opt_num(ctx, rs, sub, "mscale", 1, &c->mscale)) < 0 ||
        (rc = opt_num(ctx, rs, sub, "mscale_all_dim", 0, &c->mscale_all_dim)) < 0 ||
        (rc = opt_int(ctx, rs, sub, "original_max_position_embeddings", 4096, 1,
                      &c->rope_original_max_position)) < 0)
        return rc;
    if (c->rope_factor < 1)
        return ef_errorf(ctx, EF_EINVAL, "%s: rope_scaling.factor %g must be >= 1", what,
                         c->rope_factor);
    return 0;
}

static int parse_quant(ef_ctx *ctx, const cJSON *doc, const char *what, ef_engine_config *c)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(doc, "quantization_config");
    c->weight_block[0] = c->weight_block[1] = 128;
    if (!q || cJSON_IsNull(q))
        return 0;
    if (!cJSON_IsObject(q))
        return ef_errorf(ctx, EF_EINVAL, "%s: 'quantization_config' must be an object", what);
    char sub[256];
    snprintf(sub, sizeof sub, "%s: quantization_config", what);
    const char *method = NULL, *fmt = NULL, *scale_fmt = NULL;
    int rc;
    if ((rc = opt_str(ctx, q, sub, "quant_method", "fp8", &method)) < 0 ||
        (rc = opt_str(ctx, q, sub, "fmt", "e4m3", &fmt)) < 0 ||
        (rc = opt_str(ctx, q, sub, "scale_fmt", "", &scale_fmt)) < 0)
        return rc;
    if (strcmp(method, "fp8") != 0 || strcmp(fmt, "e4m3") != 0)
        return ef_errorf(ctx, EF_EINVAL,
                         "%s: quant_method '%s' fmt '%s' not supported (fp8 e4m3 only)", what,
                         method, fmt);
    c->fp8 = 1;
    if (*scale_fmt && strcmp(scale_fmt, "ue8m0") != 0)
        return ef_errorf(ctx, EF_EINVAL, "%s: quantization_config.scale_fmt '%s' not supported",
                         what, scale_fmt);
    c->scale_ue8m0 = strcmp(scale_fmt, "ue8m0") == 0;
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(q, "weight_block_size");
    if (bs) {
        if (!cJSON_IsArray(bs) || cJSON_GetArraySize(bs) != 2 ||
            !cJSON_IsNumber(cJSON_GetArrayItem(bs, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(bs, 1)))
            return ef_errorf(ctx, EF_EINVAL,
                             "%s: quantization_config.weight_block_size must be [rows, cols]",
                             what);
        for (int i = 0; i < 2; i++) {
            double v = cJSON_GetArrayItem(bs, i)->valuedouble;
            if (v < 1 || v > 65536 || v != floor(v))
                return ef_errorf(ctx, EF_EINVAL,
                                 "%s: quantization_config.weight_block_size[%d] = %g invalid",
                                 what, i, v);
            c->weight_block[i] = (int)v;
        }
    }
    return 0;
}

static int validate(ef_ctx *ctx, const char *what, ef_engine_config *c)
{
#define BAD(...) return ef_errorf(ctx, EF_EINVAL, __VA_ARGS__)
    if (c->n_layers > EF_ENGINE_MAX_LAYERS)
        BAD("%s: num_hidden_layers %d exceeds %d", what, c->n_layers, EF_ENGINE_MAX_LAYERS);
    if (c->qk_rope_head_dim % 2)
        BAD("%s: qk_rope_head_dim %d must be even", what, c->qk_rope_head_dim);
    if (c->qk_rope_head_dim > c->index_head_dim)
        BAD("%s: qk_rope_head_dim %d exceeds index_head_dim %d (the indexer ropes its first "
            "qk_rope_head_dim dims)", what, c->qk_rope_head_dim, c->index_head_dim);
    if (c->index_head_dim & (c->index_head_dim - 1))
        BAD("%s: index_head_dim %d must be a power of 2 (Hadamard rotation)", what,
            c->index_head_dim);
    if (c->index_head_dim > 128)
        BAD("%s: index_head_dim %d > 128 is not supported (one fp8 scale per index head)", what,
            c->index_head_dim);
    c->index_quant_block = EF_MIN(128, c->index_head_dim);
    c->kv_quant_block = EF_MIN(128, c->kv_lora_rank);
    if (c->kv_lora_rank % c->kv_quant_block)
        BAD("%s: kv_lora_rank %d must be a multiple of 128 when above 128", what,
            c->kv_lora_rank);
    if (c->first_k_dense_replace > c->n_layers)
        BAD("%s: first_k_dense_replace %d exceeds num_hidden_layers %d", what,
            c->first_k_dense_replace, c->n_layers);
    if (c->n_group > 256)
        BAD("%s: n_group %d exceeds 256", what, c->n_group);
    if (c->n_group < 1 || c->n_routed_experts % c->n_group)
        BAD("%s: n_routed_experts %d must be a multiple of n_group %d", what,
            c->n_routed_experts, c->n_group);
    if (c->topk_group < 1 || c->topk_group > c->n_group)
        BAD("%s: topk_group %d must be in [1, n_group %d]", what, c->topk_group, c->n_group);
    if (c->n_experts_per_tok > c->topk_group * (c->n_routed_experts / c->n_group))
        BAD("%s: num_experts_per_tok %d exceeds the experts in topk_group %d groups", what,
            c->n_experts_per_tok, c->topk_group);
    if (c->bos_token_id >= c->vocab_size || c->eos_token_id >= c->vocab_size)
        BAD("%s: bos/eos token id outside vocab_size %d", what, c->vocab_size);
    if (!(c->rms_norm_eps > 0) || !(c->rope_theta > 1))
        BAD("%s: rms_norm_eps must be > 0 and rope_theta > 1", what);
#undef BAD
    c->qk_head_dim = c->qk_nope_head_dim + c->qk_rope_head_dim;
    double scale = 1.0 / sqrt((double)c->qk_head_dim);
    c->rope_attn_factor = 1.0f;
    if (c->rope_yarn) {
        if (c->mscale_all_dim) {
            double ms = yarn_mscale(c->rope_factor, c->mscale_all_dim);
            scale *= ms * ms;
        }
        c->rope_attn_factor = (float)(yarn_mscale(c->rope_factor, c->mscale) /
                                      yarn_mscale(c->rope_factor, c->mscale_all_dim));
    }
    c->softmax_scale = (float)scale;
    return 0;
}

int ef_engine_config_parse(ef_ctx *ctx, const char *text, size_t len, const char *what,
                           ef_engine_config *out)
{
    cJSON *doc = NULL;
    ef_engine_config c;
    memset(&c, 0, sizeof c);
    /* A NUL-terminated copy: the JSON error path quotes text after the error position. */
    char *copy = ef_malloc(len + 1);
    if (!copy)
        return ef_errorf(ctx, EF_ENOMEM, "%s: out of memory", what);
    memcpy(copy, text, len);
    copy[len] = 0;
    int rc = ef_json_parse(ctx, copy, len, what, &doc);
    ef_free(copy);
    if (rc < 0)
        return rc;
    if (!cJSON_IsObject(doc)) {
        rc = ef_errorf(ctx, EF_EINVAL, "%s: the top level must be a JSON object", what);
        goto cleanup;
    }
    const char *model_type = NULL, *act = NULL, *scoring = NULL, *topk_method = NULL;
    if ((rc = opt_str(ctx, doc, what, "model_type", NULL, &model_type)) < 0)
        goto cleanup;
    if (!model_type) {
        rc = ef_errorf(ctx, EF_EINVAL, "%s: missing required key 'model_type'", what);
        goto cleanup;
    }
    if (strcmp(model_type, "deepseek_v32") != 0) {
        rc = ef_errorf(ctx, EF_EINVAL,
                       "%s: model_type '%s' is not supported (this engine runs deepseek_v32)",
                       what, model_type);
        goto cleanup;
    }
    for (const cJSON *it = doc->child; it; it = it->next)
        if (!is_known(it->string))
            EF_LOG_W(ctx, "%s: unknown key '%s' ignored", what, it->string);
    int attn_bias = 0;
    if ((rc = req_int(ctx, doc, what, "vocab_size", 1, &c.vocab_size)) < 0 ||
        (rc = req_int(ctx, doc, what, "hidden_size", 1, &c.hidden_size)) < 0 ||
        (rc = req_int(ctx, doc, what, "intermediate_size", 1, &c.intermediate_size)) < 0 ||
        (rc = req_int(ctx, doc, what, "moe_intermediate_size", 1, &c.moe_intermediate_size)) <
            0 ||
        (rc = req_int(ctx, doc, what, "num_hidden_layers", 1, &c.n_layers)) < 0 ||
        (rc = req_int(ctx, doc, what, "num_attention_heads", 1, &c.n_heads)) < 0 ||
        (rc = req_int(ctx, doc, what, "q_lora_rank", 1, &c.q_lora_rank)) < 0 ||
        (rc = req_int(ctx, doc, what, "kv_lora_rank", 1, &c.kv_lora_rank)) < 0 ||
        (rc = req_int(ctx, doc, what, "qk_nope_head_dim", 1, &c.qk_nope_head_dim)) < 0 ||
        (rc = req_int(ctx, doc, what, "qk_rope_head_dim", 2, &c.qk_rope_head_dim)) < 0 ||
        (rc = req_int(ctx, doc, what, "v_head_dim", 1, &c.v_head_dim)) < 0 ||
        (rc = req_int(ctx, doc, what, "n_routed_experts", 1, &c.n_routed_experts)) < 0 ||
        (rc = req_int(ctx, doc, what, "num_experts_per_tok", 1, &c.n_experts_per_tok)) < 0 ||
        (rc = req_int(ctx, doc, what, "index_n_heads", 1, &c.index_n_heads)) < 0 ||
        (rc = req_int(ctx, doc, what, "index_head_dim", 1, &c.index_head_dim)) < 0 ||
        (rc = req_int(ctx, doc, what, "index_topk", 1, &c.index_topk)) < 0 ||
        (rc = opt_int(ctx, doc, what, "first_k_dense_replace", 0, 0, &c.first_k_dense_replace)) <
            0 ||
        (rc = opt_int(ctx, doc, what, "moe_layer_freq", 1, 1, &c.moe_layer_freq)) < 0 ||
        (rc = opt_int(ctx, doc, what, "n_shared_experts", 0, 0, &c.n_shared_experts)) < 0 ||
        (rc = opt_int(ctx, doc, what, "n_group", 1, 1, &c.n_group)) < 0 ||
        (rc = opt_int(ctx, doc, what, "topk_group", 1, 1, &c.topk_group)) < 0 ||
        (rc = opt_bool(ctx, doc, what, "norm_topk_prob", 1, &c.norm_topk_prob)) < 0 ||
        (rc = opt_num(ctx, doc, what, "routed_scaling_factor", 1.0, &c.routed_scaling_factor)) <
            0 ||
        (rc = opt_num(ctx, doc, what, "rms_norm_eps", 1e-6, &c.rms_norm_eps)) < 0 ||
        (rc = opt_num(ctx, doc, what, "rope_theta", 10000.0, &c.rope_theta)) < 0 ||
        (rc = opt_int(ctx, doc, what, "max_position_embeddings", 4096, 1,
                      &c.max_position_embeddings)) < 0 ||
        (rc = opt_int(ctx, doc, what, "bos_token_id", 0, 0, &c.bos_token_id)) < 0 ||
        (rc = opt_int(ctx, doc, what, "eos_token_id", 1, 0, &c.eos_token_id)) < 0 ||
        (rc = opt_bool(ctx, doc, what, "tie_word_embeddings", 0, &c.tie_word_embeddings)) < 0 ||
        (rc = opt_int(ctx, doc, what, "num_nextn_predict_layers", 0, 0,
                      &c.num_nextn_predict_layers)) < 0 ||
        (rc = opt_bool(ctx, doc, what, "attention_bias", 0, &attn_bias)) < 0 ||
        (rc = opt_str(ctx, doc, what, "hidden_act", "silu", &act)) < 0 ||
        (rc = opt_str(ctx, doc, what, "scoring_func", "sigmoid", &scoring)) < 0 ||
        (rc = opt_str(ctx, doc, what, "topk_method", "noaux_tc", &topk_method)) < 0)
        goto cleanup;
    if (attn_bias) {
        rc = ef_errorf(ctx, EF_EINVAL, "%s: attention_bias true is not supported", what);
        goto cleanup;
    }
    if (strcmp(act, "silu") != 0) {
        rc = ef_errorf(ctx, EF_EINVAL, "%s: hidden_act '%s' is not supported (silu)", what, act);
        goto cleanup;
    }
    if (strcmp(scoring, "sigmoid") != 0 && strcmp(scoring, "softmax") != 0) {
        rc = ef_errorf(ctx, EF_EINVAL, "%s: scoring_func '%s' is not supported", what, scoring);
        goto cleanup;
    }
    c.scoring_sigmoid = strcmp(scoring, "sigmoid") == 0;
    if (strcmp(topk_method, "noaux_tc") != 0 && strcmp(topk_method, "greedy") != 0 &&
        strcmp(topk_method, "group_limited_greedy") != 0) {
        rc = ef_errorf(ctx, EF_EINVAL, "%s: topk_method '%s' is not supported", what,
                       topk_method);
        goto cleanup;
    }
    if ((rc = parse_rope(ctx, doc, what, &c)) < 0 || (rc = parse_quant(ctx, doc, what, &c)) < 0 ||
        (rc = validate(ctx, what, &c)) < 0)
        goto cleanup;
    *out = c;
    rc = 0;
cleanup:
    cJSON_Delete(doc);
    return rc;
}

int ef_engine_config_load(ef_ctx *ctx, const char *dir, ef_engine_config *out)
{
    char *path = ef_asprintf("%s/config.json", dir);
    char *text = NULL;
    size_t len = 0;
    int rc;
    if (!path)
        return ef_errorf(ctx, EF_ENOMEM, "out of memory");
    if ((rc = ef_file_read(ctx, path, 16u << 20, &text, &len)) < 0)
        goto cleanup;
    rc = ef_engine_config_parse(ctx, text, len, path, out);
cleanup:
    ef_free(text);
    ef_free(path);
    return rc;
}

int ef_engine_config_layer_is_moe(const ef_engine_config *c, int layer)
{
    return layer >= c->first_k_dense_replace && layer % c->moe_layer_freq == 0;
}

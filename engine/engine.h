/*
 * engine/engine.h — the built-in DeepSeek-V3.2 (DSA) inference engine.
 *
 * Overview
 *   A Hugging Face model folder (config.json with model_type "deepseek_v32", one or more
 *   *.safetensors files, optionally model.safetensors.index.json) is loaded into an
 *   ef_engine_model: the config is validated, the weights are mmapped (bf16, fp16, fp32 or
 *   fp8-e4m3 with 128x128 block scales) and checked against the config. A model serves any
 *   number of sequences (ef_engine_seq), each owning its caches: the MLA latent KV
 *   (kv_lora_rank + qk_rope_head_dim floats per token and layer) and the lightning-indexer
 *   key cache (index_head_dim fp8 bytes + one fp32 scale per token and layer), sized from
 *   the config and the context length the caller asks for.
 *
 *   ef_engine_forward() feeds tokens to a sequence at its current position (prefill when
 *   many, decode when one; a prefill may start anywhere, so prompts can be fed in chunks)
 *   and returns logits (last position or every position) and the MoE experts each token
 *   was routed to in each layer (for RL "keep routing").
 *
 *   The forward follows DeepSeek's reference inference code (inference/model.py): MLA with
 *   low-rank q/kv, interleaved YaRN RoPE and mscale, the kv latent passed through a
 *   simulated fp8 round trip; DeepSeek Sparse Attention: the lightning indexer (non-
 *   interleaved RoPE, LayerNorm k_norm, Hadamard rotation, fp8-e4m3 quantization of q and
 *   k with per-block scales, fp32 weights_proj) scores every earlier key, the top
 *   index_topk keys per query are kept and attention runs over them only, in the absorbed
 *   (MQA) form; dense MLP layers, then MoE layers (sigmoid gate, correction bias for
 *   selection only, group-limited top-k, normalized weights x routed scale, shared
 *   experts); final RMSNorm and the LM head. Arithmetic is fp32; the inputs of fp8
 *   weights pass through the blockwise fp8 activation quantization of DeepSeek's fp8_gemm.
 *
 *   ef_engine_generate() runs the sampling loop on a sequence and returns what RL
 *   trainers replay: tokens, log-probabilities, kept top-p sets (CSR) and routes.
 *
 *   Two CPU backends implement the ops (a table of function pointers): "ref", plain loops
 *   that define correctness, and "cpu", the multi-threaded optimized path (default).
 *
 * Example
 *   ef_ctx *ctx = ef_ctx_new();
 *   ef_engine_options o = EF_ENGINE_OPTIONS_INIT;
 *   ef_engine_model *m; ef_engine_seq *s;
 *   if (ef_engine_model_load(ctx, "models/tiny", &o, &m) < 0) puts(ef_errmsg(ctx));
 *   const ef_engine_config *cfg = ef_engine_model_config(m);
 *   ef_engine_seq_new(ctx, m, 4096, &s);
 *   float *logits = malloc(sizeof(float) * cfg->vocab_size);
 *   int32_t prompt[] = {0, 17, 42};
 *   ef_engine_forward_out fo = EF_ENGINE_FORWARD_OUT_INIT;
 *   fo.logits = logits;
 *   ef_engine_forward(ctx, s, prompt, 3, &fo);        // prefill; logits of the last token
 *   int32_t next = ef_engine_argmax(logits, cfg->vocab_size);
 *   ef_engine_forward(ctx, s, &next, 1, &fo);          // decode one token
 *   ef_engine_seq_free(s); ef_engine_model_free(m); ef_ctx_free(ctx);
 */
#ifndef EF_ENGINE_H
#define EF_ENGINE_H

#include <stdint.h>
#include "common/ef.h"
#include "common/rng.h"
#include "engine/tokenizer.h" /* tokenizer.json: ef_engine_tok_* */
#include "engine/encoding.h"  /* DeepSeek-V3.2 chat encoding: ef_engine_chat_* */

#ifdef __cplusplus
extern "C" {
#endif

/* 1: the CPU engine is built. */
int ef_engine_available(void);
/* What is missing, for messages ("" when nothing is). Borrowed. */
const char *ef_engine_missing(void);

/* ---- configuration (config.json) ------------------------------------------------- */

#define EF_ENGINE_MAX_LAYERS 256

typedef struct {
    /* sizes */
    int vocab_size, hidden_size, intermediate_size, moe_intermediate_size;
    int n_layers;              /* num_hidden_layers */
    int first_k_dense_replace; /* layers [0, k) use the dense MLP */
    int moe_layer_freq;
    int n_heads;               /* num_attention_heads */
    int q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
    /* MoE */
    int n_routed_experts, n_shared_experts, n_experts_per_tok, n_group, topk_group;
    int norm_topk_prob;
    int scoring_sigmoid; /* scoring_func: 1 sigmoid, 0 softmax */
    double routed_scaling_factor;
    /* norms, rope */
    double rms_norm_eps, rope_theta;
    int max_position_embeddings;
    int rope_yarn; /* rope_scaling.type == "yarn" */
    double rope_factor, beta_fast, beta_slow, mscale, mscale_all_dim;
    int rope_original_max_position;
    /* indexer (DSA) */
    int index_n_heads, index_head_dim, index_topk;
    /* tokens */
    int bos_token_id, eos_token_id;
    int tie_word_embeddings;
    int num_nextn_predict_layers; /* MTP layers: their tensors are ignored */
    /* quantization_config */
    int fp8;               /* quant_method fp8: *.weight may be F8_E4M3 with weight_scale_inv */
    int weight_block[2];   /* weight_block_size, 128x128 */
    int scale_ue8m0;       /* scale_fmt "ue8m0": activation scales rounded up to 2^n */
    /* derived */
    int qk_head_dim;        /* nope + rope */
    int index_quant_block;  /* min(128, index_head_dim) */
    int kv_quant_block;     /* min(128, kv_lora_rank) */
    float softmax_scale;    /* qk_head_dim^-0.5 x mscale^2 under YaRN */
    float rope_attn_factor; /* cos/sin multiplier under YaRN (mscale / mscale_all_dim) */
} ef_engine_config;

/* Parses and validates config.json text. `what` names the file in messages. Unknown keys
 * are logged as warnings on ctx; a missing required key is an EF_EINVAL error naming it. */
int ef_engine_config_parse(ef_ctx *ctx, const char *text, size_t len, const char *what,
                           ef_engine_config *out);
/* Reads DIR/config.json and parses it. */
int ef_engine_config_load(ef_ctx *ctx, const char *dir, ef_engine_config *out);
/* 1 when layer l uses MoE, 0 when it uses the dense MLP. */
int ef_engine_config_layer_is_moe(const ef_engine_config *c, int layer);

/* ---- model ---------------------------------------------------------------------- */

typedef enum {
    EF_ENGINE_ATTN_DSA = 0,       /* lightning indexer + top-k sparse attention */
    EF_ENGINE_ATTN_DENSE = 1,     /* every earlier key, absorbed (MQA) form */
    EF_ENGINE_ATTN_DENSE_MHA = 2  /* every earlier key, expanded (MHA) form; slow, for tests */
} ef_engine_attn_mode;

#define EF_ENGINE_OPTIONS_VERSION 1
typedef struct {
    int version;
    const char *backend;  /* "cpu" (default, multi-threaded) or "ref" (plain loops) */
    int n_threads;        /* cpu backend: 0 = one per core */
    int index_topk;       /* 0: the config's; > 0 overrides it */
    ef_engine_attn_mode attn_mode;
    int simulate_kv_fp8;  /* 1 (default): kv latent goes through fp8 like the reference */
    int simulate_act_fp8; /* 1 (default): inputs of fp8 weights go through fp8 (act_quant) */
} ef_engine_options;
#define EF_ENGINE_OPTIONS_INIT {EF_ENGINE_OPTIONS_VERSION, NULL, 0, 0, EF_ENGINE_ATTN_DSA, 1, 1}

typedef struct ef_engine_model ef_engine_model;
typedef struct ef_engine_seq ef_engine_seq;

/* Loads DIR (config.json + safetensors). opts may be NULL (defaults). *out:
 * ef_engine_model_free. Errors name the file and tensor. */
int ef_engine_model_load(ef_ctx *ctx, const char *dir, const ef_engine_options *opts,
                         ef_engine_model **out);
void ef_engine_model_free(ef_engine_model *m);
/* Borrowed; valid while the model lives (index_topk reflects the override). */
const ef_engine_config *ef_engine_model_config(const ef_engine_model *m);
/* Name of the backend in use ("cpu" / "ref"). */
const char *ef_engine_model_backend(const ef_engine_model *m);
/* Bytes mapped for weights, and bytes allocated (converted norms, caches excluded). */
void ef_engine_model_memory(const ef_engine_model *m, size_t *mapped_bytes, size_t *heap_bytes);

/* A sequence with caches for n_ctx tokens (n_ctx <= max_position_embeddings is not
 * required, but RoPE beyond it is extrapolation). *out: ef_engine_seq_free. */
int ef_engine_seq_new(ef_ctx *ctx, ef_engine_model *m, int n_ctx, ef_engine_seq **out);
void ef_engine_seq_free(ef_engine_seq *s);
/* Tokens in the cache so far (the position of the next token). */
int ef_engine_seq_pos(const ef_engine_seq *s);
int ef_engine_seq_capacity(const ef_engine_seq *s);
/* Forgets tokens from pos on (0 <= pos <= current position). */
int ef_engine_seq_truncate(ef_ctx *ctx, ef_engine_seq *s, int pos);
/* Cache bytes held by the sequence. */
size_t ef_engine_seq_cache_bytes(const ef_engine_seq *s);

typedef struct {
    float *logits;         /* NULL: none; else vocab floats, or n_tokens x vocab if all */
    int all_positions;     /* 1: logits for every fed token; 0: only the last */
    int32_t *routes;       /* NULL: none; else n_tokens x n_layers x n_experts_per_tok
                            * expert ids, -1 in dense layers */
} ef_engine_forward_out;
#define EF_ENGINE_FORWARD_OUT_INIT {NULL, 0, NULL}

/* Feeds n_tokens tokens at the sequence's position and advances it. EF_ELIMIT when the
 * cache would overflow, EF_EINVAL for a token id outside the vocabulary. */
int ef_engine_forward(ef_ctx *ctx, ef_engine_seq *s, const int32_t *tokens, int n_tokens,
                      ef_engine_forward_out *out);

/* Switches the attention of a loaded model (e.g. DSA vs dense on the same weights). */
void ef_engine_model_set_attn_mode(ef_engine_model *m, ef_engine_attn_mode mode);

/* ---- benchmarks and tests ---------------------------------------------------------- */

/* Marks the first n_tokens of a sequence as fed, with random cache contents (latents,
 * roped keys, indexer keys spread so that top-k selection does real work): decode
 * timing at long context without prefilling it. */
int ef_engine_seq_fill_random(ef_ctx *ctx, ef_engine_seq *s, int n_tokens, uint64_t seed);

#define EF_ENGINE_SYNTH_VERSION 1
typedef struct {
    int version;
    int vocab_size, hidden_size, n_layers, first_k_dense_replace;
    int n_heads, q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
    int intermediate_size, moe_intermediate_size, n_routed_experts, n_experts_per_tok;
    int n_group, topk_group, n_shared_experts;
    int index_n_heads, index_head_dim, index_topk;
    int max_position_embeddings;
    int fp8; /* 1: linear weights as fp8-e4m3 with 128x128 weight_scale_inv */
    uint64_t seed;
} ef_engine_synth;
/* DeepSeek-V3.2's attention shapes (128 heads, kv_lora 512, rope 64, 64 index heads of
 * 128, top-k 2048) on a small hidden size and one layer: long-context decode benches. */
#define EF_ENGINE_SYNTH_INIT                                                                 \
    {EF_ENGINE_SYNTH_VERSION, 1024, 1024, 1, 1, 128, 512, 512, 128, 64, 128, 512, 64, 8, 2,  \
     2, 1, 1, 64, 128, 2048, 163840, 0, 1}
/* Writes DIR/config.json and DIR/model.safetensors: random bf16 (or fp8) weights. */
int ef_engine_synth_write(ef_ctx *ctx, const char *dir, const ef_engine_synth *p);

/* ---- sampling ------------------------------------------------------------------- */

typedef struct {
    int greedy;         /* 1: argmax (temperature/top_p ignored) */
    double temperature; /* > 0 */
    double top_p;       /* (0, 1]; 1 keeps every token */
} ef_engine_sampling;

/* Index of the largest logit (lowest index on ties). */
int32_t ef_engine_argmax(const float *logits, int n);
/* Samples one token. *logprob (may be NULL) is the log-probability of the token under
 * the distribution it was drawn from (after temperature and top-p). scratch: n floats +
 * n ints of caller memory (ef_engine_sample_scratch_bytes). */
int32_t ef_engine_sample(const float *logits, int n, const ef_engine_sampling *sp, ef_rng *rng,
                         void *scratch, double *logprob);
size_t ef_engine_sample_scratch_bytes(int n);
/* As ef_engine_sample, and also the kept set (RL replay of the sampling mask): the ids
 * the token was drawn from, most likely first (top-p set; {argmax} when greedy; every id
 * when top_p is 1). kept_ids holds n ints; *n_kept gets the count. */
int32_t ef_engine_sample_kept(const float *logits, int n, const ef_engine_sampling *sp,
                              ef_rng *rng, void *scratch, double *logprob, int32_t *kept_ids,
                              int *n_kept);

/* ---- generation loop ---------------------------------------------------------------- */

#define EF_ENGINE_GEN_VERSION 1
typedef struct {
    int version;
    int max_tokens;              /* new tokens at most */
    ef_engine_sampling sampling;
    uint64_t seed;
    const int32_t *stop_ids;     /* generation ends after one of these (EOS etc.) */
    int n_stop;
    int feed_last;               /* 1 (default): the last sampled token is fed too, so the
                                  * cache holds the whole sequence and every token has routes */
    int keep_sets;               /* 1: record the kept top-p set of every sampled token */
    /* Called after each sampled token (may be NULL); a non-zero return stops generation. */
    int (*on_token)(void *ud, int32_t token, double logprob);
    void *ud;
} ef_engine_gen_options;
#define EF_ENGINE_GEN_OPTIONS_INIT                                                           \
    {EF_ENGINE_GEN_VERSION, 64, {1, 1.0, 1.0}, 0, NULL, 0, 1, 0, NULL, NULL}

typedef enum { EF_ENGINE_FINISH_STOP = 0, EF_ENGINE_FINISH_LENGTH = 1,
               EF_ENGINE_FINISH_CALLBACK = 2 } ef_engine_finish;

/* What a trainer needs to replay a sample (slime's rollout_* fields): */
typedef struct {
    int n_prompt, n_tokens;      /* prompt tokens fed, new tokens sampled */
    int32_t *tokens;             /* [n_tokens] */
    double *logprobs;            /* [n_tokens], under the distribution sampled from */
    int32_t *kept_ids;           /* keep_sets: CSR ids of each token's kept top-p set */
    int64_t *kept_offsets;       /* keep_sets: [n_tokens + 1] */
    int32_t *routes;             /* [(n_prompt + n_fed) x n_layers x n_experts_per_tok] MoE
                                  * experts of every fed token, -1 in dense layers */
    int n_routed;                /* tokens with routes (n_prompt + fed new tokens) */
    ef_engine_finish finish;
} ef_engine_gen_result;

/* Feeds the prompt at the sequence's position and samples until a stop id, max_tokens,
 * the context's end or the callback. *out: ef_engine_gen_result_free. */
int ef_engine_generate(ef_ctx *ctx, ef_engine_seq *s, const int32_t *prompt, int n_prompt,
                       const ef_engine_gen_options *opts, ef_engine_gen_result **out);
void ef_engine_gen_result_free(ef_engine_gen_result *r);

#ifdef __cplusplus
}
#endif
#endif /* EF_ENGINE_H */

/*
 * engine/engine_int.h — private declarations shared by the engine's files: safetensors
 * files and tensors, weights as the ops see them, the ops table (one per backend), fp8
 * helpers, and the model and sequence structs.
 */
#ifndef EF_ENGINE_INT_H
#define EF_ENGINE_INT_H

#include <stddef.h>
#include <stdint.h>
#include "common/ef.h"
#include "common/pool.h"
#include "engine/engine.h"

/* ---- safetensors ------------------------------------------------------------------ */

typedef enum {
    EF_DT_F64, EF_DT_F32, EF_DT_F16, EF_DT_BF16, EF_DT_F8_E4M3, EF_DT_F8_E5M2,
    EF_DT_I64, EF_DT_I32, EF_DT_I16, EF_DT_I8, EF_DT_U64, EF_DT_U32, EF_DT_U16, EF_DT_U8,
    EF_DT_BOOL, EF_DT_COUNT_
} ef_dtype;

#define EF_ST_MAX_DIMS 8
#define EF_ST_MAX_HEADER_BYTES (100u << 20)

typedef struct {
    char *name;
    ef_dtype dtype;
    int n_dims;
    int64_t shape[EF_ST_MAX_DIMS];
    const uint8_t *data; /* inside the mapping */
    size_t n_bytes;
    int file_index;      /* which shard */
} ef_st_tensor;

typedef struct {
    char *path;          /* for messages */
    uint8_t *map;        /* whole file, mmapped (or borrowed buffer) */
    size_t map_bytes;
    int owns_map;
    ef_st_tensor *tensors;
    int n_tensors;
} ef_st_file;

const char *ef_engine__dtype_name(ef_dtype dt);
size_t ef_engine__dtype_bytes(ef_dtype dt);
/* Parses and validates the header of a whole safetensors file held in buf (not copied:
 * tensor data points into buf). `what` names the file in messages. Tensors are sorted by
 * name. Free with ef_engine__st_file_clear. */
int ef_engine__st_parse(ef_ctx *ctx, const char *what, const uint8_t *buf, size_t len,
                        ef_st_file *out);
/* mmaps path and parses it. */
int ef_engine__st_open(ef_ctx *ctx, const char *path, ef_st_file *out);
void ef_engine__st_file_clear(ef_st_file *f);

/* All tensors of a checkpoint folder: one file, or the shards named by
 * model.safetensors.index.json (every shard's tensors checked against the index). */
typedef struct {
    ef_st_file *files;
    int n_files;
    const ef_st_tensor **by_name; /* sorted by name, across files */
    int n_tensors;
} ef_st_set;

int ef_engine__st_set_open(ef_ctx *ctx, const char *dir, ef_st_set *out);
void ef_engine__st_set_clear(ef_st_set *s);
const ef_st_tensor *ef_engine__st_find(const ef_st_set *s, const char *name);

/* ---- numbers ---------------------------------------------------------------------- */

float ef_engine__bf16_to_f32(uint16_t h);
uint16_t ef_engine__f32_to_bf16(float f); /* round to nearest even */
float ef_engine__f16_to_f32(uint16_t h);
float ef_engine__fp8e4m3_to_f32(uint8_t v);
/* Round to nearest even, saturating at +-448 (NaN -> 0x7f). */
uint8_t ef_engine__f32_to_fp8e4m3(float f);
float ef_engine__fp8e5m2_to_f32(uint8_t v);
/* The 256-entry decode table for e4m3 (built once, read-only). */
const float *ef_engine__fp8e4m3_table(void);

/* ---- weights as ops see them ------------------------------------------------------ */

/* A 2-D weight [rows x cols] (out x in) in its stored dtype; fp8 weights carry their
 * block scales (weight_scale_inv, [ceil(rows/br) x ceil(cols/bc)], fp32). */
typedef struct {
    const void *data;
    ef_dtype dtype;
    int rows, cols;
    const float *scale_inv; /* fp8 only */
    int block_rows, block_cols;
    int scale_cols;
    const char *name;       /* for messages */
} ef_weight;

/* Row r of w as fp32 into out[cols]. */
void ef_engine__weight_row(const ef_weight *w, int r, float *out);

/* ---- execution context and ops table ---------------------------------------------- */

typedef struct {
    ef_pool *pool;  /* NULL: single thread */
    int n_threads;
    float *scratch; /* n_threads x scratch_floats */
    size_t scratch_floats;
} ef_engine_exec;

/* Every op has the same signature in every backend. Shapes are row-major; "m" counts
 * rows (tokens). */
typedef struct ef_engine_ops {
    const char *name;
    /* y[m x w.rows] = x[m x w.cols] . w^T */
    void (*linear)(const ef_engine_exec *ex, float *y, const float *x, int m, const ef_weight *w);
    /* y = x / rms(x) * g, per row of dim */
    void (*rmsnorm)(const ef_engine_exec *ex, float *y, const float *x, const float *g, int m,
                    int dim, float eps);
    /* y = (x - mean) / sqrt(var + eps) * g + b */
    void (*layernorm)(const ef_engine_exec *ex, float *y, const float *x, const float *g,
                      const float *b, int m, int dim, float eps);
    /* Rotates the first rope_dim of each head vector in place. x: m rows, each n_heads
     * vectors at stride row_stride / head_stride, positions pos[m]. cos/sin tables
     * [pos x rope_dim/2]. interleaved: pairs (2i, 2i+1); else (i, i + rope_dim/2). */
    void (*rope)(const ef_engine_exec *ex, float *x, int m, int n_heads, int row_stride,
                 int head_stride, int rope_dim, const int32_t *pos, const float *cos_tab,
                 const float *sin_tab, int interleaved);
    /* In-place Walsh-Hadamard transform of n vectors of dim (power of 2), times dim^-0.5 */
    void (*hadamard)(const ef_engine_exec *ex, float *x, int n, int dim);
    /* Blockwise fp8-e4m3 quantization of n vectors of dim, blocks of `block`:
     * scale = max(amax, 1e-4) / 448 (rounded up to 2^k when ue8m0), q = fp8(x / scale).
     * scales: n x dim/block. */
    void (*quant_fp8)(const ef_engine_exec *ex, uint8_t *q, float *scales, const float *x, int n,
                      int dim, int block, int ue8m0);
    /* Indexer scores: s[i x n_k] = kscale[j] . sum_h w[i,h] . relu(q8[i,h,:] . k8[j,:])
     * for j < n_valid[i]; -inf beyond. */
    void (*index_scores)(const ef_engine_exec *ex, float *s, const uint8_t *q8, const float *w,
                         const uint8_t *k8, const float *kscale, int n_q, int n_k, int n_heads,
                         int dim, const int32_t *n_valid);
    /* Top-k per row of s [n_q x n_k] among the first n_valid[i] entries; idx [n_q x k]
     * (any order; ties broken toward the lower index), -1 in unused slots. */
    void (*topk)(const ef_engine_exec *ex, int32_t *idx, const float *s, int n_q, int n_k,
                 int k, const int32_t *n_valid);
    /* Absorbed attention over latent keys: for each query i and head h, softmax over the
     * selected keys j = idx[i, :] (>= 0) of scale . (q_lat[i,h] . kv[j] + q_pe[i,h] . pe[j]),
     * o[i,h] = sum p_j kv[j]. q_lat [n_q x H x C], q_pe [n_q x H x R], kv [n_k x C],
     * pe [n_k x R], o [n_q x H x C]. A query with no key gets zeros. */
    void (*attn_latent)(const ef_engine_exec *ex, float *o, const float *q_lat, const float *q_pe,
                        const float *kv, const float *pe, const int32_t *idx, int k, int n_q,
                        int n_heads, int c, int r, float scale);
    /* y[m x n] = silu(g) * u */
    void (*silu_mul)(const ef_engine_exec *ex, float *y, const float *g, const float *u, int m,
                     int n);
} ef_engine_ops;

extern const ef_engine_ops ef_engine__ops_ref;
/* The one fp8 block quantizer every backend uses (bit-identical results). */
void ef_engine__quant_block(uint8_t *q, float *scale, const float *x, int block, int ue8m0);
/* Grows every thread's scratch to at least n floats. */
int ef_engine__exec_reserve(ef_engine_exec *ex, size_t n);
extern const ef_engine_ops ef_engine__ops_cpu;

/* MoE routing for one token (shared by backends; cheap). scores_out [n_experts] scratch. */
void ef_engine__moe_route(const ef_engine_config *c, const float *logits, const float *bias,
                          float *scratch, int32_t *experts, float *weights);

/* YaRN rope tables [n_pos x rope_dim/2] for positions [0, n_pos). */
int ef_engine__rope_tables(const ef_engine_config *c, int n_pos, float **cos_out,
                           float **sin_out);

/* ---- model ------------------------------------------------------------------------ */

typedef struct {
    ef_weight w1, w2, w3; /* gate_proj, down_proj, up_proj */
} ef_mlp_w;

typedef struct {
    float *attn_norm, *ffn_norm;
    ef_weight wq_a, wq_b, wkv_a, wkv_b, wo;
    float *q_norm, *kv_norm;
    float *wkv_b_f32; /* dequantized kv_b for the absorbed form [H*(nope+v) x C] */
    /* indexer */
    ef_weight idx_wq_b, idx_wk, idx_wproj;
    float *idx_k_norm_w, *idx_k_norm_b;
    /* ffn */
    int is_moe;
    ef_mlp_w mlp;     /* dense layer, or shared experts in MoE */
    int has_shared;
    ef_weight gate;   /* [n_experts x hidden] */
    float *gate_bias; /* e_score_correction_bias or NULL */
    ef_mlp_w *experts;
} ef_layer_w;

struct ef_engine_model {
    ef_engine_config cfg;
    ef_engine_options opts;
    const ef_engine_ops *ops;
    ef_engine_exec ex;
    ef_st_set st;
    ef_weight embed, lm_head;
    float *final_norm;
    ef_layer_w *layers;
    size_t heap_bytes;
    float *rope_cos, *rope_sin; /* grown on demand to rope_n positions */
    int rope_n;
    char *dir;
};

struct ef_engine_seq {
    ef_engine_model *m;
    int n_ctx, pos;
    float *kv;       /* [layers x n_ctx x C] latent (after the fp8 round trip) */
    float *pe;       /* [layers x n_ctx x R] roped key part */
    uint8_t *ik;     /* [layers x n_ctx x index_head_dim] fp8 indexer keys */
    float *ik_scale; /* [layers x n_ctx] */
    size_t cache_bytes;
};

int ef_engine__exec_init(ef_engine_exec *ex, int n_threads, size_t scratch_floats);
void ef_engine__exec_clear(ef_engine_exec *ex);

#endif

/*
 * tests/test_engine.c — the engine on the CPU: number formats, config and safetensors
 * validation (including the malformed corpus under tests/malformed/engine/ and
 * allocation failures), every op of the optimized backend against the reference, and the
 * tiny DeepSeek-V3.2 model (tests/fixtures/tiny_model, made by scripts/make_tiny_model.py)
 * against logits computed by the plain-PyTorch reference: prefill and token-by-token
 * decode, index_topk below and above the prompt length, chunked prefill, the fp8
 * checkpoint, MoE routes, and DSA equal to dense attention when top-k covers everything.
 *
 * Tolerance for model logits (justified): both sides compute in fp32 from the same
 * weights; they differ by summation order (~1e-7 relative per op, observed max |diff|
 * ~4e-6 on logits of magnitude ~4). Logits are O(1-10), so max |diff| <= 2e-3 + 1e-3 x
 * max|ref| with cosine >= 0.99999 accepts that and catches any real mistake (a wrong RoPE
 * pair, scale or selected key moves logits by 1e-1 and more). The fixture script checks
 * the top-k boundary has a relative score gap >= 1e-4, so key selection never hangs on
 * rounding. fp8 quantization is a step function, though: where an input lands within an
 * ulp of a rounding midpoint, the two sides can round it to neighbouring fp8 values
 * (~1e-6 chance per element). In the bf16 fixtures only the indexer's q/k and the kv
 * latent are quantized and no flip occurs; in the fp8 checkpoints every linear's input
 * is quantized (act_quant) and a flip can move one position's logits by a few 1e-2 —
 * observed: one position of 47 off by 0.063 with every other one at 1e-6. For fp8
 * checkpoints up to max(1, 5%) of positions may be off by such a flip, bounded (0.25,
 * per-position cosine >= 0.999); bf16 fixtures allow none.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* popen, mkdtemp */
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/json.h"
#include "common/rng.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "tests/testlib.h"

static char fixture_dir[1024];

static const char *src_dir(void)
{
    const char *s = getenv("EF_SOURCE_DIR");
    return s && *s ? s : ".";
}

/* ---- numbers ------------------------------------------------------------------------ */

static void test_fp8_roundtrip(void)
{
    for (int v = 0; v < 256; v++) {
        if ((v & 0x7f) == 0x7f)
            continue; /* NaN */
        float f = ef_engine__fp8e4m3_to_f32((uint8_t)v);
        uint8_t back = ef_engine__f32_to_fp8e4m3(f);
        if (v == 0x80)
            EF_CHECK(back == 0x80 || back == 0);
        else
            EF_CHECK_MSG(back == v, "code 0x%02x -> %g -> 0x%02x", v, f, back);
    }
    EF_CHECK_NEAR(ef_engine__fp8e4m3_to_f32(0x7e), 448.0, 0);
    EF_CHECK_NEAR(ef_engine__fp8e4m3_to_f32(0x01), ldexp(1, -9), 0);
    EF_CHECK_EQ_INT(ef_engine__f32_to_fp8e4m3(1000.0f), 0x7e);
    EF_CHECK_EQ_INT(ef_engine__f32_to_fp8e4m3(-1000.0f), 0xfe);
    /* 1.0625 is halfway between 1.0 (0x38) and 1.125 (0x39): ties to even -> 0x38 */
    EF_CHECK_EQ_INT(ef_engine__f32_to_fp8e4m3(1.0625f), 0x38);
    /* 1.1875 halfway between 1.125 (0x39) and 1.25 (0x3a) -> 0x3a */
    EF_CHECK_EQ_INT(ef_engine__f32_to_fp8e4m3(1.1875f), 0x3a);
    EF_CHECK_EQ_INT(ef_engine__f32_to_fp8e4m3(1.07f), 0x39);
    EF_CHECK_NEAR(ef_engine__bf16_to_f32(ef_engine__f32_to_bf16(1.00390625f)), 1.0, 0);
    EF_CHECK_NEAR(ef_engine__f16_to_f32(0x3c00), 1.0, 0);
    EF_CHECK_NEAR(ef_engine__f16_to_f32(0xc000), -2.0, 0);
    EF_CHECK_NEAR(ef_engine__f16_to_f32(0x0001), ldexp(1, -24), 0);
}

/* ---- config ----------------------------------------------------------------------------- */

static char *fixture_config(size_t *len)
{
    char path[1200], *text = NULL;
    snprintf(path, sizeof path, "%s/config.json", fixture_dir);
    ef_ctx *ctx = ef_ctx_new();
    if (ef_file_read(ctx, path, 1 << 20, &text, len) < 0)
        text = NULL;
    ef_ctx_free(ctx);
    return text;
}

static void test_config_tiny(void)
{
    ef_ctx *ctx = ef_ctx_new();
    ef_engine_config c;
    EF_CHECK_OK(ctx, ef_engine_config_load(ctx, fixture_dir, &c));
    EF_CHECK_EQ_INT(c.hidden_size, 64);
    EF_CHECK_EQ_INT(c.index_quant_block, 32);
    EF_CHECK_EQ_INT(c.kv_quant_block, 32);
    EF_CHECK(c.rope_yarn);
    double ms = 0.1 * log(4.0) + 1.0;
    EF_CHECK_NEAR(c.softmax_scale, 1.0 / sqrt(24.0) * ms * ms, 1e-6);
    EF_CHECK(!ef_engine_config_layer_is_moe(&c, 0) && ef_engine_config_layer_is_moe(&c, 1));
    ef_ctx_free(ctx);
}

/* Replaces `"key": value` in the fixture config (or drops the key when repl is NULL). */
static char *edit_config(const char *key, const char *repl)
{
    size_t len;
    char *text = fixture_config(&len);
    cJSON *doc = cJSON_ParseWithLength(text, len);
    ef_free(text);
    cJSON_DeleteItemFromObjectCaseSensitive(doc, key);
    if (repl)
        cJSON_AddItemToObject(doc, key, cJSON_Parse(repl));
    char *out = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return out;
}

typedef struct {
    ef_log_level level;
    char msg[512];
} log_capture;

static void capture_log(void *ud, ef_log_level level, const char *func, int line,
                        const char *msg)
{
    (void)func, (void)line;
    log_capture *c = ud;
    if (level >= EF_LOG_WARN && !c->msg[0])
        snprintf(c->msg, sizeof c->msg, "%s", msg);
}

static void test_config_errors(void)
{
    static const struct {
        const char *key, *value, *want;
    } cases[] = {
        {"hidden_size", NULL, "missing required key 'hidden_size'"},
        {"index_topk", NULL, "missing required key 'index_topk'"},
        {"model_type", "\"llama\"", "model_type 'llama' is not supported"},
        {"hidden_size", "\"64\"", "'hidden_size' must be an integer"},
        {"hidden_size", "-4", "'hidden_size' = -4 is out of range"},
        {"index_head_dim", "48", "must be a power of 2"},
        {"index_head_dim", "256", "index_head_dim 256 > 128"},
        {"qk_rope_head_dim", "7", "qk_rope_head_dim 7 must be even"},
        {"n_group", "3", "must be a multiple of n_group 3"},
        {"topk_group", "5", "topk_group 5 must be in"},
        {"hidden_act", "\"gelu\"", "hidden_act 'gelu'"},
        {"rope_scaling", "{\"type\":\"ntk\",\"factor\":2}", "rope_scaling.type 'ntk'"},
        {"quantization_config", "{\"quant_method\":\"awq\"}", "quant_method 'awq'"},
        {"quantization_config", "{\"weight_block_size\":[128]}", "weight_block_size"},
        {"rms_norm_eps", "\"small\"", "'rms_norm_eps' must be a finite number"},
        {"kv_lora_rank", "200", "kv_lora_rank 200 must be a multiple of 128"},
    };
    for (size_t i = 0; i < EF_ARRAY_LEN(cases); i++) {
        ef_ctx *ctx = ef_ctx_new();
        ef_engine_config c;
        char *text = edit_config(cases[i].key, cases[i].value);
        int rc = ef_engine_config_parse(ctx, text, strlen(text), "cfg.json", &c);
        EF_CHECK_MSG(rc == EF_EINVAL, "case %zu (%s) rc %d", i, cases[i].key, rc);
        EF_CHECK_CONTAINS(ef_errmsg(ctx), cases[i].want);
        EF_CHECK_CONTAINS(ef_errmsg(ctx), "cfg.json");
        free(text);
        ef_ctx_free(ctx);
    }
    /* an unknown key is a warning, not an error */
    ef_ctx *ctx = ef_ctx_new();
    log_capture cap = {EF_LOG_DEBUG, ""};
    ef_ctx_set_log(ctx, EF_LOG_WARN, capture_log, &cap);
    char *text = edit_config("brand_new_key", "1");
    ef_engine_config c;
    EF_CHECK_OK(ctx, ef_engine_config_parse(ctx, text, strlen(text), "cfg.json", &c));
    EF_CHECK_CONTAINS(cap.msg, "unknown key 'brand_new_key'");
    free(text);
    ef_ctx_free(ctx);
}

static void test_config_alloc_failures(void)
{
    size_t len;
    char *text = fixture_config(&len);
    ef_ctx *ctx = ef_ctx_new();
    long runs = 0;
    EF_ALLOC_LOOP(n, 2000)
    {
        ef_engine_config c;
        int rc = ef_engine_config_parse(ctx, text, len, "cfg.json", &c);
        EF_CHECK(rc == 0 || rc == EF_ENOMEM || rc == EF_EPARSE || rc == EF_EINVAL);
        runs = n;
    }
    EF_CHECK(runs > 1);
    ef_ctx_free(ctx);
    ef_free(text);
}

/* ---- safetensors ------------------------------------------------------------------------ */

/* A file image: 8-byte length, header, data. */
static uint8_t *st_image(const char *header, size_t data_bytes, size_t *len)
{
    size_t hl = strlen(header);
    *len = 8 + hl + data_bytes;
    uint8_t *b = calloc(1, *len);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    return b;
}

static void test_st_parse_ok(void)
{
    size_t len;
    uint8_t *img = st_image("{\"__metadata__\":{\"format\":\"pt\"},"
                            "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[16,28]},"
                            "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                            "\"e\":{\"dtype\":\"F8_E4M3\",\"shape\":[0],\"data_offsets\":[28,28]}}",
                            28, &len);
    ef_ctx *ctx = ef_ctx_new();
    ef_st_file f;
    EF_CHECK_OK(ctx, ef_engine__st_parse(ctx, "mem", img, len, &f));
    EF_CHECK_EQ_INT(f.n_tensors, 3);
    EF_CHECK_EQ_STR(f.tensors[0].name, "a");
    EF_CHECK_EQ_INT(f.tensors[1].shape[1], 3);
    EF_CHECK_EQ_INT(f.tensors[1].dtype, EF_DT_BF16);
    ef_engine__st_file_clear(&f);
    ef_ctx_free(ctx);
    free(img);
}

static void test_st_parse_alloc_failures(void)
{
    size_t len;
    uint8_t *img = st_image("{\"b\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[16,28]},"
                            "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                            28, &len);
    ef_ctx *ctx = ef_ctx_new();
    long runs = 0;
    EF_ALLOC_LOOP(n, 500)
    {
        ef_st_file f;
        int rc = ef_engine__st_parse(ctx, "mem", img, len, &f);
        EF_CHECK(rc == 0 || rc == EF_ENOMEM || rc == EF_EPARSE);
        if (rc == 0)
            ef_engine__st_file_clear(&f);
        runs = n;
    }
    EF_CHECK(runs > 1);
    ef_ctx_free(ctx);
    free(img);
}

/* tests/malformed/engine/MANIFEST: "file<TAB>expected message part" per line; *.safetensors
 * entries are parsed as files, config*.json as configs, dirs (ending in /) loaded as models. */
static void test_malformed_corpus(void)
{
    char dir[1200], path[2400], line[1024];
    snprintf(dir, sizeof dir, "%s/tests/malformed/engine", src_dir());
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        EF_SKIP_CASE("tests/malformed/engine/MANIFEST missing");
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = 0;
        const char *file = line, *want = tab + 1;
        snprintf(path, sizeof path, "%s/%s", dir, file);
        ef_ctx *ctx = ef_ctx_new();
        ef_ctx_set_log(ctx, EF_LOG_ERROR, NULL, NULL);
        int rc;
        size_t flen = strlen(file);
        if (flen > 12 && strcmp(file + flen - 12, ".safetensors") == 0) {
            ef_st_file f;
            rc = ef_engine__st_open(ctx, path, &f);
            if (rc == 0)
                ef_engine__st_file_clear(&f);
        } else if (file[flen - 1] == '/') {
            ef_engine_model *m = NULL;
            path[strlen(path) - 1] = 0;
            rc = ef_engine_model_load(ctx, path, NULL, &m);
            ef_engine_model_free(m);
        } else {
            char *text = NULL;
            size_t len = 0;
            ef_engine_config c;
            rc = ef_file_read(ctx, path, 1 << 20, &text, &len);
            if (rc == 0)
                rc = ef_engine_config_parse(ctx, text, len, file, &c);
            ef_free(text);
        }
        EF_CHECK_MSG(rc < 0, "%s: accepted", file);
        EF_CHECK_MSG(strstr(ef_errmsg(ctx), want) != NULL, "%s: message \"%s\" lacks \"%s\"",
                     file, ef_errmsg(ctx), want);
        /* and the message names the file (or the folder) */
        char base[256];
        snprintf(base, sizeof base, "%.*s", (int)(file[flen - 1] == '/' ? flen - 1 : flen), file);
        EF_CHECK_MSG(strstr(ef_errmsg(ctx), base) != NULL, "%s: message \"%s\" does not name it",
                     file, ef_errmsg(ctx));
        if (n < 3 || getenv("EF_VERBOSE"))
            printf("    %-36s -> %s\n", file, ef_errmsg(ctx));
        ef_ctx_free(ctx);
        n++;
    }
    fclose(fp);
    printf("    %d malformed files rejected with the expected message\n", n);
    EF_CHECK(n >= 10);
}

/* ---- ops: reference vs optimized ---------------------------------------------------------- */

typedef struct {
    double max_diff;
    int faults;
} cmp_result;

/* atol + rtol.|ref|; NaN/Inf positions must agree. */
static cmp_result compare(const char *what, const float *ref, const float *got, size_t n,
                          double atol, double rtol)
{
    cmp_result r = {0, 0};
    for (size_t i = 0; i < n; i++) {
        int rf = isfinite(ref[i]), gf = isfinite(got[i]);
        if (rf != gf || (!rf && !(ref[i] == got[i] || (isnan(ref[i]) && isnan(got[i]))))) {
            if (r.faults++ < 10)
                EF_FAULT_("%s[%zu]: ref %g got %g (non-finite mismatch)", what, i, ref[i],
                          got[i]);
            continue;
        }
        if (!rf)
            continue;
        double d = fabs((double)ref[i] - got[i]);
        r.max_diff = fmax(r.max_diff, d);
        if (d > atol + rtol * fabs(ref[i]) && r.faults++ < 10)
            EF_FAULT_("%s[%zu]: ref %.8g got %.8g diff %.3g", what, i, ref[i], got[i], d);
    }
    printf("    %-14s n=%-7zu max|diff| %.3g\n", what, n, r.max_diff);
    return r;
}

static float *randv(ef_rng *r, size_t n, float scale)
{
    float *v = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        v[i] = (float)ef_rng_normal(r) * scale;
    return v;
}

static void test_ops_compare(void)
{
    ef_engine_exec ref_ex, cpu_ex;
    EF_CHECK(ef_engine__exec_init(&ref_ex, 1, 1 << 16) == 0);
    EF_CHECK(ef_engine__exec_init(&cpu_ex, 4, 1 << 16) == 0);
    const ef_engine_ops *R = &ef_engine__ops_ref, *O = &ef_engine__ops_cpu;
    ef_rng rng;
    ef_rng_seed(&rng, 7);
    /* linear, in every weight dtype */
    int m = 5, rows = 70, cols = 200;
    float *x = randv(&rng, (size_t)m * cols, 1);
    float *wf = randv(&rng, (size_t)rows * cols, 0.1f);
    uint16_t *wb = malloc(2 * (size_t)rows * cols);
    uint8_t *w8 = malloc((size_t)rows * cols);
    float sc[2 * 1] = {0.002f, 0.003f}; /* [ceil(70/128)=1 x ceil(200/128)=2] */
    for (int i = 0; i < rows * cols; i++) {
        wb[i] = ef_engine__f32_to_bf16(wf[i]);
        w8[i] = ef_engine__f32_to_fp8e4m3(wf[i] / sc[(i % cols) / 128]);
    }
    /* fp16 bits for +-m x 2^e (m in 1.0..2.0 in 1/1024 steps), from the random signs */
    uint16_t *wh = malloc(2 * (size_t)rows * cols);
    for (int i = 0; i < rows * cols; i++)
        wh[i] = (uint16_t)((wf[i] < 0 ? 0x8000 : 0) | ((uint16_t)(11 + i % 4) << 10) |
                           (uint16_t)(i * 37 % 1024));
    ef_weight ws[4] = {{wf, EF_DT_F32, rows, cols, NULL, 1, 1, 1, "f32"},
                       {wb, EF_DT_BF16, rows, cols, NULL, 1, 1, 1, "bf16"},
                       {w8, EF_DT_F8_E4M3, rows, cols, sc, 128, 128, 2, "fp8"},
                       {wh, EF_DT_F16, rows, cols, NULL, 1, 1, 1, "f16"}};
    float *y1 = malloc(sizeof(float) * m * rows), *y2 = malloc(sizeof(float) * m * rows);
    for (int k = 0; k < 4; k++) {
        R->linear(&ref_ex, y1, x, m, &ws[k]);
        O->linear(&cpu_ex, y2, x, m, &ws[k]);
        char name[32];
        snprintf(name, sizeof name, "linear/%s", ws[k].name);
        compare(name, y1, y2, (size_t)m * rows, 1e-5, 1e-5);
    }
    /* fp8 weights dequantize by their block scale */
    float row[200];
    ef_engine__weight_row(&ws[2], 3, row);
    EF_CHECK_NEAR(row[150], ef_engine__fp8e4m3_to_f32(w8[3 * cols + 150]) * sc[1], 1e-12);
    ef_engine__weight_row(&ws[3], 0, row);
    EF_CHECK_NEAR(fabs(row[0]), ef_engine__f16_to_f32(wh[0] & 0x7fff), 0);

    /* hadamard: orthogonal (twice = identity) and equal across backends */
    int n = 100, dim = 32;
    float *h1 = randv(&rng, (size_t)n * dim, 1), *h2 = malloc(sizeof(float) * n * dim);
    float *h0 = malloc(sizeof(float) * n * dim);
    memcpy(h2, h1, sizeof(float) * n * dim);
    memcpy(h0, h1, sizeof(float) * n * dim);
    R->hadamard(&ref_ex, h1, n, dim);
    O->hadamard(&cpu_ex, h2, n, dim);
    compare("hadamard", h1, h2, (size_t)n * dim, 1e-6, 1e-6);
    R->hadamard(&ref_ex, h1, n, dim);
    compare("hadamard^2", h0, h1, (size_t)n * dim, 1e-5, 1e-5);

    /* quantization: bit-identical */
    uint8_t *q1 = malloc((size_t)n * dim), *q2 = malloc((size_t)n * dim);
    float s1[400], s2[400];
    for (int ue = 0; ue < 2; ue++) {
        R->quant_fp8(&ref_ex, q1, s1, h0, n, dim, 16, ue);
        O->quant_fp8(&cpu_ex, q2, s2, h0, n, dim, 16, ue);
        EF_CHECK(memcmp(q1, q2, (size_t)n * dim) == 0 && memcmp(s1, s2, sizeof(float) * n * 2) == 0);
    }
    EF_CHECK(fabsf(s1[0] - exp2f(roundf(log2f(s1[0])))) == 0); /* ue8m0: a power of 2 */

    /* indexer scores + top-k, with causal n_valid and a tie */
    int n_q = 6, n_k = 700, IH = 4, ID = 32, K = 16;
    float *qf = randv(&rng, (size_t)n_q * IH * ID, 1), *kf = randv(&rng, (size_t)n_k * ID, 1);
    uint8_t *q8 = malloc((size_t)n_q * IH * ID), *k8 = malloc((size_t)n_k * ID);
    float *qs = malloc(sizeof(float) * n_q * IH), *ks = malloc(sizeof(float) * n_k);
    R->quant_fp8(&ref_ex, q8, qs, qf, n_q * IH, ID, ID, 0);
    R->quant_fp8(&ref_ex, k8, ks, kf, n_k, ID, ID, 0);
    memcpy(k8 + 11 * ID, k8 + 10 * ID, ID); /* keys 10 and 11 tie */
    ks[11] = ks[10];
    float *w = randv(&rng, (size_t)n_q * IH, 1);
    int32_t nv[6] = {1, 5, 16, 17, 300, 700};
    float *sa = malloc(sizeof(float) * n_q * n_k), *sb = malloc(sizeof(float) * n_q * n_k);
    R->index_scores(&ref_ex, sa, q8, w, k8, ks, n_q, n_k, IH, ID, nv);
    O->index_scores(&cpu_ex, sb, q8, w, k8, ks, n_q, n_k, IH, ID, nv);
    compare("index_scores", sa, sb, (size_t)n_q * n_k, 1e-5, 1e-5);
    int32_t *ia = malloc(sizeof(int32_t) * n_q * K), *ib = malloc(sizeof(int32_t) * n_q * K);
    R->topk(&ref_ex, ia, sa, n_q, n_k, K, nv);
    O->topk(&cpu_ex, ib, sa, n_q, n_k, K, nv);
    for (int i = 0; i < n_q; i++) {
        /* as sets; a differing element must tie with the k-th score */
        float kth = INFINITY;
        int n_sel = 0;
        for (int t = 0; t < K; t++)
            if (ia[i * K + t] >= 0) {
                kth = fminf(kth, sa[(size_t)i * n_k + ia[i * K + t]]);
                n_sel++;
            }
        EF_CHECK_EQ_INT(n_sel, EF_MIN(K, nv[i]));
        for (int t = 0; t < K; t++) {
            int32_t j = ib[i * K + t];
            if (t >= n_sel) {
                EF_CHECK_EQ_INT(j, -1);
                continue;
            }
            EF_CHECK(j >= 0 && j < nv[i]);
            int found = 0;
            for (int u = 0; u < K; u++)
                found |= ia[i * K + u] == j;
            if (!found)
                EF_CHECK_MSG(fabsf(sa[(size_t)i * n_k + j] - kth) <= 1e-5f * fabsf(kth),
                             "query %d: key %d not in the reference set and not a tie", i, j);
        }
    }
    /* latent attention with invalid slots and an all-invalid query */
    int H = 20, C = 40, Rr = 8; /* two head blocks of the cpu backend */
    float *ql = randv(&rng, (size_t)n_q * H * C, 0.3f), *qp = randv(&rng, (size_t)n_q * H * Rr, 0.3f);
    float *kv = randv(&rng, (size_t)n_k * C, 1), *pe = randv(&rng, (size_t)n_k * Rr, 1);
    for (int t = 0; t < K; t++)
        ia[5 * K + t] = -1;
    float *oa = malloc(sizeof(float) * n_q * H * C), *ob = malloc(sizeof(float) * n_q * H * C);
    R->attn_latent(&ref_ex, oa, ql, qp, kv, pe, ia, K, n_q, H, C, Rr, 0.2f);
    O->attn_latent(&cpu_ex, ob, ql, qp, kv, pe, ia, K, n_q, H, C, Rr, 0.2f);
    compare("attn_latent", oa, ob, (size_t)n_q * H * C, 1e-5, 1e-5);
    EF_CHECK(oa[5 * H * C] == 0 && ob[5 * H * C + 7] == 0);
    /* the light ops run the reference in both backends; compare anyway */
    float *g = malloc(sizeof(float) * 64);
    for (int i = 0; i < 64; i++)
        g[i] = 1.0f + 0.01f * (float)i;
    R->rmsnorm(&ref_ex, y1, x, g, 2, 64, 1e-6f);
    O->rmsnorm(&cpu_ex, y2, x, g, 2, 64, 1e-6f);
    compare("rmsnorm", y1, y2, 128, 1e-6, 1e-6);
    free(wh);
    free(x), free(wf), free(wb), free(w8), free(y1), free(y2), free(h0), free(h1), free(h2);
    free(q1), free(q2), free(qf), free(kf), free(q8), free(k8), free(qs), free(ks), free(w);
    free(sa), free(sb), free(ia), free(ib), free(ql), free(qp), free(kv), free(pe), free(oa);
    free(ob), free(g);
    ef_engine__exec_clear(&ref_ex);
    ef_engine__exec_clear(&cpu_ex);
}

static void test_rope_pairs(void)
{
    /* interleaved rotates (0,1),(2,3); non-interleaved (0,2),(1,3) for rope_dim 4 */
    ef_engine_exec ex;
    EF_CHECK(ef_engine__exec_init(&ex, 1, 64) == 0);
    float cs[4] = {1, 1, 0, 0}, sn[4] = {0, 0, 1, 1}; /* pos 1: 90 degrees */
    int32_t pos = 1;
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 4};
    ef_engine__ops_ref.rope(&ex, a, 1, 1, 4, 4, 4, &pos, cs, sn, 1);
    ef_engine__ops_ref.rope(&ex, b, 1, 1, 4, 4, 4, &pos, cs, sn, 0);
    EF_CHECK(a[0] == -2 && a[1] == 1 && a[2] == -4 && a[3] == 3);
    EF_CHECK(b[0] == -3 && b[2] == 1 && b[1] == -4 && b[3] == 2);
    ef_engine__exec_clear(&ex);
}

/* ---- the tiny model vs PyTorch -------------------------------------------------------------- */

typedef struct {
    cJSON *doc;
    const cJSON *prompts, *cases;
    int vocab, n_layers, k_experts;
} manifest;

static int manifest_load(const char *dir, manifest *m)
{
    char path[1400], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/reference.json", dir);
    ef_ctx *ctx = ef_ctx_new();
    int rc = ef_file_read(ctx, path, 64 << 20, &text, &len);
    ef_ctx_free(ctx);
    if (rc < 0)
        return rc;
    m->doc = cJSON_ParseWithLength(text, len);
    ef_free(text);
    if (!m->doc)
        return EF_EPARSE;
    m->prompts = cJSON_GetObjectItem(m->doc, "prompts");
    m->cases = cJSON_GetObjectItem(m->doc, "cases");
    m->vocab = cJSON_GetObjectItem(m->doc, "vocab_size")->valueint;
    m->n_layers = cJSON_GetObjectItem(m->doc, "n_layers")->valueint;
    m->k_experts = cJSON_GetObjectItem(m->doc, "n_experts_per_tok")->valueint;
    return 0;
}

static int32_t *prompt_tokens(const manifest *m, int pi, int *n)
{
    const cJSON *t = cJSON_GetObjectItem(cJSON_GetArrayItem(m->prompts, pi), "tokens");
    *n = cJSON_GetArraySize(t);
    int32_t *v = malloc(sizeof(int32_t) * (size_t)*n);
    for (int i = 0; i < *n; i++)
        v[i] = cJSON_GetArrayItem(t, i)->valueint;
    return v;
}

static float *read_f32(const char *dir, const char *file, size_t n)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    float *v = malloc(sizeof(float) * n);
    size_t got = fread(v, sizeof(float), n, fp);
    fclose(fp);
    if (got != n) {
        free(v);
        return NULL;
    }
    return v;
}

/* Max |diff| and cosine over all logits; checks the tolerance in the header comment.
 * allow_flips (fp8 checkpoints, whose linears quantize their inputs): up to max(1, 5%) of
 * the positions may instead be off by a flip — see the header comment — but by no more
 * than 0.25 and with a per-position cosine >= 0.999. */
static void check_logits_ex(const char *what, const float *ref, const float *got, int n_pos,
                            int V, int allow_flips)
{
    double dot = 0, na = 0, nb = 0, maxd = 0, maxr = 0, flip_max = 0, flip_cos = 1;
    size_t n = (size_t)n_pos * V;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            EF_FAULT_("%s: non-finite logit at %zu", what, i);
            return;
        }
        maxr = fmax(maxr, fabs(ref[i]));
    }
    double tol = 2e-3 + 1e-3 * maxr;
    int flips = 0;
    for (int p = 0; p < n_pos; p++) {
        double pd = 0, pdot = 0, pa = 0, pb = 0;
        for (int v = 0; v < V; v++) {
            double x = ref[(size_t)p * V + v], y = got[(size_t)p * V + v];
            pd = fmax(pd, fabs(x - y));
            pdot += x * y, pa += x * x, pb += y * y;
        }
        dot += pdot, na += pa, nb += pb;
        if (pd <= tol) {
            maxd = fmax(maxd, pd);
        } else {
            flips++;
            flip_max = fmax(flip_max, pd);
            flip_cos = fmin(flip_cos, pdot / sqrt(pa * pb));
        }
    }
    double cosv = dot / sqrt(na * nb);
    printf("    %-34s max|diff| %.3e (max|ref| %.2f)  cosine %.9f", what, maxd, maxr, cosv);
    if (flips)
        printf("  [%d of %d positions off by an fp8 rounding flip: max %.3g, cosine %.6f]",
               flips, n_pos, flip_max, flip_cos);
    printf("\n");
    int max_flips = allow_flips ? EF_MAX(1, n_pos / 20) : 0;
    EF_CHECK_MSG(flips <= max_flips, "%s: %d positions beyond %g", what, flips, tol);
    EF_CHECK_MSG(flip_max <= 0.25 && flip_cos >= 0.999, "%s: a position off by %g (cosine %g)",
                 what, flip_max, flip_cos);
    EF_CHECK_MSG(cosv >= (flips ? 0.9999 : 0.99999), "%s: cosine %.9f", what, cosv);
}

static void check_logits(const char *what, const float *ref, const float *got, size_t n)
{
    check_logits_ex(what, ref, got, 1, (int)n, 0);
}

static void run_model_cases(const char *dir, const char *backend, int chunked)
{
    ef_ctx *cctx = ef_ctx_new();
    ef_engine_config cfg;
    int allow_flips = ef_engine_config_load(cctx, dir, &cfg) == 0 && cfg.fp8;
    ef_ctx_free(cctx);
    manifest mf;
    if (manifest_load(dir, &mf) < 0)
        EF_SKIP_CASE("fixture reference.json missing (run scripts/make_tiny_model.py)");
    ef_ctx *ctx = ef_ctx_new();
    int n_cases = cJSON_GetArraySize(mf.cases);
    for (int ci = 0; ci < n_cases; ci++) {
        const cJSON *cs = cJSON_GetArrayItem(mf.cases, ci);
        int pi = cJSON_GetObjectItem(cs, "prompt")->valueint;
        int topk = cJSON_GetObjectItem(cs, "index_topk")->valueint;
        const char *mode = cJSON_GetObjectItem(cs, "mode")->valuestring;
        const char *file = cJSON_GetObjectItem(cs, "file")->valuestring;
        int decode = strcmp(mode, "decode") == 0;
        if (chunked && decode)
            continue;
        int n;
        int32_t *tok = prompt_tokens(&mf, pi, &n);
        float *ref = read_f32(dir, file, (size_t)n * mf.vocab);
        EF_CHECK_MSG(ref != NULL, "%s/%s unreadable", dir, file);
        ef_engine_options o = EF_ENGINE_OPTIONS_INIT;
        o.backend = backend;
        o.index_topk = topk;
        ef_engine_model *m = NULL;
        ef_engine_seq *s = NULL;
        float *got = calloc((size_t)n * mf.vocab, sizeof(float));
        int32_t *routes = calloc((size_t)n * mf.n_layers * mf.k_experts, sizeof(int32_t));
        if (ref && ef_engine_model_load(ctx, dir, &o, &m) == 0 &&
            ef_engine_seq_new(ctx, m, n + 4, &s) == 0) {
            ef_engine_forward_out fo = EF_ENGINE_FORWARD_OUT_INIT;
            int rc = 0;
            if (decode) {
                for (int i = 0; i < n && rc == 0; i++) {
                    fo.logits = got + (size_t)i * mf.vocab;
                    fo.routes = routes + (size_t)i * mf.n_layers * mf.k_experts;
                    rc = ef_engine_forward(ctx, s, &tok[i], 1, &fo);
                }
            } else if (chunked) {
                /* three chunks at odd boundaries: positions [0,3), [3,n/2), [n/2,n) */
                int cuts[4] = {0, 3, n / 2, n};
                fo.all_positions = 1;
                for (int c = 0; c < 3 && rc == 0; c++) {
                    fo.logits = got + (size_t)cuts[c] * mf.vocab;
                    fo.routes = routes + (size_t)cuts[c] * mf.n_layers * mf.k_experts;
                    rc = ef_engine_forward(ctx, s, tok + cuts[c], cuts[c + 1] - cuts[c], &fo);
                }
            } else {
                fo.all_positions = 1;
                fo.logits = got;
                fo.routes = routes;
                rc = ef_engine_forward(ctx, s, tok, n, &fo);
            }
            EF_CHECK_MSG(rc == 0, "forward: %s", ef_errmsg(ctx));
            char what[160];
            snprintf(what, sizeof what, "%s p%d topk%d %s%s", backend, pi, topk,
                     chunked ? "chunked-" : "", mode);
            check_logits_ex(what, ref, got, n, mf.vocab, allow_flips);
            const cJSON *rr = cJSON_GetObjectItem(cs, "routes");
            int mism = 0, total = n * mf.n_layers;
            for (int e = 0; e < total; e++) {
                /* the expert sets must match (order within a token's slots may differ) */
                for (int t = 0; t < mf.k_experts; t++) {
                    int want = cJSON_GetArrayItem(rr, e * mf.k_experts + t)->valueint, found = 0;
                    for (int u = 0; u < mf.k_experts; u++)
                        found |= routes[(size_t)e * mf.k_experts + u] == want;
                    if (!found) {
                        mism++;
                        break;
                    }
                }
            }
            EF_CHECK_MSG(mism == 0, "%s: %d of %d token-layers routed differently", what, mism,
                         total);
        } else {
            EF_FAULT_("load %s: %s", dir, ef_errmsg(ctx));
        }
        ef_engine_seq_free(s);
        ef_engine_model_free(m);
        free(got), free(routes), free(ref), free(tok);
    }
    cJSON_Delete(mf.doc);
    ef_ctx_free(ctx);
}

static void test_tiny_vs_torch_cpu(void)
{
    run_model_cases(fixture_dir, "cpu", 0);
}

static void test_tiny_vs_torch_ref(void)
{
    run_model_cases(fixture_dir, "ref", 0);
}

static void test_tiny_chunked_prefill(void)
{
    run_model_cases(fixture_dir, "cpu", 1);
}

static void test_tiny_fp8(void)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/fp8", fixture_dir);
    run_model_cases(dir, "cpu", 0);
}

/* Realistic shapes: index heads of 128, a 256-wide latent (two quantization blocks), rope
 * 64, fp8 weights with partial blocks, activation scales rounded up to 2^n (ue8m0). */
static void test_tiny_fp8_ue8m0(void)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/fp8_ue8m0", fixture_dir);
    run_model_cases(dir, "cpu", 0);
    run_model_cases(dir, "ref", 0);
}

/* With index_topk >= the sequence, DSA must equal dense MLA attention, both in the
 * absorbed form and in the expanded per-head form. */
static void test_dsa_equals_dense(void)
{
    manifest mf;
    if (manifest_load(fixture_dir, &mf) < 0)
        EF_SKIP_CASE("fixture missing");
    ef_ctx *ctx = ef_ctx_new();
    int n;
    int32_t *tok = prompt_tokens(&mf, 1, &n);
    float *out[3];
    ef_engine_attn_mode modes[3] = {EF_ENGINE_ATTN_DSA, EF_ENGINE_ATTN_DENSE,
                                    EF_ENGINE_ATTN_DENSE_MHA};
    for (int k = 0; k < 3; k++) {
        ef_engine_options o = EF_ENGINE_OPTIONS_INIT;
        o.index_topk = n;
        o.attn_mode = modes[k];
        ef_engine_model *m = NULL;
        ef_engine_seq *s = NULL;
        out[k] = calloc((size_t)n * mf.vocab, sizeof(float));
        EF_CHECK_OK(ctx, ef_engine_model_load(ctx, fixture_dir, &o, &m));
        if (m)
            EF_CHECK_OK(ctx, ef_engine_seq_new(ctx, m, n, &s));
        if (s) {
            ef_engine_forward_out fo = {out[k], 1, NULL};
            EF_CHECK_OK(ctx, ef_engine_forward(ctx, s, tok, n, &fo));
        }
        ef_engine_seq_free(s);
        ef_engine_model_free(m);
    }
    cmp_result a = compare("dsa-vs-dense", out[1], out[0], (size_t)n * mf.vocab, 0, 0);
    EF_CHECK(a.max_diff == 0); /* same keys, same kernel: bit-identical */
    compare("dense-vs-mha", out[2], out[1], (size_t)n * mf.vocab, 1e-4, 1e-4);
    /* and with top-k below the length, DSA is genuinely different from dense */
    ef_engine_options o = EF_ENGINE_OPTIONS_INIT;
    o.index_topk = 8;
    ef_engine_model *m = NULL;
    ef_engine_seq *s = NULL;
    float *sparse = calloc((size_t)n * mf.vocab, sizeof(float));
    EF_CHECK_OK(ctx, ef_engine_model_load(ctx, fixture_dir, &o, &m));
    if (m && ef_engine_seq_new(ctx, m, n, &s) == 0) {
        ef_engine_forward_out fo = {sparse, 1, NULL};
        EF_CHECK_OK(ctx, ef_engine_forward(ctx, s, tok, n, &fo));
        double d = 0;
        for (size_t i = 0; i < (size_t)n * mf.vocab; i++)
            d = fmax(d, fabs(sparse[i] - out[1][i]));
        printf("    topk 8 vs dense on %d tokens: max|diff| %.3f (sparse attention selects)\n",
               n, d);
        EF_CHECK(d > 1e-2);
    }
    ef_engine_seq_free(s);
    ef_engine_model_free(m);
    free(sparse), free(out[0]), free(out[1]), free(out[2]), free(tok);
    cJSON_Delete(mf.doc);
    ef_ctx_free(ctx);
}

/* A longer sequence than the fixtures (200 tokens, top-k 8 of up to 200 keys): one
 * prefill, token-by-token decode, and uneven chunks must agree, in both backends. */
static void test_prefill_decode_agree_long(void)
{
    enum { N = 200, V = 512 };
    ef_ctx *ctx = ef_ctx_new();
    int32_t tok[N];
    ef_rng r;
    ef_rng_seed(&r, 5);
    for (int i = 0; i < N; i++)
        tok[i] = (int32_t)ef_rng_below(&r, V);
    float *out[3];
    const char *backends[2] = {"cpu", "ref"};
    for (int b = 0; b < 2; b++) {
        for (int mode = 0; mode < 3; mode++) {
            ef_engine_options o = EF_ENGINE_OPTIONS_INIT;
            o.backend = backends[b];
            ef_engine_model *m = NULL;
            ef_engine_seq *s = NULL;
            out[mode] = calloc((size_t)N * V, sizeof(float));
            EF_CHECK_OK(ctx, ef_engine_model_load(ctx, fixture_dir, &o, &m));
            if (m)
                EF_CHECK_OK(ctx, ef_engine_seq_new(ctx, m, N, &s));
            if (!s) {
                ef_engine_model_free(m);
                continue;
            }
            ef_engine_forward_out fo = {out[mode], 1, NULL};
            if (mode == 0) {
                EF_CHECK_OK(ctx, ef_engine_forward(ctx, s, tok, N, &fo));
            } else if (mode == 1) {
                for (int i = 0; i < N; i++) {
                    fo.logits = out[mode] + (size_t)i * V;
                    EF_CHECK_OK(ctx, ef_engine_forward(ctx, s, &tok[i], 1, &fo));
                }
            } else {
                int cuts[5] = {0, 1, 70, 71, N};
                for (int c = 0; c < 4; c++) {
                    fo.logits = out[mode] + (size_t)cuts[c] * V;
                    EF_CHECK_OK(ctx, ef_engine_forward(ctx, s, tok + cuts[c], cuts[c + 1] - cuts[c],
                                                       &fo));
                }
            }
            ef_engine_seq_free(s);
            ef_engine_model_free(m);
        }
        char what[64];
        snprintf(what, sizeof what, "%s decode vs prefill (200 tokens)", backends[b]);
        check_logits(what, out[0], out[1], (size_t)N * V);
        snprintf(what, sizeof what, "%s chunked vs prefill (200 tokens)", backends[b]);
        check_logits(what, out[0], out[2], (size_t)N * V);
        free(out[0]), free(out[1]), free(out[2]);
    }
    ef_ctx_free(ctx);
}

static int stop_after_three(void *ud, int32_t token, double logprob)
{
    (void)token, (void)logprob;
    return ++*(int *)ud == 3;
}

/* The generation loop: greedy equals an argmax loop over ef_engine_forward; routes cover
 * every fed token; kept sets are CSR; stop ids, length and the callback end it. */
static void test_generate(void)
{
    ef_ctx *ctx = ef_ctx_new();
    ef_engine_model *m = NULL;
    ef_engine_seq *s1 = NULL, *s2 = NULL;
    ef_engine_gen_result *r = NULL;
    EF_CHECK_OK(ctx, ef_engine_model_load(ctx, fixture_dir, NULL, &m));
    if (!m)
        goto done;
    const ef_engine_config *c = ef_engine_model_config(m);
    int per = c->n_layers * c->n_experts_per_tok;
    int32_t prompt[5] = {0, 460, 438, 9, 66};
    EF_CHECK_OK(ctx, ef_engine_seq_new(ctx, m, 64, &s1));
    EF_CHECK_OK(ctx, ef_engine_seq_new(ctx, m, 64, &s2));
    if (!s1 || !s2)
        goto done;
    ef_engine_gen_options go = EF_ENGINE_GEN_OPTIONS_INIT;
    go.max_tokens = 10;
    go.keep_sets = 1;
    EF_CHECK_OK(ctx, ef_engine_generate(ctx, s1, prompt, 5, &go, &r));
    if (!r)
        goto done;
    EF_CHECK_EQ_INT(r->n_tokens, 10);
    EF_CHECK_EQ_INT(r->finish, EF_ENGINE_FINISH_LENGTH);
    EF_CHECK_EQ_INT(r->n_routed, 15);
    EF_CHECK_EQ_INT(ef_engine_seq_pos(s1), 15);
    EF_CHECK_EQ_INT(r->kept_offsets[10], 10); /* greedy: one id per token */
    float logits[512];
    int32_t routes[8 * 6];
    ef_engine_forward_out fo = {logits, 0, routes};
    EF_CHECK_OK(ctx, ef_engine_forward(ctx, s2, prompt, 5, &fo));
    for (int i = 0; i < 10; i++) {
        int32_t t = ef_engine_argmax(logits, 512);
        EF_CHECK_EQ_INT(r->tokens[i], t);
        EF_CHECK_EQ_INT(r->kept_ids[i], t);
        fo.routes = routes;
        EF_CHECK_OK(ctx, ef_engine_forward(ctx, s2, &t, 1, &fo));
        EF_CHECK(memcmp(routes, r->routes + (size_t)(5 + i) * per, sizeof(int32_t) * per) == 0);
    }
    /* a stop id ends it (and the stop token is kept) */
    int32_t stop = r->tokens[3];
    ef_engine_gen_result_free(r);
    r = NULL;
    EF_CHECK_OK(ctx, ef_engine_seq_truncate(ctx, s1, 0));
    go.stop_ids = &stop;
    go.n_stop = 1;
    EF_CHECK_OK(ctx, ef_engine_generate(ctx, s1, prompt, 5, &go, &r));
    if (r) {
        EF_CHECK_EQ_INT(r->finish, EF_ENGINE_FINISH_STOP);
        EF_CHECK(r->n_tokens <= 4 && r->tokens[r->n_tokens - 1] == stop);
        ef_engine_gen_result_free(r);
        r = NULL;
    }
    /* sampling with top-p: kept sets hold the sampled token; the callback stops at 3 */
    int calls = 0;
    EF_CHECK_OK(ctx, ef_engine_seq_truncate(ctx, s1, 0));
    go.n_stop = 0;
    go.sampling = (ef_engine_sampling){0, 1.0, 0.9};
    go.on_token = stop_after_three;
    go.ud = &calls;
    go.feed_last = 0;
    EF_CHECK_OK(ctx, ef_engine_generate(ctx, s1, prompt, 5, &go, &r));
    if (r) {
        EF_CHECK_EQ_INT(r->n_tokens, 3);
        EF_CHECK_EQ_INT(r->finish, EF_ENGINE_FINISH_CALLBACK);
        EF_CHECK_EQ_INT(r->n_routed, 7); /* the last token was not fed */
        for (int i = 0; i < 3; i++) {
            int found = 0;
            for (int64_t k = r->kept_offsets[i]; k < r->kept_offsets[i + 1]; k++)
                found |= r->kept_ids[k] == r->tokens[i];
            EF_CHECK(found && r->kept_offsets[i + 1] > r->kept_offsets[i]);
            EF_CHECK(r->logprobs[i] <= 0);
        }
    }
    /* a context too small for the prompt */
    ef_engine_seq *tiny = NULL;
    EF_CHECK_OK(ctx, ef_engine_seq_new(ctx, m, 3, &tiny));
    ef_engine_gen_result *r2 = NULL;
    EF_CHECK_EQ_INT(ef_engine_generate(ctx, tiny, prompt, 5, NULL, &r2), EF_ELIMIT);
    ef_engine_seq_free(tiny);
done:
    ef_engine_gen_result_free(r);
    ef_engine_seq_free(s1);
    ef_engine_seq_free(s2);
    ef_engine_model_free(m);
    ef_ctx_free(ctx);
}

/* The cpu backend gives the same bits for any thread count (each output element is
 * computed whole by one thread). */
static void test_threads_bit_identical(void)
{
    ef_ctx *ctx = ef_ctx_new();
    int32_t tok[40];
    for (int i = 0; i < 40; i++)
        tok[i] = (i * 97 + 5) % 512;
    float *out[2];
    int threads[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        ef_engine_options o = EF_ENGINE_OPTIONS_INIT;
        o.n_threads = threads[k];
        ef_engine_model *m = NULL;
        ef_engine_seq *s = NULL;
        out[k] = calloc(40 * 512, sizeof(float));
        EF_CHECK_OK(ctx, ef_engine_model_load(ctx, fixture_dir, &o, &m));
        if (m && ef_engine_seq_new(ctx, m, 40, &s) == 0) {
            ef_engine_forward_out fo = {out[k], 1, NULL};
            EF_CHECK_OK(ctx, ef_engine_forward(ctx, s, tok, 40, &fo));
        }
        ef_engine_seq_free(s);
        ef_engine_model_free(m);
    }
    EF_CHECK(memcmp(out[0], out[1], sizeof(float) * 40 * 512) == 0);
    free(out[0]), free(out[1]);
    ef_ctx_free(ctx);
}

/* A synthetic fp8 checkpoint with full and partial 128x128 blocks loads and runs. */
static void test_synth_fp8(void)
{
    ef_ctx *ctx = ef_ctx_new();
    const char *dir = ef_test_tmpdir("engine-synth");
    ef_engine_synth p = EF_ENGINE_SYNTH_INIT;
    p.vocab_size = 300, p.hidden_size = 320, p.n_layers = 2, p.n_heads = 4;
    p.q_lora_rank = 192, p.kv_lora_rank = 256, p.qk_nope_head_dim = 32, p.qk_rope_head_dim = 16;
    p.v_head_dim = 32, p.intermediate_size = 200, p.moe_intermediate_size = 48;
    p.index_n_heads = 4, p.index_head_dim = 64, p.index_topk = 16, p.fp8 = 1;
    EF_CHECK_OK(ctx, ef_engine_synth_write(ctx, dir, &p));
    ef_engine_model *m = NULL;
    ef_engine_seq *s = NULL;
    EF_CHECK_OK(ctx, ef_engine_model_load(ctx, dir, NULL, &m));
    if (m && ef_engine_seq_new(ctx, m, 64, &s) == 0) {
        int32_t tok[40];
        for (int i = 0; i < 40; i++)
            tok[i] = i * 7 % 300;
        float *lg = calloc(300, sizeof(float));
        ef_engine_forward_out fo = {lg, 0, NULL};
        EF_CHECK_OK(ctx, ef_engine_forward(ctx, s, tok, 40, &fo));
        int finite = 1;
        double mx = 0;
        for (int v = 0; v < 300; v++) {
            finite &= isfinite(lg[v]);
            mx = fmax(mx, fabs(lg[v]));
        }
        EF_CHECK(finite && mx > 0);
        free(lg);
    }
    const ef_engine_config *c = m ? ef_engine_model_config(m) : NULL;
    EF_CHECK(c && c->fp8 && c->index_quant_block == 64 && c->kv_quant_block == 128);
    ef_engine_seq_free(s);
    ef_engine_model_free(m);
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    remove(path);
    rmdir(dir);
    ef_ctx_free(ctx);
}

static void test_seq_limits(void)
{
    ef_ctx *ctx = ef_ctx_new();
    ef_engine_model *m = NULL;
    ef_engine_seq *s = NULL;
    EF_CHECK_OK(ctx, ef_engine_model_load(ctx, fixture_dir, NULL, &m));
    if (!m)
        goto done;
    EF_CHECK_OK(ctx, ef_engine_seq_new(ctx, m, 4, &s));
    int32_t tok[5] = {0, 1, 2, 3, 4}, bad = 100000;
    ef_engine_forward_out fo = EF_ENGINE_FORWARD_OUT_INIT;
    EF_CHECK_EQ_INT(ef_engine_forward(ctx, s, tok, 5, &fo), EF_ELIMIT);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "overflow");
    EF_CHECK_EQ_INT(ef_engine_forward(ctx, s, &bad, 1, &fo), EF_EINVAL);
    EF_CHECK_OK(ctx, ef_engine_forward(ctx, s, tok, 3, &fo));
    EF_CHECK_EQ_INT(ef_engine_seq_pos(s), 3);
    EF_CHECK_OK(ctx, ef_engine_seq_truncate(ctx, s, 1));
    EF_CHECK_EQ_INT(ef_engine_seq_truncate(ctx, s, 2), EF_EINVAL);
    EF_CHECK(ef_engine_seq_cache_bytes(s) > 0);
done:
    ef_engine_seq_free(s);
    ef_engine_model_free(m);
    ef_ctx_free(ctx);
}

/* The CLI: `envforge engine logits --all` prints the same logits as the library. */
static void test_cli_logits(void)
{
    const char *bin = getenv("EF_BIN");
    manifest mf;
    if (!bin || access(bin, X_OK) != 0)
        EF_SKIP_CASE("EF_BIN (the envforge binary) not set");
    if (manifest_load(fixture_dir, &mf) < 0)
        EF_SKIP_CASE("fixture missing");
    int n;
    int32_t *tok = prompt_tokens(&mf, 0, &n);
    char cmd[4096];
    int off = snprintf(cmd, sizeof cmd, "'%s' engine logits --model '%s' --all --tokens ", bin,
                       fixture_dir);
    for (int i = 0; i < n; i++)
        off += snprintf(cmd + off, sizeof cmd - (size_t)off, "%s%d", i ? "," : "", tok[i]);
    FILE *p = popen(cmd, "r");
    ef_buf out = EF_BUF_INIT(64 << 20);
    char chunk[65536];
    size_t got;
    while (p && (got = fread(chunk, 1, sizeof chunk, p)) > 0)
        ef_buf_append(&out, chunk, got);
    int status = p ? pclose(p) : -1;
    EF_CHECK_EQ_INT(status, 0);
    cJSON *doc = out.data ? cJSON_Parse(out.data) : NULL;
    EF_CHECK_MSG(doc != NULL, "output is not JSON");
    float *ref = read_f32(fixture_dir, "ref_p0_topk8_prefill.f32", (size_t)n * mf.vocab);
    if (doc && ref) {
        const cJSON *rows = cJSON_GetObjectItem(doc, "logits");
        EF_CHECK_EQ_INT(cJSON_GetArraySize(rows), n);
        float *lg = calloc((size_t)n * mf.vocab, sizeof(float));
        for (int i = 0; i < n && i < cJSON_GetArraySize(rows); i++) {
            const cJSON *row = cJSON_GetArrayItem(rows, i);
            EF_CHECK_EQ_INT(cJSON_GetArraySize(row), mf.vocab);
            for (int v = 0; v < mf.vocab && v < cJSON_GetArraySize(row); v++)
                lg[(size_t)i * mf.vocab + v] = (float)cJSON_GetArrayItem(row, v)->valuedouble;
        }
        check_logits("cli logits --all p0 topk8", ref, lg, (size_t)n * mf.vocab);
        free(lg);
    }
    free(ref);
    free(tok);
    cJSON_Delete(doc);
    ef_buf_free(&out);
    cJSON_Delete(mf.doc);
}

/* Loading a model and running it with the n-th allocation failing, for every n: each
 * failure is reported, nothing leaks (ASan), nothing crashes. */
static void test_model_alloc_failures(void)
{
    ef_ctx *ctx = ef_ctx_new();
    ef_ctx_set_log(ctx, EF_LOG_ERROR, NULL, NULL);
    long runs = 0, failures = 0;
    int32_t tok[12] = {0, 5, 9, 33, 7, 2, 90, 12, 13, 14, 15, 16};
    float logits[512];
    EF_ALLOC_LOOP(n, 5000)
    {
        ef_engine_options o = EF_ENGINE_OPTIONS_INIT;
        o.n_threads = 2;
        ef_engine_model *m = NULL;
        ef_engine_seq *s = NULL;
        int rc = ef_engine_model_load(ctx, fixture_dir, &o, &m);
        if (rc == 0)
            rc = ef_engine_seq_new(ctx, m, 16, &s);
        if (rc == 0) {
            ef_engine_forward_out fo = {logits, 0, NULL};
            rc = ef_engine_forward(ctx, s, tok, 12, &fo);
        }
        if (rc != 0) {
            failures++;
            /* EF_EPARSE: cJSON reports a failed allocation inside a parse as a syntax
             * error, which common/json.c passes on */
            EF_CHECK_MSG((rc == EF_ENOMEM || rc == EF_EPARSE) && ef_errmsg(ctx)[0],
                         "n=%ld: rc %d, '%s'", n, rc, ef_errmsg(ctx));
        }
        else if (ef_alloc_failed_count() > 0 && getenv("EF_VERBOSE"))
            printf("    n=%ld: succeeded despite %ld failed allocations\n", n,
                   ef_alloc_failed_count());
        ef_engine_seq_free(s);
        ef_engine_model_free(m);
        runs = n;
    }
    printf("    %ld runs, %ld failed cleanly\n", runs, failures);
    /* a few late failures are absorbed: ef_pool_for runs the work on the calling thread
     * when it cannot queue jobs, so those runs succeed (with correct results) */
    EF_CHECK(runs > 50 && failures > runs * 9 / 10);
    ef_ctx_free(ctx);
}

static void test_sampling(void)
{
    float logits[6] = {0.1f, 2.0f, 1.9f, -1.0f, 2.0f, 0.0f};
    EF_CHECK_EQ_INT(ef_engine_argmax(logits, 6), 1);
    char scratch[256];
    EF_CHECK(ef_engine_sample_scratch_bytes(6) <= sizeof scratch);
    ef_rng r;
    ef_rng_seed(&r, 1);
    ef_engine_sampling sp = {0, 1.0, 0.01};
    double lp;
    for (int i = 0; i < 20; i++) /* top_p tiny: only the most likely token (1; 4 ties it, id 1 first) */
        EF_CHECK_EQ_INT(ef_engine_sample(logits, 6, &sp, &r, scratch, &lp), 1);
    EF_CHECK_NEAR(lp, 0.0, 1e-9);
    sp.top_p = 1.0;
    int hist[6] = {0};
    for (int i = 0; i < 3000; i++)
        hist[ef_engine_sample(logits, 6, &sp, &r, scratch, &lp)]++;
    EF_CHECK(hist[1] > 600 && hist[4] > 600 && hist[2] > 500 && hist[3] < 150);
    /* the kept set: top-p 0.5 keeps the two tied best tokens (p ~ 0.28 each) */
    int32_t kept[6];
    int n_kept = 0;
    sp.top_p = 0.5;
    int32_t got = ef_engine_sample_kept(logits, 6, &sp, &r, scratch, &lp, kept, &n_kept);
    EF_CHECK_EQ_INT(n_kept, 2);
    EF_CHECK(kept[0] == 1 && kept[1] == 4 && (got == 1 || got == 4));
    EF_CHECK_NEAR(lp, log(0.5), 1e-6);
    sp.top_p = 1.0;
    ef_rng a, b;
    ef_rng_seed(&a, 9);
    ef_rng_seed(&b, 9);
    for (int i = 0; i < 50; i++)
        EF_CHECK(ef_engine_sample(logits, 6, &sp, &a, scratch, NULL) ==
                 ef_engine_sample(logits, 6, &sp, &b, scratch, NULL));
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    snprintf(fixture_dir, sizeof fixture_dir, "%s/tests/fixtures/tiny_model", src_dir());
    EF_RUN(test_fp8_roundtrip);
    EF_RUN(test_config_tiny);
    EF_RUN(test_config_errors);
    EF_RUN(test_config_alloc_failures);
    EF_RUN(test_st_parse_ok);
    EF_RUN(test_st_parse_alloc_failures);
    EF_RUN(test_malformed_corpus);
    EF_RUN(test_ops_compare);
    EF_RUN(test_rope_pairs);
    EF_RUN(test_tiny_vs_torch_cpu);
    EF_RUN(test_tiny_vs_torch_ref);
    EF_RUN(test_tiny_chunked_prefill);
    EF_RUN(test_tiny_fp8);
    EF_RUN(test_tiny_fp8_ue8m0);
    EF_RUN(test_dsa_equals_dense);
    EF_RUN(test_prefill_decode_agree_long);
    EF_RUN(test_generate);
    EF_RUN(test_threads_bit_identical);
    EF_RUN(test_synth_fp8);
    EF_RUN(test_seq_limits);
    EF_RUN(test_model_alloc_failures);
    EF_RUN(test_cli_logits);
    EF_RUN(test_sampling);
    return EF_TEST_END();
}

/*
 * cli/cmd_engine.c — `envforge engine`: generate, logits and bench on the built-in
 * DeepSeek-V3.2 engine; encode and tokenize are handed to cli/cmd_engine_text.c.
 * Arguments are parsed here and the engine library does the work; progress and timing go
 * to stderr, data (text, JSON) to stdout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "common/progress.h"
#include "engine/engine.h"

static const char usage_text[] =
    "usage: envforge engine generate|logits|bench|encode|tokenize ...\n"
    "The built-in DeepSeek-V3.2 (DSA) engine on the CPU.\n"
    "  generate  --model DIR --prompt TEXT [--greedy | --temperature T --top-p P --seed S]\n"
    "  logits    --model DIR --tokens 1,2,3 [--decode | --all]\n"
    "  bench     [--model DIR] [--contexts 1024,...] [--steps N]\n"
    "  encode    FILE.json  (DeepSeek-V3.2 chat encoding)\n"
    "  tokenize  --model DIR TEXT\n"
    "Run `envforge engine SUBCOMMAND --help` for each one's options.\n";

static const char generate_usage[] =
    "usage: envforge engine generate --model DIR --prompt TEXT [options]\n"
    "Tokenizes TEXT (BOS first) with DIR/tokenizer.json and prints the continuation.\n"
    "  --greedy            argmax decoding (the default without --temperature)\n"
    "  --temperature T     sample at temperature T (> 0)\n"
    "  --top-p P           nucleus sampling: keep the smallest set with mass >= P\n"
    "  --seed S            sampling seed (default 0)\n"
    "  --max-tokens N      stop after N new tokens (default 64); EOS stops earlier\n"
    "  --ctx N             context length to allocate (default prompt + max-tokens)\n"
    "  --backend cpu|ref   optimized (default) or reference ops\n"
    "  --threads N         threads for the cpu backend (default: all cores)\n"
    "  --index-topk K      override the config's index_topk\n"
    "  --dense             dense attention instead of DSA\n"
    "  --json              print {tokens, text, logprobs, routes} instead of the text\n";

static const char logits_usage[] =
    "usage: envforge engine logits --model DIR --tokens 1,2,3 [options]\n"
    "Runs the model on the token ids and prints logits as JSON:\n"
    "{\"n_tokens\":N,\"vocab_size\":V,\"positions\":[...],\"logits\":[[...],...]}.\n"
    "Default: one prefill, the last position's logits.\n"
    "  --all               prefill, every position's logits\n"
    "  --decode            feed the tokens one by one (decode path), every position's logits\n"
    "  --backend cpu|ref   --threads N   --index-topk K   --dense   (as for generate)\n";

static const char bench_usage[] =
    "usage: envforge engine bench [options]\n"
    "Decode time per token against context length for DSA and for dense attention on the\n"
    "same weights (a synthetic checkpoint with DeepSeek-V3.2's attention shapes: 128 heads,\n"
    "kv_lora 512, 64 index heads x 128, top-k 2048; caches filled with random entries), then\n"
    "prefill and decode tokens/s of --model. Prints a Markdown table on stdout.\n"
    "  --model DIR         also measure this model (e.g. tests/fixtures/tiny_model)\n"
    "  --contexts LIST     context lengths (default 1024,2048,4096,8192,16384,32768,65536)\n"
    "  --steps N           decode steps timed per point, after one warm-up (default 2)\n"
    "  --threads N         threads (default: all cores)\n"
    "  --no-synthetic      skip the context sweep\n";

typedef struct {
    const char *model, *prompt, *tokens, *backend, *contexts;
    int greedy, have_temp, decode, all, dense, json, no_synth;
    double temperature, top_p;
    uint64_t seed;
    int max_tokens, n_ctx, threads, index_topk, steps;
} args;

static int parse_args(const char *cmd, int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    a->top_p = 1.0, a->max_tokens = 64, a->steps = 2;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int more = i + 1 < argc;
#define VAL() (argv[++i])
        if (strcmp(o, "--model") == 0 && more)
            a->model = VAL();
        else if (strcmp(o, "--prompt") == 0 && more)
            a->prompt = VAL();
        else if (strcmp(o, "--tokens") == 0 && more)
            a->tokens = VAL();
        else if (strcmp(o, "--backend") == 0 && more)
            a->backend = VAL();
        else if (strcmp(o, "--contexts") == 0 && more)
            a->contexts = VAL();
        else if (strcmp(o, "--greedy") == 0)
            a->greedy = 1;
        else if (strcmp(o, "--decode") == 0)
            a->decode = 1;
        else if (strcmp(o, "--all") == 0)
            a->all = 1;
        else if (strcmp(o, "--dense") == 0)
            a->dense = 1;
        else if (strcmp(o, "--json") == 0)
            a->json = 1;
        else if (strcmp(o, "--no-synthetic") == 0)
            a->no_synth = 1;
        else if (strcmp(o, "--temperature") == 0 && more) {
            if (ef_cli_parse_double(cmd, o, VAL(), 0, 1000, &a->temperature) < 0)
                return EF_EXIT_USAGE;
            a->have_temp = 1;
            if (!(a->temperature > 0))
                return ef_cli_usage_error(cmd, "--temperature must be > 0");
        } else if (strcmp(o, "--top-p") == 0 && more) {
            if (ef_cli_parse_double(cmd, o, VAL(), -1e9, 1e9, &a->top_p) < 0)
                return EF_EXIT_USAGE; /* the range is said once, below */
            if (!(a->top_p > 0 && a->top_p <= 1))
                return ef_cli_usage_error(cmd, "--top-p must be in (0, 1]");
        } else if (strcmp(o, "--seed") == 0 && more) {
            if (ef_cli_parse_u64(cmd, o, VAL(), 0, UINT64_MAX, &a->seed) < 0)
                return EF_EXIT_USAGE;
        } else if (strcmp(o, "--max-tokens") == 0 && more) {
            if (ef_cli_parse_i32(cmd, o, VAL(), 0, INT_MAX, &a->max_tokens) < 0)
                return EF_EXIT_USAGE;
        } else if (strcmp(o, "--ctx") == 0 && more) {
            if (ef_cli_parse_i32(cmd, o, VAL(), 0, 1 << 24, &a->n_ctx) < 0)
                return EF_EXIT_USAGE;
        } else if (strcmp(o, "--threads") == 0 && more) {
            if (ef_cli_parse_i32(cmd, o, VAL(), 1, 4096, &a->threads) < 0)
                return EF_EXIT_USAGE;
        } else if (strcmp(o, "--index-topk") == 0 && more) {
            if (ef_cli_parse_i32(cmd, o, VAL(), 0, 1 << 24, &a->index_topk) < 0)
                return EF_EXIT_USAGE;
        } else if (strcmp(o, "--steps") == 0 && more) {
            if (ef_cli_parse_i32(cmd, o, VAL(), 1, 1000000, &a->steps) < 0)
                return EF_EXIT_USAGE;
        }
        else
            return ef_cli_usage_error(cmd, "unknown or incomplete option '%s'", o);
#undef VAL
    }
    if (a->greedy && a->have_temp)
        return ef_cli_usage_error(cmd, "--greedy and --temperature exclude each other");
    return 0;
}

static int fail(ef_ctx *ctx, const char *cmd)
{
    fprintf(stderr, "envforge engine %s: %s\n", cmd, ef_errmsg(ctx));
    return EF_EXIT_FAIL;
}

static int load(ef_ctx *ctx, const args *a, ef_engine_model **m)
{
    ef_engine_options o = EF_ENGINE_OPTIONS_INIT;
    o.backend = a->backend;
    o.n_threads = a->threads;
    o.index_topk = a->index_topk;
    o.attn_mode = a->dense ? EF_ENGINE_ATTN_DENSE : EF_ENGINE_ATTN_DSA;
    return ef_engine_model_load(ctx, a->model, &o, m);
}

/* ---- generate -------------------------------------------------------------------------- */

typedef struct {
    ef_ctx *ctx;
    const ef_tokenizer *tok;
    int32_t *ids; /* generated so far */
    int n, cap;
    size_t printed;
} stream;

/* Prints the text decoded so far beyond what is already out, holding back an incomplete
 * UTF-8 character (the decoder shows it as U+FFFD until the next token completes it). */
static int on_token(void *ud, int32_t token, double logprob)
{
    (void)logprob;
    stream *st = ud;
    if (st->n == st->cap)
        return 0;
    st->ids[st->n++] = token;
    char *text = NULL;
    size_t len = 0;
    if (ef_engine_tok_decode(st->ctx, st->tok, st->ids, (size_t)st->n, EF_TOK_SKIP_SPECIAL, &text,
                             &len) == 0) {
        if (len > st->printed && !(len >= 3 && memcmp(text + len - 3, "\xef\xbf\xbd", 3) == 0)) {
            fwrite(text + st->printed, 1, len - st->printed, stdout);
            fflush(stdout);
            st->printed = len;
        }
        ef_free(text);
    }
    return 0;
}

/* At the end: what on_token held back (an incomplete character stays U+FFFD, as the
 * JSON output shows it). */
static void stream_finish(stream *st)
{
    char *text = NULL;
    size_t len = 0;
    if (st->n > 0 && ef_engine_tok_decode(st->ctx, st->tok, st->ids, (size_t)st->n,
                                          EF_TOK_SKIP_SPECIAL, &text, &len) == 0) {
        if (len > st->printed)
            fwrite(text + st->printed, 1, len - st->printed, stdout);
        ef_free(text);
    }
}

static void print_json(const ef_engine_gen_result *r, const char *text, int per_tok)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *jt = cJSON_AddArrayToObject(o, "tokens");
    cJSON *jl = cJSON_AddArrayToObject(o, "logprobs");
    cJSON *jr = cJSON_AddArrayToObject(o, "routes");
    for (int i = 0; i < r->n_tokens; i++) {
        cJSON_AddItemToArray(jt, cJSON_CreateNumber(r->tokens[i]));
        cJSON_AddItemToArray(jl, cJSON_CreateNumber(r->logprobs[i]));
    }
    for (int p = 0; p < r->n_routed; p++) { /* [token][layer x top-k], prompt first */
        cJSON *row = cJSON_CreateArray();
        for (int e = 0; e < per_tok; e++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber(r->routes[(size_t)p * per_tok + e]));
        cJSON_AddItemToArray(jr, row);
    }
    cJSON_AddNumberToObject(o, "n_prompt_tokens", r->n_prompt);
    static const char *const why[] = {"stop", "length", "callback"};
    cJSON_AddStringToObject(o, "finish_reason", why[r->finish]);
    cJSON_AddStringToObject(o, "text", text);
    char *out = cJSON_PrintUnformatted(o);
    puts(out ? out : "{}");
    cJSON_free(out);
    cJSON_Delete(o);
}

static int generate(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(generate_usage, stdout);
        return EF_EXIT_OK;
    }
    args a;
    int rc = parse_args("engine generate", argc, argv, &a);
    if (rc)
        return rc;
    if (!a.model || !a.prompt)
        return ef_cli_usage_error("engine generate", "--model and --prompt are required");
    ef_ctx *ctx = ef_ctx_new();
    ef_engine_model *m = NULL;
    ef_engine_seq *s = NULL;
    ef_tokenizer *tok = NULL;
    ef_engine_gen_result *r = NULL;
    int32_t *ids = NULL, *prompt = NULL;
    size_t n_ids = 0;
    char *text = NULL;
    stream st = {ctx, NULL, NULL, 0, 0, 0};
    int exit_code = EF_EXIT_FAIL;
    if (load(ctx, &a, &m) < 0 || ef_engine_tok_load(ctx, a.model, &tok) < 0 ||
        ef_engine_tok_encode(ctx, tok, a.prompt, strlen(a.prompt), 0, &ids, &n_ids) < 0)
        goto fail;
    const ef_engine_config *c = ef_engine_model_config(m);
    int n_prompt = (int)n_ids + 1;
    int n_ctx = a.n_ctx > 0 ? a.n_ctx : n_prompt + a.max_tokens;
    prompt = malloc(sizeof(int32_t) * (size_t)n_prompt);
    st.ids = malloc(sizeof(int32_t) * (size_t)(a.max_tokens + 1));
    if (!prompt || !st.ids) {
        ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto fail;
    }
    st.tok = tok;
    st.cap = a.max_tokens + 1;
    prompt[0] = c->bos_token_id;
    memcpy(prompt + 1, ids, sizeof(int32_t) * n_ids);
    if (ef_engine_seq_new(ctx, m, n_ctx, &s) < 0)
        goto fail;
    ef_engine_gen_options go = EF_ENGINE_GEN_OPTIONS_INIT;
    go.max_tokens = a.max_tokens;
    go.sampling.greedy = a.greedy || !a.have_temp;
    go.sampling.temperature = a.temperature;
    go.sampling.top_p = a.top_p;
    go.seed = a.seed;
    int32_t eos = c->eos_token_id;
    go.stop_ids = &eos;
    go.n_stop = 1;
    if (!a.json) {
        go.on_token = on_token;
        go.ud = &st;
    }
    double t0 = ef_now_s();
    if (ef_engine_generate(ctx, s, prompt, n_prompt, &go, &r) < 0)
        goto fail;
    double dt = ef_now_s() - t0;
    if (a.json) {
        size_t len = 0;
        if (ef_engine_tok_decode(ctx, tok, r->tokens, (size_t)r->n_tokens, 0, &text, &len) < 0)
            goto fail;
        print_json(r, text, c->n_layers * c->n_experts_per_tok);
    } else {
        stream_finish(&st);
        putchar('\n');
    }
    fprintf(stderr, "engine: %d prompt + %d new tokens in %.3fs (%.1f tok/s fed), backend %s\n",
            n_prompt, r->n_tokens, dt, (n_prompt + r->n_tokens) / dt,
            ef_engine_model_backend(m));
    exit_code = EF_EXIT_OK;
    goto done;
fail:
    fprintf(stderr, "envforge engine generate: %s\n", ef_errmsg(ctx));
done:
    free(prompt);
    free(st.ids);
    ef_free(text);
    ef_free(ids);
    ef_engine_gen_result_free(r);
    ef_engine_seq_free(s);
    ef_engine_tok_free(tok);
    ef_engine_model_free(m);
    ef_ctx_free(ctx);
    return exit_code;
}

/* ---- logits ------------------------------------------------------------------------------- */

static int parse_tokens(const char *s, int32_t **out, int *n)
{
    int cap = 16, k = 0;
    int32_t *v = malloc(sizeof(int32_t) * (size_t)cap);
    while (v && *s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < 0 || x > 0x7fffffff) {
            free(v);
            return -1;
        }
        if (k == cap) {
            int32_t *nv = realloc(v, sizeof(int32_t) * (size_t)(cap *= 2));
            if (!nv) {
                free(v);
                return -1;
            }
            v = nv;
        }
        v[k++] = (int32_t)x;
        s = end;
        if (*s == ',')
            s++;
        else if (*s) {
            free(v);
            return -1;
        }
    }
    if (!v || k == 0) {
        free(v);
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

static int logits_cmd(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(logits_usage, stdout);
        return EF_EXIT_OK;
    }
    args a;
    int rc = parse_args("engine logits", argc, argv, &a);
    if (rc)
        return rc;
    int32_t *tok = NULL;
    int n = 0;
    if (!a.model || !a.tokens)
        return ef_cli_usage_error("engine logits", "--model and --tokens are required");
    if (parse_tokens(a.tokens, &tok, &n) < 0)
        return ef_cli_usage_error("engine logits", "--tokens must be comma-separated ids");
    ef_ctx *ctx = ef_ctx_new();
    ef_engine_model *m = NULL;
    ef_engine_seq *s = NULL;
    float *lg = NULL;
    int exit_code = EF_EXIT_FAIL;
    if (load(ctx, &a, &m) < 0 || ef_engine_seq_new(ctx, m, n, &s) < 0) {
        fail(ctx, "logits");
        goto done;
    }
    int V = ef_engine_model_config(m)->vocab_size;
    int every = a.decode || a.all, rows = every ? n : 1;
    lg = malloc(sizeof(float) * (size_t)V * (size_t)rows);
    if (!lg)
        goto done;
    ef_engine_forward_out fo = {lg, a.all, NULL};
    if (a.decode) {
        for (int i = 0; i < n; i++) {
            fo.logits = lg + (size_t)i * V;
            if (ef_engine_forward(ctx, s, &tok[i], 1, &fo) < 0) {
                fail(ctx, "logits");
                goto done;
            }
        }
    } else if (ef_engine_forward(ctx, s, tok, n, &fo) < 0) {
        fail(ctx, "logits");
        goto done;
    }
    printf("{\"n_tokens\":%d,\"vocab_size\":%d,\"positions\":[", n, V);
    for (int r = 0; r < rows; r++)
        printf("%s%d", r ? "," : "", every ? r : n - 1);
    printf("],\"logits\":[");
    for (int r = 0; r < rows; r++) {
        printf("%s[", r ? "," : "");
        for (int v = 0; v < V; v++)
            printf("%s%.9g", v ? "," : "", lg[(size_t)r * V + v]);
        printf("]");
    }
    printf("]}\n");
    exit_code = EF_EXIT_OK;
done:
    free(lg);
    free(tok);
    ef_engine_seq_free(s);
    ef_engine_model_free(m);
    ef_ctx_free(ctx);
    return exit_code;
}

/* ---- bench --------------------------------------------------------------------------------- */

static double cpu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Mean wall and CPU (all threads) seconds per decode step at context L (cache filled to
 * L, then steps tokens fed). CPU time is the work done, wall time what a user waits; on a
 * shared machine the first is the steadier figure. */
static int time_decode(ef_ctx *ctx, ef_engine_seq *s, int L, int steps, double *sec,
                       double *cpu_sec)
{
    int rc = ef_engine_seq_truncate(ctx, s, L);
    float *lg = NULL;
    ef_engine_forward_out fo = {lg, 0, NULL};
    int32_t t = 2;
    if (rc < 0)
        return rc;
    if ((rc = ef_engine_forward(ctx, s, &t, 1, &fo)) < 0) /* warm-up */
        return rc;
    double t0 = ef_now_s(), c0 = cpu_now_s();
    for (int i = 0; i < steps; i++)
        if ((rc = ef_engine_forward(ctx, s, &t, 1, &fo)) < 0)
            return rc;
    *sec = (ef_now_s() - t0) / steps;
    *cpu_sec = (cpu_now_s() - c0) / steps;
    return ef_engine_seq_truncate(ctx, s, L);
}

/* "1024,2048,..." into ctxs[0..*n) (at most 32, each 1..16777216); -1 after printing
 * what is wrong with the first bad item. */
static int parse_contexts(const char *list, int *ctxs, int *n)
{
    *n = 0;
    for (const char *p = list; *n < 32;) {
        char item[32];
        size_t len = strcspn(p, ",");
        snprintf(item, sizeof item, "%.*s", (int)EF_MIN(len, sizeof item - 1), p);
        if (ef_cli_parse_i32("engine bench", "--contexts", item, 1, 1 << 24, &ctxs[*n]) < 0)
            return -1;
        (*n)++;
        p += len;
        if (!*p)
            return 0;
        p++;
    }
    fprintf(stderr, "envforge engine bench: --contexts: at most 32 values\n");
    return -1;
}

static int bench_synthetic(ef_ctx *ctx, const args *a)
{
    int ctxs[32], n_ctx = 0, max_l = 0;
    const char *list = a->contexts ? a->contexts : "1024,2048,4096,8192,16384,32768,65536";
    if (parse_contexts(list, ctxs, &n_ctx) < 0)
        return ef_errorf(ctx, EF_EINVAL, "--contexts %s: bad list", list);
    for (int i = 0; i < n_ctx; i++)
        max_l = EF_MAX(max_l, ctxs[i]);
    char dir[] = "/tmp/envforge-bench-XXXXXX";
    if (!mkdtemp(dir))
        return ef_errorf(ctx, EF_EIO, "mkdtemp failed");
    ef_engine_synth sp = EF_ENGINE_SYNTH_INIT;
    ef_engine_model *m = NULL;
    ef_engine_seq *s = NULL;
    int rc;
    fprintf(stderr, "engine bench: writing a synthetic checkpoint in %s\n", dir);
    args la = *a;
    la.model = dir;
    if ((rc = ef_engine_synth_write(ctx, dir, &sp)) < 0 || (rc = load(ctx, &la, &m)) < 0 ||
        (rc = ef_engine_seq_new(ctx, m, max_l + a->steps + 2, &s)) < 0)
        goto cleanup;
    const ef_engine_config *c = ef_engine_model_config(m);
    fprintf(stderr, "engine bench: filling caches for %d tokens\n", max_l);
    if ((rc = ef_engine_seq_fill_random(ctx, s, max_l, 7)) < 0)
        goto cleanup;
    printf("## Decode time per token vs context (synthetic: %d heads, kv_lora %d, rope %d, "
           "%d index heads x %d, top-k %d, hidden %d, %d layer, backend %s)\n\n",
           c->n_heads, c->kv_lora_rank, c->qk_rope_head_dim, c->index_n_heads,
           c->index_head_dim, c->index_topk, c->hidden_size, c->n_layers,
           ef_engine_model_backend(m));
    printf("| context L | DSA ms/token (wall) | dense ms/token (wall) | DSA CPU-ms/token | "
           "dense CPU-ms/token | dense / DSA (CPU) |\n|---:|---:|---:|---:|---:|---:|\n");
    /* Longest context first: the cache is filled once and truncated down point by point. */
    double *dsa = calloc((size_t)n_ctx * 4, sizeof(double));
    double *dense = dsa ? dsa + n_ctx : NULL, *dsa_cpu = dsa ? dsa + 2 * n_ctx : NULL;
    double *dense_cpu = dsa ? dsa + 3 * n_ctx : NULL;
    int *order = calloc((size_t)n_ctx, sizeof(int));
    if (!dsa || !order) {
        free(dsa), free(order);
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (int i = 0; i < n_ctx; i++)
        order[i] = i;
    for (int i = 1; i < n_ctx; i++)
        for (int j = i; j > 0 && ctxs[order[j]] > ctxs[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    ef_progress *pg = ef_progress_new("bench", (uint64_t)n_ctx * 2, "points");
    for (int oi = 0; oi < n_ctx && rc == 0; oi++) {
        int i = order[oi];
        ef_engine_model_set_attn_mode(m, EF_ENGINE_ATTN_DSA);
        if ((rc = time_decode(ctx, s, ctxs[i], a->steps, &dsa[i], &dsa_cpu[i])) < 0)
            break;
        ef_progress_add(pg, 1);
        ef_engine_model_set_attn_mode(m, EF_ENGINE_ATTN_DENSE);
        if ((rc = time_decode(ctx, s, ctxs[i], a->steps, &dense[i], &dense_cpu[i])) < 0)
            break;
        ef_progress_add(pg, 1);
    }
    ef_progress_finish(pg);
    for (int i = 0; i < n_ctx && rc == 0; i++)
        printf("| %d | %.1f | %.1f | %.1f | %.1f | %.2f |\n", ctxs[i], dsa[i] * 1e3,
               dense[i] * 1e3, dsa_cpu[i] * 1e3, dense_cpu[i] * 1e3, dense_cpu[i] / dsa_cpu[i]);
    /* Whole sequences: decoding tokens 1..L costs the integral of the per-token time,
     * estimated by the trapezoid rule over the measured points (from L = 0 at the first
     * point's cost): quadratic in L for dense, nearly linear for DSA. Needs the points in
     * increasing order, as given by default. */
    int increasing = rc == 0;
    for (int i = 1; i < n_ctx; i++)
        increasing &= ctxs[i] > ctxs[i - 1];
    if (increasing) {
        printf("\n| sequence of L tokens | DSA CPU-s (est.) | dense CPU-s (est.) | dense / DSA |\n"
               "|---:|---:|---:|---:|\n");
        double sd = 0, sn = 0, pl = 0, pd = dsa_cpu[0], pn = dense_cpu[0];
        for (int i = 0; i < n_ctx; i++) {
            double w = ctxs[i] - pl;
            sd += w * (pd + dsa_cpu[i]) / 2, sn += w * (pn + dense_cpu[i]) / 2;
            pl = ctxs[i], pd = dsa_cpu[i], pn = dense_cpu[i];
            printf("| %d | %.1f | %.1f | %.2f |\n", ctxs[i], sd, sn, sn / sd);
        }
    }
    free(dsa), free(order);
    if (rc < 0)
        goto cleanup;
    printf("\nPer token, dense attention reads all L cached latents for each of the %d heads "
           "(O(L) per token, O(L^2) per sequence); DSA scores L keys with the cheap fp8 indexer "
           "(%d heads x %d) and attends to %d of them (O(L) indexer + O(k) attention).\n",
           c->n_heads, c->index_n_heads, c->index_head_dim, c->index_topk);
cleanup:
    ef_engine_seq_free(s);
    ef_engine_model_free(m);
    char path[128];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
    return rc;
}

static int bench_model(ef_ctx *ctx, const args *a)
{
    ef_engine_model *m = NULL;
    ef_engine_seq *s = NULL;
    int rc, n_prefill = 64, n_decode = 128;
    if ((rc = load(ctx, a, &m)) < 0 ||
        (rc = ef_engine_seq_new(ctx, m, n_prefill + n_decode, &s)) < 0)
        goto cleanup;
    const ef_engine_config *c = ef_engine_model_config(m);
    int32_t tok[64];
    for (int i = 0; i < n_prefill; i++)
        tok[i] = (int32_t)((i * 7 + 3) % c->vocab_size);
    float *lg = malloc(sizeof(float) * (size_t)c->vocab_size);
    ef_engine_forward_out fo = {lg, 0, NULL};
    double t0 = ef_now_s();
    if (!lg || (rc = ef_engine_forward(ctx, s, tok, n_prefill, &fo)) < 0) {
        free(lg);
        goto cleanup;
    }
    double t1 = ef_now_s();
    for (int i = 0; i < n_decode && rc == 0; i++) {
        int32_t next = ef_engine_argmax(lg, c->vocab_size);
        rc = ef_engine_forward(ctx, s, &next, 1, &fo);
    }
    double t2 = ef_now_s();
    free(lg);
    if (rc < 0)
        goto cleanup;
    printf("\n## %s (backend %s)\n\n| phase | tokens | seconds | tokens/s |\n|---|---:|---:|---:|\n"
           "| prefill | %d | %.4f | %.0f |\n| decode (greedy) | %d | %.4f | %.0f |\n",
           a->model, ef_engine_model_backend(m), n_prefill, t1 - t0, n_prefill / (t1 - t0),
           n_decode, t2 - t1, n_decode / (t2 - t1));
cleanup:
    ef_engine_seq_free(s);
    ef_engine_model_free(m);
    return rc;
}

static int bench(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(bench_usage, stdout);
        return EF_EXIT_OK;
    }
    args a;
    int rc = parse_args("engine bench", argc, argv, &a);
    if (rc)
        return rc;
    int ctxs[32], n_ctx = 0;
    if (a.contexts && parse_contexts(a.contexts, ctxs, &n_ctx) < 0)
        return EF_EXIT_USAGE;
    if (a.no_synth && !a.model)
        return ef_cli_usage_error("engine bench",
                                  "--no-synthetic without --model leaves nothing to time");
    ef_ctx *ctx = ef_ctx_new();
    if (!a.no_synth && bench_synthetic(ctx, &a) < 0) {
        rc = fail(ctx, "bench");
    } else if (a.model && bench_model(ctx, &a) < 0) {
        rc = fail(ctx, "bench");
    }
    ef_ctx_free(ctx);
    return rc;
}

int ef_cli_engine(int argc, char **argv)
{
    if (argc < 2 || (ef_cli_wants_help(argc, argv) && argc == 2)) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? EF_EXIT_USAGE : EF_EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "generate") == 0)
        return generate(argc - 1, argv + 1);
    if (strcmp(sub, "logits") == 0)
        return logits_cmd(argc - 1, argv + 1);
    if (strcmp(sub, "bench") == 0)
        return bench(argc - 1, argv + 1);
    if (strcmp(sub, "encode") == 0)
        return ef_cli_engine_encode(argc - 1, argv + 1);
    if (strcmp(sub, "tokenize") == 0)
        return ef_cli_engine_tokenize(argc - 1, argv + 1);
    return ef_cli_usage_error("engine", "unknown subcommand '%s' (generate, logits, bench, "
                              "encode, tokenize)", sub);
}

/*
 * engine/serve.h — the engine as a shared generation service: a batch scheduler that
 * steps many sequences together (engine/batch.c), the runtime that bundles a loaded
 * model folder (model, tokenizer, scheduler, constrained-decoding trie), and the
 * OpenAI-compatible HTTP server on it (engine/server*.c, `envforge serve`).
 *
 * Overview
 *   ef_engine_batch owns one engine thread. Callers on any thread submit generation
 *   requests (prompt ids, ef_sample_params, seed, stop ids, max tokens, optionally an
 *   ef_constrain grammar) and wait on their handle; the engine thread admits up to
 *   max_batch requests at a time and, on every step, prefills the newly admitted ones and
 *   runs one decode step for each running one (the forward of one model is not
 *   re-entrant, so the steps of a batch run back to back on that thread, each with the
 *   model's own worker threads), samples, and appends to each request's output: token
 *   ids, log-probs, kept sets (CSR) and MoE routes of every generated token. A request's
 *   tokens depend only on its prompt, parameters and seed, never on what else is in the
 *   batch: each sequence has its own caches and its own ef_rng seeded with `seed`.
 *
 *   ef_engine_rt loads DIR once (config.json, safetensors, tokenizer.json) for both the
 *   server and the agent's `engine:DIR` backend, so that the two give identical streams.
 *
 * Example
 *   ef_engine_rt *rt;
 *   ef_rt_options ro = EF_RT_OPTIONS_INIT;
 *   if (ef_engine_rt_open(ctx, "tests/fixtures/tiny_model", &ro, &rt) < 0) ...;
 *   ef_gen_request rq = EF_GEN_REQUEST_INIT;
 *   rq.prompt = ids; rq.n_prompt = n; rq.seed = 7; rq.max_tokens = 32;
 *   ef_gen_handle *h;
 *   ef_engine_batch_run(ctx, ef_engine_rt_batch(rt), &rq, &h);   // submit + wait
 *   const ef_gen_output *o = ef_engine_batch_output(h);
 *   ... o->tokens[0 .. o->n_tokens) ...
 *   ef_engine_batch_release(ef_engine_rt_batch(rt), h);
 *   ef_engine_rt_free(rt);
 */
#ifndef EF_ENGINE_SERVE_H
#define EF_ENGINE_SERVE_H

#include <signal.h>
#include <stdint.h>
#include "engine/engine.h"
#include "engine/sample.h"
#include "engine/constrain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults shared by `envforge serve` and the engine:DIR backend (so that a request that
 * leaves a field out means the same on both). */
#define EF_SERVE_DEFAULT_MAX_TOKENS 1024
#define EF_SERVE_DEFAULT_TEMPERATURE 1.0
#define EF_SERVE_DEFAULT_TOP_P 1.0
/* Request seeds are taken modulo 2^53 (JSON numbers hold them exactly). */
#define EF_SERVE_SEED_MASK ((1ull << 53) - 1)

/* ---- the batch scheduler (batch.c) -------------------------------------------------- */

#define EF_GEN_REQUEST_VERSION 1
typedef struct {
    int version;
    const int32_t *prompt; /* copied at submit */
    int n_prompt;
    ef_sample_params sampling;
    uint64_t seed;
    int max_tokens;
    const int32_t *stop_ids; /* copied; generation ends after one (it is kept in the output) */
    int n_stop;
    ef_constrain *constrain; /* optional; the caller's, used by the engine thread until done */
    int keep_kept;           /* record kept sets */
    int keep_routes;         /* record MoE routes (one more forward for the last token) */
} ef_gen_request;
#define EF_GEN_REQUEST_INIT                                                                        \
    {                                                                                              \
        EF_GEN_REQUEST_VERSION, NULL, 0, EF_SAMPLE_PARAMS_INIT, 0, 16, NULL, 0, NULL, 1, 1         \
    }

typedef enum {
    EF_GEN_STOP = 0,
    EF_GEN_LENGTH = 1,
    EF_GEN_CANCELLED = 2,
    EF_GEN_ERROR = 3
} ef_gen_finish;

typedef struct {
    int n_prompt;
    int n_tokens; /* tokens[0 .. n_tokens) may be read while running */
    int32_t *tokens;
    float *logprobs;
    int32_t *kept_ids;       /* CSR; an empty set means the whole vocabulary */
    int64_t *kept_offsets;   /* n_tokens + 1 */
    uint16_t *routes;        /* n_tokens x route_layers x route_topk; 0xffff in dense layers */
    uint16_t *prompt_routes; /* n_prompt x route_layers x route_topk (keep_routes) */
    int route_layers, route_topk;
    int n_routed; /* tokens with routes (n_tokens once done, when keep_routes) */
    ef_gen_finish finish;
    char error[256];
} ef_gen_output;

#define EF_BATCH_OPTIONS_VERSION 1
typedef struct {
    int version;
    int max_batch; /* sequences stepped together (default 32) */
    int max_ctx;   /* prompt + new tokens per sequence (default 65536) */
} ef_batch_options;
#define EF_BATCH_OPTIONS_INIT                                                                      \
    {                                                                                              \
        EF_BATCH_OPTIONS_VERSION, 32, 65536                                                        \
    }

typedef struct ef_engine_batch ef_engine_batch;
typedef struct ef_gen_handle ef_gen_handle;

typedef struct {
    int64_t n_steps, n_tokens, n_prefill_tokens, n_requests, max_active;
} ef_batch_stats;

/* Starts the engine thread on m (borrowed; must outlive the batch). *out: ef_engine_batch_free. */
int ef_engine_batch_new(ef_ctx *ctx, ef_engine_model *m, const ef_batch_options *opts,
                        ef_engine_batch **out);
/* Cancels what is pending or running, joins the thread. Handles must be released first. */
void ef_engine_batch_free(ef_engine_batch *b);
int ef_engine_batch_submit(ef_ctx *ctx, ef_engine_batch *b, const ef_gen_request *req,
                           ef_gen_handle **out);
/* Waits until the request has more than `have` tokens or ended; returns the token count
 * and sets *done. */
int ef_engine_batch_wait(ef_engine_batch *b, ef_gen_handle *h, int have, int *done);
void ef_engine_batch_cancel(ef_engine_batch *b, ef_gen_handle *h);
/* Cancels every pending and running request (shutdown after a grace period). */
void ef_engine_batch_cancel_all(ef_engine_batch *b);
/* Borrowed; every field is final once the request ended. */
const ef_gen_output *ef_engine_batch_output(const ef_gen_handle *h);
/* Cancels if still running, waits for the engine thread to let go, frees. Accepts NULL. */
void ef_engine_batch_release(ef_engine_batch *b, ef_gen_handle *h);
/* Submit and wait for the end. An EF_GEN_ERROR output returns < 0 with its message. */
int ef_engine_batch_run(ef_ctx *ctx, ef_engine_batch *b, const ef_gen_request *req,
                        ef_gen_handle **out);
void ef_engine_batch_get_stats(ef_engine_batch *b, ef_batch_stats *out);

/* ---- the runtime: one loaded model folder (runtime.c in serve_rt.c) ------------------------- */

#define EF_RT_OPTIONS_VERSION 1
typedef struct {
    int version;
    const char *backend; /* engine backend: "cpu" (default) or "ref" */
    int n_threads;       /* 0: one per core */
    int max_batch;       /* default 32 */
    int max_ctx;         /* default 65536 */
} ef_rt_options;
#define EF_RT_OPTIONS_INIT                                                                         \
    {                                                                                              \
        EF_RT_OPTIONS_VERSION, NULL, 0, 32, 65536                                                  \
    }

typedef struct ef_engine_rt ef_engine_rt;

int ef_engine_rt_open(ef_ctx *ctx, const char *dir, const ef_rt_options *opts, ef_engine_rt **out);
void ef_engine_rt_free(ef_engine_rt *rt);
ef_engine_batch *ef_engine_rt_batch(ef_engine_rt *rt);
const ef_tokenizer *ef_engine_rt_tok(const ef_engine_rt *rt);
const ef_engine_config *ef_engine_rt_config(const ef_engine_rt *rt);
/* The longest sequence (prompt + new tokens) a request may ask for. */
int ef_engine_rt_max_ctx(const ef_engine_rt *rt);
/* The constrained-decoding trie, built on first use (thread-safe). */
int ef_engine_rt_vocab(ef_ctx *ctx, ef_engine_rt *rt, const ef_constrain_vocab **out);
int32_t ef_engine_rt_eos(const ef_engine_rt *rt);

/* The text of generated ids: every token's bytes, EOS left out when skip_special. *out: ef_free. */
int ef_engine_rt_detok(ef_ctx *ctx, const ef_engine_rt *rt, const int32_t *ids, int n,
                       int skip_special, char **out, size_t *len);

/* ---- the HTTP server (server*.c) ------------------------------------------------------ */

#define EF_SERVER_OPTIONS_VERSION 1
typedef struct {
    int version;
    const char *host;        /* default "127.0.0.1" */
    int port;                /* 0: any free port (ef_engine_server_port tells) */
    const char *served_name; /* the model id in /v1/models (default: DIR's base name) */
    int max_conns;           /* connections served at once; more get 503 (default 64) */
    size_t max_body_bytes;   /* request body cap, 413 past it (default 8 MiB) */
    int max_tokens_cap;      /* largest max_tokens accepted (default 32768) */
    int thinking;            /* chat default: thinking mode (1) */
    int idle_timeout_ms;     /* keep-alive connections idle longer are closed (30000) */
} ef_server_options;
#define EF_SERVER_OPTIONS_INIT                                                                     \
    {                                                                                              \
        EF_SERVER_OPTIONS_VERSION, NULL, 0, NULL, 64, (size_t)8 << 20, 32768, 1, 30000             \
    }

typedef struct ef_engine_server ef_engine_server;

/* Binds host:port for rt (borrowed; must outlive the server). */
int ef_engine_server_new(ef_ctx *ctx, ef_engine_rt *rt, const char *model_dir,
                         const ef_server_options *opts, ef_engine_server **out);
int ef_engine_server_port(const ef_engine_server *s);
/* Serves until *stop becomes non-zero (a signal handler sets it); then stops accepting,
 * lets requests in flight finish (or cancels them after a grace period) and returns 0. */
int ef_engine_server_run(ef_ctx *ctx, ef_engine_server *s, const volatile sig_atomic_t *stop);
void ef_engine_server_free(ef_engine_server *s);

#ifdef __cplusplus
}
#endif
#endif /* EF_ENGINE_SERVE_H */

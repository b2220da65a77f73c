/*
 * agent/model_engine.c — the `engine:DIR` backend: the built-in DeepSeek-V3.2 engine on a
 * Hugging Face folder (config.json, safetensors, tokenizer.json), through the engine's
 * batch scheduler (engine/serve.h), so the decode steps of the runner's concurrent
 * episodes run together on one engine thread.
 *
 * A call renders the conversation with the chat encoder and tokenizes it (extending the
 * episode's ids from the second turn on, agent/chat_tokens.c), submits the prompt with
 * the request's sampling and seed, waits, and returns the sampled ids with their
 * log-probs, the kept top-p/top-k set of every sampled token (an empty set: the whole
 * vocabulary) and the MoE routes of every position (prompt and sampled), so RL data is
 * exact. The text is decoded and parsed into reasoning, content and DSML tool calls.
 *
 * Defaults and seeds follow `envforge serve` (EF_SERVE_*: temperature 1, top-p 1, seed
 * modulo 2^53 as a JSON number carries it, max tokens), so `engine:DIR` and `http://…/v1` with
 * --tokenizer DIR against `envforge serve --model DIR` give the same token streams for the same run
 * seed.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include "agent/agent_int.h"
#include "engine/encoding.h"
#include "engine/serve.h"

typedef struct {
    ef_engine_rt *rt;
    ef_tokenizer *own_tok; /* a --tokenizer other than DIR's */
    ef_agent__chat_tok ct;
} engine_model;

static int copy_results(ef_ctx *ctx, const ef_gen_output *g, size_t n_prompt,
                        ef_model_response *out)
{
    size_t n = (size_t)g->n_tokens;
    out->token_ids = ef_malloc((n ? n : 1) * sizeof(int32_t));
    out->logprobs = ef_malloc((n ? n : 1) * sizeof(float));
    if (!out->token_ids || !out->logprobs)
        return ef_errorf(ctx, EF_ENOMEM, "engine: out of memory");
    memcpy(out->token_ids, g->tokens, n * sizeof(int32_t));
    memcpy(out->logprobs, g->logprobs, n * sizeof(float));
    out->n_tokens = n;
    if (g->kept_offsets) {
        size_t n_kept = (size_t)g->kept_offsets[n];
        out->topp_offsets = ef_malloc((n + 1) * sizeof(int32_t));
        out->topp_ids = ef_malloc((n_kept ? n_kept : 1) * sizeof(int32_t));
        if (!out->topp_offsets || !out->topp_ids)
            return ef_errorf(ctx, EF_ENOMEM, "engine: out of memory");
        for (size_t i = 0; i <= n; i++)
            out->topp_offsets[i] = (int32_t)g->kept_offsets[i];
        if (n_kept)
            memcpy(out->topp_ids, g->kept_ids, n_kept * sizeof(int32_t));
    }
    size_t per = (size_t)g->route_layers * (size_t)g->route_topk;
    if (g->routes && g->prompt_routes && per) {
        size_t n_pos = n_prompt + n;
        out->routes = ef_malloc((n_pos ? n_pos : 1) * per * sizeof(uint16_t));
        if (!out->routes)
            return ef_errorf(ctx, EF_ENOMEM, "engine: out of memory");
        memcpy(out->routes, g->prompt_routes, n_prompt * per * sizeof(uint16_t));
        for (size_t i = 0; i < n * per; i++)
            out->routes[n_prompt * per + i] =
                i < (size_t)g->n_routed * per ? g->routes[i] : (uint16_t)0xFFFF;
        out->route_layers = g->route_layers;
        out->route_topk = g->route_topk;
    }
    return 0;
}

/* The seed as `envforge serve` receives it from the http backend: modulo 2^53 and through
 * cJSON's number printing, which writes 15 significant digits whenever they read back
 * within a relative DBL_EPSILON, so seeds past 10^15 can arrive off by one. The same
 * trip here keeps the two backends' streams identical. */
static uint64_t wire_seed(uint64_t seed)
{
    seed &= EF_SERVE_SEED_MASK;
    cJSON *x = cJSON_CreateNumber((double)seed);
    char *text = x ? cJSON_PrintUnformatted(x) : NULL;
    cJSON_Delete(x);
    if (!text)
        return seed;
    uint64_t back = (uint64_t)strtod(text, NULL) & EF_SERVE_SEED_MASK;
    cJSON_free(text);
    return back;
}

static int engine_complete(ef_model *m, ef_ctx *ctx, const ef_model_request *req,
                           ef_model_response *out)
{
    engine_model *e = m->impl;
    ef_engine_batch *b = ef_engine_rt_batch(e->rt);
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    ef_gen_handle *h = NULL;
    char *text = NULL;
    size_t text_len = 0;
    int rc = ef_agent__chat_prompt_ids(ctx, &e->ct, req, &prompt, &n_prompt);
    if (rc < 0)
        return rc;
    uint64_t t0 = ef_now_ns();
    ef_gen_request rq = EF_GEN_REQUEST_INIT;
    rq.prompt = prompt;
    rq.n_prompt = (int)n_prompt;
    rq.max_tokens = (int)(req->sampling.max_tokens > 0 ? req->sampling.max_tokens
                                                       : EF_SERVE_DEFAULT_MAX_TOKENS);
    rq.sampling.temperature =
        req->sampling.temperature >= 0 ? req->sampling.temperature : EF_SERVE_DEFAULT_TEMPERATURE;
    rq.sampling.top_p = req->sampling.top_p > 0 ? req->sampling.top_p : EF_SERVE_DEFAULT_TOP_P;
    rq.seed = wire_seed(req->seed);
    rq.stop_ids = &e->ct.eos_id;
    rq.n_stop = e->ct.eos_id >= 0;
    rq.keep_kept = 1;
    rq.keep_routes = 1;
    if ((rc = ef_engine_batch_run(ctx, b, &rq, &h)) < 0) {
        rc = ef_error_wrap(ctx, rc, "model %s", m->name);
        goto cleanup;
    }
    const ef_gen_output *g = ef_engine_batch_output(h);
    if ((rc = copy_results(ctx, g, n_prompt, out)) < 0)
        goto cleanup;
    /* the text without the stop token */
    size_t n_text = out->n_tokens;
    if (n_text && out->token_ids[n_text - 1] == e->ct.eos_id)
        n_text--;
    if ((rc = ef_engine_tok_decode(ctx, e->ct.tok, out->token_ids, n_text, 0, &text, &text_len)) <
        0)
        goto cleanup;
    if ((rc = ef_agent__chat_parse(ctx, &e->ct, text, text_len, &out->message)) < 0)
        goto cleanup;
    out->prompt_ids = prompt;
    out->n_prompt_ids = n_prompt;
    prompt = NULL;
    out->prompt_tokens = (int64_t)out->n_prompt_ids;
    out->completion_tokens = (int64_t)out->n_tokens;
    out->finish_reason = ef_strdup(g->finish == EF_GEN_LENGTH ? "length" : "stop");
    out->latency_ms = (int64_t)((ef_now_ns() - t0) / 1000000);
    out->n_attempts = 1;
    if (!out->finish_reason)
        rc = ef_errorf(ctx, EF_ENOMEM, "engine: out of memory");
cleanup:
    ef_engine_batch_release(b, h);
    ef_free(prompt);
    ef_free(text);
    return rc;
}

static void engine_free(ef_model *m)
{
    engine_model *e = m->impl;
    if (!e)
        return;
    ef_engine_rt_free(e->rt);
    ef_engine_tok_free(e->own_tok);
    ef_free(e);
}

static const ef_model_iface engine_iface = {"engine", engine_complete, engine_free, NULL};

int ef_agent__model_engine_open(ef_ctx *ctx, const char *dir, const ef_model_options *opts,
                                ef_model **out)
{
    ef_model *m = ef_calloc(1, sizeof(*m));
    engine_model *e = ef_calloc(1, sizeof(*e));
    int rc;
    if (!m || !e) {
        ef_free(m);
        ef_free(e);
        return ef_errorf(ctx, EF_ENOMEM, "engine: out of memory");
    }
    m->iface = &engine_iface;
    m->impl = e;
    if (!(m->name = ef_asprintf("engine:%s", dir))) {
        rc = ef_errorf(ctx, EF_ENOMEM, "engine: out of memory");
        goto fail;
    }
    ef_rt_options ro = EF_RT_OPTIONS_INIT;
    if ((rc = ef_engine_rt_open(ctx, dir, &ro, &e->rt)) < 0 ||
        (opts->tokenizer_path &&
         (rc = ef_engine_tok_load(ctx, opts->tokenizer_path, &e->own_tok)) < 0)) {
        rc = ef_error_wrap(ctx, rc, "model engine:%s", dir);
        goto fail;
    }
    e->ct.tok = e->own_tok ? e->own_tok : ef_engine_rt_tok(e->rt);
    e->ct.eos_id = ef_engine_tok_token_id(e->ct.tok, EF_DSV32_EOS);
    e->ct.thinking = opts->thinking;
    *out = m;
    return 0;
fail:
    ef_model_free(m);
    return rc;
}

/*
 * agent/model_engine.c — the `engine:DIR` backend: the built-in DeepSeek-V3.2 engine
 * (engine/engine.h) on a Hugging Face folder (config.json, safetensors, tokenizer.json).
 *
 * A call renders the conversation with the chat encoder and tokenizes it (extending the
 * episode's ids from the second turn on, agent/chat_tokens.c), runs ef_engine_generate
 * on a fresh sequence, and returns the sampled ids with their log-probs, the kept top-p
 * set of every sampled token and the MoE routes of every position, so RL data is exact.
 * The text is decoded and parsed into reasoning, content and DSML tool calls.
 *
 * Threads: the engine already uses every core for one forward pass, so calls are
 * serialized on a mutex; workers wait their turn.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include "agent/agent_int.h"
#include "engine/encoding.h"
#include "engine/engine.h"

typedef struct {
    ef_engine_model *model;
    ef_tokenizer *tok;
    ef_agent__chat_tok ct;
    int64_t default_max_tokens;
    pthread_mutex_t mu;
} engine_model;

static int copy_results(ef_ctx *ctx, const ef_engine_gen_result *g, const ef_engine_config *cfg,
                        size_t n_prompt, ef_model_response *out)
{
    size_t n = (size_t)g->n_tokens;
    out->token_ids = ef_malloc((n ? n : 1) * sizeof(int32_t));
    out->logprobs = ef_malloc((n ? n : 1) * sizeof(float));
    if (!out->token_ids || !out->logprobs)
        return ef_errorf(ctx, EF_ENOMEM, "engine: out of memory");
    for (size_t i = 0; i < n; i++) {
        out->token_ids[i] = g->tokens[i];
        out->logprobs[i] = (float)g->logprobs[i];
    }
    out->n_tokens = n;
    if (g->kept_offsets && g->kept_ids) {
        size_t n_kept = (size_t)g->kept_offsets[n];
        out->topp_offsets = ef_malloc((n + 1) * sizeof(int32_t));
        out->topp_ids = ef_malloc((n_kept ? n_kept : 1) * sizeof(int32_t));
        if (!out->topp_offsets || !out->topp_ids)
            return ef_errorf(ctx, EF_ENOMEM, "engine: out of memory");
        for (size_t i = 0; i <= n; i++)
            out->topp_offsets[i] = (int32_t)g->kept_offsets[i];
        memcpy(out->topp_ids, g->kept_ids, n_kept * sizeof(int32_t));
    }
    int64_t layers = cfg->n_layers, topk = cfg->n_experts_per_tok;
    if (g->routes && layers > 0 && topk > 0 && (size_t)g->n_routed >= n_prompt) {
        /* routes of the prompt positions and of the sampled tokens (the last one too when
         * it was fed); a position without routes (the last token, not fed) gets 0xFFFF,
         * as dense layers do (-1) */
        size_t per = (size_t)(layers * topk), n_pos = n_prompt + n;
        out->routes = ef_malloc((n_pos ? n_pos : 1) * per * sizeof(uint16_t));
        if (!out->routes)
            return ef_errorf(ctx, EF_ENOMEM, "engine: out of memory");
        for (size_t i = 0; i < n_pos * per; i++)
            out->routes[i] = i < (size_t)g->n_routed * per ? (uint16_t)g->routes[i] : 0xFFFF;
        out->route_layers = layers;
        out->route_topk = topk;
    }
    return 0;
}

static int engine_complete(ef_model *m, ef_ctx *ctx, const ef_model_request *req,
                           ef_model_response *out)
{
    engine_model *e = m->impl;
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    ef_engine_seq *seq = NULL;
    ef_engine_gen_result *g = NULL;
    char *text = NULL;
    size_t text_len = 0;
    int rc = ef_agent__chat_prompt_ids(ctx, &e->ct, req, &prompt, &n_prompt);
    if (rc < 0)
        return rc;
    uint64_t t0 = ef_now_ns();
    int64_t max_new =
        req->sampling.max_tokens > 0 ? req->sampling.max_tokens : e->default_max_tokens;
    ef_engine_gen_options go = EF_ENGINE_GEN_OPTIONS_INIT;
    go.max_tokens = (int)max_new;
    go.sampling.greedy = req->sampling.temperature == 0;
    go.sampling.temperature = req->sampling.temperature > 0 ? req->sampling.temperature : 1.0;
    go.sampling.top_p = req->sampling.top_p > 0 ? req->sampling.top_p : 1.0;
    go.seed = req->seed;
    go.stop_ids = &e->ct.eos_id;
    go.n_stop = e->ct.eos_id >= 0;
    go.keep_sets = 1;
    pthread_mutex_lock(&e->mu);
    rc = ef_engine_seq_new(ctx, e->model, (int)(n_prompt + (size_t)max_new + 1), &seq);
    if (rc == 0)
        rc = ef_engine_generate(ctx, seq, prompt, (int)n_prompt, &go, &g);
    ef_engine_seq_free(seq);
    pthread_mutex_unlock(&e->mu);
    if (rc < 0)
        goto cleanup;
    if ((rc = copy_results(ctx, g, ef_engine_model_config(e->model), n_prompt, out)) < 0)
        goto cleanup;
    /* the text without the stop token */
    size_t n_text = out->n_tokens;
    if (n_text && out->token_ids[n_text - 1] == e->ct.eos_id)
        n_text--;
    if ((rc = ef_engine_tok_decode(ctx, e->tok, out->token_ids, n_text, 0, &text, &text_len)) < 0)
        goto cleanup;
    if ((rc = ef_agent__chat_parse(ctx, &e->ct, text, text_len, &out->message)) < 0)
        goto cleanup;
    out->prompt_ids = prompt;
    out->n_prompt_ids = n_prompt;
    prompt = NULL;
    out->prompt_tokens = (int64_t)out->n_prompt_ids;
    out->completion_tokens = (int64_t)out->n_tokens;
    out->finish_reason = ef_strdup(g->finish == EF_ENGINE_FINISH_LENGTH ? "length" : "stop");
    out->latency_ms = (int64_t)((ef_now_ns() - t0) / 1000000);
    out->n_attempts = 1;
    if (!out->finish_reason)
        rc = ef_errorf(ctx, EF_ENOMEM, "engine: out of memory");
cleanup:
    ef_engine_gen_result_free(g);
    ef_free(prompt);
    ef_free(text);
    return rc;
}

static void engine_free(ef_model *m)
{
    engine_model *e = m->impl;
    if (!e)
        return;
    ef_engine_model_free(e->model);
    ef_engine_tok_free(e->tok);
    pthread_mutex_destroy(&e->mu);
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
    pthread_mutex_init(&e->mu, NULL);
    m->iface = &engine_iface;
    m->impl = e;
    e->default_max_tokens = 1024;
    if (!(m->name = ef_asprintf("engine:%s", dir))) {
        rc = ef_errorf(ctx, EF_ENOMEM, "engine: out of memory");
        goto fail;
    }
    if ((rc = ef_engine_model_load(ctx, dir, NULL, &e->model)) < 0 ||
        (rc = ef_engine_tok_load(ctx, opts->tokenizer_path ? opts->tokenizer_path : dir, &e->tok)) <
            0) {
        rc = ef_error_wrap(ctx, rc, "model engine:%s", dir);
        goto fail;
    }
    e->ct.tok = e->tok;
    e->ct.eos_id = ef_engine_tok_token_id(e->tok, EF_DSV32_EOS);
    e->ct.thinking = opts->thinking;
    *out = m;
    return 0;
fail:
    ef_model_free(m);
    return rc;
}

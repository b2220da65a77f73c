/*
 * engine/serve_rt.c — the runtime behind `envforge serve` and the engine:DIR agent
 * backend (engine/serve.h): one model folder loaded once (model, tokenizer, batch
 * scheduler), the constrained-decoding trie built on first use, and the text of
 * generated ids.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "engine/serve.h"

struct ef_engine_rt {
    ef_engine_model *model;
    ef_tokenizer *tok;
    ef_engine_batch *batch;
    ef_constrain_vocab *vocab;
    pthread_mutex_t mu;
    int32_t eos;
    int max_ctx; /* prompt + new tokens per sequence, as the batch enforces it */
};

int ef_engine_rt_open(ef_ctx *ctx, const char *dir, const ef_rt_options *opts, ef_engine_rt **out)
{
    ef_rt_options def = EF_RT_OPTIONS_INIT;
    if (!opts)
        opts = &def;
    ef_engine_rt *rt = ef_calloc(1, sizeof(*rt));
    if (!rt)
        return ef_errorf(ctx, EF_ENOMEM, "engine %s: out of memory", dir);
    pthread_mutex_init(&rt->mu, NULL);
    ef_engine_options eo = EF_ENGINE_OPTIONS_INIT;
    eo.backend = opts->backend;
    eo.n_threads = opts->n_threads;
    int rc = ef_engine_model_load(ctx, dir, &eo, &rt->model);
    if (rc == 0)
        rc = ef_engine_tok_load(ctx, dir, &rt->tok);
    if (rc == 0) {
        ef_batch_options bo = EF_BATCH_OPTIONS_INIT;
        if (opts->max_batch > 0)
            bo.max_batch = opts->max_batch;
        if (opts->max_ctx > 0)
            bo.max_ctx = opts->max_ctx;
        rt->max_ctx = bo.max_ctx;
        rc = ef_engine_batch_new(ctx, rt->model, &bo, &rt->batch);
    }
    if (rc < 0) {
        ef_engine_rt_free(rt);
        return rc;
    }
    rt->eos = ef_engine_tok_token_id(rt->tok, EF_DSV32_EOS);
    if (rt->eos < 0)
        rt->eos = ef_engine_model_config(rt->model)->eos_token_id;
    *out = rt;
    return 0;
}

void ef_engine_rt_free(ef_engine_rt *rt)
{
    if (!rt)
        return;
    ef_engine_batch_free(rt->batch);
    ef_engine_constrain_vocab_free(rt->vocab);
    ef_engine_tok_free(rt->tok);
    ef_engine_model_free(rt->model);
    pthread_mutex_destroy(&rt->mu);
    ef_free(rt);
}

ef_engine_batch *ef_engine_rt_batch(ef_engine_rt *rt)
{
    return rt->batch;
}

const ef_tokenizer *ef_engine_rt_tok(const ef_engine_rt *rt)
{
    return rt->tok;
}

int ef_engine_rt_max_ctx(const ef_engine_rt *rt)
{
    return rt->max_ctx;
}

const ef_engine_config *ef_engine_rt_config(const ef_engine_rt *rt)
{
    return ef_engine_model_config(rt->model);
}

int32_t ef_engine_rt_eos(const ef_engine_rt *rt)
{
    return rt->eos;
}

int ef_engine_rt_vocab(ef_ctx *ctx, ef_engine_rt *rt, const ef_constrain_vocab **out)
{
    int rc = 0;
    pthread_mutex_lock(&rt->mu);
    if (!rt->vocab)
        rc = ef_engine_constrain_vocab_new(ctx, rt->tok, &rt->vocab);
    pthread_mutex_unlock(&rt->mu);
    if (rc == 0)
        *out = rt->vocab;
    return rc;
}

int ef_engine_rt_detok(ef_ctx *ctx, const ef_engine_rt *rt, const int32_t *ids, int n,
                       int skip_special, char **out, size_t *len)
{
    ef_buf b = EF_BUF_INIT((size_t)256 << 20);
    int rc = ef_buf_append(&b, "", 0);
    for (int i = 0; rc == 0 && i < n; i++) {
        if (skip_special && ef_engine_tok_is_special(rt->tok, ids[i]))
            continue;
        const char *bytes;
        size_t bl;
        if (ef_engine_tok_token_bytes(rt->tok, ids[i], &bytes, &bl) < 0) {
            const char *t = ef_engine_tok_token_text(rt->tok, ids[i]);
            if (!t) {
                ef_buf_free(&b);
                return ef_errorf(ctx, EF_EINVAL, "detokenize: id %d is not in the vocabulary",
                                 ids[i]);
            }
            bytes = t;
            bl = strlen(t);
        }
        rc = ef_buf_append(&b, bytes, bl);
    }
    if (rc < 0) {
        ef_buf_free(&b);
        return ef_errorf(ctx, rc, "detokenize: %s", ef_strerror(rc));
    }
    if (len)
        *len = b.len;
    *out = ef_buf_detach(&b);
    return 0;
}

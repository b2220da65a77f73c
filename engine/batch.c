/*
 * engine/batch.c — the batch scheduler (engine/serve.h): one engine thread that admits
 * submitted requests into a running set of at most max_batch sequences and steps them
 * together: a prefill for each newly admitted one, then one decode step for each running
 * one, sampling with the request's own seeded ef_rng, sampler parameters and optional
 * grammar. Outputs are written under the batch lock into arrays sized at submit, so a
 * waiter may read tokens[0 .. n_tokens) while the request runs (streaming).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/serve.h"

struct ef_gen_handle {
    ef_gen_request req;
    int32_t *prompt, *stop;
    ef_gen_output out;
    size_t cap_kept;
    /* engine thread state */
    ef_engine_seq *seq;
    ef_rng rng;
    int32_t *history; /* prompt + tokens (repetition penalty) */
    int fed;          /* 1 once the prompt was prefilled */
    int ending;       /* the last token is sampled; feed it for its routes, then end */
    int done, released, active;
    atomic_int cancel; /* read by the engine thread between steps without the lock */
    struct ef_gen_handle *next;
};

struct ef_engine_batch {
    ef_engine_model *m;
    ef_batch_options o;
    const ef_engine_config *cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    int stopping, started;
    ef_gen_handle *pending_head, *pending_tail;
    ef_gen_handle **active;
    int n_active;
    ef_engine_sampler *sampler;
    float *logits;
    int32_t *routes_tmp;
    size_t routes_tmp_n;
    ef_ctx *ctx;
    ef_batch_stats stats;
};

static void finish(ef_engine_batch *b, ef_gen_handle *h, ef_gen_finish why, const char *msg)
{
    pthread_mutex_lock(&b->mu);
    h->out.finish = why;
    if (msg)
        snprintf(h->out.error, sizeof h->out.error, "%s", msg);
    h->done = 1;
    pthread_cond_broadcast(&b->done_cv);
    pthread_mutex_unlock(&b->mu);
}

static int route_slot(ef_engine_batch *b, int n_tokens)
{
    size_t per = (size_t)b->cfg->n_layers * (size_t)b->cfg->n_experts_per_tok;
    size_t need = per * (size_t)(n_tokens > 0 ? n_tokens : 1);
    if (need > b->routes_tmp_n) {
        int32_t *r = ef_realloc(b->routes_tmp, need * sizeof(*r));
        if (!r)
            return EF_ENOMEM;
        b->routes_tmp = r;
        b->routes_tmp_n = need;
    }
    return 0;
}

static void store_routes(ef_engine_batch *b, ef_gen_handle *h, int tok_idx, const int32_t *r)
{
    size_t per = (size_t)h->out.route_layers * (size_t)h->out.route_topk;
    for (size_t i = 0; i < per; i++)
        h->out.routes[(size_t)tok_idx * per + i] = r[i] < 0 ? 0xffff : (uint16_t)r[i];
    h->out.n_routed = tok_idx + 1;
    (void)b;
}

static int is_stop(const ef_gen_handle *h, int32_t t)
{
    for (int i = 0; i < h->req.n_stop; i++)
        if (h->stop[i] == t)
            return 1;
    return 0;
}

/* One step of one sequence: feed what is due, then sample the next token. */
static void step_one(ef_engine_batch *b, ef_gen_handle *h)
{
    ef_ctx *ctx = b->ctx;
    int rc;
    ef_engine_forward_out fo = EF_ENGINE_FORWARD_OUT_INIT;
    fo.logits = b->logits;
    if (!h->fed) {
        if ((rc = route_slot(b, h->req.n_prompt)) < 0) {
            finish(b, h, EF_GEN_ERROR, "out of memory");
            return;
        }
        fo.routes = b->routes_tmp;
        rc = ef_engine_forward(ctx, h->seq, h->prompt, h->req.n_prompt, &fo);
        b->stats.n_prefill_tokens += h->req.n_prompt;
        if (rc == 0 && h->out.prompt_routes) {
            size_t n =
                (size_t)h->req.n_prompt * (size_t)h->out.route_layers * (size_t)h->out.route_topk;
            for (size_t i = 0; i < n; i++)
                h->out.prompt_routes[i] =
                    b->routes_tmp[i] < 0 ? 0xffff : (uint16_t)b->routes_tmp[i];
        }
        h->fed = 1;
    } else {
        int n = h->out.n_tokens;
        int32_t last = h->out.tokens[n - 1];
        if ((rc = route_slot(b, 1)) < 0) {
            finish(b, h, EF_GEN_ERROR, "out of memory");
            return;
        }
        fo.routes = b->routes_tmp;
        rc = ef_engine_forward(ctx, h->seq, &last, 1, &fo);
        if (rc == 0 && h->req.keep_routes)
            store_routes(b, h, n - 1, b->routes_tmp);
    }
    if (rc < 0) {
        finish(b, h, EF_GEN_ERROR, ef_errmsg(ctx));
        return;
    }
    if (h->ending) {
        finish(b, h, h->ending == 1 ? EF_GEN_STOP : EF_GEN_LENGTH, NULL);
        return;
    }
    const int32_t *allowed = NULL;
    int n_allowed = -1;
    if (h->req.constrain &&
        (rc = ef_engine_constrain_allowed(ctx, h->req.constrain, &allowed, &n_allowed)) < 0) {
        finish(b, h, EF_GEN_ERROR, ef_errmsg(ctx));
        return;
    }
    ef_sample_result sr;
    int n = h->out.n_tokens;
    rc = ef_engine_sampler_sample(b->sampler, b->logits, &h->req.sampling, allowed, n_allowed,
                                  h->history, (size_t)(h->req.n_prompt + n), &h->rng, &sr);
    if (rc < 0) {
        finish(b, h, EF_GEN_ERROR, "sampling: no token has a finite logit");
        return;
    }
    if (h->req.constrain &&
        (rc = ef_engine_constrain_accept(ctx, h->req.constrain, sr.token)) < 0) {
        finish(b, h, EF_GEN_ERROR, ef_errmsg(ctx));
        return;
    }
    /* kept set */
    int64_t base = h->out.kept_offsets ? h->out.kept_offsets[n] : 0;
    if (h->req.keep_kept) {
        if ((size_t)base + (size_t)sr.n_kept > h->cap_kept) {
            size_t cap = EF_MAX(h->cap_kept * 2, (size_t)base + (size_t)sr.n_kept + 64);
            pthread_mutex_lock(&b->mu);
            int32_t *k = ef_realloc(h->out.kept_ids, cap * sizeof(*k));
            if (k) {
                h->out.kept_ids = k;
                h->cap_kept = cap;
            }
            pthread_mutex_unlock(&b->mu);
            if (!k) {
                finish(b, h, EF_GEN_ERROR, "out of memory (kept sets)");
                return;
            }
        }
        memcpy(h->out.kept_ids + base, sr.kept, (size_t)sr.n_kept * sizeof(int32_t));
    }
    h->history[h->req.n_prompt + n] = sr.token;
    pthread_mutex_lock(&b->mu);
    h->out.tokens[n] = sr.token;
    h->out.logprobs[n] = (float)sr.logprob;
    if (h->req.keep_kept)
        h->out.kept_offsets[n + 1] = base + sr.n_kept;
    h->out.n_tokens = n + 1;
    pthread_cond_broadcast(&b->done_cv);
    pthread_mutex_unlock(&b->mu);
    b->stats.n_tokens++;
    int end = is_stop(h, sr.token) ? 1 : h->out.n_tokens >= h->req.max_tokens ? 2 : 0;
    if (end) {
        if (h->req.keep_routes)
            h->ending = end; /* one more forward for the last token's routes */
        else
            finish(b, h, end == 1 ? EF_GEN_STOP : EF_GEN_LENGTH, NULL);
    }
}

static void *engine_main(void *arg)
{
    ef_engine_batch *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        /* drop finished and cancelled sequences */
        int k = 0;
        for (int i = 0; i < b->n_active; i++) {
            ef_gen_handle *h = b->active[i];
            if (h->cancel && !h->done) {
                h->out.finish = EF_GEN_CANCELLED;
                h->done = 1;
                pthread_cond_broadcast(&b->done_cv);
            }
            if (h->done) {
                ef_engine_seq_free(h->seq);
                h->seq = NULL;
                h->active = 0;
                pthread_cond_broadcast(&b->done_cv);
                continue;
            }
            b->active[k++] = h;
        }
        b->n_active = k;
        while (!b->stopping && b->n_active == 0 && !b->pending_head)
            pthread_cond_wait(&b->work_cv, &b->mu);
        if (b->stopping) {
            for (int i = 0; i < b->n_active; i++) {
                ef_gen_handle *h = b->active[i];
                ef_engine_seq_free(h->seq);
                h->seq = NULL;
                h->active = 0;
                if (!h->done) {
                    h->out.finish = EF_GEN_CANCELLED;
                    h->done = 1;
                }
            }
            b->n_active = 0;
            for (ef_gen_handle *h = b->pending_head; h; h = h->next) {
                h->out.finish = EF_GEN_CANCELLED;
                h->done = 1;
            }
            b->pending_head = b->pending_tail = NULL;
            pthread_cond_broadcast(&b->done_cv);
            pthread_mutex_unlock(&b->mu);
            return NULL;
        }
        while (b->pending_head && b->n_active < b->o.max_batch) {
            ef_gen_handle *h = b->pending_head;
            b->pending_head = h->next;
            if (!b->pending_head)
                b->pending_tail = NULL;
            h->next = NULL;
            if (h->cancel) {
                h->out.finish = EF_GEN_CANCELLED;
                h->done = 1;
                pthread_cond_broadcast(&b->done_cv);
                continue;
            }
            h->active = 1;
            b->active[b->n_active++] = h;
        }
        if (b->n_active > b->stats.max_active)
            b->stats.max_active = b->n_active;
        int n = b->n_active;
        pthread_mutex_unlock(&b->mu);
        /* sequences are only added or removed by this thread: the list is stable here */
        for (int i = 0; i < n; i++) {
            ef_gen_handle *h = b->active[i];
            if (h->done || h->cancel)
                continue;
            if (!h->seq) {
                int cap = h->req.n_prompt + h->req.max_tokens + 2;
                if (ef_engine_seq_new(b->ctx, b->m, cap, &h->seq) < 0) {
                    finish(b, h, EF_GEN_ERROR, ef_errmsg(b->ctx));
                    continue;
                }
            }
            step_one(b, h);
        }
        b->stats.n_steps++;
    }
}

int ef_engine_batch_new(ef_ctx *ctx, ef_engine_model *m, const ef_batch_options *opts,
                        ef_engine_batch **out)
{
    ef_batch_options def = EF_BATCH_OPTIONS_INIT;
    ef_engine_batch *b = ef_calloc(1, sizeof(*b));
    if (!b)
        return ef_errorf(ctx, EF_ENOMEM, "batch: out of memory");
    b->m = m;
    b->o = opts ? *opts : def;
    if (b->o.max_batch <= 0)
        b->o.max_batch = def.max_batch;
    if (b->o.max_ctx <= 0)
        b->o.max_ctx = def.max_ctx;
    b->cfg = ef_engine_model_config(m);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->work_cv, NULL);
    pthread_cond_init(&b->done_cv, NULL);
    b->active = ef_calloc((size_t)b->o.max_batch, sizeof(*b->active));
    b->logits = ef_malloc(sizeof(float) * (size_t)b->cfg->vocab_size);
    b->ctx = ef_ctx_new();
    int rc = b->active && b->logits && b->ctx ? 0 : EF_ENOMEM;
    if (rc == 0)
        rc = ef_engine_sampler_new(ctx, b->cfg->vocab_size, &b->sampler);
    if (rc == 0 && pthread_create(&b->thread, NULL, engine_main, b) != 0)
        rc = EF_ERROR;
    if (rc < 0) {
        ef_engine_batch_free(b);
        return ef_errorf(ctx, rc, "batch: cannot start the engine thread (%s)", ef_strerror(rc));
    }
    b->started = 1;
    *out = b;
    return 0;
}

void ef_engine_batch_free(ef_engine_batch *b)
{
    if (!b)
        return;
    if (b->started) {
        pthread_mutex_lock(&b->mu);
        b->stopping = 1;
        pthread_cond_broadcast(&b->work_cv);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->thread, NULL);
    }
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->work_cv);
    pthread_cond_destroy(&b->done_cv);
    ef_engine_sampler_free(b->sampler);
    ef_free(b->active);
    ef_free(b->logits);
    ef_free(b->routes_tmp);
    ef_ctx_free(b->ctx);
    ef_free(b);
}

static void handle_free(ef_gen_handle *h)
{
    if (!h)
        return;
    ef_free(h->prompt);
    ef_free(h->stop);
    ef_free(h->history);
    ef_free(h->out.tokens);
    ef_free(h->out.logprobs);
    ef_free(h->out.kept_ids);
    ef_free(h->out.kept_offsets);
    ef_free(h->out.routes);
    ef_free(h->out.prompt_routes);
    ef_free(h);
}

int ef_engine_batch_submit(ef_ctx *ctx, ef_engine_batch *b, const ef_gen_request *req,
                           ef_gen_handle **out)
{
    int rc;
    if (req->n_prompt <= 0)
        return ef_errorf(ctx, EF_EINVAL, "generate: empty prompt");
    if (req->max_tokens <= 0)
        return ef_errorf(ctx, EF_EINVAL, "generate: max_tokens %d must be positive",
                         req->max_tokens);
    if ((rc = ef_engine_sample_params_check(ctx, &req->sampling)) < 0)
        return rc;
    if ((int64_t)req->n_prompt + req->max_tokens + 2 > b->o.max_ctx)
        return ef_errorf(ctx, EF_ELIMIT,
                         "generate: prompt of %d tokens + max_tokens %d passes the context "
                         "limit of %d",
                         req->n_prompt, req->max_tokens, b->o.max_ctx);
    for (int i = 0; i < req->n_prompt; i++)
        if (req->prompt[i] < 0 || req->prompt[i] >= b->cfg->vocab_size)
            return ef_errorf(ctx, EF_EINVAL,
                             "generate: prompt[%d] = %d outside the vocabulary "
                             "of %d",
                             i, req->prompt[i], b->cfg->vocab_size);
    ef_gen_handle *h = ef_calloc(1, sizeof(*h));
    if (!h)
        return ef_errorf(ctx, EF_ENOMEM, "generate: out of memory");
    h->req = *req;
    size_t nt = (size_t)req->max_tokens;
    h->prompt = ef_malloc(sizeof(int32_t) * (size_t)req->n_prompt);
    h->stop = ef_malloc(sizeof(int32_t) * (size_t)(req->n_stop > 0 ? req->n_stop : 1));
    h->history = ef_malloc(sizeof(int32_t) * ((size_t)req->n_prompt + nt));
    h->out.tokens = ef_malloc(sizeof(int32_t) * nt);
    h->out.logprobs = ef_malloc(sizeof(float) * nt);
    h->out.route_layers = b->cfg->n_layers;
    h->out.route_topk = b->cfg->n_experts_per_tok;
    if (req->keep_kept)
        h->out.kept_offsets = ef_calloc(nt + 1, sizeof(int64_t));
    if (req->keep_routes) {
        size_t per = (size_t)b->cfg->n_layers * (size_t)b->cfg->n_experts_per_tok;
        h->out.routes = ef_malloc(sizeof(uint16_t) * nt * per);
        h->out.prompt_routes = ef_malloc(sizeof(uint16_t) * (size_t)req->n_prompt * per);
    }
    if (!h->prompt || !h->stop || !h->history || !h->out.tokens || !h->out.logprobs ||
        (req->keep_kept && !h->out.kept_offsets) ||
        (req->keep_routes && (!h->out.routes || !h->out.prompt_routes))) {
        handle_free(h);
        return ef_errorf(ctx, EF_ENOMEM, "generate: out of memory");
    }
    memcpy(h->prompt, req->prompt, sizeof(int32_t) * (size_t)req->n_prompt);
    memcpy(h->history, req->prompt, sizeof(int32_t) * (size_t)req->n_prompt);
    if (req->n_stop > 0)
        memcpy(h->stop, req->stop_ids, sizeof(int32_t) * (size_t)req->n_stop);
    h->req.prompt = h->prompt;
    h->req.stop_ids = h->stop;
    h->out.n_prompt = req->n_prompt;
    ef_rng_seed(&h->rng, req->seed);
    pthread_mutex_lock(&b->mu);
    if (b->stopping) {
        pthread_mutex_unlock(&b->mu);
        handle_free(h);
        return ef_errorf(ctx, EF_EINTR, "generate: the engine is shutting down");
    }
    if (b->pending_tail)
        b->pending_tail->next = h;
    else
        b->pending_head = h;
    b->pending_tail = h;
    b->stats.n_requests++;
    pthread_cond_signal(&b->work_cv);
    pthread_mutex_unlock(&b->mu);
    *out = h;
    return 0;
}

int ef_engine_batch_wait(ef_engine_batch *b, ef_gen_handle *h, int have, int *done)
{
    pthread_mutex_lock(&b->mu);
    while (!h->done && h->out.n_tokens <= have)
        pthread_cond_wait(&b->done_cv, &b->mu);
    int n = h->out.n_tokens;
    *done = h->done;
    pthread_mutex_unlock(&b->mu);
    return n;
}

void ef_engine_batch_cancel(ef_engine_batch *b, ef_gen_handle *h)
{
    pthread_mutex_lock(&b->mu);
    h->cancel = 1;
    pthread_cond_signal(&b->work_cv);
    pthread_mutex_unlock(&b->mu);
}

const ef_gen_output *ef_engine_batch_output(const ef_gen_handle *h)
{
    return &h->out;
}

void ef_engine_batch_release(ef_engine_batch *b, ef_gen_handle *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&b->mu);
    h->cancel = 1;
    pthread_cond_signal(&b->work_cv);
    /* wait until the engine thread no longer holds it (done and out of the active set) */
    while (!h->done || h->active)
        pthread_cond_wait(&b->done_cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    handle_free(h);
}

int ef_engine_batch_run(ef_ctx *ctx, ef_engine_batch *b, const ef_gen_request *req,
                        ef_gen_handle **out)
{
    ef_gen_handle *h;
    int rc = ef_engine_batch_submit(ctx, b, req, &h);
    if (rc < 0)
        return rc;
    int done = 0;
    while (!done)
        ef_engine_batch_wait(b, h, h->out.n_tokens, &done);
    if (h->out.finish == EF_GEN_ERROR || h->out.finish == EF_GEN_CANCELLED) {
        rc = ef_errorf(ctx, h->out.finish == EF_GEN_ERROR ? EF_ERROR : EF_EINTR, "generate: %s",
                       h->out.finish == EF_GEN_ERROR ? h->out.error : "cancelled");
        ef_engine_batch_release(b, h);
        return rc;
    }
    *out = h;
    return 0;
}

void ef_engine_batch_get_stats(ef_engine_batch *b, ef_batch_stats *out)
{
    pthread_mutex_lock(&b->mu);
    *out = b->stats;
    pthread_mutex_unlock(&b->mu);
}

void ef_engine_batch_cancel_all(ef_engine_batch *b)
{
    pthread_mutex_lock(&b->mu);
    for (ef_gen_handle *h = b->pending_head; h; h = h->next)
        h->cancel = 1;
    for (int i = 0; i < b->n_active; i++)
        b->active[i]->cancel = 1;
    pthread_cond_signal(&b->work_cv);
    pthread_mutex_unlock(&b->mu);
}

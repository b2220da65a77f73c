/*
 * engine/model_generate.c — the generation loop over one sequence: prefill the prompt,
 * then sample and feed token by token, recording what RL trainers replay (the sampled
 * tokens, their log-probabilities, the kept top-p sets as CSR, the MoE routes of every
 * fed token) and why generation ended.
 */
#include <string.h>
#include "engine/engine_int.h"

void ef_engine_gen_result_free(ef_engine_gen_result *r)
{
    if (!r)
        return;
    ef_free(r->tokens);
    ef_free(r->logprobs);
    ef_free(r->kept_ids);
    ef_free(r->kept_offsets);
    ef_free(r->routes);
    ef_free(r);
}

static int is_stop(const ef_engine_gen_options *o, int32_t t)
{
    for (int i = 0; i < o->n_stop; i++)
        if (o->stop_ids[i] == t)
            return 1;
    return 0;
}

int ef_engine_generate(ef_ctx *ctx, ef_engine_seq *s, const int32_t *prompt, int n_prompt,
                       const ef_engine_gen_options *opts, ef_engine_gen_result **out)
{
    const ef_engine_config *c = &s->m->cfg;
    ef_engine_gen_options o = EF_ENGINE_GEN_OPTIONS_INIT;
    ef_engine_gen_result *r = NULL;
    float *logits = NULL;
    void *scratch = NULL;
    int32_t *kept = NULL;
    int rc;
    if (opts) {
        if (opts->version != EF_ENGINE_GEN_VERSION)
            return ef_errorf(ctx, EF_EINVAL, "ef_engine_gen_options.version %d, expected %d",
                             opts->version, EF_ENGINE_GEN_VERSION);
        o = *opts;
    }
    if (n_prompt < 1 || o.max_tokens < 0)
        return ef_errorf(ctx, EF_EINVAL, "generate: need a prompt and max_tokens >= 0");
    int V = c->vocab_size, room = s->n_ctx - s->pos - n_prompt;
    if (room < 0)
        return ef_errorf(ctx, EF_ELIMIT, "generate: a %d-token prompt at position %d overflows "
                         "the %d-token context", n_prompt, s->pos, s->n_ctx);
    int max_new = EF_MIN(o.max_tokens, room + 1); /* the last one need not fit when not fed */
    size_t per_tok = (size_t)c->n_layers * c->n_experts_per_tok;
    r = ef_calloc(1, sizeof *r);
    if (!r)
        return ef_errorf(ctx, EF_ENOMEM, "out of memory");
    r->n_prompt = n_prompt;
    r->tokens = ef_malloc(sizeof(int32_t) * (size_t)(max_new + 1));
    r->logprobs = ef_malloc(sizeof(double) * (size_t)(max_new + 1));
    r->routes = ef_malloc(sizeof(int32_t) * per_tok * (size_t)(n_prompt + max_new + 1));
    r->kept_offsets = o.keep_sets ? ef_calloc((size_t)max_new + 2, sizeof(int64_t)) : NULL;
    logits = ef_malloc(sizeof(float) * (size_t)V);
    scratch = ef_malloc(ef_engine_sample_scratch_bytes(V));
    kept = o.keep_sets ? ef_malloc(sizeof(int32_t) * (size_t)V) : NULL;
    if (!r->tokens || !r->logprobs || !r->routes || !logits || !scratch ||
        (o.keep_sets && (!r->kept_offsets || !kept))) {
        rc = ef_errorf(ctx, EF_ENOMEM, "generate: out of memory");
        goto cleanup;
    }
    ef_rng rng;
    ef_rng_seed(&rng, o.seed);
    ef_engine_forward_out fo = {logits, 0, r->routes};
    if ((rc = ef_engine_forward(ctx, s, prompt, n_prompt, &fo)) < 0)
        goto cleanup;
    r->n_routed = n_prompt;
    r->finish = EF_ENGINE_FINISH_LENGTH;
    size_t kept_cap = 0;
    while (r->n_tokens < max_new) {
        int n_kept = 0;
        double lp = 0;
        int32_t t = ef_engine_sample_kept(logits, V, &o.sampling, &rng, scratch, &lp,
                                          kept, o.keep_sets ? &n_kept : NULL);
        int i = r->n_tokens++;
        r->tokens[i] = t;
        r->logprobs[i] = lp;
        if (o.keep_sets) {
            size_t need = (size_t)r->kept_offsets[i] + (size_t)n_kept;
            if (need > kept_cap) {
                size_t cap = EF_MAX(need, kept_cap * 2 + 64);
                int32_t *ni = ef_realloc(r->kept_ids, sizeof(int32_t) * cap);
                if (!ni) {
                    rc = ef_errorf(ctx, EF_ENOMEM, "generate: out of memory");
                    goto cleanup;
                }
                r->kept_ids = ni;
                kept_cap = cap;
            }
            memcpy(r->kept_ids + r->kept_offsets[i], kept, sizeof(int32_t) * (size_t)n_kept);
            r->kept_offsets[i + 1] = r->kept_offsets[i] + n_kept;
        }
        int stop = is_stop(&o, t), cb = o.on_token && o.on_token(o.ud, t, lp);
        int last = stop || cb || r->n_tokens == max_new;
        if (stop)
            r->finish = EF_ENGINE_FINISH_STOP;
        else if (cb)
            r->finish = EF_ENGINE_FINISH_CALLBACK;
        if (last && (!o.feed_last || s->pos >= s->n_ctx))
            break;
        fo.logits = last ? NULL : logits;
        fo.routes = r->routes + per_tok * (size_t)r->n_routed;
        if ((rc = ef_engine_forward(ctx, s, &t, 1, &fo)) < 0)
            goto cleanup;
        r->n_routed++;
        if (last)
            break;
    }
    *out = r;
    r = NULL;
    rc = 0;
cleanup:
    ef_engine_gen_result_free(r);
    ef_free(logits);
    ef_free(scratch);
    ef_free(kept);
    return rc;
}

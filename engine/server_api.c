/*
 * engine/server_api.c — the OpenAI-compatible endpoints of `envforge serve`:
 *   GET  /health, /v1/models
 *   POST /v1/completions       prompt as text or token ids; logprobs; vLLM's
 *                              return_token_ids / return_tokens_as_token_ids; streaming
 *   POST /v1/chat/completions  messages + tools rendered by the DeepSeek-V3.2 encoder,
 *                              tool_choice (none/auto/required/named: required and named
 *                              use constrained decoding), reasoning_content, DSML tool
 *                              calls parsed into tool_calls, logprobs, streaming
 * Both take temperature, top_p, top_k, min_p, repetition_penalty, seed, max_tokens
 * (max_completion_tokens) and the extensions return_routed_experts / return_kept_sets
 * (the RL replay data of every generated token).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine/server_int.h"

typedef struct {
    ef_sample_params sp;
    uint64_t seed;
    int max_tokens;
    int stream, include_usage;
    int logprobs; /* completions: N alternatives (-1: none); chat: 0/1 */
    int ignore_eos, skip_special, ids_as_tokens, return_ids, routes, kept;
} gen_params;

static const cJSON *item(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int num_field(ef_http_conn *c, const cJSON *body, const char *k, double lo, double hi,
                     double *v)
{
    const cJSON *x = item(body, k);
    if (!x || cJSON_IsNull(x))
        return 0;
    if (!cJSON_IsNumber(x) || !(x->valuedouble >= lo && x->valuedouble <= hi)) {
        ef_engine__http_error(c, 400, "invalid_request_error", "%s must be a number in [%g, %g]", k,
                              lo, hi);
        return -1;
    }
    *v = x->valuedouble;
    return 1;
}

/* Request fields this server does not implement: refused with 400 when they would change
 * the result (a client that sends stop strings must not get text past them silently),
 * accepted at their no-op values. And the model: the served id, or "default". */
static int refuse_unsupported(ef_engine_server *s, ef_http_conn *c, const cJSON *body)
{
    const cJSON *m = item(body, "model");
    if (cJSON_IsString(m) && strcmp(m->valuestring, s->name) != 0 &&
        strcmp(m->valuestring, "default") != 0) {
        ef_engine__http_error(c, 404, "not_found_error",
                              "the model '%.100s' does not exist here (this server serves '%s')",
                              m->valuestring, s->name);
        return -1;
    }
    const cJSON *x = item(body, "stop");
    if ((cJSON_IsString(x) && x->valuestring[0]) || (cJSON_IsArray(x) && cJSON_GetArraySize(x) > 0)) {
        ef_engine__http_error(c, 400, "invalid_request_error",
                              "'stop' strings are not supported by envforge serve (generation "
                              "ends at the model's end-of-sequence token or max_tokens)");
        return -1;
    }
    static const char *const zero_only[] = {"presence_penalty", "frequency_penalty"};
    for (size_t i = 0; i < EF_ARRAY_LEN(zero_only); i++) {
        x = item(body, zero_only[i]);
        if (cJSON_IsNumber(x) && x->valuedouble != 0) {
            ef_engine__http_error(c, 400, "invalid_request_error",
                                  "'%s' is not supported by envforge serve (use "
                                  "repetition_penalty)",
                                  zero_only[i]);
            return -1;
        }
    }
    x = item(body, "logit_bias");
    if (cJSON_IsObject(x) && x->child) {
        ef_engine__http_error(c, 400, "invalid_request_error",
                              "'logit_bias' is not supported by envforge serve");
        return -1;
    }
    if (cJSON_IsTrue(item(body, "echo"))) {
        ef_engine__http_error(c, 400, "invalid_request_error",
                              "'echo' is not supported by envforge serve");
        return -1;
    }
    x = item(body, "best_of");
    if (cJSON_IsNumber(x) && x->valuedouble != 1) {
        ef_engine__http_error(c, 400, "invalid_request_error",
                              "'best_of' other than 1 is not supported by envforge serve");
        return -1;
    }
    x = item(body, "top_logprobs");
    if (cJSON_IsNumber(x) && x->valuedouble != 0) {
        ef_engine__http_error(c, 400, "invalid_request_error",
                              "'top_logprobs' alternatives are not supported by envforge serve "
                              "(logprobs gives the chosen token's)");
        return -1;
    }
    return 0;
}

static int read_params(ef_engine_server *s, ef_http_conn *c, const cJSON *body, int chat,
                       gen_params *g)
{
    if (refuse_unsupported(s, c, body) < 0)
        return -1;
    memset(g, 0, sizeof(*g));
    ef_sample_params def = EF_SAMPLE_PARAMS_INIT;
    g->sp = def;
    g->sp.temperature = EF_SERVE_DEFAULT_TEMPERATURE;
    g->sp.top_p = EF_SERVE_DEFAULT_TOP_P;
    g->max_tokens = EF_SERVE_DEFAULT_MAX_TOKENS;
    g->logprobs = -1;
    g->skip_special = 1;
    double v;
    int r;
    if ((r = num_field(c, body, "temperature", 0, 100, &v)) < 0)
        return -1;
    if (r)
        g->sp.temperature = v;
    if ((r = num_field(c, body, "top_p", 1e-9, 1, &v)) < 0)
        return -1;
    if (r)
        g->sp.top_p = v;
    if ((r = num_field(c, body, "top_k", -1, 1e9, &v)) < 0)
        return -1;
    if (r)
        g->sp.top_k = v < 0 ? 0 : (int)v;
    if ((r = num_field(c, body, "min_p", 0, 0.999999, &v)) < 0)
        return -1;
    if (r)
        g->sp.min_p = v;
    if ((r = num_field(c, body, "repetition_penalty", 1e-3, 100, &v)) < 0)
        return -1;
    if (r)
        g->sp.repetition_penalty = v;
    if ((r = num_field(c, body, "max_tokens", 1, s->o.max_tokens_cap, &v)) < 0)
        return -1;
    if (r)
        g->max_tokens = (int)v;
    if ((r = num_field(c, body, "max_completion_tokens", 1, s->o.max_tokens_cap, &v)) < 0)
        return -1;
    if (r)
        g->max_tokens = (int)v;
    if ((r = num_field(c, body, "n", 1, 1, &v)) < 0)
        return -1;
    if ((r = num_field(c, body, "seed", -9007199254740991.0, 9007199254740991.0, &v)) < 0)
        return -1;
    if (r)
        g->seed = (uint64_t)(int64_t)v & EF_SERVE_SEED_MASK;
    else
        g->seed = ef_rng_derive(ef_now_ns(), (uint64_t)atomic_fetch_add(&s->n_ids, 1), 0x5eed) &
                  EF_SERVE_SEED_MASK;
    g->stream = cJSON_IsTrue(item(body, "stream"));
    const cJSON *so = item(body, "stream_options");
    g->include_usage = cJSON_IsTrue(item(so, "include_usage"));
    const cJSON *lp = item(body, "logprobs");
    if (chat)
        g->logprobs = cJSON_IsTrue(lp) ? 1 : -1;
    else if (cJSON_IsNumber(lp))
        g->logprobs = (int)lp->valuedouble;
    g->ignore_eos = cJSON_IsTrue(item(body, "ignore_eos"));
    if (cJSON_IsFalse(item(body, "skip_special_tokens")))
        g->skip_special = 0;
    g->ids_as_tokens = cJSON_IsTrue(item(body, "return_tokens_as_token_ids"));
    g->return_ids = cJSON_IsTrue(item(body, "return_token_ids"));
    g->routes = cJSON_IsTrue(item(body, "return_routed_experts"));
    g->kept = cJSON_IsTrue(item(body, "return_kept_sets"));
    return 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid or NUL. */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if (n < need + 1)
        return 0;
    for (size_t i = 1; i <= need; i++)
        if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xbf))
            return 0;
    return need + 1;
}

/* The bytes as JSON-safe text: each byte that does not start a valid UTF-8 sequence (and
 * NUL) becomes U+FFFD. Converting slices cut at character boundaries gives the slices of
 * the whole, so streamed pieces add up to the plain response. *ef_free. */
static char *lossy(const char *s, size_t n)
{
    ef_buf b = EF_BUF_INIT((size_t)1 << 30);
    int rc = ef_buf_append(&b, "", 0);
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t k = utf8_valid((const unsigned char *)s + i, n - i);
        if (k) {
            rc = ef_buf_append(&b, s + i, k);
            i += k;
        } else {
            rc = ef_buf_append(&b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    if (rc < 0) {
        ef_buf_free(&b);
        return NULL;
    }
    return ef_buf_detach(&b);
}

static void add_lossy(cJSON *o, const char *key, const char *s, size_t n)
{
    char *t = lossy(s ? s : "", s ? n : 0);
    cJSON_AddStringToObject(o, key, t ? t : "");
    ef_free(t);
}

static int send_json(ef_http_conn *c, int status, cJSON *j)
{
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text)
        return ef_engine__http_error(c, 500, "server_error", "out of memory");
    int rc = ef_engine__http_respond(c, status, "application/json", text, strlen(text));
    cJSON_free(text);
    return rc;
}

static int sse_json(ef_http_conn *c, cJSON *j)
{
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text)
        return EF_ENOMEM;
    int rc = ef_engine__sse_event(c, text);
    cJSON_free(text);
    return rc;
}

static cJSON *int_array(const int32_t *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

/* Extensions: routes and kept sets of the generated tokens. */
static void add_rl_fields(cJSON *choice, const ef_gen_output *o, const gen_params *g)
{
    if (g->routes && o->routes) {
        cJSON *r = cJSON_AddArrayToObject(choice, "routed_experts");
        size_t per = (size_t)o->route_layers * (size_t)o->route_topk;
        for (int t = 0; t < o->n_routed; t++) {
            cJSON *row = cJSON_CreateArray();
            for (size_t k = 0; k < per; k++) {
                uint16_t e = o->routes[(size_t)t * per + k];
                cJSON_AddItemToArray(row, cJSON_CreateNumber(e == 0xffff ? -1 : e));
            }
            cJSON_AddItemToArray(r, row);
        }
    }
    if (g->kept && o->kept_offsets) {
        cJSON *off = cJSON_AddArrayToObject(choice, "kept_offsets");
        for (int t = 0; t <= o->n_tokens; t++)
            cJSON_AddItemToArray(off, cJSON_CreateNumber((double)o->kept_offsets[t]));
        cJSON_AddItemToObject(choice, "kept_token_ids",
                              int_array(o->kept_ids, (int)o->kept_offsets[o->n_tokens]));
    }
}

static const char *finish_name(const ef_gen_output *o)
{
    return o->finish == EF_GEN_LENGTH ? "length" : "stop";
}

static cJSON *usage(int n_prompt, int n_tokens)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", n_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", n_prompt + n_tokens);
    return u;
}

static cJSON *head(ef_engine_server *s, const char *id, const char *object)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", id);
    cJSON_AddStringToObject(j, "object", object);
    cJSON_AddNumberToObject(j, "created", (double)time(NULL));
    cJSON_AddStringToObject(j, "model", s->name);
    return j;
}

/* The token's text for logprobs. */
static char *token_text(ef_engine_server *s, int32_t id, int as_id)
{
    if (as_id)
        return ef_asprintf("token_id:%d", id);
    char *t = NULL;
    size_t l;
    ef_ctx *ctx = ef_ctx_new();
    if (ctx && ef_engine_rt_detok(ctx, s->rt, &id, 1, 0, &t, &l) < 0)
        t = NULL;
    ef_ctx_free(ctx);
    char *safe = t ? lossy(t, l) : NULL;
    ef_free(t);
    return safe ? safe : ef_strdup("");
}

/* Length of the longest prefix of b[0..n) that ends on a UTF-8 character boundary. */
static size_t utf8_complete(const char *b, size_t n)
{
    size_t i = n;
    int k = 0;
    while (i > 0 && k < 4 && ((unsigned char)b[i - 1] & 0xc0) == 0x80) {
        i--;
        k++;
    }
    if (i == 0)
        return n;
    unsigned char lead = (unsigned char)b[i - 1];
    size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    return (n - (i - 1)) >= need ? n : i - 1;
}

/* Submits and returns the handle; on error the response is sent and NULL comes back. */
static ef_gen_handle *submit(ef_engine_server *s, ef_http_conn *c, const int32_t *ids, int n,
                             const gen_params *g, ef_constrain *con)
{
    ef_ctx *ctx = ef_ctx_new();
    int32_t eos = ef_engine_rt_eos(s->rt);
    ef_gen_request rq = EF_GEN_REQUEST_INIT;
    rq.prompt = ids;
    rq.n_prompt = n;
    rq.sampling = g->sp;
    rq.seed = g->seed;
    rq.max_tokens = g->max_tokens;
    rq.stop_ids = &eos;
    rq.n_stop = g->ignore_eos || eos < 0 ? 0 : 1;
    rq.constrain = con;
    rq.keep_kept = g->kept;
    rq.keep_routes = g->routes;
    ef_gen_handle *h = NULL;
    int rc = ctx ? ef_engine_batch_submit(ctx, ef_engine_rt_batch(s->rt), &rq, &h) : EF_ENOMEM;
    if (rc < 0)
        ef_engine__http_error(c, rc == EF_ELIMIT || rc == EF_EINVAL ? 400 : 503,
                              "invalid_request_error", "%s",
                              ctx ? ef_errmsg(ctx) : "out of memory");
    ef_ctx_free(ctx);
    return rc < 0 ? NULL : h;
}

/* Waits for the end (non-streaming). 0, or < 0 after an error response. */
static int wait_end(ef_engine_server *s, ef_http_conn *c, ef_gen_handle *h)
{
    ef_engine_batch *b = ef_engine_rt_batch(s->rt);
    int done = 0;
    while (!done) {
        ef_engine_batch_wait(b, h, ef_engine_batch_output(h)->n_tokens, &done);
        if (!done && ef_engine__http_gone(c))
            ef_engine_batch_cancel(b, h);
    }
    const ef_gen_output *o = ef_engine_batch_output(h);
    if (o->finish == EF_GEN_ERROR)
        return ef_engine__http_error(c, 500, "server_error", "generation failed: %s", o->error), -1;
    if (o->finish == EF_GEN_CANCELLED)
        return ef_engine__http_error(c, 503, "server_error", "generation cancelled"), -1;
    return 0;
}

/* ---- /v1/completions ------------------------------------------------------------------- */

static int prompt_ids(ef_engine_server *s, ef_http_conn *c, const cJSON *p, int32_t **ids, int *n)
{
    ef_ctx *ctx = ef_ctx_new();
    int rc = 0;
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 &&
        (cJSON_IsString(cJSON_GetArrayItem(p, 0)) || cJSON_IsArray(cJSON_GetArrayItem(p, 0))))
        p = cJSON_GetArrayItem(p, 0);
    if (cJSON_IsString(p)) {
        size_t nn;
        rc = ef_engine_tok_encode(ctx, ef_engine_rt_tok(s->rt), p->valuestring,
                                  strlen(p->valuestring), EF_TOK_ADD_SPECIAL, ids, &nn);
        *n = (int)nn;
        if (rc < 0)
            ef_engine__http_error(c, 400, "invalid_request_error", "prompt: %s", ef_errmsg(ctx));
    } else if (cJSON_IsArray(p) && cJSON_GetArraySize(p) > 0) {
        int k = cJSON_GetArraySize(p), i = 0;
        *ids = ef_malloc(sizeof(int32_t) * (size_t)k);
        const cJSON *x;
        cJSON_ArrayForEach(x, p)
        {
            if (!*ids || !cJSON_IsNumber(x)) {
                rc = EF_EINVAL;
                break;
            }
            (*ids)[i++] = (int32_t)x->valuedouble;
        }
        *n = k;
        if (rc < 0) {
            ef_free(*ids);
            ef_engine__http_error(c, 400, "invalid_request_error",
                                  "prompt: a string, token ids, or a list of one of them "
                                  "(one prompt per request)");
        }
    } else {
        rc = EF_EINVAL;
        ef_engine__http_error(c, 400, "invalid_request_error",
                              "prompt: a string, token ids, or a list of one of them");
    }
    ef_ctx_free(ctx);
    return rc;
}

static cJSON *completion_logprobs(ef_engine_server *s, const ef_gen_output *o, int from, int to,
                                  const gen_params *g, size_t *offset)
{
    cJSON *lp = cJSON_CreateObject();
    cJSON *toks = cJSON_AddArrayToObject(lp, "tokens");
    cJSON *tlp = cJSON_AddArrayToObject(lp, "token_logprobs");
    cJSON *top = g->logprobs > 0 ? cJSON_AddArrayToObject(lp, "top_logprobs") : NULL;
    if (!top)
        cJSON_AddNullToObject(lp, "top_logprobs");
    cJSON *off = cJSON_AddArrayToObject(lp, "text_offset");
    for (int t = from; t < to; t++) {
        char *tx = token_text(s, o->tokens[t], g->ids_as_tokens);
        cJSON_AddItemToArray(toks, cJSON_CreateString(tx ? tx : ""));
        cJSON_AddItemToArray(tlp, cJSON_CreateNumber(o->logprobs[t]));
        if (top) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddNumberToObject(m, tx ? tx : "", o->logprobs[t]);
            cJSON_AddItemToArray(top, m);
        }
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)*offset));
        char *plain = token_text(s, o->tokens[t], 0);
        *offset += plain ? strlen(plain) : 0;
        ef_free(plain);
        ef_free(tx);
    }
    return lp;
}

static int completions(ef_engine_server *s, ef_http_conn *c, const cJSON *body)
{
    gen_params g;
    if (read_params(s, c, body, 0, &g) < 0)
        return 0;
    if (cJSON_IsTrue(item(body, "echo")))
        return ef_engine__http_error(c, 400, "invalid_request_error", "echo is not supported");
    int32_t *ids = NULL;
    int n = 0;
    if (prompt_ids(s, c, item(body, "prompt"), &ids, &n) < 0)
        return 0;
    ef_gen_handle *h = submit(s, c, ids, n, &g, NULL);
    char id[64];
    snprintf(id, sizeof id, "cmpl-%ld", atomic_fetch_add(&s->n_ids, 1));
    ef_engine_batch *b = ef_engine_rt_batch(s->rt);
    int rc = 0;
    if (!h)
        goto out;
    ef_ctx *ctx = ef_ctx_new();
    if (g.stream) {
        rc = ef_engine__sse_begin(c);
        int sent = 0, done = 0;
        size_t text_sent = 0, offset = 0;
        while (rc == 0) {
            int have = ef_engine_batch_wait(b, h, sent, &done);
            const ef_gen_output *o = ef_engine_batch_output(h);
            char *text = NULL;
            size_t len = 0;
            if (ef_engine_rt_detok(ctx, s->rt, o->tokens, have, g.skip_special, &text, &len) < 0)
                break;
            size_t upto = done ? len : utf8_complete(text, len);
            if (upto > text_sent || have > sent) {
                cJSON *j = head(s, id, "text_completion");
                cJSON *ch = cJSON_CreateObject();
                cJSON_AddNumberToObject(ch, "index", 0);
                add_lossy(ch, "text", text + text_sent, upto - text_sent);
                if (g.logprobs >= 0)
                    cJSON_AddItemToObject(ch, "logprobs",
                                          completion_logprobs(s, o, sent, have, &g, &offset));
                else
                    cJSON_AddNullToObject(ch, "logprobs");
                if (g.return_ids)
                    cJSON_AddItemToObject(ch, "token_ids",
                                          int_array(o->tokens + sent, have - sent));
                cJSON_AddNullToObject(ch, "finish_reason");
                cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "choices"), ch);
                rc = sse_json(c, j);
                text_sent = upto;
                sent = have;
            }
            ef_free(text);
            if (done)
                break;
            if (ef_engine__http_gone(c)) {
                ef_engine_batch_cancel(b, h);
                rc = -1;
            }
        }
        const ef_gen_output *o = ef_engine_batch_output(h);
        if (rc == 0) {
            cJSON *j = head(s, id, "text_completion");
            cJSON *ch = cJSON_CreateObject();
            cJSON_AddNumberToObject(ch, "index", 0);
            cJSON_AddStringToObject(ch, "text", "");
            cJSON_AddNullToObject(ch, "logprobs");
            cJSON_AddStringToObject(ch, "finish_reason", finish_name(o));
            cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "choices"), ch);
            if (g.include_usage)
                cJSON_AddItemToObject(j, "usage", usage(n, o->n_tokens));
            rc = sse_json(c, j);
        }
        if (rc == 0)
            rc = ef_engine__sse_event(c, "[DONE]");
        if (rc == 0)
            rc = ef_engine__sse_end(c);
    } else if (wait_end(s, c, h) == 0) {
        const ef_gen_output *o = ef_engine_batch_output(h);
        char *text = NULL;
        size_t len = 0;
        ef_engine_rt_detok(ctx, s->rt, o->tokens, o->n_tokens, g.skip_special, &text, &len);
        cJSON *j = head(s, id, "text_completion");
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", 0);
        add_lossy(ch, "text", text, len);
        size_t offset = 0;
        if (g.logprobs >= 0)
            cJSON_AddItemToObject(ch, "logprobs",
                                  completion_logprobs(s, o, 0, o->n_tokens, &g, &offset));
        else
            cJSON_AddNullToObject(ch, "logprobs");
        cJSON_AddStringToObject(ch, "finish_reason", finish_name(o));
        if (g.return_ids) {
            cJSON_AddItemToObject(ch, "token_ids", int_array(o->tokens, o->n_tokens));
            cJSON_AddItemToObject(ch, "prompt_token_ids", int_array(ids, n));
        }
        add_rl_fields(ch, o, &g);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "choices"), ch);
        cJSON_AddItemToObject(j, "usage", usage(n, o->n_tokens));
        rc = send_json(c, 200, j);
        ef_free(text);
    }
    ef_ctx_free(ctx);
    ef_engine_batch_release(b, h);
out:
    ef_free(ids);
    return rc < 0 ? -1 : 0;
}

/* ---- /v1/chat/completions ------------------------------------------------------------------ */

#define CALLS_MARK "\n\n<" EF_DSV32_DSML "function_calls"

/* Length of the longest suffix of t[0..n) that is a proper prefix of mark. */
static size_t held_suffix(const char *t, size_t n, const char *mark)
{
    size_t ml = strlen(mark);
    for (size_t k = EF_MIN(n, ml - 1); k > 0; k--)
        if (memcmp(t + n - k, mark, k) == 0)
            return k;
    return 0;
}

static cJSON *tool_calls_json(const cJSON *calls, long rid)
{
    cJSON *arr = cJSON_CreateArray();
    int i = 0;
    const cJSON *call;
    cJSON_ArrayForEach(call, calls)
    {
        const cJSON *fn = item(call, "function");
        cJSON *t = cJSON_CreateObject();
        char cid[64];
        snprintf(cid, sizeof cid, "call_%ld_%d", rid, i);
        cJSON_AddStringToObject(t, "id", cid);
        cJSON_AddStringToObject(t, "type", "function");
        cJSON *f = cJSON_AddObjectToObject(t, "function");
        cJSON_AddStringToObject(f, "name", cJSON_GetStringValue(item(fn, "name")));
        cJSON_AddStringToObject(f, "arguments", cJSON_GetStringValue(item(fn, "arguments")));
        cJSON_AddItemToArray(arr, t);
        i++;
    }
    return arr;
}

/* The assistant message of the completion text (EOS left out). When the DSML does not
 * parse, the reasoning (up to </think>) and the rest as raw content. */
static cJSON *parse_reply(const char *text, size_t len, int thinking)
{
    ef_ctx *ctx = ef_ctx_new();
    ef_chat_parse_options po = EF_CHAT_PARSE_OPTIONS_INIT;
    po.thinking = thinking;
    po.require_eos = 0;
    cJSON *msg = NULL;
    if (ctx && ef_engine_chat_parse(ctx, text, len, &po, &msg) == 0) {
        ef_ctx_free(ctx);
        return msg;
    }
    ef_ctx_free(ctx);
    msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", "assistant");
    const char *end = thinking ? strstr(text, EF_DSV32_THINK_END) : NULL;
    char *r = end ? ef_strndup(text, (size_t)(end - text)) : NULL;
    const char *rest = end ? end + strlen(EF_DSV32_THINK_END) : text;
    if (thinking && !end) {
        add_lossy(msg, "reasoning_content", text, len);
        cJSON_AddStringToObject(msg, "content", "");
    } else {
        add_lossy(msg, "reasoning_content", r ? r : "", r ? strlen(r) : 0);
        add_lossy(msg, "content", rest, len - (size_t)(rest - text));
    }
    cJSON_AddArrayToObject(msg, "tool_calls");
    ef_free(r);
    return msg;
}

static cJSON *chat_logprobs(ef_engine_server *s, const ef_gen_output *o, int from, int to,
                            const gen_params *g)
{
    cJSON *lp = cJSON_CreateObject(), *content = cJSON_AddArrayToObject(lp, "content");
    for (int t = from; t < to; t++) {
        char *tx = token_text(s, o->tokens[t], g->ids_as_tokens);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "token", tx ? tx : "");
        cJSON_AddNumberToObject(e, "logprob", o->logprobs[t]);
        cJSON *bytes = cJSON_AddArrayToObject(e, "bytes");
        char *plain = token_text(s, o->tokens[t], 0);
        for (const unsigned char *p = (const unsigned char *)plain; p && *p; p++)
            cJSON_AddItemToArray(bytes, cJSON_CreateNumber(*p));
        cJSON_AddArrayToObject(e, "top_logprobs");
        cJSON_AddItemToArray(content, e);
        ef_free(plain);
        ef_free(tx);
    }
    return lp;
}

static cJSON *chunk(ef_engine_server *s, const char *id, cJSON *delta, const char *finish)
{
    cJSON *j = head(s, id, "chat.completion.chunk");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON_AddItemToObject(ch, "delta", delta ? delta : cJSON_CreateObject());
    cJSON_AddNullToObject(ch, "logprobs");
    if (finish)
        cJSON_AddStringToObject(ch, "finish_reason", finish);
    else
        cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "choices"), ch);
    return j;
}

static int delta_text(ef_http_conn *c, ef_engine_server *s, const char *id, const char *field,
                      const char *t, size_t n)
{
    if (n == 0)
        return 0;
    cJSON *d = cJSON_CreateObject();
    add_lossy(d, field, t, n);
    return sse_json(c, chunk(s, id, d, NULL));
}

static int chat(ef_engine_server *s, ef_http_conn *c, const cJSON *body)
{
    gen_params g;
    if (read_params(s, c, body, 1, &g) < 0)
        return 0;
    const cJSON *messages = item(body, "messages"), *tools = item(body, "tools");
    const cJSON *tc = item(body, "tool_choice");
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0)
        return ef_engine__http_error(c, 400, "invalid_request_error",
                                     "messages: a non-empty array is required");
    int thinking = s->o.thinking;
    const cJSON *kw = item(body, "chat_template_kwargs");
    if (cJSON_IsBool(item(kw, "thinking")))
        thinking = cJSON_IsTrue(item(kw, "thinking"));
    if (cJSON_IsBool(item(body, "thinking")))
        thinking = cJSON_IsTrue(item(body, "thinking"));
    int have_tools = cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0;
    int constrain = 0;
    cJSON *ctools = NULL; /* the tools the grammar allows */
    if (cJSON_IsString(tc) && strcmp(tc->valuestring, "none") == 0)
        have_tools = 0;
    else if (cJSON_IsString(tc) && strcmp(tc->valuestring, "required") == 0)
        constrain = 1;
    else if (cJSON_IsObject(tc)) {
        const char *want = cJSON_GetStringValue(item(item(tc, "function"), "name"));
        const cJSON *t;
        cJSON_ArrayForEach(t, tools)
        {
            const char *nm = cJSON_GetStringValue(item(item(t, "function"), "name"));
            if (want && nm && strcmp(nm, want) == 0) {
                ctools = cJSON_CreateArray();
                cJSON_AddItemToArray(ctools, cJSON_Duplicate(t, 1));
            }
        }
        if (!ctools)
            return ef_engine__http_error(c, 400, "invalid_request_error",
                                         "tool_choice names '%s', which is not in tools",
                                         want ? want : "(none)");
        constrain = 1;
    } else if (tc && !cJSON_IsNull(tc) &&
               !(cJSON_IsString(tc) && strcmp(tc->valuestring, "auto") == 0))
        return ef_engine__http_error(c, 400, "invalid_request_error",
                                     "tool_choice: none, auto, required or "
                                     "{\"type\":\"function\",\"function\":{\"name\":...}}");
    if (constrain && !have_tools) {
        cJSON_Delete(ctools);
        return ef_engine__http_error(c, 400, "invalid_request_error", "tool_choice %s needs tools",
                                     "required");
    }
    ef_ctx *ctx = ef_ctx_new();
    cJSON *doc = cJSON_CreateObject();
    if (have_tools)
        cJSON_AddItemToObject(doc, "tools", cJSON_Duplicate(tools, 1));
    cJSON *msgs = cJSON_Duplicate(messages, 1);
    /* DeepSeek's encoder renders tools in a system (or developer) turn: when the
     * conversation opens with another role, an empty system turn carries them */
    const char *role0 = cJSON_GetStringValue(item(cJSON_GetArrayItem(msgs, 0), "role"));
    if (have_tools && msgs &&
        !(role0 && (strcmp(role0, "system") == 0 || strcmp(role0, "developer") == 0))) {
        cJSON *sys = cJSON_CreateObject();
        cJSON_AddStringToObject(sys, "role", "system");
        cJSON_AddStringToObject(sys, "content", "");
        cJSON_InsertItemInArray(msgs, 0, sys);
    }
    cJSON_AddItemToObject(doc, "messages", msgs);
    ef_chat_encode_options eo = EF_CHAT_ENCODE_OPTIONS_INIT;
    eo.thinking = thinking;
    eo.drop_thinking = 1;
    char *prompt = NULL;
    size_t plen = 0;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    ef_constrain *con = NULL;
    ef_gen_handle *h = NULL;
    int rc = 0;
    long rid = atomic_fetch_add(&s->n_ids, 1);
    char id[64];
    snprintf(id, sizeof id, "chatcmpl-%ld", rid);
    if (ef_engine_chat_encode_doc(ctx, doc, &eo, &prompt, &plen) < 0) {
        ef_engine__http_error(c, 400, "invalid_request_error", "%s", ef_errmsg(ctx));
        goto out;
    }
    if (ef_engine_tok_encode(ctx, ef_engine_rt_tok(s->rt), prompt, plen, 0, &ids, &n_ids) < 0) {
        ef_engine__http_error(c, 400, "invalid_request_error", "%s", ef_errmsg(ctx));
        goto out;
    }
    if (constrain) {
        const ef_constrain_vocab *v;
        ef_constrain_options co = EF_CONSTRAIN_OPTIONS_INIT;
        co.thinking = thinking;
        if (ef_engine_rt_vocab(ctx, s->rt, &v) < 0 ||
            ef_engine_constrain_new(ctx, v, ctools ? ctools : tools, &co, &con) < 0) {
            ef_engine__http_error(c, 400, "invalid_request_error", "%s", ef_errmsg(ctx));
            goto out;
        }
    }
    if (!(h = submit(s, c, ids, (int)n_ids, &g, con)))
        goto out;
    ef_engine_batch *b = ef_engine_rt_batch(s->rt);
    if (g.stream) {
        rc = ef_engine__sse_begin(c);
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", "");
        if (rc == 0)
            rc = sse_json(c, chunk(s, id, d, NULL));
        else
            cJSON_Delete(d);
        int sent = 0, done = 0, in_reason = thinking, calls_seen = 0;
        size_t r_sent = 0, c_start = 0, c_sent = 0;
        char *text = NULL;
        size_t len = 0;
        while (rc == 0) {
            int have = ef_engine_batch_wait(b, h, sent, &done);
            const ef_gen_output *o = ef_engine_batch_output(h);
            ef_free(text);
            text = NULL;
            if (ef_engine_rt_detok(ctx, s->rt, o->tokens, have, 1, &text, &len) < 0)
                break;
            size_t ok = done ? len : utf8_complete(text, len);
            if (in_reason) {
                const char *e = strstr(text, EF_DSV32_THINK_END);
                size_t upto =
                    e ? (size_t)(e - text) : ok - held_suffix(text, ok, EF_DSV32_THINK_END);
                if (upto > r_sent)
                    rc = delta_text(c, s, id, "reasoning_content", text + r_sent, upto - r_sent);
                r_sent = EF_MAX(r_sent, upto);
                if (e) {
                    in_reason = 0;
                    c_start = c_sent = (size_t)(e - text) + strlen(EF_DSV32_THINK_END);
                }
            }
            if (!in_reason && !calls_seen && rc == 0) {
                const char *m = len > c_start ? strstr(text + c_start, CALLS_MARK) : NULL;
                size_t upto =
                    m ? (size_t)(m - text) : ok - EF_MIN(ok, held_suffix(text, ok, CALLS_MARK));
                if (done && !m)
                    upto = len;
                if (upto > c_sent)
                    rc = delta_text(c, s, id, "content", text + c_sent, upto - c_sent);
                c_sent = EF_MAX(c_sent, upto);
                if (m)
                    calls_seen = 1;
            }
            sent = have;
            if (done)
                break;
            if (ef_engine__http_gone(c)) {
                ef_engine_batch_cancel(b, h);
                rc = -1;
            }
        }
        const ef_gen_output *o = ef_engine_batch_output(h);
        const char *finish = finish_name(o);
        if (rc == 0 && o->finish != EF_GEN_ERROR && o->finish != EF_GEN_CANCELLED && text) {
            cJSON *msg = parse_reply(text, len, thinking);
            const cJSON *calls = item(msg, "tool_calls");
            if (cJSON_GetArraySize(calls) > 0) {
                cJSON *arr = tool_calls_json(calls, rid), *t;
                int i = 0;
                cJSON_ArrayForEach(t, arr)
                {
                    cJSON *one = cJSON_Duplicate(t, 1);
                    cJSON_AddNumberToObject(one, "index", i++);
                    cJSON *dd = cJSON_CreateObject(),
                          *list = cJSON_AddArrayToObject(dd, "tool_calls");
                    cJSON_AddItemToArray(list, one);
                    if (rc == 0)
                        rc = sse_json(c, chunk(s, id, dd, NULL));
                    else
                        cJSON_Delete(dd);
                }
                cJSON_Delete(arr);
                if (o->finish == EF_GEN_STOP)
                    finish = "tool_calls";
            } else if (calls_seen && c_sent < len) {
                /* a broken block: the raw text goes out as content */
                rc = delta_text(c, s, id, "content", text + c_sent, len - c_sent);
            }
            cJSON_Delete(msg);
        }
        ef_free(text);
        if (rc == 0 && (o->finish == EF_GEN_ERROR || o->finish == EF_GEN_CANCELLED)) {
            cJSON *e = cJSON_CreateObject(), *ee = cJSON_AddObjectToObject(e, "error");
            cJSON_AddStringToObject(ee, "message",
                                    o->finish == EF_GEN_ERROR ? o->error : "cancelled");
            cJSON_AddStringToObject(ee, "type", "server_error");
            rc = sse_json(c, e);
        } else if (rc == 0) {
            cJSON *j = chunk(s, id, NULL, finish);
            if (g.logprobs > 0) {
                cJSON *ch = cJSON_GetArrayItem(item(j, "choices"), 0);
                cJSON_ReplaceItemInObject(ch, "logprobs", chat_logprobs(s, o, 0, o->n_tokens, &g));
            }
            rc = sse_json(c, j);
        }
        if (rc == 0 && g.include_usage) {
            cJSON *j = head(s, id, "chat.completion.chunk");
            cJSON_AddArrayToObject(j, "choices");
            cJSON_AddItemToObject(j, "usage", usage((int)n_ids, o->n_tokens));
            rc = sse_json(c, j);
        }
        if (rc == 0)
            rc = ef_engine__sse_event(c, "[DONE]");
        if (rc == 0)
            rc = ef_engine__sse_end(c);
    } else if (wait_end(s, c, h) == 0) {
        const ef_gen_output *o = ef_engine_batch_output(h);
        char *text = NULL;
        size_t len = 0;
        ef_engine_rt_detok(ctx, s->rt, o->tokens, o->n_tokens, 1, &text, &len);
        cJSON *msg = parse_reply(text ? text : "", len, thinking);
        cJSON *j = head(s, id, "chat.completion");
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", 0);
        cJSON *m = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        const char *content = cJSON_GetStringValue(item(msg, "content"));
        const char *reasoning = cJSON_GetStringValue(item(msg, "reasoning_content"));
        const cJSON *calls = item(msg, "tool_calls");
        int n_calls = cJSON_GetArraySize(calls);
        if (content && (*content || !n_calls))
            cJSON_AddStringToObject(m, "content", content);
        else
            cJSON_AddNullToObject(m, "content");
        if (reasoning && *reasoning)
            cJSON_AddStringToObject(m, "reasoning_content", reasoning);
        else
            cJSON_AddNullToObject(m, "reasoning_content");
        if (n_calls)
            cJSON_AddItemToObject(m, "tool_calls", tool_calls_json(calls, rid));
        if (g.logprobs > 0)
            cJSON_AddItemToObject(ch, "logprobs", chat_logprobs(s, o, 0, o->n_tokens, &g));
        else
            cJSON_AddNullToObject(ch, "logprobs");
        cJSON_AddStringToObject(ch, "finish_reason",
                                n_calls && o->finish == EF_GEN_STOP ? "tool_calls"
                                                                    : finish_name(o));
        cJSON_AddItemToObject(ch, "token_ids", int_array(o->tokens, o->n_tokens));
        add_rl_fields(ch, o, &g);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "choices"), ch);
        cJSON_AddItemToObject(j, "usage", usage((int)n_ids, o->n_tokens));
        cJSON_AddItemToObject(j, "prompt_token_ids", int_array(ids, (int)n_ids));
        rc = send_json(c, 200, j);
        cJSON_Delete(msg);
        ef_free(text);
    }
    ef_engine_batch_release(b, h);
    h = NULL;
out:
    ef_engine_constrain_free(con);
    cJSON_Delete(ctools);
    cJSON_Delete(doc);
    ef_free(prompt);
    ef_free(ids);
    ef_ctx_free(ctx);
    return rc < 0 ? -1 : 0;
}

/* ---- routing ----------------------------------------------------------------------------------
 */

int ef_engine__api_handle(ef_engine_server *s, ef_http_conn *c, const ef_http_req *req)
{
    char path[512];
    snprintf(path, sizeof path, "%s", req->path);
    char *q = strchr(path, '?');
    if (q)
        *q = 0;
    int get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    if (strcmp(path, "/health") == 0 || strcmp(path, "/v1/health") == 0) {
        if (!get)
            return ef_engine__http_error(c, 405, "invalid_request_error", "use GET");
        static const char ok[] = "{\"status\":\"ok\"}";
        return ef_engine__http_respond(c, 200, "application/json", ok, sizeof ok - 1);
    }
    if (strcmp(path, "/v1/models") == 0) {
        if (!get)
            return ef_engine__http_error(c, 405, "invalid_request_error", "use GET");
        cJSON *j = cJSON_CreateObject(), *data;
        cJSON_AddStringToObject(j, "object", "list");
        data = cJSON_AddArrayToObject(j, "data");
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", s->name);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", 0);
        cJSON_AddStringToObject(m, "owned_by", "envforge");
        /* what a request may use (prompt + new tokens), as vLLM reports it; the model's
         * own trained length is in its config */
        cJSON_AddNumberToObject(m, "max_model_len", ef_engine_rt_max_ctx(s->rt));
        cJSON_AddItemToArray(data, m);
        return send_json(c, 200, j);
    }
    int is_chat = strcmp(path, "/v1/chat/completions") == 0;
    int is_cmpl = strcmp(path, "/v1/completions") == 0;
    if (!is_chat && !is_cmpl)
        return ef_engine__http_error(c, 404, "invalid_request_error", "no route %s %s", req->method,
                                     path);
    if (!post)
        return ef_engine__http_error(c, 405, "invalid_request_error", "use POST");
    cJSON *body = cJSON_ParseWithLength(req->body ? req->body : "", req->body_len);
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return ef_engine__http_error(c, 400, "invalid_request_error",
                                     "the body must be a JSON object");
    }
    int rc = is_chat ? chat(s, c, body) : completions(s, c, body);
    cJSON_Delete(body);
    return rc;
}

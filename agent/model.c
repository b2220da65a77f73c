/*
 * agent/model.c — the model interface: opening a backend by name, the shared request
 * body (OpenAI chat JSON) and the shared response reader (an OpenAI chat completion or a
 * bare assistant message, plus token-level fields where present).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/agent_int.h"

int ef_model_open(ef_ctx *ctx, const char *name, const ef_model_options *opts, ef_model **out)
{
    ef_model_options def = EF_MODEL_OPTIONS_INIT;
    if (!opts)
        opts = &def;
    if (!name || !*name)
        return ef_errorf(ctx, EF_EINVAL,
                         "model: empty name (engine:DIR, http://host:port/v1, "
                         "replay:FILE.jsonl, oracle)");
    if (strcmp(name, "oracle") == 0)
        return ef_agent__model_oracle_open(ctx, out);
    if (strncmp(name, "replay:", 7) == 0)
        return ef_agent__model_replay_open(ctx, name + 7, out);
    if (strncmp(name, "http://", 7) == 0 || strncmp(name, "https://", 8) == 0)
        return ef_agent__model_http_open(ctx, name, opts, out);
    if (strncmp(name, "engine:", 7) == 0)
        return ef_agent__model_engine_open(ctx, name + 7, opts, out);
    return ef_errorf(ctx, EF_EINVAL,
                     "model '%s': unknown kind (engine:DIR, http://host:port/v1[#model], "
                     "replay:FILE.jsonl, oracle)",
                     name);
}

int ef_model_complete(ef_model *m, ef_ctx *ctx, const ef_model_request *req, ef_model_response *out)
{
    memset(out, 0, sizeof(*out));
    out->prompt_tokens = out->completion_tokens = -1;
    int rc = m->iface->complete(m, ctx, req, out);
    if (rc < 0)
        ef_model_response_free(out);
    return rc;
}

int ef_model_is_oracle(const ef_model *m)
{
    return m && m->iface->is_oracle && m->iface->is_oracle(m);
}

void ef_model_free(ef_model *m)
{
    if (!m)
        return;
    if (m->iface && m->iface->free)
        m->iface->free(m);
    ef_free(m->name);
    ef_free(m);
}

void ef_model_response_free(ef_model_response *r)
{
    if (!r)
        return;
    ef_agent_msg_free(&r->message);
    ef_free(r->finish_reason);
    ef_free(r->prompt_ids);
    ef_free(r->token_ids);
    ef_free(r->logprobs);
    ef_free(r->topp_offsets);
    ef_free(r->topp_ids);
    ef_free(r->routes);
    memset(r, 0, sizeof(*r));
}

/* ---- the response reader --------------------------------------------------------- */

static int read_int_array(ef_ctx *ctx, const cJSON *a, const char *what, int32_t **out, size_t *n)
{
    int len = cJSON_GetArraySize(a);
    if (!cJSON_IsArray(a))
        return ef_errorf(ctx, EF_EINVAL, "%s: expected array of token ids", what);
    int32_t *v = ef_malloc((size_t)(len > 0 ? len : 1) * sizeof(*v));
    if (!v)
        return EF_ENOMEM;
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a)
    {
        if (!cJSON_IsNumber(x)) {
            ef_free(v);
            return ef_errorf(ctx, EF_EINVAL, "%s[%d]: expected number, got %s", what, i,
                             ef_json_type_name(x));
        }
        v[i++] = (int32_t)x->valuedouble;
    }
    *out = v;
    *n = (size_t)len;
    return 0;
}

/* Chat logprobs: {"content":[{"token":"token_id:12","logprob":-0.1}, ...]}. Token ids are
 * known when the server sends them as "token_id:N" (vLLM --return-tokens-as-token-ids). */
static int read_chat_logprobs(ef_model_response *out, const cJSON *lp)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(lp, "content");
    int n = cJSON_GetArraySize(content);
    if (!cJSON_IsArray(content) || n <= 0 || out->logprobs)
        return 0;
    float *v = ef_malloc((size_t)n * sizeof(*v));
    int32_t *ids = ef_malloc((size_t)n * sizeof(*ids));
    if (!v || !ids) {
        ef_free(v);
        ef_free(ids);
        return EF_ENOMEM;
    }
    int i = 0, have_ids = 1;
    const cJSON *e;
    cJSON_ArrayForEach(e, content)
    {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(e, "logprob");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "token");
        v[i] = cJSON_IsNumber(l) ? (float)l->valuedouble : 0.0f;
        if (cJSON_IsString(t) && strncmp(t->valuestring, "token_id:", 9) == 0)
            ids[i] = (int32_t)strtol(t->valuestring + 9, NULL, 10);
        else
            have_ids = 0;
        i++;
    }
    out->logprobs = v;
    if (have_ids && !out->token_ids) {
        out->token_ids = ids;
        out->n_tokens = (size_t)n;
    } else {
        ef_free(ids);
        if (!out->token_ids)
            out->n_tokens = (size_t)n;
    }
    return 0;
}

int ef_agent__response_from_json(ef_ctx *ctx, const cJSON *j, const char *what,
                                 ef_model_response *out)
{
    const cJSON *msg = j, *choice = NULL;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    int rc;
    if (!cJSON_IsObject(j))
        return ef_errorf(ctx, EF_EPARSE, "%s: expected a JSON object, got %s", what,
                         ef_json_type_name(j));
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (err && !cJSON_IsNull(err)) {
        const cJSON *em =
            cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "message") : err;
        return ef_errorf(ctx, EF_EHTTP, "%s: the model answered with an error: %s", what,
                         cJSON_IsString(em) ? em->valuestring : "(no message)");
    }
    if (choices) {
        choice = cJSON_GetArrayItem(choices, 0);
        if (!cJSON_IsObject(choice))
            return ef_errorf(ctx, EF_EPARSE, "%s.choices[0]: missing", what);
        msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
        if (!msg) {
            /* /v1/completions: {"text": ...} */
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(choice, "text");
            if (!cJSON_IsString(text))
                return ef_errorf(ctx, EF_EPARSE, "%s.choices[0]: no message and no text", what);
            memset(&out->message, 0, sizeof(out->message));
            out->message.role = EF_ROLE_ASSISTANT;
            out->message.content = ef_strdup(text->valuestring);
            if (!out->message.content)
                return EF_ENOMEM;
            msg = NULL;
        }
    }
    if (msg) {
        rc = ef_agent_msg_from_json(ctx, msg, what, &out->message);
        if (rc < 0)
            return rc;
        if (out->message.role != EF_ROLE_ASSISTANT)
            return ef_errorf(ctx, EF_EPARSE, "%s: role %s, expected assistant", what,
                             ef_agent_role_name(out->message.role));
    }
    const cJSON *src = choice ? choice : j;
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(src, "finish_reason");
    if (cJSON_IsString(fr) && !(out->finish_reason = ef_strdup(fr->valuestring)))
        return EF_ENOMEM;
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(usage)) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
        if (cJSON_IsNumber(p))
            out->prompt_tokens = (int64_t)p->valuedouble;
        if (cJSON_IsNumber(c))
            out->completion_tokens = (int64_t)c->valuedouble;
    }
    /* Token-level fields: ours (replay, envforge serve) and vLLM's. */
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(src, "token_ids");
    if (!ids)
        ids = cJSON_GetObjectItemCaseSensitive(j, "token_ids");
    if (ids && (rc = read_int_array(ctx, ids, "token_ids", &out->token_ids, &out->n_tokens)) < 0)
        return rc;
    const cJSON *pids = cJSON_GetObjectItemCaseSensitive(src, "prompt_token_ids");
    if (!pids)
        pids = cJSON_GetObjectItemCaseSensitive(j, "prompt_token_ids");
    if (pids && (rc = read_int_array(ctx, pids, "prompt_token_ids", &out->prompt_ids,
                                     &out->n_prompt_ids)) < 0)
        return rc;
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(src, "logprobs");
    if (cJSON_IsArray(lp) && out->token_ids && cJSON_GetArraySize(lp) == (int)out->n_tokens) {
        out->logprobs = ef_malloc((out->n_tokens ? out->n_tokens : 1) * sizeof(float));
        if (!out->logprobs)
            return EF_ENOMEM;
        size_t i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, lp) out->logprobs[i++] = (float)cJSON_GetNumberValue(x);
    } else if (cJSON_IsObject(lp)) {
        /* /v1/completions logprobs: {"token_logprobs":[...]} */
        const cJSON *tl = cJSON_GetObjectItemCaseSensitive(lp, "token_logprobs");
        if (cJSON_IsArray(tl) && out->token_ids && cJSON_GetArraySize(tl) == (int)out->n_tokens) {
            out->logprobs = ef_malloc((out->n_tokens ? out->n_tokens : 1) * sizeof(float));
            if (!out->logprobs)
                return EF_ENOMEM;
            size_t i = 0;
            const cJSON *x;
            cJSON_ArrayForEach(x, tl) out->logprobs[i++] = (float)cJSON_GetNumberValue(x);
        } else if ((rc = read_chat_logprobs(out, lp)) < 0)
            return rc;
    }
    if (out->completion_tokens < 0 && out->token_ids)
        out->completion_tokens = (int64_t)out->n_tokens;
    if (out->prompt_tokens < 0 && out->prompt_ids)
        out->prompt_tokens = (int64_t)out->n_prompt_ids;
    return 0;
}

/* ---- the request body ------------------------------------------------------------ */

int ef_agent__request_body(ef_ctx *ctx, const ef_model_request *req, const char *model, char **out)
{
    cJSON *body = cJSON_CreateObject(), *msgs = NULL, *tools = NULL;
    int rc = EF_ENOMEM;
    if (!body)
        goto cleanup;
    if (!cJSON_AddStringToObject(body, "model", model && *model ? model : "default"))
        goto cleanup;
    if (ef_agent_conv_to_json(req->conv, req->with_reasoning, &msgs) < 0)
        goto cleanup;
    if (!cJSON_AddItemToObject(body, "messages", msgs)) {
        cJSON_Delete(msgs);
        goto cleanup;
    }
    if (req->tools_json && *req->tools_json && strcmp(req->tools_json, "[]") != 0) {
        if ((rc = ef_json_parse(ctx, req->tools_json, strlen(req->tools_json), "tools", &tools)) <
            0)
            goto cleanup;
        rc = EF_ENOMEM;
        if (!cJSON_AddItemToObject(body, "tools", tools)) {
            cJSON_Delete(tools);
            goto cleanup;
        }
    }
    const ef_sampling *s = &req->sampling;
    if (s->temperature >= 0 && !cJSON_AddNumberToObject(body, "temperature", s->temperature))
        goto cleanup;
    if (s->top_p > 0 && !cJSON_AddNumberToObject(body, "top_p", s->top_p))
        goto cleanup;
    if (s->max_tokens > 0 && !cJSON_AddNumberToObject(body, "max_tokens", (double)s->max_tokens))
        goto cleanup;
    /* seeds as a JSON number must stay exact: keep 53 bits */
    if (!cJSON_AddNumberToObject(body, "seed", (double)(req->seed & ((1ull << 53) - 1))))
        goto cleanup;
    if (s->logprobs) {
        if (!cJSON_AddTrueToObject(body, "logprobs"))
            goto cleanup;
        if (s->top_logprobs > 0 &&
            !cJSON_AddNumberToObject(body, "top_logprobs", (double)s->top_logprobs))
            goto cleanup;
        /* vLLM / SGLang: the prompt's and the completion's token ids */
        if (!cJSON_AddTrueToObject(body, "return_token_ids"))
            goto cleanup;
    }
    *out = ef_json_print(body);
    rc = *out ? 0 : EF_ENOMEM;
cleanup:
    cJSON_Delete(body);
    if (rc == EF_ENOMEM)
        ef_errorf(ctx, EF_ENOMEM, "model request: out of memory");
    return rc;
}

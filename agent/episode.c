/*
 * agent/episode.c — the episode loop: system + user prompt → model → tool calls → tool
 * results → ... until a final answer, a submit call or a budget (turns, tokens, wall
 * time, context) ends it; then the env's verifier. For the oracle model the env's
 * reference solver drives the same tool path instead of the model.
 *
 * Steps of one turn, in order: budgets, context policy, thinking retention, the model
 * call, DSML extraction, then each tool call (argument parse, unknown tool, schema
 * check, the tool) with its result appended as a tool message. Model mistakes (broken
 * arguments, unknown tools, empty replies) go back to the model as error messages and
 * are counted; too many in a row end the episode with tool_error. Everything that
 * happened is kept in the episode's transcript, call records and events.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "common/utf8.h"
#include "agent/agent_int.h"
#include "common/rng.h"

static const char default_system[] =
    "You are an agent solving a task with the tools provided. Call tools when they help. "
    "When you are done, reply with the final answer alone, without a tool call";

static const char submit_tool_json[] =
    "{\"type\":\"function\",\"function\":{\"name\":\"submit\",\"description\":\"Submit the "
    "final answer and end the task.\",\"parameters\":{\"type\":\"object\",\"properties\":"
    "{\"answer\":{\"type\":\"string\",\"description\":\"the final answer\"}},\"required\":"
    "[\"answer\"]}}}";

static double unix_now(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    ef_ctx *ctx;
    const ef_agent_config *cfg;
    ef_model *m;
    ef_agent_env *env;
    void *st;
    ef_agent_episode *ep;
    ef_agent_conv conv; /* what the model sees */
    char *tools_json;   /* env tools + submit */
    int env_has_submit;
    int64_t n_calls; /* model calls, summaries included (replay turn index) */
    int consecutive_errors;
    int64_t last_prompt_tokens;
    size_t tok_msgs; /* messages of conv the token stream covers */
    uint64_t seed;
    int64_t task_id, sample_idx;
    uint64_t t0;
    int ended;
    char *answer_json; /* the oracle's answer as JSON (verify takes it as is) */
} loop;

/* ---- recording ------------------------------------------------------------------- */

int ef_agent__event_add(ef_agent_episode *ep, const char *kind, const char *payload_json)
{
    if (ef_agent__reserve((void **)&ep->events, sizeof(*ep->events), ep->n_events + 1,
                          &ep->cap_events, 4) < 0)
        return EF_ENOMEM;
    ef_agent_event *e = &ep->events[ep->n_events];
    e->kind = ef_strdup(kind);
    e->payload_json = payload_json ? ef_strdup(payload_json) : NULL;
    e->time = unix_now();
    if (!e->kind || (payload_json && !e->payload_json)) {
        ef_free(e->kind);
        ef_free(e->payload_json);
        return EF_ENOMEM;
    }
    ep->n_events++;
    return 0;
}

static int call_record(ef_agent_episode *ep, int64_t msg_idx, const ef_agent_tool_call *c,
                       const char *result, ef_agent_call_status status, int64_t wall_ms)
{
    if (ef_agent__reserve((void **)&ep->calls, sizeof(*ep->calls), ep->n_calls + 1, &ep->cap_calls,
                          8) < 0)
        return EF_ENOMEM;
    ef_agent_call_record *r = &ep->calls[ep->n_calls];
    int ok = 1;
    r->message_idx = msg_idx;
    r->call_id = ef_agent__dup(c->id ? c->id : "", &ok);
    r->tool = ef_agent__dup(c->name ? c->name : "", &ok);
    const char *args = c->arguments ? c->arguments : "";
    size_t k = strspn(args, " \t\r\n");
    if (status == EF_CALL_OK && !args[k])
        args = "{}"; /* no arguments, read as {} */
    r->arguments = ef_agent__dup(args, &ok);
    r->result = ef_agent__dup(result ? result : "", &ok);
    r->status = status;
    r->wall_ms = wall_ms;
    if (!ok) {
        ef_free(r->call_id);
        ef_free(r->tool);
        ef_free(r->arguments);
        ef_free(r->result);
        return EF_ENOMEM;
    }
    ep->n_calls++;
    return 0;
}

/* Appends to both the model's context and the transcript. */
static int push_both(loop *L, const ef_agent_msg *m)
{
    if (ef_agent_conv_push(&L->conv, m) < 0 || ef_agent_conv_push(&L->ep->transcript, m) < 0)
        return EF_ENOMEM;
    return 0;
}

static int push_text(loop *L, ef_agent_role role, const char *text)
{
    ef_agent_msg m;
    memset(&m, 0, sizeof(m));
    m.role = role;
    m.content = (char *)text;
    return push_both(L, &m);
}

/* The harness's error feedback to the model, as a user message that is not a new user
 * turn (ef_agent_msg.feedback): the reasoning before it is kept, and token backends append
 * it to the episode's ids (docs/agent.md, "Thinking retention"). */
static int push_feedback(loop *L, const char *text)
{
    ef_agent_msg m;
    memset(&m, 0, sizeof(m));
    m.role = EF_ROLE_USER;
    m.content = (char *)text;
    m.feedback = 1;
    return push_both(L, &m);
}

static void end(loop *L, ef_agent_end_reason r)
{
    if (!L->ended) {
        L->ep->end_reason = r;
        L->ended = 1;
    }
}

/* ---- token streams --------------------------------------------------------------- */

static int tok_reserve(ef_agent_episode *ep, size_t n)
{
    if (n <= ep->cap_tok)
        return 0;
    size_t cap = ep->cap_tok ? ep->cap_tok : 256;
    while (cap < n)
        cap *= 2;
    int32_t *ids = ef_realloc(ep->tok_ids, cap * sizeof(*ids));
    if (ids)
        ep->tok_ids = ids;
    uint8_t *mask = ef_realloc(ep->tok_mask, cap);
    if (mask)
        ep->tok_mask = mask;
    float *lp = ef_realloc(ep->tok_logprobs, cap * sizeof(*lp));
    if (lp)
        ep->tok_logprobs = lp;
    int32_t *off = ef_realloc(ep->tok_topp_offsets, (cap + 1) * sizeof(*off));
    if (off)
        ep->tok_topp_offsets = off;
    uint16_t *routes = NULL;
    size_t per = (size_t)(ep->route_layers * ep->route_topk);
    if (ep->tok_has_routes) {
        routes = ef_realloc(ep->tok_routes, cap * per * sizeof(*routes));
        if (routes)
            ep->tok_routes = routes;
    }
    if (!ids || !mask || !lp || !off || (ep->tok_has_routes && !routes))
        return EF_ENOMEM;
    ep->cap_tok = cap;
    return 0;
}

static int topp_append(ef_agent_episode *ep, const int32_t *ids, size_t n)
{
    if (ep->n_topp_ids + n > ep->cap_topp_ids) {
        size_t cap = ep->cap_topp_ids ? ep->cap_topp_ids : 1024;
        while (cap < ep->n_topp_ids + n)
            cap *= 2;
        int32_t *p = ef_realloc(ep->tok_topp_ids, cap * sizeof(*p));
        if (!p)
            return EF_ENOMEM;
        ep->tok_topp_ids = p;
        ep->cap_topp_ids = cap;
    }
    memcpy(ep->tok_topp_ids + ep->n_topp_ids, ids, n * sizeof(*ids));
    ep->n_topp_ids += n;
    return 0;
}

/* Extends the stream with this turn: the new part of the prompt (mask 0) and the
 * completion (mask 1), with top-p sets and routes while every turn has them. A turn
 * without ids, or a prompt that does not extend the stream (a context reset), makes the
 * stream invalid for the episode. */
static int tok_add(loop *L, const ef_model_response *r)
{
    ef_agent_episode *ep = L->ep;
    if (L->n_calls == 1) {
        ep->tok_valid = r->prompt_ids && r->token_ids;
        ep->tok_has_topp = r->topp_offsets != NULL;
        ep->tok_has_logprobs = r->logprobs != NULL;
        ep->tok_has_routes = r->routes != NULL && r->route_layers > 0 && r->route_topk > 0;
        ep->route_layers = ep->tok_has_routes ? r->route_layers : 0;
        ep->route_topk = ep->tok_has_routes ? r->route_topk : 0;
    }
    if (!ep->tok_valid)
        return 0;
    if (!r->prompt_ids || !r->token_ids || r->n_prompt_ids < ep->n_tok ||
        (ep->n_tok && memcmp(r->prompt_ids, ep->tok_ids, ep->n_tok * sizeof(int32_t)) != 0)) {
        ep->tok_valid = 0;
        return 0;
    }
    if (!r->topp_offsets)
        ep->tok_has_topp = 0;
    if (!r->logprobs)
        ep->tok_has_logprobs = 0;
    if (!r->routes || r->route_layers != ep->route_layers || r->route_topk != ep->route_topk)
        ep->tok_has_routes = 0;
    size_t start = ep->n_tok;
    if (tok_reserve(ep, r->n_prompt_ids + r->n_tokens) < 0)
        return EF_ENOMEM;
    if (start == 0)
        ep->tok_topp_offsets[0] = 0;
    for (size_t i = ep->n_tok; i < r->n_prompt_ids; i++) {
        ep->tok_ids[i] = r->prompt_ids[i];
        ep->tok_mask[i] = 0;
        ep->tok_logprobs[i] = 0;
        ep->tok_topp_offsets[i + 1] = (int32_t)ep->n_topp_ids;
    }
    ep->n_tok = r->n_prompt_ids;
    for (size_t i = 0; i < r->n_tokens; i++) {
        ep->tok_ids[ep->n_tok] = r->token_ids[i];
        ep->tok_mask[ep->n_tok] = 1;
        ep->tok_logprobs[ep->n_tok] = r->logprobs ? r->logprobs[i] : 0.0f;
        if (ep->tok_has_topp &&
            topp_append(ep, r->topp_ids + r->topp_offsets[i],
                        (size_t)(r->topp_offsets[i + 1] - r->topp_offsets[i])) < 0)
            return EF_ENOMEM;
        ep->tok_topp_offsets[ep->n_tok + 1] = (int32_t)ep->n_topp_ids;
        ep->n_tok++;
    }
    if (ep->tok_has_routes) {
        /* this call's routes cover positions 0 .. n_prompt + n_tokens */
        size_t per = (size_t)(ep->route_layers * ep->route_topk);
        memcpy(ep->tok_routes + start * per, r->routes + start * per,
               (ep->n_tok - start) * per * sizeof(uint16_t));
    }
    return 0;
}

/* ---- tools ------------------------------------------------------------------------- */

static int build_tools(loop *L)
{
    const char *env_tools = L->env->iface->tools_json(L->env);
    L->env_has_submit = L->env->iface->has_tool(L->env, "submit", NULL);
    if (!L->cfg->submit_tool || L->env_has_submit) {
        L->tools_json = ef_strdup(env_tools ? env_tools : "[]");
        return L->tools_json ? 0 : EF_ENOMEM;
    }
    size_t n = env_tools ? strlen(env_tools) : 0;
    while (n > 0 && (env_tools[n - 1] == ' ' || env_tools[n - 1] == '\n'))
        n--;
    if (n < 2 || env_tools[n - 1] != ']')
        L->tools_json = ef_asprintf("[%s]", submit_tool_json);
    else {
        int empty = 1;
        for (size_t i = 1; i + 1 < n; i++)
            if (env_tools[i] != ' ' && env_tools[i] != '\n')
                empty = 0;
        L->tools_json =
            ef_asprintf("%.*s%s%s]", (int)(n - 1), env_tools, empty ? "" : ",", submit_tool_json);
    }
    return L->tools_json ? 0 : EF_ENOMEM;
}

/* The tool's text under the byte cap, cut from the middle so that its end (an exit
 * status, a traceback's last lines) survives (common/utf8.h). */
static char *cap_text(loop *L, char *text)
{
    size_t cap = L->cfg->max_tool_output_bytes;
    size_t n = text ? strlen(text) : 0;
    if (!text || !cap || n <= cap)
        return text;
    int oom = 0;
    char *t = ef_utf8_cap_middle(text, n, cap, &oom);
    if (!t && !oom) { /* a cap too small for both ends: the head, on a UTF-8 boundary */
        size_t k = ef_utf8_floor(text, cap);
        t = ef_asprintf("%.*s\n[output truncated at %zu bytes]", (int)k, text, cap);
    }
    if (!t)
        return text;
    ef_free(text);
    return t;
}

/* Runs one call; *result is the text for the model (ef_free); *status its outcome.
 * *answer (ef_free) is set by submit. Returns < 0 only when the host failed. */
static int exec_call(loop *L, const ef_agent_tool_call *c, char **result,
                     ef_agent_call_status *status, char **answer)
{
    cJSON *args = NULL;
    char *why = NULL;
    int rc = 0;
    *result = NULL;
    *status = EF_CALL_OK;
    if (!c->name || !*c->name) {
        *status = EF_CALL_MALFORMED;
        *result = ef_strdup("error: the tool call has no function name");
        goto done;
    }
    if ((*status = ef_agent_call_args_parse(c->arguments, &args, &why)) != EF_CALL_OK) {
        *result = ef_asprintf("error: tool %s: %s", c->name, why ? why : "bad arguments");
        goto done;
    }
    if (strcmp(c->name, "submit") == 0 && L->cfg->submit_tool && !L->env_has_submit) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(args, "answer");
        if (!a) {
            *status = EF_CALL_BAD_ARGS;
            *result = ef_strdup("error: tool submit: arguments.answer: required field missing");
            goto done;
        }
        *answer = cJSON_IsString(a) ? ef_strdup(a->valuestring) : ef_json_print(a);
        *result = ef_strdup("submitted");
        if (!*answer)
            rc = EF_ENOMEM;
        goto done;
    }
    const cJSON *schema = NULL;
    if (!L->env->iface->has_tool(L->env, c->name, &schema)) {
        *status = EF_CALL_UNKNOWN;
        *result =
            ef_asprintf("error: unknown tool '%s'; the tools are listed in the request", c->name);
        goto done;
    }
    if (schema && ef_agent__args_check(schema, args, &why)) {
        *status = EF_CALL_BAD_ARGS;
        *result = ef_asprintf("error: tool %s: %s", c->name, why ? why : "bad arguments");
        goto done;
    }
    ef_agent_tool_out out = {NULL, 0, 0};
    ef_error_clear(L->ctx);
    rc = L->env->iface->call(L->env, L->ctx, L->st, c->name, args, &out);
    if (rc < 0) {
        ef_free(out.text);
        if (rc == EF_ENOMEM)
            goto done;
        /* a failing host-side tool is the tool's error, reported to the model */
        *status = EF_CALL_TOOL_ERROR;
        *result = ef_asprintf("error: tool %s: %s", c->name, ef_errmsg(L->ctx));
        rc = 0;
        goto done;
    }
    if (out.is_error) {
        *status = EF_CALL_TOOL_ERROR;
        *result = ef_asprintf("error: %s", out.text ? out.text : "tool failed");
        ef_free(out.text);
    } else {
        *result = out.text ? out.text : ef_strdup("");
        if (out.ends_episode && !*answer)
            *answer = ef_strdup(*result);
    }
done:
    if (rc == 0 && !*result)
        rc = EF_ENOMEM;
    if (rc == 0)
        *result = cap_text(L, *result);
    cJSON_Delete(args);
    ef_free(why);
    return rc;
}

/* Runs the tool calls of the assistant message at transcript index msg_idx. */
static int run_calls(loop *L, const ef_agent_msg *am, int64_t msg_idx, char **answer)
{
    int n_bad = 0;
    for (size_t i = 0; i < am->n_tool_calls; i++) {
        const ef_agent_tool_call *c = &am->tool_calls[i];
        char *result = NULL;
        ef_agent_call_status status;
        uint64_t t = ef_now_ns();
        char *sub = NULL;
        int rc = exec_call(L, c, &result, &status, &sub);
        if (sub && !*answer)
            *answer = sub;
        else
            ef_free(sub);
        int64_t ms = (int64_t)((ef_now_ns() - t) / 1000000);
        L->ep->tool_ms += ms;
        if (rc < 0) {
            ef_free(result);
            return rc;
        }
        L->ep->n_tool_calls++;
        switch (status) {
        case EF_CALL_MALFORMED:
            L->ep->n_parse_errors++;
            break;
        case EF_CALL_UNKNOWN:
            L->ep->n_unknown_tools++;
            break;
        case EF_CALL_BAD_ARGS:
            L->ep->n_bad_args++;
            break;
        case EF_CALL_TOOL_ERROR:
            L->ep->n_tool_errors++;
            break;
        default:
            break;
        }
        if (status != EF_CALL_OK)
            n_bad++;
        ef_agent_msg tm;
        memset(&tm, 0, sizeof(tm));
        tm.role = EF_ROLE_TOOL;
        tm.content = result;
        tm.tool_call_id = c->id;
        tm.name = c->name;
        rc = call_record(L->ep, msg_idx, c, result, status, ms);
        if (rc == 0)
            rc = push_both(L, &tm);
        ef_free(result);
        if (rc < 0)
            return rc;
    }
    if (n_bad == (int)am->n_tool_calls)
        L->consecutive_errors++;
    else
        L->consecutive_errors = 0;
    return 0;
}

/* ---- context policies -------------------------------------------------------------- */

static int context_reset(loop *L, int64_t prompt_tokens)
{
    const ef_agent_config *cfg = L->cfg;
    size_t before = L->conv.n;
    size_t first = 0; /* index after the first user message */
    while (first < L->conv.n && L->conv.msgs[first].role != EF_ROLE_USER)
        first++;
    first++;
    int rc = 0;
    if (cfg->context_policy == EF_CONTEXT_DISCARD_ALL) {
        while (L->conv.n > first)
            ef_agent_conv_remove(&L->conv, L->conv.n - 1);
    } else if (cfg->context_policy == EF_CONTEXT_DISCARD_75) {
        size_t n_turns = 0;
        for (size_t i = first; i < L->conv.n; i++)
            if (L->conv.msgs[i].role == EF_ROLE_ASSISTANT && L->conv.msgs[i].n_tool_calls)
                n_turns++;
        size_t drop = (n_turns * 3 + 3) / 4; /* 75%, at least one */
        while (drop > 0 && first < L->conv.n) {
            /* remove the assistant turn at `first` and the tool results that follow */
            int was_tool_turn =
                L->conv.msgs[first].role == EF_ROLE_ASSISTANT && L->conv.msgs[first].n_tool_calls;
            ef_agent_conv_remove(&L->conv, first);
            while (first < L->conv.n && L->conv.msgs[first].role == EF_ROLE_TOOL)
                ef_agent_conv_remove(&L->conv, first);
            if (was_tool_turn)
                drop--;
        }
    } else if (cfg->context_policy == EF_CONTEXT_SUMMARY) {
        ef_agent_conv sc = EF_AGENT_CONV_INIT;
        if (ef_agent_conv_copy(&L->conv, &sc) < 0 ||
            ef_agent_conv_push_text(&sc, EF_ROLE_USER,
                                    "The context is full. Summarize what you have found and "
                                    "done so far, everything needed to finish the task, in "
                                    "plain text without tool calls.") < 0) {
            ef_agent_conv_clear(&sc);
            return EF_ENOMEM;
        }
        ef_model_request req = {&sc,
                                NULL,
                                cfg->sampling,
                                L->seed + (uint64_t)L->n_calls,
                                0,
                                L->task_id,
                                L->sample_idx,
                                L->n_calls,
                                NULL,
                                0,
                                0};
        ef_model_response resp;
        uint64_t t = ef_now_ns();
        rc = ef_model_complete(L->m, L->ctx, &req, &resp);
        L->n_calls++;
        L->ep->model_ms += (int64_t)((ef_now_ns() - t) / 1000000);
        ef_agent_conv_clear(&sc);
        if (rc < 0)
            return rc;
        if (resp.completion_tokens > 0)
            L->ep->n_completion_tokens += resp.completion_tokens;
        if (resp.prompt_tokens > 0)
            L->ep->n_prompt_tokens += resp.prompt_tokens;
        const char *summary = resp.message.content ? resp.message.content : "";
        const char *prompt = L->env->iface->prompt(L->env, L->st);
        char *text = ef_asprintf("%s\n\nProgress so far (summary of earlier work):\n%s",
                                 prompt ? prompt : "", summary);
        ef_model_response_free(&resp);
        if (!text)
            return EF_ENOMEM;
        while (L->conv.n > first - 1)
            ef_agent_conv_remove(&L->conv, L->conv.n - 1);
        rc = ef_agent_conv_push_text(&L->conv, EF_ROLE_USER, text);
        ef_free(text);
        if (rc < 0)
            return rc;
    }
    L->ep->n_context_resets++;
    L->last_prompt_tokens = 0;
    L->tok_msgs = 0;
    L->ep->tok_valid = 0; /* the stream no longer describes the context */
    char payload[256];
    snprintf(payload, sizeof(payload),
             "{\"policy\":\"%s\",\"prompt_tokens\":%lld,\"messages_before\":%zu,"
             "\"messages_after\":%zu}",
             ef_agent_context_policy_name(cfg->context_policy), (long long)prompt_tokens, before,
             L->conv.n);
    return ef_agent__event_add(L->ep, "context_reset", payload);
}

/* ---- the loop ------------------------------------------------------------------------ */

static int model_error(loop *L, const char *msg)
{
    L->ep->error = ef_strdup(msg && *msg ? msg : "model error");
    cJSON *p = cJSON_CreateObject();
    char *pj = NULL;
    if (p && cJSON_AddStringToObject(p, "error", msg ? msg : "") &&
        cJSON_AddNumberToObject(p, "turn", (double)L->ep->n_turns))
        pj = ef_json_print(p);
    cJSON_Delete(p);
    int rc = ef_agent__event_add(L->ep, "model_error", pj);
    ef_free(pj);
    end(L, EF_END_MODEL_ERROR);
    return L->ep->error ? rc : EF_ENOMEM;
}

static int budgets_left(loop *L)
{
    const ef_agent_config *cfg = L->cfg;
    if (cfg->max_wall_ms > 0 && (int64_t)((ef_now_ns() - L->t0) / 1000000) >= cfg->max_wall_ms) {
        end(L, EF_END_TIMEOUT);
        return 0;
    }
    if (cfg->max_tokens > 0 && L->ep->n_completion_tokens >= cfg->max_tokens) {
        end(L, EF_END_MAX_TOKENS);
        return 0;
    }
    if (cfg->max_turns > 0 && L->ep->n_turns >= cfg->max_turns) {
        end(L, EF_END_MAX_TURNS);
        return 0;
    }
    return 1;
}

static int model_turn(loop *L, char **answer)
{
    const ef_agent_config *cfg = L->cfg;
    int rc;
    /* context policy */
    int64_t est = L->last_prompt_tokens > 0 ? L->last_prompt_tokens
                                            : ef_agent__conv_estimate_tokens(&L->conv);
    if (cfg->context_window > 0 && est > (int64_t)(cfg->context_threshold * cfg->context_window)) {
        if (cfg->context_policy == EF_CONTEXT_NONE ||
            L->ep->n_context_resets >= cfg->max_context_resets) {
            end(L, EF_END_CONTEXT_OVERFLOW);
            return 0;
        }
        ef_error_clear(L->ctx);
        rc = context_reset(L, est);
        if (rc == EF_ENOMEM)
            return rc;
        if (rc < 0)
            return model_error(L, ef_errmsg(L->ctx));
        est = ef_agent__conv_estimate_tokens(&L->conv);
        if (est > (int64_t)(cfg->context_threshold * cfg->context_window)) {
            end(L, EF_END_CONTEXT_OVERFLOW);
            return 0;
        }
    }
    if (cfg->retain_reasoning)
        ef_agent__retain_reasoning(&L->conv);
    ef_model_request req = {&L->conv,
                            L->tools_json,
                            cfg->sampling,
                            ef_rng_derive(L->seed, 0x7475726eu, (uint64_t)L->n_calls),
                            cfg->retain_reasoning,
                            L->task_id,
                            L->sample_idx,
                            L->n_calls,
                            NULL,
                            0,
                            0};
    if (L->ep->tok_valid && L->ep->n_tok && L->tok_msgs && L->tok_msgs <= L->conv.n) {
        /* the stream so far, unless a new user turn came after it (thinking dropped); the
         * harness's feedback is not one */
        int user_after = 0;
        for (size_t i = L->tok_msgs; i < L->conv.n; i++)
            user_after |= L->conv.msgs[i].role == EF_ROLE_USER && !L->conv.msgs[i].feedback;
        if (!user_after) {
            req.context_ids = L->ep->tok_ids;
            req.n_context_ids = L->ep->n_tok;
            req.n_context_msgs = L->tok_msgs;
        }
    }
    ef_model_response resp;
    uint64_t t = ef_now_ns();
    ef_error_clear(L->ctx);
    rc = ef_model_complete(L->m, L->ctx, &req, &resp);
    L->n_calls++;
    L->ep->model_ms += (int64_t)((ef_now_ns() - t) / 1000000);
    if (rc == EF_ENOMEM)
        return rc;
    if (rc < 0)
        return model_error(L, ef_errmsg(L->ctx));
    L->ep->n_turns++;
    if (resp.completion_tokens > 0)
        L->ep->n_completion_tokens += resp.completion_tokens;
    if (resp.prompt_tokens > 0) {
        L->ep->n_prompt_tokens += resp.prompt_tokens;
        L->last_prompt_tokens =
            resp.prompt_tokens + (resp.completion_tokens > 0 ? resp.completion_tokens : 0);
    }
    ef_agent_msg *am = &resp.message;
    am->role = EF_ROLE_ASSISTANT;
    if (cfg->parse_dsml && am->n_tool_calls == 0 && am->content) {
        rc = ef_agent_parse_dsml(L->ctx, am);
        if (rc == EF_ENOMEM)
            goto cleanup;
        if (rc < 0) {
            /* a broken DSML block: back to the model as an error. Its sampled tokens stay
             * in the stream (mask 1: the mistake a trainer penalises) and the feedback
             * follows them as prompt tokens. */
            L->ep->n_parse_errors++;
            L->consecutive_errors++;
            char *msg =
                ef_asprintf("error: your tool call could not be parsed: %s", ef_errmsg(L->ctx));
            rc = msg ? ef_agent__event_add(L->ep, "parse_error", NULL) : EF_ENOMEM;
            if (rc == 0)
                rc = tok_add(L, &resp);
            if (rc == 0)
                rc = push_both(L, am);
            if (rc == 0) {
                L->tok_msgs = L->ep->tok_valid ? L->conv.n : 0;
                rc = push_feedback(L, msg);
            }
            ef_free(msg);
            goto cleanup;
        }
    }
    for (size_t i = 0; i < am->n_tool_calls; i++)
        if (!am->tool_calls[i].id || !*am->tool_calls[i].id) {
            ef_free(am->tool_calls[i].id);
            am->tool_calls[i].id = ef_asprintf("call_%lld_%zu", (long long)L->ep->n_turns - 1, i);
            if (!am->tool_calls[i].id) {
                rc = EF_ENOMEM;
                goto cleanup;
            }
        }
    if ((rc = tok_add(L, &resp)) < 0 || (rc = push_both(L, am)) < 0)
        goto cleanup;
    L->tok_msgs = L->ep->tok_valid ? L->conv.n : 0;
    int64_t msg_idx = (int64_t)L->ep->transcript.n - 1;
    if (am->n_tool_calls == 0) {
        const char *content = am->content ? am->content : "";
        while (*content == ' ' || *content == '\n' || *content == '\t' || *content == '\r')
            content++;
        if (resp.finish_reason && strcmp(resp.finish_reason, "length") == 0) {
            end(L, EF_END_MAX_TOKENS);
        } else if (!*content) {
            /* an empty reply: back to the model as an error */
            L->ep->n_parse_errors++;
            L->consecutive_errors++;
            rc = push_feedback(L, "error: your reply was empty. Call a tool, or reply with the "
                                  "final answer.");
        } else {
            *answer = ef_strdup(content);
            rc = *answer ? 0 : EF_ENOMEM;
            end(L, EF_END_ANSWER);
        }
        goto cleanup;
    }
    rc = run_calls(L, am, msg_idx, answer);
    if (rc == 0 && *answer)
        end(L, EF_END_SUBMIT);
cleanup:
    ef_model_response_free(&resp);
    if (rc == 0 && !L->ended && cfg->max_tool_errors > 0 &&
        L->consecutive_errors >= cfg->max_tool_errors) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%d turns in a row without a valid tool call or answer",
                 L->consecutive_errors);
        L->ep->error = ef_strdup(msg);
        end(L, EF_END_TOOL_ERROR);
    }
    return rc;
}

/* ---- the oracle ------------------------------------------------------------------------ */

/* A JSON value as the text a model would see: a string's value, else compact JSON. */
static char *json_as_text(const cJSON *v)
{
    if (!v)
        return ef_strdup("");
    if (cJSON_IsString(v))
        return ef_strdup(v->valuestring);
    return ef_json_print(v);
}

/* Records one of the solver's calls as an assistant tool call and its tool message. */
static int oracle_record(loop *L, const cJSON *call)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(call, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(call, "arguments");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(call, "result");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(call, "error");
    char id[48];
    snprintf(id, sizeof(id), "call_%lld", (long long)L->ep->n_turns);
    char *args_text = !args                  ? ef_strdup("{}")
                      : cJSON_IsString(args) ? ef_strdup(args->valuestring)
                                             : ef_json_print(args);
    char *err_text = err ? json_as_text(err) : NULL;
    char *result = err ? (err_text ? ef_asprintf("error: %s", err_text) : NULL) : json_as_text(res);
    int rc = (!args_text || !result) ? EF_ENOMEM : 0;
    ef_agent_tool_call c = {id, cJSON_IsString(name) ? name->valuestring : (char *)"", args_text};
    if (rc == 0) {
        ef_agent_msg am;
        memset(&am, 0, sizeof(am));
        am.role = EF_ROLE_ASSISTANT;
        am.tool_calls = &c;
        am.n_tool_calls = 1;
        rc = push_both(L, &am);
    }
    if (rc == 0) {
        L->ep->n_turns++;
        L->ep->n_tool_calls++;
        if (err)
            L->ep->n_tool_errors++;
        rc = call_record(L->ep, (int64_t)L->ep->transcript.n - 1, &c, result,
                         err ? EF_CALL_TOOL_ERROR : EF_CALL_OK, 0);
    }
    if (rc == 0) {
        ef_agent_msg tm;
        memset(&tm, 0, sizeof(tm));
        tm.role = EF_ROLE_TOOL;
        tm.content = result;
        tm.tool_call_id = id;
        tm.name = c.name;
        rc = push_both(L, &tm);
    }
    ef_free(args_text);
    ef_free(err_text);
    ef_free(result);
    return rc;
}

static int run_oracle(loop *L)
{
    char *answer_json = NULL, *calls_json = NULL;
    cJSON *calls = NULL, *ans = NULL;
    ef_error_clear(L->ctx);
    if (!L->env->iface->solve)
        return model_error(L, "model oracle: this env has no reference solver");
    /* --max-turns as for any model: each call is a turn and so is the answer, so the
     * solver gets max_turns calls; one that needs more is stopped before the next call
     * runs (the state is what the allowed calls left) */
    int64_t max_turns = L->cfg->max_turns > 0 ? L->cfg->max_turns : 0;
    uint64_t t = ef_now_ns();
    int rc = L->env->iface->solve(L->env, L->ctx, L->st, max_turns, &answer_json, &calls_json);
    L->ep->tool_ms += (int64_t)((ef_now_ns() - t) / 1000000);
    if (rc == EF_ENOMEM)
        goto cleanup;
    if (rc < 0) {
        rc = model_error(L, ef_errmsg(L->ctx));
        goto cleanup;
    }
    if (calls_json && (calls = cJSON_Parse(calls_json)) != NULL) {
        const cJSON *c;
        cJSON_ArrayForEach(c, calls)
        {
            if (max_turns && L->ep->n_turns >= max_turns)
                break; /* a solver that ran past its budget: only the turns allowed */
            if ((rc = oracle_record(L, c)) < 0)
                goto cleanup;
        }
    }
    if (!answer_json || (max_turns && L->ep->n_turns >= max_turns)) {
        /* the answer would be a turn past the budget: ended as a model's episode is
         * (no answer; verified on the state the calls left) */
        end(L, EF_END_MAX_TURNS);
        goto cleanup;
    }
    ans = answer_json ? cJSON_Parse(answer_json) : NULL;
    char *text = ans ? json_as_text(ans) : ef_strdup(answer_json ? answer_json : "");
    if (!text) {
        rc = EF_ENOMEM;
        goto cleanup;
    }
    ef_agent_msg am;
    memset(&am, 0, sizeof(am));
    am.role = EF_ROLE_ASSISTANT;
    am.content = text;
    rc = push_both(L, &am);
    L->ep->n_turns++;
    L->ep->answer = text;
    L->answer_json = answer_json;
    answer_json = NULL;
    end(L, EF_END_ANSWER);
cleanup:
    cJSON_Delete(calls);
    cJSON_Delete(ans);
    ef_free(answer_json);
    ef_free(calls_json);
    return rc;
}

/* ---- entry ----------------------------------------------------------------------------- */

static int verify(loop *L)
{
    ef_agent_episode *ep = L->ep;
    double reward = 0;
    char *info = NULL;
    char *aj = NULL;
    if (!L->answer_json) {
        cJSON *s = cJSON_CreateString(ep->answer ? ep->answer : "");
        aj = s ? ef_json_print(s) : NULL;
        cJSON_Delete(s);
        if (!aj)
            return EF_ENOMEM;
    }
    uint64_t t = ef_now_ns();
    ef_error_clear(L->ctx);
    int rc = L->env->iface->verify(L->env, L->ctx, L->st, L->answer_json ? L->answer_json : aj,
                                   &reward, &info);
    ef_free(aj);
    ep->verify_ms = (int64_t)((ef_now_ns() - t) / 1000000);
    if (rc == EF_ENOMEM)
        return rc;
    if (rc < 0 || isnan(reward)) {
        ef_free(info);
        const char *msg = rc < 0 ? ef_errmsg(L->ctx) : "verifier returned NaN";
        char *payload = ef_asprintf("{\"error\":\"verify failed\"}");
        ef_agent__event_add(ep, "verify_error", payload);
        ef_free(payload);
        if (!ep->error)
            ep->error = ef_asprintf("verify: %s", msg);
        ep->verified = 0;
        ep->reward = 0;
        return 0;
    }
    ep->reward = reward < 0 ? 0 : reward > 1 ? 1 : reward;
    /* the verifier ran; its verdict counts as verified only on an answer (an episode a
     * budget or an error ended keeps the verdict on its final state as its reward) */
    ep->verified = ep->answer != NULL;
    ep->verify_info = info;
    return 0;
}

int ef_agent_episode_run(ef_ctx *ctx, const ef_agent_config *cfg, ef_model *m, ef_agent_env *env,
                         const char *task_json, uint64_t seed, ef_agent_episode **out)
{
    return ef_agent_episode_run_ext(ctx, cfg, m, env, task_json, seed, 0, 0, out);
}

int ef_agent_episode_run_ext(ef_ctx *ctx, const ef_agent_config *cfg, ef_model *m,
                             ef_agent_env *env, const char *task_json, uint64_t seed,
                             int64_t task_id, int64_t sample_idx, ef_agent_episode **out)
{
    ef_agent_config def = EF_AGENT_CONFIG_INIT;
    if (!cfg)
        cfg = &def;
    loop L;
    memset(&L, 0, sizeof(L));
    L.ctx = ctx;
    L.cfg = cfg;
    L.m = m;
    L.env = env;
    L.seed = seed;
    L.task_id = task_id;
    L.sample_idx = sample_idx;
    L.t0 = ef_now_ns();
    ef_agent_episode *ep = ef_calloc(1, sizeof(*ep));
    if (!ep)
        return ef_errorf(ctx, EF_ENOMEM, "episode: out of memory");
    L.ep = ep;
    ep->started_at = unix_now();
    int rc = env->iface->episode_new(env, ctx, task_json, &L.st);
    if (rc < 0) {
        ef_free(ep);
        return ef_error_wrap(ctx, rc, "episode of task %lld", (long long)task_id);
    }
    const char *prompt = env->iface->prompt(env, L.st);
    int oracle = ef_model_is_oracle(m);
    const char *sys = cfg->system_prompt ? cfg->system_prompt : default_system;
    char *sys_text = NULL;
    if (!cfg->system_prompt)
        sys_text =
            ef_asprintf("%s%s.", sys,
                        /* the oracle is offered no submit tool: say nothing of it */
                        cfg->submit_tool && !oracle ? ", or call the submit tool with it" : "");
    if ((!cfg->system_prompt && !sys_text) || (!oracle && build_tools(&L) < 0) ||
        push_text(&L, EF_ROLE_SYSTEM, sys_text ? sys_text : sys) < 0 ||
        push_text(&L, EF_ROLE_USER, prompt ? prompt : "") < 0) {
        rc = EF_ENOMEM;
        goto cleanup;
    }
    if (oracle) {
        rc = run_oracle(&L);
    } else {
        char *answer = NULL;
        while (rc == 0 && !L.ended && budgets_left(&L))
            rc = model_turn(&L, &answer);
        ep->answer = answer;
    }
    if (rc == 0)
        rc = verify(&L);
    if (rc == 0 &&
        (ep->n_parse_errors || ep->n_unknown_tools || ep->n_bad_args || ep->n_tool_errors)) {
        /* the breakdown the store's two counters fold together */
        char payload[192];
        snprintf(payload, sizeof(payload),
                 "{\"parse_errors\":%lld,\"unknown_tools\":%lld,\"bad_arguments\":%lld,"
                 "\"tool_errors\":%lld}",
                 (long long)ep->n_parse_errors, (long long)ep->n_unknown_tools,
                 (long long)ep->n_bad_args, (long long)ep->n_tool_errors);
        rc = ef_agent__event_add(ep, "call_errors", payload);
    }
cleanup:
    ep->wall_ms = (int64_t)((ef_now_ns() - L.t0) / 1000000);
    ef_free(sys_text);
    ef_free(L.tools_json);
    ef_free(L.answer_json);
    ef_agent_conv_clear(&L.conv);
    env->iface->episode_free(env, L.st);
    if (rc < 0) {
        ef_agent_episode_free(ep);
        if (rc == EF_ENOMEM)
            return ef_errorf(ctx, EF_ENOMEM, "episode of task %lld: out of memory",
                             (long long)task_id);
        return rc;
    }
    *out = ep;
    return 0;
}

void ef_agent_episode_free(ef_agent_episode *ep)
{
    if (!ep)
        return;
    ef_agent_conv_clear(&ep->transcript);
    for (size_t i = 0; i < ep->n_calls; i++) {
        ef_free(ep->calls[i].call_id);
        ef_free(ep->calls[i].tool);
        ef_free(ep->calls[i].arguments);
        ef_free(ep->calls[i].result);
    }
    ef_free(ep->calls);
    for (size_t i = 0; i < ep->n_events; i++) {
        ef_free(ep->events[i].kind);
        ef_free(ep->events[i].payload_json);
    }
    ef_free(ep->events);
    ef_free(ep->answer);
    ef_free(ep->error);
    ef_free(ep->verify_info);
    ef_free(ep->tok_ids);
    ef_free(ep->tok_mask);
    ef_free(ep->tok_logprobs);
    ef_free(ep->tok_topp_offsets);
    ef_free(ep->tok_topp_ids);
    ef_free(ep->tok_routes);
    ef_free(ep);
}

const char *ef_agent_episode_status(const ef_agent_episode *ep)
{
    switch (ep->end_reason) {
    case EF_END_ANSWER:
    case EF_END_SUBMIT:
        return "completed";
    case EF_END_MODEL_ERROR:
    case EF_END_TOOL_ERROR:
        return "failed";
    default:
        return "truncated";
    }
}

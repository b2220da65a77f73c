/*
 * agent/env_lua.c — the Lua envs of envgen as the loop sees them (ef_agent_env): tools
 * from the env's tool table, per-episode state (ef_env_episode), tool calls, the
 * reference solver and the verifier. Tool results reach the model as text: a JSON string
 * as its value, anything else as compact JSON.
 */
#include <string.h>
#include "agent/agent_int.h"
#include "envgen/envgen.h"

typedef struct {
    ef_env *env;
    cJSON *tools; /* parsed tools_json: name -> parameters lookups */
} lua_env;

typedef struct {
    ef_env_episode *ep;
    char *prompt;
} lua_ep;

static const char *l_tools_json(ef_agent_env *env)
{
    lua_env *e = env->impl;
    return ef_env_get_info(e->env)->tools_json;
}

static int l_has_tool(ef_agent_env *env, const char *name, const cJSON **schema)
{
    lua_env *e = env->impl;
    const cJSON *tool;
    cJSON_ArrayForEach(tool, e->tools)
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) {
            if (schema)
                *schema = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
            return 1;
        }
    }
    return 0;
}

static int l_episode_new(ef_agent_env *env, ef_ctx *ctx, const char *task_json, void **st)
{
    lua_env *e = env->impl;
    lua_ep *le = ef_calloc(1, sizeof(*le));
    cJSON *task = NULL;
    int rc;
    if (!le)
        return ef_errorf(ctx, EF_ENOMEM, "episode: out of memory");
    if ((rc = ef_json_parse(ctx, task_json, strlen(task_json), "task", &task)) < 0)
        goto fail;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(task, "prompt");
    if (!cJSON_IsString(p)) {
        rc =
            ef_errorf(ctx, EF_EINVAL, "task.prompt: expected string, got %s", ef_json_type_name(p));
        goto fail;
    }
    if (!(le->prompt = ef_strdup(p->valuestring))) {
        rc = ef_errorf(ctx, EF_ENOMEM, "episode: out of memory");
        goto fail;
    }
    if ((rc = ef_env_episode_new(ctx, e->env, task_json, &le->ep)) < 0)
        goto fail;
    cJSON_Delete(task);
    *st = le;
    return 0;
fail:
    cJSON_Delete(task);
    ef_free(le->prompt);
    ef_free(le);
    return rc;
}

static void l_episode_free(ef_agent_env *env, void *st)
{
    (void)env;
    lua_ep *le = st;
    if (!le)
        return;
    ef_env_episode_free(le->ep);
    ef_free(le->prompt);
    ef_free(le);
}

static const char *l_prompt(ef_agent_env *env, void *st)
{
    (void)env;
    return ((lua_ep *)st)->prompt;
}

/* A JSON text as the model sees it: a string's value, anything else as it is. */
static char *result_text(const char *json)
{
    if (json && json[0] == '"') {
        cJSON *s = cJSON_Parse(json);
        if (cJSON_IsString(s)) {
            char *t = ef_strdup(s->valuestring);
            cJSON_Delete(s);
            return t;
        }
        cJSON_Delete(s);
    }
    return ef_strdup(json ? json : "null");
}

static int l_call(ef_agent_env *env, ef_ctx *ctx, void *st, const char *name, const cJSON *args,
                  ef_agent_tool_out *out)
{
    (void)env;
    lua_ep *le = st;
    char *args_text = ef_json_print(args), *res = NULL;
    int is_error = 0;
    if (!args_text)
        return ef_errorf(ctx, EF_ENOMEM, "tool %s: out of memory", name);
    int rc = ef_env_episode_call(ctx, le->ep, name, args_text, &res, &is_error);
    ef_free(args_text);
    if (rc < 0)
        return rc;
    out->text = result_text(res);
    out->is_error = is_error;
    ef_free(res);
    return out->text ? 0 : ef_errorf(ctx, EF_ENOMEM, "tool %s: out of memory", name);
}

static int l_solve(ef_agent_env *env, ef_ctx *ctx, void *st, int64_t max_calls, char **answer_json,
                   char **calls_json)
{
    (void)env;
    return ef_env_episode_solve_capped(ctx, ((lua_ep *)st)->ep,
                                       max_calls > 0 ? (size_t)max_calls : 0, answer_json,
                                       calls_json);
}

static int l_verify(ef_agent_env *env, ef_ctx *ctx, void *st, const char *answer_json,
                    double *reward, char **info_json)
{
    (void)env;
    return ef_env_episode_verify(ctx, ((lua_ep *)st)->ep, answer_json, reward, info_json);
}

static void l_free(ef_agent_env *env)
{
    lua_env *e = env->impl;
    if (e) {
        ef_env_free(e->env);
        cJSON_Delete(e->tools);
        ef_free(e);
    }
    ef_free(env);
}

static const ef_agent_env_iface lua_iface = {l_tools_json,   l_has_tool, l_episode_new,
                                             l_episode_free, l_prompt,   l_call,
                                             l_solve,        l_verify,   l_free};

int ef_agent_env_lua_open(ef_ctx *ctx, const char *path, const char *source, size_t len,
                          ef_agent_env **out)
{
    ef_agent_env *env = ef_calloc(1, sizeof(*env));
    lua_env *e = ef_calloc(1, sizeof(*e));
    int rc;
    if (!env || !e) {
        ef_free(env);
        ef_free(e);
        return ef_errorf(ctx, EF_ENOMEM, "env %s: out of memory", path);
    }
    env->iface = &lua_iface;
    env->impl = e;
    if (source)
        rc = ef_env_load_buffer(ctx, path, source, len, NULL, &e->env);
    else
        rc = ef_env_load(ctx, path, NULL, &e->env);
    if (rc < 0)
        goto fail;
    const char *tj = ef_env_get_info(e->env)->tools_json;
    if ((rc = ef_json_parse(ctx, tj ? tj : "[]", tj ? strlen(tj) : 2, "env tools", &e->tools)) < 0)
        goto fail;
    *out = env;
    return 0;
fail:
    l_free(env);
    return rc;
}

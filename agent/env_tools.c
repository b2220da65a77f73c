/*
 * agent/env_tools.c — an env with the built-in tools of tools/ added (python, bash,
 * editor, search, fetch, git): the wrapper offers the env's tools followed by the chosen
 * built-ins (a name the env already has stays the env's), gives every episode its own
 * working directory and tool context, routes each call to the env or the registry, and
 * removes the working directory when the episode ends. Solve and verify stay the env's.
 * The sandboxed tools of all its episodes share one sandbox worker (the wrapper is one
 * thread's): its namespaces, filters and prepared roots are made once per thread, not
 * once per episode.
 * `submit` is the loop's own tool and is never taken from the registry here.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "agent/agent_int.h"
#include "sandbox/sandbox.h"
#include "tools/tools.h"

typedef struct {
    ef_agent_env *inner;
    ef_tool_registry *reg;
    ef_tools_config cfg;
    char *tools_json;           /* env tools + built-ins */
    ef_sandbox_worker *sandbox; /* this thread's, made at the first episode (NULL: each
                                 * tool context makes its own, which says why it cannot) */
    int sandbox_tried;
} tools_env;

typedef struct {
    void *inner_st;
    ef_tool_ctx *tc;
    char workdir[256];
} tools_ep;

static const char *w_tools_json(ef_agent_env *env)
{
    return ((tools_env *)env->impl)->tools_json;
}

static int w_has_tool(ef_agent_env *env, const char *name, const cJSON **schema)
{
    tools_env *w = env->impl;
    if (w->inner->iface->has_tool(w->inner, name, schema))
        return 1;
    long i = ef_tools_registry_find(w->reg, name);
    if (i < 0)
        return 0;
    if (schema)
        *schema = ef_tools_registry_schema(w->reg, (size_t)i);
    return 1;
}

static void w_episode_free(ef_agent_env *env, void *st)
{
    tools_env *w = env->impl;
    tools_ep *e = st;
    if (!e)
        return;
    ef_tools_ctx_free(e->tc);
    int rc;
    if (e->workdir[0] && (rc = ef_remove_tree(e->workdir)) < 0)
        EF_LOG_W(NULL, "episode workdir %s could not be removed: %s", e->workdir, strerror(-rc));
    w->inner->iface->episode_free(w->inner, e->inner_st);
    ef_free(e);
}

static int w_episode_new(ef_agent_env *env, ef_ctx *ctx, const char *task_json, void **st)
{
    tools_env *w = env->impl;
    tools_ep *e = ef_calloc(1, sizeof(*e));
    if (!e)
        return ef_errorf(ctx, EF_ENOMEM, "episode: out of memory");
    const char *tmp = getenv("TMPDIR");
    snprintf(e->workdir, sizeof(e->workdir), "%s/envforge-ep-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int rc;
    if (!mkdtemp(e->workdir)) {
        e->workdir[0] = 0;
        rc = ef_errorf(ctx, EF_EIO, "episode workdir under %s: cannot create",
                       tmp && *tmp ? tmp : "/tmp");
        goto fail;
    }
    if (!w->cfg.sandbox_worker && !w->sandbox_tried) {
        w->sandbox_tried = 1;
        if (ef_sandbox_worker_new(ctx, NULL, &w->sandbox) < 0) {
            w->sandbox = NULL;
            ef_error_clear(ctx);
        }
    }
    ef_tools_config cfg = w->cfg;
    cfg.workdir = e->workdir;
    if (!cfg.sandbox_worker)
        cfg.sandbox_worker = w->sandbox;
    if ((rc = ef_tools_ctx_new(ctx, &cfg, &e->tc)) < 0)
        goto fail;
    if ((rc = w->inner->iface->episode_new(w->inner, ctx, task_json, &e->inner_st)) < 0)
        goto fail;
    *st = e;
    return 0;
fail:
    w_episode_free(env, e);
    return rc;
}

static const char *w_prompt(ef_agent_env *env, void *st)
{
    tools_env *w = env->impl;
    return w->inner->iface->prompt(w->inner, ((tools_ep *)st)->inner_st);
}

static int w_call(ef_agent_env *env, ef_ctx *ctx, void *st, const char *name, const cJSON *args,
                  ef_agent_tool_out *out)
{
    tools_env *w = env->impl;
    tools_ep *e = st;
    if (w->inner->iface->has_tool(w->inner, name, NULL))
        return w->inner->iface->call(w->inner, ctx, e->inner_st, name, args, out);
    ef_tool_result r = EF_TOOL_RESULT_INIT;
    int rc = ef_tools_registry_call_json(w->reg, e->tc, name, args, &r);
    if (rc < 0) {
        ef_tools_result_free(&r);
        return rc;
    }
    out->text = r.text;
    r.text = NULL;
    out->is_error = r.is_error;
    out->ends_episode = r.ends_episode;
    ef_tools_result_free(&r);
    return out->text ? 0 : ef_errorf(ctx, EF_ENOMEM, "tool %s: out of memory", name);
}

static int w_solve(ef_agent_env *env, ef_ctx *ctx, void *st, int64_t max_calls, char **answer_json,
                   char **calls_json)
{
    tools_env *w = env->impl;
    return w->inner->iface->solve(w->inner, ctx, ((tools_ep *)st)->inner_st, max_calls,
                                  answer_json, calls_json);
}

static int w_verify(ef_agent_env *env, ef_ctx *ctx, void *st, const char *answer_json,
                    double *reward, char **info_json)
{
    tools_env *w = env->impl;
    return w->inner->iface->verify(w->inner, ctx, ((tools_ep *)st)->inner_st, answer_json, reward,
                                   info_json);
}

static void w_free(ef_agent_env *env)
{
    tools_env *w = env->impl;
    if (w) {
        ef_agent_env_free(w->inner);
        ef_tools_registry_free(w->reg);
        ef_sandbox_worker_free(w->sandbox);
        ef_free(w->tools_json);
        ef_free(w);
    }
    ef_free(env);
}

static const ef_agent_env_iface tools_iface = {w_tools_json,   w_has_tool, w_episode_new,
                                               w_episode_free, w_prompt,   w_call,
                                               w_solve,        w_verify,   w_free};

/* env tools followed by the registry's tools the env does not have */
static int merge_tools(ef_ctx *ctx, tools_env *w)
{
    const char *it = w->inner->iface->tools_json(w->inner);
    cJSON *arr = NULL, *reg = NULL;
    int rc = ef_json_parse(ctx, it ? it : "[]", it ? strlen(it) : 2, "env tools", &arr);
    if (rc < 0)
        return rc;
    if ((rc = ef_tools_registry_openai(w->reg, &reg)) < 0)
        goto cleanup;
    cJSON *t;
    while ((t = cJSON_DetachItemFromArray(reg, 0)) != NULL) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(t, "function"), "name");
        if (cJSON_IsString(n) && w->inner->iface->has_tool(w->inner, n->valuestring, NULL))
            cJSON_Delete(t);
        else
            cJSON_AddItemToArray(arr, t);
    }
    w->tools_json = ef_json_print(arr);
    rc = w->tools_json ? 0 : ef_errorf(ctx, EF_ENOMEM, "tools: out of memory");
cleanup:
    cJSON_Delete(arr);
    cJSON_Delete(reg);
    return rc;
}

int ef_agent_env_with_tools(ef_ctx *ctx, ef_agent_env *inner, const char *const *names,
                            const ef_tools_config *cfg, ef_agent_env **out)
{
    ef_agent_env *env = ef_calloc(1, sizeof(*env));
    tools_env *w = ef_calloc(1, sizeof(*w));
    int rc;
    if (!env || !w) {
        ef_free(env);
        ef_free(w);
        ef_agent_env_free(inner);
        return ef_errorf(ctx, EF_ENOMEM, "tools: out of memory");
    }
    env->iface = &tools_iface;
    env->impl = w;
    w->inner = inner;
    ef_tools_config def = EF_TOOLS_CONFIG_INIT;
    w->cfg = cfg ? *cfg : def;
    w->cfg.workdir = NULL;
    if ((rc = ef_tools_registry_new(ctx, &w->reg)) < 0)
        goto fail;
    for (size_t i = 0; names && names[i]; i++) {
        if (strcmp(names[i], "submit") == 0)
            continue;
        const char *one[2] = {names[i], NULL};
        if ((rc = ef_tools_add_builtins(w->reg, one)) < 0) {
            rc = ef_errorf(ctx, rc == EF_ENOTFOUND ? EF_EINVAL : rc,
                           "--tools: no built-in tool '%s' (python, bash, editor, search, "
                           "fetch, git)",
                           names[i]);
            goto fail;
        }
    }
    if ((rc = merge_tools(ctx, w)) < 0)
        goto fail;
    *out = env;
    return 0;
fail:
    w_free(env);
    return rc;
}

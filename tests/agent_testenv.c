/*
 * tests/agent_testenv.c — the C test env of tests/agent_testenv.h: fills ef_agent_env's
 * table so the loop, the oracle path and the runner are tested without Lua.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tests/agent_testenv.h"
#include "common/json.h"

static const char tools[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"add\",\"description\":\"a + b\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
    "\"b\":{\"type\":\"integer\"}},\"required\":[\"a\",\"b\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"fail\",\"description\":\"always fails\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{}}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"ping\",\"description\":\"pong\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]";

typedef struct {
    cJSON *tools;
} testenv;

typedef struct {
    cJSON *task;
    int n_adds;
} testep;

static const char *t_tools_json(ef_agent_env *env)
{
    (void)env;
    return tools;
}

static int t_has_tool(ef_agent_env *env, const char *name, const cJSON **schema)
{
    testenv *t = env->impl;
    const cJSON *tool;
    cJSON_ArrayForEach(tool, t->tools)
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (strcmp(n->valuestring, name) == 0) {
            if (schema)
                *schema = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
            return 1;
        }
    }
    return 0;
}

static int t_episode_new(ef_agent_env *env, ef_ctx *ctx, const char *task_json, void **st)
{
    (void)env;
    testep *e = calloc(1, sizeof(*e));
    if (!e)
        return EF_ENOMEM;
    if (ef_json_parse(ctx, task_json, strlen(task_json), "task", &e->task) < 0) {
        free(e);
        return EF_EINVAL;
    }
    *st = e;
    return 0;
}

static void t_episode_free(ef_agent_env *env, void *st)
{
    (void)env;
    testep *e = st;
    if (!e)
        return;
    cJSON_Delete(e->task);
    free(e);
}

static const char *t_prompt(ef_agent_env *env, void *st)
{
    (void)env;
    testep *e = st;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(e->task, "prompt");
    return cJSON_IsString(p) ? p->valuestring : "";
}

static int t_call(ef_agent_env *env, ef_ctx *ctx, void *st, const char *name, const cJSON *args,
                  ef_agent_tool_out *out)
{
    (void)env;
    (void)ctx;
    testep *e = st;
    if (strcmp(name, "fail") == 0) {
        out->text = ef_strdup("fail: this tool always fails");
        out->is_error = 1;
        return out->text ? 0 : EF_ENOMEM;
    }
    if (strcmp(name, "ping") == 0) {
        out->text = ef_strdup("pong");
        return out->text ? 0 : EF_ENOMEM;
    }
    double a = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(args, "a"));
    double b = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(args, "b"));
    e->n_adds++;
    out->text = ef_asprintf("%lld", (long long)(a + b));
    return out->text ? 0 : EF_ENOMEM;
}

static int t_solve(ef_agent_env *env, ef_ctx *ctx, void *st, int64_t max_calls,
                   char **answer_json, char **calls_json)
{
    (void)max_calls; /* one call: within any budget (max_calls >= 1) */
    testep *e = st;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(e->task, "meta");
    int a = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(meta, "a"));
    int b = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(meta, "b"));
    cJSON *args = cJSON_CreateObject();
    cJSON_AddNumberToObject(args, "a", a);
    cJSON_AddNumberToObject(args, "b", b);
    ef_agent_tool_out out = {NULL, 0, 0};
    int rc = t_call(env, ctx, st, "add", args, &out);
    if (rc < 0) {
        cJSON_Delete(args);
        return rc;
    }
    char *args_text = ef_json_print(args);
    cJSON_Delete(args);
    *calls_json =
        ef_asprintf("[{\"name\":\"add\",\"arguments\":%s,\"result\":%s}]", args_text, out.text);
    *answer_json = ef_asprintf("\"%s\"", out.text);
    ef_free(args_text);
    ef_free(out.text);
    return *calls_json && *answer_json ? 0 : EF_ENOMEM;
}

static int t_verify(ef_agent_env *env, ef_ctx *ctx, void *st, const char *answer_json,
                    double *reward, char **info_json)
{
    (void)env;
    testep *e = st;
    cJSON *a;
    if (ef_json_parse(ctx, answer_json, strlen(answer_json), "answer", &a) < 0)
        return EF_EINVAL;
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(e->task, "answer");
    *reward = cJSON_IsString(a) && strcmp(a->valuestring, want->valuestring) == 0 ? 1.0 : 0.0;
    *info_json = ef_asprintf("{\"n_adds\":%d}", e->n_adds);
    cJSON_Delete(a);
    return 0;
}

static void t_free(ef_agent_env *env)
{
    testenv *t = env->impl;
    cJSON_Delete(t->tools);
    free(t);
    free(env);
}

static const ef_agent_env_iface testenv_iface = {t_tools_json,   t_has_tool, t_episode_new,
                                                 t_episode_free, t_prompt,   t_call,
                                                 t_solve,        t_verify,   t_free};

int agent_testenv_open(void *ud, ef_ctx *ctx, int64_t env_id, ef_agent_env **out)
{
    (void)ud;
    (void)ctx;
    (void)env_id;
    ef_agent_env *env = calloc(1, sizeof(*env));
    testenv *t = calloc(1, sizeof(*t));
    if (!env || !t || !(t->tools = cJSON_Parse(tools))) {
        free(env);
        free(t);
        return EF_ENOMEM;
    }
    env->iface = &testenv_iface;
    env->impl = t;
    *out = env;
    return 0;
}

char *agent_testenv_task(int a, int b)
{
    return ef_asprintf("{\"prompt\":\"Add %d and %d.\",\"answer\":\"%d\",\"meta\":{\"a\":%d,"
                       "\"b\":%d}}",
                       a, b, a + b, a, b);
}

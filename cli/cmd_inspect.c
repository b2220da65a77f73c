/*
 * cli/cmd_inspect.c — `envforge inspect`: loads an env and prints its tools (JSON
 * Schema), a sample task, the reference solution (answer and tool calls), its verdict and
 * the trivial answers' rewards, and the verifier self-check over a number of tasks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "common/json.h"
#include "envgen/envgen.h"

static const char usage_text[] =
    "usage: envforge inspect ENV.lua [--seed S] [--level L] [-n N] [--json]\n"
    "Prints the env's tools (JSON Schema), a sample task (task 0 of run seed S at level L),\n"
    "its reference solution and verdict, and the verifier self-check over N tasks\n"
    "(default 100; 0 skips it).\n"
    "exit: 0 ok and the self-check passed, 1 a load error or a failed check, 2 usage\n";

static void print_pretty(const char *label, const char *json)
{
    cJSON *v = json ? cJSON_Parse(json) : NULL;
    char *p = v ? cJSON_Print(v) : NULL;
    printf("%s:\n%s\n", label, p ? p : (json ? json : "null"));
    cJSON_free(p);
    cJSON_Delete(v);
}

int ef_cli_inspect(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return EF_EXIT_OK;
    }
    const char *path = NULL;
    uint64_t seed = 0;
    long long level = 1, n_check = 100;
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--seed") && v) {
            if (ef_cli_parse_u64("inspect", "--seed", v, 0, UINT64_MAX, &seed) < 0)
                return EF_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "--level") && v) {
            if (ef_cli_parse_int("inspect", "--level", v, 1, 100, &level) < 0)
                return EF_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "-n") && v) {
            if (ef_cli_parse_int("inspect", "-n", v, 0, 100000000, &n_check) < 0)
                return EF_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "--json")) {
            as_json = 1;
        } else if (a[0] == '-') {
            return ef_cli_usage_error("inspect", "unknown or incomplete option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return ef_cli_usage_error("inspect", "one env file at a time");
        }
    }
    if (!path)
        return ef_cli_usage_error("inspect", "no env file given");
    ef_ctx *ctx = ef_ctx_new();
    ef_env *env = NULL;
    ef_env_task t;
    ef_envgen_check chk;
    memset(&t, 0, sizeof t);
    memset(&chk, 0, sizeof chk);
    int status = EF_EXIT_OK;
    if (ef_env_load(ctx, path, NULL, &env) < 0) {
        fprintf(stderr, "envforge inspect: %s\n", ef_errmsg(ctx));
        ef_ctx_free(ctx);
        return EF_EXIT_FAIL;
    }
    const ef_env_info *info = ef_env_get_info(env);
    cJSON *doc = NULL; /* --json: the one document printed at the end */
    if (level > info->n_levels) {
        fprintf(stderr, "envforge inspect: %s has levels 1..%d\n", path, info->n_levels);
        status = EF_EXIT_USAGE;
        goto done;
    }
    uint64_t task_seed = ef_envgen_task_seed(seed, info, 0);
    if (ef_env_generate(ctx, env, task_seed, (int)level, &t) < 0) {
        fprintf(stderr, "envforge inspect: %s\n", ef_errmsg(ctx));
        status = EF_EXIT_FAIL;
        goto done;
    }
    ef_envgen_validate(ctx, env, &t, &chk);
    if (!as_json) {
        printf("env %s v%lld (%s), %d level%s, content hash %s\n%s\n\n", info->name,
               (long long)info->version, info->category, info->n_levels,
               info->n_levels == 1 ? "" : "s", info->content_hash, info->description);
        print_pretty("tools", info->tools_json);
        printf("\nsample task (seed %llu, level %lld, content hash %s):\n",
               (unsigned long long)task_seed, level, t.content_hash);
        print_pretty("task", t.task_json);
        printf("\n");
        print_pretty("reference tool calls", chk.calls_json);
        printf("reference answer: %s\n", chk.answer_json ? chk.answer_json : "(none)");
        printf("verdict: reward %g; trivial answers: empty %g, const %g, echo %g, random %g -> %s\n",
               chk.ref_reward, chk.trivial_reward[0], chk.trivial_reward[1],
               chk.trivial_reward[2], chk.trivial_reward[3],
               chk.drop == EF_DROP_NONE ? "kept" : ef_envgen_drop_name(chk.drop));
        if (chk.message)
            printf("  why: %s\n", chk.message);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "env", info->name);
        cJSON_AddItemToObject(o, "tools", cJSON_Parse(info->tools_json));
        cJSON_AddItemToObject(o, "task", cJSON_Parse(t.task_json));
        cJSON_AddStringToObject(o, "content_hash", t.content_hash);
        cJSON_AddItemToObject(o, "calls", chk.calls_json ? cJSON_Parse(chk.calls_json) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "answer", chk.answer_json ? cJSON_Parse(chk.answer_json) : cJSON_CreateNull());
        cJSON_AddNumberToObject(o, "reward", chk.ref_reward);
        cJSON_AddStringToObject(o, "verdict", chk.drop == EF_DROP_NONE ? "kept" : ef_envgen_drop_name(chk.drop));
        doc = o;
    }
    if (chk.drop != EF_DROP_NONE)
        status = EF_EXIT_FAIL;
    if (n_check > 0) {
        ef_envgen_options o = EF_ENVGEN_OPTIONS_INIT;
        o.seed = seed;
        o.n_tasks = (size_t)n_check;
        ef_envgen_summary sum;
        int rc = ef_envgen_run(ctx, path, &o, &sum);
        if (!as_json) {
            printf("\nself-check over %lld tasks:\n", n_check);
            ef_envgen_summary_print(&sum, stdout);
        } else {
            /* one JSON document: the summary goes in as "self_check" */
            char *j = ef_envgen_summary_json(&sum);
            cJSON *sc = j ? cJSON_Parse(j) : NULL;
            cJSON_AddItemToObject(doc, "self_check", sc ? sc : cJSON_CreateNull());
            ef_free(j);
        }
        if (rc < 0) {
            fprintf(stderr, "envforge inspect: %s\n", ef_errmsg(ctx));
            status = EF_EXIT_FAIL;
        } else if (!sum.sc_pass) {
            status = EF_EXIT_FAIL;
        }
        ef_envgen_summary_clear(&sum);
    }
    if (doc) {
        char *txt = ef_json_print(doc);
        printf("%s\n", txt ? txt : "{}");
        ef_free(txt);
    }
done:
    cJSON_Delete(doc);
    ef_envgen_check_clear(&chk);
    ef_env_task_clear(&t);
    ef_env_free(env);
    ef_ctx_free(ctx);
    return status;
}

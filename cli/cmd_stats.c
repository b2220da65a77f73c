/*
 * cli/cmd_stats.c — `envforge stats`: figures per env and level from the store, as a text
 * table or (--json) the JSON document datasets/export.h describes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "common/ef.h"
#include "common/json.h"
#include "datasets/export.h"

static const char usage_text[] =
    "usage: envforge stats --db FILE [--json] [--by env|run] [--k 1,4,8] [--run NAME]\n"
    "                      [--env NAME] [--success R] [--flaky N]\n"
    "Per env and level: tasks, episodes, pass@1/pass@k (unbiased, 1 - C(n-c,k)/C(n,k), over\n"
    "tasks with >= k samples), mean reward and histogram, turns, tokens, tool-error rates,\n"
    "end reasons, per-task flakiness (4p(1-p) over a task's samples). A tool error is a\n"
    "tool call answered with an error, whatever the reason (arguments that are not JSON, an\n"
    "unknown tool, arguments the schema refuses, the tool failing); parse errors are replies\n"
    "or calls that could not be parsed.\n"
    "\n"
    "  --json         the figures as one JSON object on stdout (per env/level and per run)\n"
    "  --by env|run   the table's rows: per env and level (default), or per run (model,\n"
    "                 episodes, pass rate, mean reward, tokens, tool calls and errors,\n"
    "                 parse errors, episodes ended by a model or verifier error)\n"
    "  --k LIST       the k of pass@k, comma-separated (default 1,4,8; at most 8 values)\n"
    "  --run NAME     one run only\n"
    "  --env NAME     one env only\n"
    "  --success R    a sample passes when reward >= R (default 1)\n"
    "  --flaky N      list the N most flaky tasks per env/level (default 10)\n"
    "exit: 0 ok, 1 the store cannot be read or --run/--env names nothing in it, 2 usage\n";

int ef_cli_parse_ks(const char *v, int *ks, int max_k, int *n_ks)
{
    *n_ks = 0;
    const char *p = v;
    while (*p) {
        char *end;
        if (*p < '0' || *p > '9')
            return -1;
        long k = strtol(p, &end, 10);
        if (end == p || k <= 0 || k > 1000000 || *n_ks == max_k)
            return -1;
        if (*n_ks && k <= ks[*n_ks - 1])
            return -1;
        ks[(*n_ks)++] = (int)k;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return *n_ks ? 0 : -1;
}

int ef_cli_parse_reward(const char *v, double *out)
{
    /* the strict parse, quiet: callers print their own "give a number in [0, 1]" */
    if (!v || !((v[0] >= '0' && v[0] <= '9') || v[0] == '.') || strpbrk(v, "xXpP"))
        return -1;
    char *end;
    double r = strtod(v, &end);
    if (end == v || *end || !(r >= 0 && r <= 1))
        return -1;
    *out = r;
    return 0;
}

int ef_cli_store_open_read(ef_ctx *ctx, const char *db, ef_store **out)
{
    ef_store_options so = EF_STORE_OPTIONS_INIT;
    so.read_only = 1;
    return ef_store_open_ext(ctx, db, &so, out);
}

int ef_cli_store_check_filters(ef_ctx *ctx, ef_store *s, const char *db, const char *run,
                               const char *env)
{
    int64_t id = 0;
    if (run && ef_store_run_find(s, run, &id) < 0)
        return ef_errorf(ctx, EF_ENOTFOUND, "--run %s: no run of that name in %s", run, db);
    if (env && ef_store_env_find(s, env, &id) < 0)
        return ef_errorf(ctx, EF_ENOTFOUND, "--env %s: no env of that name in %s", env, db);
    return 0;
}

int ef_cli_stats(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return EF_EXIT_OK;
    }
    ef_stats_options o = EF_STATS_OPTIONS_INIT;
    const char *db = NULL;
    int json = 0, by_run = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (strcmp(a, "--db") && strcmp(a, "--k") && strcmp(a, "--run") && strcmp(a, "--env") &&
            strcmp(a, "--success") && strcmp(a, "--flaky") && strcmp(a, "--by"))
            return ef_cli_usage_error("stats", "unknown option %s", a);
        if (!v)
            return ef_cli_usage_error("stats", "%s needs a value", a);
        i++;
        if (!strcmp(a, "--db"))
            db = v;
        else if (!strcmp(a, "--run"))
            o.run = v;
        else if (!strcmp(a, "--env"))
            o.env = v;
        else if (!strcmp(a, "--by")) {
            if (strcmp(v, "env") && strcmp(v, "run"))
                return ef_cli_usage_error("stats", "--by %s: use env or run", v);
            by_run = !strcmp(v, "run");
        } else if (!strcmp(a, "--k")) {
            if (ef_cli_parse_ks(v, o.ks, EF_STATS_MAX_K, &o.n_ks) < 0)
                return ef_cli_usage_error("stats",
                                          "--k %s: give ascending k >= 1 like 1,4,8 "
                                          "(at most %d)",
                                          v, EF_STATS_MAX_K);
        } else if (!strcmp(a, "--success")) {
            if (ef_cli_parse_reward(v, &o.success_reward) < 0)
                return ef_cli_usage_error("stats", "--success %s: give a number in [0, 1]", v);
        } else {
            if (ef_cli_parse_i32("stats", "--flaky", v, 0, 100, &o.n_flaky_listed) < 0)
                return EF_EXIT_USAGE;
        }
    }
    if (!db)
        return ef_cli_usage_error("stats", "give the store with --db FILE");
    ef_ctx *ctx = ef_ctx_new();
    if (!ctx)
        return EF_EXIT_FAIL;
    ef_store *s = NULL;
    cJSON *stats = NULL;
    int rc = ef_cli_store_open_read(ctx, db, &s);
    if (rc == 0)
        rc = ef_cli_store_check_filters(ctx, s, db, o.run, o.env);
    if (rc == 0)
        rc = ef_stats_compute(s, &o, &stats);
    if (rc == 0 && json) {
        char *text = cJSON_Print(stats);
        if (!text)
            rc = ef_errorf(ctx, EF_ENOMEM, "stats: out of memory");
        else {
            puts(text);
            cJSON_free(text);
        }
    } else if (rc == 0)
        rc = by_run ? ef_stats_print_runs(stats, stdout) : ef_stats_print_table(stats, stdout);
    if (rc < 0)
        fprintf(stderr, "envforge stats: %s\n", ef_errmsg(ctx));
    cJSON_Delete(stats);
    ef_store_close(s);
    ef_ctx_free(ctx);
    return rc < 0 ? EF_EXIT_FAIL : EF_EXIT_OK;
}

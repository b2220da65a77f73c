/*
 * datasets/stats_table.c — the text form of `envforge stats`: one row per env and level
 * (tasks, episodes, pass@k, mean reward, turns, tokens, tool errors, flaky tasks), then
 * per group the reward histogram, end reasons and the tools with errors; or (--by run)
 * one row per run (model, episodes, pass rate, mean reward, tokens, errors).
 */
#include <math.h>
#include <string.h>
#include "datasets/export.h"

static double num(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static void pct(FILE *f, double v, int width)
{
    if (isnan(v))
        fprintf(f, " %*s", width, "-");
    else
        fprintf(f, " %*.1f", width, 100.0 * v);
}

/* a figure with printf format fmt (one conversion, width included), or "-" right-aligned
 * in width when there is none (no episodes: JSON null) */
static void fig(FILE *f, const char *fmt, double v, int width)
{
    if (isnan(v))
        fprintf(f, " %*s", width, "-");
    else
        fprintf(f, fmt, v);
}

static void row(FILE *f, const cJSON *g, const cJSON *ks)
{
    char name[64];
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(g, "env");
    int level = (int)num(g, "level");
    if (level < 0)
        snprintf(name, sizeof(name), "%s", cJSON_IsString(env) ? env->valuestring : "?");
    else
        snprintf(name, sizeof(name), "%s/%d", cJSON_IsString(env) ? env->valuestring : "?", level);
    fprintf(f, "%-20.20s %6.0f %7.0f", name, num(g, "tasks"), num(g, "episodes"));
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(g, "pass_at_k");
    const cJSON *k;
    cJSON_ArrayForEach(k, ks)
    {
        char key[16];
        snprintf(key, sizeof(key), "%d", k->valueint);
        pct(f, num(pk, key), 7);
    }
    const cJSON *turns = cJSON_GetObjectItemCaseSensitive(g, "turns");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(g, "tokens");
    const cJSON *fl = cJSON_GetObjectItemCaseSensitive(g, "flakiness");
    fig(f, " %7.3f", num(g, "mean_reward"), 7);
    fig(f, " %6.1f", num(turns, "mean"), 6);
    fig(f, " %9.0f", num(tok, "mean_completion"), 9);
    pct(f, num(g, "tool_error_rate"), 7);
    fprintf(f, " %6.0f\n", num(fl, "flaky_tasks"));
}

static void details(FILE *f, const cJSON *g)
{
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(g, "env");
    fprintf(f, "  %s level %d:", cJSON_IsString(env) ? env->valuestring : "?",
            (int)num(g, "level"));
    fprintf(f, " reward histogram [0,.1)..[.9,1]:");
    const cJSON *h, *it;
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(g, "reward_histogram"))
        fprintf(f, " %.0f", h->valuedouble);
    fprintf(f, "\n    end reasons:");
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(g, "end_reasons"))
        fprintf(f, " %s %.0f", it->string, it->valuedouble);
    fprintf(f, "; status:");
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(g, "status"))
        fprintf(f, " %s %.0f", it->string, it->valuedouble);
    fputc('\n', f);
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(g, "tools");
    if (cJSON_GetArraySize(tools) > 0) {
        fprintf(f, "    tools (calls/errors):");
        cJSON_ArrayForEach(it, tools)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "tool");
            fprintf(f, " %s %.0f/%.0f", cJSON_IsString(name) ? name->valuestring : "?",
                    num(it, "calls"), num(it, "errors"));
        }
        fputc('\n', f);
    }
    const cJSON *fl = cJSON_GetObjectItemCaseSensitive(g, "flakiness");
    const cJSON *ft = cJSON_GetObjectItemCaseSensitive(fl, "tasks");
    if (cJSON_GetArraySize(ft) > 0) {
        fprintf(f, "    most flaky tasks (id c/n):");
        cJSON_ArrayForEach(it, ft)
            fprintf(f, " %.0f %.0f/%.0f", num(it, "task_id"), num(it, "c"), num(it, "n"));
        fputc('\n', f);
    }
}

int ef_stats_print_table(const cJSON *stats, FILE *f)
{
    const cJSON *ks = cJSON_GetObjectItemCaseSensitive(stats, "ks");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(stats, "groups");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(stats, "total");
    fprintf(f, "%-20s %6s %7s", "env/level", "tasks", "eps");
    const cJSON *k;
    cJSON_ArrayForEach(k, ks)
    {
        char h[16];
        snprintf(h, sizeof(h), "pass@%d", k->valueint);
        fprintf(f, " %7s", h);
    }
    fprintf(f, " %7s %6s %9s %7s %6s\n", "reward", "turns", "tok/ep", "toolerr", "flaky");
    const cJSON *g;
    cJSON_ArrayForEach(g, groups) row(f, g, ks);
    if (total)
        row(f, total, ks);
    fprintf(f,
            "(pass@k in %%, unbiased estimator over tasks with >= k samples; success = "
            "reward >= %g)\n",
            num(stats, "success_reward"));
    cJSON_ArrayForEach(g, groups) details(f, g);
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(stats, "runs");
    int n_runs = cJSON_GetArraySize(runs);
    if (n_runs > 1) {
        fprintf(f,
                "pooled over %d runs (pass@k mixes their models and settings; --run NAME "
                "shows one):\n",
                n_runs);
        const cJSON *r;
        cJSON_ArrayForEach(r, runs)
        {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(r, "name");
            const cJSON *md = cJSON_GetObjectItemCaseSensitive(r, "model");
            double eps = num(r, "episodes"), ok = num(r, "passed");
            fprintf(f, "  %s: %.0f episodes, passed %.1f%% (model %s)\n",
                    cJSON_IsString(nm) ? nm->valuestring : "?", eps, eps > 0 ? 100 * ok / eps : 0,
                    cJSON_IsString(md) ? md->valuestring : "?");
        }
    }
    return ferror(f) ? EF_EIO : 0;
}

/* s cut to width columns (bytes; a longer one ends in ".."), left-aligned. */
static void cell(FILE *f, const char *s, int width)
{
    int len = (int)strlen(s);
    if (len <= width)
        fprintf(f, "%-*s", width, s);
    else
        fprintf(f, "%.*s..", width - 2, s);
}

static int text_width(const cJSON *runs, const char *key, int min, int max)
{
    int w = min;
    const cJSON *r;
    cJSON_ArrayForEach(r, runs)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, key);
        int len = cJSON_IsString(v) ? (int)strlen(v->valuestring) : 0;
        w = len > w ? len : w;
    }
    return w < max ? w : max;
}

int ef_stats_print_runs(const cJSON *stats, FILE *f)
{
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(stats, "runs"), *r;
    int wn = text_width(runs, "name", 3, 48), wm = text_width(runs, "model", 5, 40);
    cell(f, "run", wn);
    fputc(' ', f);
    cell(f, "model", wm);
    fprintf(f, " %7s %6s %7s %10s %10s %7s %7s %6s %7s\n", "eps", "pass%", "reward", "prompt",
            "compl", "calls", "toolerr", "parse", "errored");
    cJSON_ArrayForEach(r, runs)
    {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(r, "name");
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(r, "model");
        const cJSON *tok = cJSON_GetObjectItemCaseSensitive(r, "tokens");
        cell(f, cJSON_IsString(nm) ? nm->valuestring : "?", wn);
        fputc(' ', f);
        cell(f, cJSON_IsString(md) ? md->valuestring : "?", wm);
        fprintf(f, " %7.0f", num(r, "episodes"));
        pct(f, num(r, "pass_rate"), 6);
        fig(f, " %7.3f", num(r, "mean_reward"), 7);
        fprintf(f, " %10.0f %10.0f %7.0f %7.0f %6.0f %7.0f\n", num(tok, "prompt"),
                num(tok, "completion"), num(r, "tool_calls"), num(r, "tool_errors"),
                num(r, "parse_errors"), num(r, "episode_errors"));
    }
    if (!cJSON_GetArraySize(runs))
        fprintf(f, "(no episodes)\n");
    fprintf(f,
            "(pass%% = episodes with reward >= %g; prompt, compl = tokens; toolerr = tool calls\n"
            " answered with an error; parse = replies or calls that could not be parsed;\n"
            " errored = episodes ended by a model error or a failed verifier)\n",
            num(stats, "success_reward"));
    return ferror(f) ? EF_EIO : 0;
}

/*
 * cli/cmd_report.c — `envforge report`: writes the self-contained HTML report (charts
 * and a trajectory viewer) of a store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "common/ef.h"
#include "datasets/export.h"

static const char usage_text[] =
    "usage: envforge report --db FILE -o report.html [--run NAME] [--env NAME] [--k 1,4,8]\n"
    "                       [--max-episodes N] [--success R] [--title TEXT]\n"
    "One self-contained HTML file (inline CSS, JS and SVG; opens offline): the figures of\n"
    "`envforge stats` as a table and charts (pass@k, reward histograms, end reasons, tool\n"
    "error rates) and a trajectory viewer (messages, reasoning, tool calls and results,\n"
    "reward, verifier info) with search and filters.\n"
    "\n"
    "  -o FILE            the HTML file to write (required)\n"
    "  --run NAME         one run only;  --env NAME  one env only\n"
    "  --k LIST           the k of pass@k (default 1,4,8)\n"
    "  --max-episodes N   trajectories embedded, spread evenly over the store (default 300)\n"
    "  --success R        a sample passes when reward >= R (default 1)\n"
    "  --title TEXT       the page title\n"
    "exit: 0 written, 1 the store cannot be read, --run/--env names nothing in it or the\n"
    "file cannot be written (an existing FILE is then left as it was), 2 usage (also -o\n"
    "naming the store itself)\n";

int ef_cli_report(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return EF_EXIT_OK;
    }
    ef_report_options o = EF_REPORT_OPTIONS_INIT;
    const char *db = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--db") && strcmp(a, "-o") && strcmp(a, "--run") && strcmp(a, "--env") &&
            strcmp(a, "--k") && strcmp(a, "--max-episodes") && strcmp(a, "--success") &&
            strcmp(a, "--title"))
            return ef_cli_usage_error("report", "unknown option %s", a);
        if (!v)
            return ef_cli_usage_error("report", "%s needs a value", a);
        i++;
        if (!strcmp(a, "--db"))
            db = v;
        else if (!strcmp(a, "-o"))
            out_path = v;
        else if (!strcmp(a, "--run"))
            o.stats.run = v;
        else if (!strcmp(a, "--env"))
            o.stats.env = v;
        else if (!strcmp(a, "--title"))
            o.title = v;
        else if (!strcmp(a, "--k")) {
            if (ef_cli_parse_ks(v, o.stats.ks, EF_STATS_MAX_K, &o.stats.n_ks) < 0)
                return ef_cli_usage_error("report", "--k %s: give ascending k >= 1 like 1,4,8", v);
        } else if (!strcmp(a, "--success")) {
            if (ef_cli_parse_reward(v, &o.stats.success_reward) < 0)
                return ef_cli_usage_error("report", "--success %s: give a number in [0, 1]", v);
        } else {
            long long n = 0;
            if (ef_cli_parse_int("report", "--max-episodes", v, 0, 100000000, &n) < 0)
                return EF_EXIT_USAGE;
            o.max_episodes = n;
        }
    }
    if (!db)
        return ef_cli_usage_error("report", "give the store with --db FILE");
    if (!out_path)
        return ef_cli_usage_error("report", "give the HTML file to write with -o FILE");
    int urc = ef_cli_check_output("report", db, out_path);
    if (urc != EF_EXIT_OK)
        return urc;
    ef_ctx *ctx = ef_ctx_new();
    if (!ctx)
        return EF_EXIT_FAIL;
    ef_store *s = NULL;
    ef_cli_out out;
    memset(&out, 0, sizeof out);
    char err[512];
    int rc = ef_cli_store_open_read(ctx, db, &s);
    if (rc == 0)
        rc = ef_cli_store_check_filters(ctx, s, db, o.stats.run, o.stats.env);
    /* through a temporary file: a failed report leaves an existing FILE as it was */
    if (rc == 0 && ef_cli_out_open(&out, out_path, err, sizeof err) < 0)
        rc = ef_errorf(ctx, EF_EIO, "%s", err);
    if (rc == 0)
        rc = ef_report_write(s, &o, out.f);
    if ((out.f || out.tmp) && ef_cli_out_close(&out, rc == 0, err, sizeof err) < 0 && rc == 0)
        rc = ef_errorf(ctx, EF_EIO, "%s", err);
    if (rc < 0)
        fprintf(stderr, "envforge report: %s\n", ef_errmsg(ctx));
    else
        fprintf(stderr, "envforge report: wrote %s\n", out_path);
    ef_store_close(s);
    ef_ctx_free(ctx);
    return rc < 0 ? EF_EXIT_FAIL : EF_EXIT_OK;
}

/*
 * cli/cmd_merge.c — `envforge merge OUT.db IN.db...`: joins shard stores into OUT
 * (created when missing), one input per transaction. Every input is checked first: when
 * one is not a store this build reads, each such input is named and nothing is merged
 * (OUT is not opened, nor created). Conflicts and notes go to stderr, one summary line
 * per input to stdout. Exit 0 when every input merged without a conflict, 1 when one
 * could not be merged or had conflicts, 2 for usage errors.
 */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "common/ef.h"
#include "datasets/datasets.h"

static const char usage_text[] =
    "usage: envforge merge [--quiet] OUT.db IN.db...\n"
    "Joins shard stores into OUT.db (created when missing), each input in one transaction.\n"
    "Envs match by content hash, tasks by env and content hash, runs by name, model and\n"
    "shard, episodes by (run, task, sample); GRPO groups are renumbered whole, never mixing\n"
    "tasks or runs. Rows that match an existing key but differ are conflicts: reported on\n"
    "stderr, never overwritten (the OUT row is kept); so is a run with the same name, model\n"
    "and shard but other settings (left out with its episodes). An episode that failed\n"
    "(model_error, verifier error) is replaced by the input's that did not. Inputs that are\n"
    "not envforge stores are named and nothing is merged. Merging the same input twice\n"
    "adds nothing.\n"
    "\n"
    "  --quiet   do not print notes (renamed runs, replaced failed episodes); conflicts\n"
    "            are always printed\n"
    "\n"
    "stdout: one line per input: IN: +E envs +T tasks +R runs +N episodes +V events,\n"
    "        S episodes already present, P failed episodes replaced, F failed episodes\n"
    "        left out, C conflicts\n"
    "exit: 0 merged without conflicts, 1 an input failed or had conflicts, 2 usage\n";

typedef struct {
    const char *in;
    int quiet;
} report_ctx;

static void on_report(void *ud, int conflict, const char *msg)
{
    report_ctx *r = ud;
    if (conflict)
        fprintf(stderr, "envforge merge: conflict: %s\n", msg);
    else if (!r->quiet)
        fprintf(stderr, "envforge merge: note: %s\n", msg);
}

int ef_cli_merge(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return EF_EXIT_OK;
    }
    int quiet = 0, first = 1;
    for (; first < argc && argv[first][0] == '-' && argv[first][1]; first++) {
        if (!strcmp(argv[first], "--quiet"))
            quiet = 1;
        else if (!strcmp(argv[first], "--")) {
            first++;
            break;
        } else
            return ef_cli_usage_error("merge", "unknown option %s", argv[first]);
    }
    if (argc - first < 2)
        return ef_cli_usage_error("merge", "give OUT.db and at least one IN.db");
    ef_ctx *ctx = ef_ctx_new();
    if (!ctx) {
        fprintf(stderr, "envforge merge: out of memory\n");
        return EF_EXIT_FAIL;
    }
    /* every input first: a wrong path leaves OUT as it was (not even created) */
    int n_bad = 0;
    for (int i = first + 1; i < argc; i++)
        if (ef_store_merge_check_input(ctx, argv[i]) < 0) {
            fprintf(stderr, "envforge merge: %s\n", ef_errmsg(ctx));
            n_bad++;
        }
    if (n_bad) {
        fprintf(stderr,
                "envforge merge: nothing merged (%d of %d inputs cannot be merged); %s left "
                "as it was\n",
                n_bad, argc - first - 1, argv[first]);
        ef_ctx_free(ctx);
        return EF_EXIT_FAIL;
    }
    ef_store *out = NULL;
    if (ef_store_open(ctx, argv[first], &out) < 0) {
        fprintf(stderr, "envforge merge: %s\n", ef_errmsg(ctx));
        ef_ctx_free(ctx);
        return EF_EXIT_FAIL;
    }
    int status = EF_EXIT_OK;
    for (int i = first + 1; i < argc; i++) {
        report_ctx r = {argv[i], quiet};
        ef_store_merge_stats st;
        if (ef_store_merge(out, argv[i], on_report, &r, &st) < 0) {
            fprintf(stderr, "envforge merge: %s: not merged: %s\n", argv[i], ef_errmsg(ctx));
            status = EF_EXIT_FAIL;
            continue;
        }
        printf("%s: +%llu envs +%llu tasks +%llu runs +%llu episodes +%llu events, "
               "%llu episodes already present, %llu failed episodes replaced, %llu failed "
               "episodes left out, %llu conflicts\n",
               argv[i], (unsigned long long)st.n_envs, (unsigned long long)st.n_tasks,
               (unsigned long long)st.n_runs, (unsigned long long)st.n_episodes,
               (unsigned long long)st.n_events, (unsigned long long)st.n_same_episodes,
               (unsigned long long)st.n_replaced_episodes, (unsigned long long)st.n_failed_episodes,
               (unsigned long long)st.n_conflicts);
        if (st.n_conflicts)
            status = EF_EXIT_FAIL;
    }
    ef_store_close(out);
    ef_ctx_free(ctx);
    return status;
}

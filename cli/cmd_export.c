/*
 * cli/cmd_export.c — `envforge export`: parses the options and streams the store's
 * episodes (sft, rl) or tasks as JSONL to stdout or -o FILE, or as Parquet through the
 * pyarrow helper. What was skipped (incomplete rl groups) is reported on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "common/ef.h"
#include "datasets/export.h"

static const char usage_text[] =
    "usage: envforge export --db FILE --format sft|rl|tasks [options]\n"
    "Streams trajectories (sft, rl) or tasks as JSONL, one object per line, in a fixed order\n"
    "(run, group, sample; tasks: env, level, id), in constant memory.\n"
    "\n"
    "  --db FILE          the store\n"
    "  --format F         sft: one chat per episode (OpenAI messages, tools, reward)\n"
    "                     rl: one sample per episode, slime Sample fields (tokens, loss_mask,\n"
    "                         rollout_log_probs, top-p CSR, routed experts) + GRPO advantage\n"
    "                     tasks: prompt-only rows for verl/TRL (prompt, data_source, ability,\n"
    "                         reward_model, extra_info)\n"
    "  -o FILE            write here instead of stdout\n"
    "  --min-reward R     episodes with reward >= R\n"
    "  --verified-only    episodes whose verifier ran\n"
    "  --env NAME         one env\n"
    "  --level L          one task level\n"
    "  --run NAME         one run\n"
    "  --grpo std|dr      rl advantages: (r - mean) / (std_{N-1} + 1e-6) as verl (std, the\n"
    "                     default), or r - mean as Dr. GRPO (dr)\n"
    "  --full-groups      rl: skip a group that lost a sample without a token stream\n"
    "                     instead of writing the rest of it (for trainers that reshape\n"
    "                     rewards by a fixed group size, as slime's GRPO does)\n"
    "  --parquet          write Parquet to -o FILE (needs python3 with pyarrow)\n"
    "\n"
    "rl: a GRPO group is the samples of one task in one run, judged whole: it needs\n"
    "group_size samples, none ended by a model or verifier error, each passing\n"
    "--min-reward / --verified-only; other groups are skipped and counted on stderr. A\n"
    "sample without a token stream (a context reset or an unparsable tool call leaves\n"
    "none) is left out and its group written with the rest, advantages over those, when\n"
    "at least 2 remain (metadata.group_samples); counted on stderr. group_index numbers\n"
    "the written groups from 0. tasks: --min-reward and --verified-only do not apply;\n"
    "--run keeps the tasks that run sampled.\n"
    "exit: 0 written, 1 the store cannot be read, --run/--env names nothing in it or the\n"
    "output cannot be written (an existing -o FILE is then left as it was), 2 usage (also\n"
    "-o naming the store itself)\n";

static int parse_format(const char *v, ef_export_format *out)
{
    if (!strcmp(v, "sft"))
        *out = EF_EXPORT_SFT;
    else if (!strcmp(v, "rl"))
        *out = EF_EXPORT_RL;
    else if (!strcmp(v, "tasks"))
        *out = EF_EXPORT_TASKS;
    else
        return -1;
    return 0;
}

int ef_cli_export(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return EF_EXIT_OK;
    }
    ef_export_options o = EF_EXPORT_OPTIONS_INIT;
    const char *db = NULL, *out_path = NULL;
    int have_format = 0, parquet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--verified-only")) {
            o.verified_only = 1;
            takes = 0;
        } else if (!strcmp(a, "--parquet")) {
            parquet = 1;
            takes = 0;
        } else if (!strcmp(a, "--full-groups")) {
            o.full_groups = 1;
            takes = 0;
        } else if (strcmp(a, "--db") && strcmp(a, "--format") && strcmp(a, "-o") &&
                   strcmp(a, "--min-reward") && strcmp(a, "--env") && strcmp(a, "--level") &&
                   strcmp(a, "--run") && strcmp(a, "--grpo"))
            return ef_cli_usage_error("export", "unknown option %s", a);
        if (!takes)
            continue;
        if (!v)
            return ef_cli_usage_error("export", "%s needs a value", a);
        i++;
        if (!strcmp(a, "--db"))
            db = v;
        else if (!strcmp(a, "-o"))
            out_path = v;
        else if (!strcmp(a, "--env"))
            o.env = v;
        else if (!strcmp(a, "--run"))
            o.run = v;
        else if (!strcmp(a, "--format")) {
            if (parse_format(v, &o.format) < 0)
                return ef_cli_usage_error("export", "--format %s: use sft, rl or tasks", v);
            have_format = 1;
        } else if (!strcmp(a, "--grpo")) {
            if (!strcmp(v, "std"))
                o.grpo = EF_GRPO_STD;
            else if (!strcmp(v, "dr"))
                o.grpo = EF_GRPO_DR;
            else
                return ef_cli_usage_error("export", "--grpo %s: use std or dr", v);
        } else if (!strcmp(a, "--min-reward")) {
            if (ef_cli_parse_reward(v, &o.min_reward) < 0)
                return ef_cli_usage_error("export", "--min-reward %s: give a number in [0, 1]", v);
        } else if (!strcmp(a, "--level")) {
            if (ef_cli_parse_i32("export", "--level", v, 0, 1000000, &o.level) < 0)
                return EF_EXIT_USAGE;
        }
    }
    if (!db)
        return ef_cli_usage_error("export", "give the store with --db FILE");
    if (!have_format)
        return ef_cli_usage_error("export", "give --format sft, rl or tasks");
    if (o.format == EF_EXPORT_TASKS && (o.min_reward >= 0 || o.verified_only))
        return ef_cli_usage_error("export", "--min-reward and --verified-only select episodes; "
                                            "--format tasks exports tasks");
    if (parquet && !out_path)
        return ef_cli_usage_error("export", "--parquet writes a file: give -o FILE");
    if (o.full_groups && o.format != EF_EXPORT_RL)
        return ef_cli_usage_error("export", "--full-groups applies to --format rl");
    int urc = ef_cli_check_output("export", db, out_path);
    if (urc != EF_EXIT_OK)
        return urc;
    ef_ctx *ctx = ef_ctx_new();
    if (!ctx) {
        fprintf(stderr, "envforge export: out of memory\n");
        return EF_EXIT_FAIL;
    }
    ef_store *s = NULL;
    int rc = ef_cli_store_open_read(ctx, db, &s);
    if (rc == 0)
        rc = ef_cli_store_check_filters(ctx, s, db, o.run, o.env);
    ef_export_stats st;
    memset(&st, 0, sizeof(st));
    if (rc == 0 && parquet) {
        /* to a temporary name renamed over FILE at the end: the writer removes what it
         * wrote when it fails, and an existing FILE must outlive a failed export */
        char *tmp = ef_asprintf("%s.tmp-%ld", out_path, (long)getpid());
        int fd = -1;
        if (!tmp)
            rc = ef_errorf(ctx, EF_ENOMEM, "export: out of memory");
        else if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0)
            /* as the JSONL path says it: the folder is missing or not writable, said
             * here rather than by the helper (a Python traceback naming the temporary) */
            rc = ef_errorf(ctx, EF_EIO, "cannot write %s: %s", out_path, strerror(errno));
        else {
            close(fd);
            rc = ef_export_write_parquet(s, &o, tmp, &st);
            if (rc == 0 && rename(tmp, out_path) != 0)
                rc = ef_errorf(ctx, EF_EIO, "export: cannot write %s: %s", out_path,
                               strerror(errno));
            if (rc < 0)
                unlink(tmp);
        }
        ef_free(tmp);
    } else if (rc == 0) {
        /* -o through a temporary file: a failed export leaves an existing FILE as it was */
        ef_cli_out out;
        memset(&out, 0, sizeof out);
        out.f = stdout;
        char err[512];
        if (out_path && ef_cli_out_open(&out, out_path, err, sizeof err) < 0)
            rc = ef_errorf(ctx, EF_EIO, "%s", err);
        else {
            static char buf[1 << 16];
            setvbuf(out.f, buf, _IOFBF, sizeof(buf));
            rc = ef_export_write(s, &o, out.f, &st);
        }
        if (out_path && (out.f || out.tmp) &&
            ef_cli_out_close(&out, rc == 0, err, sizeof err) < 0 && rc == 0)
            rc = ef_errorf(ctx, EF_EIO, "%s", err);
    }
    if (rc < 0)
        fprintf(stderr, "envforge export: %s\n", ef_errmsg(ctx));
    else {
        if (st.n_bytes >= 1000000)
            fprintf(stderr, "envforge export: %llu rows, %.1f MB", (unsigned long long)st.n_rows,
                    (double)st.n_bytes / 1e6);
        else
            fprintf(stderr, "envforge export: %llu rows, %.1f KB", (unsigned long long)st.n_rows,
                    (double)st.n_bytes / 1e3);
        if (o.format == EF_EXPORT_RL)
            fprintf(stderr,
                    "; %llu groups written; skipped %llu incomplete, %llu with a model or "
                    "verifier error, %llu filtered, %llu short of token streams (%llu "
                    "samples)",
                    (unsigned long long)st.n_groups, (unsigned long long)st.n_groups_incomplete,
                    (unsigned long long)st.n_groups_faulty,
                    (unsigned long long)st.n_groups_filtered,
                    (unsigned long long)st.n_groups_no_tokens,
                    (unsigned long long)st.n_samples_skipped);
        if (o.format == EF_EXPORT_SFT && st.n_faulty)
            fprintf(stderr, "; skipped %llu episodes with a model or verifier error",
                    (unsigned long long)st.n_faulty);
        fputc('\n', stderr);
        if (st.n_samples_no_tokens)
            fprintf(stderr,
                    "envforge export: %llu %s no token stream (a context reset, a turn "
                    "without token ids, or a model without them such as oracle or replay "
                    "leaves none; first: episode %lld): %llu %s written "
                    "without them, advantages over the samples written (--full-groups skips "
                    "such groups)\n",
                    (unsigned long long)st.n_samples_no_tokens,
                    st.n_samples_no_tokens == 1 ? "sample has" : "samples have",
                    (long long)st.first_no_tokens, (unsigned long long)st.n_groups_short,
                    st.n_groups_short == 1 ? "group" : "groups");
        if (st.n_groups_faulty || st.n_faulty)
            fprintf(stderr, "envforge export: episodes that ended in model_error or whose "
                            "verifier failed carry no verdict on the model; `envforge run` "
                            "with the same settings runs them again\n");
    }
    ef_store_close(s);
    ef_ctx_free(ctx);
    return rc < 0 ? EF_EXIT_FAIL : EF_EXIT_OK;
}

/*
 * cli/cmd_gen.c — `envforge gen`: parses arguments, runs envgen on each env file, sends
 * kept tasks to the store (one writer: batches arrive on this thread) and/or a tasks
 * JSONL file, and prints a summary per env on stdout.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "datasets/datasets.h"
#include "envgen/envgen.h"

/* the most tasks per env: keeps the default --max-attempts (10 N + 100) from wrapping */
#define GEN_MAX_N 100000000u

static const char usage_text[] =
    "usage: envforge gen ENV.lua... -n N --seed S [--level L|L1-L2] [--db FILE] [--jobs J]\n"
    "                    [--from-jsonl F] [-o TASKS.jsonl] [--max-attempts M] [--mem-mb M]\n"
    "                    [--instr N] [--exact] [--json] [--no-progress]\n"
    "Scripts N tasks per env: task i uses the seed derived from (S, the env's content hash,\n"
    "i), so the same inputs give the same tasks on any machine. A task is kept only when\n"
    "the env's reference solution (solve acting through call()) scores 1 under verify and\n"
    "trivial answers (empty, \"0\", the prompt echoed, a random answer shaped like the\n"
    "reference) score below 1; duplicates (same content hash) are dropped. Candidates are\n"
    "made until N are kept, up to --max-attempts.\n"
    "\n"
    "  -n N             tasks to keep per env (default 100, at most 100000000; with\n"
    "                   --from-jsonl: 0 = all)\n"
    "  --seed S         run seed (default 0)\n"
    "  --level L        one level, or a range L1-L2 (tasks cycle through it); default: all\n"
    "                   of the env's levels\n"
    "  --db FILE        store kept tasks in this SQLite store (tasks already there stay)\n"
    "  -o FILE          also write kept tasks as JSONL (one {env, env_hash, idx, seed,\n"
    "                   level, content_hash, task} per line)\n"
    "  --jobs J         worker threads, one Lua state each (default: all cores)\n"
    "  --from-jsonl F   import tasks from F (lines of -o output or bare task objects)\n"
    "                   instead of generating; each is validated the same way. F is\n"
    "                   checked whole first: a malformed line (not JSON, no prompt, a\n"
    "                   field of the wrong type, another env) is named by F:LINE and\n"
    "                   field, and nothing from F is stored; a line that fails\n"
    "                   validation is dropped like a generated candidate\n"
    "  --max-attempts M candidates per env before giving up (default 10 N + 100)\n"
    "  --mem-mb M       memory cap per Lua state (default 256)\n"
    "  --instr N        instruction budget per call into the env (default 200000000)\n"
    "  --exact          count instructions on every call (by default calls run without\n"
    "                   the count hook and one that runs long is redone with it: the same\n"
    "                   tasks and errors, faster)\n"
    "  --json           print each env's summary as one JSON line\n"
    "  --no-progress    no progress bar on stderr\n"
    "-o FILE is written to FILE.tmp-* and renamed at the end: a gen that fails leaves an\n"
    "existing FILE as it was. -o naming the --db store is refused.\n"
    "exit: 0 every env kept N tasks, 1 an env failed (its error names file and line) or\n"
    "--from-jsonl imported nothing, 2 usage (also a --level outside the env's levels)\n";

typedef struct {
    ef_store *store;
    ef_ctx *store_ctx; /* the store's errors: it is used on the sink's thread only */
    int64_t env_id;
    char env_hash[65];
    FILE *jsonl;
    ef_buf line;
} sink_state;

static int sink(void *ud, ef_ctx *ctx, const ef_env_info *env, const ef_env_task *tasks,
                size_t n, size_t *n_stored, size_t *n_dup)
{
    sink_state *ss = ud;
    if (ss->store) {
        if (strcmp(ss->env_hash, env->content_hash) != 0) {
            ef_env_row row = {env->name,        env->version, env->category,
                              env->description, env->content_hash, env->path,
                              env->source,      env->tools_json};
            int rc = ef_store_env_insert(ss->store, &row, &ss->env_id);
            if (rc < 0)
                return ef_errorf(ctx, rc, "%s", ef_errmsg(ss->store_ctx));
            memcpy(ss->env_hash, env->content_hash, sizeof ss->env_hash);
        }
        ef_task_row *rows = calloc(n, sizeof *rows);
        if (!rows)
            return ef_errorf(ctx, EF_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            rows[i].env_id = ss->env_id;
            rows[i].idx = tasks[i].idx;
            rows[i].seed = tasks[i].seed;
            rows[i].level = tasks[i].level;
            rows[i].content_hash = tasks[i].content_hash;
            rows[i].prompt = tasks[i].prompt;
            rows[i].task_json = tasks[i].task_json;
        }
        int rc = ef_store_task_insert_batch(ss->store, rows, n, n_stored, n_dup);
        free(rows);
        if (rc < 0)
            return ef_errorf(ctx, rc, "%s", ef_errmsg(ss->store_ctx));
    }
    if (ss->jsonl) {
        for (size_t i = 0; i < n; i++) {
            ef_buf_reset(&ss->line);
            int rc = ef_envgen_task_jsonl(ctx, &ss->line, env->name, env->content_hash, &tasks[i]);
            if (rc < 0)
                return rc;
            fprintf(ss->jsonl, "%s\n", ss->line.data);
        }
        if (ferror(ss->jsonl))
            return ef_errorf(ctx, EF_EIO, "writing the tasks JSONL failed");
    }
    return 0;
}

static int parse_levels(const char *s, int *lo, int *hi)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    long a = strtol(s, &end, 10);
    long b = a;
    if (end == s || a < 1 || a > 100)
        return -1;
    if (*end == '-') {
        const char *t = end + 1;
        if (!isdigit((unsigned char)t[0]))
            return -1;
        b = strtol(t, &end, 10);
        if (end == t || b < a)
            return -1;
    }
    if (*end || b > 100)
        return -1;
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

int ef_cli_gen(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return EF_EXIT_OK;
    }
    ef_envgen_options o = EF_ENVGEN_OPTIONS_INIT;
    o.n_tasks = 100;
    o.show_progress = 1;
    const char *db = NULL, *out_path = NULL;
    int as_json = 0, n_set = 0;
    const char **envs = calloc((size_t)argc, sizeof *envs);
    int n_envs = 0;
    if (!envs)
        return EF_EXIT_FAIL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t u;
        int takes = 1;
#define NUM(flag, lo, hi)                                                                  \
    do {                                                                                   \
        if (!v) {                                                                          \
            free(envs);                                                                    \
            return ef_cli_usage_error("gen", "%s needs a value", flag);                    \
        }                                                                                  \
        if (ef_cli_parse_u64("gen", flag, v, lo, hi, &u) < 0)                              \
            return free(envs), EF_EXIT_USAGE;                                              \
    } while (0)
        if (!strcmp(a, "-n")) {
            NUM("-n", 0, GEN_MAX_N);
            o.n_tasks = (size_t)u;
            n_set = 1;
        } else if (!strcmp(a, "--seed")) {
            NUM("--seed", 0, UINT64_MAX);
            o.seed = u;
        } else if (!strcmp(a, "--level")) {
            if (!v || parse_levels(v, &o.level_lo, &o.level_hi) < 0)
                return free(envs), ef_cli_usage_error("gen", "--level needs L or L1-L2 (1..100)");
        } else if (!strcmp(a, "--db")) {
            if (!v)
                return free(envs), ef_cli_usage_error("gen", "--db needs a file");
            db = v;
        } else if (!strcmp(a, "-o")) {
            if (!v)
                return free(envs), ef_cli_usage_error("gen", "-o needs a file");
            out_path = v;
        } else if (!strcmp(a, "--jobs")) {
            NUM("--jobs", 1, 1024);
            o.n_jobs = (int)u;
        } else if (!strcmp(a, "--from-jsonl")) {
            if (!v)
                return free(envs), ef_cli_usage_error("gen", "--from-jsonl needs a file");
            o.from_jsonl = v;
        } else if (!strcmp(a, "--max-attempts")) {
            NUM("--max-attempts", 1, SIZE_MAX);
            o.max_attempts = (size_t)u;
        } else if (!strcmp(a, "--mem-mb")) {
            NUM("--mem-mb", 4, 1u << 20);
            o.limits.mem_limit_bytes = (size_t)u << 20;
        } else if (!strcmp(a, "--instr")) {
            NUM("--instr", 1000, UINT64_MAX);
            o.limits.instr_limit = u;
        } else {
            takes = 0;
            if (!strcmp(a, "--json"))
                as_json = 1;
            else if (!strcmp(a, "--no-progress"))
                o.show_progress = 0;
            else if (!strcmp(a, "--exact"))
                o.exact = 1;
            else if (a[0] == '-' && a[1])
                return free(envs), ef_cli_usage_error("gen", "unknown option '%s'", a);
            else
                envs[n_envs++] = a;
        }
#undef NUM
        i += takes;
    }
    if (n_envs == 0) {
        free(envs);
        return ef_cli_usage_error("gen", "no env file given");
    }
    if (o.from_jsonl && n_envs != 1) {
        free(envs);
        return ef_cli_usage_error("gen", "--from-jsonl takes exactly one env file");
    }
    if (o.from_jsonl && !n_set)
        o.n_tasks = 0;
    if (!o.from_jsonl && o.n_tasks == 0) {
        free(envs);
        return ef_cli_usage_error("gen", "-n must be at least 1");
    }
    int urc = ef_cli_check_output("gen", db, out_path);
    if (urc != EF_EXIT_OK) {
        free(envs);
        return urc;
    }
    ef_ctx *ctx = ef_ctx_new();
    sink_state ss;
    memset(&ss, 0, sizeof ss);
    ef_buf_init(&ss.line, (size_t)64 << 20);
    ef_cli_out out;
    memset(&out, 0, sizeof out);
    char err[512];
    int status = EF_EXIT_OK;
    if (db && (!(ss.store_ctx = ef_ctx_new()) || ef_store_open(ss.store_ctx, db, &ss.store) < 0)) {
        fprintf(stderr, "envforge gen: %s\n", ss.store_ctx ? ef_errmsg(ss.store_ctx) : "out of memory");
        status = EF_EXIT_FAIL;
        goto done;
    }
    /* written through a temporary file: a failed gen leaves an existing -o file as it was */
    if (out_path) {
        if (ef_cli_out_open(&out, out_path, err, sizeof err) < 0) {
            fprintf(stderr, "envforge gen: %s\n", err);
            status = EF_EXIT_FAIL;
            goto done;
        }
        ss.jsonl = out.f;
    }
    if (db || out_path) {
        o.sink = sink;
        o.sink_ud = &ss;
    }
    for (int i = 0; i < n_envs; i++) {
        ef_envgen_summary sum;
        int rc = ef_envgen_run(ctx, envs[i], &o, &sum);
        /* an env that failed before making any candidate (load error, bad --level):
         * the error alone, no summary of nothing */
        int nothing = rc < 0 && sum.n_candidates == 0 && sum.n_kept == 0;
        if (!nothing && as_json) {
            char *j = ef_envgen_summary_json(&sum);
            if (j)
                printf("%s\n", j);
            ef_free(j);
        } else if (!nothing && sum.env_name) {
            ef_envgen_summary_print(&sum, stdout);
        }
        fflush(stdout);
        if (rc < 0) {
            fprintf(stderr, "envforge gen: %s\n", ef_errmsg(ctx));
            /* a --level outside the env's levels is a usage error (envgen/gen.c) */
            int bad_level = rc == EF_EINVAL && nothing && o.level_lo > 0 &&
                            strstr(ef_errmsg(ctx), "--level") != NULL;
            if (status != EF_EXIT_USAGE)
                status = bad_level ? EF_EXIT_USAGE : EF_EXIT_FAIL;
        } else if (o.from_jsonl && sum.n_kept == 0) {
            fprintf(stderr, "envforge gen: %s: no task imported\n", o.from_jsonl);
            if (status == EF_EXIT_OK)
                status = EF_EXIT_FAIL;
        }
        ef_envgen_summary_clear(&sum);
        memset(ss.env_hash, 0, sizeof ss.env_hash);
    }
done:
    if (out_path && (out.f || out.tmp) &&
        ef_cli_out_close(&out, status == EF_EXIT_OK, err, sizeof err) < 0) {
        fprintf(stderr, "envforge gen: %s\n", err);
        status = EF_EXIT_FAIL;
    }
    ef_store_close(ss.store);
    ef_ctx_free(ss.store_ctx);
    ef_buf_free(&ss.line);
    ef_ctx_free(ctx);
    free(envs);
    return status;
}

/*
 * cli/main.c — the `envforge` entry point: global options and the subcommand table.
 *
 * Exit codes: 0 success, 1 failure (the run could not do its work), 2 usage (bad
 * arguments, or a subcommand whose capability is not in this build).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "common/ef.h"
#include "sandbox/sandbox.h"

static const ef_cli_command commands[] = {
    {"gen", ef_cli_gen, "script tasks from Lua envs; keep only verifiably solvable ones"},
    {"inspect", ef_cli_inspect, "an env's tools, a sample task, its solution and verdict"},
    {"run", ef_cli_run, "run episodes (G samples per task) with a model, verify, store"},
    {"export", ef_cli_export, "SFT / RL / tasks JSONL (or Parquet) from a store"},
    {"stats", ef_cli_stats, "pass@k, rewards, tokens, tool errors per env and level"},
    {"report", ef_cli_report, "a self-contained HTML report with charts and trajectories"},
    {"sandbox", ef_cli_sandbox, "run one command in the sandbox; print the result as JSON"},
    {"swe", ef_cli_swe, "code-agent tasks from git repositories (mine, run)"},
    {"engine", ef_cli_engine, "the built-in DSA engine: generate, logits, encode, tokenize, bench"},
    {"serve", ef_cli_serve, "an OpenAI-compatible server on the built-in engine"},
    {"merge", ef_cli_merge, "join shard stores into one"},
    {"tools", ef_cli_tools, "the built-in tools and their JSON Schemas"},
    {"corpus", ef_cli_corpus, "build a local search corpus (SQLite FTS5)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: envforge [--version] [--help] COMMAND [ARGS...]\n\n"
               "Scripts verifiable agent tasks from Lua envs, runs agents on them in a\n"
               "sandbox, verifies every episode, stores everything in SQLite and exports\n"
               "trajectories for SFT and RL.\n\ncommands:\n");
    for (size_t i = 0; i < EF_ARRAY_LEN(commands); i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`envforge COMMAND --help` describes a command.\n"
               "exit codes: 0 ok, 1 failure, 2 usage error or capability not built\n");
}

int ef_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    }
    return 0;
}

int ef_cli_not_landed(int argc, char **argv, const char *usage_text, const char *missing)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        fprintf(stdout, "\nstatus: not available in this build: %s\n", missing);
        return EF_EXIT_OK;
    }
    fprintf(stderr, "envforge %s: not available in this build: %s\n", argv[0], missing);
    return EF_EXIT_USAGE;
}

int ef_cli_usage_error(const char *name, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "envforge %s: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see `envforge %s --help`)\n", name);
    return EF_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EF_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return EF_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("envforge %s\n", EF_VERSION);
        return EF_EXIT_OK;
    }
    /* before any thread: a caller that is not root gets full sandbox isolation from a
     * user namespace of its own (sandbox/rootless.c) */
    ef_sandbox_rootless_enter();
    for (size_t i = 0; i < EF_ARRAY_LEN(commands); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "envforge: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EF_EXIT_USAGE;
}

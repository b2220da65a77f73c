/*
 * cli/cmd_swe.c — `envforge swe`: code-agent tasks mined from git repositories (the
 * SWE-bench/SWE-smith flow). Not built yet: no issue covers it so far; the command says
 * so and exits 2.
 */
#include "cli/cli.h"

static const char usage_text[] =
    "usage: envforge swe mine REPO... --db FILE | envforge swe run --db FILE --model M\n"
    "Code-agent tasks from git repositories: mine fail-to-pass tasks from a repository's\n"
    "history, run agents on them in the sandbox, verify with the repository's tests.\n";

int ef_cli_swe(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text,
                             "SWE tasks from git repositories (mine/run) are not implemented "
                             "yet; build code tasks as Lua envs (examples/envs/code_*.lua)");
}

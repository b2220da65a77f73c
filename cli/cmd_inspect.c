/*
 * cli/cmd_inspect.c — `envforge inspect`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "envgen/envgen.h"

static const char usage_text[] =
"usage: envforge inspect ENV.lua [--seed S] [--level L]\n"
    "Prints the env's tools (JSON Schema), a sample task, its solution and verdict.\n";

int ef_cli_inspect(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_envgen_missing());
}

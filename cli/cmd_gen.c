/*
 * cli/cmd_gen.c — `envforge gen`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "envgen/envgen.h"

static const char usage_text[] =
"usage: envforge gen ENV.lua... -n N --seed S [--level L] --db FILE [--from-jsonl F]\n"
    "Scripts N tasks per env; keeps only tasks whose reference solution verifies and whose\n"
    "trivial answers fail; drops duplicates.\n";

int ef_cli_gen(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_envgen_missing());
}

/*
 * cli/cmd_stats.c — `envforge stats`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "datasets/datasets.h"

static const char usage_text[] =
"usage: envforge stats --db FILE [--json]\n"
    "pass@1/pass@k, reward histogram, turns, tokens, tool errors, end reasons per env/level.\n";

int ef_cli_stats(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_datasets_missing());
}

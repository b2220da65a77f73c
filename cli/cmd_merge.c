/*
 * cli/cmd_merge.c — `envforge merge`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "datasets/datasets.h"

static const char usage_text[] =
"usage: envforge merge OUT.db IN.db...\n"
    "Joins shard stores; conflicts are reported, never overwritten.\n";

int ef_cli_merge(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_datasets_missing());
}

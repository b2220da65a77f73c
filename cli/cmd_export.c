/*
 * cli/cmd_export.c — `envforge export`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "datasets/datasets.h"

static const char usage_text[] =
"usage: envforge export --db FILE --format sft|rl|tasks [--min-reward R] [-o FILE]\n"
    "Exports trajectories as JSONL (Parquet where pyarrow is installed).\n";

int ef_cli_export(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_datasets_missing());
}

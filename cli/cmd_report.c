/*
 * cli/cmd_report.c — `envforge report`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "datasets/datasets.h"

static const char usage_text[] =
"usage: envforge report --db FILE -o report.html\n"
    "A self-contained HTML report: charts and a trajectory viewer.\n";

int ef_cli_report(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_datasets_missing());
}

/*
 * cli/cmd_tools.c — `envforge tools`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "tools/tools.h"

static const char usage_text[] =
"usage: envforge tools [--json]\n"
    "Lists the built-in tools and their JSON Schemas.\n";

int ef_cli_tools(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_tools_missing());
}

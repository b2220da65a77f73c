/*
 * cli/cmd_swe.c — `envforge swe`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "agent/agent.h"

static const char usage_text[] =
"usage: envforge swe mine|run ...\n"
    "Code-agent tasks from git repositories.\n";

int ef_cli_swe(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_agent_missing());
}

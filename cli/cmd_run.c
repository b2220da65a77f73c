/*
 * cli/cmd_run.c — `envforge run`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "agent/agent.h"

static const char usage_text[] =
"usage: envforge run --db FILE --model M [--group G] [--concurrency C] [--shard i/N]\n"
    "Runs G episodes per task with model M (engine:DIR, http://host:port/v1, replay:F, oracle),\n"
    "verifies each and stores it. Resumable.\n";

int ef_cli_run(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_agent_missing());
}

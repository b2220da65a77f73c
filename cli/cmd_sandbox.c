/*
 * cli/cmd_sandbox.c — `envforge sandbox`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "sandbox/sandbox.h"

static const char usage_text[] =
"usage: envforge sandbox [--wall-ms N] [--cpu-ms N] [--mem-mb N] [--procs N] [--out-kb N]\n"
    "                        [--net] [--bind SRC:DST[:rw]] [--workdir DIR] [--profile deny|allow] -- CMD...\n"
    "Runs CMD in the sandbox and prints the result as JSON.\n";

int ef_cli_sandbox(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_sandbox_missing());
}

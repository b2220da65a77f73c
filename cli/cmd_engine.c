/*
 * cli/cmd_engine.c — `envforge engine`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "engine/engine.h"

static const char usage_text[] =
"usage: envforge engine generate|logits|encode|bench ...\n"
    "The built-in DeepSeek-V3.2 (DSA) engine.\n";

int ef_cli_engine(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_engine_missing());
}

/*
 * cli/cmd_serve.c — `envforge serve`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "engine/engine.h"

static const char usage_text[] =
"usage: envforge serve --model DIR --port P\n"
    "An OpenAI-compatible server (/v1/chat/completions, /v1/completions) on the engine.\n";

int ef_cli_serve(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_engine_missing());
}

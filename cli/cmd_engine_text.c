/*
 * cli/cmd_engine_text.c — `envforge engine encode` and `envforge engine tokenize`:
 * placeholders until the tokenizer and chat encoding land.
 */
#include "cli/cli.h"
#include "engine/engine.h"

int ef_cli_engine_encode(int argc, char **argv)
{
    static const char usage_text[] = "usage: envforge engine encode FILE.json [--chat]\n";
    return ef_cli_not_landed(argc, argv, usage_text, ef_engine_missing());
}

int ef_cli_engine_tokenize(int argc, char **argv)
{
    static const char usage_text[] = "usage: envforge engine tokenize --model DIR TEXT\n";
    return ef_cli_not_landed(argc, argv, usage_text, ef_engine_missing());
}

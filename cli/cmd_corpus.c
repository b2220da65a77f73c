/*
 * cli/cmd_corpus.c — `envforge corpus`: placeholder until its capability lands.
 */
#include "cli/cli.h"
#include "tools/tools.h"

static const char usage_text[] =
"usage: envforge corpus build DOCS.jsonl -o corpus.db\n"
    "Builds a local search corpus (SQLite FTS5, BM25).\n";

int ef_cli_corpus(int argc, char **argv)
{
    return ef_cli_not_landed(argc, argv, usage_text, ef_tools_missing());
}

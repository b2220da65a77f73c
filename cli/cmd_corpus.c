/*
 * cli/cmd_corpus.c — `envforge corpus build|search`: make a local search corpus (SQLite
 * FTS5) from JSON Lines, and query one from the command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "common/json.h"
#include "tools/tools.h"

static const char usage_text[] =
    "usage: envforge corpus build DOCS.jsonl -o corpus.db\n"
    "       envforge corpus search corpus.db QUERY [-k N] [--json]\n"
    "Builds a local search corpus (SQLite FTS5, BM25; Chinese, Japanese and Korean text is\n"
    "indexed by characters and bigrams, so words without spaces are found), or searches one.\n"
    "\n"
    "DOCS.jsonl holds one document per line: {\"id\": \"...\", \"title\": \"...\",\n"
    "\"text\": \"...\", \"url\": \"...\"} (title and url optional; \"-\" reads stdin).\n"
    "The search tool uses the corpus when an episode is given one. build replaces only a\n"
    "missing or empty file or an earlier corpus; any other file at -o is refused.\n"
    "exit: 0 ok, 1 failure (a bad line, an -o that is not a corpus), 2 usage\n";

static int build(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return ef_cli_usage_error("corpus", "unknown option '%s'", argv[i]);
        else if (!in)
            in = argv[i];
        else
            return ef_cli_usage_error("corpus", "unexpected argument '%s'", argv[i]);
    }
    if (!in || !out)
        return ef_cli_usage_error("corpus", "build needs DOCS.jsonl and -o corpus.db");
    ef_ctx *ctx = ef_ctx_new();
    if (!ctx)
        return EF_EXIT_FAIL;
    size_t n = 0;
    double t0 = ef_now_s();
    int rc = ef_tools_corpus_build(ctx, in, out, &n);
    if (rc < 0)
        fprintf(stderr, "envforge corpus: %s\n", ef_errmsg(ctx));
    else
        fprintf(stderr, "corpus: %zu documents indexed into %s in %.2f s\n", n, out,
                ef_now_s() - t0);
    ef_ctx_free(ctx);
    return rc < 0 ? EF_EXIT_FAIL : EF_EXIT_OK;
}

static int search(int argc, char **argv)
{
    const char *db = NULL, *query = NULL;
    int k = 5, json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-k") == 0 && i + 1 < argc) {
            if (ef_cli_parse_i32("corpus", "-k", argv[++i], 1, 1000, &k) < 0)
                return EF_EXIT_USAGE;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return ef_cli_usage_error("corpus", "unknown option '%s'", argv[i]);
        } else if (!db) {
            db = argv[i];
        } else if (!query) {
            query = argv[i];
        } else {
            return ef_cli_usage_error("corpus", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!db || !query)
        return ef_cli_usage_error("corpus", "search needs corpus.db and QUERY");
    ef_ctx *ctx = ef_ctx_new();
    if (!ctx)
        return EF_EXIT_FAIL;
    cJSON *hits = NULL;
    int rc = ef_tools_corpus_search(ctx, db, query, k, &hits);
    if (rc < 0) {
        fprintf(stderr, "envforge corpus: %s\n", ef_errmsg(ctx));
    } else if (json) {
        char *text = ef_json_print(hits);
        if (text)
            printf("%s\n", text);
        ef_free(text);
    } else {
        int i = 0;
        const cJSON *h;
        cJSON_ArrayForEach(h, hits)
        {
            printf("%d. [%s] %s (score %.3f)\n   %s\n", ++i,
                   cJSON_GetObjectItemCaseSensitive(h, "id")->valuestring,
                   cJSON_GetObjectItemCaseSensitive(h, "title")->valuestring,
                   cJSON_GetObjectItemCaseSensitive(h, "score")->valuedouble,
                   cJSON_GetObjectItemCaseSensitive(h, "snippet")->valuestring);
        }
        if (i == 0)
            printf("no results\n");
    }
    cJSON_Delete(hits);
    ef_ctx_free(ctx);
    return rc < 0 ? EF_EXIT_FAIL : EF_EXIT_OK;
}

int ef_cli_corpus(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv) || argc < 2) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? EF_EXIT_USAGE : EF_EXIT_OK;
    }
    if (strcmp(argv[1], "build") == 0)
        return build(argc - 1, argv + 1);
    if (strcmp(argv[1], "search") == 0)
        return search(argc - 1, argv + 1);
    return ef_cli_usage_error("corpus", "unknown subcommand '%s' (build, search)", argv[1]);
}

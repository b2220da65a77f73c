/*
 * tests/export_fixtures/make_store.c — `export_make_store small OUT.db` or
 * `export_make_store large OUT.db GROUPS GROUP_SIZE TOKENS`: writes a fixture store for
 * the Python tests and tests/bench/export.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tests/export_fixtures/store_fixture.h"

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "small") && (strcmp(argv[1], "large") || argc != 6))) {
        fprintf(stderr, "usage: export_make_store small OUT.db | large OUT.db GROUPS G TOKENS\n");
        return 2;
    }
    ef_ctx *ctx = ef_ctx_new();
    int rc = !strcmp(argv[1], "small")
                 ? ef_fixture_small(ctx, argv[2])
                 : ef_fixture_large(ctx, argv[2], atoll(argv[3]), atoll(argv[4]), atoll(argv[5]));
    if (rc < 0)
        fprintf(stderr, "export_make_store: %s\n", ef_errmsg(ctx));
    ef_ctx_free(ctx);
    return rc < 0 ? 1 : 0;
}

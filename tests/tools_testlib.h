/*
 * tests/tools_testlib.h — the fixture the tool tests share (test_tools.c,
 * test_tools_net.c, test_tools_sandbox.c): a registry with the built-in tools and a tool
 * context on a given configuration, optionally in a fresh temporary workdir that closing
 * removes.
 *
 *   fixture f;
 *   ef_tools_config cfg = EF_TOOLS_CONFIG_INIT;
 *   cfg.max_output_bytes = 4096;
 *   fx_open_cfg(&f, "editor", &cfg);  // cfg.workdir = f.dir, a new directory
 *   ... ef_tools_registry_call(f.reg, f.tc, "editor", args, &r) ...
 *   fx_close(&f);                     // frees everything, removes f.dir
 */
#ifndef EF_TOOLS_TESTLIB_H
#define EF_TOOLS_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tests/testlib.h"
#include "tools/tools.h"

typedef struct {
    ef_ctx *ctx;
    ef_tool_registry *reg;
    ef_tool_ctx *tc;
    char dir[512]; /* the workdir made by fx_open_cfg; "" when none */
} fixture;

/* With tag: makes a temporary workdir ("eftest-<tag>-XXXXXX") and sets cfg->workdir to
 * it; without (NULL), cfg is used as it is. */
static inline void fx_open_cfg(fixture *f, const char *tag, ef_tools_config *cfg)
{
    memset(f, 0, sizeof *f);
    if (tag) {
        snprintf(f->dir, sizeof f->dir, "%s", ef_test_tmpdir(tag));
        cfg->workdir = f->dir;
    }
    f->ctx = ef_ctx_new();
    ef_tools_registry_new(f->ctx, &f->reg);
    ef_tools_add_builtins(f->reg, NULL);
    ef_tools_ctx_new(f->ctx, cfg, &f->tc);
}

static inline void fx_close(fixture *f)
{
    ef_tools_ctx_free(f->tc);
    ef_tools_registry_free(f->reg);
    if (f->dir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
            printf("    (could not remove %s)\n", f->dir);
    }
    ef_ctx_free(f->ctx);
}

#endif

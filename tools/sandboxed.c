/*
 * tools/sandboxed.c — what the python and bash tools share: the context's sandbox worker
 * (borrowed from the config or made on first use), handing the workdir to the sandbox's
 * uid again after host-side tools (editor, git) changed files, and the sandbox options of
 * one tool run (workdir bound at /work, limits from the config, no network by default).
 */
#include <string.h>
#include "tools/tools_int.h"

int ef_tools__sandbox_prepare(ef_tool_ctx *tc, ef_sandbox_worker **out)
{
    ef_ctx *ctx = tc->ctx;
    if (!tc->cfg.workdir)
        return ef_errorf(ctx, EF_EUNSUPPORTED, "this episode has no working directory");
    if (!ef_sandbox_available())
        return ef_errorf(ctx, EF_EUNSUPPORTED, "the sandbox is not built: %s",
                         ef_sandbox_missing());
    ef_sandbox_worker *w = tc->cfg.sandbox_worker ? tc->cfg.sandbox_worker : tc->own_worker;
    if (!w) {
        int rc = ef_sandbox_worker_new(ctx, NULL, &tc->own_worker);
        if (rc < 0)
            return rc;
        w = tc->own_worker;
    }
    const char *why = NULL;
    if (!ef_sandbox_worker_full(w, &why) && !tc->cfg.sandbox_allow_weak)
        return ef_errorf(ctx, EF_ESANDBOX,
                         "the sandbox cannot fully isolate code on this machine (%s); set "
                         "sandbox_allow_weak to run anyway",
                         why ? why : "no user namespaces");
    if (tc->workdir_dirty) {
        int rc = ef_sandbox_dir_chown(ctx, w, tc->cfg.workdir);
        if (rc < 0)
            return rc;
        tc->workdir_dirty = 0;
    }
    *out = w;
    return 0;
}

void ef_tools__sandbox_options(const ef_tool_ctx *tc, int64_t wall_ms, int mem_mb,
                               ef_sandbox_options *o)
{
    ef_sandbox_options def = EF_SANDBOX_OPTIONS_INIT;
    *o = def;
    o->wall_ms = wall_ms;
    o->cpu_ms = wall_ms;
    o->mem_bytes = (int64_t)(mem_mb > 0 ? mem_mb : 1024) << 20;
    o->out_bytes = (int64_t)(tc->cfg.max_output_bytes ? tc->cfg.max_output_bytes : 65536);
    o->output_limit_kills = 0;
    o->net = tc->cfg.sandbox_network;
    o->workdir = tc->cfg.workdir;
    o->workdir_writable = 1;
    o->allow_weak = tc->cfg.sandbox_allow_weak;
}

/*
 * tools/sandboxed.c — what the python and bash tools share: the context's sandbox worker
 * (borrowed from the config or made on first use), handing the workdir to the sandbox's
 * uid again after host-side tools (editor, git) changed files, and the sandbox options of
 * one tool run (workdir bound at /work, limits from the config, no network by default);
 * and host-side file access as the sandbox's uid for the editor and git.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "tools/tools_int.h"

int ef_tools__worker(ef_tool_ctx *tc, ef_sandbox_worker **out)
{
    ef_sandbox_worker *w = tc->cfg.sandbox_worker ? tc->cfg.sandbox_worker : tc->own_worker;
    if (!w) {
        int rc = ef_sandbox_worker_new(tc->ctx, NULL, &tc->own_worker);
        if (rc < 0)
            return rc;
        w = tc->own_worker;
    }
    if (tc->workdir_dirty && tc->cfg.workdir) {
        int rc = ef_sandbox_dir_chown(tc->ctx, w, tc->cfg.workdir);
        if (rc < 0)
            return rc;
        tc->workdir_dirty = 0;
    }
    *out = w;
    return 0;
}

int ef_tools__fs_drop(ef_tool_ctx *tc, ef_tools__fsid *saved)
{
    memset(saved, 0, sizeof *saved);
    if (geteuid() != 0 || !tc->cfg.workdir)
        return 0;
    ef_sandbox_worker *w;
    int rc = ef_tools__worker(tc, &w);
    if (rc < 0)
        return rc;
    uid_t uid = (uid_t)ef_sandbox_worker_uid(w);
    if (uid == 0)
        return 0;
    /* raw syscalls: glibc's setgroups would change every thread of the process */
    gid_t groups[64];
    long n = syscall(SYS_getgroups, 64, groups);
    if (n < 0)
        return ef_errorf(tc->ctx, EF_EIO, "tools: getgroups failed");
    saved->n_groups = (int)n;
    for (long i = 0; i < n; i++)
        saved->groups[i] = groups[i];
    gid_t one = (gid_t)uid;
    if (syscall(SYS_setgroups, 1, &one) != 0)
        return ef_errorf(tc->ctx, EF_EIO, "tools: setgroups failed");
    saved->fsgid = (unsigned)setfsgid((gid_t)uid);
    saved->fsuid = (unsigned)setfsuid(uid);
    saved->active = 1;
    if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != (gid_t)uid) {
        ef_tools__fs_restore(saved);
        return ef_errorf(tc->ctx, EF_EIO, "tools: could not take the sandbox's uid %u for "
                         "file access", (unsigned)uid);
    }
    return 0;
}

void ef_tools__fs_restore(ef_tools__fsid *saved)
{
    if (!saved->active)
        return;
    setfsuid((uid_t)saved->fsuid);
    setfsgid((gid_t)saved->fsgid);
    gid_t groups[64];
    for (int i = 0; i < saved->n_groups; i++)
        groups[i] = (gid_t)saved->groups[i];
    syscall(SYS_setgroups, (size_t)saved->n_groups, groups);
    saved->active = 0;
}

int ef_tools__sandbox_prepare(ef_tool_ctx *tc, ef_sandbox_worker **out)
{
    ef_ctx *ctx = tc->ctx;
    if (!tc->cfg.workdir)
        return ef_errorf(ctx, EF_EUNSUPPORTED, "this episode has no working directory");
    if (!ef_sandbox_available())
        return ef_errorf(ctx, EF_EUNSUPPORTED, "the sandbox is not built: %s",
                         ef_sandbox_missing());
    ef_sandbox_worker *w;
    int rc = ef_tools__worker(tc, &w);
    if (rc < 0)
        return rc;
    const char *why = NULL;
    if (!ef_sandbox_worker_full(w, &why) && !tc->cfg.sandbox_allow_weak)
        return ef_errorf(ctx, EF_ESANDBOX,
                         "the sandbox cannot fully isolate code on this machine (%s); set "
                         "sandbox_allow_weak to run anyway",
                         why ? why : "no user namespaces");
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

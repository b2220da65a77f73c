/*
 * cli/cmd_sandbox.c — `envforge sandbox`: run one command in the sandbox and print the
 * result as JSON on stdout. Exit 0 when the command ran and ended ok, 1 for any other
 * status (the JSON says which) or when no result could be made, 2 for usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "common/ef.h"
#include "sandbox/sandbox.h"

static const char usage_text[] =
    "usage: envforge sandbox [--wall-ms N] [--cpu-ms N] [--mem-mb N] [--procs N] [--out-kb N]\n"
    "                        [--tmp-mb N] [--net] [--bind SRC:DST[:rw]] [--workdir DIR]\n"
    "                        [--workdir-ro] [--chown-workdir] [--workdir-idmap]\n"
    "                        [--profile deny|allow]\n"
    "                        [--stdin FILE] [--env K=V] [--weak] [--cgroup] -- CMD...\n"
    "Runs CMD in the sandbox (new user/pid/mount/net/ipc/uts/cgroup namespaces, fresh root,\n"
    "seccomp, limits) and prints the result as JSON: status (ok, nonzero-exit, signaled,\n"
    "timeout, cpu-limit, memory-limit, output-limit, seccomp-violation, setup-error),\n"
    "detail, exit_code, signal, wall_ms, cpu_ms (user_ms, sys_ms), peak_rss_kb,\n"
    "csw_voluntary, csw_forced (context switches of the tree), isolation, rootless (set up\n"
    "by a non-root caller in a user namespace of its own), cgroup (with mem_peak_kb and\n"
    "procs_refused), stdout, stderr and their truncation.\n"
    "\n"
    "  --wall-ms N      wall-clock limit (default 10000; 0 = none)\n"
    "  --cpu-ms N       CPU limit of the tree (default 10000; 0 = no limit)\n"
    "  --mem-mb N       memory limit (default 1024; 0 = no limit): address space per\n"
    "                   process and the tree's resident memory and memfds; System V\n"
    "                   shared memory at most as much; with --cgroup the tree's memory,\n"
    "                   exact\n"
    "  --procs N        processes in the tree (default 64; 0 = no limit)\n"
    "  --out-kb N       cap per output stream, at least 1; passing it ends the run\n"
    "                   (default 1024)\n"
    "  --tmp-mb N       size of the writable /tmp, at least 1 (default 64)\n"
    "  --net            share the host network, its loopback and abstract unix sockets\n"
    "                   included (default: an empty network namespace)\n"
    "  --bind S:D[:rw]  bind host path S at D (read-only unless :rw); repeatable\n"
    "  --workdir DIR    bind DIR at /work (writable) and start there\n"
    "  --workdir-ro     make the workdir read-only\n"
    "  --chown-workdir  give DIR to the sandbox's outer uid first (so it can write there)\n"
    "  --workdir-idmap  show DIR's root-owned files as the sandbox's own (idmapped mount)\n"
    "  --profile P      seccomp profile: deny (default, deny-list) or allow (allow-list)\n"
    "  --stdin FILE     feed FILE to stdin (default /dev/null)\n"
    "  --env K=V        add an environment variable; repeatable\n"
    "  --weak           allow the weak mode where user namespaces are unavailable\n"
    "  --cgroup         limit memory and processes with a cgroup of the run's own where one\n"
    "                   can be had (root: v2 delegated or v1; EF_SANDBOX_CGROUP=DIR names a\n"
    "                   v2 group); exact, but costs a few ms per run (docs/sandbox.md)\n"
    "exit: 0 status ok, 1 any other status or failure, 2 usage\n";

int ef_cli_sandbox(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return EF_EXIT_OK;
    }
    ef_sandbox_options o = EF_SANDBOX_OPTIONS_INIT;
    const char *env[65];
    int n_env = 0, chown_wd = 0, cmd = -1, use_cgroup = -1;
    const char *stdin_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v = 0;
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--")) {
            cmd = i + 1;
            break;
        } else if (!strcmp(a, "--net")) {
            o.net = 1;
        } else if (!strcmp(a, "--weak")) {
            o.allow_weak = 1;
        } else if (!strcmp(a, "--cgroup")) {
            use_cgroup = 1;
        } else if (!strcmp(a, "--workdir-ro")) {
            o.workdir_writable = 0;
        } else if (!strcmp(a, "--chown-workdir")) {
            chown_wd = 1;
        } else if (!strcmp(a, "--workdir-idmap")) {
            o.workdir_idmap = 1;
        } else if (a[0] != '-') {
            return ef_cli_usage_error("sandbox",
                                      "'%s': the command must follow --, as in "
                                      "envforge sandbox [options] -- %s ...",
                                      a, a);
        } else if (!val) {
            return ef_cli_usage_error("sandbox", "%s needs a value", a);
        } else if (!strcmp(a, "--workdir")) {
            o.workdir = val, i++;
        } else if (!strcmp(a, "--stdin")) {
            stdin_path = val, i++;
        } else if (!strcmp(a, "--env")) {
            if (!strchr(val, '=') || val[0] == '=' || n_env >= 64)
                return ef_cli_usage_error("sandbox", "--env wants K=V (at most 64): '%s'", val);
            env[n_env++] = val, i++;
        } else if (!strcmp(a, "--profile")) {
            if (!strcmp(val, "deny"))
                o.profile = EF_SANDBOX_PROFILE_DENY;
            else if (!strcmp(val, "allow"))
                o.profile = EF_SANDBOX_PROFILE_ALLOW;
            else
                return ef_cli_usage_error("sandbox", "--profile is deny or allow, not '%s'", val);
            i++;
        } else if (!strcmp(a, "--bind")) {
            if (o.n_binds >= EF_SANDBOX_MAX_BINDS)
                return ef_cli_usage_error("sandbox", "at most %d --bind", EF_SANDBOX_MAX_BINDS);
            char *spec = argv[++i];
            char *c1 = strchr(spec, ':');
            if (!c1 || c1 == spec || !c1[1])
                return ef_cli_usage_error("sandbox", "--bind wants SRC:DST[:rw], not '%s'", spec);
            *c1 = '\0';
            char *c2 = strchr(c1 + 1, ':');
            int rw = 0;
            if (c2) {
                *c2 = '\0';
                if (strcmp(c2 + 1, "rw") && strcmp(c2 + 1, "ro"))
                    return ef_cli_usage_error("sandbox", "--bind mode is rw or ro, not '%s'",
                                              c2 + 1);
                rw = !strcmp(c2 + 1, "rw");
            }
            o.binds[o.n_binds++] = (ef_sandbox_bind){spec, c1 + 1, rw};
        } else if (!strcmp(a, "--wall-ms") || !strcmp(a, "--cpu-ms")) {
            /* at most a year */
            if (ef_cli_parse_int("sandbox", a, val, 0, 31536000000LL, &v) < 0)
                return EF_EXIT_USAGE;
            *(a[2] == 'w' ? &o.wall_ms : &o.cpu_ms) = v, i++;
        } else if (!strcmp(a, "--mem-mb")) {
            if (ef_cli_parse_int("sandbox", a, val, 0, 1LL << 24, &v) < 0)
                return EF_EXIT_USAGE;
            o.mem_bytes = v << 20, i++;
        } else if (!strcmp(a, "--procs")) {
            if (ef_cli_parse_int("sandbox", a, val, 0, 1LL << 22, &v) < 0)
                return EF_EXIT_USAGE;
            o.procs = v, i++;
        } else if (!strcmp(a, "--out-kb")) {
            /* the sandbox caps a stream at 4 GiB */
            if (ef_cli_parse_int("sandbox", a, val, 1, 1LL << 22, &v) < 0)
                return EF_EXIT_USAGE;
            o.out_bytes = v << 10, i++;
        } else if (!strcmp(a, "--tmp-mb")) {
            if (ef_cli_parse_int("sandbox", a, val, 1, 1LL << 20, &v) < 0)
                return EF_EXIT_USAGE;
            o.tmp_bytes = v << 20, i++;
        } else {
            return ef_cli_usage_error("sandbox", "unknown option '%s'", a);
        }
    }
    if (cmd < 0 || cmd >= argc)
        return ef_cli_usage_error("sandbox", "no command (put it after --)");
    if (!argv[cmd][0])
        return ef_cli_usage_error("sandbox", "the command after -- is an empty string");
    env[n_env] = NULL;
    o.env = env;

    ef_ctx *ctx = ef_ctx_new();
    ef_sandbox_worker *w = NULL;
    ef_sandbox_result *r = NULL;
    char *in = NULL;
    int code = EF_EXIT_FAIL;
    if (!ctx)
        return EF_EXIT_FAIL;
    if (stdin_path) {
        size_t len = 0;
        if (ef_file_read(ctx, stdin_path, (size_t)1 << 30, &in, &len) < 0)
            goto done;
        o.stdin_data = in;
        o.stdin_len = len;
    }
    ef_sandbox_worker_options wo = EF_SANDBOX_WORKER_OPTIONS_INIT;
    wo.cgroup = use_cgroup;
    int wrc = ef_sandbox_worker_new(ctx, &wo, &w);
    const char *cg_why = NULL;
    if (wrc == 0 && use_cgroup == 1 && !ef_sandbox_worker_cgroup(w, &cg_why))
        fprintf(stderr, "envforge sandbox: --cgroup: no cgroup (%s); limits are rlimits\n",
                cg_why);
    if (wrc < 0)
        goto done;
    if (chown_wd && o.workdir && ef_sandbox_dir_chown(ctx, w, o.workdir) < 0)
        goto done;
    if (ef_sandbox_run(ctx, w, &o, (const char *const *)(argv + cmd), &r) < 0)
        goto done;
    char *json = ef_sandbox_result_json(r);
    if (!json) {
        ef_errorf(ctx, EF_ENOMEM, "out of memory printing the result");
        goto done;
    }
    printf("%s\n", json);
    ef_free(json);
    code = r->status == EF_SANDBOX_OK ? EF_EXIT_OK : EF_EXIT_FAIL;
done:
    if (code != EF_EXIT_OK && !r) {
        /* the component's messages start with its own name: said once */
        const char *msg = ef_errmsg(ctx);
        if (!strncmp(msg, "sandbox: ", 9))
            msg += 9;
        fprintf(stderr, "envforge sandbox: %s\n", msg);
    }
    ef_sandbox_result_free(r);
    ef_sandbox_worker_free(w);
    ef_free(in);
    ef_ctx_free(ctx);
    return code;
}

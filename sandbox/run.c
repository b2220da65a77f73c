/*
 * sandbox/run.c — ef_sandbox_run: the steps of one run, in order, each checked.
 *
 *   1. check the options; refuse without full isolation unless the caller allows weak;
 *   2. the worker's compiled filter for (profile, network);
 *   3. the plan (mount steps, argv, env, rlimits) — plan.c;
 *   4. stdin (a memfd holding stdin_data, or /dev/null) and the output pipes;
 *   5. clone the init — spawn.c; it builds the root and execs the program — child.c;
 *   6. collect stdout/stderr under their caps until the init exits, killing the tree at
 *      the wall limit or when a stream passes its cap;
 *   7. reap the init (CPU time of the whole tree) and classify — result.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sandbox/sandbox_int.h"

int ef_sandbox__opts_check(ef_ctx *ctx, const ef_sandbox_options *o)
{
    if (o->version != EF_SANDBOX_OPTIONS_VERSION)
        return ef_errorf(ctx, EF_EINVAL,
                         "sandbox: options version %d, expected %d (use "
                         "EF_SANDBOX_OPTIONS_INIT)",
                         o->version, EF_SANDBOX_OPTIONS_VERSION);
    if (o->wall_ms < 0 || o->cpu_ms < 0 || o->mem_bytes < 0 || o->procs < 0 || o->file_bytes < 0 ||
        o->open_files < 0)
        return ef_errorf(ctx, EF_EINVAL, "sandbox: limits must be >= 0 (0 = none)");
    if (o->out_bytes <= 0 || o->out_bytes > ((int64_t)1 << 32))
        return ef_errorf(ctx, EF_EINVAL, "sandbox: out_bytes %lld must be in 1..4 GiB",
                         (long long)o->out_bytes);
    if (o->tmp_bytes < 4096)
        return ef_errorf(ctx, EF_EINVAL, "sandbox: tmp_bytes %lld must be >= 4096",
                         (long long)o->tmp_bytes);
    if (o->n_binds < 0 || o->n_binds > EF_SANDBOX_MAX_BINDS)
        return ef_errorf(ctx, EF_EINVAL, "sandbox: %d binds (at most %d)", o->n_binds,
                         EF_SANDBOX_MAX_BINDS);
    /* the sandbox's own trees, which a bind over would break or hide (the tree's CPU and
     * memory are watched through its /proc) */
    static const char *const own[] = {"/proc", "/dev", "/usr", "/bin", "/sbin",
                                      "/lib", "/lib32", "/lib64", "/libx32"};
    for (int i = 0; i < o->n_binds; i++) {
        const ef_sandbox_bind *b = &o->binds[i];
        if (!b->src || !b->dst || b->dst[0] != '/' || strstr(b->dst, "..") ||
            strlen(b->dst) > 256 || !strcmp(b->dst, "/"))
            return ef_errorf(ctx, EF_EINVAL,
                             "sandbox: bind %d: '%s' -> '%s': the target "
                             "must be an absolute path without '..', not /",
                             i, b->src ? b->src : "(null)", b->dst ? b->dst : "(null)");
        for (size_t k = 0; k < EF_ARRAY_LEN(own); k++) {
            size_t kl = strlen(own[k]);
            if (!strncmp(b->dst, own[k], kl) && (b->dst[kl] == '\0' || b->dst[kl] == '/'))
                return ef_errorf(ctx, EF_EINVAL,
                                 "sandbox: bind %s -> %s: the sandbox's own %s cannot be "
                                 "bound over or into",
                                 b->src, b->dst, own[k]);
        }
        struct stat st;
        if (stat(b->src, &st) < 0)
            return ef_errorf(ctx, EF_ENOTFOUND, "sandbox: bind source %s: %s", b->src,
                             strerror(errno));
        for (int j = 0; j < i; j++) {
            const char *a = o->binds[j].dst, *c = b->dst;
            size_t al = strlen(a), cl = strlen(c);
            if ((al <= cl && !strncmp(a, c, al) && (c[al] == '/' || c[al] == '\0')) ||
                (cl < al && !strncmp(a, c, cl) && a[cl] == '/'))
                return ef_errorf(ctx, EF_EINVAL,
                                 "sandbox: binds at %s and %s nest (or repeat): not supported",
                                 a, c);
        }
        if (o->workdir && !strncmp(b->dst, "/work", 5) && (b->dst[5] == '\0' || b->dst[5] == '/'))
            return ef_errorf(ctx, EF_EINVAL,
                             "sandbox: bind %s -> %s: /work is the workdir's", b->src, b->dst);
    }
    if (o->n_extra_fds < 0 || o->n_extra_fds > EF_SANDBOX_MAX_FDS)
        return ef_errorf(ctx, EF_EINVAL, "sandbox: %d extra fds (at most %d)", o->n_extra_fds,
                         EF_SANDBOX_MAX_FDS);
    for (int i = 0; i < o->n_extra_fds; i++)
        if (fcntl(o->extra_fds[i], F_GETFD) < 0)
            return ef_errorf(ctx, EF_EINVAL, "sandbox: extra fd %d is not open", o->extra_fds[i]);
    struct stat wst;
    if (o->workdir && stat(o->workdir, &wst) != 0)
        return ef_errorf(ctx, EF_ENOTFOUND, "sandbox: workdir %s: %s", o->workdir, strerror(errno));
    if (o->workdir && !S_ISDIR(wst.st_mode))
        return ef_errorf(ctx, EF_EINVAL, "sandbox: workdir %s is not a directory", o->workdir);
    return 0;
}

/* stdin: a sealed memfd with the bytes, or the worker's /dev/null (*owned = 0). */
static int open_stdin(ef_ctx *ctx, ef_sandbox_worker *w, const ef_sandbox_options *o, int *owned)
{
    *owned = 0;
    if (!o->stdin_data || !o->stdin_len) {
        if (w->devnull_fd < 0 && (w->devnull_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
            return ef_errorf(ctx, EF_EIO, "sandbox: open /dev/null: %s", strerror(errno));
        return w->devnull_fd;
    }
    *owned = 1;
    int fd = memfd_create("ef-stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return ef_errorf(ctx, EF_EIO, "sandbox: memfd_create: %s", strerror(errno));
    const char *p = o->stdin_data;
    size_t left = o->stdin_len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return ef_errorf(ctx, EF_EIO, "sandbox: writing stdin: %s", strerror(errno));
        }
        p += n;
        left -= (size_t)n;
    }
    /* Sealed: a read-only descriptor alone would not do, since the program can open its
     * memfd again for writing through /proc/self/fd/0 (memfds are mode 0777). */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
        close(fd);
        return ef_errorf(ctx, EF_EIO, "sandbox: sealing stdin: %s", strerror(errno));
    }
    /* and a read-only descriptor, for programs that look at fd 0's mode */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    close(fd);
    if (ro < 0)
        return ef_errorf(ctx, EF_EIO, "sandbox: reopen stdin memfd: %s", strerror(errno));
    return ro;
}

typedef struct {
    int fd;
    ef_buf buf;
    size_t total;
} stream;

/* Reads what is there; returns 1 at EOF. */
static int drain(stream *s)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(s->fd, chunk, sizeof chunk);
        if (n > 0) {
            s->total += (size_t)n;
            ef_buf_append_capped(&s->buf, chunk, (size_t)n);
            if (n < (ssize_t)sizeof chunk)
                return 0;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        return 1;
    }
}

/* Reads both streams until EOF, the init's exit or its "result ready" byte on done_fd,
 * killing the tree at the wall limit or an output cap. *ready: the init delivered. */
static int collect(const ef_sandbox_options *o, ef_sb_proc *proc, stream *st, int done_fd,
                   int *ready)
{
    int killed_for = EF_SB_KILL_NONE, init_done = 0;
    *ready = 0;
    double deadline = o->wall_ms > 0 ? proc->t0 + o->wall_ms / 1e3 : 0, grace_end = 0;
    double finish_by = 0; /* asked the init to end the tree: SIGKILL it if not done by then */
    while (!init_done || st[0].fd >= 0 || st[1].fd >= 0) {
        struct pollfd pfd[4];
        int n = 0, idx[4];
        for (int i = 0; i < 2; i++)
            if (st[i].fd >= 0) {
                pfd[n] = (struct pollfd){st[i].fd, POLLIN, 0};
                idx[n++] = i;
            }
        if (!init_done) {
            pfd[n] = (struct pollfd){proc->pidfd, POLLIN, 0};
            idx[n++] = 2;
            if (done_fd >= 0) {
                pfd[n] = (struct pollfd){done_fd, POLLIN, 0};
                idx[n++] = 3;
            }
        }
        int timeout = -1;
        double now = ef_now_s();
        if (init_done) {
            /* the tree is dead; only a weak-mode straggler could hold a pipe open */
            if (!grace_end)
                grace_end = now + 0.5;
            timeout = (int)((grace_end - now) * 1e3) + 1;
            if (now >= grace_end)
                break;
        } else if (deadline > 0 && !killed_for) {
            timeout = now >= deadline ? 0 : (int)((deadline - now) * 1e3) + 1;
        } else if (finish_by > 0) {
            timeout = now >= finish_by ? 0 : (int)((finish_by - now) * 1e3) + 1;
        }
        int r = poll(pfd, (nfds_t)n, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (!killed_for && deadline > 0 && ef_now_s() >= deadline && !init_done) {
            killed_for = EF_SB_KILL_WALL;
            ef_sandbox__finish(proc);
            finish_by = ef_now_s() + 1.5;
        }
        if (finish_by > 0 && !init_done && ef_now_s() >= finish_by) {
            ef_sandbox__kill(proc); /* the init did not answer: end it the hard way */
            finish_by = 0;
        }
        for (int k = 0; r > 0 && k < n; k++) {
            if (!pfd[k].revents)
                continue;
            int i = idx[k];
            if (i == 2 || i == 3) {
                init_done = 1;
                if (i == 3) /* also after a finish request: the init reaped and counted */
                    *ready = 1;
                continue;
            }
            if (drain(&st[i])) {
                close(st[i].fd);
                st[i].fd = -1;
            }
            if (st[i].total > (size_t)o->out_bytes && o->output_limit_kills && !killed_for &&
                !init_done) {
                killed_for = EF_SB_KILL_OUTPUT;
                ef_sandbox__finish(proc);
                finish_by = ef_now_s() + 1.5;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (st[i].fd >= 0) {
            close(st[i].fd);
            st[i].fd = -1;
        }
    return killed_for;
}

static int make_pipe(ef_ctx *ctx, int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return ef_errorf(ctx, EF_EIO, "sandbox: pipe: %s", strerror(errno));
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    return 0;
}

static void stream_to_result(ef_sandbox_stream *dst, stream *s)
{
    dst->len = s->buf.len;
    dst->total = s->total;
    dst->truncated = s->total > s->buf.len;
    dst->data = s->buf.data ? ef_buf_detach(&s->buf) : ef_strdup("");
}

int ef_sandbox_run(ef_ctx *ctx, ef_sandbox_worker *w, const ef_sandbox_options *opts,
                   const char *const *argv, ef_sandbox_result **out)
{
    ef_sandbox_options defaults = EF_SANDBOX_OPTIONS_INIT;
    const ef_sandbox_options *o = opts ? opts : &defaults;
    double t_entry = ef_now_s();
    if (!w || !argv || !argv[0] || !argv[0][0])
        return ef_errorf(ctx, EF_EINVAL, "sandbox: run needs a worker and a non-empty argv");
    int rc = ef_sandbox__opts_check(ctx, o);
    if (rc)
        return rc;
    int full = w->full && !o->force_weak;
    if (!full && !o->allow_weak)
        return ef_errorf(ctx, EF_ESANDBOX, "sandbox: refusing to run untrusted code: %s",
                         w->full ? "weak mode forced by the caller" : w->why_weak);
    const ef_sb_filter *filter;
    if ((rc = ef_sandbox__worker_filter(ctx, w, o->profile, o->net, &filter)))
        return rc;

    ef_sb_plan *plan = ef_calloc(1, sizeof *plan);
    ef_sb_arena arena = {NULL, 0, 0};
    ef_sandbox_result *r = NULL;
    int in_fd = -1, in_owned = 0, po[2] = {-1, -1}, pe[2] = {-1, -1}, pd[2] = {-1, -1};
    stream st[2] = {{-1, EF_BUF_INIT((size_t)o->out_bytes), 0},
                    {-1, EF_BUF_INIT((size_t)o->out_bytes), 0}};
    if (!plan) {
        rc = EF_ENOMEM;
        goto cleanup;
    }
    double t_plan = ef_now_s();
    /* The worker's cgroup gets this run's limits first. Earlier runs' namespaces must be
     * gone: their /tmp is still charged to the group until then (it would show in this
     * run's peak, and a lower limit would not fit). If the limits cannot be set, the group
     * is made again (someone may have removed it); failing that, this run goes without it
     * (rlimits), never with a group whose limit is some earlier run's. */
    int use_cgroup = 0;
    if (full && w->cg.version) {
        ef_sandbox__worker_reap_pending(w, 1);
        use_cgroup = w->cg.version && ef_sandbox__cgroup_prepare(&w->cg, o->mem_bytes, o->procs) == 0;
        if (!use_cgroup) {
            ef_sandbox__cgroup_close(&w->cg);
            use_cgroup = ef_sandbox__cgroup_open(&w->cg) == 0 &&
                         ef_sandbox__cgroup_prepare(&w->cg, o->mem_bytes, o->procs) == 0;
            if (!use_cgroup)
                EF_LOG_W(ctx, "sandbox: no cgroup for this run (%s); it uses rlimits",
                         w->cg.why ? w->cg.why : "its limits could not be set");
        }
    }
    w->cg.use_now = use_cgroup;
    if ((rc = ef_sandbox__plan_build(ctx, w, o, argv, 0, plan, &arena)))
        goto cleanup;
    int userns_slot = -1;
    if (plan->full) {
        plan->userns_fd = ef_sandbox__worker_userns(ctx, w, &userns_slot);
        plan->ipcns_fd = ef_sandbox__worker_ipcns(w, userns_slot);
        if (plan->rootless && plan->userns_fd < 0) { /* see rootless.c */
            rc = ef_errorf(ctx, EF_ESANDBOX, "sandbox: no user namespace could be made for "
                                              "the run in rootless mode (see the warning above)");
            goto cleanup;
        }
    }
    /* the plan caps System V shared memory at the memory limit in the run's ipc namespace;
     * a namespace of the worker keeps what it was last given (no write while the limit
     * stays the same), and gets the kernel's default back for a run without a limit */
    long long shmall_want = plan->shmall[0] ? atoll(plan->shmall) : 0;
    if (plan->full && userns_slot >= 0) {
        if (shmall_want == w->ipc_shmall[userns_slot])
            plan->shmall[0] = '\0';
        else if (!shmall_want) /* ULONG_MAX - 2^24 */
            snprintf(plan->shmall, sizeof plan->shmall, "%llu", ~0ULL - (1ULL << 24));
    }
    double t_planned = ef_now_s();
    plan->bpf = filter->insns;
    plan->bpf_len = filter->len;
    plan->notify = filter->notify;
    if ((rc = ef_sandbox__result_new(&r)))
        goto cleanup;
    if ((in_fd = open_stdin(ctx, w, o, &in_owned)) < 0) {
        rc = in_fd;
        goto cleanup;
    }
    if ((rc = make_pipe(ctx, po)) || (rc = make_pipe(ctx, pe)) || (rc = make_pipe(ctx, pd)))
        goto cleanup;
    plan->done_fd = pd[1];
    plan->fds[0] = in_fd;
    plan->fds[1] = po[1];
    plan->fds[2] = pe[1];
    for (int i = 0; i < o->n_extra_fds; i++)
        plan->fds[3 + i] = o->extra_fds[i];
    plan->n_fds = 3 + o->n_extra_fds;

    double t_fds = ef_now_s();
    ef_sandbox__worker_reap_pending(w, 0);
    double t_reaped = ef_now_s();
    ef_sb_proc proc;
    if ((rc = ef_sandbox__spawn(ctx, w, plan, &proc)))
        goto cleanup;
    proc.userns_slot = userns_slot;
    close(po[1]);
    close(pe[1]);
    close(pd[1]);
    if (in_owned)
        close(in_fd);
    po[1] = pe[1] = pd[1] = in_fd = -1;
    st[0].fd = po[0];
    st[1].fd = pe[0];
    po[0] = pe[0] = -1;
    int ready = 0;
    int killed_for = collect(o, &proc, st, pd[0], &ready);
    int init_status = 0;
    double user_ms = 0, sys_ms = 0;
    double t_end = ef_now_s();
    if (ready && plan->result_ready) {
        /* the init has the result and is exiting: the namespaces' teardown need not be
         * on the caller's clock; the worker reaps it later */
        user_ms = plan->tree_utime_us / 1e3;
        sys_ms = plan->tree_stime_us / 1e3;
        r->csw_voluntary = plan->tree_nvcsw;
        r->csw_forced = plan->tree_nivcsw;
        ef_sandbox__worker_defer(w, &proc);
    } else {
        ef_sandbox__reap(w, &proc, &init_status, &user_ms, &sys_ms);
        r->csw_voluntary = proc.nvcsw;
        r->csw_forced = proc.nivcsw;
    }
    struct rusage self_ru; /* after the run: the caller's peak only grows */
    if (getrusage(RUSAGE_SELF, &self_ru) == 0)
        plan->caller_hwm_kb = self_ru.ru_maxrss;
    r->wall_ms = (t_end - proc.t0) * 1e3;
    r->user_ms = user_ms;
    r->sys_ms = sys_ms;
    r->cpu_ms = user_ms + sys_ms;
    r->isolation = full ? "full" : "weak";
    r->rootless = full && ef_sandbox__rootless();
    stream_to_result(&r->out, &st[0]);
    stream_to_result(&r->err, &st[1]);
    if (plan->cgroup) {
        long oom = 0, refused = 0;
        int64_t peak = -1;
        ef_sandbox__cgroup_collect(&w->cg, &oom, &peak, &refused);
        plan->cg_oom_kills = oom;
        plan->cg_peak_kb = peak;
        plan->cg_pids_refused = refused;
    }
    if (plan->shmall_done && userns_slot >= 0)
        w->ipc_shmall[userns_slot] = shmall_want;
    ef_sandbox__classify(r, plan, o, init_status, killed_for);
    if (plan->cgroup && plan->step == EF_SB_STEP_CGROUP) { /* removed under us: a new one */
        ef_sandbox__cgroup_close(&w->cg);
        if (ef_sandbox__cgroup_open(&w->cg) < 0)
            EF_LOG_W(ctx, "sandbox: the worker's cgroup went away and no new one could be made "
                          "(%s); runs use rlimits",
                     w->cg.why ? w->cg.why : "?");
    }
    const char *trace = getenv("EF_SANDBOX_TRACE");
    if (trace && *trace && strcmp(trace, "0") != 0) {
        double base = proc.t0 * 1e9;
        fprintf(stderr,
                "sandbox trace: prepare %.3f ms (pending %d: checks %.3f plan %.3f fds "
                "%.3f reap %.3f spawn %.3f); ",
                (proc.t0 - t_entry) * 1e3, w->n_pending, (t_plan - t_entry) * 1e3,
                (t_planned - t_plan) * 1e3, (t_fds - t_planned) * 1e3, (t_reaped - t_fds) * 1e3,
                (proc.t0 - t_reaped) * 1e3);
        fprintf(stderr,
                "(ms from clone): init %.3f net %.3f root %.3f exec %.3f "
                "reaped %.3f init-exit %.3f caller-reaped %.3f (userns %.3f pre-exec %.3f)\n",
                (plan->t_ns[0] - base) / 1e6, (plan->t_ns[1] - base) / 1e6,
                (plan->t_ns[2] - base) / 1e6, (plan->t_ns[3] - base) / 1e6,
                (plan->t_ns[4] - base) / 1e6, (plan->t_ns[5] - base) / 1e6,
                (t_end * 1e9 - base) / 1e6, (plan->t_ns[6] - base) / 1e6,
                (plan->t_ns[7] - base) / 1e6);
    }
    *out = r;
    r = NULL;
    rc = 0;

cleanup:
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
        if (pd[i] >= 0)
            close(pd[i]);
        ef_buf_free(&st[i].buf);
    }
    if (in_fd >= 0 && in_owned)
        close(in_fd);
    ef_sandbox_result_free(r);
    ef_sandbox__arena_free(&arena);
    ef_free(plan);
    return rc;
}

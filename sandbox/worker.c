/*
 * sandbox/worker.c — the per-thread state reused between runs: an empty network namespace
 * (made once; a new one per run costs ~0.4 ms with a heavy tail), the compiled seccomp
 * filters (one per profile and network setting, built on first use), the empty host
 * directory new roots are mounted on, the outer uid/gid, and whether this machine gives
 * full isolation (user namespaces, and a root caller to build the mount tree) or only the
 * weak mode. Also ef_sandbox_dir_chown for writable workdirs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sandbox/sandbox_int.h"

static int read_long(const char *path, long *out)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int ok = fscanf(f, "%ld", out) == 1;
    fclose(f);
    return ok ? 0 : -1;
}

static void detect_isolation(ef_sandbox_worker *w)
{
    long n = 0;
    w->full = 1;
    w->why_weak = NULL;
    if (geteuid() != 0) {
        w->full = 0;
        w->why_weak = ef_sandbox__rootless_why();
        if (!w->why_weak)
            w->why_weak = "full isolation needs root, or a process that moved into its own "
                          "user namespace before its first thread (ef_sandbox_rootless_enter, "
                          "which envforge's main does); or opt into the weak mode "
                          "(rlimits + seccomp + non-root uid)";
    } else if (read_long("/proc/sys/user/max_user_namespaces", &n) == 0 && n == 0) {
        w->full = 0;
        w->why_weak = "user namespaces are disabled (/proc/sys/user/max_user_namespaces is "
                      "0); enable them (sysctl user.max_user_namespaces=15000) or opt into "
                      "the weak mode (rlimits + seccomp + non-root uid)";
    } else if (access("/proc/self/ns/user", F_OK) != 0) {
        w->full = 0;
        w->why_weak = "this kernel has no user namespaces (CONFIG_USER_NS); use a kernel "
                      "with them or opt into the weak mode (rlimits + seccomp + non-root uid)";
    }
}

/* Rootless: the new namespace is made by a child (CLONE_VM | CLONE_FILES | CLONE_VFORK)
 * that opens its own namespace file into our fd table: this thread could make one with
 * unshare but not go back to the host's (that needs capabilities over the host's). */
static int make_ns_child(ef_ctx *ctx, int kind, int *out)
{
    const char *name = kind == CLONE_NEWNET   ? "net"
                       : kind == CLONE_NEWIPC ? "ipc"
                       : kind == CLONE_NEWUTS ? "uts"
                                              : "cgroup";
    char path[64];
    snprintf(path, sizeof path, "/proc/thread-self/ns/%s", name);
    ef_sb_nsjob job = {path, kind == CLONE_NEWUTS ? "sandbox" : NULL, -1, 0};
    size_t stack_len = 32 * 1024;
    void *stack = mmap(NULL, stack_len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return EF_ENOMEM;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pid = clone(ef_sandbox__ns_main, (char *)stack + stack_len,
                    CLONE_VM | CLONE_FILES | CLONE_VFORK | kind | SIGCHLD, &job);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid > 0)
        waitpid(pid, NULL, __WALL);
    munmap(stack, stack_len);
    if (pid < 0)
        return ef_errorf(ctx, EF_ESANDBOX, "sandbox: a new %s namespace: clone: %s", name,
                         strerror(err));
    if (job.fd < 0)
        return ef_errorf(ctx, EF_ESANDBOX, "sandbox: a new %s namespace: %s", name,
                         strerror(job.err ? job.err : EIO));
    *out = job.fd;
    return 0;
}

/* A new namespace of one kind (CLONE_NEWNET, CLONE_NEWIPC) for this worker: unshare on
 * this thread, keep an fd in *out, go back. */
static int make_ns(ef_ctx *ctx, int kind, int *out)
{
    if (ef_sandbox__rootless())
        return make_ns_child(ctx, kind, out);
    const char *path = kind == CLONE_NEWNET   ? "/proc/thread-self/ns/net"
                       : kind == CLONE_NEWIPC ? "/proc/thread-self/ns/ipc"
                       : kind == CLONE_NEWUTS ? "/proc/thread-self/ns/uts"
                                              : "/proc/thread-self/ns/cgroup";
    int home = open(path, O_RDONLY | O_CLOEXEC);
    if (home < 0)
        return ef_errorf(ctx, EF_ESANDBOX, "sandbox: open %s: %s", path, strerror(errno));
    int rc = 0;
    if (unshare(kind) < 0) {
        rc = ef_errorf(ctx, EF_ESANDBOX, "sandbox: unshare of a new %s namespace: %s", path + 21,
                       strerror(errno));
    } else {
        if (kind == CLONE_NEWUTS && sethostname("sandbox", 7) < 0)
            rc = ef_errorf(ctx, EF_ESANDBOX, "sandbox: sethostname in the new uts namespace: %s",
                           strerror(errno));
        *out = open(path, O_RDONLY | O_CLOEXEC);
        if (*out < 0)
            rc = ef_errorf(ctx, EF_ESANDBOX, "sandbox: open the new %s: %s", path, strerror(errno));
        if (setns(home, kind) < 0)
            rc = ef_errorf(ctx, EF_ESANDBOX, "sandbox: setns back to the host's %s failed: %s",
                           path + 21, strerror(errno));
    }
    close(home);
    return rc;
}

int ef_sandbox_worker_new(ef_ctx *ctx, const ef_sandbox_worker_options *wopts,
                          ef_sandbox_worker **out)
{
    ef_sandbox_worker_options defaults = EF_SANDBOX_WORKER_OPTIONS_INIT;
    if (!wopts)
        wopts = &defaults;
    if (wopts->version != EF_SANDBOX_WORKER_OPTIONS_VERSION)
        return ef_errorf(ctx, EF_EINVAL, "sandbox: worker options version %d, expected %d",
                         wopts->version, EF_SANDBOX_WORKER_OPTIONS_VERSION);
    if (wopts->slot < 0 || wopts->slot > 100000 || wopts->uid_base == 0)
        return ef_errorf(ctx, EF_EINVAL, "sandbox: worker slot %d / uid_base %u out of range",
                         wopts->slot, wopts->uid_base);
    ef_sandbox_worker *w = ef_calloc(1, sizeof *w);
    if (!w)
        return EF_ENOMEM;
    w->netns_fd = -1;
    w->utsns_fd = -1;
    w->cgns_fd = -1;
    w->devnull_fd = -1;
    w->idmap_fd = -1;
    w->notify_ok = 1;
    detect_isolation(w);
    ef_sandbox__cgroup_init(&w->cg);
    if (ef_sandbox__rootless()) {
        /* the only id mapped in our user namespace: the caller's own outside */
        w->uid = 0;
        w->gid = 0;
    } else if (geteuid() == 0) {
        w->uid = wopts->uid_base + (uint32_t)wopts->slot;
        w->gid = w->uid;
    } else {
        w->uid = geteuid();
        w->gid = getegid();
    }
    int rc = 0;
    if (w->full) {
        const char *base = "/tmp";
        snprintf(w->root, sizeof w->root, "%s/.ef-sandbox-root-XXXXXX", base);
        if (!mkdtemp(w->root))
            rc = ef_errorf(ctx, EF_ESANDBOX, "sandbox: mkdtemp %s: %s", w->root, strerror(errno));
        if (!rc)
            rc = make_ns(ctx, CLONE_NEWNET, &w->netns_fd);
        /* uts and cgroup namespaces hold nothing a run can change (it has no capability
         * over them), so one of each serves every run of the worker */
        if (!rc)
            rc = make_ns(ctx, CLONE_NEWUTS, &w->utsns_fd);
        if (!rc)
            rc = make_ns(ctx, CLONE_NEWCGROUP, &w->cgns_fd);
        /* a cgroup of its own when asked for and one can be had (as root, or below a
         * delegated v2 group EF_SANDBOX_CGROUP names); else rlimits and polls */
        const char *env = getenv("EF_SANDBOX_CGROUP");
        int env_on = env && *env && strcmp(env, "0") && strcasecmp(env, "false") &&
                     strcasecmp(env, "off") && strcasecmp(env, "no");
        int want = wopts->cgroup >= 0 ? wopts->cgroup : env_on;
        if (!rc && want && ef_sandbox__rootless() && !(env && env[0] == '/')) {
            w->cg.why = "a caller that is not root gets one only below a delegated cgroup v2 "
                        "group named by EF_SANDBOX_CGROUP=DIR";
        } else if (!rc && want) {
            w->cg.want = 1;
            ef_sandbox__cgroup_open(&w->cg);
        } else if (!want) {
            w->cg.why = "not asked for (worker option cgroup, EF_SANDBOX_CGROUP)";
        }
    }
    if (rc) {
        ef_sandbox_worker_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void ef_sandbox_worker_free(ef_sandbox_worker *w)
{
    if (!w)
        return;
    ef_sandbox__worker_reap_pending(w, 1);
    ef_sandbox__worker_free_stacks(w);
    ef_sandbox__cgroup_close(&w->cg);
    if (w->netns_fd >= 0)
        close(w->netns_fd);
    if (w->utsns_fd >= 0)
        close(w->utsns_fd);
    if (w->cgns_fd >= 0)
        close(w->cgns_fd);
    if (w->devnull_fd >= 0)
        close(w->devnull_fd);
    if (w->idmap_fd >= 0)
        close(w->idmap_fd);
    for (int i = 0; i < w->n_userns; i++) {
        close(w->userns_fd[i]);
        close(w->ipcns_fd[i]);
    }
    for (int i = 0; i < w->n_tmpl; i++)
        if (w->tmpl[i].fd >= 0)
            close(w->tmpl[i].fd);
    if (w->root[0])
        rmdir(w->root);
    for (int p = 0; p < 2; p++)
        for (int n = 0; n < 2; n++)
            if (w->have_filter[p][n])
                ef_sandbox__filter_free(&w->filters[p][n]);
    ef_free(w);
}

uint32_t ef_sandbox_worker_uid(const ef_sandbox_worker *w)
{
    return w->uid;
}

int ef_sandbox_worker_cgroup(const ef_sandbox_worker *w, const char **why)
{
    if (why)
        *why = w->cg.version ? "" : w->cg.why ? w->cg.why : "none could be made";
    return w->cg.version > 0;
}

int ef_sandbox_worker_full(const ef_sandbox_worker *w, const char **why)
{
    if (why)
        *why = w->full ? "" : w->why_weak;
    return w->full;
}

int ef_sandbox__worker_filter(ef_ctx *ctx, ef_sandbox_worker *w, ef_sandbox_profile profile,
                              int net, const ef_sb_filter **out)
{
    int p = profile == EF_SANDBOX_PROFILE_ALLOW, n = net ? 1 : 0;
    if (!w->have_filter[p][n]) {
        int rc = ef_sandbox__filter_build(ctx, profile, n, w->notify_ok, &w->filters[p][n]);
        if (rc)
            return rc;
        w->have_filter[p][n] = 1;
    }
    *out = &w->filters[p][n];
    return 0;
}

/* A prepared root: a child in a new mount namespace builds the tree once (binds of /usr
 * and /etc, /dev, the empty mount points of /tmp, /proc, /work and of the caller's binds),
 * pivots into it and leaves the namespace's fd behind; runs join a private copy of it
 * instead of building their own. Kept per (network, bind mount points), up to 4. */
static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Remembers the regular files the template binds (paths are the plan's sources). */
static void note_files(ef_sandbox_worker *w, int slot, const ef_sb_plan *plan)
{
    w->tmpl[slot].n_files = 0;
    for (int i = 0; i < plan->n_ops; i++) {
        const ef_sb_op *op = &plan->ops[i];
        struct stat st;
        if (op->kind != EF_SB_OP_BIND || stat(op->src, &st) != 0 || !S_ISREG(st.st_mode) ||
            w->tmpl[slot].n_files >= (int)EF_ARRAY_LEN(w->tmpl[slot].files))
            continue;
        int k = w->tmpl[slot].n_files++;
        w->tmpl[slot].files[k].dev = st.st_dev;
        w->tmpl[slot].files[k].ino = st.st_ino;
        w->tmpl[slot].files[k].mtime_ns = mtime_ns(&st);
        snprintf(w->tmpl_paths[slot][k], sizeof w->tmpl_paths[slot][k], "%s", op->src);
    }
    w->tmpl[slot].checked_s = ef_now_s();
}

/* 1 when a file the template bound was replaced or changed since it was built. */
static int template_stale(ef_sandbox_worker *w, int slot)
{
    double now = ef_now_s();
    if (now - w->tmpl[slot].checked_s < 1.0)
        return 0;
    w->tmpl[slot].checked_s = now;
    for (int k = 0; k < w->tmpl[slot].n_files; k++) {
        struct stat st;
        if (stat(w->tmpl_paths[slot][k], &st) != 0 || st.st_ino != w->tmpl[slot].files[k].ino ||
            st.st_dev != w->tmpl[slot].files[k].dev ||
            mtime_ns(&st) != w->tmpl[slot].files[k].mtime_ns)
            return 1;
    }
    return 0;
}

static int build_template(ef_ctx *ctx, ef_sandbox_worker *w, const ef_sandbox_options *o, int slot)
{
    ef_sb_plan *plan = ef_calloc(1, sizeof *plan);
    ef_sb_arena arena = {NULL, 0, 0};
    size_t stack_len = 128 * 1024;
    void *stack = MAP_FAILED;
    int fd = -1;
    int rc = plan ? ef_sandbox__plan_template(ctx, w, o, plan, &arena) : EF_ENOMEM;
    if (!rc) {
        stack = mmap(NULL, stack_len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        rc = stack == MAP_FAILED ? EF_ENOMEM : 0;
    }
    if (!rc) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int pid = clone(ef_sandbox__template_main, (char *)stack + stack_len,
                        CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_NEWNS | SIGCHLD, plan);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (pid > 0)
            waitpid(pid, NULL, __WALL);
        if (pid > 0 && plan->tmpl_out_fd >= 0 && !plan->step) {
            fd = plan->tmpl_out_fd;
            note_files(w, slot, plan);
        } else {
            if (pid > 0 && plan->tmpl_out_fd >= 0)
                close(plan->tmpl_out_fd);
            EF_LOG_W(ctx, "sandbox: no prepared root (%s: %s); building roots per run",
                     ef_sandbox__step_name(plan->step), strerror(plan->step_errno));
            if (pid <= 0 || plan->step == EF_SB_STEP_TEMPLATE)
                w->tmpl_broken = 1;
        }
    }
    ef_error_clear(ctx);
    if (stack != MAP_FAILED)
        munmap(stack, stack_len);
    ef_sandbox__arena_free(&arena);
    ef_free(plan);
    return fd;
}

int ef_sandbox__worker_template(ef_ctx *ctx, ef_sandbox_worker *w, const ef_sandbox_options *o)
{
    char key[sizeof w->tmpl[0].key];
    if (w->tmpl_broken || !w->full || ef_sandbox__template_key(o, key, sizeof key) < 0)
        return -1;
    w->tmpl_clock++;
    int slot = -1;
    for (int i = 0; i < w->n_tmpl && slot < 0; i++)
        if (!strcmp(w->tmpl[i].key, key))
            slot = i;
    if (slot >= 0 && !template_stale(w, slot)) {
        w->tmpl[slot].used = w->tmpl_clock;
        return w->tmpl[slot].fd;
    }
    if (slot >= 0) { /* stale: rebuild in place */
        close(w->tmpl[slot].fd);
        w->tmpl[slot].fd = -1;
    } else if (w->n_tmpl < (int)EF_ARRAY_LEN(w->tmpl)) {
        slot = w->n_tmpl++;
        w->tmpl[slot].fd = -1;
    } else {
        slot = 0;
        for (int i = 1; i < w->n_tmpl; i++)
            if (w->tmpl[i].used < w->tmpl[slot].used)
                slot = i;
        close(w->tmpl[slot].fd);
        w->tmpl[slot].fd = -1;
    }
    snprintf(w->tmpl[slot].key, sizeof w->tmpl[slot].key, "%s", key);
    w->tmpl[slot].used = w->tmpl_clock;
    w->tmpl[slot].fd = build_template(ctx, w, o, slot);
    if (w->tmpl[slot].fd < 0) { /* drop the slot: the last one takes its place */
        w->tmpl[slot] = w->tmpl[w->n_tmpl - 1];
        memcpy(w->tmpl_paths[slot], w->tmpl_paths[w->n_tmpl - 1], sizeof w->tmpl_paths[slot]);
        w->n_tmpl--;
        return -1;
    }
    return w->tmpl[slot].fd;
}

/* Writes one id file of the paused child. In rootless mode the child runs on its own copy
 * of our memory and makes it dumpable (so its /proc files are ours to write) only once it
 * runs: until then the open is refused, and retried. */
static int write_child_map(ef_ctx *ctx, const char *path, const char *data)
{
    int fd = -1;
    for (int attempt = 0; attempt < 20000; attempt++) {
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0 || errno != EACCES || !ef_sandbox__rootless())
            break;
        sched_yield();
    }
    if (fd < 0)
        return ef_errorf(ctx, EF_ESANDBOX, "sandbox: user namespace: open %s: %s", path,
                         strerror(errno));
    size_t len = strlen(data);
    ssize_t n = write(fd, data, len);
    int err = errno;
    close(fd);
    if (n != (ssize_t)len)
        return ef_errorf(ctx, EF_ESANDBOX, "sandbox: user namespace: write %s: %s", path,
                         n < 0 ? strerror(err) : "short write");
    return 0;
}

/* A user namespace whose id `inner` is the worker's outer uid/gid: a paused child made in
 * it holds it while we write its maps and open it; then the child is killed and the
 * namespace lives on in *out. deny_setgroups: setgroups(2) refused inside. The sandboxes'
 * one (inner 1000) is owned by the outer uid and carries the limits of userns_limits
 * (child.c); the workdirs' idmap (inner 0) is root's.
 * The child shares our memory (no copy of a large caller) except in rootless mode: there
 * writing its maps needs it dumpable, and our memory must never be (rootless.c). */
static int make_userns(ef_ctx *ctx, ef_sandbox_worker *w, unsigned inner, int deny_setgroups,
                       int *out)
{
    size_t stack_len = 64 * 1024;
    void *stack = mmap(NULL, stack_len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return EF_ENOMEM;
    int rootless = ef_sandbox__rootless();
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0) {
        munmap(stack, stack_len);
        return ef_errorf(ctx, EF_ESANDBOX, "sandbox: user namespace: pipe: %s", strerror(errno));
    }
    /* inner 1000 is the sandboxes' namespace (limits, owned by the outer uid); inner 0 the
     * idmap of workdirs (root's, no program runs in it) */
    ef_sb_usernsjob job = {geteuid() == 0 && !rootless && inner != 0, inner != 0, rootless,
                           ready[1], w->uid, w->gid, 0};
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pid = clone(ef_sandbox__userns_main, (char *)stack + stack_len,
                    rootless ? 0 : CLONE_VM, &job);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(ready[1]);
    int rc = 0, fd = -1;
    if (pid > 0) {
        /* wait until it is in its namespace (the maps written are those of the namespace
         * it is in); it sends the errno of a failed step, or 0 */
        int err = ETIMEDOUT;
        struct pollfd pfd = {ready[0], POLLIN, 0};
        if (poll(&pfd, 1, 5000) != 1 || read(ready[0], &err, sizeof err) != (ssize_t)sizeof err)
            err = ETIMEDOUT;
        if (err) {
            rc = ef_errorf(ctx, EF_ESANDBOX, "sandbox: user namespace of the outer uid %u: %s",
                           w->uid, strerror(err));
            kill(pid, SIGKILL);
            waitpid(pid, NULL, __WALL);
            pid = 0;
        }
    }
    close(ready[0]);
    if (pid < 0) {
        rc = ef_errorf(ctx, EF_ESANDBOX, "sandbox: user namespace: clone: %s",
                       strerror(clone_errno));
    } else if (pid > 0) {
        char path[64], map[64];
        snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
        if (deny_setgroups)
            rc = write_child_map(ctx, path, "deny");
        snprintf(map, sizeof map, "%u %u 1\n", inner, w->uid);
        snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
        if (!rc)
            rc = write_child_map(ctx, path, map);
        snprintf(map, sizeof map, "%u %u 1\n", inner, w->gid);
        snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
        if (!rc)
            rc = write_child_map(ctx, path, map);
        snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
        fd = rc ? -1 : open(path, O_RDONLY | O_CLOEXEC);
        if (!rc && fd < 0)
            rc = ef_errorf(ctx, EF_ESANDBOX, "sandbox: open %s: %s", path, strerror(errno));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, __WALL);
    }
    munmap(stack, stack_len);
    if (!rc)
        *out = fd;
    return rc;
}

int ef_sandbox__userns_new(ef_ctx *ctx, ef_sandbox_worker *w, int *out)
{
    return make_userns(ctx, w, 1000, 1, out);
}

/* The idmap of writable workdirs: a user namespace whose uid/gid 0 is the worker's outer
 * uid/gid. */
int ef_sandbox__worker_idmap(ef_ctx *ctx, ef_sandbox_worker *w, int *out)
{
    if (w->idmap_fd < 0) {
        int rc = make_userns(ctx, w, 0, 0, &w->idmap_fd);
        if (rc)
            return rc;
    }
    *out = w->idmap_fd;
    return 0;
}

/* The user and ipc namespaces runs join. Making a user namespace per run (unshare, then
 * setgroups, uid_map and gid_map written through /proc) costs more than a whole /bin/true;
 * an ipc namespace costs a third of one (it mounts an internal mqueue filesystem); joining
 * either costs a setns. A user namespace holds no state a run could leave behind for the
 * next (keyrings are refused by the filter); an ipc namespace does (System V segments,
 * queues, semaphore sets), so the init empties it before the program starts, and POSIX
 * message queues cannot be made at all (RLIMIT_MSGQUEUE is 0). RLIMIT_NPROC counts the
 * processes of (user namespace, uid), and a run's processes still dying would count
 * against the next run's limit, or leave objects behind after the emptying. So there are
 * a few pairs, taken round robin, and one is taken again only once the run that last used
 * it has been reaped (its init is reaped only after every process of its namespaces is
 * gone). */
int ef_sandbox__worker_userns(ef_ctx *ctx, ef_sandbox_worker *w, int *slot)
{
    *slot = -1;
    if (!w->full || geteuid() != 0 || w->userns_broken)
        return -1;
    int k = w->userns_next;
    w->userns_next = (k + 1) % (int)EF_ARRAY_LEN(w->userns_fd);
    if (k >= w->n_userns) {
        k = w->n_userns;
        if (make_userns(ctx, w, 1000, 1, &w->userns_fd[k]) < 0) {
            EF_LOG_W(ctx, "sandbox: %s; each run makes its own namespaces", ef_errmsg(ctx));
            ef_error_clear(ctx);
            w->userns_broken = 1;
            return -1;
        }
        w->ipc_shmall[k] = 0; /* a new namespace has the kernel's default */
        if (make_ns(ctx, CLONE_NEWIPC, &w->ipcns_fd[k]) < 0) {
            EF_LOG_W(ctx, "sandbox: %s; each run makes its own namespaces", ef_errmsg(ctx));
            ef_error_clear(ctx);
            close(w->userns_fd[k]);
            w->userns_broken = 1;
            return -1;
        }
        w->n_userns++;
    }
    for (int i = 0; i < w->n_pending; i++)
        if (w->pending[i].userns_slot == k) {
            int st;
            double u, sy;
            ef_sandbox__reap(w, &w->pending[i], &st, &u, &sy);
            w->pending[i--] = w->pending[--w->n_pending];
        }
    *slot = k;
    return w->userns_fd[k];
}

int ef_sandbox__worker_ipcns(const ef_sandbox_worker *w, int slot)
{
    return slot >= 0 && slot < w->n_userns ? w->ipcns_fd[slot] : -1;
}

/* The walk goes through directory fds only: every name is resolved one component at a
 * time, relative to a directory already open, and never followed when it is a symlink.
 * A writable workdir is the sandbox's, and a session (or a daemon of a tool's earlier
 * run) may be changing it while the caller hands it back: with a walk by path (nftw), a
 * directory swapped for a symlink to a host directory between the walk's lstat and its
 * chown or opendir made the caller, root, chown that host directory's files to the
 * sandbox's uid (tests/test_sandbox_attacks.c, test_chown_race). Names that vanish
 * meanwhile are skipped; a directory that became something else is chowned as such. */
enum { CHOWN_MAX_DEPTH = 512 };

typedef struct {
    uid_t uid;
    gid_t gid;
    char path[4096]; /* for the error message: the entry that failed */
    int err;
    int too_deep;
} chown_walk;

static void chown_fail(chown_walk *c, size_t at, const char *name, int err)
{
    if (c->err)
        return;
    c->err = err;
    if (name)
        snprintf(c->path + at, sizeof c->path - at, "/%s", name);
}

/* Chowns what dfd holds, then dfd itself; at is the length of dfd's path in c->path. */
static void chown_tree_at(chown_walk *c, int dfd, size_t at, int depth)
{
    int lfd = dup(dfd);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        if (lfd >= 0)
            close(lfd);
        chown_fail(c, at, NULL, errno);
        return;
    }
    char **subdirs = NULL;
    size_t n_sub = 0, cap_sub = 0;
    struct dirent *e;
    errno = 0;
    while (!c->err && (e = readdir(d))) {
        const char *nm = e->d_name;
        if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
            continue;
        unsigned char type = e->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st;
            if (fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                    chown_fail(c, at, nm, errno);
                continue;
            }
            type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
        }
        if (type == DT_DIR) { /* after the listing: one open directory stream at a time */
            if (n_sub == cap_sub) {
                size_t ncap = cap_sub ? cap_sub * 2 : 16;
                char **grown = ef_realloc(subdirs, ncap * sizeof *subdirs);
                if (!grown) {
                    chown_fail(c, at, nm, ENOMEM);
                    break;
                }
                subdirs = grown;
                cap_sub = ncap;
            }
            if (!(subdirs[n_sub] = ef_strdup(nm))) {
                chown_fail(c, at, nm, ENOMEM);
                break;
            }
            n_sub++;
        } else if (fchownat(dfd, nm, c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT) {
            chown_fail(c, at, nm, errno);
        }
        errno = 0;
    }
    if (!c->err && errno)
        chown_fail(c, at, NULL, errno);
    closedir(d);
    for (size_t i = 0; i < n_sub; i++) {
        const char *nm = subdirs[i];
        if (c->err)
            break;
        int fd = openat(dfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            /* gone, or no longer a directory (a symlink now: its own owner changes) */
            if (errno == ENOTDIR || errno == ELOOP) {
                if (fchownat(dfd, nm, c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
                    chown_fail(c, at, nm, errno);
            } else if (errno != ENOENT) {
                chown_fail(c, at, nm, errno);
            }
            continue;
        }
        if (depth + 1 >= CHOWN_MAX_DEPTH) {
            c->too_deep = !c->err;
            chown_fail(c, at, nm, ELOOP);
        } else {
            size_t len = strlen(nm);
            size_t sub_at = at + 1 + len < sizeof c->path ? at + 1 + len : at;
            if (sub_at != at) {
                c->path[at] = '/';
                memcpy(c->path + at + 1, nm, len + 1);
            }
            chown_tree_at(c, fd, sub_at, depth + 1);
            if (!c->err)
                c->path[at] = '\0';
        }
        close(fd);
    }
    for (size_t i = 0; i < n_sub; i++)
        ef_free(subdirs[i]);
    ef_free(subdirs);
    if (!c->err && fchown(dfd, c->uid, c->gid) < 0)
        chown_fail(c, at, NULL, errno);
}

int ef_sandbox_dir_chown(ef_ctx *ctx, const ef_sandbox_worker *w, const char *path)
{
    chown_walk *c = ef_calloc(1, sizeof *c);
    if (!c)
        return ef_errorf(ctx, EF_ENOMEM, "sandbox: chown %s: out of memory", path);
    c->uid = w->uid;
    c->gid = w->gid;
    snprintf(c->path, sizeof c->path, "%s", path);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        chown_tree_at(c, fd, strlen(c->path), 0);
        close(fd);
    } else if (errno == ENOTDIR || errno == ELOOP) { /* a file, or a symlink: itself */
        if (lchown(path, c->uid, c->gid) < 0)
            c->err = errno;
    } else {
        c->err = errno;
    }
    int rc = 0;
    if (c->err) {
        char ids[48];
        snprintf(ids, sizeof ids, "%u:%u", w->uid, w->gid);
        rc = ef_errorf(ctx, c->err == ENOMEM ? EF_ENOMEM : EF_EIO, "sandbox: chown -R %s %s: %s: %s",
                       ef_sandbox__rootless() ? "(to the caller's own uid)" : ids, path, c->path,
                       c->too_deep ? "more than 512 directories deep" : strerror(c->err));
    }
    ef_free(c);
    return rc;
}

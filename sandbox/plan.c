/*
 * sandbox/plan.c — turns options into a plan (sandbox_int.h): the mount steps of the new
 * root, argv, the environment, the candidate paths of the program, rlimits, ids. All of
 * it is computed here, in the caller's thread, because the children that execute it share
 * the caller's memory and may not allocate. Strings live in one arena freed after the run.
 *
 * The root: a tmpfs holding read-only binds of /usr and /bin, /sbin, /lib* (replicated as
 * symlinks where the host has merged-/usr symlinks), chosen /etc entries plus a synthetic
 * passwd and group, /tmp (tmpfs, size-capped), /proc (the new pid namespace's, hidepid=2 so
 * the init is invisible), /dev with null, zero, full, random, urandom and the fd links,
 * the workdir at /work, and the caller's binds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "sandbox/sandbox_int.h"

/* /etc entries bound read-only when present (files, dirs or replicated symlinks). */
static const char *const etc_always[] = {
    "ld.so.cache",   "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime",  "timezone",
    "nsswitch.conf", "mime.types", "python3",      "python3.11",   "python3.12", "ssl",
};
static const char *const etc_net[] = {"hosts",     "resolv.conf", "host.conf",      "gai.conf",
                                      "protocols", "services",    "ca-certificates"};
static const char *const top_dirs[] = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"};

static const char passwd_text[] = "root:x:0:0:root:/root:/bin/sh\n"
                                  "sandbox:x:1000:1000:sandbox:/tmp:/bin/sh\n"
                                  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
static const char group_text[] = "root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n";

/* ---- arena: one block sized up front; pointers stay valid ---------------------------- */

static char *arena_str(ef_sb_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *arena_str(ef_sb_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = a->cap - a->len;
    int n = vsnprintf(a->buf + a->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        return NULL;
    char *s = a->buf + a->len;
    a->len += (size_t)n + 1;
    return s;
}

static void *arena_alloc(ef_sb_arena *a, size_t n)
{
    size_t at = (a->len + 15) & ~(size_t)15;
    if (at + n > a->cap)
        return NULL;
    a->len = at + n;
    return a->buf + at;
}

void ef_sandbox__arena_free(ef_sb_arena *a)
{
    ef_free(a->buf);
    a->buf = NULL;
    a->len = a->cap = 0;
}

/* ---- steps ---------------------------------------------------------------------------- */

typedef struct {
    ef_ctx *ctx;
    ef_sb_plan *p;
    ef_sb_arena *a;
    int rc;
} builder;

static ef_sb_op *add_op(builder *b, ef_sb_op_kind kind, const char *dst)
{
    if (b->rc)
        return NULL;
    if (b->p->n_ops >= EF_SB_MAX_OPS) {
        b->rc = ef_errorf(b->ctx, EF_ELIMIT, "sandbox: more than %d mount steps", EF_SB_MAX_OPS);
        return NULL;
    }
    char *path = arena_str(b->a, "%s%s", b->p->root, dst);
    if (!path) {
        b->rc = ef_errorf(b->ctx, EF_ELIMIT, "sandbox: plan arena full at %s", dst);
        return NULL;
    }
    ef_sb_op *op = &b->p->ops[b->p->n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->path = path;
    return op;
}

static void op_mkdir(builder *b, const char *dst, unsigned mode)
{
    ef_sb_op *op = add_op(b, EF_SB_OP_MKDIR, dst);
    if (op)
        op->mode = mode;
}

static void op_symlink(builder *b, const char *target, const char *dst)
{
    ef_sb_op *op = add_op(b, EF_SB_OP_SYMLINK, dst);
    if (op)
        op->src = target;
}

/* Mirrors host path src at dst: a symlink is copied, a dir or file is bound. */
static void mirror(builder *b, const char *src, const char *dst, int flags)
{
    struct stat st;
    if (lstat(src, &st) < 0) {
        if (!(flags & EF_SB_BIND_OPTIONAL) && !b->rc)
            b->rc = ef_errorf(b->ctx, EF_ENOTFOUND, "sandbox: bind source %s: %s", src,
                              strerror(errno));
        return;
    }
    if (S_ISLNK(st.st_mode) && !(flags & EF_SB_BIND_RW)) {
        char target[4096];
        ssize_t n = readlink(src, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            char *t = arena_str(b->a, "%s", target);
            if (t)
                op_symlink(b, t, dst);
            return;
        }
    }
    if (stat(src, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode))
        op_mkdir(b, dst, 0755);
    else
        add_op(b, EF_SB_OP_TOUCH, dst);
    ef_sb_op *op = add_op(b, EF_SB_OP_BIND, dst);
    if (op) {
        op->src = arena_str(b->a, "%s", src);
        op->flags = flags;
    }
}

/* mkdir -p of dst's parents inside the new root (for caller binds like /data/x). */
static void parents(builder *b, const char *dst)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", dst);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        char *d = arena_str(b->a, "%s", buf);
        if (d)
            op_mkdir(b, d, 0755);
        *s = '/';
    }
}

static char *tmp_options(ef_sb_arena *a, int64_t tmp_bytes)
{
    long long kb = (long long)((tmp_bytes + 1023) / 1024);
    return arena_str(a, "size=%lldk,nr_inodes=%lld,mode=1777", kb, EF_MAX(kb / 4, 1024LL));
}

/* The root's steps. A template (prepared root) gets only what never changes; the run
 * then mounts /tmp, /proc and the workdir on the directories made here. */
static void build_ops(builder *b, const ef_sandbox_options *o, int template)
{
    char src[512], dst[512];
    for (size_t i = 0; i < EF_ARRAY_LEN(top_dirs); i++) {
        snprintf(src, sizeof src, "/%s", top_dirs[i]);
        mirror(b, src, arena_str(b->a, "%s", src), EF_SB_BIND_OPTIONAL);
    }
    op_mkdir(b, "/etc", 0755);
    for (size_t i = 0; i < EF_ARRAY_LEN(etc_always); i++) {
        snprintf(src, sizeof src, "/etc/%s", etc_always[i]);
        mirror(b, src, arena_str(b->a, "%s", src), EF_SB_BIND_OPTIONAL);
    }
    for (size_t i = 0; o->net && i < EF_ARRAY_LEN(etc_net); i++) {
        snprintf(src, sizeof src, "/etc/%s", etc_net[i]);
        mirror(b, src, arena_str(b->a, "%s", src), EF_SB_BIND_OPTIONAL);
    }
    ef_sb_op *op = add_op(b, EF_SB_OP_WRITE, "/etc/passwd");
    if (op) {
        op->data = passwd_text;
        op->mode = 0644;
    }
    if ((op = add_op(b, EF_SB_OP_WRITE, "/etc/group"))) {
        op->data = group_text;
        op->mode = 0644;
    }
    if (!o->net && (op = add_op(b, EF_SB_OP_WRITE, "/etc/hosts"))) {
        op->data = "127.0.0.1 localhost sandbox\n::1 localhost\n";
        op->mode = 0644;
    }
    /* /dev */
    op_mkdir(b, "/dev", 0755);
    static const struct {
        const char *name;
        unsigned minor;
    } devs[] = {{"/dev/null", 3},
                {"/dev/zero", 5},
                {"/dev/full", 7},
                {"/dev/random", 8},
                {"/dev/urandom", 9}};
    for (size_t i = 0; i < EF_ARRAY_LEN(devs); i++) {
        if (b->p->rootless) { /* mknod is root's: the host's nodes, bound (as bubblewrap) */
            add_op(b, EF_SB_OP_TOUCH, devs[i].name);
            if ((op = add_op(b, EF_SB_OP_BIND, devs[i].name))) {
                op->src = devs[i].name;
                op->flags = EF_SB_BIND_RW | EF_SB_BIND_DEV;
            }
        } else if ((op = add_op(b, EF_SB_OP_MKNOD, devs[i].name))) {
            op->mode = S_IFCHR | 0666;
            op->dev = makedev(1, devs[i].minor);
        }
    }
    op_symlink(b, "/proc/self/fd", "/dev/fd");
    op_symlink(b, "/proc/self/fd/0", "/dev/stdin");
    op_symlink(b, "/proc/self/fd/1", "/dev/stdout");
    op_symlink(b, "/proc/self/fd/2", "/dev/stderr");
    op_symlink(b, "/tmp", "/dev/shm");
    /* /tmp, /proc */
    op_mkdir(b, "/tmp", 01777);
    op_mkdir(b, "/proc", 0555);
    op_mkdir(b, "/work", 0755);
    if (template)
        return;
    if ((op = add_op(b, EF_SB_OP_TMPFS, "/tmp")))
        op->data = tmp_options(b->a, o->tmp_bytes);
    if ((op = add_op(b, EF_SB_OP_PROC, "/proc")))
        op->data = "hidepid=2";
    /* Rootless, the sysctls of the namespaces the sandbox does not own outright belong to
     * the caller's uid, which the program is outside: those of the worker's ipc and
     * network namespaces, which outlive the run (the kernel checks only the writer's
     * uid for them). /proc/sys is bound read-only over itself, as bubblewrap does. As root
     * they are host root's, out of the program's reach. */
    if (b->p->rootless && (op = add_op(b, EF_SB_OP_BIND, "/proc/sys")))
        op->src = arena_str(b->a, "%s/proc/sys", b->p->root);
    /* workdir and the caller's binds */
    if (o->workdir) {
        char *wd = arena_str(b->a, "%s", o->workdir);
        if ((op = add_op(b, EF_SB_OP_BIND, "/work"))) {
            op->src = wd;
            op->flags = o->workdir_writable ? EF_SB_BIND_RW : 0;
        }
    }
    for (int i = 0; i < o->n_binds; i++) {
        const ef_sandbox_bind *bd = &o->binds[i];
        snprintf(dst, sizeof dst, "%s", bd->dst);
        parents(b, dst);
        mirror(b, bd->src, arena_str(b->a, "%s", dst), bd->writable ? EF_SB_BIND_RW : 0);
    }
}

/* ---- environment, argv, program paths --------------------------------------------- */

/* A bind can go through a template when its source exists, its target is not under
 * /work (the workdir is mounted over it per run) and the key stays short. The key names
 * each mount point and whether it is a file or a directory. */
int ef_sandbox__template_key(const ef_sandbox_options *o, char *buf, size_t len)
{
    size_t at = (size_t)snprintf(buf, len, "net=%d", o->net ? 1 : 0);
    for (int i = 0; i < o->n_binds; i++) {
        const ef_sandbox_bind *b = &o->binds[i];
        struct stat st;
        if (stat(b->src, &st) < 0 || !strncmp(b->dst, "/work", 5) || !strncmp(b->dst, "/proc", 5) ||
            !strncmp(b->dst, "/tmp", 4) || !strncmp(b->dst, "/dev", 4))
            return -1;
        int n = snprintf(buf + at, len - at, ";%c:%s", S_ISDIR(st.st_mode) ? 'd' : 'f', b->dst);
        if (n < 0 || (size_t)n >= len - at)
            return -1;
        at += (size_t)n;
    }
    return 0;
}

int ef_sandbox__plan_template(ef_ctx *ctx, ef_sandbox_worker *w, const ef_sandbox_options *o,
                              ef_sb_plan *plan, ef_sb_arena *arena)
{
    arena->cap = 32768;
    arena->len = 0;
    arena->buf = ef_malloc(arena->cap);
    if (!arena->buf)
        return EF_ENOMEM;
    memset(plan, 0, sizeof *plan);
    plan->full = 1;
    plan->rootless = ef_sandbox__rootless();
    plan->root = w->root;
    plan->tmpl_fd = -1;
    plan->tmpl_out_fd = -1;
    plan->userns_fd = plan->ipcns_fd = plan->utsns_fd = plan->cgns_fd = -1;
    builder b = {ctx, plan, arena, 0};
    build_ops(&b, o, 1);
    /* mount points of the caller's binds */
    for (int i = 0; i < o->n_binds && !b.rc; i++) {
        struct stat st;
        if (stat(o->binds[i].src, &st) < 0)
            return ef_errorf(ctx, EF_ENOTFOUND, "sandbox: bind source %s: %s", o->binds[i].src,
                             strerror(errno));
        char *dst = arena_str(arena, "%s", o->binds[i].dst);
        if (!dst)
            return ef_errorf(ctx, EF_ELIMIT, "sandbox: plan arena full");
        parents(&b, dst);
        if (S_ISDIR(st.st_mode))
            op_mkdir(&b, dst, 0755);
        else
            add_op(&b, EF_SB_OP_TOUCH, dst);
    }
    return b.rc;
}

static int env_has(const char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; env && env[i]; i++)
        if (!strncmp(env[i], name, n) && env[i][n] == '=')
            return 1;
    return 0;
}

static int build_exec(builder *b, const ef_sandbox_options *o, const char *const *argv)
{
    ef_sb_plan *p = b->p;
    int argc = 0, envc = 0;
    while (argv[argc])
        argc++;
    while (o->env && o->env[envc])
        envc++;
    char **av = arena_alloc(b->a, sizeof(char *) * (size_t)(argc + 1));
    char **ev = arena_alloc(b->a, sizeof(char *) * (size_t)(envc + 5));
    if (!av || !ev)
        return ef_errorf(b->ctx, EF_ELIMIT, "sandbox: plan arena full (argv)");
    for (int i = 0; i < argc; i++)
        if (!(av[i] = arena_str(b->a, "%s", argv[i])))
            return ef_errorf(b->ctx, EF_ELIMIT, "sandbox: plan arena full (argv)");
    av[argc] = NULL;
    int k = 0;
    static const char *const defaults[][2] = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                                              {"HOME", "/tmp"},
                                              {"LANG", "C.UTF-8"},
                                              {"TMPDIR", "/tmp"}};
    for (size_t i = 0; i < EF_ARRAY_LEN(defaults); i++)
        if (!env_has(o->env, defaults[i][0]))
            ev[k++] = arena_str(b->a, "%s=%s", defaults[i][0], defaults[i][1]);
    for (int i = 0; i < envc; i++)
        ev[k++] = arena_str(b->a, "%s", o->env[i]);
    ev[k] = NULL;
    for (int i = 0; i < k; i++)
        if (!ev[i])
            return ef_errorf(b->ctx, EF_ELIMIT, "sandbox: plan arena full (env)");
    p->argv = av;
    p->envp = ev;
    /* argv[0] without a slash: the PATH inside the sandbox */
    if (strchr(argv[0], '/')) {
        p->exe[p->n_exe++] = av[0];
        return 0;
    }
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (int i = 0; i < k; i++)
        if (!strncmp(ev[i], "PATH=", 5))
            path = ev[i] + 5;
    const char *s = path;
    while (*s && p->n_exe < EF_SB_MAX_EXE) {
        const char *e = strchr(s, ':');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n > 0 && n < 400) {
            char *cand = arena_str(b->a, "%.*s/%s", (int)n, s, argv[0]);
            if (!cand)
                return ef_errorf(b->ctx, EF_ELIMIT, "sandbox: plan arena full (PATH)");
            p->exe[p->n_exe++] = cand;
        }
        s = e ? e + 1 : s + n;
    }
    if (p->n_exe == 0)
        return ef_errorf(b->ctx, EF_EINVAL, "sandbox: PATH '%s' has no directory", path);
    return 0;
}

static void add_rlimit(ef_sb_plan *p, int res, int64_t soft, int64_t hard)
{
    p->rl[p->n_rl].resource = res;
    p->rl[p->n_rl].lim.rlim_cur = soft < 0 ? RLIM_INFINITY : (rlim_t)soft;
    p->rl[p->n_rl].lim.rlim_max = hard < 0 ? RLIM_INFINITY : (rlim_t)hard;
    p->n_rl++;
}

/* An rlimit cannot go past the caller's hard limit (the program's process sets them from
 * its own user namespace, and only host root may raise a hard limit), so a limit above it
 * becomes the hard limit: `prlimit --nofile=100:100 envforge ...` used to fail every run
 * with "rlimit: Operation not permitted". */
static void clamp_rlimits(ef_sb_plan *p)
{
    for (int i = 0; i < p->n_rl; i++) {
        struct rlimit cur;
        if (getrlimit(p->rl[i].resource, &cur) < 0 || cur.rlim_max == RLIM_INFINITY)
            continue;
        if (p->rl[i].lim.rlim_max > cur.rlim_max)
            p->rl[i].lim.rlim_max = cur.rlim_max;
        if (p->rl[i].lim.rlim_cur > p->rl[i].lim.rlim_max)
            p->rl[i].lim.rlim_cur = p->rl[i].lim.rlim_max;
    }
}

static void build_rlimits(ef_sb_plan *p, const ef_sandbox_options *o)
{
    add_rlimit(p, RLIMIT_CORE, 0, 0);
    /* with a cgroup the tree's memory is limited there, exactly; an address-space limit
     * would only refuse programs that reserve more than they use (Go, Java, Node) */
    if (o->mem_bytes > 0 && !p->cgroup)
        add_rlimit(p, RLIMIT_AS, o->mem_bytes, o->mem_bytes);
    if (o->cpu_ms > 0) {
        int64_t s = (o->cpu_ms + 999) / 1000;
        add_rlimit(p, RLIMIT_CPU, s, s + 1);
    }
    if (o->file_bytes > 0)
        add_rlimit(p, RLIMIT_FSIZE, o->file_bytes, o->file_bytes);
    if (o->open_files > 0)
        add_rlimit(p, RLIMIT_NOFILE, o->open_files, o->open_files);
    if (o->procs > 0 && !p->cgroup) /* else pids.max, tree-wide and counted */
        add_rlimit(p, RLIMIT_NPROC, o->procs, o->procs);
    add_rlimit(p, RLIMIT_MEMLOCK, 0, 0);
    /* no real-time policy and no nice below 0 from a caller with larger limits (pam_limits
     * gives the audio group rtprio 95 on many desktops) */
    add_rlimit(p, RLIMIT_RTPRIO, 0, 0);
    add_rlimit(p, RLIMIT_NICE, 0, 0);
    add_rlimit(p, RLIMIT_MSGQUEUE, 0, 0);
    /* queued signals are also counted for the owner of the sandbox's user namespace */
    add_rlimit(p, RLIMIT_SIGPENDING, 1024, 1024);
}

/* What of the caller's scheduling the program's process resets (child.c, reset_sched):
 * a real-time policy, a negative nice, the real-time I/O class, a negative OOM score.
 * Three cheap calls and one small /proc read per run. */
static void plan_sched(ef_sb_plan *p)
{
    int pol = sched_getscheduler(0);
    if (pol >= 0) {
        pol &= ~SCHED_RESET_ON_FORK;
        p->reset_policy = pol == SCHED_FIFO || pol == SCHED_RR;
    }
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    p->reset_nice = errno == 0 && nice < 0;
    long io = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
    p->reset_ioprio = io >= 0 && (io >> 13) == 1; /* IOPRIO_CLASS_RT */
    int fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[16];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        p->reset_oom = n > 0 && buf[0] == '-';
    }
}

int ef_sandbox__plan_build(ef_ctx *ctx, ef_sandbox_worker *w, const ef_sandbox_options *o,
                           const char *const *argv, int session, ef_sb_plan *plan,
                           ef_sb_arena *arena)
{
    size_t need = 32768;
    for (int i = 0; argv[i]; i++)
        need += strlen(argv[i]) * 2 + 64;
    for (int i = 0; o->env && o->env[i]; i++)
        need += strlen(o->env[i]) + 16;
    for (int i = 0; i < o->n_binds; i++)
        need += 4 * (strlen(o->binds[i].src) + strlen(o->binds[i].dst)) + 2048;
    if (o->workdir)
        need += strlen(o->workdir) + 64;
    arena->buf = ef_malloc(need);
    if (!arena->buf)
        return EF_ENOMEM;
    arena->cap = need;
    arena->len = 0;

    memset(plan, 0, sizeof *plan);
    plan->full = w->full && !o->force_weak;
    plan->netns_fd = plan->full && !o->net ? w->netns_fd : -1;
    plan->root = w->root;
    plan->utsns_fd = plan->full ? w->utsns_fd : -1;
    plan->cgns_fd = plan->full ? w->cgns_fd : -1;
    plan->hostname = plan->full && plan->utsns_fd < 0 ? "sandbox" : NULL;
    plan->outer_uid = w->uid;
    plan->outer_gid = w->gid;
    plan->inner_uid = 1000;
    plan->inner_gid = 1000;
    plan->rootless = plan->full && ef_sandbox__rootless();
    /* rootless, ours is the only id there is (rootless.c): the weak mode keeps it */
    plan->set_ids = geteuid() == 0 && !ef_sandbox__rootless();
    plan->listener_fd = -1;
    plan->done_fd = -1;
    plan->cg_fd[0] = plan->cg_fd[1] = -1;
    plan->cg_events_fd = -1;
    plan->cg_events_fd_init = -1;
    plan->cg_peak_kb = -1;
    /* sessions stay out of it: they live beside the worker's runs, which the group's
     * limits and counters are for */
    plan->cgroup = plan->full && !session && w->cg.version > 0 && w->cg.use_now;
    if (plan->cgroup) {
        plan->cg_fd[0] = w->cg.procs_fd[0];
        plan->cg_fd[1] = w->cg.procs_fd[1];
        plan->cg_events_fd = w->cg.events_fd;
        plan->cg_oom_before = w->cg.oom_before;
    }
    plan->idmap_fd = -1;
    plan->userns_fd = -1;
    plan->ipcns_fd = -1;
    builder b = {ctx, plan, arena, 0};
    plan->uid_map = arena_str(arena, "%u %u 1\n", plan->inner_uid, plan->outer_uid);
    plan->gid_map = arena_str(arena, "%u %u 1\n", plan->inner_gid, plan->outer_gid);
    plan->tmpl_fd = -1;
    if (plan->full && !o->per_run_root)
        plan->tmpl_fd = ef_sandbox__worker_template(ctx, w, o);
    if (plan->tmpl_fd >= 0) {
        plan->tmp_opts = tmp_options(arena, o->tmp_bytes);
        plan->workdir_src = o->workdir ? arena_str(arena, "%s", o->workdir) : NULL;
        plan->workdir_rw = o->workdir_writable;
        /* rootless: the workdir's files are the caller's, which is what the program is
         * outside: no idmap needed (and making one is host root's) */
        if (o->workdir && o->workdir_idmap && !plan->rootless) {
            int rc = ef_sandbox__worker_idmap(ctx, w, &plan->idmap_fd);
            if (rc)
                return rc;
        }
        for (int i = 0; i < o->n_binds; i++) {
            plan->tbinds[i].src = arena_str(arena, "%s", o->binds[i].src);
            plan->tbinds[i].dst = arena_str(arena, "%s", o->binds[i].dst);
            plan->tbinds[i].rw = o->binds[i].writable;
            if (!plan->tbinds[i].src || !plan->tbinds[i].dst)
                return ef_errorf(ctx, EF_ELIMIT, "sandbox: plan arena full (binds)");
        }
        plan->n_tbinds = o->n_binds;
    } else if (plan->full) {
        if (o->workdir && o->workdir_idmap && !plan->rootless)
            return ef_errorf(ctx, EF_EUNSUPPORTED,
                             "sandbox: workdir_idmap needs the worker's prepared root (no "
                             "per_run_root, no bind under /work, /tmp, /proc or /dev)");
        build_ops(&b, o, 0);
    }
    if (b.rc)
        return b.rc;
    int rc = build_exec(&b, o, argv);
    if (rc)
        return rc;
    build_rlimits(plan, o);
    clamp_rlimits(plan);
    plan_sched(plan);
    if (plan->full && o->mem_bytes > 0) { /* child.c: kernel.shmall of the run's ipc namespace */
        long page = sysconf(_SC_PAGESIZE);
        snprintf(plan->shmall, sizeof plan->shmall, "%lld",
                 (long long)((o->mem_bytes + page - 1) / page));
    }
    plan->tree_cpu_ms = o->cpu_ms;
    plan->clk_tck = sysconf(_SC_CLK_TCK);
    plan->tree_mem_kb = plan->cgroup ? 0 : o->mem_bytes / 1024; /* the cgroup limits it */
    plan->page_kb = sysconf(_SC_PAGESIZE) / 1024;
    if (o->cwd)
        plan->cwd = arena_str(arena, "%s", o->cwd);
    else if (plan->full)
        plan->cwd = o->workdir ? "/work" : "/tmp";
    else
        plan->cwd = o->workdir ? arena_str(arena, "%s", o->workdir) : "/tmp";
    return 0;
}

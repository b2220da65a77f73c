/*
 * sandbox/child.c — the code that runs inside the new namespaces: the sandbox's init and
 * the program's process up to its exec.
 *
 * Both are clone()d with CLONE_VM: they share the caller's memory (no page-table copy of a
 * large parent) and so they may not allocate, take locks or write errno (which lives in
 * the caller thread's TLS). Every system call here goes through raw_syscall(), every
 * string operation is local, and the file is built without sanitizers or stack
 * protector (see sandbox/CMakeLists.txt). Everything they need was computed beforehand in
 * the plan (sandbox_int.h); they report failures as (step, errno) in the plan.
 *
 * The init (pid 1 of the new pid namespace, still real root of the init user namespace):
 *   join the worker's empty network namespace; make mounts private; build the new root
 *   (tmpfs, binds, /tmp, /proc, /dev, files) from the plan's steps; pivot_root; make / read
 *   only; set the hostname; start the program's process (CLONE_VM|CLONE_VFORK, sharing the
 *   init's file table so the seccomp listener lands there); then reap every process until
 *   the program's own one exits, or a denied system call is reported, and exit — which
 *   makes the kernel kill whatever is left in the namespace.
 * The program's process: join the worker's cgroup; arrange fds 0.. from the plan and close the rest; rlimits; drop
 *   to the outer uid; new user namespace mapping the inner uid to it; RLIMIT_NPROC (counted
 *   in the new namespace); new session; drop every capability; no_new_privs; seccomp;
 *   chdir; unblock signals; exec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "sandbox/sandbox_int.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* ---- raw system calls: no errno, no TLS ------------------------------------------ */

static long raw_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a1;
    register long x1 __asm__("x1") = a2;
    register long x2 __asm__("x2") = a3;
    register long x3 __asm__("x3") = a4;
    register long x4 __asm__("x4") = a5;
    register long x5 __asm__("x5") = a6;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
#else
#error "sandbox/child.c: raw_syscall needs porting to this architecture"
#endif
}

#define SC0(n) raw_syscall((n), 0, 0, 0, 0, 0, 0)
#define SC1(n, a) raw_syscall((n), (long)(a), 0, 0, 0, 0, 0)
#define SC2(n, a, b) raw_syscall((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define SC3(n, a, b, c) raw_syscall((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SC4(n, a, b, c, d) raw_syscall((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define SC5(n, a, b, c, d, e)                                                                      \
    raw_syscall((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

static __attribute__((noreturn)) void raw_exit(int code)
{
    for (;;)
        SC1(SYS_exit, code);
}

static size_t str_len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    if (SC2(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) < 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void stamp(ef_sb_plan *p, int i)
{
    struct timespec ts;
    if (SC2(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0)
        p->t_ns[i] = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Records the first failed step and its errno. Returns -1. */
static int fail(ef_sb_plan *p, int step, long rc)
{
    if (!p->step) {
        p->step_errno = (int)-rc;
        p->step = step;
    }
    return -1;
}

static long write_fd(long fd, const char *data)
{
    size_t len = str_len(data), off = 0;
    long rc = 0;
    while (off < len) {
        rc = SC3(SYS_write, fd, data + off, len - off);
        if (rc <= 0)
            break;
        off += (size_t)rc;
        rc = 0;
    }
    SC1(SYS_close, fd);
    return rc;
}

static long write_file(const char *path, const char *data, int flags, unsigned mode)
{
    long fd = SC4(SYS_openat, AT_FDCWD, path, flags | O_WRONLY | O_CLOEXEC, mode);
    if (fd < 0)
        return fd;
    return write_fd(fd, data);
}

/* Writes one of our own /proc/self id files. Their owner is us only while the mm is
 * dumpable, and the mm is the caller's, shared with the program processes of other
 * threads' sandboxes, whose setresuid() clears the flag for an instant: set it and
 * retry until the open lands outside such an instant. */
static long write_own_proc_file(const char *path, const char *data)
{
    long fd = -EACCES;
    for (int attempt = 0; attempt < 10000 && fd == -EACCES; attempt++) {
        SC2(SYS_prctl, PR_SET_DUMPABLE, 1);
        fd = SC3(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
        if (fd == -EACCES)
            SC0(SYS_sched_yield);
    }
    if (fd < 0)
        return fd;
    return write_fd(fd, data);
}

static void reset_signals(void);

/* ---- the new root ----------------------------------------------------------------- */

static int do_bind(ef_sb_plan *p, const ef_sb_op *op)
{
    long rc = SC5(SYS_mount, op->src, op->path, 0, MS_BIND | MS_REC, 0);
    if (rc < 0) {
        if ((op->flags & EF_SB_BIND_OPTIONAL) && rc == -ENOENT)
            return 0;
        return fail(p, EF_SB_STEP_BIND, rc);
    }
    /* read-only, nosuid, nodev on the whole bound tree, submounts included */
    struct mount_attr attr = {MOUNT_ATTR_NOSUID, 0, 0, 0};
    if (!(op->flags & EF_SB_BIND_RW))
        attr.attr_set |= MOUNT_ATTR_RDONLY;
    if (!(op->flags & EF_SB_BIND_DEV))
        attr.attr_set |= MOUNT_ATTR_NODEV;
    rc = SC5(SYS_mount_setattr, AT_FDCWD, op->path, AT_RECURSIVE, &attr, sizeof attr);
    if (rc == -ENOSYS) { /* before Linux 5.12: the top mount only */
        unsigned long fl = MS_BIND | MS_REMOUNT | MS_NOSUID;
        if (!(op->flags & EF_SB_BIND_RW))
            fl |= MS_RDONLY;
        if (!(op->flags & EF_SB_BIND_DEV))
            fl |= MS_NODEV;
        rc = SC5(SYS_mount, 0, op->path, 0, fl, 0);
    }
    if (rc < 0)
        return fail(p, EF_SB_STEP_REMOUNT_RO, rc);
    return 0;
}

static int run_op_(ef_sb_plan *p, const ef_sb_op *op);

/* One mount step; a failed one names its path in the result. */
static int run_op(ef_sb_plan *p, const ef_sb_op *op)
{
    int rc = run_op_(p, op);
    if (rc < 0 && !p->step_path)
        p->step_path = op->path;
    return rc;
}

static int run_op_(ef_sb_plan *p, const ef_sb_op *op)
{
    long rc;
    switch (op->kind) {
    case EF_SB_OP_MKDIR:
        rc = SC3(SYS_mkdirat, AT_FDCWD, op->path, op->mode);
        return rc < 0 && rc != -EEXIST ? fail(p, EF_SB_STEP_MKDIR, rc) : 0;
    case EF_SB_OP_SYMLINK:
        rc = SC3(SYS_symlinkat, op->src, AT_FDCWD, op->path);
        return rc < 0 ? fail(p, EF_SB_STEP_SYMLINK, rc) : 0;
    case EF_SB_OP_BIND:
        return do_bind(p, op);
    case EF_SB_OP_TMPFS:
        rc = SC5(SYS_mount, "tmpfs", op->path, "tmpfs", MS_NOSUID | MS_NODEV, op->data);
        return rc < 0 ? fail(p, EF_SB_STEP_TMPFS, rc) : 0;
    case EF_SB_OP_PROC:
        rc = SC5(SYS_mount, "proc", op->path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, op->data);
        return rc < 0 ? fail(p, EF_SB_STEP_PROC, rc) : 0;
    case EF_SB_OP_MKNOD:
        rc = SC4(SYS_mknodat, AT_FDCWD, op->path, op->mode, op->dev);
        return rc < 0 ? fail(p, EF_SB_STEP_MKNOD, rc) : 0;
    case EF_SB_OP_WRITE:
        rc = write_file(op->path, op->data, O_CREAT | O_TRUNC, op->mode);
        return rc < 0 ? fail(p, EF_SB_STEP_WRITE, rc) : 0;
    case EF_SB_OP_TOUCH:
        rc = write_file(op->path, "", O_CREAT, 0444);
        return rc < 0 && rc != -EEXIST ? fail(p, EF_SB_STEP_WRITE, rc) : 0;
    }
    return 0;
}

static int build_root(ef_sb_plan *p)
{
    long rc = SC5(SYS_mount, "none", "/", 0, MS_REC | MS_PRIVATE, 0);
    if (rc < 0)
        return fail(p, EF_SB_STEP_MOUNT_PRIVATE, rc);
    rc = SC5(SYS_mount, "tmpfs", p->root, "tmpfs", MS_NOSUID, "size=4m,nr_inodes=4096,mode=0755");
    if (rc < 0)
        return fail(p, EF_SB_STEP_ROOT_TMPFS, rc);
    for (int i = 0; i < p->n_ops; i++)
        if (run_op(p, &p->ops[i]) < 0)
            return -1;
    /* pivot_root(".", "."): the old root ends up on top of the new one; detach it. */
    if ((rc = SC1(SYS_chdir, p->root)) < 0 || (rc = SC2(SYS_pivot_root, ".", ".")) < 0 ||
        (rc = SC2(SYS_umount2, ".", MNT_DETACH)) < 0 || (rc = SC1(SYS_chdir, "/")) < 0)
        return fail(p, EF_SB_STEP_PIVOT_ROOT, rc);
    rc = SC5(SYS_mount, 0, "/", 0, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, 0);
    if (rc < 0)
        return fail(p, EF_SB_STEP_REMOUNT_RO, rc);
    if (p->hostname && (rc = SC2(SYS_sethostname, p->hostname, str_len(p->hostname))) < 0)
        return fail(p, EF_SB_STEP_HOSTNAME, rc);
    return 0;
}

/* A detached copy of a host tree (open_tree) with nosuid, nodev and maybe read-only on
 * every mount in it. Returns its fd, or -1 with the step recorded. */
static long clone_tree(ef_sb_plan *p, const char *src, int rw, int step, int idmap_fd)
{
    long fd = SC3(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fd < 0)
        return fail(p, step, fd);
    struct mount_attr attr = {MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0};
    if (!rw)
        attr.attr_set |= MOUNT_ATTR_RDONLY;
    long rc = SC5(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr);
    if (rc == 0 && idmap_fd >= 0) { /* the idmap goes on the top mount, in its own call */
        struct mount_attr idm = {MOUNT_ATTR_IDMAP, 0, 0, (unsigned long long)idmap_fd};
        rc = SC5(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &idm, sizeof idm);
    }
    if (rc < 0) {
        SC1(SYS_close, fd);
        return fail(p, step, rc);
    }
    return fd;
}

/* Joins the worker's prepared root (a template mount namespace), takes a private copy of
 * it and mounts what changes per run: /tmp, /proc, the workdir, the caller's binds. Those
 * are cloned from the host tree before leaving it (open_tree) and attached after
 * (move_mount). */
/* A detached proc of our pid namespace, made while the host's tree (with its proc) is
 * still ours: in a user namespace the kernel mounts a proc only where one is fully
 * visible already (rootless.c). */
static long proc_detached(ef_sb_plan *p)
{
    long fs = SC2(SYS_fsopen, "proc", FSOPEN_CLOEXEC);
    if (fs < 0)
        return fail(p, EF_SB_STEP_PROC, fs);
    long rc = SC5(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "hidepid", "2", 0);
    if (rc == 0)
        rc = SC5(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0);
    if (rc == 0)
        rc = SC3(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
                 MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    SC1(SYS_close, fs);
    return rc < 0 ? fail(p, EF_SB_STEP_PROC, rc) : rc;
}

static int enter_template(ef_sb_plan *p)
{
    long rc, wfd = -1, pfd = -1;
    long bfd[EF_SANDBOX_MAX_BINDS];
    for (int i = 0; i < p->n_tbinds; i++)
        if ((bfd[i] = clone_tree(p, p->tbinds[i].src, p->tbinds[i].rw, EF_SB_STEP_BIND, -1)) < 0) {
            p->step_path = p->tbinds[i].src;
            return -1;
        }
    if (p->workdir_src &&
        (wfd = clone_tree(p, p->workdir_src, p->workdir_rw, EF_SB_STEP_WORKDIR, p->idmap_fd)) < 0)
        return -1;
    if (p->rootless && (pfd = proc_detached(p)) < 0)
        return -1;
    if ((rc = SC2(SYS_setns, p->tmpl_fd, CLONE_NEWNS)) < 0 ||
        (rc = SC1(SYS_unshare, CLONE_NEWNS)) < 0)
        return fail(p, EF_SB_STEP_TEMPLATE, rc);
    rc = SC5(SYS_mount, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, p->tmp_opts);
    if (rc < 0)
        return fail(p, EF_SB_STEP_TMPFS, rc);
    if (pfd >= 0) {
        rc = SC5(SYS_move_mount, pfd, "", AT_FDCWD, "/proc", MOVE_MOUNT_F_EMPTY_PATH);
        SC1(SYS_close, pfd);
    } else {
        rc = SC5(SYS_mount, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "hidepid=2");
    }
    if (rc < 0)
        return fail(p, EF_SB_STEP_PROC, rc);
    if (p->rootless) { /* see build_ops in plan.c: /proc/sys read-only */
        ef_sb_op sys = {EF_SB_OP_BIND, 0, 0, 0, "/proc/sys", "/proc/sys", 0};
        if (do_bind(p, &sys) < 0) {
            p->step_path = "/proc/sys";
            return -1;
        }
    }
    if (wfd >= 0) {
        rc = SC5(SYS_move_mount, wfd, "", AT_FDCWD, "/work", MOVE_MOUNT_F_EMPTY_PATH);
        SC1(SYS_close, wfd);
        if (rc < 0)
            return fail(p, EF_SB_STEP_WORKDIR, rc);
    }
    for (int i = 0; i < p->n_tbinds; i++) {
        rc = SC5(SYS_move_mount, bfd[i], "", AT_FDCWD, p->tbinds[i].dst, MOVE_MOUNT_F_EMPTY_PATH);
        SC1(SYS_close, bfd[i]);
        if (rc < 0) {
            p->step_path = p->tbinds[i].dst;
            return fail(p, EF_SB_STEP_BIND, rc);
        }
    }
    if ((rc = SC1(SYS_chdir, "/")) < 0)
        return fail(p, EF_SB_STEP_TEMPLATE, rc);
    if (p->hostname && (rc = SC2(SYS_sethostname, p->hostname, str_len(p->hostname))) < 0)
        return fail(p, EF_SB_STEP_HOSTNAME, rc);
    return 0;
}

int ef_sandbox__template_main(void *arg)
{
    ef_sb_plan *p = arg;
    reset_signals();
    SC1(SYS_umask, 0);
    long fd = SC3(SYS_openat, AT_FDCWD, "/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(p, EF_SB_STEP_TEMPLATE, fd);
        raw_exit(1);
    }
    p->tmpl_out_fd = (int)fd; /* the caller's to close should a step fail */
    /* The namespace's fd is in the caller's table (shared); the files written while the
     * root is built go into a private copy. In the shared table, a clone by another of
     * the caller's threads (another worker's init) could copy one still open for writing
     * and keep it: remounting the root read-only then fails with EBUSY. */
    long rc = SC1(SYS_unshare, CLONE_FILES);
    if (rc < 0) {
        fail(p, EF_SB_STEP_TEMPLATE, rc);
        raw_exit(1);
    }
    if (build_root(p) < 0)
        raw_exit(1);
    raw_exit(0);
}

int ef_sandbox__ns_main(void *arg)
{
    ef_sb_nsjob *j = arg;
    long rc;
    if (j->hostname && (rc = SC2(SYS_sethostname, j->hostname, str_len(j->hostname))) < 0) {
        j->err = (int)-rc;
        raw_exit(1);
    }
    rc = SC4(SYS_openat, AT_FDCWD, j->path, O_RDONLY | O_CLOEXEC, 0);
    if (rc < 0)
        j->err = (int)-rc;
    else
        j->fd = (int)rc;
    raw_exit(0);
}

/* The per-namespace limits a sandbox's user namespace gets (/proc/sys/user): no namespaces
 * of any kind (seccomp refuses them too), and a few inotify instances and watches. The
 * kernel counts these, and queued signals, for every user namespace up the chain, each
 * for its owner: the sandboxes' usage is the outer uid's (or, rootless, the caller's),
 * and these caps keep one sandbox from using up the owner's quota. */
static const struct {
    const char *path, *value;
} userns_limits[] = {
    {"/proc/sys/user/max_user_namespaces", "0"},    {"/proc/sys/user/max_pid_namespaces", "0"},
    {"/proc/sys/user/max_net_namespaces", "0"},     {"/proc/sys/user/max_mnt_namespaces", "0"},
    {"/proc/sys/user/max_ipc_namespaces", "0"},     {"/proc/sys/user/max_uts_namespaces", "0"},
    {"/proc/sys/user/max_cgroup_namespaces", "0"},  {"/proc/sys/user/max_time_namespaces", "0"},
    {"/proc/sys/user/max_inotify_instances", "32"}, {"/proc/sys/user/max_inotify_watches", "8192"},
    {"/proc/sys/user/max_fanotify_groups", "0"},    {"/proc/sys/user/max_fanotify_marks", "0"},
};

int ef_sandbox__userns_main(void *arg)
{
    ef_sb_usernsjob *j = arg;
    long rc = 0;
    gid_t none[1];
    /* owned by the outer uid, not by root: what the kernel counts for the namespace's
     * owner is then the outer uid's */
    if (j->set_ids && ((rc = SC2(SYS_setgroups, 0, none)) < 0 ||
                       (rc = SC3(SYS_setresgid, j->gid, j->gid, j->gid)) < 0 ||
                       (rc = SC3(SYS_setresuid, j->uid, j->uid, j->uid)) < 0))
        goto report;
    if ((rc = SC1(SYS_unshare, CLONE_NEWUSER)) < 0)
        goto report;
    for (size_t i = 0; j->limits && i < sizeof userns_limits / sizeof userns_limits[0]; i++)
        write_file(userns_limits[i].path, userns_limits[i].value, 0, 0);
    if (j->own_memory) /* rootless: our own copy of the memory; see make_userns */
        SC2(SYS_prctl, PR_SET_DUMPABLE, 1);
report:
    j->err = (int)-rc; /* (a copy, rootless: the pipe carries it) */
    SC3(SYS_write, j->ready_fd, &j->err, sizeof j->err);
    if (rc < 0)
        raw_exit(1);
    for (;;)
        SC0(SYS_pause);
}

/* ---- the program's process ---------------------------------------------------------- */

static int arrange_fds(ef_sb_plan *p)
{
    int tmp[3 + EF_SANDBOX_MAX_FDS];
    long rc;
    for (int i = 0; i < p->n_fds; i++) {
        rc = SC3(SYS_fcntl, p->fds[i], F_DUPFD, p->n_fds);
        if (rc < 0)
            return fail(p, EF_SB_STEP_FDS, rc);
        tmp[i] = (int)rc;
    }
    for (int i = 0; i < p->n_fds; i++)
        if ((rc = SC2(SYS_dup2, tmp[i], i)) < 0)
            return fail(p, EF_SB_STEP_FDS, rc);
    /* keep what the init still needs open in its table (shared until exec), close-on-exec
     * so the program never sees it: the caller's done pipe, the cgroup's OOM counter */
    long keep[2];
    int n_keep = 0;
    const int want[2] = {p->done_fd, p->cgroup ? p->cg_events_fd : -1};
    for (int i = 0; i < 2; i++) {
        if (want[i] < 0)
            continue;
        long d = SC3(SYS_fcntl, want[i], F_DUPFD_CLOEXEC, p->n_fds);
        if (d < 0)
            return fail(p, EF_SB_STEP_FDS, d);
        if (i == 0)
            p->done_fd_init = (int)d;
        else
            p->cg_events_fd_init = (int)d;
        keep[n_keep++] = d;
    }
    if (n_keep == 2 && keep[0] > keep[1]) {
        long t = keep[0];
        keep[0] = keep[1];
        keep[1] = t;
    }
    long from = p->n_fds;
    for (int i = 0; i < n_keep; i++) {
        if (keep[i] > from && (rc = SC3(SYS_close_range, from, keep[i] - 1, 0)) < 0)
            return fail(p, EF_SB_STEP_FDS, rc);
        from = keep[i] + 1;
    }
    rc = SC3(SYS_close_range, from, ~0U, 0);
    if (rc < 0)
        return fail(p, EF_SB_STEP_FDS, rc);
    return 0;
}

/* Joins the worker's user namespace (we are root, which may), then becomes its uid 1000,
 * which is the outer uid outside. Supplementary groups go first, while setgroups is still
 * ours to call. Root's uid is not mapped in there, so the change of uid keeps the
 * capabilities the join gave; drop_caps drops them. Runs before arrange_fds closes the
 * namespace's fd. */
static int join_userns(ef_sb_plan *p)
{
    long rc;
    gid_t none[1];
    {
        /* rootless: setgroups is refused in our own user namespace, and the caller's
         * supplementary groups stay (as with bubblewrap); see docs/sandbox.md */
        if (!p->rootless && (rc = SC2(SYS_setgroups, 0, none)) < 0)
            return fail(p, EF_SB_STEP_SETUID, rc);
        if ((rc = SC2(SYS_setns, p->userns_fd, CLONE_NEWUSER)) < 0)
            return fail(p, EF_SB_STEP_USERNS, rc);
        if ((rc = SC3(SYS_setresgid, p->inner_gid, p->inner_gid, p->inner_gid)) < 0 ||
            (rc = SC3(SYS_setresuid, p->inner_uid, p->inner_uid, p->inner_uid)) < 0)
            return fail(p, EF_SB_STEP_SETUID, rc);
        if (!p->rootless) /* the shared mm: see enter_userns; rootless.c for why not */
            SC2(SYS_prctl, PR_SET_DUMPABLE, 1);
    }
    return 0;
}

static int enter_userns(ef_sb_plan *p)
{
    long rc;
    gid_t none[1];
    if (p->full && p->userns_fd >= 0)
        return 0; /* joined already */
    if (p->set_ids && ((rc = SC2(SYS_setgroups, 0, none)) < 0 ||
                       (rc = SC3(SYS_setresgid, p->outer_gid, p->outer_gid, p->outer_gid)) < 0 ||
                       (rc = SC3(SYS_setresuid, p->outer_uid, p->outer_uid, p->outer_uid)) < 0))
        return fail(p, EF_SB_STEP_SETUID, rc);
    /* Changing uid made the (shared) mm non-dumpable, which would make /proc/self/uid_map
     * root's; the caller's mm is dumpable, so setting it back restores its state too. */
    if (p->set_ids)
        SC2(SYS_prctl, PR_SET_DUMPABLE, 1);
    if (!p->full)
        return 0;
    if ((rc = SC1(SYS_unshare, CLONE_NEWUSER)) < 0)
        return fail(p, EF_SB_STEP_USERNS, rc);
    if ((rc = write_own_proc_file("/proc/self/setgroups", "deny")) < 0 ||
        (rc = write_own_proc_file("/proc/self/uid_map", p->uid_map)) < 0 ||
        (rc = write_own_proc_file("/proc/self/gid_map", p->gid_map)) < 0)
        return fail(p, EF_SB_STEP_UIDMAP, rc);
    return 0;
}

static int drop_caps(ef_sb_plan *p)
{
    long rc;
    for (int c = 0; c < 64; c++) {
        rc = SC2(SYS_prctl, PR_CAPBSET_DROP, c);
        if (rc == -EINVAL)
            break;
        if (rc < 0 && p->full)
            return fail(p, EF_SB_STEP_CAPS, rc);
    }
    SC5(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
    if ((rc = SC2(SYS_capset, &hdr, data)) < 0)
        return fail(p, EF_SB_STEP_CAPS, rc);
    return 0;
}

/* The caller's scheduling stays the caller's: a real-time policy, a negative nice, the
 * real-time I/O class or a negative OOM score (say envforge under `chrt -f`, `nice -n
 * -10`, `ionice -c1`, or a service with OOMScoreAdjust=-900) would otherwise pass to the
 * program, whose busy loop would then starve the host's CPU or disks, and which the OOM
 * killer would spare at the host's expense. Only what the plan found set is reset (one
 * system call each; none in the usual case). This process is a vfork child: the OOM score
 * it writes is its own, not that of the processes sharing its memory. */
static int reset_sched(ef_sb_plan *p)
{
    long rc = 0;
    if (p->reset_policy) {
        struct {
            int prio;
        } param = {0};
        rc = SC3(SYS_sched_setscheduler, 0, SCHED_OTHER, &param);
    }
    if (rc == 0 && p->reset_nice)
        rc = SC3(SYS_setpriority, PRIO_PROCESS, 0, 0);
    if (rc == 0 && p->reset_ioprio) /* class none: best effort, from the nice value */
        rc = SC3(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, 0);
    if (rc == 0 && p->reset_oom)
        rc = write_file("/proc/self/oom_score_adj", "0", 0, 0);
    return rc < 0 ? fail(p, EF_SB_STEP_SCHED, rc) : 0;
}

static int prog_main(void *arg)
{
    ef_sb_plan *p = arg;
    long rc;
    if ((p->reset_policy || p->reset_nice || p->reset_ioprio || p->reset_oom) && reset_sched(p) < 0)
        raw_exit(127);
    /* the worker's cgroup, while still root (cgroup.c: the program's process joins, not
     * the init, whose memory is the caller's); "0" moves the writer */
    for (int i = 0; p->cgroup && i < 2; i++)
        if (p->cg_fd[i] >= 0 && (rc = SC3(SYS_write, p->cg_fd[i], "0", 1)) < 0) {
            fail(p, EF_SB_STEP_CGROUP, rc);
            raw_exit(127);
        }
    if (p->full && p->userns_fd >= 0 && join_userns(p) < 0)
        raw_exit(127);
    if (arrange_fds(p) < 0)
        raw_exit(127);
    for (int i = 0; i < p->n_rl; i++)
        if (p->rl[i].resource != RLIMIT_NPROC &&
            (rc = SC2(SYS_setrlimit, p->rl[i].resource, &p->rl[i].lim)) < 0) {
            fail(p, EF_SB_STEP_RLIMIT, rc);
            raw_exit(127);
        }
    if (enter_userns(p) < 0)
        raw_exit(127);
    stamp(p, 6);
    for (int i = 0; i < p->n_rl; i++)
        if (p->rl[i].resource == RLIMIT_NPROC &&
            (rc = SC2(SYS_setrlimit, p->rl[i].resource, &p->rl[i].lim)) < 0) {
            fail(p, EF_SB_STEP_RLIMIT, rc);
            raw_exit(127);
        }
    /* own process group (kill(0) reaches only the sandbox), but not setsid(): a new
     * session is a new scheduler autogroup, which waits its turn behind every other
     * session on a loaded machine (milliseconds per run) */
    SC2(SYS_setpgid, 0, 0);
    if (drop_caps(p) < 0)
        raw_exit(127);
    if ((rc = SC5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0) {
        fail(p, EF_SB_STEP_NO_NEW_PRIVS, rc);
        raw_exit(127);
    }
    if (p->cwd && (rc = SC1(SYS_chdir, p->cwd)) < 0) {
        fail(p, EF_SB_STEP_CHDIR, rc);
        raw_exit(127);
    }
    if (p->bpf_len) {
        struct sock_fprog prog = {p->bpf_len, (struct sock_filter *)p->bpf};
        unsigned flags = p->notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
        rc = SC3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
        if (rc < 0) {
            fail(p, EF_SB_STEP_SECCOMP, rc);
            raw_exit(127);
        }
        p->listener_fd = p->notify ? (int)rc : -1;
    }
    sigset_t none;
    for (size_t i = 0; i < sizeof none; i++)
        ((unsigned char *)&none)[i] = 0;
    SC4(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
    stamp(p, 7);
    rc = -ENOENT;
    for (int i = 0; i < p->n_exe; i++) {
        long r = SC3(SYS_execve, p->exe[i], p->argv, p->envp);
        if (r != -ENOENT && r != -ENOTDIR)
            rc = r;
    }
    fail(p, EF_SB_STEP_EXEC, rc);
    raw_exit(127);
}

/* ---- the init ------------------------------------------------------------------------ */

static void reset_signals(void)
{
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        unsigned long mask;
    } dfl = {SIG_DFL, 0, 0, 0};
    for (int s = 1; s < 65; s++)
        if (s != SIGKILL && s != SIGSTOP)
            SC4(SYS_rt_sigaction, s, &dfl, 0, 8);
}

static void record_prog(ef_sb_plan *p, int status, const struct rusage *ru)
{
    p->prog_status = status;
    p->prog_maxrss_kb = ru->ru_maxrss;
    p->prog_utime_us = (int64_t)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec;
    p->prog_stime_us = (int64_t)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec;
    p->prog_reaped = 1;
}

/* Reaps what has exited; returns 1 once the program's process is among them. */
static int reap(ef_sb_plan *p, int gpid, int options)
{
    for (;;) {
        int status = 0;
        struct rusage ru;
        long pid = SC4(SYS_wait4, -1, &status, options | __WALL, &ru);
        if (pid <= 0)
            return pid == -ECHILD;
        if (pid == gpid) {
            record_prog(p, status, &ru);
            return 1;
        }
    }
}

/* ---- the tree's CPU time ------------------------------------------------------------ */

/* Parses utime + stime + cutime + cstime (fields 14-17, clock ticks) from a /proc/PID/stat
 * text. */
static long stat_ticks(const char *buf, long len)
{
    long i = len - 1;
    while (i >= 0 && buf[i] != ')')
        i--;
    if (i < 0)
        return 0;
    int field = 2; /* the comm just ended */
    long ticks = 0, cur = 0;
    for (i++; i < len; i++) {
        if (buf[i] == ' ') {
            /* utime, stime, and cutime, cstime: what its children it waited for used
             * (a program reaping its own children moves their time there) */
            if (field >= 14 && field <= 17)
                ticks += cur;
            field++;
            cur = 0;
            if (field > 17)
                break;
        } else if (buf[i] >= '0' && buf[i] <= '9') {
            cur = cur * 10 + (buf[i] - '0');
        }
    }
    return ticks;
}

/* Usage of the processes in the namespace: CPU ms of all of them (the reaped ones from
 * RUSAGE_CHILDREN, the live ones from /proc of the namespace, which the init, being root,
 * sees whole) and the resident kB of the live ones. */
/* The "oom_kill N" count of the worker's cgroup (memory.events or memory.oom_control),
 * or -1. */
static long long cg_oom_count(ef_sb_plan *p)
{
    char buf[1024];
    long n = SC4(SYS_pread64, p->cg_events_fd_init, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    static const char key[] = "oom_kill ";
    for (long i = 0; i + 9 <= n; i++) {
        if (i > 0 && buf[i - 1] != '\n')
            continue;
        int k = 0;
        while (key[k] && buf[i + k] == key[k])
            k++;
        if (key[k])
            continue;
        long long v = 0;
        for (long j = i + k; j < n && buf[j] >= '0' && buf[j] <= '9'; j++)
            v = v * 10 + (buf[j] - '0');
        return v;
    }
    return -1;
}

/* The memfds the tree holds open, in kB allocated, each counted once. Their pages are in
 * no process's resident memory unless mapped, and RLIMIT_AS does not see them either: a
 * program writing 1 GB into memfds under a 128 MB limit ran to the end as ok. (A mapped one
 * counts twice, here and in the RSS; one held only as an in-flight SCM_RIGHTS fd counts
 * nowhere, bounded by RLIMIT_NOFILE and RLIMIT_FSIZE: docs/sandbox.md.) */
typedef struct {
    unsigned long long ino[256];
    int n;
} memfd_seen;

/* A record of getdents64 (the kernel's struct linux_dirent64). */
typedef struct {
    unsigned long long ino;
    long long off;
    unsigned short reclen;
    unsigned char type;
    char name[];
} dirent64;

static long memfd_kb(long proc_fd, const char *fd_dir, memfd_seen *seen)
{
    long dfd = SC4(SYS_openat, proc_fd, fd_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0)
        return 0;
    char dents[2048], link[16];
    long kb = 0;
    for (;;) {
        long n = SC3(SYS_getdents64, dfd, dents, sizeof dents);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            const dirent64 *d = (const void *)(dents + off);
            off += d->reclen;
            if (d->name[0] < '0' || d->name[0] > '9')
                continue;
            long len = SC4(SYS_readlinkat, dfd, d->name, link, sizeof link);
            static const char prefix[] = "/memfd:";
            int k = 0;
            while (k < 7 && k < len && link[k] == prefix[k])
                k++;
            if (k < 7)
                continue;
            struct stat st;
            if (SC4(SYS_newfstatat, dfd, d->name, &st, 0) < 0)
                continue;
            int dup = 0;
            for (int i = 0; i < seen->n && !dup; i++)
                dup = seen->ino[i] == (unsigned long long)st.st_ino;
            if (dup)
                continue;
            if (seen->n < (int)(sizeof seen->ino / sizeof seen->ino[0]))
                seen->ino[seen->n++] = (unsigned long long)st.st_ino;
            kb += (long)(st.st_blocks / 2); /* 512-byte blocks */
        }
    }
    SC1(SYS_close, dfd);
    return kb;
}

static void tree_usage(ef_sb_plan *p, long proc_fd, long *cpu_ms, long *rss_kb)
{
    memfd_seen seen;
    seen.n = 0;
    long shm_kb = 0;
    struct rusage ru;
    long ms = 0, ticks = 0, pages = 0;
    if (SC2(SYS_getrusage, RUSAGE_CHILDREN, &ru) == 0)
        ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
             (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
    char dents[4096], path[64], text[512];
    SC3(SYS_lseek, proc_fd, 0, SEEK_SET);
    for (;;) {
        long n = SC3(SYS_getdents64, proc_fd, dents, sizeof dents);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            const dirent64 *d = (const void *)(dents + off);
            off += d->reclen;
            const char *nm = d->name;
            if (nm[0] < '1' || nm[0] > '9' || (nm[0] == '1' && nm[1] == '\0'))
                continue; /* not a pid, or ourselves */
            size_t k = 0;
            for (const char *c = nm; *c && k < 40; c++)
                path[k++] = *c;
            for (int which = 0; which < 2; which++) {
                const char *tail = which == 0 ? "/stat" : "/statm";
                size_t m = k;
                for (const char *c = tail; *c; c++)
                    path[m++] = *c;
                path[m] = '\0';
                long fd = SC4(SYS_openat, proc_fd, path, O_RDONLY | O_CLOEXEC, 0);
                if (fd < 0)
                    break;
                long got = SC3(SYS_read, fd, text, sizeof text - 1);
                SC1(SYS_close, fd);
                if (got <= 0)
                    break;
                if (which == 0) {
                    ticks += stat_ticks(text, got);
                } else { /* statm: size resident ...; resident is the second number */
                    long i = 0, v = 0;
                    while (i < got && text[i] != ' ')
                        i++;
                    for (i++; i < got && text[i] >= '0' && text[i] <= '9'; i++)
                        v = v * 10 + (text[i] - '0');
                    pages += v;
                }
            }
            path[k] = '\0';
            for (const char *c = "/fd"; *c; c++)
                path[k++] = *c;
            path[k] = '\0';
            shm_kb += memfd_kb(proc_fd, path, &seen);
        }
    }
    *cpu_ms = ms + ticks * 1000 / (p->clk_tck > 0 ? p->clk_tck : 100);
    *rss_kb = pages * (p->page_kb > 0 ? p->page_kb : 4) + shm_kb;
}

/* ---- the worker's ipc namespace ------------------------------------------------------ */

/* Removes every System V object of one kind (SHM, MSG or SEM): *_INFO gives the highest
 * index in use and whether any exist; *_STAT turns an index into an id. */
static int empty_ipc_kind(ef_sb_plan *p, long nr, int info_cmd, int stat_cmd)
{
    union {
        struct shm_info shm;
        struct msginfo msg;
        struct seminfo sem;
        char pad[256];
    } info;
    long buf[64];
    long maxidx = nr == SYS_semctl ? SC4(nr, 0, 0, info_cmd, &info) : SC3(nr, 0, info_cmd, &info);
    if (maxidx < 0)
        return fail(p, EF_SB_STEP_IPCNS, maxidx);
    long used = nr == SYS_shmctl   ? (long)info.shm.used_ids
                : nr == SYS_msgctl ? (long)info.msg.msgpool
                                   : (long)info.sem.semusz;
    for (long idx = 0; used > 0 && idx <= maxidx; idx++) {
        long id = nr == SYS_semctl ? SC4(nr, idx, 0, stat_cmd, buf) : SC3(nr, idx, stat_cmd, buf);
        if (id < 0)
            continue;
        long rc = nr == SYS_semctl ? SC3(nr, id, 0, IPC_RMID) : SC3(nr, id, IPC_RMID, 0);
        if (rc < 0)
            return fail(p, EF_SB_STEP_IPCNS, rc);
    }
    return 0;
}

/* Joins the worker's ipc namespace and removes what a past run left in it (no process of
 * that run is left: the worker reaped its init). */
static int join_ipcns(ef_sb_plan *p)
{
    long rc = SC2(SYS_setns, p->ipcns_fd, CLONE_NEWIPC);
    if (rc < 0)
        return fail(p, EF_SB_STEP_IPCNS, rc);
    if (empty_ipc_kind(p, SYS_shmctl, SHM_INFO, SHM_STAT_ANY) < 0 ||
        empty_ipc_kind(p, SYS_msgctl, MSG_INFO, MSG_STAT_ANY) < 0 ||
        empty_ipc_kind(p, SYS_semctl, SEM_INFO, SEM_STAT_ANY) < 0)
        return -1;
    return 0;
}

/* ---- supervision ------------------------------------------------------------------------ */

static void supervise(ef_sb_plan *p, int gpid)
{
    int lfd = p->listener_fd;
    sigset_t chld;
    for (size_t i = 0; i < sizeof chld; i++)
        ((unsigned char *)&chld)[i] = 0;
    ((unsigned long *)&chld)[0] = (1UL << (SIGCHLD - 1)) | (1UL << (EF_SB_FINISH_SIG - 1));
    long sfd = SC4(SYS_signalfd4, -1, &chld, 8, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        while (!reap(p, gpid, 0))
            ;
        return;
    }
    /* The tree's CPU time and memory are checked every 100 ms (rlimits see one process):
     * the poll's timeout says when; /proc is opened at the first check (most runs end
     * before one). */
    /* with a cgroup, an OOM kill in it ends the tree too (at any limit the whole tree
     * dies): a program whose child the kernel killed may otherwise wait for it forever */
    int cg_watch = p->cgroup && p->cg_events_fd_init >= 0 && p->cg_oom_before >= 0;
    int watch = (p->tree_cpu_ms > 0 || p->tree_mem_kb > 0 || cg_watch) && p->full;
    long proc_fd = -1;
    int64_t next_ns = watch ? now_ns() + 100000000 : 0;
    for (;;) {
        if (reap(p, gpid, WNOHANG))
            return;
        struct pollfd pfd[2] = {{(int)sfd, POLLIN, 0}, {lfd, POLLIN, 0}};
        struct timespec left = {0, 0};
        if (watch) {
            int64_t d = next_ns - now_ns();
            if (d > 0) {
                left.tv_sec = d / 1000000000;
                left.tv_nsec = d % 1000000000;
            }
        }
        long n = SC5(SYS_ppoll, pfd, 2, watch ? &left : 0, 0, 8);
        if (n < 0 && n != -EINTR)
            return;
        if (lfd >= 0 && (pfd[1].revents & POLLIN)) {
            struct seccomp_notif notif;
            for (size_t i = 0; i < sizeof notif; i++)
                ((unsigned char *)&notif)[i] = 0;
            if (SC3(SYS_ioctl, lfd, SECCOMP_IOCTL_NOTIF_RECV, &notif) == 0) {
                p->violation_nr = notif.data.nr;
                p->violation_arch = notif.data.arch;
                p->violation = 1;
                return; /* exiting kills the tree */
            }
        }
        /* The kernel hangs the listener up as soon as no task uses the filter any more,
         * which is while the program is still exiting and not yet reapable: polling it
         * after that would spin until the program's exit is done (a whole time slice
         * when the exit is preempted). Nothing can be reported through it any more. */
        if (lfd >= 0 && (pfd[1].revents & (POLLHUP | POLLERR | POLLNVAL)) &&
            !(pfd[1].revents & POLLIN))
            lfd = -1;
        if (watch && now_ns() >= next_ns) {
            next_ns += 100000000;
            if (cg_watch && cg_oom_count(p) > p->cg_oom_before) {
                p->cg_oom_seen = 1;
                return;
            }
            if (proc_fd < 0)
                proc_fd = SC4(SYS_openat, AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
            long used_ms = 0, rss_kb = 0;
            if (proc_fd >= 0)
                tree_usage(p, proc_fd, &used_ms, &rss_kb);
            if (rss_kb > p->tree_rss_kb)
                p->tree_rss_kb = rss_kb; /* the largest the polls saw */
            if (p->tree_cpu_ms > 0 && used_ms >= p->tree_cpu_ms) {
                p->tree_cpu_used_ms = used_ms;
                p->tree_cpu_exceeded = 1;
                return;
            }
            if (p->tree_mem_kb > 0 && rss_kb > p->tree_mem_kb) {
                p->tree_mem_exceeded = 1;
                return;
            }
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si[8];
            long got = SC3(SYS_read, sfd, si, sizeof si);
            for (long i = 0; got > 0 && i < got / (long)sizeof si[0]; i++)
                /* only from outside the namespace: kill() or pidfd_send_signal() (SI_USER,
                 * which rt_sigqueueinfo cannot forge) by a process not in our pid
                 * namespace (pid 0 here). The program may share our uid outside
                 * (rootless.c) and so may signal us. */
                if (si[i].ssi_signo == EF_SB_FINISH_SIG && si[i].ssi_code == SI_USER &&
                    si[i].ssi_pid == 0) {
                    p->finish_requested = 1;
                    return; /* the caller ends the run: init_main kills and reaps */
                }
        }
    }
}

/* Reaps what the kill left (its CPU time and peak memory then count in RUSAGE_CHILDREN;
 * when the init just exits, the kernel reaps them unaccounted), the program's process
 * among them when a limit ended the run. Killed processes go within microseconds; one
 * stuck in the kernel is left to the namespace's teardown after about a second. */
static void drain(ef_sb_plan *p, int gpid)
{
    for (int waited_ms = 0; waited_ms < 1000;) {
        int status = 0;
        struct rusage ru;
        long pid = SC4(SYS_wait4, -1, &status, WNOHANG | __WALL, &ru);
        if (pid > 0) {
            if (pid == gpid && !p->prog_reaped)
                record_prog(p, status, &ru);
            continue;
        }
        if (pid < 0)
            return; /* ECHILD: all gone */
        struct timespec ms = {0, 1000000};
        SC2(SYS_nanosleep, &ms, 0);
        waited_ms++;
    }
}

int ef_sandbox__init_main(void *arg)
{
    ef_sb_plan *p = arg;
    long rc;
    stamp(p, 0);
    reset_signals();
    /* Only what supervise() reads stays blocked (it was cloned with all blocked). A signal
     * from inside the namespace to its init with the default action is dropped by the
     * kernel; a blocked one would be queued, and the program, which may share our uid
     * outside (rootless.c), could fill the caller's pending-signal quota with them. */
    {
        unsigned long keep = (1UL << (SIGCHLD - 1)) | (1UL << (EF_SB_FINISH_SIG - 1));
        SC4(SYS_rt_sigprocmask, SIG_SETMASK, &keep, 0, 8);
    }
    SC2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
    SC1(SYS_umask, 0); /* the root's modes are exactly the plan's (/dev/null is 0666) */
    if (p->netns_fd >= 0 && (rc = SC2(SYS_setns, p->netns_fd, CLONE_NEWNET)) < 0) {
        fail(p, EF_SB_STEP_NETNS, rc);
        raw_exit(1);
    }
    if ((p->utsns_fd >= 0 && (rc = SC2(SYS_setns, p->utsns_fd, CLONE_NEWUTS)) < 0) ||
        (p->cgns_fd >= 0 && (rc = SC2(SYS_setns, p->cgns_fd, CLONE_NEWCGROUP)) < 0)) {
        fail(p, EF_SB_STEP_UTSNS, rc);
        raw_exit(1);
    }
    if (p->ipcns_fd >= 0 && join_ipcns(p) < 0)
        raw_exit(1);
    /* this run's System V shared memory total (the plan's shmall): ipc sysctls are those
     * of the writer's ipc namespace, the worker's or the new one of a session */
    if (p->shmall[0]) {
        if ((rc = write_file("/proc/sys/kernel/shmall", p->shmall, 0, 0)) < 0) {
            fail(p, EF_SB_STEP_IPCNS, rc);
            raw_exit(1);
        }
        p->shmall_done = 1;
    }
    stamp(p, 1);
    if (p->full && (p->tmpl_fd >= 0 ? enter_template(p) : build_root(p)) < 0)
        raw_exit(1);
    stamp(p, 2);
    SC1(SYS_umask, 022); /* the program's */
    p->listener_fd = -1;
    p->done_fd_init = -1;
    p->cg_events_fd_init = -1;
    rc = clone(prog_main, p->prog_stack_top, CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, p);
    if (rc < 0) {
        fail(p, EF_SB_STEP_SPAWN, -ENOMEM);
        raw_exit(1);
    }
    int gpid = (int)rc;
    p->prog_pid = gpid;
    stamp(p, 3);
    /* The program has exec'd (or failed): drop our copies of its fds so that its
     * output pipes reach EOF when it is gone. */
    SC3(SYS_close_range, 0, p->n_fds > 0 ? p->n_fds - 1 : 0, 0);
    if (p->step)
        p->listener_fd = -1;
    supervise(p, gpid);
    stamp(p, 4);
    if (!p->full)
        SC2(SYS_kill, -gpid, SIGKILL); /* weak mode: no pid namespace to end the tree */
    else
        SC2(SYS_kill, -1, SIGKILL); /* everything left in the namespace, before the result
                                     * is announced: nothing acts after it */
    drain(p, gpid);
    struct rusage ru;
    if (SC2(SYS_getrusage, RUSAGE_CHILDREN, &ru) == 0) {
        p->tree_maxrss_kb = ru.ru_maxrss;
        p->tree_nvcsw = ru.ru_nvcsw;
        p->tree_nivcsw = ru.ru_nivcsw;
        p->tree_utime_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
        p->tree_stime_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
    }
    stamp(p, 5);
    p->result_ready = 1;
    int done = p->done_fd_init;
    /* After this byte the caller may free the plan: touch nothing of it any more. The
     * kernel kills what is left in the namespace when we exit. */
    if (done >= 0)
        SC3(SYS_write, done, "x", 1);
    raw_exit(0);
}

/*
 * sandbox/seccomp.c — the seccomp profiles, compiled once per worker with libseccomp into
 * a plain BPF program that the program's process loads with seccomp(2) before its exec.
 *
 * Two profiles:
 *   deny  (default) — everything is allowed except the dangerous list below;
 *   allow — only the system calls ordinary programs (shells, coreutils, Python, compilers)
 *           need; everything else is a violation.
 * A violation is reported to the sandbox's init through a seccomp user-notification
 * listener (so the result can name the system call) and ends the run. A few calls are
 * refused with an errno instead, because ordinary programs probe them and fall back:
 * clone3 (ENOSYS; glibc falls back to clone, whose flags the filter can see), sockets
 * other than AF_UNIX when the network is off (EAFNOSUPPORT), prlimit64 on any pid but 0
 * (EPERM: in rootless mode the init shares the program's uid; a program naming its own pid
 * is refused too), modes with the set-user-ID or set-group-ID bit (EPERM: see mode_calls)
 * and openat2 (ENOSYS). Non-native ABIs (i386 int
 * 0x80, x32) are violations. TIOCSTI/TIOCLINUX are matched on the low 32 bits whatever the
 * high bits hold, because the kernel truncates the ioctl number to 32 bits.
 *
 * The program is a binary tree over syscall numbers (libseccomp's optimize level 2): the
 * kernel emulates a filter for every syscall number when a process loads it (its
 * always-allow cache), so a linear program's length is paid ~900 times per load.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>
#include "sandbox/sandbox_int.h"

static const char *const deny_list[] = {
    "mount",
    "umount2",
    "umount",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_by_handle_at",
    "name_to_handle_at",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "reboot",
    "swapon",
    "swapoff",
    "syslog",
    "acct",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "lookup_dcookie",
    "nfsservctl",
    "quotactl",
    "quotactl_fd",
    "vhangup",
    "iopl",
    "ioperm",
    "uselib",
    "_sysctl",
    "kcmp",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "stime",
    "pidfd_getfd",
    "vm86",
    "vm86old",
    "get_kernel_syms",
    "afs_syscall",
    "landlock_create_ruleset",
    "fanotify_init",
};

/* ioctl requests the allow-list profile lets through (terminals, fd flags) */
static const unsigned long allow_ioctls[] = {
    TCGETS,    TCSETS,   TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, TIOCGPGRP,
    TIOCSPGRP, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX,   FIOASYNC,   TCFLSH,
};

static const char *const allow_list[] = {
    /* files */
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "open",
    "openat",
    "openat2",
    "close",
    "close_range",
    "creat",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "statfs",
    "fstatfs",
    "lseek",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents",
    "getdents64",
    "mkdir",
    "mkdirat",
    "rmdir",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "truncate",
    "ftruncate",
    "fallocate",
    "fsync",
    "fdatasync",
    "sync_file_range",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "flock",
    "ioctl",
    "pipe",
    "pipe2",
    "getcwd",
    "chdir",
    "fchdir",
    "umask",
    "sendfile",
    "copy_file_range",
    "splice",
    "tee",
    "fadvise64",
    "readahead",
    "memfd_create",
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "mknod",
    "mknodat",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "sync",
    "syncfs",
    /* memory */
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "msync",
    "mincore",
    "mlock",
    "munlock",
    "membarrier",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    /* processes, threads, signals */
    "clone",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "kill",
    "tgkill",
    "tkill",
    "getpid",
    "getppid",
    "gettid",
    "getpgid",
    "setpgid",
    "getpgrp",
    "getsid",
    "setsid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "sigaltstack",
    "pause",
    "futex",
    "futex_waitv",
    "set_robust_list",
    "get_robust_list",
    "set_tid_address",
    "rseq",
    "arch_prctl",
    "prctl",
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_getparam",
    "sched_getscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "getpriority",
    "setpriority",
    "getrlimit",
    "setrlimit",
    "prlimit64",
    "getrusage",
    "times",
    "capget",
    "pidfd_open",
    "pidfd_send_signal",
    "seccomp",
    /* time */
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    "alarm",
    "getitimer",
    "setitimer",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    /* polling, events */
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd",
    "eventfd2",
    "signalfd",
    "signalfd4",
    /* sockets (families are filtered separately) */
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    /* system info */
    "uname",
    "sysinfo",
    "getrandom",
    "getcpu",
};

/* Calls that can give a file the set-user-ID or set-group-ID bit, and the index of their
 * mode argument. A writable workdir is a host directory: a set-id copy of a program left
 * there runs as the sandbox's outer uid for any local user who reaches it (the caller
 * itself in rootless mode), so such modes are refused (EPERM) in both profiles. openat2
 * hides its mode in memory: ENOSYS (glibc's open does not use it). */
static const struct {
    const char *name;
    unsigned arg;
} mode_calls[] = {{"chmod", 1},   {"fchmod", 1}, {"fchmodat", 2}, {"fchmodat2", 2}, {"open", 2},
                  {"openat", 3},  {"creat", 1},  {"mknod", 1},    {"mknodat", 2}};

static int mode_call_arg(const char *name)
{
    for (size_t i = 0; i < EF_ARRAY_LEN(mode_calls); i++)
        if (!strcmp(mode_calls[i].name, name))
            return (int)mode_calls[i].arg;
    return -1;
}

#define NS_FLAGS                                                                                   \
    (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |     \
     CLONE_NEWCGROUP)

static int add_rule(ef_ctx *ctx, scmp_filter_ctx f, uint32_t action, const char *name,
                    unsigned n_args, struct scmp_arg_cmp *args)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not on this architecture */
    int rc = seccomp_rule_add_array(f, action, nr, n_args, args);
    if (rc < 0 && rc != -EEXIST)
        return ef_errorf(ctx, EF_ESANDBOX, "seccomp: rule for %s: %s", name, strerror(-rc));
    return 0;
}

static int add_common(ef_ctx *ctx, scmp_filter_ctx f, int net, uint32_t bad, int deny)
{
    int rc = 0;
    /* clone with any namespace flag; clone3 hides its flags in memory: ENOSYS. */
    static const unsigned long ns[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                       CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};
    for (size_t i = 0; deny && i < EF_ARRAY_LEN(ns) && !rc; i++) {
        struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ, ns[i], ns[i]);
        rc = add_rule(ctx, f, bad, "clone", 1, &a);
    }
    if (!rc)
        rc = add_rule(ctx, f, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    /* set-id modes (see mode_calls) */
    for (size_t i = 0; i < EF_ARRAY_LEN(mode_calls) && !rc; i++) {
        static const unsigned long bits[] = {S_ISUID, S_ISGID};
        for (size_t b = 0; b < 2 && !rc; b++) {
            struct scmp_arg_cmp a = {mode_calls[i].arg, SCMP_CMP_MASKED_EQ, bits[b], bits[b]};
            rc = add_rule(ctx, f, SCMP_ACT_ERRNO(EPERM), mode_calls[i].name, 1, &a);
        }
    }
    if (!rc)
        rc = add_rule(ctx, f, SCMP_ACT_ERRNO(ENOSYS), "openat2", 0, NULL);
    /* rlimits of another process: the init may share the program's uid outside
     * (rootless.c), and its limits are what watches the tree; only pid 0 (self) */
    if (!rc) {
        struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_NE, 0);
        rc = add_rule(ctx, f, SCMP_ACT_ERRNO(EPERM), "prlimit64", 1, &a);
    }
    /* terminal injection, whatever the upper 32 bits of the request hold */
    static const unsigned long tio[] = {TIOCSTI, TIOCLINUX};
    for (size_t i = 0; deny && i < EF_ARRAY_LEN(tio) && !rc; i++) {
        struct scmp_arg_cmp a = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, tio[i]);
        rc = add_rule(ctx, f, bad, "ioctl", 1, &a);
    }
    /* sockets: AF_UNIX only without network; never vsock (it crosses namespaces) */
    if (!rc && !net) {
        struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_NE, AF_UNIX);
        rc = add_rule(ctx, f, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1, &a);
    } else if (!rc) {
        struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_EQ, AF_VSOCK);
        rc = add_rule(ctx, f, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1, &a);
    }
    return rc;
}

static int add_allow_rules(ef_ctx *ctx, scmp_filter_ctx f, int net, uint32_t bad)
{
    int rc = add_common(ctx, f, net, bad, 0);
    for (size_t i = 0; i < EF_ARRAY_LEN(allow_list) && !rc; i++) {
        const char *name = allow_list[i];
        if (!strcmp(name, "clone")) {
            struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS, 0);
            rc = add_rule(ctx, f, SCMP_ACT_ALLOW, name, 1, &a);
        } else if (mode_call_arg(name) >= 0) { /* without set-id bits: see add_common */
            struct scmp_arg_cmp a = {(unsigned)mode_call_arg(name), SCMP_CMP_MASKED_EQ,
                                     S_ISUID | S_ISGID, 0};
            rc = add_rule(ctx, f, SCMP_ACT_ALLOW, name, 1, &a);
        } else if (!strcmp(name, "openat2")) { /* ENOSYS: see add_common */
            continue;
        } else if (!strcmp(name, "prlimit64")) { /* self only: see add_common */
            struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_EQ, 0);
            rc = add_rule(ctx, f, SCMP_ACT_ALLOW, name, 1, &a);
        } else if (!strcmp(name, "ioctl")) {
            /* a short list of requests, compared on the low 32 bits */
            for (size_t k = 0; k < EF_ARRAY_LEN(allow_ioctls) && !rc; k++) {
                struct scmp_arg_cmp a = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, allow_ioctls[k]);
                rc = add_rule(ctx, f, SCMP_ACT_ALLOW, name, 1, &a);
            }
        } else if (!strcmp(name, "socket")) {
            struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
            rc = add_rule(ctx, f, SCMP_ACT_ALLOW, name, 1, &a);
            if (!rc && net) {
                static const int fam[] = {AF_INET, AF_INET6, AF_NETLINK};
                for (size_t k = 0; k < EF_ARRAY_LEN(fam) && !rc; k++) {
                    struct scmp_arg_cmp b = SCMP_A0(SCMP_CMP_EQ, fam[k]);
                    rc = add_rule(ctx, f, SCMP_ACT_ALLOW, name, 1, &b);
                }
            }
        } else {
            rc = add_rule(ctx, f, SCMP_ACT_ALLOW, name, 0, NULL);
        }
    }
    return rc;
}

static int add_deny_rules(ef_ctx *ctx, scmp_filter_ctx f, int net, uint32_t bad)
{
    int rc = add_common(ctx, f, net, bad, 1);
    for (size_t i = 0; i < EF_ARRAY_LEN(deny_list) && !rc; i++)
        rc = add_rule(ctx, f, bad, deny_list[i], 0, NULL);
    return rc;
}

/* Exports the filter's BPF through a memfd into insns. */
static int export_bpf(ef_ctx *ctx, scmp_filter_ctx f, ef_sb_filter *out)
{
    int fd = memfd_create("ef-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return ef_errorf(ctx, EF_ESANDBOX, "seccomp: memfd_create: %s", strerror(errno));
    int rc = seccomp_export_bpf(f, fd);
    if (rc < 0) {
        close(fd);
        return ef_errorf(ctx, EF_ESANDBOX, "seccomp: export: %s", strerror(-rc));
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter) ||
        size / (off_t)sizeof(struct sock_filter) > 65535) {
        close(fd);
        return ef_errorf(ctx, EF_ESANDBOX, "seccomp: exported program has %lld bytes",
                         (long long)size);
    }
    struct sock_filter *insns = ef_malloc((size_t)size);
    if (!insns) {
        close(fd);
        return EF_ENOMEM;
    }
    ssize_t got = pread(fd, insns, (size_t)size, 0);
    close(fd);
    if (got != size) {
        ef_free(insns);
        return ef_errorf(ctx, EF_ESANDBOX, "seccomp: reading the exported program failed");
    }
    out->insns = insns;
    out->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
    return 0;
}

int ef_sandbox__filter_build(ef_ctx *ctx, ef_sandbox_profile profile, int net, int notify,
                             ef_sb_filter *out)
{
    uint32_t bad = notify ? SCMP_ACT_NOTIFY : SCMP_ACT_KILL_PROCESS;
    uint32_t def = profile == EF_SANDBOX_PROFILE_ALLOW ? bad : SCMP_ACT_ALLOW;
    scmp_filter_ctx f = seccomp_init(def);
    if (!f)
        return ef_errorf(ctx, EF_ESANDBOX, "seccomp: seccomp_init failed");
    int rc = seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, bad);
    if (rc == 0)
        rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_NNP, 0);
    if (rc == 0)
        rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (rc < 0) {
        seccomp_release(f);
        return ef_errorf(ctx, EF_ESANDBOX, "seccomp: attributes: %s", strerror(-rc));
    }
    rc = profile == EF_SANDBOX_PROFILE_ALLOW ? add_allow_rules(ctx, f, net, bad)
                                             : add_deny_rules(ctx, f, net, bad);
    if (rc == 0)
        rc = export_bpf(ctx, f, out);
    if (rc == 0)
        out->notify = notify;
    seccomp_release(f);
    return rc;
}

void ef_sandbox__filter_free(ef_sb_filter *f)
{
    if (!f)
        return;
    ef_free(f->insns);
    f->insns = NULL;
    f->len = 0;
}

void ef_sandbox__syscall_name(uint32_t arch, int nr, char *buf, size_t len)
{
    if (arch == SCMP_ARCH_X86_64 && (nr & 0x40000000)) {
        char *x = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr & ~0x40000000);
        snprintf(buf, len, "x32:%s", x ? x : "unknown");
        free(x);
        return;
    }
    char *name = seccomp_syscall_resolve_num_arch(arch, nr);
    if (arch == seccomp_arch_native()) {
        snprintf(buf, len, "%s", name ? name : "unknown");
        if (!name)
            snprintf(buf, len, "syscall %d", nr);
    } else {
        const char *an = arch == SCMP_ARCH_X86 ? "i386" : arch == SCMP_ARCH_X32 ? "x32" : "foreign";
        if (name)
            snprintf(buf, len, "%s:%s", an, name);
        else
            snprintf(buf, len, "%s:syscall %d", an, nr);
    }
    free(name);
}

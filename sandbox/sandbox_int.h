/*
 * sandbox/sandbox_int.h — private declarations shared by the sandbox's files.
 *
 * The heart is ef_sb_plan: everything the sandbox's init and the program's process need,
 * computed by the caller's thread before the clone (paths, argv, env, mount steps, the BPF
 * program, rlimits), because those children share the caller's memory and may not
 * allocate, lock or touch errno. They write their outcome back into the same plan.
 */
#ifndef EF_SANDBOX_INT_H
#define EF_SANDBOX_INT_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include "sandbox/sandbox.h"

/* Mount-tree steps executed by the sandbox's init, in order. */
typedef enum {
    EF_SB_OP_MKDIR,   /* path, mode */
    EF_SB_OP_SYMLINK, /* src = target, path */
    EF_SB_OP_BIND,    /* src -> path; flags: EF_SB_BIND_* */
    EF_SB_OP_TMPFS,   /* path, data = mount options */
    EF_SB_OP_PROC,    /* path */
    EF_SB_OP_MKNOD,   /* path, mode, dev */
    EF_SB_OP_WRITE,   /* path, data (NUL-terminated), mode */
    EF_SB_OP_TOUCH    /* path: an empty file (mount point of a file bind) */
} ef_sb_op_kind;

#define EF_SB_BIND_RW 1
#define EF_SB_BIND_OPTIONAL 2 /* a missing source is skipped */
#define EF_SB_BIND_DEV 4      /* keep device nodes usable (not nodev) */

typedef struct {
    ef_sb_op_kind kind;
    int flags;
    unsigned mode;
    unsigned long dev;
    const char *src;
    const char *path; /* absolute host path under the new root */
    const char *data;
} ef_sb_op;

/* Setup steps, named in setup-error results. */
typedef enum {
    EF_SB_STEP_NONE = 0,
    EF_SB_STEP_NETNS,
    EF_SB_STEP_IPCNS,
    EF_SB_STEP_UTSNS,
    EF_SB_STEP_MOUNT_PRIVATE,
    EF_SB_STEP_ROOT_TMPFS,
    EF_SB_STEP_MKDIR,
    EF_SB_STEP_SYMLINK,
    EF_SB_STEP_BIND,
    EF_SB_STEP_REMOUNT_RO,
    EF_SB_STEP_TMPFS,
    EF_SB_STEP_PROC,
    EF_SB_STEP_MKNOD,
    EF_SB_STEP_WRITE,
    EF_SB_STEP_PIVOT_ROOT,
    EF_SB_STEP_TEMPLATE,
    EF_SB_STEP_WORKDIR,
    EF_SB_STEP_HOSTNAME,
    EF_SB_STEP_SPAWN,
    EF_SB_STEP_FDS,
    EF_SB_STEP_RLIMIT,
    EF_SB_STEP_SETUID,
    EF_SB_STEP_USERNS,
    EF_SB_STEP_UIDMAP,
    EF_SB_STEP_CAPS,
    EF_SB_STEP_NO_NEW_PRIVS,
    EF_SB_STEP_SECCOMP,
    EF_SB_STEP_CHDIR,
    EF_SB_STEP_EXEC,
    EF_SB_STEP_CGROUP,
    EF_SB_STEP_SCHED,
    EF_SB_STEP_COUNT_
} ef_sb_step;

const char *ef_sandbox__step_name(int step);

#define EF_SB_MAX_OPS 96
#define EF_SB_MAX_RLIMITS 12
#define EF_SB_MAX_EXE 8

struct sock_filter;

typedef struct {
    /* ---- in: set by the caller's thread ---- */
    int netns_fd;     /* join this network namespace (-1: keep the host's) */
    int full;         /* 1: namespaces + user namespace; 0: weak mode */
    const char *root; /* mount point of the new root (per worker) */
    ef_sb_op ops[EF_SB_MAX_OPS];
    int n_ops;
    const char *hostname;
    /* prepared root: join this template mount namespace and copy it instead of building
     * the tree (-1: build it); then mount these per run */
    int tmpl_fd;
    const char *tmp_opts;    /* tmpfs options of /tmp */
    const char *workdir_src; /* host dir attached at /work, or NULL */
    int idmap_fd;            /* user namespace of the workdir's idmapped mount, or -1 */
    int userns_fd;           /* the worker's user namespace to join (setns), or -1: make one */
    int ipcns_fd;            /* the worker's ipc namespace to join and empty, or -1: a new one */
    int utsns_fd;            /* the worker's uts namespace (hostname set), or -1: a new one */
    int cgns_fd;             /* the worker's cgroup namespace, or -1: a new one */
    int workdir_rw;
    struct {
        const char *src, *dst; /* host path, path inside (its mount point is in the
                                * template) */
        int rw;
    } tbinds[EF_SANDBOX_MAX_BINDS];
    int n_tbinds;
    volatile int tmpl_out_fd;        /* template build: the new namespace's fd */
    int done_fd;                     /* the init writes a byte here when it has the result
                                      * (-1: none); the caller need not wait for its exit */
    volatile int done_fd_init;       /* the same pipe's number in the init's fd table */
    int fds[3 + EF_SANDBOX_MAX_FDS]; /* the program's fd i := fds[i] */
    int n_fds;
    uint32_t outer_uid, outer_gid, inner_uid, inner_gid;
    int set_ids;                   /* 1: switch to outer_uid/gid (the caller is root) */
    int cg_fd[2];                  /* cgroup.procs the program's process joins (-1: none) */
    int cgroup;                    /* 1: the worker's cgroup limits the tree (cgroup.c) */
    int cg_events_fd;              /* the group's oom_kill counter file (-1: none) */
    volatile int cg_events_fd_init; /* its number in the init's fd table (arrange_fds) */
    long long cg_oom_before;       /* its value before the run */
    volatile int cg_oom_seen;      /* the init ended the tree after an OOM kill in it */
    volatile long cg_oom_kills;    /* set by the caller after the run: OOM kills in it */
    volatile int64_t cg_peak_kb;   /* and its peak memory (-1: unknown) */
    volatile long cg_pids_refused; /* and forks refused at pids.max */
    int rootless;                  /* 1: the caller is root only of its own user namespace
                                    * (rootless.c): never make the shared mm dumpable,
                                    * mount /proc before leaving the host's tree */
    const char *uid_map, *gid_map; /* "inner outer 1\n" */
    struct {
        int resource;
        struct rlimit lim;
    } rl[EF_SB_MAX_RLIMITS];
    int n_rl;
    /* what the caller's thread has and the program must not inherit (plan.c): 1 each to
     * reset a real-time scheduling policy, a negative nice, the real-time I/O class, an
     * OOM score below 0 */
    int reset_policy, reset_nice, reset_ioprio, reset_oom;
    /* kernel.shmall to set in the run's ipc namespace ("": leave it): System V shared
     * memory outlives every mapping of it, so neither RLIMIT_AS nor the tree's resident
     * memory sees it; the namespace's total is capped at the memory limit instead */
    char shmall[24];
    volatile int shmall_done; /* the init set it */
    const struct sock_filter *bpf;
    unsigned short bpf_len;
    int notify;          /* 1: the filter reports violations to the init */
    int64_t tree_cpu_ms; /* CPU limit of the whole tree (0: none) */
    long clk_tck;        /* sysconf(_SC_CLK_TCK), for /proc/PID/stat */
    int64_t tree_mem_kb; /* resident limit of the whole tree (0: none) */
    long page_kb;
    const char *exe[EF_SB_MAX_EXE]; /* candidate paths for argv[0], tried in order */
    int n_exe;
    char *const *argv;
    char *const *envp;
    const char *cwd;
    void *prog_stack_top; /* stack of the program's process until its exec */
    /* ---- out: written by the children ---- */
    volatile int listener_fd; /* seccomp notification fd (in the init's table) */
    volatile int prog_pid;
    volatile int step; /* failed setup step (EF_SB_STEP_*) */
    const char *volatile step_path; /* and the path it was about, or NULL */
    volatile int step_errno;
    volatile int prog_status; /* wait status of the program's process */
    volatile int prog_reaped;
    volatile int violation; /* 1: a denied syscall was reported */
    volatile int violation_nr;
    volatile uint32_t violation_arch;
    volatile long tree_maxrss_kb;
    volatile long tree_nvcsw, tree_nivcsw;         /* context switches of every reaped process */
    volatile int64_t tree_utime_us, tree_stime_us; /* every reaped process */
    long caller_hwm_kb; /* the caller's own peak RSS after the run (set by the caller) */
    volatile int result_ready;
    volatile int finish_requested; /* the caller asked the init to end the tree (wall limit,
                                    * output cap) with EF_SB_FINISH_SIG */
    volatile int tree_cpu_exceeded; /* the init ended the tree at the CPU limit */
    volatile long tree_cpu_used_ms;
    volatile int tree_mem_exceeded; /* the init ended the tree at the memory limit */
    volatile long tree_rss_kb;
    volatile long prog_maxrss_kb;
    volatile int64_t prog_utime_us, prog_stime_us;
    /* phase times (CLOCK_MONOTONIC ns): init start, net joined, root built, program
     * exec'd, program reaped, init exiting; printed with EF_SANDBOX_TRACE=1 */
    volatile int64_t t_ns[8];
} ef_sb_plan;

/* child.c: the function the caller clone()s; arg is the plan. Returns the init's exit code. */
int ef_sandbox__init_main(void *arg);
/* child.c: builds a prepared root in a new mount namespace (clone()d with CLONE_NEWNS|
 * CLONE_FILES|CLONE_VM|CLONE_VFORK) and leaves its fd in plan->tmpl_out_fd. */
int ef_sandbox__template_main(void *arg);
/* child.c: sleeps until killed (holds a user namespace open while its maps are written). */
/* A paused child in a new user namespace (make_userns): it takes the outer ids first when
 * set_ids, applies the sandbox limits when `limits`, writes the errno of a failed step (or
 * 0) to ready_fd as an int and pauses (or exits after a failure). */
typedef struct {
    int set_ids, limits, own_memory, ready_fd;
    unsigned uid, gid;
    volatile int err;
} ef_sb_usernsjob;
int ef_sandbox__userns_main(void *arg);
/* A namespace made in a child sharing our memory and fd table (rootless mode, where the
 * thread could not go back to the host's after an unshare): it sets the hostname when
 * asked, opens its own namespace file `path` into fd (or errno into err) and exits. */
typedef struct {
    const char *path;
    const char *hostname;
    volatile int fd, err;
} ef_sb_nsjob;
int ef_sandbox__ns_main(void *arg);

/* seccomp.c: the BPF program of a profile (cached per worker by the caller). */
typedef struct {
    struct sock_filter *insns;
    unsigned short len;
    int notify;
} ef_sb_filter;
int ef_sandbox__filter_build(ef_ctx *ctx, ef_sandbox_profile profile, int net, int notify,
                             ef_sb_filter *out);
void ef_sandbox__filter_free(ef_sb_filter *f);
/* "ptrace", or "i386:execve" for a foreign ABI, into buf. */
void ef_sandbox__syscall_name(uint32_t arch, int nr, char *buf, size_t len);

/* cgroup.c: the worker's control group (v2, or v1 memory + pids). */
typedef struct {
    int version;        /* 0: none, 1: v1, 2: v2 */
    char dir[2][1200];  /* v2: dir[0]; v1: the memory and the pids group */
    int procs_fd[2];    /* their cgroup.procs, written by the program's process */
    int events_fd;      /* memory.events (v2) / memory.oom_control (v1): oom_kill */
    int peak_fd;        /* memory.peak / memory.max_usage_in_bytes (-1: not resettable) */
    int pids_events_fd; /* pids.events: max */
    int64_t mem_set, pids_set; /* the limits written last (-2: unknown) */
    long long oom_before, pids_before;
    const char *why; /* static: why there is none */
    int want;        /* the worker asked for one (kept across a close and a new open) */
    int use_now;     /* the run being planned uses it (run.c) */
} ef_sb_cgroup;
void ef_sandbox__cgroup_init(ef_sb_cgroup *cg);
int ef_sandbox__cgroup_open(ef_sb_cgroup *cg);
void ef_sandbox__cgroup_close(ef_sb_cgroup *cg);
/* Writes the run's limits (when they changed), resets the peak, notes the counters. */
int ef_sandbox__cgroup_prepare(ef_sb_cgroup *cg, int64_t mem_bytes, int64_t procs);
/* What the run did: OOM kills, peak memory (kB, -1 unknown), forks refused at pids.max. */
void ef_sandbox__cgroup_collect(ef_sb_cgroup *cg, long *oom_kills, int64_t *peak_kb,
                                long *pids_refused);

/* spawn.c: clone the init; the process handle the caller keeps. */
typedef struct {
    pid_t pid;
    int pidfd;
    void *stack;
    size_t stack_len;
    double t0;          /* ef_now_s at spawn */
    int userns_slot;    /* the worker's user namespace it runs in, or -1 */
    long nvcsw, nivcsw; /* set by ef_sandbox__reap: context switches of the whole tree */
} ef_sb_proc;

/* worker.c */
struct ef_sandbox_worker {
    int netns_fd;   /* the reusable empty network namespace, -1 when none */
    int utsns_fd;   /* the reusable uts namespace (hostname "sandbox"), -1 when none */
    int cgns_fd;    /* the reusable cgroup namespace, -1 when none */
    int devnull_fd; /* /dev/null, read-only: the stdin of runs without one */
    char root[128]; /* mount point of new roots (an empty host dir) */
    uint32_t uid, gid;
    int full;               /* user namespaces usable */
    const char *why_weak;   /* static message when !full */
    int notify_ok;          /* seccomp user notification works here */
    ef_sb_proc pending[16]; /* inits that delivered their result and are still exiting */
    int n_pending;
    void *stacks[18]; /* child stacks kept for reuse (mapping and unmapping them
                       * costs TLB shootdowns in a process whose mm is shared) */
    int n_stacks;
    struct {
        char key[1200]; /* network flag + the binds' mount points */
        struct {
            dev_t dev;
            ino_t ino;
            int64_t mtime_ns;
        } files[16]; /* host files bound in it: a replaced one makes it stale */
        int n_files;
        double checked_s; /* last check of the files */
        int fd;           /* the template mount namespace */
        uint64_t used;
    } tmpl[4]; /* prepared roots, least recently used replaced */
    int n_tmpl;
    char tmpl_paths[4][16][160]; /* the host files each template binds */
    uint64_t tmpl_clock;
    int tmpl_broken;  /* 1: templates failed here; build roots per run */
    int idmap_fd;     /* user namespace mapping host root to the outer uid, or -1 */
    int userns_fd[4]; /* user namespaces runs join: inner uid 1000 = outer uid */
    int ipcns_fd[4];  /* ipc namespaces that go with them */
    long long ipc_shmall[4]; /* the kernel.shmall last set in each (pages; 0: the default) */
    int n_userns, userns_next;
    int userns_broken;          /* 1: making them failed here; runs make their own */
    ef_sb_filter filters[2][2]; /* [profile][net] */
    int have_filter[2][2];
    ef_sb_cgroup cg; /* version 0: none (cg.why) */
};
int ef_sandbox__worker_filter(ef_ctx *ctx, ef_sandbox_worker *w, ef_sandbox_profile profile,
                              int net, const ef_sb_filter **out);

/* plan.c: fills the plan's mount steps, argv, env, rlimits; strings live in arena. */
typedef struct {
    char *buf;
    size_t len, cap;
} ef_sb_arena;
/* session: 1 for a session's plan (it stays out of the worker's cgroup). */
int ef_sandbox__plan_build(ef_ctx *ctx, ef_sandbox_worker *w, const ef_sandbox_options *o,
                           const char *const *argv, int session, ef_sb_plan *plan,
                           ef_sb_arena *arena);
void ef_sandbox__arena_free(ef_sb_arena *a);
/* worker.c: the worker's prepared root for this network setting (built on first use);
 * -1 when unavailable (the run then builds its root itself). */
int ef_sandbox__worker_template(ef_ctx *ctx, ef_sandbox_worker *w, const ef_sandbox_options *o);
/* plan.c: the steps of a prepared root (no per-run mounts). */
int ef_sandbox__plan_template(ef_ctx *ctx, ef_sandbox_worker *w, const ef_sandbox_options *o,
                              ef_sb_plan *plan, ef_sb_arena *arena);
/* worker.c: the next of the worker's user namespaces for a run (*slot: its index), once
 * the last run in it is wholly gone; -1 (and no error) when the run makes its own. */
int ef_sandbox__worker_userns(ef_ctx *ctx, ef_sandbox_worker *w, int *slot);
/* worker.c: a user namespace of its own (uid 1000 inside = the outer uid) for a run that
 * cannot take one of the worker's (a session); close *out once the program joined it. */
int ef_sandbox__userns_new(ef_ctx *ctx, ef_sandbox_worker *w, int *out);
/* worker.c: the ipc namespace of a slot of ef_sandbox__worker_userns. */
int ef_sandbox__worker_ipcns(const ef_sandbox_worker *w, int slot);
/* worker.c: the worker's idmap user namespace (made on first use). */
int ef_sandbox__worker_idmap(ef_ctx *ctx, ef_sandbox_worker *w, int *out);
/* plan.c: the template key of o into buf; 0 when o can use a template at all. */
int ef_sandbox__template_key(const ef_sandbox_options *o, char *buf, size_t len);

int ef_sandbox__spawn(ef_ctx *ctx, ef_sandbox_worker *w, ef_sb_plan *plan, ef_sb_proc *proc);
/* Waits for the init (which must have exited or be killed), fills CPU times. */
int ef_sandbox__reap(ef_sandbox_worker *w, ef_sb_proc *proc, int *status, double *user_ms,
                     double *sys_ms);
void ef_sandbox__kill(ef_sb_proc *proc);
/* Asks the init to end the tree itself: it kills every process, reaps them (so their CPU
 * time and peak memory count) and delivers the result. SIGKILL to the init would lose
 * those: the kernel then reaps the tree without accounting it to anyone. */
#define EF_SB_FINISH_SIG SIGUSR1
void ef_sandbox__finish(ef_sb_proc *proc);
/* Reaps the worker's exiting inits: those done without waiting; all when wait_all. */
void ef_sandbox__worker_reap_pending(ef_sandbox_worker *w, int wait_all);
void ef_sandbox__worker_free_stacks(ef_sandbox_worker *w);
/* Hands an init that delivered its result to the worker to reap later. */
void ef_sandbox__worker_defer(ef_sandbox_worker *w, ef_sb_proc *proc);

/* result.c: classification from the plan's outcome. */
void ef_sandbox__classify(ef_sandbox_result *r, const ef_sb_plan *plan, const ef_sandbox_options *o,
                          int init_status, int killed_for);
int ef_sandbox__result_new(ef_sandbox_result **out);
int ef_sandbox__opts_check(ef_ctx *ctx, const ef_sandbox_options *o);

/* rootless.c: 1 when ef_sandbox_rootless_enter moved the process into its own user
 * namespace; the reason it did not (or NULL). */
int ef_sandbox__rootless(void);
const char *ef_sandbox__rootless_why(void);

/* Why the caller killed the tree. */
enum { EF_SB_KILL_NONE = 0, EF_SB_KILL_WALL, EF_SB_KILL_OUTPUT, EF_SB_KILL_CALLER };

#endif

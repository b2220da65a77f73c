/*
 * sandbox/sandbox.h — isolation of untrusted code: namespaces, seccomp, limits, results,
 * persistent sessions.
 *
 * Overview
 *   Everything a model writes runs through here. A run puts argv in fresh user, pid, mount,
 *   ipc, uts and cgroup namespaces and an empty network namespace; the root is a fresh
 *   tmpfs with read-only binds of /usr, /bin, /lib*, a few chosen /etc files, a size-capped
 *   writable /tmp, an optional workdir bind, /proc of the new pid namespace and a minimal
 *   /dev. The program runs as a fixed inner uid (1000) mapped to a non-zero outer uid (the
 *   caller's own when the caller is not root: ef_sandbox_rootless_enter), with
 *   no capabilities, no_new_privs, a seccomp filter (compiled once per worker), an empty
 *   environment plus chosen variables and only chosen file descriptors. Limits: wall time,
 *   CPU time, memory, processes, output bytes per stream, file size, open files, no core
 *   dumps; at any limit the whole process tree dies (the pid namespace's init exits).
 *
 *   A worker (ef_sandbox_worker) holds what is reused between runs: the empty network
 *   namespace, the compiled filters, the prepared root (a template mount namespace that
 *   runs copy instead of building their own tree), the outer uid, and the inits of past
 *   runs still tearing their namespaces down (a run returns as soon as its result is
 *   known, after every process in it was SIGKILLed). One worker per thread; workers share
 *   nothing, so threads run sandboxes concurrently. A sandbox's init dies with the thread
 *   that started it (PR_SET_PDEATHSIG): keep sessions on long-lived threads.
 *
 *   Files a sandbox wrote into a writable workdir are the attacker's: read them with
 *   O_NOFOLLOW (it may have planted symlinks to host files).
 *
 *   Sessions keep one sandboxed process alive (a REPL) and talk to it over its stdin and
 *   stdout: write a request, read until a delimiter or a length-prefixed frame, each call
 *   with its own timeout. A session that dies is reported and can be restarted.
 *
 * Example
 *   ef_sandbox_worker *w;
 *   if (ef_sandbox_worker_new(ctx, NULL, &w) < 0) die(ef_errmsg(ctx));
 *   ef_sandbox_options o = EF_SANDBOX_OPTIONS_INIT;
 *   o.wall_ms = 2000; o.mem_bytes = 256u << 20;
 *   const char *argv[] = {"python3", "-c", "print(6*7)", NULL};
 *   ef_sandbox_result *r;
 *   if (ef_sandbox_run(ctx, w, &o, argv, &r) == 0) {
 *       printf("%s %d %s", ef_sandbox_status_name(r->status), r->exit_code, r->out.data);
 *       char *json = ef_sandbox_result_json(r);   // ef_free
 *       ...
 *       ef_sandbox_result_free(r);
 *   }
 *   ef_sandbox_worker_free(w);
 *
 * Errors: ef_sandbox_run returns 0 whenever a result exists, including setup-error and
 * every limit (the status says what happened); it returns < 0 only when no result could be
 * made (bad options, out of memory, untrusted code refused: EF_ESANDBOX with the reason).
 */
#ifndef EF_SANDBOX_H
#define EF_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include "common/ef.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- results ------------------------------------------------------------------ */

typedef enum {
    EF_SANDBOX_OK = 0,           /* exited 0 */
    EF_SANDBOX_NONZERO_EXIT = 1, /* exited with a non-zero code */
    EF_SANDBOX_SIGNALED = 2,     /* killed by a signal it did not get from a limit */
    EF_SANDBOX_TIMEOUT = 3,      /* wall-clock limit */
    EF_SANDBOX_CPU_LIMIT = 4,    /* CPU-time limit */
    EF_SANDBOX_MEMORY_LIMIT = 5, /* memory limit */
    EF_SANDBOX_OUTPUT_LIMIT = 6, /* a stream passed its byte cap */
    EF_SANDBOX_SECCOMP = 7,      /* a denied system call; detail names it */
    EF_SANDBOX_SETUP_ERROR = 8,  /* the sandbox could not be built; detail names the step */
    EF_SANDBOX_STATUS_COUNT_ = 9
} ef_sandbox_status;

typedef struct {
    char *data;    /* NUL-terminated, may contain other NULs; never NULL in a result */
    size_t len;    /* bytes kept (at most the cap) */
    size_t total;  /* bytes the program wrote (counted up to the kill) */
    int truncated; /* 1 when total > len */
} ef_sandbox_stream;

typedef struct {
    ef_sandbox_status status;
    char detail[128]; /* syscall name (seccomp), setup step, limit, or "" */
    int exit_code;    /* -1 unless it exited */
    int signal;       /* 0 unless killed by a signal */
    double wall_ms;   /* from spawn to the death of the whole tree */
    double cpu_ms;    /* user + system of the whole tree */
    double user_ms, sys_ms;
    int64_t peak_rss_kb;   /* largest resident set of any process in the tree */
    int peak_rss_exact;    /* 0: the tree stayed below the caller's own peak, and the
                            * kernel credits a vfork child with its parent's memory at exec,
                            * so peak_rss_kb is only what the 100 ms polls saw (see
                            * docs/sandbox.md) */
    int64_t csw_voluntary; /* context switches of the tree: waits (I/O, sleep, locks) */
    int64_t csw_forced;    /* and preemptions (time slice over, a higher priority task) */
    ef_sandbox_stream out; /* stdout */
    ef_sandbox_stream err; /* stderr */
    const char *isolation; /* "full" or "weak" (no user namespace); static string */
    int rootless;          /* 1: full isolation set up by an unprivileged caller (its own
                            * user namespace, ef_sandbox_rootless_enter) */
    int cgroup;            /* 1: the tree's memory and processes were limited by a cgroup
                            * (exact; memory-limit then means the kernel OOM-killed in it) */
    int64_t mem_peak_kb;   /* the cgroup's peak memory (anonymous, page cache, tmpfs) during
                            * the run; -1 unknown (no cgroup, or v2 before Linux 6.12) */
    long procs_refused;    /* forks the cgroup's pids.max refused (0 without a cgroup) */
    int setup_errno;       /* errno of the failed setup step, 0 otherwise */
} ef_sandbox_result;

/* "ok", "nonzero-exit", "signaled", "timeout", "cpu-limit", "memory-limit",
 * "output-limit", "seccomp-violation", "setup-error". Never NULL. */
const char *ef_sandbox_status_name(ef_sandbox_status s);
/* The result as one JSON object (compact); ef_free. NULL when out of memory. */
char *ef_sandbox_result_json(const ef_sandbox_result *r);
void ef_sandbox_result_free(ef_sandbox_result *r);

/* ---- options ------------------------------------------------------------------ */

#define EF_SANDBOX_OPTIONS_VERSION 1
#define EF_SANDBOX_MAX_BINDS 16
#define EF_SANDBOX_MAX_FDS 8

typedef enum {
    EF_SANDBOX_PROFILE_DENY = 0, /* allow by default, deny the dangerous list */
    EF_SANDBOX_PROFILE_ALLOW = 1 /* allow-list: only what ordinary programs need */
} ef_sandbox_profile;

typedef struct {
    const char *src; /* host path */
    const char *dst; /* absolute path inside the sandbox */
    int writable;    /* 0: read-only */
} ef_sandbox_bind;

typedef struct {
    int version; /* EF_SANDBOX_OPTIONS_VERSION */
    /* limits; 0 means "no limit" for wall/cpu/mem, defaults are set by the INIT macro */
    int64_t wall_ms;        /* wall clock (default 10 s) */
    int64_t cpu_ms;         /* CPU time of the tree (and of each process; default 10 s) */
    int64_t mem_bytes;      /* address space per process, resident memory of the tree
                             * (default 1 GiB) */
    int64_t procs;          /* processes in the tree (default 64) */
    int64_t out_bytes;      /* cap per stream (default 1 MiB) */
    int64_t file_bytes;     /* largest file written (default 64 MiB) */
    int64_t open_files;     /* open files per process (default 256) */
    int64_t tmp_bytes;      /* size of /tmp (default 64 MiB) */
    int output_limit_kills; /* 1 (default): passing out_bytes ends the run */
    int net;                /* 1: share the host network (default 0: empty namespace) */
    ef_sandbox_profile profile;
    const char *workdir;  /* host dir bound at /work and made the cwd, or NULL */
    int workdir_writable; /* default 1 */
    ef_sandbox_bind binds[EF_SANDBOX_MAX_BINDS];
    int n_binds;
    const char *const *env; /* extra "K=V" (NULL-terminated) on top of PATH, HOME, LANG */
    const char *cwd;        /* cwd inside (default: /work with a workdir, else /tmp) */
    const void *stdin_data; /* bytes fed to stdin (default: /dev/null) */
    size_t stdin_len;
    const int *extra_fds; /* host fds handed over as 3, 4, ... (only these) */
    int n_extra_fds;
    int allow_weak;    /* 1: without user namespaces run anyway (weak isolation) */
    int force_weak;    /* testing: behave as if user namespaces were missing */
    int per_run_root;  /* 1: build this run's root from scratch instead of copying
                        * the worker's prepared one (slower; for tests/debugging) */
    int workdir_idmap; /* 1: attach the workdir as an idmapped mount that shows files owned
                        * by host root as the sandbox's own (and writes them as root's):
                        * no ef_sandbox_dir_chown needed. Needs a filesystem with idmapped
                        * mounts (ext4, xfs, btrfs, tmpfs...) and the prepared root. */
} ef_sandbox_options;

#define EF_SANDBOX_OPTIONS_INIT                                                                    \
    {                                                                                              \
        EF_SANDBOX_OPTIONS_VERSION, 10000, 10000, (int64_t)1 << 30, 64, (int64_t)1 << 20,          \
            (int64_t)64 << 20, 256, (int64_t)64 << 20, 1, 0, EF_SANDBOX_PROFILE_DENY, NULL, 1,     \
            {{NULL, NULL, 0}}, 0, NULL, NULL, NULL, 0, NULL, 0, 0, 0, 0, 0                         \
    }

/* ---- workers ------------------------------------------------------------------ */

typedef struct ef_sandbox_worker ef_sandbox_worker;

#define EF_SANDBOX_WORKER_OPTIONS_VERSION 1
typedef struct {
    int version;
    int slot;          /* picks the outer uid: uid_base + slot (isolates workers) */
    uint32_t uid_base; /* default 60000 */
    int cgroup;        /* 1: limit each run's tree with a cgroup of the worker's where one
                        * can be had (memory and processes exact and tree-wide, no address-
                        * space limit; but moving each program into it costs the kernel an
                        * RCU grace period, 1-25 ms of latency per run here: docs/sandbox.md);
                        * 0: rlimits and polls; -1 (default): as EF_SANDBOX_CGROUP says (unset
                        * or 0: off; 1: on; a directory: on, below that cgroup v2 group) */
} ef_sandbox_worker_options;
#define EF_SANDBOX_WORKER_OPTIONS_INIT                                                             \
    {                                                                                              \
        EF_SANDBOX_WORKER_OPTIONS_VERSION, 0, 60000, -1                                            \
    }

/* A worker: the reusable state of one thread. wopts may be NULL. *out: ef_sandbox_worker_free. */
int ef_sandbox_worker_new(ef_ctx *ctx, const ef_sandbox_worker_options *wopts,
                          ef_sandbox_worker **out);
void ef_sandbox_worker_free(ef_sandbox_worker *w);
/* The outer uid/gid the worker's sandboxes run as (files a writable bind must let them
 * write: see ef_sandbox_dir_chown). */
uint32_t ef_sandbox_worker_uid(const ef_sandbox_worker *w);
/* 1 when this machine gives full isolation (user namespaces); else why not in *why. */
int ef_sandbox_worker_full(const ef_sandbox_worker *w, const char **why);
/* 1 when the worker has a cgroup for its runs (options.cgroup); else why not in *why. */
int ef_sandbox_worker_cgroup(const ef_sandbox_worker *w, const char **why);
/* Gives the tree under path to the worker's outer uid/gid (for writable workdirs). */
int ef_sandbox_dir_chown(ef_ctx *ctx, const ef_sandbox_worker *w, const char *path);

/* Full isolation for a caller that is not root: call first thing in main(), while the
 * process has one thread. It moves the process into a user namespace of its own that maps
 * only its uid and gid, as bubblewrap and podman do, which gives it the capabilities to
 * build sandboxes and none over the host (see sandbox/rootless.c). Returns 1 when it did,
 * 0 when there is no need (root) or no way (workers then report why, and runs are refused
 * unless allow_weak). EF_SANDBOX_ROOTLESS=0 in the environment turns it off. */
int ef_sandbox_rootless_enter(void);

/* ---- one run ------------------------------------------------------------------ */

/* Runs argv (argv[0] is searched in PATH inside the sandbox unless it has a '/').
 * *out: ef_sandbox_result_free. opts may be NULL (defaults). */
int ef_sandbox_run(ef_ctx *ctx, ef_sandbox_worker *w, const ef_sandbox_options *opts,
                   const char *const *argv, ef_sandbox_result **out);

/* ---- sessions ------------------------------------------------------------------
 *
 *   ef_sandbox_session *s;
 *   const char *argv[] = {"python3", "-u", "-c", DRIVER, NULL};
 *   ef_sandbox_session_start(ctx, w, &o, argv, &s);
 *   char *reply; size_t len;
 *   rc = ef_sandbox_session_call(ctx, s, "print(1+1)\n", 11, "\x1e", 1000, &reply, &len);
 *   // rc == EF_ETIMEOUT: the call timed out and the session was ended (see _result)
 *   if (!ef_sandbox_session_alive(s)) { ef_sandbox_session_result(s)...; restart }
 *   ef_sandbox_session_free(s);
 *
 * opts->wall_ms bounds the whole session's life (0: none); cpu/mem/procs/file limits are
 * those of a run; opts->out_bytes caps each reply. stderr is captured (capped) and
 * returned by ef_sandbox_session_stderr. After a timeout, an output limit or the death
 * of the process, calls fail with EF_ESANDBOX and ef_sandbox_session_result says why.
 */
typedef struct ef_sandbox_session ef_sandbox_session;

int ef_sandbox_session_start(ef_ctx *ctx, ef_sandbox_worker *w, const ef_sandbox_options *opts,
                             const char *const *argv, ef_sandbox_session **out);
/* Writes the whole request to the process's stdin (within timeout_ms). */
int ef_sandbox_session_write(ef_ctx *ctx, ef_sandbox_session *s, const void *data, size_t len,
                             int64_t timeout_ms);
/* Reads stdout until delim (delim_len bytes) appears; *out (ef_free) holds what came
 * before it, NUL-terminated, *out_len its length. Bytes after the delimiter stay queued. */
int ef_sandbox_session_read_until(ef_ctx *ctx, ef_sandbox_session *s, const void *delim,
                                  size_t delim_len, int64_t timeout_ms, char **out,
                                  size_t *out_len);
/* write + read_until under one timeout. */
int ef_sandbox_session_call(ef_ctx *ctx, ef_sandbox_session *s, const void *req, size_t req_len,
                            const void *delim, size_t delim_len, int64_t timeout_ms, char **out,
                            size_t *out_len);
/* Length-prefixed frames: 4-byte little-endian length, then the bytes. */
int ef_sandbox_session_send_frame(ef_ctx *ctx, ef_sandbox_session *s, const void *data, size_t len,
                                  int64_t timeout_ms);
int ef_sandbox_session_recv_frame(ef_ctx *ctx, ef_sandbox_session *s, int64_t timeout_ms,
                                  char **out, size_t *out_len);
/* 1 while the process lives and no limit ended it. */
int ef_sandbox_session_alive(ef_sandbox_session *s);
/* What ended the session (status ok while alive). Borrowed; valid until restart/free. */
const ef_sandbox_result *ef_sandbox_session_result(ef_sandbox_session *s);
/* stderr captured so far (capped at out_bytes). Borrowed. */
const char *ef_sandbox_session_stderr(ef_sandbox_session *s, size_t *len);
/* Ends the process (if alive) and starts the same command again with a fresh sandbox. */
int ef_sandbox_session_restart(ef_ctx *ctx, ef_sandbox_session *s);
/* Kills the tree and frees. Accepts NULL. */
void ef_sandbox_session_free(ef_sandbox_session *s);

/* ---- component status ---------------------------------------------------------- */

/* 1: the sandbox is built. */
int ef_sandbox_available(void);
/* What is missing, for messages ("" when available). Borrowed. */
const char *ef_sandbox_missing(void);

#ifdef __cplusplus
}
#endif
#endif /* EF_SANDBOX_H */

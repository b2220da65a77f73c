/*
 * tests/bench/sandbox_bench.c — sandbox speed against plain vfork+exec, bubblewrap and
 * firejail (where installed), for /bin/true and `python3 -c pass`, sequentially and with
 * one thread per core; and a session running sequential `print(1+1)` calls to one Python
 * process, against a fresh sandboxed python3 per call.
 *
 *   bench_sandbox [N_RUNS] [N_SESSION_CALLS]
 *
 * Prints runs/s, p50 and p99 per runner and the ratios the issue sets targets for
 * (envforge >= 0.8x plain exec, >= 4x bubblewrap; session >= 500 calls/s).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sandbox/sandbox.h"

extern char **environ;

typedef enum { R_PLAIN, R_ENVFORGE, R_ENVFORGE_CG, R_BWRAP, R_FIREJAIL, R_COUNT } runner;
/* envforge twice: as by default (rlimits), and with the worker's cgroup where one can be
 * had (exact limits; a move into the cgroup per run) */
static const char *const runner_names[R_COUNT] = {"plain vfork+exec", "envforge sandbox",
                                                  "envforge, cgroup", "bubblewrap", "firejail"};

typedef struct {
    runner kind;
    const char *const *cmd; /* the program and its args */
    int n;                  /* runs for this thread */
    int slot;
    double *lat_ms; /* n latencies */
    int failures;
} job;

static int spawn_wait(const char *const *argv)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* argv for bwrap/firejail around cmd: same read-only binds as envforge's root. */
static int wrap(runner kind, const char *const *cmd, const char **out, int cap)
{
    int k = 0;
    if (kind == R_BWRAP) {
        static const char *const pre[] = {"bwrap",
                                          "--unshare-all",
                                          "--die-with-parent",
                                          "--new-session",
                                          "--ro-bind",
                                          "/usr",
                                          "/usr",
                                          "--symlink",
                                          "usr/bin",
                                          "/bin",
                                          "--symlink",
                                          "usr/sbin",
                                          "/sbin",
                                          "--symlink",
                                          "usr/lib",
                                          "/lib",
                                          "--symlink",
                                          "usr/lib64",
                                          "/lib64",
                                          "--symlink",
                                          "usr/lib32",
                                          "/lib32",
                                          "--ro-bind",
                                          "/etc/ld.so.cache",
                                          "/etc/ld.so.cache",
                                          "--ro-bind",
                                          "/etc/alternatives",
                                          "/etc/alternatives",
                                          "--proc",
                                          "/proc",
                                          "--dev",
                                          "/dev",
                                          "--tmpfs",
                                          "/tmp",
                                          "--chdir",
                                          "/tmp",
                                          "--clearenv",
                                          "--setenv",
                                          "PATH",
                                          "/usr/bin:/bin",
                                          "--"};
        for (size_t i = 0; i < sizeof pre / sizeof *pre && k < cap; i++)
            out[k++] = pre[i];
    } else if (kind == R_FIREJAIL) {
        static const char *const pre[] = {"firejail",  "--quiet",       "--noprofile", "--net=none",
                                          "--private", "--private-dev", "--"};
        for (size_t i = 0; i < sizeof pre / sizeof *pre && k < cap; i++)
            out[k++] = pre[i];
    }
    for (int i = 0; cmd[i] && k < cap - 1; i++)
        out[k++] = cmd[i];
    out[k] = NULL;
    return k;
}

static void *run_job(void *p)
{
    job *j = p;
    ef_ctx *ctx = ef_ctx_new();
    ef_sandbox_worker *w = NULL;
    ef_sandbox_options o = EF_SANDBOX_OPTIONS_INIT;
    if (j->kind == R_ENVFORGE || j->kind == R_ENVFORGE_CG) {
        ef_sandbox_worker_options wo = EF_SANDBOX_WORKER_OPTIONS_INIT;
        wo.slot = j->slot;
        wo.cgroup = j->kind == R_ENVFORGE_CG;
        if (ef_sandbox_worker_new(ctx, &wo, &w) < 0) {
            fprintf(stderr, "worker: %s\n", ef_errmsg(ctx));
            j->failures = j->n;
            ef_ctx_free(ctx);
            return NULL;
        }
    }
    const char *argv[64];
    wrap(j->kind, j->cmd, argv, 64);
    for (int i = 0; i < j->n; i++) {
        double t0 = ef_now_s();
        int ok;
        if (j->kind == R_ENVFORGE || j->kind == R_ENVFORGE_CG) {
            ef_sandbox_result *r = NULL;
            int rc = ef_sandbox_run(ctx, w, &o, argv, &r);
            ok = rc == 0 && r->status == EF_SANDBOX_OK;
            if (!ok && j->failures < 3)
                fprintf(stderr, "envforge run failed: %s %s %s\n",
                        r ? ef_sandbox_status_name(r->status) : ef_errmsg(ctx), r ? r->detail : "",
                        r ? r->err.data : "");
            ef_sandbox_result_free(r);
        } else {
            ok = spawn_wait(argv) == 0;
        }
        j->lat_ms[i] = (ef_now_s() - t0) * 1e3;
        if (!ok)
            j->failures++;
    }
    ef_sandbox_worker_free(w);
    ef_ctx_free(ctx);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double rate, p50, p99;
    double cpu_us; /* CPU per run of every process involved (user + system) */
    int failures;
} stats;

/* User + system seconds of this process and of every child it reaped (a reaped child's
 * figure includes what it reaped: bwrap's and firejail's trees, the sandbox's inits). */
static double cpu_now_s(void)
{
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    getrusage(RUSAGE_CHILDREN, &b);
    return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) +
           (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec +
                    b.ru_stime.tv_usec) /
               1e6;
}

static stats measure(runner kind, const char *const *cmd, int n, int threads)
{
    stats s = {0, 0, 0, 0, 0};
    job jobs[8];
    pthread_t t[8];
    double *lat = calloc((size_t)n * (size_t)threads, sizeof(double));
    /* warm-up: one run (filter compile, page cache) */
    double warm[1];
    job wj = {kind, cmd, 1, 30, warm, 0};
    run_job(&wj);
    double t0 = ef_now_s(), c0 = cpu_now_s();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){kind, cmd, n, 20 + i, lat + (size_t)i * n, 0};
        pthread_create(&t[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        s.failures += jobs[i].failures;
    }
    double dt = ef_now_s() - t0;
    int total = n * threads;
    s.cpu_us = (cpu_now_s() - c0) / total * 1e6;
    qsort(lat, (size_t)total, sizeof(double), cmp_double);
    s.rate = total / dt;
    s.p50 = lat[total / 2];
    s.p99 = lat[(int)(total * 0.99) < total ? (int)(total * 0.99) : total - 1];
    free(lat);
    return s;
}

static int have(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

static const char repl_driver[] = "import sys\n"
                                  "g = {}\n"
                                  "for line in sys.stdin:\n"
                                  "    exec(line, g)\n"
                                  "    sys.stdout.write('\\x1e\\n'); sys.stdout.flush()\n";

static double bench_session(int n_calls, double *p50, double *p99)
{
    ef_ctx *ctx = ef_ctx_new();
    ef_sandbox_worker *w = NULL;
    ef_sandbox_session *s = NULL;
    ef_sandbox_options o = EF_SANDBOX_OPTIONS_INIT;
    o.wall_ms = 0;
    const char *argv[] = {"python3", "-u", "-c", repl_driver, NULL};
    double rate = 0;
    double *lat = calloc((size_t)n_calls, sizeof(double));
    if (ef_sandbox_worker_new(ctx, NULL, &w) < 0 ||
        ef_sandbox_session_start(ctx, w, &o, argv, &s) < 0) {
        fprintf(stderr, "session: %s\n", ef_errmsg(ctx));
        goto done;
    }
    int ok = 0;
    double t0 = ef_now_s();
    for (int i = 0; i < n_calls; i++) {
        char *out = NULL;
        size_t len;
        double c0 = ef_now_s();
        if (ef_sandbox_session_call(ctx, s, "print(1+1)\n", 11, "\x1e\n", 2, 5000, &out, &len) ==
                0 &&
            !strcmp(out, "2\n"))
            ok++;
        lat[i] = (ef_now_s() - c0) * 1e3;
        ef_free(out);
    }
    double dt = ef_now_s() - t0;
    rate = ok / dt;
    qsort(lat, (size_t)n_calls, sizeof(double), cmp_double);
    *p50 = lat[n_calls / 2];
    *p99 = lat[(int)(n_calls * 0.99)];
    if (ok != n_calls)
        fprintf(stderr, "session: %d of %d calls answered 2\n", ok, n_calls);
done:
    free(lat);
    ef_sandbox_session_free(s);
    ef_sandbox_worker_free(w);
    ef_ctx_free(ctx);
    return rate;
}

int main(int argc, char **argv)
{
    /* a non-root user gets full isolation through a user namespace of its own */
    int rootless = ef_sandbox_rootless_enter();
    int n = argc > 1 ? atoi(argv[1]) : 300;
    int n_calls = argc > 2 ? atoi(argv[2]) : 1000;
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 8)
        cores = 8;
    if (cores < 1)
        cores = 1;
    const char *true_cmd[] = {"/bin/true", NULL};
    const char *py_cmd[] = {"/usr/bin/python3", "-c", "pass", NULL};
    const char *const *cmds[2] = {true_cmd, py_cmd};
    const char *cmd_names[2] = {"/bin/true", "python3 -c pass"};
    int avail[R_COUNT] = {1, 1, 1, have("bwrap"), have("firejail")};
    double py_env_rate = 0;
    printf("sandbox bench: %d runs per thread, threads 1 and %d, session %d calls%s\n", n, cores,
           n_calls, rootless ? " (rootless: as a non-root user)" : "");
    printf("(cpu us/run: user + system of every process this bench reaped, and of what they\n"
           " reaped; bubblewrap and firejail do not always wait for their inner processes, so\n"
           " theirs can leave out the command itself)\n");
    for (int c = 0; c < 2; c++) {
        int nc = c == 0 ? n : (n / 4 > 20 ? n / 4 : 20); /* python is ~10x slower */
        for (int threads = 1; threads <= cores; threads = threads == cores ? cores + 1 : cores) {
            stats st[R_COUNT];
            printf("\n%s, %d thread%s, %d runs each:\n", cmd_names[c], threads,
                   threads > 1 ? "s" : "", nc);
            printf("  %-18s %10s %9s %9s %12s %s\n", "runner", "runs/s", "p50 ms", "p99 ms",
                   "cpu us/run", "failures");
            for (int r = 0; r < R_COUNT; r++) {
                if (!avail[r]) {
                    printf("  %-18s (not installed)\n", runner_names[r]);
                    continue;
                }
                st[r] = measure((runner)r, cmds[c], nc, threads);
                printf("  %-18s %10.1f %9.3f %9.3f %12.0f %d\n", runner_names[r], st[r].rate,
                       st[r].p50, st[r].p99, st[r].cpu_us, st[r].failures);
            }
            printf(
                "  envforge / plain exec: %.2fx throughput (target >= 0.80), %.2fx CPU per run\n",
                st[R_ENVFORGE].rate / st[R_PLAIN].rate, st[R_ENVFORGE].cpu_us / st[R_PLAIN].cpu_us);
            printf("  envforge, cgroup / plain exec: %.2fx throughput, %.2fx CPU per run\n",
                   st[R_ENVFORGE_CG].rate / st[R_PLAIN].rate,
                   st[R_ENVFORGE_CG].cpu_us / st[R_PLAIN].cpu_us);
            if (avail[R_BWRAP]) {
                printf("  envforge / bubblewrap: %.2fx throughput (target >= 4)\n",
                       st[R_ENVFORGE].rate / st[R_BWRAP].rate);
                printf("  plain exec / bubblewrap: %.2fx (the most any sandbox could reach here)\n",
                       st[R_PLAIN].rate / st[R_BWRAP].rate);
            }
            if (avail[R_FIREJAIL])
                printf("  envforge / firejail:   %.2fx throughput\n",
                       st[R_ENVFORGE].rate / st[R_FIREJAIL].rate);
            if (c == 1 && threads == 1)
                py_env_rate = st[R_ENVFORGE].rate;
        }
    }
    double p50 = 0, p99 = 0;
    double srate = bench_session(n_calls, &p50, &p99);
    printf("\nsession: %d sequential print(1+1) calls to one python3: %.1f calls/s, p50 %.3f ms, "
           "p99 %.3f ms (target >= 500 calls/s)\n",
           n_calls, srate, p50, p99);
    if (py_env_rate > 0)
        printf("session / fresh sandboxed python3 per call: %.1fx\n", srate / py_env_rate);
    return 0;
}

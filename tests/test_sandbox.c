/*
 * tests/test_sandbox.c — the sandbox's features: every status and every result field, the
 * JSON, options (stdin, env, workdir, binds, extra fds, network, profiles), the weak-mode
 * refusal and opt-in, option errors, allocation failures, concurrent workers on threads,
 * sessions (calls, frames, timeouts, death, restart) and the `envforge sandbox` CLI.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/json.h"
#include "common/utf8.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"
#include "tests/testlib.h"

static ef_ctx *ctx;
static ef_sandbox_worker *worker;
/* 1: running as a non-root user, in our own user namespace (sandbox/rootless.c): the
 * process stays non-dumpable, workdirs are the caller's own */
static int rootless;

static ef_sandbox_options opts(void)
{
    ef_sandbox_options o = EF_SANDBOX_OPTIONS_INIT;
    o.wall_ms = 5000;
    o.mem_bytes = (int64_t)512 << 20;
    return o;
}

static ef_sandbox_result *run(const ef_sandbox_options *o, const char *const *argv)
{
    ef_sandbox_result *r = NULL;
    int rc = ef_sandbox_run(ctx, worker, o, argv, &r);
    EF_CHECK_MSG(rc == 0, "ef_sandbox_run: %s", ef_errmsg(ctx));
    return rc ? NULL : r;
}

static ef_sandbox_result *sh(const ef_sandbox_options *o, const char *script)
{
    const char *argv[] = {"sh", "-c", script, NULL};
    return run(o, argv);
}

#define EXPECT_STATUS(r, st)                                                                       \
    EF_CHECK_MSG((r) && (r)->status == (st), "status %s (%s), want %s; out %.200s err %.200s",     \
                 (r) ? ef_sandbox_status_name((r)->status) : "-", (r) ? (r)->detail : "",          \
                 ef_sandbox_status_name(st), (r) ? (r)->out.data : "", (r) ? (r)->err.data : "")

/* ---- statuses and fields ------------------------------------------------------------- */

static void test_ok_fields(void)
{
    ef_sandbox_options o = opts();
    ef_sandbox_result *r = sh(&o, "echo hello; echo oops >&2");
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (!r)
        return;
    EF_CHECK_EQ_INT(r->exit_code, 0);
    EF_CHECK_EQ_INT(r->signal, 0);
    EF_CHECK_EQ_STR(r->out.data, "hello\n");
    EF_CHECK_EQ_INT(r->out.len, 6);
    EF_CHECK_EQ_INT(r->out.total, 6);
    EF_CHECK_EQ_INT(r->out.truncated, 0);
    EF_CHECK_EQ_STR(r->err.data, "oops\n");
    EF_CHECK_EQ_INT(r->err.truncated, 0);
    EF_CHECK(r->wall_ms > 0 && r->wall_ms < 5000);
    EF_CHECK(r->cpu_ms >= 0 && r->cpu_ms >= r->user_ms);
    /* a shell far smaller than this process: its exact peak is unknown (see
     * test_peak_rss_big_caller), and no poll ran in so short a run */
    EF_CHECK(r->peak_rss_kb >= 0);
    EF_CHECK(r->peak_rss_exact == 0 || r->peak_rss_kb > 0);
    EF_CHECK_EQ_STR(r->isolation, "full");
    EF_CHECK_EQ_STR(r->detail, "");
    EF_CHECK_EQ_STR(ef_sandbox_status_name(r->status), "ok");
    ef_sandbox_result_free(r);
}

/* Context switches count the whole tree: a shell that waits for 20 children (each of
 * which sleeps) switches voluntarily at least 40 times; a quick program only a few. */
static void test_context_switches(void)
{
    ef_sandbox_options o = opts();
    ef_sandbox_result *r =
        sh(&o, "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 0.001; done");
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_MSG(r->csw_voluntary >= 40 && r->csw_forced >= 0, "voluntary %lld forced %lld",
                     (long long)r->csw_voluntary, (long long)r->csw_forced);
    ef_sandbox_result_free(r);
    const char *argv[] = {"/bin/true", NULL};
    r = run(&o, argv);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_MSG(r->csw_voluntary < 40, "voluntary %lld", (long long)r->csw_voluntary);
    ef_sandbox_result_free(r);
}

static void test_json_fields(void)
{
    ef_sandbox_options o = opts();
    o.out_bytes = 8;
    o.output_limit_kills = 0;
    ef_sandbox_result *r = sh(&o, "printf 'caf\\303\\251 \\377 long line'; exit 3");
    EXPECT_STATUS(r, EF_SANDBOX_NONZERO_EXIT);
    if (!r)
        return;
    char *json = ef_sandbox_result_json(r);
    cJSON *doc = NULL;
    EF_CHECK_OK(ctx, ef_json_parse(ctx, json, strlen(json), "result", &doc));
    const char *s;
    int64_t n;
    int b;
    double d;
    EF_CHECK_OK(ctx, ef_json_get_str(ctx, doc, "status", &s));
    EF_CHECK_EQ_STR(s, "nonzero-exit");
    EF_CHECK_OK(ctx, ef_json_get_str(ctx, doc, "detail", &s));
    EF_CHECK_OK(ctx, ef_json_get_int(ctx, doc, "exit_code", &n));
    EF_CHECK_EQ_INT(n, 3);
    EF_CHECK_OK(ctx, ef_json_get_int(ctx, doc, "signal", &n));
    EF_CHECK_EQ_INT(n, 0);
    EF_CHECK_OK(ctx, ef_json_get_num(ctx, doc, "wall_ms", &d));
    EF_CHECK_OK(ctx, ef_json_get_num(ctx, doc, "cpu_ms", &d));
    EF_CHECK_OK(ctx, ef_json_get_num(ctx, doc, "user_ms", &d));
    EF_CHECK_OK(ctx, ef_json_get_num(ctx, doc, "sys_ms", &d));
    EF_CHECK_OK(ctx, ef_json_get_int(ctx, doc, "peak_rss_kb", &n));
    EF_CHECK_EQ_INT(n, r->peak_rss_kb);
    EF_CHECK_OK(ctx, ef_json_get_bool(ctx, doc, "peak_rss_exact", &b));
    EF_CHECK_EQ_INT(b, r->peak_rss_exact);
    EF_CHECK_OK(ctx, ef_json_get_int(ctx, doc, "csw_voluntary", &n));
    EF_CHECK_EQ_INT(n, r->csw_voluntary);
    EF_CHECK_OK(ctx, ef_json_get_int(ctx, doc, "csw_forced", &n));
    EF_CHECK_EQ_INT(n, r->csw_forced);
    EF_CHECK_OK(ctx, ef_json_get_str(ctx, doc, "isolation", &s));
    EF_CHECK_EQ_STR(s, "full");
    EF_CHECK_OK(ctx, ef_json_get_str(ctx, doc, "stdout", &s));
    EF_CHECK_EQ_STR(s, "caf\xc3\xa9 \xef\xbf\xbd "); /* 8 bytes kept, the bad byte replaced */
    EF_CHECK_OK(ctx, ef_json_get_bool(ctx, doc, "stdout_truncated", &b));
    EF_CHECK_EQ_INT(b, 1);
    EF_CHECK_OK(ctx, ef_json_get_int(ctx, doc, "stdout_bytes", &n));
    EF_CHECK_EQ_INT(n, 17);
    EF_CHECK_OK(ctx, ef_json_get_str(ctx, doc, "stderr", &s));
    EF_CHECK_OK(ctx, ef_json_get_bool(ctx, doc, "stderr_truncated", &b));
    EF_CHECK_EQ_INT(b, 0);
    EF_CHECK_OK(ctx, ef_json_get_int(ctx, doc, "stderr_bytes", &n));
    cJSON_Delete(doc);
    ef_free(json);
    ef_sandbox_result_free(r);
    /* an overlong '/', a surrogate and a NUL: each invalid piece one U+FFFD, as Python's
     * errors="replace" (which keeps the NUL; JSON consumers often cannot) */
    o = opts();
    r = sh(&o, "printf 'a\\300\\257b\\355\\240\\200c\\000d'");
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (!r)
        return;
    json = ef_sandbox_result_json(r);
    EF_CHECK_OK(ctx, ef_json_parse(ctx, json, strlen(json), "result", &doc));
    EF_CHECK_OK(ctx, ef_json_get_str(ctx, doc, "stdout", &s));
    EF_CHECK_EQ_STR(s, "a\xef\xbf\xbd\xef\xbf\xbd"
                       "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                       "c\xef\xbf\xbd"
                       "d");
    cJSON_Delete(doc);
    ef_free(json);
    ef_sandbox_result_free(r);
    /* the detail too: it names the program (a path that need not be UTF-8), cut at 80
     * bytes, here inside a character; it went into the JSON raw */
    o = opts();
    char bad0[128];
    snprintf(bad0, sizeof bad0, "/no\xff\xfe");
    for (int i = 0; i < 40; i++)
        strcat(bad0, "\xc3\xa9");
    const char *bad[] = {bad0, NULL};
    r = NULL;
    EF_CHECK_OK(ctx, ef_sandbox_run(ctx, worker, &o, bad, &r));
    EXPECT_STATUS(r, EF_SANDBOX_SETUP_ERROR);
    if (!r)
        return;
    json = ef_sandbox_result_json(r);
    EF_CHECK_OK(ctx, ef_json_parse(ctx, json, strlen(json), "result", &doc));
    EF_CHECK_OK(ctx, ef_json_get_str(ctx, doc, "detail", &s));
    /* 80 bytes: "/no", two bad bytes, 37 whole characters and half of one */
    EF_CHECK_MSG(!strncmp(s, "exec /no\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9", 16), "%s", s);
    EF_CHECK_CONTAINS(s, "\xc3\xa9\xef\xbf\xbd: No such file or directory");
    size_t at = 0, len = strlen(s), k = 1;
    while (at < len && (k = ef_utf8_next((const unsigned char *)s + at, len - at, NULL)) > 0)
        at += k;
    EF_CHECK_MSG(at == len, "invalid UTF-8 at byte %zu of the detail", at);
    cJSON_Delete(doc);
    ef_free(json);
    ef_sandbox_result_free(r);
}

static void test_nonzero_exit(void)
{
    ef_sandbox_options o = opts();
    ef_sandbox_result *r = sh(&o, "exit 7");
    EXPECT_STATUS(r, EF_SANDBOX_NONZERO_EXIT);
    if (r)
        EF_CHECK_EQ_INT(r->exit_code, 7);
    ef_sandbox_result_free(r);
}

static void test_signaled(void)
{
    ef_sandbox_options o = opts();
    ef_sandbox_result *r = sh(&o, "kill -TERM $$");
    EXPECT_STATUS(r, EF_SANDBOX_SIGNALED);
    if (r) {
        EF_CHECK_EQ_INT(r->signal, SIGTERM);
        EF_CHECK_EQ_INT(r->exit_code, -1);
        EF_CHECK_EQ_STR(r->detail, "TERM");
    }
    ef_sandbox_result_free(r);
}

static void test_timeout(void)
{
    ef_sandbox_options o = opts();
    o.wall_ms = 200;
    ef_sandbox_result *r = sh(&o, "sleep 5");
    EXPECT_STATUS(r, EF_SANDBOX_TIMEOUT);
    if (r) {
        EF_CHECK(r->wall_ms >= 200);
        EF_CHECK_EQ_INT(r->signal, SIGKILL);
        EF_CHECK_CONTAINS(r->detail, "200 ms");
    }
    ef_sandbox_result_free(r);
}

/* A run ended by the caller (wall limit, output cap) or by the init (CPU limit) still
 * counts the CPU time and peak memory of the processes it killed: the init kills and
 * reaps them itself before it reports (a SIGKILLed init would leave them to the kernel,
 * which reaps them unaccounted: cpu_ms was ~2 ms here for a second of busy loop). */
static void test_killed_tree_accounted(void)
{
    ef_sandbox_options o = opts();
    o.wall_ms = 700;
    const char *busy[] = {"python3", "-c", "b = bytearray(80 * 2**20)\nwhile True: pass", NULL};
    ef_sandbox_result *r = run(&o, busy);
    EXPECT_STATUS(r, EF_SANDBOX_TIMEOUT);
    if (r) {
        EF_CHECK_MSG(r->cpu_ms >= 50, "cpu_ms %.3f after a busy wall timeout", r->cpu_ms);
        EF_CHECK_EQ_INT(r->signal, SIGKILL);
        if (r->peak_rss_exact)
            EF_CHECK_MSG(r->peak_rss_kb >= 80 * 1024, "peak %lld kB", (long long)r->peak_rss_kb);
        else
            fprintf(stderr, "  note: peak not exact (this process's own peak is above 80 MiB)\n");
    }
    ef_sandbox_result_free(r);
    o = opts();
    o.out_bytes = 1000;
    r = sh(&o, "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; yes");
    EXPECT_STATUS(r, EF_SANDBOX_OUTPUT_LIMIT);
    if (r)
        EF_CHECK_MSG(r->cpu_ms >= 50, "cpu_ms %.3f after an output-limit kill", r->cpu_ms);
    ef_sandbox_result_free(r);
    o = opts();
    o.cpu_ms = 300;
    o.wall_ms = 30000;
    r = sh(&o, "(while :; do :; done) & while :; do :; done");
    EXPECT_STATUS(r, EF_SANDBOX_CPU_LIMIT);
    if (r)
        EF_CHECK_MSG(r->cpu_ms >= 300, "cpu_ms %.3f at a 300 ms tree CPU limit", r->cpu_ms);
    ef_sandbox_result_free(r);
}

/* The program's process shares this process's memory until its exec, and the kernel
 * credits that memory's peak to it at exec: a caller bigger than the memory limit must
 * not make every failing program a "memory-limit" (nor report the caller's peak as the
 * program's). Runs last: this process's peak stays high afterwards. */
static void test_peak_rss_big_caller(void)
{
    size_t n = (size_t)320 << 20;
    char *big = malloc(n);
    EF_CHECK(big != NULL);
    if (!big)
        return;
    memset(big, 7, n);
    ef_sandbox_options o = opts();
    o.mem_bytes = (int64_t)256 << 20;
    ef_sandbox_result *r = sh(&o, "exit 3");
    EXPECT_STATUS(r, EF_SANDBOX_NONZERO_EXIT);
    if (r) {
        EF_CHECK_EQ_INT(r->exit_code, 3);
        EF_CHECK_EQ_INT(r->peak_rss_exact, 0);
        EF_CHECK_MSG(r->peak_rss_kb < 256 * 1024, "peak %lld kB", (long long)r->peak_rss_kb);
    }
    ef_sandbox_result_free(r);
    /* a program bigger than the caller: its own peak is known */
    o.mem_bytes = (int64_t)2 << 30;
    const char *argv[] = {"python3", "-c", "b = bytearray(480 * 2**20); print(len(b))", NULL};
    r = run(&o, argv);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r) {
        EF_CHECK_EQ_INT(r->peak_rss_exact, 1);
        EF_CHECK_MSG(r->peak_rss_kb >= 480 * 1024, "peak %lld kB", (long long)r->peak_rss_kb);
    }
    ef_sandbox_result_free(r);
    EF_CHECK(big[n / 2] == 7);
    free(big);
}

static void test_cpu_limit(void)
{
    ef_sandbox_options o = opts();
    o.cpu_ms = 1000;
    o.wall_ms = 30000; /* a loaded machine may need long to give it 1 s of CPU */
    ef_sandbox_result *r = sh(&o, "while :; do :; done");
    EXPECT_STATUS(r, EF_SANDBOX_CPU_LIMIT);
    if (r) /* user/sys count reaped processes only; a tree kill may reap none */
        EF_CHECK(r->cpu_ms > 0);
    ef_sandbox_result_free(r);
    /* four processes, none past the limit alone: the tree's total is what counts */
    r = sh(&o, "for i in 1 2 3 4; do (while :; do :; done) & done; wait");
    EXPECT_STATUS(r, EF_SANDBOX_CPU_LIMIT);
    if (r) {
        EF_CHECK_CONTAINS(r->detail, "tree used");
        EF_CHECK(r->cpu_ms >= 1000);
    }
    ef_sandbox_result_free(r);
    /* children the program waits for itself, one at a time, each well under the limit:
     * their time is in the program's children total, which counts too */
    const char *waits[] = {"python3", "-c",
                           "import os, time\n"
                           "for i in range(16):\n"
                           "    p = os.fork()\n"
                           "    if p == 0:\n"
                           "        t = time.process_time()\n"
                           "        while time.process_time() - t < 0.25: pass\n"
                           "        os._exit(0)\n"
                           "    os.waitpid(p, 0)\n"
                           "print('finished')",
                           NULL};
    r = run(&o, waits);
    EXPECT_STATUS(r, EF_SANDBOX_CPU_LIMIT);
    if (r)
        EF_CHECK_EQ_STR(r->out.data, "");
    ef_sandbox_result_free(r);
    /* a tree that ended by itself over the limit, between two polls, is over it too */
    o.cpu_ms = 50;
    const char *burst[] = {"python3", "-c",
                           "import time\nt = time.process_time()\n"
                           "while time.process_time() - t < 0.09: pass",
                           NULL};
    r = run(&o, burst);
    EXPECT_STATUS(r, EF_SANDBOX_CPU_LIMIT);
    ef_sandbox_result_free(r);
}

static void test_memory_limit_and_peak(void)
{
    ef_sandbox_options o = opts();
    const char *argv[] = {"python3", "-c", "b = bytearray(60 * 2**20); print(len(b))", NULL};
    ef_sandbox_result *r = run(&o, argv);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_MSG(r->peak_rss_kb >= 60 * 1024, "peak %lld kB", (long long)r->peak_rss_kb);
    ef_sandbox_result_free(r);
    o.mem_bytes = 64 << 20;
    const char *bomb[] = {"python3", "-c", "b = bytearray(200 * 2**20)", NULL};
    r = run(&o, bomb);
    EXPECT_STATUS(r, EF_SANDBOX_MEMORY_LIMIT);
    if (r)
        EF_CHECK_CONTAINS(r->detail, "memory limit");
    ef_sandbox_result_free(r);
}

static void test_output_limit(void)
{
    ef_sandbox_options o = opts();
    o.out_bytes = 1000;
    ef_sandbox_result *r = sh(&o, "yes");
    EXPECT_STATUS(r, EF_SANDBOX_OUTPUT_LIMIT);
    if (r) {
        EF_CHECK(r->out.truncated && r->out.len == 1000 && r->out.total > 1000);
        EF_CHECK_CONTAINS(r->detail, "stdout");
    }
    ef_sandbox_result_free(r);
    /* without killing: the run ends normally, the output is cut and flagged */
    o.output_limit_kills = 0;
    r = sh(&o, "head -c 5000 /dev/zero | tr '\\0' x; echo done >&2");
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r) {
        EF_CHECK(r->out.truncated && r->out.len == 1000 && r->out.total == 5000);
        EF_CHECK_EQ_STR(r->err.data, "done\n");
    }
    ef_sandbox_result_free(r);
}

static void test_other_limits(void)
{
    /* open files (RLIMIT_NOFILE), processes (RLIMIT_NPROC), no core dumps, /tmp size */
    ef_sandbox_options o = opts();
    o.open_files = 16;
    o.procs = 4;
    o.tmp_bytes = 1 << 20;
    ef_sandbox_result *r =
        sh(&o, "ulimit -n; ulimit -c; df -k /tmp | tail -1 | awk '{print $2}'; "
               "python3 -c \"import resource\nprint(resource.getrlimit(resource.RLIMIT_NPROC)[0])"
               "\nfs = []\ntry:\n  [fs.append(open('/dev/null')) for i in "
               "range(100)]\nexcept OSError as e: print('nofile', e.errno)\"");
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_EQ_STR(r->out.data, "16\n0\n1024\n4\nnofile 24\n");
    ef_sandbox_result_free(r);
}

static void test_seccomp_violation(void)
{
    ef_sandbox_options o = opts();
    const char *argv[] = {"python3", "-c",
                          "import ctypes; ctypes.CDLL(None).syscall(101, 0, 0, 0, 0)", NULL};
    ef_sandbox_result *r = run(&o, argv);
    EXPECT_STATUS(r, EF_SANDBOX_SECCOMP);
    if (r)
        EF_CHECK_EQ_STR(r->detail, "ptrace");
    ef_sandbox_result_free(r);
}

static void test_setup_error(void)
{
    ef_sandbox_options o = opts();
    const char *argv[] = {"no-such-program-xyz", NULL};
    ef_sandbox_result *r = run(&o, argv);
    EXPECT_STATUS(r, EF_SANDBOX_SETUP_ERROR);
    if (r) {
        EF_CHECK_EQ_STR(r->detail, "exec no-such-program-xyz: No such file or directory");
        EF_CHECK_EQ_INT(r->setup_errno, ENOENT);
        char *json = ef_sandbox_result_json(r);
        EF_CHECK_CONTAINS(json, "\"setup_errno\":2");
        ef_free(json);
    }
    ef_sandbox_result_free(r);
    o.cwd = "/no/such/dir";
    const char *t[] = {"true", NULL};
    r = run(&o, t);
    EXPECT_STATUS(r, EF_SANDBOX_SETUP_ERROR);
    if (r)
        EF_CHECK_EQ_STR(r->detail, "chdir /no/such/dir: No such file or directory");
    ef_sandbox_result_free(r);
    /* a mount step names its path inside: a directory bound onto /etc/passwd's file */
    o = opts();
    o.per_run_root = 1;
    o.binds[0] = (ef_sandbox_bind){"/usr/share", "/etc/passwd", 0};
    o.n_binds = 1;
    r = run(&o, t);
    EXPECT_STATUS(r, EF_SANDBOX_SETUP_ERROR);
    if (r)
        EF_CHECK_MSG(strstr(r->detail, "/etc/passwd") && !strstr(r->detail, ".ef-sandbox-root"),
                     "detail: %s", r->detail);
    ef_sandbox_result_free(r);
}

static void test_status_names(void)
{
    static const char *const names[] = {"ok",           "nonzero-exit",      "signaled",
                                        "timeout",      "cpu-limit",         "memory-limit",
                                        "output-limit", "seccomp-violation", "setup-error"};
    for (int i = 0; i < EF_SANDBOX_STATUS_COUNT_; i++)
        EF_CHECK_EQ_STR(ef_sandbox_status_name((ef_sandbox_status)i), names[i]);
    EF_CHECK_EQ_STR(ef_sandbox_status_name((ef_sandbox_status)99), "unknown");
}

/* ---- options -------------------------------------------------------------------------- */

static void test_stdin_env_identity(void)
{
    ef_sandbox_options o = opts();
    const char *env[] = {"GREETING=hi there", NULL};
    o.env = env;
    o.stdin_data = "line one\nline two\n";
    o.stdin_len = strlen(o.stdin_data);
    setenv("EF_PARENT_ONLY", "secret", 1);
    ef_sandbox_result *r =
        sh(&o, "cat; echo \"$GREETING|${EF_PARENT_ONLY:-absent}\"; id -u; "
               "id -g; hostname; pwd; set -- /proc/[0-9]*; echo $#; "
               "echo x > /dev/null && head -c 3 /dev/zero | wc -c && "
               "head -c 4 /dev/urandom | wc -c && "
               "{ (echo x > /dev/full) 2>/dev/null || echo 1; }; "
               "stat -c %a /dev/null /tmp"); /* the shell alone: the init is hidden */
    unsetenv("EF_PARENT_ONLY");
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_EQ_STR(r->out.data,
                        "line one\nline two\nhi "
                        "there|absent\n1000\n1000\nsandbox\n/tmp\n1\n3\n4\n1\n666\n1777\n");
    ef_sandbox_result_free(r);
}

static void test_workdir_and_binds(void)
{
    char *wd = ef_strdup(ef_test_tmpdir("sbx-wd"));
    char *ro = ef_strdup(ef_test_tmpdir("sbx-bind"));
    char path[600];
    snprintf(path, sizeof path, "%s/input.txt", ro);
    FILE *f = fopen(path, "w");
    fputs("data\n", f);
    fclose(f);
    chmod(ro, 0755);
    EF_CHECK_OK(ctx, ef_sandbox_dir_chown(ctx, worker, wd));
    /* through the worker's prepared root, then through a root built for the run */
    for (int per_run = 0; per_run < 2; per_run++) {
        ef_sandbox_options o = opts();
        o.workdir = wd;
        o.per_run_root = per_run;
        o.binds[0] = (ef_sandbox_bind){ro, "/data/in", 0};
        o.binds[1] = (ef_sandbox_bind){path, "/etc/input.txt", 0};
        o.n_binds = 2;
        ef_sandbox_result *r =
            sh(&o, "pwd; cat /data/in/input.txt /etc/input.txt; echo made > out.txt; "
                   "echo x > /data/in/nope 2>/dev/null || echo ro; "
                   "grep -c ' /data/in ' /proc/self/mountinfo");
        EXPECT_STATUS(r, EF_SANDBOX_OK);
        if (r)
            EF_CHECK_EQ_STR(r->out.data, "/work\ndata\ndata\nro\n1\n");
        ef_sandbox_result_free(r);
        char out_path[600];
        snprintf(out_path, sizeof out_path, "%s/out.txt", wd);
        char *text = NULL;
        size_t len = 0;
        EF_CHECK_OK(ctx, ef_file_read(ctx, out_path, 100, &text, &len));
        EF_CHECK_EQ_STR(text, "made\n");
        ef_free(text);
        unlink(out_path);
    }
    snprintf(path, sizeof path, "%s/input.txt", ro);
    unlink(path);
    rmdir(wd);
    rmdir(ro);
    ef_free(wd);
    ef_free(ro);
}

/* A read-only bind is read-only all the way down: the host's /dev/shm is a writable
 * tmpfs mounted under /, and must not be writable through a read-only bind of /. */
static void test_bind_submounts_readonly(void)
{
    struct stat st;
    if (stat("/dev/shm", &st) != 0)
        EF_SKIP_CASE("no /dev/shm on this host");
    for (int per_run = 0; per_run < 2; per_run++) {
        ef_sandbox_options o = opts();
        o.per_run_root = per_run;
        o.binds[0] = (ef_sandbox_bind){"/", "/host", 0};
        o.n_binds = 1;
        ef_sandbox_result *r = sh(&o, "ls /host/usr >/dev/null && echo seen; "
                                      "(echo x > /host/dev/shm/ef-sbx-probe) 2>&1 | "
                                      "grep -c 'Read-only'");
        EXPECT_STATUS(r, EF_SANDBOX_OK);
        if (r)
            EF_CHECK_EQ_STR(r->out.data, "seen\n1\n");
        ef_sandbox_result_free(r);
        EF_CHECK(access("/dev/shm/ef-sbx-probe", F_OK) != 0);
    }
}

/* An idmapped workdir: root's files look like the sandbox's own, its writes land as
 * root's on the host, and no chown is needed. */
static void test_workdir_idmap(void)
{
    char *wd = ef_strdup(ef_test_tmpdir("sbx-idmap"));
    if (rootless) {
        /* the workdir is the caller's, and so is the program outside: writable without an
         * idmapped mount (which only host root could make), files the caller's own */
        ef_sandbox_options o = opts();
        o.workdir = wd;
        o.workdir_idmap = 1;
        ef_sandbox_result *r = sh(&o, "echo new > made.txt && stat -c %u made.txt .");
        EXPECT_STATUS(r, EF_SANDBOX_OK);
        if (r)
            EF_CHECK_EQ_STR(r->out.data, "1000\n1000\n");
        ef_sandbox_result_free(r);
        char path[600];
        struct stat st;
        snprintf(path, sizeof path, "%s/made.txt", wd);
        EF_CHECK(stat(path, &st) == 0 && st.st_uid == getuid());
        unlink(path);
        rmdir(wd);
        ef_free(wd);
        return;
    }
    chmod(wd, 0755); /* root's, not writable by the sandbox's outer uid */
    char path[600];
    snprintf(path, sizeof path, "%s/given.txt", wd);
    FILE *f = fopen(path, "w");
    fputs("from host\n", f);
    fclose(f);
    ef_sandbox_options o = opts();
    o.workdir = wd;
    ef_sandbox_result *r = sh(&o, "echo x > made.txt 2>/dev/null || echo denied");
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_EQ_STR(r->out.data, "denied\n");
    ef_sandbox_result_free(r);
    o.workdir_idmap = 1;
    r = sh(&o, "stat -c %u . given.txt; echo more >> given.txt; echo new > made.txt && cat "
               "given.txt");
    if (r && r->status == EF_SANDBOX_SETUP_ERROR && r->setup_errno == EINVAL) {
        ef_sandbox_result_free(r);
        rmdir(wd);
        ef_free(wd);
        EF_SKIP_CASE("this filesystem has no idmapped mounts");
    }
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_EQ_STR(r->out.data, "1000\n1000\nfrom host\nmore\n");
    ef_sandbox_result_free(r);
    struct stat st;
    snprintf(path, sizeof path, "%s/made.txt", wd);
    EF_CHECK(stat(path, &st) == 0 && st.st_uid == 0 && st.st_gid == 0);
    unlink(path);
    snprintf(path, sizeof path, "%s/given.txt", wd);
    unlink(path);
    rmdir(wd);
    ef_free(wd);
    /* it needs the prepared root */
    o = opts();
    o.workdir = "/tmp";
    o.workdir_idmap = 1;
    o.per_run_root = 1;
    const char *argv[] = {"true", NULL};
    EF_CHECK_EQ_INT(ef_sandbox_run(ctx, worker, &o, argv, &r), EF_EUNSUPPORTED);
}

static void test_extra_fds(void)
{
    int p[2];
    EF_CHECK(pipe2(p, O_CLOEXEC) == 0);
    ef_sandbox_options o = opts();
    int fds[1] = {p[1]};
    o.extra_fds = fds;
    o.n_extra_fds = 1;
    ef_sandbox_result *r = sh(&o, "echo via-fd3 >&3; ls /proc/self/fd | wc -l");
    close(p[1]);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    char buf[64] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    EF_CHECK(n > 0);
    EF_CHECK_EQ_STR(buf, "via-fd3\n");
    if (r)
        EF_CHECK_EQ_STR(r->out.data, "5\n"); /* 0 1 2 3 and ls's own directory fd */
    close(p[0]);
    ef_sandbox_result_free(r);
}

static void test_network_option(void)
{
    ef_sandbox_options o = opts();
    const char *argv[] = {"python3", "-c",
                          "import socket\ntry:\n socket.socket(); print('inet')\n"
                          "except OSError as e: print('refused', e.errno)",
                          NULL};
    ef_sandbox_result *r = run(&o, argv);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_EQ_STR(r->out.data, "refused 97\n"); /* EAFNOSUPPORT */
    ef_sandbox_result_free(r);
    o.net = 1;
    r = run(&o, argv);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_EQ_STR(r->out.data, "inet\n");
    ef_sandbox_result_free(r);
}

static void test_allow_profile(void)
{
    ef_sandbox_options o = opts();
    o.profile = EF_SANDBOX_PROFILE_ALLOW;
    const char *py[] = {"python3", "-c",
                        "import json, os, subprocess\n"
                        "print(json.dumps({'n': len(os.listdir('/usr/bin')) > 10}))\n"
                        "print(subprocess.run(['sh', '-c', 'echo sub'], capture_output=True)"
                        ".stdout.decode().strip())",
                        NULL};
    ef_sandbox_result *r = run(&o, py);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_EQ_STR(r->out.data, "{\"n\": true}\nsub\n");
    ef_sandbox_result_free(r);
    /* personality(2) is not on the allow list (the deny profile allows it) */
    const char *pers[] = {"python3", "-c",
                          "import ctypes; ctypes.CDLL(None).syscall(135, 0xffffffff)", NULL};
    r = run(&o, pers);
    EXPECT_STATUS(r, EF_SANDBOX_SECCOMP);
    if (r)
        EF_CHECK_EQ_STR(r->detail, "personality");
    ef_sandbox_result_free(r);
    o.profile = EF_SANDBOX_PROFILE_DENY;
    r = run(&o, pers);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    ef_sandbox_result_free(r);
}

/* ---- the compiled filter's decisions, syscall by syscall ------------------------------ */

/* How the filter treats one system call: a fresh child loads the profile's program (the
 * kill-process variant, no listener) and makes the call with every argument -1 unless
 * given (invalid pointers, fds and flags: a call the filter let through fails harmlessly).
 * Returns -SIGSYS when the filter killed it, else the call's errno (0: it succeeded). */
static int filter_verdict(const ef_sb_filter *f, long nr, int n_args, const long *args)
{
    long a[6] = {-1, -1, -1, -1, -1, -1};
    for (int i = 0; i < n_args && i < 6; i++)
        a[i] = args[i];
    pid_t pid = fork();
    if (pid == 0) {
        setsid(); /* no controlling terminal: nothing for a tty call to reach */
        struct sock_fprog prog = {f->len, f->insns};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
            _exit(200);
        long rc = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        _exit(rc < 0 ? (errno & 0xff) : 0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return 255;
    if (WIFSIGNALED(st))
        return WTERMSIG(st) == SIGSYS ? -SIGSYS : 256 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

static void test_filter_decisions(void)
{
    /* the deny list and the rest of the mount API; names this architecture lacks
     * are skipped */
    static const char *const denied[] = {"mount",
                                         "umount2",
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
                                         "init_module",
                                         "finit_module",
                                         "delete_module",
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
                                         "pidfd_getfd",
                                         "settimeofday",
                                         "clock_settime",
                                         "iopl",
                                         "ioperm",
                                         "kcmp",
                                         "quotactl",
                                         "name_to_handle_at"};
    static const unsigned long ns[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                       CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};
    for (int profile = 0; profile < 2; profile++) {
        for (int net = 0; net < 2; net++) {
            ef_sb_filter f = {NULL, 0, 0};
            int rc = ef_sandbox__filter_build(ctx, (ef_sandbox_profile)profile, net, 0, &f);
            EF_CHECK_MSG(rc == 0 && f.len > 0, "filter_build: %s", ef_errmsg(ctx));
            if (rc)
                continue;
            for (size_t i = 0; i < EF_ARRAY_LEN(denied); i++) {
                int nr = seccomp_syscall_resolve_name(denied[i]);
                if (nr == __NR_SCMP_ERROR || nr < 0)
                    continue;
                int v = filter_verdict(&f, nr, 0, NULL);
                EF_CHECK_MSG(v == -SIGSYS, "profile %d net %d: %s gave %d, want SIGSYS", profile,
                             net, denied[i], v);
            }
            /* clone with each namespace flag (CLONE_THREAD without CLONE_SIGHAND makes the
             * kernel refuse the call should the filter not) */
            for (size_t i = 0; i < EF_ARRAY_LEN(ns); i++) {
                long args[5] = {(long)(ns[i] | CLONE_THREAD), 0, 0, 0, 0};
                int v = filter_verdict(&f, SYS_clone, 5, args);
                EF_CHECK_MSG(v == -SIGSYS, "profile %d: clone 0x%lx gave %d", profile, ns[i], v);
            }
            long plain_clone[5] = {CLONE_THREAD, 0, 0, 0, 0};
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_clone, 5, plain_clone), EINVAL);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_clone3, 0, NULL), ENOSYS);
            /* terminal injection, also with junk in the request's upper 32 bits */
            long sti[2] = {0, (long)TIOCSTI}, sti_hi[2] = {0, (long)(TIOCSTI | (1UL << 32))},
                 lnx[2] = {0, (long)TIOCLINUX};
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_ioctl, 2, sti), -SIGSYS);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_ioctl, 2, sti_hi), -SIGSYS);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_ioctl, 2, lnx), -SIGSYS);
            long fionread[3] = {-1, (long)FIONREAD, 0};
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_ioctl, 3, fionread), EBADF);
            /* sockets: AF_UNIX always; AF_INET only with the network; vsock never */
            long unix_sock[3] = {AF_UNIX, SOCK_STREAM, 0}, inet[3] = {AF_INET, SOCK_STREAM, 0},
                 vsock[3] = {AF_VSOCK, SOCK_STREAM, 0};
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_socket, 3, unix_sock), 0);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_socket, 3, inet), net ? 0 : EAFNOSUPPORT);
            int vs = filter_verdict(&f, SYS_socket, 3, vsock);
            EF_CHECK_MSG(vs == EAFNOSUPPORT || (profile == 1 && vs == -SIGSYS),
                         "profile %d net %d: vsock gave %d", profile, net, vs);
            /* no set-id modes: chmod, fchmod, fchmodat, open(at) with O_CREAT, mknodat; the
             * same calls without the bits pass (and fail on the missing path or fd) */
            const long nopath = (long)"/nonexistent-ef/x";
            long chmod_suid[2] = {nopath, 04755}, chmod_plain[2] = {nopath, 0755},
                 chmod_sgid[2] = {nopath, 02755}, fchmod_suid[2] = {-1, 04711},
                 fchmod_plain[2] = {-1, 0711}, fchmodat_suid[3] = {AT_FDCWD, nopath, 06755},
                 open_suid[4] = {AT_FDCWD, nopath, O_CREAT | O_WRONLY, 04755},
                 open_plain[4] = {AT_FDCWD, nopath, O_CREAT | O_WRONLY, 0644},
                 mknod_suid[4] = {AT_FDCWD, nopath, S_IFREG | 04755, 0},
                 mknod_plain[4] = {AT_FDCWD, nopath, S_IFREG | 0644, 0};
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_chmod, 2, chmod_suid), EPERM);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_chmod, 2, chmod_sgid), EPERM);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_chmod, 2, chmod_plain), ENOENT);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_fchmod, 2, fchmod_suid), EPERM);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_fchmod, 2, fchmod_plain), EBADF);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_fchmodat, 3, fchmodat_suid), EPERM);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_openat, 4, open_suid), EPERM);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_openat, 4, open_plain), ENOENT);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_mknodat, 4, mknod_suid), EPERM);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_mknodat, 4, mknod_plain), ENOENT);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_openat2, 0, NULL), ENOSYS);
            /* rlimits of the caller only (the init may share its uid: rootless.c) */
            long self_lim[4] = {0, RLIMIT_NOFILE, 0, 0}, init_lim[4] = {1, RLIMIT_NOFILE, 0, 0};
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_prlimit64, 4, self_lim), 0);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_prlimit64, 4, init_lim), EPERM);
            /* ordinary calls pass; personality only in the deny profile */
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_getpid, 0, NULL), 0);
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_close, 0, NULL), EBADF);
            long query[1] = {0xffffffffL};
            EF_CHECK_EQ_INT(filter_verdict(&f, SYS_personality, 1, query),
                            profile == 1 ? -SIGSYS : 0);
            ef_sandbox__filter_free(&f);
        }
    }
}

/* Counts this process's cgroups (envforge-PID-N) left in the v1 memory/pids hierarchies
 * and under its v2 group. */
static int own_cgroups_walk(int remove);

static int own_cgroups_left(void)
{
    return own_cgroups_walk(0);
}

/* ... or removes them (empty ones: between runs, a worker's are) */
static int own_cgroups_walk(int remove)
{
    char prefix[64], line[1024];
    struct stat ns;
    snprintf(prefix, sizeof prefix, "envforge-%lu-%d-",
             stat("/proc/self/ns/pid", &ns) == 0 ? (unsigned long)ns.st_ino : 0UL, (int)getpid());
    int n = 0;
    FILE *f = fopen("/proc/self/cgroup", "re");
    while (f && fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        char *path = c2 + 1;
        path[strcspn(path, "\n")] = '\0';
        char dir[1200];
        if (!strcmp(c1 + 1, "memory") || !strcmp(c1 + 1, "pids"))
            snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s%s", c1 + 1, path);
        else if (!c1[1])
            snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", path);
        else
            continue;
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
                continue;
            n++;
            if (remove) {
                char group[1500];
                snprintf(group, sizeof group, "%s/%s", dir, e->d_name);
                rmdir(group);
            }
        }
        if (d)
            closedir(d);
    }
    if (f)
        fclose(f);
    return n;
}

/* A worker asked for a cgroup (where one can be had): the tree's memory is limited there
 * (an address-space reservation far past the limit runs; a bomb is OOM-killed and reported
 * with the kernel's count and an exact peak; a pool waiting for its killed worker ends at
 * once), pids.max refuses forks (counted), and the groups go with the worker. */
static ef_sandbox_result *run_on(ef_sandbox_worker *w, const ef_sandbox_options *o,
                                  const char *const *argv)
{
    ef_sandbox_result *r = NULL;
    int rc = ef_sandbox_run(ctx, w, o, argv, &r);
    EF_CHECK_MSG(rc == 0, "ef_sandbox_run: %s", ef_errmsg(ctx));
    return rc ? NULL : r;
}

static void test_cgroup_limits(void)
{
    /* off unless asked for: the default worker has none */
    ef_sandbox_options o = opts();
    ef_sandbox_result *r = sh(&o, "true");
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_EQ_INT(r->cgroup, 0);
    ef_sandbox_result_free(r);
    int before = own_cgroups_left();
    ef_sandbox_worker_options wo = EF_SANDBOX_WORKER_OPTIONS_INIT;
    wo.cgroup = 1;
    ef_sandbox_worker *cw = NULL;
    EF_CHECK_OK(ctx, ef_sandbox_worker_new(ctx, &wo, &cw));
    if (!cw)
        return;
    o.mem_bytes = (int64_t)128 << 20;
    const char *t[] = {"true", NULL};
    r = run_on(cw, &o, t);
    int have = r && r->cgroup;
    ef_sandbox_result_free(r);
    if (!have) {
        ef_sandbox_worker_free(cw);
        EF_SKIP_CASE("no cgroup here (not root, or neither v2 delegated nor v1 writable)");
    }
    EF_CHECK_MSG(own_cgroups_left() > before, "%d groups before the worker, %d with it", before,
                 own_cgroups_left());
    const char *reserve[] = {"python3", "-c",
                             "import mmap\n"
                             "m = mmap.mmap(-1, 4 << 30, flags=mmap.MAP_PRIVATE | "
                             "mmap.MAP_ANONYMOUS | getattr(mmap, 'MAP_NORESERVE', 0x4000))\n"
                             "b = bytearray(40 << 20)\nprint('reserved')",
                             NULL};
    r = run_on(cw, &o, reserve);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r) {
        EF_CHECK_EQ_STR(r->out.data, "reserved\n");
        EF_CHECK_MSG(r->mem_peak_kb < 0 || (r->mem_peak_kb > 40 * 1024 && r->mem_peak_kb < 128 * 1024),
                     "mem_peak_kb %lld", (long long)r->mem_peak_kb);
        char *json = ef_sandbox_result_json(r);
        EF_CHECK_CONTAINS(json, "\"cgroup\":true");
        EF_CHECK_CONTAINS(json, "\"mem_peak_kb\":");
        EF_CHECK_CONTAINS(json, "\"procs_refused\":0");
        ef_free(json);
    }
    ef_sandbox_result_free(r);
    /* the same reservation under rlimits: the address-space limit refuses it */
    r = run(&o, reserve);
    EF_CHECK(r && r->status != EF_SANDBOX_OK);
    ef_sandbox_result_free(r);
    const char *bomb[] = {"python3", "-c", "b = bytearray(400 << 20)\nprint('survived')", NULL};
    r = run_on(cw, &o, bomb);
    EXPECT_STATUS(r, EF_SANDBOX_MEMORY_LIMIT);
    if (r) {
        EF_CHECK_CONTAINS(r->detail, "OOM-killed");
        EF_CHECK_EQ_INT(r->signal, SIGKILL);
        EF_CHECK_EQ_STR(r->out.data, "");
        EF_CHECK_MSG(r->mem_peak_kb < 0 || r->mem_peak_kb <= 128 * 1024, "mem_peak_kb %lld",
                     (long long)r->mem_peak_kb);
    }
    ef_sandbox_result_free(r);
    /* a pool whose worker the kernel killed would wait for it forever: the init sees the
     * OOM kill and ends the tree */
    ef_sandbox_options po = o;
    po.mem_bytes = (int64_t)256 << 20;
    po.wall_ms = 20000;
    const char *pool[] = {"python3", "-c",
                          "import multiprocessing as mp, time\n"
                          "def f(i):\n    b = bytearray(100 * 2**20)\n    time.sleep(5)\n"
                          "with mp.Pool(4) as p: p.map(f, range(4))\n",
                          NULL};
    r = run_on(cw, &po, pool);
    EXPECT_STATUS(r, EF_SANDBOX_MEMORY_LIMIT);
    if (r) {
        EF_CHECK_CONTAINS(r->detail, "cgroup");
        EF_CHECK_MSG(r->wall_ms < 15000, "wall_ms %.0f", r->wall_ms);
    }
    ef_sandbox_result_free(r);
    /* the next run of the worker starts from its own limits and counters */
    o.mem_bytes = (int64_t)512 << 20;
    r = run_on(cw, &o, bomb);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_EQ_STR(r->out.data, "survived\n");
    ef_sandbox_result_free(r);
    /* pids.max: 8 processes in the tree, 20 background sleeps asked for */
    o.procs = 8;
    r = sh(&o, "true"); /* (the default worker, for contrast below) */
    ef_sandbox_result_free(r);
    const char *forks[] = {"sh", "-c",
                           "for i in $(seq 20); do sleep 0.3 2>/dev/null & done 2>/dev/null; "
                           "wait; echo done",
                           NULL};
    r = run_on(cw, &o, forks);
    EF_CHECK(r != NULL);
    if (r)
        EF_CHECK_MSG(r->procs_refused > 0, "procs_refused %ld (status %s)", r->procs_refused,
                     ef_sandbox_status_name(r->status));
    ef_sandbox_result_free(r);
    /* a run that filled /tmp, then a lower limit: the next run keeps the group (its /tmp
     * no longer charged to it) and its peak is its own */
    o = opts();
    o.mem_bytes = (int64_t)512 << 20;
    const char *fill[] = {"sh", "-c", "head -c 50000000 /dev/zero > /tmp/x", NULL};
    r = run_on(cw, &o, fill);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    ef_sandbox_result_free(r);
    o.mem_bytes = (int64_t)64 << 20;
    r = run_on(cw, &o, t);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r) {
        EF_CHECK_EQ_INT(r->cgroup, 1);
        EF_CHECK_MSG(r->mem_peak_kb < 16 * 1024, "mem_peak_kb %lld after a run that wrote 50 MB",
                     (long long)r->mem_peak_kb);
    }
    ef_sandbox_result_free(r);
    /* the worker's groups removed under it (between runs they are empty): made again */
    EF_CHECK(own_cgroups_walk(1) > before);
    r = run_on(cw, &o, t);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r)
        EF_CHECK_EQ_INT(r->cgroup, 1);
    ef_sandbox_result_free(r);
    /* the groups go with their worker */
    ef_sandbox_worker_free(cw);
    EF_CHECK_EQ_INT(own_cgroups_left(), before);
}

static void test_weak_mode(void)
{
    ef_sandbox_options o = opts();
    o.force_weak = 1;
    const char *argv[] = {"id", "-u", NULL};
    ef_sandbox_result *r = NULL;
    int rc = ef_sandbox_run(ctx, worker, &o, argv, &r);
    EF_CHECK_EQ_INT(rc, EF_ESANDBOX);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "refusing to run untrusted code");
    o.allow_weak = 1;
    r = run(&o, argv);
    EXPECT_STATUS(r, EF_SANDBOX_OK);
    if (r) {
        EF_CHECK_EQ_STR(r->isolation, "weak");
        char want[32];
        snprintf(want, sizeof want, "%u\n", ef_sandbox_worker_uid(worker));
        EF_CHECK_EQ_STR(r->out.data, want);
        char *json = ef_sandbox_result_json(r);
        EF_CHECK_CONTAINS(json, "\"isolation\":\"weak\"");
        ef_free(json);
    }
    ef_sandbox_result_free(r);
    /* the program's process shared our memory until its exec and changed uid: our
     * process must stay dumpable (it was before) */
    EF_CHECK_EQ_INT(prctl(PR_GET_DUMPABLE), rootless ? 0 : 1);
    /* seccomp still applies in the weak mode */
    const char *pt[] = {"python3", "-c", "import ctypes; ctypes.CDLL(None).syscall(101, 0)", NULL};
    r = run(&o, pt);
    EXPECT_STATUS(r, EF_SANDBOX_SECCOMP);
    ef_sandbox_result_free(r);
}

static void test_option_errors(void)
{
    ef_sandbox_options o = opts();
    ef_sandbox_result *r = NULL;
    const char *argv[] = {"true", NULL};
    o.version = 99;
    EF_CHECK_EQ_INT(ef_sandbox_run(ctx, worker, &o, argv, &r), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "version");
    o = opts();
    o.binds[0] = (ef_sandbox_bind){"/usr", "relative", 0};
    o.n_binds = 1;
    EF_CHECK_EQ_INT(ef_sandbox_run(ctx, worker, &o, argv, &r), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "relative");
    o = opts();
    o.binds[0] = (ef_sandbox_bind){"/no/such/source", "/x", 0};
    o.n_binds = 1;
    EF_CHECK_EQ_INT(ef_sandbox_run(ctx, worker, &o, argv, &r), EF_ENOTFOUND);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "/no/such/source");
    o = opts();
    o.workdir = "/no/such/workdir";
    EF_CHECK_EQ_INT(ef_sandbox_run(ctx, worker, &o, argv, &r), EF_ENOTFOUND);
    o = opts();
    o.workdir = "/etc/hostname";
    EF_CHECK_EQ_INT(ef_sandbox_run(ctx, worker, &o, argv, &r), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "/etc/hostname is not a directory");
    /* the sandbox's own trees, nested binds, /work beside a workdir: refused by name */
    static const char *const own[][2] = {{"/proc", "/proc"}, {"/dev/shm", "/dev"},
                                         {"/usr/bin/sh", "/usr"}, {"/lib64/x", "/lib64"}};
    for (size_t i = 0; i < EF_ARRAY_LEN(own); i++) {
        o = opts();
        o.binds[0] = (ef_sandbox_bind){"/etc/hostname", own[i][0], 0};
        o.n_binds = 1;
        EF_CHECK_EQ_INT(ef_sandbox_run(ctx, worker, &o, argv, &r), EF_EINVAL);
        EF_CHECK_CONTAINS(ef_errmsg(ctx), own[i][1]);
    }
    o = opts();
    o.binds[0] = (ef_sandbox_bind){"/etc", "/a", 0};
    o.binds[1] = (ef_sandbox_bind){"/usr", "/a/b", 0};
    o.n_binds = 2;
    EF_CHECK_EQ_INT(ef_sandbox_run(ctx, worker, &o, argv, &r), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "/a and /a/b nest");
    o = opts();
    o.workdir = "/tmp";
    o.binds[0] = (ef_sandbox_bind){"/etc", "/work/etc", 0};
    o.n_binds = 1;
    EF_CHECK_EQ_INT(ef_sandbox_run(ctx, worker, &o, argv, &r), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "/work is the workdir's");
    o = opts();
    o.out_bytes = 0;
    EF_CHECK_EQ_INT(ef_sandbox_run(ctx, worker, &o, argv, &r), EF_EINVAL);
    const char *empty[] = {NULL};
    o = opts();
    EF_CHECK_EQ_INT(ef_sandbox_run(ctx, worker, &o, empty, &r), EF_EINVAL);
    EF_CHECK(r == NULL);
}

static void test_alloc_failures(void)
{
    ef_sandbox_options o = opts();
    const char *argv[] = {"true", NULL};
    int completed = 0;
    EF_ALLOC_LOOP(n, 60)
    {
        ef_sandbox_result *r = NULL;
        int rc = ef_sandbox_run(ctx, worker, &o, argv, &r);
        if (rc == 0) {
            completed++;
            ef_sandbox_result_free(r);
        }
    }
    EF_CHECK(completed >= 1);
}

typedef struct {
    int slot, n_ok;
} thread_arg;

static void *thread_runs(void *p)
{
    thread_arg *a = p;
    ef_ctx *c = ef_ctx_new();
    ef_sandbox_worker_options wo = EF_SANDBOX_WORKER_OPTIONS_INIT;
    wo.slot = a->slot;
    ef_sandbox_worker *w = NULL;
    if (ef_sandbox_worker_new(c, &wo, &w) == 0) {
        ef_sandbox_options o = opts();
        char script[64];
        snprintf(script, sizeof script, "echo %d; id -u", a->slot);
        const char *argv[] = {"sh", "-c", script, NULL};
        for (int i = 0; i < 25; i++) {
            ef_sandbox_result *r = NULL;
            char want[64];
            snprintf(want, sizeof want, "%d\n1000\n", a->slot);
            if (ef_sandbox_run(c, w, &o, argv, &r) == 0 && r->status == EF_SANDBOX_OK &&
                !strcmp(r->out.data, want))
                a->n_ok++;
            ef_sandbox_result_free(r);
        }
    }
    ef_sandbox_worker_free(w);
    ef_ctx_free(c);
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[4];
    thread_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (thread_arg){i + 1, 0};
        pthread_create(&t[i], NULL, thread_runs, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        EF_CHECK_EQ_INT(a[i].n_ok, 25);
    }
    EF_CHECK_EQ_INT(prctl(PR_GET_DUMPABLE), rootless ? 0 : 1);
}

/* ---- sessions --------------------------------------------------------------------------- */

static const char repl_driver[] = "import sys\n"
                                  "g = {}\n"
                                  "for line in sys.stdin:\n"
                                  "    try:\n"
                                  "        exec(line, g)\n"
                                  "    except Exception as e:\n"
                                  "        print('error:', type(e).__name__, e)\n"
                                  "    sys.stdout.write('\\x1e\\n'); sys.stdout.flush()\n";

static const char frame_driver[] = "import sys, struct\n"
                                   "i, o = sys.stdin.buffer, sys.stdout.buffer\n"
                                   "while True:\n"
                                   "    h = i.read(4)\n"
                                   "    if len(h) < 4: break\n"
                                   "    d = i.read(struct.unpack('<I', h)[0])\n"
                                   "    r = d.upper()\n"
                                   "    o.write(struct.pack('<I', len(r)) + r); o.flush()\n";

/* One request/reply; the reply (or "" on failure) in a static buffer. */
static int call(ef_sandbox_session *s, const char *req, int64_t timeout_ms, char *reply, size_t cap)
{
    char *out = NULL;
    size_t len = 0;
    int rc = ef_sandbox_session_call(ctx, s, req, strlen(req), "\x1e\n", 2, timeout_ms, &out, &len);
    snprintf(reply, cap, "%s", rc == 0 ? out : "");
    ef_free(out);
    return rc;
}

static void test_session_calls(void)
{
    ef_sandbox_options o = opts();
    o.wall_ms = 0;
    const char *argv[] = {"python3", "-u", "-c", repl_driver, NULL};
    ef_sandbox_session *s = NULL;
    EF_CHECK_OK(ctx, ef_sandbox_session_start(ctx, worker, &o, argv, &s));
    if (!s)
        return;
    char *out = NULL, reply[256];
    size_t len = 0;
    for (int i = 0; i < 20; i++) {
        EF_CHECK_OK(ctx, call(s, "print(1+1)\n", 5000, reply, sizeof reply));
        EF_CHECK_EQ_STR(reply, "2\n");
    }
    /* state persists between calls; errors come back as text */
    EF_CHECK_OK(ctx, call(s, "x = 41\n", 5000, reply, sizeof reply));
    EF_CHECK_OK(ctx, call(s, "print(x + 1)\n", 5000, reply, sizeof reply));
    EF_CHECK_EQ_STR(reply, "42\n");
    EF_CHECK_OK(
        ctx, call(s, "import sys; print('e', file=sys.stderr); 1/0\n", 5000, reply, sizeof reply));
    EF_CHECK_CONTAINS(reply, "ZeroDivisionError");
    usleep(20000);
    EF_CHECK_CONTAINS(ef_sandbox_session_stderr(s, NULL), "e\n");
    EF_CHECK(ef_sandbox_session_alive(s));
    /* write + read_until separately */
    EF_CHECK_OK(ctx, ef_sandbox_session_write(ctx, s, "print('a'); print('b')\n", 23, 1000));
    EF_CHECK_OK(ctx, ef_sandbox_session_read_until(ctx, s, "\x1e\n", 2, 5000, &out, &len));
    EF_CHECK_EQ_STR(out, "a\nb\n");
    EF_CHECK_EQ_INT(len, 4);
    ef_free(out);
    /* runs of the same worker between calls (they rotate through the worker's user and
     * ipc namespaces; the session has its own): both sides keep working, and neither sees
     * the other's System V objects */
    EF_CHECK_OK(ctx, call(s,
                          "import ctypes; L = ctypes.CDLL(None); "
                          "print(L.shmget(0x5151, 4096, 0o1600) >= 0)\n",
                          5000, reply, sizeof reply));
    EF_CHECK_EQ_STR(reply, "True\n");
    for (int i = 0; i < 6; i++) {
        ef_sandbox_result *r = sh(&o, "tail -n +2 /proc/sysvipc/shm | wc -l");
        EXPECT_STATUS(r, EF_SANDBOX_OK);
        if (r)
            EF_CHECK_EQ_STR(r->out.data, "0\n");
        ef_sandbox_result_free(r);
        EF_CHECK_OK(ctx, call(s, "print(x)\n", 5000, reply, sizeof reply));
        EF_CHECK_EQ_STR(reply, "41\n");
    }
    ef_sandbox_session_free(s);
}

static void test_session_timeout_restart(void)
{
    ef_sandbox_options o = opts();
    o.wall_ms = 0;
    const char *argv[] = {"python3", "-u", "-c", repl_driver, NULL};
    ef_sandbox_session *s = NULL;
    EF_CHECK_OK(ctx, ef_sandbox_session_start(ctx, worker, &o, argv, &s));
    if (!s)
        return;
    char reply[256];
    int rc = call(s, "import time; time.sleep(10)\n", 300, reply, sizeof reply);
    EF_CHECK_EQ_INT(rc, EF_ETIMEOUT);
    EF_CHECK(!ef_sandbox_session_alive(s));
    EF_CHECK_EQ_INT(ef_sandbox_session_result(s)->status, EF_SANDBOX_TIMEOUT);
    EF_CHECK_EQ_STR(ef_sandbox_session_result(s)->detail, "call timed out");
    rc = call(s, "print(1)\n", 1000, reply, sizeof reply);
    EF_CHECK_EQ_INT(rc, EF_ESANDBOX);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "timeout");
    EF_CHECK_OK(ctx, ef_sandbox_session_restart(ctx, s));
    EF_CHECK(ef_sandbox_session_alive(s));
    EF_CHECK_OK(ctx, call(s, "print(3)\n", 5000, reply, sizeof reply));
    EF_CHECK_EQ_STR(reply, "3\n");
    /* the process dies: reported with its exit code */
    rc = call(s, "import os; os._exit(5)\n", 5000, reply, sizeof reply);
    EF_CHECK_EQ_INT(rc, EF_ESANDBOX);
    EF_CHECK(!ef_sandbox_session_alive(s));
    const ef_sandbox_result *res = ef_sandbox_session_result(s);
    EF_CHECK_EQ_INT(res->status, EF_SANDBOX_NONZERO_EXIT);
    EF_CHECK_EQ_INT(res->exit_code, 5);
    /* a violation ends it too */
    EF_CHECK_OK(ctx, ef_sandbox_session_restart(ctx, s));
    rc = call(s, "import ctypes; ctypes.CDLL(None).syscall(165, 0, 0, 0, 0)\n", 5000, reply,
              sizeof reply);
    EF_CHECK_EQ_INT(rc, EF_ESANDBOX);
    EF_CHECK_EQ_INT(ef_sandbox_session_result(s)->status, EF_SANDBOX_SECCOMP);
    EF_CHECK_EQ_STR(ef_sandbox_session_result(s)->detail, "mount");
    ef_sandbox_session_free(s);
}

static void test_session_frames_and_caps(void)
{
    ef_sandbox_options o = opts();
    o.wall_ms = 0;
    o.out_bytes = 4096;
    const char *argv[] = {"python3", "-u", "-c", frame_driver, NULL};
    ef_sandbox_session *s = NULL;
    EF_CHECK_OK(ctx, ef_sandbox_session_start(ctx, worker, &o, argv, &s));
    if (!s)
        return;
    char *out = NULL;
    size_t len = 0;
    EF_CHECK_OK(ctx, ef_sandbox_session_send_frame(ctx, s, "hello\nworld", 11, 1000));
    EF_CHECK_OK(ctx, ef_sandbox_session_recv_frame(ctx, s, 5000, &out, &len));
    EF_CHECK_EQ_INT(len, 11);
    EF_CHECK_EQ_STR(out, "HELLO\nWORLD");
    ef_free(out);
    /* a reply larger than the cap ends the session with output-limit */
    char big[8192];
    memset(big, 'a', sizeof big);
    EF_CHECK_OK(ctx, ef_sandbox_session_send_frame(ctx, s, big, sizeof big, 5000));
    int rc = ef_sandbox_session_recv_frame(ctx, s, 5000, &out, &len);
    EF_CHECK(rc < 0);
    EF_CHECK(!ef_sandbox_session_alive(s));
    EF_CHECK_EQ_INT(ef_sandbox_session_result(s)->status, EF_SANDBOX_OUTPUT_LIMIT);
    ef_sandbox_session_free(s);
    /* the session's wall limit */
    o.wall_ms = 300;
    const char *sl[] = {"sleep", "10", NULL};
    EF_CHECK_OK(ctx, ef_sandbox_session_start(ctx, worker, &o, sl, &s));
    rc = ef_sandbox_session_read_until(ctx, s, "x", 1, 5000, &out, &len);
    EF_CHECK_EQ_INT(rc, EF_ESANDBOX);
    EF_CHECK_EQ_INT(ef_sandbox_session_result(s)->status, EF_SANDBOX_TIMEOUT);
    ef_sandbox_session_free(s);
}

/* ---- CLI ---------------------------------------------------------------------------------- */

static void test_cli(void)
{
    const char *bin = getenv("EF_BIN");
    if (!bin || access(bin, X_OK) != 0)
        EF_SKIP_CASE("EF_BIN (the envforge binary) is not built");
    char cmd[1024], buf[4096];
    snprintf(cmd, sizeof cmd,
             "%s sandbox --wall-ms 2000 --mem-mb 256 --procs 8 --out-kb 4 "
             "--profile allow --env A=b -- sh -c 'echo $A' 2>&1",
             bin);
    FILE *p = popen(cmd, "r");
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    int st = pclose(p);
    EF_CHECK_EQ_INT(WEXITSTATUS(st), 0);
    EF_CHECK_CONTAINS(buf, "\"status\":\"ok\"");
    EF_CHECK_CONTAINS(buf, "\"stdout\":\"b\\n\"");
    snprintf(cmd, sizeof cmd, "%s sandbox --wall-ms 100 -- sleep 3 2>&1", bin);
    p = popen(cmd, "r");
    n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    st = pclose(p);
    EF_CHECK_EQ_INT(WEXITSTATUS(st), 1);
    EF_CHECK_CONTAINS(buf, "\"status\":\"timeout\"");
    /* a caller whose hard limit is below the sandbox's: the run gets the hard limit */
    snprintf(cmd, sizeof cmd,
             "command -v prlimit >/dev/null && prlimit --nofile=100:100 %s sandbox -- "
             "sh -c 'ulimit -n' 2>&1",
             bin);
    p = popen(cmd, "r");
    n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    st = pclose(p);
    if (n > 0) {
        EF_CHECK_EQ_INT(WEXITSTATUS(st), 0);
        EF_CHECK_CONTAINS(buf, "\"stdout\":\"100\\n\"");
    }
    /* root of a user namespace of its own with the host's mount namespace (unshare -Ur):
     * rootless mode, with a mount namespace it makes itself */
    snprintf(cmd, sizeof cmd,
             "unshare -Ur true 2>/dev/null && unshare -Ur %s sandbox -- sh -c 'ls /proc/1 >/dev/null "
             "2>&1; echo in' 2>&1",
             bin);
    p = popen(cmd, "r");
    n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    st = pclose(p);
    if (n > 0) {
        EF_CHECK_EQ_INT(WEXITSTATUS(st), 0);
        EF_CHECK_CONTAINS(buf, "\"rootless\":true");
        EF_CHECK_CONTAINS(buf, "\"stdout\":\"in\\n\"");
    }
    snprintf(cmd, sizeof cmd, "%s sandbox --help >/dev/null 2>&1", bin);
    EF_CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 0);
    snprintf(cmd, sizeof cmd, "%s sandbox --bogus -- true >/dev/null 2>&1", bin);
    EF_CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s sandbox --wall-ms 1000 >/dev/null 2>&1", bin);
    EF_CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 2);
}

int main(int argc, char **argv)
{
    rootless = ef_sandbox_rootless_enter(); /* as a non-root user (test_*_rootless) */
    EF_TEST_BEGIN(argc, argv);
    ctx = ef_ctx_new();
    EF_RUN(test_status_names);
    const char *why = "";
    if (ef_sandbox_worker_new(ctx, NULL, &worker) < 0 || !ef_sandbox_worker_full(worker, &why)) {
        printf("no full isolation here: %s\n", worker ? why : ef_errmsg(ctx));
        EF_SKIP(test_ok_fields, "no full isolation (needs root and user namespaces)");
        ef_sandbox_worker_free(worker);
        ef_ctx_free(ctx);
        return EF_TEST_END();
    }
    EF_RUN(test_ok_fields);
    EF_RUN(test_json_fields);
    EF_RUN(test_context_switches);
    EF_RUN(test_nonzero_exit);
    EF_RUN(test_signaled);
    EF_RUN(test_timeout);
    EF_RUN(test_cpu_limit);
    EF_RUN(test_killed_tree_accounted);
    EF_RUN(test_memory_limit_and_peak);
    EF_RUN(test_output_limit);
    EF_RUN(test_other_limits);
    EF_RUN(test_seccomp_violation);
    EF_RUN(test_setup_error);
    EF_RUN(test_stdin_env_identity);
    EF_RUN(test_workdir_and_binds);
    EF_RUN(test_bind_submounts_readonly);
    EF_RUN(test_workdir_idmap);
    EF_RUN(test_extra_fds);
    EF_RUN(test_network_option);
    EF_RUN(test_allow_profile);
    EF_RUN(test_filter_decisions);
    EF_RUN(test_cgroup_limits);
    EF_RUN(test_weak_mode);
    EF_RUN(test_option_errors);
    EF_RUN(test_alloc_failures);
    EF_RUN(test_threads);
    EF_RUN(test_session_calls);
    EF_RUN(test_session_timeout_restart);
    EF_RUN(test_session_frames_and_caps);
    EF_RUN(test_cli);
    EF_RUN(test_peak_rss_big_caller);
    ef_sandbox_worker_free(worker);
    ef_ctx_free(ctx);
    return EF_TEST_END();
}

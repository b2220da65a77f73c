/*
 * tests/test_sandbox_attacks.c — the sandbox's attack suite: hostile programs
 * (tests/sandbox_attacks/attack.c, python3 and sh snippets) that must each be contained
 * with the expected status, and must leave nothing behind on the host.
 *
 * Cases whose attack is refused by the kernel print "contained" and end ok; cases stopped
 * by a limit or by seccomp end with that status (seccomp naming the system call). After
 * every case no process of the worker's outer uid may be left on the host.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sandbox/sandbox.h"
#include "tests/testlib.h"

#ifndef ATTACK_BIN
#define ATTACK_BIN "sbx_attack"
#endif

/* The attack program: EF_ATTACK_BIN (tests/run_unprivileged.sh may copy it) or the one
 * built beside this test. */
static const char *attack_bin(void)
{
    const char *e = getenv("EF_ATTACK_BIN");
    return e && *e ? e : ATTACK_BIN;
}

static ef_ctx *ctx;
static ef_sandbox_worker *worker;
static int slot_base;
static char suite_dir[512]; /* read-only workdir holding a copy of the attack program */

/* Copies the attack program into dir as dir/attack (runs see it as /work/attack). */
static void install_attack(const char *dir)
{
    char *data = NULL, path[600];
    size_t len = 0;
    if (ef_file_read(ctx, attack_bin(), (size_t)64 << 20, &data, &len) < 0) {
        printf("cannot read %s: %s\n", attack_bin(), ef_errmsg(ctx));
        exit(1);
    }
    snprintf(path, sizeof path, "%s/attack", dir);
    ef_file_write(ctx, path, data, len);
    chmod(path, 0755);
    chmod(dir, 0755);
    ef_free(data);
}

static void base_opts(ef_sandbox_options *o)
{
    ef_sandbox_options d = EF_SANDBOX_OPTIONS_INIT;
    *o = d;
    o->wall_ms = 3000;
    o->cpu_ms = 2000;
    o->mem_bytes = (int64_t)256 << 20;
    o->procs = 32;
    o->out_bytes = 64 << 10;
    o->tmp_bytes = 4 << 20;
    o->file_bytes = 8 << 20;
    o->workdir = suite_dir; /* the prepared-root path; test_via_bind covers the other */
    o->workdir_writable = 0;
}

/* Processes of uid on the host (the sandbox's outer uid): none may survive a run. They
 * are SIGKILLed before the result is announced; the kernel may still be tearing them
 * down, so this waits up to 2 s for the count to reach zero. */
static int count_uid_procs_now(uint32_t uid);
static int count_uid_procs(uint32_t uid)
{
    int n = 0;
    for (int i = 0; i < 200 && (n = count_uid_procs_now(uid)) > 0; i++)
        usleep(10000);
    return n;
}

/* 1: running as a non-root user in our own user namespace (sandbox/rootless.c): the
 * sandboxes' outer uid is ours, so only processes in other pid namespaces count, and not
 * their inits (which share our memory) nor zombies */
static int rootless;

static int sandboxed_proc(const char *pid)
{
    char path[300], line[256];
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    FILE *f = fopen(path, "r");
    int zombie = 0, nested = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "State:", 6))
            zombie = strchr(line, 'Z') != NULL;
        if (!strncmp(line, "NSpid:", 6)) {
            int fields = 0;
            long last = 0;
            char *s = line + 6, *end;
            for (long v; (v = strtol(s, &end, 10)), end != s; s = end, fields++)
                last = v;
            nested = fields >= 2 && last != 1;
        }
    }
    if (f)
        fclose(f);
    return nested && !zombie;
}

static int count_uid_procs_now(uint32_t uid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            unsigned ruid;
            if (sscanf(line, "Uid: %u", &ruid) == 1) {
                if (ruid == uid && (!rootless || sandboxed_proc(e->d_name)))
                    n++;
                break;
            }
        }
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

/* Runs argv and checks status (and detail / stdout substrings when given). */
static ef_sandbox_result *expect(const ef_sandbox_options *o, const char *const *argv,
                                 ef_sandbox_status status, const char *detail, const char *out_has)
{
    ef_sandbox_result *r = NULL;
    int rc = ef_sandbox_run(ctx, worker, o, argv, &r);
    EF_CHECK_MSG(rc == 0, "run: %s", ef_errmsg(ctx));
    if (rc)
        return NULL;
    EF_CHECK_MSG(r->status == status, "status %s (%s), expected %s; stdout: %.300s; stderr: %.300s",
                 ef_sandbox_status_name(r->status), r->detail, ef_sandbox_status_name(status),
                 r->out.data, r->err.data);
    if (detail)
        EF_CHECK_CONTAINS(r->detail, detail);
    if (out_has)
        EF_CHECK_CONTAINS(r->out.data, out_has);
    EF_CHECK_MSG(!strstr(r->out.data, "ESCAPED"), "%s", r->out.data);
    EF_CHECK_EQ_INT(count_uid_procs(ef_sandbox_worker_uid(worker)), 0);
    return r;
}

static void attack(const char *name, ef_sandbox_status status, const char *detail,
                   const char *out_has)
{
    ef_sandbox_options o;
    base_opts(&o);
    const char *argv[] = {"/work/attack", name, NULL};
    ef_sandbox_result_free(expect(&o, argv, status, detail, out_has));
}

/* ---- limits ---------------------------------------------------------------------------- */

static void test_fork_bomb(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    o.wall_ms = 1500;
    o.procs = 16;
    const char *argv[] = {"/work/attack", "fork_bomb", NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_TIMEOUT, NULL, NULL));
}

static void test_fork_bomb_shell(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    o.wall_ms = 1500;
    o.procs = 16;
    /* The top shell either keeps spinning until the wall limit, or dies itself when one of
     * its own forks hits the process limit first (a race inside the bomb): both are
     * contained, and nothing may be left behind either way. */
    const char *argv[] = {"sh", "-c", "b() { b | b & }; b 2>/dev/null; while :; do :; done", NULL};
    ef_sandbox_result *r = NULL;
    EF_CHECK_OK(ctx, ef_sandbox_run(ctx, worker, &o, argv, &r));
    if (r)
        EF_CHECK_MSG(r->status == EF_SANDBOX_TIMEOUT || r->status == EF_SANDBOX_NONZERO_EXIT,
                     "status %s", ef_sandbox_status_name(r->status));
    EF_CHECK_EQ_INT(count_uid_procs(ef_sandbox_worker_uid(worker)), 0);
    ef_sandbox_result_free(r);
}

static void test_memory_bomb(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    o.mem_bytes = 64 << 20;
    const char *argv[] = {"/work/attack", "memory_bomb", NULL};
    ef_sandbox_result *r = expect(&o, argv, EF_SANDBOX_MEMORY_LIMIT, NULL, NULL);
    /* with a cgroup its peak is the tree's charge, else the largest RSS */
    int64_t peak = r && r->cgroup ? r->mem_peak_kb : r ? r->peak_rss_kb : 0;
    if (r)
        EF_CHECK_MSG(peak > 30 * 1024 && peak <= 64 * 1024, "peak %lld kB (cgroup %d)",
                     (long long)peak, r->cgroup);
    ef_sandbox_result_free(r);
}

static void test_memory_bomb_python(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    o.mem_bytes = 128 << 20;
    const char *argv[] = {"python3", "-c", "a = []\nwhile True: a.append(' ' * 10**6)", NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_MEMORY_LIMIT, NULL, NULL));
}

/* Four processes, each under the per-process limit, together past it: the tree's
 * resident memory is what the init checks. */
static void test_memory_bomb_processes(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    o.mem_bytes = 256 << 20;
    o.wall_ms = 20000;
    const char *argv[] = {"python3", "-c",
                          "import multiprocessing as mp, time\n"
                          "def f(i):\n    b = bytearray(100 * 2**20)\n    time.sleep(5)\n"
                          "with mp.Pool(4) as p: p.map(f, range(4))\n",
                          NULL};
    /* the init ends the tree at the limit: by its polls of the tree's resident memory, or
     * by the cgroup's count of OOM kills (the pool would wait for its killed worker) */
    ef_sandbox_result *r = expect(&o, argv, EF_SANDBOX_MEMORY_LIMIT, NULL, NULL);
    if (r && r->cgroup) {
        EF_CHECK_CONTAINS(r->detail, "cgroup");
        EF_CHECK_MSG(r->mem_peak_kb > 200 * 1024 && r->mem_peak_kb <= 256 * 1024,
                     "mem_peak_kb %lld", (long long)r->mem_peak_kb);
    } else if (r) {
        EF_CHECK_CONTAINS(r->detail, "tree");
        EF_CHECK(r->peak_rss_kb > 256 * 1024);
    }
    ef_sandbox_result_free(r);
}

/* Memory in no process's mappings: memfds kept open (the tree's memory counts them) and
 * System V segments detached after use (the run's ipc namespace caps their total at the
 * memory limit). Each held 768 MB under a 256 MB limit and ended ok. */
static void test_memory_hoard_memfd(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    const char *argv[] = {"/work/attack", "hoard", "memfd", "768", "256", NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_MEMORY_LIMIT, "memfds", NULL));
}

static void test_memory_hoard_sysv(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    const char *argv[] = {"/work/attack", "hoard", "sysv", "768", "256", NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_OK, NULL, "No space left on device"));
}

static void test_busy_loop(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    o.cpu_ms = 1000;
    o.wall_ms = 30000; /* a loaded machine may need long to give it 1 s of CPU */
    const char *argv[] = {"/work/attack", "busy_loop", NULL};
    ef_sandbox_result *r = expect(&o, argv, EF_SANDBOX_CPU_LIMIT, NULL, NULL);
    if (r)
        EF_CHECK(r->cpu_ms > 0);
    ef_sandbox_result_free(r);
}

static void test_sleep_past_wall(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    o.wall_ms = 300;
    const char *argv[] = {"/work/attack", "sleep", NULL};
    ef_sandbox_result *r = expect(&o, argv, EF_SANDBOX_TIMEOUT, "wall", NULL);
    if (r)
        EF_CHECK(r->wall_ms >= 300 && r->signal == SIGKILL);
    ef_sandbox_result_free(r);
}

static void test_endless_stdout(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    const char *argv[] = {"/work/attack", "endless_stdout", NULL};
    ef_sandbox_result *r = expect(&o, argv, EF_SANDBOX_OUTPUT_LIMIT, "stdout", NULL);
    if (r)
        EF_CHECK(r->out.truncated && r->out.len == (size_t)o.out_bytes);
    ef_sandbox_result_free(r);
}

static void test_endless_stderr(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    const char *argv[] = {"/work/attack", "endless_stderr", NULL};
    ef_sandbox_result *r = expect(&o, argv, EF_SANDBOX_OUTPUT_LIMIT, "stderr", NULL);
    if (r)
        EF_CHECK(r->err.truncated && r->err.len == (size_t)o.out_bytes && !r->out.truncated);
    ef_sandbox_result_free(r);
}

static void test_fill_tmp(void)
{
    attack("fill_tmp", EF_SANDBOX_NONZERO_EXIT, NULL, "No space left on device");
}

static void test_huge_file(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    o.tmp_bytes = 64 << 20;
    o.file_bytes = 1 << 20;
    const char *argv[] = {"/work/attack", "huge_file", "/tmp/huge", NULL};
    ef_sandbox_result *r = expect(&o, argv, EF_SANDBOX_SIGNALED, "file size", NULL);
    if (r)
        EF_CHECK_EQ_INT(r->signal, SIGXFSZ);
    ef_sandbox_result_free(r);
}

/* ---- filesystem ------------------------------------------------------------------------- */

static void test_read_host_files(void)
{
    attack("read_host_files", EF_SANDBOX_OK, NULL, "contained");
}

static void test_write_ro_binds(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    /* the suite's workdir is read-only: readable by the sandbox's uid, writable by root */
    const char *argv[] = {"/work/attack", "write_ro", NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_OK, NULL, "contained"));
}

static char *make_workdir(const char *tag, char *secret_path, size_t n)
{
    char *wd = ef_strdup(ef_test_tmpdir(tag));
    /* a host file outside the workdir, and a symlink to it planted inside */
    snprintf(secret_path, n, "%s.secret", wd);
    FILE *f = fopen(secret_path, "w");
    if (f) {
        fputs("HOST-SECRET\n", f);
        fclose(f);
    }
    char link[600], host_file[600];
    snprintf(link, sizeof link, "%s/link_to_host", wd);
    if (symlink(secret_path, link) != 0)
        perror("symlink");
    snprintf(host_file, sizeof host_file, "%s/host_file", wd);
    f = fopen(host_file, "w");
    if (f) {
        fputs("x\n", f);
        fclose(f);
    }
    install_attack(wd);
    ef_sandbox_dir_chown(ctx, worker, wd);
    return wd;
}

static void workdir_attack(const char *name)
{
    char secret[600];
    char *wd = make_workdir(name, secret, sizeof secret);
    ef_sandbox_options o;
    base_opts(&o);
    o.workdir = wd;
    o.workdir_writable = 1;
    const char *argv[] = {"/work/attack", name, NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_OK, NULL, "contained"));
    unlink(secret);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", wd);
    if (system(cmd) != 0)
        printf("    (could not remove %s)\n", wd);
    ef_free(wd);
}

/* No set-id file can be made in the writable workdir; checked again from the host. */
static void test_setid_files(void)
{
    char secret[600];
    char *wd = make_workdir("setid_files", secret, sizeof secret);
    ef_sandbox_options o;
    base_opts(&o);
    o.workdir = wd;
    o.workdir_writable = 1;
    const char *argv[] = {"/work/attack", "setid_files", NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_OK, NULL, "contained"));
    DIR *d = opendir(wd);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[1200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", wd, e->d_name);
        if (lstat(path, &st) == 0)
            EF_CHECK_MSG(!(st.st_mode & (S_ISUID | S_ISGID)), "%s has mode %o", path,
                         (unsigned)st.st_mode);
    }
    if (d)
        closedir(d);
    unlink(secret);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", wd);
    if (system(cmd) != 0)
        printf("    (could not remove %s)\n", wd);
    ef_free(wd);
}

/* The workdir is handed back to the sandbox's uid (ef_sandbox_dir_chown, as the tools do
 * after the editor or git changed it) while a session is still changing it: a directory
 * swapped for a symlink to a host directory mid-walk must not make the caller chown the
 * host directory's files (root chowned them to the sandbox's uid within ~100 walks). */
static void test_chown_race(void)
{
    char secret[600], victim[700], path[800];
    char *wd = make_workdir("chown_race", secret, sizeof secret);
    snprintf(victim, sizeof victim, "%s.victim", wd);
    mkdir(victim, 0755);
    snprintf(path, sizeof path, "%s/f1", victim); /* the host's file */
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    char dpath[800];
    snprintf(dpath, sizeof dpath, "%s/d", wd); /* the sandbox's directory, with an f1 too */
    mkdir(dpath, 0755);
    snprintf(dpath, sizeof dpath, "%s/d/f1", wd);
    if ((f = fopen(dpath, "w")))
        fclose(f);
    EF_CHECK_OK(ctx, ef_sandbox_dir_chown(ctx, worker, wd));
    struct stat vdir0, vfile0;
    EF_CHECK(stat(victim, &vdir0) == 0 && stat(path, &vfile0) == 0);
    ef_sandbox_options o;
    base_opts(&o);
    o.workdir = wd;
    o.workdir_writable = 1;
    o.wall_ms = 30000;
    o.cpu_ms = 30000;
    const char *argv[] = {"/work/attack", "chown_race", victim, NULL};
    ef_sandbox_session *s = NULL;
    EF_CHECK_OK(ctx, ef_sandbox_session_start(ctx, worker, &o, argv, &s));
    char *out = NULL;
    size_t len = 0;
    if (s)
        EF_CHECK_OK(ctx, ef_sandbox_session_read_until(ctx, s, "ready\n", 6, 10000, &out, &len));
    ef_free(out);
    int walks = 0, failed = 0, moved = 0;
    double end = ef_now_s() + 2.0;
    while (s && !moved && walks < 50000 && ef_now_s() < end) {
        if (ef_sandbox_dir_chown(ctx, worker, wd) < 0)
            failed++;
        walks++;
        struct stat st;
        moved = (stat(path, &st) == 0 && (st.st_uid != vfile0.st_uid || st.st_gid != vfile0.st_gid)) ||
                (stat(victim, &st) == 0 && st.st_uid != vdir0.st_uid);
    }
    printf("    (%d walks beside the swapping session, %d failed)\n", walks, failed);
    EF_CHECK_MSG(!moved, "the host's %s changed owner after %d walks", path, walks);
    EF_CHECK_MSG(s && ef_sandbox_session_alive(s), "the swapping session ended early");
    ef_sandbox_session_free(s);
    EF_CHECK_EQ_INT(count_uid_procs(ef_sandbox_worker_uid(worker)), 0);
    unlink(path);
    rmdir(victim);
    unlink(secret);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", wd);
    if (system(cmd) != 0)
        printf("    (could not remove %s)\n", wd);
    ef_free(wd);
}

/* The caller's thread runs real-time, at nice -5, in the real-time I/O class, with an OOM
 * score of -500 (each where this process may set it; rootless, none): the program gets
 * none of them, and cannot take them itself. */
static int write_oom(const char *v)
{
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, v, strlen(v));
    close(fd);
    return n == (ssize_t)strlen(v) ? 0 : -1;
}

static void test_sched_inherit(void)
{
    struct sched_param sp = {1}, old_sp;
    int old_pol = sched_getscheduler(0);
    sched_getparam(0, &old_sp);
    int rt = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
    errno = 0;
    int old_nice = getpriority(PRIO_PROCESS, 0);
    int niced = setpriority(PRIO_PROCESS, 0, -5) == 0;
    long old_io = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
    int io_rt = syscall(SYS_ioprio_set, 1, 0, 1L << 13 /* IOPRIO_CLASS_RT */) == 0;
    char old_oom[16] = "0";
    FILE *f = fopen("/proc/self/oom_score_adj", "r");
    if (f) {
        if (!fgets(old_oom, sizeof old_oom, f))
            snprintf(old_oom, sizeof old_oom, "0");
        fclose(f);
    }
    int oom = write_oom("-500") == 0;
    printf("    (the caller: SCHED_FIFO %s, nice -5 %s, I/O real-time %s, OOM score -500 %s)\n",
           rt ? "yes" : "refused", niced ? "yes" : "refused", io_rt ? "yes" : "refused",
           oom ? "yes" : "refused");
    attack("sched_inherit", EF_SANDBOX_OK, NULL, "contained");
    if (oom)
        write_oom(old_oom);
    if (io_rt)
        syscall(SYS_ioprio_set, 1, 0, old_io);
    if (niced)
        setpriority(PRIO_PROCESS, 0, old_nice);
    if (rt)
        sched_setscheduler(0, old_pol, &old_sp);
}

/* The program's stdin holds the caller's bytes (a memfd): opening it again for writing
 * through /proc/self/fd/0 must not let it rewrite them. */
static void test_stdin_rewrite(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    o.stdin_data = "original\n";
    o.stdin_len = 9;
    const char *argv[] = {"/work/attack", "stdin_rewrite", NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_OK, NULL, "stdin: original"));
}

/* A filter the program stacks on the sandbox's gets no notification listener, and a
 * denied call under an allow-all filter of its own is still reported. */
static void test_seccomp_stack(void)
{
    attack("seccomp_stack", EF_SANDBOX_SECCOMP, "ptrace", "own listener: Device or resource busy");
}

/* inotify instances and queued signals stop at the sandbox's caps (the kernel also counts
 * them for the owner of its user namespace); no forged finish request ends the run. */
static void test_quotas(void)
{
    attack("quotas", EF_SANDBOX_OK, NULL, "contained");
}

static void test_symlink_escape(void)
{
    workdir_attack("symlink_escape");
}

static void test_hardlink_escape(void)
{
    workdir_attack("hardlink_escape");
}

static void test_proc_tricks(void)
{
    attack("proc_tricks", EF_SANDBOX_OK, NULL, "contained");
}

/* The init shares the program's uid outside in rootless mode: no signal, prlimit, pidfd
 * or /proc file of it reaches it (in root mode it is root's, and hidden). */
/* No hard limit of the sandbox's can be raised, by setrlimit or prlimit. */
static void test_raise_limits(void)
{
    attack("raise_limits", EF_SANDBOX_OK, NULL, "contained");
}

/* No sysctl is writable: in rootless mode the ipc and network namespaces' are the
 * caller's uid's, which the program is outside, and they outlive the run. */
static void test_sysctl_write(void)
{
    attack("sysctl_write", EF_SANDBOX_OK, NULL, "contained");
}

static void test_touch_init(void)
{
    attack("touch_init", EF_SANDBOX_OK, NULL, "contained");
}

static void test_setuid_binaries(void)
{
    /* su is setuid root on the host; inside, nosuid + no_new_privs + an unmapped owner */
    ef_sandbox_options o;
    base_opts(&o);
    const char *argv[] = {"sh", "-c",
                          "for b in /usr/bin/su /bin/su /usr/bin/passwd /usr/bin/newgrp; do "
                          "[ -u \"$b\" ] && echo found $b; done; "
                          "su root -c 'echo ESCAPED' </dev/null 2>/dev/null; "
                          "newgrp root </dev/null 2>/dev/null && echo ESCAPED; echo done",
                          NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_OK, NULL, "found"));
}

static void test_setuid_root(void)
{
    attack("setuid_root", EF_SANDBOX_OK, NULL, "contained");
}

/* ---- system calls ------------------------------------------------------------------------- */

static void test_ptrace(void)
{
    attack("ptrace", EF_SANDBOX_SECCOMP, "ptrace", NULL);
}
static void test_mount(void)
{
    attack("mount", EF_SANDBOX_SECCOMP, "mount", NULL);
}
static void test_unshare(void)
{
    attack("unshare", EF_SANDBOX_SECCOMP, "unshare", NULL);
}
static void test_setns(void)
{
    attack("setns", EF_SANDBOX_SECCOMP, "setns", NULL);
}
static void test_clone_newuser(void)
{
    attack("clone_newuser", EF_SANDBOX_SECCOMP, "clone", NULL);
}
static void test_chroot(void)
{
    attack("chroot", EF_SANDBOX_SECCOMP, "chroot", NULL);
}
static void test_tiocsti(void)
{
    attack("tiocsti", EF_SANDBOX_SECCOMP, "ioctl", NULL);
}
static void test_tiocsti_high_bits(void)
{
    attack("tiocsti_high", EF_SANDBOX_SECCOMP, "ioctl", NULL);
}
static void test_bpf(void)
{
    attack("bpf", EF_SANDBOX_SECCOMP, "bpf", NULL);
}
static void test_perf_event_open(void)
{
    attack("perf_event_open", EF_SANDBOX_SECCOMP, "perf_event_open", NULL);
}
static void test_io_uring(void)
{
    attack("io_uring", EF_SANDBOX_SECCOMP, "io_uring_setup", NULL);
}
static void test_keyctl(void)
{
    attack("keyctl", EF_SANDBOX_SECCOMP, "add_key", NULL);
}
static void test_userfaultfd(void)
{
    attack("userfaultfd", EF_SANDBOX_SECCOMP, "userfaultfd", NULL);
}
static void test_process_vm_readv(void)
{
    attack("process_vm_readv", EF_SANDBOX_SECCOMP, "process_vm_readv", NULL);
}
static void test_open_by_handle_at(void)
{
    attack("open_by_handle_at", EF_SANDBOX_SECCOMP, "open_by_handle_at", NULL);
}
static void test_kexec(void)
{
    attack("kexec", EF_SANDBOX_SECCOMP, "kexec_load", NULL);
}
static void test_int80_abi(void)
{
    attack("int80", EF_SANDBOX_SECCOMP, "i386", NULL);
}
static void test_x32_abi(void)
{
    attack("x32", EF_SANDBOX_SECCOMP, NULL, NULL);
}
static void test_clone3_enosys(void)
{
    attack("clone3", EF_SANDBOX_OK, NULL, "Function not implemented");
}

/* ---- network -------------------------------------------------------------------------- */

static void test_connect_localhost(void)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    EF_CHECK(bind(ls, (struct sockaddr *)&a, sizeof a) == 0 && listen(ls, 4) == 0);
    getsockname(ls, (struct sockaddr *)&a, &al);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    ef_sandbox_options o;
    base_opts(&o);
    const char *argv[] = {"/work/attack", "connect", "127.0.0.1", port, NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_OK, NULL, "contained"));
    /* nothing reached the host listener */
    fcntl(ls, F_SETFL, O_NONBLOCK);
    int c = accept(ls, NULL, NULL);
    EF_CHECK(c < 0);
    if (c >= 0)
        close(c);
    close(ls);
}

static void test_connect_outside(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    const char *argv[] = {"/work/attack", "connect", "1.1.1.1", "80", NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_OK, NULL, "contained"));
}

static void test_raw_sockets(void)
{
    attack("raw_sockets", EF_SANDBOX_OK, NULL, "contained");
}

/* A host listener in the abstract unix namespace, which belongs to the network namespace:
 * without network (AF_UNIX stays allowed) the sandbox must not reach it. The same program
 * run on the host does, so the probe itself works. */
static void test_abstract_unix(void)
{
    char name[64];
    snprintf(name, sizeof name, "ef-attack-%d", (int)getpid());
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path + 1, name, strlen(name));
    socklen_t al = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
    EF_CHECK(bind(ls, (struct sockaddr *)&a, al) == 0 && listen(ls, 4) == 0);
    char cmd[700], line[256] = "";
    snprintf(cmd, sizeof cmd, "'%s' abstract_unix %s", attack_bin(), name);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (!fgets(line, sizeof line, p))
            line[0] = '\0';
        pclose(p);
    }
    EF_CHECK_CONTAINS(line, "connected"); /* from the host */
    int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    if (c >= 0)
        close(c);
    ef_sandbox_options o;
    base_opts(&o);
    const char *argv[] = {"/work/attack", "abstract_unix", name, NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_OK, NULL, "Connection refused"));
    fcntl(ls, F_SETFL, O_NONBLOCK);
    c = accept(ls, NULL, NULL);
    EF_CHECK(c < 0);
    if (c >= 0)
        close(c);
    close(ls);
}

/* ---- processes ---------------------------------------------------------------------- */

static void test_kill_minus_one(void)
{
    pid_t sleeper = fork();
    if (sleeper == 0) {
        execl("/bin/sleep", "sleep", "30", (char *)NULL);
        _exit(1);
    }
    attack("kill_all", EF_SANDBOX_OK, NULL, "contained");
    EF_CHECK(kill(sleeper, 0) == 0); /* the host's process survived */
    kill(sleeper, SIGKILL);
    waitpid(sleeper, NULL, 0);
}

static void test_daemon_grandchild(void)
{
    char *wd = ef_strdup(ef_test_tmpdir("sbx-daemon"));
    install_attack(wd);
    ef_sandbox_dir_chown(ctx, worker, wd);
    ef_sandbox_options o;
    base_opts(&o);
    o.workdir = wd;
    o.workdir_writable = 1;
    const char *argv[] = {"/work/attack", "daemonize", NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_OK, NULL, "contained"));
    char path[600];
    snprintf(path, sizeof path, "%s/daemon_alive", wd);
    struct stat st1, st2;
    memset(&st1, 0, sizeof st1);
    memset(&st2, 0, sizeof st2);
    stat(path, &st1);
    usleep(200000);
    stat(path, &st2);
    EF_CHECK_MSG(st1.st_size == st2.st_size, "the daemon kept writing: %lld -> %lld",
                 (long long)st1.st_size, (long long)st2.st_size);
    unlink(path);
    snprintf(path, sizeof path, "%s/attack", wd);
    unlink(path);
    rmdir(wd);
    ef_free(wd);
}

/* The same hostile programs in a root built for the run (not the worker's prepared one),
 * the program reached through a caller bind. */
static void test_via_bind(void)
{
    static const char *const cases[] = {"read_host_files", "proc_tricks", "write_ro",
                                        "setuid_root",     "leaked_fds",  "sysctl_write"};
    for (size_t i = 0; i < EF_ARRAY_LEN(cases); i++) {
        ef_sandbox_options o;
        base_opts(&o);
        o.workdir = NULL;
        o.per_run_root = 1;
        o.binds[0] = (ef_sandbox_bind){attack_bin(), "/opt/attack", 0};
        o.n_binds = 1;
        const char *argv[] = {"/opt/attack", cases[i], NULL};
        ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_OK, NULL, "contained"));
    }
    ef_sandbox_options o;
    base_opts(&o);
    o.workdir = NULL;
    o.per_run_root = 1;
    o.binds[0] = (ef_sandbox_bind){attack_bin(), "/opt/attack", 0};
    o.n_binds = 1;
    const char *argv[] = {"/opt/attack", "mount", NULL};
    ef_sandbox_result_free(expect(&o, argv, EF_SANDBOX_SECCOMP, "mount", NULL));
}

static void test_leaked_fds(void)
{
    int fd = open("/etc/hostname", O_RDONLY); /* no O_CLOEXEC: would leak with fork/exec */
    int fd2 = dup(1);
    attack("leaked_fds", EF_SANDBOX_OK, NULL, "contained");
    close(fd);
    close(fd2);
}

static void test_env_absent(void)
{
    setenv("EF_TEST_SECRET_TOKEN", "hunter2", 1);
    attack("env_absent", EF_SANDBOX_OK, NULL, "contained");
    unsetenv("EF_TEST_SECRET_TOKEN");
}

/* envforge itself dies (SIGKILL) while a sandbox runs: the sandbox must die with it. */
static void test_caller_killed(void)
{
    int slot = slot_base + 3;
    pid_t child = fork();
    if (child == 0) {
        ef_ctx *c = ef_ctx_new();
        ef_sandbox_worker_options wo = EF_SANDBOX_WORKER_OPTIONS_INIT;
        wo.slot = slot;
        ef_sandbox_worker *w = NULL;
        if (ef_sandbox_worker_new(c, &wo, &w) < 0)
            _exit(3);
        ef_sandbox_options o;
        base_opts(&o);
        o.wall_ms = 30000;
        const char *argv[] = {"sh", "-c", "sleep 30 & sleep 30 & wait", NULL};
        ef_sandbox_result *r = NULL;
        ef_sandbox_run(c, w, &o, argv, &r);
        _exit(4);
    }
    /* rootless: every worker's sandboxes run as our own uid outside */
    uint32_t uid = ef_sandbox_worker_uid(worker) + (rootless ? 0 : 3);
    int seen = 0;
    for (int i = 0; i < 300 && !seen; i++) { /* wait until the sandbox runs */
        seen = count_uid_procs_now(uid) >= 3;
        usleep(10000);
    }
    EF_CHECK_MSG(seen, "the sandbox never started");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    EF_CHECK_EQ_INT(count_uid_procs(uid), 0);
}

/* The next runs of a worker find nothing a run left in System V IPC (the worker's ipc
 * namespaces are reused and emptied), whichever of them they land on. */
static void test_ipc_left_behind(void)
{
    ef_sandbox_options o;
    base_opts(&o);
    const char *leave[] = {"/work/attack", "leave_ipc", NULL};
    const char *find[] = {"/work/attack", "find_ipc", NULL};
    for (int round = 0; round < 2; round++) {
        ef_sandbox_result_free(expect(&o, leave, EF_SANDBOX_OK, NULL, "left shm"));
        for (int i = 0; i < 5; i++)
            ef_sandbox_result_free(expect(&o, find, EF_SANDBOX_OK, NULL, "contained"));
    }
}

/* Workers on three threads, two of them on one outer uid, each running fork bombs between
 * ordinary runs that need 13 processes of their 16: every ordinary run must succeed (no
 * bomb, of its own worker or of another, may take its processes), and nothing may be left
 * on the host afterwards. */
typedef struct {
    int slot, failures;
    char first[400];
} bomb_arg;

static void *bomb_thread(void *p)
{
    bomb_arg *a = p;
    ef_ctx *c = ef_ctx_new();
    ef_sandbox_worker_options wo = EF_SANDBOX_WORKER_OPTIONS_INIT;
    wo.slot = a->slot;
    ef_sandbox_worker *w = NULL;
    if (ef_sandbox_worker_new(c, &wo, &w) < 0) {
        a->failures = -1;
        ef_ctx_free(c);
        return NULL;
    }
    const char *bomb[] = {"sh", "-c", "b() { b | b & }; b 2>/dev/null; sleep 0.1", NULL};
    const char *work[] = {"sh", "-c",
                          "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 0.01 & done; wait; "
                          "echo done",
                          NULL};
    for (int i = 0; i < 30; i++) {
        ef_sandbox_options o;
        base_opts(&o);
        o.workdir = NULL;
        o.procs = 16;
        int is_bomb = i % 5 == 0;
        ef_sandbox_result *r = NULL;
        if (ef_sandbox_run(c, w, &o, is_bomb ? bomb : work, &r) < 0) {
            a->failures++;
            continue;
        }
        if (!is_bomb && (r->status != EF_SANDBOX_OK || strcmp(r->out.data, "done\n") != 0)) {
            if (!a->failures++)
                snprintf(a->first, sizeof a->first, "run %d: %s %s: %.120s", i,
                         ef_sandbox_status_name(r->status), r->detail, r->err.data);
        }
        ef_sandbox_result_free(r);
    }
    ef_sandbox_worker_free(w);
    ef_ctx_free(c);
    return NULL;
}

static void test_bombs_beside_work(void)
{
    bomb_arg a[3] = {{slot_base + 3, 0, ""}, {slot_base + 3, 0, ""}, {slot_base + 1, 0, ""}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, bomb_thread, &a[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++)
        EF_CHECK_MSG(a[i].failures == 0, "thread %d: %d failed runs; first: %s", i, a[i].failures,
                     a[i].first);
    uint32_t base_uid = ef_sandbox_worker_uid(worker) - (uint32_t)slot_base;
    if (rootless) {
        EF_CHECK_EQ_INT(count_uid_procs(ef_sandbox_worker_uid(worker)), 0);
        return;
    }
    EF_CHECK_EQ_INT(count_uid_procs(base_uid + (uint32_t)slot_base + 3), 0);
    EF_CHECK_EQ_INT(count_uid_procs(base_uid + (uint32_t)slot_base + 1), 0);
}

typedef struct {
    const char *mine, *theirs;
    int slot;
    ef_sandbox_status status;
    char out[256];
    int ok;
} cross_arg;

static void *cross_thread(void *p)
{
    cross_arg *a = p;
    ef_ctx *c = ef_ctx_new();
    ef_sandbox_worker_options wo = EF_SANDBOX_WORKER_OPTIONS_INIT;
    wo.slot = a->slot;
    ef_sandbox_worker *w = NULL;
    if (ef_sandbox_worker_new(c, &wo, &w) == 0) {
        ef_sandbox_options o;
        base_opts(&o);
        const char *argv[] = {"/work/attack", "cross_read", a->mine, a->theirs, NULL};
        ef_sandbox_result *r = NULL;
        if (ef_sandbox_run(c, w, &o, argv, &r) == 0) {
            a->ok = 1;
            a->status = r->status;
            snprintf(a->out, sizeof a->out, "%s", r->out.data);
        }
        ef_sandbox_result_free(r);
    }
    ef_sandbox_worker_free(w);
    ef_ctx_free(c);
    return NULL;
}

static void test_cross_sandbox_read(void)
{
    cross_arg a = {"A", "B", slot_base + 1, EF_SANDBOX_SETUP_ERROR, "", 0};
    cross_arg b = {"B", "A", slot_base + 2, EF_SANDBOX_SETUP_ERROR, "", 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, cross_thread, &a);
    pthread_create(&tb, NULL, cross_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    EF_CHECK(a.ok && b.ok);
    EF_CHECK_MSG(a.status == EF_SANDBOX_OK && strstr(a.out, "contained"), "A: %s %s",
                 ef_sandbox_status_name(a.status), a.out);
    EF_CHECK_MSG(b.status == EF_SANDBOX_OK && strstr(b.out, "contained"), "B: %s %s",
                 ef_sandbox_status_name(b.status), b.out);
}

int main(int argc, char **argv)
{
    rootless = ef_sandbox_rootless_enter(); /* as a non-root user (test_*_rootless) */
    EF_TEST_BEGIN(argc, argv);
    ctx = ef_ctx_new();
    const char *why = "";
    /* a slot (outer uid) of our own, so other suites' sandboxes do not count as ours */
    ef_sandbox_worker_options wo = EF_SANDBOX_WORKER_OPTIONS_INIT;
    wo.slot = 1000 + (int)(getpid() % 20000) * 4;
    slot_base = wo.slot;
    if (ef_sandbox_worker_new(ctx, &wo, &worker) < 0 || !ef_sandbox_worker_full(worker, &why)) {
        printf("skip all: no full isolation here: %s\n", worker ? why : ef_errmsg(ctx));
        EF_SKIP(test_fork_bomb, "no full isolation (needs root and user namespaces)");
        ef_sandbox_worker_free(worker);
        ef_ctx_free(ctx);
        return EF_TEST_END();
    }
    snprintf(suite_dir, sizeof suite_dir, "%s", ef_test_tmpdir("sbx-attacks"));
    install_attack(suite_dir);
    EF_RUN(test_fork_bomb);
    EF_RUN(test_fork_bomb_shell);
    EF_RUN(test_memory_bomb);
    EF_RUN(test_memory_bomb_python);
    EF_RUN(test_memory_bomb_processes);
    EF_RUN(test_memory_hoard_memfd);
    EF_RUN(test_memory_hoard_sysv);
    EF_RUN(test_busy_loop);
    EF_RUN(test_sleep_past_wall);
    EF_RUN(test_endless_stdout);
    EF_RUN(test_endless_stderr);
    EF_RUN(test_fill_tmp);
    EF_RUN(test_huge_file);
    EF_RUN(test_read_host_files);
    EF_RUN(test_write_ro_binds);
    EF_RUN(test_symlink_escape);
    EF_RUN(test_hardlink_escape);
    EF_RUN(test_proc_tricks);
    EF_RUN(test_touch_init);
    EF_RUN(test_sysctl_write);
    EF_RUN(test_raise_limits);
    EF_RUN(test_setid_files);
    EF_RUN(test_quotas);
    EF_RUN(test_chown_race);
    EF_RUN(test_sched_inherit);
    EF_RUN(test_seccomp_stack);
    EF_RUN(test_stdin_rewrite);
    EF_RUN(test_setuid_binaries);
    EF_RUN(test_setuid_root);
    EF_RUN(test_ptrace);
    EF_RUN(test_mount);
    EF_RUN(test_unshare);
    EF_RUN(test_setns);
    EF_RUN(test_clone_newuser);
    EF_RUN(test_chroot);
    EF_RUN(test_tiocsti);
    EF_RUN(test_tiocsti_high_bits);
    EF_RUN(test_bpf);
    EF_RUN(test_perf_event_open);
    EF_RUN(test_io_uring);
    EF_RUN(test_keyctl);
    EF_RUN(test_userfaultfd);
    EF_RUN(test_process_vm_readv);
    EF_RUN(test_open_by_handle_at);
    EF_RUN(test_kexec);
    EF_RUN(test_int80_abi);
    EF_RUN(test_x32_abi);
    EF_RUN(test_clone3_enosys);
    EF_RUN(test_connect_localhost);
    EF_RUN(test_connect_outside);
    EF_RUN(test_raw_sockets);
    EF_RUN(test_abstract_unix);
    EF_RUN(test_kill_minus_one);
    EF_RUN(test_daemon_grandchild);
    EF_RUN(test_leaked_fds);
    EF_RUN(test_env_absent);
    EF_RUN(test_cross_sandbox_read);
    EF_RUN(test_ipc_left_behind);
    EF_RUN(test_bombs_beside_work);
    EF_RUN(test_caller_killed);
    EF_RUN(test_via_bind);
    char path[600];
    snprintf(path, sizeof path, "%s/attack", suite_dir);
    unlink(path);
    rmdir(suite_dir);
    ef_sandbox_worker_free(worker);
    ef_ctx_free(ctx);
    return EF_TEST_END();
}

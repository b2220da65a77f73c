/*
 * sandbox/cgroup.c — the worker's control group: memory and process limits that hold for
 * the whole tree, exactly, and say when they were hit.
 *
 * Without a cgroup the sandbox limits memory with RLIMIT_AS per process (which also
 * refuses programs that reserve a large address space and use little of it: Go, Java,
 * Node, CUDA) plus polls of the tree's resident memory, and infers memory-limit from
 * evidence. With one, the tree's memory (anonymous, page cache, tmpfs files) is charged
 * to it, the kernel OOM-kills inside it at the limit and counts the kills, its peak is
 * exact, and pids.max stops a fork bomb tree-wide. So where a cgroup can be had, the run
 * uses it and drops RLIMIT_AS and the memory polls.
 *
 * Where: cgroup v2 when the memory and pids controllers can be enabled below the
 * caller's own cgroup (a delegated subtree, or the root of a container's cgroup
 * namespace), else cgroup v1 memory and pids hierarchies the caller may write (as root);
 * EF_SANDBOX_CGROUP=DIR names a v2 parent to use instead. Each worker gets its own
 * group(s), envforge-PIDNS-PID-N, removed with it; empty ones left by a process of our pid
 * namespace that died are removed at the next start.
 *
 * Only when asked for (worker option `cgroup`, or EF_SANDBOX_CGROUP=1 or a directory):
 * moving a process into a cgroup takes the kernel's cgroup_threadgroup_rwsem for writing,
 * which waits for an RCU grace period — 1 to 25 ms of latency per run on the machines
 * measured (a /bin/true run is 0.8 ms), where rlimits cost nothing. clone3's
 * CLONE_INTO_CGROUP (v2) would start the program in the group without a move; not done.
 *
 * Who joins: the program's process, just before it gives up root (cgroup.procs, "0" =
 * itself). Not the init: it shares the caller's memory, and an OOM kill of a process
 * whose memory is shared kills every process sharing it — envforge itself. The program's
 * process shares that memory only until its exec (and a process in vfork is never an OOM
 * victim); its own memory after exec is charged to the group.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sandbox/sandbox_int.h"

static atomic_int cg_counter;

static int write_str(const char *dir, const char *file, const char *text)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int err = n < 0 ? -errno : 0;
    close(fd);
    return err;
}

static int read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

/* "key N" in a flat keyed file read through fd (pread from 0); -1 when absent. */
static long long keyed(int fd, const char *key)
{
    char buf[2048];
    if (fd < 0)
        return -1;
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    size_t kl = strlen(key);
    for (char *s = buf; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
        if (!strncmp(s, key, kl) && s[kl] == ' ')
            return strtoll(s + kl + 1, NULL, 10);
    return -1;
}

static long long number(int fd)
{
    char buf[64];
    if (fd < 0)
        return -1;
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return strtoll(buf, NULL, 10);
}

/* 1 when the comma-separated list holds the word. */
static int comma_list_has(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *s = list; *s;) {
        size_t n = strcspn(s, ",");
        if (n == wl && !strncmp(s, word, wl))
            return 1;
        s += n;
        if (*s == ',')
            s++;
    }
    return 0;
}

/* The caller's own cgroup path in hierarchy `want` ("" for v2, else a controller name)
 * from /proc/self/cgroup. */
static int own_path(const char *want, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return -1;
    char line[1024];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1;
        int match = 0;
        if (!want[0]) {
            match = !strcmp(line, "0") && !ctrls[0];
        } else {
            match = comma_list_has(ctrls, want);
        }
        if (match) {
            char *p = c2 + 1;
            p[strcspn(p, "\n")] = '\0';
            snprintf(out, len, "%s", p);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

/* The mount point of the hierarchy: cgroup2 (want "") or the v1 one holding `want`. */
static int mount_point(const char *want, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -1;
    char line[2048];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        char fstype[64], source[256], opts[512];
        if (sscanf(sep + 3, "%63s %255s %511s", fstype, source, opts) != 3)
            continue;
        int match = 0;
        if (!want[0]) {
            match = !strcmp(fstype, "cgroup2");
        } else if (!strcmp(fstype, "cgroup")) {
            match = comma_list_has(opts, want);
        }
        char root[512], mnt[512];
        if (match && sscanf(line, "%*s %*s %*s %511s %511s", root, mnt) == 2 &&
            !strcmp(root, "/")) {
            snprintf(out, len, "%s", mnt);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

/* Our pid namespace, so that a pid in a group's name is read in the namespace it was
 * taken in: envforge in a container and one outside may share a cgroup tree. */
static unsigned long pidns_id(void)
{
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (unsigned long)st.st_ino : 0;
}

/* Removes empty envforge-PIDNS-PID-N groups of processes of our pid namespace that no
 * longer exist. */
static void sweep_stale(const char *parent)
{
    DIR *d = opendir(parent);
    struct dirent *e;
    unsigned long ns = pidns_id();
    while (d && (e = readdir(d))) {
        int pid = 0, n = 0;
        unsigned long their_ns = 0;
        if (sscanf(e->d_name, "envforge-%lu-%d-%d", &their_ns, &pid, &n) != 3 ||
            their_ns != ns || pid <= 0 || pid == getpid())
            continue;
        if (kill(pid, 0) < 0 && errno == ESRCH) {
            char path[1400];
            snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
            rmdir(path); /* fails while something is still in it */
        }
    }
    if (d)
        closedir(d);
}

static int make_group(const char *parent, char *dir, size_t len)
{
    sweep_stale(parent);
    /* a name a dead process with our pid left (and could not be swept: not empty) is
     * skipped */
    for (int tries = 0; tries < 64; tries++) {
        snprintf(dir, len, "%s/envforge-%lu-%d-%d", parent, pidns_id(), (int)getpid(),
                 atomic_fetch_add(&cg_counter, 1));
        if (mkdir(dir, 0755) == 0)
            return 0;
        if (errno != EEXIST)
            break;
    }
    dir[0] = '\0';
    return -1;
}

static int open_in(const char *dir, const char *file, int flags)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return open(path, flags | O_CLOEXEC);
}

static int has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *s = list; (s = strstr(s, word)); s += wl)
        if ((s == list || s[-1] == ' ' || s[-1] == '+') && (s[wl] == ' ' || s[wl] == '\n' ||
                                                            s[wl] == '\0'))
            return 1;
    return 0;
}

static int open_v2(ef_sb_cgroup *cg, const char *env)
{
    char mnt[512], own[512], parent[1100], buf[1300];
    if (env) {
        snprintf(parent, sizeof parent, "%s", env);
    } else {
        if (mount_point("", mnt, sizeof mnt) < 0 || own_path("", own, sizeof own) < 0)
            return -1;
        snprintf(parent, sizeof parent, "%s%s", mnt, strcmp(own, "/") ? own : "");
    }
    snprintf(buf, sizeof buf, "%s/cgroup.controllers", parent);
    char ctl[512];
    if (read_small(buf, ctl, sizeof ctl) < 0 || !has_word(ctl, "memory") || !has_word(ctl, "pids"))
        return -1;
    snprintf(buf, sizeof buf, "%s/cgroup.subtree_control", parent);
    char sub[512];
    if (read_small(buf, sub, sizeof sub) < 0)
        return -1;
    if ((!has_word(sub, "memory") || !has_word(sub, "pids")) &&
        write_str(parent, "cgroup.subtree_control", "+memory +pids") < 0)
        return -1; /* our own group holds processes and is not the root: not delegated */
    if (make_group(parent, cg->dir[0], sizeof cg->dir[0]) < 0)
        return -1;
    cg->version = 2;
    cg->procs_fd[0] = open_in(cg->dir[0], "cgroup.procs", O_WRONLY);
    cg->events_fd = open_in(cg->dir[0], "memory.events", O_RDONLY);
    cg->peak_fd = open_in(cg->dir[0], "memory.peak", O_RDWR);
    if (cg->peak_fd < 0)
        cg->peak_fd = open_in(cg->dir[0], "memory.peak", O_RDONLY);
    cg->pids_events_fd = open_in(cg->dir[0], "pids.events", O_RDONLY);
    write_str(cg->dir[0], "memory.swap.max", "0");
    write_str(cg->dir[0], "memory.oom.group", "0");
    return cg->procs_fd[0] >= 0 && cg->events_fd >= 0 ? 0 : -1;
}

static int open_v1(ef_sb_cgroup *cg)
{
    static const char *const ctl[2] = {"memory", "pids"};
    for (int i = 0; i < 2; i++) {
        char mnt[512], own[512], parent[1100];
        if (mount_point(ctl[i], mnt, sizeof mnt) < 0 || own_path(ctl[i], own, sizeof own) < 0)
            return -1;
        snprintf(parent, sizeof parent, "%s%s", mnt, strcmp(own, "/") ? own : "");
        if (access(parent, W_OK) < 0 || make_group(parent, cg->dir[i], sizeof cg->dir[i]) < 0)
            return -1;
        cg->procs_fd[i] = open_in(cg->dir[i], "cgroup.procs", O_WRONLY);
        if (cg->procs_fd[i] < 0)
            return -1;
    }
    cg->version = 1;
    cg->events_fd = open_in(cg->dir[0], "memory.oom_control", O_RDONLY);
    cg->peak_fd = open_in(cg->dir[0], "memory.max_usage_in_bytes", O_RDWR);
    cg->pids_events_fd = open_in(cg->dir[1], "pids.events", O_RDONLY);
    return cg->events_fd >= 0 && keyed(cg->events_fd, "oom_kill") >= 0 ? 0 : -1;
}

void ef_sandbox__cgroup_init(ef_sb_cgroup *cg)
{
    memset(cg, 0, sizeof *cg); /* want too: the worker sets it */
    cg->procs_fd[0] = cg->procs_fd[1] = -1;
    cg->events_fd = cg->peak_fd = cg->pids_events_fd = -1;
    cg->mem_set = cg->pids_set = -2;
}

int ef_sandbox__cgroup_open(ef_sb_cgroup *cg)
{
    int want = cg->want;
    ef_sandbox__cgroup_init(cg);
    cg->want = want;
    const char *env = getenv("EF_SANDBOX_CGROUP");
    if (env && env[0] != '/')
        env = NULL; /* "1": find one */
    if (open_v2(cg, env) == 0)
        return 0;
    ef_sandbox__cgroup_close(cg);
    if (env) {
        cg->why = "EF_SANDBOX_CGROUP names no cgroup v2 directory with the memory and pids "
                  "controllers that can be enabled below it";
        return -1;
    }
    if (open_v1(cg) == 0)
        return 0;
    ef_sandbox__cgroup_close(cg);
    cg->why = "no cgroup with the memory and pids controllers can be made here (v2 not "
              "delegated, v1 not writable)";
    return -1;
}

void ef_sandbox__cgroup_close(ef_sb_cgroup *cg)
{
    int *fds[] = {&cg->procs_fd[0], &cg->procs_fd[1], &cg->events_fd, &cg->peak_fd,
                  &cg->pids_events_fd};
    for (size_t i = 0; i < EF_ARRAY_LEN(fds); i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
    for (int i = 0; i < 2; i++)
        if (cg->dir[i][0]) {
            rmdir(cg->dir[i]);
            cg->dir[i][0] = '\0';
        }
    cg->version = 0;
}

static int set_limit(const char *dir, const char *file, int64_t v)
{
    char text[32];
    if (v > 0)
        snprintf(text, sizeof text, "%lld", (long long)v);
    else
        snprintf(text, sizeof text, "%s", "max");
    return write_str(dir, file, text);
}

int ef_sandbox__cgroup_prepare(ef_sb_cgroup *cg, int64_t mem_bytes, int64_t procs)
{
    if (!cg->version)
        return -1;
    /* still there (someone may have removed it between runs) */
    for (int i = 0; i < 2; i++)
        if (cg->dir[i][0] && access(cg->dir[i], F_OK) < 0)
            return -1;
    int rc = 0;
    if (mem_bytes != cg->mem_set) {
        if (cg->version == 2) {
            rc = set_limit(cg->dir[0], "memory.max", mem_bytes);
        } else {
            /* v1: "max" is -1, and memsw (memory + swap, where swap is accounted) may
             * never be below the memory limit: raise memsw first, lower it last */
            char text[32];
            snprintf(text, sizeof text, "%lld", mem_bytes > 0 ? (long long)mem_bytes : -1LL);
            int up = mem_bytes <= 0 || (cg->mem_set > 0 && mem_bytes > cg->mem_set) ||
                     cg->mem_set == -2;
            if (up)
                write_str(cg->dir[0], "memory.memsw.limit_in_bytes", text);
            rc = write_str(cg->dir[0], "memory.limit_in_bytes", text);
            write_str(cg->dir[0], "memory.memsw.limit_in_bytes", text);
        }
        cg->mem_set = rc == 0 ? mem_bytes : -2;
    }
    if (rc == 0 && procs != cg->pids_set) {
        rc = set_limit(cg->dir[cg->version == 1 ? 1 : 0], "pids.max", procs);
        cg->pids_set = rc == 0 ? procs : -2;
    }
    if (cg->peak_fd >= 0 && pwrite(cg->peak_fd, "0", 1, 0) < 0) {
        /* v2 before Linux 6.12 cannot reset its peak: it is the worker's, not the run's */
        close(cg->peak_fd);
        cg->peak_fd = -1;
    }
    cg->oom_before = keyed(cg->events_fd, "oom_kill");
    cg->pids_before = keyed(cg->pids_events_fd, "max");
    return rc;
}

void ef_sandbox__cgroup_collect(ef_sb_cgroup *cg, long *oom_kills, int64_t *peak_kb,
                                long *pids_refused)
{
    *oom_kills = 0;
    *peak_kb = -1;
    *pids_refused = 0;
    if (!cg->version)
        return;
    long long v = keyed(cg->events_fd, "oom_kill");
    if (v >= 0 && cg->oom_before >= 0)
        *oom_kills = (long)(v - cg->oom_before);
    long long peak = number(cg->peak_fd);
    if (peak >= 0)
        *peak_kb = peak / 1024;
    v = keyed(cg->pids_events_fd, "max");
    if (v >= 0 && cg->pids_before >= 0)
        *pids_refused = (long)(v - cg->pids_before);
}

/*
 * sandbox/result.c — what happened, as a struct and as JSON: status names, setup-step
 * names, the classification of a finished run, and the result's memory.
 *
 * Classification, first match wins:
 *   setup-error   a setup step failed (detail: the step and its errno);
 *   timeout       the caller killed the tree at the wall limit (cpu-limit instead when the
 *                 tree had used more CPU than the limit by then);
 *   output-limit  a stream passed its cap (with output_limit_kills);
 *   seccomp-violation  the init was told of a denied system call (detail: its name), or the
 *                 program died of SIGSYS;
 *   cpu-limit     the program died of SIGXCPU, or of SIGKILL past its CPU limit (RLIMIT_CPU);
 *   memory-limit  it failed (non-zero exit or signal) and either its peak RSS reached 80%
 *                 of the limit or its stderr says an allocation failed — with rlimits the
 *                 kernel does not report the limit itself, so this is the best evidence;
 *   ok / nonzero-exit / signaled.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <cjson/cJSON.h>
#include "common/json.h"
#include "common/utf8.h"
#include "sandbox/sandbox_int.h"

static const char *const status_names[EF_SANDBOX_STATUS_COUNT_] = {
    "ok",           "nonzero-exit", "signaled",          "timeout",     "cpu-limit",
    "memory-limit", "output-limit", "seccomp-violation", "setup-error",
};

const char *ef_sandbox_status_name(ef_sandbox_status s)
{
    if ((int)s < 0 || s >= EF_SANDBOX_STATUS_COUNT_)
        return "unknown";
    return status_names[s];
}

static const char *const step_names[EF_SB_STEP_COUNT_] = {
    "none",          "join-netns",   "join-ipcns",     "join-uts-cgroup-ns",
    "mount-private", "root-tmpfs",   "mkdir",          "symlink",
    "bind",          "remount-ro",   "tmpfs",          "mount-proc",
    "mknod",         "write-file",   "pivot-root",     "template",
    "workdir",       "hostname",     "spawn",          "fds",
    "rlimit",        "setuid",       "user-namespace", "uid-map",
    "drop-caps",     "no-new-privs", "seccomp",        "chdir",
    "exec",          "join-cgroup",  "scheduling",
};

const char *ef_sandbox__step_name(int step)
{
    if (step < 0 || step >= EF_SB_STEP_COUNT_)
        return "unknown";
    return step_names[step];
}

int ef_sandbox__result_new(ef_sandbox_result **out)
{
    ef_sandbox_result *r = ef_calloc(1, sizeof *r);
    if (!r)
        return EF_ENOMEM;
    r->exit_code = -1;
    r->isolation = "full";
    r->mem_peak_kb = -1;
    *out = r;
    return 0;
}

void ef_sandbox_result_free(ef_sandbox_result *r)
{
    if (!r)
        return;
    ef_free(r->out.data);
    ef_free(r->err.data);
    ef_free(r);
}

static int says_out_of_memory(const ef_sandbox_stream *s)
{
    static const char *const needles[] = {"MemoryError",   "Cannot allocate memory",
                                          "bad_alloc",     "out of memory",
                                          "Out of memory", "memory exhausted"};
    if (!s->data)
        return 0;
    for (size_t i = 0; i < EF_ARRAY_LEN(needles); i++)
        if (memmem(s->data, s->len, needles[i], strlen(needles[i])))
            return 1;
    return 0;
}

void ef_sandbox__classify(ef_sandbox_result *r, const ef_sb_plan *p, const ef_sandbox_options *o,
                          int init_status, int killed_for)
{
    /* The program's process shares the caller's memory until its exec, and exec credits
     * the replaced memory's peak to the process (fs/exec.c: exec_mmap). A peak at or
     * below the caller's own is therefore the caller's, not the program's: report what
     * the init's polls saw instead, and do not call it a memory limit. */
    r->peak_rss_kb = EF_MAX(p->prog_maxrss_kb, p->tree_maxrss_kb);
    r->peak_rss_exact = 1;
    if (p->caller_hwm_kb > 0 && r->peak_rss_kb <= p->caller_hwm_kb + 1024) {
        r->peak_rss_kb = p->tree_rss_kb;
        r->peak_rss_exact = 0;
    }
    r->cgroup = p->cgroup;
    r->mem_peak_kb = p->cgroup ? p->cg_peak_kb : -1;
    r->procs_refused = p->cgroup ? p->cg_pids_refused : 0;
    r->exit_code = -1;
    r->signal = 0;
    r->detail[0] = '\0';
    if (p->prog_reaped) {
        int st = p->prog_status;
        if (WIFEXITED(st))
            r->exit_code = WEXITSTATUS(st);
        else if (WIFSIGNALED(st))
            r->signal = WTERMSIG(st);
    }
    if (p->step) {
        r->status = EF_SANDBOX_SETUP_ERROR;
        r->setup_errno = p->step_errno;
        if (p->step == EF_SB_STEP_EXEC && p->argv && p->argv[0])
            snprintf(r->detail, sizeof r->detail, "exec %.80s: %s", p->argv[0],
                     strerror(p->step_errno));
        else if (p->step == EF_SB_STEP_CHDIR && p->cwd)
            snprintf(r->detail, sizeof r->detail, "chdir %.80s: %s", p->cwd,
                     strerror(p->step_errno));
        else if (p->step_path) {
            /* mount steps name host paths under the new root: show the path inside */
            const char *path = p->step_path;
            size_t rl = p->root ? strlen(p->root) : 0;
            if (rl && !strncmp(path, p->root, rl) && path[rl] == '/')
                path += rl;
            snprintf(r->detail, sizeof r->detail, "%s %.80s: %s", ef_sandbox__step_name(p->step),
                     path, strerror(p->step_errno));
        } else
            snprintf(r->detail, sizeof r->detail, "%s: %s", ef_sandbox__step_name(p->step),
                     strerror(p->step_errno));
        return;
    }
    if (killed_for == EF_SB_KILL_CALLER && !p->prog_reaped) {
        r->status = EF_SANDBOX_SIGNALED;
        r->signal = SIGKILL;
        snprintf(r->detail, sizeof r->detail, "ended by the caller");
        return;
    }
    if (p->cgroup && (p->cg_oom_kills > 0 || p->cg_oom_seen)) {
        /* the kernel's count, not an inference: the tree passed the cgroup's limit (and
         * the init ended it, or it ended by itself) */
        r->status = EF_SANDBOX_MEMORY_LIMIT;
        if (!p->prog_reaped)
            r->signal = SIGKILL;
        long k = EF_MAX(p->cg_oom_kills, 1L);
        snprintf(r->detail, sizeof r->detail,
                 "the cgroup's memory limit (%lld bytes): %ld process%s OOM-killed",
                 (long long)o->mem_bytes, k, k == 1 ? "" : "es");
        return;
    }
    if (killed_for == EF_SB_KILL_WALL || killed_for == EF_SB_KILL_OUTPUT) {
        if (!p->prog_reaped)
            r->signal = SIGKILL;
        if (killed_for == EF_SB_KILL_OUTPUT) {
            r->status = EF_SANDBOX_OUTPUT_LIMIT;
            snprintf(r->detail, sizeof r->detail, "%s passed %lld bytes",
                     r->out.total > (size_t)o->out_bytes ? "stdout" : "stderr",
                     (long long)o->out_bytes);
        } else if (killed_for == EF_SB_KILL_WALL && o->cpu_ms > 0 && r->cpu_ms >= o->cpu_ms) {
            r->status = EF_SANDBOX_CPU_LIMIT;
            snprintf(r->detail, sizeof r->detail, "tree used %.0f ms of CPU (limit %lld)",
                     r->cpu_ms, (long long)o->cpu_ms);
        } else {
            r->status = EF_SANDBOX_TIMEOUT;
            snprintf(r->detail, sizeof r->detail, "wall limit %lld ms", (long long)o->wall_ms);
        }
        return;
    }
    if (p->tree_cpu_exceeded) {
        r->status = EF_SANDBOX_CPU_LIMIT;
        if (r->cpu_ms < (double)p->tree_cpu_used_ms)
            r->cpu_ms = (double)p->tree_cpu_used_ms; /* includes the processes killed */
        if (!p->prog_reaped)
            r->signal = SIGKILL;
        snprintf(r->detail, sizeof r->detail, "the tree used %ld ms of CPU (limit %lld)",
                 p->tree_cpu_used_ms, (long long)o->cpu_ms);
        return;
    }
    if (p->tree_mem_exceeded) {
        r->status = EF_SANDBOX_MEMORY_LIMIT;
        if (!p->prog_reaped)
            r->signal = SIGKILL;
        r->peak_rss_kb = EF_MAX(r->peak_rss_kb, (int64_t)p->tree_rss_kb);
        snprintf(r->detail, sizeof r->detail,
                 "the tree's memory (resident, and in memfds) reached %ld kB (limit %lld bytes)", p->tree_rss_kb,
                 (long long)o->mem_bytes);
        return;
    }
    if (p->violation) {
        r->status = EF_SANDBOX_SECCOMP;
        ef_sandbox__syscall_name(p->violation_arch, p->violation_nr, r->detail, sizeof r->detail);
        if (!p->prog_reaped)
            r->signal = SIGKILL;
        return;
    }
    if (!p->prog_reaped) {
        /* the init died before the program's process: killed from outside */
        r->status = EF_SANDBOX_SIGNALED;
        r->signal = WIFSIGNALED(init_status) ? WTERMSIG(init_status) : SIGKILL;
        snprintf(r->detail, sizeof r->detail, "the sandbox's init was killed");
        return;
    }
    double prog_cpu_ms = (double)(p->prog_utime_us + p->prog_stime_us) / 1e3;
    if (r->signal == SIGSYS) {
        r->status = EF_SANDBOX_SECCOMP;
        snprintf(r->detail, sizeof r->detail, "killed by SIGSYS");
    } else if (r->signal == SIGXCPU ||
               (r->signal == SIGKILL && o->cpu_ms > 0 && prog_cpu_ms >= o->cpu_ms)) {
        r->status = EF_SANDBOX_CPU_LIMIT;
        snprintf(r->detail, sizeof r->detail, "CPU limit %lld ms", (long long)o->cpu_ms);
    } else if (o->cpu_ms > 0 && r->cpu_ms > (double)o->cpu_ms) {
        /* the tree passed the limit between two polls and ended by itself: still over
         * (isolate reports such a run as a time-out too) */
        r->status = EF_SANDBOX_CPU_LIMIT;
        snprintf(r->detail, sizeof r->detail, "the tree used %.0f ms of CPU (limit %lld)",
                 r->cpu_ms, (long long)o->cpu_ms);
    } else if (r->signal == 0 && r->exit_code == 0) {
        r->status = EF_SANDBOX_OK;
        return;
    } else {
        r->status = r->signal ? EF_SANDBOX_SIGNALED : EF_SANDBOX_NONZERO_EXIT;
        if (r->signal == SIGXFSZ)
            snprintf(r->detail, sizeof r->detail, "file size limit %lld bytes",
                     (long long)o->file_bytes);
        else if (r->signal)
            snprintf(r->detail, sizeof r->detail, "%s",
                     sigabbrev_np(r->signal) ? sigabbrev_np(r->signal) : "?");
        /* without a cgroup, a memory limit is inferred (see docs/sandbox.md) */
        if (o->mem_bytes > 0 && !p->cgroup && r->signal != SIGXFSZ &&
            ((r->peak_rss_exact && r->peak_rss_kb * 1024.0 >= 0.8 * (double)o->mem_bytes) ||
             says_out_of_memory(&r->err))) {
            r->status = EF_SANDBOX_MEMORY_LIMIT;
            snprintf(r->detail, sizeof r->detail, "memory limit %lld bytes (peak RSS %lld kB)",
                     (long long)o->mem_bytes, (long long)r->peak_rss_kb);
        }
    }
}

/* Bytes as a JSON-safe UTF-8 string: each invalid sequence (common/utf8.h's strict rules)
 * and each NUL becomes one U+FFFD. */
static char *utf8_clean(const char *s, size_t len)
{
    char *out = ef_malloc(len * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = u[i] ? ef_utf8_next(u + i, len - i, NULL) : 0;
        if (n) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        } else {
            o += ef_utf8_put(out + o, 0xfffd);
            i += u[i] ? ef_utf8_invalid_len(u + i, len - i) : 1;
        }
    }
    out[o] = '\0';
    return out;
}

static int add_stream(cJSON *obj, const char *name, const ef_sandbox_stream *s)
{
    char *clean = utf8_clean(s->data ? s->data : "", s->data ? s->len : 0);
    if (!clean)
        return -1;
    cJSON *str = cJSON_CreateString(clean);
    ef_free(clean);
    if (!str)
        return -1;
    cJSON_AddItemToObject(obj, name, str);
    char key[64];
    snprintf(key, sizeof key, "%s_truncated", name);
    cJSON_AddBoolToObject(obj, key, s->truncated);
    snprintf(key, sizeof key, "%s_bytes", name);
    cJSON_AddNumberToObject(obj, key, (double)s->total);
    return 0;
}

char *ef_sandbox_result_json(const ef_sandbox_result *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "status", ef_sandbox_status_name(r->status));
    /* the detail may quote a path (the program's, a bind's, the cwd), cut at 80 bytes */
    char *detail = utf8_clean(r->detail, strlen(r->detail));
    if (!detail) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(o, "detail", detail);
    ef_free(detail);
    cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
    cJSON_AddNumberToObject(o, "signal", r->signal);
    cJSON_AddNumberToObject(o, "wall_ms", (double)(int64_t)(r->wall_ms * 1000) / 1000);
    cJSON_AddNumberToObject(o, "cpu_ms", (double)(int64_t)(r->cpu_ms * 1000) / 1000);
    cJSON_AddNumberToObject(o, "user_ms", (double)(int64_t)(r->user_ms * 1000) / 1000);
    cJSON_AddNumberToObject(o, "sys_ms", (double)(int64_t)(r->sys_ms * 1000) / 1000);
    cJSON_AddNumberToObject(o, "peak_rss_kb", (double)r->peak_rss_kb);
    cJSON_AddBoolToObject(o, "peak_rss_exact", r->peak_rss_exact);
    cJSON_AddNumberToObject(o, "csw_voluntary", (double)r->csw_voluntary);
    cJSON_AddNumberToObject(o, "csw_forced", (double)r->csw_forced);
    cJSON_AddStringToObject(o, "isolation", r->isolation ? r->isolation : "full");
    cJSON_AddBoolToObject(o, "rootless", r->rootless);
    cJSON_AddBoolToObject(o, "cgroup", r->cgroup);
    if (r->cgroup) {
        cJSON_AddNumberToObject(o, "mem_peak_kb", (double)r->mem_peak_kb);
        cJSON_AddNumberToObject(o, "procs_refused", (double)r->procs_refused);
    }
    if (r->status == EF_SANDBOX_SETUP_ERROR)
        cJSON_AddNumberToObject(o, "setup_errno", r->setup_errno);
    char *text = NULL;
    if (add_stream(o, "stdout", &r->out) == 0 && add_stream(o, "stderr", &r->err) == 0)
        text = ef_json_print(o);
    cJSON_Delete(o);
    return text;
}

int ef_sandbox_available(void)
{
    return 1;
}

const char *ef_sandbox_missing(void)
{
    return "";
}

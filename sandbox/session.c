/*
 * sandbox/session.c — long-lived sandboxed processes (a REPL) driven over stdin/stdout.
 *
 * A session is one run that is not waited for: the same plan, init and limits as
 * ef_sandbox_run, but the caller keeps the write end of the program's stdin (a socketpair,
 * so writes to a dead session fail with EPIPE instead of raising SIGPIPE) and reads its
 * stdout into a pending buffer. Requests are written whole; replies are read up to a
 * delimiter or as a length-prefixed frame, each call under its own deadline. While
 * writing, output is drained too, so a program that answers before reading everything
 * cannot deadlock the call. A call that times out, an output cap passed before the
 * delimiter, the session's wall limit, or the process's death end the session; its result
 * (status, exit code, stderr) stays readable, and ef_sandbox_session_restart starts the
 * same command in a fresh sandbox.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "sandbox/sandbox_int.h"

struct ef_sandbox_session {
    ef_sandbox_worker *w;
    ef_sandbox_options o; /* shallow copy: its strings must outlive the session */
    char **argv;          /* deep copy */
    ef_sb_plan *plan;
    ef_sb_arena arena;
    ef_sb_proc proc;
    int in_fd, out_fd, err_fd; /* caller's ends */
    ef_buf pending;            /* stdout not yet returned */
    ef_buf err;                /* stderr since the last call began (capped) */
    size_t err_total;
    int alive;
    ef_sandbox_result result;
};

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void read_stream(ef_sandbox_session *s, int *fd, ef_buf *buf, size_t *total)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(*fd, chunk, sizeof chunk);
        if (n > 0) {
            if (total)
                *total += (size_t)n;
            ef_buf_append_capped(buf, chunk, (size_t)n);
            if (n < (ssize_t)sizeof chunk)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        close_fd(fd);
        (void)s;
        return;
    }
}

/* Ends the session: kill (unless it died by itself), drain, reap, classify. */
static void finish(ef_sandbox_session *s, int killed_for)
{
    if (!s->alive)
        return;
    if (killed_for != EF_SB_KILL_NONE)
        ef_sandbox__kill(&s->proc);
    close_fd(&s->in_fd);
    /* the tree is dead once the init is; collect the last output briefly */
    double end = ef_now_s() + 0.5;
    struct pollfd pfd = {s->proc.pidfd, POLLIN, 0};
    while (poll(&pfd, 1, 500) < 0 && errno == EINTR)
        ;
    size_t out_total = s->pending.len;
    while ((s->out_fd >= 0 || s->err_fd >= 0) && ef_now_s() < end) {
        struct pollfd p[2] = {{s->out_fd, POLLIN, 0}, {s->err_fd, POLLIN, 0}};
        if (poll(p, 2, 100) <= 0)
            break;
        if (s->out_fd >= 0 && p[0].revents)
            read_stream(s, &s->out_fd, &s->pending, &out_total);
        if (s->err_fd >= 0 && p[1].revents)
            read_stream(s, &s->err_fd, &s->err, &s->err_total);
    }
    close_fd(&s->out_fd);
    close_fd(&s->err_fd);
    int init_status = 0;
    double user_ms = 0, sys_ms = 0;
    double t_end = ef_now_s();
    ef_sandbox__reap(s->w, &s->proc, &init_status, &user_ms, &sys_ms);
    ef_sandbox_result *r = &s->result;
    ef_free(r->out.data);
    ef_free(r->err.data);
    memset(r, 0, sizeof *r);
    r->wall_ms = (t_end - s->proc.t0) * 1e3;
    r->csw_voluntary = s->proc.nvcsw;
    r->csw_forced = s->proc.nivcsw;
    r->user_ms = user_ms;
    r->sys_ms = sys_ms;
    r->cpu_ms = user_ms + sys_ms;
    r->isolation = s->plan->full ? "full" : "weak";
    r->rootless = s->plan->full && s->plan->rootless;
    r->out.len = s->pending.len;
    r->out.total = out_total;
    r->out.truncated = out_total > s->pending.len;
    r->out.data = ef_strndup(s->pending.data ? s->pending.data : "", s->pending.len);
    r->err.len = s->err.len;
    r->err.total = s->err_total;
    r->err.truncated = s->err_total > s->err.len;
    r->err.data = ef_strndup(s->err.data ? s->err.data : "", s->err.len);
    struct rusage self_ru; /* see ef_sandbox__classify: the caller's own peak */
    if (getrusage(RUSAGE_SELF, &self_ru) == 0)
        s->plan->caller_hwm_kb = self_ru.ru_maxrss;
    ef_sandbox__classify(r, s->plan, &s->o, init_status, killed_for);
    s->alive = 0;
}

static int launch(ef_ctx *ctx, ef_sandbox_session *s)
{
    const ef_sb_filter *filter;
    int rc = ef_sandbox__worker_filter(ctx, s->w, s->o.profile, s->o.net, &filter);
    if (rc)
        return rc;
    if (!s->plan && !(s->plan = ef_calloc(1, sizeof *s->plan)))
        return EF_ENOMEM;
    ef_sandbox__arena_free(&s->arena);
    if ((rc = ef_sandbox__plan_build(ctx, s->w, &s->o, (const char *const *)s->argv, 1, s->plan,
                                     &s->arena)))
        return rc;
    s->plan->bpf = filter->insns;
    s->plan->bpf_len = filter->len;
    s->plan->notify = filter->notify;
    /* rootless: the program may not make its own user namespace (that would make our
     * memory dumpable for a moment; rootless.c), so it joins one made for it */
    int userns_fd = -1;
    if (s->plan->full && s->plan->rootless) {
        if ((rc = ef_sandbox__userns_new(ctx, s->w, &userns_fd)))
            return rc;
        s->plan->userns_fd = userns_fd;
    }
    int sp[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 || pipe2(po, O_CLOEXEC) < 0 ||
        pipe2(pe, O_CLOEXEC) < 0) {
        rc = ef_errorf(ctx, EF_EIO, "sandbox session: pipes: %s", strerror(errno));
        goto fail;
    }
    shutdown(sp[1], SHUT_WR); /* the program's stdin end only reads */
    s->plan->done_fd = -1;
    s->plan->fds[0] = sp[1];
    s->plan->fds[1] = po[1];
    s->plan->fds[2] = pe[1];
    for (int i = 0; i < s->o.n_extra_fds; i++)
        s->plan->fds[3 + i] = s->o.extra_fds[i];
    s->plan->n_fds = 3 + s->o.n_extra_fds;
    rc = ef_sandbox__spawn(ctx, s->w, s->plan, &s->proc);
    /* the init holds its own copy of the fd (its fd table is a copy of ours), and the plan
     * keeps the number: the init reads it later, sharing our memory */
    if (userns_fd >= 0)
        close(userns_fd);
    userns_fd = -1;
    if (rc)
        goto fail;
    close(sp[1]);
    close(po[1]);
    close(pe[1]);
    s->in_fd = sp[0];
    s->out_fd = po[0];
    s->err_fd = pe[0];
    fcntl(s->in_fd, F_SETFL, O_NONBLOCK);
    fcntl(s->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(s->err_fd, F_SETFL, O_NONBLOCK);
    ef_buf_reset(&s->pending);
    ef_buf_reset(&s->err);
    s->err_total = 0;
    s->alive = 1;
    return 0;
fail:
    if (userns_fd >= 0)
        close(userns_fd);
    for (int i = 0; i < 2; i++) {
        close_fd(&sp[i]);
        close_fd(&po[i]);
        close_fd(&pe[i]);
    }
    return rc;
}

int ef_sandbox_session_start(ef_ctx *ctx, ef_sandbox_worker *w, const ef_sandbox_options *opts,
                             const char *const *argv, ef_sandbox_session **out)
{
    ef_sandbox_options defaults = EF_SANDBOX_OPTIONS_INIT;
    const ef_sandbox_options *o = opts ? opts : &defaults;
    if (!w || !argv || !argv[0] || !argv[0][0])
        return ef_errorf(ctx, EF_EINVAL, "sandbox session: needs a worker and a non-empty argv");
    int rc = ef_sandbox__opts_check(ctx, o);
    if (rc)
        return rc;
    if (!(w->full && !o->force_weak) && !o->allow_weak)
        return ef_errorf(ctx, EF_ESANDBOX, "sandbox: refusing to run untrusted code: %s",
                         w->full ? "weak mode forced by the caller" : w->why_weak);
    if (o->stdin_data)
        return ef_errorf(ctx, EF_EINVAL,
                         "sandbox session: stdin_data is for runs; write "
                         "requests with ef_sandbox_session_write");
    ef_sandbox_session *s = ef_calloc(1, sizeof *s);
    if (!s)
        return EF_ENOMEM;
    s->w = w;
    s->o = *o;
    s->in_fd = s->out_fd = s->err_fd = -1;
    s->proc.pid = -1;
    s->proc.pidfd = -1;
    ef_buf_init(&s->pending, (size_t)o->out_bytes);
    ef_buf_init(&s->err, (size_t)o->out_bytes);
    int argc = 0;
    while (argv[argc])
        argc++;
    s->argv = ef_calloc((size_t)argc + 1, sizeof(char *));
    rc = s->argv ? 0 : EF_ENOMEM;
    for (int i = 0; !rc && i < argc; i++)
        if (!(s->argv[i] = ef_strdup(argv[i])))
            rc = EF_ENOMEM;
    if (!rc)
        rc = launch(ctx, s);
    if (rc) {
        ef_sandbox_session_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int dead_error(ef_ctx *ctx, ef_sandbox_session *s)
{
    return ef_errorf(ctx, EF_ESANDBOX, "sandbox session ended: %s%s%s",
                     ef_sandbox_status_name(s->result.status), s->result.detail[0] ? ": " : "",
                     s->result.detail);
}

/* Remaining ms to the earlier of the call deadline and the session's wall limit. */
static int wait_ms(const ef_sandbox_session *s, double call_end, int *which)
{
    double now = ef_now_s(), end = call_end;
    *which = EF_SB_KILL_CALLER;
    if (s->o.wall_ms > 0) {
        double wall_end = s->proc.t0 + s->o.wall_ms / 1e3;
        if (end <= 0 || wall_end < end) {
            end = wall_end;
            *which = EF_SB_KILL_WALL;
        }
    }
    if (end <= 0)
        return -1;
    return now >= end ? 0 : (int)((end - now) * 1e3) + 1;
}

/* One round of waiting: sends from *wbuf (if any), reads stdout/stderr, notices death.
 * Returns 0 to go on, EF_ETIMEOUT, or EF_ESANDBOX when the session ended. */
static int pump(ef_ctx *ctx, ef_sandbox_session *s, const char **wbuf, size_t *wlen,
                double call_end)
{
    int which;
    int timeout = wait_ms(s, call_end, &which);
    struct pollfd p[4] = {{s->proc.pidfd, POLLIN, 0},
                          {s->out_fd, POLLIN, 0},
                          {s->err_fd, POLLIN, 0},
                          {wlen && *wlen ? s->in_fd : -1, POLLOUT, 0}};
    int r = poll(p, 4, timeout);
    if (r < 0 && errno != EINTR)
        return ef_errorf(ctx, EF_EIO, "sandbox session: poll: %s", strerror(errno));
    if (r == 0) {
        if (which == EF_SB_KILL_WALL) {
            finish(s, EF_SB_KILL_WALL);
            return dead_error(ctx, s);
        }
        finish(s, EF_SB_KILL_WALL);
        snprintf(s->result.detail, sizeof s->result.detail, "call timed out");
        return ef_errorf(ctx, EF_ETIMEOUT,
                         "sandbox session: call timed out; the session "
                         "was ended (restart it)");
    }
    if (p[2].revents && s->err_fd >= 0)
        read_stream(s, &s->err_fd, &s->err, &s->err_total);
    if (p[1].revents && s->out_fd >= 0) {
        size_t before = s->pending.len, total = before;
        read_stream(s, &s->out_fd, &s->pending, &total);
        if (total > s->pending.len && s->o.output_limit_kills) {
            finish(s, EF_SB_KILL_OUTPUT);
            return dead_error(ctx, s);
        }
    }
    if (p[3].revents & (POLLOUT | POLLERR | POLLHUP)) {
        ssize_t n = send(s->in_fd, *wbuf, *wlen, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            *wbuf += n;
            *wlen -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            finish(s, EF_SB_KILL_NONE);
            return dead_error(ctx, s);
        }
    }
    if (p[0].revents || (s->out_fd < 0 && s->err_fd < 0)) {
        finish(s, EF_SB_KILL_NONE);
        return dead_error(ctx, s);
    }
    return 0;
}

static double deadline_of(int64_t timeout_ms)
{
    return timeout_ms > 0 ? ef_now_s() + timeout_ms / 1e3 : 0;
}

static int write_until(ef_ctx *ctx, ef_sandbox_session *s, const void *data, size_t len, double end)
{
    if (!s->alive)
        return dead_error(ctx, s);
    ef_buf_reset(&s->err);
    s->err_total = 0;
    const char *p = data;
    while (len) {
        ssize_t n = send(s->in_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            finish(s, EF_SB_KILL_NONE);
            return dead_error(ctx, s);
        }
        int rc = pump(ctx, s, &p, &len, end);
        if (rc)
            return rc;
    }
    return 0;
}

int ef_sandbox_session_write(ef_ctx *ctx, ef_sandbox_session *s, const void *data, size_t len,
                             int64_t timeout_ms)
{
    return write_until(ctx, s, data, len, deadline_of(timeout_ms));
}

/* Takes n bytes from the front of pending into *out (NUL-terminated), dropping skip more. */
static int take(ef_sandbox_session *s, size_t n, size_t skip, char **out, size_t *out_len)
{
    char *r = ef_strndup(s->pending.data ? s->pending.data : "", n);
    if (!r)
        return EF_ENOMEM;
    size_t used = n + skip;
    memmove(s->pending.data, s->pending.data + used, s->pending.len - used);
    s->pending.len -= used;
    s->pending.data[s->pending.len] = '\0';
    *out = r;
    if (out_len)
        *out_len = n;
    return 0;
}

static int read_until(ef_ctx *ctx, ef_sandbox_session *s, const void *delim, size_t delim_len,
                      double end, char **out, size_t *out_len)
{
    for (;;) {
        if (s->pending.len) {
            const char *hit = memmem(s->pending.data, s->pending.len, delim, delim_len);
            if (hit)
                return take(s, (size_t)(hit - s->pending.data), delim_len, out, out_len);
        }
        if (!s->alive)
            return dead_error(ctx, s);
        int rc = pump(ctx, s, NULL, NULL, end);
        if (rc)
            return rc;
    }
}

int ef_sandbox_session_read_until(ef_ctx *ctx, ef_sandbox_session *s, const void *delim,
                                  size_t delim_len, int64_t timeout_ms, char **out, size_t *out_len)
{
    if (!delim || !delim_len)
        return ef_errorf(ctx, EF_EINVAL, "sandbox session: empty delimiter");
    return read_until(ctx, s, delim, delim_len, deadline_of(timeout_ms), out, out_len);
}

int ef_sandbox_session_call(ef_ctx *ctx, ef_sandbox_session *s, const void *req, size_t req_len,
                            const void *delim, size_t delim_len, int64_t timeout_ms, char **out,
                            size_t *out_len)
{
    if (!delim || !delim_len)
        return ef_errorf(ctx, EF_EINVAL, "sandbox session: empty delimiter");
    double end = deadline_of(timeout_ms);
    int rc = write_until(ctx, s, req, req_len, end);
    if (rc)
        return rc;
    return read_until(ctx, s, delim, delim_len, end, out, out_len);
}

int ef_sandbox_session_send_frame(ef_ctx *ctx, ef_sandbox_session *s, const void *data, size_t len,
                                  int64_t timeout_ms)
{
    if (len > 0xffffffffu)
        return ef_errorf(ctx, EF_ELIMIT, "sandbox session: frame of %zu bytes", len);
    unsigned char hdr[4] = {(unsigned char)len, (unsigned char)(len >> 8),
                            (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
    double end = deadline_of(timeout_ms);
    int rc = write_until(ctx, s, hdr, 4, end);
    return rc ? rc : write_until(ctx, s, data, len, end);
}

int ef_sandbox_session_recv_frame(ef_ctx *ctx, ef_sandbox_session *s, int64_t timeout_ms,
                                  char **out, size_t *out_len)
{
    double end = deadline_of(timeout_ms);
    for (;;) {
        if (s->pending.len >= 4) {
            const unsigned char *h = (const unsigned char *)s->pending.data;
            size_t n = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
            if (n + 4 > s->pending.max_bytes) {
                finish(s, EF_SB_KILL_OUTPUT);
                return ef_errorf(ctx, EF_ELIMIT,
                                 "sandbox session: frame of %zu bytes passes "
                                 "the cap of %zu; the session was ended",
                                 n, s->pending.max_bytes);
            }
            if (s->pending.len >= n + 4) {
                memmove(s->pending.data, s->pending.data + 4, s->pending.len - 4);
                s->pending.len -= 4;
                return take(s, n, 0, out, out_len);
            }
        }
        if (!s->alive)
            return dead_error(ctx, s);
        int rc = pump(ctx, s, NULL, NULL, end);
        if (rc)
            return rc;
    }
}

int ef_sandbox_session_alive(ef_sandbox_session *s)
{
    return s && s->alive;
}

const ef_sandbox_result *ef_sandbox_session_result(ef_sandbox_session *s)
{
    return &s->result;
}

const char *ef_sandbox_session_stderr(ef_sandbox_session *s, size_t *len)
{
    if (s->alive && s->err_fd >= 0)
        read_stream(s, &s->err_fd, &s->err, &s->err_total);
    if (len)
        *len = s->err.len;
    return s->err.data ? s->err.data : "";
}

int ef_sandbox_session_restart(ef_ctx *ctx, ef_sandbox_session *s)
{
    finish(s, EF_SB_KILL_CALLER);
    return launch(ctx, s);
}

void ef_sandbox_session_free(ef_sandbox_session *s)
{
    if (!s)
        return;
    if (s->alive)
        finish(s, EF_SB_KILL_CALLER);
    close_fd(&s->in_fd);
    close_fd(&s->out_fd);
    close_fd(&s->err_fd);
    for (int i = 0; s->argv && s->argv[i]; i++)
        ef_free(s->argv[i]);
    ef_free(s->argv);
    ef_free(s->result.out.data);
    ef_free(s->result.err.data);
    ef_buf_free(&s->pending);
    ef_buf_free(&s->err);
    ef_sandbox__arena_free(&s->arena);
    ef_free(s->plan);
    ef_free(s);
}

/*
 * engine/server.c — the HTTP/1.1 plumbing of `envforge serve`: a listening socket polled
 * by the caller's thread, one thread per connection up to max_conns (more get 503 at
 * once), keep-alive with an idle timeout, request heads capped at 32 KiB (431) and
 * bodies at max_body_bytes (413), Content-Length bodies only (chunked uploads get 411),
 * chunked server-sent events for streaming, and a clean stop: when *stop is set the
 * listener closes, idle connections end, requests in flight get a grace period, then
 * are cancelled, and run() returns once every connection thread is gone.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "engine/server_int.h"

#define HEAD_MAX (32u << 10)
#define GRACE_MS 10000

struct ef_http_conn {
    ef_engine_server *s;
    int fd;
    int broken;
    char *buf; /* bytes read and not yet consumed */
    size_t len, cap;
};

static int stopping(const ef_engine_server *s)
{
    return atomic_load(&s->stopping) || (s->stop && *s->stop);
}

int ef_engine__http_gone(ef_http_conn *c)
{
    if (c->broken || atomic_load(&c->s->stopping) > 1)
        return 1;
    struct pollfd p = {c->fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLRDHUP))) {
        c->broken = 1;
        return 1;
    }
    return 0;
}

int ef_engine__http_write(ef_http_conn *c, const char *data, size_t len)
{
    while (len > 0 && !c->broken) {
        ssize_t k = send(c->fd, data, len, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            c->broken = 1;
            break;
        }
        data += k;
        len -= (size_t)k;
    }
    return c->broken ? EF_EIO : 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    }
    return "Error";
}

int ef_engine__http_respond(ef_http_conn *c, int status, const char *content_type, const char *body,
                            size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", status,
                     reason(status), content_type, len);
    int rc = ef_engine__http_write(c, head, (size_t)n);
    return rc ? rc : ef_engine__http_write(c, body, len);
}

int ef_engine__http_error(ef_http_conn *c, int status, const char *type, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddNullToObject(e, "param");
    cJSON_AddNumberToObject(e, "code", status);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    int rc = text ? ef_engine__http_respond(c, status, "application/json", text, strlen(text))
                  : EF_ENOMEM;
    cJSON_free(text);
    return rc;
}

int ef_engine__sse_begin(ef_http_conn *c)
{
    static const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                            "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
    return ef_engine__http_write(c, h, sizeof h - 1);
}

int ef_engine__sse_event(ef_http_conn *c, const char *data)
{
    size_t len = strlen(data);
    char head[32];
    int n = snprintf(head, sizeof head, "%zx\r\ndata: ", len + 8);
    int rc = ef_engine__http_write(c, head, (size_t)n);
    if (!rc)
        rc = ef_engine__http_write(c, data, len);
    if (!rc)
        rc = ef_engine__http_write(c, "\n\n\r\n", 4);
    return rc;
}

int ef_engine__sse_end(ef_http_conn *c)
{
    return ef_engine__http_write(c, "0\r\n\r\n", 5);
}

/* Reads more bytes into the connection buffer. 1: got some; 0: peer closed; < 0:
 * error, stop or idle timeout (EF_ETIMEOUT). */
static int fill(ef_http_conn *c, int idle_ms, size_t cap)
{
    if (c->len == c->cap) {
        if (c->cap >= cap)
            return EF_ELIMIT;
        size_t ncap = c->cap ? EF_MIN(c->cap * 2, cap) : 8192;
        char *nb = ef_realloc(c->buf, ncap + 1);
        if (!nb)
            return EF_ENOMEM;
        c->buf = nb;
        c->cap = ncap;
    }
    int waited = 0;
    for (;;) {
        if (stopping(c->s) && c->len == 0)
            return EF_EINTR;
        struct pollfd p = {c->fd, POLLIN, 0};
        int r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR)
            return EF_EIO;
        if (r > 0)
            break;
        waited += 100;
        if (waited >= idle_ms)
            return EF_ETIMEOUT;
    }
    ssize_t k = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (k < 0)
        return errno == EINTR ? 1 : EF_EIO;
    if (k == 0)
        return 0;
    c->len += (size_t)k;
    return 1;
}

static void consume(ef_http_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static const char *find_head_end(const char *b, size_t len)
{
    for (size_t i = 3; i < len; i++)
        if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r')
            return b + i + 1;
    return NULL;
}

/* One request off the connection. 1: got one; 0: the connection should close quietly;
 * < 0 after an error response was sent. */
static int read_request(ef_http_conn *c, ef_http_req *req)
{
    ef_engine_server *s = c->s;
    const char *end;
    while (!(c->buf && (end = find_head_end(c->buf, c->len)))) {
        int r = fill(c, c->len ? 10000 : s->o.idle_timeout_ms, HEAD_MAX);
        if (r == EF_ELIMIT) {
            ef_engine__http_error(c, 431, "invalid_request_error", "request head over %u bytes",
                                  HEAD_MAX);
            return -1;
        }
        if (r <= 0)
            return 0;
    }
    size_t head_len = (size_t)(end - c->buf);
    char *head = ef_strndup(c->buf, head_len);
    if (!head)
        return 0;
    consume(c, head_len);
    memset(req, 0, sizeof(*req));
    char version[16] = "";
    int rc = 1;
    if (sscanf(head, "%15s %511s %15s", req->method, req->path, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
        ef_engine__http_error(c, 400, "invalid_request_error", "malformed request line");
        rc = -1;
        goto out;
    }
    req->keep_alive = strcmp(version, "HTTP/1.0") != 0;
    long long clen = 0;
    int chunked = 0, expect_continue = 0;
    for (char *line = strstr(head, "\r\n"); line && line[2] && line[2] != '\r';
         line = strstr(line + 2, "\r\n")) {
        char *l = line + 2;
        if (strncasecmp(l, "Content-Length:", 15) == 0)
            clen = strtoll(l + 15, NULL, 10);
        else if (strncasecmp(l, "Transfer-Encoding:", 18) == 0)
            chunked = 1;
        else if (strncasecmp(l, "Expect:", 7) == 0 && strcasestr(l + 7, "100-continue"))
            expect_continue = 1;
        else if (strncasecmp(l, "Connection:", 11) == 0) {
            const char *v = l + 11;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, "close", 5) == 0)
                req->keep_alive = 0;
            else if (strncasecmp(v, "keep-alive", 10) == 0)
                req->keep_alive = 1;
        }
    }
    if (chunked) {
        ef_engine__http_error(c, 411, "invalid_request_error",
                              "chunked request bodies are not accepted; send Content-Length");
        rc = -1;
        goto out;
    }
    if (clen < 0 || (unsigned long long)clen > s->o.max_body_bytes) {
        ef_engine__http_error(c, 413, "invalid_request_error",
                              "request body of %lld bytes passes the limit of %zu", clen,
                              s->o.max_body_bytes);
        rc = -1;
        goto out;
    }
    if (expect_continue && c->len < (size_t)clen)
        ef_engine__http_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    while (c->len < (size_t)clen) {
        int r = fill(c, 30000, (size_t)clen + HEAD_MAX);
        if (r <= 0) {
            rc = 0;
            goto out;
        }
    }
    req->body = ef_malloc((size_t)clen + 1);
    if (!req->body) {
        ef_engine__http_error(c, 500, "server_error", "out of memory");
        rc = -1;
        goto out;
    }
    memcpy(req->body, c->buf, (size_t)clen);
    req->body[clen] = 0;
    req->body_len = (size_t)clen;
    consume(c, (size_t)clen);
out:
    ef_free(head);
    return rc;
}

static void *conn_main(void *arg)
{
    ef_http_conn *c = arg;
    ef_engine_server *s = c->s;
    for (;;) {
        ef_http_req req;
        int r = read_request(c, &req);
        if (r <= 0)
            break;
        int hr = ef_engine__api_handle(s, c, &req);
        ef_free(req.body);
        if (hr < 0 || !req.keep_alive || c->broken || stopping(s))
            break;
    }
    close(c->fd);
    ef_free(c->buf);
    ef_free(c);
    atomic_fetch_sub(&s->n_conns, 1);
    return NULL;
}

int ef_engine_server_new(ef_ctx *ctx, ef_engine_rt *rt, const char *model_dir,
                         const ef_server_options *opts, ef_engine_server **out)
{
    ef_server_options def = EF_SERVER_OPTIONS_INIT;
    ef_engine_server *s = ef_calloc(1, sizeof(*s));
    if (!s)
        return ef_errorf(ctx, EF_ENOMEM, "serve: out of memory");
    s->rt = rt;
    s->o = opts ? *opts : def;
    if (s->o.max_conns <= 0)
        s->o.max_conns = def.max_conns;
    if (!s->o.max_body_bytes)
        s->o.max_body_bytes = def.max_body_bytes;
    if (s->o.max_tokens_cap <= 0)
        s->o.max_tokens_cap = def.max_tokens_cap;
    if (s->o.idle_timeout_ms <= 0)
        s->o.idle_timeout_ms = def.idle_timeout_ms;
    const char *host = s->o.host ? s->o.host : "127.0.0.1";
    if (s->o.served_name)
        s->name = ef_strdup(s->o.served_name);
    else {
        size_t n = strlen(model_dir);
        while (n > 1 && model_dir[n - 1] == '/')
            n--;
        const char *b = model_dir + n;
        while (b > model_dir && b[-1] != '/')
            b--;
        s->name = ef_strndup(b, (size_t)(model_dir + n - b));
    }
    s->fd = -1;
    if (!s->name) {
        ef_engine_server_free(s);
        return ef_errorf(ctx, EF_ENOMEM, "serve: out of memory");
    }
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s->o.port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        ef_engine_server_free(s);
        return ef_errorf(ctx, EF_EINVAL, "serve: --host %s is not an IPv4 address", host);
    }
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->fd >= 0)
        setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(s->fd, 256) < 0) {
        int e = errno;
        ef_engine_server_free(s);
        return ef_errorf(ctx, EF_EIO, "serve: cannot listen on %s:%d: %s", host,
                         opts ? opts->port : 0, strerror(e));
    }
    socklen_t al = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    *out = s;
    return 0;
}

int ef_engine_server_port(const ef_engine_server *s)
{
    return s->port;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int ef_engine_server_run(ef_ctx *ctx, ef_engine_server *s, const volatile sig_atomic_t *stop)
{
    s->stop = stop;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (!(stop && *stop)) {
        struct pollfd p = {s->fd, POLLIN, 0};
        int r = poll(&p, 1, 100);
        if (r <= 0)
            continue;
        int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ef_http_conn *c = ef_calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->s = s;
        c->fd = fd;
        if (atomic_fetch_add(&s->n_conns, 1) >= s->o.max_conns) {
            ef_engine__http_error(c, 503, "server_busy", "too many connections (limit %d)",
                                  s->o.max_conns);
            close(fd);
            ef_free(c);
            atomic_fetch_sub(&s->n_conns, 1);
            continue;
        }
        pthread_t t;
        if (pthread_create(&t, &attr, conn_main, c) != 0) {
            close(fd);
            ef_free(c);
            atomic_fetch_sub(&s->n_conns, 1);
        }
    }
    pthread_attr_destroy(&attr);
    /* stop: no new connections; in-flight requests get a grace period */
    close(s->fd);
    s->fd = -1;
    atomic_store(&s->stopping, 1);
    EF_LOG_I(ctx, "serve: stopping; %d connection(s) open", atomic_load(&s->n_conns));
    int waited = 0;
    while (atomic_load(&s->n_conns) > 0 && waited < GRACE_MS) {
        sleep_ms(20);
        waited += 20;
    }
    if (atomic_load(&s->n_conns) > 0) {
        atomic_store(&s->stopping, 2);
        ef_engine_batch_cancel_all(ef_engine_rt_batch(s->rt));
        while (atomic_load(&s->n_conns) > 0) {
            ef_engine_batch_cancel_all(ef_engine_rt_batch(s->rt));
            sleep_ms(20);
        }
    }
    return 0;
}

void ef_engine_server_free(ef_engine_server *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    ef_free(s->name);
    ef_free(s);
}

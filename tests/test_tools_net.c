/*
 * tests/test_tools_net.c — the search tool's HTTP backend and the fetch tool against
 * real HTTP servers this test starts on 127.0.0.1 and 127.0.0.2 (a thread per
 * connection, scripted answers by path): 429 then 200, 5xx until the retries run out, a
 * timeout, malformed JSON, an oversized body, the key sent but never shown; fetch's HTML
 * to text, windows, redirects followed hop by hop, and its refusals — file://,
 * 169.254.169.254, 10.0.0.1, loopback by name and by literal, and a redirect to 127.0.0.1
 * — each made before any connection (the loopback servers count what reaches them; no
 * test sends traffic to a non-loopback address).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "common/json.h"
#include "tests/testlib.h"
#include "tests/tools_testlib.h"
#include "tools/tools.h"
#include "tools/tools_int.h"

/* ---- a small HTTP server ---------------------------------------------------------- */

typedef struct server server;
struct server {
    int fd;
    int port;
    char addr[32];
    atomic_int n_conns;    /* connections accepted */
    atomic_int n_flaky;    /* requests to /s/flaky */
    atomic_int n_busy;     /* requests to /s/busy */
    server *other;         /* redirect target (the 127.0.0.1 server) */
    pthread_t thread;
    atomic_int stop;
    char last_auth[256];   /* Authorization header of the last request */
    pthread_mutex_t lock;
};

typedef struct {
    server *s;
    int fd;
} conn;

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

static void respond(int fd, int status, const char *ctype, const char *extra, const char *body,
                    size_t len)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: "
                     "close\r\n\r\n",
                     status, ctype, len, extra ? extra : "");
    send_all(fd, head, (size_t)n);
    send_all(fd, body, len);
}

static void *handle(void *arg)
{
    conn *c = arg;
    server *s = c->s;
    char req[8192];
    size_t got = 0;
    while (got < sizeof req - 1) {
        ssize_t n = recv(c->fd, req + got, sizeof req - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[got] = '\0';
    char path[2048] = "";
    sscanf(req, "GET %2047s", path);
    const char *auth = strcasestr(req, "\r\nAuthorization: ");
    pthread_mutex_lock(&s->lock);
    s->last_auth[0] = '\0';
    if (auth)
        sscanf(auth + 17, "%255[^\r]", s->last_auth);
    pthread_mutex_unlock(&s->lock);
    char body[4096], extra[512];
    int fd = c->fd;
    if (strncmp(path, "/s/ok", 5) == 0 || strncmp(path, "/s/auth", 7) == 0) {
        const char *q = strstr(path, "q=");
        char qs[512] = "";
        if (q)
            sscanf(q + 2, "%511[^&]", qs);
        snprintf(body, sizeof body,
                 "{\"query\":\"x\",\"results\":[{\"url\":\"https://a.example/1\",\"title\":\"First "
                 "%s\",\"content\":\"q=%s\"},{\"title\":\"no url\"},{\"url\":\"https://b.example/"
                 "2\",\"title\":\"Second\",\"content\":\"more\"}]}",
                 strncmp(path, "/s/auth", 7) == 0 ? s->last_auth : "hit", qs);
        respond(fd, 200, "application/json", NULL, body, strlen(body));
    } else if (strncmp(path, "/s/flaky", 8) == 0) {
        if (atomic_fetch_add(&s->n_flaky, 1) == 0) {
            respond(fd, 429, "text/plain", "Retry-After: 1\r\n", "slow down", 9);
        } else {
            snprintf(body, sizeof body, "{\"results\":[{\"url\":\"https://c.example/\","
                                        "\"title\":\"After retry\",\"content\":\"ok\"}]}");
            respond(fd, 200, "application/json", NULL, body, strlen(body));
        }
    } else if (strncmp(path, "/s/busy", 7) == 0) {
        atomic_fetch_add(&s->n_busy, 1);
        respond(fd, 503, "text/plain", NULL, "busy", 4);
    } else if (strncmp(path, "/s/slow", 7) == 0) {
        usleep(1500 * 1000);
        respond(fd, 200, "application/json", NULL, "{\"results\":[]}", 14);
    } else if (strncmp(path, "/s/bad", 6) == 0) {
        respond(fd, 200, "application/json", NULL, "{\"results\": [{\"url\": ", 21);
    } else if (strncmp(path, "/s/noresults", 12) == 0) {
        respond(fd, 200, "application/json", NULL, "{\"answers\": []}", 15);
    } else if (strncmp(path, "/s/big", 6) == 0) {
        size_t n = 3u << 20;
        char *big = malloc(n);
        memset(big, ' ', n);
        big[0] = '{';
        respond(fd, 200, "application/json", NULL, big, n);
        free(big);
    } else if (strcmp(path, "/page") == 0) {
        const char *html = "<html><head><title>Test page</title></head><body><h1>Hello</h1>"
                           "<p>Some <i>text</i> here &amp; there.</p><script>evil()</script>"
                           "</body></html>";
        respond(fd, 200, "text/html; charset=utf-8", NULL, html, strlen(html));
    } else if (strcmp(path, "/long") == 0) {
        char text[3001];
        for (int i = 0; i < 3000; i++)
            text[i] = (char)('a' + i % 26);
        text[3000] = '\0';
        respond(fd, 200, "text/plain", NULL, text, 3000);
    } else if (strcmp(path, "/bin") == 0) {
        respond(fd, 200, "application/octet-stream", NULL, "\x7f" "ELF", 4);
    } else if (strcmp(path, "/redir-ok") == 0) {
        respond(fd, 302, "text/plain", "Location: /page\r\n", "", 0);
    } else if (strcmp(path, "/loop") == 0) {
        respond(fd, 302, "text/plain", "Location: /loop\r\n", "", 0);
    } else if (strcmp(path, "/redir-loopback") == 0 || strcmp(path, "/redir-localhost") == 0) {
        snprintf(extra, sizeof extra, "Location: http://%s:%d/secret\r\n",
                 path[7] == 'l' && path[8] == 'o' && path[9] == 'c' ? "localhost" : "127.0.0.1",
                 s->other ? s->other->port : 1);
        respond(fd, 302, "text/plain", extra, "", 0);
    } else if (strcmp(path, "/redir-file") == 0) {
        respond(fd, 302, "text/plain", "Location: file:///etc/passwd\r\n", "", 0);
    } else if (strcmp(path, "/secret") == 0) {
        respond(fd, 200, "text/plain", NULL, "internal secret", 15);
    } else {
        respond(fd, 404, "text/plain", NULL, "not found", 9);
    }
    close(fd);
    free(c);
    return NULL;
}

static void *serve(void *arg)
{
    server *s = arg;
    while (!atomic_load(&s->stop)) {
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (atomic_load(&s->stop)) {
            close(fd);
            break;
        }
        atomic_fetch_add(&s->n_conns, 1);
        conn *c = malloc(sizeof *c);
        c->s = s;
        c->fd = fd;
        pthread_t t;
        if (pthread_create(&t, NULL, handle, c) == 0)
            pthread_detach(t);
        else {
            close(fd);
            free(c);
        }
    }
    return NULL;
}

static int server_start(server *s, const char *addr)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    snprintf(s->addr, sizeof s->addr, "%s", addr);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, addr, &sa.sin_addr);
    if (bind(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s->fd, 64) < 0) {
        close(s->fd);
        return -1;
    }
    socklen_t len = sizeof sa;
    getsockname(s->fd, (struct sockaddr *)&sa, &len);
    s->port = ntohs(sa.sin_port);
    pthread_create(&s->thread, NULL, serve, s);
    return 0;
}

static void server_stop(server *s)
{
    atomic_store(&s->stop, 1);
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
}

/* ---- fixture ------------------------------------------------------------------- */

static server srv_main; /* 127.0.0.1 */
static server srv_alt;  /* 127.0.0.2, redirects to srv_main */
static int have_alt;

static void fx_open(fixture *f, ef_tools_config *cfg)
{
    fx_open_cfg(f, NULL, cfg);
}

static ef_tool_result call(fixture *f, const char *tool, const char *args)
{
    ef_tool_result r = EF_TOOL_RESULT_INIT;
    int rc = ef_tools_registry_call(f->reg, f->tc, tool, args, &r);
    if (rc != 0)
        printf("    call %s %s -> %s\n", tool, args, ef_strerror(rc));
    if (!r.text)
        r.text = ef_strdup("(null)");
    return r;
}

static void search_cfg(ef_tools_config *cfg, const char *path, char *buf, size_t cap)
{
    ef_tools_config def = EF_TOOLS_CONFIG_INIT;
    *cfg = def;
    snprintf(buf, cap, "http://127.0.0.1:%d%s", srv_main.port, path);
    cfg->search_url = buf;
    cfg->search_timeout_ms = 3000;
    cfg->search_retries = 2;
    cfg->search_backoff_ms = 50;
}

/* ---- search --------------------------------------------------------------------- */

static void test_search_ok(void)
{
    char url[256];
    ef_tools_config cfg;
    search_cfg(&cfg, "/s/ok", url, sizeof url);
    fixture f;
    fx_open(&f, &cfg);
    ef_tool_result r = call(&f, "search", "{\"query\":\"caf\xc3\xa9 & tea?\",\"k\":5}");
    EF_CHECK_MSG(!r.is_error, "%s", r.text);
    EF_CHECK_CONTAINS(r.text, "1. First hit\n   url: https://a.example/1\n   q=caf%C3%A9%20%26%20tea%3F\n");
    EF_CHECK_CONTAINS(r.text, "2. Second\n");
    const char *u = NULL;
    EF_CHECK_OK(f.ctx, ef_json_get_str(f.ctx, r.data, "results[1].url", &u));
    EF_CHECK_EQ_STR(u, "https://b.example/2");
    EF_CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r.data, "results")), 2);
    ef_tools_result_free(&r);
    r = call(&f, "search", "{\"query\":\"x\",\"k\":1}");
    EF_CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r.data, "results")), 1);
    ef_tools_result_free(&r);
    fx_close(&f);
}

static void test_search_429_then_200(void)
{
    char url[256];
    ef_tools_config cfg;
    search_cfg(&cfg, "/s/flaky", url, sizeof url);
    fixture f;
    fx_open(&f, &cfg);
    atomic_store(&srv_main.n_flaky, 0);
    double t0 = ef_now_s();
    ef_tool_result r = call(&f, "search", "{\"query\":\"retry me\"}");
    double dt = ef_now_s() - t0;
    EF_CHECK_MSG(!r.is_error, "%s", r.text);
    EF_CHECK_CONTAINS(r.text, "After retry");
    EF_CHECK_EQ_INT(atomic_load(&srv_main.n_flaky), 2);
    double attempts = 0;
    EF_CHECK_OK(f.ctx, ef_json_get_num(f.ctx, r.data, "attempts", &attempts));
    EF_CHECK_EQ_INT((int)attempts, 2);
    /* a lower bound only (the server asked for 1 s): never flaky, not a speed check */
    EF_CHECK_MSG(dt >= 0.9, "Retry-After: 1 was not honoured (%.3f s)", dt);
    ef_tools_result_free(&r);
    fx_close(&f);
}

static void test_search_5xx_exhausts_retries(void)
{
    char url[256];
    ef_tools_config cfg;
    search_cfg(&cfg, "/s/busy", url, sizeof url);
    fixture f;
    fx_open(&f, &cfg);
    atomic_store(&srv_main.n_busy, 0);
    ef_tool_result r = call(&f, "search", "{\"query\":\"busy\"}");
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "search failed after 3 attempts");
    EF_CHECK_CONTAINS(r.text, "HTTP 503");
    EF_CHECK_EQ_INT(atomic_load(&srv_main.n_busy), 3);
    ef_tools_result_free(&r);
    fx_close(&f);
}

static void test_search_timeout(void)
{
    char url[256];
    ef_tools_config cfg;
    search_cfg(&cfg, "/s/slow", url, sizeof url);
    cfg.search_timeout_ms = 300;
    cfg.search_retries = 1;
    fixture f;
    fx_open(&f, &cfg);
    ef_tool_result r = call(&f, "search", "{\"query\":\"slow\"}");
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "no complete answer within 300 ms");
    EF_CHECK_CONTAINS(r.text, "after 2 attempts");
    ef_tools_result_free(&r);
    fx_close(&f);
}

static void test_search_malformed(void)
{
    char url[256];
    ef_tools_config cfg;
    search_cfg(&cfg, "/s/bad", url, sizeof url);
    cfg.search_key = "sk-SECRET-123";
    fixture f;
    fx_open(&f, &cfg);
    ef_tool_result r = call(&f, "search", "{\"query\":\"bad\"}");
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "malformed JSON");
    EF_CHECK(!strstr(r.text, "SECRET"));
    ef_tools_result_free(&r);
    fx_close(&f);

    search_cfg(&cfg, "/s/noresults", url, sizeof url);
    fx_open(&f, &cfg);
    r = call(&f, "search", "{\"query\":\"x\"}");
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "no \"results\" list");
    ef_tools_result_free(&r);
    fx_close(&f);

    search_cfg(&cfg, "/s/big", url, sizeof url);
    cfg.search_max_bytes = 1 << 20;
    fx_open(&f, &cfg);
    r = call(&f, "search", "{\"query\":\"x\"}");
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "larger than 1048576 bytes");
    ef_tools_result_free(&r);
    fx_close(&f);
}

static void test_search_key(void)
{
    char url[256];
    ef_tools_config cfg;
    search_cfg(&cfg, "/s/auth", url, sizeof url);
    setenv("EF_SEARCH_KEY", "sk-from-env", 1);
    fixture f;
    fx_open(&f, &cfg);
    ef_tool_result r = call(&f, "search", "{\"query\":\"k\"}");
    EF_CHECK_CONTAINS(r.text, "First Bearer sk-from-env");
    ef_tools_result_free(&r);
    fx_close(&f);
    unsetenv("EF_SEARCH_KEY");
    cfg.search_key = "sk-config";
    fx_open(&f, &cfg);
    r = call(&f, "search", "{\"query\":\"k\"}");
    EF_CHECK_CONTAINS(r.text, "First Bearer sk-config");
    ef_tools_result_free(&r);
    fx_close(&f);
}

/* ---- fetch ---------------------------------------------------------------------- */

static void fetch_cfg(ef_tools_config *cfg)
{
    ef_tools_config def = EF_TOOLS_CONFIG_INIT;
    *cfg = def;
    cfg->fetch_timeout_ms = 3000;
    cfg->fetch_max_redirects = 3;
    cfg->fetch_allow_nets = "127.0.0.2/32";
}

static void fetch_expect_refused(fixture *f, const char *url, const char *needle)
{
    char args[512];
    snprintf(args, sizeof args, "{\"url\":\"%s\"}", url);
    ef_tool_result r = call(f, "fetch", args);
    EF_CHECK_MSG(r.is_error, "%s was fetched: %s", url, r.text);
    EF_CHECK_CONTAINS(r.text, needle);
    ef_tools_result_free(&r);
}

static void test_fetch_refusals(void)
{
    ef_tools_config cfg;
    fetch_cfg(&cfg);
    fixture f;
    fx_open(&f, &cfg);
    int before = atomic_load(&srv_main.n_conns);
    char url[256];
    fetch_expect_refused(&f, "file:///etc/passwd", "scheme file is refused");
    fetch_expect_refused(&f, "ftp://example.org/x", "scheme ftp is refused");
    fetch_expect_refused(&f, "gopher://127.0.0.1/", "scheme gopher is refused");
    fetch_expect_refused(&f, "http://169.254.169.254/latest/meta-data/",
                         "169.254.169.254 is a link-local (169.254.0.0/16) address");
    fetch_expect_refused(&f, "http://10.0.0.1/", "10.0.0.1 is a private (10.0.0.0/8) address");
    fetch_expect_refused(&f, "https://192.168.1.1:8443/admin", "private (192.168.0.0/16)");
    fetch_expect_refused(&f, "http://[fd00::1]/", "unique local");
    fetch_expect_refused(&f, "http://[::ffff:169.254.169.254]/", "link-local");
    fetch_expect_refused(&f, "http://0.0.0.0/", "unspecified");
    /* loopback: by literal, by name (resolved, then refused before connecting), odd forms */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/secret", srv_main.port);
    fetch_expect_refused(&f, url, "127.0.0.1 is a loopback (127.0.0.0/8) address");
    snprintf(url, sizeof url, "http://localhost:%d/secret", srv_main.port);
    fetch_expect_refused(&f, url, "loopback");
    snprintf(url, sizeof url, "http://[::1]:%d/secret", srv_main.port);
    fetch_expect_refused(&f, url, "loopback (::1)");
    snprintf(url, sizeof url, "http://2130706433:%d/secret", srv_main.port);
    fetch_expect_refused(&f, url, "loopback");
    snprintf(url, sizeof url, "http://0x7f.1:%d/secret", srv_main.port);
    fetch_expect_refused(&f, url, "loopback");
    EF_CHECK_EQ_INT(atomic_load(&srv_main.n_conns), before);
    fx_close(&f);
}

static void test_fetch_redirects(void)
{
    if (!have_alt)
        EF_SKIP_CASE("cannot listen on 127.0.0.2");
    ef_tools_config cfg;
    fetch_cfg(&cfg);
    fixture f;
    fx_open(&f, &cfg);
    char args[256];
    int before = atomic_load(&srv_main.n_conns);
    /* the allowed server itself works, redirects on it are followed */
    snprintf(args, sizeof args, "{\"url\":\"http://127.0.0.2:%d/redir-ok\"}", srv_alt.port);
    ef_tool_result r = call(&f, "fetch", args);
    EF_CHECK_MSG(!r.is_error, "%s", r.text);
    EF_CHECK_CONTAINS(r.text, "/page\nTitle: Test page\n");
    EF_CHECK_CONTAINS(r.text, "# Hello\n\nSome text here & there.");
    EF_CHECK(!strstr(r.text, "evil"));
    ef_tools_result_free(&r);
    /* a redirect to 127.0.0.1 (literal, then by name) is refused before connecting */
    snprintf(args, sizeof args, "{\"url\":\"http://127.0.0.2:%d/redir-loopback\"}", srv_alt.port);
    r = call(&f, "fetch", args);
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "refused: 127.0.0.1 is a loopback");
    ef_tools_result_free(&r);
    snprintf(args, sizeof args, "{\"url\":\"http://127.0.0.2:%d/redir-localhost\"}", srv_alt.port);
    r = call(&f, "fetch", args);
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "refused:");
    EF_CHECK_CONTAINS(r.text, "loopback");
    ef_tools_result_free(&r);
    EF_CHECK_EQ_INT(atomic_load(&srv_main.n_conns), before);
    snprintf(args, sizeof args, "{\"url\":\"http://127.0.0.2:%d/redir-file\"}", srv_alt.port);
    r = call(&f, "fetch", args);
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "scheme file is refused");
    ef_tools_result_free(&r);
    snprintf(args, sizeof args, "{\"url\":\"http://127.0.0.2:%d/loop\"}", srv_alt.port);
    r = call(&f, "fetch", args);
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "more than 3 redirects");
    ef_tools_result_free(&r);
    fx_close(&f);
}

static void test_fetch_pages(void)
{
    ef_tools_config cfg;
    fetch_cfg(&cfg);
    cfg.fetch_allow_private = 1; /* the operator allows private addresses */
    fixture f;
    fx_open(&f, &cfg);
    char args[256];
    snprintf(args, sizeof args, "{\"url\":\"http://127.0.0.1:%d/long\",\"max_chars\":1000}",
             srv_main.port);
    ef_tool_result r = call(&f, "fetch", args);
    EF_CHECK_MSG(!r.is_error, "%s", r.text);
    EF_CHECK_CONTAINS(r.text, "abcdefghij");
    EF_CHECK_CONTAINS(r.text, "[characters 0-1000 of 3000; call fetch again with start=1000");
    ef_tools_result_free(&r);
    snprintf(args, sizeof args,
             "{\"url\":\"http://127.0.0.1:%d/long\",\"start\":2990,\"max_chars\":1000}",
             srv_main.port);
    r = call(&f, "fetch", args);
    EF_CHECK_CONTAINS(r.text, "\nabcdefghij"); /* 2990 % 26 == 0 */
    EF_CHECK(!strstr(r.text, "[characters"));
    ef_tools_result_free(&r);
    snprintf(args, sizeof args, "{\"url\":\"http://127.0.0.1:%d/bin\"}", srv_main.port);
    r = call(&f, "fetch", args);
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "application/octet-stream is not text");
    ef_tools_result_free(&r);
    snprintf(args, sizeof args, "{\"url\":\"http://127.0.0.1:%d/missing\"}", srv_main.port);
    r = call(&f, "fetch", args);
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "HTTP 404");
    ef_tools_result_free(&r);
    r = call(&f, "fetch", "{}");
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "arguments.url: required");
    ef_tools_result_free(&r);
    r = call(&f, "fetch", "{\"url\":\"not a url\"}");
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "not a valid absolute URL");
    ef_tools_result_free(&r);
    /* a size cap cuts the page and says so */
    fx_close(&f);
    cfg.fetch_max_bytes = 500;
    fx_open(&f, &cfg);
    snprintf(args, sizeof args, "{\"url\":\"http://127.0.0.1:%d/long\"}", srv_main.port);
    r = call(&f, "fetch", args);
    EF_CHECK_MSG(!r.is_error, "%s", r.text);
    EF_CHECK_CONTAINS(r.text, "[the page was cut at the size limit]");
    ef_tools_result_free(&r);
    fx_close(&f);
}

static void test_addr_policy(void)
{
    struct {
        const char *addr;
        int allowed;
    } cases[] = {{"8.8.8.8", 1},       {"1.1.1.1", 1},         {"127.0.0.1", 0},
                 {"127.255.0.9", 0},   {"10.1.2.3", 0},        {"172.16.0.1", 0},
                 {"172.32.0.1", 1},    {"192.168.0.1", 0},     {"169.254.169.254", 0},
                 {"100.64.0.1", 0},    {"224.0.0.1", 0},       {"255.255.255.255", 0},
                 {"0.0.0.0", 0},       {"2001:4860::8888", 1}, {"::1", 0},
                 {"::", 0},            {"fe80::1", 0},         {"fc00::1", 0},
                 {"::ffff:10.0.0.1", 0}, {"::ffff:8.8.8.8", 1}, {"64:ff9b::a9fe:a9fe", 0},
                 {"2002:7f00:1::", 0}, {"ff02::1", 0}};
    for (size_t i = 0; i < EF_ARRAY_LEN(cases); i++) {
        struct sockaddr_storage ss = {0};
        if (strchr(cases[i].addr, ':')) {
            ss.ss_family = AF_INET6;
            inet_pton(AF_INET6, cases[i].addr, &((struct sockaddr_in6 *)&ss)->sin6_addr);
        } else {
            ss.ss_family = AF_INET;
            inet_pton(AF_INET, cases[i].addr, &((struct sockaddr_in *)&ss)->sin_addr);
        }
        const char *why = NULL;
        int ok = ef_tools__addr_allowed((struct sockaddr *)&ss, 0, NULL, &why);
        EF_CHECK_MSG(ok == cases[i].allowed, "%s: allowed=%d (%s)", cases[i].addr, ok,
                     why ? why : "");
        EF_CHECK(ef_tools__addr_allowed((struct sockaddr *)&ss, 1, NULL, &why) == 1);
    }
    struct sockaddr_in in = {0};
    in.sin_family = AF_INET;
    inet_pton(AF_INET, "10.9.8.7", &in.sin_addr);
    const char *why = NULL;
    EF_CHECK(ef_tools__addr_allowed((struct sockaddr *)&in, 0, "192.168.0.0/16, 10.9.0.0/16", &why));
    EF_CHECK(!ef_tools__addr_allowed((struct sockaddr *)&in, 0, "10.9.9.0/24", &why));
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    ef_json_init();
    if (server_start(&srv_main, "127.0.0.1") < 0) {
        printf("skip all: cannot listen on 127.0.0.1\n");
        return 77;
    }
    have_alt = server_start(&srv_alt, "127.0.0.2") == 0;
    if (have_alt)
        srv_alt.other = &srv_main;
    EF_RUN(test_addr_policy);
    EF_RUN(test_search_ok);
    EF_RUN(test_search_429_then_200);
    EF_RUN(test_search_5xx_exhausts_retries);
    EF_RUN(test_search_timeout);
    EF_RUN(test_search_malformed);
    EF_RUN(test_search_key);
    EF_RUN(test_fetch_refusals);
    EF_RUN(test_fetch_redirects);
    EF_RUN(test_fetch_pages);
    if (have_alt)
        server_stop(&srv_alt);
    server_stop(&srv_main);
    return EF_TEST_END();
}

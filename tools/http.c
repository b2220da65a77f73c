/*
 * tools/http.c — HTTP GET through libcurl for the search and fetch tools, with the
 * address policy: only http and https; loopback, private, link-local, multicast and
 * reserved addresses refused unless the config allows them. The check runs twice: on
 * the URL's host when it is a literal address (before curl starts), and on every address
 * curl is about to connect to, after DNS resolution (CURLOPT_OPENSOCKETFUNCTION: a
 * refused address never gets a socket). Redirects are followed here, hop by hop, so each
 * new URL goes through the same checks. Bodies have a byte cap; the bearer key is sent
 * only to the first URL's host and never appears in messages or logs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include "tools/tools_int.h"

/* ---- the address policy ------------------------------------------------------- */

typedef struct {
    uint32_t net, mask;
    const char *why;
} v4_range;

static const v4_range denied_v4[] = {
    {0x00000000u, 0xff000000u, "unspecified (0.0.0.0/8)"},
    {0x0a000000u, 0xff000000u, "private (10.0.0.0/8)"},
    {0x64400000u, 0xffc00000u, "shared address space (100.64.0.0/10)"},
    {0x7f000000u, 0xff000000u, "loopback (127.0.0.0/8)"},
    {0xa9fe0000u, 0xffff0000u, "link-local (169.254.0.0/16)"},
    {0xac100000u, 0xfff00000u, "private (172.16.0.0/12)"},
    {0xc0000000u, 0xffffff00u, "IETF protocol assignments (192.0.0.0/24)"},
    {0xc0000200u, 0xffffff00u, "documentation (192.0.2.0/24)"},
    {0xc0a80000u, 0xffff0000u, "private (192.168.0.0/16)"},
    {0xc6120000u, 0xfffe0000u, "benchmarking (198.18.0.0/15)"},
    {0xc6336400u, 0xffffff00u, "documentation (198.51.100.0/24)"},
    {0xcb007100u, 0xffffff00u, "documentation (203.0.113.0/24)"},
    {0xe0000000u, 0xf0000000u, "multicast (224.0.0.0/4)"},
    {0xf0000000u, 0xf0000000u, "reserved (240.0.0.0/4)"},
};

static const char *v4_denied(uint32_t a)
{
    for (size_t i = 0; i < EF_ARRAY_LEN(denied_v4); i++)
        if ((a & denied_v4[i].mask) == denied_v4[i].net)
            return denied_v4[i].why;
    return NULL;
}

static uint32_t v4_at(const unsigned char *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static const char *v6_denied(const unsigned char *b)
{
    static const unsigned char zero[16];
    if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1))
        return b[15] ? "loopback (::1)" : "unspecified (::)";
    if (memcmp(b, zero, 10) == 0 && b[10] == 0xff && b[11] == 0xff) /* ::ffff:a.b.c.d */
        return v4_denied(v4_at(b + 12));
    if (memcmp(b, zero, 12) == 0) /* ::a.b.c.d, deprecated */
        return "IPv4-compatible (::/96)";
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) /* NAT64 64:ff9b::/96 */
        return v4_denied(v4_at(b + 12));
    if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 2002::/16 carries an IPv4 address */
        return v4_denied(v4_at(b + 2));
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return "link-local (fe80::/10)";
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return "site-local (fec0::/10)";
    if ((b[0] & 0xfe) == 0xfc)
        return "unique local (fc00::/7)";
    if (b[0] == 0xff)
        return "multicast (ff00::/8)";
    return NULL;
}

/* 1 when the address (family, 4 or 16 bytes) lies in one of the CIDRs of list. */
static int in_nets(int family, const unsigned char *addr, const char *list)
{
    if (!list)
        return 0;
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ')
            end++;
        char item[64];
        size_t n = (size_t)(end - p);
        if (n > 0 && n < sizeof item) {
            memcpy(item, p, n);
            item[n] = '\0';
            char *slash = strchr(item, '/');
            int bits = -1;
            if (slash) {
                *slash = '\0';
                bits = atoi(slash + 1);
            }
            unsigned char net[16];
            int nf = strchr(item, ':') ? AF_INET6 : AF_INET;
            int nbytes = nf == AF_INET ? 4 : 16;
            if (bits < 0 || bits > nbytes * 8)
                bits = nbytes * 8;
            if (nf == family && inet_pton(nf, item, net) == 1) {
                int ok = 1;
                for (int i = 0; i < bits && ok; i++) {
                    int byte = i / 8, bit = 7 - i % 8;
                    ok = ((net[byte] >> bit) & 1) == ((addr[byte] >> bit) & 1);
                }
                if (ok)
                    return 1;
            }
        }
        p = end;
    }
    return 0;
}

int ef_tools__addr_allowed(const struct sockaddr *sa, int allow_private, const char *allow_nets,
                           const char **why)
{
    const char *reason = NULL;
    const unsigned char *bytes = NULL;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        bytes = (const unsigned char *)&in->sin_addr;
        reason = v4_denied(v4_at(bytes));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        bytes = in6->sin6_addr.s6_addr;
        reason = v6_denied(bytes);
    } else {
        *why = "not an internet address";
        return 0;
    }
    if (!reason || allow_private || in_nets(sa->sa_family, bytes, allow_nets))
        return 1;
    *why = reason;
    return 0;
}

/* ---- transfers ------------------------------------------------------------------- */

typedef struct {
    const ef_tools__http_opts *opts;
    ef_buf body;
    int over_cap;
    char refused[160]; /* set by open_socket when it refused an address */
} xfer;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    if (ef_buf_append_capped(&x->body, data, n) < 0) {
        x->over_cap = 1;
        return 0; /* stops the transfer */
    }
    return n;
}

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *addr)
{
    xfer *x = ud;
    (void)purpose;
    const char *why = NULL;
    if (!ef_tools__addr_allowed(&addr->addr, x->opts->allow_private, x->opts->allow_nets,
                                &why)) {
        char host[INET6_ADDRSTRLEN] = "?";
        if (addr->family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&addr->addr)->sin_addr, host, sizeof host);
        else if (addr->family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr->addr)->sin6_addr, host,
                      sizeof host);
        snprintf(x->refused, sizeof x->refused, "%s is a %s address", host, why);
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* Checks a URL's scheme and, when its host is a literal address, the address. Writes
 * the host (without brackets) into host. */
static int check_url(ef_ctx *ctx, const char *url, const ef_tools__http_opts *opts, char *host,
                     size_t host_cap)
{
    CURLU *u = curl_url();
    if (!u)
        return ef_errorf(ctx, EF_ENOMEM, "fetch: out of memory");
    char *scheme = NULL, *h = NULL;
    int rc = 0;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        rc = ef_errorf(ctx, EF_EINVAL, "URL \"%.200s\": not a valid absolute URL", url);
        goto done;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        rc = ef_errorf(ctx, EF_EINVAL, "URL \"%.200s\": scheme %s is refused (http and https only)",
                       url, scheme ? scheme : "(none)");
        goto done;
    }
    if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || !h[0]) {
        rc = ef_errorf(ctx, EF_EINVAL, "URL \"%.200s\": no host", url);
        goto done;
    }
    size_t n = strlen(h);
    const char *hp = h;
    if (h[0] == '[' && n > 2 && h[n - 1] == ']') {
        hp = h + 1;
        n -= 2;
    }
    snprintf(host, host_cap, "%.*s", (int)n, hp);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    int literal = 0;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        ss.ss_family = AF_INET;
        literal = 1;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        ss.ss_family = AF_INET6;
        literal = 1;
    }
    const char *why = NULL;
    if (literal &&
        !ef_tools__addr_allowed((struct sockaddr *)&ss, opts->allow_private, opts->allow_nets, &why))
        rc = ef_errorf(ctx, EF_EINVAL, "URL \"%.200s\": refused: %s is a %s address", url, host,
                       why);
done:
    curl_free(scheme);
    curl_free(h);
    curl_url_cleanup(u);
    return rc;
}

static int is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* One hop: the transfer itself. Fills status, redirect target, content type. */
static int one_hop(ef_ctx *ctx, CURL *h, const char *url, int send_auth, xfer *x,
                   ef_tools__http_resp *resp, char **redirect)
{
    const ef_tools__http_opts *opts = x->opts;
    struct curl_slist *headers = NULL;
    char *auth = NULL;
    int rc = 0;
    if (send_auth && opts->auth_bearer && opts->auth_bearer[0]) {
        auth = ef_asprintf("Authorization: Bearer %s", opts->auth_bearer);
        if (!auth || !(headers = curl_slist_append(NULL, auth))) {
            rc = ef_errorf(ctx, EF_ENOMEM, "http: out of memory");
            goto done;
        }
    }
    ef_buf_reset(&x->body);
    x->over_cap = 0;
    x->refused[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (cc == CURLE_WRITE_ERROR && x->over_cap) {
        if (!opts->truncate_ok) {
            rc = ef_errorf(ctx, EF_ELIMIT, "%.200s: response larger than %zu bytes", url,
                           opts->max_bytes);
            goto done;
        }
        resp->truncated = 1;
    } else if (x->refused[0]) {
        rc = ef_errorf(ctx, EF_EINVAL, "URL \"%.200s\": refused: %s", url, x->refused);
        goto done;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = ef_errorf(ctx, EF_ETIMEOUT, "%.200s: no complete answer within %d ms", url,
                       opts->timeout_ms);
        goto done;
    } else if (cc != CURLE_OK) {
        rc = ef_errorf(ctx, EF_EHTTP, "%.200s: %s", url, curl_easy_strerror(cc));
        goto done;
    }
    char *ct = NULL, *loc = NULL;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    ef_free(resp->content_type);
    resp->content_type = ct ? ef_strdup(ct) : NULL;
    curl_off_t ra = -1;
    resp->retry_after_s = curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0
                              ? (long)ra
                              : -1;
    if (is_redirect(resp->status) && curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK &&
        loc) {
        if (!(*redirect = ef_strdup(loc)))
            rc = ef_errorf(ctx, EF_ENOMEM, "http: out of memory");
    }
done:
    curl_slist_free_all(headers);
    if (auth) {
        memset(auth, 0, strlen(auth));
        ef_free(auth);
    }
    return rc;
}

int ef_tools__http_get(ef_ctx *ctx, const char *url, const ef_tools__http_opts *opts,
                       ef_tools__http_resp *resp)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    ef_tools__http_resp r = {0, NULL, 0, NULL, NULL, -1, 0};
    xfer x = {opts, EF_BUF_INIT(opts->max_bytes), 0, ""};
    char first_host[256] = "", host[256];
    char *cur = ef_strdup(url);
    CURL *h = curl_easy_init();
    int rc = 0;
    if (!cur || !h) {
        rc = ef_errorf(ctx, EF_ENOMEM, "http: out of memory");
        goto done;
    }
    long timeout = opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* no proxy from the environment */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "envforge/" EF_VERSION);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &x);
    for (int hop = 0;; hop++) {
        if ((rc = check_url(ctx, cur, opts, host, sizeof host)) < 0)
            goto done;
        if (hop == 0)
            snprintf(first_host, sizeof first_host, "%s", host);
        char *next = NULL;
        rc = one_hop(ctx, h, cur, strcasecmp(host, first_host) == 0, &x, &r, &next);
        if (rc < 0)
            goto done;
        if (!next)
            break;
        if (hop >= opts->max_redirects) {
            ef_free(next);
            rc = ef_errorf(ctx, EF_ELIMIT, "%.200s: more than %d redirects", url,
                           opts->max_redirects);
            goto done;
        }
        ef_free(cur);
        cur = next;
    }
    r.len = x.body.len;
    r.body = x.body.data ? ef_buf_detach(&x.body) : ef_strdup("");
    r.final_url = cur;
    cur = NULL;
    if (!r.body) {
        rc = ef_errorf(ctx, EF_ENOMEM, "http: out of memory");
        goto done;
    }
    *resp = r;
    memset(&r, 0, sizeof r);
done:
    ef_tools__http_resp_free(&r);
    ef_buf_free(&x.body);
    ef_free(cur);
    if (h)
        curl_easy_cleanup(h);
    return rc;
}

void ef_tools__http_resp_free(ef_tools__http_resp *resp)
{
    if (!resp)
        return;
    ef_free(resp->body);
    ef_free(resp->content_type);
    ef_free(resp->final_url);
    memset(resp, 0, sizeof *resp);
}

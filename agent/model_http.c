/*
 * agent/model_http.c — the `http://host:port/v1[#model]` backend: OpenAI-compatible
 * /v1/chat/completions with tools and reasoning_content (vLLM, SGLang, the DeepSeek API,
 * `envforge serve`).
 *
 * Each complete() is one logical request made of up to 1 + max_retries attempts. An
 * attempt that fails at the transport (refused, reset, timed out, a dropped connection),
 * with HTTP 429 or 5xx, or with a body that is not a chat completion, is retried after
 * a backoff that doubles per retry, is capped, carries full jitter, and yields to a
 * Retry-After header. Other 4xx answers fail at once. Attempts draw on a budget shared by
 * the whole model (max_requests); past it every call fails with EF_ELIMIT. The API key
 * comes from the options or the environment ($EF_API_KEY, then $OPENAI_API_KEY) and is
 * only ever sent in the Authorization header, never logged or put in messages.
 *
 * Threads: every call uses its own curl easy handle, so any number of worker threads
 * keep that many requests in flight at once (the runner's --concurrency).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "agent/agent_int.h"
#include "common/rng.h"

typedef struct {
    char *url;      /* .../chat/completions */
    char *model;    /* the "model" field; "default" when the name has no #model */
    char *auth;     /* "Authorization: Bearer KEY" or NULL */
    ef_model_options opts;
    _Atomic int64_t n_requests, n_attempts, n_retries, n_failed;
} http_model;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : EF_EHTTP;
}

typedef struct {
    ef_buf body;
    int retry_after_s;
} attempt_io;

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    attempt_io *io = ud;
    if (ef_buf_append(&io->body, data, size * n) < 0)
        return 0; /* over the cap: abort the transfer */
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    attempt_io *io = ud;
    size_t len = size * n;
    if (len > 12 && strncasecmp(data, "retry-after:", 12) == 0) {
        char tmp[32];
        size_t k = EF_MIN(len - 12, sizeof(tmp) - 1);
        memcpy(tmp, data + 12, k);
        tmp[k] = 0;
        long v = strtol(tmp, NULL, 10);
        if (v > 0 && v < 3600)
            io->retry_after_s = (int)v;
    }
    return len;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* One attempt. Returns 0 with the parsed response, or < 0 and *retry (1 when another
 * attempt may succeed) with a message on ctx. */
static int attempt(http_model *h, ef_ctx *ctx, const char *body, ef_model_response *out,
                   int *retry, int *retry_after_s)
{
    attempt_io io = {EF_BUF_INIT(h->opts.max_response_bytes), 0};
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL, *tmp;
    int rc = 0;
    *retry = 0;
    if (!c)
        return ef_errorf(ctx, EF_ENOMEM, "http model: curl_easy_init failed");
    hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (hdr && h->auth && (tmp = curl_slist_append(hdr, h->auth)))
        hdr = tmp;
    if (hdr && (tmp = curl_slist_append(hdr, "Expect:")))
        hdr = tmp;
    if (!hdr) {
        rc = ef_errorf(ctx, EF_ENOMEM, "http model: out of memory");
        goto cleanup;
    }
    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &io);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &io);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->opts.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)h->opts.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "envforge/" EF_VERSION);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        if (cc == CURLE_WRITE_ERROR && io.body.len + CURL_MAX_WRITE_SIZE > io.body.max_bytes) {
            rc = ef_errorf(ctx, EF_ELIMIT, "http model %s: response over %zu bytes", h->url,
                           io.body.max_bytes);
        } else {
            *retry = 1;
            rc = ef_errorf(ctx, cc == CURLE_OPERATION_TIMEDOUT ? EF_ETIMEOUT : EF_EHTTP,
                           "http model %s: %s", h->url, curl_easy_strerror(cc));
        }
        goto cleanup;
    }
    if (status != 200) {
        *retry = status == 429 || status >= 500;
        *retry_after_s = io.retry_after_s;
        char snippet[201];
        size_t k = EF_MIN(io.body.len, sizeof(snippet) - 1);
        if (k)
            memcpy(snippet, io.body.data, k);
        snippet[k] = 0;
        rc = ef_errorf(ctx, EF_EHTTP, "http model %s: HTTP %ld: %s", h->url, status, snippet);
        goto cleanup;
    }
    cJSON *j;
    if ((rc = ef_json_parse(ctx, io.body.data ? io.body.data : "", io.body.len,
                            "chat completion response", &j)) < 0) {
        *retry = 1;
        goto cleanup;
    }
    rc = ef_agent__response_from_json(ctx, j, "chat completion response", out);
    cJSON_Delete(j);
    if (rc < 0 && rc != EF_ENOMEM && rc != EF_EHTTP) {
        ef_model_response_free(out);
        out->prompt_tokens = out->completion_tokens = -1;
        *retry = 1;
    }
cleanup:
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    ef_buf_free(&io.body);
    return rc;
}

static int http_complete(ef_model *m, ef_ctx *ctx, const ef_model_request *req,
                         ef_model_response *out)
{
    http_model *h = m->impl;
    char *body = NULL;
    int rc = ef_agent__request_body(ctx, req, h->model, &body);
    if (rc < 0)
        return rc;
    atomic_fetch_add(&h->n_requests, 1);
    uint64_t t0 = ef_now_ns();
    ef_rng rng;
    ef_rng_seed(&rng, ef_rng_derive(req->seed, t0, (uint64_t)(uintptr_t)&rng));
    for (int k = 0;; k++) {
        if (h->opts.max_requests > 0 &&
            atomic_fetch_add(&h->n_attempts, 1) >= h->opts.max_requests) {
            rc = ef_errorf(ctx, EF_ELIMIT,
                           "http model %s: request budget of %lld spent (raise --max-requests)",
                           h->url, (long long)h->opts.max_requests);
            break;
        } else if (h->opts.max_requests <= 0)
            atomic_fetch_add(&h->n_attempts, 1);
        int retry = 0, retry_after_s = 0;
        rc = attempt(h, ctx, body, out, &retry, &retry_after_s);
        out->n_attempts = k + 1;
        if (rc == 0 || !retry || k >= h->opts.max_retries)
            break;
        atomic_fetch_add(&h->n_retries, 1);
        int64_t cap = (int64_t)h->opts.backoff_ms << (k < 20 ? k : 20);
        if (cap > h->opts.backoff_max_ms)
            cap = h->opts.backoff_max_ms;
        int64_t wait = cap / 2 + (int64_t)ef_rng_below(&rng, (uint64_t)(cap / 2 + 1));
        if (retry_after_s > 0 && (int64_t)retry_after_s * 1000 > wait)
            wait = EF_MIN((int64_t)retry_after_s * 1000, (int64_t)h->opts.backoff_max_ms);
        EF_LOG_I(ctx, "retry %d of %s after %lld ms: %s", k + 1, h->url, (long long)wait,
                 ef_errmsg(ctx));
        sleep_ms(wait);
    }
    if (rc < 0)
        atomic_fetch_add(&h->n_failed, 1);
    out->latency_ms = (int64_t)((ef_now_ns() - t0) / 1000000);
    ef_free(body);
    return rc;
}

static void http_free(ef_model *m)
{
    http_model *h = m->impl;
    if (!h)
        return;
    ef_free(h->url);
    ef_free(h->model);
    if (h->auth) {
        memset(h->auth, 0, strlen(h->auth));
        ef_free(h->auth);
    }
    ef_free(h);
}

static const ef_model_iface http_iface = {"http", http_complete, http_free, NULL};

void ef_model_http_get_stats(ef_model *m, ef_model_http_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!m || m->iface != &http_iface)
        return;
    http_model *h = m->impl;
    out->n_requests = atomic_load(&h->n_requests);
    out->n_attempts = atomic_load(&h->n_attempts);
    out->n_retries = atomic_load(&h->n_retries);
    out->n_failed = atomic_load(&h->n_failed);
}

int ef_agent__model_http_open(ef_ctx *ctx, const char *url, const ef_model_options *opts,
                              ef_model **out)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc < 0)
        return ef_errorf(ctx, EF_EHTTP, "http model: curl_global_init failed");
    if (opts->completions_api)
        return ef_errorf(ctx, EF_EUNSUPPORTED,
                         "http model %s: token-in/token-out through /v1/completions needs the "
                         "engine's chat encoder, which is not in this build",
                         url);
    ef_model *m = ef_calloc(1, sizeof(*m));
    http_model *h = ef_calloc(1, sizeof(*h));
    if (!m || !h) {
        ef_free(m);
        ef_free(h);
        return ef_errorf(ctx, EF_ENOMEM, "http model: out of memory");
    }
    m->iface = &http_iface;
    m->impl = h;
    h->opts = *opts;
    const char *hash = strchr(url, '#');
    size_t base_len = hash ? (size_t)(hash - url) : strlen(url);
    while (base_len > 0 && url[base_len - 1] == '/')
        base_len--;
    const char *key = opts->api_key;
    if (!key || !*key)
        key = getenv("EF_API_KEY");
    if (!key || !*key)
        key = getenv("OPENAI_API_KEY");
    int ok = (m->name = ef_strdup(url)) != NULL;
    ok = ok && (h->url = ef_asprintf("%.*s/chat/completions", (int)base_len, url)) != NULL;
    ok = ok && (h->model = ef_strdup(hash && hash[1] ? hash + 1 : "default")) != NULL;
    if (ok && key && *key)
        ok = (h->auth = ef_asprintf("Authorization: Bearer %s", key)) != NULL;
    if (!ok) {
        ef_model_free(m);
        return ef_errorf(ctx, EF_ENOMEM, "http model: out of memory");
    }
    if (h->opts.max_retries < 0)
        h->opts.max_retries = 0;
    if (h->opts.backoff_ms <= 0)
        h->opts.backoff_ms = 1;
    if (h->opts.max_response_bytes == 0)
        h->opts.max_response_bytes = 16u << 20;
    *out = m;
    return 0;
}

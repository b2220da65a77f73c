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
 * Token-in/token-out (a tokenizer given): requests go to /v1/completions instead, with
 * the prompt as token ids — the conversation rendered by the DeepSeek-V3.2 encoder and
 * tokenized here, or, from the second turn on, the episode's ids so far followed by the
 * tokens of the messages after them (tool results, the loop's feedback; agent/chat_tokens.c)
 * — and with return_token_ids and return_tokens_as_token_ids, so the sampled ids and their
 * log-probs come back as they were sampled (a reply without them leaves the turn without
 * ids). The completion text is parsed by the engine's DSML parser.
 *
 * Transfers: one I/O thread per model drives a libcurl multi handle; each attempt is an
 * easy handle that a worker thread hands over and waits on, so the runner's
 * --concurrency workers keep that many requests in flight at once over one shared
 * connection cache (keep-alive, no reconnect per request). If the I/O thread cannot
 * start, attempts run with curl_easy_perform on the worker. The tokenizer is immutable
 * and shared.
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
#include "engine/encoding.h"
#include "engine/tokenizer.h"

typedef struct {
    char *url;   /* .../chat/completions */
    char *model; /* the "model" field; "default" when the name has no #model */
    char *auth;  /* "Authorization: Bearer KEY" or NULL */
    ef_model_options opts;
    ef_tokenizer *tok;     /* token-in/token-out when set */
    ef_agent__chat_tok ct; /* the encoder/tokenizer pair over tok */
    /* the multi handle and its I/O thread */
    CURLM *multi;
    pthread_t io;
    int io_started, stopping;
    pthread_mutex_t mu;
    pthread_cond_t done_cv;
    struct xfer *queue; /* handed over, not yet added to the multi handle */
    _Atomic int64_t max_inflight;
    _Atomic int64_t n_requests, n_attempts, n_retries, n_failed;
} http_model;

typedef struct xfer {
    CURL *easy;
    CURLcode result;
    int done;
    struct xfer *next;
} xfer;

/* libcurl's global init is process-wide by its own design (curl_global_init must run
 * once before any thread uses curl), hence the one pthread_once here. */
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
static int parse_completion(http_model *h, ef_ctx *ctx, const cJSON *j, ef_model_response *out);

/* ---- the multi handle ------------------------------------------------------------- */

static void xfer_finish(http_model *h, xfer *x, CURLcode result)
{
    pthread_mutex_lock(&h->mu);
    x->result = result;
    x->done = 1;
    pthread_cond_broadcast(&h->done_cv);
    pthread_mutex_unlock(&h->mu);
}

static void *io_main(void *arg)
{
    http_model *h = arg;
    int running = 0;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        xfer *q = h->queue;
        h->queue = NULL;
        int stop = h->stopping;
        pthread_mutex_unlock(&h->mu);
        while (q) {
            xfer *next = q->next;
            curl_easy_setopt(q->easy, CURLOPT_PRIVATE, (void *)q);
            if (curl_multi_add_handle(h->multi, q->easy) != CURLM_OK)
                xfer_finish(h, q, CURLE_FAILED_INIT);
            q = next;
        }
        curl_multi_perform(h->multi, &running);
        if (running > atomic_load(&h->max_inflight))
            atomic_store(&h->max_inflight, running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            CURLcode result = msg->data.result;
            void *priv = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&priv);
            curl_multi_remove_handle(h->multi, e);
            xfer_finish(h, priv, result);
        }
        if (stop && running == 0)
            break;
        curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

/* Runs one transfer on the multi handle and waits for it. */
static CURLcode perform(http_model *h, CURL *c)
{
    if (!h->io_started)
        return curl_easy_perform(c);
    xfer x = {c, CURLE_OK, 0, NULL};
    pthread_mutex_lock(&h->mu);
    x.next = h->queue;
    h->queue = &x;
    pthread_mutex_unlock(&h->mu);
    curl_multi_wakeup(h->multi);
    pthread_mutex_lock(&h->mu);
    while (!x.done)
        pthread_cond_wait(&h->done_cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    return x.result;
}

static int attempt(http_model *h, ef_ctx *ctx, const char *body, ef_model_response *out, int *retry,
                   int *retry_after_s)
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
    CURLcode cc = perform(h, c);
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
    if (h->tok)
        rc = parse_completion(h, ctx, j, out);
    else
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

/* ---- token-in/token-out ------------------------------------------------------------ */

static int completions_body(http_model *h, ef_ctx *ctx, const ef_model_request *req, char **out,
                            int32_t **ids_out, size_t *n_out)
{
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = ef_agent__chat_prompt_ids(ctx, &h->ct, req, &ids, &n);
    if (rc < 0)
        return rc;
    cJSON *body = cJSON_CreateObject(), *prompt = NULL;
    rc = EF_ENOMEM;
    if (!body || !cJSON_AddStringToObject(body, "model", h->model) ||
        !(prompt = cJSON_AddArrayToObject(body, "prompt")))
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateNumber(ids[i]);
        if (!x)
            goto cleanup;
        cJSON_AddItemToArray(prompt, x);
    }
    const ef_sampling *s = &req->sampling;
    if ((s->temperature >= 0 && !cJSON_AddNumberToObject(body, "temperature", s->temperature)) ||
        (s->top_p > 0 && !cJSON_AddNumberToObject(body, "top_p", s->top_p)) ||
        (s->max_tokens > 0 &&
         !cJSON_AddNumberToObject(body, "max_tokens", (double)s->max_tokens)) ||
        !cJSON_AddNumberToObject(body, "seed", (double)(req->seed & ((1ull << 53) - 1))) ||
        !cJSON_AddNumberToObject(body, "logprobs", (double)EF_MAX(0, s->top_logprobs)) ||
        !cJSON_AddTrueToObject(body, "return_token_ids") ||
        !cJSON_AddTrueToObject(body, "return_tokens_as_token_ids") ||
        !cJSON_AddFalseToObject(body, "skip_special_tokens"))
        goto cleanup;
    *out = ef_json_print(body);
    rc = *out ? 0 : EF_ENOMEM;
cleanup:
    cJSON_Delete(body);
    if (rc < 0) {
        ef_free(ids);
        return ef_errorf(ctx, EF_ENOMEM, "http model: out of memory");
    }
    *ids_out = ids;
    *n_out = n;
    return 0;
}

/* choices[0]: text, token_ids (or logprobs.tokens "token_id:N"), logprobs.token_logprobs. */
static int parse_completion(http_model *h, ef_ctx *ctx, const cJSON *j, ef_model_response *out)
{
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(choice, "text");
    if (!cJSON_IsString(text))
        return ef_errorf(ctx, EF_EPARSE, "completion response: choices[0].text missing");
    int rc = ef_agent__response_from_json(ctx, j, "completion response", out);
    if (rc < 0)
        return rc;
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(choice, "logprobs");
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(lp, "tokens");
    int n = cJSON_GetArraySize(toks);
    if (!out->token_ids && cJSON_IsArray(toks) && n > 0) {
        int32_t *ids = ef_malloc((size_t)n * sizeof(*ids));
        if (!ids)
            return EF_ENOMEM;
        int i = 0, ok = 1;
        const cJSON *t;
        cJSON_ArrayForEach(t, toks)
        {
            if (cJSON_IsString(t) && strncmp(t->valuestring, "token_id:", 9) == 0)
                ids[i++] = (int32_t)strtol(t->valuestring + 9, NULL, 10);
            else
                ok = 0;
        }
        if (ok) {
            out->token_ids = ids;
            out->n_tokens = (size_t)n;
        } else
            ef_free(ids);
    }
    const cJSON *tl = cJSON_GetObjectItemCaseSensitive(lp, "token_logprobs");
    if (out->token_ids && !out->logprobs && cJSON_GetArraySize(tl) == (int)out->n_tokens &&
        out->n_tokens) {
        out->logprobs = ef_malloc(out->n_tokens * sizeof(float));
        if (!out->logprobs)
            return EF_ENOMEM;
        size_t i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, tl) out->logprobs[i++] = (float)cJSON_GetNumberValue(x);
    }
    /* A server that gives text only leaves the turn without ids (the episode then keeps no
     * token stream): tokenizing the text again would store a guess at what was sampled. */
    if (out->completion_tokens < 0 && out->token_ids)
        out->completion_tokens = (int64_t)out->n_tokens;
    /* the text as a message: reasoning, content, DSML tool calls */
    ef_agent_msg parsed;
    if ((rc = ef_agent__chat_parse(ctx, &h->ct, text->valuestring, strlen(text->valuestring),
                                   &parsed)) < 0)
        return rc;
    ef_agent_msg_free(&out->message);
    out->message = parsed;
    return 0;
}

static int http_complete(ef_model *m, ef_ctx *ctx, const ef_model_request *req,
                         ef_model_response *out)
{
    http_model *h = m->impl;
    char *body = NULL;
    int32_t *prompt_ids = NULL;
    size_t n_prompt = 0;
    int rc;
    if (h->tok)
        rc = completions_body(h, ctx, req, &body, &prompt_ids, &n_prompt);
    else
        rc = ef_agent__request_body(ctx, req, h->model, &body);
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
    else if (h->tok) {
        ef_free(out->prompt_ids); /* ours: what the model was given */
        out->prompt_ids = prompt_ids;
        out->n_prompt_ids = n_prompt;
        prompt_ids = NULL;
        if (out->prompt_tokens < 0)
            out->prompt_tokens = (int64_t)n_prompt;
    }
    out->latency_ms = (int64_t)((ef_now_ns() - t0) / 1000000);
    ef_free(prompt_ids);
    ef_free(body);
    return rc;
}

static void http_free(ef_model *m)
{
    http_model *h = m->impl;
    if (!h)
        return;
    if (h->io_started) {
        pthread_mutex_lock(&h->mu);
        h->stopping = 1;
        pthread_mutex_unlock(&h->mu);
        curl_multi_wakeup(h->multi);
        pthread_join(h->io, NULL);
    }
    if (h->multi)
        curl_multi_cleanup(h->multi);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->done_cv);
    ef_free(h->url);
    ef_free(h->model);
    ef_engine_tok_free(h->tok);
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
    out->max_inflight = atomic_load(&h->max_inflight);
}

int ef_agent__model_http_open(ef_ctx *ctx, const char *url, const ef_model_options *opts,
                              ef_model **out)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc < 0)
        return ef_errorf(ctx, EF_EHTTP, "http model: curl_global_init failed");
    ef_model *m = ef_calloc(1, sizeof(*m));
    http_model *h = ef_calloc(1, sizeof(*h));
    if (!m || !h) {
        ef_free(m);
        ef_free(h);
        return ef_errorf(ctx, EF_ENOMEM, "http model: out of memory");
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->done_cv, NULL);
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
    ok = ok &&
         (h->url = ef_asprintf("%.*s/%s", (int)base_len, url,
                               opts->tokenizer_path ? "completions" : "chat/completions")) != NULL;
    ok = ok && (h->model = ef_strdup(hash && hash[1] ? hash + 1 : "default")) != NULL;
    if (ok && key && *key)
        ok = (h->auth = ef_asprintf("Authorization: Bearer %s", key)) != NULL;
    if (!ok) {
        ef_model_free(m);
        return ef_errorf(ctx, EF_ENOMEM, "http model: out of memory");
    }
    if (opts->tokenizer_path) {
        int rc = ef_engine_tok_load(ctx, opts->tokenizer_path, &h->tok);
        if (rc < 0) {
            ef_model_free(m);
            return ef_error_wrap(ctx, rc, "http model %s: tokenizer", url);
        }
        h->ct.tok = h->tok;
        h->ct.eos_id = ef_engine_tok_token_id(h->tok, EF_DSV32_EOS);
        h->ct.thinking = opts->thinking;
    }
    h->opts.api_key = NULL;
    h->opts.tokenizer_path = NULL;
    if ((h->multi = curl_multi_init()) != NULL) {
        curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
        h->io_started = pthread_create(&h->io, NULL, io_main, h) == 0;
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

/*
 * tools/search.c — the `search` tool: one interface, two backends. "local" ranks the
 * episode's corpus with FTS5/BM25 (tools/corpus.c); "web" asks a SearxNG-compatible JSON
 * API (GET endpoint?q=...&format=json, results[].title/url/content) through tools/http.c,
 * with a per-attempt timeout, retries with exponential backoff on 429, 5xx and transport
 * errors (a Retry-After header wins), and a cap on the response size. The API key goes
 * in a header and appears in no message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "tools/tools_int.h"

#define MAX_BACKOFF_MS 30000

static const char schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1000,"
    "\"description\":\"what to search for\"},"
    "\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,"
    "\"description\":\"number of results (default 5)\"},"
    "\"source\":{\"type\":\"string\",\"enum\":[\"local\",\"web\"],"
    "\"description\":\"local document collection or the web (default: local when there is "
    "one)\"}},"
    "\"required\":[\"query\"],\"additionalProperties\":false}";

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Appends s percent-encoded (RFC 3986 unreserved kept). */
static int append_escaped(ef_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '.' || c == '_' || c == '~';
        int rc = keep ? ef_buf_putc(b, (char)c)
                      : ef_buf_appendf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Turns a SearxNG JSON body into hits [{title,url,snippet}]. */
static int parse_results(ef_ctx *ctx, const char *body, size_t len, int k, cJSON **out)
{
    cJSON *doc = NULL;
    int rc = ef_json_parse(ctx, body, len, "search response", &doc);
    if (rc < 0)
        return rc == EF_ENOMEM ? rc
                               : ef_error_wrap(ctx, EF_EPARSE, "the search service sent malformed JSON");
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(doc, "results");
    if (!cJSON_IsArray(results)) {
        cJSON_Delete(doc);
        return ef_errorf(ctx, EF_EPARSE, "the search service's response has no \"results\" list");
    }
    cJSON *hits = cJSON_CreateArray();
    if (!hits)
        goto oom;
    const cJSON *r;
    cJSON_ArrayForEach(r, results)
    {
        if (cJSON_GetArraySize(hits) >= k)
            break;
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(r, "url");
        const cJSON *title = cJSON_GetObjectItemCaseSensitive(r, "title");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(r, "content");
        if (!cJSON_IsString(url))
            continue;
        cJSON *hit = cJSON_CreateObject();
        if (!hit)
            goto oom;
        cJSON_AddItemToArray(hits, hit);
        if (!cJSON_AddStringToObject(hit, "title", cJSON_IsString(title) ? title->valuestring : "") ||
            !cJSON_AddStringToObject(hit, "url", url->valuestring) ||
            !cJSON_AddStringToObject(hit, "snippet",
                                     cJSON_IsString(content) ? content->valuestring : ""))
            goto oom;
    }
    cJSON_Delete(doc);
    *out = hits;
    return 0;
oom:
    cJSON_Delete(hits);
    cJSON_Delete(doc);
    return ef_errorf(ctx, EF_ENOMEM, "search: out of memory");
}

static int web_search(ef_tool_ctx *tc, const char *query, int k, cJSON **out, int *n_attempts)
{
    ef_ctx *ctx = tc->ctx;
    const ef_tools_config *cfg = &tc->cfg;
    ef_buf url = EF_BUF_INIT(16384);
    int rc = ef_buf_appends(&url, cfg->search_url);
    if (rc == 0)
        rc = ef_buf_appends(&url, strchr(cfg->search_url, '?') ? "&q=" : "?q=");
    if (rc == 0)
        rc = append_escaped(&url, query);
    if (rc == 0)
        rc = ef_buf_appends(&url, "&format=json");
    if (rc < 0) {
        ef_buf_free(&url);
        return ef_errorf(ctx, EF_ELIMIT, "arguments.query: too long for a search URL");
    }
    /* The endpoint is the operator's own service: private addresses are fine there. */
    ef_tools__http_opts opts = {cfg->search_timeout_ms, 3, cfg->search_max_bytes, 0, 1, NULL,
                                cfg->search_key};
    int attempts = 1 + (cfg->search_retries > 0 ? cfg->search_retries : 0);
    long backoff = cfg->search_backoff_ms > 0 ? cfg->search_backoff_ms : 250;
    for (int i = 0; i < attempts; i++) {
        ef_tools__http_resp resp = {0};
        *n_attempts = i + 1;
        ef_error_clear(ctx);
        rc = ef_tools__http_get(ctx, url.data, &opts, &resp);
        long wait = backoff;
        int retry = 0;
        if (rc == EF_ETIMEOUT || rc == EF_EHTTP) {
            retry = 1;
        } else if (rc == 0 && (resp.status == 429 || resp.status >= 500)) {
            retry = 1;
            rc = ef_errorf(ctx, EF_EHTTP, "the search service answered HTTP %ld%s", resp.status,
                           resp.status == 429 ? " (too many requests)" : "");
            if (resp.retry_after_s >= 0)
                wait = resp.retry_after_s * 1000;
        } else if (rc == 0 && resp.status != 200) {
            rc = ef_errorf(ctx, EF_EHTTP, "the search service answered HTTP %ld", resp.status);
        } else if (rc == 0) {
            rc = parse_results(ctx, resp.body, resp.len, k, out);
        }
        ef_tools__http_resp_free(&resp);
        if (!retry || i + 1 == attempts)
            break;
        EF_LOG_I(ctx, "search: attempt %d failed (%s); retrying in %ld ms", i + 1,
                 ef_errmsg(ctx), wait);
        sleep_ms(wait < MAX_BACKOFF_MS ? wait : MAX_BACKOFF_MS);
        backoff *= 2;
    }
    ef_buf_free(&url);
    if (rc < 0 && *n_attempts > 1)
        return ef_error_wrap(ctx, rc, "search failed after %d attempts", *n_attempts);
    return rc;
}

static int format_hits(ef_tool_result *out, const cJSON *hits, const char *query, int local)
{
    ef_buf b = EF_BUF_INIT(1u << 20);
    int n = cJSON_GetArraySize(hits);
    if (n == 0)
        ef_buf_appendf(&b, "No results for \"%s\".", query);
    int i = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, hits)
    {
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(h, "url");
        const char *title = cJSON_GetObjectItemCaseSensitive(h, "title")->valuestring;
        const char *snip = cJSON_GetObjectItemCaseSensitive(h, "snippet")->valuestring;
        ef_buf_appendf(&b, "%d. %s\n", ++i, title && *title ? title : "(untitled)");
        if (local)
            ef_buf_appendf(&b, "   id: %s\n",
                           cJSON_GetObjectItemCaseSensitive(h, "id")->valuestring);
        if (cJSON_IsString(url))
            ef_buf_appendf(&b, "   url: %s\n", url->valuestring);
        ef_buf_appendf(&b, "   %s\n", snip);
    }
    if (n > 0)
        ef_buf_appendf(&b, "Open a result with fetch (%s).", local ? "id" : "url");
    char *text = b.data ? ef_buf_detach(&b) : ef_strdup("");
    return ef_tools__result_take(out, 0, text);
}

static int run_search(ef_tool_ctx *tc, void *ud, const cJSON *args, ef_tool_result *out)
{
    (void)ud;
    ef_ctx *ctx = tc->ctx;
    const char *query = cJSON_GetObjectItemCaseSensitive(args, "query")->valuestring;
    int64_t k = 5;
    const char *source = NULL;
    ef_json_opt_int(ctx, args, "k", 5, &k);
    ef_json_opt_str(ctx, args, "source", NULL, &source);
    if (!source)
        source = tc->cfg.corpus_path ? "local" : "web";
    int local = strcmp(source, "local") == 0;
    cJSON *hits = NULL;
    int rc, n_attempts = 1;
    if (local) {
        sqlite3 *db;
        if (!tc->cfg.corpus_path)
            return ef_errorf(ctx, EF_EUNSUPPORTED,
                             "arguments.source: there is no local collection in this episode%s",
                             tc->cfg.search_url ? "; use source \"web\"" : "");
        if ((rc = ef_tools__corpus_open(tc, &db)) < 0)
            return rc;
        rc = ef_tools__corpus_query(ctx, db, query, (int)k, &hits);
    } else {
        if (!tc->cfg.search_url)
            return ef_errorf(ctx, EF_EUNSUPPORTED,
                             "arguments.source: web search is not configured in this episode%s",
                             tc->cfg.corpus_path ? "; use source \"local\"" : "");
        rc = web_search(tc, query, (int)k, &hits, &n_attempts);
    }
    if (rc < 0)
        return rc;
    rc = format_hits(out, hits, query, local);
    if (rc < 0) {
        cJSON_Delete(hits);
        return ef_errorf(ctx, EF_ENOMEM, "search: out of memory");
    }
    cJSON *data = cJSON_CreateObject();
    if (!data || !cJSON_AddStringToObject(data, "source", local ? "local" : "web") ||
        !cJSON_AddNumberToObject(data, "attempts", n_attempts)) {
        cJSON_Delete(data);
        cJSON_Delete(hits);
        return ef_errorf(ctx, EF_ENOMEM, "search: out of memory");
    }
    if (!cJSON_AddItemToObject(data, "results", hits)) {
        cJSON_Delete(hits);
        cJSON_Delete(data);
        return ef_errorf(ctx, EF_ENOMEM, "search: out of memory");
    }
    out->data = data;
    return 0;
}

int ef_tools__add_search(ef_tool_registry *reg)
{
    ef_tool_def d = EF_TOOL_DEF_INIT;
    d.name = "search";
    d.description = "Search the episode's document collection (ranked by relevance, with "
                    "snippets) or the web. Returns titles, ids or URLs and snippets; open a "
                    "result with fetch.";
    d.parameters = schema;
    d.run = run_search;
    return ef_tools_registry_add(reg, &d);
}

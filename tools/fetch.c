/*
 * tools/fetch.c — the `fetch` tool: open a page (a URL, through tools/http.c and its
 * address policy, HTML turned into text by tools/html.c) or a document of the local
 * corpus by id, and hand the model one window of its text at a time (start, max_chars),
 * with a note on how to read on.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "common/utf8.h"
#include "tools/tools_int.h"

static const char schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"url\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096,"
    "\"description\":\"an http or https URL to open\"},"
    "\"id\":{\"type\":\"string\",\"minLength\":1,\"description\":\"a document id from a "
    "local search result (instead of url)\"},"
    "\"start\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"character offset to "
    "start reading at (default 0)\"},"
    "\"max_chars\":{\"type\":\"integer\",\"minimum\":100,\"maximum\":100000,"
    "\"description\":\"how much text to return (default 8000)\"}},"
    "\"additionalProperties\":false}";

/* The window [start, start+max) of text, with a header and a note on the rest. */
static int window(ef_ctx *ctx, ef_tool_result *out, const char *header, const char *text,
                  size_t len, size_t start, size_t max_chars, int truncated)
{
    size_t total = ef_utf8_count(text, len);
    if (start > 0 && start >= total)
        return ef_errorf(ctx, EF_EINVAL, "arguments.start: %zu is past the end (the text has "
                         "%zu characters)", start, total);
    size_t a = ef_utf8_offset(text, len, start);
    size_t z = ef_utf8_offset(text, len, start + max_chars);
    size_t end_cp = start + max_chars < total ? start + max_chars : total;
    ef_buf b = EF_BUF_INIT((z - a) + 4096);
    int rc = ef_buf_appends(&b, header);
    if (rc == 0)
        rc = ef_buf_append(&b, text + a, z - a);
    if (rc == 0 && end_cp < total)
        rc = ef_buf_appendf(&b, "\n[characters %zu-%zu of %zu; call fetch again with "
                            "start=%zu to read on]",
                            start, end_cp, total, end_cp);
    else if (rc == 0 && truncated)
        rc = ef_buf_appends(&b, "\n[the page was cut at the size limit]");
    if (rc < 0) {
        ef_buf_free(&b);
        return ef_errorf(ctx, EF_ENOMEM, "fetch: out of memory");
    }
    return ef_tools__result_take(out, 0, ef_buf_detach(&b));
}

static int textual(const char *ct)
{
    if (!ct)
        return 1; /* unknown: try as text */
    return strncasecmp(ct, "text/", 5) == 0 || strstr(ct, "json") || strstr(ct, "xml") ||
           strstr(ct, "javascript");
}

static int fetch_url(ef_tool_ctx *tc, const char *url, size_t start, size_t max_chars,
                     ef_tool_result *out)
{
    ef_ctx *ctx = tc->ctx;
    const ef_tools_config *cfg = &tc->cfg;
    ef_tools__http_opts opts = {cfg->fetch_timeout_ms, cfg->fetch_max_redirects,
                                cfg->fetch_max_bytes, 1, cfg->fetch_allow_private,
                                cfg->fetch_allow_nets, NULL};
    ef_tools__http_resp resp = {0};
    int rc = ef_tools__http_get(ctx, url, &opts, &resp);
    if (rc < 0)
        return rc;
    char *text = NULL, *title = NULL, *header = NULL;
    if (resp.status >= 400 || resp.status < 200) {
        rc = ef_errorf(ctx, EF_EHTTP, "%.200s: HTTP %ld", resp.final_url, resp.status);
        goto done;
    }
    if (!textual(resp.content_type)) {
        rc = ef_errorf(ctx, EF_EUNSUPPORTED, "%.200s: content type %s is not text", resp.final_url,
                       resp.content_type);
        goto done;
    }
    int html = resp.content_type ? strstr(resp.content_type, "html") != NULL
                                 : (resp.len > 0 && memchr(resp.body, '<', resp.len < 512 ? resp.len : 512));
    if (html) {
        if (ef_tools__html_to_text(resp.body, resp.len, &text, &title) < 0) {
            rc = ef_errorf(ctx, EF_ENOMEM, "fetch: out of memory");
            goto done;
        }
    } else if (!(text = ef_strndup(resp.body, resp.len))) {
        rc = ef_errorf(ctx, EF_ENOMEM, "fetch: out of memory");
        goto done;
    }
    header = ef_asprintf("URL: %s\n%s%s%s\n", resp.final_url, title ? "Title: " : "",
                         title ? title : "", title ? "\n" : "");
    if (!header) {
        rc = ef_errorf(ctx, EF_ENOMEM, "fetch: out of memory");
        goto done;
    }
    if ((rc = window(ctx, out, header, text, strlen(text), start, max_chars, resp.truncated)) < 0)
        goto done;
    cJSON *data = cJSON_CreateObject();
    if (data) {
        cJSON_AddStringToObject(data, "url", resp.final_url);
        cJSON_AddNumberToObject(data, "status", (double)resp.status);
        if (resp.content_type)
            cJSON_AddStringToObject(data, "content_type", resp.content_type);
        cJSON_AddBoolToObject(data, "truncated", resp.truncated);
        out->data = data;
    }
done:
    ef_free(text);
    ef_free(title);
    ef_free(header);
    ef_tools__http_resp_free(&resp);
    return rc;
}

static int fetch_doc(ef_tool_ctx *tc, const char *id, size_t start, size_t max_chars,
                     ef_tool_result *out)
{
    ef_ctx *ctx = tc->ctx;
    sqlite3 *db;
    cJSON *doc = NULL;
    int rc = ef_tools__corpus_open(tc, &db);
    if (rc < 0)
        return rc == EF_EUNSUPPORTED
                   ? ef_errorf(ctx, rc, "arguments.id: this episode has no local collection")
                   : rc;
    if ((rc = ef_tools__corpus_get(ctx, db, id, &doc)) < 0)
        return rc;
    const char *title = cJSON_GetObjectItemCaseSensitive(doc, "title")->valuestring;
    const char *text = cJSON_GetObjectItemCaseSensitive(doc, "text")->valuestring;
    char *header = ef_asprintf("Document: %s\nTitle: %s\n\n", id, title);
    if (!header) {
        cJSON_Delete(doc);
        return ef_errorf(ctx, EF_ENOMEM, "fetch: out of memory");
    }
    rc = window(ctx, out, header, text, strlen(text), start, max_chars, 0);
    ef_free(header);
    if (rc < 0) {
        cJSON_Delete(doc);
        return rc;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "text");
    out->data = doc;
    return 0;
}

static int run_fetch(ef_tool_ctx *tc, void *ud, const cJSON *args, ef_tool_result *out)
{
    (void)ud;
    ef_ctx *ctx = tc->ctx;
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(args, "url");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(args, "id");
    int64_t start = 0, max_chars = 8000;
    ef_json_opt_int(ctx, args, "start", 0, &start);
    ef_json_opt_int(ctx, args, "max_chars", 8000, &max_chars);
    if (url && id)
        return ef_errorf(ctx, EF_EINVAL, "arguments: give either url or id, not both");
    if (id)
        return fetch_doc(tc, id->valuestring, (size_t)start, (size_t)max_chars, out);
    if (url)
        return fetch_url(tc, url->valuestring, (size_t)start, (size_t)max_chars, out);
    return ef_errorf(ctx, EF_EINVAL, "arguments.url: required (or arguments.id for a document "
                     "of the local collection)");
}

int ef_tools__add_fetch(ef_tool_registry *reg)
{
    ef_tool_def d = EF_TOOL_DEF_INIT;
    d.name = "fetch";
    d.description = "Open a web page by URL (as readable text) or a document of the local "
                    "collection by id. Long texts come in windows: use start to read on.";
    d.parameters = schema;
    d.run = run_fetch;
    return ef_tools_registry_add(reg, &d);
}

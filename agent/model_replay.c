/*
 * agent/model_replay.c — the `replay:FILE.jsonl` backend: responses scripted in JSON
 * Lines, for tests and for reproducing an episode.
 *
 * Each non-blank line is one model response: a bare assistant message
 * ({"content", "reasoning_content", "tool_calls"}) or a whole OpenAI chat completion,
 * optionally with token fields (token_ids, prompt_token_ids, logprobs), usage and
 * finish_reason. Extra keys:
 *   "script": NAME   the line belongs to script NAME (default: script "0"); scripts are
 *                    numbered 0..S-1 by first appearance and the episode of task id t
 *                    (ids start at 1) plays script (t - 1) mod S
 *   "repeat": true   this line answers every later turn too (endless loops)
 *   "error": "..."   the call fails as a model error with this message
 *   "delay_ms": N    the call takes N ms more (slow servers, kill-during-run tests)
 * Turn k of an episode gets line k of its script; past the end the call fails
 * ("replay script exhausted"). The file is read once; complete() only reads, so threads
 * share it.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "agent/agent_int.h"

typedef struct {
    char *key;
    cJSON **lines;
    size_t n, cap;
} script;

typedef struct {
    script *scripts;
    size_t n_scripts;
    char *path;
} replay;

static void replay_free(ef_model *m)
{
    replay *r = m->impl;
    if (!r)
        return;
    for (size_t i = 0; i < r->n_scripts; i++) {
        for (size_t k = 0; k < r->scripts[i].n; k++)
            cJSON_Delete(r->scripts[i].lines[k]);
        ef_free(r->scripts[i].lines);
        ef_free(r->scripts[i].key);
    }
    ef_free(r->scripts);
    ef_free(r->path);
    ef_free(r);
}

static int replay_complete(ef_model *m, ef_ctx *ctx, const ef_model_request *req,
                           ef_model_response *out)
{
    replay *r = m->impl;
    if (r->n_scripts == 0)
        return ef_errorf(ctx, EF_EINVAL, "replay %s: no responses", r->path);
    int64_t t = req->task_id > 0 ? req->task_id - 1 : 0;
    const script *s = &r->scripts[(size_t)t % r->n_scripts];
    const cJSON *line;
    if ((size_t)req->turn < s->n)
        line = s->lines[req->turn];
    else if (s->n && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s->lines[s->n - 1], "repeat")))
        line = s->lines[s->n - 1];
    else
        return ef_errorf(ctx, EF_ELIMIT, "replay %s: script %s exhausted at turn %lld", r->path,
                         s->key, (long long)req->turn);
    const cJSON *delay = cJSON_GetObjectItemCaseSensitive(line, "delay_ms");
    if (cJSON_IsNumber(delay) && delay->valuedouble > 0) {
        int64_t ms = (int64_t)delay->valuedouble;
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
    char what[64];
    snprintf(what, sizeof(what), "replay script %s turn %lld", s->key, (long long)req->turn);
    return ef_agent__response_from_json(ctx, line, what, out);
}

static const ef_model_iface replay_iface = {"replay", replay_complete, replay_free, NULL};

static int add_line(ef_ctx *ctx, replay *r, cJSON *line)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(line, "script");
    char keybuf[32];
    const char *key = "0";
    if (cJSON_IsString(k))
        key = k->valuestring;
    else if (cJSON_IsNumber(k)) {
        snprintf(keybuf, sizeof(keybuf), "%lld", (long long)k->valuedouble);
        key = keybuf;
    }
    script *s = NULL;
    for (size_t i = 0; i < r->n_scripts; i++)
        if (strcmp(r->scripts[i].key, key) == 0)
            s = &r->scripts[i];
    if (!s) {
        script *p = ef_realloc(r->scripts, (r->n_scripts + 1) * sizeof(*p));
        if (!p)
            return ef_errorf(ctx, EF_ENOMEM, "replay: out of memory");
        r->scripts = p;
        s = &r->scripts[r->n_scripts];
        memset(s, 0, sizeof(*s));
        if (!(s->key = ef_strdup(key)))
            return ef_errorf(ctx, EF_ENOMEM, "replay: out of memory");
        r->n_scripts++;
    }
    if (ef_agent__reserve((void **)&s->lines, sizeof(*s->lines), s->n + 1, &s->cap, 8) < 0)
        return ef_errorf(ctx, EF_ENOMEM, "replay: out of memory");
    s->lines[s->n++] = line;
    return 0;
}

int ef_agent__model_replay_open(ef_ctx *ctx, const char *path, ef_model **out)
{
    char *text = NULL;
    size_t len = 0;
    ef_model *m = ef_calloc(1, sizeof(*m));
    replay *r = ef_calloc(1, sizeof(*r));
    int rc = EF_ENOMEM;
    if (!m || !r) {
        ef_free(m);
        ef_free(r);
        return ef_errorf(ctx, EF_ENOMEM, "replay: out of memory");
    }
    m->iface = &replay_iface;
    m->impl = r;
    if (!(r->path = ef_strdup(path)) || !(m->name = ef_asprintf("replay:%s", path))) {
        rc = ef_errorf(ctx, EF_ENOMEM, "replay: out of memory");
        goto cleanup;
    }
    if ((rc = ef_file_read(ctx, path, (size_t)1 << 30, &text, &len)) < 0) {
        rc = ef_error_wrap(ctx, rc, "model replay:%s", path);
        goto cleanup;
    }
    size_t lineno = 0;
    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        lineno++;
        size_t k = 0;
        while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
            k++;
        if (k < n) {
            char what[512];
            snprintf(what, sizeof(what), "%s:%zu", path, lineno);
            cJSON *line;
            if ((rc = ef_json_parse(ctx, p, n, what, &line)) < 0)
                goto cleanup;
            if (!cJSON_IsObject(line)) {
                cJSON_Delete(line);
                rc = ef_errorf(ctx, EF_EPARSE, "%s: expected a JSON object per line", what);
                goto cleanup;
            }
            if ((rc = add_line(ctx, r, line)) < 0) {
                cJSON_Delete(line);
                goto cleanup;
            }
        }
        p += n + 1;
    }
    if (r->n_scripts == 0) {
        rc = ef_errorf(ctx, EF_EINVAL, "model replay:%s: the file holds no responses", path);
        goto cleanup;
    }
    *out = m;
    m = NULL;
    rc = 0;
cleanup:
    ef_free(text);
    ef_model_free(m);
    return rc;
}

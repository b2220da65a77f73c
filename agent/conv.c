/*
 * agent/conv.c — the conversation model: messages (system, user, assistant with
 * reasoning_content and tool calls, tool results), deep copies, and the round trip
 * through OpenAI chat JSON. Also thinking retention (DeepSeek-V3.2: reasoning stays
 * while only tool results follow it, and goes when a new user message arrives; the
 * harness's error feedback is not one).
 */
#include <stdio.h>
#include <string.h>
#include "agent/agent_int.h"

static const char *const role_names[] = {"system", "user", "assistant", "tool"};

const char *ef_agent_role_name(ef_agent_role role)
{
    return (unsigned)role < EF_ARRAY_LEN(role_names) ? role_names[role] : "unknown";
}

int ef_agent_role_parse(const char *name, ef_agent_role *out)
{
    if (!name)
        return EF_EINVAL;
    for (size_t i = 0; i < EF_ARRAY_LEN(role_names); i++)
        if (strcmp(name, role_names[i]) == 0) {
            *out = (ef_agent_role)i;
            return 0;
        }
    if (strcmp(name, "developer") == 0) {
        *out = EF_ROLE_SYSTEM;
        return 0;
    }
    return EF_EINVAL;
}

char *ef_agent__dup(const char *s, int *ok)
{
    if (!s)
        return NULL;
    char *d = ef_strdup(s);
    if (!d)
        *ok = 0;
    return d;
}

int ef_agent__reserve(void **items, size_t elem, size_t need, size_t *cap, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : first;
    while (n < need)
        n *= 2;
    void *p = ef_realloc(*items, n * elem);
    if (!p)
        return EF_ENOMEM;
    *items = p;
    *cap = n;
    return 0;
}

void ef_agent_msg_free(ef_agent_msg *m)
{
    if (!m)
        return;
    ef_free(m->content);
    ef_free(m->reasoning_content);
    for (size_t i = 0; i < m->n_tool_calls; i++) {
        ef_free(m->tool_calls[i].id);
        ef_free(m->tool_calls[i].name);
        ef_free(m->tool_calls[i].arguments);
    }
    ef_free(m->tool_calls);
    ef_free(m->tool_call_id);
    ef_free(m->name);
    memset(m, 0, sizeof(*m));
}

int ef_agent_msg_copy(const ef_agent_msg *src, ef_agent_msg *dst)
{
    ef_agent_msg m;
    int ok = 1;
    memset(&m, 0, sizeof(m));
    m.role = src->role;
    m.feedback = src->feedback;
    m.content = ef_agent__dup(src->content, &ok);
    m.reasoning_content = ef_agent__dup(src->reasoning_content, &ok);
    m.tool_call_id = ef_agent__dup(src->tool_call_id, &ok);
    m.name = ef_agent__dup(src->name, &ok);
    if (src->n_tool_calls) {
        m.tool_calls = ef_calloc(src->n_tool_calls, sizeof(*m.tool_calls));
        if (!m.tool_calls)
            ok = 0;
        else {
            m.n_tool_calls = src->n_tool_calls;
            for (size_t i = 0; i < src->n_tool_calls; i++) {
                m.tool_calls[i].id = ef_agent__dup(src->tool_calls[i].id, &ok);
                m.tool_calls[i].name = ef_agent__dup(src->tool_calls[i].name, &ok);
                m.tool_calls[i].arguments = ef_agent__dup(src->tool_calls[i].arguments, &ok);
            }
        }
    }
    if (!ok) {
        ef_agent_msg_free(&m);
        return EF_ENOMEM;
    }
    *dst = m;
    return 0;
}

static int conv_reserve(ef_agent_conv *c, size_t n)
{
    return ef_agent__reserve((void **)&c->msgs, sizeof(*c->msgs), n, &c->cap, 8);
}

int ef_agent_conv_push(ef_agent_conv *c, const ef_agent_msg *msg)
{
    if (conv_reserve(c, c->n + 1) < 0)
        return EF_ENOMEM;
    if (ef_agent_msg_copy(msg, &c->msgs[c->n]) < 0)
        return EF_ENOMEM;
    c->n++;
    return 0;
}

int ef_agent_conv_push_text(ef_agent_conv *c, ef_agent_role role, const char *content)
{
    ef_agent_msg m;
    memset(&m, 0, sizeof(m));
    m.role = role;
    m.content = (char *)content; /* copied by push */
    return ef_agent_conv_push(c, &m);
}

void ef_agent_conv_remove(ef_agent_conv *c, size_t i)
{
    if (i >= c->n)
        return;
    ef_agent_msg_free(&c->msgs[i]);
    memmove(&c->msgs[i], &c->msgs[i + 1], (c->n - i - 1) * sizeof(*c->msgs));
    c->n--;
}

void ef_agent_conv_clear(ef_agent_conv *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        ef_agent_msg_free(&c->msgs[i]);
    ef_free(c->msgs);
    c->msgs = NULL;
    c->n = c->cap = 0;
}

int ef_agent_conv_copy(const ef_agent_conv *src, ef_agent_conv *dst)
{
    ef_agent_conv c = EF_AGENT_CONV_INIT;
    for (size_t i = 0; i < src->n; i++)
        if (ef_agent_conv_push(&c, &src->msgs[i]) < 0) {
            ef_agent_conv_clear(&c);
            return EF_ENOMEM;
        }
    *dst = c;
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

static int add_str(cJSON *obj, const char *key, const char *val)
{
    cJSON *s = val ? cJSON_CreateString(val) : cJSON_CreateNull();
    if (!s)
        return EF_ENOMEM;
    if (!cJSON_AddItemToObject(obj, key, s)) {
        cJSON_Delete(s);
        return EF_ENOMEM;
    }
    return 0;
}

int ef_agent_msg_to_json(const ef_agent_msg *m, int with_reasoning, cJSON **out)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return EF_ENOMEM;
    int rc = add_str(o, "role", ef_agent_role_name(m->role));
    if (rc == 0 && (m->content || m->role != EF_ROLE_ASSISTANT || !m->n_tool_calls))
        rc = add_str(o, "content", m->content ? m->content : "");
    else if (rc == 0)
        rc = add_str(o, "content", NULL);
    if (rc == 0 && with_reasoning && m->reasoning_content)
        rc = add_str(o, "reasoning_content", m->reasoning_content);
    if (rc == 0 && m->n_tool_calls) {
        cJSON *arr = cJSON_AddArrayToObject(o, "tool_calls");
        if (!arr)
            rc = EF_ENOMEM;
        for (size_t i = 0; rc == 0 && i < m->n_tool_calls; i++) {
            cJSON *tc = cJSON_CreateObject(), *fn = cJSON_CreateObject();
            if (!tc || !fn) {
                cJSON_Delete(tc);
                cJSON_Delete(fn);
                rc = EF_ENOMEM;
                break;
            }
            cJSON_AddItemToArray(arr, tc);
            if (!cJSON_AddItemToObject(tc, "function", fn)) {
                cJSON_Delete(fn);
                rc = EF_ENOMEM;
                break;
            }
            const ef_agent_tool_call *c = &m->tool_calls[i];
            if (add_str(tc, "id", c->id ? c->id : "") < 0 || add_str(tc, "type", "function") < 0 ||
                add_str(fn, "name", c->name ? c->name : "") < 0 ||
                add_str(fn, "arguments", c->arguments ? c->arguments : "") < 0)
                rc = EF_ENOMEM;
        }
    }
    if (rc == 0 && m->tool_call_id)
        rc = add_str(o, "tool_call_id", m->tool_call_id);
    if (rc == 0 && m->name)
        rc = add_str(o, "name", m->name);
    if (rc < 0) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* A string field, or the printed JSON of a non-string one (arguments as an object). */
static int opt_text(ef_ctx *ctx, const cJSON *j, const char *key, const char *what, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsString(v))
        *out = ef_strdup(v->valuestring);
    else if (strcmp(key, "arguments") == 0 && (cJSON_IsObject(v) || cJSON_IsArray(v)))
        *out = ef_json_print(v);
    else if (strcmp(key, "content") == 0 && cJSON_IsArray(v)) {
        /* content parts: [{"type":"text","text":"..."}] — joined */
        ef_buf b = EF_BUF_INIT((size_t)64 << 20);
        const cJSON *part;
        cJSON_ArrayForEach(part, v)
        {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(t) && ef_buf_appends(&b, t->valuestring) < 0) {
                ef_buf_free(&b);
                return EF_ENOMEM;
            }
        }
        *out = b.data ? ef_buf_detach(&b) : ef_strdup("");
    } else
        return ef_errorf(ctx, EF_EINVAL, "%s.%s: expected string, got %s", what, key,
                         ef_json_type_name(v));
    return *out ? 0 : EF_ENOMEM;
}

int ef_agent_msg_from_json(ef_ctx *ctx, const cJSON *j, const char *what, ef_agent_msg *out)
{
    ef_agent_msg m;
    memset(&m, 0, sizeof(m));
    if (!cJSON_IsObject(j))
        return ef_errorf(ctx, EF_EINVAL, "%s: expected a message object, got %s", what,
                         ef_json_type_name(j));
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(j, "role");
    if (!role)
        m.role = EF_ROLE_ASSISTANT; /* a bare response message */
    else if (!cJSON_IsString(role) || ef_agent_role_parse(role->valuestring, &m.role) < 0)
        return ef_errorf(ctx, EF_EINVAL, "%s.role: expected system|user|assistant|tool", what);
    int rc = opt_text(ctx, j, "content", what, &m.content);
    if (rc == 0)
        rc = opt_text(ctx, j, "reasoning_content", what, &m.reasoning_content);
    if (rc == 0 && !m.reasoning_content)
        rc = opt_text(ctx, j, "reasoning", what, &m.reasoning_content); /* vLLM's newer name */
    if (rc == 0)
        rc = opt_text(ctx, j, "tool_call_id", what, &m.tool_call_id);
    if (rc == 0)
        rc = opt_text(ctx, j, "name", what, &m.name);
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(j, "tool_calls");
    if (rc == 0 && calls && !cJSON_IsNull(calls)) {
        if (!cJSON_IsArray(calls)) {
            rc = ef_errorf(ctx, EF_EINVAL, "%s.tool_calls: expected array, got %s", what,
                           ef_json_type_name(calls));
            goto cleanup;
        }
        int n = cJSON_GetArraySize(calls);
        if (n > 0) {
            m.tool_calls = ef_calloc((size_t)n, sizeof(*m.tool_calls));
            if (!m.tool_calls) {
                rc = EF_ENOMEM;
                goto cleanup;
            }
        }
        const cJSON *tc;
        cJSON_ArrayForEach(tc, calls)
        {
            char sub[160];
            snprintf(sub, sizeof(sub), "%s.tool_calls[%zu]", what, m.n_tool_calls);
            ef_agent_tool_call *c = &m.tool_calls[m.n_tool_calls++];
            if (!cJSON_IsObject(tc)) {
                rc = ef_errorf(ctx, EF_EINVAL, "%s: expected object, got %s", sub,
                               ef_json_type_name(tc));
                goto cleanup;
            }
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
            if (!fn)
                fn = tc; /* {"id","name","arguments"} flattened */
            rc = opt_text(ctx, tc, "id", sub, &c->id);
            if (rc == 0)
                rc = opt_text(ctx, fn, "name", sub, &c->name);
            if (rc == 0)
                rc = opt_text(ctx, fn, "arguments", sub, &c->arguments);
            if (rc < 0)
                goto cleanup;
        }
    }
cleanup:
    if (rc < 0) {
        ef_agent_msg_free(&m);
        return rc == EF_ENOMEM ? ef_errorf(ctx, EF_ENOMEM, "%s: out of memory", what) : rc;
    }
    *out = m;
    return 0;
}

int ef_agent_conv_to_json(const ef_agent_conv *c, int with_reasoning, cJSON **out)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return EF_ENOMEM;
    for (size_t i = 0; i < c->n; i++) {
        cJSON *m;
        if (ef_agent_msg_to_json(&c->msgs[i], with_reasoning, &m) < 0) {
            cJSON_Delete(arr);
            return EF_ENOMEM;
        }
        cJSON_AddItemToArray(arr, m);
    }
    *out = arr;
    return 0;
}

int ef_agent_conv_from_json(ef_ctx *ctx, const cJSON *arr, ef_agent_conv *out)
{
    if (!cJSON_IsArray(arr))
        return ef_errorf(ctx, EF_EINVAL, "messages: expected array, got %s",
                         ef_json_type_name(arr));
    ef_agent_conv c = EF_AGENT_CONV_INIT;
    const cJSON *j;
    size_t i = 0;
    cJSON_ArrayForEach(j, arr)
    {
        char what[64];
        snprintf(what, sizeof(what), "messages[%zu]", i++);
        if (conv_reserve(&c, c.n + 1) < 0) {
            ef_agent_conv_clear(&c);
            return ef_errorf(ctx, EF_ENOMEM, "%s: out of memory", what);
        }
        int rc = ef_agent_msg_from_json(ctx, j, what, &c.msgs[c.n]);
        if (rc < 0) {
            ef_agent_conv_clear(&c);
            return rc;
        }
        c.n++;
    }
    *out = c;
    return 0;
}

int64_t ef_agent__conv_estimate_tokens(const ef_agent_conv *c)
{
    size_t bytes = 0;
    for (size_t i = 0; i < c->n; i++) {
        const ef_agent_msg *m = &c->msgs[i];
        bytes += 8;
        if (m->content)
            bytes += strlen(m->content);
        if (m->reasoning_content)
            bytes += strlen(m->reasoning_content);
        for (size_t k = 0; k < m->n_tool_calls; k++)
            bytes += 16 + (m->tool_calls[k].name ? strlen(m->tool_calls[k].name) : 0) +
                     (m->tool_calls[k].arguments ? strlen(m->tool_calls[k].arguments) : 0);
    }
    return (int64_t)(bytes / 4);
}

void ef_agent__retain_reasoning(ef_agent_conv *c)
{
    size_t last_user = 0;
    int have_user = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->msgs[i].role == EF_ROLE_USER && !c->msgs[i].feedback) {
            last_user = i;
            have_user = 1;
        }
    if (!have_user)
        return;
    for (size_t i = 0; i < last_user; i++)
        if (c->msgs[i].role == EF_ROLE_ASSISTANT && c->msgs[i].reasoning_content) {
            ef_free(c->msgs[i].reasoning_content);
            c->msgs[i].reasoning_content = NULL;
        }
}

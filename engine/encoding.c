/*
 * engine/encoding.c — the DeepSeek-V3.2 prompt format: rendering messages into prompt
 * text, and parsing an assistant completion back into a message.
 *
 * The encoder follows DeepSeek's encode_messages / render_message step for step: the
 * message list is context + messages; in thinking mode with drop_thinking, assistant turns
 * before the last user (or developer) turn lose their reasoning and non-user/system/tool/
 * assistant turns before it are left out; then each of `messages` is rendered by role:
 * system (content, the tools section, a response format), developer (a user turn wrapping
 * tools, format and content), user (<｜User｜>...<｜Assistant｜> then <think> when it is the
 * last user turn in thinking mode, else </think>), tool (results grouped per assistant
 * turn in <function_results>, closed by the thinking token) and assistant (reasoning +
 * </think> after the last user turn in thinking mode, content, DSML tool calls, EOS).
 *
 * The parser walks the completion as DeepSeek's parse_message_from_completion_text does
 * (reasoning up to </think>, content up to EOS or a function_calls block, invokes and
 * parameters), but every failed expectation is an EF_EPARSE error naming the byte offset,
 * and string="false" values must be JSON.
 */
#include <stdio.h>
#include <string.h>
#include "common/json.h"
#include "common/utf8.h"
#include "engine/encoding.h"

#define DSML EF_DSV32_DSML

static const char TOOLS_TEMPLATE_HEAD[] =
    "## Tools\n\n"
    "You have access to a set of tools you can use to answer the user's question.\n"
    "You can invoke functions by writing a \"<" DSML "function_calls>\" block like the "
    "following as part of your reply to the user:\n"
    "<" DSML "function_calls>\n"
    "<" DSML "invoke name=\"$FUNCTION_NAME\">\n"
    "<" DSML "parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</" DSML
    "parameter>\n"
    "...\n"
    "</" DSML "invoke>\n"
    "<" DSML "invoke name=\"$FUNCTION_NAME2\">\n"
    "...\n"
    "</" DSML "invoke>\n"
    "</" DSML "function_calls>\n\n"
    "String and scalar parameters should be specified as is without any escaping or quotes, "
    "while lists and objects should use JSON format. The \"string\" attribute should be set "
    "to \"true\" for string type parameters and \"false\" for other types (numbers, booleans, "
    "arrays, objects).\n\n"
    "If the thinking_mode is enabled, then after function results you should strongly "
    "consider outputting a thinking block. Here is an example:\n\n"
    "<" DSML "function_calls>\n"
    "...\n"
    "</" DSML "function_calls>\n\n"
    "<function_results>\n"
    "...\n"
    "</function_results>\n\n" EF_DSV32_THINK "...thinking about results" EF_DSV32_THINK_END "\n\n"
    "Here are the functions available in JSONSchema format:\n"
    "<functions>\n";
static const char TOOLS_TEMPLATE_TAIL[] = "\n</functions>\n";
static const char RESPONSE_FORMAT_HEAD[] =
    "## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n";

/* ---- encoder ------------------------------------------------------------------------------ */

typedef struct {
    const cJSON *msg;
    int drop_reasoning;
} entry;

typedef struct {
    ef_ctx *ctx;
    const ef_chat_encode_options *opt;
    entry *list; /* the full (filtered) message list */
    int n;
    int last_user;
    int n_context; /* messages of the original context */
    ef_buf *out;
} encoder;

static const char *role_of(const cJSON *m)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
    return cJSON_IsString(r) ? r->valuestring : "";
}

static int is_user_like(const cJSON *m)
{
    const char *r = role_of(m);
    return strcmp(r, "user") == 0 || strcmp(r, "developer") == 0;
}

static int find_last_user(const entry *list, int n)
{
    for (int i = n - 1; i >= 0; i--)
        if (is_user_like(list[i].msg))
            return i;
    return -1;
}

/* Python truthiness of an optional field. */
static int truthy(const cJSON *x)
{
    if (!x || cJSON_IsNull(x) || cJSON_IsFalse(x))
        return 0;
    if (cJSON_IsString(x))
        return x->valuestring[0] != 0;
    if (cJSON_IsNumber(x))
        return x->valuedouble != 0;
    if (cJSON_IsArray(x) || cJSON_IsObject(x))
        return x->child != NULL;
    return 1;
}

static int emit(encoder *e, const char *s)
{
    int rc = ef_buf_appends(e->out, s);
    if (rc == EF_ELIMIT)
        return ef_errorf(e->ctx, rc, "encode: the prompt passes the cap of %zu bytes",
                         e->out->max_bytes);
    return rc;
}

static int emitn(encoder *e, const char *s, size_t n)
{
    int rc = ef_buf_append(e->out, s, n);
    if (rc == EF_ELIMIT)
        return ef_errorf(e->ctx, rc, "encode: the prompt passes the cap of %zu bytes",
                         e->out->max_bytes);
    return rc;
}

static int bad(encoder *e, int idx, const char *field, const char *what)
{
    return ef_errorf(e->ctx, EF_EINVAL, "encode: messages[%d]%s%s: %s", idx - e->n_context,
                     field[0] ? "." : "", field, what);
}

/* The content as Python's str.format would print it: None when absent (print_none) or
 * "" (otherwise); text parts of a content array are joined. */
static int emit_content(encoder *e, int idx, const cJSON *msg, int print_none)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!c || cJSON_IsNull(c))
        return print_none ? emit(e, "None") : 0;
    if (cJSON_IsString(c))
        return emit(e, c->valuestring);
    if (cJSON_IsArray(c)) {
        const cJSON *part;
        int k = 0;
        cJSON_ArrayForEach(part, c)
        {
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (!cJSON_IsString(text)) {
                char f[64];
                snprintf(f, sizeof f, "content[%d]", k);
                return bad(e, idx, f, "content parts must be {\"type\": \"text\", \"text\": ...}");
            }
            int rc = emit(e, text->valuestring);
            if (rc)
                return rc;
            k++;
        }
        return 0;
    }
    return bad(e, idx, "content", "must be a string, an array of text parts or null");
}

static int emit_pyjson(encoder *e, const cJSON *v, int idx, const char *field)
{
    int rc = ef_engine_pyjson_dump(v, e->out);
    if (rc == EF_EINVAL)
        return bad(e, idx, field, "invalid UTF-8 in a string");
    if (rc == EF_ELIMIT)
        return ef_errorf(e->ctx, rc,
                         "encode: the prompt passes the cap of %zu bytes (or JSON "
                         "nested too deeply) at messages[%d].%s",
                         e->out->max_bytes, idx - e->n_context, field);
    return rc;
}

static int emit_tools(encoder *e, int idx, const cJSON *tools)
{
    if (!cJSON_IsArray(tools))
        return bad(e, idx, "tools", "must be an array");
    int rc = emit(e, TOOLS_TEMPLATE_HEAD);
    int k = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        char f[64];
        snprintf(f, sizeof f, "tools[%d].function", k);
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        if (!fn)
            return bad(e, idx, f,
                       "missing (tools are {\"type\": \"function\", \"function\": "
                       "{...}})");
        if (rc == 0 && k > 0)
            rc = emit(e, "\n");
        if (rc == 0)
            rc = emit_pyjson(e, fn, idx, f);
        if (rc)
            return rc;
        k++;
    }
    return rc ? rc : emit(e, TOOLS_TEMPLATE_TAIL);
}

static int emit_response_format(encoder *e, int idx, const cJSON *rf)
{
    int rc = emit(e, "\n\n");
    if (rc == 0)
        rc = emit(e, RESPONSE_FORMAT_HEAD);
    if (rc == 0)
        rc = emit_pyjson(e, rf, idx, "response_format");
    return rc;
}

/* One tool call as an <invoke> block. */
static int emit_tool_call(encoder *e, int idx, int k, const cJSON *call)
{
    char f[96];
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
    const cJSON *name = fn ? cJSON_GetObjectItemCaseSensitive(fn, "name") : NULL;
    const cJSON *args = fn ? cJSON_GetObjectItemCaseSensitive(fn, "arguments") : NULL;
    snprintf(f, sizeof f, "tool_calls[%d].function", k);
    if (!cJSON_IsObject(fn))
        return bad(e, idx, f, "missing or not an object");
    snprintf(f, sizeof f, "tool_calls[%d].function.name", k);
    if (!cJSON_IsString(name))
        return bad(e, idx, f, "must be a string");
    snprintf(f, sizeof f, "tool_calls[%d].function.arguments", k);
    char *printed = NULL;
    const char *text;
    if (cJSON_IsString(args))
        text = args->valuestring;
    else if (cJSON_IsObject(args)) {
        /* Accepted as an extension: arguments given as an object. */
        ef_buf b = EF_BUF_INIT(e->out->max_bytes);
        int rc = ef_engine_pyjson_dump(args, &b);
        if (rc) {
            ef_buf_free(&b);
            return bad(e, idx, f, "cannot be printed as JSON");
        }
        text = printed = ef_buf_detach(&b);
    } else
        return bad(e, idx, f, "must be a JSON object text");
    ef_pyjson_member *m = NULL;
    size_t n = 0;
    int rc = ef_engine_pyjson_object_members(e->ctx, text, strlen(text), &m, &n);
    ef_free(printed);
    if (rc)
        return ef_error_wrap(e->ctx, rc, "encode: messages[%d].%s", idx - e->n_context, f);
    rc = emit(e, "<" DSML "invoke name=\"");
    if (!rc)
        rc = emit(e, name->valuestring);
    if (!rc)
        rc = emit(e, "\">\n");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i > 0)
            rc = emit(e, "\n");
        if (!rc)
            rc = emit(e, "<" DSML "parameter name=\"");
        if (!rc)
            rc = emitn(e, m[i].key, m[i].key_len);
        if (!rc)
            rc = emit(e, m[i].is_string ? "\" string=\"true\">" : "\" string=\"false\">");
        if (!rc)
            rc = emitn(e, m[i].value, m[i].value_len);
        if (!rc)
            rc = emit(e, "</" DSML "parameter>");
    }
    if (!rc)
        rc = emit(e, "\n</" DSML "invoke>");
    ef_engine_pyjson_members_free(m, n);
    return rc;
}

static int render_system(encoder *e, int idx, const cJSON *msg)
{
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(msg, "tools");
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(msg, "response_format");
    int rc = emit_content(e, idx, msg, 0);
    if (!rc && truthy(tools)) {
        rc = emit(e, "\n\n");
        if (!rc)
            rc = emit_tools(e, idx, tools);
    }
    if (!rc && truthy(rf))
        rc = emit_response_format(e, idx, rf);
    return rc;
}

static int emit_user_close(encoder *e, int idx)
{
    if (idx == e->last_user && e->opt->thinking)
        return emit(e, EF_DSV32_THINK);
    return emit(e, EF_DSV32_THINK_END);
}

static int render_developer(encoder *e, int idx, const cJSON *msg)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!truthy(c))
        return bad(e, idx, "content", "a developer message needs content");
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(msg, "tools");
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(msg, "response_format");
    int rc = emit(e, EF_DSV32_USER);
    if (!rc && truthy(tools)) {
        rc = emit(e, "\n\n");
        if (!rc)
            rc = emit_tools(e, idx, tools);
    }
    if (!rc && truthy(rf))
        rc = emit_response_format(e, idx, rf);
    if (!rc)
        rc = emit(e, "\n\n# The user's message is: ");
    if (!rc)
        rc = emit_content(e, idx, msg, 1);
    if (!rc)
        rc = emit(e, EF_DSV32_ASSISTANT);
    return rc ? rc : emit_user_close(e, idx);
}

static int render_user(encoder *e, int idx, const cJSON *msg)
{
    int rc = emit(e, EF_DSV32_USER);
    if (!rc)
        rc = emit_content(e, idx, msg, 1);
    if (!rc)
        rc = emit(e, EF_DSV32_ASSISTANT);
    return rc ? rc : emit_user_close(e, idx);
}

static int render_tool(encoder *e, int idx, const cJSON *msg)
{
    int prev = idx - 1;
    while (prev >= 0 && strcmp(role_of(e->list[prev].msg), "tool") == 0)
        prev--;
    if (prev < 0 || strcmp(role_of(e->list[prev].msg), "assistant") != 0)
        return bad(e, idx, "role",
                   "a tool message must follow an assistant message with "
                   "tool_calls");
    int order = idx - prev;
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(e->list[prev].msg, "tool_calls");
    int n_calls = cJSON_IsArray(calls) ? cJSON_GetArraySize(calls) : 0;
    if (n_calls < order)
        return bad(e, idx, "role", "more tool results than the assistant's tool_calls");
    int rc = 0;
    if (order == 1)
        rc = emit(e, "\n\n<function_results>");
    if (!rc)
        rc = emit(e, "\n<result>");
    if (!rc)
        rc = emit_content(e, idx, msg, 1);
    if (!rc)
        rc = emit(e, "</result>");
    if (!rc && order == n_calls) {
        rc = emit(e, "\n</function_results>");
        if (!rc)
            rc = emit(e, idx >= e->last_user && e->opt->thinking ? "\n\n" EF_DSV32_THINK
                                                                 : "\n\n" EF_DSV32_THINK_END);
    }
    return rc;
}

static int render_assistant(encoder *e, int idx, const entry *en)
{
    const cJSON *msg = en->msg;
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    const cJSON *rs =
        en->drop_reasoning ? NULL : cJSON_GetObjectItemCaseSensitive(msg, "reasoning_content");
    if (calls && !cJSON_IsNull(calls) && !cJSON_IsArray(calls))
        return bad(e, idx, "tool_calls", "must be an array");
    if (rs && !cJSON_IsNull(rs) && !cJSON_IsString(rs))
        return bad(e, idx, "reasoning_content", "must be a string");
    int has_calls = truthy(calls);
    int rc = 0;
    if (e->opt->thinking && idx > e->last_user) {
        if (!truthy(rs) && !has_calls)
            return bad(e, idx, "reasoning_content",
                       "thinking mode: an assistant turn after the last user turn needs "
                       "reasoning_content or tool_calls");
        if (truthy(rs))
            rc = emit(e, rs->valuestring);
        if (!rc)
            rc = emit(e, EF_DSV32_THINK_END);
    }
    if (!rc)
        rc = emit_content(e, idx, msg, 0);
    if (!rc && has_calls) {
        rc = emit(e, "\n\n<" DSML "function_calls>\n");
        int k = 0;
        const cJSON *call;
        cJSON_ArrayForEach(call, calls)
        {
            if (rc)
                break;
            if (k > 0)
                rc = emit(e, "\n");
            if (!rc)
                rc = emit_tool_call(e, idx, k, call);
            k++;
        }
        if (!rc)
            rc = emit(e, "\n</" DSML "function_calls>");
    }
    return rc ? rc : emit(e, EF_DSV32_EOS);
}

static int render(encoder *e, int idx)
{
    const entry *en = &e->list[idx];
    const char *role = role_of(en->msg);
    if (!cJSON_IsObject(en->msg))
        return bad(e, idx, "", "a message must be an object");
    if (strcmp(role, "system") == 0)
        return render_system(e, idx, en->msg);
    if (strcmp(role, "developer") == 0)
        return render_developer(e, idx, en->msg);
    if (strcmp(role, "user") == 0)
        return render_user(e, idx, en->msg);
    if (strcmp(role, "tool") == 0)
        return render_tool(e, idx, en->msg);
    if (strcmp(role, "assistant") == 0)
        return render_assistant(e, idx, en);
    return bad(e, idx, "role",
               role[0] ? "unknown role (system, developer, user, assistant, "
                         "tool)"
                       : "missing role");
}

int ef_engine_chat_encode(ef_ctx *ctx, const cJSON *messages, const cJSON *context,
                          const ef_chat_encode_options *opt, char **out, size_t *out_len)
{
    ef_chat_encode_options defaults = EF_CHAT_ENCODE_OPTIONS_INIT;
    if (!opt)
        opt = &defaults;
    if (!cJSON_IsArray(messages))
        return ef_errorf(ctx, EF_EINVAL, "encode: messages must be an array");
    if (context && !cJSON_IsNull(context) && !cJSON_IsArray(context))
        return ef_errorf(ctx, EF_EINVAL, "encode: context must be an array");
    int n_ctx = context && cJSON_IsArray(context) ? cJSON_GetArraySize(context) : 0;
    int n_msg = cJSON_GetArraySize(messages);
    int n_all = n_ctx + n_msg;
    entry *all = ef_calloc((size_t)(n_all ? n_all : 1), sizeof *all);
    if (!all)
        return ef_errorf(ctx, EF_ENOMEM, "encode: out of memory");
    int k = 0;
    const cJSON *m;
    if (n_ctx)
        cJSON_ArrayForEach(m, context) all[k++].msg = m;
    cJSON_ArrayForEach(m, messages) all[k++].msg = m;

    /* drop_thinking_messages: keep user/system/tool and everything from the last user
     * turn on; earlier assistant turns lose their reasoning; other roles are dropped. */
    int n = n_all;
    if (opt->thinking && opt->drop_thinking) {
        int last = find_last_user(all, n_all);
        n = 0;
        for (int i = 0; i < n_all; i++) {
            const char *role = role_of(all[i].msg);
            if (strcmp(role, "user") == 0 || strcmp(role, "system") == 0 ||
                strcmp(role, "tool") == 0 || i >= last) {
                all[n++] = all[i];
            } else if (strcmp(role, "assistant") == 0) {
                all[n] = all[i];
                all[n++].drop_reasoning = 1;
            }
        }
    }
    ef_buf b = EF_BUF_INIT(opt->max_bytes);
    encoder e = {ctx, opt, all, n, find_last_user(all, n), n_ctx, &b};
    int rc = 0;
    if (opt->add_bos && n_ctx == 0)
        rc = emit(&e, EF_DSV32_BOS);
    for (int i = 0; rc == 0 && i < n_msg; i++) {
        if (n_ctx + i >= n) {
            rc = ef_errorf(ctx, EF_EINVAL,
                           "encode: messages[%d]: out of range after "
                           "dropping earlier developer turns (DeepSeek's encoder fails here "
                           "too)",
                           i);
            break;
        }
        rc = render(&e, n_ctx + i);
    }
    if (rc == 0 && !b.data)
        rc = emit(&e, "");
    ef_free(all);
    if (rc) {
        if (rc == EF_ENOMEM)
            ef_errorf(ctx, rc, "encode: out of memory");
        ef_buf_free(&b);
        return rc;
    }
    if (out_len)
        *out_len = b.len;
    *out = ef_buf_detach(&b);
    return 0;
}

int ef_engine_chat_encode_doc(ef_ctx *ctx, const cJSON *doc, const ef_chat_encode_options *opt,
                              char **out, size_t *out_len)
{
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(doc, "messages");
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(doc, "tools");
    if (!cJSON_IsArray(messages))
        return ef_errorf(ctx, EF_EINVAL, "encode: the document needs a \"messages\" array");
    if (tools && !cJSON_IsNull(tools) && !cJSON_IsArray(tools))
        return ef_errorf(ctx, EF_EINVAL, "encode: \"tools\" must be an array of tool "
                                         "definitions, got %s",
                         cJSON_IsRaw(tools) ? "number" : ef_json_type_name(tools));
    if (!tools || cJSON_IsNull(tools) || !messages->child)
        return ef_engine_chat_encode(ctx, messages, NULL, opt, out, out_len);
    /* Attach the tools to a copy of the first message. */
    cJSON *copy = cJSON_Duplicate(messages, 1);
    cJSON *tcopy = cJSON_Duplicate(tools, 1);
    if (!copy || !tcopy || !cJSON_IsObject(copy->child)) {
        cJSON_Delete(copy);
        cJSON_Delete(tcopy);
        if (copy && !cJSON_IsObject(copy->child))
            return ef_errorf(ctx, EF_EINVAL, "encode: messages[0] must be an object");
        return ef_errorf(ctx, EF_ENOMEM, "encode: out of memory");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(copy->child, "tools");
    int rc;
    if (!cJSON_AddItemToObject(copy->child, "tools", tcopy)) {
        cJSON_Delete(tcopy);
        rc = ef_errorf(ctx, EF_ENOMEM, "encode: out of memory");
    } else {
        rc = ef_engine_chat_encode(ctx, copy, NULL, opt, out, out_len);
    }
    cJSON_Delete(copy);
    return rc;
}

/* ---- parser --------------------------------------------------------------------------------- */

typedef struct {
    ef_ctx *ctx;
    const char *s;
    size_t n;
} ptext;

/* How many bytes of s (n long) to quote in a message: at most max, never cutting a
 * UTF-8 character. */
static int clip(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return (int)n;
    return (int)ef_utf8_floor(s, max);
}

static int perr(const ptext *t, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(const ptext *t, size_t at, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ef_errorf(t->ctx, EF_EPARSE, "DSML parse: at byte %zu of %zu: %s", at, t->n, msg);
}

static size_t find(const ptext *t, size_t from, const char *needle)
{
    size_t m = strlen(needle);
    if (m == 0 || from > t->n || t->n - from < m)
        return SIZE_MAX;
    const char *p = t->s + from, *end = t->s + t->n - m + 1;
    while (p < end) {
        p = memchr(p, needle[0], (size_t)(end - p));
        if (!p)
            return SIZE_MAX;
        if (memcmp(p, needle, m) == 0)
            return (size_t)(p - t->s);
        p++;
    }
    return SIZE_MAX;
}

/* _read_until_stop: the earliest of the stops from `from` (the first listed wins a tie).
 * *content_end is where the text before it ends; returns the index after the stop, or
 * t->n with *which = -1 when none occurs. */
static size_t read_until(const ptext *t, size_t from, const char *const *stops, int n_stops,
                         size_t *content_end, int *which)
{
    size_t best = SIZE_MAX;
    *which = -1;
    for (int k = 0; k < n_stops; k++) {
        size_t p = find(t, from, stops[k]);
        if (p < best) {
            best = p;
            *which = k;
        }
    }
    if (*which < 0) {
        *content_end = t->n;
        return t->n;
    }
    *content_end = best;
    return best + strlen(stops[*which]);
}

static int span_is(const ptext *t, size_t a, size_t b, const char *lit)
{
    size_t m = strlen(lit);
    return b - a == m && memcmp(t->s + a, lit, m) == 0;
}

static int add_str(cJSON *obj, const char *key, const char *s, size_t len)
{
    char *tmp = ef_strndup(s, len);
    if (!tmp)
        return EF_ENOMEM;
    cJSON *v = cJSON_CreateString(tmp);
    ef_free(tmp);
    if (!v || !cJSON_AddItemToObject(obj, key, v)) {
        cJSON_Delete(v);
        return EF_ENOMEM;
    }
    return 0;
}

/* Length of the character at s when Python's str.isspace() holds for it (what the
 * regex \s of DeepSeek's parser accepts), else 0. */
static size_t py_space_len(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80)
        return (u[0] >= 0x09 && u[0] <= 0x0d) || (u[0] >= 0x1c && u[0] <= 0x20);
    static const char *const wide[] = {"\xc2\x85",     "\xc2\xa0",     "\xe1\x9a\x80",
                                       "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",
                                       "\xe2\x81\x9f", "\xe3\x80\x80"};
    for (size_t k = 0; k < EF_ARRAY_LEN(wide); k++) {
        size_t m = strlen(wide[k]);
        if (n >= m && memcmp(s, wide[k], m) == 0)
            return m;
    }
    /* U+2000..U+200A */
    if (n >= 3 && u[0] == 0xe2 && u[1] == 0x80 && u[2] >= 0x80 && u[2] <= 0x8a)
        return 3;
    return 0;
}

/* One <invoke> after its opening "<｜DSML｜invoke": name, parameters, the closing tag.
 * Appends {"type": "function", "function": {...}} to calls; *pos moves past
 * "</｜DSML｜invoke". */
static int parse_invoke(const ptext *t, size_t *pos, int call_no, cJSON *calls)
{
    static const char *const stops_param[] = {"<" DSML "parameter", "</" DSML "invoke"};
    static const char *const stops_pend[] = {"/" DSML "parameter"};
    size_t start = *pos, cend;
    int which;
    size_t i = read_until(t, start, stops_param, 2, &cend, &which);
    if (which < 0)
        return perr(t, start, "tool call %d: unterminated <" DSML "invoke> block", call_no);
    /* The head must be [ws] name="NAME">\n, and one more \n may follow: DeepSeek's pattern
     * ends in '">\n$' and '$' also matches before a final newline, which is what lets
     * a call without parameters ('">\n' + "" + '\n</...invoke>') parse. */
    size_t a = start;
    for (size_t k; a < cend && (k = py_space_len(t->s + a, cend - a)) > 0;)
        a += k;
    size_t head_end = cend;
    if (head_end - a >= 10 && memcmp(t->s + head_end - 4, "\">\n\n", 4) == 0)
        head_end--;
    if (head_end - a < 9 || memcmp(t->s + a, "name=\"", 6) != 0 ||
        memcmp(t->s + head_end - 3, "\">\n", 3) != 0)
        return perr(t, start, "tool call %d: expected name=\"...\">\\n after <" DSML "invoke",
                    call_no);
    const char *name = t->s + a + 6;
    size_t name_len = head_end - 3 - (a + 6);

    ef_buf args = EF_BUF_INIT(t->n * 2 + 64);
    int rc = ef_buf_putc(&args, '{'), n_params = 0;
    /* Parameter names seen, for the duplicate check: offsets into text. */
    size_t *seen = NULL;
    while (rc == 0 && which == 0) {
        size_t pstart = i;
        i = read_until(t, pstart, stops_pend, 1, &cend, &which);
        if (which < 0) {
            rc = perr(t, pstart, "tool call %d: unterminated <" DSML "parameter>", call_no);
            break;
        }
        /* ' name="NAME" string="true|false">VALUE<' */
        static const char pname[] = " name=\"";
        /* The value ends at the final '<'; as in DeepSeek's '<$', one newline may follow. */
        size_t vend = cend;
        if (vend - pstart >= 9 && t->s[vend - 1] == '\n' && t->s[vend - 2] == '<')
            vend--;
        if (cend - pstart < 8 || memcmp(t->s + pstart, pname, 7) != 0 || t->s[vend - 1] != '<') {
            rc = perr(t, pstart,
                      "tool call %d: expected ' name=\"...\" string=\"true|false\">"
                      "VALUE</" DSML "parameter>'",
                      call_no);
            break;
        }
        size_t nstart = pstart + 7, q, vstart = 0;
        int is_str = -1;
        for (q = nstart; q < cend; q++) {
            if (t->s[q] != '"')
                continue;
            static const char st[] = "\" string=\"true\">", sf[] = "\" string=\"false\">";
            if (cend - q >= sizeof st - 1 && memcmp(t->s + q, st, sizeof st - 1) == 0) {
                is_str = 1;
                vstart = q + sizeof st - 1;
                break;
            }
            if (cend - q >= sizeof sf - 1 && memcmp(t->s + q, sf, sizeof sf - 1) == 0) {
                is_str = 0;
                vstart = q + sizeof sf - 1;
                break;
            }
        }
        if (is_str < 0 || vstart > vend - 1) {
            rc = perr(t, pstart,
                      "tool call %d: parameter without string=\"true\" or "
                      "string=\"false\">",
                      call_no);
            break;
        }
        size_t nlen = q - nstart, vlen = vend - 1 - vstart;
        for (int k = 0; k < n_params; k++)
            if (seen[2 * k + 1] == nlen && memcmp(t->s + seen[2 * k], t->s + nstart, nlen) == 0) {
                rc = perr(t, nstart, "tool call %d: duplicate parameter '%.*s'", call_no,
                          clip(t->s + nstart, nlen, 100), t->s + nstart);
                break;
            }
        if (rc)
            break;
        size_t *ns = ef_realloc(seen, (size_t)(n_params + 1) * 2 * sizeof *ns);
        if (!ns) {
            rc = EF_ENOMEM;
            break;
        }
        seen = ns;
        seen[2 * n_params] = nstart;
        seen[2 * n_params + 1] = nlen;
        if (n_params > 0)
            rc = ef_buf_appends(&args, ", ");
        if (!rc)
            rc = ef_engine_pyjson_dump_str(t->s + nstart, nlen, &args);
        if (!rc)
            rc = ef_buf_appends(&args, ": ");
        if (!rc && is_str)
            rc = ef_engine_pyjson_dump_str(t->s + vstart, vlen, &args);
        if (!rc && !is_str) {
            /* The value goes in as written; it must be JSON. */
            int jr = ef_engine_pyjson_redump(t->ctx, t->s + vstart, vlen, NULL);
            if (jr) {
                char why[200];
                snprintf(why, sizeof why, "%s", ef_errmsg(t->ctx));
                rc = perr(t, vstart,
                          "tool call %d, parameter '%.*s': string=\"false\" value "
                          "is not JSON (%s)",
                          call_no, clip(t->s + nstart, nlen, 100), t->s + nstart, why);
                break;
            }
            rc = ef_buf_append(&args, t->s + vstart, vlen);
        }
        if (rc == EF_EINVAL)
            rc = perr(t, nstart, "tool call %d: invalid UTF-8 in a parameter", call_no);
        if (rc)
            break;
        n_params++;
        size_t after = i;
        i = read_until(t, after, stops_param, 2, &cend, &which);
        if (which < 0 || !span_is(t, after, cend, ">\n")) {
            rc = perr(t, after,
                      "tool call %d: expected '>\\n' then the next <" DSML "parameter or </" DSML
                      "invoke>",
                      call_no);
            break;
        }
    }
    if (!rc)
        rc = ef_buf_putc(&args, '}');
    if (!rc) {
        cJSON *call = cJSON_CreateObject();
        cJSON *fn = call && cJSON_AddStringToObject(call, "type", "function")
                        ? cJSON_AddObjectToObject(call, "function")
                        : NULL;
        rc = fn ? add_str(fn, "name", name, name_len) : EF_ENOMEM;
        if (!rc)
            rc = add_str(fn, "arguments", args.data, args.len);
        if (!rc && !cJSON_AddItemToArray(calls, call))
            rc = EF_ENOMEM;
        if (rc)
            cJSON_Delete(call);
    }
    ef_free(seen);
    ef_buf_free(&args);
    if (rc == EF_ELIMIT)
        rc = perr(t, i, "tool call %d: arguments too large", call_no);
    *pos = i;
    return rc;
}

/* The function_calls block after its opening "\n\n<｜DSML｜function_calls"; *pos moves past
 * its closing tag. */
static int parse_calls(const ptext *t, size_t *pos, cJSON *calls)
{
    static const char *const stops[] = {"<" DSML "invoke", "</" DSML "function_calls>"};
    size_t i = *pos;
    for (int call_no = 0;; call_no++) {
        size_t cend, from = i;
        int which;
        i = read_until(t, from, stops, 2, &cend, &which);
        if (which < 0)
            return perr(t, from,
                        "unterminated <" DSML "function_calls> block (no </" DSML
                        "function_calls>)");
        if (!span_is(t, from, cend, ">\n"))
            return perr(t, from,
                        "expected '>\\n' then <" DSML "invoke or </" DSML
                        "function_calls>, found '%.*s'",
                        clip(t->s + from, cend - from, 40), t->s + from);
        if (which == 1)
            break;
        int rc = parse_invoke(t, &i, call_no, calls);
        if (rc)
            return rc;
    }
    *pos = i;
    return 0;
}

static int check_no_specials(const ptext *t, size_t a, size_t b, const char *what)
{
    static const char *const sp[] = {EF_DSV32_BOS, EF_DSV32_EOS, EF_DSV32_THINK, EF_DSV32_THINK_END,
                                     DSML};
    ptext sub = {t->ctx, t->s, b};
    for (size_t k = 0; k < EF_ARRAY_LEN(sp); k++) {
        size_t p = find(&sub, a, sp[k]);
        if (p != SIZE_MAX)
            return perr(t, p, "unexpected %s inside the %s", sp[k], what);
    }
    return 0;
}

int ef_engine_chat_parse(ef_ctx *ctx, const char *text, size_t len,
                         const ef_chat_parse_options *opt, cJSON **out)
{
    ef_chat_parse_options defaults = EF_CHAT_PARSE_OPTIONS_INIT;
    if (!opt)
        opt = &defaults;
    if (len > opt->max_bytes)
        return ef_errorf(ctx, EF_ELIMIT,
                         "DSML parse: completion of %zu bytes passes the cap "
                         "of %zu",
                         len, opt->max_bytes);
    ptext t = {ctx, text, len};
    for (size_t k = 0; k < len;) {
        size_t step = ef_utf8_next((const unsigned char *)text + k, len - k, NULL);
        if (!step)
            return perr(&t, k, "invalid UTF-8");
        k += step;
    }
    static const char CALLS_START[] = "\n\n<" DSML "function_calls";
    size_t i = 0, r_a = 0, r_b = 0, c_a, c_b, cend;
    int which, rc = 0;
    if (opt->thinking) {
        const char *const stops[] = {EF_DSV32_THINK_END, CALLS_START};
        i = read_until(&t, 0, stops, 2, &cend, &which);
        if (which != 0)
            return perr(&t, which < 0 ? len : cend,
                        which < 0 ? "the reasoning is not closed by </think>"
                                  : "a function_calls block inside the reasoning (no "
                                    "</think> before it)");
        r_b = cend;
    }
    const char *const stops2[] = {EF_DSV32_EOS, CALLS_START};
    c_a = i;
    i = read_until(&t, i, stops2, 2, &cend, &which);
    c_b = cend;
    cJSON *calls = cJSON_CreateArray();
    if (!calls)
        return ef_errorf(ctx, EF_ENOMEM, "DSML parse: out of memory");
    if (which == 1) {
        rc = parse_calls(&t, &i, calls);
        if (!rc) {
            const char *const stops3[] = {EF_DSV32_EOS};
            size_t from = i;
            i = read_until(&t, from, stops3, 1, &cend, &which);
            if (cend != from)
                rc = perr(&t, from, "unexpected text after the function_calls block: '%.*s'",
                          clip(t.s + from, cend - from, 40), t.s + from);
            /* No EOS after a closed function_calls block is fine, as in DeepSeek's parser. */
        }
    } else if (which < 0 && opt->require_eos) {
        rc = perr(&t, len, "missing %s at the end of the reply", EF_DSV32_EOS);
    }
    if (!rc && i != len)
        rc = perr(&t, i, "unexpected text after %s", EF_DSV32_EOS);
    if (!rc && opt->thinking)
        rc = check_no_specials(&t, r_a, r_b, "reasoning");
    if (!rc)
        rc = check_no_specials(&t, c_a, c_b, "content");
    cJSON *msg = NULL;
    if (!rc) {
        msg = cJSON_CreateObject();
        if (!msg || !cJSON_AddStringToObject(msg, "role", "assistant") ||
            add_str(msg, "content", text + c_a, c_b - c_a) ||
            add_str(msg, "reasoning_content", text + r_a, r_b - r_a) ||
            !cJSON_AddItemToObject(msg, "tool_calls", calls)) {
            rc = EF_ENOMEM;
        } else {
            calls = NULL;
        }
    }
    cJSON_Delete(calls);
    if (rc) {
        cJSON_Delete(msg);
        if (rc == EF_ENOMEM)
            return ef_errorf(ctx, rc, "DSML parse: out of memory");
        return rc;
    }
    *out = msg;
    return 0;
}

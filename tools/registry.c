/*
 * tools/registry.c — the tool registry: adding tools (checking names and schemas),
 * listing them as OpenAI function definitions, and running one call: parse the model's
 * argument text, check it against the schema, run the tool, turn every failure the model
 * caused into an error result, and cap the text for the model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "common/utf8.h"
#include "tools/tools_int.h"

typedef struct {
    char *name;
    char *description;
    cJSON *schema;
    ef_tool_run_fn run;
    void *ud;
    void (*ud_free)(void *ud);
} tool_entry;

struct ef_tool_registry {
    ef_ctx *ctx;
    tool_entry *tools;
    size_t n, cap;
};

/* ---- results ------------------------------------------------------------------ */

void ef_tools_result_free(ef_tool_result *r)
{
    if (!r)
        return;
    ef_free(r->text);
    cJSON_Delete(r->data);
    ef_tool_result z = EF_TOOL_RESULT_INIT;
    *r = z;
}

int ef_tools__result_take(ef_tool_result *r, int is_error, char *text)
{
    if (!text)
        return EF_ENOMEM;
    ef_free(r->text);
    r->text = text;
    r->is_error = is_error;
    return 0;
}

static int result_vsetf(ef_tool_result *r, int is_error, const char *fmt, va_list ap)
{
    char tmp[1024];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return EF_EINVAL;
    char *text;
    if ((size_t)n < sizeof tmp) {
        text = ef_strdup(tmp);
    } else {
        text = ef_malloc((size_t)n + 1);
        if (text)
            vsnprintf(text, (size_t)n + 1, fmt, ap);
    }
    return ef_tools__result_take(r, is_error, text);
}

int ef_tools_result_setf(ef_tool_result *r, int is_error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = result_vsetf(r, is_error, fmt, ap);
    va_end(ap);
    return rc;
}

int ef_tools__result_error(ef_tool_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = result_vsetf(r, 1, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- the registry ----------------------------------------------------------- */

int ef_tools_registry_new(ef_ctx *ctx, ef_tool_registry **out)
{
    ef_tool_registry *reg = ef_calloc(1, sizeof *reg);
    if (!reg)
        return ef_errorf(ctx, EF_ENOMEM, "tool registry: out of memory");
    reg->ctx = ctx;
    *out = reg;
    return 0;
}

static void entry_free(tool_entry *t)
{
    ef_free(t->name);
    ef_free(t->description);
    cJSON_Delete(t->schema);
    if (t->ud_free)
        t->ud_free(t->ud);
}

void ef_tools_registry_free(ef_tool_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n; i++)
        entry_free(&reg->tools[i]);
    ef_free(reg->tools);
    ef_free(reg);
}

static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int ef_tools_registry_add(ef_tool_registry *reg, const ef_tool_def *def)
{
    ef_ctx *ctx = reg->ctx;
    if (!def || def->version != EF_TOOL_DEF_VERSION)
        return ef_errorf(ctx, EF_EINVAL, "tool definition: version %d, expected %d",
                         def ? def->version : -1, EF_TOOL_DEF_VERSION);
    if (!def->name || !name_ok(def->name))
        return ef_errorf(ctx, EF_EINVAL,
                         "tool name \"%s\": must be 1-64 characters of A-Z, a-z, 0-9, _ or -",
                         def->name ? def->name : "(null)");
    if (!def->run)
        return ef_errorf(ctx, EF_EINVAL, "tool %s: no run function", def->name);
    if (ef_tools_registry_find(reg, def->name) >= 0)
        return ef_errorf(ctx, EF_EEXISTS, "tool %s: already registered", def->name);
    const char *params = def->parameters ? def->parameters : "{\"type\":\"object\"}";
    cJSON *schema = NULL;
    char what[128];
    snprintf(what, sizeof what, "tool %s parameters", def->name);
    int rc = ef_json_parse(ctx, params, strlen(params), what, &schema);
    if (rc < 0)
        return rc;
    if ((rc = ef_tools_schema_check(ctx, schema)) < 0) {
        cJSON_Delete(schema);
        return ef_error_wrap(ctx, rc, "tool %s", def->name);
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (!cJSON_IsString(t) || strcmp(t->valuestring, "object") != 0) {
        cJSON_Delete(schema);
        return ef_errorf(ctx, EF_EINVAL,
                         "tool %s parameters: the top level must be {\"type\":\"object\",...}",
                         def->name);
    }
    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 8;
        tool_entry *nt = ef_realloc(reg->tools, cap * sizeof *nt);
        if (!nt) {
            cJSON_Delete(schema);
            return ef_errorf(ctx, EF_ENOMEM, "tool %s: out of memory", def->name);
        }
        reg->tools = nt;
        reg->cap = cap;
    }
    tool_entry e = {ef_strdup(def->name), ef_strdup(def->description ? def->description : ""),
                    schema, def->run, def->ud, NULL};
    if (!e.name || !e.description) {
        entry_free(&e);
        return ef_errorf(ctx, EF_ENOMEM, "tool %s: out of memory", def->name);
    }
    e.ud_free = def->ud_free;
    reg->tools[reg->n++] = e;
    return 0;
}

ef_ctx *ef_tools__registry_ctx(const ef_tool_registry *reg)
{
    return reg->ctx;
}

size_t ef_tools_registry_count(const ef_tool_registry *reg)
{
    return reg ? reg->n : 0;
}

const char *ef_tools_registry_name(const ef_tool_registry *reg, size_t i)
{
    return i < reg->n ? reg->tools[i].name : NULL;
}

const char *ef_tools_registry_description(const ef_tool_registry *reg, size_t i)
{
    return i < reg->n ? reg->tools[i].description : NULL;
}

const cJSON *ef_tools_registry_schema(const ef_tool_registry *reg, size_t i)
{
    return i < reg->n ? reg->tools[i].schema : NULL;
}

long ef_tools_registry_find(const ef_tool_registry *reg, const char *name)
{
    if (!reg || !name)
        return -1;
    for (size_t i = 0; i < reg->n; i++)
        if (strcmp(reg->tools[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* {"type":"function","function":{"name","description","parameters"}}, or NULL. */
static cJSON *openai_def(const tool_entry *t)
{
    cJSON *item = cJSON_CreateObject();
    if (!item)
        return NULL;
    cJSON *fn = NULL, *params = NULL;
    if (!cJSON_AddStringToObject(item, "type", "function") ||
        !(fn = cJSON_AddObjectToObject(item, "function")) ||
        !cJSON_AddStringToObject(fn, "name", t->name) ||
        !cJSON_AddStringToObject(fn, "description", t->description) ||
        !(params = cJSON_Duplicate(t->schema, 1)))
        goto fail;
    if (!cJSON_AddItemToObject(fn, "parameters", params)) {
        cJSON_Delete(params);
        goto fail;
    }
    return item;
fail:
    cJSON_Delete(item);
    return NULL;
}

int ef_tools_registry_openai(const ef_tool_registry *reg, cJSON **out)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return ef_errorf(reg->ctx, EF_ENOMEM, "tool list: out of memory");
    for (size_t i = 0; i < reg->n; i++) {
        cJSON *item = openai_def(&reg->tools[i]);
        if (!item) {
            cJSON_Delete(arr);
            return ef_errorf(reg->ctx, EF_ENOMEM, "tool list: out of memory");
        }
        cJSON_AddItemToArray(arr, item);
    }
    *out = arr;
    return 0;
}

/* ---- calls --------------------------------------------------------------------- */

/* Makes the text valid UTF-8 (a program's bytes, a Latin-1 file: each invalid sequence
 * becomes U+FFFD, or the JSON sent to a model server would be invalid) and cuts it to the
 * byte cap from the middle, so that its end — the exit status, stderr, the last lines of
 * a traceback — still reaches the model. */
static int cap_text(ef_tool_result *r, size_t max_bytes)
{
    if (!r->text)
        return 0;
    size_t n = strlen(r->text);
    if (!ef_utf8_valid(r->text, n)) {
        char *t = ef_utf8_lossy(r->text, n, &n);
        if (!t)
            return EF_ENOMEM;
        ef_free(r->text);
        r->text = t;
    }
    if (max_bytes == 0 || n <= max_bytes)
        return 0;
    int oom = 0;
    char *t = ef_utf8_cap_middle(r->text, n, max_bytes, &oom);
    if (!t && oom)
        return EF_ENOMEM;
    if (!t) { /* a cap too small for head and tail: the head */
        size_t keep = ef_utf8_floor(r->text, max_bytes);
        t = ef_asprintf("%.*s\n[output truncated: %zu of %zu bytes shown]", (int)keep, r->text,
                        keep, n);
        if (!t)
            return EF_ENOMEM;
    }
    ef_free(r->text);
    r->text = t;
    r->truncated = 1;
    return 0;
}

/* Turns a context error (from the validator or a failed tool) into an error result. */
static int error_result(ef_ctx *ctx, ef_tool_result *out, const char *tool, const char *what)
{
    const char *msg = ef_errmsg(ctx);
    int rc = ef_tools__result_error(out, "%s%s%s", what ? what : "", msg[0] ? msg : tool,
                                    "");
    ef_error_clear(ctx);
    return rc;
}

int ef_tools_registry_call_json(ef_tool_registry *reg, ef_tool_ctx *tc, const char *name,
                                const cJSON *args, ef_tool_result *out)
{
    if (!reg || !tc || !out)
        return EF_EINVAL;
    ef_ctx *ctx = tc->ctx;
    ef_tool_result fresh = EF_TOOL_RESULT_INIT;
    *out = fresh;
    long idx = ef_tools_registry_find(reg, name);
    if (idx < 0) {
        ef_buf names = EF_BUF_INIT(4096);
        for (size_t i = 0; i < reg->n; i++)
            ef_buf_appendf(&names, "%s%s", i ? ", " : "", reg->tools[i].name);
        int rc = ef_tools__result_error(out, "unknown tool \"%s\"; available tools: %s",
                                        name ? name : "(null)", names.data ? names.data : "none");
        ef_buf_free(&names);
        return rc;
    }
    tool_entry *t = &reg->tools[idx];
    cJSON *empty = NULL;
    if (!args) {
        empty = cJSON_CreateObject();
        if (!empty)
            return ef_errorf(ctx, EF_ENOMEM, "tool %s: out of memory", t->name);
        args = empty;
    }
    int rc = ef_tools_schema_validate(ctx, t->schema, args, "arguments");
    if (rc < 0) {
        cJSON_Delete(empty);
        if (rc == EF_ENOMEM)
            return rc;
        char what[128];
        snprintf(what, sizeof what, "invalid arguments for %s: ", t->name);
        return error_result(ctx, out, t->name, what);
    }
    rc = t->run(tc, t->ud, args, out);
    cJSON_Delete(empty);
    if (rc == EF_ENOMEM) {
        ef_tools_result_free(out);
        return rc;
    }
    if (rc < 0) {
        cJSON_Delete(out->data);
        out->data = NULL;
        char what[128];
        snprintf(what, sizeof what, "%s failed: ", t->name);
        if ((rc = error_result(ctx, out, t->name, what)) < 0)
            return rc;
    }
    if (!out->text && (rc = ef_tools__result_take(out, out->is_error, ef_strdup(""))) < 0)
        return rc;
    return cap_text(out, tc->cfg.max_output_bytes);
}

int ef_tools_registry_call(ef_tool_registry *reg, ef_tool_ctx *tc, const char *name,
                           const char *args_json, ef_tool_result *out)
{
    if (!reg || !tc || !out)
        return EF_EINVAL;
    ef_tool_result fresh = EF_TOOL_RESULT_INIT;
    *out = fresh;
    size_t len = args_json ? strlen(args_json) : 0;
    size_t skip = 0;
    while (skip < len && (args_json[skip] == ' ' || args_json[skip] == '\n' ||
                          args_json[skip] == '\t' || args_json[skip] == '\r'))
        skip++;
    if (skip == len)
        return ef_tools_registry_call_json(reg, tc, name, NULL, out);
    if (ef_json_text_has_nul(args_json)) /* no built-in tool takes NUL characters */
        return ef_tools__result_error(out, "invalid arguments for %s: a string holds a NUL "
                                           "character (\\u0000), which no path, command or file "
                                           "text may contain",
                                      name ? name : "(null)");
    cJSON *args = NULL;
    int rc = ef_json_parse(tc->ctx, args_json, len, "arguments", &args);
    if (rc == EF_ENOMEM)
        return rc;
    if (rc < 0) {
        char what[128];
        snprintf(what, sizeof what, "invalid arguments for %s: ", name ? name : "(null)");
        return error_result(tc->ctx, out, name, what);
    }
    if (!cJSON_IsObject(args)) {
        rc = ef_tools__result_error(out, "invalid arguments for %s: arguments: expected an "
                                         "object, got %s",
                                    name ? name : "(null)", ef_json_type_name(args));
        cJSON_Delete(args);
        return rc;
    }
    rc = ef_tools_registry_call_json(reg, tc, name, args, out);
    cJSON_Delete(args);
    return rc;
}

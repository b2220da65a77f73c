/*
 * agent/toolcall.c — tool-call parsing and checking: a call's argument text must be a
 * JSON object that fits the tool's JSON Schema (required fields present, declared types
 * right); DSML text calls (DeepSeek encodings) are extracted through the engine's
 * encoder. Every failure becomes a message for the model, never a host error.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "agent/agent_int.h"
#include "engine/encoding.h"

ef_agent_call_status ef_agent_call_args_parse(const char *arguments, cJSON **args, char **why)
{
    *args = NULL;
    *why = NULL;
    const char *p = arguments ? arguments : "";
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    if (!*p) {
        *args = cJSON_CreateObject(); /* no arguments: {} */
        return *args ? EF_CALL_OK : EF_CALL_MALFORMED;
    }
    if (ef_json_text_has_nul(p)) {
        *why = ef_strdup("arguments hold a NUL character (\\u0000) in a string, which tools "
                         "cannot take; send the text without it");
        return EF_CALL_MALFORMED;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(p, &end, 1);
    if (!j) {
        size_t off = end && end >= p ? (size_t)(end - p) : 0;
        *why = ef_asprintf("arguments are not valid JSON (error near byte %zu); send a JSON "
                           "object such as {\"name\": \"value\"}",
                           off);
        return EF_CALL_MALFORMED;
    }
    if (!cJSON_IsObject(j)) {
        *why = ef_asprintf("arguments must be a JSON object, got %s", ef_json_type_name(j));
        cJSON_Delete(j);
        return EF_CALL_MALFORMED;
    }
    *args = j;
    return EF_CALL_OK;
}

static int type_matches(const char *type, const cJSON *v)
{
    if (strcmp(type, "string") == 0)
        return cJSON_IsString(v);
    if (strcmp(type, "number") == 0)
        return cJSON_IsNumber(v);
    if (strcmp(type, "integer") == 0)
        return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    if (strcmp(type, "boolean") == 0)
        return cJSON_IsBool(v);
    if (strcmp(type, "object") == 0)
        return cJSON_IsObject(v);
    if (strcmp(type, "array") == 0)
        return cJSON_IsArray(v);
    if (strcmp(type, "null") == 0)
        return cJSON_IsNull(v);
    return 1; /* unknown type names are the schema's business, not the model's */
}

static int type_ok(const cJSON *type, const cJSON *v)
{
    if (cJSON_IsString(type))
        return type_matches(type->valuestring, v);
    if (cJSON_IsArray(type)) {
        const cJSON *t;
        cJSON_ArrayForEach(t,
                           type) if (cJSON_IsString(t) && type_matches(t->valuestring, v)) return 1;
        return 0;
    }
    return 1;
}

int ef_agent__args_check(const cJSON *schema, const cJSON *args, char **why)
{
    *why = NULL;
    if (!cJSON_IsObject(schema))
        return 0;
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *r;
    cJSON_ArrayForEach(r, req)
    {
        if (cJSON_IsString(r) && !cJSON_GetObjectItemCaseSensitive(args, r->valuestring)) {
            *why = ef_asprintf("arguments.%s: required field missing", r->valuestring);
            return 1;
        }
    }
    const cJSON *a;
    cJSON_ArrayForEach(a, args)
    {
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(props, a->string);
        if (!ps) {
            const cJSON *addl = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
            if (cJSON_IsFalse(addl)) {
                *why = ef_asprintf("arguments.%s: unknown field", a->string);
                return 1;
            }
            continue;
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(ps, "type");
        if (type && !type_ok(type, a)) {
            char *want = cJSON_IsString(type) ? NULL : ef_json_print(type);
            *why = ef_asprintf("arguments.%s: expected %s, got %s", a->string,
                               want ? want : type->valuestring, ef_json_type_name(a));
            ef_free(want);
            return 1;
        }
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(ps, "enum");
        if (cJSON_IsArray(en)) {
            int found = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, en) if (cJSON_Compare(e, a, 1)) found = 1;
            if (!found) {
                *why = ef_asprintf("arguments.%s: not one of the allowed values", a->string);
                return 1;
            }
        }
    }
    return 0;
}

int ef_agent_parse_dsml(ef_ctx *ctx, ef_agent_msg *msg)
{
    if (!msg->content || !strstr(msg->content, EF_DSV32_DSML))
        return 0;
    ef_chat_parse_options po = EF_CHAT_PARSE_OPTIONS_INIT;
    po.thinking = 0;    /* the server already split reasoning_content off */
    po.require_eos = 0; /* servers strip EOS */
    cJSON *j = NULL;
    int rc = ef_engine_chat_parse(ctx, msg->content, strlen(msg->content), &po, &j);
    if (rc < 0)
        return rc == EF_ENOMEM ? rc : ef_error_wrap(ctx, EF_EPARSE, "DSML tool calls");
    ef_agent_msg parsed;
    rc = ef_agent_msg_from_json(ctx, j, "DSML message", &parsed);
    cJSON_Delete(j);
    if (rc < 0)
        return rc;
    /* keep the server's reasoning; take content and calls from the DSML text */
    ef_free(msg->content);
    msg->content = parsed.content;
    parsed.content = NULL;
    for (size_t i = 0; i < msg->n_tool_calls; i++) {
        ef_free(msg->tool_calls[i].id);
        ef_free(msg->tool_calls[i].name);
        ef_free(msg->tool_calls[i].arguments);
    }
    ef_free(msg->tool_calls);
    msg->tool_calls = parsed.tool_calls;
    msg->n_tool_calls = parsed.n_tool_calls;
    parsed.tool_calls = NULL;
    parsed.n_tool_calls = 0;
    int n = (int)msg->n_tool_calls;
    ef_agent_msg_free(&parsed);
    return n;
}

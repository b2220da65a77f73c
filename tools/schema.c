/*
 * tools/schema.c — the JSON Schema subset that tool parameters use: checking a schema's
 * own form when a tool registers, and checking a call's arguments against it.
 *
 * Supported: type (one name or a list), properties, required, enum, const, items (one
 * schema), minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers), minLength,
 * maxLength (in Unicode code points), pattern (POSIX extended regular expression, which
 * agrees with ECMA-262 on the common subset: classes, anchors, groups, alternation,
 * counted repetition), minItems, maxItems, additionalProperties (boolean or schema);
 * annotations (description, title, default, examples, format, $schema) are accepted and
 * ignored. A mismatch names the field by its path from the root ("edits[1].path").
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include "common/utf8.h"
#include "tools/tools_int.h"

#define MAX_DEPTH 32

static const char *const known_types[] = {"object", "array", "string", "number",
                                          "integer", "boolean", "null"};

static const char *const known_keywords[] = {
    "type", "properties", "required", "enum", "const", "items", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems",
    "maxItems", "additionalProperties", "pattern", "description", "title", "default",
    "examples", "format", "$schema"};

static int is_known(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

/* ---- checking a schema ---------------------------------------------------------- */

static int check_node(ef_ctx *ctx, const cJSON *s, const char *path, int depth);

static int check_count(ef_ctx *ctx, const cJSON *v, const char *path, const char *kw)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble))
        return ef_errorf(ctx, EF_EINVAL, "schema %s.%s: must be a non-negative integer", path,
                         kw);
    return 0;
}

static int check_type(ef_ctx *ctx, const cJSON *t, const char *path)
{
    if (cJSON_IsString(t)) {
        if (!is_known(t->valuestring, known_types, EF_ARRAY_LEN(known_types)))
            return ef_errorf(ctx, EF_EINVAL, "schema %s.type: unknown type \"%s\"", path,
                             t->valuestring);
        return 0;
    }
    if (cJSON_IsArray(t) && cJSON_GetArraySize(t) > 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, t)
        {
            if (!cJSON_IsString(e) ||
                !is_known(e->valuestring, known_types, EF_ARRAY_LEN(known_types)))
                return ef_errorf(ctx, EF_EINVAL,
                                 "schema %s.type: entries must be type names", path);
        }
        return 0;
    }
    return ef_errorf(ctx, EF_EINVAL, "schema %s.type: must be a type name or a list of them",
                     path);
}

static int check_keyword(ef_ctx *ctx, const cJSON *kw, const char *path, int depth)
{
    const char *k = kw->string;
    if (!is_known(k, known_keywords, EF_ARRAY_LEN(known_keywords)))
        return ef_errorf(ctx, EF_EUNSUPPORTED,
                         "schema %s: keyword \"%s\" is not supported by envforge's tool "
                         "schemas (use type, properties, required, enum, items, minimum, "
                         "maximum, minLength, maxLength, additionalProperties)",
                         path, k);
    if (strcmp(k, "type") == 0)
        return check_type(ctx, kw, path);
    if (strcmp(k, "properties") == 0) {
        if (!cJSON_IsObject(kw))
            return ef_errorf(ctx, EF_EINVAL, "schema %s.properties: must be an object", path);
        const cJSON *p;
        cJSON_ArrayForEach(p, kw)
        {
            char sub[512];
            snprintf(sub, sizeof sub, "%s.properties.%s", path, p->string);
            int rc = check_node(ctx, p, sub, depth + 1);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (strcmp(k, "required") == 0) {
        if (!cJSON_IsArray(kw))
            return ef_errorf(ctx, EF_EINVAL, "schema %s.required: must be a list of names",
                             path);
        const cJSON *e;
        cJSON_ArrayForEach(e, kw)
        {
            if (!cJSON_IsString(e))
                return ef_errorf(ctx, EF_EINVAL,
                                 "schema %s.required: entries must be strings", path);
        }
        return 0;
    }
    if (strcmp(k, "enum") == 0) {
        if (!cJSON_IsArray(kw) || cJSON_GetArraySize(kw) == 0)
            return ef_errorf(ctx, EF_EINVAL, "schema %s.enum: must be a non-empty list", path);
        return 0;
    }
    if (strcmp(k, "items") == 0 || strcmp(k, "additionalProperties") == 0) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s.%s", path, k);
        if (cJSON_IsBool(kw) && k[0] == 'a')
            return 0;
        return check_node(ctx, kw, sub, depth + 1);
    }
    if (strcmp(k, "minimum") == 0 || strcmp(k, "maximum") == 0 ||
        strcmp(k, "exclusiveMinimum") == 0 || strcmp(k, "exclusiveMaximum") == 0) {
        if (!cJSON_IsNumber(kw))
            return ef_errorf(ctx, EF_EINVAL, "schema %s.%s: must be a number", path, k);
        return 0;
    }
    if (strcmp(k, "minLength") == 0 || strcmp(k, "maxLength") == 0 ||
        strcmp(k, "minItems") == 0 || strcmp(k, "maxItems") == 0)
        return check_count(ctx, kw, path, k);
    if (strcmp(k, "pattern") == 0) {
        regex_t re;
        if (!cJSON_IsString(kw) || regcomp(&re, kw->valuestring, REG_EXTENDED | REG_NOSUB) != 0)
            return ef_errorf(ctx, EF_EINVAL, "schema %s.pattern: not a valid regular expression",
                             path);
        regfree(&re);
        return 0;
    }
    if (strcmp(k, "description") == 0 || strcmp(k, "title") == 0 || strcmp(k, "format") == 0) {
        if (!cJSON_IsString(kw))
            return ef_errorf(ctx, EF_EINVAL, "schema %s.%s: must be a string", path, k);
    }
    return 0; /* const, default, examples, $schema: any value */
}

static int check_node(ef_ctx *ctx, const cJSON *s, const char *path, int depth)
{
    if (depth > MAX_DEPTH)
        return ef_errorf(ctx, EF_ELIMIT, "schema %s: nested deeper than %d levels", path,
                         MAX_DEPTH);
    if (!cJSON_IsObject(s))
        return ef_errorf(ctx, EF_EINVAL, "schema %s: must be an object, got %s", path,
                         ef_json_type_name(s));
    const cJSON *kw;
    cJSON_ArrayForEach(kw, s)
    {
        int rc = check_keyword(ctx, kw, path, depth);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int ef_tools_schema_check(ef_ctx *ctx, const cJSON *schema)
{
    if (!schema)
        return ef_errorf(ctx, EF_EINVAL, "schema: missing");
    return check_node(ctx, schema, "$", 0);
}

/* ---- validating a value --------------------------------------------------------- */

static int is_integer(const cJSON *v)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    return isfinite(d) && d == floor(d);
}

static int type_matches(const char *t, const cJSON *v)
{
    if (strcmp(t, "object") == 0)
        return cJSON_IsObject(v);
    if (strcmp(t, "array") == 0)
        return cJSON_IsArray(v);
    if (strcmp(t, "string") == 0)
        return cJSON_IsString(v);
    if (strcmp(t, "number") == 0)
        return cJSON_IsNumber(v);
    if (strcmp(t, "integer") == 0)
        return is_integer(v);
    if (strcmp(t, "boolean") == 0)
        return cJSON_IsBool(v);
    if (strcmp(t, "null") == 0)
        return cJSON_IsNull(v);
    return 0;
}

/* A short display of a value for messages: strings quoted and cut, others printed. */
static void show_value(const cJSON *v, char *buf, size_t cap)
{
    if (cJSON_IsString(v)) {
        size_t n = strlen(v->valuestring);
        snprintf(buf, cap, "\"%.40s%s\"", v->valuestring, n > 40 ? "..." : "");
        return;
    }
    if (cJSON_IsNumber(v)) {
        snprintf(buf, cap, "%.17g", v->valuedouble);
        return;
    }
    snprintf(buf, cap, "%s", cJSON_IsBool(v) ? (cJSON_IsTrue(v) ? "true" : "false")
                                             : ef_json_type_name(v));
}

static int validate(ef_ctx *ctx, const cJSON *s, const cJSON *v, const char *path, int depth);

static int check_types(ef_ctx *ctx, const cJSON *t, const cJSON *v, const char *path)
{
    if (!t)
        return 0;
    if (cJSON_IsString(t)) {
        if (type_matches(t->valuestring, v))
            return 0;
        if (strcmp(t->valuestring, "integer") == 0 && cJSON_IsNumber(v)) {
            char shown[64];
            show_value(v, shown, sizeof shown);
            return ef_errorf(ctx, EF_EINVAL, "%s: expected an integer, got %s", path, shown);
        }
        return ef_errorf(ctx, EF_EINVAL, "%s: expected %s, got %s", path, t->valuestring,
                         ef_json_type_name(v));
    }
    const cJSON *e;
    char names[160] = "";
    cJSON_ArrayForEach(e, t)
    {
        if (type_matches(e->valuestring, v))
            return 0;
        size_t n = strlen(names);
        snprintf(names + n, sizeof names - n, "%s%s", n ? " or " : "", e->valuestring);
    }
    return ef_errorf(ctx, EF_EINVAL, "%s: expected %s, got %s", path, names,
                     ef_json_type_name(v));
}

static int check_enum(ef_ctx *ctx, const cJSON *en, const cJSON *v, const char *path)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, en)
    {
        if (cJSON_Compare(e, v, 1))
            return 0;
    }
    char shown[64], allowed[256] = "";
    show_value(v, shown, sizeof shown);
    cJSON_ArrayForEach(e, en)
    {
        char one[64];
        size_t n = strlen(allowed);
        show_value(e, one, sizeof one);
        if (n + strlen(one) + 8 >= sizeof allowed) {
            snprintf(allowed + n, sizeof allowed - n, ", ...");
            break;
        }
        snprintf(allowed + n, sizeof allowed - n, "%s%s", n ? ", " : "", one);
    }
    return ef_errorf(ctx, EF_EINVAL, "%s: %s is not one of %s", path, shown, allowed);
}

static int check_number(ef_ctx *ctx, const cJSON *s, const cJSON *v, const char *path)
{
    double d = v->valuedouble;
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "minimum")) && d < k->valuedouble)
        return ef_errorf(ctx, EF_EINVAL, "%s: %.17g is below the minimum %.17g", path, d,
                         k->valuedouble);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "maximum")) && d > k->valuedouble)
        return ef_errorf(ctx, EF_EINVAL, "%s: %.17g is above the maximum %.17g", path, d,
                         k->valuedouble);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "exclusiveMinimum")) && d <= k->valuedouble)
        return ef_errorf(ctx, EF_EINVAL, "%s: %.17g must be greater than %.17g", path, d,
                         k->valuedouble);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "exclusiveMaximum")) && d >= k->valuedouble)
        return ef_errorf(ctx, EF_EINVAL, "%s: %.17g must be less than %.17g", path, d,
                         k->valuedouble);
    return 0;
}

static int check_pattern(ef_ctx *ctx, const cJSON *pat, const cJSON *v, const char *path)
{
    regex_t re;
    if (regcomp(&re, pat->valuestring, REG_EXTENDED | REG_NOSUB) != 0)
        return ef_errorf(ctx, EF_EINVAL, "%s: the schema's pattern does not compile", path);
    int match = regexec(&re, v->valuestring, 0, NULL, 0) == 0;
    regfree(&re);
    if (!match) {
        char shown[64];
        show_value(v, shown, sizeof shown);
        return ef_errorf(ctx, EF_EINVAL, "%s: %s does not match the pattern %.100s", path, shown,
                         pat->valuestring);
    }
    return 0;
}

static int check_string(ef_ctx *ctx, const cJSON *s, const cJSON *v, const char *path)
{
    size_t n = ef_utf8_count(v->valuestring, strlen(v->valuestring));
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "pattern")) && check_pattern(ctx, k, v, path) < 0)
        return EF_EINVAL;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "minLength")) && n < (size_t)k->valuedouble)
        return ef_errorf(ctx, EF_EINVAL, "%s: must be at least %.0f characters long, got %zu",
                         path, k->valuedouble, n);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "maxLength")) && n > (size_t)k->valuedouble)
        return ef_errorf(ctx, EF_EINVAL, "%s: must be at most %.0f characters long, got %zu",
                         path, k->valuedouble, n);
    return 0;
}

static int check_array(ef_ctx *ctx, const cJSON *s, const cJSON *v, const char *path,
                       int depth)
{
    size_t n = (size_t)cJSON_GetArraySize(v);
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "minItems")) && n < (size_t)k->valuedouble)
        return ef_errorf(ctx, EF_EINVAL, "%s: must have at least %.0f items, got %zu", path,
                         k->valuedouble, n);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "maxItems")) && n > (size_t)k->valuedouble)
        return ef_errorf(ctx, EF_EINVAL, "%s: must have at most %.0f items, got %zu", path,
                         k->valuedouble, n);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    if (!items)
        return 0;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        char sub[512];
        snprintf(sub, sizeof sub, "%s[%zu]", path, i++);
        int rc = validate(ctx, items, e, sub, depth + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void field_path(char *buf, size_t cap, const char *path, const char *name)
{
    snprintf(buf, cap, "%s.%s", path, name);
}

static int check_object(ef_ctx *ctx, const cJSON *s, const cJSON *v, const char *path,
                        int depth)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    const cJSON *e;
    char sub[512];
    cJSON_ArrayForEach(e, req)
    {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, e->valuestring);
        if (!f) {
            field_path(sub, sizeof sub, path, e->valuestring);
            return ef_errorf(ctx, EF_EINVAL, "%s: required field is missing", sub);
        }
    }
    cJSON_ArrayForEach(e, v)
    {
        field_path(sub, sizeof sub, path, e->string);
        const cJSON *ps = props ? cJSON_GetObjectItemCaseSensitive(props, e->string) : NULL;
        int rc = 0;
        if (ps) {
            rc = validate(ctx, ps, e, sub, depth + 1);
        } else if (cJSON_IsFalse(addl)) {
            char known[256] = "";
            const cJSON *p;
            cJSON_ArrayForEach(p, props)
            {
                size_t n = strlen(known);
                snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "", p->string);
            }
            rc = ef_errorf(ctx, EF_EINVAL, "%s: unknown field (expected: %s)", sub,
                           known[0] ? known : "none");
        } else if (cJSON_IsObject(addl)) {
            rc = validate(ctx, addl, e, sub, depth + 1);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int validate(ef_ctx *ctx, const cJSON *s, const cJSON *v, const char *path, int depth)
{
    if (depth > MAX_DEPTH)
        return ef_errorf(ctx, EF_ELIMIT, "%s: nested deeper than %d levels", path, MAX_DEPTH);
    int rc = check_types(ctx, cJSON_GetObjectItemCaseSensitive(s, "type"), v, path);
    if (rc < 0)
        return rc;
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "enum")) && (rc = check_enum(ctx, k, v, path)))
        return rc;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "const")) && !cJSON_Compare(k, v, 1)) {
        char shown[64];
        show_value(k, shown, sizeof shown);
        return ef_errorf(ctx, EF_EINVAL, "%s: must be %s", path, shown);
    }
    if (cJSON_IsNumber(v))
        return check_number(ctx, s, v, path);
    if (cJSON_IsString(v))
        return check_string(ctx, s, v, path);
    if (cJSON_IsArray(v))
        return check_array(ctx, s, v, path, depth);
    if (cJSON_IsObject(v))
        return check_object(ctx, s, v, path, depth);
    return 0;
}

int ef_tools_schema_validate(ef_ctx *ctx, const cJSON *schema, const cJSON *value,
                             const char *root)
{
    if (!schema || !value)
        return ef_errorf(ctx, EF_EINVAL, "schema validation: missing schema or value");
    return validate(ctx, schema, value, root && *root ? root : "$", 0);
}

/*
 * common/jschema.c — the JSON Schema subset behind tool parameters (tools/) and the JSON
 * verifier (verifiers/): one walk that checks a schema's own form against a table of
 * keywords, and one walk that checks a value against a schema.
 *
 * The two dialects (common/jschema.h) differ in the keywords a schema may use and in the
 * words of the messages, never in what passes: the tool dialect's messages go back to the
 * model as the result of a bad call and are pinned by tests/test_tools.c; the full
 * dialect's go to env authors and to envgen episodes (tests/test_verifiers.c,
 * tests/test_envgen.c, tests/broken_envs). Each message site holds both wordings side by
 * side, as string literals, so the compiler checks both formats.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "common/jschema.h"
#include "common/json.h"
#include "common/utf8.h"

/* One walk's settings. */
typedef struct {
    ef_ctx *ctx;
    int tool; /* EF_JSCHEMA_TOOL: its keywords, its words */
    int max_depth;
} walk;

/* The wording of the dialect at hand. */
#define WORDS(w, tool_text, full_text) ((w)->tool ? (tool_text) : (full_text))

static void walk_init(walk *w, ef_ctx *ctx, const ef_jschema_options *opts)
{
    w->ctx = ctx;
    w->tool = opts && opts->dialect == EF_JSCHEMA_TOOL;
    w->max_depth = w->tool ? 32 : 64;
}

static const char *root_name(const ef_jschema_options *opts)
{
    return opts && opts->root && *opts->root ? opts->root : "$";
}

/* snprintf for paths in messages; a deep path is cut (it only appears in messages). */
static void pathf(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pathf(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static int regex_compiles(const char *pattern)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    regfree(&re);
    return 1;
}

/* ---- checking a schema ---------------------------------------------------------- */

typedef enum {
    FORM_TYPE,        /* a type name or a non-empty list of them */
    FORM_PROPERTIES,  /* an object of schemas */
    FORM_REQUIRED,    /* a list of names (full: each declared in properties) */
    FORM_SCHEMA,      /* one schema */
    FORM_SCHEMA_LIST, /* a non-empty list of schemas */
    FORM_ENUM,        /* a non-empty list of values */
    FORM_NUMBER,      /* a number (multipleOf: above 0) */
    FORM_COUNT,       /* a non-negative integer */
    FORM_PATTERN,     /* a regular expression */
    FORM_BOOL,        /* true or false */
    FORM_TEXT,        /* a string */
    FORM_ANY,         /* any value */
} keyword_form;

static const struct keyword {
    const char *name;
    keyword_form form;
    int in_tool; /* part of the tool dialect */
} keywords[] = {
    {"type", FORM_TYPE, 1},
    {"properties", FORM_PROPERTIES, 1},
    {"required", FORM_REQUIRED, 1},
    {"enum", FORM_ENUM, 1},
    {"const", FORM_ANY, 1},
    {"items", FORM_SCHEMA, 1},
    {"additionalProperties", FORM_SCHEMA, 1},
    {"minimum", FORM_NUMBER, 1},
    {"maximum", FORM_NUMBER, 1},
    {"exclusiveMinimum", FORM_NUMBER, 1},
    {"exclusiveMaximum", FORM_NUMBER, 1},
    {"minLength", FORM_COUNT, 1},
    {"maxLength", FORM_COUNT, 1},
    {"minItems", FORM_COUNT, 1},
    {"maxItems", FORM_COUNT, 1},
    {"pattern", FORM_PATTERN, 1},
    {"description", FORM_TEXT, 1},
    {"title", FORM_TEXT, 1},
    {"format", FORM_TEXT, 1},
    {"$schema", FORM_TEXT, 1}, /* the tool dialect takes any value */
    {"default", FORM_ANY, 1},
    {"examples", FORM_ANY, 1},
    {"multipleOf", FORM_NUMBER, 0},
    {"minProperties", FORM_COUNT, 0},
    {"maxProperties", FORM_COUNT, 0},
    {"uniqueItems", FORM_BOOL, 0},
    {"nullable", FORM_BOOL, 0},
    {"allOf", FORM_SCHEMA_LIST, 0},
    {"anyOf", FORM_SCHEMA_LIST, 0},
    {"oneOf", FORM_SCHEMA_LIST, 0},
    {"not", FORM_SCHEMA, 0},
    {"$id", FORM_TEXT, 0},
    {"$comment", FORM_TEXT, 0},
};

static const char *const type_names[] = {"object",  "array",   "string", "number",
                                         "integer", "boolean", "null"};

static int is_type_name(const cJSON *v)
{
    if (!cJSON_IsString(v))
        return 0;
    for (size_t i = 0; i < EF_ARRAY_LEN(type_names); i++)
        if (strcmp(v->valuestring, type_names[i]) == 0)
            return 1;
    return 0;
}

static const struct keyword *find_keyword(const walk *w, const char *name)
{
    for (size_t i = 0; i < EF_ARRAY_LEN(keywords); i++)
        if (strcmp(name, keywords[i].name) == 0)
            return w->tool && !keywords[i].in_tool ? NULL : &keywords[i];
    return NULL;
}

static int check_node(const walk *w, const cJSON *s, const char *path, int depth);

static int check_type(const walk *w, const cJSON *kw, const char *p)
{
    if (cJSON_IsString(kw)) {
        if (!is_type_name(kw))
            return ef_errorf(w->ctx, EF_EINVAL,
                             WORDS(w, "schema %s: unknown type \"%s\"",
                                   "%s: '%s' is not a JSON Schema type (object, array, "
                                   "string, number, integer, boolean, null)"),
                             p, kw->valuestring);
        return 0;
    }
    if (cJSON_IsArray(kw) && cJSON_GetArraySize(kw) > 0) {
        const cJSON *t;
        cJSON_ArrayForEach(t, kw)
        {
            if (!is_type_name(t))
                return ef_errorf(w->ctx, EF_EINVAL,
                                 WORDS(w, "schema %s: entries must be type names",
                                       "%s: every entry must be a type name"),
                                 p);
        }
        return 0;
    }
    return ef_errorf(w->ctx, EF_EINVAL,
                     WORDS(w, "schema %s: must be a type name or a list of them",
                           "%s must be a type name or a list of them"),
                     p);
}

static int check_properties(const walk *w, const cJSON *kw, const char *p, int depth)
{
    if (!cJSON_IsObject(kw))
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "schema %s: must be an object",
                               "%s must be an object of schemas, got %s"),
                         p, ef_json_type_name(kw));
    const cJSON *it;
    cJSON_ArrayForEach(it, kw)
    {
        char sub[512];
        pathf(sub, sizeof sub, "%s.%s", p, it->string);
        int rc = check_node(w, it, sub, depth + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int check_required(const walk *w, const cJSON *s, const cJSON *kw, const char *p)
{
    if (!cJSON_IsArray(kw))
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "schema %s: must be a list of names",
                               "%s must be an array of property names, got %s"),
                         p, ef_json_type_name(kw));
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *it;
    cJSON_ArrayForEach(it, kw)
    {
        if (!cJSON_IsString(it))
            return ef_errorf(w->ctx, EF_EINVAL,
                             WORDS(w, "schema %s: entries must be strings",
                                   "%s: entries must be strings, got %s"),
                             p, ef_json_type_name(it));
        if (!w->tool && (!props || !cJSON_GetObjectItemCaseSensitive(props, it->valuestring)))
            return ef_errorf(w->ctx, EF_EINVAL,
                             "%s: '%s' is required but not declared in properties", p,
                             it->valuestring);
    }
    return 0;
}

static int check_schema_list(const walk *w, const cJSON *kw, const char *p, int depth)
{
    if (!cJSON_IsArray(kw) || cJSON_GetArraySize(kw) == 0)
        return ef_errorf(w->ctx, EF_EINVAL, "%s must be a non-empty array of schemas", p);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, kw)
    {
        char sub[512];
        pathf(sub, sizeof sub, "%s[%d]", p, i++);
        int rc = check_node(w, it, sub, depth + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int check_number(const walk *w, const char *k, const cJSON *kw, const char *p)
{
    if (!cJSON_IsNumber(kw))
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "schema %s: must be a number", "%s must be a number, got %s"),
                         p, ef_json_type_name(kw));
    if (strcmp(k, "multipleOf") == 0 && !(kw->valuedouble > 0))
        return ef_errorf(w->ctx, EF_EINVAL, "%s must be > 0", p);
    return 0;
}

static int check_pattern(const walk *w, const cJSON *kw, const char *p)
{
    if (!cJSON_IsString(kw))
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "schema %s: not a valid regular expression",
                               "%s must be a string"),
                         p);
    if (!regex_compiles(kw->valuestring))
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "schema %s: not a valid regular expression",
                               "%s: '%s' is not a valid regular expression"),
                         p, kw->valuestring);
    return 0;
}

static int check_keyword(const walk *w, const cJSON *s, const cJSON *kw, const char *path,
                         int depth)
{
    const char *k = kw->string;
    const struct keyword *def = find_keyword(w, k);
    if (!def)
        return ef_errorf(w->ctx, w->tool ? EF_EUNSUPPORTED : EF_EINVAL,
                         WORDS(w,
                               "schema %s: keyword \"%s\" is not supported by envforge's tool "
                               "schemas (use type, properties, required, enum, items, minimum, "
                               "maximum, minLength, maxLength, additionalProperties)",
                               "%s: unknown JSON Schema keyword '%s' (a typo? known: type, "
                               "properties, required, items, enum, const, minimum, maximum, "
                               "minLength, maxLength, pattern, minItems, maxItems, "
                               "additionalProperties, anyOf, oneOf, allOf, not, description, "
                               "default)"),
                         path, k);
    char p[512];
    pathf(p, sizeof p, "%s.%s", path, k);
    switch (def->form) {
    case FORM_TYPE:
        return check_type(w, kw, p);
    case FORM_PROPERTIES:
        return check_properties(w, kw, p, depth);
    case FORM_REQUIRED:
        return check_required(w, s, kw, p);
    case FORM_SCHEMA: /* a boolean: the full dialect's schema, the tool's additionalProperties */
        if (cJSON_IsBool(kw) && (!w->tool || strcmp(k, "additionalProperties") == 0))
            return 0;
        return check_node(w, kw, p, depth + 1);
    case FORM_SCHEMA_LIST:
        return check_schema_list(w, kw, p, depth);
    case FORM_ENUM:
        if (!cJSON_IsArray(kw) || cJSON_GetArraySize(kw) == 0)
            return ef_errorf(w->ctx, EF_EINVAL,
                             WORDS(w, "schema %s: must be a non-empty list",
                                   "%s must be a non-empty array"),
                             p);
        return 0;
    case FORM_NUMBER:
        return check_number(w, k, kw, p);
    case FORM_COUNT:
        if (!cJSON_IsNumber(kw) || kw->valuedouble < 0 ||
            kw->valuedouble != floor(kw->valuedouble))
            return ef_errorf(w->ctx, EF_EINVAL,
                             WORDS(w, "schema %s: must be a non-negative integer",
                                   "%s must be a non-negative integer"),
                             p);
        return 0;
    case FORM_PATTERN:
        return check_pattern(w, kw, p);
    case FORM_BOOL:
        if (!cJSON_IsBool(kw))
            return ef_errorf(w->ctx, EF_EINVAL, "%s must be a boolean", p);
        return 0;
    case FORM_TEXT:
        if (w->tool && strcmp(k, "$schema") == 0)
            return 0;
        if (!cJSON_IsString(kw))
            return ef_errorf(w->ctx, EF_EINVAL,
                             WORDS(w, "schema %s: must be a string", "%s must be a string, got %s"),
                             p, ef_json_type_name(kw));
        return 0;
    case FORM_ANY:
        return 0;
    }
    return 0;
}

static int check_node(const walk *w, const cJSON *s, const char *path, int depth)
{
    if (depth > w->max_depth)
        return ef_errorf(w->ctx, EF_ELIMIT,
                         WORDS(w, "schema %s: nested deeper than %d levels",
                               "%s: schema nested deeper than %d"),
                         path, w->max_depth);
    if (cJSON_IsBool(s) && !w->tool)
        return 0;
    if (!cJSON_IsObject(s))
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "schema %s: must be an object, got %s",
                               "%s: a schema must be an object, got %s"),
                         path, ef_json_type_name(s));
    const cJSON *kw;
    cJSON_ArrayForEach(kw, s)
    {
        int rc = check_keyword(w, s, kw, path, depth);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int ef_jschema_check(ef_ctx *ctx, const cJSON *schema, const ef_jschema_options *opts)
{
    walk w;
    walk_init(&w, ctx, opts);
    return check_node(&w, schema, root_name(opts), 0);
}

/* ---- validating a value --------------------------------------------------------- */

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
        return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
               v->valuedouble == floor(v->valuedouble);
    if (strcmp(t, "boolean") == 0)
        return cJSON_IsBool(v);
    if (strcmp(t, "null") == 0)
        return cJSON_IsNull(v);
    return 0;
}

/* A value's type in messages: the tool dialect names JSON's types, the full dialect tells
 * integers from other numbers. */
static const char *value_type(const walk *w, const cJSON *v)
{
    if (!w->tool && cJSON_IsNumber(v))
        return v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9.1e15
                   ? "integer"
                   : "number";
    return ef_json_type_name(v);
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

static int validate(const walk *w, const cJSON *s, const cJSON *v, const char *path, int depth);

static int validate_type(const walk *w, const cJSON *s, const cJSON *v, const char *path)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (cJSON_IsString(t)) {
        if (type_matches(t->valuestring, v) ||
            (cJSON_IsNull(v) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "nullable"))))
            return 0;
        if (w->tool && strcmp(t->valuestring, "integer") == 0 && cJSON_IsNumber(v)) {
            char shown[64];
            show_value(v, shown, sizeof shown);
            return ef_errorf(w->ctx, EF_EINVAL, "%s: expected an integer, got %s", path, shown);
        }
        return ef_errorf(w->ctx, EF_EINVAL, "%s: expected %s, got %s", path, t->valuestring,
                         value_type(w, v));
    }
    if (!cJSON_IsArray(t))
        return 0;
    char names[160] = "";
    const cJSON *e;
    cJSON_ArrayForEach(e, t)
    {
        if (!cJSON_IsString(e))
            continue;
        if (type_matches(e->valuestring, v))
            return 0;
        size_t n = strlen(names);
        snprintf(names + n, sizeof names - n, "%s%s", n ? " or " : "", e->valuestring);
    }
    if (w->tool)
        return ef_errorf(w->ctx, EF_EINVAL, "%s: expected %s, got %s", path, names,
                         value_type(w, v));
    return ef_errorf(w->ctx, EF_EINVAL, "%s: %s is none of the allowed types", path,
                     value_type(w, v));
}

static int validate_enum(const walk *w, const cJSON *en, const cJSON *v, const char *path)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, en)
    {
        if (ef_json_equal(v, e, 0))
            return 0;
    }
    if (!w->tool) {
        char *txt = ef_json_print(v);
        int rc = ef_errorf(w->ctx, EF_EINVAL, "%s: %s is not one of the allowed values", path,
                           txt ? txt : "value");
        ef_free(txt);
        return rc;
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
    return ef_errorf(w->ctx, EF_EINVAL, "%s: %s is not one of %s", path, shown, allowed);
}

static int validate_number(const walk *w, const cJSON *s, const cJSON *v, const char *path)
{
    double x = v->valuedouble;
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "minimum")) && x < k->valuedouble)
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "%s: %.17g is below the minimum %.17g",
                               "%s: %g is below the minimum %g"),
                         path, x, k->valuedouble);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "maximum")) && x > k->valuedouble)
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "%s: %.17g is above the maximum %.17g",
                               "%s: %g is above the maximum %g"),
                         path, x, k->valuedouble);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "exclusiveMinimum")) && cJSON_IsNumber(k) &&
        x <= k->valuedouble)
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "%s: %.17g must be greater than %.17g", "%s: %g must be > %g"),
                         path, x, k->valuedouble);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "exclusiveMaximum")) && cJSON_IsNumber(k) &&
        x >= k->valuedouble)
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "%s: %.17g must be less than %.17g", "%s: %g must be < %g"),
                         path, x, k->valuedouble);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "multipleOf")) && k->valuedouble > 0) {
        double q = x / k->valuedouble;
        if (fabs(q - round(q)) > 1e-9)
            return ef_errorf(w->ctx, EF_EINVAL, "%s: %g is not a multiple of %g", path, x,
                             k->valuedouble);
    }
    return 0;
}

static int validate_pattern(const walk *w, const cJSON *s, const cJSON *v, const char *path)
{
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(s, "pattern");
    if (!cJSON_IsString(pat))
        return 0;
    regex_t re;
    if (regcomp(&re, pat->valuestring, REG_EXTENDED | REG_NOSUB) != 0)
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "%s: the schema's pattern does not compile",
                               "%s: schema pattern '%s' does not compile"),
                         path, pat->valuestring);
    int match = regexec(&re, v->valuestring, 0, NULL, 0) == 0;
    regfree(&re);
    if (match)
        return 0;
    char shown[64];
    show_value(v, shown, sizeof shown);
    return ef_errorf(w->ctx, EF_EINVAL,
                     WORDS(w, "%s: %s does not match the pattern %.100s",
                           "%s: '%s' does not match pattern '%s'"),
                     path, w->tool ? shown : v->valuestring, pat->valuestring);
}

static int validate_string(const walk *w, const cJSON *s, const cJSON *v, const char *path)
{
    /* the tool dialect reports a pattern mismatch before a length, the full one after */
    int rc;
    if (w->tool && (rc = validate_pattern(w, s, v, path)) < 0)
        return rc;
    size_t n = ef_utf8_count(v->valuestring, strlen(v->valuestring));
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "minLength")) && n < (size_t)k->valuedouble)
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "%s: must be at least %.0f characters long, got %zu",
                               "%s: shorter than %g characters"),
                         path, k->valuedouble, n);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "maxLength")) && n > (size_t)k->valuedouble)
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "%s: must be at most %.0f characters long, got %zu",
                               "%s: longer than %g characters"),
                         path, k->valuedouble, n);
    if (!w->tool && (rc = validate_pattern(w, s, v, path)) < 0)
        return rc;
    return 0;
}

static int validate_array(const walk *w, const cJSON *s, const cJSON *v, const char *path,
                          int depth)
{
    size_t n = (size_t)cJSON_GetArraySize(v);
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "minItems")) && n < (size_t)k->valuedouble)
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "%s: must have at least %.0f items, got %zu",
                               "%s: fewer than %g items"),
                         path, k->valuedouble, n);
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "maxItems")) && n > (size_t)k->valuedouble)
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "%s: must have at most %.0f items, got %zu",
                               "%s: more than %g items"),
                         path, k->valuedouble, n);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!items)
            break;
        char sub[512];
        pathf(sub, sizeof sub, "%s[%zu]", path, i++);
        int rc = validate(w, items, e, sub, depth + 1);
        if (rc < 0)
            return rc;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "uniqueItems"))) {
        for (const cJSON *a = v->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (ef_json_equal(a, b, 0))
                    return ef_errorf(w->ctx, EF_EINVAL, "%s: items are not unique", path);
    }
    return 0;
}

/* A field that the schema does not declare while additionalProperties is false. */
static int unknown_field(const walk *w, const cJSON *props, const char *path, const char *sub,
                         const char *name)
{
    if (!w->tool)
        return ef_errorf(w->ctx, EF_EINVAL, "%s: unexpected property '%s'", path, name);
    char known[256] = "";
    const cJSON *p;
    cJSON_ArrayForEach(p, props)
    {
        size_t n = strlen(known);
        snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "", p->string);
    }
    return ef_errorf(w->ctx, EF_EINVAL, "%s: unknown field (expected: %s)", sub,
                     known[0] ? known : "none");
}

static int validate_object(const walk *w, const cJSON *s, const cJSON *v, const char *path,
                           int depth)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    const cJSON *e;
    if (cJSON_IsArray(req)) {
        cJSON_ArrayForEach(e, req)
        {
            if (cJSON_IsString(e) && !cJSON_GetObjectItemCaseSensitive(v, e->valuestring))
                return ef_errorf(w->ctx, EF_EINVAL,
                                 WORDS(w, "%s.%s: required field is missing",
                                       "%s: missing required property '%s'"),
                                 path, e->valuestring);
        }
    }
    cJSON_ArrayForEach(e, v)
    {
        char sub[512];
        pathf(sub, sizeof sub, "%s.%s", path, e->string);
        const cJSON *ps = props ? cJSON_GetObjectItemCaseSensitive(props, e->string) : NULL;
        int rc = 0;
        if (ps)
            rc = validate(w, ps, e, sub, depth + 1);
        else if (cJSON_IsFalse(addl))
            rc = unknown_field(w, props, path, sub, e->string);
        else if (cJSON_IsObject(addl))
            rc = validate(w, addl, e, sub, depth + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int validate_combined(const walk *w, const cJSON *s, const cJSON *v, const char *path,
                             int depth)
{
    walk quiet = *w; /* alternatives are tried without leaving messages */
    quiet.ctx = NULL;
    const cJSON *k, *it;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "allOf"))) {
        cJSON_ArrayForEach(it, k)
        {
            int rc = validate(w, it, v, path, depth + 1);
            if (rc < 0)
                return rc;
        }
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "anyOf")) ||
        (k = cJSON_GetObjectItemCaseSensitive(s, "oneOf"))) {
        int n_ok = 0;
        cJSON_ArrayForEach(it, k) n_ok += validate(&quiet, it, v, path, depth + 1) == 0;
        int one = strcmp(k->string, "oneOf") == 0;
        if (n_ok == 0 || (one && n_ok != 1))
            return ef_errorf(w->ctx, EF_EINVAL, "%s: matches %d of the %s alternatives", path,
                             n_ok, k->string);
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "not")) &&
        validate(&quiet, k, v, path, depth + 1) == 0)
        return ef_errorf(w->ctx, EF_EINVAL, "%s: matches a schema it must not match", path);
    return 0;
}

static int validate(const walk *w, const cJSON *s, const cJSON *v, const char *path, int depth)
{
    if (depth > w->max_depth)
        return ef_errorf(w->ctx, EF_ELIMIT,
                         WORDS(w, "%s: nested deeper than %d levels", "%s: nested deeper than %d"),
                         path, w->max_depth);
    if (cJSON_IsBool(s))
        return cJSON_IsTrue(s) ? 0 : ef_errorf(w->ctx, EF_EINVAL, "%s: not allowed", path);
    if (!cJSON_IsObject(s))
        return 0;
    int rc = validate_type(w, s, v, path);
    if (rc < 0)
        return rc;
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "enum")) && cJSON_IsArray(k) &&
        (rc = validate_enum(w, k, v, path)) < 0)
        return rc;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "const")) && !ef_json_equal(v, k, 0)) {
        char shown[64];
        show_value(k, shown, sizeof shown);
        return ef_errorf(w->ctx, EF_EINVAL,
                         WORDS(w, "%s: must be %s", "%s: does not equal the required constant"),
                         path, shown);
    }
    if (cJSON_IsNumber(v))
        rc = validate_number(w, s, v, path);
    else if (cJSON_IsString(v))
        rc = validate_string(w, s, v, path);
    else if (cJSON_IsArray(v))
        rc = validate_array(w, s, v, path, depth);
    else if (cJSON_IsObject(v))
        rc = validate_object(w, s, v, path, depth);
    if (rc < 0)
        return rc;
    return validate_combined(w, s, v, path, depth);
}

int ef_jschema_validate(ef_ctx *ctx, const cJSON *schema, const cJSON *value,
                        const ef_jschema_options *opts)
{
    walk w;
    walk_init(&w, ctx, opts);
    return validate(&w, schema, value, root_name(opts), 0);
}

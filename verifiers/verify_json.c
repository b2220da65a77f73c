/*
 * verifiers/verify_json.c — JSON verification: deep equality (numbers by value, objects
 * unordered, optional subset match), a JSON Schema subset (type, properties, required,
 * additionalProperties, items, enum, const, numeric and length bounds, pattern,
 * uniqueItems, allOf/anyOf/oneOf/not) with both a validator for instances and a checker
 * for schemas themselves, and final-state hashes over canonical JSON.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include "common/hash.h"
#include "common/json.h"
#include "verifiers/verifiers.h"

#define MAX_DEPTH 64

/* snprintf for JSON paths; deep paths are cut (they only appear in messages). */
static void pathf(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pathf(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

int ef_verify_json_equal(const cJSON *a, const cJSON *e, int subset)
{
    if (!a || !e)
        return a == e;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(e))
        return a->valuedouble == e->valuedouble;
    if (cJSON_IsBool(a) && cJSON_IsBool(e))
        return cJSON_IsTrue(a) == cJSON_IsTrue(e);
    if ((a->type & 0xFF) != (e->type & 0xFF))
        return 0;
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, e->valuestring) == 0;
    if (cJSON_IsNull(a))
        return 1;
    if (cJSON_IsArray(a)) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(e))
            return 0;
        const cJSON *x = a->child, *y = e->child;
        for (; x && y; x = x->next, y = y->next)
            if (!ef_verify_json_equal(x, y, subset))
                return 0;
        return 1;
    }
    if (cJSON_IsObject(a)) {
        if (!subset && cJSON_GetArraySize(a) != cJSON_GetArraySize(e))
            return 0;
        const cJSON *y;
        cJSON_ArrayForEach(y, e) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, y->string);
            if (!x || !ef_verify_json_equal(x, y, subset))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* ---- JSON Schema: checking the schema itself ---------------------------------------- */

static const char *const type_names[] = {"object", "array", "string", "number", "integer",
                                         "boolean", "null"};

static int is_type_name(const char *s)
{
    for (size_t i = 0; i < EF_ARRAY_LEN(type_names); i++)
        if (strcmp(s, type_names[i]) == 0)
            return 1;
    return 0;
}

static int check_schema(ef_ctx *ctx, const cJSON *s, const char *path, int depth);

static int check_schema_list(ef_ctx *ctx, const cJSON *v, const char *path, int depth)
{
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
        return ef_errorf(ctx, EF_EINVAL, "%s must be a non-empty array of schemas", path);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        char p[512];
        pathf(p, sizeof p, "%s[%d]", path, i++);
        int rc = check_schema(ctx, it, p, depth + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int check_nonneg_int(ef_ctx *ctx, const cJSON *v, const char *path)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble))
        return ef_errorf(ctx, EF_EINVAL, "%s must be a non-negative integer", path);
    return 0;
}

static int check_keyword(ef_ctx *ctx, const cJSON *s, const cJSON *kw, const char *path,
                         int depth)
{
    const char *k = kw->string;
    char p[512];
    pathf(p, sizeof p, "%s.%s", path, k);
    if (strcmp(k, "type") == 0) {
        if (cJSON_IsString(kw)) {
            if (!is_type_name(kw->valuestring))
                return ef_errorf(ctx, EF_EINVAL,
                                 "%s: '%s' is not a JSON Schema type (object, array, string, "
                                 "number, integer, boolean, null)",
                                 p, kw->valuestring);
            return 0;
        }
        if (cJSON_IsArray(kw) && cJSON_GetArraySize(kw) > 0) {
            const cJSON *t;
            cJSON_ArrayForEach(t, kw) {
                if (!cJSON_IsString(t) || !is_type_name(t->valuestring))
                    return ef_errorf(ctx, EF_EINVAL, "%s: every entry must be a type name", p);
            }
            return 0;
        }
        return ef_errorf(ctx, EF_EINVAL, "%s must be a type name or a list of them", p);
    }
    if (strcmp(k, "properties") == 0) {
        if (!cJSON_IsObject(kw))
            return ef_errorf(ctx, EF_EINVAL, "%s must be an object of schemas, got %s", p,
                             ef_json_type_name(kw));
        const cJSON *it;
        cJSON_ArrayForEach(it, kw) {
            char q[512];
            pathf(q, sizeof q, "%s.%s", p, it->string);
            int rc = check_schema(ctx, it, q, depth + 1);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (strcmp(k, "required") == 0) {
        if (!cJSON_IsArray(kw))
            return ef_errorf(ctx, EF_EINVAL, "%s must be an array of property names, got %s", p,
                             ef_json_type_name(kw));
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
        const cJSON *it;
        cJSON_ArrayForEach(it, kw) {
            if (!cJSON_IsString(it))
                return ef_errorf(ctx, EF_EINVAL, "%s: entries must be strings, got %s", p,
                                 ef_json_type_name(it));
            if (!props || !cJSON_GetObjectItemCaseSensitive(props, it->valuestring))
                return ef_errorf(ctx, EF_EINVAL,
                                 "%s: '%s' is required but not declared in properties", p,
                                 it->valuestring);
        }
        return 0;
    }
    if (strcmp(k, "items") == 0 || strcmp(k, "not") == 0 ||
        strcmp(k, "additionalProperties") == 0) {
        if (cJSON_IsBool(kw) && strcmp(k, "not") != 0)
            return 0;
        return check_schema(ctx, kw, p, depth + 1);
    }
    if (strcmp(k, "allOf") == 0 || strcmp(k, "anyOf") == 0 || strcmp(k, "oneOf") == 0)
        return check_schema_list(ctx, kw, p, depth);
    if (strcmp(k, "enum") == 0) {
        if (!cJSON_IsArray(kw) || cJSON_GetArraySize(kw) == 0)
            return ef_errorf(ctx, EF_EINVAL, "%s must be a non-empty array", p);
        return 0;
    }
    if (strcmp(k, "minimum") == 0 || strcmp(k, "maximum") == 0 ||
        strcmp(k, "exclusiveMinimum") == 0 || strcmp(k, "exclusiveMaximum") == 0 ||
        strcmp(k, "multipleOf") == 0) {
        if (!cJSON_IsNumber(kw))
            return ef_errorf(ctx, EF_EINVAL, "%s must be a number, got %s", p,
                             ef_json_type_name(kw));
        if (strcmp(k, "multipleOf") == 0 && !(kw->valuedouble > 0))
            return ef_errorf(ctx, EF_EINVAL, "%s must be > 0", p);
        return 0;
    }
    if (strcmp(k, "minLength") == 0 || strcmp(k, "maxLength") == 0 ||
        strcmp(k, "minItems") == 0 || strcmp(k, "maxItems") == 0 ||
        strcmp(k, "minProperties") == 0 || strcmp(k, "maxProperties") == 0)
        return check_nonneg_int(ctx, kw, p);
    if (strcmp(k, "pattern") == 0) {
        if (!cJSON_IsString(kw))
            return ef_errorf(ctx, EF_EINVAL, "%s must be a string", p);
        regex_t re;
        if (regcomp(&re, kw->valuestring, REG_EXTENDED | REG_NOSUB) != 0)
            return ef_errorf(ctx, EF_EINVAL, "%s: '%s' is not a valid regular expression", p,
                             kw->valuestring);
        regfree(&re);
        return 0;
    }
    if (strcmp(k, "uniqueItems") == 0 || strcmp(k, "nullable") == 0) {
        if (!cJSON_IsBool(kw))
            return ef_errorf(ctx, EF_EINVAL, "%s must be a boolean", p);
        return 0;
    }
    if (strcmp(k, "description") == 0 || strcmp(k, "title") == 0 || strcmp(k, "format") == 0 ||
        strcmp(k, "$schema") == 0 || strcmp(k, "$id") == 0 || strcmp(k, "$comment") == 0) {
        if (!cJSON_IsString(kw))
            return ef_errorf(ctx, EF_EINVAL, "%s must be a string, got %s", p,
                             ef_json_type_name(kw));
        return 0;
    }
    if (strcmp(k, "default") == 0 || strcmp(k, "examples") == 0 || strcmp(k, "const") == 0)
        return 0;
    (void)s;
    return ef_errorf(ctx, EF_EINVAL,
                     "%s: unknown JSON Schema keyword '%s' (a typo? known: type, properties, "
                     "required, items, enum, const, minimum, maximum, minLength, maxLength, "
                     "pattern, minItems, maxItems, additionalProperties, anyOf, oneOf, allOf, "
                     "not, description, default)",
                     path, k);
}

static int check_schema(ef_ctx *ctx, const cJSON *s, const char *path, int depth)
{
    if (depth > MAX_DEPTH)
        return ef_errorf(ctx, EF_ELIMIT, "%s: schema nested deeper than %d", path, MAX_DEPTH);
    if (cJSON_IsBool(s))
        return 0;
    if (!cJSON_IsObject(s))
        return ef_errorf(ctx, EF_EINVAL, "%s: a schema must be an object, got %s", path,
                         ef_json_type_name(s));
    const cJSON *kw;
    cJSON_ArrayForEach(kw, s) {
        int rc = check_keyword(ctx, s, kw, path, depth);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int ef_verify_schema_check(ef_ctx *ctx, const cJSON *schema, const char *where)
{
    return check_schema(ctx, schema, where ? where : "schema", 0);
}

/* ---- JSON Schema: validating instances ----------------------------------------------- */

static const char *inst_type(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9.1e15
                   ? "integer"
                   : "number";
    return ef_json_type_name(v);
}

static int type_ok(const cJSON *v, const char *t)
{
    if (strcmp(t, "integer") == 0)
        return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
               isfinite(v->valuedouble);
    if (strcmp(t, "number") == 0)
        return cJSON_IsNumber(v);
    if (strcmp(t, "string") == 0)
        return cJSON_IsString(v);
    if (strcmp(t, "boolean") == 0)
        return cJSON_IsBool(v);
    if (strcmp(t, "null") == 0)
        return cJSON_IsNull(v);
    if (strcmp(t, "object") == 0)
        return cJSON_IsObject(v);
    if (strcmp(t, "array") == 0)
        return cJSON_IsArray(v);
    return 0;
}

/* Number of code points in a UTF-8 string. */
static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static int validate(ef_ctx *ctx, const cJSON *s, const cJSON *v, const char *path, int depth);

static int validate_keywords(ef_ctx *ctx, const cJSON *s, const cJSON *v, const char *path,
                             int depth)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (cJSON_IsString(t)) {
        if (!type_ok(v, t->valuestring) &&
            !(cJSON_IsNull(v) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "nullable"))))
            return ef_errorf(ctx, EF_EINVAL, "%s: expected %s, got %s", path, t->valuestring,
                             inst_type(v));
    } else if (cJSON_IsArray(t)) {
        int ok = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, t) ok |= cJSON_IsString(it) && type_ok(v, it->valuestring);
        if (!ok)
            return ef_errorf(ctx, EF_EINVAL, "%s: %s is none of the allowed types", path,
                             inst_type(v));
    }
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    if (cJSON_IsArray(en)) {
        int ok = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, en) ok |= ef_verify_json_equal(v, it, 0);
        if (!ok) {
            char *txt = ef_json_print(v);
            int rc = ef_errorf(ctx, EF_EINVAL, "%s: %s is not one of the allowed values", path,
                               txt ? txt : "value");
            ef_free(txt);
            return rc;
        }
    }
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(s, "const");
    if (cn && !ef_verify_json_equal(v, cn, 0))
        return ef_errorf(ctx, EF_EINVAL, "%s: does not equal the required constant", path);
    if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        const cJSON *k;
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "minimum")) && x < k->valuedouble)
            return ef_errorf(ctx, EF_EINVAL, "%s: %g is below the minimum %g", path, x,
                             k->valuedouble);
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "maximum")) && x > k->valuedouble)
            return ef_errorf(ctx, EF_EINVAL, "%s: %g is above the maximum %g", path, x,
                             k->valuedouble);
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "exclusiveMinimum")) &&
            cJSON_IsNumber(k) && x <= k->valuedouble)
            return ef_errorf(ctx, EF_EINVAL, "%s: %g must be > %g", path, x, k->valuedouble);
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "exclusiveMaximum")) &&
            cJSON_IsNumber(k) && x >= k->valuedouble)
            return ef_errorf(ctx, EF_EINVAL, "%s: %g must be < %g", path, x, k->valuedouble);
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "multipleOf")) && k->valuedouble > 0) {
            double q = x / k->valuedouble;
            if (fabs(q - round(q)) > 1e-9)
                return ef_errorf(ctx, EF_EINVAL, "%s: %g is not a multiple of %g", path, x,
                                 k->valuedouble);
        }
    }
    if (cJSON_IsString(v)) {
        size_t n = utf8_len(v->valuestring);
        const cJSON *k;
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "minLength")) && n < (size_t)k->valuedouble)
            return ef_errorf(ctx, EF_EINVAL, "%s: shorter than %g characters", path,
                             k->valuedouble);
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "maxLength")) && n > (size_t)k->valuedouble)
            return ef_errorf(ctx, EF_EINVAL, "%s: longer than %g characters", path,
                             k->valuedouble);
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "pattern")) && cJSON_IsString(k)) {
            regex_t re;
            if (regcomp(&re, k->valuestring, REG_EXTENDED | REG_NOSUB) != 0)
                return ef_errorf(ctx, EF_EINVAL, "%s: schema pattern '%s' does not compile",
                                 path, k->valuestring);
            int m = regexec(&re, v->valuestring, 0, NULL, 0);
            regfree(&re);
            if (m != 0)
                return ef_errorf(ctx, EF_EINVAL, "%s: '%s' does not match pattern '%s'", path,
                                 v->valuestring, k->valuestring);
        }
    }
    if (cJSON_IsArray(v)) {
        size_t n = (size_t)cJSON_GetArraySize(v);
        const cJSON *k;
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "minItems")) && n < (size_t)k->valuedouble)
            return ef_errorf(ctx, EF_EINVAL, "%s: fewer than %g items", path, k->valuedouble);
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "maxItems")) && n > (size_t)k->valuedouble)
            return ef_errorf(ctx, EF_EINVAL, "%s: more than %g items", path, k->valuedouble);
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, v) {
            char p[512];
            pathf(p, sizeof p, "%s[%d]", path, i++);
            if (items) {
                int rc = validate(ctx, items, it, p, depth + 1);
                if (rc < 0)
                    return rc;
            }
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "uniqueItems"))) {
            for (const cJSON *a = v->child; a; a = a->next)
                for (const cJSON *b = a->next; b; b = b->next)
                    if (ef_verify_json_equal(a, b, 0))
                        return ef_errorf(ctx, EF_EINVAL, "%s: items are not unique", path);
        }
    }
    if (cJSON_IsObject(v)) {
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
        const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
        const cJSON *it;
        if (cJSON_IsArray(req)) {
            cJSON_ArrayForEach(it, req) {
                if (cJSON_IsString(it) &&
                    !cJSON_GetObjectItemCaseSensitive(v, it->valuestring))
                    return ef_errorf(ctx, EF_EINVAL, "%s: missing required property '%s'",
                                     path, it->valuestring);
            }
        }
        cJSON_ArrayForEach(it, v) {
            char p[512];
            pathf(p, sizeof p, "%s.%s", path, it->string);
            const cJSON *ps = props ? cJSON_GetObjectItemCaseSensitive(props, it->string) : NULL;
            if (ps) {
                int rc = validate(ctx, ps, it, p, depth + 1);
                if (rc < 0)
                    return rc;
            } else if (cJSON_IsFalse(addl)) {
                return ef_errorf(ctx, EF_EINVAL, "%s: unexpected property '%s'", path,
                                 it->string);
            } else if (cJSON_IsObject(addl)) {
                int rc = validate(ctx, addl, it, p, depth + 1);
                if (rc < 0)
                    return rc;
            }
        }
    }
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "allOf"))) {
        const cJSON *it;
        cJSON_ArrayForEach(it, k) {
            int rc = validate(ctx, it, v, path, depth + 1);
            if (rc < 0)
                return rc;
        }
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "anyOf")) ||
        (k = cJSON_GetObjectItemCaseSensitive(s, "oneOf"))) {
        int n_ok = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, k) n_ok += validate(NULL, it, v, path, depth + 1) == 0;
        int one = strcmp(k->string, "oneOf") == 0;
        if (n_ok == 0 || (one && n_ok != 1))
            return ef_errorf(ctx, EF_EINVAL, "%s: matches %d of the %s alternatives", path, n_ok,
                             k->string);
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "not")) &&
        validate(NULL, k, v, path, depth + 1) == 0)
        return ef_errorf(ctx, EF_EINVAL, "%s: matches a schema it must not match", path);
    return 0;
}

static int validate(ef_ctx *ctx, const cJSON *s, const cJSON *v, const char *path, int depth)
{
    if (depth > MAX_DEPTH)
        return ef_errorf(ctx, EF_ELIMIT, "%s: nested deeper than %d", path, MAX_DEPTH);
    if (cJSON_IsBool(s))
        return cJSON_IsTrue(s) ? 0 : ef_errorf(ctx, EF_EINVAL, "%s: not allowed", path);
    if (!cJSON_IsObject(s))
        return 0;
    return validate_keywords(ctx, s, v, path, depth);
}

int ef_verify_schema_validate(ef_ctx *ctx, const cJSON *schema, const cJSON *instance,
                              const char *where)
{
    return validate(ctx, schema, instance, where ? where : "value", 0);
}

/* ---- ef_verify_json ----------------------------------------------------------------- */

/* Strips a ```json ... ``` fence and surrounding space. */
static void unfence(const char *s, const char **p, size_t *n)
{
    size_t len = strlen(s);
    size_t a = 0, b = len;
    while (a < b && (s[a] == ' ' || s[a] == '\n' || s[a] == '\t' || s[a] == '\r'))
        a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\n' || s[b - 1] == '\t' || s[b - 1] == '\r'))
        b--;
    if (b - a >= 6 && strncmp(s + a, "```", 3) == 0 && strncmp(s + b - 3, "```", 3) == 0) {
        const char *nl = memchr(s + a, '\n', b - a);
        if (nl && (size_t)(nl - s) < b - 3) {
            a = (size_t)(nl - s) + 1;
            b -= 3;
        }
    }
    *p = s + a;
    *n = b - a;
}

int ef_verify_json(ef_ctx *ctx, const char *answer, const char *expected, const char *schema,
                   const ef_verify_json_options *opts, double *reward)
{
    ef_verify_json_options def = EF_VERIFY_JSON_OPTIONS_INIT;
    if (!opts)
        opts = &def;
    cJSON *e = NULL, *sc = NULL, *a = NULL;
    int rc = 0;
    if (expected && ef_json_parse(ctx, expected, strlen(expected), "verify.json expected", &e) < 0) {
        rc = EF_EINVAL;
        goto cleanup;
    }
    if (schema) {
        if (ef_json_parse(ctx, schema, strlen(schema), "verify.json schema", &sc) < 0 ||
            ef_verify_schema_check(ctx, sc, "verify.json schema") < 0) {
            rc = EF_EINVAL;
            goto cleanup;
        }
    }
    *reward = 0;
    if (!answer)
        goto cleanup;
    const char *p;
    size_t n;
    unfence(answer, &p, &n);
    a = cJSON_ParseWithLength(p, n);
    if (!a)
        goto cleanup;
    if (sc && ef_verify_schema_validate(NULL, sc, a, "answer") < 0)
        goto cleanup;
    if (e && !ef_verify_json_equal(a, e, opts->subset))
        goto cleanup;
    *reward = 1;
cleanup:
    cJSON_Delete(a);
    cJSON_Delete(e);
    cJSON_Delete(sc);
    return rc;
}

/* ---- final state ------------------------------------------------------------------------ */

int ef_verify_state_hash(ef_ctx *ctx, const cJSON *state, char out[65])
{
    char *txt = ef_json_canonical(state);
    if (!txt)
        return ef_errorf(ctx, EF_ENOMEM, "verify.state_hash: out of memory");
    ef_sha256_hex(txt, strlen(txt), out);
    ef_free(txt);
    return 0;
}

int ef_verify_state_match(ef_ctx *ctx, const char *state_json, const char *expected_json,
                          double *reward)
{
    cJSON *a = NULL, *e = NULL;
    int rc = 0;
    if (!expected_json ||
        ef_json_parse(ctx, expected_json, strlen(expected_json), "expected state", &e) < 0) {
        rc = EF_EINVAL;
        goto cleanup;
    }
    *reward = 0;
    if (!state_json || !(a = cJSON_Parse(state_json)))
        goto cleanup;
    char ha[65], he[65];
    if ((rc = ef_verify_state_hash(ctx, a, ha)) < 0 || (rc = ef_verify_state_hash(ctx, e, he)) < 0)
        goto cleanup;
    *reward = strcmp(ha, he) == 0 ? 1 : 0;
cleanup:
    cJSON_Delete(a);
    cJSON_Delete(e);
    return rc;
}

/*
 * verifiers/verify_json.c — JSON verification: an answer compared with the expected value
 * (ef_json_equal: numbers by value, objects unordered, optional subset match) and checked
 * against a JSON Schema (common/jschema.c in its full dialect: type, properties, required,
 * additionalProperties, items, enum, const, numeric and length bounds, pattern,
 * uniqueItems, allOf/anyOf/oneOf/not), and final-state hashes over canonical JSON.
 */
#include <string.h>
#include "common/hash.h"
#include "common/jschema.h"
#include "common/json.h"
#include "verifiers/verifiers.h"

int ef_verify_json_equal(const cJSON *a, const cJSON *e, int subset)
{
    return ef_json_equal(a, e, subset);
}

/* ---- JSON Schema: common/jschema.c in its full dialect ------------------------------ */

int ef_verify_schema_check(ef_ctx *ctx, const cJSON *schema, const char *where)
{
    ef_jschema_options o = EF_JSCHEMA_OPTIONS_INIT;
    o.root = where ? where : "schema";
    return ef_jschema_check(ctx, schema, &o);
}

int ef_verify_schema_validate(ef_ctx *ctx, const cJSON *schema, const cJSON *instance,
                              const char *where)
{
    ef_jschema_options o = EF_JSCHEMA_OPTIONS_INIT;
    o.root = where ? where : "value";
    return ef_jschema_validate(ctx, schema, instance, &o);
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

/* The last top-level JSON object or array in text (scanning from the start, a value that
 * parses is skipped whole, so an inner object is not taken for the last one). Only the
 * last 64 KiB are scanned. NULL when there is none. */
#define EXTRACT_SCAN_MAX ((size_t)64 << 10)
static cJSON *extract_last_json(const char *p, size_t n)
{
    if (n > EXTRACT_SCAN_MAX) {
        p += n - EXTRACT_SCAN_MAX;
        n = EXTRACT_SCAN_MAX;
    }
    cJSON *last = NULL;
    size_t i = 0;
    while (i < n) {
        if (p[i] != '{' && p[i] != '[') {
            i++;
            continue;
        }
        const char *end = NULL;
        cJSON *v = cJSON_ParseWithLengthOpts(p + i, n - i, &end, 0);
        if (v && end && end > p + i) {
            cJSON_Delete(last);
            last = v;
            i = (size_t)(end - p);
        } else {
            cJSON_Delete(v);
            i++;
        }
    }
    return last;
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
    if (!a && opts->extract)
        a = extract_last_json(p, n);
    if (!a)
        goto cleanup;
    if (sc && ef_verify_schema_validate(NULL, sc, a, "answer") < 0)
        goto cleanup;
    if (e && !ef_json_equal(a, e, opts->subset))
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

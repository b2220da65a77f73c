/*
 * common/json.c — JSON helpers over cJSON: parsing with line/column errors, path
 * lookups whose errors name the path, typed getters, deep equality, and canonical text
 * for hashing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include "common/json.h"

static void *json_malloc(size_t n)
{
    return ef_malloc(n);
}

void ef_json_init(void)
{
    cJSON_Hooks hooks = {json_malloc, ef_free};
    cJSON_InitHooks(&hooks);
}

const char *ef_json_type_name(const cJSON *item)
{
    if (!item)
        return "missing";
    switch (item->type & 0xff) {
    case cJSON_False:
    case cJSON_True:
        return "boolean";
    case cJSON_NULL:
        return "null";
    case cJSON_Number:
        return "number";
    case cJSON_String:
        return "string";
    case cJSON_Array:
        return "array";
    case cJSON_Object:
        return "object";
    case cJSON_Raw:
        return "raw";
    default:
        return "invalid";
    }
}

int ef_json_text_has_nul(const char *text)
{
    for (const char *p = text; p && (p = strstr(p, "u0000")) != NULL; p++) {
        size_t k = 0; /* backslashes just before: an odd count escapes the u */
        while (p - k > text && p[-(ptrdiff_t)k - 1] == '\\')
            k++;
        if (k % 2 == 1)
            return 1;
    }
    return 0;
}

int ef_json_parse(ef_ctx *ctx, const char *text, size_t len, const char *what, cJSON **out)
{
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!doc) {
        if (!end) /* cJSON gives no position when allocation failed */
            return ef_errorf(ctx, EF_ENOMEM, "%s: out of memory parsing JSON", what);
        size_t off = (size_t)(end - text), line = 1, col = 1;
        for (size_t i = 0; i < off && i < len; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        if (off + 1 >= len)
            return ef_errorf(ctx, EF_EPARSE, "%s:%zu:%zu: invalid JSON (unexpected end of input)",
                             what, line, col);
        int near = (int)EF_MIN(len - off, (size_t)20); /* text need not be NUL-terminated */
        return ef_errorf(ctx, EF_EPARSE, "%s:%zu:%zu: invalid JSON near '%.*s'", what, line, col,
                         near, end);
    }
    /* trailing garbage after the value (other than whitespace) is an error */
    size_t off = (size_t)(end - text);
    while (off < len &&
           (text[off] == ' ' || text[off] == '\n' || text[off] == '\r' || text[off] == '\t'))
        off++;
    if (off < len && text[off] != '\0') {
        cJSON_Delete(doc);
        return ef_errorf(ctx, EF_EPARSE, "%s: invalid JSON: extra data at byte %zu", what, off);
    }
    *out = doc;
    return 0;
}

/* Walks "a.b[2].c"; on failure names the prefix that was missing or of the wrong type. */
int ef_json_get(ef_ctx *ctx, const cJSON *obj, const char *path, const cJSON **out)
{
    const cJSON *cur = obj;
    const char *p = path;
    char key[256];
    while (*p) {
        if (*p == '.') {
            p++;
            continue;
        }
        if (*p == '[') {
            char *endp;
            long idx = strtol(p + 1, &endp, 10);
            if (endp == p + 1 || *endp != ']' || idx < 0)
                return ef_errorf(ctx, EF_EINVAL, "JSON path '%s': bad index syntax", path);
            if (!cJSON_IsArray(cur))
                return ef_errorf(ctx, EF_EINVAL, "JSON path '%.*s': expected array, got %s",
                                 (int)(p - path), path, ef_json_type_name(cur));
            const cJSON *next = cJSON_GetArrayItem(cur, (int)idx);
            p = endp + 1;
            if (!next)
                return ef_errorf(ctx, EF_ENOTFOUND, "JSON path '%.*s': index %ld out of range",
                                 (int)(p - path), path, idx);
            cur = next;
            continue;
        }
        size_t n = strcspn(p, ".[");
        if (n >= sizeof key)
            return ef_errorf(ctx, EF_EINVAL, "JSON path '%s': key too long", path);
        memcpy(key, p, n);
        key[n] = '\0';
        if (!cJSON_IsObject(cur))
            return ef_errorf(ctx, EF_EINVAL, "JSON path '%.*s': expected object, got %s",
                             (int)(p - path), path[0] && p > path ? path : "(root)",
                             ef_json_type_name(cur));
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, key);
        p += n;
        if (!next)
            return ef_errorf(ctx, EF_ENOTFOUND, "JSON path '%.*s': missing", (int)(p - path), path);
        cur = next;
    }
    *out = cur;
    return 0;
}

static int typed(ef_ctx *ctx, const cJSON *obj, const char *path, int ok_type, const char *want,
                 const cJSON **out)
{
    const cJSON *it = NULL;
    int rc = ef_json_get(ctx, obj, path, &it);
    if (rc)
        return rc;
    int t = it->type & 0xff;
    if (!(t & ok_type))
        return ef_errorf(ctx, EF_EINVAL, "JSON path '%s': expected %s, got %s", path, want,
                         ef_json_type_name(it));
    *out = it;
    return 0;
}

int ef_json_get_str(ef_ctx *ctx, const cJSON *obj, const char *path, const char **out)
{
    const cJSON *it = NULL;
    int rc = typed(ctx, obj, path, cJSON_String, "string", &it);
    if (!rc)
        *out = it->valuestring;
    return rc;
}

int ef_json_get_num(ef_ctx *ctx, const cJSON *obj, const char *path, double *out)
{
    const cJSON *it = NULL;
    int rc = typed(ctx, obj, path, cJSON_Number, "number", &it);
    if (!rc)
        *out = it->valuedouble;
    return rc;
}

int ef_json_get_int(ef_ctx *ctx, const cJSON *obj, const char *path, int64_t *out)
{
    const cJSON *it = NULL;
    int rc = typed(ctx, obj, path, cJSON_Number, "integer", &it);
    if (rc)
        return rc;
    double v = it->valuedouble;
    if (v != floor(v) || fabs(v) > 9007199254740992.0)
        return ef_errorf(ctx, EF_EINVAL, "JSON path '%s': expected integer, got %.17g", path, v);
    *out = (int64_t)v;
    return 0;
}

int ef_json_get_bool(ef_ctx *ctx, const cJSON *obj, const char *path, int *out)
{
    const cJSON *it = NULL;
    int rc = typed(ctx, obj, path, cJSON_True | cJSON_False, "boolean", &it);
    if (!rc)
        *out = cJSON_IsTrue(it);
    return rc;
}

int ef_json_get_obj(ef_ctx *ctx, const cJSON *obj, const char *path, const cJSON **out)
{
    return typed(ctx, obj, path, cJSON_Object, "object", out);
}

int ef_json_get_arr(ef_ctx *ctx, const cJSON *obj, const char *path, const cJSON **out)
{
    return typed(ctx, obj, path, cJSON_Array, "array", out);
}

/* Missing or null → default; present with the wrong type → error. */
static int is_absent(const cJSON *obj, const char *path)
{
    const cJSON *it = NULL;
    int rc = ef_json_get(NULL, obj, path, &it);
    return rc == EF_ENOTFOUND || (rc == 0 && cJSON_IsNull(it));
}

int ef_json_opt_str(ef_ctx *ctx, const cJSON *obj, const char *path, const char *def,
                    const char **out)
{
    if (is_absent(obj, path)) {
        *out = def;
        return 0;
    }
    return ef_json_get_str(ctx, obj, path, out);
}

int ef_json_opt_int(ef_ctx *ctx, const cJSON *obj, const char *path, int64_t def, int64_t *out)
{
    if (is_absent(obj, path)) {
        *out = def;
        return 0;
    }
    return ef_json_get_int(ctx, obj, path, out);
}

int ef_json_opt_num(ef_ctx *ctx, const cJSON *obj, const char *path, double def, double *out)
{
    if (is_absent(obj, path)) {
        *out = def;
        return 0;
    }
    return ef_json_get_num(ctx, obj, path, out);
}

int ef_json_opt_bool(ef_ctx *ctx, const cJSON *obj, const char *path, int def, int *out)
{
    if (is_absent(obj, path)) {
        *out = def;
        return 0;
    }
    return ef_json_get_bool(ctx, obj, path, out);
}

char *ef_json_print(const cJSON *item)
{
    return cJSON_PrintUnformatted(item);
}

int ef_json_equal(const cJSON *a, const cJSON *expected, int subset)
{
    const cJSON *e = expected;
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
            if (!ef_json_equal(x, y, subset))
                return 0;
        return 1;
    }
    if (cJSON_IsObject(a)) {
        if (!subset && cJSON_GetArraySize(a) != cJSON_GetArraySize(e))
            return 0;
        const cJSON *y;
        cJSON_ArrayForEach(y, e) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, y->string);
            if (!x || !ef_json_equal(x, y, subset))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* ---- canonical form: sorted keys, compact, shortest round-trip numbers ---- */

const char *ef_json_escape_byte(unsigned char c, char ubuf[8])
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    default:
        if (c >= 0x20)
            return NULL;
        snprintf(ubuf, 8, "\\u%04x", c);
        return ubuf;
    }
}

static int put_string(ef_buf *b, const char *s)
{
    int rc = ef_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
        char ubuf[8];
        const char *esc = ef_json_escape_byte(*p, ubuf);
        rc = esc ? ef_buf_appends(b, esc) : ef_buf_putc(b, (char)*p);
    }
    return rc ? rc : ef_buf_putc(b, '"');
}

static int put_number(ef_buf *b, double v)
{
    if (!isfinite(v))
        return ef_buf_appends(b, "null");
    if (v == floor(v) && fabs(v) < 1e15)
        return ef_buf_appendf(b, "%.0f", v == 0 ? 0.0 : v);
    char tmp[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return ef_buf_appends(b, tmp);
}

static int cmp_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static int put_value(ef_buf *b, const cJSON *it, int depth)
{
    if (depth > 512)
        return EF_ELIMIT;
    int rc = 0;
    switch (it->type & 0xff) {
    case cJSON_False:
        return ef_buf_appends(b, "false");
    case cJSON_True:
        return ef_buf_appends(b, "true");
    case cJSON_NULL:
        return ef_buf_appends(b, "null");
    case cJSON_Number:
        return put_number(b, it->valuedouble);
    case cJSON_String:
        return put_string(b, it->valuestring ? it->valuestring : "");
    case cJSON_Raw:
        return ef_buf_appends(b, it->valuestring ? it->valuestring : "null");
    case cJSON_Array: {
        rc = ef_buf_putc(b, '[');
        int first = 1;
        for (const cJSON *c = it->child; c && !rc; c = c->next) {
            if (!first)
                rc = ef_buf_putc(b, ',');
            first = 0;
            if (!rc)
                rc = put_value(b, c, depth + 1);
        }
        return rc ? rc : ef_buf_putc(b, ']');
    }
    case cJSON_Object: {
        size_t n = 0;
        for (const cJSON *c = it->child; c; c = c->next)
            n++;
        const cJSON **keys = ef_malloc(sizeof *keys * (n ? n : 1));
        if (!keys)
            return EF_ENOMEM;
        n = 0;
        for (const cJSON *c = it->child; c; c = c->next)
            keys[n++] = c;
        qsort(keys, n, sizeof *keys, cmp_keys);
        rc = ef_buf_putc(b, '{');
        for (size_t i = 0; i < n && !rc; i++) {
            if (i)
                rc = ef_buf_putc(b, ',');
            if (!rc)
                rc = put_string(b, keys[i]->string);
            if (!rc)
                rc = ef_buf_putc(b, ':');
            if (!rc)
                rc = put_value(b, keys[i], depth + 1);
        }
        ef_free(keys);
        return rc ? rc : ef_buf_putc(b, '}');
    }
    default:
        return EF_EINVAL;
    }
}

char *ef_json_canonical(const cJSON *item)
{
    ef_buf b = EF_BUF_INIT((size_t)1 << 30);
    if (put_value(&b, item, 0) != 0) {
        ef_buf_free(&b);
        return NULL;
    }
    return ef_buf_detach(&b);
}

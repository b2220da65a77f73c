/*
 * engine/encoding_pyjson.c — JSON printed the way Python's json.dumps(ensure_ascii=False)
 * prints it, which DeepSeek's encoder uses for tool schemas and non-string tool-call
 * arguments.
 *
 * Three entry points: dumping a cJSON value; re-dumping JSON text as json.dumps(json.loads
 * (text)) would (a small recursive-descent reader that keeps number text, so integers stay
 * exact and floats go through Python's shortest repr); and listing the members of an
 * object text as a Python dict holds them. Python's rules kept here: separators ", " and
 * ": "; strings escape only '"', '\\', \b \f \n \r \t and other controls as \u00xx
 * (lowercase), everything else raw UTF-8; floats print with repr (1.0, 1e+16, 1e-05,
 * Infinity, NaN); json.loads accepts NaN/Infinity/-Infinity and rejects raw control
 * characters inside strings; nesting is capped.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/json.h"
#include "common/utf8.h"
#include "engine/encoding.h"

#define MAX_DEPTH 512

/* ---- printing --------------------------------------------------------------------------- */

int ef_engine_pyjson_dump_str(const char *s, size_t len, ef_buf *out)
{
    int rc = ef_buf_putc(out, '"');
    size_t run = 0; /* start of the pending raw run */
    for (size_t i = 0; rc == 0 && i < len;) {
        unsigned char c = (unsigned char)s[i];
        char ubuf[8];
        const char *esc = ef_json_escape_byte(c, ubuf);
        if (esc) {
            rc = ef_buf_append(out, s + run, i - run);
            if (rc == 0)
                rc = ef_buf_appends(out, esc);
            i++;
            run = i;
            continue;
        }
        size_t n = ef_utf8_next((const unsigned char *)s + i, len - i, NULL);
        if (!n)
            return EF_EINVAL;
        i += n;
    }
    if (rc == 0)
        rc = ef_buf_append(out, s + run, len - run);
    if (rc == 0)
        rc = ef_buf_putc(out, '"');
    return rc;
}

/* Python's repr of a float. */
static int dump_float(double x, ef_buf *out)
{
    if (isnan(x))
        return ef_buf_appends(out, "NaN");
    if (isinf(x))
        return ef_buf_appends(out, x < 0 ? "-Infinity" : "Infinity");
    if (x == 0)
        return ef_buf_appends(out, signbit(x) ? "-0.0" : "0.0");
    /* Shortest digits that read back to x. */
    char e[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x)
            break;
    }
    /* e looks like "-d.ddde+XX": collect the digits and the decimal exponent. */
    char digits[24];
    int nd = 0, neg = e[0] == '-';
    const char *p = e + neg;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int exp10 = atoi(p + 1);
    int decpt = exp10 + 1; /* value = 0.digits * 10^decpt */
    char buf[64];
    int o = 0;
    if (neg)
        buf[o++] = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            buf[o++] = '0';
            buf[o++] = '.';
            for (int i = 0; i < -decpt; i++)
                buf[o++] = '0';
            for (int i = 0; i < nd; i++)
                buf[o++] = digits[i];
        } else {
            for (int i = 0; i < decpt; i++)
                buf[o++] = i < nd ? digits[i] : '0';
            buf[o++] = '.';
            if (nd > decpt)
                for (int i = decpt; i < nd; i++)
                    buf[o++] = digits[i];
            else
                buf[o++] = '0';
        }
        buf[o] = 0;
    } else {
        buf[o++] = digits[0];
        if (nd > 1) {
            buf[o++] = '.';
            for (int i = 1; i < nd; i++)
                buf[o++] = digits[i];
        }
        snprintf(buf + o, sizeof buf - (size_t)o, "e%c%02d", exp10 < 0 ? '-' : '+',
                 exp10 < 0 ? -exp10 : exp10);
    }
    return ef_buf_appends(out, buf);
}

static int dump_number(const cJSON *v, ef_buf *out)
{
    double d = v->valuedouble;
    /* cJSON keeps no int/float distinction: integral values within 2^53 print as ints. */
    if (isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0)
        return ef_buf_appendf(out, "%.0f", d == 0 ? 0.0 : d);
    return dump_float(d, out);
}

static int dump_value(const cJSON *v, ef_buf *out, int depth)
{
    if (depth > MAX_DEPTH)
        return EF_ELIMIT;
    if (cJSON_IsNull(v) || !v)
        return ef_buf_appends(out, "null");
    if (cJSON_IsTrue(v))
        return ef_buf_appends(out, "true");
    if (cJSON_IsFalse(v))
        return ef_buf_appends(out, "false");
    if (cJSON_IsNumber(v))
        return dump_number(v, out);
    if (cJSON_IsString(v))
        return ef_engine_pyjson_dump_str(v->valuestring, strlen(v->valuestring), out);
    if (cJSON_IsRaw(v))
        return ef_buf_appends(out, v->valuestring);
    int is_obj = cJSON_IsObject(v);
    int rc = ef_buf_putc(out, is_obj ? '{' : '[');
    int first = 1;
    for (const cJSON *c = v->child; rc == 0 && c; c = c->next) {
        if (!first)
            rc = ef_buf_appends(out, ", ");
        first = 0;
        if (rc == 0 && is_obj) {
            rc = ef_engine_pyjson_dump_str(c->string, strlen(c->string), out);
            if (rc == 0)
                rc = ef_buf_appends(out, ": ");
        }
        if (rc == 0)
            rc = dump_value(c, out, depth + 1);
    }
    if (rc == 0)
        rc = ef_buf_putc(out, is_obj ? '}' : ']');
    return rc;
}

int ef_engine_pyjson_dump(const cJSON *value, ef_buf *out)
{
    return dump_value(value, out, 0);
}

/* ---- reading JSON text as Python's json.loads does ------------------------------------- */

typedef struct {
    ef_ctx *ctx;
    const char *s;
    size_t n, i;
    int depth;
} reader;

static int rerr(reader *r, const char *what)
{
    return ef_errorf(r->ctx, EF_EPARSE, "JSON: %s at byte %zu", what, r->i);
}

static void skip_ws(reader *r)
{
    while (r->i < r->n &&
           (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r'))
        r->i++;
}

static int hex4(reader *r, unsigned *v)
{
    if (r->n - r->i < 4)
        return rerr(r, "truncated \\u escape");
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char c = r->s[r->i + (size_t)k];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return rerr(r, "bad \\u escape");
        *v = *v * 16 + d;
    }
    r->i += 4;
    return 0;
}

static int put_cp(ef_buf *b, unsigned cp)
{
    char u[4];
    int n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return ef_buf_append(b, u, (size_t)n);
}

/* Reads a string (r->i at the opening quote) and appends its decoded UTF-8 to raw. */
static int read_string(reader *r, ef_buf *raw)
{
    r->i++;
    for (;;) {
        if (r->i >= r->n)
            return rerr(r, "unterminated string");
        unsigned char c = (unsigned char)r->s[r->i];
        if (c == '"') {
            r->i++;
            return raw->data ? 0 : ef_buf_append(raw, "", 0);
        }
        if (c < 0x20)
            return rerr(r, "control character in string");
        if (c == '\\') {
            if (r->i + 1 >= r->n)
                return rerr(r, "unterminated escape");
            char e = r->s[r->i + 1];
            r->i += 2;
            int rc = 0;
            switch (e) {
            case '"':
                rc = ef_buf_putc(raw, '"');
                break;
            case '\\':
                rc = ef_buf_putc(raw, '\\');
                break;
            case '/':
                rc = ef_buf_putc(raw, '/');
                break;
            case 'b':
                rc = ef_buf_putc(raw, '\b');
                break;
            case 'f':
                rc = ef_buf_putc(raw, '\f');
                break;
            case 'n':
                rc = ef_buf_putc(raw, '\n');
                break;
            case 'r':
                rc = ef_buf_putc(raw, '\r');
                break;
            case 't':
                rc = ef_buf_putc(raw, '\t');
                break;
            case 'u': {
                unsigned cp;
                if ((rc = hex4(r, &cp)))
                    return rc;
                if (cp >= 0xd800 && cp < 0xdc00 && r->n - r->i >= 6 && r->s[r->i] == '\\' &&
                    r->s[r->i + 1] == 'u') {
                    size_t save = r->i;
                    unsigned lo;
                    r->i += 2;
                    if ((rc = hex4(r, &lo)))
                        return rc;
                    if (lo >= 0xdc00 && lo < 0xe000)
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    else
                        r->i = save;
                }
                if (cp >= 0xd800 && cp < 0xe000)
                    return rerr(r, "lone surrogate escape (not representable in UTF-8)");
                rc = put_cp(raw, cp);
                break;
            }
            default:
                r->i -= 1;
                return rerr(r, "invalid escape");
            }
            if (rc)
                return rc == EF_ELIMIT ? ef_errorf(r->ctx, rc, "JSON: value too large") : rc;
            continue;
        }
        size_t k = ef_utf8_next((const unsigned char *)r->s + r->i, r->n - r->i, NULL);
        if (!k)
            return rerr(r, "invalid UTF-8 in string");
        int rc = ef_buf_append(raw, r->s + r->i, k);
        if (rc)
            return rc;
        r->i += k;
    }
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int read_number(reader *r, ef_buf *out)
{
    size_t start = r->i;
    int is_float = 0;
    if (r->s[r->i] == '-')
        r->i++;
    if (r->i < r->n && r->s[r->i] == '0')
        r->i++;
    else if (r->i < r->n && r->s[r->i] >= '1' && r->s[r->i] <= '9')
        while (r->i < r->n && is_digit(r->s[r->i]))
            r->i++;
    else
        return rerr(r, "invalid number");
    /* Python's scanner takes the fraction and exponent only when complete. */
    if (r->i + 1 < r->n && r->s[r->i] == '.' && is_digit(r->s[r->i + 1])) {
        is_float = 1;
        r->i++;
        while (r->i < r->n && is_digit(r->s[r->i]))
            r->i++;
    }
    if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
        size_t j = r->i + 1;
        if (j < r->n && (r->s[j] == '+' || r->s[j] == '-'))
            j++;
        if (j < r->n && is_digit(r->s[j])) {
            is_float = 1;
            while (j < r->n && is_digit(r->s[j]))
                j++;
            r->i = j;
        }
    }
    if (!out)
        return 0;
    size_t len = r->i - start;
    if (!is_float) {
        const char *p = r->s + start;
        if (len == 2 && p[0] == '-' && p[1] == '0')
            return ef_buf_putc(out, '0');
        return ef_buf_append(out, p, len);
    }
    char tmp[64];
    char *num = len < sizeof tmp ? tmp : ef_malloc(len + 1);
    if (!num)
        return EF_ENOMEM;
    memcpy(num, r->s + start, len);
    num[len] = 0;
    double d = strtod(num, NULL);
    if (num != tmp)
        ef_free(num);
    return dump_float(d, out);
}

static int match_word(reader *r, const char *w)
{
    size_t n = strlen(w);
    if (r->n - r->i >= n && memcmp(r->s + r->i, w, n) == 0) {
        r->i += n;
        return 1;
    }
    return 0;
}

static int read_value(reader *r, ef_buf *out);
static int read_members(reader *r, size_t max_bytes, ef_pyjson_member **members, size_t *n_members);

static int cmp_keys(const void *a, const void *b)
{
    const ef_buf *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->data, y->data, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Whether the object at r->i repeats a key at its own level. Leaves r unchanged;
 * a malformed object answers 0 (the real pass reports the error). */
static int has_duplicate_keys(reader *r)
{
    reader s = *r;
    ef_buf *keys = NULL;
    size_t n = 0, cap = 0;
    int dup = 0, ok = 0;
    s.i++;
    skip_ws(&s);
    if (s.i < s.n && s.s[s.i] == '}')
        return 0;
    for (;;) {
        skip_ws(&s);
        if (s.i >= s.n || s.s[s.i] != '"')
            break;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            ef_buf *p = ef_realloc(keys, ncap * sizeof *p);
            if (!p)
                break;
            keys = p;
            cap = ncap;
        }
        ef_buf_init(&keys[n], s.n + 16);
        if (read_string(&s, &keys[n++]))
            break;
        skip_ws(&s);
        if (s.i >= s.n || s.s[s.i] != ':')
            break;
        s.i++;
        if (read_value(&s, NULL))
            break;
        skip_ws(&s);
        if (s.i < s.n && s.s[s.i] == ',') {
            s.i++;
            continue;
        }
        ok = s.i < s.n && s.s[s.i] == '}';
        break;
    }
    if (ok && n > 1) {
        qsort(keys, n, sizeof *keys, cmp_keys);
        for (size_t i = 1; i < n && !dup; i++)
            dup = cmp_keys(&keys[i - 1], &keys[i]) == 0;
    }
    for (size_t i = 0; i < n; i++)
        ef_buf_free(&keys[i]);
    ef_free(keys);
    ef_error_clear(r->ctx);
    return dup;
}

/* An object with a repeated key, printed as Python's dict holds it. */
static int read_object_dedup(reader *r, ef_buf *out)
{
    ef_pyjson_member *m = NULL;
    size_t n = 0;
    int rc = read_members(r, out->max_bytes, &m, &n);
    if (rc == 0)
        rc = ef_buf_putc(out, '{');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i > 0)
            rc = ef_buf_appends(out, ", ");
        if (rc == 0)
            rc = ef_engine_pyjson_dump_str(m[i].key, m[i].key_len, out);
        if (rc == 0)
            rc = ef_buf_appends(out, ": ");
        if (rc == 0)
            rc = m[i].is_string ? ef_engine_pyjson_dump_str(m[i].value, m[i].value_len, out)
                                : ef_buf_append(out, m[i].value, m[i].value_len);
    }
    if (rc == 0)
        rc = ef_buf_putc(out, '}');
    ef_engine_pyjson_members_free(m, n);
    return rc;
}

static int read_container(reader *r, ef_buf *out, int is_obj)
{
    if (++r->depth > MAX_DEPTH)
        return ef_errorf(r->ctx, EF_ELIMIT, "JSON: nesting deeper than %d", MAX_DEPTH);
    if (is_obj && out && has_duplicate_keys(r)) {
        int rc = read_object_dedup(r, out);
        r->depth--;
        return rc;
    }
    r->i++;
    int rc = out ? ef_buf_putc(out, is_obj ? '{' : '[') : 0;
    skip_ws(r);
    if (rc == 0 && r->i < r->n && r->s[r->i] == (is_obj ? '}' : ']')) {
        r->i++;
        r->depth--;
        return out ? ef_buf_putc(out, is_obj ? '}' : ']') : 0;
    }
    ef_buf key = EF_BUF_INIT(out ? out->max_bytes : ((size_t)1 << 30));
    for (int first = 1; rc == 0; first = 0) {
        if (!first && out)
            rc = ef_buf_appends(out, ", ");
        skip_ws(r);
        if (rc == 0 && is_obj) {
            if (r->i >= r->n || r->s[r->i] != '"') {
                rc = rerr(r, "expected a string key");
                break;
            }
            ef_buf_reset(&key);
            if ((rc = read_string(r, &key)))
                break;
            if (out && (rc = ef_engine_pyjson_dump_str(key.data, key.len, out)))
                break;
            skip_ws(r);
            if (r->i >= r->n || r->s[r->i] != ':') {
                rc = rerr(r, "expected ':'");
                break;
            }
            r->i++;
            if (out && (rc = ef_buf_appends(out, ": ")))
                break;
        }
        if (rc == 0)
            rc = read_value(r, out);
        if (rc)
            break;
        skip_ws(r);
        if (r->i < r->n && r->s[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->s[r->i] == (is_obj ? '}' : ']')) {
            r->i++;
            if (out)
                rc = ef_buf_putc(out, is_obj ? '}' : ']');
            break;
        }
        rc = rerr(r, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    ef_buf_free(&key);
    r->depth--;
    return rc;
}

/* Reads one value and appends its Python dump to out (out NULL: only checks). */
static int read_value(reader *r, ef_buf *out)
{
    skip_ws(r);
    if (r->i >= r->n)
        return rerr(r, "expected a value");
    char c = r->s[r->i];
    if (c == '{' || c == '[')
        return read_container(r, out, c == '{');
    if (c == '"') {
        ef_buf raw = EF_BUF_INIT(out ? out->max_bytes : ((size_t)1 << 30));
        int rc = read_string(r, &raw);
        if (rc == 0 && out)
            rc = ef_engine_pyjson_dump_str(raw.data, raw.len, out);
        ef_buf_free(&raw);
        return rc;
    }
    if (c == '-' && match_word(r, "-Infinity"))
        return out ? ef_buf_appends(out, "-Infinity") : 0;
    if (c == '-' || is_digit(c))
        return read_number(r, out);
    const char *words[] = {"true", "false", "null", "NaN", "Infinity"};
    for (size_t k = 0; k < 5; k++)
        if (match_word(r, words[k]))
            return out ? ef_buf_appends(out, words[k]) : 0;
    return rerr(r, "expected a value");
}

static int fix_rc(reader *r, int rc)
{
    if (rc == EF_ELIMIT && !ef_errmsg(r->ctx)[0])
        return ef_errorf(r->ctx, rc, "JSON: value too large");
    if (rc == EF_ENOMEM)
        return ef_errorf(r->ctx, rc, "JSON: out of memory");
    if (rc == EF_EINVAL)
        return ef_errorf(r->ctx, EF_EPARSE, "JSON: invalid UTF-8");
    return rc;
}

int ef_engine_pyjson_redump(ef_ctx *ctx, const char *text, size_t len, ef_buf *out)
{
    reader r = {ctx, text, len, 0, 0};
    ef_error_clear(ctx);
    int rc = read_value(&r, out);
    if (rc == 0) {
        skip_ws(&r);
        if (r.i != r.n)
            rc = rerr(&r, "extra data after the value");
    }
    return fix_rc(&r, rc);
}

void ef_engine_pyjson_members_free(ef_pyjson_member *m, size_t n)
{
    if (!m)
        return;
    for (size_t i = 0; i < n; i++) {
        ef_free(m[i].key);
        ef_free(m[i].value);
    }
    ef_free(m);
}

/* Reads the object at r->i (after whitespace) into members, r->i moving past its '}'. */
static int read_members(reader *r, size_t max_bytes, ef_pyjson_member **members, size_t *n_members)
{
    ef_pyjson_member *m = NULL;
    size_t n = 0, cap = 0;
    ef_buf key = EF_BUF_INIT(max_bytes), val = EF_BUF_INIT(max_bytes);
    int rc = 0;
    skip_ws(r);
    if (r->i >= r->n || r->s[r->i] != '{') {
        rc = rerr(r, "expected a JSON object");
        goto cleanup;
    }
    r->i++;
    skip_ws(r);
    if (r->i < r->n && r->s[r->i] == '}') {
        r->i++;
        goto done;
    }
    for (;;) {
        skip_ws(r);
        if (r->i >= r->n || r->s[r->i] != '"') {
            rc = rerr(r, "expected a string key");
            goto cleanup;
        }
        ef_buf_reset(&key);
        ef_buf_reset(&val);
        if ((rc = read_string(r, &key)))
            goto cleanup;
        skip_ws(r);
        if (r->i >= r->n || r->s[r->i] != ':') {
            rc = rerr(r, "expected ':'");
            goto cleanup;
        }
        r->i++;
        skip_ws(r);
        int is_string = r->i < r->n && r->s[r->i] == '"';
        rc = is_string ? read_string(r, &val) : read_value(r, &val);
        if (rc == 0 && !val.data)
            rc = ef_buf_append(&val, "", 0);
        if (rc)
            goto cleanup;
        /* A repeated key keeps its first place and takes the new value. */
        size_t k = 0;
        while (k < n && !(m[k].key_len == key.len && memcmp(m[k].key, key.data, key.len) == 0))
            k++;
        if (k == n) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                ef_pyjson_member *p = ef_realloc(m, ncap * sizeof *p);
                if (!p) {
                    rc = EF_ENOMEM;
                    goto cleanup;
                }
                m = p;
                cap = ncap;
            }
            m[n].key_len = key.len;
            m[n].key = ef_buf_detach(&key);
            m[n].value = NULL;
            n++;
            if (!m[k].key) {
                rc = EF_ENOMEM;
                goto cleanup;
            }
            ef_buf_init(&key, max_bytes);
        }
        ef_free(m[k].value);
        m[k].value_len = val.len;
        m[k].is_string = is_string;
        m[k].value = ef_buf_detach(&val);
        ef_buf_init(&val, max_bytes);
        if (!m[k].value) {
            rc = EF_ENOMEM;
            goto cleanup;
        }
        skip_ws(r);
        if (r->i < r->n && r->s[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->s[r->i] == '}') {
            r->i++;
            break;
        }
        rc = rerr(r, "expected ',' or '}'");
        goto cleanup;
    }
done:
    if (!m && !(m = ef_malloc(sizeof *m))) {
        rc = EF_ENOMEM;
        goto cleanup;
    }
    *members = m;
    *n_members = n;
    m = NULL;
    n = 0;
cleanup:
    ef_buf_free(&key);
    ef_buf_free(&val);
    ef_engine_pyjson_members_free(m, n);
    return rc;
}

int ef_engine_pyjson_object_members(ef_ctx *ctx, const char *text, size_t len,
                                    ef_pyjson_member **members, size_t *n_members)
{
    reader r = {ctx, text, len, 0, 0};
    ef_error_clear(ctx);
    ef_pyjson_member *m = NULL;
    size_t n = 0;
    int rc = read_members(&r, len * 2 + 64, &m, &n);
    if (rc == 0) {
        skip_ws(&r);
        if (r.i != r.n) {
            rc = rerr(&r, "extra data after the object");
            ef_engine_pyjson_members_free(m, n);
        } else {
            *members = m;
            *n_members = n;
        }
    }
    return fix_rc(&r, rc);
}

/* ---- parsing into cJSON with Python's view of numbers --------------------------------- */

static int build_value(reader *r, cJSON **out);

static int build_container(reader *r, cJSON **out, int is_obj)
{
    if (++r->depth > MAX_DEPTH)
        return ef_errorf(r->ctx, EF_ELIMIT, "JSON: nesting deeper than %d", MAX_DEPTH);
    cJSON *c = is_obj ? cJSON_CreateObject() : cJSON_CreateArray();
    ef_buf key = EF_BUF_INIT(r->n + 16);
    int rc = c ? 0 : EF_ENOMEM;
    r->i++;
    skip_ws(r);
    if (rc == 0 && r->i < r->n && r->s[r->i] == (is_obj ? '}' : ']')) {
        r->i++;
        goto done;
    }
    while (rc == 0) {
        skip_ws(r);
        if (is_obj) {
            if (r->i >= r->n || r->s[r->i] != '"') {
                rc = rerr(r, "expected a string key");
                break;
            }
            ef_buf_reset(&key);
            if ((rc = read_string(r, &key)))
                break;
            skip_ws(r);
            if (r->i >= r->n || r->s[r->i] != ':') {
                rc = rerr(r, "expected ':'");
                break;
            }
            r->i++;
        }
        cJSON *v = NULL;
        if ((rc = build_value(r, &v)))
            break;
        if (is_obj) {
            /* A repeated key keeps its first place and takes the new value (Python's dict). */
            if (cJSON_GetObjectItemCaseSensitive(c, key.data))
                rc = cJSON_ReplaceItemInObjectCaseSensitive(c, key.data, v) ? 0 : EF_ENOMEM;
            else
                rc = cJSON_AddItemToObject(c, key.data, v) ? 0 : EF_ENOMEM;
        } else {
            rc = cJSON_AddItemToArray(c, v) ? 0 : EF_ENOMEM;
        }
        if (rc) {
            cJSON_Delete(v);
            break;
        }
        skip_ws(r);
        if (r->i < r->n && r->s[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->s[r->i] == (is_obj ? '}' : ']')) {
            r->i++;
            break;
        }
        rc = rerr(r, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
done:
    ef_buf_free(&key);
    r->depth--;
    if (rc) {
        cJSON_Delete(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int build_value(reader *r, cJSON **out)
{
    skip_ws(r);
    if (r->i >= r->n)
        return rerr(r, "expected a value");
    char c = r->s[r->i];
    if (c == '{' || c == '[')
        return build_container(r, out, c == '{');
    cJSON *v = NULL;
    if (c == '"') {
        ef_buf raw = EF_BUF_INIT(r->n + 16);
        int rc = read_string(r, &raw);
        if (rc == 0 && memchr(raw.data, 0, raw.len))
            rc = rerr(r, "a string holds \\u0000 (not representable here)");
        if (rc == 0 && !(v = cJSON_CreateString(raw.data)))
            rc = EF_ENOMEM;
        ef_buf_free(&raw);
        if (rc)
            return rc;
    } else if (match_word(r, "true")) {
        v = cJSON_CreateTrue();
    } else if (match_word(r, "false")) {
        v = cJSON_CreateFalse();
    } else if (match_word(r, "null")) {
        v = cJSON_CreateNull();
    } else {
        /* Numbers (and NaN/Infinity) become raw items holding Python's text for them. */
        ef_buf num = EF_BUF_INIT(4096);
        int rc = read_value(r, &num);
        if (rc == 0 && !(v = cJSON_CreateRaw(num.data)))
            rc = EF_ENOMEM;
        ef_buf_free(&num);
        if (rc)
            return rc;
    }
    if (!v)
        return EF_ENOMEM;
    *out = v;
    return 0;
}

int ef_engine_pyjson_parse(ef_ctx *ctx, const char *text, size_t len, cJSON **out)
{
    reader r = {ctx, text, len, 0, 0};
    ef_error_clear(ctx);
    cJSON *v = NULL;
    int rc = build_value(&r, &v);
    if (rc == 0) {
        skip_ws(&r);
        if (r.i != r.n) {
            rc = rerr(&r, "extra data after the value");
            cJSON_Delete(v);
        }
    }
    if (rc == 0)
        *out = v;
    return fix_rc(&r, rc);
}

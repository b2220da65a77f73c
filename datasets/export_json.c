/*
 * datasets/export_json.c — the streaming JSON writer the exports and the report use.
 * It writes straight to a FILE (no document is built), escapes strings as RFC 8259
 * asks, replaces invalid UTF-8 with U+FFFD so that every line parses in Python, writes
 * numbers in their shortest round-trip form, and counts the bytes it wrote.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/utf8.h"
#include "datasets/export_int.h"

void ef_export__jw_init(ef_jw *w, FILE *f)
{
    w->f = f;
    w->n_bytes = 0;
    w->failed = 0;
    w->html_safe = 0;
    w->used = 0;
}

static void drain(ef_jw *w)
{
    if (w->used && !w->failed && fwrite(w->buf, 1, w->used, w->f) != w->used)
        w->failed = 1;
    w->used = 0;
}

void ef_export__jw_flush(ef_jw *w)
{
    drain(w);
    if (!w->failed && fflush(w->f) != 0)
        w->failed = 1;
}

void ef_export__jw_raw(ef_jw *w, const char *s, size_t len)
{
    if (w->failed || !len)
        return;
    w->n_bytes += len;
    if (w->used + len > sizeof(w->buf)) {
        drain(w);
        if (len > sizeof(w->buf)) {
            if (!w->failed && fwrite(s, 1, len, w->f) != len)
                w->failed = 1;
            return;
        }
    }
    memcpy(w->buf + w->used, s, len);
    w->used += len;
}

void ef_export__jw_lit(ef_jw *w, const char *s)
{
    ef_export__jw_raw(w, s, strlen(s));
}

static void put_escaped(ef_jw *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0; /* start of the pending plain run */
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        const char *esc = NULL;
        char ubuf[7];
        size_t step = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            ubuf[0] = '\\', ubuf[1] = 'u', ubuf[2] = '0', ubuf[3] = '0';
            ubuf[4] = hex[c >> 4], ubuf[5] = hex[c & 15], ubuf[6] = 0;
            esc = ubuf;
        } else if (c == '<' && w->html_safe)
            esc = "\\u003c";
        else if (c == '/' && i > 0 && p[i - 1] == '<')
            esc = "\\/";
        else if (c >= 0x80) {
            step = ef_utf8_next(p + i, len - i, NULL);
            if (!step) {
                esc = "\xef\xbf\xbd"; /* U+FFFD */
                step = 1;
            }
        }
        if (esc) {
            ef_export__jw_raw(w, s + run, i - run);
            ef_export__jw_lit(w, esc);
            run = i + step;
        }
        i += step;
    }
    ef_export__jw_raw(w, s + run, len - run);
}

void ef_export__jw_strn(ef_jw *w, const char *s, size_t len)
{
    if (!s) {
        ef_export__jw_raw(w, "null", 4);
        return;
    }
    ef_export__jw_raw(w, "\"", 1);
    put_escaped(w, s, len);
    ef_export__jw_raw(w, "\"", 1);
}

void ef_export__jw_str(ef_jw *w, const char *s)
{
    ef_export__jw_strn(w, s, s ? strlen(s) : 0);
}

void ef_export__jw_str_capped(ef_jw *w, const char *s, size_t cap)
{
    size_t len = s ? strlen(s) : 0;
    if (!s || len <= cap) {
        ef_export__jw_strn(w, s, len);
        return;
    }
    size_t cut = ef_utf8_floor(s, cap);
    char tail[64];
    snprintf(tail, sizeof(tail), "\xe2\x80\xa6[+%zu bytes]", len - cut);
    ef_export__jw_raw(w, "\"", 1);
    put_escaped(w, s, cut);
    ef_export__jw_lit(w, tail);
    ef_export__jw_raw(w, "\"", 1);
}

void ef_export__jw_int(ef_jw *w, int64_t v)
{
    char buf[24];
    char *e = buf + sizeof(buf), *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    size_t len = (size_t)(e - p);
    if (w->used + len <= sizeof(w->buf) && !w->failed) {
        memcpy(w->buf + w->used, p, len);
        w->used += len;
        w->n_bytes += len;
    } else
        ef_export__jw_raw(w, p, len);
}

void ef_export__jw_num(ef_jw *w, double v)
{
    if (!isfinite(v)) {
        ef_export__jw_raw(w, "null", 4);
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        ef_export__jw_int(w, (int64_t)v);
        return;
    }
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    ef_export__jw_lit(w, buf);
}

void ef_export__jw_f32(ef_jw *w, float v)
{
    if (!isfinite(v)) {
        ef_export__jw_raw(w, "null", 4);
        return;
    }
    if (v == 0.0f) {
        ef_export__jw_raw(w, "0", 1);
        return;
    }
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    ef_export__jw_lit(w, buf);
}

void ef_export__jw_key(ef_jw *w, const char *key)
{
    ef_export__jw_str(w, key);
    ef_export__jw_raw(w, ":", 1);
}

void ef_export__jw_json(ef_jw *w, const char *json)
{
    if (!json)
        ef_export__jw_raw(w, "null", 4);
    else if (ef_datasets__json_valid(json))
        ef_export__jw_lit(w, json);
    else
        ef_export__jw_str(w, json);
}

int32_t ef_export__le_i32(const void *blob, size_t i)
{
    const unsigned char *p = (const unsigned char *)blob + 4 * i;
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

float ef_export__le_f32(const void *blob, size_t i)
{
    uint32_t u = (uint32_t)ef_export__le_i32(blob, i);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ef_export__le_u16(const void *blob, size_t i)
{
    const unsigned char *p = (const unsigned char *)blob + 2 * i;
    return (uint16_t)(p[0] | p[1] << 8);
}

int ef_export__read_begin(ef_store *s)
{
    int rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ef_datasets__sqlerr(s, rc, "begin read");
    /* Take the snapshot now, not at the first step of the first cursor. */
    rc = sqlite3_exec(s->db, "SELECT count(*) FROM schema_migrations", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return ef_datasets__sqlerr(s, rc, "begin read");
    }
    return 0;
}

void ef_export__read_end(ef_store *s)
{
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

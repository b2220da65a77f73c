/*
 * datasets/export_int.h — what the export, stats and report files share: a streaming
 * JSON writer over a FILE (UTF-8 checked, counts bytes, remembers the first write
 * error) and the SQL filter text they all apply to episodes.
 */
#ifndef EF_EXPORT_INT_H
#define EF_EXPORT_INT_H

#include <sqlite3.h>
#include <stdio.h>
#include "datasets/datasets_int.h"
#include "datasets/export.h"

#define EF_JW_BUF 65536

typedef struct {
    FILE *f;
    char buf[EF_JW_BUF]; /* pending output: written to f when full and by _flush */
    size_t used;
    uint64_t n_bytes;
    int failed;    /* a write failed: stop early, report EF_EIO */
    int html_safe; /* strings escape every '<' as \u003c (JSON inside an HTML <script>) */
} ef_jw;

void ef_export__jw_init(ef_jw *w, FILE *f);
/* Writes the pending output to the FILE (and fflush); sets failed on error. */
void ef_export__jw_flush(ef_jw *w);
void ef_export__jw_raw(ef_jw *w, const char *s, size_t len);
void ef_export__jw_lit(ef_jw *w, const char *s);
/* One byte; the common case stays in the buffer. */
static inline void ef_export__jw_putc(ef_jw *w, char c)
{
    if (w->used < sizeof(w->buf) && !w->failed) {
        w->buf[w->used++] = c;
        w->n_bytes++;
    } else
        ef_export__jw_raw(w, &c, 1);
}
/* A JSON string of s[0..len): control characters escaped, invalid UTF-8 bytes replaced
 * by U+FFFD, "</" written as "<\/" (safe inside an HTML <script>). NULL: null. */
void ef_export__jw_strn(ef_jw *w, const char *s, size_t len);
void ef_export__jw_str(ef_jw *w, const char *s);
/* At most cap bytes of s (cut at a character boundary), then "…[+N bytes]". */
void ef_export__jw_str_capped(ef_jw *w, const char *s, size_t cap);
void ef_export__jw_int(ef_jw *w, int64_t v);
/* Shortest text that reads back as the same double; NaN/Inf: null. */
void ef_export__jw_num(ef_jw *w, double v);
/* Shortest text that reads back as the same float. */
void ef_export__jw_f32(ef_jw *w, float v);
/* "key": */
void ef_export__jw_key(ef_jw *w, const char *key);
/* JSON text from the store, written as is when valid, as a JSON string otherwise;
 * NULL: null. */
void ef_export__jw_json(ef_jw *w, const char *json);

/* Reads a little-endian int32 / float32 / uint16 from a BLOB at element i. */
int32_t ef_export__le_i32(const void *blob, size_t i);
float ef_export__le_f32(const void *blob, size_t i);
uint16_t ef_export__le_u16(const void *blob, size_t i);

/* Begins / ends the read transaction that gives an export one snapshot. */
int ef_export__read_begin(ef_store *s);
void ef_export__read_end(ef_store *s);

#endif

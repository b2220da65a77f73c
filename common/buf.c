/*
 * common/buf.c — dynamic byte buffers with a hard cap (curl's dynbuf): every buffer
 * that captures outside data has one, and appends past it fail with EF_ELIMIT.
 */
#include <stdio.h>
#include <string.h>
#include "common/ef.h"

void ef_buf_init(ef_buf *b, size_t max_bytes)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max_bytes = max_bytes;
}

static int grow(ef_buf *b, size_t need)
{
    if (need + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need + 1)
        cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
    if (cap > b->max_bytes + 1)
        cap = b->max_bytes + 1;
    char *p = ef_realloc(b->data, cap);
    if (!p)
        return EF_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ef_buf_append(ef_buf *b, const void *data, size_t len)
{
    if (len > b->max_bytes || b->len > b->max_bytes - len)
        return EF_ELIMIT;
    int rc = grow(b, b->len + len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int ef_buf_append_capped(ef_buf *b, const void *data, size_t len)
{
    size_t room = b->max_bytes > b->len ? b->max_bytes - b->len : 0;
    size_t n = len < room ? len : room;
    int rc = ef_buf_append(b, data, n);
    if (rc)
        return rc;
    return n < len ? EF_ELIMIT : 0;
}

int ef_buf_appends(ef_buf *b, const char *s)
{
    return ef_buf_append(b, s, strlen(s));
}

int ef_buf_putc(ef_buf *b, char c)
{
    return ef_buf_append(b, &c, 1);
}

int ef_buf_appendf(ef_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return EF_EINVAL;
    if ((size_t)n < sizeof small)
        return ef_buf_append(b, small, (size_t)n);
    if ((size_t)n > b->max_bytes || b->len > b->max_bytes - (size_t)n)
        return EF_ELIMIT;
    int rc = grow(b, b->len + (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void ef_buf_reset(ef_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *ef_buf_detach(ef_buf *b)
{
    char *d = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void ef_buf_free(ef_buf *b)
{
    if (!b)
        return;
    ef_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/*
 * common/utf8.c — the UTF-8 helpers that allocate: a lossy copy (each invalid sequence
 * and each NUL becomes U+FFFD, the repair the sandbox's JSON and the exporter also make),
 * and a middle cut that keeps both ends of a long text under a byte cap. The inline
 * decoding helpers are in common/utf8.h.
 */
#include <stdio.h>
#include <string.h>
#include "common/ef.h"
#include "common/utf8.h"

int ef_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] && u[i] < 0x80) {
            i++;
            continue;
        }
        if (!u[i])
            return 0;
        uint32_t cp;
        size_t k = ef_utf8_next(u + i, n - i, &cp);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

char *ef_utf8_lossy(const char *s, size_t n, size_t *out_len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t cap = n + 1, len = 0;
    for (size_t i = 0; i < n;) { /* the length first: each bad span grows to 3 bytes */
        uint32_t cp;
        size_t k = !u[i] ? 0 : u[i] < 0x80 ? 1 : ef_utf8_next(u + i, n - i, &cp);
        if (k) {
            i += k;
        } else {
            i += u[i] ? ef_utf8_invalid_len(u + i, n - i) : 1;
            cap += 3;
        }
    }
    char *out = ef_malloc(cap);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = !u[i] ? 0 : u[i] < 0x80 ? 1 : ef_utf8_next(u + i, n - i, &cp);
        if (k) {
            memcpy(out + len, s + i, k);
            len += k;
            i += k;
        } else {
            i += u[i] ? ef_utf8_invalid_len(u + i, n - i) : 1;
            len += ef_utf8_put(out + len, 0xfffd);
        }
    }
    out[len] = 0;
    if (out_len)
        *out_len = len;
    return out;
}

char *ef_utf8_cap_middle(const char *s, size_t n, size_t cap, int *oom)
{
    *oom = 0;
    if (n <= cap || cap < 256)
        return NULL;
    char mark[96];
    /* the marker's own length depends on the count it prints: size it for n */
    int ml = snprintf(mark, sizeof mark, "\n[... %zu bytes cut from the middle ...]\n", n);
    size_t room = cap - (size_t)ml;
    size_t tail = room / 4, head = room - tail;
    head = ef_utf8_floor(s, head);
    size_t from = n - tail; /* the tail starts at a character's first byte */
    while (from < n && ef_utf8_is_cont(s[from]))
        from++;
    ml = snprintf(mark, sizeof mark, "\n[... %zu bytes cut from the middle ...]\n", from - head);
    char *out = ef_malloc(head + (size_t)ml + (n - from) + 1);
    if (!out) {
        *oom = 1;
        return NULL;
    }
    memcpy(out, s, head);
    memcpy(out + head, mark, (size_t)ml);
    memcpy(out + head + (size_t)ml, s + from, n - from);
    out[head + (size_t)ml + (n - from)] = 0;
    return out;
}

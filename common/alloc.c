/*
 * common/alloc.c — the allocation functions every component uses, with a per-thread
 * failure-injection countdown for tests (the one piece of mutable state here: it is
 * thread-local and only tests set it, like Lua's ltests.c allocator).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/ef.h"

static _Thread_local long fail_at;  /* 0: off; otherwise the allocation number that fails */
static _Thread_local long n_allocs; /* allocations since the last ef_alloc_fail_after */
static _Thread_local long n_failed;

static int should_fail(void)
{
    n_allocs++;
    if (fail_at > 0 && n_allocs >= fail_at) {
        n_failed++;
        return 1;
    }
    return 0;
}

long ef_alloc_fail_after(long n)
{
    long made = n_allocs;
    fail_at = n;
    n_allocs = 0;
    n_failed = 0;
    return made;
}

long ef_alloc_failed_count(void)
{
    return n_failed;
}

void *ef_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *ef_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *ef_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void ef_free(void *p)
{
    free(p);
}

char *ef_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    size_t len = strnlen(s, n);
    char *d = ef_malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *ef_strdup(const char *s)
{
    return s ? ef_strndup(s, strlen(s)) : NULL;
}

char *ef_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = ef_malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

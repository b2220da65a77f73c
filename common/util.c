/*
 * common/util.c — clocks and whole-file reads and writes with clear errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "common/ef.h"

uint64_t ef_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double ef_now_s(void)
{
    return (double)ef_now_ns() * 1e-9;
}

int ef_file_read(ef_ctx *ctx, const char *path, size_t max_bytes, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ef_errorf(ctx, errno == ENOENT ? EF_ENOTFOUND : EF_EIO, "%s: cannot open: %s", path,
                         strerror(errno));
    ef_buf b = EF_BUF_INIT(max_bytes);
    char chunk[65536];
    int rc = 0;
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        rc = ef_buf_append(&b, chunk, n);
        if (rc == EF_ELIMIT) {
            rc = ef_errorf(ctx, EF_ELIMIT, "%s: larger than the limit of %zu bytes", path,
                           max_bytes);
            goto cleanup;
        }
        if (rc) {
            rc = ef_errorf(ctx, rc, "%s: out of memory reading the file", path);
            goto cleanup;
        }
    }
    if (ferror(f)) {
        rc = ef_errorf(ctx, EF_EIO, "%s: read error: %s", path, strerror(errno));
        goto cleanup;
    }
    if (!b.data && ef_buf_append(&b, "", 0) < 0) {
        rc = ef_errorf(ctx, EF_ENOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    *len = b.len;
    *out = ef_buf_detach(&b);
cleanup:
    ef_buf_free(&b);
    fclose(f);
    return rc;
}

int ef_file_write(ef_ctx *ctx, const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return ef_errorf(ctx, EF_EIO, "%s: cannot create: %s", path, strerror(errno));
    int rc = 0;
    if (len && fwrite(data, 1, len, f) != len)
        rc = ef_errorf(ctx, EF_EIO, "%s: write error: %s", path, strerror(errno));
    if (fclose(f) != 0 && !rc)
        rc = ef_errorf(ctx, EF_EIO, "%s: close error: %s", path, strerror(errno));
    return rc;
}

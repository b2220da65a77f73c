/*
 * common/util.c — clocks, whole-file reads and writes with clear errors, and removal of
 * a tree of any depth.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
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

/* Opens the directory `name` under dirfd without following a link; one that denies us
 * (mode 0, say) is given u+rwx and opened again. */
static int open_dir_at(int dirfd, const char *name)
{
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(dirfd, name, flags);
    if (fd < 0 && errno == EACCES && fchmodat(dirfd, name, 0700, 0) == 0)
        fd = openat(dirfd, name, flags);
    return fd;
}

/* The first subdirectory of the open directory cur after unlinking every other entry, in
 * *child (ef_malloc'd name), or NULL when none is left. */
static int empty_files(int cur, char **child, int *err)
{
    *child = NULL;
    int dup_fd = dup(cur);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return -errno;
    }
    rewinddir(d);
    struct dirent *e;
    while (!*child && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (unlinkat(cur, e->d_name, 0) == 0)
            continue;
        if (errno == EISDIR || errno == EPERM) {
            struct stat st;
            if (fstatat(cur, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
                *child = ef_strdup(e->d_name);
                if (!*child) {
                    closedir(d);
                    return EF_ENOMEM;
                }
                continue;
            }
        }
        if (!*err)
            *err = -errno;
    }
    closedir(d);
    return 0;
}

int ef_remove_tree(const char *path)
{
    int cur = open_dir_at(AT_FDCWD, path);
    if (cur < 0) {
        if (errno == ENOTDIR || errno == ELOOP)
            return unlink(path) == 0 ? 0 : -errno;
        return errno == ENOENT ? 0 : -errno;
    }
    /* the names walked down so far: a stack, so that nothing but the current directory
     * is held open whatever the depth */
    char **names = NULL;
    size_t depth = 0, cap = 0;
    int err = 0;
    for (;;) {
        char *child = NULL;
        int rc = empty_files(cur, &child, &err);
        if (rc < 0) {
            if (!err)
                err = rc;
        } else if (child) {
            int fd = open_dir_at(cur, child);
            if (fd >= 0 && depth == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                char **grown = ef_realloc(names, ncap * sizeof *names);
                if (!grown) {
                    close(fd);
                    fd = -1;
                    errno = ENOMEM;
                } else {
                    names = grown;
                    cap = ncap;
                }
            }
            if (fd >= 0) {
                names[depth++] = child;
                close(cur);
                cur = fd;
                continue;
            }
            if (!err)
                err = -errno;
            ef_free(child);
            /* a directory we cannot enter stays; going on would find it again */
        }
        if (depth == 0)
            break;
        int parent = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(cur);
        if (parent < 0) {
            if (!err)
                err = -errno;
            cur = -1;
            break;
        }
        cur = parent;
        char *name = names[--depth];
        if (unlinkat(cur, name, AT_REMOVEDIR) < 0 && !err)
            err = -errno;
        ef_free(name);
        if (err)
            break; /* a directory that stays would be found again: stop here */
    }
    if (cur >= 0)
        close(cur);
    while (depth > 0)
        ef_free(names[--depth]);
    ef_free(names);
    if (!err && rmdir(path) < 0)
        err = -errno;
    return err;
}

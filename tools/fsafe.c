/*
 * tools/fsafe.c — opening files strictly inside the episode's workdir. A path is walked
 * one component at a time with openat(O_NOFOLLOW) from the workdir's descriptor, so
 * neither "..", an absolute path, nor a symbolic link anywhere along the way (planted by
 * the agent's own shell, say) can lead outside: the kernel resolves nothing we did not
 * check. Missing parent directories can be made on the way (for create).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tools/tools_int.h"

int ef_tools__path_check(ef_ctx *ctx, const char *path)
{
    if (!path || !*path)
        return ef_errorf(ctx, EF_EINVAL, "path: empty");
    if (path[0] == '/')
        return ef_errorf(ctx, EF_EINVAL,
                         "path \"%s\": absolute paths are refused; give a path relative to "
                         "the working directory",
                         path);
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return ef_errorf(ctx, EF_EINVAL,
                             "path \"%s\": \"..\" is refused; paths must stay inside the "
                             "working directory",
                             path);
        p += n;
        while (*p == '/')
            p++;
    }
    if (strlen(path) > 4000)
        return ef_errorf(ctx, EF_EINVAL, "path: longer than 4000 bytes");
    return 0;
}

static int refuse_link_or_fail(ef_ctx *ctx, int dirfd, const char *comp, const char *path,
                               int err)
{
    struct stat st;
    if (fstatat(dirfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return ef_errorf(ctx, EF_EINVAL,
                         "path \"%s\": \"%s\" is a symbolic link; links are not followed", path,
                         comp);
    if (err == ENOENT)
        return ef_errorf(ctx, EF_ENOTFOUND, "path \"%s\": no such file or directory", path);
    if (err == ENOTDIR)
        return ef_errorf(ctx, EF_EINVAL, "path \"%s\": \"%s\" is not a directory", path, comp);
    if (err == EISDIR)
        return ef_errorf(ctx, EF_EINVAL, "path \"%s\": is a directory", path);
    if (err == EEXIST)
        return ef_errorf(ctx, EF_EEXISTS, "path \"%s\": already exists", path);
    return ef_errorf(ctx, EF_EIO, "path \"%s\": %s", path, strerror(err));
}

int ef_tools__open_beneath(ef_ctx *ctx, int dirfd, const char *path, int flags, int mode,
                           int make_parents)
{
    int rc = ef_tools__path_check(ctx, path);
    if (rc < 0)
        return rc;
    /* Split into components, dropping "." and empty ones. */
    char *copy = ef_strdup(path);
    if (!copy)
        return ef_errorf(ctx, EF_ENOMEM, "path: out of memory");
    char *comps[512];
    size_t n = 0;
    for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (n == EF_ARRAY_LEN(comps)) {
            ef_free(copy);
            return ef_errorf(ctx, EF_EINVAL, "path \"%s\": too many components", path);
        }
        comps[n++] = c;
    }
    int cur = dirfd, fd = -1;
    if (n == 0) { /* the workdir itself */
        fd = openat(dirfd, ".", (flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
        if (fd < 0)
            rc = refuse_link_or_fail(ctx, dirfd, ".", path, errno);
        goto done;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int next = openat(cur, comps[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && make_parents) {
            if (mkdirat(cur, comps[i], 0755) < 0 && errno != EEXIST) {
                rc = ef_errorf(ctx, EF_EIO, "path \"%s\": cannot make directory \"%s\": %s",
                               path, comps[i], strerror(errno));
                goto done;
            }
            next = openat(cur, comps[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (next < 0) {
            rc = refuse_link_or_fail(ctx, cur, comps[i], path, errno);
            goto done;
        }
        if (cur != dirfd)
            close(cur);
        cur = next;
    }
    fd = openat(cur, comps[n - 1], flags | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        rc = refuse_link_or_fail(ctx, cur, comps[n - 1], path, errno == ELOOP ? ELOOP : errno);
done:
    if (cur != dirfd)
        close(cur);
    ef_free(copy);
    return rc < 0 ? rc : fd;
}

/*
 * cli/output.c — the output files of `envforge` subcommands (-o FILE of gen, export,
 * report): refusing an output that is the store being read or written, and writing an
 * output so that a failed command never destroys the file already there.
 *
 * ef_cli_same_file compares two paths: by device and inode when both exist, otherwise
 * by their canonical form (the real path of the directory plus the last name), so
 * "x.db", "./x.db" and "dir/../x.db" are one file even before it is created.
 * ef_cli_out_open writes a regular file through a temporary file next to it
 * (FILE.tmp-XXXXXX, renamed over FILE by ef_cli_out_close on success, removed on
 * failure; a symlink to a regular file has its target replaced, the link kept). Anything
 * else (a path under /dev or /proc such as /dev/stdout, a pipe, a device, a symlink to
 * one) is written in place, as fopen would: a rename must never replace a device node.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* realpath of the directory of path + "/" + its last name; NULL when the directory does
 * not resolve. Free with free(). */
static char *canonical(const char *path)
{
    if (!path || !*path)
        return NULL;
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    char *slash = strrchr(copy, '/');
    const char *name = slash ? slash + 1 : copy;
    const char *dir = slash ? (slash == copy ? "/" : copy) : ".";
    if (slash)
        *slash = '\0';
    char *rdir = realpath(dir, NULL);
    char *out = NULL;
    if (rdir && *name && strcmp(name, ".") && strcmp(name, "..")) {
        size_t n = strlen(rdir) + strlen(name) + 2;
        out = malloc(n);
        if (out)
            snprintf(out, n, "%s/%s", strcmp(rdir, "/") ? rdir : "", name);
    } else if (rdir && !*name) {
        out = strdup(rdir);
    }
    free(rdir);
    free(copy);
    return out;
}

int ef_cli_same_file(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    struct stat sa, sb;
    int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea && eb)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea != eb)
        return 0;
    char *ca = canonical(a), *cb = canonical(b);
    int same = ca && cb && strcmp(ca, cb) == 0;
    free(ca);
    free(cb);
    return same;
}

int ef_cli_check_output(const char *cmd, const char *store, const char *out)
{
    if (store && out && ef_cli_same_file(store, out)) {
        fprintf(stderr,
                "envforge %s: the output %s is the store %s; writing it would destroy the "
                "store: give another -o path\n",
                cmd, out, store);
        return EF_EXIT_USAGE;
    }
    return EF_EXIT_OK;
}

/* 1 when path is a device or process file (/dev/stdout, /proc/self/fd/1): written in
 * place, never replaced by a rename */
static int special_path(const char *path)
{
    return !strncmp(path, "/dev/", 5) || !strncmp(path, "/proc/", 6);
}

int ef_cli_out_open(ef_cli_out *o, const char *path, char *err, size_t err_cap)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    struct stat lst, st;
    char *canon = canonical(path); /* catches ../dev/stdout and a link to /dev */
    int in_place = special_path(path) || (canon && special_path(canon));
    free(canon);
    if (!in_place && lstat(path, &lst) == 0) {
        if (S_ISLNK(lst.st_mode)) {
            /* a symlink to a regular file: replace the file it points at, keep the link */
            o->real = realpath(path, NULL);
            in_place = !o->real || special_path(o->real) || stat(o->real, &st) != 0 ||
                       !S_ISREG(st.st_mode);
        } else {
            in_place = !S_ISREG(lst.st_mode);
        }
    }
    if (in_place) {
        free(o->real);
        o->real = NULL;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(err, err_cap, "cannot write %s: %s", path, strerror(EISDIR));
            return -1;
        }
        o->f = fopen(path, "wb");
        if (!o->f) {
            snprintf(err, err_cap, "cannot write %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (o->real)
        path = o->real;
    size_t n = strlen(path) + 16;
    o->tmp = malloc(n);
    if (!o->tmp) {
        snprintf(err, err_cap, "cannot write %s: out of memory", path);
        free(o->real);
        o->real = NULL;
        return -1;
    }
    snprintf(o->tmp, n, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        snprintf(err, err_cap, "cannot write %s: %s", path, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        free(o->real);
        o->real = NULL;
        return -1;
    }
    /* mkstemp makes 0600; give the file the mode a plain fopen would */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) {
        /* not fatal: the file stays private to its owner */
    }
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        snprintf(err, err_cap, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
        free(o->real);
        o->real = NULL;
        return -1;
    }
    return 0;
}

int ef_cli_out_close(ef_cli_out *o, int ok, char *err, size_t err_cap)
{
    int rc = 0;
    if (o->f && fclose(o->f) != 0 && ok) {
        snprintf(err, err_cap, "writing %s failed: %s", o->path, strerror(errno));
        ok = 0;
        rc = -1;
    }
    o->f = NULL;
    if (o->tmp) {
        if (ok && rename(o->tmp, o->real ? o->real : o->path) != 0) {
            snprintf(err, err_cap, "cannot write %s: %s", o->path, strerror(errno));
            rc = -1;
            ok = 0;
        }
        if (!ok)
            unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
    }
    free(o->real);
    o->real = NULL;
    return rc;
}

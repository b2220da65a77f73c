/*
 * tools/editor.c — the `editor` tool: view (numbered lines, ranges, directory listings),
 * create, str_replace (exactly one match; none or several reported with line numbers),
 * insert after a line, and undo of the last edit of a file. Every path is opened through
 * tools/fsafe.c, so nothing outside the episode's workdir is read or written; files with
 * several hard links are not written either (they may be shared with the outside).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tools/tools_int.h"

#define MAX_FILE_BYTES (16u << 20)
#define SNIPPET_CONTEXT 4
#define MAX_LISTED 400

static const char schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"command\":{\"type\":\"string\",\"enum\":[\"view\",\"create\",\"str_replace\",\"insert\","
    "\"undo_edit\"],\"description\":\"view: show a file with line numbers (or list a "
    "directory); create: write a new file (file_text); str_replace: replace old_str, which "
    "must occur exactly once, with new_str; insert: insert new_str after line insert_line "
    "(0 = at the top); undo_edit: revert the last edit of path\"},"
    "\"path\":{\"type\":\"string\",\"minLength\":1,\"description\":\"file or directory, "
    "relative to the working directory\"},"
    "\"file_text\":{\"type\":\"string\",\"description\":\"content for create\"},"
    "\"old_str\":{\"type\":\"string\",\"description\":\"exact text to replace "
    "(str_replace)\"},"
    "\"new_str\":{\"type\":\"string\",\"description\":\"replacement (str_replace) or text "
    "to insert (insert)\"},"
    "\"insert_line\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"insert after "
    "this line (insert)\"},"
    "\"view_range\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,"
    "\"maxItems\":2,\"description\":\"[first, last] lines to view, 1-based; last -1 = to "
    "the end\"}},"
    "\"required\":[\"command\",\"path\"],\"additionalProperties\":false}";

/* ---- text helpers -------------------------------------------------------------- */

static size_t count_lines(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\n')
            n++;
    if (len > 0 && s[len - 1] != '\n')
        n++;
    return n;
}

/* 1-based line number of byte offset off. */
static size_t line_of(const char *s, size_t off)
{
    size_t n = 1;
    for (size_t i = 0; i < off; i++)
        if (s[i] == '\n')
            n++;
    return n;
}

/* Byte offset where 1-based line `line` starts (len when past the end). */
static size_t line_start(const char *s, size_t len, size_t line)
{
    size_t cur = 1, i = 0;
    while (cur < line && i < len) {
        if (s[i++] == '\n')
            cur++;
    }
    return i;
}

/* Appends lines first..last (1-based, inclusive) numbered like `cat -n`. */
static int append_numbered(ef_buf *b, const char *s, size_t len, size_t first, size_t last)
{
    size_t off = line_start(s, len, first);
    for (size_t ln = first; ln <= last && off < len; ln++) {
        const char *nl = memchr(s + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (s + off)) : len - off;
        if (ef_buf_appendf(b, "%6zu\t%.*s\n", ln, (int)n, s + off) < 0)
            return EF_ELIMIT;
        off += n + (nl ? 1 : 0);
    }
    return 0;
}

static int is_binary(const char *s, size_t len)
{
    return memchr(s, '\0', len < 8192 ? len : 8192) != NULL;
}

/* "a/./b//c" -> "a/b/c" (the form undo entries are kept under). */
static char *normalize(const char *path)
{
    ef_buf b = EF_BUF_INIT(8192);
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if ((b.len && ef_buf_putc(&b, '/') < 0) || ef_buf_append(&b, p, n) < 0) {
                ef_buf_free(&b);
                return NULL;
            }
        }
        p += n;
    }
    if (!b.data && ef_buf_appends(&b, ".") < 0)
        return NULL;
    return ef_buf_detach(&b);
}

/* ---- file access under the workdir ------------------------------------------------ */

typedef struct {
    ef_tool_ctx *tc;
    int root;           /* O_PATH descriptor of the workdir */
    const char *path;   /* as given */
} ed;

/* Reads a regular file: EF_ENOTFOUND when absent; *is_dir set for directories. */
static int read_file(ed *e, char **out, size_t *len, int *is_dir)
{
    ef_ctx *ctx = e->tc->ctx;
    *is_dir = 0;
    /* O_NONBLOCK: a FIFO planted in the workdir must not hang the host */
    int fd = ef_tools__open_beneath(ctx, e->root, e->path, O_RDONLY | O_NONBLOCK, 0, 0);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        rc = ef_errorf(ctx, EF_EIO, "%s: %s", e->path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(st.st_mode)) {
        *is_dir = 1;
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = ef_errorf(ctx, EF_EINVAL, "%s: not a regular file", e->path);
        goto done;
    }
    if ((size_t)st.st_size > MAX_FILE_BYTES) {
        rc = ef_errorf(ctx, EF_ELIMIT, "%s: %lld bytes, over the editor's %u-byte limit",
                       e->path, (long long)st.st_size, MAX_FILE_BYTES);
        goto done;
    }
    ef_buf b = EF_BUF_INIT(MAX_FILE_BYTES);
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ef_errorf(ctx, EF_EIO, "%s: read: %s", e->path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if ((rc = ef_buf_append(&b, chunk, (size_t)n)) < 0) {
            rc = ef_errorf(ctx, rc, "%s: over the editor's %u-byte limit", e->path,
                           MAX_FILE_BYTES);
            break;
        }
    }
    if (rc < 0) {
        ef_buf_free(&b);
        goto done;
    }
    *len = b.len;
    *out = b.data ? ef_buf_detach(&b) : ef_strdup("");
    if (!*out)
        rc = ef_errorf(ctx, EF_ENOMEM, "%s: out of memory", e->path);
done:
    close(fd);
    return rc;
}

/* Writes (creating the file and its parents when missing). */
static int write_file(ed *e, const char *data, size_t len)
{
    ef_ctx *ctx = e->tc->ctx;
    int fd = ef_tools__open_beneath(ctx, e->root, e->path, O_WRONLY | O_CREAT | O_NONBLOCK, 0644,
                                    1);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = ef_errorf(ctx, EF_EINVAL, "%s: not a regular file", e->path);
        goto done;
    }
    if (st.st_nlink > 1) {
        rc = ef_errorf(ctx, EF_EINVAL, "\"%s\" has %ju hard links; refusing to write through "
                       "them", e->path, (uintmax_t)st.st_nlink);
        goto done;
    }
    if (ftruncate(fd, 0) < 0) {
        rc = ef_errorf(ctx, EF_EIO, "%s: truncate: %s", e->path, strerror(errno));
        goto done;
    }
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ef_errorf(ctx, EF_EIO, "%s: write: %s", e->path, strerror(errno));
            goto done;
        }
        off += (size_t)n;
    }
    if (geteuid() == 0 && (uid_t)setfsuid((uid_t)-1) == 0)
        e->tc->workdir_dirty = 1; /* written as root: the sandbox's uid must own it again */
done:
    close(fd);
    return rc;
}

/* Saves the content a file had before an edit (content NULL: it did not exist). */
static int push_undo(ef_tool_ctx *tc, const char *path, const char *content, size_t len)
{
    char *norm = normalize(path);
    char *copy = content ? ef_strndup(content, len) : NULL;
    if (!norm || (content && !copy))
        goto oom;
    /* keep the history under its byte cap by dropping the oldest entries */
    while (tc->n_undo > 0 && tc->undo_bytes + len > EF_TOOLS__UNDO_MAX_BYTES) {
        tc->undo_bytes -= tc->undo[0].len;
        ef_free(tc->undo[0].path);
        ef_free(tc->undo[0].content);
        memmove(tc->undo, tc->undo + 1, (tc->n_undo - 1) * sizeof *tc->undo);
        tc->n_undo--;
    }
    if (tc->n_undo == tc->cap_undo) {
        size_t cap = tc->cap_undo ? tc->cap_undo * 2 : 16;
        ef_tools__undo *nu = ef_realloc(tc->undo, cap * sizeof *nu);
        if (!nu)
            goto oom;
        tc->undo = nu;
        tc->cap_undo = cap;
    }
    tc->undo[tc->n_undo++] = (ef_tools__undo){norm, copy, content ? len : 0};
    tc->undo_bytes += content ? len : 0;
    return 0;
oom:
    ef_free(norm);
    ef_free(copy);
    return ef_errorf(tc->ctx, EF_ENOMEM, "editor: out of memory");
}

/* ---- commands ------------------------------------------------------------------ */

/* Names read from one directory at most (its listing says when there were more). */
#define MAX_SCANNED 100000

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(ed *e, int dfd, const char *prefix, int depth, ef_buf *b, size_t *n_listed)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return ef_errorf(e->tc->ctx, EF_EIO, "%s: %s", e->path, strerror(errno));
    }
    /* collect and sort the names for a stable listing */
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    int more = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == MAX_SCANNED) { /* a directory the agent filled: list a sorted part */
            more = 1;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = ef_realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = EF_ENOMEM;
                goto done;
            }
            names = nn;
        }
        if (!(names[n] = ef_strdup(de->d_name))) {
            rc = EF_ENOMEM;
            goto done;
        }
        n++;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if ((*n_listed)++ >= MAX_LISTED) {
            ef_buf_appendf(b, "... (more entries not shown)\n");
            more = 0;
            break;
        }
        struct stat st;
        if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        const char *kind = S_ISDIR(st.st_mode) ? "/" : S_ISLNK(st.st_mode) ? " (symlink)" : "";
        ef_buf_appendf(b, "%s%s%s\n", prefix, names[i], kind);
        if (S_ISDIR(st.st_mode) && depth < 2) {
            int sub = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                char *p2 = ef_asprintf("%s%s/", prefix, names[i]);
                rc = p2 ? list_dir(e, sub, p2, depth + 1, b, n_listed) : EF_ENOMEM;
                if (!p2)
                    close(sub);
                ef_free(p2);
            }
        }
    }
    if (more && rc == 0)
        ef_buf_appendf(b, "%s... (more than %d entries: the first %d read are listed, sorted)\n",
                       prefix, MAX_SCANNED, MAX_SCANNED);
done:
    for (size_t i = 0; i < n; i++)
        ef_free(names[i]);
    ef_free(names);
    closedir(d);
    return rc;
}

/* Reads the file an edit works on: as read_file, with a directory an error. */
static int read_file_to_edit(ed *e, char **out, size_t *len)
{
    int is_dir = 0;
    int rc = read_file(e, out, len, &is_dir);
    if (rc == 0 && is_dir)
        rc = ef_errorf(e->tc->ctx, EF_EINVAL, "%s: is a directory", e->path);
    return rc;
}

static int cmd_view(ed *e, const cJSON *args, ef_tool_result *out)
{
    ef_ctx *ctx = e->tc->ctx;
    char *text = NULL;
    size_t len = 0;
    int is_dir = 0;
    int rc = read_file(e, &text, &len, &is_dir);
    if (rc < 0)
        return rc;
    ef_buf b = EF_BUF_INIT(MAX_FILE_BYTES * 2);
    if (is_dir) {
        int dfd = ef_tools__open_beneath(ctx, e->root, e->path, O_RDONLY | O_DIRECTORY, 0, 0);
        if (dfd < 0)
            return dfd;
        size_t n_listed = 0;
        ef_buf_appendf(&b, "Files and directories in %s (2 levels, hidden ones left out):\n",
                       e->path);
        if ((rc = list_dir(e, dfd, "", 1, &b, &n_listed)) < 0) {
            ef_buf_free(&b);
            return rc == EF_ENOMEM ? ef_errorf(ctx, rc, "editor: out of memory") : rc;
        }
        return ef_tools__result_take(out, 0, b.data ? ef_buf_detach(&b) : ef_strdup(""));
    }
    if (is_binary(text, len)) {
        ef_free(text);
        return ef_errorf(ctx, EF_EINVAL, "%s: binary file (%zu bytes); not shown", e->path, len);
    }
    size_t n_lines = count_lines(text, len), first = 1, last = n_lines;
    const cJSON *range = cJSON_GetObjectItemCaseSensitive(args, "view_range");
    if (range) {
        double a = cJSON_GetArrayItem(range, 0)->valuedouble;
        double z = cJSON_GetArrayItem(range, 1)->valuedouble;
        if (a < 1 || a > (double)(n_lines ? n_lines : 1)) {
            ef_free(text);
            return ef_errorf(ctx, EF_EINVAL,
                             "arguments.view_range[0]: %.0f is outside the file's lines 1..%zu",
                             a, n_lines);
        }
        if (z != -1 && (z < a || z > (double)n_lines)) {
            ef_free(text);
            return ef_errorf(ctx, EF_EINVAL,
                             "arguments.view_range[1]: %.0f must be -1 or between %.0f and %zu",
                             z, a, n_lines);
        }
        first = (size_t)a;
        last = z == -1 ? n_lines : (size_t)z;
    }
    if (n_lines == 0)
        rc = ef_buf_appendf(&b, "%s is empty\n", e->path);
    else
        rc = append_numbered(&b, text, len, first, last);
    ef_free(text);
    if (rc < 0) {
        ef_buf_free(&b);
        return ef_errorf(ctx, EF_ENOMEM, "editor: out of memory");
    }
    return ef_tools__result_take(out, 0, ef_buf_detach(&b));
}

/* Result text for an edit: what happened and the edited region, numbered. */
static int edited(ed *e, ef_tool_result *out, const char *what, const char *text, size_t len,
                  size_t first_line, size_t last_line)
{
    ef_buf b = EF_BUF_INIT(1u << 20);
    size_t n_lines = count_lines(text, len);
    size_t a = first_line > SNIPPET_CONTEXT ? first_line - SNIPPET_CONTEXT : 1;
    size_t z = last_line + SNIPPET_CONTEXT < n_lines ? last_line + SNIPPET_CONTEXT : n_lines;
    ef_buf_appendf(&b, "%s %s. The region around the edit:\n", what, e->path);
    append_numbered(&b, text, len, a, z);
    ef_buf_appendf(&b, "Check that it is right; undo_edit reverts it.\n");
    return ef_tools__result_take(out, 0, ef_buf_detach(&b));
}

/* Finishes an edit of an existing file whose old content is text[0..len) and new content
 * was built in nb (build_rc < 0 when it passed the editor's limit): puts the old text on
 * the undo history, writes the new one and reports it around lines first..last. Frees
 * text and nb. */
static int apply_edit(ed *e, ef_tool_result *out, const char *what, char *text, size_t len,
                      ef_buf *nb, int build_rc, size_t first_line, size_t last_line)
{
    int rc;
    const char *ntext = nb->data ? nb->data : "";
    if (build_rc < 0)
        rc = ef_errorf(e->tc->ctx, EF_ELIMIT, "%s: the edited file would pass the editor's limit",
                       e->path);
    else if ((rc = push_undo(e->tc, e->path, text, len)) == 0 &&
             (rc = write_file(e, ntext, nb->len)) == 0)
        rc = edited(e, out, what, ntext, nb->len, first_line, last_line);
    ef_free(text);
    ef_buf_free(nb);
    return rc;
}

static int cmd_create(ed *e, const cJSON *args, ef_tool_result *out)
{
    ef_ctx *ctx = e->tc->ctx;
    const cJSON *ft = cJSON_GetObjectItemCaseSensitive(args, "file_text");
    if (!ft)
        return ef_errorf(ctx, EF_EINVAL, "arguments.file_text: required for command \"create\"");
    size_t pl = strlen(e->path);
    if (pl > 0 && e->path[pl - 1] == '/')
        return ef_errorf(ctx, EF_EINVAL, "arguments.path: \"%s\" ends with '/': name the file "
                         "to create", e->path);
    char *old = NULL;
    size_t old_len = 0;
    int rc = read_file_to_edit(e, &old, &old_len);
    if (rc < 0 && rc != EF_ENOTFOUND)
        return rc;
    int existed = rc == 0;
    ef_error_clear(ctx);
    if ((rc = push_undo(e->tc, e->path, existed ? old : NULL, old_len)) < 0 ||
        (rc = write_file(e, ft->valuestring, strlen(ft->valuestring))) < 0) {
        ef_free(old);
        return rc;
    }
    ef_free(old);
    size_t n_lines = count_lines(ft->valuestring, strlen(ft->valuestring));
    return ef_tools_result_setf(out, 0, "%s %s (%zu lines, %zu bytes).",
                                existed ? "Overwrote" : "Created", e->path, n_lines,
                                strlen(ft->valuestring));
}

static int cmd_str_replace(ed *e, const cJSON *args, ef_tool_result *out)
{
    ef_ctx *ctx = e->tc->ctx;
    const cJSON *os = cJSON_GetObjectItemCaseSensitive(args, "old_str");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(args, "new_str");
    if (!os)
        return ef_errorf(ctx, EF_EINVAL,
                         "arguments.old_str: required for command \"str_replace\"");
    const char *old_str = os->valuestring, *new_str = ns ? ns->valuestring : "";
    size_t old_len = strlen(old_str), new_len = strlen(new_str);
    if (old_len == 0)
        return ef_errorf(ctx, EF_EINVAL, "arguments.old_str: must not be empty");
    char *text = NULL;
    size_t len = 0;
    int rc = read_file_to_edit(e, &text, &len);
    if (rc < 0)
        return rc;
    /* count every occurrence, overlapping ones too: a match must be unambiguous */
    size_t n_found = 0, first_off = 0;
    ef_buf lines = EF_BUF_INIT(4096);
    for (const char *p = text; (size_t)(p - text) + old_len <= len;) {
        const char *hit = memmem(p, len - (size_t)(p - text), old_str, old_len);
        if (!hit)
            break;
        if (n_found == 0)
            first_off = (size_t)(hit - text);
        if (n_found < 20)
            ef_buf_appendf(&lines, "%s%zu", n_found ? ", " : "", line_of(text, (size_t)(hit - text)));
        n_found++;
        p = hit + 1;
    }
    if (n_found != 1) {
        ef_free(text);
        if (n_found == 0)
            rc = ef_errorf(ctx, EF_ENOTFOUND,
                           "arguments.old_str: not found in %s; no change made (old_str must "
                           "match the file exactly, whitespace and indentation included)",
                           e->path);
        else
            rc = ef_errorf(ctx, EF_ECONFLICT,
                           "arguments.old_str: occurs %zu times in %s (at lines %s%s); no change "
                           "made: include more surrounding text so that it matches once",
                           n_found, e->path, lines.data, n_found > 20 ? ", ..." : "");
        ef_buf_free(&lines);
        return rc;
    }
    ef_buf_free(&lines);
    size_t first_line = line_of(text, first_off);
    size_t last_line = first_line + count_lines(new_str, new_len);
    last_line = last_line > first_line ? last_line - 1 : first_line;
    ef_buf nb = EF_BUF_INIT(MAX_FILE_BYTES * 2);
    rc = ef_buf_append(&nb, text, first_off);
    if (rc == 0)
        rc = ef_buf_append(&nb, new_str, new_len);
    if (rc == 0)
        rc = ef_buf_append(&nb, text + first_off + old_len, len - first_off - old_len);
    return apply_edit(e, out, "Edited", text, len, &nb, rc, first_line, last_line);
}

static int cmd_insert(ed *e, const cJSON *args, ef_tool_result *out)
{
    ef_ctx *ctx = e->tc->ctx;
    const cJSON *il = cJSON_GetObjectItemCaseSensitive(args, "insert_line");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(args, "new_str");
    if (!il)
        return ef_errorf(ctx, EF_EINVAL, "arguments.insert_line: required for command \"insert\"");
    if (!ns)
        return ef_errorf(ctx, EF_EINVAL, "arguments.new_str: required for command \"insert\"");
    char *text = NULL;
    size_t len = 0;
    int rc = read_file_to_edit(e, &text, &len);
    if (rc < 0)
        return rc;
    size_t n_lines = count_lines(text, len);
    if (il->valuedouble > (double)n_lines) {
        ef_free(text);
        return ef_errorf(ctx, EF_EINVAL,
                         "arguments.insert_line: %.0f is past the end; %s has %zu lines "
                         "(0..%zu allowed)",
                         il->valuedouble, e->path, n_lines, n_lines);
    }
    size_t after = (size_t)il->valuedouble;
    size_t off = line_start(text, len, after + 1);
    const char *new_str = ns->valuestring;
    size_t new_len = strlen(new_str);
    ef_buf nb = EF_BUF_INIT(MAX_FILE_BYTES * 2);
    rc = ef_buf_append(&nb, text, off);
    if (rc == 0 && off == len && len > 0 && text[len - 1] != '\n')
        rc = ef_buf_putc(&nb, '\n'); /* the last line had no newline */
    if (rc == 0)
        rc = ef_buf_append(&nb, new_str, new_len);
    if (rc == 0 && (new_len == 0 || new_str[new_len - 1] != '\n') && off < len)
        rc = ef_buf_putc(&nb, '\n');
    if (rc == 0)
        rc = ef_buf_append(&nb, text + off, len - off);
    size_t added = count_lines(new_str, new_len);
    return apply_edit(e, out, "Inserted into", text, len, &nb, rc, after + 1,
                      after + (added ? added : 1));
}

static int cmd_undo(ed *e, ef_tool_result *out)
{
    ef_tool_ctx *tc = e->tc;
    char *norm = normalize(e->path);
    if (!norm)
        return ef_errorf(tc->ctx, EF_ENOMEM, "editor: out of memory");
    size_t i = tc->n_undo;
    while (i > 0 && strcmp(tc->undo[i - 1].path, norm) != 0)
        i--;
    ef_free(norm);
    if (i == 0)
        return ef_errorf(tc->ctx, EF_ENOTFOUND, "%s: no edit to undo", e->path);
    ef_tools__undo u = tc->undo[i - 1];
    int rc;
    if (u.content) {
        rc = write_file(e, u.content, u.len);
    } else {
        /* the edit created the file: remove it again, through a checked parent */
        char *slash = strrchr(u.path, '/');
        int parent = e->root;
        const char *name = u.path;
        rc = 0;
        if (slash) {
            *slash = '\0';
            parent = ef_tools__open_beneath(tc->ctx, e->root, u.path, O_PATH | O_DIRECTORY, 0, 0);
            *slash = '/';
            name = slash + 1;
            if (parent < 0)
                rc = parent;
        }
        if (rc == 0 && unlinkat(parent, name, 0) < 0 && errno != ENOENT)
            rc = ef_errorf(tc->ctx, EF_EIO, "%s: remove: %s", e->path, strerror(errno));
        if (slash && parent >= 0)
            close(parent);
    }
    if (rc < 0)
        return rc;
    ef_free(u.path);
    ef_free(u.content);
    tc->undo_bytes -= u.len;
    memmove(tc->undo + i - 1, tc->undo + i, (tc->n_undo - i) * sizeof *tc->undo);
    tc->n_undo--;
    return ef_tools_result_setf(out, 0, "Reverted the last edit of %s%s.", e->path,
                                u.content ? "" : " (removed the file it created)");
}

static int run_editor(ef_tool_ctx *tc, void *ud, const cJSON *args, ef_tool_result *out)
{
    (void)ud;
    if (!tc->cfg.workdir)
        return ef_errorf(tc->ctx, EF_EUNSUPPORTED, "editor: this episode has no working directory");
    const char *cmd = cJSON_GetObjectItemCaseSensitive(args, "command")->valuestring;
    ed e = {tc, -1, cJSON_GetObjectItemCaseSensitive(args, "path")->valuestring};
    int rc = ef_tools__path_check(tc->ctx, e.path);
    if (rc < 0)
        return rc;
    ef_tools__fsid ids;
    if ((rc = ef_tools__fs_drop(tc, &ids)) < 0)
        return rc;
    e.root = open(tc->cfg.workdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (e.root < 0) {
        ef_tools__fs_restore(&ids);
        return ef_errorf(tc->ctx, EF_EIO, "editor: workdir %s: %s", tc->cfg.workdir,
                         strerror(errno));
    }
    if (strcmp(cmd, "view") == 0)
        rc = cmd_view(&e, args, out);
    else if (strcmp(cmd, "create") == 0)
        rc = cmd_create(&e, args, out);
    else if (strcmp(cmd, "str_replace") == 0)
        rc = cmd_str_replace(&e, args, out);
    else if (strcmp(cmd, "insert") == 0)
        rc = cmd_insert(&e, args, out);
    else
        rc = cmd_undo(&e, out);
    close(e.root);
    ef_tools__fs_restore(&ids);
    if (rc == 0 && !out->data) {
        cJSON *data = cJSON_CreateObject();
        if (!data || !cJSON_AddStringToObject(data, "command", cmd) ||
            !cJSON_AddStringToObject(data, "path", e.path)) {
            cJSON_Delete(data);
            return ef_errorf(tc->ctx, EF_ENOMEM, "editor: out of memory");
        }
        out->data = data;
    }
    return rc;
}

int ef_tools__add_editor(ef_tool_registry *reg)
{
    ef_tool_def d = EF_TOOL_DEF_INIT;
    d.name = "editor";
    d.description = "View, create and edit text files in the working directory. Edits are "
                    "exact: str_replace needs old_str to occur exactly once. Paths are "
                    "relative to the working directory; links are not followed.";
    d.parameters = schema;
    d.run = run_editor;
    return ef_tools_registry_add(reg, &d);
}

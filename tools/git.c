/*
 * tools/git.c — the `git` tool on the episode's repository, through libgit2: status
 * (short form), diff (work tree against the index, or the index against HEAD with
 * staged), log, show (a commit and its patch), checkout of paths (from the index or a
 * revision), and commit (stages the given paths, or everything like `git add -A`). The
 * patch text is libgit2's, which matches `git diff` byte for byte on ordinary changes.
 * libgit2 runs no hooks and no external filters, so a planted repository config cannot
 * run code on the host; the repository is opened afresh for every call and refused when
 * its git dir, common dir or work tree lie outside the path it was asked for, or when it
 * borrows objects through alternates; and in the workdir it is read and written with the
 * sandbox's uid (tools/sandboxed.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <git2.h>
#include "tools/tools_int.h"

static const char schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"command\":{\"type\":\"string\",\"enum\":[\"status\",\"diff\",\"log\",\"show\","
    "\"checkout\",\"commit\"],\"description\":\"status: changed files; diff: unstaged "
    "changes (staged: true for staged ones); log: recent commits; show: one commit and its "
    "changes; checkout: restore paths from the index or from rev; commit: stage paths (all "
    "changes when none are given) and commit them with message\"},"
    "\"paths\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"minLength\":1},"
    "\"description\":\"limit to these paths (diff, status, checkout, commit)\"},"
    "\"staged\":{\"type\":\"boolean\",\"description\":\"diff: the index against HEAD\"},"
    "\"rev\":{\"type\":\"string\",\"minLength\":1,\"description\":\"a revision: show "
    "(default HEAD), log (default HEAD), checkout (default: the index)\"},"
    "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":200,\"description\":\"log: how "
    "many commits (default 10)\"},"
    "\"message\":{\"type\":\"string\",\"minLength\":1,\"description\":\"commit message\"}},"
    "\"required\":[\"command\"],\"additionalProperties\":false}";

/* Records libgit2's last error on ctx. */
static int git_fail(ef_ctx *ctx, const char *what)
{
    const git_error *e = git_error_last();
    return ef_errorf(ctx, EF_ERROR, "git %s: %s", what, e && e->message ? e->message : "failed");
}

/* 1 when real path p is root or lies under it. */
static int inside(const char *root, const char *p)
{
    size_t n = strlen(root);
    return strncmp(root, p, n) == 0 && (p[n] == '\0' || p[n] == '/' || root[n - 1] == '/');
}

/* The repository must live where it was asked for: its git dir, common dir and work tree
 * inside `root` (a planted core.worktree = "/" or a "gitdir:" file pointing elsewhere is
 * refused), and no alternates pulling objects from other repositories. */
static int check_location(ef_ctx *ctx, git_repository *repo, const char *path)
{
    char *root = realpath(path, NULL);
    if (!root)
        return ef_errorf(ctx, EF_ENOTFOUND, "git: %s: %s", path, strerror(errno));
    const char *names[] = {"git directory", "work tree", "common directory"};
    const char *parts[] = {git_repository_path(repo), git_repository_workdir(repo),
                           git_repository_commondir(repo)};
    int rc = 0;
    for (size_t i = 0; i < EF_ARRAY_LEN(parts) && rc == 0; i++) {
        if (!parts[i])
            continue;
        char *real = realpath(parts[i], NULL);
        if (!real || !inside(root, real))
            rc = ef_errorf(ctx, EF_EINVAL, "git: the repository's %s (%s) lies outside %s; refused",
                           names[i], parts[i], path);
        free(real);
    }
    if (rc == 0 && parts[2]) {
        char alt[4096];
        snprintf(alt, sizeof alt, "%s/objects/info/alternates", parts[2]);
        if (access(alt, F_OK) == 0)
            rc = ef_errorf(ctx, EF_EINVAL, "git: the repository borrows objects from elsewhere "
                           "(objects/info/alternates); refused");
    }
    free(root);
    return rc;
}

static int open_repo(ef_tool_ctx *tc, git_repository **out)
{
    const char *path = tc->cfg.repo_path ? tc->cfg.repo_path : tc->cfg.workdir;
    if (!path)
        return ef_errorf(tc->ctx, EF_EUNSUPPORTED, "git: this episode has no repository");
    git_repository *repo = NULL;
    int orc = git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
    if (orc == GIT_ENOTFOUND) /* libgit2's message names the host path: not for the model */
        return ef_errorf(tc->ctx, EF_ENOTFOUND, "git: no repository in %s (run `git init` "
                         "there first)", tc->cfg.repo_path ? "the episode's repository path" :
                                                              "the workdir");
    if (orc < 0)
        return git_fail(tc->ctx, "open");
    int rc = check_location(tc->ctx, repo, path);
    if (rc < 0) {
        git_repository_free(repo);
        return rc;
    }
    *out = repo;
    return 0;
}

/* 1 when the repository lies in the episode's workdir, where the agent can write. */
static int repo_in_workdir(const ef_tool_ctx *tc)
{
    if (!tc->cfg.workdir)
        return 0;
    if (!tc->cfg.repo_path)
        return 1;
    char *wd = realpath(tc->cfg.workdir, NULL), *rp = realpath(tc->cfg.repo_path, NULL);
    int in = wd && rp && inside(wd, rp);
    free(wd);
    free(rp);
    return in;
}

/* Paths from the arguments as a git_strarray (strings borrowed from args). */
static int pathspec(ef_ctx *ctx, const cJSON *args, git_strarray *out, char ***store)
{
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(args, "paths");
    int n = paths ? cJSON_GetArraySize(paths) : 0;
    *store = NULL;
    out->strings = NULL;
    out->count = 0;
    if (n == 0)
        return 0;
    char **s = ef_calloc((size_t)n, sizeof *s);
    if (!s)
        return ef_errorf(ctx, EF_ENOMEM, "git: out of memory");
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, paths)
    {
        int rc = ef_tools__path_check(ctx, p->valuestring);
        if (rc < 0) {
            ef_free(s);
            return ef_error_wrap(ctx, rc, "arguments.paths[%d]", i);
        }
        s[i++] = p->valuestring;
    }
    out->strings = s;
    out->count = (size_t)n;
    *store = s;
    return 0;
}

static char status_char_index(unsigned st)
{
    if (st & GIT_STATUS_INDEX_NEW)
        return 'A';
    if (st & GIT_STATUS_INDEX_MODIFIED)
        return 'M';
    if (st & GIT_STATUS_INDEX_DELETED)
        return 'D';
    if (st & GIT_STATUS_INDEX_RENAMED)
        return 'R';
    if (st & GIT_STATUS_INDEX_TYPECHANGE)
        return 'T';
    return ' ';
}

static char status_char_wt(unsigned st)
{
    if (st & GIT_STATUS_WT_MODIFIED)
        return 'M';
    if (st & GIT_STATUS_WT_DELETED)
        return 'D';
    if (st & GIT_STATUS_WT_RENAMED)
        return 'R';
    if (st & GIT_STATUS_WT_TYPECHANGE)
        return 'T';
    return ' ';
}

static int cmd_status(ef_ctx *ctx, git_repository *repo, const git_strarray *ps, ef_buf *b)
{
    git_status_options so;
    git_status_options_init(&so, GIT_STATUS_OPTIONS_VERSION);
    so.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
               GIT_STATUS_OPT_SORT_CASE_SENSITIVELY;
    if (ps->count)
        so.pathspec = *ps;
    git_reference *head = NULL;
    if (git_repository_head(&head, repo) == 0)
        ef_buf_appendf(b, "## %s\n", git_reference_shorthand(head));
    else
        ef_buf_appendf(b, "## (no commits yet)\n");
    git_reference_free(head);
    git_status_list *list = NULL;
    if (git_status_list_new(&list, repo, &so) < 0)
        return git_fail(ctx, "status");
    size_t n = git_status_list_entrycount(list);
    for (size_t i = 0; i < n; i++) {
        const git_status_entry *e = git_status_byindex(list, i);
        if (e->status == GIT_STATUS_CURRENT || (e->status & GIT_STATUS_IGNORED))
            continue;
        const char *path = e->head_to_index ? e->head_to_index->new_file.path
                                            : e->index_to_workdir->new_file.path;
        if (e->status & GIT_STATUS_WT_NEW && !(e->status & 0x1f))
            ef_buf_appendf(b, "?? %s\n", path);
        else
            ef_buf_appendf(b, "%c%c %s\n", status_char_index(e->status),
                           status_char_wt(e->status), path);
    }
    if (n == 0)
        ef_buf_appendf(b, "nothing to commit, working tree clean\n");
    git_status_list_free(list);
    return 0;
}

static int append_patch(ef_ctx *ctx, git_diff *diff, ef_buf *b)
{
    git_buf gb = GIT_BUF_INIT;
    if (git_diff_to_buf(&gb, diff, GIT_DIFF_FORMAT_PATCH) < 0)
        return git_fail(ctx, "diff");
    int rc = ef_buf_append_capped(b, gb.ptr ? gb.ptr : "", gb.size);
    git_buf_dispose(&gb);
    return rc == EF_ENOMEM ? ef_errorf(ctx, rc, "git: out of memory") : 0;
}

static int head_tree(ef_ctx *ctx, git_repository *repo, git_tree **out)
{
    git_object *obj = NULL;
    *out = NULL;
    if (git_repository_head_unborn(repo) == 1)
        return 0; /* no commits: the empty tree */
    if (git_revparse_single(&obj, repo, "HEAD^{tree}") < 0)
        return git_fail(ctx, "HEAD");
    *out = (git_tree *)obj;
    return 0;
}

static int cmd_diff(ef_ctx *ctx, git_repository *repo, const git_strarray *ps, int staged,
                    ef_buf *b)
{
    git_diff_options dopts;
    git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
    if (ps->count)
        dopts.pathspec = *ps;
    git_diff *diff = NULL;
    int rc = 0;
    if (staged) {
        git_tree *tree = NULL;
        if ((rc = head_tree(ctx, repo, &tree)) < 0)
            return rc;
        if (git_diff_tree_to_index(&diff, repo, tree, NULL, &dopts) < 0)
            rc = git_fail(ctx, "diff --staged");
        git_tree_free(tree);
    } else if (git_diff_index_to_workdir(&diff, repo, NULL, &dopts) < 0) {
        rc = git_fail(ctx, "diff");
    }
    if (rc == 0)
        rc = append_patch(ctx, diff, b);
    git_diff_free(diff);
    return rc;
}

static void append_commit_header(ef_buf *b, const git_commit *c, int full)
{
    char sha[GIT_OID_HEXSZ + 1];
    git_oid_tostr(sha, sizeof sha, git_commit_id(c));
    const git_signature *a = git_commit_author(c);
    time_t t = (time_t)a->when.time + (time_t)a->when.offset * 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    int off = a->when.offset;
    if (full) {
        ef_buf_appendf(b, "commit %s\nAuthor: %s <%s>\nDate:   %s %c%02d%02d\n\n", sha, a->name,
                       a->email, date, off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60,
                       (off < 0 ? -off : off) % 60);
        const char *msg = git_commit_message(c);
        while (msg && *msg) {
            const char *nl = strchr(msg, '\n');
            size_t n = nl ? (size_t)(nl - msg) : strlen(msg);
            ef_buf_appendf(b, "    %.*s\n", (int)n, msg);
            msg += n + (nl ? 1 : 0);
        }
        ef_buf_appends(b, "\n");
    } else {
        const char *summary = git_commit_summary((git_commit *)c);
        ef_buf_appendf(b, "%.7s %.10s %s: %s\n", sha, date, a->name, summary ? summary : "");
    }
}

static int cmd_log(ef_ctx *ctx, git_repository *repo, const char *rev, int n, ef_buf *b)
{
    if (git_repository_head_unborn(repo) == 1 && !rev) {
        ef_buf_appends(b, "(no commits yet)\n");
        return 0;
    }
    git_revwalk *walk = NULL;
    git_object *start = NULL;
    int rc = 0;
    if (git_revparse_single(&start, repo, rev ? rev : "HEAD") < 0) {
        rc = ef_errorf(ctx, EF_ENOTFOUND, "arguments.rev: unknown revision \"%s\"", rev ? rev : "HEAD");
        goto done;
    }
    if (git_revwalk_new(&walk, repo) < 0 || git_revwalk_push(walk, git_object_id(start)) < 0) {
        rc = git_fail(ctx, "log");
        goto done;
    }
    git_revwalk_sorting(walk, GIT_SORT_TIME);
    git_oid oid;
    for (int i = 0; i < n && git_revwalk_next(&oid, walk) == 0; i++) {
        git_commit *c = NULL;
        if (git_commit_lookup(&c, repo, &oid) < 0) {
            rc = git_fail(ctx, "log");
            goto done;
        }
        append_commit_header(b, c, 0);
        git_commit_free(c);
    }
done:
    git_revwalk_free(walk);
    git_object_free(start);
    return rc;
}

static int cmd_show(ef_ctx *ctx, git_repository *repo, const char *rev, ef_buf *b)
{
    git_object *obj = NULL;
    git_commit *parent = NULL;
    git_tree *tree = NULL, *ptree = NULL;
    git_diff *diff = NULL;
    int rc = 0;
    if (git_revparse_single(&obj, repo, rev) < 0) {
        rc = ef_errorf(ctx, EF_ENOTFOUND, "arguments.rev: unknown revision \"%s\"", rev);
        goto done;
    }
    git_object *peeled = NULL;
    if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0) {
        rc = ef_errorf(ctx, EF_EINVAL, "arguments.rev: \"%s\" is not a commit", rev);
        goto done;
    }
    git_object_free(obj);
    obj = peeled;
    git_commit *c = (git_commit *)obj;
    append_commit_header(b, c, 1);
    if (git_commit_tree(&tree, c) < 0 ||
        (git_commit_parentcount(c) > 0 && (git_commit_parent(&parent, c, 0) < 0 ||
                                           git_commit_tree(&ptree, parent) < 0))) {
        rc = git_fail(ctx, "show");
        goto done;
    }
    git_diff_options dopts;
    git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
    if (git_diff_tree_to_tree(&diff, repo, ptree, tree, &dopts) < 0) {
        rc = git_fail(ctx, "show");
        goto done;
    }
    rc = append_patch(ctx, diff, b);
done:
    git_diff_free(diff);
    git_tree_free(tree);
    git_tree_free(ptree);
    git_commit_free(parent);
    git_object_free(obj);
    return rc;
}

/* libgit2 writes a checked-out path through whatever its leading directories are, a
 * symbolic link to outside the work tree included (git itself refuses "beyond a symbolic
 * link"). Each path is walked from the work tree without following links: a link among
 * its directories is refused, a link in its last place is removed (inside the work tree)
 * so that the file is written in its place. A path whose directories do not exist yet is
 * fine: libgit2 makes them. */
static int checkout_path_safe(ef_ctx *ctx, const char *workdir, const char *path, int i)
{
    int dfd = open(workdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ef_errorf(ctx, EF_EIO, "git checkout: the work tree: %s", strerror(errno));
    char comp[4096];
    const char *p = path;
    int rc = 0;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n >= sizeof comp) {
            rc = ef_errorf(ctx, EF_EINVAL, "arguments.paths[%d]: a component is too long", i);
            break;
        }
        memcpy(comp, p, n);
        comp[n] = 0;
        struct stat st;
        int exists = n > 0 && fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (!slash || !slash[1]) { /* the last component */
            if (exists && S_ISLNK(st.st_mode) && unlinkat(dfd, comp, 0) < 0)
                rc = ef_errorf(ctx, EF_EIO, "git checkout: removing the link %s: %s", path,
                               strerror(errno));
            break;
        }
        if (n > 0 && exists) {
            if (S_ISLNK(st.st_mode)) {
                rc = ef_errorf(ctx, EF_EINVAL,
                               "arguments.paths[%d]: '%.*s' is a symbolic link; checkout does "
                               "not write through links",
                               i, (int)(slash - path), path);
                break;
            }
            int nfd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (nfd < 0) {
                rc = ef_errorf(ctx, EF_EINVAL, "arguments.paths[%d]: '%.*s': %s", i,
                               (int)(slash - path), path, strerror(errno));
                break;
            }
            close(dfd);
            dfd = nfd;
        } else if (n > 0) {
            break; /* the rest does not exist yet */
        }
        p = slash + 1;
    }
    close(dfd);
    return rc;
}

static int cmd_checkout(ef_ctx *ctx, git_repository *repo, const git_strarray *ps,
                        const char *rev, ef_buf *b)
{
    if (ps->count == 0)
        return ef_errorf(ctx, EF_EINVAL, "arguments.paths: required for checkout (the paths to "
                         "restore)");
    const char *workdir = git_repository_workdir(repo);
    if (!workdir)
        return ef_errorf(ctx, EF_EINVAL, "git checkout: the repository has no work tree");
    for (size_t i = 0; i < ps->count; i++) {
        int rc = checkout_path_safe(ctx, workdir, ps->strings[i], (int)i);
        if (rc < 0)
            return rc;
    }
    git_checkout_options co;
    git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
    co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH;
    co.paths = *ps;
    int rc = 0;
    if (rev) {
        git_object *obj = NULL;
        if (git_revparse_single(&obj, repo, rev) < 0)
            return ef_errorf(ctx, EF_ENOTFOUND, "arguments.rev: unknown revision \"%s\"", rev);
        if (git_checkout_tree(repo, obj, &co) < 0)
            rc = git_fail(ctx, "checkout");
        git_object_free(obj);
    } else if (git_checkout_index(repo, NULL, &co) < 0) {
        rc = git_fail(ctx, "checkout");
    }
    if (rc == 0)
        ef_buf_appendf(b, "Restored %zu path%s from %s.\n", ps->count, ps->count == 1 ? "" : "s",
                       rev ? rev : "the index");
    return rc;
}

static int cmd_commit(ef_tool_ctx *tc, git_repository *repo, const git_strarray *ps,
                      const char *message, ef_buf *b)
{
    ef_ctx *ctx = tc->ctx;
    if (!message)
        return ef_errorf(ctx, EF_EINVAL, "arguments.message: required for commit");
    git_index *index = NULL;
    git_tree *tree = NULL;
    git_commit *parent = NULL;
    git_signature *sig = NULL;
    git_oid tree_id, commit_id;
    char *all[] = {"."};
    git_strarray every = {all, 1};
    const git_strarray *spec = ps->count ? ps : &every;
    int rc = 0;
    if (git_repository_index(&index, repo) < 0 ||
        git_index_add_all(index, spec, GIT_INDEX_ADD_DEFAULT, NULL, NULL) < 0 ||
        git_index_update_all(index, spec, NULL, NULL) < 0 || git_index_write(index) < 0 ||
        git_index_write_tree(&tree_id, index) < 0 || git_tree_lookup(&tree, repo, &tree_id) < 0) {
        rc = git_fail(ctx, "commit");
        goto done;
    }
    int unborn = git_repository_head_unborn(repo) == 1;
    if (!unborn) {
        git_object *h = NULL;
        if (git_revparse_single(&h, repo, "HEAD^{commit}") < 0) {
            rc = git_fail(ctx, "commit");
            goto done;
        }
        parent = (git_commit *)h;
        if (git_oid_equal(git_commit_tree_id(parent), &tree_id)) {
            rc = ef_errorf(ctx, EF_EINVAL, "git commit: nothing to commit (no changes%s)",
                           ps->count ? " in the given paths" : "");
            goto done;
        }
    }
    if (git_signature_now(&sig, tc->cfg.git_author_name, tc->cfg.git_author_email) < 0 ||
        git_commit_create_v(&commit_id, repo, "HEAD", sig, sig, NULL, message, tree,
                            unborn ? 0 : 1, parent) < 0) {
        rc = git_fail(ctx, "commit");
        goto done;
    }
    char sha[GIT_OID_HEXSZ + 1];
    git_oid_tostr(sha, sizeof sha, &commit_id);
    ef_buf_appendf(b, "Committed %.7s: %s\n", sha, message);
done:
    git_signature_free(sig);
    git_commit_free(parent);
    git_tree_free(tree);
    git_index_free(index);
    return rc;
}

static int git_command(ef_tool_ctx *tc, git_repository *repo, const cJSON *args,
                       ef_tool_result *out);

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

/* libgit2 is initialised once per process and never shut down here (its settings are
 * process-wide and not safe to change while other threads use it): the owner check off
 * (the repository belongs to the sandbox's uid, not to us; check_location does the
 * checking that matters), and only the repository's own config (the host user's
 * ~/.gitconfig and /etc/gitconfig stay out of results, and are unreadable under the
 * sandbox's uid anyway). */
static void git_init_once(void)
{
    git_libgit2_init();
    git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
    static const int levels[] = {GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG,
                                 GIT_CONFIG_LEVEL_GLOBAL, GIT_CONFIG_LEVEL_PROGRAMDATA};
    for (size_t i = 0; i < EF_ARRAY_LEN(levels); i++)
        git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, levels[i], "");
}

/* Opens the repository afresh for every call (the agent may have changed it since), as
 * the sandbox's uid when it lies in the workdir, and runs one command. */
static int run_git(ef_tool_ctx *tc, void *ud, const cJSON *args, ef_tool_result *out)
{
    (void)ud;
    ef_tools__fsid ids = {0};
    int rc = repo_in_workdir(tc) ? ef_tools__fs_drop(tc, &ids) : 0;
    if (rc < 0)
        return rc;
    pthread_once(&git_once, git_init_once);
    git_repository *repo = NULL;
    if ((rc = open_repo(tc, &repo)) == 0)
        rc = git_command(tc, repo, args, out);
    git_repository_free(repo);
    ef_tools__fs_restore(&ids);
    return rc;
}

static int git_command(ef_tool_ctx *tc, git_repository *repo, const cJSON *args,
                       ef_tool_result *out)
{
    ef_ctx *ctx = tc->ctx;
    int rc;
    const char *cmd = cJSON_GetObjectItemCaseSensitive(args, "command")->valuestring;
    const char *rev = NULL, *message = NULL;
    int staged = 0;
    int64_t n = 10;
    ef_json_opt_str(ctx, args, "rev", NULL, &rev);
    ef_json_opt_str(ctx, args, "message", NULL, &message);
    ef_json_opt_bool(ctx, args, "staged", 0, &staged);
    ef_json_opt_int(ctx, args, "n", 10, &n);
    git_strarray ps;
    char **store = NULL;
    if ((rc = pathspec(ctx, args, &ps, &store)) < 0)
        return rc;
    ef_buf b = EF_BUF_INIT(tc->cfg.max_output_bytes ? tc->cfg.max_output_bytes * 4 : 1u << 20);
    if (strcmp(cmd, "status") == 0)
        rc = cmd_status(ctx, repo, &ps, &b);
    else if (strcmp(cmd, "diff") == 0)
        rc = cmd_diff(ctx, repo, &ps, staged, &b);
    else if (strcmp(cmd, "log") == 0)
        rc = cmd_log(ctx, repo, rev, (int)n, &b);
    else if (strcmp(cmd, "show") == 0)
        rc = cmd_show(ctx, repo, rev ? rev : "HEAD", &b);
    else if (strcmp(cmd, "checkout") == 0)
        rc = cmd_checkout(ctx, repo, &ps, rev, &b);
    else
        rc = cmd_commit(tc, repo, &ps, message, &b);
    ef_free(store);
    if ((strcmp(cmd, "checkout") == 0 || strcmp(cmd, "commit") == 0) && geteuid() == 0 &&
        (uid_t)setfsuid((uid_t)-1) == 0)
        tc->workdir_dirty = 1; /* written as root: the sandbox's uid must own it again */
    if (rc < 0) {
        ef_buf_free(&b);
        return rc;
    }
    cJSON *data = cJSON_CreateObject();
    if (!data || !cJSON_AddStringToObject(data, "command", cmd) ||
        !cJSON_AddStringToObject(data, "output", b.data ? b.data : "")) {
        cJSON_Delete(data);
        ef_buf_free(&b);
        return ef_errorf(ctx, EF_ENOMEM, "git: out of memory");
    }
    out->data = data;
    if (b.len == 0 && strcmp(cmd, "diff") == 0)
        ef_buf_appends(&b, "No changes.\n");
    return ef_tools__result_take(out, 0, b.data ? ef_buf_detach(&b) : ef_strdup(""));
}

int ef_tools__add_git(ef_tool_registry *reg)
{
    ef_tool_def d = EF_TOOL_DEF_INIT;
    d.name = "git";
    d.description = "Git on the episode's repository: status, diff, log, show, checkout of "
                    "paths, commit.";
    d.parameters = schema;
    d.run = run_git;
    return ef_tools_registry_add(reg, &d);
}

/*
 * verifiers/verify_exec.c — running a program in the sandbox over a fresh work dir: makes
 * the dir, writes the given files, hands it to the sandbox's uid, runs, removes the tree.
 * Unit-test verification builds on it (parse the output, score passed / total).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "verifiers/verifiers.h"

static int name_ok(const char *n)
{
    return n && *n && !strchr(n, '/') && strcmp(n, ".") != 0 && strcmp(n, "..") != 0;
}

int ef_verify_exec(ef_ctx *ctx, const ef_verify_unit_options *opts, ef_sandbox_result **out)
{
    const char *def_argv[] = {"python3", "-m", "unittest", "discover", "-s", ".", "-p", "test*.py", NULL};
    const char *const *argv = opts->argv ? opts->argv : def_argv;
    if (!argv[0])
        return ef_errorf(ctx, EF_EINVAL, "exec: argv is empty");
    for (size_t i = 0; i < opts->n_files; i++)
        if (!name_ok(opts->file_names[i]) || !opts->file_contents[i])
            return ef_errorf(ctx, EF_EINVAL, "exec: file name '%s' must be a plain name",
                             opts->file_names[i] ? opts->file_names[i] : "(null)");
    ef_sandbox_worker *w = opts->worker, *own = NULL;
    char dir[512] = "";
    int rc = 0;
    if (!w) {
        if ((rc = ef_sandbox_worker_new(ctx, NULL, &own)) < 0)
            return rc;
        w = own;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/envforge-exec-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        dir[0] = 0;
        rc = ef_errorf(ctx, EF_EIO, "exec: cannot make a work dir under %s", tmp ? tmp : "/tmp");
        goto cleanup;
    }
    for (size_t i = 0; i < opts->n_files; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, opts->file_names[i]);
        if ((rc = ef_file_write(ctx, path, opts->file_contents[i],
                                strlen(opts->file_contents[i]))) < 0)
            goto cleanup;
    }
    if ((rc = ef_sandbox_dir_chown(ctx, w, dir)) < 0)
        goto cleanup;
    ef_sandbox_options so = EF_SANDBOX_OPTIONS_INIT;
    so.wall_ms = opts->wall_ms;
    so.cpu_ms = opts->wall_ms;
    so.mem_bytes = opts->mem_mb << 20;
    so.workdir = dir;
    so.stdin_data = opts->stdin_data;
    so.stdin_len = opts->stdin_len;
    rc = ef_sandbox_run(ctx, w, &so, argv, out);
cleanup:
    int rm;
    if (dir[0] && (rm = ef_remove_tree(dir)) < 0)
        EF_LOG_W(ctx, "unit tests: %s could not be removed: %s", dir, strerror(-rm));
    ef_sandbox_worker_free(own);
    return rc;
}

int ef_verify_unit_tests(ef_ctx *ctx, const ef_verify_unit_options *opts, double *reward,
                         ef_unit_counts *counts, const char **status_out)
{
    ef_sandbox_result *res = NULL;
    int rc = ef_verify_exec(ctx, opts, &res);
    if (rc < 0)
        return rc;
    ef_buf all = EF_BUF_INIT((size_t)8 << 20);
    ef_buf_append_capped(&all, res->out.data, res->out.len);
    ef_buf_append_capped(&all, "\n", 1);
    ef_buf_append_capped(&all, res->err.data, res->err.len);
    int code = res->status == EF_SANDBOX_OK ? 0 : (res->exit_code > 0 ? res->exit_code : 1);
    ef_verify_unit_parse(all.data, code, counts);
    *reward = ef_verify_unit_reward(counts, code);
    if (status_out)
        *status_out = ef_sandbox_status_name(res->status);
    ef_buf_free(&all);
    ef_sandbox_result_free(res);
    return 0;
}
